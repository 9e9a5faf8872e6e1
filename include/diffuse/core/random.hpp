// diffuse/core/random.hpp: counter-based random numbers (Philox4x32-10) and noise fills.
//
// Every number is a pure function of (seed, stream, element index): there is no hidden state to
// advance, so a buffer filled in one call, in chunks, in any order or on several threads holds
// bitwise the same values, and sample b of a batch is the same whatever the batch size.
// The exact mapping from counters to elements is specified in docs/random.md.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <bit>
#include <concepts>
#include <cstdint>
#include <limits>
#include <numbers>
#include <random>
#include <type_traits>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"

// GCC 12 flags the deliberately undefined operands inside its own AVX-512 intrinsics
// (avx512fintrin.h, '__Y is used uninitialized') when Eigen's packet log/sqrt are inlined
// here (GCC bug 105593); the warning is not actionable, so it is silenced for this header only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace diffuse::random {

using u32 = std::uint32_t;
using u64 = std::uint64_t;

namespace detail {

// Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11, section 3.2
// (Philox-4x32): multipliers, Weyl key increments (golden ratio and sqrt(3) - 1) and round count.
inline constexpr u32 philox_m0 = 0xD2511F53u;
inline constexpr u32 philox_m1 = 0xCD9E8D57u;
inline constexpr u32 philox_w0 = 0x9E3779B9u;
inline constexpr u32 philox_w1 = 0xBB67AE85u;
inline constexpr int philox_rounds = 10;

// One Philox S-box round: two 32x32->64 multiplies, the high halves xor-ed with the other
// counter words and the round key, then the words are permuted. Kept scalar and branch-free so
// the block loop below vectorizes.
constexpr void philox_round(u32& c0, u32& c1, u32& c2, u32& c3, u32 k0, u32 k1) {
    const u64 p0 = u64{philox_m0} * c0;
    const u64 p1 = u64{philox_m1} * c2;
    const u32 next0 = static_cast<u32>(p1 >> 32) ^ c1 ^ k0;
    const u32 next2 = static_cast<u32>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<u32>(p1);
    c3 = static_cast<u32>(p0);
    c0 = next0;
    c2 = next2;
}

}  // namespace detail

// The Philox4x32-10 bijection of a 128-bit counter under a 64-bit key (SC'11, section 3.2).
constexpr std::array<u32, 4> philox4x32_10(std::array<u32, 4> counter, std::array<u32, 2> key) {
    for (int round = 0; round < detail::philox_rounds; ++round) {
        if (round > 0) {
            key[0] += detail::philox_w0;
            key[1] += detail::philox_w1;
        }
        detail::philox_round(counter[0], counter[1], counter[2], counter[3], key[0], key[1]);
    }
    return counter;
}

// Random123 known-answer vector (kat_vectors, philox4x32 10, all-zero counter and key).
static_assert(philox4x32_10({0u, 0u, 0u, 0u}, {0u, 0u}) ==
              std::array<u32, 4>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});

// Elements per Philox block: a float element takes one 32-bit word, a double two.
template <Real T>
inline constexpr u64 lanes = sizeof(T) == sizeof(float) ? 4 : 2;
template <Real T>
inline constexpr int words_per_element = 4 / static_cast<int>(lanes<T>);

// The 128-bit output of block `block_index` of `stream` under `seed`: key = (seed low, seed high),
// counter = (block low, block high, stream low, stream high).
constexpr std::array<u32, 4> block(u64 seed, u64 stream, u64 block_index) {
    return philox4x32_10({static_cast<u32>(block_index), static_cast<u32>(block_index >> 32), static_cast<u32>(stream),
                          static_cast<u32>(stream >> 32)},
                         {static_cast<u32>(seed), static_cast<u32>(seed >> 32)});
}

// The uniform of one element from its words (docs/random.md, "Uniforms"): the top 23 (float) or
// 52 (double) bits m become the mantissa of 1 + m 2^-p, and subtracting 1 - 2^-(p+1) leaves
// (m + 1/2) 2^-p exactly. The result lies in the open interval (0, 1), symmetric about 1/2:
// the smallest value is 2^-(p+1) (so log is finite), the largest 1 - 2^-(p+1).
template <Real T>
constexpr T uniform_from_words(const u32* words) {
    if constexpr (std::same_as<T, float>) {
        const float one_plus = std::bit_cast<float>(0x3F800000u | (words[0] >> 9));
        return one_plus - (1.0f - 0x1p-24f);
    } else {
        const u64 mantissa = (u64{words[0]} << 20) | (words[1] >> 12);
        const double one_plus = std::bit_cast<double>(0x3FF0000000000000ull | mantissa);
        return one_plus - (1.0 - 0x1p-53);
    }
}

