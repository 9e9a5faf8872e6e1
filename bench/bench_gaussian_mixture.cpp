// Cost of the reference Gaussian-mixture model (diffuse/models/gaussian_mixture.hpp) per call
// on a batch of 2-D points, as a sampler demo evaluates it once per step, and of the two
// distribution metrics (diffuse/models/metrics.hpp) on sets of the same size.
// items_per_second counts points.
#include <benchmark/benchmark.h>

#include <utility>

#include "diffuse/core/random.hpp"
#include "diffuse/models/gaussian_mixture.hpp"
#include "diffuse/models/metrics.hpp"

namespace {

using diffuse::flat;
using mixture = diffuse::models::gaussian_mixture<float>;

diffuse::buffer<float> sample_points(const mixture& g, long points, std::uint64_t seed) {
    diffuse::buffer<float> x(points * g.dim());
    diffuse::random::generator noise(seed);
    g.sample(flat(x), noise);
    return x;
}

// The ring (8 isotropic components) or a 3-component full-covariance mixture.
mixture make_mixture(bool full) {
    if (!full) return mixture::ring();
    const diffuse::buffer<float> w = diffuse::buffer<float>::Ones(3);
    diffuse::buffer<float> mu(6), cov(12);
    mu << -2, 0, 2, 1, 0, -2.5;
    cov << 1.0f, 0.6f, 0.6f, 0.8f, 0.3f, -0.1f, -0.1f, 0.5f, 0.2f, 0.0f, 0.0f, 1.5f;
    return mixture::full(2, flat(w), flat(std::as_const(mu)), flat(std::as_const(cov)));
}

void score(benchmark::State& state) {
    const mixture g = make_mixture(state.range(1) != 0);
    const diffuse::buffer<float> x = sample_points(g, state.range(0), 1);
    diffuse::buffer<float> out(x.size());
    for (auto _ : state) {
        g.score(flat(x), 0.8f, 0.6f, flat(out));
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(score)->ArgNames({"points", "full"})->Args({4000, 0})->Args({4000, 1})->Args({65536, 0});

void velocity(benchmark::State& state) {
    const mixture g = make_mixture(false);
    const diffuse::buffer<float> x = sample_points(g, state.range(0), 2);
    diffuse::buffer<float> out(x.size());
    for (auto _ : state) {
        g.velocity(flat(x), 0.5f, flat(out));
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(velocity)->ArgName("points")->Arg(4000);

void log_density(benchmark::State& state) {
    const mixture g = make_mixture(false);
    const diffuse::buffer<float> x = sample_points(g, state.range(0), 3);
    diffuse::buffer<float> out(state.range(0));
    for (auto _ : state) {
        g.log_density_t(flat(x), 0.8f, 0.6f, flat(out));
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(log_density)->ArgName("points")->Arg(4000);

void energy_distance(benchmark::State& state) {
    const mixture g = make_mixture(false);
    const diffuse::buffer<float> a = sample_points(g, state.range(0), 4), b = sample_points(g, state.range(0), 5);
    for (auto _ : state) benchmark::DoNotOptimize(diffuse::models::energy_distance<float>(flat(a), flat(b), 2));
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(energy_distance)->ArgName("points")->Arg(4000)->Unit(benchmark::kMillisecond);

void sliced_wasserstein2(benchmark::State& state) {
    const mixture g = make_mixture(false);
    const diffuse::buffer<float> a = sample_points(g, state.range(0), 6), b = sample_points(g, state.range(0), 7);
    for (auto _ : state)
        benchmark::DoNotOptimize(diffuse::models::sliced_wasserstein2<float>(flat(a), flat(b), 2, 128, 0));
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(sliced_wasserstein2)->ArgName("points")->Arg(4000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
