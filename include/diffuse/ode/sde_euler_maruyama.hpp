// diffuse/ode/sde_euler_maruyama.hpp: the Euler-Maruyama step (Ito).
//
// y <- y + f(t, y) h + g(t, y) dW (Maruyama 1955; Kloeden and Platen,
// "Numerical Solution of Stochastic Differential Equations" 1992, section 10.2, with diagonal noise).
// Strong order 0.5 (1.0 with additive noise), weak order 1.
#pragma once

#include "diffuse/core/view.hpp"
#include "diffuse/ode/sde_problem.hpp"

namespace diffuse::ode {

template <Real T>
class euler_maruyama {
public:
    using scalar = T;
    static constexpr sde_calculus calculus = sde_calculus::ito;
    static constexpr bool needs_time_integral = false;

    explicit euler_maruyama(index size) : work_(size) {}
    [[nodiscard]] index size() const { return work_.size(); }

    template <sde_problem<T> P, class Y>
    void start(P&, T, const Y& state) {
        const const_view<T> y = cflat(state);
        work_.check(y.size(), y.size());
    }

    template <sde_problem<T> P, class Y, class W>
    void step(P& p, T t, T h, Y&& state, const W& noise) {
        view<T> y = flat(state);
        const const_view<T> dw = cflat(noise);
        work_.check(y.size(), dw.size());
        view<T> f = work_[0], g = work_[1];
        p.drift(t, cflat(y), f);
        p.diffusion(t, cflat(y), g);
        y += h * f + g * dw;
    }

private:
    detail::sde_work<T, 2> work_;
};

}  // namespace diffuse::ode