namespace detail {

// A tile is a fixed run of Philox blocks computed together; fixed so that every element is
// produced by the same instruction sequence whether it sits in a full tile or in a partial one
// at the ends of a fill (Eigen's packet math and its scalar fallback can differ in the last bit).
inline constexpr u64 tile_blocks = 64;
template <Real T>
inline constexpr u64 tile_elements = tile_blocks* lanes<T>;
template <Real T>
inline constexpr int tile_pairs = static_cast<int>(tile_elements<T> / 2);

// Philox of tile_blocks consecutive counters, written in counter order (block b, word j at
// words[4b + j]). Structure-of-arrays so the compiler vectorizes the rounds across blocks.
inline void philox_tile(u64 seed, u64 stream, u64 first_block, u32* words) {
    alignas(64) std::array<u32, tile_blocks> c0, c1, c2, c3;
    for (u64 b = 0; b < tile_blocks; ++b) {
        const u64 block_index = first_block + b;
        c0[b] = static_cast<u32>(block_index);
        c1[b] = static_cast<u32>(block_index >> 32);
        c2[b] = static_cast<u32>(stream);
        c3[b] = static_cast<u32>(stream >> 32);
    }
    u32 k0 = static_cast<u32>(seed);
    u32 k1 = static_cast<u32>(seed >> 32);
    for (int round = 0; round < philox_rounds; ++round) {
        if (round > 0) {
            k0 += philox_w0;
            k1 += philox_w1;
        }
        for (u64 b = 0; b < tile_blocks; ++b) philox_round(c0[b], c1[b], c2[b], c3[b], k0, k1);
    }
    for (u64 b = 0; b < tile_blocks; ++b) {
        words[4 * b + 0] = c0[b];
        words[4 * b + 1] = c1[b];
        words[4 * b + 2] = c2[b];
        words[4 * b + 3] = c3[b];
    }
}

// Coefficients of the Taylor series of sin(x)/x (odd = true) or cos(x) in powers of x^2, with as
// many terms as T needs on |x| <= pi/4: the first omitted term is below epsilon/16.
template <Real T, bool odd>
consteval int taylor_terms() {
    const long double x = std::numbers::pi_v<long double> / 4;
    long double term = odd ? x : 1.0L;  // x^n / n!, n = 2k + odd
    int n = odd ? 1 : 0;
    int terms = 0;
    while (term >= static_cast<long double>(std::numeric_limits<T>::epsilon()) / 16) {
        ++terms;
        term *= x * x / ((n + 1) * (n + 2));
        n += 2;
    }
    return terms;
}
template <Real T, bool odd>
consteval std::array<T, taylor_terms<T, odd>()> taylor_coefficients() {
    std::array<T, taylor_terms<T, odd>()> coefficients{};
    long double c = 1.0L;  // (-1)^k / n!
    int n = odd ? 1 : 0;
    for (auto& coefficient : coefficients) {
        coefficient = static_cast<T>(c);
        c /= -static_cast<long double>((n + 1) * (n + 2));
        n += 2;
    }
    return coefficients;
}

// sum_k coefficients[k] y^k by Horner's rule, over a fixed-size array.
template <class Array, std::size_t N>
Array horner(const Array& y, const std::array<typename Array::Scalar, N>& coefficients) {
    Array sum = Array::Constant(coefficients[N - 1]);
    for (std::size_t k = N - 1; k-- > 0;) sum = sum * y + coefficients[k];
    return sum;
}

// The angle 2 pi u of a uniform u = (m + 1/2) 2^-p, reduced exactly in turns: with the octant
// o = floor(8u) (the top three bits of m, i.e. of the element's first word) and
// Q = round(4u) = (o + 1) >> 1, the remainder f = u - Q/4 lies in [-1/8, 1/8] and is exact on the
// uniforms' grid, so 2 pi u = Q pi/2 + 2 pi f with |2 pi f| <= pi/4. The quadrant enters as
// cos(Q pi/2) and sin(Q pi/2), which are 0 or +-1. Integer work only, so it vectorizes anywhere.
template <Real T>
struct turn_reduction {
    T f;      // remainder in turns, |f| <= 1/8
    T cos_q;  // cos(Q pi/2)
    T sin_q;  // sin(Q pi/2)
};
template <Real T>
constexpr turn_reduction<T> reduce_turns(const u32* words) {
    const int octant = static_cast<int>(words[0] >> 29);
    const int nearest_quarter = (octant + 1) >> 1;  // Q in {0, ..., 4}
    const int q = nearest_quarter & 3;
    const int odd = q & 1;
    return {uniform_from_words<T>(words) - T(0.25) * static_cast<T>(nearest_quarter),
            static_cast<T>((1 - q) & (odd - 1)),  // 1, 0, -1, 0 for q = 0, 1, 2, 3
            static_cast<T>((2 - q) & -odd)};      // 0, 1, 0, -1
}

// sin and cos of 2 pi u from its turn reduction: Taylor polynomials of x = 2 pi f on
// |x| <= pi/4, then sin(Q pi/2 + x) = cos_q sin x + sin_q cos x and
// cos(Q pi/2 + x) = cos_q cos x - sin_q sin x. Eigen array operations over a fixed-size block, so
// it vectorizes for float and double alike (Eigen 3.4 has no packet sin/cos for double).
template <class Array>
void sincos_from_turns(const Array& f, const Array& cos_q, const Array& sin_q, Array& sin_out, Array& cos_out) {
    using T = typename Array::Scalar;
    static constexpr auto sin_coefficients = taylor_coefficients<T, true>();
    static constexpr auto cos_coefficients = taylor_coefficients<T, false>();
    const Array x = T(2 * std::numbers::pi_v<long double>) * f;
    const Array x2 = x * x;
    const Array sin_x = x * horner(x2, sin_coefficients);
    const Array cos_x = horner(x2, cos_coefficients);
    sin_out = cos_q * sin_x + sin_q * cos_x;
    cos_out = cos_q * cos_x - sin_q * sin_x;
}

template <Real T>
void uniform_tile(u64 seed, u64 stream, u64 first_block, T* out) {
    alignas(64) std::array<u32, 4 * tile_blocks> words;
    philox_tile(seed, stream, first_block, words.data());
    for (u64 i = 0; i < tile_elements<T>; ++i) out[i] = uniform_from_words<T>(words.data() + words_per_element<T> * i);
}

// Box-Muller (Box and Muller, "A Note on the Generation of Random Normal Deviates", Ann. Math.
// Statist. 29(2), 1958, eq. 1): elements 2p and 2p+1 come from the uniforms U1 = U_{2p} and
// U2 = U_{2p+1} of the same elements: z_{2p} = sqrt(-2 ln U1) cos(2 pi U2),
// z_{2p+1} = sqrt(-2 ln U1) sin(2 pi U2).
template <Real T>
void normal_tile(u64 seed, u64 stream, u64 first_block, T* out) {
    using pairs = Eigen::Array<T, tile_pairs<T>, 1>;
    constexpr int w = words_per_element<T>;
    alignas(64) std::array<u32, 4 * tile_blocks> words;
    philox_tile(seed, stream, first_block, words.data());
    pairs u1, f, cos_q, sin_q;
    for (int p = 0; p < tile_pairs<T>; ++p) {
        u1[p] = uniform_from_words<T>(words.data() + 2 * w * p);
        const turn_reduction<T> angle = reduce_turns<T>(words.data() + 2 * w * p + w);
        f[p] = angle.f;
        cos_q[p] = angle.cos_q;
        sin_q[p] = angle.sin_q;
    }
    const pairs radius = (T(-2) * u1.log()).sqrt();
    pairs sin_theta, cos_theta;
    sincos_from_turns(f, cos_q, sin_q, sin_theta, cos_theta);
    for (int p = 0; p < tile_pairs<T>; ++p) {
        out[2 * p] = radius[p] * cos_theta[p];
        out[2 * p + 1] = radius[p] * sin_theta[p];
    }
}

// Runs `tile(first_block, destination)` over the tiles that cover elements
// [first_element, first_element + out.size()): whole tiles straight into `out`, the partial
// tiles at either end into a scratch tile from which the needed slice is copied.
template <Real T, class TileFn>
void fill_tiles(view<T> out, u64 first_element, TileFn tile) {
    const u64 size = static_cast<u64>(out.size());
    require(size == 0 || first_element <= std::numeric_limits<u64>::max() - (size - 1), "first_element", first_element,
            "first_element + out.size() <= 2^64 (element indices are 64-bit)");
    constexpr u64 tile_size = tile_elements<T>;
    alignas(64) std::array<T, tile_size> scratch;
    u64 done = 0;
    while (done < size) {
        const u64 element = first_element + done;
        const u64 offset = element % tile_size;
        const u64 count = std::min(tile_size - offset, size - done);
        const u64 first_block = element / tile_size * tile_blocks;
        if (count == tile_size) {
            tile(first_block, out.data() + done);
        } else {
            tile(first_block, scratch.data());
            std::copy_n(scratch.data() + offset, count, out.data() + done);
        }
        done += count;
    }
}

}  // namespace detail

