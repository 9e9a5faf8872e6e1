// diffuse/nn/gelu.hpp: the Gaussian error linear unit (Hendrycks & Gimpel 2016, eq. 1):
// exact x Phi(x) = x (1 + erf(x / sqrt 2)) / 2, and the tanh form
// x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2 (same paper, sec. 2; torch approximate="tanh").
//
// Exact GELU: Phi(x) = exp(-x^2/2) H(|x|) for x < 0 and 1 - exp(-x^2/2) H(x) for x >= 0
// (nn/normal_cdf.hpp), so the negative tail keeps full relative accuracy instead of losing it in
// 1 + erf. Tanh form: (1 + tanh(u)) / 2 = sigma(2u), evaluated as the gate x sigma(w) with
// w = x (k1 + k3 x^2), k1 = sqrt(8/pi), k3 = 0.044715 k1, computed to twice the precision.
#pragma once

#include <limits>

#include "diffuse/nn/detail/gelu_tanh_table.hpp"
#include "diffuse/nn/detail/normal_lower_far_table.hpp"
#include "diffuse/nn/detail/normal_lower_half_table.hpp"
#include "diffuse/nn/detail/normal_lower_table.hpp"
#include "diffuse/nn/elementwise.hpp"
#include "diffuse/nn/kernels.hpp"
#include "diffuse/nn/normal_cdf.hpp"

// Packet types (__m512 ...) carry alignment attributes that GCC warns about when they are used
// as template arguments; Eigen silences the same warning in its own headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace diffuse::nn {

namespace kernels::detail {
// The GELUs' step tables in both layouts (nn/detail/step_tables.hpp).
inline constexpr step_table normal_lower_steps = steps_of(normal_lower_pieces);
inline constexpr step_table normal_lower_far_steps = steps_of(normal_lower_far_pieces);
inline constexpr step_table gelu_tanh_lower_steps = steps_of(gelu_tanh_lower_pieces);
}  // namespace kernels::detail

struct gelu {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 45;

