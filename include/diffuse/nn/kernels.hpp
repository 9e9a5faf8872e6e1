// diffuse/nn/kernels.hpp: packet kernels shared by several activations (the logistic
// function and its gates, tanh, the normal CDF). Written on diffuse::simd, generic over the
// packet type; every function here is faithful (a few ULP) over the whole floating range.
#pragma once

#include <array>
#include <limits>

#include "diffuse/core/simd.hpp"

// Packet types (__m512 ...) carry alignment attributes that GCC warns about when they are used
// as template arguments; Eigen silences the same warning in its own headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace diffuse::nn::kernels {

namespace ei = Eigen::internal;
using simd::constant;
using simd::double_word;
using simd::scalar_of;

// The logistic function at w = w_hi + w_lo, split so that both sigma(w) and
// sigma(-w) = 1 - sigma(w) come without cancellation: with e = exp(-|w|) and d = 1 + e,
// sigma(|w|) = 1/d and sigma(-|w|) = e/d.
template <class P>
struct logistic_parts {
    P non_negative;             // mask: w >= 0
    simd::scaled_exp<P> exp_w;  // exp(-|w|), for products rounded once
    P e;                        // exp(-|w|) in (0, 1]
    P d;                        // 1 + e
};

template <class P>
logistic_parts<P> logistic(const P& w_hi, const P& w_lo) {
    using T = scalar_of<P>;
    const P non_negative = simd::less_equal(ei::pzero(w_hi), w_hi);
    const P minus_abs = ei::pnegate(simd::abs(w_hi));
    const auto exp_w = simd::exp_scaled(minus_abs, simd::select(non_negative, ei::pnegate(w_lo), w_lo));
    const P e = exp_w.value();
    return {non_negative, exp_w, e, ei::padd(constant<P>(T(1)), e)};
}

// sigma(w), sigma(-w).
template <class P>
P sigma_of(const logistic_parts<P>& s) {
    return ei::pdiv(simd::select(s.non_negative, constant<P>(scalar_of<P>(1)), s.e), s.d);
}
template <class P>
P sigma_of_minus(const logistic_parts<P>& s) {
    return ei::pdiv(simd::select(s.non_negative, s.e, constant<P>(scalar_of<P>(1))), s.d);
}

// x * sigma(w) for a gate w = w(x) (SiLU, Swish, QuickGELU, GELU-tanh). For w < 0 the product
// x*e is formed inside the exponential's final scaling, so a result in the denormal range is
// rounded once; x is clamped to the finite range there so x = -inf gives -0, not NaN.
template <class P>
P self_gated(const P& x, const P& w_hi, const P& w_lo) {
    using T = scalar_of<P>;
    const P x_finite = simd::clamp_nan(x, std::numeric_limits<T>::lowest(), std::numeric_limits<T>::max());
    const auto s = logistic(w_hi, w_lo);
    return ei::pdiv(simd::select(s.non_negative, x, s.exp_w.times(x_finite)), s.d);
}

// d/dx [x sigma(w(x))] = sigma(w) + x w'(x) sigma(w) sigma(-w), written over the common
// denominator d^2; for w < 0 the factor e is applied last (rounded once if denormal). x w' is
// kept finite so that at x = -inf the product with e = 0 is 0.
template <class P>
P self_gated_derivative(const P& x, const P& w_hi, const P& w_lo, const P& dw_dx) {
    using T = scalar_of<P>;
    const auto s = logistic(w_hi, w_lo);
    const P slope = simd::clamp_nan(ei::pmul(x, dw_dx), std::numeric_limits<T>::lowest(), std::numeric_limits<T>::max());
    // w >= 0: (d + slope e) / d^2;  w < 0: e (d + slope) / d^2.
    const P numerator = simd::fma(slope, simd::select(s.non_negative, s.e, constant<P>(T(1))), s.d);
    const P factor = ei::pdiv(numerator, ei::pmul(s.d, s.d));
    return simd::select(s.non_negative, factor, s.exp_w.times(factor));
}

// tanh: with E = expm1(2|x|), tanh|x| = E / (E + 2) (accurate for small |x|) or
// 1 - 2 / (E + 2) (no inf/inf for large |x|); the switch at E = 3 keeps either form's error
// amplification below 1.5.
template <class P>
P tanh(const P& x) {
    using T = scalar_of<P>;
    const P t = simd::abs(x);
    const P big_e = simd::expm1(ei::padd(t, t));
    const P e_plus_2 = ei::padd(big_e, constant<P>(T(2)));
    const P small = ei::pdiv(big_e, e_plus_2);
    const P large = ei::psub(constant<P>(T(1)), ei::pdiv(constant<P>(T(2)), e_plus_2));
    const P magnitude = simd::select(simd::less(big_e, constant<P>(T(3))), small, large);
    return simd::with_sign_of(magnitude, x);
}

// 1 - tanh(x)^2 = 4 e / (1 + e)^2 with e = exp(-2|x|): no cancellation as tanh -> 1.
template <class P>
P tanh_derivative(const P& x) {
    using T = scalar_of<P>;
    const P t = simd::abs(x);
    const auto e = simd::exp_scaled(ei::pnegate(ei::padd(t, t)), ei::pzero(t));
    const P d = ei::padd(constant<P>(T(1)), e.value());
    return e.times(ei::pdiv(constant<P>(T(4)), ei::pmul(d, d)));
}

// ---- the standard normal distribution ------------------------------------------------
//
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

template <Real T>
constexpr std::array<T, normal_tail_terms<T>> normal_tail_coefficients() {
    std::array<T, normal_tail_terms<T>> c{};
    for (std::size_t i = 0; i < c.size(); ++i) c[i] = static_cast<T>(normal_tail_chebyshev[i]);
    return c;
}

template <Real T>
inline constexpr auto normal_tail = normal_tail_coefficients<T>();

// 1/sqrt(2 pi)
inline constexpr long double inv_sqrt_2pi = 0.398942280401432677939946059934381868L;
}  // namespace detail

// Phi(-|x|) = g * h with g = exp(-x^2/2) kept apart (as the exponent -x^2/2 = a_hi + a_lo), so
// callers can fold a factor into the exponential's final scaling.
template <class P>
struct normal_tail_parts {
    P a_hi;  // -x^2/2, high part
    P a_lo;  // low part
    P t;     // |x| (clamped to where the tail is 0)
    P h;     // Phi(-t) exp(t^2/2) = G(u) / (t + K)
};

template <class P>
normal_tail_parts<P> normal_tail(const P& x) {
    using T = scalar_of<P>;
    constexpr T k = static_cast<T>(detail::normal_tail_k);
    // Beyond |x| = 2^20 the tail is 0 in every format; clamping keeps u finite for |x| = inf.
    const P t = simd::min_nan(simd::abs(x), constant<P>(T(1 << 20)));
    const auto [sq_hi, sq_lo] = simd::two_product(t, t);
    const P half = constant<P>(T(-0.5));
    // u by its own division (one rounding rather than two).
    const P t_plus_k = ei::padd(t, constant<P>(k));
    const P inverse = ei::pdiv(constant<P>(T(1)), t_plus_k);
    const P u = ei::pdiv(ei::psub(t, constant<P>(k)), t_plus_k);
    return {ei::pmul(half, sq_hi), ei::pmul(half, sq_lo), t, ei::pmul(simd::chebyshev(u, detail::normal_tail<T>), inverse)};
}

}  // namespace diffuse::nn::kernels

#pragma GCC diagnostic pop
