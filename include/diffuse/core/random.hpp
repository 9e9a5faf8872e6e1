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
#include "diffuse/core/detail/philox_lanes.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/simd.hpp"
#include "diffuse/core/view.hpp"

// GCC 12 flags the deliberately undefined operands inside its own AVX-512 intrinsics
// (avx512fintrin.h, '__Y is used uninitialized') when Eigen's packet log/sqrt are inlined
// here (GCC bug 105593); the warning is not actionable, so it is silenced for this header only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
// Packet types (__m512 ...) carry alignment attributes that GCC warns about as template arguments
// (normal_pair<Packet16f>); Eigen silences the same warning in its own headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

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

// ---- Box-Muller on packets ------------------------------------------------------------
//
// One kernel for every path: the x86 lanes below, the portable tile loop and the tests'
// one-element reference all evaluate the same packet operations, in the widest packet Eigen uses
// for T, so an element has the same bits whichever path computes it. The operations are those of
// the stream's definition (docs/random.md): Eigen's plog and psqrt, Taylor sin/cos by Horner's
// rule with each step a multiply and an add (which the compiler contracts to an fma exactly
// where it contracted the Eigen array expressions that first defined the stream).

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

// sum_k coefficients[k] y^k by Horner's rule, each step a product then a sum.
template <class P, std::size_t N>
DIFFUSE_ALWAYS_INLINE P horner(const P& y, const std::array<simd::scalar_of<P>, N>& coefficients) {
    namespace ei = Eigen::internal;
    P sum = ei::pset1<P>(coefficients[N - 1]);
    for (std::size_t k = N - 1; k-- > 0;) sum = ei::padd(ei::pmul(sum, y), ei::pset1<P>(coefficients[k]));
    return sum;
}

// The angle 2 pi u of a uniform u = (m + 1/2) 2^-p, reduced exactly in turns: with
// Q = round(4u) in {0, ..., 4} (never a tie on the uniforms' grid), the remainder f = u - Q/4
// lies in [-1/8, 1/8] and is exact, so 2 pi u = Q pi/2 + 2 pi f with |2 pi f| <= pi/4. The
// quadrant enters as cos(Q pi/2) and sin(Q pi/2), which are 0 or +-1. Every operation is exact.
template <class P>
struct turn_reduction {
    P f;      // remainder in turns, |f| <= 1/8
    P cos_q;  // cos(Q pi/2)
    P sin_q;  // sin(Q pi/2)
};
template <class P>
DIFFUSE_ALWAYS_INLINE turn_reduction<P> reduce_turns(const P& u) {
    namespace ei = Eigen::internal;
    using T = simd::scalar_of<P>;
    const P quarters = ei::print(ei::pmul(u, ei::pset1<P>(T(4))));
    const P d = ei::psub(quarters, ei::pset1<P>(T(2)));         // Q - 2 in {-2, ..., 2}
    const P cos_q = ei::psub(ei::pabs(d), ei::pset1<P>(T(1)));  // |Q - 2| - 1: 1, 0, -1, 0, 1
    return {ei::psub(u, ei::pmul(quarters, ei::pset1<P>(T(0.25)))), cos_q,
            ei::pmul(ei::pnegate(d), ei::psub(ei::pset1<P>(T(1)), ei::pabs(cos_q)))};  // 0, 1, 0, -1, 0
}

// sin x and cos x on |x| <= pi/4 from their Taylor polynomials.
template <class P>
struct sin_cos {
    P sin_x, cos_x;
};
template <class P>
DIFFUSE_ALWAYS_INLINE sin_cos<P> taylor_sin_cos(const P& x) {
    namespace ei = Eigen::internal;
    using T = simd::scalar_of<P>;
    static constexpr auto sin_coefficients = taylor_coefficients<T, true>();
    static constexpr auto cos_coefficients = taylor_coefficients<T, false>();
    const P x2 = ei::pmul(x, x);
    return {ei::pmul(x, horner(x2, sin_coefficients)), horner(x2, cos_coefficients)};
}

