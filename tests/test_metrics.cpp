// Tests for diffuse/models/metrics.hpp: energy distance and sliced Wasserstein-2 against hand
// computations, closed forms for Gaussians and their defining properties.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <utility>

#include "diffuse/core/random.hpp"
#include "diffuse/models/metrics.hpp"

namespace {

using diffuse::flat;
using diffuse::models::energy_distance;
using diffuse::models::sliced_wasserstein2;
using Eigen::Index;  // not `index`: that name clashes with POSIX ::index
template <class T>
using buf = diffuse::buffer<T>;

template <class T>
buf<T> values(std::initializer_list<double> list) {
    buf<T> out(static_cast<Index>(list.size()));
    Index i = 0;
    for (double v : list) out[i++] = static_cast<T>(v);
    return out;
}

template <class T>
buf<T> normal_points(Index count, std::uint64_t seed) {
    buf<T> out(count);
    diffuse::random::generator noise(seed);
    noise.normal(out);
    return out;
}

template <class T>
auto in(const buf<T>& x) {
    return flat(x);
}

// Inverse of the standard normal CDF by bisection on erfc (to double precision).
double normal_quantile(double p) {
    double lo = -12, hi = 12;
    for (int i = 0; i < 200; ++i) {
        const double mid = 0.5 * (lo + hi);
        (0.5 * std::erfc(-mid / std::numbers::sqrt2) < p ? lo : hi) = mid;
    }
    return 0.5 * (lo + hi);
}

// E|Z| for Z ~ N(mu, tau^2) (folded normal mean, Leone, Nelson & Nottingham 1961).
double mean_abs_1d(double mu, double tau) {
    return tau * std::sqrt(2 / std::numbers::pi) * std::exp(-mu * mu / (2 * tau * tau)) +
           mu * std::erf(mu / (tau * std::numbers::sqrt2));
}

// E|Z| for Z ~ N(nu e_1, tau^2 I_2): the mean of the Rice distribution (Rice 1945),
// tau sqrt(pi/2) L_{1/2}(-nu^2 / (2 tau^2)) with the Laguerre function written with I_0, I_1.
double mean_abs_2d(double nu, double tau) {
    const double y = nu * nu / (4 * tau * tau);
    return tau * std::sqrt(std::numbers::pi / 2) * std::exp(-y) *
           ((1 + 2 * y) * std::cyl_bessel_i(0.0, y) + 2 * y * std::cyl_bessel_i(1.0, y));
}

}  // namespace

TEMPLATE_TEST_CASE("energy distance: zero for identical sets, symmetric, positive otherwise", "[models][metrics]",
                   float, double) {
    using T = TestType;
    const buf<T> a = normal_points<T>(2 * 500, 1);
    buf<T> b = normal_points<T>(2 * 300, 2);
    b *= T(1.3);
    CHECK(std::abs(energy_distance<T>(in(a), in(a), 2)) < 1e-12);
    CHECK(std::abs(energy_distance<T>(in(b), in(b), 2)) < 1e-12);
    const double ab = energy_distance<T>(in(a), in(b), 2);
    CHECK(ab > 0);
    // measured 5.4e-14 (double), 8e-09 (float) relative
    CHECK(energy_distance<T>(in(b), in(a), 2) == Approx(ab).epsilon(std::is_same_v<T, float> ? 2e-7 : 6e-13).margin(0));
}

TEMPLATE_TEST_CASE("energy distance of point masses and of a hand-computed pair", "[models][metrics]", float, double) {
    using T = TestType;
    // Three copies of p against five of q: only the cross term survives, 2 |p - q| = 2 * 5.
    const buf<T> p = values<T>({1, 2, 1, 2, 1, 2});
    const buf<T> q = values<T>({4, -2, 4, -2, 4, -2, 4, -2, 4, -2});
    // measured 0 (both types) relative (a floor of a few ulp)
    CHECK(energy_distance<T>(in(p), in(q), 2) == Approx(10).epsilon(std::is_same_v<T, float> ? 2e-7 : 2e-15).margin(0));
    // {0, 1} vs {0, 3}: cross mean (0 + 3 + 1 + 2)/4 = 1.5, within means 2/4 and 6/4:
    // 2 * 1.5 - 0.5 - 1.5 = 1.
    // measured 0 (both types) relative (a floor of a few ulp)
    CHECK(energy_distance<T>(in(values<T>({0, 1})), in(values<T>({0, 3})), 1) ==
          Approx(1).epsilon(std::is_same_v<T, float> ? 2e-7 : 2e-15).margin(0));
}

