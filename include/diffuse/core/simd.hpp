// diffuse/core/simd.hpp: the one place that talks to packet math.
//
// Kernels here are written once, generically, on Eigen packets (Eigen::internal::p*), so the
// same code runs on AVX-512, AVX2/FMA, SSE2 and, when Eigen does not vectorize, on plain
// scalars (Eigen's generic p* fall back to scalar math). Every lane computes exactly the same
// operations whatever the packet width, so a scalar call (evaluated in a one-lane-used packet),
// an Eigen expression and an in-place sweep give bitwise identical results.
//
// Why our own exp/expm1/log1p instead of Eigen's or xsimd's: measured on this machine (see
// docs/activations.md) Eigen 3.4's float pexp and xsimd 8.1's exp flush results below
// ~1e-38 to a wrong value or zero, xsimd's double erf/erfc lose 68 ULP / 9e13 ULP, and Eigen
// has no vectorized double expm1/log1p/tanh/erf. The kernels below are faithful (about 1 ULP)
// over the whole range, denormal results and overflow edges included.
//
// Method (textbook; Muller, "Elementary Functions", 3rd ed., ch. 11): Cody-Waite argument
// reduction x = k ln2 + r with |r| <= ln2/2, a near-minimax polynomial on the reduced argument with
// enough terms that truncation is below 0.1 ULP, and an exact scaling by 2^k; float's exp
// reduces by ln2/16 instead and looks 2^(j/16) up in a 16-entry table (Tang's method), which
// shortens the polynomial to degree 4. Error-free transforms (Dekker/Knuth TwoProduct, TwoSum)
// carry arguments that must be exact.
#pragma once

#include <Eigen/Core>

#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "diffuse/core/config.hpp"

// Packet types (__m512 ...) carry alignment attributes that GCC warns about when they are used
// as template arguments; Eigen silences the same warning in its own headers. GCC 12 also
// reports '__Y is used uninitialized' inside its own avx512fintrin.h when the masked AVX-512
// intrinsics behind Eigen's pmin/pmax/pldexp are inlined here (the operand is
// _mm512_undefined_ps() by design).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace diffuse::simd {

namespace ei = Eigen::internal;

// Scalar type of a packet (float for Packet16f, float for float itself).
template <class P>
using scalar_of = typename ei::unpacket_traits<P>::type;

// The widest packet Eigen uses for T on the compile target.
template <Real T>
using packet = typename ei::packet_traits<T>::type;

namespace detail {
template <class P, bool = (int(ei::unpacket_traits<typename ei::unpacket_traits<P>::half>::size) <
                           int(ei::unpacket_traits<P>::size))>
struct narrowest {
    using type = P;
};
template <class P>
struct narrowest<P, true> {
    using type = typename narrowest<typename ei::unpacket_traits<P>::half>::type;
};
}  // namespace detail

// The narrowest packet for T (Packet4f on x86): used to evaluate one scalar with the very
// same lane arithmetic as the vector paths.
template <Real T>
using scalar_packet = typename detail::narrowest<packet<T>>::type;

template <class P>
DIFFUSE_ALWAYS_INLINE P constant(scalar_of<P> value) {
    return ei::pset1<P>(value);
}

// Evaluates a packet kernel on one scalar.
template <Real T, class Kernel>
T on_scalar(T x, const Kernel& kernel) {
    using P = scalar_packet<T>;
    return ei::pfirst(kernel(ei::pset1<P>(x)));
}

// ---- comparisons, selection, bit tricks ------------------------------------------------

template <class P>
DIFFUSE_ALWAYS_INLINE P select(const P& mask, const P& if_true, const P& if_false) {
    return ei::pselect(mask, if_true, if_false);
}
template <class P>
DIFFUSE_ALWAYS_INLINE P less(const P& a, const P& b) {
    return ei::pcmp_lt(a, b);
}
template <class P>
DIFFUSE_ALWAYS_INLINE P less_equal(const P& a, const P& b) {
    return ei::pcmp_le(a, b);
}
template <class P>
DIFFUSE_ALWAYS_INLINE P equal(const P& a, const P& b) {
    return ei::pcmp_eq(a, b);
}
template <class P>
DIFFUSE_ALWAYS_INLINE P is_nan(const P& a) {
    return ei::pandnot(ei::ptrue(a), ei::pcmp_eq(a, a));
}

// select(a < b, ...), select(a <= b, ...), select(a == b, ...) (false where either is NaN) in
// one step. On AVX-512 the compare writes a mask register that the blend reads; Eigen's pcmp_*
// return the mask as a vector and pselect turns it back into a mask register, two more
// instructions on the dependency chain (docs/DESIGN.md: a compare-and-select costs more than
// its instructions on AVX-512). Elsewhere the compare's vector is the blend's operand anyway.
template <class P>
DIFFUSE_ALWAYS_INLINE P select_less(const P& a, const P& b, const P& if_true, const P& if_false) {
    return select(less(a, b), if_true, if_false);
}
template <class P>
DIFFUSE_ALWAYS_INLINE P select_less_equal(const P& a, const P& b, const P& if_true, const P& if_false) {
    return select(less_equal(a, b), if_true, if_false);
}
template <class P>
DIFFUSE_ALWAYS_INLINE P select_equal(const P& a, const P& b, const P& if_true, const P& if_false) {
    return select(equal(a, b), if_true, if_false);
}
#if defined(EIGEN_VECTORIZE_AVX512)
namespace detail {
template <int Predicate>
DIFFUSE_ALWAYS_INLINE ei::Packet16f select_by(const ei::Packet16f& a, const ei::Packet16f& b,
                                              const ei::Packet16f& if_true, const ei::Packet16f& if_false) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, Predicate), if_false, if_true);
}
template <int Predicate>
DIFFUSE_ALWAYS_INLINE ei::Packet8d select_by(const ei::Packet8d& a, const ei::Packet8d& b, const ei::Packet8d& if_true,
                                             const ei::Packet8d& if_false) {
    return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(a, b, Predicate), if_false, if_true);
}
}  // namespace detail
template <class P>
requires std::is_same_v<P, ei::Packet16f> || std::is_same_v<P, ei::Packet8d> DIFFUSE_ALWAYS_INLINE P
select_less(const P& a, const P& b, const P& if_true, const P& if_false) {
    return detail::select_by<_CMP_LT_OQ>(a, b, if_true, if_false);
}
template <class P>
requires std::is_same_v<P, ei::Packet16f> || std::is_same_v<P, ei::Packet8d> DIFFUSE_ALWAYS_INLINE P
select_less_equal(const P& a, const P& b, const P& if_true, const P& if_false) {
    return detail::select_by<_CMP_LE_OQ>(a, b, if_true, if_false);
}
template <class P>
requires std::is_same_v<P, ei::Packet16f> || std::is_same_v<P, ei::Packet8d> DIFFUSE_ALWAYS_INLINE P
select_equal(const P& a, const P& b, const P& if_true, const P& if_false) {
    return detail::select_by<_CMP_EQ_OQ>(a, b, if_true, if_false);
}
#endif