// Box-Muller (Box and Muller, "A Note on the Generation of Random Normal Deviates", Ann. Math.
// Statist. 29(2), 1958, eq. 1) of uniforms u1, u2: (sqrt(-2 ln u1) cos(2 pi u2),
// sqrt(-2 ln u1) sin(2 pi u2)). sin and cos of 2 pi u2 from its turn reduction: Taylor polynomials
// of x = 2 pi f on |x| <= pi/4, then sin(Q pi/2 + x) = cos_q sin x + sin_q cos x and
// cos(Q pi/2 + x) = cos_q cos x - sin_q sin x (one product is a zero, the other exact).
// This is the definition of the stream's normals; the x86 float fill evaluates the same floats
// from the Philox words with fewer instructions (polar_from_words below).
template <class P>
struct normal_pair {
    P cos_part;  // element 2p
    P sin_part;  // element 2p + 1
};
template <class P>
struct unit_vector {
    P cos_theta, sin_theta;
};
template <class P>
DIFFUSE_ALWAYS_INLINE P box_muller_radius(const P& u1) {
    namespace ei = Eigen::internal;
    return ei::psqrt(ei::pmul(ei::pset1<P>(simd::scalar_of<P>(-2)), ei::plog(u1)));
}
template <class P>
DIFFUSE_ALWAYS_INLINE unit_vector<P> box_muller_angle(const P& u2) {
    namespace ei = Eigen::internal;
    using T = simd::scalar_of<P>;
    const turn_reduction<P> angle = reduce_turns(u2);
    const sin_cos<P> x = taylor_sin_cos(ei::pmul(ei::pset1<P>(T(2 * std::numbers::pi_v<long double>)), angle.f));
    return {ei::psub(ei::pmul(angle.cos_q, x.cos_x), ei::pmul(angle.sin_q, x.sin_x)),
            ei::padd(ei::pmul(angle.cos_q, x.sin_x), ei::pmul(angle.sin_q, x.cos_x))};
}
template <class P>
DIFFUSE_ALWAYS_INLINE normal_pair<P> box_muller(const P& u1, const P& u2) {
    namespace ei = Eigen::internal;
    const P radius = box_muller_radius(u1);
    const unit_vector<P> angle = box_muller_angle(u2);
    return {ei::pmul(radius, angle.cos_theta), ei::pmul(radius, angle.sin_theta)};
}

// The pair (2p, 2p + 1) of one stream, computed alone by the scalar Philox and the same kernel in
// one packet lane: the reference every vectorized path must match bit for bit.
template <Real T>
normal_pair<T> normal_pair_at(u64 seed, u64 stream, u64 pair_index) {
    using P = simd::packet<T>;
    constexpr u64 pairs_per_block = lanes<T> / 2;
    const std::array<u32, 4> words = block(seed, stream, pair_index / pairs_per_block);
    const u32* first = words.data() + 2 * words_per_element<T> * (pair_index % pairs_per_block);
    const normal_pair<P> z = box_muller(Eigen::internal::pset1<P>(uniform_from_words<T>(first)),
                                        Eigen::internal::pset1<P>(uniform_from_words<T>(first + words_per_element<T>)));
    return {Eigen::internal::pfirst(z.cos_part), Eigen::internal::pfirst(z.sin_part)};
}

// ---- filling a buffer in groups of blocks -----------------------------------------------

// Runs `group(first_block, destination)` over the groups of `GroupElements` elements (starting at
// multiples of the group) that cover [first_element, first_element + out.size()): whole groups
// straight into `out`, the partial groups at either end into scratch from which the needed slice
// is copied. Each element is computed by the same instructions wherever its group starts or ends.
template <u64 GroupElements, Real T, class GroupFn>
void fill_groups(view<T> out, u64 first_element, GroupFn group) {
    const u64 size = static_cast<u64>(out.size());
    require(size == 0 || first_element <= std::numeric_limits<u64>::max() - (size - 1), "first_element", first_element,
            "first_element + out.size() <= 2^64 (element indices are 64-bit)");
    alignas(64) std::array<T, GroupElements> scratch;
    u64 done = 0;
    while (done < size) {
        const u64 element = first_element + done;
        const u64 offset = element % GroupElements;
        const u64 count = std::min(GroupElements - offset, size - done);
        const u64 first_block = element / GroupElements * (GroupElements / lanes<T>);
        if (count == GroupElements) {
            group(first_block, out.data() + done);
        } else {
            group(first_block, scratch.data());
            std::copy_n(scratch.data() + offset, count, out.data() + done);
        }
        done += count;
    }
}

