// diffuse/nn/logistic.hpp: the logistic sigmoid and the activations it gates:
// SiLU x sigma(x) (Elfwing et al. 2018; Hendrycks & Gimpel 2016), Swish x sigma(beta x)
// (Ramachandran et al. 2017) and QuickGELU x sigma(1.702 x) (Hendrycks & Gimpel 2016, sec. 2,
// the form used by CLIP). The gate argument is formed exactly (TwoProduct), because sigma's
// relative error grows like |w| times the error of w in the tails.
#pragma once

#include <cmath>

#include "diffuse/core/error.hpp"
#include "diffuse/nn/elementwise.hpp"
#include "diffuse/nn/kernels.hpp"

// Packet types (__m512 ...) carry alignment attributes that GCC warns about when they are used
// as template arguments; Eigen silences the same warning in its own headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace diffuse::nn {

// 1 / (1 + exp(-x)); f' = sigma(x) sigma(-x).
struct sigmoid {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 20;

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
        if constexpr (simd::normal_range_exp<P>)
            if (kernels::short_logistic_serves(x)) [[likely]]
                return Eigen::internal::pdiv(simd::constant<P>(1.0f), kernels::one_plus_exp_minus(x));
        return kernels::sigma_of(kernels::logistic(x));
    }
    // sigma(x) sigma(-x) = e / d^2: the exponential's mantissa over d^2 (rounded once), its
    // power of two applied last.
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        const auto s = kernels::logistic(x);
        return simd::ldexp(Eigen::internal::pdiv(s.exp_w.half_mantissa, kernels::one_plus_squared(s.e, s.d)),
                           s.exp_w.exponent);
    }
};

// x sigma(x) (torch.nn.SiLU).
struct silu {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 22;

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
        if constexpr (simd::normal_range_exp<P>)
            if (kernels::short_logistic_serves(x)) [[likely]]
                return Eigen::internal::pdiv(x, kernels::one_plus_exp_minus(x));
        return kernels::self_gated(x, kernels::logistic(x));
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        return kernels::self_gated_derivative(kernels::logistic(x), x, Eigen::internal::pzero(x));
    }
};

// x sigma(beta x); beta = 1 is SiLU. beta is used rounded to the working type.
struct swish {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 26;
    double beta = 1.0;

    void validate() const { require_finite("swish.beta", beta); }
    template <Real T>
    T operator()(T x) const {
        return nn::value(*this, x);
    }
    template <Real T>
    T derivative(T x) const {
        return nn::derivative(*this, x);
    }
    // df/dbeta = x^2 sigma(beta x) sigma(-beta x)
    template <Real T>
    T derivative_beta(T x) const {
        validate();
        if (beta == 0.0) return x * x / 4;  // sigma(0) = 1/2, also at x = +-inf
        return simd::on_scalar(x, [this](const auto& p) {
            const auto [hi, lo] = this->gate(p);
            const auto s = kernels::logistic(hi, lo);
            return s.exp_w.times(Eigen::internal::pdiv(Eigen::internal::pmul(p, p), Eigen::internal::pmul(s.d, s.d)));
        });
    }
    // exp(-|beta x|) = exp(|beta| (-|x|)); w = |beta| y has the sign of y = x, or of y = -x for
    // beta < 0. beta = 0 is the line x/2 (the general path would meet 0 * inf at x = +-inf).
    // On AVX2 the short path comes first and serves beta = 0 too (exp(-0 y) = 1, x/2 exactly;
    // its reach is capped at the largest float, so x = +inf gives inf, x = -inf the branch
    // below): with no branch on beta before it, the compiler computes beta's conversion and the
    // reach once per loop (behind a branch on beta, a scalar division stayed in the loop, one
    // per packet).
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packetOp(const P& x) const {
        using T = simd::scalar_of<P>;
        if constexpr (simd::normal_range_exp<P>) {
            const T magnitude = std::abs(static_cast<T>(beta));
            const P y = gate_sign(x);
            if (kernels::short_logistic_serves(y, magnitude)) [[likely]]
                return Eigen::internal::pdiv(x, kernels::one_plus_exp_minus_product(y, magnitude));
        }
        if (beta == 0.0) return Eigen::internal::pmul(x, simd::constant<P>(T(0.5)));
        const T b = static_cast<T>(beta);
        const P sign_of_w = gate_sign(x);
        return kernels::self_gated(x, kernels::logistic_of_linear(sign_of_w, x, std::abs(b)));
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        if (beta == 0.0) return simd::keep_nan(x, simd::constant<P>(simd::scalar_of<P>(0.5)));
        // x w' = beta x = w, exactly as hi + lo.
        const auto [hi, lo] = gate(x);
        return kernels::self_gated_derivative(kernels::logistic(hi, lo), hi, lo);
    }

private:
    // y = x, or -x for beta < 0 (beta x = |beta| y).
    template <class P>
    DIFFUSE_ALWAYS_INLINE P gate_sign(const P& x) const {
        return Eigen::internal::pxor(x, simd::sign_bit(simd::constant<P>(static_cast<simd::scalar_of<P>>(beta))));
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE simd::double_word<P> gate(const P& x) const {
        return simd::two_product(simd::constant<P>(static_cast<simd::scalar_of<P>>(beta)), x);
    }
};

// x sigma(1.702 x), with 1.702 carried to twice the working precision.
struct quick_gelu {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 24;
    static constexpr long double gate_scale = 1.702L;

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
        if constexpr (simd::normal_range_exp<P>)
            if (kernels::short_logistic_serves(x, scale<P>.hi)) [[likely]]
                return Eigen::internal::pdiv(x, kernels::one_plus_exp_minus_product(x, scale<P>.hi, scale<P>.lo));
        return kernels::self_gated(x, kernels::logistic_of_linear(x, x, scale<P>.hi, scale<P>.lo));
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        // x w' = 1.702 x = w.
        const auto [hi, lo] = simd::times(scale<P>, x);
        return kernels::self_gated_derivative(kernels::logistic(hi, lo), hi, lo);
    }

private:
    template <class P>
    static constexpr simd::exact_constant<simd::scalar_of<P>> scale{gate_scale};
};

}  // namespace diffuse::nn

#pragma GCC diagnostic pop
