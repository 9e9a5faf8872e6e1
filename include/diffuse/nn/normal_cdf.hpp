// diffuse/nn/normal_cdf.hpp: packet kernels for the standard normal distribution function
// Phi and its lower tail, used by the exact GELU. Written on diffuse::simd, generic over the
// packet type; faithful (a few ULP) over the whole floating range, denormal tails included.
#pragma once

#include <array>
#include <cstddef>
#include <type_traits>

#include "diffuse/core/simd.hpp"

// Packet types (__m512 ...) carry alignment attributes that GCC warns about when they are used
// as template arguments; Eigen silences the same warning in its own headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace diffuse::nn::kernels {

namespace ei = Eigen::internal;
using simd::constant;
using simd::scalar_of;

// The lower tail is written Phi(-t) = exp(-t^2/2) G(u) / (t + K), t >= 0, u = (t - K)/(t + K)
// in [-1, 1), K = 1.5, where G(u) = Phi(-t) exp(t^2/2) (t + K) is smooth and tends to
// 1/sqrt(2 pi) (Schonfelder, Math. Comp. 32 (1978) 1232). G is a Chebyshev series fitted in
// 50-digit arithmetic by tools/fit_normal_tail.py; float keeps the 15 terms above 2^-28 of c0,
// double the 37 above 2^-58. exp(-t^2/2) takes t^2 exactly (TwoProduct), so the tail keeps
// full relative accuracy down to the underflow.

namespace detail {
inline constexpr long double normal_tail_k = 1.5L;
inline constexpr std::array<long double, 37> normal_tail_chebyshev = {
    5.942775678640460466431e-1L,
    -1.804769526675928379202e-1L,
    -2.133500709881505322402e-2L,
    4.960530350753478828741e-3L,
    1.628577936306485738792e-3L,
    1.133280294419944221593e-5L,
    -1.01125330714274493329e-4L,
    -2.606960260350386674494e-5L,
    4.790389591030947990045e-7L,
    2.28768636057628535884e-6L,
    7.061238373371559994148e-7L,
    3.504739396553444695801e-8L,
    -5.51245407271521925243e-8L,
    -2.4625084437873899116e-8L,
    -4.080404983147659709048e-9L,
    9.647205398495056662715e-10L,
    8.64854539192132469091e-10L,
    2.69925954897516307632e-10L,
    2.041356975186932712958e-11L,
    -2.300783521600521788426e-11L,
    -1.340434880888222297397e-11L,
    -3.589334823076125708613e-12L,
    -5.052868330773729852965e-14L,
    4.439799085924442159945e-13L,
    2.336351500475709419013e-13L,
    6.121865138732610959062e-14L,
    1.215981390086806145423e-16L,
    -8.49611536737244977224e-15L,
    -4.62692589077637988682e-15L,
    -1.320224223057709446928e-15L,
    -5.955817613113116004097e-17L,
    1.616459545328238955349e-16L,
    1.00986333339296425593e-16L,
    3.365294799887927358869e-17L,
    4.098798904606065470032e-18L,
    -2.80791442627552033802e-18L,
    -2.307869374056605949224e-18L};

template <Real T>
inline constexpr std::size_t normal_tail_terms = std::is_same_v<T, float> ? 15 : 37;

template <Real T>
constexpr std::array<T, normal_tail_terms<T>> normal_tail_coefficients() {
    std::array<T, normal_tail_terms<T>> c{};
    for (std::size_t i = 0; i < c.size(); ++i) c[i] = static_cast<T>(normal_tail_chebyshev[i]);
    return c;
}

template <Real T>
inline constexpr auto normal_tail = normal_tail_coefficients<T>();

// 1/sqrt(2 pi)
inline constexpr long double inv_sqrt_2pi = 0.398942280401432677939946059934381868L;
}  // namespace detail

// Phi(-|x|) = g * h with g = exp(-x^2/2) kept apart (as the exponent -x^2/2 = a_hi + a_lo), so
// callers can fold a factor into the exponential's final scaling.
template <class P>
struct normal_tail_parts {
    P a_hi;  // -x^2/2, high part
    P a_lo;  // low part
    P t;     // |x| (clamped to where the tail is 0)
    P h;     // Phi(-t) exp(t^2/2) = G(u) / (t + K)
};

template <class P>
normal_tail_parts<P> normal_tail(const P& x) {
    using T = scalar_of<P>;
    constexpr T k = static_cast<T>(detail::normal_tail_k);
    // Beyond |x| = 2^20 the tail is 0 in every format; clamping keeps u finite for |x| = inf.
    const P t = simd::min_nan(simd::abs(x), constant<P>(T(1 << 20)));
    const auto [sq_hi, sq_lo] = simd::two_product(t, t);
    const P half = constant<P>(T(-0.5));
    // u by its own division (one rounding rather than two).
    const P t_plus_k = ei::padd(t, constant<P>(k));
    const P inverse = ei::pdiv(constant<P>(T(1)), t_plus_k);
    const P u = ei::pdiv(ei::psub(t, constant<P>(k)), t_plus_k);
    return {ei::pmul(half, sq_hi), ei::pmul(half, sq_lo), t, ei::pmul(simd::chebyshev(u, detail::normal_tail<T>), inverse)};
}

}  // namespace diffuse::nn::kernels

#pragma GCC diagnostic pop
