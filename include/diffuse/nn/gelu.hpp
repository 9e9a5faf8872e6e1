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

#include "diffuse/nn/elementwise.hpp"
#include "diffuse/nn/kernels.hpp"
#include "diffuse/nn/normal_cdf.hpp"

// Packet types (__m512 ...) carry alignment attributes that GCC warns about when they are used
// as template arguments; Eigen silences the same warning in its own headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace diffuse::nn {

struct gelu {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 45;

    template <Real T> T operator()(T x) const { return nn::value(*this, x); }
    template <Real T> T derivative(T x) const { return nn::derivative(*this, x); }
    template <class P> P packetOp(const P& x) const {
        using T = simd::scalar_of<P>;
        namespace ei = Eigen::internal;
        const auto tail = kernels::normal_tail(x);
        const P x_finite = simd::clamp_nan(x, std::numeric_limits<T>::lowest(), std::numeric_limits<T>::max());
        // x < 0: x Phi(x) = (x H) exp(-x^2/2), scaled once; x >= 0: x (1 - exp(-x^2/2) H).
        const auto g = simd::exp_scaled(tail.a_hi, tail.a_lo);
        const P upper = ei::pmul(x, simd::fma(ei::pnegate(g.value()), tail.h, simd::constant<P>(T(1))));
        return simd::select(simd::less(x, ei::pzero(x)), g.times(ei::pmul(x_finite, tail.h)), upper);
    }
    // f' = Phi(x) + x phi(x) = g (H - |x| / sqrt(2 pi)) for x < 0, 1 - g (H - x / sqrt(2 pi)) for x >= 0.
    template <class P> P packet_derivative(const P& x) const {
        using T = simd::scalar_of<P>;
        namespace ei = Eigen::internal;
        const auto tail = kernels::normal_tail(x);
        const P inner = simd::fma(ei::pnegate(tail.t), simd::constant<P>(static_cast<T>(kernels::detail::inv_sqrt_2pi)), tail.h);
        const P g_inner = simd::exp_scaled(tail.a_hi, tail.a_lo).times(inner);
        return simd::select(simd::less(x, ei::pzero(x)), g_inner, ei::psub(simd::constant<P>(T(1)), g_inner));
    }
};

struct gelu_tanh {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 35;
    static constexpr long double k1 = 1.59576912160573071175359185369269219L;  // sqrt(8/pi)
    static constexpr long double cubic = 0.044715L;

    template <Real T> T operator()(T x) const { return nn::value(*this, x); }
    template <Real T> T derivative(T x) const { return nn::derivative(*this, x); }
    template <class P> P packetOp(const P& x) const {
        const auto [w, w_lo] = gate(x);
        return kernels::self_gated(x, w, w_lo);
    }
    template <class P> P packet_derivative(const P& x) const {
        using T = simd::scalar_of<P>;
        const auto [w, w_lo] = gate(x);
        // w' = k1 + 3 k3 x^2
        const P dw = simd::fma(simd::constant<P>(T(3) * linear<P>.hi * T(cubic)), Eigen::internal::pmul(x, x), simd::constant<P>(linear<P>.hi));
        return kernels::self_gated_derivative(x, w, w_lo, dw);
    }

private:
    template <class P>
    static constexpr simd::exact_constant<simd::scalar_of<P>> linear{k1};
    template <class P>
    static constexpr simd::exact_constant<simd::scalar_of<P>> cubic_term{k1 * cubic};

    // w = x (k1 + k3 x^2) as hi + lo.
    template <class P>
    static simd::double_word<P> gate(const P& x) {
        namespace ei = Eigen::internal;
        constexpr auto k = linear<P>;
        constexpr auto k3 = cubic_term<P>;
        const auto [s, s_lo] = simd::two_product(x, x);
        const auto [p, p_lo] = simd::two_product(simd::constant<P>(k3.hi), s);
        const auto [m, m_err] = simd::two_sum(simd::constant<P>(k.hi), p);
        P m_lo = ei::padd(m_err, p_lo);
        m_lo = ei::padd(m_lo, simd::constant<P>(k.lo));
        m_lo = simd::fma(simd::constant<P>(k3.lo), s, m_lo);
        m_lo = simd::fma(simd::constant<P>(k3.hi), s_lo, m_lo);
        const auto [w, w_err] = simd::two_product(x, m);
        return {w, simd::fma(x, m_lo, w_err)};
    }
};

}  // namespace diffuse::nn

#pragma GCC diagnostic pop
