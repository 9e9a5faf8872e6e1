// Throughput of the counter-based noise fills (diffuse/core/random.hpp), beside a memory triad
// a = b + s*c in the same binary so the fill can be compared with what memory allows.
#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include "diffuse/core/random.hpp"

namespace {

using diffuse::buffer;
using diffuse::random::u64;

template <diffuse::Real T>
void set_counters(benchmark::State& state, std::int64_t bytes_per_item) {
    state.SetItemsProcessed(state.iterations() * state.range(0));
    state.SetBytesProcessed(state.iterations() * state.range(0) * bytes_per_item);
}

template <diffuse::Real T>
void bm_fill_normal(benchmark::State& state) {
    buffer<T> out(state.range(0));
    out.setZero();
    u64 stream = 0;
    for (auto _ : state) {
        diffuse::random::fill_normal<T>(diffuse::flat(out), 42, stream++, 0);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    set_counters<T>(state, sizeof(T));  // bytes written
}

template <diffuse::Real T>
void bm_fill_uniform(benchmark::State& state) {
    buffer<T> out(state.range(0));
    out.setZero();
    u64 stream = 0;
    for (auto _ : state) {
        diffuse::random::fill_uniform<T>(diffuse::flat(out), 42, stream++, 0);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    set_counters<T>(state, sizeof(T));
}

// Philox4x32-10 alone, one block (128 bits) per item, through the vectorized tile loop.
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

// The memory-bound reference: a = b + s * c reads two arrays and writes one (3 * sizeof(T) bytes
// per element, as STREAM counts it).
template <diffuse::Real T>
void bm_triad(benchmark::State& state) {
    buffer<T> a(state.range(0)), b(state.range(0)), c(state.range(0));
    a.setZero();
    b.setConstant(T(1));
    c.setConstant(T(2));
    const T s = T(0.5);
    for (auto _ : state) {
        a = b + s * c;
        benchmark::DoNotOptimize(a.data());
        benchmark::ClobberMemory();
    }
    set_counters<T>(state, 3 * sizeof(T));
}

constexpr std::int64_t million = 1 << 20;

BENCHMARK(bm_fill_normal<float>)->Arg(million)->Arg(16 * million);
BENCHMARK(bm_fill_normal<double>)->Arg(million);
BENCHMARK(bm_fill_uniform<float>)->Arg(million);
BENCHMARK(bm_fill_uniform<double>)->Arg(million);
BENCHMARK(bm_philox_tile)->Arg(million / 4);
BENCHMARK(bm_triad<float>)->Arg(million)->Arg(16 * million);
BENCHMARK(bm_triad<double>)->Arg(million);

}  // namespace

BENCHMARK_MAIN();
