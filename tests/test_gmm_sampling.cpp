// Acceptance of the first slice: DDPM (1000 steps) and DDIM (eta 0, 100 steps) driven by the
// exact denoiser of the 8-Gaussian ring reproduce the mixture.
//
// Statistic: the energy distance (Szekely & Rizzo 2013) between 4,000 generated and 4,000 true
// points. Its spread under the null is measured here: the same distance between independent
// pairs of 4,000-point true sets. The sampler passes when its distance is below the null mean plus
// three null standard deviations (an exact sampler lands inside the null distribution; a wrong
// variance or a missing final step lands far outside it, see the last section).
#include <catch2/catch.hpp>

#include <vector>

#include "diffuse/core/random.hpp"
#include "diffuse/models/discrete_model.hpp"
#include "diffuse/models/gaussian_mixture.hpp"
#include "diffuse/models/metrics.hpp"
#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/ddpm.hpp"
#include "diffuse/sampler/sample.hpp"

using namespace diffuse;

namespace {

constexpr diffuse::index count = 4000;

template <class T>
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

template <class T>
struct null_spread {
    double mean = 0, stddev = 0;
};

template <class T>
null_spread<T> null_distribution(const models::gaussian_mixture<T>& target, const array<T>& reference) {
    constexpr int pairs = 8;
    std::vector<double> d;
    random::generator g(777);
    array<T> other(reference.size());
    for (int i = 0; i < pairs; ++i) {
        target.sample(flat(other), g);
        d.push_back(models::energy_distance<T>(cflat(other), cflat(reference), 2));
    }
    double mean = 0, var = 0;
    for (double v : d) mean += v / pairs;
    for (double v : d) var += (v - mean) * (v - mean) / (pairs - 1);
    return {mean, std::sqrt(var)};
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
    const auto null = null_distribution(target, truth);
    const double threshold = null.mean + 3 * null.stddev;
    INFO("null energy distance " << null.mean << " +- " << null.stddev);

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
        CHECK(models::energy_distance<T>(cflat(x), cflat(truth), 2) > threshold);
    }
}
