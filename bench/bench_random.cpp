// Throughput of the counter-based noise fills (diffuse/core/random.hpp), beside the STREAM triad
// a = b + s*c of bench_common.hpp at the same sizes, so the fill can be compared with what memory
// allows ("vs_triad" = the fill's bytes/s over the triad's; a fill writes one stream).
#include <benchmark/benchmark.h>

#include "bench_common.hpp"
#include "diffuse/core/random.hpp"

namespace {

using diffuse::buffer;
using diffuse::bench::report_throughput;
using diffuse::bench::stream_bytes;
using diffuse::bench::thread_cpu_seconds;
using diffuse::random::u64;

template <diffuse::Real T, void (*fill)(diffuse::view<T>, u64, u64, u64)>
void bm_fill(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    buffer<T> out = buffer<T>::Zero(n);
    u64 stream = 0;
    const double start = thread_cpu_seconds();
    for (auto _ : state) {
        fill(diffuse::view<T>(out.data(), n), 42, stream++, 0);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    const double seconds = thread_cpu_seconds() - start;
    report_throughput<T>(state, state.iterations() * stream_bytes<T>(n, 1), state.iterations() * n, seconds);
}

// Philox4x32-10 alone through the portable tile loop (auto-vectorized structure of arrays):
// items are 128-bit blocks.
void bm_philox_tile(benchmark::State& state) {
    constexpr u64 tile_blocks = diffuse::random::detail::tile_blocks;
    alignas(64) std::array<std::uint32_t, 4 * tile_blocks> words;
    const u64 tiles = static_cast<u64>(state.range(0)) / tile_blocks;
    for (auto _ : state) {
        for (u64 t = 0; t < tiles; ++t) {
            diffuse::random::detail::philox_tile(42, 0, t * tile_blocks, words.data());
            benchmark::DoNotOptimize(words.data());
        }
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(tiles * tile_blocks));
}

#if defined(DIFFUSE_PHILOX_LANES)
// Packet types as template arguments carry alignment attributes GCC warns about.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
// Philox4x32-10 alone through the x86 integer lanes that the normal fills use (one block per
// 64-bit lane, a group of word_lanes::normal_packets packets).
void bm_philox_lanes(benchmark::State& state) {
    namespace lanes = diffuse::random::detail::word_lanes;
    namespace rd = diffuse::random::detail;
    constexpr u64 group = lanes::normal_packets * lanes::blocks;
    const auto keys = lanes::schedule(42, rd::philox_w0, rd::philox_w1);
    const u64 groups = static_cast<u64>(state.range(0)) / group;
    u64 stream = 0;
    for (auto _ : state) {
        ++stream;
        for (u64 g = 0; g < groups; ++g) {
            auto words = lanes::philox<lanes::normal_packets>(keys, stream, g * group, rd::philox_m0, rd::philox_m1);
            benchmark::DoNotOptimize(words);
        }
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(groups * group));
}

// The float normal fill without Philox: the Box-Muller kernel from words (polar_from_words, the
// lockstep packets of the fill) and the stores, on words made by two integer instructions per
// packet instead of Philox (an add and a xor-shift). Items are floats.
void bm_box_muller_words(benchmark::State& state) {
    namespace lanes = diffuse::random::detail::word_lanes;
    namespace rd = diffuse::random::detail;
    using P = diffuse::simd::packet<float>;
    constexpr int K = rd::lockstep_packets;
    constexpr std::int64_t size = Eigen::internal::unpacket_traits<P>::size;
    const std::int64_t n = state.range(0) / (2 * K * size) * (2 * K * size);
    buffer<float> out = buffer<float>::Zero(n);
    const lanes::words step = lanes::broadcast(0x7F4A7C159E3779B9ull);
    std::array<lanes::words, K> first{}, second{};
    for (int k = 0; k < K; ++k) first[k] = lanes::broadcast(0x243F6A8885A308D3ull * static_cast<u64>(k + 1));
    for (auto _ : state) {
        float* destination = out.data();
        for (std::int64_t i = 0; i < n; i += 2 * K * size) {
            for (int k = 0; k < K; ++k) {
                first[k] = lanes::add64(first[k], step);
                second[k] = lanes::bit_xor(first[k], lanes::high_half(first[k]));
            }
            const auto z = rd::polar_from_words<P, K>(first, second);
            for (int k = 0; k < K; ++k) {
                lanes::interleave(Eigen::internal::pmul(z.radius[k], z.cos_theta[k]),
                                  Eigen::internal::pmul(z.radius[k], z.sin_theta[k]), destination);
                destination += 2 * size;
            }
        }
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * n);
}
#pragma GCC diagnostic pop
#endif

}  // namespace

int main(int argc, char** argv) {
    using diffuse::bench::apply_double_size;
    using diffuse::bench::apply_float_sizes;
    namespace rnd = diffuse::random;
    benchmark::RegisterBenchmark("fill_normal<float>", bm_fill<float, rnd::fill_normal<float>>)
        ->Apply(apply_float_sizes);
    benchmark::RegisterBenchmark("fill_normal<double>", bm_fill<double, rnd::fill_normal<double>>)
        ->Apply(apply_double_size);
    benchmark::RegisterBenchmark("fill_uniform<float>", bm_fill<float, rnd::fill_uniform<float>>)
        ->Apply(apply_float_sizes);
    benchmark::RegisterBenchmark("fill_uniform<double>", bm_fill<double, rnd::fill_uniform<double>>)
        ->Apply(apply_double_size);
    benchmark::RegisterBenchmark("philox4x32_10 blocks (tile loop)", bm_philox_tile)->Arg(std::int64_t{1} << 18);
#if defined(DIFFUSE_PHILOX_LANES)
    benchmark::RegisterBenchmark("philox4x32_10 blocks (x86 lanes)", bm_philox_lanes)->Arg(std::int64_t{1} << 18);
    benchmark::RegisterBenchmark("box_muller_words<float> (no Philox)", bm_box_muller_words)
        ->Arg(std::int64_t{1} << 20);
#endif
    benchmark::RegisterBenchmark("triad<float>", diffuse::bench::bm_triad<float>)->Apply(apply_float_sizes);
    benchmark::RegisterBenchmark("triad<double>", diffuse::bench::bm_triad<double>)->Apply(apply_double_size);
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
