// diffuse/core/detail/philox_lanes.hpp: Philox4x32-10 on x86 integer vectors, one block per
// 64-bit lane, and the shuffles that turn its words into float or double packets in element order.
//
// Each 64-bit lane holds one block: a counter word sits in the low half of the lane and the high
// half is ignored, because the 32x32->64 multiply (pmuludq: SSE2 _mm_mul_epu32, AVX2, AVX-512)
// reads only the low halves and returns the whole product in the lane. A round is then two
// multiplies, two shifts and two three-way xors per packet of blocks, with no shuffles:
//   p0 = m0 c0, p1 = m1 c2;  c0' = hi(p1) ^ c1 ^ k0, c1' = lo(p1), c2' = hi(p0) ^ c3 ^ k1, c3' = lo(p0).
//
// Lanes are assigned so that the final interleave (unpack low/high halves of each 128-bit lane of
// two packets) yields the elements in counter order: with n blocks per packet, lane 2i holds block
// i and lane 2i + 1 holds block n/2 + i.
//
// Only for the widest packet Eigen uses (AVX-512, AVX2, or SSE2 without AVX): the packets built
// here must be exactly the type the Box-Muller kernel runs on in that build (docs/random.md).
#pragma once

#include <Eigen/Core>

#include <array>
#include <bit>
#include <cstdint>

#include "diffuse/core/config.hpp"

#if defined(EIGEN_VECTORIZE_AVX512)
#define DIFFUSE_PHILOX_LANES 1
#elif defined(EIGEN_VECTORIZE_AVX2)
#define DIFFUSE_PHILOX_LANES 1
#elif defined(EIGEN_VECTORIZE_SSE2) && !defined(EIGEN_VECTORIZE_AVX)
#define DIFFUSE_PHILOX_LANES 1
#endif

#if defined(DIFFUSE_PHILOX_LANES)
#include <immintrin.h>

// The integer vector types carry alignment attributes that GCC warns about as template arguments.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace diffuse::random::detail::word_lanes {

using u32 = std::uint32_t;
using u64 = std::uint64_t;

