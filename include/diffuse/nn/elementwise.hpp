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
    simd::transform(
        x.size(), x.data(), [act](const auto& p) { return act.packetOp(p); }, x.data());
}

// out = f(in), out = f'(in).
template <elementwise_activation A, Real T>
DIFFUSE_NOINLINE void apply(const A& act, const_view<T> in, view<T> out) {
    detail::validate(act);
    require_size("out.size()", out.size(), in.size());
    simd::transform(
        in.size(), out.data(), [act](const auto& p) { return act.packetOp(p); }, in.data());
}
template <elementwise_activation A, Real T>
DIFFUSE_NOINLINE void apply_derivative(const A& act, const_view<T> in, view<T> out) {
    detail::validate(act);
    require_size("out.size()", out.size(), in.size());
    simd::transform(
        in.size(), out.data(), [act](const auto& p) { return act.packet_derivative(p); }, in.data());
}

// Backpropagation through y = f(x): grad_x = grad_y * f'(x), one fused pass. grad_x may alias
// grad_y.
template <elementwise_activation A, Real T>
DIFFUSE_NOINLINE void backward(const A& act, const_view<T> x, const_view<T> grad_y, view<T> grad_x) {
    detail::validate(act);
    require_size("grad_y.size()", grad_y.size(), x.size());
    require_size("grad_x.size()", grad_x.size(), x.size());
    simd::transform(
        x.size(), grad_x.data(),
        [act](const auto& xs, const auto& gs) { return Eigen::internal::pmul(gs, act.packet_derivative(xs)); },
        x.data(), grad_y.data());
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