// Philox of tile_blocks consecutive counters, written in counter order (block b, word j at
// words[4b + j]). Structure-of-arrays so the compiler vectorizes the rounds across blocks: the
// portable path, for targets without the x86 lanes.
inline constexpr u64 tile_blocks = 64;
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

#if defined(DIFFUSE_PHILOX_LANES)
// x86: a group is word_lanes::normal_packets (normal fills) or uniform_packets (uniform fills)
// packets of blocks, straight from the Philox lanes to the packets of uniforms and normals, with
// no stores in between.
template <Real T>
inline constexpr u64 normal_group_elements = word_lanes::normal_packets* word_lanes::blocks* lanes<T>;
template <Real T>
inline constexpr u64 uniform_group_elements = word_lanes::uniform_packets* word_lanes::blocks* lanes<T>;

template <Real T>
simd::packet<T> uniform_packet(word_lanes::words w) {
    using P = simd::packet<T>;
    if constexpr (std::same_as<T, float>) {
        return Eigen::internal::psub(word_lanes::as_packet<P>(word_lanes::one_plus_float(w)),
                                     Eigen::internal::pset1<P>(1.0f - 0x1p-24f));
    } else {
        return Eigen::internal::psub(word_lanes::as_packet<P>(word_lanes::one_plus_double(w)),
                                     Eigen::internal::pset1<P>(1.0 - 0x1p-53));
    }
}

// A block's even elements (the first uniform of each Box-Muller pair) and its odd elements, one
// element per lane of a T packet: for float a 64-bit lane holds elements 0 and 2 (even) or 1 and 3
// (odd) of its block, for double element 0 (even) or 1 (odd), its first word in the high half.
struct even_odd_words {
    word_lanes::words even, odd;
};
template <Real T>
even_odd_words split_elements(const word_lanes::block_words& c) {
    if constexpr (std::same_as<T, float>) return {word_lanes::join(c.c0, c.c2), word_lanes::join(c.c1, c.c3)};
    else return {word_lanes::join(c.c1, c.c0), word_lanes::join(c.c3, c.c2)};
}

// ---- the float kernel straight from the Philox words ------------------------------------
//
// box_muller(u1, u2) on float uniforms, bit for bit, with the instructions that cannot change a
// result left out, because the inputs are known: u1 = (m + 1/2) 2^-23 is a positive normal float
// in [2^-24, 1 - 2^-24] and u2 comes from a 32-bit word whose top 23 bits are its m.
// tests/test_random.cpp compares the radius and the angle with the definition above for all 2^23
// uniforms.
//
// - The logarithm is Eigen 3.4's plog_float (Cephes' log: frexp, the shift to [sqrt(1/2),
//   sqrt(2)), the degree-8 polynomial in three parts, e ln 2 added back), operation for
//   operation, without the clamp to the smallest normal, the denormal rescaling and the zero,
//   negative and infinite cases: none can occur on a uniform.
// - sqrt(-2 ln u1): with EIGEN_FAST_MATH psqrt(s) is the estimate r of 1/sqrt(s), one Newton step
//   r (1.5 - s/2 r^2), then s r, with s < FLT_MIN flushed to zero: here s >= 2^-23 (never
//   flushed) and -s/2 is ln u1 itself (scaling a normal float by a power of two is exact).
// - cos and sin of 2 pi u2 from the word w, in integer arithmetic:
//   Q = round(4 u2) mod 4 is the top two bits of w + 2^29 (bit 29 rounds up);
//   f = u2 - Q/4 = (2r + 1) 2^-24 with r = (w << 2) >> 11 (arithmetic), the remainder of m modulo
//   2^21 centred on 0, an integer that converts exactly; 2 pi f was the product of float(2 pi)
//   and f rounded once, and so is fma(r, 2c, c) with c = float(2 pi) 2^-24: the exact value of
//   the fma is c (2r + 1) = float(2 pi) f (without an fma: c times 2r + 1, exact in a float);
//   the Taylor polynomials' Horner steps are the definition's products and sums;
//   the rotation by Q pi/2 picks sin x or cos x and flips signs, which is what the products with
//   cos_q, sin_q in {0, +-1} of box_muller_angle compute exactly (x and cos x are never 0):
//   Q odd swaps the two, cos is negated for Q in {1, 2}, sin for Q in {2, 3}.
//
// K packets of pairs run in lockstep, and the angle's steps are placed between the logarithm's:
// every step has independent work beside it in program order, which the out-of-order window of
// these long dependency chains could not find otherwise (docs/random.md, "Performance").
static_assert(EIGEN_WORLD_VERSION == 3 && EIGEN_MAJOR_VERSION == 4,
              "polar_from_words and log_of_double_uniform repeat Eigen 3.4's plog_float and plog_double; "
              "check them against the new version");