#if defined(EIGEN_VECTORIZE_AVX512)
using words = __m512i;
inline words broadcast(u64 v) {
    return _mm512_set1_epi64(static_cast<long long>(v));
}
inline words block_offsets() {
    return _mm512_set_epi64(7, 3, 6, 2, 5, 1, 4, 0);
}
inline words add64(words a, words b) {
    return _mm512_add_epi64(a, b);
}
inline words mul_low_halves(words a, words b) {
    return _mm512_mul_epu32(a, b);
}
inline words high_half(words a) {
    return _mm512_srli_epi64(a, 32);
}
inline words xor3(words a, words b, words c) {
    return _mm512_ternarylogic_epi32(a, b, c, 0x96);
}
// Low half of every lane from `low`, high half from the low half of `high`.
inline words join(words low, words high) {
    return _mm512_mask_blend_epi32(__mmask16(0xAAAA), low, _mm512_slli_epi64(high, 32));
}
// The bits of 1 + m 2^-p from the top p bits m of each 32-bit (float) or 64-bit (double) lane.
inline words one_plus_float(words w) {
    return _mm512_or_si512(_mm512_srli_epi32(w, 9), _mm512_set1_epi32(0x3F800000));
}
inline words one_plus_double(words w) {
    return _mm512_or_si512(_mm512_srli_epi64(w, 12), _mm512_set1_epi64(0x3FF0000000000000ll));
}
// The bits of 2^52 + (the exponent field of the double in each 64-bit lane; its sign bit is 0).
inline words two_52_plus_exponent(words w) {
    return _mm512_or_si512(_mm512_srli_epi64(w, 52), _mm512_set1_epi64(0x4330000000000000ll));
}
// 32-bit lane arithmetic for the float angle (polar_from_words in random.hpp).
inline words add32(words a, u32 b) {
    return _mm512_add_epi32(a, _mm512_set1_epi32(static_cast<int>(b)));
}
template <int n>
inline words shift_left32(words a) {
    return _mm512_slli_epi32(a, n);
}
template <int n>
inline words shift_right_signed32(words a) {
    return _mm512_srai_epi32(a, n);
}
inline words or32(words a, u32 b) {
    return _mm512_or_si512(a, _mm512_set1_epi32(static_cast<int>(b)));
}
inline words and32(words a, u32 b) {
    return _mm512_and_si512(a, _mm512_set1_epi32(static_cast<int>(b)));
}
inline words bit_xor(words a, words b) {
    return _mm512_xor_si512(a, b);
}
inline __m512 to_float(words a) {
    return _mm512_cvtepi32_ps(a);
}
#elif defined(EIGEN_VECTORIZE_AVX2)
using words = __m256i;
inline words broadcast(u64 v) {
    return _mm256_set1_epi64x(static_cast<long long>(v));
}
inline words block_offsets() {
    return _mm256_set_epi64x(3, 1, 2, 0);
}
inline words add64(words a, words b) {
    return _mm256_add_epi64(a, b);
}
inline words mul_low_halves(words a, words b) {
    return _mm256_mul_epu32(a, b);
}
inline words high_half(words a) {
    return _mm256_srli_epi64(a, 32);
}
// b ^ c first: the key and the previous product are ready before a (the new product's high half).
inline words xor3(words a, words b, words c) {
    return _mm256_xor_si256(a, _mm256_xor_si256(b, c));
}
inline words join(words low, words high) {
    return _mm256_blend_epi32(low, _mm256_slli_epi64(high, 32), 0xAA);
}
inline words one_plus_float(words w) {
    return _mm256_or_si256(_mm256_srli_epi32(w, 9), _mm256_set1_epi32(0x3F800000));
}
inline words one_plus_double(words w) {
    return _mm256_or_si256(_mm256_srli_epi64(w, 12), _mm256_set1_epi64x(0x3FF0000000000000ll));
}
inline words two_52_plus_exponent(words w) {
    return _mm256_or_si256(_mm256_srli_epi64(w, 52), _mm256_set1_epi64x(0x4330000000000000ll));
}
inline words add32(words a, u32 b) {
    return _mm256_add_epi32(a, _mm256_set1_epi32(static_cast<int>(b)));
}
template <int n>
inline words shift_left32(words a) {
    return _mm256_slli_epi32(a, n);
}
template <int n>
inline words shift_right_signed32(words a) {
    return _mm256_srai_epi32(a, n);
}
inline words or32(words a, u32 b) {
    return _mm256_or_si256(a, _mm256_set1_epi32(static_cast<int>(b)));
}
inline words and32(words a, u32 b) {
    return _mm256_and_si256(a, _mm256_set1_epi32(static_cast<int>(b)));
}
inline words bit_xor(words a, words b) {
    return _mm256_xor_si256(a, b);
}
inline __m256 to_float(words a) {
    return _mm256_cvtepi32_ps(a);
}
#else
using words = __m128i;
inline words broadcast(u64 v) {
    return _mm_set1_epi64x(static_cast<long long>(v));
}
inline words block_offsets() {
    return _mm_set_epi64x(1, 0);
}
inline words add64(words a, words b) {
    return _mm_add_epi64(a, b);
}
inline words mul_low_halves(words a, words b) {
    return _mm_mul_epu32(a, b);
}
inline words high_half(words a) {
    return _mm_srli_epi64(a, 32);
}
inline words xor3(words a, words b, words c) {
    return _mm_xor_si128(_mm_xor_si128(a, b), c);
}
inline words join(words low, words high) {
    const words low_mask = _mm_set1_epi64x(0xFFFFFFFFll);
    return _mm_or_si128(_mm_and_si128(low, low_mask), _mm_slli_epi64(high, 32));
}
inline words one_plus_float(words w) {
    return _mm_or_si128(_mm_srli_epi32(w, 9), _mm_set1_epi32(0x3F800000));
}
inline words one_plus_double(words w) {
    return _mm_or_si128(_mm_srli_epi64(w, 12), _mm_set1_epi64x(0x3FF0000000000000ll));
}
inline words two_52_plus_exponent(words w) {
    return _mm_or_si128(_mm_srli_epi64(w, 52), _mm_set1_epi64x(0x4330000000000000ll));
}
inline words add32(words a, u32 b) {
    return _mm_add_epi32(a, _mm_set1_epi32(static_cast<int>(b)));
}
template <int n>
inline words shift_left32(words a) {
    return _mm_slli_epi32(a, n);
}
template <int n>
inline words shift_right_signed32(words a) {
    return _mm_srai_epi32(a, n);
}
inline words or32(words a, u32 b) {
    return _mm_or_si128(a, _mm_set1_epi32(static_cast<int>(b)));
}
inline words and32(words a, u32 b) {
    return _mm_and_si128(a, _mm_set1_epi32(static_cast<int>(b)));
}
inline words bit_xor(words a, words b) {
    return _mm_xor_si128(a, b);
}
inline __m128 to_float(words a) {
    return _mm_cvtepi32_ps(a);
}
#endif

