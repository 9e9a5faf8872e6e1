// diffuse/nn/kernels.hpp: packet kernels shared by several activations (the logistic
// function and its gates, tanh; the normal CDF is nn/normal_cdf.hpp). Written on diffuse::simd,
// generic over the packet type; every function here is faithful (a few ULP) over the whole
// floating range.
#pragma once

#include <algorithm>
#include <limits>

#include "diffuse/core/simd.hpp"
#include "diffuse/nn/detail/tanh_table.hpp"

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
// sigma(|w|) = 1/d and sigma(-|w|) = e/d (on AVX2 the short path below serves most packets
// without these parts).
template <class P>
struct logistic_parts {
    P w;                        // w (its high part), or any packet with its sign (x for the gates)
    simd::scaled_exp<P> exp_w;  // exp(-|w|), for products rounded once
    P e;                        // exp(-|w|) in (0, 1]
    P d;                        // 1 + e

    // if_non_negative where w >= 0, otherwise if_negative (also where w is NaN), the compare
    // made where the select needs it (simd::select_less_equal).
    DIFFUSE_ALWAYS_INLINE P by_sign(const P& if_non_negative, const P& if_negative) const {
        return simd::select_less_equal(ei::pzero(w), w, if_non_negative, if_negative);
    }
};

// The parts from exp(-|w|) and w, or any packet with w's sign (the gates pass x).
template <class P>
DIFFUSE_ALWAYS_INLINE logistic_parts<P> logistic_from(const P& w, const simd::scaled_exp<P>& exp_w) {
    const P e = exp_w.value();
    return {w, exp_w, e, ei::padd(constant<P>(scalar_of<P>(1)), e)};
}
template <class P>
DIFFUSE_ALWAYS_INLINE logistic_parts<P> logistic(const P& w_hi, const P& w_lo) {
    return logistic_from(
        w_hi, simd::exp_scaled_non_positive(simd::minus_abs(w_hi),
                                            simd::select_less_equal(ei::pzero(w_hi), w_hi, ei::pnegate(w_lo), w_lo)));
}
// The same for a linear gate w = (b + b_lo) x, b > 0 (b_lo optional), given a packet with w's
// sign: exp(-|w|) = exp(-|x| (b + b_lo)) from the product directly
// (simd::exp_scaled_of_product), -|x| clamped where the product is below the exponential's
// range (the result is 0 there anyway).
template <class P, class... Low>
DIFFUSE_ALWAYS_INLINE logistic_parts<P> logistic_of_linear(const P& sign_of_w, const P& x, scalar_of<P> b,
                                                           const Low&... b_lo) {
    const P m = ei::pmax(simd::minus_abs(x), constant<P>(simd::lowest_factor_for_exp(b)));
    return logistic_from(sign_of_w, simd::exp_scaled_of_product(m, constant<P>(b), constant<P>(b_lo)...));
}
// The same for an exact w (sigmoid, SiLU): no correction to carry into the exponential.
template <class P>
DIFFUSE_ALWAYS_INLINE logistic_parts<P> logistic(const P& w) {
    return logistic_from(w, simd::exp_scaled_non_positive(simd::minus_abs(w)));
}

