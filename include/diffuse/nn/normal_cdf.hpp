// diffuse/nn/normal_cdf.hpp: packet kernels for the standard normal distribution function
// Phi and its lower tail, used by the exact GELU. Written on diffuse::simd, generic over the
// packet type; faithful (a few ULP) over the whole floating range, denormal tails included.
#pragma once

#include <array>
#include <cstddef>
#include <type_traits>

#include "diffuse/core/simd.hpp"

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
// 1/sqrt(2 pi) (Schonfelder, Math. Comp. 32 (1978) 1232). G is a Chebyshev series fitted in
// 50-digit arithmetic by tools/fit_normal_tail.py; float keeps the 15 terms above 2^-28 of c0,
// double the 37 above 2^-58. exp(-t^2/2) takes t^2 exactly (TwoProduct), so the tail keeps
// full relative accuracy down to the underflow.

namespace detail {
inline constexpr long double normal_tail_k = 1.5L;
inline constexpr std::array<long double, 37> normal_tail_chebyshev = {
    5.942775678640460466431e-1L,
    -1.804769526675928379202e-1L,
    -2.133500709881505322402e-2L,
    4.960530350753478828741e-3L,
    1.628577936306485738792e-3L,
    1.133280294419944221593e-5L,
    -1.01125330714274493329e-4L,
    -2.606960260350386674494e-5L,
    4.790389591030947990045e-7L,
    2.28768636057628535884e-6L,
    7.061238373371559994148e-7L,
    3.504739396553444695801e-8L,
    -5.51245407271521925243e-8L,
    -2.4625084437873899116e-8L,
    -4.080404983147659709048e-9L,
    9.647205398495056662715e-10L,
    8.64854539192132469091e-10L,
    2.69925954897516307632e-10L,
    2.041356975186932712958e-11L,
    -2.300783521600521788426e-11L,
    -1.340434880888222297397e-11L,
    -3.589334823076125708613e-12L,
    -5.052868330773729852965e-14L,
    4.439799085924442159945e-13L,
    2.336351500475709419013e-13L,
    6.121865138732610959062e-14L,
    1.215981390086806145423e-16L,
    -8.49611536737244977224e-15L,
    -4.62692589077637988682e-15L,
    -1.320224223057709446928e-15L,
    -5.955817613113116004097e-17L,
    1.616459545328238955349e-16L,
    1.00986333339296425593e-16L,
    3.365294799887927358869e-17L,
    4.098798904606065470032e-18L,
    -2.80791442627552033802e-18L,
    -2.307869374056605949224e-18L};

template <Real T>
inline constexpr std::size_t normal_tail_terms = std::is_same_v<T, float> ? 15 : 37;

// The series as a polynomial in u (Horner: half the operations of Clenshaw's recurrence, and as
// well conditioned here: sum |a_k u^k| <= 2.3 |G(u)| on [-1, 1]). The monomial coefficients are
// formed from the Chebyshev ones in long double (T_{k+1} = 2u T_k - T_{k-1}), rounded once.
template <Real T>
constexpr std::array<T, normal_tail_terms<T>> normal_tail_monomials() {
    constexpr std::size_t n = normal_tail_terms<T>;
    std::array<long double, n> sum{}, previous{}, current{}, next{};
    previous[0] = 1;  // T_0
    current[1] = 1;   // T_1
    sum[0] = normal_tail_chebyshev[0];
    sum[1] = normal_tail_chebyshev[1];
    for (std::size_t k = 2; k < n; ++k) {
        for (std::size_t i = 0; i < n; ++i) next[i] = (i > 0 ? 2 * current[i - 1] : 0.0L) - previous[i];
        for (std::size_t i = 0; i < n; ++i) sum[i] += normal_tail_chebyshev[k] * next[i];
        previous = current;
        current = next;
    }
    std::array<T, n> c{};
    for (std::size_t i = 0; i < n; ++i) c[i] = static_cast<T>(sum[i]);
    return c;
}

template <Real T>
inline constexpr auto normal_tail = normal_tail_monomials<T>();

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
// callers can fold a factor into the exponential's final scaling, and h = G(u) / (t + K) carried
// as h + h_lo, so that its only error is the series' own.
template <class P>
struct normal_tail_parts {
    P a_hi;  // -x^2/2, high part
    P a_lo;  // low part
    P t;     // |x| (clamped to where the tail is 0)
    P h;     // Phi(-t) exp(t^2/2) = G(u) / (t + K), high part
    P h_lo;  // low part
};

template <class P>
DIFFUSE_ALWAYS_INLINE normal_tail_parts<P> normal_tail(const P& x) {
    using T = scalar_of<P>;
    constexpr T k = static_cast<T>(detail::normal_tail_k);
    // Beyond |x| = 2^20 the tail is 0 in every format; clamping keeps u finite for |x| = inf.
    const P t = simd::min_nan(simd::abs(x), constant<P>(T(1 << 20)));
    // -t^2/2 exactly (t/2 is exact: t >= 1/2 wherever the tail form is used).
    const auto [a_hi, a_lo] = simd::two_product(ei::pmul(t, constant<P>(T(-0.5))), t);
    // One division r = 1/(t + K), with t + K = s + s_lo exact: 1/(t + K) = r (1 + e) to second
    // order, e = 1 - (s + s_lo) r (the fma makes 1 - s r exact).
    const auto [s, s_lo] = simd::two_sum(t, constant<P>(k));
    const P r = ei::pdiv(constant<P>(T(1)), s);
    const P e = simd::fma(ei::pnegate(s_lo), r, simd::fma(ei::pnegate(s), r, constant<P>(T(1))));
    // u = (t - K)/(t + K) = 1 - 2K/(t + K); an error of 2^-p in u moves G by less than half of
    // its own rounding, so the rounded r does here.
    const P u = simd::fma(constant<P>(T(-2) * k), r, constant<P>(T(1)));
    const P g = simd::polynomial(u, detail::normal_tail<T>);
    const P h = ei::pmul(g, r);
    const P h_lo = simd::fma(h, e, simd::fma(g, r, ei::pnegate(h)));
    return {a_hi, a_lo, t, h, h_lo};
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
