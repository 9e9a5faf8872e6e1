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
inline void apply_double_size(benchmark::internal::Benchmark* b) {
    b->Arg(double_size);
}

// Bytes moved when `streams` arrays of n elements of T are each read or written once.
template <Real T>
constexpr std::int64_t stream_bytes(std::int64_t n, int streams) {
    return static_cast<std::int64_t>(streams) * n * static_cast<std::int64_t>(sizeof(T));
}

// Seconds of CPU time of the calling thread: the clock Google Benchmark reports as "CPU" (and
// divides counted bytes by) unless a benchmark asks for real time.
inline double thread_cpu_seconds() {
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

// The triad on its own arrays of n elements; each call runs it once and returns the bytes counted.
template <Real T>
class triad {
public:
    explicit triad(std::int64_t n)
        : a_(buffer<T>::Zero(n)), b_(buffer<T>::Constant(n, T(1))), c_(buffer<T>::Constant(n, T(2))) {}

    std::int64_t operator()() {
        a_ = b_ + T(3) * c_;  // one fused Eigen pass
        benchmark::DoNotOptimize(a_.data());
        benchmark::ClobberMemory();
        return stream_bytes<T>(a_.size(), 3);
    }

private:
    buffer<T> a_, b_, c_;
};

// STREAM's scale b = s * c on its own arrays: one read stream and one written, the shape of an
// element-wise kernel y = f(x). Where the hardware reads a written line before writing it
// (write-allocate), such a kernel moves 3 streams for the 2 counted and the triad 4 for 3, so
// even a kernel at the memory's limit shows below 1 against the triad (about 0.89); against
// the scale it shows 1.
template <Real T>
class scale {
public:
    explicit scale(std::int64_t n) : b_(buffer<T>::Zero(n)), c_(buffer<T>::Constant(n, T(2))) {}

    std::int64_t operator()() {
        b_ = T(3) * c_;
        benchmark::DoNotOptimize(b_.data());
        benchmark::ClobberMemory();
        return stream_bytes<T>(b_.size(), 2);
    }

private:
    buffer<T> b_, c_;
};

namespace detail {

// bytes/s of `calls` calls of `kernel` (a callable returning the bytes it counted).
template <class Kernel>
double batch_rate(Kernel& kernel, std::int64_t calls) {
    std::int64_t bytes = 0;
    const double start = thread_cpu_seconds();
    for (std::int64_t i = 0; i < calls; ++i) bytes += kernel();
    return static_cast<double>(bytes) / (thread_cpu_seconds() - start);
}

// Calls of `kernel` that take at least `seconds`, doubling from one.
template <class Kernel>
std::int64_t calls_lasting(Kernel& kernel, double seconds) {
    std::int64_t calls = 1;
    for (;;) {
        const double start = thread_cpu_seconds();
        for (std::int64_t i = 0; i < calls; ++i) kernel();
        if (thread_cpu_seconds() - start >= seconds) return calls;
        calls *= 2;
    }
}

}  // namespace detail

// A kernel's bytes/s divided by a reference kernel's (the triad, the scale) at the same n
// elements, measured in alternation: 9 pairs of back-to-back batches (triad, then kernel, >= 2 ms each), the median
// of the 9 per-pair ratios. Each pair sees the same machine state (frequency, other processes'
// cache and memory traffic), so the ratio holds on a loaded machine where two separately timed
// benchmarks, minutes apart, do not.
template <class Reference, class Kernel>
double paired_ratio(std::int64_t n, Kernel& kernel) {
    Reference reference(n);
    const std::int64_t reference_calls = detail::calls_lasting(reference, 0.002);
    const std::int64_t kernel_calls = detail::calls_lasting(kernel, 0.002);
    constexpr int pairs = 9;
    std::array<double, pairs> ratios{};
    for (auto& ratio : ratios) {
        const double reference_rate = detail::batch_rate(reference, reference_calls);
        ratio = detail::batch_rate(kernel, kernel_calls) / reference_rate;
    }
    std::nth_element(ratios.begin(), ratios.begin() + pairs / 2, ratios.end());
    return ratios[pairs / 2];
}
template <Real T, class Kernel>
double paired_triad_ratio(std::int64_t n, Kernel& kernel) {
    return paired_ratio<triad<T>>(n, kernel);
}

// The triad's bytes/s at n elements of T, measured once per (T, n) per process (median of 7
// batches of >= 20 ms), for report_throughput below.
template <Real T>
double triad_bytes_per_second(std::int64_t n) {
    static std::map<std::int64_t, double> measured;
    if (const auto found = measured.find(n); found != measured.end()) return found->second;
    triad<T> reference(n);
    const std::int64_t calls = detail::calls_lasting(reference, 0.02);
    constexpr int batches = 7;
    std::array<double, batches> rates{};
    for (auto& rate : rates) rate = detail::batch_rate(reference, calls);
    std::nth_element(rates.begin(), rates.begin() + batches / 2, rates.end());
    return measured.emplace(n, rates[batches / 2]).first->second;
}

// For a timed loop that is not a callable kernel: reports bytes/s, elements/s and "vs_triad" =
// (bytes / seconds) / triad_bytes_per_second, where `seconds` is the loop's thread-CPU time
// (thread_cpu_seconds() around it). The triad is measured at another moment than the loop, so
// on a loaded machine this ratio is noisier than run_memory_benchmark's paired one.
template <Real T>
void report_throughput(benchmark::State& state, std::int64_t bytes, std::int64_t elements, double seconds) {
    state.SetBytesProcessed(bytes);
    state.SetItemsProcessed(elements);
    state.counters["vs_triad"] = static_cast<double>(bytes) / seconds / triad_bytes_per_second<T>(state.range(0));
}

// Runs the timed loop of a memory-bound benchmark over `kernel` (a callable returning the bytes
// it counted) at n = state.range(0) elements of T, then reports bytes/s (SetBytesProcessed),
// elements/s, and the counter "vs_triad" = paired_triad_ratio (measured after the timed loop).
template <Real T, class Kernel>
void run_memory_benchmark(benchmark::State& state, Kernel& kernel) {
    const std::int64_t n = state.range(0);
    std::int64_t bytes = 0;
    for (auto _ : state) bytes += kernel();
    state.SetBytesProcessed(bytes);
    state.SetItemsProcessed(state.iterations() * n);
    state.counters["vs_triad"] = paired_triad_ratio<T>(n, kernel);
}

// The triad as a benchmark of its own; its vs_triad (the triad against a second copy of itself)
// shows how far a ratio can stray from 1 by measurement noise alone.
template <Real T>
void bm_triad(benchmark::State& state) {
    triad<T> kernel(state.range(0));
    run_memory_benchmark<T>(state, kernel);
}

}  // namespace diffuse::bench