template <class P, int K>
struct polar_packets {
    std::array<P, K> radius, cos_theta, sin_theta;
};

#define DIFFUSE_EACH_PACKET _Pragma("GCC unroll 8") for (int k = 0; k < K; ++k)

// One Horner step of both Taylor polynomials (taylor_sin_cos): step n multiplies by x^2 and adds
// the coefficient of x^(2(terms - 1 - n)), a product then a sum as in horner(), so that the
// compiler contracts them (or not, e.g. without optimization) exactly as it does the definition.
template <std::size_t n, class P, std::size_t K>
DIFFUSE_ALWAYS_INLINE void horner_step(std::array<P, K>& sin_sum, std::array<P, K>& cos_sum,
                                       const std::array<P, K>& x2) {
    namespace ei = Eigen::internal;
    static constexpr auto sin_coefficients = taylor_coefficients<float, true>();
    static constexpr auto cos_coefficients = taylor_coefficients<float, false>();
#pragma GCC unroll 8
    for (std::size_t k = 0; k < K; ++k) {
        if constexpr (n < sin_coefficients.size())
            sin_sum[k] =
                ei::padd(ei::pmul(sin_sum[k], x2[k]), ei::pset1<P>(sin_coefficients[sin_coefficients.size() - 1 - n]));
        if constexpr (n < cos_coefficients.size())
            cos_sum[k] =
                ei::padd(ei::pmul(cos_sum[k], x2[k]), ei::pset1<P>(cos_coefficients[cos_coefficients.size() - 1 - n]));
    }
}

