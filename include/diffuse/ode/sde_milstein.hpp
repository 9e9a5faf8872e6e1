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
class milstein : public detail::sde_stepper_base<T, 3, sde_calculus::ito> {
    using base = detail::sde_stepper_base<T, 3, sde_calculus::ito>;

public:
    using base::base;

    template <sde_problem_with_derivative<T> P, class Y, class W>
    void step(P& p, T t, T h, Y&& state, const W& noise) {
        auto [y, dw] = this->views(state, noise);
        view<T> f = this->work(0), g = this->work(1), dg = this->work(2);
        p.drift(t, cflat(y), f);
        p.diffusion(t, cflat(y), g);
        p.diffusion_derivative(t, cflat(y), dg);
        y += h * f + g * dw + T(0.5) * g * dg * (dw.square() - h);
    }
};

}  // namespace diffuse::ode
