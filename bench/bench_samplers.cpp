// Throughput of one DDIM step (diffuse/sampler/ddim.hpp) and one DDPM step
// (diffuse/sampler/ddpm.hpp) beside the STREAM triad at the same sizes (bench_common.hpp).
//
// Bytes counted per step are the arrays the step must touch, each once:
//   DDIM, eta = 0:                 reads x and the model output, writes x       3 n sizeof(T)
//   DDPM, caller-provided noise:   reads x, the model output and noise, writes x 4 n sizeof(T)
//                                  (3 n sizeof(T) at t = 0, where no noise is added)
// The schedule lookups and per-step coefficients are not counted as bytes, only timed.
//
// A run walks the full 1000-step grid, so it is created once outside the timed loop; when it is
// used up (every 1000 steps) x is reset and a new run started inside the timed loop: that
// restart costs about one step's worth of time per 1000 steps (< 0.1 %), which is less
// distortion than PauseTiming/ResumeTiming around every step.
#include "bench_common.hpp"

#include <optional>
#include <string>
#include <vector>

#include "diffuse/core/random.hpp"
#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/ddpm.hpp"
#include "diffuse/schedule/timesteps.hpp"

namespace {

namespace predict = diffuse::predict;
namespace random = diffuse::random;
namespace sampler = diffuse::sampler;
namespace schedule = diffuse::schedule;
using diffuse::buffer;
using diffuse::Real;
using diffuse::view;

constexpr diffuse::index train_timesteps = 1000;

// clip_sample on (diffusers' default, clip_sample_range = 1) or off (the headline).
template <Real T>
predict::x0_processing<T> clipping(bool clip_sample) {
    return {.clip_range = clip_sample ? std::optional<T>(T(1)) : std::nullopt, .thresholding = {}};
}

// Times `step(run, output, x, noise)`, which advances `run` by one step and returns how many
// n-element arrays that step had to read or write.
template <Real T, class Sampler, class Step>
void time_steps(benchmark::State& state, const Sampler& sampler, Step step) {
    const diffuse::index n = state.range(0);
    const std::vector<schedule::timestep> grid = schedule::spaced_timesteps(train_timesteps, train_timesteps);
    buffer<T> x_start(n), x(n), output(n), noise(n);
    random::fill_normal<T>(view<T>(x_start.data(), n), 1, 0, 0);
    random::fill_normal<T>(view<T>(output.data(), n), 2, 0, 0);
    random::fill_normal<T>(view<T>(noise.data(), n), 3, 0, 0);
    x = x_start;

    auto run = sampler.start(grid, n);
    const auto one_step = [&] {
        if (run.done()) {
            x = x_start;  // keeps x in the range a sampler sees, run after run
            run = sampler.start(grid, n);
        }
        const int streams = step(run, output, x, noise);
        benchmark::DoNotOptimize(x.data());
        benchmark::ClobberMemory();
        return diffuse::bench::stream_bytes<T>(n, streams);
    };
    diffuse::bench::run_memory_benchmark<T>(state, one_step);
}

template <Real T>
void ddim_step(benchmark::State& state, bool clip_sample) {
    const sampler::ddim<T> ddim(schedule::discrete<T>::linear(train_timesteps),
                                {.eta = T(0), .x0 = clipping<T>(clip_sample)});
    time_steps<T>(state, ddim, [](auto& run, const buffer<T>& output, buffer<T>& x, const buffer<T>&) {
        run.step(output, x);
        return 3;
    });
}

template <Real T>
void ddpm_step(benchmark::State& state, bool clip_sample) {
    const sampler::ddpm<T> ddpm(schedule::discrete<T>::linear(train_timesteps),
                                {.variance = sampler::variance_type::fixed_small, .x0 = clipping<T>(clip_sample)});
    time_steps<T>(state, ddpm, [](auto& run, const buffer<T>& output, buffer<T>& x, const buffer<T>& noise) {
        const bool adds_noise = run.current_timestep() > 0;
        run.step(output, x, noise);
        return adds_noise ? 4 : 3;
    });
}

}  // namespace

int main(int argc, char** argv) {
    using diffuse::bench::apply_double_size;
    using diffuse::bench::apply_float_sizes;
    benchmark::RegisterBenchmark("triad<float>", diffuse::bench::bm_triad<float>)->Apply(apply_float_sizes);
    benchmark::RegisterBenchmark("triad<double>", diffuse::bench::bm_triad<double>)->Apply(apply_double_size);
    for (const bool clip_sample : {false, true}) {
        const std::string clip = clip_sample ? "/clip_on" : "/clip_off";
        benchmark::RegisterBenchmark(("ddim_step<float>" + clip).c_str(), ddim_step<float>, clip_sample)
            ->Apply(apply_float_sizes);
        benchmark::RegisterBenchmark(("ddim_step<double>" + clip).c_str(), ddim_step<double>, clip_sample)
            ->Apply(apply_double_size);
        benchmark::RegisterBenchmark(("ddpm_step<float>" + clip).c_str(), ddpm_step<float>, clip_sample)
            ->Apply(apply_float_sizes);
        benchmark::RegisterBenchmark(("ddpm_step<double>" + clip).c_str(), ddpm_step<double>, clip_sample)
            ->Apply(apply_double_size);
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