template <class P, int K>
DIFFUSE_ALWAYS_INLINE polar_packets<P, K> polar_from_words(const std::array<word_lanes::words, K>& first,
                                                           const std::array<word_lanes::words, K>& second) {
    namespace ei = Eigen::internal;
    namespace wl = word_lanes;
    using PI = typename ei::unpacket_traits<P>::integer_packet;
    static constexpr auto sin_coefficients = taylor_coefficients<float, true>();
    static constexpr auto cos_coefficients = taylor_coefficients<float, false>();
    static_assert(sin_coefficients.size() == 5 && cos_coefficients.size() == 6,
                  "the steps below are interleaved for 5 sine and 6 cosine terms");
    constexpr float c = static_cast<float>(2 * std::numbers::pi_v<long double>) * 0x1p-24f;
    const P one = ei::pset1<P>(1.0f);
    std::array<P, K> u, mantissa, below, e, x, x2, x3, y, y1, y2;  // the logarithm (Cephes' names)
    std::array<P, K> angle, angle2, sin_sum, cos_sum;              // the angle x = 2 pi f
    polar_packets<P, K> polar;
    DIFFUSE_EACH_PACKET u[k] = uniform_packet<float>(first[k]);
    DIFFUSE_EACH_PACKET {
#if defined(EIGEN_VECTORIZE_FMA)
        const P r = wl::to_float(wl::shift_right_signed32<11>(wl::shift_left32<2>(second[k])));
        angle[k] = ei::pmadd(r, ei::pset1<P>(2 * c), ei::pset1<P>(c));
#else  // without an fma: 2r + 1 = ((w << 2) >> 10) | 1 converts exactly too, times c
        angle[k] = ei::pmul(wl::to_float(wl::or32(wl::shift_right_signed32<10>(wl::shift_left32<2>(second[k])), 1u)),
                            ei::pset1<P>(c));
#endif
    }
    // frexp: u = m 2^e with m in [1/2, 1); the sign bit of u is 0, so the exponent field is u >> 23.
    DIFFUSE_EACH_PACKET mantissa[k] = ei::por(ei::pand(u[k], ei::pset1frombits<P>(0x807FFFFFu)), ei::pset1<P>(0.5f));
    DIFFUSE_EACH_PACKET angle2[k] = ei::pmul(angle[k], angle[k]);
    DIFFUSE_EACH_PACKET below[k] = ei::pcmp_lt(mantissa[k], ei::pset1<P>(0.707106781186547524f));
    DIFFUSE_EACH_PACKET {
        sin_sum[k] = ei::pset1<P>(sin_coefficients.back());
        cos_sum[k] = ei::pset1<P>(cos_coefficients.back());
    }
    horner_step<1>(sin_sum, cos_sum, angle2);
    // e = (exponent field - 126) - [mantissa below sqrt(1/2)], small integers: summed exactly in
    // integers (the mask is -1 where set) and converted once.
    DIFFUSE_EACH_PACKET {
        const PI field = ei::plogical_shift_right<23>(ei::preinterpret<PI>(u[k]));
        e[k] = ei::pcast<PI, P>(ei::padd(ei::padd(field, ei::pset1<PI>(-126)), ei::preinterpret<PI>(below[k])));
    }
    DIFFUSE_EACH_PACKET x[k] = ei::padd(ei::psub(mantissa[k], one), ei::pand(mantissa[k], below[k]));
    horner_step<2>(sin_sum, cos_sum, angle2);
    DIFFUSE_EACH_PACKET x2[k] = ei::pmul(x[k], x[k]);
    DIFFUSE_EACH_PACKET {
        y[k] = ei::pmadd(ei::pset1<P>(7.0376836292E-2f), x[k], ei::pset1<P>(-1.1514610310E-1f));
        y1[k] = ei::pmadd(ei::pset1<P>(-1.2420140846E-1f), x[k], ei::pset1<P>(+1.4249322787E-1f));
        y2[k] = ei::pmadd(ei::pset1<P>(+2.0000714765E-1f), x[k], ei::pset1<P>(-2.4999993993E-1f));
    }
    DIFFUSE_EACH_PACKET x3[k] = ei::pmul(x2[k], x[k]);
    horner_step<3>(sin_sum, cos_sum, angle2);
    DIFFUSE_EACH_PACKET {
        y[k] = ei::pmadd(y[k], x[k], ei::pset1<P>(1.1676998740E-1f));
        y1[k] = ei::pmadd(y1[k], x[k], ei::pset1<P>(-1.6668057665E-1f));
        y2[k] = ei::pmadd(y2[k], x[k], ei::pset1<P>(+3.3333331174E-1f));
    }
    horner_step<4>(sin_sum, cos_sum, angle2);
    DIFFUSE_EACH_PACKET y[k] = ei::pmadd(y[k], x3[k], y1[k]);
    horner_step<5>(sin_sum, cos_sum, angle2);
    DIFFUSE_EACH_PACKET sin_sum[k] = ei::pmul(angle[k], sin_sum[k]);
    DIFFUSE_EACH_PACKET y[k] = ei::pmadd(y[k], x3[k], y2[k]);
    DIFFUSE_EACH_PACKET {
        constexpr u32 sign_bit = 0x80000000u;
        const wl::words quadrant = wl::add32(second[k], 1u << 29);     // Q in bits 31..30
        const wl::words odd_quadrant = wl::shift_left32<1>(quadrant);  // Q odd in bit 31
        const P cos_sign = wl::as_packet<P>(wl::and32(wl::bit_xor(quadrant, odd_quadrant), sign_bit));
        const P sin_sign = wl::as_packet<P>(wl::and32(quadrant, sign_bit));
        polar.cos_theta[k] = ei::pxor(wl::select_by_sign(odd_quadrant, sin_sum[k], cos_sum[k]), cos_sign);
        polar.sin_theta[k] = ei::pxor(wl::select_by_sign(odd_quadrant, cos_sum[k], sin_sum[k]), sin_sign);
    }
    DIFFUSE_EACH_PACKET y[k] = ei::pmul(y[k], x3[k]);
    DIFFUSE_EACH_PACKET y[k] = ei::pmadd(ei::pset1<P>(-0.5f), x2[k], y[k]);
    DIFFUSE_EACH_PACKET {
        const P log_u1 = ei::pmadd(e[k], ei::pset1<P>(static_cast<float>(EIGEN_LN2)), ei::padd(x[k], y[k]));
        const P s = ei::pmul(ei::pset1<P>(-2.0f), log_u1);
#if EIGEN_FAST_MATH
        P r = word_lanes::rsqrt_estimate(s);
        r = ei::pmul(r, ei::pmadd(log_u1, ei::pmul(r, r), ei::pset1<P>(1.5f)));
        polar.radius[k] = ei::pmul(s, r);
#else
        polar.radius[k] = ei::psqrt(s);
#endif
    }
    return polar;
}

