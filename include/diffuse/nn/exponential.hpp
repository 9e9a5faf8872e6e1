// diffuse/nn/exponential.hpp: exponential linear units: ELU (Clevert et al. 2016), SELU
// (Klambauer et al. 2017, constants from the paper as printed by PyTorch) and CELU
// (Barron 2017). The negative branch uses expm1, so it stays accurate as x -> 0-.
#pragma once

#include "diffuse/core/error.hpp"
#include "diffuse/nn/elementwise.hpp"

// Packet types (__m512 ...) carry alignment attributes that GCC warns about when they are used
// as template arguments; Eigen silences the same warning in its own headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace diffuse::nn {

namespace detail {
// x > 0 ? positive : negative_scale * expm1(y), y = x / alpha (alpha = 1: no division; y has
// the sign of x, so the negative branch needs expm1 only for y <= 0); the caller computes the
// positive branch (x itself, or SELU's scale * x).
template <class P>
DIFFUSE_ALWAYS_INLINE P exponential_linear(const P& x, const P& positive, const P& negative_scale, const P& y) {
    const P negative = Eigen::internal::pmul(negative_scale, simd::expm1_non_positive(y));
    return simd::select_less(Eigen::internal::pzero(x), x, positive, negative);
}
// its derivative: positive_scale, or negative_slope * exp(y + y_lo) with y = x / alpha carried
// to twice the precision (exp multiplies the relative error of y by |y|).
template <class P>
DIFFUSE_ALWAYS_INLINE P exponential_linear_derivative(const P& x, const P& positive_scale, const P& negative_slope,
                                                      const P& y, const P& y_lo) {
    const P negative = simd::exp_scaled(y, y_lo).times(negative_slope);
    return simd::keep_nan(x, simd::select_less(Eigen::internal::pzero(x), x, positive_scale, negative));
}
}  // namespace detail

// x for x > 0, alpha (exp(x) - 1) otherwise (torch.nn.ELU, alpha = 1).
struct elu {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 18;
    double alpha = 1.0;

    void validate() const { require_finite("elu.alpha", alpha); }
    template <Real T>
    T operator()(T x) const {
        return nn::value(*this, x);
    }
    template <Real T>
    T derivative(T x) const {
        return nn::derivative(*this, x);
    }
    // df/dalpha = expm1(x) for x <= 0
    template <Real T>
    T derivative_alpha(T x) const {
        validate();
        return x > T(0) ? T(0) : simd::on_scalar(x, [](const auto& p) { return simd::expm1(p); });
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packetOp(const P& x) const {
        return detail::exponential_linear(x, x, a<P>(), x);
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        return detail::exponential_linear_derivative(x, one<P>(), a<P>(), x, Eigen::internal::pzero(x));
    }

private:
    template <class P>
    DIFFUSE_ALWAYS_INLINE static P one() {
        return simd::constant<P>(simd::scalar_of<P>(1));
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P a() const {
        return simd::constant<P>(static_cast<simd::scalar_of<P>>(alpha));
    }
};

// scale * (x for x > 0, alpha (exp(x) - 1) otherwise), the self-normalizing constants.
struct selu {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 18;
    static constexpr long double alpha = 1.6732632423543772848170429916717L;
    static constexpr long double scale = 1.0507009873554804934193349852946L;

    template <Real T>
    T operator()(T x) const {
        return nn::value(*this, x);
    }
    template <Real T>
    T derivative(T x) const {
        return nn::derivative(*this, x);
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packetOp(const P& x) const {
        return detail::exponential_linear(x, scaled(x), constant<P>(scale * alpha), x);
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        return detail::exponential_linear_derivative(x, constant<P>(scale), constant<P>(scale * alpha), x,
                                                     Eigen::internal::pzero(x));
    }

private:
    // scale * alpha is rounded once to the working type.
    template <class P>
    DIFFUSE_ALWAYS_INLINE static P constant(long double c) {
        return simd::constant<P>(static_cast<simd::scalar_of<P>>(c));
    }
    // scale * x as x + (scale - 1) x, one fused multiply-add: scale rounded to the working type
    // is 0.55 ULP high in float, and scale * x then overflows to inf for x just below the largest
    // finite value, where the exact result still rounds to it. Rounding scale - 1 = 0.0507...
    // instead costs at most 0.1 ULP of x, and the sum is rounded once (also without hardware FMA,
    // where the product is rounded first).
    template <class P>
    DIFFUSE_ALWAYS_INLINE static P scaled(const P& x) {
        return simd::fma(constant<P>(scale - 1), x, x);
    }
};

// max(0, x) + min(0, alpha (exp(x / alpha) - 1)) (torch.nn.CELU, alpha = 1; alpha > 0).
struct celu {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 20;
    double alpha = 1.0;

    void validate() const { require_positive("celu.alpha", alpha); }
    template <Real T>
    T operator()(T x) const {
        return nn::value(*this, x);
    }
    template <Real T>
    T derivative(T x) const {
        return nn::derivative(*this, x);
    }
    // df/dalpha = expm1(x/alpha) - (x/alpha) exp(x/alpha) for x <= 0
    template <Real T>
    T derivative_alpha(T x) const {
        validate();
        if (!(x <= T(0))) return x > T(0) ? T(0) : x;
        const T y = x / static_cast<T>(alpha);
        return simd::on_scalar(y, [](const auto& p) {
            return Eigen::internal::psub(simd::expm1(p), Eigen::internal::pmul(p, simd::exp(p)));
        });
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packetOp(const P& x) const {
        return detail::exponential_linear(x, x, a<P>(), scaled(x));
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        if (alpha == 1.0)
            return detail::exponential_linear_derivative(x, one<P>(), one<P>(), x, Eigen::internal::pzero(x));
        // y_lo = (x - alpha y) / alpha, the remainder of the division computed exactly.
        const P y = Eigen::internal::pdiv(x, a<P>());
        const P y_lo = Eigen::internal::pdiv(simd::remainder_of(x, y, a<P>()), a<P>());
        return detail::exponential_linear_derivative(x, one<P>(), one<P>(), y, y_lo);
    }

private:
    template <class P>
    DIFFUSE_ALWAYS_INLINE static P one() {
        return simd::constant<P>(simd::scalar_of<P>(1));
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P a() const {
        return simd::constant<P>(static_cast<simd::scalar_of<P>>(alpha));
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P scaled(const P& x) const {
        return alpha == 1.0 ? x : Eigen::internal::pdiv(x, a<P>());
    }
};

}  // namespace diffuse::nn

#pragma GCC diagnostic pop
