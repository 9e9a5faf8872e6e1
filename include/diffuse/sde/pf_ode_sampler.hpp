// diffuse/sde/pf_ode_sampler.hpp: sampling and encoding with the probability-flow ODE
//   dx/dt = f(t) x - g(t)^2 score(t, x) / 2          (Song et al. 2021, eq. 13)
// integrated from T to eps (decode: prior noise -> data) or from eps to T (encode: data -> noise)
// by any explicit Runge-Kutta tableau of ode/: an embedded pair runs adaptively (ode::adaptive,
// scipy's RK45 control with Dormand-Prince, as score_sde's ode sampler used it: rtol = atol = 1e-5,
// eps = 1e-3), any other tableau with `steps` equal steps. The solve's statistics report nfev.
// The ODE is deterministic, so encode then decode returns the point up to the solver's error.
//
//   sde::pf_ode_sampler<double> pf(x.size());
//   process.sample_prior(x, rng);
//   auto stats = pf.decode(score, x);              // x <- sample at eps; stats.evaluations = nfev
//
// score_sde's optional final denoising step (Tweedie, `noise_removal`) is not applied: x is the ODE's
// value at eps. Buffers are sized at construction; a solve allocates nothing.
#pragma once

#include <cmath>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/ode/adaptive.hpp"
#include "diffuse/ode/butcher.hpp"
#include "diffuse/ode/explicit_runge_kutta.hpp"
#include "diffuse/ode/integrate_fixed.hpp"
#include "diffuse/schedule/time_grid.hpp"
#include "diffuse/sde/reverse_sde.hpp"
#include "diffuse/sde/score.hpp"

namespace diffuse::sde {

template <Real T>
struct pf_ode_options {
    T rtol = T(1e-5);  // score_sde's ode sampler (sampling.py, get_ode_sampler)
    T atol = T(1e-5);
    T eps = T(-1);    // the data end; < 0: schedule::default_sampling_eps (1e-3 VP family, 1e-5 VE)
    index steps = 0;  // equal steps, for a tableau without an error estimate (>= 1 there)
    index max_steps = 100000;

    void validate() const {
        require(std::isfinite(eps), "eps", eps, "a finite number (< 0: the process's default)");
        require(steps >= 0, "steps", steps, ">= 0 (0: adaptive)");
    }
};

// The data end of a solve: options.eps, or the process's default sampling eps.
template <Real T>
T data_end(const schedule::process<T>& process, T eps) {
    const T end = eps < T(0) ? schedule::default_sampling_eps(process) : eps;
    require(end >= T(0) && end < process.t_max(), "eps", end, "in [0, T)");
    return end;
}

namespace detail {
// ode::adaptive for an embedded pair, the plain stepper otherwise (never naming adaptive<T, rk4>).
template <Real T, ode::butcher_tableau Tableau, bool = ode::embedded_tableau<Tableau>>
struct solver_for {
    using type = ode::explicit_runge_kutta<T, Tableau>;
};
template <Real T, ode::butcher_tableau Tableau>
struct solver_for<T, Tableau, true> {
    using type = ode::adaptive<T, Tableau>;
};
}  // namespace detail

template <Real T, ode::butcher_tableau Tableau = ode::dormand_prince54>
class pf_ode_sampler {
public:
    explicit pf_ode_sampler(index n, pf_ode_options<T> o = {}) : o_((o.validate(), o)), solver_(make_solver(n, o_)) {}

    [[nodiscard]] const pf_ode_options<T>& options() const { return o_; }

    // x (prior noise at T) <- the ODE's value at eps.
    template <score_function<T> Score, class State>
    ode::statistics decode(const Score& score, State&& x) {
        return integrate(score, score.process().t_max(), data_end(score.process(), o_.eps), x);
    }
    // x (data at eps) <- its code at T.
    template <score_function<T> Score, class State>
    ode::statistics encode(const Score& score, State&& x) {
        return integrate(score, data_end(score.process(), o_.eps), score.process().t_max(), x);
    }

    // x <- x(t1) from x = x(t0), either direction.
    template <score_function<T> Score, class State>
    ode::statistics integrate(const Score& score, T t0, T t1, State&& x_in) {
        const view<T> x = flat(x_in);
        auto flow = probability_flow<T, const Score&>(score);
        return solve(flow, t0, t1, x);
    }

    // The same for an ODE system of the solver's size that is already a drift (e.g. a reverse_sde).
    template <class System>
    ode::statistics solve(System& f, T t0, T t1, view<T> x) {
        if constexpr (ode::embedded_tableau<Tableau>) {
            return solver_.integrate(f, t0, t1, x);
        } else {
            return ode::integrate_fixed(solver_, f, t0, t1, o_.steps, x);
        }
    }

private:
    using solver_type = typename detail::solver_for<T, Tableau>::type;
    static solver_type make_solver(index n, const pf_ode_options<T>& o) {
        if constexpr (ode::embedded_tableau<Tableau>) {
            return solver_type(n, {.rtol = o.rtol, .atol = o.atol, .max_steps = o.max_steps});
        } else {
            require(o.steps >= 1, "steps", o.steps, ">= 1 for a tableau without an error estimate");
            return solver_type(n);
        }
    }

    pf_ode_options<T> o_;
    solver_type solver_;
};

}  // namespace diffuse::sde