#undef DIFFUSE_EACH_PACKET

// Packets of pairs the float kernel runs in lockstep (a divisor of word_lanes::normal_packets): two
// measured faster than one and than three (register spills) on Zen 5, with AVX2 and AVX-512.
inline constexpr int lockstep_packets = 2;
static_assert(word_lanes::normal_packets % lockstep_packets == 0);

// ---- the double radius ------------------------------------------------------------------
//
// box_muller_radius on double uniforms u1 = (m + 1/2) 2^-52 in [2^-53, 1 - 2^-53], positive
// normal doubles, bit for bit: Eigen 3.4's plog_double (Cephes' log: frexp, the shift to
// [sqrt(1/2), sqrt(2)), the rational approximation P(x)/Q(x), e ln 2 added back) operation for
// operation without the clamp to the smallest normal, frexp's denormal, zero and non-finite
// cases and the final zero, negative and infinite selections; the exponent e, a small integer,
// from 2^52 + field - (2^52 + 1022), exact. Then psqrt: the hardware square root, or with
// AVX-512 and EIGEN_FAST_MATH the estimate r of 1/sqrt(s) and two Newton steps
// r (1.5 - s/2 r^2), with -s/2 = ln u1 exactly and s >= 2^-52 never flushed to zero.
// tests/test_random.cpp compares it with box_muller_radius on 2^20 uniforms and the edges.
template <class P>
DIFFUSE_ALWAYS_INLINE P log_of_double_uniform(const P& u) {
    namespace ei = Eigen::internal;
    const P one = ei::pset1<P>(1.0);
    const P mantissa =
        ei::por(ei::pand(u, ei::pset1frombits<P>(std::uint64_t{0x800FFFFFFFFFFFFFu})), ei::pset1<P>(0.5));
    P e = ei::psub(word_lanes::as_packet<P>(word_lanes::two_52_plus_exponent(word_lanes::as_words(u))),
                   ei::pset1<P>(0x1p52 + 1022.0));
    const P below = ei::pcmp_lt(mantissa, ei::pset1<P>(0.70710678118654752440E0));
    const P tmp = ei::pand(mantissa, below);
    P x = ei::psub(mantissa, one);
    e = ei::psub(e, ei::pand(one, below));
    x = ei::padd(x, tmp);
    const P x2 = ei::pmul(x, x);
    const P x3 = ei::pmul(x2, x);
    P y = ei::pmadd(ei::pset1<P>(1.01875663804580931796E-4), x, ei::pset1<P>(4.97494994976747001425E-1));
    P y1 = ei::pmadd(ei::pset1<P>(1.44989225341610930846E1), x, ei::pset1<P>(1.79368678507819816313E1));
    y = ei::pmadd(y, x, ei::pset1<P>(4.70579119878881725854E0));
    y1 = ei::pmadd(y1, x, ei::pset1<P>(7.70838733755885391666E0));
    P numerator = ei::pmadd(y, x3, y1);
    y = ei::pmadd(ei::pset1<P>(1.0), x, ei::pset1<P>(1.12873587189167450590E1));
    y1 = ei::pmadd(ei::pset1<P>(8.29875266912776603211E1), x, ei::pset1<P>(7.11544750618563894466E1));
    y = ei::pmadd(y, x, ei::pset1<P>(4.52279145837532221105E1));
    y1 = ei::pmadd(y1, x, ei::pset1<P>(2.31251620126765340583E1));
    const P denominator = ei::pmadd(y, x3, y1);
    numerator = ei::pmul(numerator, x3);
    y = ei::pdiv(numerator, denominator);
    y = ei::pmadd(ei::pset1<P>(-0.5), x2, y);
    x = ei::padd(x, y);
    return ei::pmadd(e, ei::pset1<P>(static_cast<double>(EIGEN_LN2)), x);
}
template <class P>
DIFFUSE_ALWAYS_INLINE P radius_of_double_uniform(const P& u1) {
    namespace ei = Eigen::internal;
    const P log_u1 = log_of_double_uniform(u1);
    const P s = ei::pmul(ei::pset1<P>(-2.0), log_u1);
#if defined(EIGEN_VECTORIZE_AVX512) && EIGEN_FAST_MATH
    P r = word_lanes::rsqrt_estimate(s);
    r = ei::pmul(r, ei::pmadd(log_u1, ei::pmul(r, r), ei::pset1<P>(1.5)));
    r = ei::pmul(r, ei::pmadd(log_u1, ei::pmul(r, r), ei::pset1<P>(1.5)));
    return ei::pmul(s, r);
#else
    return ei::psqrt(s);
#endif
}

