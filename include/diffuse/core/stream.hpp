// diffuse/core/stream.hpp: an element-wise loop over long contiguous buffers, one packet at a
// time, that prefetches its streams ahead of itself.
//
// Why not Eigen's assignment loop: when the kernel does real arithmetic per element (an
// exponential, a division), a core's out-of-order window holds only a few cache lines' worth of
// loads ahead, and on hosts whose memory is far away (a virtual machine on a large server) the
// time to fetch the next lines then adds to the compute instead of overlapping with it: on the
// 2-core Intel host of 2026-11-27 (docs/activations.md), 16M floats through tanh ran at 1.45
// Gelem/s against 3.3 in cache and 2.0 for ReLU. A software prefetch of each input 16 KB ahead,
// one per cache line, lets the memory run at its own rate: tanh 1.8-2.2 there, exact GELU
// 0.82 -> 1.4-1.6. (Prefetching the output for writing as well measured no better.)
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "diffuse/core/config.hpp"
#include "diffuse/core/simd.hpp"

// Packet types (__m512 ...) carry alignment attributes that GCC warns about when they are used
// as template arguments; Eigen silences the same warning in its own headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace diffuse::simd {

// How far ahead of the loop each input is prefetched: far enough to cover the memory's latency
// at the loop's rate, near enough that the lines are still in L1 when the loop reaches them.
// 8-16 KB measured best on the host above (4, 32 and 64 KB a few percent lower).
inline constexpr std::ptrdiff_t prefetch_distance_bytes = 16 * 1024;
inline constexpr std::ptrdiff_t cache_line_bytes = 64;
// Buffers this small (inputs and output together) are most likely in L2 already, where the
// prefetches only take issue slots: ReLU over 16K floats (128 KB) ran at 0.93 of STREAM scale's
// rate with them and 0.99 without, on the host above.
inline constexpr std::size_t prefetch_above_bytes = 1024 * 1024;

namespace detail {
template <class T>
DIFFUSE_ALWAYS_INLINE void prefetch_for_read(const T* p) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p, 0, 3);
#else
    (void)p;
#endif
}
// out[i] = kernel(in[i]...) for the one packet at i, forced inline: the loops below call it from
// two places, and GCC left a lambda doing it out of line, a call per packet that reloads the kernel's
// constants (AVX2 exact GELU 1.10 -> 1.40 Gelem/s at 16K inlined, bench_activations).
template <class P, class T, class Kernel, class... In>
DIFFUSE_ALWAYS_INLINE void one_packet(std::ptrdiff_t i, T* out, const Kernel& kernel, const In*... in) {
    ei::pstoreu(out + i, kernel(ei::ploadu<P>(in + i)...));
}
}  // namespace detail

// out[i] = kernel(in[i]...) for 0 <= i < n, on the widest packets; the last n mod (lanes)
// elements go through the narrowest packet, lane by lane, so every element gets the same
// arithmetic. `kernel` is a generic callable on packets (one argument per input). out may be
// one of the inputs (in place) but must not overlap them otherwise. Prefetches never reach past
// the buffers' ends; buffers of at most prefetch_above_bytes are not prefetched.
template <Real T, class Kernel, class... In>
DIFFUSE_ALWAYS_INLINE void transform(std::ptrdiff_t n, T* out, const Kernel& kernel, const In*... in) {
    static_assert((std::is_same_v<In, T> && ...), "inputs and output share the scalar type");
    using P = packet<T>;
    constexpr std::ptrdiff_t lanes = ei::unpacket_traits<P>::size;
    constexpr std::ptrdiff_t per_line =
        std::max<std::ptrdiff_t>(1, cache_line_bytes / static_cast<std::ptrdiff_t>(sizeof(T) * lanes));
    constexpr std::ptrdiff_t step = lanes * per_line;
    constexpr std::ptrdiff_t ahead = prefetch_distance_bytes / static_cast<std::ptrdiff_t>(sizeof(T));
    std::ptrdiff_t i = 0;
    const auto bytes = static_cast<std::size_t>(n) * sizeof(T) * (sizeof...(In) + 1);
    if (bytes > prefetch_above_bytes) {
        for (; i + step + ahead <= n; i += step) {
            (detail::prefetch_for_read(in + i + ahead), ...);
            for (std::ptrdiff_t k = 0; k < per_line; ++k) detail::one_packet<P>(i + k * lanes, out, kernel, in...);
        }
    }
    for (; i + lanes <= n; i += lanes) detail::one_packet<P>(i, out, kernel, in...);
    using Narrow = scalar_packet<T>;
    for (; i < n; ++i) out[i] = ei::pfirst(kernel(ei::pset1<Narrow>(in[i])...));
}

}  // namespace diffuse::simd

#pragma GCC diagnostic pop