// out[i] = U(seed, stream, first_element + i): uniforms in the open interval (0, 1) with 23
// (float) or 52 (double) random bits and a half-step offset (docs/random.md).
template <Real T>
void fill_uniform(view<T> out, u64 seed, u64 stream, u64 first_element) {
    detail::fill_tiles(out, first_element, [&](u64 first_block, T* destination) {
        detail::uniform_tile(seed, stream, first_block, destination);
    });
}

// out[i] = Z(seed, stream, first_element + i): standard normals by Box-Muller from the uniforms
// of the same (seed, stream) (so do not use one stream for both uniforms and normals).
template <Real T>
void fill_normal(view<T> out, u64 seed, u64 stream, u64 first_element) {
    detail::fill_tiles(out, first_element, [&](u64 first_block, T* destination) {
        detail::normal_tile(seed, stream, first_block, destination);
    });
}

// What samplers draw noise from: anything that fills a flat buffer with standard normals
// (this library's generator, or the user's own, e.g. a replay of noise recorded in PyTorch).
template <class G, class T>
concept noise_source = Real<T> && requires(G& g, view<T> out) {
    g.normal(out);
};

namespace detail {
template <class C>
concept mutable_flat = requires(C& c) {
    { diffuse::flat(c) } -> std::same_as<view<std::remove_cvref_t<decltype(*diffuse::flat(c).data())>>>;
};
template <class C>
inline constexpr bool is_view = false;
template <Real T>
inline constexpr bool is_view<view<T>> = true;
}  // namespace detail