// Blocks per packet (one per 64-bit lane).
inline constexpr int blocks = sizeof(words) / sizeof(u64);

// The round keys of a seed (key schedule of philox4x32_10), broadcast once per fill; the first
// two rounds' keys also as scalars, for the rounds philox() folds into constants.
struct round_keys {
    std::array<words, 10> k0, k1;
    std::array<u32, 2> first_k0, first_k1;
};
inline round_keys schedule(u64 seed, u32 w0, u32 w1) {
    round_keys keys;
    u32 k0 = static_cast<u32>(seed), k1 = static_cast<u32>(seed >> 32);
    for (std::size_t round = 0; round < keys.k0.size(); ++round) {
        if (round > 0) {
            k0 += w0;
            k1 += w1;
        }
        keys.k0[round] = broadcast(k0);
        keys.k1[round] = broadcast(k1);
        if (round < keys.first_k0.size()) {
            keys.first_k0[round] = k0;
            keys.first_k1[round] = k1;
        }
    }
    return keys;
}

// Packets of blocks computed together: the rounds of one packet are a chain of dependent
// multiplies, so several independent chains are interleaved to keep the multipliers busy.
// Measured on Zen 5 (docs/random.md): for the normal fills 6 with AVX-512's 32 registers and
// with AVX2's 16 (the state spills, but fewer chains leave the ports idle); for the uniform
// fills, Philox and a few instructions per packet, 6 with AVX-512 and 5 with AVX2 (3-7% faster
// than 6 or 4 there); 4 with SSE2 (not re-measured).
// The loops over a group's packets after Philox are unrolled fully with AVX-512; with 16
// registers, unrolling by 4 measured as fast and keeps the code smaller.
#if defined(EIGEN_VECTORIZE_AVX512)
inline constexpr int normal_packets = 6;
inline constexpr int uniform_packets = 6;
#define DIFFUSE_PHILOX_PACKET_UNROLL _Pragma("GCC unroll 8")
#elif defined(EIGEN_VECTORIZE_AVX2)
inline constexpr int normal_packets = 6;
inline constexpr int uniform_packets = 5;
#define DIFFUSE_PHILOX_PACKET_UNROLL _Pragma("GCC unroll 4")
#else
inline constexpr int normal_packets = 4;
inline constexpr int uniform_packets = 4;
#define DIFFUSE_PHILOX_PACKET_UNROLL _Pragma("GCC unroll 4")
#endif

// The four output words of packet j's blocks, first_block + j * blocks + (the lane's offset above),
// each word in the low half of its lane.
struct block_words {
    words c0, c1, c2, c3;
};
template <int packets>
using group_words = std::array<block_words, packets>;

