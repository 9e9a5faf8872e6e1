// diffuse/nn/normal_cdf.hpp: packet kernels for the standard normal distribution function
// Phi and its lower tail, used by the exact GELU. Written on diffuse::simd, generic over the
// packet type; faithful (a few ULP) over the whole floating range, denormal tails included.
#pragma once

#include <array>
#include <cstddef>
#include <type_traits>

#include "diffuse/core/simd.hpp"
#include "diffuse/nn/detail/normal_tail_rational.hpp"
#include "diffuse/nn/detail/normal_tail_table.hpp"

// Packet types (__m512 ...) carry alignment attributes that GCC warns about when they are used
// as template arguments; Eigen silences the same warning in its own headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace diffuse::nn::kernels {

namespace ei = Eigen::internal;
using simd::constant;
using simd::scalar_of;

// The lower tail is written Phi(-t) = exp(-t^2/2) G(u) / (t + K), t >= 0, u = (t - K)/(t + K)
// in [-1, 1), K = 1.5, where G(u) = Phi(-t) exp(t^2/2) (t + K) is smooth and tends to
// 1/sqrt(2 pi) (Schonfelder, Math. Comp. 32 (1978) 1232). G is a Chebyshev interpolant
// computed in 40-digit arithmetic by tools/fit_normal_tail.py: 11 terms (float), 30 (double).
// With AVX-512, float instead looks H(t) = G(u) / (t + K) up in a table of 32 short
// polynomials (nn/detail/normal_tail_table.hpp): no division, 7 multiply-adds instead of 16,
// and valid down to t = 0. exp(-t^2/2) takes t^2 exactly (TwoProduct), so the tail keeps full
// relative accuracy down to the underflow.

namespace detail {
inline constexpr long double normal_tail_k = 1.5L;
// G as a polynomial in u, fitted on the u interval that t in [1/2, 14.6] (float) / [1/2, 38.6]
// (double) spans: below 1/2 the series serves, above, x Phi(-x) underflows. Horner on the
// monomial form is well conditioned there (sum |a_k u^k| <= 2.2 |G(u)|).
inline constexpr std::array<long double, 11> normal_tail_float = {
    6.173420001748104403079e-1L,  -1.950995053792020505873e-1L, -5.749531178400522183842e-2L,
    1.789738401605956120502e-2L,  1.763514678302466625876e-2L,  3.981664478455838277373e-3L,
    -2.387107958568632946338e-3L, -2.702331020596290422171e-3L, -1.207597017647013600369e-3L,
    3.108343777163737981575e-4L,  6.74421067696790027925e-4L};
inline constexpr std::array<long double, 30> normal_tail_double = {
    6.173420009321840714017e-1L,  -1.950995184858816914371e-1L, -5.749545239976624240476e-2L,
    1.78980191925969213445e-2L,   1.763908117989178075894e-2L,  3.972087740313580923793e-3L,
    -2.425232620135265796102e-3L, -2.635522541693824129313e-3L, -1.052214582325923056741e-3L,
    8.224696673560514079561e-5L,  4.211476261840593180137e-4L,  3.15040699629502287117e-4L,
    1.141736007713975485081e-4L,  -1.799096295119856812504e-5L, -6.076912146254357265679e-5L,
    -5.173133594560589424873e-5L, -2.406423481397074891671e-5L, 6.48862498377720987337e-6L,
    4.383815602170271448116e-6L,  -2.033330093225683398648e-5L, 3.755882870245929320162e-5L,
    5.470695005676621282562e-5L,  -1.068774969870599727564e-4L, -1.655400370707452342256e-5L,
    1.645487082889003742506e-4L,  -1.045644791871031096129e-4L, -7.33300261963481539579e-5L,
    1.22218795512356856454e-4L,   -5.6170833527350265961e-5L,   8.903164946684131156454e-6L};

template <Real T>
inline constexpr auto normal_tail = simd::detail::table_for<T>(normal_tail_float, normal_tail_double);

// 1/sqrt(2 pi)
inline constexpr long double inv_sqrt_2pi = 0.398942280401432677939946059934381868L;

// Near 0 the Maclaurin series (Abramowitz & Stegun 26.2.10) is cheaper than the tail form and
// exact to the last bit, since Phi(x) - 1/2 is then a small correction to 1/2:
//   Phi(x) = 1/2 + x S(x^2),            S(s) = sum_n (-1)^n s^n / (2^n n! (2n+1)) / sqrt(2 pi),
//   Phi(x) + x phi(x) = 1/2 + x D(x^2), D(s) = sum_n (-1)^n (2n+2) s^n / ((2n+1) 2^n n!) / sqrt(2 pi).
// For |x| <= 1/2 (s <= 1/4) the first omitted term is below 2^-30 (float, 6 terms) and 2^-62
// (double, 11 terms) of the sum; x S stays below 0.2 so 1/2 + x S never cancels.
inline constexpr long double normal_central_bound = 0.5L;
template <Real T>
inline constexpr std::size_t normal_central_terms = std::is_same_v<T, float> ? 6 : 11;

template <Real T>
constexpr std::array<T, normal_central_terms<T>> normal_central_series(bool with_density) {
    std::array<T, normal_central_terms<T>> c{};
    long double term = inv_sqrt_2pi;  // (-1)^n / (2^n n!) / sqrt(2 pi)
    for (std::size_t n = 0; n < c.size(); ++n) {
        const auto odd = static_cast<long double>(2 * n + 1);
        c[n] = static_cast<T>(with_density ? term * (odd + 1) / odd : term / odd);
        term *= -1.0L / (2.0L * static_cast<long double>(n + 1));
    }
    return c;
}
template <Real T>
inline constexpr auto normal_central = normal_central_series<T>(false);
template <Real T>
inline constexpr auto normal_central_with_density = normal_central_series<T>(true);
}  // namespace detail

