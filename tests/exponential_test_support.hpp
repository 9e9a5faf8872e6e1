// What the exponential-integrator sampler tests share: diffusers' loop A, the model of
// tools/reference_exponential.py, its injected noise, and element-wise comparisons with the
// recorded diffusers runs (tests/reference_exponential.hpp).
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <type_traits>
#include <vector>

#include "diffuse/sampler/sample.hpp"
#include "diffuse/schedule/solver_sigmas.hpp"
#include "diffusers_fixtures.hpp"
#include "reference_exponential.hpp"

namespace exponential_test {

using diffuse::index;
template <class T>
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

inline constexpr index size = 192;  // the first sample of diffusers' dummy_sample_deter

template <class T>
array<T> sample0() {
    return fixtures::sample0<T>().head(size);
}

// tools/reference_exponential.py's stand-in network: tanh(x) (0.5 + t / 2000).
template <class T>
void smooth_model(diffuse::const_view<T> x, double t, diffuse::view<T> out) {
    out = x.tanh() * static_cast<T>(0.5 + t / 2000.0);
}

// The k-th noise draw of tools/reference_exponential.py: exact dyadic values, replayed in order.
template <class T>
struct injected_noise {
    index draws = 0;
    void normal(diffuse::view<T> out) {
        for (index i = 0; i < out.size(); ++i) out[i] = static_cast<T>(((i * 37 + draws * 101) % 257 - 128) / 64.0);
        ++draws;
    }
};

// Loop A of diffusers' tests with the smooth model (and injected noise when the sampler draws).
template <class T, class Sampler>
array<T> loop_a(const Sampler& sampler, const diffuse::schedule::sigma_grid<T>& grid, index* draws = nullptr) {
    array<T> x = sample0<T>();
    injected_noise<T> noise;
    diffuse::sample(smooth_model<T>, sampler, grid, x, noise);
    if (draws) *draws = noise.draws;
    return x;
}

// The grid against the scheduler's sigmas and timesteps (diffusers stores sigmas in float32).
template <class T>
void check_grid(const diffuse::schedule::sigma_grid<T>& grid, const reference_exponential::run& ref,
                bool flow = false) {
    // A repeated last sigma (a zero-length step in diffusers) ends the grid one level early.
    const bool repeated =
        ref.sigmas.size() >= 2 && ref.sigmas[ref.sigmas.size() - 1] == ref.sigmas[ref.sigmas.size() - 2];
    REQUIRE(static_cast<std::size_t>(grid.steps() + 1 + (repeated ? 1 : 0)) == ref.sigmas.size());
    for (index i = 0; i <= grid.steps(); ++i) {
        INFO("level " << i);
        const double s = static_cast<double>(grid[i].sigma), a = static_cast<double>(grid[i].alpha);
        // flow levels store the k-diffusion sigma s / (1 - s); diffusers stores s.
        const double diffusers_sigma = flow ? s * a : s;
        // Double grids start from double training sigmas: sqrt((1 - ab) / ab) at ab = 1 - 1e-4 is
        // 8e-5 away from diffusers' float32 value, so double grids are compared to 2e-4.
        CHECK(diffusers_sigma == Approx(ref.sigmas[static_cast<std::size_t>(i)])
                                     .epsilon(std::is_same_v<T, float> ? 2e-6 : 2e-4)
                                     .margin(1e-12));
        if (i < grid.steps()) CHECK(grid[i].model_time == ref.timesteps[static_cast<std::size_t>(i)]);
    }
}

// Element-wise: |a - b| <= tolerance (|b| + 1e-2 max|b|).
template <class T>
void check_sample(const array<T>& x, const std::vector<float>& expected, double tolerance) {
    REQUIRE(static_cast<std::size_t>(x.size()) == expected.size());
    double scale = 0;
    for (const float v : expected) scale = std::max(scale, std::fabs(static_cast<double>(v)));
    double worst = 0;
    index worst_at = 0;
    for (index i = 0; i < x.size(); ++i) {
        const double b = expected[static_cast<std::size_t>(i)];
        const double err = std::fabs(static_cast<double>(x[i]) - b) / (std::fabs(b) + 1e-2 * scale);
        if (err > worst) worst = err, worst_at = i;
    }
    INFO("worst relative error " << worst << " at " << worst_at << ": " << x[worst_at] << " vs "
                                 << expected[static_cast<std::size_t>(worst_at)]);
    CHECK(worst <= tolerance);
}

}  // namespace exponential_test

namespace exponential_test {

// One recorded diffusers run: its schedule, its grid options, and the sampler (float and double).
template <template <class> class Sampler, template <class> class Options>
struct parity_case {
    const char* name;
    const reference_exponential::run* expected;
    bool scaled_linear;
    bool zero_snr;
    diffuse::schedule::solver_sigma_options grid;
    Options<float> single;
    Options<double> twice;
};

// Runs every case in T and compares grid and sample with diffusers': float32 against the float32
// data to 1e-4 relative (1e-3 with injected noise); double against the same data to 1e-3.
template <class T, template <class> class Sampler, class Case>
void check_parity(const std::vector<Case>& cases, diffuse::schedule::solver_family family) {
    for (const auto& c : cases) {
        INFO(c.name);
        auto betas = c.scaled_linear ? diffuse::schedule::discrete<T>::scaled_linear()
                                     : diffuse::schedule::discrete<T>::linear();
        if (c.zero_snr) betas = betas.rescaled_zero_terminal_snr();
        const auto grid = diffuse::schedule::solver_sigma_grid(betas, family, c.grid);
        check_grid(grid, *c.expected, c.grid.use_flow_sigmas);
        index draws = 0;
        const Sampler<T> sampler = [&] {
            if constexpr (std::is_same_v<T, float>) {
                return Sampler<T>(c.single);
            } else {
                return Sampler<T>(c.twice);
            }
        }();
        const auto x = loop_a<T>(sampler, grid, &draws);
        const bool noisy = c.expected->noise_draws > 0;
        if (noisy) CHECK(draws == c.expected->noise_draws);
        check_sample(x, c.expected->sample, std::is_same_v<T, float> && !noisy ? 1e-4 : 1e-3);
    }
}

}  // namespace exponential_test