// Rounds first_round, ..., 9 on every packet, packet by packet within a round.
template <std::size_t first_round, int packets>
DIFFUSE_ALWAYS_INLINE void philox_rounds(const round_keys& keys, group_words<packets>& c, u32 m0, u32 m1) {
    const words multiplier0 = broadcast(m0), multiplier1 = broadcast(m1);
#pragma GCC unroll 10
    for (std::size_t round = first_round; round < keys.k0.size(); ++round) {
        for (block_words& w : c) {
            const words p0 = mul_low_halves(w.c0, multiplier0);
            const words p1 = mul_low_halves(w.c2, multiplier1);
            w.c0 = xor3(high_half(p1), w.c1, keys.k0[round]);
            w.c1 = p1;
            w.c2 = xor3(high_half(p0), w.c3, keys.k1[round]);
            w.c3 = p0;
        }
    }
}

// Philox4x32-10 of a group's blocks (`packets` packets). Within one fill the counter words c2,
// c3 (the stream) are the same for every block, and so is c1 (the block index's high word)
// unless the group crosses a multiple of 2^32 blocks. Then, with c0 the only varying word:
//   round 0: c2 * m1 is one scalar product, so c0' and c1' are scalars; c2' = hi(c0 m0) ^ c3 ^ k1
//            and c3' = c0 m0, where c0 m0 = (low word of first_block + j blocks) m0 + offset m0
//            (the lane's block offset) exactly in 64 bits, one add per packet after the first;
//   round 1: c0' m0 is one scalar product, so c3'' is a scalar and c2'' = c3' ^ (a scalar); only
//            c2' m1 is a vector product.
// These are integer identities: the words are the same bits as the ten full rounds, which run on
// the groups that do cross (the fills' tests start groups on both sides of such a carry).
template <int packets>
DIFFUSE_ALWAYS_INLINE group_words<packets> philox(const round_keys& keys, u64 stream, u64 first_block, u32 m0, u32 m1) {
    constexpr u32 span = static_cast<u32>(packets * blocks);
    group_words<packets> c;
    const u32 low = static_cast<u32>(first_block);
    if (low > ~u32(0) - (span - 1)) [[unlikely]] {
        for (int j = 0; j < packets; ++j) {
            const words block_index = add64(broadcast(first_block + static_cast<u64>(j * blocks)), block_offsets());
            c[j] = {block_index, high_half(block_index), broadcast(static_cast<u32>(stream)), broadcast(stream >> 32)};
        }
        philox_rounds<0, packets>(keys, c, m0, m1);
        return c;
    }
    const u64 stream_product = u64{m1} * static_cast<u32>(stream);
    const u32 c0_round0 =
        static_cast<u32>(stream_product >> 32) ^ static_cast<u32>(first_block >> 32) ^ keys.first_k0[0];
    const u32 c1_round0 = static_cast<u32>(stream_product);
    const u64 c0_product = u64{m0} * c0_round0;
    const words c3_xor_key = broadcast(static_cast<u32>(stream >> 32) ^ keys.first_k1[0]);
    const words c1_xor_key = broadcast(c1_round0 ^ keys.first_k0[1]);
    const words c2_term = broadcast(static_cast<u32>(c0_product >> 32) ^ keys.first_k1[1]);
    const words c3_round1 = broadcast(static_cast<u32>(c0_product));
    const words multiplier1 = broadcast(m1);
    const words next_packet = broadcast(u64{m0} * blocks);
    words p0 = add64(broadcast(u64{m0} * low), mul_low_halves(block_offsets(), broadcast(m0)));
    for (block_words& w : c) {
        const words c2_round0 = bit_xor(high_half(p0), c3_xor_key);
        const words p1 = mul_low_halves(c2_round0, multiplier1);
        w = {bit_xor(high_half(p1), c1_xor_key), p1, bit_xor(p0, c2_term), c3_round1};
        p0 = add64(p0, next_packet);
    }
    philox_rounds<2, packets>(keys, c, m0, m1);
    return c;
}

