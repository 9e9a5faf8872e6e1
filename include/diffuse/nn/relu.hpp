// diffuse/nn/relu.hpp: the rectifiers: ReLU (Nair & Hinton 2010), ReLU6 (Krizhevsky 2010),
// LeakyReLU (Maas et al. 2013), PReLU (He et al. 2015) and squared ReLU (So et al. 2021,
// "Primer"). PyTorch's definitions: f'(0) = 0 for ReLU, slope on x <= 0 for the leaky ones.
#pragma once

#include "diffuse/core/error.hpp"
#include "diffuse/nn/elementwise.hpp"

// Packet types (__m512 ...) carry alignment attributes that GCC warns about when they are used
// as template arguments; Eigen silences the same warning in its own headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace diffuse::nn {

namespace detail {
// f(x) = x for x > 0, slope * x otherwise; f'(x) = 1 or slope; df/dslope = 0 or x.
template <class P>
DIFFUSE_ALWAYS_INLINE P leaky(const P& x, const P& slope) {
    return simd::select_less(Eigen::internal::pzero(x), x, x, Eigen::internal::pmul(slope, x));
}
template <class P>
DIFFUSE_ALWAYS_INLINE P leaky_derivative(const P& x, const P& slope) {
    return simd::keep_nan(
        x, simd::select_less(Eigen::internal::pzero(x), x, simd::constant<P>(simd::scalar_of<P>(1)), slope));
}
template <Real T>
T leaky_slope_derivative(T x) {
    return x > T(0) ? T(0) : x;
}
}  // namespace detail

// max(0, x); f'(x) = 1 for x > 0, else 0.
struct relu {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 1;

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
        return simd::positive_part(x);
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        return detail::leaky_derivative(x, Eigen::internal::pzero(x));
    }
};

// min(max(0, x), 6); f'(x) = 1 on (0, 6), else 0.
struct relu6 {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 2;

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
        return simd::clamp_nan(x, 0, 6);
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        using T = simd::scalar_of<P>;
        const P inside =
            Eigen::internal::pand(simd::less(Eigen::internal::pzero(x), x), simd::less(x, simd::constant<P>(T(6))));
        return simd::keep_nan(x, simd::select(inside, simd::constant<P>(T(1)), Eigen::internal::pzero(x)));
    }
};

// x for x > 0, negative_slope * x otherwise (torch.nn.LeakyReLU, default 0.01).
struct leaky_relu {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 2;
    double negative_slope = 0.01;

    void validate() const { require_finite("leaky_relu.negative_slope", negative_slope); }
    template <Real T>
    T operator()(T x) const {
        return nn::value(*this, x);
    }
    template <Real T>
    T derivative(T x) const {
        return nn::derivative(*this, x);
    }
    // df/d(negative_slope)
    template <Real T>
    T derivative_negative_slope(T x) const {
        return detail::leaky_slope_derivative(x);
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packetOp(const P& x) const {
        return detail::leaky(x, slope<P>());
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        return detail::leaky_derivative(x, slope<P>());
    }

private:
    template <class P>
    DIFFUSE_ALWAYS_INLINE P slope() const {
        return simd::constant<P>(static_cast<simd::scalar_of<P>>(negative_slope));
    }
};

// PReLU with one learned weight (torch.nn.PReLU(num_parameters=1), init 0.25); a per-channel
// layer keeps one prelu per channel.
struct prelu {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 2;
    double weight = 0.25;

    void validate() const { require_finite("prelu.weight", weight); }
    template <Real T>
    T operator()(T x) const {
        return nn::value(*this, x);
    }
    template <Real T>
    T derivative(T x) const {
        return nn::derivative(*this, x);
    }
    // df/d(weight)
    template <Real T>
    T derivative_weight(T x) const {
        return detail::leaky_slope_derivative(x);
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packetOp(const P& x) const {
        return detail::leaky(x, slope<P>());
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        return detail::leaky_derivative(x, slope<P>());
    }

private:
    template <class P>
    DIFFUSE_ALWAYS_INLINE P slope() const {
        return simd::constant<P>(static_cast<simd::scalar_of<P>>(weight));
    }
};

// max(0, x)^2; f'(x) = 2 max(0, x).
struct relu_squared {
    using activation_kind = elementwise_tag;
    static constexpr int cost = 2;

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
        const P r = simd::positive_part(x);
        return Eigen::internal::pmul(r, r);
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packet_derivative(const P& x) const {
        const P r = simd::positive_part(x);
        return Eigen::internal::padd(r, r);
    }
};

}  // namespace diffuse::nn

#pragma GCC diagnostic pop
