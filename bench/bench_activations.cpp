// bench/bench_activations.cpp: throughput of every activation, one thread, in cache (16K
// floats) and memory bound (16M floats), against a scalar std:: loop, Eigen's own expression
// where Eigen has one, and (for 16M) the STREAM triad bandwidth of this machine. PyTorch's
// numbers come from bench/torch_activations.py; both print elements per second.
//
// Every kernel reads x and writes y (one read and one write per element, as torch's out=), so
// the memory-bound limit is 2 streams: elements/s <= triad bandwidth / (2 * sizeof(float)).
// At 16M the counter vs_triad is the kernel's bytes/s over the triad's, measured in
// alternation (bench_common.hpp), and vs_scale the same over STREAM's scale b = s c, which has
// the kernels' shape (one stream read, one written): where writes allocate their lines first,
// a kernel at the memory's limit shows about 0.89 against the triad and 1 against the scale.
// At 16K vs_scale is the same pairing in cache: 64 KB in and 64 KB out live in L2, not L1, so
// the scale's rate there is the ceiling a loop as simple as ReLU meets (and PyTorch's with it).
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "bench_common.hpp"
#include "diffuse/nn/activations.hpp"

namespace nn = diffuse::nn;
using buffer = Eigen::ArrayXf;

namespace {

constexpr std::int64_t in_cache = std::int64_t{1} << 14;
constexpr std::int64_t memory_bound = std::int64_t{1} << 24;

// Inputs spread over the interesting range of every activation.
buffer inputs(std::int64_t n) {
    return buffer::LinSpaced(n, -6.0f, 6.0f);
}

// Standard normal inputs in random order, as a layer's pre-activations come: a kernel that
// branches on |x| (exact GELU without AVX-512: series near 0, tail beyond 1/2) then sees
// packets whose lanes take both paths.
buffer normal_inputs(std::int64_t n) {
    std::mt19937 generator(20261126);
    std::normal_distribution<float> normal;
    buffer x(n);
    for (float& v : x) v = normal(generator);
    return x;
}

template <class Kernel>
void run(benchmark::State& state, Kernel kernel, buffer (*make_inputs)(std::int64_t) = inputs) {
    const std::int64_t n = state.range(0);
    const buffer x = make_inputs(n);
    buffer y = buffer::Zero(n);
    auto pass = [&] {
        kernel(x, y);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
        return diffuse::bench::stream_bytes<float>(n, 2);
    };
    if (n == memory_bound) {
        diffuse::bench::run_memory_benchmark<float>(state, pass);
        state.counters["vs_scale"] = diffuse::bench::paired_ratio<diffuse::bench::scale<float>>(n, pass);
        return;
    }
    std::int64_t bytes = 0;
    for (auto _ : state) bytes += pass();
    state.SetItemsProcessed(state.iterations() * n);
    state.SetBytesProcessed(bytes);
    state.counters["vs_scale"] = diffuse::bench::paired_ratio<diffuse::bench::scale<float>>(n, pass);
}

using eigen_expression = void (*)(const buffer&, buffer&);

template <class Act, class Scalar>
void register_activation(const std::string& name, Act act, Scalar scalar_std, eigen_expression eigen_builtin) {
    for (const std::int64_t n : {in_cache, memory_bound}) {
        benchmark::RegisterBenchmark((name + "/diffuse").c_str(), [act](benchmark::State& s) {
            // nn::apply, as a user calls it (its loop is a function of its own, see DIFFUSE_NOINLINE).
            run(s, [&](const buffer& x, buffer& y) {
                nn::apply(act, diffuse::const_view<float>(x.data(), x.size()), diffuse::flat(y));
            });
        })->Arg(n);
        if constexpr (!std::is_same_v<Scalar, std::nullptr_t>)
            benchmark::RegisterBenchmark((name + "/std_loop").c_str(), [scalar_std](benchmark::State& s) {
                run(s, [&](const buffer& x, buffer& y) {
                    for (Eigen::Index i = 0; i < x.size(); ++i) y[i] = scalar_std(x[i]);
                });
            })->Arg(n);
        if (eigen_builtin)
            benchmark::RegisterBenchmark((name + "/eigen").c_str(), [eigen_builtin](benchmark::State& s) {
                run(s, eigen_builtin);
            })->Arg(n);
    }
}

float sigmoid_std(float x) {
    return 1.0f / (1.0f + std::exp(-x));
}
constexpr float sqrt_half = 0.70710678f;
constexpr float tanh_gelu_k = 0.79788456f;

const bool registered = [] {
    register_activation("sigmoid", nn::sigmoid{}, sigmoid_std, [](const buffer& x, buffer& y) { y = x.logistic(); });
    register_activation(
        "tanh", nn::tanh_act{}, [](float x) { return std::tanh(x); }, [](const buffer& x, buffer& y) { y = x.tanh(); });
    register_activation(
        "gelu", nn::gelu{}, [](float x) { return 0.5f * x * std::erfc(-x * sqrt_half); },
        [](const buffer& x, buffer& y) { y = 0.5f * x * (1.0f + (x * sqrt_half).erf()); });
    register_activation(
        "gelu_tanh", nn::gelu_tanh{},
        [](float x) { return 0.5f * x * (1.0f + std::tanh(tanh_gelu_k * (x + 0.044715f * x * x * x))); },
        [](const buffer& x, buffer& y) { y = 0.5f * x * (1.0f + (tanh_gelu_k * (x + 0.044715f * x.cube())).tanh()); });
    register_activation(
        "silu", nn::silu{}, [](float x) { return x * sigmoid_std(x); },
        [](const buffer& x, buffer& y) { y = x * x.logistic(); });
    register_activation(
        "quick_gelu", nn::quick_gelu{}, [](float x) { return x * sigmoid_std(1.702f * x); },
        [](const buffer& x, buffer& y) { y = x * (1.702f * x).logistic(); });
    register_activation(
        "swish", nn::swish{.beta = 1.5}, [](float x) { return x * sigmoid_std(1.5f * x); },
        [](const buffer& x, buffer& y) { y = x * (1.5f * x).logistic(); });
    register_activation(
        "mish", nn::mish{}, [](float x) { return x * std::tanh(std::log1p(std::exp(x))); },
        [](const buffer& x, buffer& y) { y = x * x.exp().log1p().tanh(); });
    register_activation(
        "softplus", nn::softplus{}, [](float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); },
        [](const buffer& x, buffer& y) { y = (x > 20.0f).select(x, x.exp().log1p()); });
    register_activation(
        "elu", nn::elu{}, [](float x) { return x > 0 ? x : std::expm1(x); },
        [](const buffer& x, buffer& y) { y = (x > 0.0f).select(x, x.exp() - 1.0f); });
    register_activation("selu", nn::selu{}, nullptr, nullptr);
    register_activation("celu", nn::celu{}, nullptr, nullptr);
    register_activation(
        "softsign", nn::softsign{}, [](float x) { return x / (1.0f + std::fabs(x)); },
        [](const buffer& x, buffer& y) { y = x / (1.0f + x.abs()); });
    register_activation(
        "relu", nn::relu{}, [](float x) { return std::max(x, 0.0f); },
        [](const buffer& x, buffer& y) { y = x.max(0.0f); });
    register_activation("relu6", nn::relu6{}, nullptr, [](const buffer& x, buffer& y) { y = x.max(0.0f).min(6.0f); });
    register_activation("leaky_relu", nn::leaky_relu{}, nullptr,
                        [](const buffer& x, buffer& y) { y = (x > 0.0f).select(x, 0.01f * x); });
    register_activation("prelu", nn::prelu{}, nullptr, nullptr);
    register_activation("hard_sigmoid", nn::hard_sigmoid{}, nullptr,
                        [](const buffer& x, buffer& y) { y = ((x + 3.0f).max(0.0f).min(6.0f)) / 6.0f; });
    register_activation("hard_tanh", nn::hard_tanh{}, nullptr,
                        [](const buffer& x, buffer& y) { y = x.max(-1.0f).min(1.0f); });
    register_activation("hardswish", nn::hardswish{}, nullptr,
                        [](const buffer& x, buffer& y) { y = x * (x + 3.0f).max(0.0f).min(6.0f) / 6.0f; });
    register_activation("relu_squared", nn::relu_squared{}, nullptr,
                        [](const buffer& x, buffer& y) { y = x.max(0.0f).square(); });
    register_activation("heaviside", nn::heaviside{}, nullptr, nullptr);
    benchmark::RegisterBenchmark("gelu/diffuse_normal_inputs", [](benchmark::State& s) {
        run(
            s,
            [](const buffer& x, buffer& y) {
                nn::apply(nn::gelu{}, diffuse::const_view<float>(x.data(), x.size()), diffuse::flat(y));
            },
            normal_inputs);
    })->Arg(in_cache);
    benchmark::RegisterBenchmark("triad", diffuse::bench::bm_triad<float>)->Arg(memory_bound);
    return true;
}();

}  // namespace

BENCHMARK_MAIN();