// Whether lo <= x < hi in every lane (not where x is NaN): the test before a branch to a kernel
// that serves only that range. On AVX-512 two compares into one mask register and a test.
template <class P>
DIFFUSE_ALWAYS_INLINE bool all_within(const P& x, const P& lo, const P& hi) {
    return !ei::predux_any(ei::pandnot(ei::ptrue(x), ei::pand(less_equal(lo, x), less(x, hi))));
}
#if defined(EIGEN_VECTORIZE_AVX512)
DIFFUSE_ALWAYS_INLINE bool all_within(const ei::Packet16f& x, const ei::Packet16f& lo, const ei::Packet16f& hi) {
    return _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(lo, x, _CMP_LE_OQ), x, hi, _CMP_LT_OQ) == 0xFFFF;
}
#endif

// min/max that return NaN when either operand is NaN (the IEEE-754 2019 minimum/maximum),
// so that clamping an argument never hides a NaN input.
template <class P>
DIFFUSE_ALWAYS_INLINE P min_nan(const P& a, const P& b) {
    return ei::pmin<Eigen::PropagateNaN>(a, b);
}
template <class P>
DIFFUSE_ALWAYS_INLINE P max_nan(const P& a, const P& b) {
    return ei::pmax<Eigen::PropagateNaN>(a, b);
}
// Clamp to constant bounds, NaN kept. Eigen's plain pmin/pmax return their first operand when
// either is NaN (std::min/std::max semantics, one instruction on x86), so with the bounds
// second only x can be the NaN, and it passes through.
template <class P>
DIFFUSE_ALWAYS_INLINE P clamp_nan(const P& x, scalar_of<P> lo, scalar_of<P> hi) {
    return ei::pmin(ei::pmax(x, constant<P>(lo)), constant<P>(hi));
}

// r, except NaN where x is NaN (derivatives of piecewise functions propagate NaN too).
template <class P>
DIFFUSE_ALWAYS_INLINE P keep_nan(const P& x, const P& r) {
    return select(is_nan(x), x, r);
}

// |x| and the sign bit of x (as a packet holding only that bit: -0.0 or +0.0).
template <class P>
DIFFUSE_ALWAYS_INLINE P abs(const P& x) {
    return ei::pabs(x);
}
template <class P>
DIFFUSE_ALWAYS_INLINE P sign_bit(const P& x) {
    return ei::pand(x, constant<P>(scalar_of<P>(-0.0)));
}
// -|x| in one bit operation (the sign bit set), not an and and a subtraction.
template <class P>
DIFFUSE_ALWAYS_INLINE P minus_abs(const P& x) {
    return ei::por(x, constant<P>(scalar_of<P>(-0.0)));
}
// max(x, 0), NaN where x is NaN: Eigen's pmax returns its first operand then, in one
// instruction (max_nan, NaN from either side, is a compare and a select more).
template <class P>
DIFFUSE_ALWAYS_INLINE P positive_part(const P& x) {
    return ei::pmax(x, ei::pzero(x));
}
// magnitude (>= 0) with the sign of `sign`: keeps tanh(-0) = -0.
template <class P>
DIFFUSE_ALWAYS_INLINE P with_sign_of(const P& magnitude, const P& sign) {
    return ei::por(magnitude, sign_bit(sign));
}

// ---- scaling by a power of two --------------------------------------------------------

namespace detail {
// Only the packet types below have a one-instruction scaling.
template <class P>
P scalef(const P& a, const P& k) = delete;
#if defined(EIGEN_VECTORIZE_AVX512)
// AVX-512's vscalef computes a * 2^floor(k) in one instruction over the whole range: overflow
// gives inf, a denormal result is rounded once, NaN propagates.
inline ei::Packet16f scalef(const ei::Packet16f& a, const ei::Packet16f& k) {
    return _mm512_scalef_ps(a, k);
}
inline ei::Packet8d scalef(const ei::Packet8d& a, const ei::Packet8d& k) {
    return _mm512_scalef_pd(a, k);
}
#if defined(__AVX512VL__)
inline ei::Packet8f scalef(const ei::Packet8f& a, const ei::Packet8f& k) {
    return _mm256_scalef_ps(a, k);
}
inline ei::Packet4d scalef(const ei::Packet4d& a, const ei::Packet4d& k) {
    return _mm256_scalef_pd(a, k);
}
inline ei::Packet4f scalef(const ei::Packet4f& a, const ei::Packet4f& k) {
    return _mm_scalef_ps(a, k);
}
inline ei::Packet2d scalef(const ei::Packet2d& a, const ei::Packet2d& k) {
    return _mm_scalef_pd(a, k);
}
#endif
#endif
}  // namespace detail

// a * 2^k for integral k held in a floating packet, over the whole range (overflow to inf, a
// denormal result rounded once, NaN propagated). Eigen's pldexp gets there by splitting 2^k
// into four factors, about a dozen instructions; this uses, in order of preference:
//   - vscalef (AVX-512), one instruction;
//   - for float packets with an integer counterpart (SSE, AVX2): when every lane's 2^k is a
//     normal number (the common case in activations, checked with one compare-and-test),
//     a single multiply by 2^k built in the exponent bits; otherwise pldexp;
//   - pldexp.
// All three give the same result wherever 2^k is normal (one exact or once-rounded product).
template <class P>
DIFFUSE_ALWAYS_INLINE P ldexp(const P& a, const P& k) {
    using T = scalar_of<P>;
    if constexpr (requires { detail::scalef(a, k); }) {
        return detail::scalef(a, k);
    } else if constexpr (!std::is_same_v<P, T> && std::is_same_v<T, float> &&
                         requires { typename ei::unpacket_traits<P>::integer_packet; }) {
        using PI = typename ei::unpacket_traits<P>::integer_packet;
        constexpr int mantissa_bits = std::numeric_limits<T>::digits - 1;
        constexpr int bias = std::numeric_limits<T>::max_exponent - 1;
        const P in_range = ei::pand(less_equal(constant<P>(T(1 - bias)), k), less_equal(k, constant<P>(T(bias))));
        if (ei::predux_any(ei::pandnot(ei::ptrue(k), in_range))) return ei::pldexp(a, k);
        const PI biased = ei::padd(ei::pcast<P, PI>(k), ei::pset1<PI>(bias));
        return ei::pmul(a, ei::preinterpret<P>(ei::plogical_shift_left<mantissa_bits>(biased)));
    } else if constexpr (std::is_same_v<P, T>) {
        // One scalar (a build without vectorization): Eigen's scalar pldexp converts k to int,
        // undefined for a NaN k (a NaN input; the result is NaN) and for |k| beyond int; past
        // 2^12 every a * 2^k has overflowed or underflowed already.
        if (std::isnan(k)) return k;
        return std::ldexp(a, static_cast<int>(std::fmin(std::fmax(k, T(-4096)), T(4096))));
    } else {
        return ei::pldexp(a, k);
    }
}

// ---- exact arithmetic ------------------------------------------------------------------

