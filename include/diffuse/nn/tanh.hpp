// diffuse/nn/tanh.hpp: the saturating odd activations: tanh and softsign
// x / (1 + |x|) (Turian et al. 2009).
//
// The hyperbolic tangent is named tanh_act so that unqualified tanh(x) in user code (with
// `using namespace diffuse::nn`) still means std::tanh.
#pragma once

#include <limits>

#include "diffuse/nn/elementwise.hpp"
#include "diffuse/nn/kernels.hpp"

// Packet types (__m512 ...) carry alignment attributes that GCC warns about when they are used
// as template arguments; Eigen silences the same warning in its own headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace diffuse::nn {

// tanh(x); f' = 1 - tanh(x)^2.
struct tanh_act {
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
        return kernels::tanh(x);
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        return kernels::tanh_derivative(x);
    }
};

// x / (1 + |x|); f' = 1 / (1 + |x|)^2.
struct softsign {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 4;

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
        using T = simd::scalar_of<P>;
        // Beyond 2^60 the result rounds to +-1 in both formats; clamping avoids inf/inf.
        constexpr T big = T(1ull << 60);
        const P xc = simd::clamp_nan(x, -big, big);
        return Eigen::internal::pdiv(xc, Eigen::internal::padd(simd::constant<P>(T(1)), simd::abs(xc)));
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        using T = simd::scalar_of<P>;
        const P r = Eigen::internal::pdiv(simd::constant<P>(T(1)),
                                          Eigen::internal::padd(simd::constant<P>(T(1)), simd::abs(x)));
        return Eigen::internal::pmul(r, r);
    }
};

}  // namespace diffuse::nn

#pragma GCC diagnostic pop
