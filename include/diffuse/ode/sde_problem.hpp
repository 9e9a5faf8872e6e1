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

// What every stepper of this folder has: its scalar, the calculus it converges in, whether it
// needs the time integral of W, `count` work buffers of one size fixed at construction, and a
// start() that only checks the state's size (reversible Heun, which carries state between steps,
// hides it with its own).
template <Real T, int count, sde_calculus converges_in, bool time_integral = false>
class sde_stepper_base {
public:
    using scalar = T;
    static constexpr sde_calculus calculus = converges_in;
    static constexpr bool needs_time_integral = time_integral;

    explicit sde_stepper_base(index size) {
        require(size >= 0, "size", size, ">= 0");
        for (auto& b : work_) b.resize(size);
    }
    [[nodiscard]] index size() const { return work_[0].size(); }

    template <class P, class Y>
    void start(P&, T, const Y& state) {
        require_size("y.size()", cflat(state).size(), size());
    }

protected:
    [[nodiscard]] view<T> work(int k) { return flat(work_[k]); }
    void swap_work(int a, int b) { work_[a].swap(work_[b]); }
    // A step's state and noise as views, checked against the stepper's size.
    template <class Y, class W>
    std::pair<view<T>, const_view<T>> views(Y&& state, const W& noise) const {
        const view<T> y = flat(state);
        const const_view<T> dw = cflat(noise);
        require_size("y.size()", y.size(), size());
        require_size("dw.size()", dw.size(), size());
        return {y, dw};
    }

private:
    buffer<T> work_[count];
};

}  // namespace detail

}  // namespace diffuse::ode