// Fused multiply-add a*b + c rounded once. Exact-product algorithms below rely on it, so on a
// target without hardware FMA the vector path uses Dekker's splitting instead (two_product).
template <class P>
DIFFUSE_ALWAYS_INLINE P fma(const P& a, const P& b, const P& c) {
    if constexpr (std::is_same_v<P, scalar_of<P>>) {
        return std::fma(a, b, c);
    } else {
        return ei::pmadd(a, b, c);
    }
}

// -x as a sign flip. Eigen's pnegate is 0 - x, which the compiler may not fold into a fused
// multiply-subtract (0 - x and -x differ for x = +0); the vector extensions' unary minus it
// folds: two_product's error term fma(a, b, -hi) becomes one vfmsub instead of a subtraction
// and an fma.
template <class P>
DIFFUSE_ALWAYS_INLINE P negate(const P& x) {
    if constexpr (requires { -x; }) return -x;
    else return ei::pnegate(x);
}

// An unevaluated sum hi + lo with |lo| <= ulp(hi)/2 (a "double-word" number).
template <class P>
struct double_word {
    P hi;
    P lo;
};

// TwoProduct: a*b = hi + lo exactly (Dekker 1971; with FMA, Kahan).
template <class P>
DIFFUSE_ALWAYS_INLINE double_word<P> two_product(const P& a, const P& b) {
#if defined(EIGEN_VECTORIZE_FMA) || !defined(EIGEN_VECTORIZE)
    // hi as fma(a, b, -0) (the same rounded product, sign of zero included) rather than a
    // multiply: the compiler may contract a plain multiply into a later add (-ffp-contract=fast,
    // GCC's default), which would use the unrounded a*b there and break hi + lo = a*b in
    // callers such as two_sum(c, hi), differently in differently inlined copies.
    const P hi = fma(a, b, constant<P>(scalar_of<P>(-0.0)));
    return {hi, fma(a, b, negate(hi))};
#else
    const P hi = ei::pmul(a, b);
    // Veltkamp split into halves whose products are exact.
    using T = scalar_of<P>;
    const P splitter = constant<P>(T((1ull << ((std::numeric_limits<T>::digits + 1) / 2)) + 1));
    auto split = [&](const P& v) {
        const P c = ei::pmul(splitter, v);
        const P high = ei::psub(c, ei::psub(c, v));
        return double_word<P>{high, ei::psub(v, high)};
    };
    const auto [ah, al] = split(a);
    const auto [bh, bl] = split(b);
    P err = ei::psub(ei::pmul(ah, bh), hi);
    err = ei::padd(err, ei::pmul(ah, bl));
    err = ei::padd(err, ei::pmul(al, bh));
    err = ei::padd(err, ei::pmul(al, bl));
    // The split overflows for |v| above max / 2^(digits/2) and gives NaN: there the product is
    // left rounded once (lo = 0) rather than poisoning the caller.
    return {hi, select(is_nan(err), ei::pzero(err), err)};
#endif
}

// c - a*b for a product that nearly cancels c (the remainder of a division c / b = a): exact,
// with a hardware fma in one instruction, without one through TwoProduct (c - hi is then exact).
template <class P>
DIFFUSE_ALWAYS_INLINE P remainder_of(const P& c, const P& a, const P& b) {
#if defined(EIGEN_VECTORIZE_FMA) || !defined(EIGEN_VECTORIZE)
    return fma(negate(a), b, c);
#else
    const auto [hi, lo] = two_product(a, b);
    return ei::psub(ei::psub(c, hi), lo);
#endif
}

// TwoSum: a + b = hi + lo exactly (Knuth), for any magnitudes.
template <class P>
DIFFUSE_ALWAYS_INLINE double_word<P> two_sum(const P& a, const P& b) {
    const P hi = ei::padd(a, b);
    const P b_part = ei::psub(hi, a);
    const P a_part = ei::psub(hi, b_part);
    return {hi, ei::padd(ei::psub(a, a_part), ei::psub(b, b_part))};
}

// A constant c = hi + lo to twice the working precision, from a long double expression.
template <Real T>
struct exact_constant {
    T hi;
    T lo;
    constexpr explicit exact_constant(long double value)
        : hi(static_cast<T>(value)), lo(static_cast<T>(value - static_cast<long double>(static_cast<T>(value)))) {}
};

// c * x as hi + lo, to about twice the working precision (c given as hi + lo).
template <class P>
DIFFUSE_ALWAYS_INLINE double_word<P> times(const exact_constant<scalar_of<P>>& c, const P& x) {
    const auto [hi, lo] = two_product(constant<P>(c.hi), x);
    return {hi, fma(constant<P>(c.lo), x, lo)};
}

// ---- polynomials -----------------------------------------------------------------------

// Horner evaluation of c[0] + c[1] x + ... + c[N-1] x^(N-1).
template <class P, std::size_t N>
DIFFUSE_ALWAYS_INLINE P polynomial(const P& x, const std::array<scalar_of<P>, N>& c) {
    P sum = constant<P>(c[N - 1]);
    for (std::size_t i = N - 1; i-- > 0;) sum = fma(sum, x, constant<P>(c[i]));
    return sum;
}