// A sequence of noise draws under one seed: each normal()/uniform() call takes the next stream
// number, starting at `first_stream`, and numbers its elements from `first_element`. So a batch
// of B samples of size D drawn at once equals sample b drawn alone by for_element(b * D).
// It is also a UniformRandomBitGenerator (for std::shuffle and <random> distributions): a run of
// operator() calls takes one stream at its first call and returns that stream's 32-bit words in
// counter order, starting at word first_element; the next normal()/uniform() call ends the run.
class generator {
public:
    using result_type = u32;

    explicit generator(u64 seed, u64 first_element = 0, u64 first_stream = 0)
        : seed_(seed), first_element_(first_element), next_stream_(first_stream) {}

    template <Real T>
    void normal(view<T> out) {
        end_bits_run();
        fill_normal(out, seed_, next_stream_++, first_element_);
    }
    template <Real T>
    void uniform(view<T> out) {
        end_bits_run();
        fill_uniform(out, seed_, next_stream_++, first_element_);
    }
    // Any container flat() accepts: Eigen arrays and tensors, std::vector, std::span, ...
    template <class C>
    requires(!detail::is_view<std::remove_cvref_t<C>> && detail::mutable_flat<C>) void normal(C&& data) {
        normal(diffuse::flat(data));
    }
    template <class C>
    requires(!detail::is_view<std::remove_cvref_t<C>> && detail::mutable_flat<C>) void uniform(C&& data) {
        uniform(diffuse::flat(data));
    }

    [[nodiscard]] u64 seed() const { return seed_; }
    [[nodiscard]] u64 next_stream() const { return next_stream_; }
    [[nodiscard]] u64 first_element() const { return first_element_; }

    // Same seed and stream position, elements numbered from another offset (one sample of a batch).
    [[nodiscard]] generator for_element(u64 first_element) const {
        return generator(seed_, first_element, next_stream_);
    }

    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
    result_type operator()() {
        if (!bits_run_) {
            bits_run_ = true;
            bits_stream_ = next_stream_++;
            next_word_ = first_element_;
            cached_block_valid_ = false;
        }
        const u64 block_index = next_word_ / 4;
        if (!cached_block_valid_ || cached_block_index_ != block_index) {
            cached_block_ = block(seed_, bits_stream_, block_index);
            cached_block_index_ = block_index;
            cached_block_valid_ = true;
        }
        return cached_block_[next_word_++ % 4];
    }

private:
    void end_bits_run() { bits_run_ = false; }

    u64 seed_;
    u64 first_element_;
    u64 next_stream_;
    // State of the current run of operator() calls.
    bool bits_run_ = false;
    bool cached_block_valid_ = false;
    u64 bits_stream_ = 0;
    u64 next_word_ = 0;
    u64 cached_block_index_ = 0;
    std::array<u32, 4> cached_block_{};
};

static_assert(noise_source<generator, float> && noise_source<generator, double>);
static_assert(std::uniform_random_bit_generator<generator>);

}  // namespace diffuse::random

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
