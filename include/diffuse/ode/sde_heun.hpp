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
class stochastic_heun {
public:
    using scalar = T;
    static constexpr sde_calculus calculus = sde_calculus::stratonovich;
    static constexpr bool needs_time_integral = false;

    explicit stochastic_heun(index size) : work_(size) {}
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
        view<T> f0 = work_[0], g0 = work_[1], predictor = work_[2], f1 = work_[3], g1 = work_[4];
        p.drift(t, cflat(y), f0);
        p.diffusion(t, cflat(y), g0);
        predictor = y + h * f0 + g0 * dw;
        p.drift(t + h, cflat(predictor), f1);
        p.diffusion(t + h, cflat(predictor), g1);
        y += (T(0.5) * h) * (f0 + f1) + T(0.5) * (g0 + g1) * dw;
    }

private:
    detail::sde_work<T, 5> work_;
};

}  // namespace diffuse::ode
