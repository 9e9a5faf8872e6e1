// DPM++ SDE's seeded Brownian noise (sampler/brownian_noise.hpp, k-diffusion's
// BrownianTreeNoiseSampler, diffusers' noise_sampler_seed): a seeded run draws exactly the normalized
// increments of random::brownian_tree over the grid's [sigma_min, sigma_max], the path does not depend
// on the grid (refinement adds up), seeds are reproducible and distinct, the noise is standard
// normal, and the facade's noise_sampler_seed reaches it. The numbers are not diffusers' (torchsde's
// BrownianInterval on torch's generator), so no value here comes from elsewhere.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "diffuse/config/registry.hpp"
#include "diffuse/core/brownian.hpp"
#include "diffuse/core/random.hpp"
#include "diffuse/sampler/brownian_noise.hpp"
#include "diffuse/sampler/dpmpp_sde.hpp"
#include "diffuse/sampler/sample.hpp"

using namespace diffuse;
using Catch::Matchers::Contains;
template <class T>
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

namespace {

constexpr diffuse::index size = 64;

template <class T>
schedule::sigma_grid<T> karras(diffuse::index steps) {
    return schedule::vp_sigma_grid(schedule::discrete<T>::scaled_linear(1000, 0.00085, 0.012),
                                   {.steps = steps, .sigmas = schedule::sigma_spacing::karras});
}

// A stand-in epsilon network.
template <class T>
void network(const array<T>& x, array<T>& out) {
    out = T(0.5) * x.tanh() + T(0.1);
}

template <class T>
array<T> start_noise(T scale) {
    array<T> x(size);
    random::fill_normal<T>(flat(x), 5, 0, 0);
    return x * scale;
}

// One evaluation of a two-stage run: the sigma the model saw, and the stretch (from, to) its update
// drew noise over (none at the last, Euler, step).
template <class T>
struct stretch {
    T from, to;
    bool noisy;
};

// Walks `run` with `step(out, x)` and returns the stretches of its updates, read off the evaluation
// levels: an update that keeps the step index is a first stage (sigma -> sigma_s), one that advances
// it is a second stage (sigma -> sigma') or, when the run ends, the noiseless Euler step to 0.
template <class T, class Run, class Step>
std::vector<stretch<T>> walk(Run& run, array<T>& x, Step step) {
    std::vector<stretch<T>> out;
    array<T> model(size);
    T step_start = T(0);
    while (!run.done()) {
        const T sigma = run.context().level.sigma;
        const diffuse::index before = run.step_index();
        network<T>(x * run.input_scale(), model);
        step(run, model, x, out.size());
        if (run.step_index() == before) {
            step_start = sigma;
            out.push_back({sigma, run.context().level.sigma, true});
        } else if (!run.done()) {
            out.push_back({step_start, run.context().level.sigma, true});
        } else {
            out.push_back({sigma, T(0), false});
        }
    }
    return out;
}

template <class T>
T tolerance_of(T lo, T hi) {
    // torchsde's tol 1e-6 (diffusers, k-diffusion), raised to what T resolves.
    return std::max(T(1e-6), random::brownian_tree<T>::finest_tolerance(lo, hi));
}

// Replays `stretches` through an unseeded run, feeding it the normalized increments
// (W(to) - W(from)) / sqrt|to - from| of a brownian_tree queried directly.
template <class T, class Run>
array<T> replay(Run run, array<T> x, const std::vector<stretch<T>>& stretches, std::uint64_t seed, T lo, T hi) {
    random::brownian_tree<T> tree(seed, lo, hi, size, tolerance_of(lo, hi));
    array<T> z(size);
    walk<T>(run, x, [&](auto& r, const array<T>& out, array<T>& xs, std::size_t k) {
        const stretch<T>& s = stretches.at(k);
        if (s.noisy) {
            tree.increment(s.from, s.to, flat(z));
            z /= std::sqrt(std::abs(s.to - s.from));
            r.step(out, xs, z);
        } else {
            r.step(out, xs);
        }
    });
    return x;
}

template <class T>
sampler::dpmpp_sde<T> seeded(std::optional<std::uint64_t> seed) {
    return sampler::dpmpp_sde<T>({.noise_sampler_seed = seed});
}

}  // namespace