TEMPLATE_TEST_CASE("energy distance between N(0, I) and N(e_1, I) approaches its closed form", "[models][metrics]",
                   float, double) {
    using T = TestType;
    // Population value 2 E|X - Y| - E|X - X'| - E|Y - Y'| with X - Y ~ N(-e_1, 2 I) and
    // X - X' ~ N(0, 2 I). Deterministic quantile sets (x_i = Phi^{-1}((i + 1/2)/n)) make the
    // V-statistic converge fast, so the tolerances are tight: measured errors 1.4e-6 (1-D,
    // n = 2000) and 9.7e-4 (2-D, 64 x 64 grid).
    constexpr Index n = 2000;
    buf<T> a(n), b(n);
    for (Index i = 0; i < n; ++i) {
        a[i] = static_cast<T>(normal_quantile((static_cast<double>(i) + 0.5) / n));
        b[i] = static_cast<T>(static_cast<double>(a[i]) + 1);
    }
    const double exact_1d = 2 * mean_abs_1d(1, std::numbers::sqrt2) - 2 * mean_abs_1d(0, std::numbers::sqrt2);
    // measured 1.4e-6 in both types: the quantile set's quadrature error
    CHECK(energy_distance<T>(in(a), in(b), 1) == Approx(exact_1d).epsilon(0).margin(1e-5));

    constexpr Index side = 64;
    buf<T> grid(2 * side * side), shifted(2 * side * side);
    for (Index i = 0; i < side; ++i) {
        for (Index j = 0; j < side; ++j) {
            const Index k = i * side + j;
            grid[2 * k] = static_cast<T>(normal_quantile((static_cast<double>(i) + 0.5) / side));
            grid[2 * k + 1] = static_cast<T>(normal_quantile((static_cast<double>(j) + 0.5) / side));
            shifted[2 * k] = static_cast<T>(static_cast<double>(grid[2 * k]) + 1);
            shifted[2 * k + 1] = grid[2 * k + 1];
        }
    }
    const double exact_2d = 2 * mean_abs_2d(1, std::numbers::sqrt2) - 2 * mean_abs_2d(0, std::numbers::sqrt2);
    // E|X - X'| in 2-D is sqrt(pi) for unit variances (Rayleigh mean with scale sqrt 2).
    // measured 0 relative (a floor of a few ulp)
    CHECK(mean_abs_2d(0, std::numbers::sqrt2) == Approx(std::sqrt(std::numbers::pi)).epsilon(2e-15).margin(0));
    // measured 9.7e-4 in both types: the 64 x 64 grid's quadrature error, deterministic, so 2x is enough
    CHECK(energy_distance<T>(in(grid), in(shifted), 2) == Approx(exact_2d).epsilon(0).margin(2e-3));
}

TEMPLATE_TEST_CASE("sliced W2: zero for identical sets, symmetric, reproducible, exact for 1-D point masses",
                   "[models][metrics]", float, double) {
    using T = TestType;
    const buf<T> a = normal_points<T>(2 * 400, 3);
    const buf<T> b = normal_points<T>(2 * 250, 4);
    CHECK(sliced_wasserstein2<T>(in(a), in(a), 2, 64, 9) == 0);
    const T ab = sliced_wasserstein2<T>(in(a), in(b), 2, 64, 9);
    CHECK(ab > 0);
    CHECK(sliced_wasserstein2<T>(in(b), in(a), 2, 64, 9) == ab);
    CHECK(sliced_wasserstein2<T>(in(a), in(b), 2, 64, 9) == ab);
    CHECK(sliced_wasserstein2<T>(in(a), in(b), 2, 64, 10) != ab);
    // Point masses at 2 and -1.5 (three against two copies): W2 = 3.5 in any direction +-1.
    // measured 0 (both types) relative (a floor of a few ulp)
    CHECK(sliced_wasserstein2<T>(in(values<T>({2, 2, 2})), in(values<T>({-1.5, -1.5})), 1, 8, 0) ==
          Approx(3.5).epsilon(std::is_same_v<T, float> ? 2e-7 : 2e-15).margin(0));
}

TEMPLATE_TEST_CASE("sliced W2 merges quantile functions exactly for unequal counts", "[models][metrics]", float,
                   double) {
    using T = TestType;
    // F^{-1} of {0, 1} and of {0, 1/2, 1} differ by 1/2 on (1/3, 2/3): W2^2 = 1/4 * 1/3.
    // measured 0 (double), 1.9e-08 (float) relative
    CHECK(sliced_wasserstein2<T>(in(values<T>({1, 0})), in(values<T>({0.5, 1, 0})), 1, 4, 1) ==
          Approx(std::sqrt(1.0 / 12)).epsilon(std::is_same_v<T, float> ? 2e-7 : 2e-15).margin(0));
    // Every point twice is the same distribution.
    const buf<T> a = normal_points<T>(300, 5);
    buf<T> twice(600);
    twice << a, a;
    CHECK(sliced_wasserstein2<T>(in(a), in(twice), 1, 4, 1) == 0);
    // Equal counts in 1-D: the root mean square of the sorted differences.
    buf<T> b = normal_points<T>(300, 6);
    buf<double> x = a.template cast<double>(), y = b.template cast<double>();
    std::sort(x.begin(), x.end());
    std::sort(y.begin(), y.end());
    const double rms = std::sqrt((x - y).square().mean());
    // measured 0 (double), 1.2e-08 (float) relative
    CHECK(sliced_wasserstein2<T>(in(a), in(b), 1, 4, 1) ==
          Approx(rms).epsilon(std::is_same_v<T, float> ? 2e-7 : 2e-15).margin(0));
}