// The short path of the logistic family on AVX2 (simd::normal_range_exp): sigma(w) =
// 1 / (1 + exp(-w)) for both signs of w, no sign select: 1 + e for e = exp(-w) > 0 has no
// cancellation, so the division keeps the exponential's relative accuracy on either side.
// exp(-w) takes the short exponential wherever w >= -simd::normal_range_exp_bound (the test
// below, one compare and a mask test per packet; a packet with a lane below, -inf included,
// takes the general kernels); above +bound, w is clamped to it, where exp(-w) < 2^-125 leaves
// 1 + e = 1 as the unclamped one would (and x / (1 + e) = x for the gates). 1 + e is one fused
// multiply-add on the exponential's mantissa and scale, rounded once; the sigmoid is then 1/d,
// a gate x sigma(w) = x/d, one division each. NaN passes the test and propagates.
// For a linear gate w = b y (b > 0; y = x, or -x for Swish's negative beta) the test and the
// clamp are on y against bound / b, and the product enters the reduction
// (simd::exp_normal_range_of_product, b's low part too).
// bound / b, capped at the largest float: b = 0 (Swish's beta = 0) gives a finite clamp, so
// exp(-0 y) = 1 also at y = +inf.
template <Real T>
DIFFUSE_ALWAYS_INLINE T short_logistic_reach(T b) {
    return std::min(simd::normal_range_exp_bound / b, std::numeric_limits<T>::max());
}
template <class P>
DIFFUSE_ALWAYS_INLINE bool short_logistic_serves(const P& y, scalar_of<P> b = 1) {
    return !simd::any_less(y, constant<P>(-short_logistic_reach(b)));
}
// 1 + exp(-y), rounded once, for an exact w = y.
template <class P>
DIFFUSE_ALWAYS_INLINE P one_plus_exp_minus(const P& y) {
    return simd::exp_normal_range_of_negated(ei::pmin(y, constant<P>(simd::normal_range_exp_bound))).plus_one();
}
// 1 + exp(-y (b + b_lo)), rounded once, for a linear gate (b_lo optional).
template <class P, class... Low>
DIFFUSE_ALWAYS_INLINE P one_plus_exp_minus_product(const P& y, scalar_of<P> b, const Low&... b_lo) {
    const P yc = ei::pmin(y, constant<P>(short_logistic_reach(b)));
    return simd::exp_normal_range_of_product(yc, constant<P>(-b), constant<P>(-b_lo)...).plus_one();
}

// The rounding error of d = 1 + e for e in [0, 1]: 1 + e = d + d_lo exactly (Fast2Sum).
template <class P>
DIFFUSE_ALWAYS_INLINE P one_plus_error(const P& e, const P& d) {
    return ei::psub(e, ei::psub(d, constant<P>(scalar_of<P>(1))));
}

// (1 + e)^2 rounded once (one fma on d + d_lo), for every derivative written over the
// denominator (1 + e)^2.
template <class P>
DIFFUSE_ALWAYS_INLINE P one_plus_squared(const P& e, const P& d) {
    return simd::fma(d, d, ei::pmul(ei::padd(d, d), one_plus_error(e, d)));
}

// sigma(w).
template <class P>
DIFFUSE_ALWAYS_INLINE P sigma_of(const logistic_parts<P>& s) {
    return ei::pdiv(s.by_sign(constant<P>(scalar_of<P>(1)), s.e), s.d);
}

// x * sigma(w) for a gate w = w(x) (SiLU, Swish, QuickGELU, GELU-tanh), given gate =
// logistic(w). For w < 0 the product x*e is formed inside the exponential's final scaling, so a
// result in the denormal range is rounded once; x is clamped to the finite range there so
// x = -inf gives -0, not NaN.
template <class P>
DIFFUSE_ALWAYS_INLINE P self_gated(const P& x, const logistic_parts<P>& gate) {
    using T = scalar_of<P>;
    const P x_finite = simd::clamp_nan(x, std::numeric_limits<T>::lowest(), std::numeric_limits<T>::max());
    return ei::pdiv(gate.by_sign(x, gate.exp_w.times(x_finite)), gate.d);
}

// d/dx [x sigma(w(x))] = sigma(w) + s sigma(w) sigma(-w), given gate = logistic(w) and
// s = x w'(x) as s_hi + s_lo, written over the common denominator d^2 with d = 1 + e carried
// exactly as d + d_lo:
//   w >= 0: (d + s e) / d^2,   w < 0: e (d + s) / d^2.
// The numerators are formed to twice the precision and rounded once (for w < 0 together with
// the exponential's mantissa, its power of two applied last, so a denormal result is rounded
// once), d^2 is one fma: the result carries the exponential's error and three roundings
// (numerator, d^2, division) instead of the six of the plain formula. s is kept finite (its
// low part dropped where it was not) so that at x = -inf the product with e = 0 is 0.
template <class P>
DIFFUSE_ALWAYS_INLINE P self_gated_derivative(const logistic_parts<P>& gate, const P& s_hi_raw, const P& s_lo_raw) {
    using T = scalar_of<P>;
    const P s_hi = simd::clamp_nan(s_hi_raw, std::numeric_limits<T>::lowest(), std::numeric_limits<T>::max());
    const P s_lo = simd::select_equal(s_hi, s_hi_raw, s_lo_raw, ei::pzero(s_hi));
    const P d_lo = one_plus_error(gate.e, gate.d);
    const P d_squared = one_plus_squared(gate.e, gate.d);
    // w >= 0: d + s e
    const P upper = ei::padd(gate.d, simd::fma(s_hi, gate.e, simd::fma(s_lo, gate.e, d_lo)));
    // w < 0: (e/2^k) (d + s), with d + s = t + t_lo exactly (TwoSum)
    const auto [t, t_lo] = simd::two_sum(s_hi, gate.d);
    const P mantissa = gate.exp_w.half_mantissa;
    const P lower = simd::fma(mantissa, t, ei::pmul(mantissa, ei::padd(t_lo, ei::padd(s_lo, d_lo))));
    const P quotient = ei::pdiv(gate.by_sign(upper, lower), d_squared);
    return gate.by_sign(quotient, simd::ldexp(quotient, gate.exp_w.exponent));
}

