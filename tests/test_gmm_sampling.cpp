// Acceptance of the first slice: DDPM (1000 steps) and DDIM (eta 0, 100 steps) driven by the
// exact denoiser of the 8-Gaussian ring reproduce the mixture; so does FlowMatchEuler (sampler::euler
// with flow velocity on diffusers' flow grid) driven by the mixture's exact velocity.
//
// Statistic: the energy distance (Szekely & Rizzo 2013) between 4,000 generated and 4,000 true
// points. Its spread under the null is measured here: the same distance between independent
// pairs of 4,000-point true sets, each pair drawn afresh. The sampler passes when its distance is
// below the null mean plus three null standard deviations (an exact sampler lands inside the null
// distribution); the last two sections check the power: a wrong variance, and a model 5% off in
// scale, land outside it. Measured (DIFFUSE_REPORT_ERRORS=1 prints them): null
// 2.43e-3 +- 1.23e-3 (float), 2.36e-3 +- 1.27e-3 (double), threshold 6.10e-3 / 6.17e-3; the exact
// samplers 1.3e-3 to 3.5e-3.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "diffuse/core/random.hpp"
#include "diffuse/models/discrete_model.hpp"
#include "diffuse/models/gaussian_mixture.hpp"
#include "diffuse/models/metrics.hpp"
#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/ddpm.hpp"
#include "diffuse/sampler/euler.hpp"
#include "diffuse/sampler/sample.hpp"
#include "diffuse/schedule/flow.hpp"

using namespace diffuse;

namespace {

constexpr diffuse::index count = 4000;

template <class T>
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

struct null_spread {
    double mean = 0, stddev = 0;
};

// The null distribution of the statistic: the energy distance between two independent true sets,
// each pair drawn afresh (no set shared between pairs, so the spread is that of the distance
// itself, not of one reference set's luck).
template <class T>
null_spread null_distribution(const models::gaussian_mixture<T>& target) {
    constexpr int pairs = 8;
    std::vector<double> d;
    random::generator g(777);
    array<T> a(2 * count), b(2 * count);
    for (int i = 0; i < pairs; ++i) {
        target.sample(flat(a), g);
        target.sample(flat(b), g);
        d.push_back(models::energy_distance<T>(cflat(a), cflat(b), 2));
    }
    double mean = 0, var = 0;
    for (double v : d) mean += v / pairs;
    for (double v : d) var += (v - mean) * (v - mean) / (pairs - 1);
    return {mean, std::sqrt(var)};
}

void report(const char* what, double value, double threshold) {
    if (std::getenv("DIFFUSE_REPORT_ERRORS") == nullptr) return;
    std::printf("%s: energy distance %.3e, threshold %.3e (ratio %.2f)\n", what, value, threshold, value / threshold);
}

}  // namespace

