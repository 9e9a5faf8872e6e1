// diffuse/schedule/incomplete_beta.hpp: the regularized incomplete beta function I_x(a, b) and its
// inverse, for the beta sigma spacing (Lee et al. 2024, "Beta Sampling is All You Need"), which
// diffusers computes with scipy.stats.beta.ppf.
//
// I_x(a, b) = x^a (1 - x)^b / (a B(a, b)) * 1/(1 + d_1/(1 + d_2/(1 + ...)))  (DLMF 8.17.22), with
//   d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)),  d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)),
// evaluated by the modified Lentz method; it converges fast for x < (a + 1)/(a + b + 2), and the
// symmetry I_x(a, b) = 1 - I_{1-x}(b, a) (DLMF 8.17.4) covers the rest.
// The inverse is a safeguarded Newton iteration on a bracket (the density is the derivative).
#pragma once

#include <cmath>
#include <limits>

#include "diffuse/core/error.hpp"

namespace diffuse::schedule {

namespace detail {

inline double log_beta_function(double a, double b) {
    return std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b);
}

// The continued fraction of DLMF 8.17.22 (without its prefactor), modified Lentz.
inline double incomplete_beta_fraction(double x, double a, double b) {
    constexpr double tiny = 1e-300, eps = 1e-16;
    const auto guard = [](double v) { return std::fabs(v) < tiny ? tiny : v; };
    double c = 1.0, d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0)), f = d;
    for (int m = 1; m <= 500; ++m) {
        const double dm = static_cast<double>(m);
        const double even = dm * (b - dm) * x / ((a + 2 * dm - 1) * (a + 2 * dm));
        d = 1.0 / guard(1.0 + even * d);
        c = guard(1.0 + even / c);
        f *= c * d;
        const double odd = -(a + dm) * (a + b + dm) * x / ((a + 2 * dm) * (a + 2 * dm + 1));
        d = 1.0 / guard(1.0 + odd * d);
        c = guard(1.0 + odd / c);
        const double delta = c * d;
        f *= delta;
        if (std::fabs(delta - 1.0) < eps) break;
    }
    return f;
}

inline void require_beta_shape(double a, double b) {
    require(std::isfinite(a) && a > 0, "alpha", a, "a finite number > 0");
    require(std::isfinite(b) && b > 0, "beta", b, "a finite number > 0");
}

}  // namespace detail

// I_x(a, b), the CDF of the Beta(a, b) distribution at x in [0, 1].
inline double regularized_incomplete_beta(double x, double a, double b) {
    detail::require_beta_shape(a, b);
    require(x >= 0 && x <= 1, "x", x, "in [0, 1]");
    if (x == 0 || x == 1) return x;
    const double log_front = a * std::log(x) + b * std::log1p(-x) - detail::log_beta_function(a, b);
    if (x < (a + 1) / (a + b + 2)) return std::exp(log_front) * detail::incomplete_beta_fraction(x, a, b) / a;
    return 1.0 - std::exp(log_front) * detail::incomplete_beta_fraction(1 - x, b, a) / b;
}

// The x in [0, 1] with I_x(a, b) = p (scipy.special.betaincinv, scipy.stats.beta.ppf).
inline double inverse_regularized_incomplete_beta(double p, double a, double b) {
    detail::require_beta_shape(a, b);
    require(p >= 0 && p <= 1, "p", p, "in [0, 1]");
    if (p == 0 || p == 1) return p;
    const double log_b = detail::log_beta_function(a, b);
    double lo = 0, hi = 1, x = 0.5;
    for (int it = 0; it < 200; ++it) {
        const double residual = regularized_incomplete_beta(x, a, b) - p;
        if (residual == 0) return x;
        (residual < 0 ? lo : hi) = x;
        // Newton step x - (I_x - p) / density(x); bisect when it leaves the bracket.
        const double density = std::exp((a - 1) * std::log(x) + (b - 1) * std::log1p(-x) - log_b);
        double next = x - residual / density;
        if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
        if (std::fabs(next - x) <= 4 * std::numeric_limits<double>::epsilon() * x) return next;
        x = next;
    }
    return x;
}

}  // namespace diffuse::schedule
