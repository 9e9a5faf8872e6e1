// diffuse/nn/softplus.hpp: Softplus log(1 + exp(beta x)) / beta (Dugas et al. 2001; PyTorch's
// beta and linear threshold) and Mish x tanh(softplus(x)) (Misra 2019).
//
// softplus(z) = max(z, 0) + log1p(exp(-|z|)) never overflows and keeps full relative accuracy
// in the left tail (where it is exp(z)); PyTorch's rule "x when beta x > threshold" is kept so
// results match torch.nn.Softplus. Mish uses tanh(log(1 + e^x)) = n / (n + 2), n = e^x (e^x + 2),
// rewritten in e = exp(-|x|) so that nothing overflows.
#pragma once

#include <cmath>

#include "diffuse/core/error.hpp"
#include "diffuse/nn/elementwise.hpp"
#include "diffuse/nn/detail/softplus_table.hpp"
#include "diffuse/nn/kernels.hpp"

// Packet types (__m512 ...) carry alignment attributes that GCC warns about when they are used
// as template arguments; Eigen silences the same warning in its own headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace diffuse::nn {

struct softplus {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 30;
    double beta = 1.0;
    double threshold = 20.0;

    void validate() const {
        require_positive("softplus.beta", beta);
        require_finite("softplus.threshold", threshold);
    }
    template <Real T> T operator()(T x) const { return nn::value(*this, x); }
    template <Real T> T derivative(T x) const { return nn::derivative(*this, x); }
    // df/dbeta = (x sigma(beta x) - f(x)) / beta below the threshold, 0 above.
    template <Real T> T derivative_beta(T x) const {
        validate();
        const T b = static_cast<T>(beta);
        if (b * x > static_cast<T>(threshold)) return std::isnan(x) ? x : T(0);
        const T f = (*this)(x);
        return (x * derivative(x) - f) / b;
    }
    template <class P> DIFFUSE_ALWAYS_INLINE P packetOp(const P& x) const {
        using T = simd::scalar_of<P>;
        // beta = 1 (the default): z = x exactly, no correction to carry and no division.
        if (beta == 1.0) return threshold_select(x, x, positive_part_plus_log_term(x));
        const auto [z, z_lo] = simd::two_product(b<P>(), x);
        // -|z| = -|z_hi| - sign(z) z_lo: z_lo with its sign flipped where z >= 0 (bit operations,
        // not a compare and a select; where |z| is so large that exp clamps, it drops the correction).
        const P lo = Eigen::internal::pxor(z_lo, Eigen::internal::pxor(simd::sign_bit(z), simd::constant<P>(T(-0.0))));
        return threshold_select(x, z, Eigen::internal::pdiv(positive_part_plus_log_term(z, lo), b<P>()));
    }
    template <class P> DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        using T = simd::scalar_of<P>;
        const auto [z, z_lo] = simd::two_product(b<P>(), x);
        const P sigma = kernels::sigma_of(kernels::logistic(z, z_lo));
        return simd::select_less(simd::constant<P>(static_cast<T>(threshold)), z, simd::constant<P>(T(1)), sigma);
    }

private:
    template <class P> DIFFUSE_ALWAYS_INLINE P b() const { return simd::constant<P>(static_cast<simd::scalar_of<P>>(beta)); }

    // max(z, 0) + log1p(exp(-|z|)) for z (+ z_lo, the pack holding -sign(z) z_lo or nothing).
    template <class P, class... Correction>
    DIFFUSE_ALWAYS_INLINE static P positive_part_plus_log_term(const P& z, const Correction&... lo) {
        namespace ei = Eigen::internal;
        const P minus_abs = simd::minus_abs(z);
        P log_term;
        if constexpr (kernels::detail::quarter_octaves_tabulated<simd::scalar_of<P>>) {
            // log1p(exp(-t)) = exp(-t) S(t), S from the quarter-octave table
            // (nn/detail/softplus_table.hpp), the product rounded once: no logarithm.
            using kernels::detail::softplus_tail_by_bits;
            const auto s = kernels::detail::evaluate(softplus_tail_by_bits, kernels::detail::clamp_to_table(softplus_tail_by_bits, simd::abs(z)));
            log_term = simd::exp_scaled_non_positive(minus_abs, lo...).times(s.hi, s.lo);
        } else {
            log_term = simd::log1p_unit_interval(simd::exp_scaled_non_positive(minus_abs, lo...).value());
        }
        // max(z, 0), z when it is NaN (pmax returns its first operand then).
        return ei::padd(ei::pmax(z, ei::pzero(z)), log_term);
    }
    // PyTorch's linear regime: x where beta x > threshold.
    template <class P>
    DIFFUSE_ALWAYS_INLINE P threshold_select(const P& x, const P& z, const P& soft) const {
        return simd::select_less(simd::constant<P>(static_cast<simd::scalar_of<P>>(threshold)), z, x, soft);
    }
};

