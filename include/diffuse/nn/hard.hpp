// diffuse/nn/hard.hpp: piecewise-linear stand-ins for the smooth gates: hard sigmoid and
// hard swish (Howard et al. 2019, "Searching for MobileNetV3"), hard tanh. Definitions and
// one-sided derivatives at the kinks follow PyTorch (hardsigmoid_backward,
// hardswish_backward, hardtanh_backward).
#pragma once

#include "diffuse/core/error.hpp"
#include "diffuse/nn/elementwise.hpp"

// Packet types (__m512 ...) carry alignment attributes that GCC warns about when they are used
// as template arguments; Eigen silences the same warning in its own headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace diffuse::nn {

namespace detail {
// relu6(x + 3), the shared ramp of hard sigmoid and hard swish.
template <class P>
DIFFUSE_ALWAYS_INLINE P ramp6(const P& x) {
    return simd::clamp_nan(Eigen::internal::padd(x, simd::constant<P>(simd::scalar_of<P>(3))), 0, 6);
}
// y / 6, correctly rounded, for y = 0 or |y| >= 2^-119 (relu6(x + 3) is 0 or at least 2^-23;
// hard swish's x relu6(x + 3) reaches below, where the quotient is within one ULP). float:
// y z_hi + y z_lo with 1/6 = z_hi + z_lo (Brisebarre, Muller & Raina, "Accelerating correctly
// rounded floating-point division when the divisor is known in advance", IEEE TC 53(8), 2004):
// a multiply and a fused multiply-add instead of a division (10 cycles per 16 lanes on the Intel
// host of docs/activations.md), checked against the division for every float of [2^-24, 8) in
// test_activations_accuracy (it is correctly rounded from 2^-119 up; below, some denormal
// quotients are not). double, and float without hardware FMA, keep the division (no exhaustive
// check is possible for double; the sum must be fused).
template <class P>
DIFFUSE_ALWAYS_INLINE P ramp_over_6(const P& y) {
    using T = simd::scalar_of<P>;
#if defined(EIGEN_VECTORIZE_FMA)
    constexpr bool by_multiplication = std::is_same_v<T, float>;
#else
    constexpr bool by_multiplication = false;
#endif
    if constexpr (by_multiplication) {
        constexpr simd::exact_constant<float> sixth{1.0L / 6.0L};
        return simd::fma(y, simd::constant<P>(sixth.hi), Eigen::internal::pmul(y, simd::constant<P>(sixth.lo)));
    } else {
        return Eigen::internal::pdiv(y, simd::constant<P>(T(6)));
    }
}
// 1 where lo < x < hi (NaN: 0).
template <class P>
DIFFUSE_ALWAYS_INLINE P inside_open(const P& x, simd::scalar_of<P> lo, simd::scalar_of<P> hi) {
    return Eigen::internal::pand(simd::less(simd::constant<P>(lo), x), simd::less(x, simd::constant<P>(hi)));
}
}  // namespace detail

// clamp(x/6 + 1/2, 0, 1) = relu6(x + 3)/6; f'(x) = 1/6 on (-3, 3).
struct hard_sigmoid {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 3;

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
        return detail::ramp_over_6(detail::ramp6(x));
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        using T = simd::scalar_of<P>;
        return simd::keep_nan(x, simd::select(detail::inside_open(x, T(-3), T(3)), simd::constant<P>(T(1) / T(6)),
                                              Eigen::internal::pzero(x)));
    }
};

// clamp(x, min_val, max_val) (torch.nn.Hardtanh, [-1, 1]); f'(x) = 1 on (min_val, max_val).
struct hard_tanh {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 2;
    double min_val = -1.0;
    double max_val = 1.0;

    void validate() const {
        require_finite("hard_tanh.min_val", min_val);
        require_finite("hard_tanh.max_val", max_val);
        require(max_val > min_val, "hard_tanh.max_val", max_val, "a number > hard_tanh.min_val");
    }
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
        return simd::clamp_nan(x, static_cast<T>(min_val), static_cast<T>(max_val));
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        using T = simd::scalar_of<P>;
        const P inside = detail::inside_open(x, static_cast<T>(min_val), static_cast<T>(max_val));
        return simd::keep_nan(x, simd::select(inside, simd::constant<P>(T(1)), Eigen::internal::pzero(x)));
    }
};

// x relu6(x + 3) / 6 (= x for x >= 3, also where x * 6 would overflow; -0 for x <= -3, also
// at -inf); f'(x) = 0 for x < -3, x/3 + 1/2 for -3 <= x <= 3, 1 above.
struct hardswish {
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
        // On [-3, 3] relu6(u + 3) = u + 3; u = -3 gives -0, as PyTorch's formula does for
        // finite x <= -3 (and -0 rather than its NaN at -inf).
        const P u = simd::clamp_nan(x, T(-3), T(3));
        const P ramp = detail::ramp_over_6(Eigen::internal::pmul(u, Eigen::internal::padd(u, simd::constant<P>(T(3)))));
        return simd::select_less_equal(simd::constant<P>(T(3)), x, x, ramp);
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        using T = simd::scalar_of<P>;
        const P middle = simd::fma(x, simd::constant<P>(T(1) / T(3)), simd::constant<P>(T(0.5)));
        const P upper = simd::select_less_equal(x, simd::constant<P>(T(3)), middle, simd::constant<P>(T(1)));
        return simd::keep_nan(x, simd::select_less(x, simd::constant<P>(T(-3)), Eigen::internal::pzero(x), upper));
    }
};

}  // namespace diffuse::nn

#pragma GCC diagnostic pop