// Phi(-|x|) = g * h with g = exp(-x^2/2) kept apart (as the exponent -x^2/2 = a_hi + a_lo), so
// callers can fold a factor into the exponential's final scaling, and h = H(t) = Phi(-t) exp(t^2/2)
// carried as h + h_lo, so that its only error is the approximation's own.
template <class P>
struct normal_tail_parts {
    P a_hi;  // -x^2/2, high part
    P a_lo;  // low part
    P t;     // |x| (clamped to where the tail is 0)
    P h;     // H(t), high part
    P h_lo;  // low part
};

namespace detail {
// H(t) = G(u) / (t + K) for t >= 1/2 (the fit above), to twice the precision.
template <class P>
DIFFUSE_ALWAYS_INLINE simd::double_word<P> scaled_tail_by_series(const P& t) {
    using T = scalar_of<P>;
    constexpr T k = static_cast<T>(normal_tail_k);
    // One division r = 1/(t + K), with t + K = s + s_lo exact: 1/(t + K) = r (1 + e) to second
    // order, e = 1 - (s + s_lo) r (the fma makes 1 - s r exact).
    const auto [s, s_lo] = simd::two_sum(t, constant<P>(k));
    const P r = ei::pdiv(constant<P>(T(1)), s);
    const P e = simd::fma(ei::pnegate(s_lo), r, simd::fma(ei::pnegate(s), r, constant<P>(T(1))));
    // u = (t - K)/(t + K) = 1 - 2K/(t + K); an error of 2^-p in u moves G by less than half of
    // its own rounding, so the rounded r does here.
    const P u = simd::fma(constant<P>(T(-2) * k), r, constant<P>(T(1)));
    const P g = simd::polynomial(u, normal_tail<T>);
    const P h = ei::pmul(g, r);
    return {h, simd::fma(h, e, simd::fma(g, r, ei::pnegate(h)))};
}

// H(t) for float t >= 0 from the 32 polynomials of nn/detail/normal_tail_table.hpp (quarter
// octaves of [1/16, 16), the first reaching down to 0; below 1/16, z's rounding moves H by less
// than 2^-28 of itself, |H'| < 0.8 H there). Beyond t = 16, where g underflows anyway, the last
// interval's polynomial serves. It serves every t >= 0, so the exact GELU needs no series near
// 0 and no branch there.
template <class P>
DIFFUSE_ALWAYS_INLINE simd::double_word<P> scaled_tail_by_table(const P& t) {
    return evaluate(normal_tail_by_bits, clamp_to_table(normal_tail_by_bits, t));
}
}  // namespace detail

template <class P>
DIFFUSE_ALWAYS_INLINE normal_tail_parts<P> normal_tail(const P& x) {
    using T = scalar_of<P>;
    // Beyond |x| = 2^20 the tail is 0 in every format; clamping keeps t finite for |x| = inf.
    // Eigen's pmin returns its first operand when it is NaN (one instruction on x86).
    const P t = ei::pmin(simd::abs(x), constant<P>(T(1 << 20)));
    // -t^2/2 exactly (t/2 is exact unless t is denormal, where t^2/2 vanishes next to 1 anyway).
    const auto [a_hi, a_lo] = simd::two_product(ei::pmul(t, constant<P>(T(-0.5))), t);
    simd::double_word<P> h;
    if constexpr (detail::quarter_octaves_tabulated<T>) h = detail::scaled_tail_by_table(t);
    else h = detail::scaled_tail_by_series(t);
    return {a_hi, a_lo, t, h.hi, h.lo};
}

