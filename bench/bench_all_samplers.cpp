// Per-step cost of every registered sampler (config/registry.hpp) at 1M floats, as bytes/s beside
// the STREAM triad in the same binary (bench_common.hpp's paired vs_triad ratio), and the model
// evaluations each grid step takes (counter evals_per_step).
//
// Bytes counted per step() call: 3 n sizeof(T) (read x, read the model output, write x), the least
// any step must move; history buffers, stage state and drawn noise are the sampler's extra cost
// and show as a lower vs_triad. Stochastic samplers draw their noise from a diffuse::random
// generator inside the timed step. The step goes through the type-erased run (one virtual call).
// A run covers 20 grid steps; when it ends, x is reset and a new run started inside the timed
// loop (start() allocates its buffers; about 1/20 of a step per step at most). any_run's finite
// check of the model output (on by default, sampler/output_check.hpp) is turned off: it is the
// same read of the output for every sampler, timed apart as the row "finite_check".
#include "bench_common.hpp"

#include <algorithm>
#include <string>

#include "diffuse/config/registry.hpp"
#include "diffuse/core/random.hpp"
#include "diffuse/sampler/output_check.hpp"

namespace {

using diffuse::buffer;
using diffuse::Real;
using diffuse::view;

constexpr diffuse::index grid_steps = 20;

template <Real T>
void sampler_step(benchmark::State& state, const std::string& name) {
    const diffuse::index n = state.range(0);
    const auto sampler = diffuse::config::make_sampler<T>(name);
    buffer<T> x_start(n), x(n), output(n);
    diffuse::random::fill_normal<T>(view<T>(x_start.data(), n), 1, 0, 0);
    diffuse::random::fill_normal<T>(view<T>(output.data(), n), 2, 0, 0);
    output *= T(0.1);
    diffuse::random::generator noise(3);
    auto run = sampler.start(grid_steps, n);
    run.set_check_finite(false);
    x = x_start * run.init_noise_sigma();
    run.begin(x, noise);
    std::int64_t evaluations = 0, runs = 0;
    const auto one_step = [&] {
        if (run.done()) {
            run = sampler.start(grid_steps, n);
            run.set_check_finite(false);
            x = x_start * run.init_noise_sigma();
            run.begin(x, noise);
            ++runs;
        }
        run.step(output, x, noise);
        ++evaluations;
        benchmark::DoNotOptimize(x.data());
        benchmark::ClobberMemory();
        return diffuse::bench::stream_bytes<T>(n, 3);
    };
    diffuse::bench::run_memory_benchmark<T>(state, one_step);
    // evaluations per grid step, from one whole run counted apart from the timing
    auto counted = sampler.start(grid_steps, n);
    x = x_start * counted.init_noise_sigma();
    counted.begin(x, noise);
    std::int64_t calls = 0;
    while (!counted.done() && calls < 100000) {
        counted.step(output, x, noise);
        ++calls;
    }
    // (the adaptive solver has no fixed grid: its count is per accepted step)
    const auto steps = std::max<std::int64_t>(counted.num_steps(), 1);
    state.counters["evals_per_step"] = static_cast<double>(calls) / static_cast<double>(steps);
}

// The finite check any_run makes before each step (on by default), alone; bytes: the output read.
template <Real T>
void finite_check(benchmark::State& state) {
    const diffuse::index n = state.range(0);
    buffer<T> output(n);
    diffuse::random::fill_normal<T>(view<T>(output.data(), n), 2, 0, 0);
    const auto one_check = [&] {
        diffuse::sampler::require_finite_output(diffuse::const_view<T>(output.data(), n), 0, 0.0);
        benchmark::ClobberMemory();
        return diffuse::bench::stream_bytes<T>(n, 1);
    };
    diffuse::bench::run_memory_benchmark<T>(state, one_check);
}

const bool registered = [] {
    benchmark::RegisterBenchmark("triad<float>", diffuse::bench::bm_triad<float>)->Arg(std::int64_t{1} << 20);
    benchmark::RegisterBenchmark("finite_check<float>", finite_check<float>)->Arg(std::int64_t{1} << 20);
    for (const auto& [name, make] : diffuse::config::registry<float>()) {
        benchmark::RegisterBenchmark(("step<float>/" + name).c_str(), sampler_step<float>, name)
            ->Arg(std::int64_t{1} << 20);
    }
    return true;
}();

}  // namespace

BENCHMARK_MAIN();