template <Real T>
void uniform_group(const word_lanes::round_keys& keys, u64 stream, u64 first_block, T* out) {
    constexpr int size = Eigen::internal::packet_traits<T>::size;
    const auto blocks =
        word_lanes::philox<word_lanes::uniform_packets>(keys, stream, first_block, philox_m0, philox_m1);
    DIFFUSE_PHILOX_PACKET_UNROLL
    for (const auto& c : blocks) {
        const auto words = split_elements<T>(c);
        word_lanes::interleave(uniform_packet<T>(words.even), uniform_packet<T>(words.odd), out);
        out += 2 * size;
    }
}

template <Real T>
void normal_group(const word_lanes::round_keys& keys, u64 stream, u64 first_block, T* out) {
    constexpr int size = Eigen::internal::packet_traits<T>::size;
    const auto blocks = word_lanes::philox<word_lanes::normal_packets>(keys, stream, first_block, philox_m0, philox_m1);
    if constexpr (std::same_as<T, float>) {
        using P = simd::packet<float>;
        constexpr int K = lockstep_packets;
        DIFFUSE_PHILOX_PACKET_UNROLL
        for (int j = 0; j < word_lanes::normal_packets; j += K) {
            std::array<word_lanes::words, K> first, second;
            for (int k = 0; k < K; ++k) {
                const auto words = split_elements<T>(blocks[j + k]);
                first[k] = words.even;
                second[k] = words.odd;
            }
            const polar_packets<P, K> z = polar_from_words<P, K>(first, second);
            for (int k = 0; k < K; ++k) {
                word_lanes::interleave(Eigen::internal::pmul(z.radius[k], z.cos_theta[k]),
                                       Eigen::internal::pmul(z.radius[k], z.sin_theta[k]), out);
                out += 2 * size;
            }
        }
    } else {
        DIFFUSE_PHILOX_PACKET_UNROLL
        for (const auto& c : blocks) {
            const auto words = split_elements<T>(c);
            const auto radius = radius_of_double_uniform(uniform_packet<T>(words.even));
            const auto angle = box_muller_angle(uniform_packet<T>(words.odd));
            word_lanes::interleave(Eigen::internal::pmul(radius, angle.cos_theta),
                                   Eigen::internal::pmul(radius, angle.sin_theta), out);
            out += 2 * size;
        }
    }
}