// ---- table-free, where 2^k needs no general scaling (AVX2 float packets) ---------------------
// Phi(-t) = exp(-t^2/2) H(t) with H(t) = B(t)/(kappa t B(t) + A(t)), kappa = sqrt(2 pi), one
// rational function for t = |x| <= 13 (nn/detail/normal_tail_rational.hpp,
// tools/fit_normal_tail_rational.py; H ~ 1/(kappa t) as t -> inf, H(0) = 1/2): an exponential
// without a lookup, two short polynomials in t and one division, and the lower tail's full
// relative accuracy (x Phi(x) = -t exp(-t^2/2) H(t) for x < 0 has no cancellation).

// exp(-(s + s_lo)/2) for float packets with s + s_lo = x^2 exactly (TwoProduct) and
// |x| <= detail::normal_tail_rational_top (NaN lanes give a meaningless value; callers multiply
// by a NaN there). Needs an integer packet and a hardware fma (for the exact s + 2k ln2_hi):
// the GELU takes it on AVX2 (simd::normal_range_exp), the tests on every such build.
// s = rho - 2k ln2 with k = round(-s log2e/2), found by adding 1.5 * 2^23 (the sum's low bits
// are k); s + 2k ln2_hi is exact (for k != 0, s >= 0.69: both are multiples of 2^-24 and the
// sum is below ln2 in magnitude), then rho = that + 2k ln2_lo + s_lo, rounded twice at rho's
// own size (2^-26 relative in the result each), and
// exp(-s/2) = 2^k E(rho), E(rho) = exp(-rho/2) = 1 + rho R(rho). 2^k is applied by adding k to
// E's exponent field, an integer add: E in [0.7, 1.42] and k in [-122, 0] keep the result
// normal, so that is the exact product.
template <class P>
DIFFUSE_ALWAYS_INLINE P exp_minus_half_normal_range(const P& s, const P& s_lo) {
    using PI = typename ei::unpacket_traits<P>::integer_packet;
    constexpr auto ln2 = simd::detail::ln2_split<float>;
    const P shifter = constant<P>(simd::detail::exponent_shifter<0>);
    const P shifted = simd::fma(s, constant<P>(static_cast<float>(-simd::detail::log2e / 2)), shifter);
    const P k = ei::psub(shifted, shifter);
    const P rho_hi = simd::fma(k, constant<P>(2 * ln2.hi), s);
    const P rho = ei::padd(simd::fma(k, constant<P>(2 * ln2.lo), rho_hi), s_lo);
    const P mantissa = simd::fma(rho, simd::polynomial(rho, detail::exp_minus_half_rest), constant<P>(1.0f));
    // k in the exponent field's position (k << 23, two's complement: the sum's higher bits shift
    // out).
    const PI exponent = ei::plogical_shift_left<23>(ei::preinterpret<PI>(shifted));
    return ei::preinterpret<P>(ei::padd(ei::preinterpret<PI>(mantissa), exponent));
}

// t H(t) for 0 <= t <= detail::normal_tail_rational_top, s = t^2 rounded: with B = 1 + t B1 and
// A = 2 + t A1, t B = t + s B1 and kappa t B + A = 2 + (kappa t B + t A1) are each rounded once
// near t = 0, where the parts added to t and 2 are small (t H = t/2 exactly at t = 0); where
// t B dominates, its rounding (and s's and B1's) cancels in the ratio. One division, no
// cancellation (A1, B1 > 0).
template <class P>
DIFFUSE_ALWAYS_INLINE P t_times_scaled_tail_rational(const P& t, const P& s) {
    const P t_b = simd::fma(s, simd::polynomial(t, detail::normal_tail_rational_b1), t);
    const P t_a1 = ei::pmul(t, simd::polynomial(t, detail::normal_tail_rational_a1));
    const P rest = simd::fma(constant<P>(detail::normal_tail_rational_kappa), t_b, t_a1);
    return ei::pdiv(t_b, ei::padd(rest, constant<P>(2.0f)));
}

// Whether every lane of x lies where the two above serve (|x| <= 13; NaN lanes too).
template <class P>
DIFFUSE_ALWAYS_INLINE bool tail_rational_serves(const P& x) {
    return !simd::any_less(simd::minus_abs(x), constant<P>(-detail::normal_tail_rational_top));
}

// Lanes where |x| <= detail::normal_central_bound, the domain of the series S and D.
template <class P>
DIFFUSE_ALWAYS_INLINE P central(const P& x) {
    return simd::less_equal(simd::abs(x), constant<P>(static_cast<scalar_of<P>>(detail::normal_central_bound)));
}

// Whether any / every lane of a mask is set (a branch to skip work no lane needs).
template <class P>
DIFFUSE_ALWAYS_INLINE bool any(const P& mask) {
    return ei::predux_any(mask);
}
template <class P>
DIFFUSE_ALWAYS_INLINE bool all(const P& mask) {
    return !ei::predux_any(ei::pandnot(ei::ptrue(mask), mask));
}

}  // namespace diffuse::nn::kernels

#pragma GCC diagnostic pop