TEMPLATE_TEST_CASE("DDPM and DDIM with the exact denoiser reproduce the 8-Gaussian ring", "[acceptance][gmm]", float,
                   double) {
    using T = TestType;
    const auto target = models::gaussian_mixture<T>::ring();
    const auto sched = schedule::discrete<T>::linear();
    array<T> truth(2 * count);
    random::generator data(1);
    target.sample(flat(truth), data);
    const auto null = null_distribution(target);
    const double threshold = null.mean + 3 * null.stddev;
    INFO("null energy distance " << null.mean << " +- " << null.stddev << ", threshold " << threshold);
    if (std::getenv("DIFFUSE_REPORT_ERRORS") != nullptr)
        std::printf("null: energy distance %.3e +- %.3e over 8 independent pairs\n", null.mean, null.stddev);

    const predict::x0_processing<T> none{};
    for (const auto prediction : {predict::prediction::epsilon, predict::prediction::v_prediction}) {
        const models::discrete_model<T, models::gaussian_mixture<T>> model(target, sched, prediction);
        SECTION(std::string("DDPM, 1000 steps, ") + std::string(predict::name(prediction))) {
            array<T> x(2 * count);
            random::generator noise(2);
            noise.normal(x);
            diffuse::sample(model, sampler::ddpm<T>(sched, {.prediction = prediction, .x0 = none}),
                            schedule::spaced_timesteps(1000, 1000), x, noise);
            const double d = models::energy_distance<T>(cflat(x), cflat(truth), 2);
            INFO("DDPM energy distance " << d);
            report("DDPM", d, threshold);
            CHECK(d < threshold);
        }
        SECTION(std::string("DDIM, eta 0, 100 steps, ") + std::string(predict::name(prediction))) {
            array<T> x(2 * count);
            random::generator noise(3);
            noise.normal(x);
            diffuse::sample(model, sampler::ddim<T>(sched, {.prediction = prediction, .x0 = none}),
                            schedule::spaced_timesteps(1000, 100, schedule::spacing::trailing), x);
            const double d = models::energy_distance<T>(cflat(x), cflat(truth), 2);
            INFO("DDIM energy distance " << d);
            report("DDIM", d, threshold);
            CHECK(d < threshold);
        }
    }
    SECTION("the statistic has power: DDPM with the wrong (fixed_large) variance at 10 steps fails it") {
        const models::discrete_model<T, models::gaussian_mixture<T>> model(target, sched);
        array<T> x(2 * count);
        random::generator noise(4);
        noise.normal(x);
        diffuse::sample(model, sampler::ddpm<T>(sched, {.variance = sampler::variance_type::fixed_large, .x0 = none}),
                        schedule::spaced_timesteps(1000, 10), x, noise);
        const double d = models::energy_distance<T>(cflat(x), cflat(truth), 2);
        report("DDPM fixed_large, 10 steps", d, threshold);
        CHECK(d > threshold);
    }
    SECTION("the statistic has power: a denoiser of a ring 5% too large (radius and spread) fails it") {
        // A subtle model defect: DDIM (100 steps, as above) with the exact denoiser of the ring
        // scaled by 1.05. Measured: 7.82e-3 (float) and 8.49e-3 (double), 1.28x and 1.38x the
        // threshold, 4.4 and 4.7 null standard deviations above the null mean.
        const auto wrong = models::gaussian_mixture<T>::ring(8, T(4.2), T(0.525));
        const models::discrete_model<T, models::gaussian_mixture<T>> model(wrong, sched);
        array<T> x(2 * count);
        random::generator noise(5);
        noise.normal(x);
        diffuse::sample(model, sampler::ddim<T>(sched, {.x0 = none}),
                        schedule::spaced_timesteps(1000, 100, schedule::spacing::trailing), x);
        const double d = models::energy_distance<T>(cflat(x), cflat(truth), 2);
        report("DDIM, ring scaled by 1.05", d, threshold);
        CHECK(d > threshold);
    }
}

TEMPLATE_TEST_CASE("FlowMatchEuler driven by the mixture's exact velocity reproduces the 8-Gaussian ring",
                   "[acceptance][gmm][flow]", float, double) {
    using T = TestType;
    // One convention for flow: gaussian_mixture::velocity(x, s) is diffusers' u = eps - x0 at
    // x_s = (1 - s) x0 + s eps, the network told s * 1000, exactly what FlowMatchEulerDiscreteScheduler
    // (sampler::euler, flow velocity, the network's state) integrates from s = 1 to 0.
    const auto target = models::gaussian_mixture<T>::ring();
    array<T> truth(2 * count);
    random::generator data(1);
    target.sample(flat(truth), data);
    const auto null = null_distribution(target);
    // The acceptance of issue 18: within twice the distance between two true sets.
    const double threshold = 2 * null.mean;
    INFO("null energy distance " << null.mean << " +- " << null.stddev);
    const auto grid = schedule::flow_match_grid<T>({.steps = 50});
    const sampler::euler<T> euler(
        {.prediction = predict::prediction::flow_velocity, .space = sampler::state_space::model});
    const auto run_with = [&](auto&& model) {
        array<T> x(2 * count);
        random::generator noise(5);
        noise.normal(x);
        diffuse::sample(model, euler, grid, x);
        return models::energy_distance<T>(cflat(x), cflat(truth), 2);
    };
    const double d = run_with([&](const_view<T> x, double model_time, view<T> out) {
        target.velocity(x, static_cast<T>(model_time / 1000), out);
    });
    INFO("FlowMatchEuler energy distance " << d);
    // measured: 1.2e-3 (float), 2.1e-3 (double); the null mean of independent pairs is 2.4e-3 (threshold 4.8e-3)
    CHECK(d < threshold);
    // The other convention (data at t = 1, v = data - noise, i.e. -u(x, 1 - s)) does not reproduce it.
    const double wrong = run_with([&](const_view<T> x, double model_time, view<T> out) {
        target.velocity(x, static_cast<T>(1 - model_time / 1000), out);
        out = -out;
    });
    INFO("opposite convention " << wrong);
    CHECK(wrong > 10 * threshold);  // measured: 2.87 (float and double)
}
