// diffuse/ode/sde_milstein.hpp: the Milstein step for diagonal noise (Ito).
//
// y <- y + f h + g dW + 1/2 g g' (dW^2 - h), g' = dg/dy element-wise (Milstein 1974; Kloeden and
// Platen 1992, section 10.3, with diagonal noise: the iterated integral I_(j,j) = (dW_j^2 - h) / 2
// needs no Levy area). Strong order 1.0, weak order 1.
#pragma once

#include "diffuse/core/view.hpp"
#include "diffuse/ode/sde_problem.hpp"

namespace diffuse::ode {

template <Real T>
class milstein {
public:
    using scalar = T;
    static constexpr sde_calculus calculus = sde_calculus::ito;
    static constexpr bool needs_time_integral = false;

    explicit milstein(index size) : work_(size) {}
    [[nodiscard]] index size() const { return work_.size(); }

    template <sde_problem_with_derivative<T> P, class Y>
    void start(P&, T, const Y& state) {
        const const_view<T> y = cflat(state);
        work_.check(y.size(), y.size());
    }

    template <sde_problem_with_derivative<T> P, class Y, class W>
    void step(P& p, T t, T h, Y&& state, const W& noise) {
        view<T> y = flat(state);
        const const_view<T> dw = cflat(noise);
        work_.check(y.size(), dw.size());
        view<T> f = work_[0], g = work_[1], dg = work_[2];
        p.drift(t, cflat(y), f);
        p.diffusion(t, cflat(y), g);
        p.diffusion_derivative(t, cflat(y), dg);
        y += h * f + g * dw + T(0.5) * g * dg * (dw.square() - h);
    }

private:
    detail::sde_work<T, 3> work_;
};

}  // namespace diffuse::ode