namespace detail {
// The pieces of Mish in e = exp(-|x|): tanh(softplus(x)) = numerator / denominator with
// numerator 1 + 2e (x > 0) or e (e + 2) (x <= 0), denominator 1 + 2e + 2e^2 or e (e + 2) + 2;
// 1 - tanh(softplus(x)) = (2 e^2 or 2) / denominator.
template <class P>
struct mish_parts {
    simd::scaled_exp<P> exp_x;  // e, for products rounded once
    P e;
    P denominator;
};
template <class P>
DIFFUSE_ALWAYS_INLINE mish_parts<P> mish_split(const P& x) {
    using T = simd::scalar_of<P>;
    namespace ei = Eigen::internal;
    const auto exp_x = simd::exp_scaled_non_positive(simd::minus_abs(x));
    const P e = exp_x.value();
    const P two = simd::constant<P>(T(2));
    const P one_plus_2e = simd::fma(two, e, simd::constant<P>(T(1)));
    const P e_plus_2 = ei::padd(e, two);
    const P denominator = simd::select_less(ei::pzero(x), x, simd::fma(ei::pmul(two, e), e, one_plus_2e), simd::fma(e, e_plus_2, two));
    return {exp_x, e, denominator};
}
}  // namespace detail

struct mish {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 30;

    template <Real T> T operator()(T x) const { return nn::value(*this, x); }
    template <Real T> T derivative(T x) const { return nn::derivative(*this, x); }
    template <class P> DIFFUSE_ALWAYS_INLINE P packetOp(const P& x) const {
        using T = simd::scalar_of<P>;
        namespace ei = Eigen::internal;
        const auto m = detail::mish_split(x);
        const P two = simd::constant<P>(T(2));
        const P x_finite = simd::clamp_nan(x, std::numeric_limits<T>::lowest(), std::numeric_limits<T>::max());
        // x > 0: x (1 + 2e) / denominator; x <= 0: x e q, the factor e applied last, with
        // q = (e + 2) / denominator written 1 - e (e + 1) / denominator: as x -> -inf, q is just
        // below 1, where its ULP is half that of e + 2 and of the denominator, so the roundings of
        // the plain ratio count double (4.26 ULP at x = -5.128 in the exhaustive sweep); in this
        // form they shrink with e. (Choosing the form per lane costs two selects after the
        // division on the critical path: 25% of the speed, for 3.18 against 3.66 ULP.)
        const P one = simd::constant<P>(T(1));
        const P positive = ei::pdiv(ei::pmul(x, simd::fma(two, m.e, one)), m.denominator);
        const P q = ei::psub(one, ei::pdiv(simd::fma(m.e, m.e, m.e), m.denominator));
        const P negative = m.exp_x.times(ei::pmul(x_finite, q));
        return simd::select_less(ei::pzero(x), x, positive, negative);
    }
    // f' = g + x (1 - g^2) sigma(x), g = tanh(softplus(x)), as one ratio of polynomials in
    // e = exp(-|x|) (with 1 + g = 2 (1 + e)^2 / denominator the factors (1 + e) cancel):
    //   x > 0:  (1 + e (4 + e (6 + 4x + e (4 + 4x)))) / (1 + 2e + 2e^2)^2,
    //   x <= 0: e (4 (1 + x) + e (6 + 4x + e (4 + e))) / (2 + 2e + e^2)^2,
    // the squares expanded and evaluated by Horner's rule, 1 + x exact (TwoSum) and, for x <= 0,
    // the numerator rounded once together with the exponential's mantissa, its power of two
    // applied last. x is clamped to |x| <= 2^100 (beyond, e = 0 and the result is 1 or -0) so
    // that 4x stays finite.
    template <class P> DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        using T = simd::scalar_of<P>;
        namespace ei = Eigen::internal;
        auto c = [](T value) { return simd::constant<P>(value); };
        const auto exp_x = simd::exp_scaled_non_positive(simd::minus_abs(x));
        const P e = exp_x.value();
        const P xb = simd::clamp_nan(x, -T(0x1p100), T(0x1p100));
        const P four = c(T(4));
        const P four_x_plus_4 = simd::fma(four, xb, four);
        const P four_x_plus_6 = simd::fma(four, xb, c(T(6)));
        // x > 0
        const P upper_numerator = simd::fma(e, simd::fma(e, simd::fma(e, four_x_plus_4, four_x_plus_6), four), c(T(1)));
        const P upper_denominator = simd::fma(e, simd::fma(e, simd::fma(e, simd::fma(e, four, c(T(8))), c(T(8))), four), c(T(1)));
        const P upper = ei::pdiv(upper_numerator, upper_denominator);
        // x <= 0
        const auto [one_plus_x, one_plus_x_lo] = simd::two_sum(c(T(1)), xb);
        const P rest = simd::fma(e, simd::fma(e, ei::padd(e, four), four_x_plus_6), ei::pmul(four, one_plus_x_lo));
        const P mantissa = exp_x.half_mantissa;
        const P lower_numerator = simd::fma(ei::pmul(four, mantissa), one_plus_x, ei::pmul(mantissa, rest));
        const P lower_denominator = simd::fma(e, simd::fma(e, simd::fma(e, ei::padd(e, four), c(T(8))), c(T(8))), four);
        const P lower = simd::ldexp(ei::pdiv(lower_numerator, lower_denominator), exp_x.exponent);
        return simd::select_less(ei::pzero(x), x, upper, lower);
    }
};

}  // namespace diffuse::nn

#pragma GCC diagnostic pop