namespace detail {

// Taylor coefficients 2/(2n+3), n = 0..N-1, of (2 atanh(s) - 2s) / s^3 in powers of s^2.
template <Real T, std::size_t N>
constexpr std::array<T, N> atanh_series() {
    std::array<T, N> c{};
    for (std::size_t n = 0; n < N; ++n) c[n] = static_cast<T>(2.0L / (2.0L * static_cast<long double>(n) + 3.0L));
    return c;
}

inline constexpr long double ln2 = 0.693147180559945309417232121458176568L;
inline constexpr long double log2e = 1.44269504088896340735992468100189214L;

// (exp(r) - 1 - r) / r^2 on |r| <= ln2/2 as a polynomial in r: the Chebyshev interpolant of
// degree 5 (float) / 10 (double), fitted by tools/fit_exp_polynomial.py; 1 + r + r^2 g(r) is
// then within 2^-30.5 / 2^-61.3 of exp(r) (relative) with the coefficients rounded to T. The
// Taylor series needs two / three more terms for as much.
inline constexpr std::array<long double, 6> expm1_tail_float = {
    0.5000000013462217499656L,   0.1666666671900771339208L,   0.04166646497612752884565L,
    0.008333298480356208850375L, 0.001393364352248794247964L, 0.0001989927622238488660964L};
inline constexpr std::array<long double, 11> expm1_tail_double = {
    0.4999999999999999999832L,     0.1666666666666667098684L,      0.04166666666666667676467L,
    0.008333333333326140322965L,   0.001388888888887908126047L,    0.0001984126987480217347212L,
    0.00002480158733642268478423L, 0.000002755725542387984164961L, 2.755726330017861774456e-7L,
    2.510520706464423844193e-8L,   2.09181298866095210072e-9L};

template <Real T, std::size_t N>
constexpr std::array<T, N> rounded_to(const std::array<long double, N>& c) {
    std::array<T, N> r{};
    for (std::size_t i = 0; i < N; ++i) r[i] = static_cast<T>(c[i]);
    return r;
}

// The coefficient table for T (float or double), rounded to T.
template <Real T, std::size_t NF, std::size_t ND>
constexpr auto table_for(const std::array<long double, NF>& for_float, const std::array<long double, ND>& for_double) {
    if constexpr (std::is_same_v<T, float>) return rounded_to<T>(for_float);
    else return rounded_to<T>(for_double);
}

template <Real T>
inline constexpr auto expm1_tail = table_for<T>(expm1_tail_float, expm1_tail_double);

// The same fit of degree 4 in float (tools/fit_exp_polynomial.py; 1 + r + r^2 g(r) within
// 2^-26.5 of exp(r)): the AVX2 short exponential's, one fused multiply-add fewer.
inline constexpr std::array<float, 5> expm1_tail_short = rounded_to<float>(
    std::array<long double, 5>{0.5000000013462217499656L, 0.1666657700316028123927L, 0.04166646497612752884565L,
                               0.008363175565468195164732L, 0.001393364352248794247964L});

// exp(r) / 2 = 1/2 + r/2 + r^2 g(r)/2 by Horner's rule on the halved coefficients (exact):
// one fused multiply-add fewer than forming expm1(r) first, and the same two last roundings.
template <Real T, std::size_t N>
constexpr std::array<T, N + 2> halved_exp(const std::array<T, N>& tail) {
    std::array<T, N + 2> c{};
    c[0] = c[1] = T(0.5);
    for (std::size_t i = 0; i < N; ++i) c[i + 2] = tail[i] / 2;
    return c;
}
template <Real T>
inline constexpr auto half_exp = halved_exp(expm1_tail<T>);
inline constexpr auto half_exp_short = halved_exp(expm1_tail_short);

template <Real T>
inline constexpr exact_constant<T> ln2_split{ln2};

// ln2 = ln2_short_hi + ln2_short_lo with ln2_short_hi short enough that k*ln2_short_hi/Steps is
// exact for every k of the clamped range (|k| <= 279 Steps: 2^9 Steps for float, 2^12 Steps for
// double, since the clamp is at about 279 ln2 / 2100 ln2).
template <Real T, int Steps>
inline constexpr int ln2_short_bits = std::numeric_limits<T>::digits -
                                      (std::is_same_v<T, float> ? 9 : 12) - std::bit_width(unsigned(Steps)) + 1;
template <Real T, int Steps>
inline constexpr T ln2_short_hi =
    static_cast<T>(static_cast<long double>(static_cast<long long>(ln2*(1ll << ln2_short_bits<T, Steps>))) /
                   static_cast<long double>(1ll << ln2_short_bits<T, Steps>));
template <Real T, int Steps>
inline constexpr T ln2_short_lo = static_cast<T>(ln2 - static_cast<long double>(ln2_short_hi<T, Steps>));

// r = x - k ln2/Steps for an integral k (held as a float) of the clamped range; Steps a power of
// two, so that ln2/Steps is ln2's split scaled exactly. In two parts: r_hi = x - k ln2_hi/Steps,
// then r = r_hi - k ln2_lo/Steps (the AVX2 short exponential uses r_hi on its own too).
// With FMA, ln2 is to twice the precision and the fma forms k*ln2_hi exactly, so r carries
// one rounding relative to its own (small) size. Without hardware FMA (Eigen's pmadd is then a
// multiply and an add) the product k*ln2_hi must be exact by itself: Cody and Waite's split,
// ln2_hi short enough for every k the clamped arguments give; x - k*ln2_hi is then exact too
// (Sterbenz).
inline constexpr bool ln2_steps_fused =
#if defined(EIGEN_VECTORIZE_FMA) || !defined(EIGEN_VECTORIZE)
    true;
#else
    false;
#endif
// x - k ln2_hi/Steps (Low = false) or x - k ln2_lo/Steps (Low = true).
template <int Steps, bool Low, class P>
DIFFUSE_ALWAYS_INLINE P minus_ln2_steps_part(const P& x, const P& k) {
    using T = scalar_of<P>;
    constexpr T step = T(1) / T(Steps);
    if constexpr (ln2_steps_fused) return fma(k, constant<P>(-(Low ? ln2_split<T>.lo : ln2_split<T>.hi) * step), x);
    else return ei::psub(x, ei::pmul(k, constant<P>((Low ? ln2_short_lo<T, Steps> : ln2_short_hi<T, Steps>)*step)));
}
template <int Steps, class P>
DIFFUSE_ALWAYS_INLINE P remainder_of_ln2_steps(const P& x, const P& k) {
    return minus_ln2_steps_part<Steps, true>(minus_ln2_steps_part<Steps, false>(x, k), k);
}

// The reduction x = k ln2 + r; returns k (integral, as a float) and r.
template <class P>
DIFFUSE_ALWAYS_INLINE double_word<P> reduce_ln2(const P& x) {
    using T = scalar_of<P>;
    const P k = ei::print(ei::pmul(x, constant<P>(T(log2e))));
    return {k, remainder_of_ln2_steps<1>(x, k)};
}

// Arguments beyond which exp overflows, and beyond which even max() * exp(x) underflows.
template <Real T>
inline constexpr T exp_lowest = static_cast<T>((std::numeric_limits<T>::min_exponent - std::numeric_limits<T>::digits -
                                                std::numeric_limits<T>::max_exponent - 2) *
                                               ln2);
template <Real T>
inline constexpr T exp_highest = static_cast<T>((std::numeric_limits<T>::max_exponent + 1) * ln2);

}  // namespace detail

// exp(x + x_lo) (x_lo a correction with |x_lo| <= ulp(x)) held as 2^k * mantissa before the
// final scaling, so that a product m * exp(x) is formed on the mantissa and rounded once when
// it lands in the denormal range (times), and does not overflow early for large m (the
// mantissa is kept halved, below 1: in [0.35, 0.71] for double, [0.48, 0.99] for float).
// NaN propagates; overflow gives inf, underflow +0 (the lower clamp is low enough that
// |m| * exp(x) underflows for every finite m). Only simd::ldexp reads `exponent`: on
// AVX-512 it may be fractional (vscalef floors it), elsewhere it is an integer.
template <class P>
struct scaled_exp {
    P half_mantissa;  // exp(r) / 2 (double), 2^(j/16) exp(r) / 2 (float)
    P exponent;       // power of two: k + 1 (double), floor(k/16) + 1 (float)
    DIFFUSE_ALWAYS_INLINE P value() const { return simd::ldexp(half_mantissa, exponent); }
    DIFFUSE_ALWAYS_INLINE P times(const P& m) const { return simd::ldexp(ei::pmul(m, half_mantissa), exponent); }
    // exp * (m + m_lo), the product rounded once before the scaling.
    DIFFUSE_ALWAYS_INLINE P times(const P& m, const P& m_lo) const {
        return simd::ldexp(fma(m, half_mantissa, ei::pmul(m_lo, half_mantissa)), exponent);
    }
};

