// diffuse/ode/integrate_fixed.hpp: integration with a fixed number of equal steps, any tableau.
//
//   ode::explicit_runge_kutta<double, ode::rk4> rk4(y.size());
//   ode::integrate_fixed(rk4, f, t0, t1, 100, y);   // y <- y(t1) after 100 steps of (t1 - t0)/100
//
// Step i runs from t0 + i h to t0 + (i + 1) h (the last ends exactly at t1); observer(t, y) sees
// (t0, y0) and the end of every step. An FSAL pair reuses its last stage as the next step's first.
#pragma once

#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/ode/explicit_runge_kutta.hpp"
#include "diffuse/ode/system.hpp"

namespace diffuse::ode {

template <Real T, butcher_tableau Tableau, class System, class State, class Observer = no_observer>
requires system<System, T> statistics integrate_fixed(explicit_runge_kutta<T, Tableau>& stepper, System&& f, T t0, T t1,
                                                      index steps, State&& y_in, Observer&& observer = {}) {
    require(steps >= 1, "steps", steps, ">= 1");
    require_finite("t0", t0);
    require_finite("t1", t1);
    const view<T> y = flat(y_in);
    require_size("y.size()", y.size(), stepper.size());
    const auto state = [&] { return const_view<T>(y.data(), y.size()); };
    stepper.reset_evaluations();
    stepper.invalidate();
    observer(t0, state());
    const T h = (t1 - t0) / static_cast<T>(steps);
    for (index i = 0; i < steps; ++i) {
        const T t = t0 + static_cast<T>(i) * h;
        const T t_next = i + 1 == steps ? t1 : t0 + static_cast<T>(i + 1) * h;
        stepper.attempt(f, t, state(), t_next - t, y);
        stepper.accept();
        observer(t_next, state());
    }
    return {stepper.evaluations(), steps, 0};
}

}  // namespace diffuse::ode
