// diffuse/ode/sde_integrate.hpp: fixed-step integration of an SDE over a grid of times.
//
// For each interval [t_k, t_k+1] of the grid the increment source gives dW (and the time integral
// dz when the stepper needs it), then the stepper advances y in place. The grid runs in either
// direction and is never subdivided. Any brownian_source works: a brownian_tree gives the same
// path whatever the grid, so solutions on a coarse and a fine grid can be compared path by path.
#pragma once

#include <cmath>
#include <concepts>
#include <utility>

#include "diffuse/core/brownian.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/ode/sde_problem.hpp"

namespace diffuse::ode {

// A stepper of this folder: euler_maruyama, milstein, stochastic_heun, sra1, reversible_heun.
template <class S, class P, class T>
concept sde_stepper = Real<T> && requires(S& s, P& p, T t, view<T> y, const_view<T> dw) {
    { S::needs_time_integral } -> std::convertible_to<bool>;
    s.start(p, t, cflat(y));
};

// Called after the start and after every step with (t, y).
struct no_sde_observer {
    template <class T, class Y>
    void operator()(T, const Y&) const {}
};

// Integrates y from times[0] to times[n - 1] in place. `y` is anything flat() accepts (the
// stepper's size), `times` anything cflat() accepts (std::vector<T>, an Eigen array), strictly
// monotone, at least two points. Two work buffers of y's size are allocated once per call, none per
// step.
template <class Stepper, class Problem, class Times, class State, class Noise, class Observer = no_sde_observer>
requires(sde_stepper<Stepper, Problem, typename Stepper::scalar>&&
             random::brownian_source<Noise, typename Stepper::scalar>) void integrate_sde(Stepper& stepper,
                                                                                          Problem& problem,
                                                                                          const Times& times,
                                                                                          State&& state, Noise& noise,
                                                                                          Observer&& observe = {}) {
    using T = typename Stepper::scalar;
    view<T> y = flat(state);
    const const_view<T> grid = cflat(times);
    require(grid.size() >= 2, "times.size()", grid.size(), "at least 2 times (a start and an end)");
    const T direction = grid[1] > grid[0] ? T(1) : T(-1);
    for (index k = 0; k < grid.size(); ++k) require_finite("times[k]", grid[k]);
    for (index k = 1; k < grid.size(); ++k) {
        require(direction * (grid[k] - grid[k - 1]) > 0, "times[k]", grid[k],
                "a strictly monotone grid (all increasing or all decreasing)");
    }
    buffer<T> dw(y.size());
    buffer<T> dz(Stepper::needs_time_integral ? y.size() : 0);
    stepper.start(problem, grid[0], cflat(y));
    observe(grid[0], cflat(y));
    for (index k = 0; k + 1 < grid.size(); ++k) {
        const T t = grid[k];
        const T h = grid[k + 1] - t;
        if constexpr (Stepper::needs_time_integral) {
            noise.increment(t, grid[k + 1], flat(dw), flat(dz));
            stepper.step(problem, t, h, y, cflat(dw), cflat(dz));
        } else {
            noise.increment(t, grid[k + 1], flat(dw));
            stepper.step(problem, t, h, y, cflat(dw));
        }
        observe(grid[k + 1], cflat(y));
    }
}

}  // namespace diffuse::ode