namespace detail {
// ---- the table-driven float exponential (P. T. P. Tang, ACM TOMS 15(2), 1989; 16 entries here) ----

// sqrt(a) for a in [1, 2] by Newton's iteration, in long double, at compile time.
constexpr long double sqrt_newton(long double a) {
    long double y = 1;
    for (int i = 0; i < 8; ++i) y = (y + a / y) / 2;
    return y;
}

// 2^(j/16)/2 for j = 0..15 rounded to float, and the rounding's relative error
// (2^(j/16)/2 = half_power[j] (1 + correction[j])), from long double products of the chain
// 2^(1/2), 2^(1/4), 2^(1/8), 2^(1/16) (within 2^-60; tests/test_activations_accuracy.cpp
// checks them against exp2l).
struct exp2_sixteenths_table {
    alignas(64) std::array<float, 16> half_power{};
    alignas(64) std::array<float, 16> correction{};
};
inline constexpr exp2_sixteenths_table exp2_sixteenths = [] {
    exp2_sixteenths_table t;
    std::array<long double, 4> root{};  // 2^(1/16), 2^(1/8), 2^(1/4), 2^(1/2)
    root[3] = sqrt_newton(2.0L);
    for (int i = 3; i-- > 0;) root[static_cast<std::size_t>(i)] = sqrt_newton(root[static_cast<std::size_t>(i) + 1]);
    for (std::size_t j = 0; j < 16; ++j) {
        long double power = 1;
        for (std::size_t bit = 0; bit < 4; ++bit)
            if (j & (std::size_t{1} << bit)) power *= root[bit];
        const float rounded = static_cast<float>(power);
        t.half_power[j] = rounded / 2;
        t.correction[j] =
            static_cast<float>((power - static_cast<long double>(rounded)) / static_cast<long double>(rounded));
    }
    return t;
}();

// table[(bits >> Shift) & (Entries - 1)] in every lane, bits the lane's bit pattern, one lane
// at a time: the lookups below for packets without a permute that wide, and for plain float.
template <int Shift, std::uint32_t Entries, class P>
DIFFUSE_ALWAYS_INLINE P lookup_by_lanes(const float* table, const P& x) {
    auto entry = [&](float lane) { return table[(std::bit_cast<std::uint32_t>(lane) >> Shift) & (Entries - 1)]; };
    if constexpr (std::is_same_v<P, float>) {
        return entry(x);
    } else {
        constexpr int n = ei::unpacket_traits<P>::size;
        float lanes[n];
        float entries[n];
        ei::pstoreu(lanes, x);
        for (int i = 0; i < n; ++i) entries[i] = entry(lanes[i]);
        return ei::ploadu<P>(entries);
    }
}

// table[j] in every lane, j the low four bits of the lane's bit pattern: one permute on
// AVX-512 (16 floats in one register), a two-source permute with AVX-512VL or two permutes and
// a blend on AVX2 for 8 lanes, a lane-by-lane lookup otherwise (the same entries, so the
// same bits).
template <class P>
DIFFUSE_ALWAYS_INLINE P lookup16(const float* table, const P& index_bits) {
    return lookup_by_lanes<0, 16>(table, index_bits);
}
#if defined(EIGEN_VECTORIZE_AVX512)
DIFFUSE_ALWAYS_INLINE ei::Packet16f lookup16(const float* table, const ei::Packet16f& index_bits) {
    return _mm512_permutexvar_ps(_mm512_castps_si512(index_bits), _mm512_loadu_ps(table));
}
#endif
#if defined(EIGEN_VECTORIZE_AVX512) && defined(__AVX512VL__)
DIFFUSE_ALWAYS_INLINE ei::Packet8f lookup16(const float* table, const ei::Packet8f& index_bits) {
    return _mm256_permutex2var_ps(_mm256_loadu_ps(table), _mm256_castps_si256(index_bits), _mm256_loadu_ps(table + 8));
}
#elif defined(EIGEN_VECTORIZE_AVX2)
DIFFUSE_ALWAYS_INLINE ei::Packet8f lookup16(const float* table, const ei::Packet8f& index_bits) {
    const __m256i index = _mm256_castps_si256(index_bits);
    const __m256 low = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table), index);
    const __m256 high = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table + 8), index);
    return _mm256_blendv_ps(low, high, _mm256_castsi256_ps(_mm256_slli_epi32(index, 28)));  // bit 3 picks
}
#endif

// table[(bits >> Shift) & 31] in every lane, bits the lane's bit pattern: one two-source
// permute on AVX-512 (32 floats in two registers), a lane-by-lane lookup otherwise.
template <int Shift, class P>
DIFFUSE_ALWAYS_INLINE P lookup32(const float* table, const P& x) {
    return lookup_by_lanes<Shift, 32>(table, x);
}
#if defined(EIGEN_VECTORIZE_AVX512)
template <int Shift>
DIFFUSE_ALWAYS_INLINE ei::Packet16f lookup32(const float* table, const ei::Packet16f& x) {
    return _mm512_permutex2var_ps(_mm512_loadu_ps(table), _mm512_srli_epi32(_mm512_castps_si512(x), Shift),
                                  _mm512_loadu_ps(table + 16));
}
#endif

// k as the power of two ldexp applies: vscalef floors its exponent itself, the other paths
// need an integer.
template <class P>
DIFFUSE_ALWAYS_INLINE P floor_for_ldexp(const P& k) {
    if constexpr (requires { scalef(k, k); }) return k;
    else return ei::pfloor(k);
}

// r + x_lo for a correction that may be absent (an empty pack).
template <class P, class... Correction>
DIFFUSE_ALWAYS_INLINE P plus_correction(const P& r, const Correction&... x_lo) {
    if constexpr (sizeof...(x_lo) == 0) return r;
    else return ei::padd(r, x_lo...);
}

// exp from the reduction x = k ln2/16 + r of exp_by_table below (shifted = k + 1.5 * 2^23).
template <class P>
DIFFUSE_ALWAYS_INLINE scaled_exp<P> exp_from_sixteenths(const P& shifted, const P& k, const P& r) {
    const P entry = lookup16(exp2_sixteenths.half_power.data(), shifted);
    const P entry_error = lookup16(exp2_sixteenths.correction.data(), shifted);
    // exp(r) - 1 = r q(r), q Taylor's 1 + r/2 + r^2/6 + r^3/24. entry (1 + entry_error)(1 + r q)
    // is entry + entry (r q + entry_error) up to entry_error r q, below 2^-30.
    const P q = polynomial(r, std::array<float, 4>{1.0f, 0.5f, 1.0f / 6, 1.0f / 24});
    const P half_mantissa = fma(entry, fma(q, r, entry_error), entry);
    // 2^(j/16)/2 exp(r) 2^(m + 1), m = floor(k/16) (k/16 + 1 is exact).
    return {half_mantissa, floor_for_ldexp(fma(k, constant<P>(1.0f / 16), constant<P>(1.0f)))};
}

