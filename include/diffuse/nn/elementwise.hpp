// diffuse/nn/elementwise.hpp: how an element-wise activation plugs into scalars, Eigen
// expressions and flat buffers.
//
// An activation is a small default-constructible aggregate (parameters are public members
// with PyTorch's defaults) that provides two packet kernels,
//     template <class P> P packetOp(const P& x) const;          // f(x)
//     template <class P> P packet_derivative(const P& x) const; // f'(x)
// a `cost` (Eigen's per-coefficient cost estimate), `validate()` (throws diffuse::error for a
// bad parameter) and forwards its scalar calls to value()/derivative() below. With that:
//   - act(x), act.derivative(x)            one scalar, same lane arithmetic as the packets;
//   - array.unaryExpr(act)                 vectorized, fused into the surrounding expression;
//   - array.unaryExpr(derivative_of(act))  the derivative, likewise;
//   - apply(act, buffer), backward(...)    in place / out of place over flat buffers.
#pragma once

#include <Eigen/Core>

#include <concepts>
#include <type_traits>
#include <utility>

#include "diffuse/core/config.hpp"
#include "diffuse/core/simd.hpp"
#include "diffuse/core/stream.hpp"
#include "diffuse/core/view.hpp"

// Packet types (__m512 ...) carry alignment attributes that GCC warns about when they are used
// as template arguments; Eigen silences the same warning in its own headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace diffuse::nn {

// Marks the aggregates that follow the protocol above (Eigen's functor_traits keys on it).
struct elementwise_tag {};

template <class A>
concept elementwise_activation = std::default_initializable<A> && requires(const A& a, float f, double d) {
    typename A::activation_kind;
    requires std::same_as<typename A::activation_kind, elementwise_tag>;
    { a(f) } -> std::same_as<float>;
    { a(d) } -> std::same_as<double>;
    { a.derivative(f) } -> std::same_as<float>;
    { a.derivative(d) } -> std::same_as<double>;
    { A::cost } -> std::convertible_to<int>;
};

namespace detail {

template <class A>
void validate(const A& act) {
    if constexpr (requires { act.validate(); }) act.validate();
}

}  // namespace detail

// Scalar f(x) and f'(x) of an activation, through its packet kernels.
template <class A, Real T>
T value(const A& act, T x) {
    detail::validate(act);
    return simd::on_scalar(x, [&act](const auto& p) { return act.packetOp(p); });
}
template <class A, Real T>
T derivative(const A& act, T x) {
    detail::validate(act);
    return simd::on_scalar(x, [&act](const auto& p) { return act.packet_derivative(p); });
}

// The derivative of an activation as an element-wise functor (for unaryExpr).
template <class A>
struct derivative_of {
    using activation_kind = elementwise_tag;
    static constexpr int cost = A::cost + 4;
    A act{};

    template <Real T>
    T operator()(T x) const {
        return nn::derivative(act, x);
    }
    template <class P>
    DIFFUSE_ALWAYS_INLINE P packetOp(const P& x) const {
        return act.packet_derivative(x);
    }
    void validate() const { detail::validate(act); }
};
template <class A>
derivative_of(A) -> derivative_of<A>;

namespace detail {

// The packet kernels of the buffer forms below, as functors whose calls are forced inline:
// simd::transform calls its kernel from two loops, and GCC left a lambda doing it out of line, a
// call per packet that reloads the kernel's constants (AVX2, exact GELU at 16K: 1.27 -> 1.49
// Gelem/s inlined).
template <class A>
struct packet_value {
    A act;
    template <class P>
    DIFFUSE_ALWAYS_INLINE P operator()(const P& x) const {
        return act.packetOp(x);
    }
};
template <class A>
struct packet_slope {
    A act;
    template <class P>
    DIFFUSE_ALWAYS_INLINE P operator()(const P& x) const {
        return act.packet_derivative(x);
    }
};
template <class A>
struct packet_backward {
    A act;
    template <class P>
    DIFFUSE_ALWAYS_INLINE P operator()(const P& x, const P& grad_y) const {
        return Eigen::internal::pmul(grad_y, act.packet_derivative(x));
    }
};

}  // namespace detail

