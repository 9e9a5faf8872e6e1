// diffuse/nn/step.hpp: the Heaviside step, the activation of Rosenblatt's perceptron (1958):
// 1 for x > 0, 0 for x < 0 and `at_zero` at 0 (torch.heaviside(x, values=at_zero); the
// perceptron fires only for x > 0, hence the default 0). Its derivative is 0 wherever it
// exists (the perceptron rule does not backpropagate through it).
#pragma once

#include "diffuse/core/error.hpp"
#include "diffuse/nn/elementwise.hpp"

// Packet types (__m512 ...) carry alignment attributes that GCC warns about when they are used
// as template arguments; Eigen silences the same warning in its own headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace diffuse::nn {

struct heaviside {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 2;
    double at_zero = 0.0;

    void validate() const { require_finite("heaviside.at_zero", at_zero); }
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
        const P zero = Eigen::internal::pzero(x);
        const P step = simd::select_less(zero, x, simd::constant<P>(T(1)), zero);
        return simd::keep_nan(x, simd::select_equal(x, zero, simd::constant<P>(static_cast<T>(at_zero)), step));
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        return simd::keep_nan(x, Eigen::internal::pzero(x));
    }
};

}  // namespace diffuse::nn

#pragma GCC diagnostic pop