// exp(x + x_lo) for float, x within the clamp: x = (16m + j) ln2/16 + r with |r| <= ln2/32,
// exp(x) = 2^m 2^(j/16) exp(r). The 16-entry table replaces the degree-7 polynomial the
// reduction by ln2 alone needs by a degree-4 one (truncation r^5/120 < 2^-34.5), and the
// entry's rounding error is folded into the polynomial's last fma, so the result carries the
// same few roundings (0.76 ULP at most over every float, docs/activations.md).
template <class P, class... Correction>
DIFFUSE_ALWAYS_INLINE scaled_exp<P> exp_by_table(const P& x, const Correction&... x_lo) {
    // Adding 1.5 * 2^23 rounds 16x/ln2 to the integer k = 16m + j and leaves k's low four bits,
    // j, in the sum's low mantissa bits (|k| <= 4464, far below 2^22).
    const P shifter = constant<P>(0x1.8p23f);
    const P shifted = fma(x, constant<P>(static_cast<float>(16 * log2e)), shifter);
    const P k = ei::psub(shifted, shifter);
    return exp_from_sixteenths(shifted, k, plus_correction(remainder_of_ln2_steps<16>(x, k), x_lo...));
}

// exp(xc + x_lo) for xc within the clamp, with or without the correction x_lo (the argument
// pack holds none or one): a caller whose argument is exact saves the correction's select and
// add rather than adding a zero.
template <class P, class... Correction>
DIFFUSE_ALWAYS_INLINE scaled_exp<P> exp_of_clamped(const P& xc, const Correction&... x_lo) {
    using T = scalar_of<P>;
    if constexpr (std::is_same_v<T, float>) {
        return exp_by_table(xc, x_lo...);
    } else {
        const auto [k, r] = reduce_ln2(xc);
        return {polynomial(plus_correction(r, x_lo...), half_exp<T>), ei::padd(k, constant<P>(T(1)))};
    }
}
}  // namespace detail

template <class P>
DIFFUSE_ALWAYS_INLINE scaled_exp<P> exp_scaled(const P& x, const P& x_lo) {
    using T = scalar_of<P>;
    const P xc = clamp_nan(x, detail::exp_lowest<T>, detail::exp_highest<T>);
    // Where x was clamped, its correction is meaningless (it may even be NaN, from inf - inf).
    return detail::exp_of_clamped(xc, select_equal(xc, x, x_lo, ei::pzero(x)));
}
template <class P>
DIFFUSE_ALWAYS_INLINE scaled_exp<P> exp_scaled(const P& x) {
    using T = scalar_of<P>;
    return detail::exp_of_clamped(clamp_nan(x, detail::exp_lowest<T>, detail::exp_highest<T>));
}
// The same for x <= 0 (or NaN), the -|w| of the logistic family: only the lower clamp.
template <class P>
DIFFUSE_ALWAYS_INLINE scaled_exp<P> exp_scaled_non_positive(const P& x, const P& x_lo) {
    const P xc = ei::pmax(x, constant<P>(detail::exp_lowest<scalar_of<P>>));
    return detail::exp_of_clamped(xc, select_equal(xc, x, x_lo, ei::pzero(x)));
}
template <class P>
DIFFUSE_ALWAYS_INLINE scaled_exp<P> exp_scaled_non_positive(const P& x) {
    return detail::exp_of_clamped(ei::pmax(x, constant<P>(detail::exp_lowest<scalar_of<P>>)));
}

// exp(m (b + b_lo)) for m <= 0 and b > 0 (b_lo optional), m b above -354 = -2^13 ln2/16 (so
// that k < 2^13; callers clamp m where the result is 0 anyway, lowest_factor_for_exp below):
// the exponential of a product known to twice the precision, without
// forming it as a double word first. Float with hardware FMA folds the product into Tang's
// reduction: k from m (16 b/ln2), then r = m b - k ln2/16 by one fma from the exact product
// m*b and k times Cody and Waite's short ln2_hi/16 (exact), rounded once at r's own small
// size; then the low parts (k ln2_lo/16 and m b_lo). The short split's rounded ln2_lo adds at
// most 2^-28 to r where the result is a normal float. Elsewhere m b = w + w_lo (TwoProduct).
template <class P, class... Low>
DIFFUSE_ALWAYS_INLINE scaled_exp<P> exp_scaled_of_product(const P& m, const P& b, const Low&... b_lo) {
#if defined(EIGEN_VECTORIZE_FMA)
    if constexpr (std::is_same_v<scalar_of<P>, float>) {
        const P shifter = constant<P>(0x1.8p23f);
        const P shifted = fma(m, ei::pmul(b, constant<P>(static_cast<float>(16 * detail::log2e))), shifter);
        const P k = ei::psub(shifted, shifter);
        P r = fma(m, b, ei::pmul(k, constant<P>(-detail::ln2_short_hi<float, 16> / 16)));
        r = fma(k, constant<P>(-detail::ln2_short_lo<float, 16> / 16), r);
        if constexpr (sizeof...(b_lo) > 0) r = fma(m, b_lo..., r);
        return detail::exp_from_sixteenths(shifted, k, r);
    }
#endif
    const auto [w, w_lo] = two_product(m, b);
    if constexpr (sizeof...(b_lo) > 0) return exp_scaled_non_positive(w, fma(m, b_lo..., w_lo));
    else return exp_scaled_non_positive(w, w_lo);
}
// Where exp_scaled_of_product(m, b) may clamp m: below, m b is below detail::exp_lowest,
// where every result (even times the largest float) is 0.
template <Real T>
T lowest_factor_for_exp(T b) {
    return detail::exp_lowest<T> / b;
}

// ---- the exponential where 2^k is a normal float (AVX2 float packets) -------------------------

// Whether float packets P take the short exponentials below (AVX2 with FMA, without AVX-512):
// there the table-driven exponential's two 16-entry lookups are two permutes and a blend each,
// its power of two a floor, a range test and a branch before the multiply (AVX-512 does each in
// one instruction): the sigmoid's packet took 50 instructions, 39 with these. Every packet width
// of such a build takes them (scalar calls included), so scalar and vector results agree.
template <class P>
inline constexpr bool normal_range_exp =
#if defined(EIGEN_VECTORIZE_AVX2) && defined(EIGEN_VECTORIZE_FMA) && !defined(EIGEN_VECTORIZE_AVX512)
    std::is_same_v<scalar_of<P>, float> && !std::is_same_v<P, float>;
#else
    false;
#endif

// Arguments up to which (in magnitude) the short exponentials below serve: |x| <= 87 gives
// k in [-126, 126] in x = k ln2 + r.
inline constexpr float normal_range_exp_bound = 87.0f;

// Whether some lane of a is below b (false for NaN): the test before a short path that serves
// only a >= b.
template <class P>
DIFFUSE_ALWAYS_INLINE bool any_less(const P& a, const P& b) {
    return ei::predux_any(less(a, b));
}