TEMPLATE_TEST_CASE("a seeded DPM++ SDE run draws the normalized increments of its seed's Brownian tree",
                   "[brownian][dpmpp_sde]", float, double) {
    using T = TestType;
    const auto grid = karras<T>(6);
    const array<T> x0 = start_noise<T>(grid.initial_noise_std());
    const auto [lo, hi] = sampler::positive_sigma_range(grid);
    CHECK(hi == grid[0].sigma);
    CHECK(lo == grid[5].sigma);  // the grid ends 0 at index 6

    const auto sde = seeded<T>(42), unseeded = seeded<T>(std::nullopt);
    auto run = sde.start(grid, size);
    array<T> x = x0;
    const auto stretches = walk<T>(run, x, [](auto& r, const array<T>& out, array<T>& xs, std::size_t) {
        r.step(out, xs);  // no noise: the run has its own
    });
    REQUIRE(stretches.size() == 11);  // 5 two-stage steps and the last Euler step

    // The same bits as an unseeded run fed the tree's increments: the noise is exactly
    // (W(sigma_s) - W(sigma)) / sqrt(sigma - sigma_s) and (W(sigma') - W(sigma)) / sqrt(sigma - sigma').
    const array<T> replayed = replay<T>(unseeded.start(grid, size), x0, stretches, 42, lo, hi);
    CHECK((replayed == x).all());
    // A broken mapping would not match: another seed, or the stage-2 noise over sigma_s -> sigma'.
    CHECK(!(replay<T>(unseeded.start(grid, size), x0, stretches, 43, lo, hi) == x).all());
    auto shifted = stretches;
    for (std::size_t k = 1; k < shifted.size(); k += 2) shifted[k].from = shifted[k - 1].to;
    CHECK(!(replay<T>(unseeded.start(grid, size), x0, shifted, 42, lo, hi) == x).all());
}

TEMPLATE_TEST_CASE("a seeded DPM++ SDE run is reproducible, seeds differ, and caller noise is never silently dropped",
                   "[brownian][dpmpp_sde]", float, double) {
    using T = TestType;
    const auto grid = karras<T>(6);
    const array<T> x0 = start_noise<T>(grid.initial_noise_std());
    const auto model = [](const_view<T> x, double, view<T> out) { out = T(0.5) * x.tanh() + T(0.1); };
    auto run_with = [&](std::optional<std::uint64_t> seed) {
        array<T> x = x0;
        diffuse::sample(model, seeded<T>(seed), grid, x);
        return x;
    };
    const array<T> a = run_with(42), b = run_with(42), c = run_with(43);
    CHECK((a == b).all());
    // Different seeds: the samples differ by a noise-sized amount (measured mean |a - c|: float 7.5,
    // double 8.1; the first step injects noise of std 7.2, then 5.5).
    CHECK((a - c).abs().mean() > T(0.5));

    // The loop API with a noise source: the source is left untouched and the result is the seed's.
    random::generator rng(9);
    array<T> x = x0;
    diffuse::sample(model, seeded<T>(42), grid, x, rng);
    CHECK((x == a).all());
    array<T> from_rng(4), fresh(4);
    rng.normal(flat(from_rng));
    random::generator(9).normal(flat(fresh));
    CHECK((from_rng == fresh).all());

    // A noise buffer would be ignored: refused, naming the seed.
    const auto sde = seeded<T>(42), plain = seeded<T>(std::nullopt);
    auto run = sde.start(grid, size);
    array<T> out(size), z = array<T>::Ones(size);
    x = x0;
    network<T>(x * run.input_scale(), out);
    CHECK_THROWS_WITH(run.step(out, x, z), Contains("noise_sampler_seed") && Contains("noise buffer"));
    // Unseeded, the run still needs the caller's noise.
    auto unseeded = plain.start(grid, size);
    CHECK_THROWS_WITH(unseeded.step(out, x), Contains("stochastic"));
}

