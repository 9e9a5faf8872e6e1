// Shared by the k-diffusion-family sampler tests: the replayed noise, the nonlinear stand-in
// network of tools/reference_kdiffusion.py, grids built from recorded sigmas, element-wise checks.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "diffuse/sampler/level_map.hpp"
#include "diffuse/schedule/sigmas.hpp"
#include "diffusers_fixtures.hpp"
#include "reference_kdiffusion.hpp"

namespace kdtest {

using namespace diffuse;
template <class T>
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

inline constexpr int trace_size = 64;  // sample0[:1, :1], shape (1, 1, 8, 8)

template <class T>
array<T> trace_sample0() {
    return fixtures::sample0<T>().head(trace_size);
}

// Replays noise recorded from torch, draw by draw (a diffuse::random::noise_source).
template <class T>
struct replay {
    const std::vector<float>* draws;
    std::size_t used = 0;
    void normal(view<T> out) {
        const auto n = static_cast<std::size_t>(out.size());
        REQUIRE(used + n <= draws->size());
        for (std::size_t i = 0; i < n; ++i) out[static_cast<diffuse::index>(i)] = static_cast<T>((*draws)[used + i]);
        used += n;
    }
    [[nodiscard]] bool all_used() const { return used == draws->size(); }
};

// tools/reference_kdiffusion.py's `smooth` network: tanh(x) (0.5 + t/2000), the factor rounded to
// T as torch does for a Python scalar.
template <class T>
void smooth(const_view<T> x, double t, view<T> out) {
    out = x.tanh() * static_cast<T>(0.5 + t / 2000.0);
}

// The grid of recorded sigmas (the last one 0) on a VP network: levels from vp_levels.
template <class T>
schedule::sigma_grid<T> recorded_grid(const std::vector<double>& sigmas, const sampler::level_map<T>& levels,
                                      const std::vector<double>& times = {}) {
    std::vector<schedule::noise_level<T>> out;
    for (std::size_t i = 0; i < sigmas.size(); ++i) {
        const T s = static_cast<T>(sigmas[i]);
        auto l = s > T(0) ? levels(s) : schedule::noise_level<T>{T(0), T(1), 0.0};
        if (i < times.size()) l.model_time = times[i];
        out.push_back(l);
    }
    return schedule::sigma_grid<T>(std::move(out), T(1));
}

// With DIFFUSE_REPORT_ERRORS set in the environment, element-wise checks print the measured worst
// difference beside their bound (how the bounds' "measured" comments are re-measured).
inline void report_error(double worst, double bound) {
    if (std::getenv("DIFFUSE_REPORT_ERRORS") == nullptr) return;
    std::printf("measured %.2e (bound %.0e): %s\n", worst, bound,
                Catch::getResultCapture().getCurrentTestName().c_str());
}

// float32 results against float32 reference data: |a - b| <= rel max(|b|, 1e-3).
template <class T>
void require_close(const array<T>& x, const std::vector<float>& expected, double rel) {
    REQUIRE(x.size() == static_cast<diffuse::index>(expected.size()));
    double worst = 0;
    for (diffuse::index i = 0; i < x.size(); ++i) {
        const double b = expected[static_cast<std::size_t>(i)];
        worst = std::max(worst, std::abs(static_cast<double>(x[i]) - b) / std::max(std::abs(b), 1e-3));
    }
    INFO("worst relative difference " << worst);
    report_error(worst, rel);
    CHECK(worst <= rel);
}

inline void require_times(const std::vector<double>& seen, const std::vector<double>& expected) {
    REQUIRE(seen.size() == expected.size());
    for (std::size_t i = 0; i < seen.size(); ++i) {
        INFO("evaluation " << i);
        CHECK(seen[i] == Approx(expected[i]).margin(2e-3).epsilon(1e-6));
    }
}

// Tolerances: float32 agrees with float32 data to 1e-4 (1e-3 with noise); double runs are compared
// against the same float32 data, whose rounding dominates the difference: 1e-3 (1e-2 with noise).
template <class T>
double tolerance(bool noisy) {
    if constexpr (std::is_same_v<T, float>) return noisy ? 1e-3 : 1e-4;
    return noisy ? 1e-2 : 1e-3;
}

}  // namespace kdtest