// exp(x) = half_mantissa * scale with scale = 2^(k+1) a normal float: value() is one multiply
// (rounded once, also where the result is denormal).
template <class P>
struct normal_scaled_exp {
    P half_mantissa;  // exp(r) / 2, |r| <= ln2/2
    P scale;          // 2^(k+1)
    DIFFUSE_ALWAYS_INLINE P value() const { return ei::pmul(half_mantissa, scale); }
    // 1 + exp rounded once (the product half_mantissa * scale is exact: a normal result).
    DIFFUSE_ALWAYS_INLINE P plus_one() const { return fma(half_mantissa, scale, constant<P>(1.0f)); }
};

namespace detail {
// Adding 1.5 * 2^23 + Bias rounds an |x| < 2^21 to the integer k and leaves k + Bias in the
// sum's low bits; shifted left by the mantissa's 23 bits they are the float 2^(k + Bias - 127)
// (for k + Bias in [1, 254]; the sum's higher bits shift out).
template <int Bias>
inline constexpr float exponent_shifter = 0x1.8p23f + Bias;
template <class P>
DIFFUSE_ALWAYS_INLINE P power_of_two_from_shifted(const P& shifted) {
    using PI = typename ei::unpacket_traits<P>::integer_packet;
    return ei::preinterpret<P>(ei::plogical_shift_left<23>(ei::preinterpret<PI>(shifted)));
}
// The reduction x = k ln2 + r from that shifter: the sum (k + Bias in its low bits), r, and
// r_hi, r before its last correction: k ln2_lo (below 2^-21.9 in magnitude for |k| <= 126),
// or, for a product m (b + b_lo), m b_lo (below 2^-17.5; Cody and Waite's ln2_lo is too large).
template <class P>
struct shifted_reduction {
    P shifted;
    P r_hi;
    P r;
};
// The reduction Sign x = k ln2 + r (Sign = 1 or -1). Sign = -1 folds the negation into the
// constants and the fused multiply-subtract that forms r, no instruction of its own.
template <int Bias, int Sign = 1, class P>
DIFFUSE_ALWAYS_INLINE shifted_reduction<P> reduce_ln2_shifted(const P& x) {
    static_assert(Sign == 1 || Sign == -1);
    const P shifter = constant<P>(exponent_shifter<Bias>);
    const P shifted = fma(x, constant<P>(static_cast<float>(Sign * log2e)), shifter);
    const P signed_x = [&x] {
        if constexpr (Sign == 1) return x;
        else return negate(x);
    }();
    const P k = ei::psub(shifted, shifter);
    const P r_hi = minus_ln2_steps_part<1, false>(signed_x, k);
    return {shifted, r_hi, minus_ln2_steps_part<1, true>(r_hi, k)};
}
// exp from the reduction x = k ln2 + r (shifted = k + the shifter of Bias 128): exp(r)/2 by the
// degree-6 polynomial half_exp_short (6 fused multiply-adds; the degree-7 half_exp of the
// float exponential before the 16-entry table gave 0.86 ULP here, this one 0.935 on the same
// grid, tests/test_activations_accuracy.cpp) and 2^(k+1) from the shifted bits: no lookup, no
// conversion. Horner's first three steps (the terms of degree 3 and up) take r_hi: they need
// not wait for r's last correction (4 cycles of a packet's latency of about 55, which the loop's
// throughput follows on AVX2: sigmoid 0.92-0.93 -> 0.95-1.01x Eigen's, SiLU 1.02-1.05 ->
// 1.05-1.08x, QuickGELU 1.02-1.05 -> 1.07-1.09x, bench_activations); r - r_hi reaches them only
// times about r^3 c[4] (below 2^-30 of the result from k ln2_lo, 2^-26 from m b_lo).
template <class P>
DIFFUSE_ALWAYS_INLINE normal_scaled_exp<P> exp_normal_from(const shifted_reduction<P>& reduced) {
    constexpr auto& c = half_exp_short;
    constexpr std::size_t first_with_r = 3;
    P sum = constant<P>(c.back());
    for (std::size_t i = c.size() - 1; i-- > 0;)
        sum = fma(sum, i >= first_with_r ? reduced.r_hi : reduced.r, constant<P>(c[i]));
    return {sum, power_of_two_from_shifted(reduced.shifted)};
}
}  // namespace detail

// exp(x) for float packets (normal_range_exp) whose every lane has |x| <= normal_range_exp_bound
// (or is NaN, which propagates).
template <class P>
DIFFUSE_ALWAYS_INLINE normal_scaled_exp<P> exp_normal_range(const P& x) {
    return detail::exp_normal_from(detail::reduce_ln2_shifted<128>(x));
}
// exp(-x) the same way (the logistic family's exp(-w)), the negation folded into the reduction.
template <class P>
DIFFUSE_ALWAYS_INLINE normal_scaled_exp<P> exp_normal_range_of_negated(const P& x) {
    return detail::exp_normal_from(detail::reduce_ln2_shifted<128, -1>(x));
}
// exp(m (b + b_lo)) the same way for |m b| <= normal_range_exp_bound, the product folded into
// the reduction as in exp_scaled_of_product (Cody and Waite's short ln2_hi, k m b exact).
template <class P, class... Low>
DIFFUSE_ALWAYS_INLINE normal_scaled_exp<P> exp_normal_range_of_product(const P& m, const P& b, const Low&... b_lo) {
    const P shifter = constant<P>(detail::exponent_shifter<128>);
    const P shifted = fma(m, ei::pmul(b, constant<P>(static_cast<float>(detail::log2e))), shifter);
    const P k = ei::psub(shifted, shifter);
    P r_hi = fma(m, b, ei::pmul(k, constant<P>(-detail::ln2_short_hi<float, 1>)));
    r_hi = fma(k, constant<P>(-detail::ln2_short_lo<float, 1>), r_hi);
    if constexpr (sizeof...(b_lo) > 0)
        return detail::exp_normal_from(detail::shifted_reduction<P>{shifted, r_hi, fma(m, b_lo..., r_hi)});
    else return detail::exp_normal_from(detail::shifted_reduction<P>{shifted, r_hi, r_hi});
}
// exp(x + x_lo), faithful over the whole range (denormal results included).
template <class P>
DIFFUSE_ALWAYS_INLINE P exp(const P& x, const P& x_lo) {
    return exp_scaled(x, x_lo).value();
}
template <class P>
DIFFUSE_ALWAYS_INLINE P exp(const P& x) {
    return exp_scaled(x).value();
}

namespace detail {
// Below -(digits + 3) ln2, expm1 rounds to -1.
template <Real T>
inline constexpr T expm1_lowest = static_cast<T>(-(std::numeric_limits<T>::digits + 3) * ln2);
// expm1(r) = r + r^2 P(r) on the reduced interval |r| <= ln2/2.
template <class P, class Tail = decltype(expm1_tail<scalar_of<P>>)>
DIFFUSE_ALWAYS_INLINE P expm1_reduced(const P& r, const Tail& tail = expm1_tail<scalar_of<P>>) {
    return fma(ei::pmul(r, r), polynomial(r, tail), r);
}
}  // namespace detail

