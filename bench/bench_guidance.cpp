// The classifier-free guidance combination (diffuse/guidance/rules.hpp) over one sample of n floats,
// without and with the guidance rescale, beside the STREAM triad a = b + s*c of bench_common.hpp:
// both read two arrays and write one (3 streams counted). Without rescale the combination is one
// fused pass; with it, a pass of five sums over (cond, uncond) comes first (2 more streams read,
// counted here as the 3 of the kernel: "vs_triad" then says what the extra pass costs). The sums
// pass alone and a plain read of both inputs (also counted as 3 streams) show that pass's floor.
#include <benchmark/benchmark.h>

#include "bench_common.hpp"
#include "diffuse/guidance/rules.hpp"

namespace {

using diffuse::buffer;
using diffuse::index;

class cfg_combination {
public:
    cfg_combination(std::int64_t n, double rescale)
        : rule_(diffuse::guidance::classifier_free_options{.guidance_scale = 7.5, .guidance_rescale = rescale}),
          cond_(buffer<float>::LinSpaced(n, -1.0f, 1.0f)),
          uncond_(buffer<float>::LinSpaced(n, 0.5f, -0.5f)),
          out_(buffer<float>::Zero(n)) {}

    std::int64_t operator()() {
        const index n = out_.size();
        rule_.combine(diffuse::guidance::sample_pair<float>{diffuse::const_view<float>(cond_.data(), n),
                                                            diffuse::const_view<float>(uncond_.data(), n),
                                                            diffuse::view<float>(out_.data(), n), 0},
                      context_, 0);
        benchmark::DoNotOptimize(out_.data());
        benchmark::ClobberMemory();
        return diffuse::bench::stream_bytes<float>(n, 3);
    }

private:
    diffuse::guidance::classifier_free rule_;
    diffuse::sampler::evaluation_context<float> context_{};
    buffer<float> cond_, uncond_, out_;
};

// The rescale's statistics pass alone (the five sums of detail::moments_of), or, with
// `statistics` false, a plain float sum of cond + uncond: what reading the two inputs once costs.
class two_input_read {
public:
    two_input_read(std::int64_t n, bool statistics)
        : statistics_(statistics),
          cond_(buffer<float>::LinSpaced(n, -1.0f, 1.0f)),
          uncond_(buffer<float>::LinSpaced(n, 0.5f, -0.5f)) {}

    std::int64_t operator()() {
        const index n = cond_.size();
        if (statistics_) {
            auto m = diffuse::guidance::detail::moments_of(diffuse::const_view<float>(cond_.data(), n),
                                                           diffuse::const_view<float>(uncond_.data(), n));
            benchmark::DoNotOptimize(m);
        } else {
            float sum = (cond_ + uncond_).sum();
            benchmark::DoNotOptimize(sum);
        }
        return diffuse::bench::stream_bytes<float>(n, 3);
    }

private:
    bool statistics_;
    buffer<float> cond_, uncond_;
};

void bm_read(benchmark::State& state, bool statistics) {
    two_input_read kernel(state.range(0), statistics);
    diffuse::bench::run_memory_benchmark<float>(state, kernel);
}

void bm_cfg(benchmark::State& state, double rescale) {
    cfg_combination kernel(state.range(0), rescale);
    diffuse::bench::run_memory_benchmark<float>(state, kernel);
}

}  // namespace

int main(int argc, char** argv) {
    constexpr std::int64_t n = std::int64_t{1} << 20;
    benchmark::RegisterBenchmark("cfg<float>", bm_cfg, 0.0)->Arg(n);
    benchmark::RegisterBenchmark("cfg_rescale<float>", bm_cfg, 0.7)->Arg(n);
    benchmark::RegisterBenchmark("rescale_sums_only<float>", bm_read, true)->Arg(n);
    benchmark::RegisterBenchmark("read_two_inputs<float>", bm_read, false)->Arg(n);
    benchmark::RegisterBenchmark("triad<float>", diffuse::bench::bm_triad<float>)->Arg(n);
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