// Reinterprets the words as the float or double packet of the same width.
template <class P>
P as_packet(words w) {
    static_assert(sizeof(P) == sizeof(words));
    return std::bit_cast<P>(w);
}
template <class P>
words as_words(P p) {
    return std::bit_cast<words>(p);
}

// Lanes 2i and 2i+1 of two packets of the same 128-bit lane interleaved (in 32-bit or 64-bit
// units), returned as the packet of the low lanes then the packet of the high lanes: elements in
// counter order, given the block-to-lane assignment above.
#if defined(EIGEN_VECTORIZE_AVX512)
// The hardware reciprocal square-root estimate Eigen's fast-math psqrt starts from.
inline __m512 rsqrt_estimate(__m512 x) {
    return _mm512_rsqrt14_ps(x);
}
inline __m512d rsqrt_estimate(__m512d x) {
    return _mm512_rsqrt14_pd(x);
}
// a where the sign bit of the lane's word in `mask` is set, else b.
inline __m512 select_by_sign(words mask, __m512 a, __m512 b) {
    return _mm512_mask_blend_ps(_mm512_cmplt_epi32_mask(mask, _mm512_setzero_si512()), b, a);
}
inline void interleave(__m512 a, __m512 b, float* out) {
    _mm512_storeu_ps(out, _mm512_unpacklo_ps(a, b));
    _mm512_storeu_ps(out + 16, _mm512_unpackhi_ps(a, b));
}
inline void interleave(__m512d a, __m512d b, double* out) {
    _mm512_storeu_pd(out, _mm512_unpacklo_pd(a, b));
    _mm512_storeu_pd(out + 8, _mm512_unpackhi_pd(a, b));
}
#elif defined(EIGEN_VECTORIZE_AVX2)
inline __m256 rsqrt_estimate(__m256 x) {
    return _mm256_rsqrt_ps(x);
}
inline __m256 select_by_sign(words mask, __m256 a, __m256 b) {
    return _mm256_blendv_ps(b, a, _mm256_castsi256_ps(mask));
}
inline void interleave(__m256 a, __m256 b, float* out) {
    _mm256_storeu_ps(out, _mm256_unpacklo_ps(a, b));
    _mm256_storeu_ps(out + 8, _mm256_unpackhi_ps(a, b));
}
inline void interleave(__m256d a, __m256d b, double* out) {
    _mm256_storeu_pd(out, _mm256_unpacklo_pd(a, b));
    _mm256_storeu_pd(out + 4, _mm256_unpackhi_pd(a, b));
}
#else
inline __m128 rsqrt_estimate(__m128 x) {
    return _mm_rsqrt_ps(x);
}
inline __m128 select_by_sign(words mask, __m128 a, __m128 b) {
#if defined(__SSE4_1__)
    return _mm_blendv_ps(b, a, _mm_castsi128_ps(mask));
#else
    const __m128 all = _mm_castsi128_ps(_mm_srai_epi32(mask, 31));
    return _mm_or_ps(_mm_and_ps(all, a), _mm_andnot_ps(all, b));
#endif
}
inline void interleave(__m128 a, __m128 b, float* out) {
    _mm_storeu_ps(out, _mm_unpacklo_ps(a, b));
    _mm_storeu_ps(out + 4, _mm_unpackhi_ps(a, b));
}
inline void interleave(__m128d a, __m128d b, double* out) {
    _mm_storeu_pd(out, _mm_unpacklo_pd(a, b));
    _mm_storeu_pd(out + 2, _mm_unpackhi_pd(a, b));
}
#endif

}  // namespace diffuse::random::detail::word_lanes

#pragma GCC diagnostic pop
#endif
