// bench/bench_common.hpp: what the memory-bound benchmarks share: the problem sizes, the byte
// counting, and a STREAM-style triad a = b + s * c (McCalpin, "Memory Bandwidth and Machine
// Balance in Current High Performance Computers", IEEE TCCA Newsletter, Dec. 1995) that tells
// how many bytes/s this machine moves for a kernel of the same shape at the same size.
//
// Byte counting follows STREAM: every array a kernel must read counts once and every array it
// must write counts once (the triad: 3 streams), whatever the hardware adds (write-allocate
// reads of a written array that was not read first, prefetch, evictions).
#pragma once

#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cstdint>
#include <ctime>
#include <map>
#include <utility>

#include "diffuse/core/view.hpp"

namespace diffuse::bench {

// Element counts that land in each level of a current x86 cache hierarchy: 4K (L1, 16 KiB of
// floats per array), 64K (L2), 1M (L3) and 16M (DRAM: 64 MiB of floats per array).
inline constexpr std::array<std::int64_t, 4> float_sizes{std::int64_t{1} << 12, std::int64_t{1} << 16,
                                                         std::int64_t{1} << 20, std::int64_t{1} << 24};
inline constexpr std::int64_t double_size = std::int64_t{1} << 20;

inline void apply_float_sizes(benchmark::internal::Benchmark* b) {
    for (const auto n : float_sizes) b->Arg(n);
}
inline void apply_double_size(benchmark::internal::Benchmark* b) { b->Arg(double_size); }

// Bytes moved when `streams` arrays of n elements of T are each read or written once.
template <Real T>
constexpr std::int64_t stream_bytes(std::int64_t n, int streams) {
    return static_cast<std::int64_t>(streams) * n * static_cast<std::int64_t>(sizeof(T));
}

// The triad kernel itself, one fused Eigen pass.
template <Real T>
void triad(view<T> a, const_view<T> b, const_view<T> c, T s) {
    a = b + s * c;
}

// Seconds of CPU time of the calling thread: the clock Google Benchmark reports as "CPU" (and
// divides counted bytes by) unless a benchmark asks for real time.
inline double thread_cpu_seconds() {
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

namespace detail {

// Median over `batches` batches of the triad's bytes/s at n elements, each batch long enough
// (>= 20 ms) for the clock's resolution not to matter.
template <Real T>
double measure_triad(std::int64_t n) {
    buffer<T> a = buffer<T>::Zero(n), b = buffer<T>::Constant(n, T(1)), c = buffer<T>::Constant(n, T(2));
    const auto call = [&] {
        triad<T>(view<T>(a.data(), n), const_view<T>(b.data(), n), const_view<T>(c.data(), n), T(3));
        benchmark::DoNotOptimize(a.data());
        benchmark::ClobberMemory();
    };
    call();  // first touch of the pages
    std::int64_t calls = 1;
    double seconds = 0;
    for (;;) {
        const double start = thread_cpu_seconds();
        for (std::int64_t i = 0; i < calls; ++i) call();
        seconds = thread_cpu_seconds() - start;
        if (seconds >= 0.02) break;
        calls *= 2;
    }
    constexpr int batches = 7;
    std::array<double, batches> rates{};
    for (auto& rate : rates) {
        const double start = thread_cpu_seconds();
        for (std::int64_t i = 0; i < calls; ++i) call();
        rate = static_cast<double>(calls * stream_bytes<T>(n, 3)) / (thread_cpu_seconds() - start);
    }
    std::nth_element(rates.begin(), rates.begin() + batches / 2, rates.end());
    return rates[batches / 2];
}

}  // namespace detail

// The triad's bytes/s at n elements of T, measured once per (T, n) per process (so that a
// filtered run, --benchmark_filter=ddim, still compares against the triad).
template <Real T>
double triad_bytes_per_second(std::int64_t n) {
    static std::map<std::int64_t, double> measured;
    const auto found = measured.find(n);
    if (found != measured.end()) return found->second;
    return measured.emplace(n, detail::measure_triad<T>(n)).first->second;
}

// Reports what the timed loop moved: bytes/s (SetBytesProcessed) and elements/s, and as the
// counter "vs_triad" the ratio of this loop's bytes/s to the triad's at the same size;
// `seconds` is the thread-CPU time of the loop (thread_cpu_seconds() around it), the time
// Google Benchmark divides the bytes by.
template <Real T>
void report_throughput(benchmark::State& state, std::int64_t bytes, std::int64_t elements, double seconds) {
    state.SetBytesProcessed(bytes);
    state.SetItemsProcessed(elements);
    const double triad_rate = triad_bytes_per_second<T>(state.range(0));
    state.counters["vs_triad"] = static_cast<double>(bytes) / seconds / triad_rate;
}

// The triad as a benchmark of its own, at range(0) elements: a = b + s * c, 3 streams.
template <Real T>
void bm_triad(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    buffer<T> a = buffer<T>::Zero(n), b = buffer<T>::Constant(n, T(1)), c = buffer<T>::Constant(n, T(2));
    const double start = thread_cpu_seconds();
    for (auto _ : state) {
        triad<T>(view<T>(a.data(), n), const_view<T>(b.data(), n), const_view<T>(c.data(), n), T(3));
        benchmark::DoNotOptimize(a.data());
        benchmark::ClobberMemory();
    }
    const double seconds = thread_cpu_seconds() - start;
    report_throughput<T>(state, state.iterations() * stream_bytes<T>(n, 3), state.iterations() * n, seconds);
}

}  // namespace diffuse::bench