TEMPLATE_TEST_CASE("sliced W2 of a shifted set averages (theta . s)^2 over directions", "[models][metrics]", float,
                   double) {
    using T = TestType;
    // b = a + s projects to a shifted copy in every direction, so W2^2(theta) = (theta . s)^2,
    // whose mean over the sphere is |s|^2 / d. Its Monte Carlo error over L directions is
    // |s|^2 sqrt(Var(cos^2) / L), Var(cos^2) = 1/8 on the circle and 4/45 on the sphere.
    constexpr Index projections = 2000;
    for (const auto& [dim, variance] : {std::pair<Index, double>{2, 1.0 / 8}, std::pair<Index, double>{3, 4.0 / 45}}) {
        const buf<T> a = normal_points<T>(dim * 200, 8);
        buf<T> b = a;
        const double s[3] = {1.5, -2.0, 0.5};
        double s2 = 0;
        for (Index c = 0; c < dim; ++c) s2 += s[c] * s[c];
        for (Index i = 0; i < 200; ++i) {
            for (Index c = 0; c < dim; ++c) b[i * dim + c] += static_cast<T>(s[c]);
        }
        const double sw = sliced_wasserstein2<T>(in(a), in(b), dim, projections, 21);
        INFO("dim " << dim);
        CHECK(std::abs(sw * sw - s2 / static_cast<double>(dim)) < 5 * s2 * std::sqrt(variance / projections));
    }
}

TEMPLATE_TEST_CASE("W2 between samples of N(m1, 1) and N(m2, 1) is close to |m1 - m2|", "[models][metrics]", float,
                   double) {
    using T = TestType;
    // W2 between N(m1, s^2) and N(m2, s^2) is |m1 - m2| (the optimal map is a translation).
    // With 4000 samples each, the empirical W2 has a measured standard deviation of 0.018
    // (30 seeds, mean 0.996 at |m1 - m2| = 1), so 0.09 is five of them.
    buf<T> a = normal_points<T>(4000, 31), b = normal_points<T>(4000, 32);
    a += T(-0.5);
    b += T(1.0);
    // statistical, not 10x: measured 0.0022 (double), 0.0024 (float) here; 0.09 is five standard deviations
    CHECK(sliced_wasserstein2<T>(in(a), in(b), 1, 1, 0) == Approx(1.5).epsilon(0).margin(0.09));
}

TEMPLATE_TEST_CASE("metrics reject malformed point sets with diffuse::error", "[models][metrics][errors]", float,
                   double) {
    using T = TestType;
    const buf<T> a = values<T>({0, 1, 2, 3}), odd = values<T>({0, 1, 2});
    const buf<T> empty(0), with_nan = values<T>({0, NAN}), with_inf = values<T>({INFINITY, 0});
    CHECK_THROWS_WITH(energy_distance<T>(in(a), in(a), 0), Catch::Contains("dim = 0"));
    CHECK_THROWS_WITH(energy_distance<T>(in(odd), in(a), 2),
                      Catch::Contains("a.size() = 3") && Catch::Contains("multiple of dim = 2"));
    CHECK_THROWS_WITH(energy_distance<T>(in(a), in(empty), 2), Catch::Contains("b.size() = 0"));
    CHECK_THROWS_WITH(energy_distance<T>(in(with_nan), in(a), 2),
                      Catch::Contains("a[1] = nan") && Catch::Contains("finite"));
    CHECK_THROWS_WITH(sliced_wasserstein2<T>(in(a), in(with_inf), 2), Catch::Contains("b[0] = inf"));
    CHECK_THROWS_WITH(sliced_wasserstein2<T>(in(a), in(odd), 2), Catch::Contains("b.size() = 3"));
    CHECK_THROWS_WITH(sliced_wasserstein2<T>(in(a), in(a), -1), Catch::Contains("dim = -1"));
    CHECK_THROWS_WITH(sliced_wasserstein2<T>(in(a), in(a), 2, 0), Catch::Contains("projections = 0"));
}
