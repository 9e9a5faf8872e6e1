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
class euler_maruyama : public detail::sde_stepper_base<T, 2, sde_calculus::ito> {
    using base = detail::sde_stepper_base<T, 2, sde_calculus::ito>;

public:
    using base::base;

    template <sde_problem<T> P, class Y, class W>
    void step(P& p, T t, T h, Y&& state, const W& noise) {
        auto [y, dw] = this->views(state, noise);
        view<T> f = this->work(0), g = this->work(1);
        p.drift(t, cflat(y), f);
        p.diffusion(t, cflat(y), g);
        y += h * f + g * dw;
    }
};

}  // namespace diffuse::ode
