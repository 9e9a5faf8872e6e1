// diffuse/ode/initial_step.hpp: the first step size of an adaptive solve, chosen from the problem
// (Hairer, Norsett & Wanner I, II.4, "Starting step size"; scipy.integrate's select_initial_step):
//   d0 = ||y0||, d1 = ||f0|| (norms scaled by atol + rtol |y0|, ode/norm.hpp)
//   h0 = 0.01 d0/d1 (1e-6 when d0 or d1 < 1e-5); one explicit Euler step y1 = y0 + h0 f0
//   d2 = ||f(t0 + h0, y1) - f0|| / h0
//   h1 = (0.01 / max(d1, d2))^(1/(k+1)) (max(1e-6, 1e-3 h0) when d1, d2 <= 1e-15), k = error order
//   h  = min(100 h0, h1, |t1 - t0|, max_step)
// Bounding h0 and h by the interval |t1 - t0| (and h by max_step) is newer scipy's (1.11 onwards);
// where neither bound is reached the result is scipy 1.10's. It costs one evaluation of the system.
#pragma once

#include <algorithm>
#include <cmath>

#include "diffuse/core/view.hpp"
#include "diffuse/ode/norm.hpp"

namespace diffuse::ode {

// f0 = f(t0, y0); direction = +1 or -1; y1 and f1 are work buffers of y0's size.
template <Real T, class System>
[[nodiscard]] T initial_step(System& f, T t0, const_view<T> y0, const_view<T> f0, T direction, int error_order,
                             const tolerances<T>& tol, T interval_length, T max_step, view<T> y1, view<T> f1) {
    if (y0.size() == 0) return std::min(interval_length, max_step);
    const T d0 = scaled_norm(y0, y0, tol), d1 = scaled_norm(f0, y0, tol);
    T h0 = (d0 < T(1e-5) || d1 < T(1e-5)) ? T(1e-6) : T(0.01) * d0 / d1;
    h0 = std::min(h0, interval_length);
    y1 = y0 + (h0 * direction) * f0;
    f(t0 + h0 * direction, const_view<T>(y1.data(), y1.size()), f1);
    const T d2 = scaled_norm(f1 - f0, y0, tol) / h0;
    const T h1 = (d1 <= T(1e-15) && d2 <= T(1e-15))
                     ? std::max(T(1e-6), h0 * T(1e-3))
                     : std::pow(T(0.01) / std::max(d1, d2), T(1) / static_cast<T>(error_order + 1));
    return std::min({T(100) * h0, h1, interval_length, max_step});
}

}  // namespace diffuse::ode
