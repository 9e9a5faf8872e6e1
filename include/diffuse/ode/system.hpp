// diffuse/ode/system.hpp: what the ODE (and SDE) integrators agree on: the system callable, the
// work counters of a solve and the do-nothing observer.
#pragma once

#include "diffuse/core/config.hpp"
#include "diffuse/core/view.hpp"

namespace diffuse::ode {

// A system: f(t, y, dydt) writes y' = f(t, y) into dydt; time has the state's scalar type.
template <class F, class T>
concept system = Real<T> && requires(F& f, T t, const_view<T> y, view<T> dydt) {
    f(t, y, dydt);
};

// Work counters of a solve.
struct statistics {
    index evaluations = 0;  // calls of the system (scipy's nfev)
    index accepted = 0;     // steps taken
    index rejected = 0;     // attempts rejected by the step-size controller
};

// An observer (t, y) that does nothing: the default of the integrate functions.
struct no_observer {
    template <class T>
    void operator()(T, const_view<T>) const {}
};

}  // namespace diffuse::ode
