// diffuse/ode/sde_sra1.hpp: Roessler's SRA1 stochastic Runge-Kutta step for additive noise.
//
// A. Roessler, "Runge-Kutta methods for the strong approximation of solutions of stochastic
// differential equations", SIAM J. Numer. Anal. 48(3), 2010: the SRA scheme for additive noise
// with the SRA1 coefficients c0 = (0, 3/4), c1 = (1, 0), A0_21 = 3/4, B0_21 = 3/2,
// alpha = (1/3, 2/3), beta1 = (1, 0), beta2 = (-1, 1). With I_(1) = dW and
// I_(1,0) = int_t^(t+h) (W(s) - W(t)) ds = dz:
//   H2 = y + 3/4 h f(t, y) + 3/2 g(t + h) dz / h
//   y <- y + h (f(t, y) / 3 + 2 f(t + 3h/4, H2) / 3) + g(t + h) (dW - dz / h) + g(t) dz / h.
// Strong order 1.5 when g does not depend on y (the diffusion is called with the current state
// and must ignore it), order 2 for the drift alone. dz must come from the same Brownian path as dW:
// a brownian_tree built with levy_area::space_time, or brownian_increments.
#pragma once

#include "diffuse/core/view.hpp"
#include "diffuse/ode/sde_problem.hpp"

namespace diffuse::ode {

template <Real T>
class sra1 : public detail::sde_stepper_base<T, 5, sde_calculus::ito, true> {
    using base = detail::sde_stepper_base<T, 5, sde_calculus::ito, true>;

public:
    using base::base;

    template <sde_problem<T> P, class Y, class W, class Z>
    void step(P& p, T t, T h, Y&& state, const W& noise, const Z& time_integral) {
        auto [y, dw] = this->views(state, noise);
        const const_view<T> dz = cflat(time_integral);
        require_size("dz.size()", dz.size(), this->size());
        view<T> f1 = this->work(0), g_start = this->work(1), g_end = this->work(2), stage = this->work(3),
                f2 = this->work(4);
        p.drift(t, cflat(y), f1);
        p.diffusion(t, cflat(y), g_start);
        p.diffusion(t + h, cflat(y), g_end);
        const T inverse_h = 1 / h;
        stage = y + (T(0.75) * h) * f1 + (T(1.5) * inverse_h) * g_end * dz;
        p.drift(t + T(0.75) * h, cflat(stage), f2);
        y += h * (f1 / T(3) + (T(2) / T(3)) * f2) + g_end * (dw - inverse_h * dz) + inverse_h * g_start * dz;
    }
};

}  // namespace diffuse::ode