    template <Real T>
    T operator()(T x) const {
        return nn::value(*this, x);
    }
    template <Real T>
    T derivative(T x) const {
        return nn::derivative(*this, x);
    }
    // On AVX2 (float, simd::normal_range_exp) a packet whose lanes all lie in [-3.25, 3.75) takes
    // Phi from 8 half steps (one vpermps per coefficient; relative to Phi(-t) within 2^-24.8 up
    // to t = 3.25, beyond only to 1 - Phi(-t)), any other packet whose lanes all have |x| <= 13
    // Phi(-|x|) = exp(-x^2/2) H(|x|) with H one rational function (nn/normal_cdf.hpp),
    // table-free.
    // On AVX-512 a packet whose lanes all lie in [-4.125, 7.875) takes Phi from the quarter-step
    // table, one in [-7.5, -4) from the eighth-step table (Phi falls faster there). Any other
    // packet takes the tail form, with H tabulated (AVX-512) for every x, or else the series near
    // 0, the tail form elsewhere, and both only when its lanes straddle the bound.
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packetOp(const P& x) const {
        using T = simd::scalar_of<P>;
        if constexpr (simd::normal_range_exp<P>) {
            namespace detail = kernels::detail;
            if (simd::all_within(x, simd::constant<P>(-detail::half_steps_relative_top),
                                 simd::constant<P>(detail::half_steps_top)))
                return detail::symmetric_gate_by_half_steps(detail::normal_lower_half_pieces, x);
            if (kernels::tail_rational_serves(x)) return value_by_tail_rational(x);
        }
        if constexpr (kernels::detail::step_tables_tabulated<T> && !simd::normal_range_exp<P>) {
            namespace detail = kernels::detail;
            if (detail::within_quarter_steps(x))
                return detail::symmetric_gate_by_steps<4>(detail::normal_lower_steps, x);
            if (simd::all_within(x, simd::constant<P>(-7.5f), simd::constant<P>(-4.0f)))
                return detail::symmetric_gate_by_steps<8>(detail::normal_lower_far_steps, x);
        }
        if constexpr (kernels::detail::quarter_octaves_tabulated<T>) return tail_value(x);
        const P near_zero = kernels::central(x);
        if (kernels::all(near_zero)) return central_value(x);
        const P y = tail_value(x);
        return kernels::any(near_zero) ? simd::select(near_zero, central_value(x), y) : y;
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        if constexpr (kernels::detail::quarter_octaves_tabulated<simd::scalar_of<P>>) return tail_derivative(x);
        const P near_zero = kernels::central(x);
        if (kernels::all(near_zero)) return central_derivative(x);
        const P dy = tail_derivative(x);
        return kernels::any(near_zero) ? simd::select(near_zero, central_derivative(x), dy) : dy;
    }

private:
    // x Phi(x) = max(x, 0) - t Phi(-t) on both sides (Phi(x) = 1 - Phi(-t) for x >= 0), t = |x|,
    // and t Phi(-t) = t H(t) exp(-t^2/2), the product rounded once in the fma (with the sum for
    // x >= 0, where it is at most x/2). x^2 = s + s_lo exactly. For x < 0 the addend is -0, so
    // that a product rounding to 0 (x = -0, the smallest denormals) gives -0, as x Phi(x) rounds.
    template <class P>
    DIFFUSE_ALWAYS_INLINE static P value_by_tail_rational(const P& x) {
        const auto [s, s_lo] = simd::two_product(x, x);
        const P t_h = kernels::t_times_scaled_tail_rational(simd::abs(x), s);
        return simd::fma(simd::negate(t_h), kernels::exp_minus_half_normal_range(s, s_lo),
                         simd::with_sign_of(simd::positive_part(x), x));
    }
    // |x| <= 1/2: x Phi(x) = x/2 + x^2 S(x^2) with x^2 = s + s_lo exact, one rounding at the end
    // (x/2 is exact but for denormal x, where it is the correctly rounded result).
    template <class P>
    DIFFUSE_ALWAYS_INLINE static P central_value(const P& x) {
        using T = simd::scalar_of<P>;
        const auto [s, s_lo] = simd::two_product(x, x);
        const P series = simd::polynomial(s, kernels::detail::normal_central<T>);
        const P half_x = Eigen::internal::pmul(x, simd::constant<P>(T(0.5)));
        const P y = simd::fma(s, series, simd::fma(s_lo, series, half_x));
        // x Phi(x) has the sign of x; restoring it turns the +0 the sums give for x = -0 (and
        // for the smallest negative denormals) into -0, as x Phi(x) rounds.
        return Eigen::internal::por(y, simd::sign_bit(x));
    }
    // f' = Phi(x) + x phi(x) = 1/2 + x D(x^2).
    template <class P>
    DIFFUSE_ALWAYS_INLINE static P central_derivative(const P& x) {
        using T = simd::scalar_of<P>;
        const P series = simd::polynomial(Eigen::internal::pmul(x, x), kernels::detail::normal_central_with_density<T>);
        return simd::fma(x, series, simd::constant<P>(T(0.5)));
    }
    // x < 0: x Phi(x) = -t (h + h_lo) g, the product -t (h + h_lo) rounded once and scaled by g
    // once. x >= 0: x Phi(x) = x + x q with q = -g h, rounded once. One scaling by g serves
    // both; t = |x| is clamped to 2^20 (where q = 0), so x = -inf gives -0 and +inf gives inf.
    template <class P>
    DIFFUSE_ALWAYS_INLINE static P tail_value(const P& x) {
        namespace ei = Eigen::internal;
        const auto tail = kernels::normal_tail(x);
        const P zero = ei::pzero(x);
        const P minus_t = ei::pnegate(tail.t);
        const P lower = simd::fma(minus_t, tail.h, ei::pmul(minus_t, tail.h_lo));
        const P q = simd::exp_scaled_non_positive(tail.a_hi, tail.a_lo)
                        .times(simd::select_less(x, zero, lower, ei::pnegate(tail.h)));
        return simd::select_less(x, zero, q, simd::fma(tail.t, q, x));
    }
    // f' = Phi(x) + x phi(x) = g (h - |x| / sqrt(2 pi)) for x < 0, 1 - g (h - x / sqrt(2 pi))
    // for x >= 0; the difference in the brackets is formed from h + h_lo and 1/sqrt(2 pi) to
    // twice the precision, so its cancellation near x = -0.75 costs nothing.
    template <class P>
    DIFFUSE_ALWAYS_INLINE static P tail_derivative(const P& x) {
        using T = simd::scalar_of<P>;
        namespace ei = Eigen::internal;
        constexpr simd::exact_constant<T> inv_sqrt_2pi{kernels::detail::inv_sqrt_2pi};
        const auto tail = kernels::normal_tail(x);
        const P minus_t = ei::pnegate(tail.t);
        const P inner_lo = simd::fma(minus_t, simd::constant<P>(inv_sqrt_2pi.lo), tail.h_lo);
        const P inner = ei::padd(simd::fma(minus_t, simd::constant<P>(inv_sqrt_2pi.hi), tail.h), inner_lo);
        const P g_inner = simd::exp_scaled_non_positive(tail.a_hi, tail.a_lo).times(inner);
        return simd::select_less(x, ei::pzero(x), g_inner, ei::psub(simd::constant<P>(T(1)), g_inner));
    }
};

struct gelu_tanh {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 35;
    static constexpr long double k1 = 1.59576912160573071175359185369269219L;  // sqrt(8/pi)
    static constexpr long double cubic = 0.044715L;