// exp(x) - 1 without cancellation near 0: with x = k ln2 + r, expm1(x) = 2^k (expm1(r) + 1 - 2^-k),
// where 1 - 2^-k is exact for the k that matter and the sum is rounded once.
template <class P>
DIFFUSE_ALWAYS_INLINE P expm1(const P& x) {
    using T = scalar_of<P>;
    const P xc = clamp_nan(x, detail::expm1_lowest<T>, detail::exp_highest<T>);
    const auto [k, r] = detail::reduce_ln2(xc);
    const P one = constant<P>(T(1));
    const P one_minus_scale = ei::psub(one, simd::ldexp(one, ei::pnegate(k)));
    return simd::ldexp(ei::padd(detail::expm1_reduced(r), one_minus_scale), k);
}
// expm1(x) for x <= 0 (the exponential linear units' negative branch; other x give unspecified
// values, NaN propagates): there k <= 0, and expm1(x) = 2^k expm1(r) + (2^k - 1) is one fused
// multiply-add, 2^k - 1 exact for k >= -digits and rounding to -1 below, where the result does
// too. Four instructions fewer than expm1 above (no upper clamp, one scaling instead of two and
// the fma for the sum), the same single rounding.
template <class P>
DIFFUSE_ALWAYS_INLINE P expm1_non_positive(const P& x) {
    using T = scalar_of<P>;
    const P xc = ei::pmax(x, constant<P>(detail::expm1_lowest<T>));
    // 2^k and r; k >= -27 after the clamp, so on AVX2 2^k comes from the reduction's shifted
    // bits, without a rounding and a general scaling.
    const auto [scale, r] = [&xc] {
        if constexpr (normal_range_exp<P>) {
            const auto reduced = detail::reduce_ln2_shifted<127>(xc);
            return double_word<P>{detail::power_of_two_from_shifted(reduced.shifted), reduced.r};
        } else {
            const auto [k, r_] = detail::reduce_ln2(xc);
            return double_word<P>{simd::ldexp(constant<P>(T(1)), k), r_};
        }
    }();
    return fma(scale, detail::expm1_reduced(r), ei::psub(scale, constant<P>(T(1))));
}

namespace detail {
// expm1(2s) = 2s + 4s^2 g(2s) = 2 (s + s^2 G(s)) with G(s) = 2 g(2s): the short tail's
// coefficients times 2^(i+1), exact.
inline constexpr auto expm1_tail_short_of_double = [] {
    std::array<float, expm1_tail_short.size()> c{};
    for (std::size_t i = 0; i < c.size(); ++i) c[i] = expm1_tail_short[i] * static_cast<float>(2u << i);
    return c;
}();
}  // namespace detail

// expm1(2t) for float packets (normal_range_exp) with 0 <= t <= normal_range_exp_bound / 2 (NaN
// propagates; tanh's E): 2t = k ln2 + 2s with s = t - k ln2/2 (steps of ln2/2, so the factor 2
// costs no instruction), and expm1(2t) = 2^(k+1) u + (2^k - 1) with u = expm1(2s)/2 =
// s + s^2 G(s), one fused multiply-add as in expm1_non_positive; 2^(k+1) from the shifted bits
// (k <= 126) instead of a rounding and two general scalings. 2^k - 1 = 2^(k+1)/2 - 1 is exact up
// to k = 24; beyond it rounds to 2^k, below 2^-24 of the result. G is the short exponential's
// degree-4 tail scaled (1.53 ULP at most on the test's grid; 1.40 with the degree-5 tail).
template <class P>
DIFFUSE_ALWAYS_INLINE P expm1_normal_range_of_double(const P& t) {
    const P shifter = constant<P>(detail::exponent_shifter<128>);
    const P shifted = fma(t, constant<P>(static_cast<float>(2 * detail::log2e)), shifter);
    const P s = detail::remainder_of_ln2_steps<2>(t, ei::psub(shifted, shifter));
    const P scale = detail::power_of_two_from_shifted(shifted);
    const P half_expm1 = detail::expm1_reduced(s, detail::expm1_tail_short_of_double);
    return fma(scale, half_expm1, fma(scale, constant<P>(0.5f), constant<P>(-1.0f)));
}

namespace detail {
// (log(1 + u)/u - 1)/u on [0, 1] (float's log1p_unit_interval), by tools/fit_unit_interval.py.
inline constexpr std::array<float, 10> log1p_ratio_float = {
    -0.5f,        0.333332479f,   -0.249970242f, 0.199593559f,   -0.163785085f,
    0.130713284f, -0.0920296311f, 0.0499311797f, -0.0175122432f, 0.00287388382f};

// log(2^e (1 + f)) for a reduced argument f (exact, -1/4 <= f < 1/2):
// log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f/(2+f), R the atanh series (Muller,
// "Elementary Functions", ch. 11); the small terms are added before the big ones.
template <class P>
DIFFUSE_ALWAYS_INLINE P log1p_reduced(const P& f, const P& e) {
    using T = scalar_of<P>;
    const P s = ei::pdiv(f, ei::padd(constant<P>(T(2)), f));
    const P z = ei::pmul(s, s);
    // Truncation below 2^-30 (float) / 2^-60 (double) relative for |s| <= 1/5.
    constexpr std::size_t terms = std::is_same_v<T, float> ? 5 : 11;
    const P big_r = ei::pmul(z, polynomial(z, atanh_series<T, terms>()));
    const P half_f2 = ei::pmul(constant<P>(T(0.5)), ei::pmul(f, f));
    const P small = fma(s, ei::padd(half_f2, big_r), ei::pmul(e, constant<P>(ln2_split<T>.lo)));
    const P log_m = ei::padd(f, ei::psub(small, half_f2));
    return fma(e, constant<P>(ln2_split<T>.hi), log_m);
}
}  // namespace detail

// log(1 + u) for u in [0, 1] (softplus's log1p(exp(-|z|))).
// float: u + u (u V(u)) with V(u) = (log(1 + u)/u - 1)/u a degree-9 polynomial in u (Chebyshev
// interpolation, tools/fit_unit_interval.py log1p_ratio; 2^-25.9 relative as fitted): no division,
// no logarithm's reduction; u V(u) is at most 0.31 in magnitude, so its roundings count for
// about half of the result's ULP (1.23 ULP at most, tests/test_activations_accuracy.cpp).
// double: without frexp and without the rounding of 1 + u: below 1/2, f = u itself; from 1/2 on,
// 1 + u = 2 (1 + f) with f = (u - 1)/2 in [-1/4, 0], exact (Sterbenz). NaN propagates.
template <class P>
DIFFUSE_ALWAYS_INLINE P log1p_unit_interval(const P& u) {
    using T = scalar_of<P>;
    if constexpr (std::is_same_v<T, float>) {
        const P u_v = ei::pmul(u, polynomial(u, detail::log1p_ratio_float));
        return fma(u, u_v, u);
    } else {
        const P half = constant<P>(T(0.5));
        const P upper = less_equal(half, u);
        const P f = select(upper, ei::pmul(ei::psub(u, constant<P>(T(1))), half), u);
        return detail::log1p_reduced(f, select(upper, constant<P>(T(1)), ei::pzero(u)));
    }
}

}  // namespace diffuse::simd

#pragma GCC diagnostic pop
