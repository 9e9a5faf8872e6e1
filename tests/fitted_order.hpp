// The empirical order of convergence against the number of steps: -(slope of log(error) against
// log(steps)). Shared by the convergence tests (convergence_harness.hpp) and tests/test_ode.cpp.
#pragma once

#include <vector>

#include "log_log_slope.hpp"

inline double fitted_order(const std::vector<double>& steps, const std::vector<double>& errors) {
    return -log_log_slope(steps, errors);
}
