// Tests for diffuse/core/stream.hpp: simd::transform visits every element exactly once with the
// same arithmetic as an Eigen expression, at every length (empty, shorter than a packet, short
// enough to skip the prefetches, around the prefetch distance beyond that), in place and out of
// place, with one and two inputs; and the
// activations' buffer forms, which run on it, agree bitwise with their expressions on buffers
// long enough to take its prefetching loop.
#include <catch2/catch.hpp>
#include <cstddef>
#include <vector>

#include "compiled_isa.hpp"
#include "diffuse/core/stream.hpp"
#include "diffuse/nn/activations.hpp"

namespace nn = diffuse::nn;
namespace simd = diffuse::simd;
namespace ei = Eigen::internal;

// Packet types as template arguments carry alignment attributes GCC warns about.
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace {

template <class T>
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

template <class T>
std::vector<std::ptrdiff_t> lengths() {
    constexpr std::ptrdiff_t lanes = ei::unpacket_traits<simd::packet<T>>::size;
    constexpr std::ptrdiff_t ahead = simd::prefetch_distance_bytes / static_cast<std::ptrdiff_t>(sizeof(T));
    constexpr std::ptrdiff_t line = simd::cache_line_bytes / static_cast<std::ptrdiff_t>(sizeof(T));
    // From this length on even one input and the output exceed prefetch_above_bytes, so the
    // prefetching loop runs; below, only the plain one.
    constexpr auto prefetched = static_cast<std::ptrdiff_t>(simd::prefetch_above_bytes / sizeof(T));
    std::vector<std::ptrdiff_t> n{0, 1, lanes - 1, lanes, lanes + 1, ahead + line + 1};
    for (const std::ptrdiff_t extra :
         {ahead - 1, ahead + line - 1, ahead + line, ahead + line + 1, 3 * ahead + 2 * line + 5})
        n.push_back(prefetched + extra);
    return n;
}

// Distinct values, so that a skipped or repeated element shows.
template <class T>
array<T> ramp(std::ptrdiff_t n, T scale) {
    array<T> x(n);
    for (std::ptrdiff_t i = 0; i < n; ++i) x[i] = scale * static_cast<T>(i % 977) - T(3);
    return x;
}

}  // namespace

TEMPLATE_TEST_CASE("simd::transform visits every element once, with the expression's arithmetic", "[core][stream]",
                   float, double) {
    using T = TestType;
    for (const std::ptrdiff_t n : lengths<T>()) {
        INFO("n = " << n);
        const array<T> x = ramp<T>(n, T(0.01));
        const array<T> y = ramp<T>(n, T(-0.003));
        // One input, out of place: 2x + 1 (2x is exact, so fused or not the sum rounds once).
        array<T> out = array<T>::Constant(n, T(-7));
        simd::transform(
            n, out.data(),
            [](const auto& p) { return ei::padd(ei::padd(p, p), ei::pset1<std::remove_cvref_t<decltype(p)>>(T(1))); },
            x.data());
        CHECK((out == T(2) * x + T(1)).all());
        // Two inputs, out of place, and in place over the second.
        array<T> product(n);
        simd::transform(
            n, product.data(), [](const auto& a, const auto& b) { return ei::pmul(a, b); }, x.data(), y.data());
        CHECK((product == x * y).all());
        array<T> in_place = y;
        simd::transform(
            n, in_place.data(), [](const auto& a, const auto& b) { return ei::psub(a, b); }, x.data(), in_place.data());
        CHECK((in_place == x - y).all());
    }
}

TEMPLATE_TEST_CASE("activations on long buffers agree bitwise with their expressions", "[nn][stream]", float, double) {
    using T = TestType;
    const std::ptrdiff_t n = lengths<T>().back();
    const array<T> x = ramp<T>(n, T(0.013));
    const array<T> grad_y = ramp<T>(n, T(0.001));
    auto check = [&](const char* name, const auto& act) {
        INFO(name);
        using A = std::remove_cvref_t<decltype(act)>;
        const array<T> expression = x.unaryExpr(act);
        const array<T> slope_expression = x.unaryExpr(nn::derivative_of<A>{act});
        array<T> out(n), slope(n), grad_x(n);
        nn::apply(act, diffuse::const_view<T>(x.data(), n), diffuse::flat(out));
        nn::apply_derivative(act, diffuse::const_view<T>(x.data(), n), diffuse::flat(slope));
        nn::backward(act, diffuse::const_view<T>(x.data(), n), diffuse::const_view<T>(grad_y.data(), n),
                     diffuse::flat(grad_x));
        array<T> in_place = x;
        nn::apply(act, in_place);
        CHECK((out == expression).all());
        CHECK((in_place == expression).all());
        CHECK((slope == slope_expression).all());
        CHECK((grad_x == grad_y * slope_expression).all());
    };
    check("gelu", nn::gelu{});
    check("softplus", nn::softplus{});
    check("mish", nn::mish{});
    check("swish", nn::swish{.beta = 1.7});
    check("relu", nn::relu{});
}