TEMPLATE_TEST_CASE("the Brownian noise of a seed is one path: refining the grid refines it", "[brownian]", float,
                   double) {
    using T = TestType;
    // Karras grids of 10 and 20 steps span the same sigma range, so both runs query the same path.
    const auto coarse_grid = karras<T>(10), fine_grid = karras<T>(20);
    REQUIRE(sampler::positive_sigma_range(coarse_grid) == sampler::positive_sigma_range(fine_grid));
    const auto [lo, hi] = sampler::positive_sigma_range(coarse_grid);
    sampler::brownian_noise<T> coarse(7, lo, hi, size), fine(7, lo, hi, size);
    array<T> z(size), z1(size), z2(size);
    double worst = 0;
    for (diffuse::index k = 0; k + 1 < coarse_grid.steps(); ++k) {
        const T s = coarse_grid[k].sigma, next = coarse_grid[k + 1].sigma;
        const T mid = std::sqrt(s * next);  // each step halved (in log sigma)
        coarse.draw(s, next, flat(z));
        fine.draw(s, mid, flat(z1));
        fine.draw(mid, next, flat(z2));
        const array<T> whole = z * std::sqrt(s - next);
        const array<T> halves = z1 * std::sqrt(s - mid) + z2 * std::sqrt(mid - next);
        worst = std::max(worst, static_cast<double>((whole - halves).abs().maxCoeff() / whole.abs().maxCoeff()));
        // The two halves are not the whole step's noise again (the check can fail).
        CHECK((z1 - z).abs().maxCoeff() > T(0.01));
    }
    // Rounding only (measured: float 1.2e-7, double 2.0e-16 of the largest increment).
    CHECK(worst < (sizeof(T) == 4 ? 2e-6 : 2e-15));
}

TEMPLATE_TEST_CASE("the Brownian noise of every step is standard normal", "[brownian]", float, double) {
    using T = TestType;
    constexpr diffuse::index n = 1 << 15;
    const auto grid = karras<T>(10);
    const auto [lo, hi] = sampler::positive_sigma_range(grid);
    sampler::brownian_noise<T> noise(3, lo, hi, n);
    array<T> z(n);
    // 5 standard errors: |mean| < 5 / sqrt(n) = 0.028, |variance - 1| < 5 sqrt(2 / n) = 0.039 (the
    // leaf interpolation removes at most leaf / (2 h) < 1e-3 of the variance here).
    const double mean_bound = 5 / std::sqrt(double(n)), variance_bound = 5 * std::sqrt(2.0 / n);
    double worst_mean = 0, worst_variance = 0;
    for (diffuse::index k = 0; k + 1 < grid.steps(); ++k) {
        const T s = grid[k].sigma, next = grid[k + 1].sigma;
        for (const T to : {std::sqrt(s * next), next}) {
            noise.draw(s, to, flat(z));
            const double mean = z.template cast<double>().mean();
            const double variance = (z.template cast<double>() - mean).square().mean();
            worst_mean = std::max(worst_mean, std::abs(mean));
            worst_variance = std::max(worst_variance, std::abs(variance - 1));
        }
    }
    // Measured over the 18 draws: worst |mean| float 0.013, double 0.011; worst |variance - 1| 0.019, 0.016.
    CHECK(worst_mean < mean_bound);
    CHECK(worst_variance < variance_bound);
}

TEMPLATE_TEST_CASE("DPMSolverSDEScheduler's noise_sampler_seed seeds the run's Brownian tree", "[brownian][config]",
                   float, double) {
    using T = TestType;
    const auto with_seed = [](config::options o) { return config::make_sampler<T>("DPMSolverSDEScheduler", o); };
    auto run = with_seed({{"noise_sampler_seed", 7}}).start(6, size);
    const array<T> x0 = start_noise<T>(run.init_noise_sigma());
    array<T> x = x0;
    const auto stretches =
        walk<T>(run, x, [](auto& r, const array<T>& out, array<T>& xs, std::size_t) { r.step(out, xs); });
    // The grid's range, read off the evaluations: the first sigma and the last step's start.
    const T hi = stretches.front().from, lo = stretches.back().from;
    const array<T> replayed = replay<T>(with_seed({}).start(6, size), x0, stretches, 7, lo, hi);
    CHECK((replayed == x).all());
    // null is the default: the caller's noise.
    auto null_seed = with_seed({{"noise_sampler_seed", nullptr}}).start(6, size);
    array<T> out(size);
    network<T>(x0 * null_seed.input_scale(), out);
    x = x0;
    CHECK_THROWS_WITH(null_seed.step(out, x), Contains("stochastic"));
    CHECK_THROWS_WITH(with_seed({{"noise_sampler_seed", -1}}), Contains("noise_sampler_seed = -1"));
}