// In place over any contiguous real data (anything diffuse::flat accepts). The buffer forms run
// simd::transform's prefetching loop (core/stream.hpp), which keeps long buffers at the memory's
// rate; the arithmetic per element is the same as in an expression. The kernels capture the
// activation by value: a copy local to the loop, whose parameters the compiler can keep in
// registers, as no store to the output can change them (by reference, Swish reloaded and
// re-tested its beta every packet: 26% slower at 16K).
template <elementwise_activation A, class Data>
DIFFUSE_NOINLINE void apply(const A& act, Data&& data) {
    detail::validate(act);
    auto x = flat(data);
    simd::transform(x.size(), x.data(), detail::packet_value<A>{act}, x.data());
}

namespace detail {

// The buffers of an out-of-place entry point as views: `in` read-only, `out` writable, one scalar
// type. One readable message each instead of pages of Eigen template errors.
template <class In, class Out>
auto input_and_output(const In& in, Out&& out) {
    const auto input = cflat(in);
    auto output = flat(out);
    using input_scalar = std::remove_const_t<typename decltype(input)::Scalar>;
    using output_scalar = typename decltype(output)::Scalar;
    static_assert(!std::is_const_v<output_scalar>,
                  "diffuse::nn: the output buffer is const; pass a writable buffer (or a view<T>)");
    static_assert(std::is_same_v<input_scalar, std::remove_const_t<output_scalar>>,
                  "diffuse::nn: input and output hold different scalar types (float vs double)");
    return std::pair<const_view<input_scalar>, view<input_scalar>>(input, output);
}

}  // namespace detail

// out = f(in), out = f'(in): `in` and `out` are anything diffuse::flat accepts (an Eigen array, a
// std::vector, a raw view, ...), of the same scalar type and size.
template <elementwise_activation A, class In, class Out>
DIFFUSE_NOINLINE void apply(const A& act, const In& in, Out&& out) {
    detail::validate(act);
    auto [x, y] = detail::input_and_output(in, out);
    require_size("out.size()", y.size(), x.size());
    simd::transform(x.size(), y.data(), detail::packet_value<A>{act}, x.data());
}
template <elementwise_activation A, class In, class Out>
DIFFUSE_NOINLINE void apply_derivative(const A& act, const In& in, Out&& out) {
    detail::validate(act);
    auto [x, y] = detail::input_and_output(in, out);
    require_size("out.size()", y.size(), x.size());
    simd::transform(x.size(), y.data(), detail::packet_slope<A>{act}, x.data());
}

// Backpropagation through y = f(x): grad_x = grad_y * f'(x), one fused pass. grad_x may alias
// grad_y.
template <elementwise_activation A, class X, class GradY, class GradX>
DIFFUSE_NOINLINE void backward(const A& act, const X& x_in, const GradY& grad_y_in, GradX&& grad_x_in) {
    detail::validate(act);
    auto [x, grad_x] = detail::input_and_output(x_in, grad_x_in);
    const auto grad_y = detail::input_and_output(grad_y_in, grad_x_in).first;
    require_size("grad_y.size()", grad_y.size(), x.size());
    require_size("grad_x.size()", grad_x.size(), x.size());
    simd::transform(x.size(), grad_x.data(), detail::packet_backward<A>{act}, x.data(), grad_y.data());
}

}  // namespace diffuse::nn

// Eigen vectorizes a unary functor when functor_traits says PacketAccess (as for its own
// scalar_logistic_op); every diffuse activation provides packetOp for every packet type.
namespace Eigen::internal {
template <class A>
requires std::same_as<typename A::activation_kind, diffuse::nn::elementwise_tag>
struct functor_traits<A> {
    enum { Cost = A::cost, PacketAccess = true };
};
}  // namespace Eigen::internal

#pragma GCC diagnostic pop
