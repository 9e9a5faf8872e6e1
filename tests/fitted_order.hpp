// The empirical order of convergence: the least-squares slope of -log(error) against log(steps).
// Shared by the convergence tests (convergence_harness.hpp) and tests/test_ode.cpp.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

inline double fitted_order(const std::vector<double>& steps, const std::vector<double>& errors) {
    const auto n = static_cast<double>(steps.size());
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const double lx = std::log(steps[i]), ly = -std::log(errors[i]);
        sx += lx, sy += ly, sxx += lx * lx, sxy += lx * ly;
    }
    return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}
