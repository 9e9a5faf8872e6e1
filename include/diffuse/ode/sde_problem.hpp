// diffuse/ode/sde_problem.hpp: what the SDE steppers integrate.
//
// dy = f(t, y) dt + g(t, y) dW with diagonal noise: one independent Brownian motion per element,
// g(t, y) the element-wise noise amplitude. The drift and the diffusion are callables
// `f(T t, const_view<T> y, view<T> out)` that fill `out` (no allocation per call). Whether dW is
// read as Ito or Stratonovich is a property of the stepper (`sde_calculus`); for additive noise
// (g independent of y) the two coincide.
#pragma once

#include <concepts>
#include <utility>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"

namespace diffuse::ode {

// The stochastic integral a stepper's solutions converge to.
enum class sde_calculus { ito, stratonovich };

// f(t, y, out): drift, diffusion or the diffusion's derivative dg/dy (all element-wise shapes).
template <class F, class T>
concept sde_coefficient = Real<T> && requires(F& f, T t, const_view<T> y, view<T> out) {
    f(t, y, out);
};

// A diagonal-noise SDE: its drift and diffusion.
template <class Drift, class Diffusion>
struct diagonal_sde {
    Drift drift;
    Diffusion diffusion;
};
template <class Drift, class Diffusion>
diagonal_sde(Drift, Diffusion) -> diagonal_sde<Drift, Diffusion>;

// The same with the element-wise derivative dg_i/dy_i of the diffusion (Milstein needs it).
template <class Drift, class Diffusion, class Derivative>
struct diagonal_sde_with_derivative {
    Drift drift;
    Diffusion diffusion;
    Derivative diffusion_derivative;
};
template <class Drift, class Diffusion, class Derivative>
diagonal_sde_with_derivative(Drift, Diffusion, Derivative)
    -> diagonal_sde_with_derivative<Drift, Diffusion, Derivative>;

template <class P, class T>
concept sde_problem = Real<T> && requires(P& p, T t, const_view<T> y, view<T> out) {
    p.drift(t, y, out);
    p.diffusion(t, y, out);
};

template <class P, class T>
concept sde_problem_with_derivative = sde_problem<P, T> && requires(P& p, T t, const_view<T> y, view<T> out) {
    p.diffusion_derivative(t, y, out);
};

namespace detail {

// The buffers a stepper works in, all of one size fixed at construction.
template <Real T, int count>
class sde_work {
public:
    explicit sde_work(index size) {
        require(size >= 0, "size", size, ">= 0");
        for (auto& b : buffers_) b.resize(size);
    }
    [[nodiscard]] index size() const { return buffers_[0].size(); }
    [[nodiscard]] view<T> operator[](int k) { return flat(buffers_[k]); }
    void swap(int a, int b) { buffers_[a].swap(buffers_[b]); }
    // The state and the noise of a step must match the stepper's size.
    void check(index state, index noise) const {
        require_size("y.size()", state, size());
        require_size("dw.size()", noise, size());
    }

private:
    buffer<T> buffers_[count];
};

}  // namespace detail

}  // namespace diffuse::ode
