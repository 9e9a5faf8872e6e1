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
#include "diffuse/nn/detail/mish_table.hpp"
#include "diffuse/nn/detail/quarter_octaves.hpp"
#include "diffuse/nn/elementwise.hpp"
#include "diffuse/nn/kernels.hpp"

// Packet types (__m512 ...) carry alignment attributes that GCC warns about when they are used
// as template arguments; Eigen silences the same warning in its own headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace diffuse::nn {

namespace kernels::detail {
// Mish's gate table in both layouts (nn/detail/step_tables.hpp).
inline constexpr step_table mish_gate_steps = steps_of(mish_gate_pieces);
}  // namespace kernels::detail

struct softplus {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 30;
    double beta = 1.0;
    double threshold = 20.0;

    void validate() const {
        require_positive("softplus.beta", beta);
        require_finite("softplus.threshold", threshold);
    }
    template <Real T>
    T operator()(T x) const {
        return nn::value(*this, x);
    }
    template <Real T>
    T derivative(T x) const {
        return nn::derivative(*this, x);
    }
    // df/dbeta = (x sigma(beta x) - f(x)) / beta below the threshold, 0 above.
    template <Real T>
    T derivative_beta(T x) const {
        validate();
        const T b = static_cast<T>(beta);
        if (b * x > static_cast<T>(threshold)) return std::isnan(x) ? x : T(0);
        const T f = (*this)(x);
        return (x * derivative(x) - f) / b;
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packetOp(const P& x) const {
        using T = simd::scalar_of<P>;
        // beta = 1 (the default): z = x exactly, no correction to carry and no division.
        if (beta == 1.0) return threshold_select(x, x, positive_part_plus_log_term(x));
        const auto [z, z_lo] = simd::two_product(b<P>(), x);
        // -|z| = -|z_hi| - sign(z) z_lo: z_lo with its sign flipped where z >= 0 (bit operations,
        // not a compare and a select; where |z| is so large that exp clamps, it drops the correction).
        const P lo = Eigen::internal::pxor(z_lo, Eigen::internal::pxor(simd::sign_bit(z), simd::constant<P>(T(-0.0))));
        return threshold_select(x, z, Eigen::internal::pdiv(positive_part_plus_log_term(z, lo), b<P>()));
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        using T = simd::scalar_of<P>;
        const auto [z, z_lo] = simd::two_product(b<P>(), x);
        const P sigma = kernels::sigma_of(kernels::logistic(z, z_lo));
        return simd::select_less(simd::constant<P>(static_cast<T>(threshold)), z, simd::constant<P>(T(1)), sigma);
    }

private:
    template <class P>
    DIFFUSE_ALWAYS_INLINE P b() const {
        return simd::constant<P>(static_cast<simd::scalar_of<P>>(beta));
    }

    // max(z, 0) + log1p(exp(-|z|)) for z (+ z_lo, the pack holding -sign(z) z_lo or nothing).
    template <class P, class... Correction>
    DIFFUSE_ALWAYS_INLINE static P positive_part_plus_log_term(const P& z, const Correction&... lo) {
        namespace ei = Eigen::internal;
        const P minus_abs = simd::minus_abs(z);
        // log1p(exp(-t)): for float a polynomial in exp(-t), see simd::log1p_unit_interval.
        const P log_term = simd::log1p_unit_interval(simd::exp_scaled_non_positive(minus_abs, lo...).value());
        return ei::padd(simd::positive_part(z), log_term);
    }
    // PyTorch's linear regime: x where beta x > threshold.
    template <class P>
    DIFFUSE_ALWAYS_INLINE P threshold_select(const P& x, const P& z, const P& soft) const {
        return simd::select_less(simd::constant<P>(static_cast<simd::scalar_of<P>>(threshold)), z, x, soft);
    }
};

struct mish {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 30;

    template <Real T>
    T operator()(T x) const {
        return nn::value(*this, x);
    }
    template <Real T>
    T derivative(T x) const {
        return nn::derivative(*this, x);
    }
    // With e = exp(-|x|), g = tanh(softplus(x)) is 1 - a/b on both sides, one division for both
    // (the divider, not the arithmetic, bounds two of them on cores with one slow 512-bit divider):
    //   x > 0:  g = (1 + 2e) / (1 + 2e + 2e^2)         = 1 - 2e^2 / (1 + 2e + 2e^2),
    //   x <= 0: g = e q, q = (e + 2) / (e (e + 2) + 2) = 1 - e (e + 1) / (e (e + 2) + 2),
    // a/b <= 2/5, so 1 - a/b keeps the quotient's rounding small; for x <= 0 the factor e is
    // applied last, with its power of two (as x -> -inf, q is just below 1, where the roundings
    // of the plain ratio (e + 2)/b counted double: 4.26 ULP at x = -5.128 in the exhaustive sweep).
    // -inf is clamped to the lowest float (e = 0 there: -0, not -inf * 0).
    // Where the step tables serve (float, AVX2 and AVX-512), a packet whose lanes all lie in
    // [-8, 7.75) takes g from the half-step table instead (no exponential, no division):
    // x (lead + rest), the small product first, and the sign of x for x = -0.
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packetOp(const P& x) const {
        using T = simd::scalar_of<P>;
        namespace ei = Eigen::internal;
        if constexpr (kernels::detail::step_tables_tabulated<T>) {
            if (simd::all_within(x, simd::constant<P>(-8.0f), simd::constant<P>(7.75f))) {
                const auto [lead, rest] = kernels::detail::evaluate_by_steps<2, 8>(kernels::detail::mish_gate_steps, x);
                return ei::por(simd::fma(x, lead, ei::pmul(x, rest)), simd::sign_bit(x));
            }
        }
        const auto exp_x = simd::exp_scaled_non_positive(simd::minus_abs(x));
        const P e = exp_x.value();
        const P two = simd::constant<P>(T(2));
        const P zero = ei::pzero(x);  // x > 0 picks the first form (one compare for the three selects)
        const P two_e = ei::pmul(two, e);
        const P numerator = simd::select_less(zero, x, ei::pmul(two_e, e), simd::fma(e, e, e));
        const P denominator = simd::select_less(zero, x, simd::fma(two_e, e, ei::padd(two_e, simd::constant<P>(T(1)))),
                                                simd::fma(e, ei::padd(e, two), two));
        const P y = ei::pmul(ei::pmax(x, simd::constant<P>(std::numeric_limits<T>::lowest())),
                             ei::psub(simd::constant<P>(T(1)), ei::pdiv(numerator, denominator)));
        return simd::select_less(zero, x, y, exp_x.times(y));
    }
    // f' = g + x (1 - g^2) sigma(x), g = tanh(softplus(x)), as one ratio of polynomials in
    // e = exp(-|x|) (with 1 + g = 2 (1 + e)^2 / denominator the factors (1 + e) cancel):
    //   x > 0:  (1 + e (4 + e (6 + 4x + e (4 + 4x)))) / (1 + 2e + 2e^2)^2,
    //   x <= 0: e (4 (1 + x) + e (6 + 4x + e (4 + e))) / (2 + 2e + e^2)^2,
    // the squares expanded and evaluated by Horner's rule, 1 + x exact (TwoSum) and, for x <= 0,
    // the numerator rounded once together with the exponential's mantissa, its power of two
    // applied last. x is clamped to |x| <= 2^100 (beyond, e = 0 and the result is 1 or -0) so
    // that 4x stays finite.
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
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
        const P upper_denominator =
            simd::fma(e, simd::fma(e, simd::fma(e, simd::fma(e, four, c(T(8))), c(T(8))), four), c(T(1)));
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
