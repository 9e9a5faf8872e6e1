// diffuse/ode/sde_heun.hpp: the stochastic Heun step (Stratonovich).
//
// The predictor y~ = y + f(t, y) h + g(t, y) dW, then the trapezoidal corrector
// y <- y + (f(t, y) + f(t + h, y~)) h / 2 + (g(t, y) + g(t + h, y~)) dW / 2 (Ruemelin, "Numerical
// treatment of stochastic differential equations", SIAM J. Numer. Anal. 19(3), 1982). Strong order
// 1.0 for commuting noise (diagonal noise commutes), 0.5 in general; weak order 1.
#pragma once

#include "diffuse/core/view.hpp"
#include "diffuse/ode/sde_problem.hpp"

namespace diffuse::ode {

template <Real T>
class stochastic_heun : public detail::sde_stepper_base<T, 5, sde_calculus::stratonovich> {
    using base = detail::sde_stepper_base<T, 5, sde_calculus::stratonovich>;

public:
    using base::base;

    template <sde_problem<T> P, class Y, class W>
    void step(P& p, T t, T h, Y&& state, const W& noise) {
        auto [y, dw] = this->views(state, noise);
        view<T> f0 = this->work(0), g0 = this->work(1), predictor = this->work(2), f1 = this->work(3),
                g1 = this->work(4);
        p.drift(t, cflat(y), f0);
        p.diffusion(t, cflat(y), g0);
        predictor = y + h * f0 + g0 * dw;
        p.drift(t + h, cflat(predictor), f1);
        p.diffusion(t + h, cflat(predictor), g1);
        y += (T(0.5) * h) * (f0 + f1) + T(0.5) * (g0 + g1) * dw;
    }
};

}  // namespace diffuse::ode