    template <Real T>
    T operator()(T x) const {
        return nn::value(*this, x);
    }
    template <Real T>
    T derivative(T x) const {
        return nn::derivative(*this, x);
    }
    // w is odd with the sign of x: -|w(x)| = m p(m) with m = -|x| and p(m) = k1 + k3 m^2 > 0,
    // the product taken into the exponential's reduction (simd::exp_scaled_of_product). m is
    // clamped where -|w| is below the exponential's range (the gate is 0 there).
    // On AVX-512 (float), a packet whose lanes all lie in [-4.125, 7.875) takes the gate from
    // the quarter-step table instead. On AVX2 the short exponential (simd::normal_range_exp)
    // serves |x| <= 9.5 faster than the table's transposition (1.65 against 1.55 Gelem/s at 16K,
    // Zen 5), so the table is not used there.
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packetOp(const P& x) const {
        using T = simd::scalar_of<P>;
        if constexpr (kernels::detail::step_tables_tabulated<T> && !simd::normal_range_exp<P>) {
            if (kernels::detail::within_quarter_steps(x))
                return kernels::detail::symmetric_gate_by_steps<4>(kernels::detail::gelu_tanh_lower_steps, x);
        }
        if constexpr (simd::normal_range_exp<P>) {
            // x sigma(w) = x / (1 + exp(-w)) as the logistic family's short path
            // (kernels::one_plus_exp_minus): x >= -9.5 keeps -w = -x p(x) below 77, in the short
            // exponential's range (AVX2); above 9.5, x is clamped, exp(-w(9.5)) < 2^-110 leaves
            // 1 + e = 1 as the unclamped one would.
            constexpr float reach = 9.5f;
            if (!simd::any_less(x, simd::constant<P>(-reach))) [[likely]] {
                const P xc = Eigen::internal::pmin(x, simd::constant<P>(reach));
                const auto [p, p_lo] = cubic_factor(xc, cubic_term<P>);
                // exp(xc (-p - p_lo)): the negations fold into the reduction's multiply-adds.
                const auto e = simd::exp_normal_range_of_product(xc, simd::negate(p), simd::negate(p_lo));
                return Eigen::internal::pdiv(x, e.plus_one());
            }
        }
        const P m = Eigen::internal::pmax(simd::minus_abs(x), simd::constant<P>(-static_cast<T>(underflow_bound<T>)));
        const auto [p, p_lo] = cubic_factor(m, cubic_term<P>);
        return kernels::self_gated(x, kernels::logistic_from(x, simd::exp_scaled_of_product(m, p, p_lo)));
    }
    // x w'(x) = x (k1 + 3 k3 x^2), to twice the precision like w.
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        const auto [w, w_lo] = odd_cubic(x, cubic_term<P>);
        const auto [s, s_lo] = odd_cubic(x, cubic_slope_term<P>);
        return kernels::self_gated_derivative(kernels::logistic(w, w_lo), s, s_lo);
    }

private:
    template <class P>
    static constexpr simd::exact_constant<simd::scalar_of<P>> linear{k1};
    template <class P>
    static constexpr simd::exact_constant<simd::scalar_of<P>> cubic_term{k1 * cubic};
    template <class P>
    static constexpr simd::exact_constant<simd::scalar_of<P>> cubic_slope_term{3 * k1 * cubic};

    // t with k1 t + k3 t^3 = -detail::exp_lowest (Newton's iteration from above, in long double):
    // beyond, the gate's exponential is 0 in T.
    template <Real T>
    static constexpr long double underflow_bound = [] {
        const long double target = -static_cast<long double>(simd::detail::exp_lowest<T>);
        long double t = target / k1;  // above the root (the cubic term only adds)
        for (int i = 0; i < 60; ++i) t -= (k1 * t + k1 * cubic * t * t * t - target) / (k1 + 3 * k1 * cubic * t * t);
        return t;
    }();

    // k1 + k3 x^2 as hi + lo.
    template <class P>
    DIFFUSE_ALWAYS_INLINE static simd::double_word<P> cubic_factor(const P& x,
                                                                   const simd::exact_constant<simd::scalar_of<P>>& k3) {
        namespace ei = Eigen::internal;
        constexpr auto k = linear<P>;
        const auto [s, s_lo] = simd::two_product(x, x);
        const auto [p, p_lo] = simd::two_product(simd::constant<P>(k3.hi), s);
        const auto [m, m_err] = simd::two_sum(simd::constant<P>(k.hi), p);
        P m_lo = ei::padd(m_err, p_lo);
        m_lo = ei::padd(m_lo, simd::constant<P>(k.lo));
        m_lo = simd::fma(simd::constant<P>(k3.lo), s, m_lo);
        m_lo = simd::fma(simd::constant<P>(k3.hi), s_lo, m_lo);
        return {m, m_lo};
    }
    // x (k1 + k3 x^2) as hi + lo (w for k3 = k1 * 0.044715, x w' for three times that).
    template <class P>
    DIFFUSE_ALWAYS_INLINE static simd::double_word<P> odd_cubic(const P& x,
                                                                const simd::exact_constant<simd::scalar_of<P>>& k3) {
        const auto [m, m_lo] = cubic_factor(x, k3);
        const auto [w, w_err] = simd::two_product(x, m);
        return {w, simd::fma(x, m_lo, w_err)};
    }
};

}  // namespace diffuse::nn

#pragma GCC diagnostic pop