#else
// Portable path: a tile of Philox blocks into memory, then the kernel over packets of its pairs.
template <Real T>
inline constexpr u64 normal_group_elements = tile_blocks* lanes<T>;
template <Real T>
inline constexpr u64 uniform_group_elements = tile_blocks* lanes<T>;

template <Real T>
void uniform_tile(u64 seed, u64 stream, u64 first_block, T* out) {
    alignas(64) std::array<u32, 4 * tile_blocks> words;
    philox_tile(seed, stream, first_block, words.data());
    for (u64 i = 0; i < uniform_group_elements<T>; ++i)
        out[i] = uniform_from_words<T>(words.data() + words_per_element<T> * i);
}

template <Real T>
void normal_tile(u64 seed, u64 stream, u64 first_block, T* out) {
    using P = simd::packet<T>;
    constexpr int pairs = static_cast<int>(normal_group_elements<T> / 2);
    constexpr int size = Eigen::internal::unpacket_traits<P>::size;
    constexpr int w = words_per_element<T>;
    static_assert(pairs % size == 0);
    alignas(64) std::array<u32, 4 * tile_blocks> words;
    philox_tile(seed, stream, first_block, words.data());
    alignas(64) std::array<T, pairs> u1, u2, z_cos, z_sin;
    for (int p = 0; p < pairs; ++p) {
        u1[p] = uniform_from_words<T>(words.data() + 2 * w * p);
        u2[p] = uniform_from_words<T>(words.data() + 2 * w * p + w);
    }
    for (int p = 0; p < pairs; p += size) {
        const auto z = box_muller(Eigen::internal::pload<P>(u1.data() + p), Eigen::internal::pload<P>(u2.data() + p));
        Eigen::internal::pstore(z_cos.data() + p, z.cos_part);
        Eigen::internal::pstore(z_sin.data() + p, z.sin_part);
    }
    for (int p = 0; p < pairs; ++p) {
        out[2 * p] = z_cos[p];
        out[2 * p + 1] = z_sin[p];
    }
}
#endif

}  // namespace detail

// out[i] = U(seed, stream, first_element + i): uniforms in the open interval (0, 1) with 23
// (float) or 52 (double) random bits and a half-step offset (docs/random.md).
template <Real T>
void fill_uniform(view<T> out, u64 seed, u64 stream, u64 first_element) {
#if defined(DIFFUSE_PHILOX_LANES)
    const auto keys = detail::word_lanes::schedule(seed, detail::philox_w0, detail::philox_w1);
    detail::fill_groups<detail::uniform_group_elements<T>>(out, first_element, [&](u64 first_block, T* destination) {
        detail::uniform_group(keys, stream, first_block, destination);
    });
#else
    detail::fill_groups<detail::uniform_group_elements<T>>(out, first_element, [&](u64 first_block, T* destination) {
        detail::uniform_tile(seed, stream, first_block, destination);
    });
#endif
}

// out[i] = Z(seed, stream, first_element + i): standard normals by Box-Muller from the uniforms
// of the same (seed, stream) (so do not use one stream for both uniforms and normals).
template <Real T>
void fill_normal(view<T> out, u64 seed, u64 stream, u64 first_element) {
#if defined(DIFFUSE_PHILOX_LANES)
    const auto keys = detail::word_lanes::schedule(seed, detail::philox_w0, detail::philox_w1);
    detail::fill_groups<detail::normal_group_elements<T>>(out, first_element, [&](u64 first_block, T* destination) {
        detail::normal_group(keys, stream, first_block, destination);
    });
#else
    detail::fill_groups<detail::normal_group_elements<T>>(out, first_element, [&](u64 first_block, T* destination) {
        detail::normal_tile(seed, stream, first_block, destination);
    });
#endif
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

#pragma GCC diagnostic pop
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