// tanh: with E = expm1(2|x|), tanh|x| = E / (E + 2) (accurate for small |x|) or
// 1 - 2 / (E + 2) (no inf/inf for large |x|); the switch at E = 3 keeps either form's error
// amplification below 1.5. The numerator is chosen before the one division.
// On AVX2, 2|x| is clamped to 87 for expm1's short form (tanh rounds to 1 from |x| = 9.01 on),
// so E / (E + 2) serves every |x| without the switch: E stays finite, and E's relative error
// reaches the quotient scaled by 2 / (E + 2) <= 1, least where E is large (from k = 25 on, where
// the short expm1 rounds 2^k - 1, by less than 2^-24): no compare, no selects, no subtraction.
// Float on AVX-512 instead takes tanh|x| = t g(t) with the ratio g(t) = tanh(t)/t from the
// quarter-octave table (nn/detail/tanh_table.hpp; g is even, 1 at 0, 1/t as tanh saturates):
// no exponential and no division, and t g rounded once. Beyond t = 16 the clamped t gives
// t g(t) within 2^-27 of 1, which rounds to 1 as tanh does.
template <class P>
DIFFUSE_ALWAYS_INLINE P tanh(const P& x) {
    using T = scalar_of<P>;
    const P t = simd::abs(x);
    if constexpr (detail::quarter_octaves_tabulated<T>) {
        const P tc = detail::clamp_to_table(detail::tanh_ratio_by_bits, t);
        const auto g = detail::evaluate(detail::tanh_ratio_by_bits, tc);
        return simd::with_sign_of(simd::fma(tc, g.hi, ei::pmul(tc, g.lo)), x);
    } else if constexpr (simd::normal_range_exp<P>) {
        const P big_e = simd::expm1_normal_range_of_double(ei::pmin(t, constant<P>(simd::normal_range_exp_bound / 2)));
        return simd::with_sign_of(ei::pdiv(big_e, ei::padd(big_e, constant<P>(T(2)))), x);
    } else {
        const P big_e = simd::expm1(ei::padd(t, t));
        const P small = simd::less(big_e, constant<P>(T(3)));
        const P quotient = ei::pdiv(simd::select(small, big_e, constant<P>(T(2))), ei::padd(big_e, constant<P>(T(2))));
        const P magnitude = simd::select(small, quotient, ei::psub(constant<P>(T(1)), quotient));
        return simd::with_sign_of(magnitude, x);
    }
}

// 1 - tanh(x)^2 = 4 e / (1 + e)^2 with e = exp(-2|x|): no cancellation as tanh -> 1. The
// exponential's mantissa (times 4, exact) is divided by (1 + e)^2 rounded once, its power of
// two applied last: the exponential's error and two roundings.
template <class P>
DIFFUSE_ALWAYS_INLINE P tanh_derivative(const P& x) {
    using T = scalar_of<P>;
    const auto e = simd::exp_scaled_non_positive(simd::minus_abs(ei::padd(x, x)));
    const P value = e.value();
    const P d_squared = one_plus_squared(value, ei::padd(constant<P>(T(1)), value));
    return simd::ldexp(ei::pdiv(ei::pmul(constant<P>(T(4)), e.half_mantissa), d_squared), e.exponent);
}

}  // namespace diffuse::nn::kernels

#pragma GCC diagnostic pop
