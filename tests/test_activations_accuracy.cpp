// Accuracy sweep of every activation and its derivative against a long double reference
// (issue 4: <= 4 ULP for the smooth functions in float and double wherever they are finite).
//
// Grid per type: every binade sampled evenly through the bit patterns (denormals included),
// dense linear grids over the central region and the exponential edges. The maxima printed
// here are the table in docs/activations.md; bench/activations_float_sweep.cpp repeats the float
// sweep over all 2^32 inputs.
//
// Error unit (tests/ulp_error.hpp): ULP of the reference in the tested type (denormal spacing
// below the normal range). Derivatives that cross zero (GELU, SiLU, Mish, ...) are measured in
// ULP of the largest term of their formula (the condition of the problem); that scale is named
// per row.
#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "compiled_isa.hpp"
#include "diffuse/nn/activations.hpp"
#include "ulp_error.hpp"

namespace nn = diffuse::nn;
using diffuse::testing::ulp_error;
using ld = long double;

namespace {

template <class T>
std::vector<T> grid() {
    using bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    std::vector<T> xs;
    const bits top = sizeof(T) == 4 ? bits(0x7f7fffffu) : bits(0x7fefffffffffffffull);
    constexpr int per_sign = 120000;
    const bits step = top / per_sign;
    for (bits b = 0; b <= top - step; b += step) {
        T x;
        std::memcpy(&x, &b, sizeof x);
        xs.push_back(x);
        xs.push_back(-x);
    }
    auto linear = [&](ld lo, ld hi, int n) {
        for (int i = 0; i <= n; ++i) xs.push_back(static_cast<T>(lo + (hi - lo) * i / n));
    };
    linear(-16, 16, 200000);
    if constexpr (sizeof(T) == 4) {
        linear(-110, -60, 20000);
        linear(60, 100, 10000);
    } else {
        linear(-760, -600, 20000);
        linear(600, 720, 10000);
        linear(-45, -16, 20000);
    }
    for (T x : {T(0), T(-0.0), std::numeric_limits<T>::denorm_min(), -std::numeric_limits<T>::denorm_min(),
                std::numeric_limits<T>::min(), -std::numeric_limits<T>::min(), std::numeric_limits<T>::max(),
                std::numeric_limits<T>::lowest(), T(1), T(-1), T(-3), T(3), T(6), T(20), T(-20),
                // exact GELU's worst float inputs in the exhaustive sweep: the current kernel's
                // (3.45 ULP) and an earlier one's (3.52 ULP then)
                T(-0x1.9f51b6p+1), T(-0x1.9fece6p+1)})
        xs.push_back(x);
    // Just below the largest x whose SELU is finite (scale * x still rounds to max()): the
    // exhaustive float sweep found inf there when scale was rounded to float before multiplying.
    const T selu_edge = static_cast<T>(std::numeric_limits<T>::max() / nn::selu::scale);
    for (T x = selu_edge, i = 0; i < 8; ++i, x = std::nextafter(x, T(0))) xs.push_back(x);
    return xs;
}

// Reference formulas in long double.
ld sig(ld w) {
    return w >= 0 ? 1 / (1 + std::exp(-w)) : std::exp(w) / (1 + std::exp(w));
}
ld dsig(ld w) {
    const ld e = std::exp(-std::fabs(w));
    return e / ((1 + e) * (1 + e));
}
const ld pi = 3.141592653589793238462643383279502884L;
ld phi(ld x) {
    return std::exp(-x * x / 2) / std::sqrt(2 * pi);
}
ld big_phi(ld x) {
    return std::erfc(-x / std::sqrt(2.0L)) / 2;
}

struct row {
    std::string name;
    double value_max = 0;
    double slope_max = 0;
    double value_at = 0;
    double slope_at = 0;
};

// Sweeps f and f' of `act` through the vector path and, on a subsample, the scalar path.
template <class T, class A, class F, class D, class S>
row sweep(const char* name, const A& act, F f, D df, S slope_scale) {
    const std::vector<T> xs = grid<T>();
    const auto in = diffuse::flat(xs);
    diffuse::buffer<T> value = in.unaryExpr(act);
    diffuse::buffer<T> slope = in.unaryExpr(nn::derivative_of<A>{act});
    row r{name};
    for (std::size_t i = 0; i < xs.size(); ++i) {
        const ld x = xs[i];
        const double ev = static_cast<double>(ulp_error<T>(value[i], f(x)));
        const double es = static_cast<double>(ulp_error<T>(slope[i], df(x), slope_scale(x)));
        if (ev > r.value_max) r = {r.name, ev, r.slope_max, static_cast<double>(x), r.slope_at};
        if (es > r.slope_max) r = {r.name, r.value_max, es, r.value_at, static_cast<double>(x)};
        if (i % 61 == 0) {
            // The scalar path (one lane of the narrowest packet) is held to the same bound.
            // It is bitwise equal to the vector path only under -ffp-contract=off: GCC may
            // fuse a packet multiply and add into an FMA differently in the two contexts.
            const double sv = static_cast<double>(ulp_error<T>(act(xs[i]), f(x)));
            const double ss = static_cast<double>(ulp_error<T>(act.derivative(xs[i]), df(x), slope_scale(x)));
            if (sv > r.value_max) r = {r.name, sv, r.slope_max, static_cast<double>(x), r.slope_at};
            if (ss > r.slope_max) r = {r.name, r.value_max, ss, r.value_at, static_cast<double>(x)};
        }
    }
    std::printf("%-14s %-6s f: %6.2f ULP (x=%-12.6g) f': %6.2f ULP (x=%.6g)\n", name,
                sizeof(T) == 4 ? "float" : "double", r.value_max, r.value_at, r.slope_max, r.slope_at);
    return r;
}

auto no_scale = [](ld) { return ld(0); };

// Whether the vector paths have a hardware fused multiply-add (without one, Eigen's pmadd is a
// multiply and an add, and the error-free corrections are rounded themselves).
#if defined(EIGEN_VECTORIZE) && !defined(EIGEN_VECTORIZE_FMA)
constexpr bool hardware_fma = false;
#else
constexpr bool hardware_fma = true;
#endif

template <class T>
void check(const row& r, double value_bound, double slope_bound) {
    INFO(r.name << (sizeof(T) == 4 ? " float" : " double") << ": f max " << r.value_max << " ULP at " << r.value_at
                << ", f' max " << r.slope_max << " ULP at " << r.slope_at);
    CHECK(r.value_max <= value_bound);
    CHECK(r.slope_max <= slope_bound);
}

template <class T>
T rounded(double parameter) {
    return static_cast<T>(parameter);
}

}  // namespace

// Whether the exact GELU takes the rational tail (AVX2 float packets).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
template <class T>
constexpr bool rational_gelu = diffuse::simd::normal_range_exp<diffuse::simd::packet<T>>;
#pragma GCC diagnostic pop

TEMPLATE_TEST_CASE("smooth activations are within 4 ULP of a long double reference", "[nn][accuracy]", float, double) {
    using T = TestType;
    constexpr double smooth = 4.0;
    // Tighter than the target where measured (docs/activations.md), so a regression fails:
    // sigmoid' and tanh' 2.21 / 2.17 ULP (float / double), the gates x sigma(w(x)) at most
    // 2.67, Mish' 2.93 / 2.85 (the exhaustive float sweep finds 3.66 off this grid), softplus
    // 1.48 / 1.47. Exact GELU with the series tail (double, and float without AVX-512): 2.50 /
    // 3.26 (f, float / double; in float 3.45 before the exponential became table-driven, at the
    // exhaustive sweep's worst input then, which the grid holds; the sweep,
    // bench/activations_float_sweep, found 3.18) and 2.43 / 2.63 (f'; the sweep found 2.50).
    // Float on AVX-512 (packets within [-4.125, 7.875) from the quarter-step table of Phi, the
    // others from the tabulated tail): 1.84 and 2.20 (the sweep finds 2.03 at x = -3.86601, on
    // the quarter steps, and 2.38), bound 2.5 for both.
    // Without hardware FMA (a plain SSE2 build, -march=x86-64) the error-free corrections are
    // rounded themselves and the maxima rise to 3.76 ULP: there the 4 ULP is the bound.
    auto measured = [&](double bound) { return hardware_fma ? bound : smooth; };
    const double logistic_slope = measured(2.5);
    const double gate_slope_bound = measured(3.0);
    const double mish_slope = measured(3.5);
    const double softplus_value = measured(2.0);
    const double tanh_value = measured(diffuse::nn::kernels::detail::quarter_octaves_tabulated<T> ? 1.0 : 2.5);
    constexpr bool tabulated_gelu = diffuse::nn::kernels::detail::quarter_octaves_tabulated<T>;
    // AVX2 (float, the rational tail of nn/normal_cdf.hpp for |x| <= 13): 2.93 at x = -5.21632.
    const double gelu_value = measured(tabulated_gelu ? 2.5 : rational_gelu<T> ? 3.2 : 3.6);
    const double gelu_slope = measured(tabulated_gelu ? 2.5 : 3.0);

    check<T>(sweep<T>("sigmoid", nn::sigmoid{}, sig, dsig, no_scale), smooth, logistic_slope);
    check<T>(sweep<T>(
                 "tanh", nn::tanh_act{}, [](ld x) { return std::tanh(x); },
                 [](ld x) {
                     const ld e = std::exp(-2 * std::fabs(x));
                     return 4 * e / ((1 + e) * (1 + e));
                 },
                 no_scale),
             tanh_value, logistic_slope);
    // x sigma(w): f' = sigma(w) + x w' sigma(w) sigma(-w) crosses zero; scale = largest term.
    auto gate_scale = [](auto w, auto dw) {
        return [=](ld x) { return std::max(sig(w(x)), std::fabs(x * dw(x) * dsig(w(x)))); };
    };
    auto gate_slope = [](auto w, auto dw) { return [=](ld x) { return sig(w(x)) + x * dw(x) * dsig(w(x)); }; };
    auto gate_value = [](auto w) { return [=](ld x) { return x * sig(w(x)); }; };
    {
        auto w = [](ld x) { return x; };
        auto dw = [](ld) { return ld(1); };
        check<T>(sweep<T>("silu", nn::silu{}, gate_value(w), gate_slope(w, dw), gate_scale(w, dw)), smooth,
                 gate_slope_bound);
    }
    {
        const ld beta = rounded<T>(1.7);
        auto w = [=](ld x) { return beta * x; };
        auto dw = [=](ld) { return beta; };
        check<T>(sweep<T>("swish(1.7)", nn::swish{.beta = 1.7}, gate_value(w), gate_slope(w, dw), gate_scale(w, dw)),
                 smooth, gate_slope_bound);
    }
    {
        // beta < 0: the gate has the sign of -x.
        const ld beta = rounded<T>(-0.8);
        auto w = [=](ld x) { return beta * x; };
        auto dw = [=](ld) { return beta; };
        check<T>(sweep<T>("swish(-0.8)", nn::swish{.beta = -0.8}, gate_value(w), gate_slope(w, dw), gate_scale(w, dw)),
                 smooth, gate_slope_bound);
    }
    {
        auto w = [](ld x) { return 1.702L * x; };
        auto dw = [](ld) { return 1.702L; };
        check<T>(sweep<T>("quick_gelu", nn::quick_gelu{}, gate_value(w), gate_slope(w, dw), gate_scale(w, dw)), smooth,
                 gate_slope_bound);
    }
    {
        const ld c = std::sqrt(8 / pi);
        auto w = [=](ld x) { return c * (x + 0.044715L * x * x * x); };
        auto dw = [=](ld x) { return c * (1 + 3 * 0.044715L * x * x); };
        check<T>(sweep<T>("gelu_tanh", nn::gelu_tanh{}, gate_value(w), gate_slope(w, dw), gate_scale(w, dw)), smooth,
                 gate_slope_bound);
    }
    check<T>(sweep<T>(
                 "gelu", nn::gelu{}, [](ld x) { return x * big_phi(x); }, [](ld x) { return big_phi(x) + x * phi(x); },
                 [](ld x) { return std::max(big_phi(x), std::fabs(x * phi(x))); }),
             gelu_value, gelu_slope);
    {
        auto g = [](ld x) { return std::tanh(std::log1p(std::exp(x))); };
        check<T>(sweep<T>(
                     "mish", nn::mish{}, [=](ld x) { return x * g(x); },
                     [=](ld x) { return g(x) + x * (1 - g(x) * g(x)) * sig(x); },
                     [=](ld x) { return std::max(g(x), std::fabs(x * (1 - g(x) * g(x)) * sig(x))); }),
                 smooth, mish_slope);
    }
    check<T>(sweep<T>(
                 "softplus", nn::softplus{}, [](ld x) { return x > 20 ? x : std::log1p(std::exp(x)); },
                 [](ld x) { return x > 20 ? ld(1) : sig(x); }, no_scale),
             softplus_value, smooth);
    {
        const ld beta = rounded<T>(2.0);
        check<T>(sweep<T>(
                     "softplus(b=2)", nn::softplus{.beta = 2.0, .threshold = 20.0},
                     [=](ld x) { return beta * x > 20 ? x : std::log1p(std::exp(beta * x)) / beta; },
                     [=](ld x) { return beta * x > 20 ? ld(1) : sig(beta * x); }, no_scale),
                 softplus_value, smooth);
    }
    check<T>(sweep<T>(
                 "elu", nn::elu{}, [](ld x) { return x > 0 ? x : std::expm1(x); },
                 [](ld x) { return x > 0 ? ld(1) : std::exp(x); }, no_scale),
             smooth, smooth);
    {
        const ld alpha = rounded<T>(0.3);
        check<T>(sweep<T>(
                     "elu(0.3)", nn::elu{.alpha = 0.3}, [=](ld x) { return x > 0 ? x : alpha * std::expm1(x); },
                     [=](ld x) { return x > 0 ? ld(1) : alpha * std::exp(x); }, no_scale),
                 smooth, smooth);
    }
    {
        const ld a = nn::selu::alpha, s = nn::selu::scale;
        check<T>(sweep<T>(
                     "selu", nn::selu{}, [=](ld x) { return x > 0 ? s * x : s * a * std::expm1(x); },
                     [=](ld x) { return x > 0 ? s : s * a * std::exp(x); }, no_scale),
                 smooth, smooth);
    }
    {
        const ld alpha = rounded<T>(2.5);
        check<T>(
            sweep<T>(
                "celu(2.5)", nn::celu{.alpha = 2.5}, [=](ld x) { return x > 0 ? x : alpha * std::expm1(x / alpha); },
                [=](ld x) { return x > 0 ? ld(1) : std::exp(x / alpha); }, no_scale),
            smooth, smooth);
    }
    check<T>(sweep<T>(
                 "softsign", nn::softsign{}, [](ld x) { return x / (1 + std::fabs(x)); },
                 [](ld x) { return 1 / ((1 + std::fabs(x)) * (1 + std::fabs(x))); }, no_scale),
             smooth, smooth);
}

TEMPLATE_TEST_CASE("piecewise activations are exact up to the rounding of their arithmetic", "[nn][accuracy]", float,
                   double) {
    using T = TestType;
    auto clamp = [](ld v, ld lo, ld hi) { return std::min(std::max(v, lo), hi); };
    check<T>(sweep<T>(
                 "relu", nn::relu{}, [](ld x) { return std::max(x, ld(0)); },
                 [](ld x) { return x > 0 ? ld(1) : ld(0); }, no_scale),
             0, 0);
    check<T>(sweep<T>(
                 "relu6", nn::relu6{}, [=](ld x) { return clamp(x, 0, 6); },
                 [](ld x) { return x > 0 && x < 6 ? ld(1) : ld(0); }, no_scale),
             0, 0);
    {
        const ld s = rounded<T>(0.01);
        check<T>(sweep<T>(
                     "leaky_relu", nn::leaky_relu{}, [=](ld x) { return x > 0 ? x : s * x; },
                     [=](ld x) { return x > 0 ? ld(1) : s; }, no_scale),
                 0.5, 0);
    }
    check<T>(sweep<T>(
                 "prelu", nn::prelu{}, [](ld x) { return x > 0 ? x : 0.25L * x; },
                 [](ld x) { return x > 0 ? ld(1) : 0.25L; }, no_scale),
             0.5, 0);
    check<T>(sweep<T>(
                 "relu_squared", nn::relu_squared{}, [](ld x) { return x > 0 ? x * x : ld(0); },
                 [](ld x) { return x > 0 ? 2 * x : ld(0); }, no_scale),
             0.5, 0);
    check<T>(sweep<T>(
                 "heaviside", nn::heaviside{}, [](ld x) { return x > 0 ? ld(1) : ld(0); }, [](ld) { return ld(0); },
                 no_scale),
             0, 0);
    check<T>(sweep<T>(
                 "hard_sigmoid", nn::hard_sigmoid{}, [=](ld x) { return clamp((x + 3) / 6, 0, 1); },
                 [](ld x) { return x > -3 && x < 3 ? 1 / 6.0L : ld(0); }, no_scale),
             1, 0.5);
    check<T>(sweep<T>(
                 "hard_tanh", nn::hard_tanh{}, [=](ld x) { return clamp(x, -1, 1); },
                 [](ld x) { return x > -1 && x < 1 ? ld(1) : ld(0); }, no_scale),
             0, 0);
    check<T>(
        sweep<T>(
            "hardswish", nn::hardswish{}, [=](ld x) { return x * clamp(x + 3, 0, 6) / 6; },
            [](ld x) { return x < -3   ? ld(0)
                              : x <= 3 ? x / 3 + 0.5L
                                       : ld(1); }, [](ld x) { return std::fabs(x / 3); }),
        2, 1);
}

// The exponential every exp-based activation is built on (core/simd.hpp), on its own: float's
// table-driven kernel and double's polynomial one, at every packet width Eigen uses here (the
// widest, its half, the narrowest that scalar calls use) and on plain T, over the grid above,
// which runs through both overflow and underflow. Measured: float 0.75 ULP (0.76 over every
// float of [-104, 88.72], docs/activations.md), bound 0.8 so that a lost correction fails;
// double 0.85 at x = -640.84, bound 1. Without hardware FMA (SSE2 build, -march=x86-64) each
// Horner step of double's degree-12 polynomial rounds twice: 1.13 ULP at x = -671.296, bound
// 1.25 there (float's table-driven kernel stays at 0.75).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"  // packet types as template arguments
struct exp_error {
    double max = 0;
    double at = 0;
};

// The largest error in ULP of `kernel` (on packets P, or on plain T when P is T) against
// `reference` (long double) over xs; the last packet overlaps the one before it, so every x,
// the special values at the end included, is tested.
template <class P, class T, class Kernel, class Reference>
exp_error max_ulp_error(const std::vector<T>& xs, const Kernel& kernel, const Reference& reference) {
    namespace ei = Eigen::internal;
    constexpr std::size_t n = std::is_same_v<P, T> ? 1 : static_cast<std::size_t>(ei::unpacket_traits<P>::size);
    exp_error worst;
    for (std::size_t next = 0; next < xs.size(); next += n) {
        const std::size_t i = std::min(next, xs.size() - n);
        T y[n];
        if constexpr (n == 1) y[0] = kernel(xs[i]);
        else ei::pstoreu(y, kernel(ei::ploadu<P>(&xs[i])));
        for (std::size_t j = 0; j < n; ++j) {
            const double e = static_cast<double>(ulp_error<T>(y[j], reference(static_cast<ld>(xs[i + j]))));
            if (e > worst.max) worst = {e, static_cast<double>(xs[i + j])};
        }
    }
    return worst;
}

// Prints a measured maximum (the numbers docs/activations.md quotes) and checks it.
template <class T>
void check_max_error(const std::string& what, const exp_error& worst, double bound) {
    const std::string label = what + (sizeof(T) == 4 ? " float" : " double");
    std::printf("%-32s max %.3f ULP (at %.6g)\n", label.c_str(), worst.max, worst.at);
    INFO(label << ": max " << worst.max << " ULP at " << worst.at);
    CHECK(worst.max <= bound);
}

template <class P, class T>
exp_error exp_error_at_width(const std::vector<T>& xs) {
    return max_ulp_error<P>(
        xs, [](const auto& x) { return diffuse::simd::exp(x); }, [](ld x) { return std::exp(x); });
}

TEMPLATE_TEST_CASE("the exponential kernel is within 0.8 ULP (float) / 1 ULP (double) at every packet width",
                   "[nn][accuracy][exp]", float, double) {
    using T = TestType;
    namespace ei = Eigen::internal;
    namespace simd = diffuse::simd;
    std::vector<T> xs = grid<T>();
    const T overflow_edge = std::log(std::numeric_limits<T>::max());
    for (T x : {std::numeric_limits<T>::infinity(), -std::numeric_limits<T>::infinity(),
                std::numeric_limits<T>::quiet_NaN(), overflow_edge, std::nextafter(overflow_edge, T(1000)),
                std::log(std::numeric_limits<T>::min()), std::log(std::numeric_limits<T>::denorm_min())})
        xs.push_back(x);
    using widest = simd::packet<T>;
    using half = typename ei::unpacket_traits<widest>::half;
    const exp_error widths[] = {exp_error_at_width<widest>(xs), exp_error_at_width<half>(xs),
                                exp_error_at_width<simd::scalar_packet<T>>(xs), exp_error_at_width<T>(xs)};
    for (const exp_error& e : widths)
        check_max_error<T>("simd::exp", e, sizeof(T) == 4 ? 0.8 : hardware_fma ? 1.0 : 1.25);
}

// exp(m (b + b_lo)) with the product folded into the reduction (simd::exp_scaled_of_product,
// the linear gates Swish and QuickGELU): every m = -|x| of the grid above, clamped where the
// callers clamp it, for b with and without a low part, against expl of the exact product, at
// the widest packet. Measured: float 0.77 ULP (b = 5.5), double 0.98 (the product as a double
// word, its low part added to the reduced argument); bounds 0.8 and 1.1. Without hardware FMA
// (SSE2 build): float 0.76, double 1.22, bound 1.3 there.
TEMPLATE_TEST_CASE("the exponential of a product is within 0.8 ULP (float) / 1.1 ULP (double)", "[nn][accuracy][exp]",
                   float, double) {
    using T = TestType;
    namespace ei = Eigen::internal;
    namespace simd = diffuse::simd;
    using P = simd::packet<T>;
    const simd::exact_constant<T> quick{1.702L};
    struct factor {
        T hi, lo;
    };
    for (const factor b :
         {factor{quick.hi, quick.lo}, factor{T(0.37), T(0)}, factor{T(5.5), T(0)}, factor{T(1e-3), T(0)}}) {
        std::vector<T> ms;
        for (const T x : grid<T>())
            if (!std::isnan(x)) ms.push_back(std::max(-std::fabs(x), simd::lowest_factor_for_exp(b.hi)));
        const exp_error worst = max_ulp_error<P>(
            ms,
            [&](const P& m) {
                if (b.lo != 0) return simd::exp_scaled_of_product(m, ei::pset1<P>(b.hi), ei::pset1<P>(b.lo)).value();
                return simd::exp_scaled_of_product(m, ei::pset1<P>(b.hi)).value();
            },
            [&](ld m) { return std::exp(m * (static_cast<ld>(b.hi) + b.lo)); });
        check_max_error<T>("exp of product, b = " + std::to_string(b.hi), worst,
                           sizeof(T) == 4 ? 0.8
                           : hardware_fma ? 1.1
                                          : 1.3);
    }
}

// log(1 + u) on [0, 1] (softplus's log term; float: a polynomial, see simd::log1p_unit_interval)
// on 2^21 evenly spaced points, every power of two down to the smallest denormal and the ends,
// at the widest packet and on plain T. Measured: float 1.225 ULP (u = 0.9822), double 0.76;
// bounds 1.25 and 1. Without hardware FMA (SSE2 build), float 1.52 (u = 0.99916): bound 1.6.
// expm1 for x <= 0 (the ELU family's negative branch) against expm1 in long double: a dense grid
// of [-20, 0] (through -1 and the rounding to -1 near -(digits + 3) ln2), the powers of two down
// to the denormals, at the widest packet and on plain T. Measured 0.84 ULP (float) and 1.08
// (double; the general expm1 measures the same there).
TEMPLATE_TEST_CASE("expm1 on x <= 0 is within 1 ULP (float) / 1.1 ULP (double)", "[nn][accuracy][expm1]", float,
                   double) {
    using T = TestType;
    namespace simd = diffuse::simd;
    std::vector<T> xs;
    constexpr int points = 1 << 20;
    for (int i = 0; i <= points; ++i) xs.push_back(static_cast<T>(-20.0L * i / points));
    for (T x = T(-1); x < 0; x /= 2) xs.push_back(x);
    xs.insert(xs.end(), {T(-0.0), std::numeric_limits<T>::lowest(), -std::numeric_limits<T>::infinity()});
    auto kernel = [](const auto& x) { return simd::expm1_non_positive(x); };
    auto reference = [](ld x) { return std::expm1(x); };
    exp_error worst = max_ulp_error<simd::packet<T>>(xs, kernel, reference);
    if (const exp_error scalar = max_ulp_error<T>(xs, kernel, reference); scalar.max > worst.max) worst = scalar;
    check_max_error<T>("expm1 on x <= 0", worst, hardware_fma ? (sizeof(T) == 4 ? 1.0 : 1.1) : 1.5);
    CHECK(std::isnan(simd::expm1_non_positive(std::numeric_limits<T>::quiet_NaN())));
}

// The short exponentials the AVX2 build's logistic family, tanh and ELU take where 2^k is a
// normal float (simd::exp_normal_range, exp_normal_range_of_product, expm1_normal_range_of_double; plain
// templates, so checked on every build at the widest float packet): exp on a dense grid of
// [-87, 87] through the powers of two (and exp(-x) there, the logistic family's), the product
// form for the gates' factors on m in [-87/b, 0], expm1 on [0, 87]. Measured with the degree-6
// polynomial (half_exp_short): exp 0.935 ULP at x = 37.78 (0.86 with the degree-7 one), bound
// 1.0; exp(-x) the same; of a product 1.06 (b = 0.37: r's rounding counts more over ln2 steps
// than over ln2/16; 1.00 before), bound 1.15; expm1 (the same degree-6 fit) 1.53 at y = 0.405
// (1.40 with the degree-7 one, at y = 17.02, where 2^k - 1 (k = 25) rounds to 2^k; tanh, its
// user, reads E's low bits there scaled by 2/(E + 2) < 2^-24), bound 1.6. A lost reduction term
// gives tens of ULP. NaN propagates through each.
// (Only builds with a fused multiply-add: the short exponentials' reduction is exact only with
// one, and only AVX2 + FMA builds use them (simd::normal_range_exp); 2^k comes from an integer packet.)
#if defined(EIGEN_VECTORIZE) && defined(EIGEN_VECTORIZE_FMA)
TEST_CASE("the short exponentials of the AVX2 paths are within 1.0-1.6 ULP", "[nn][accuracy][exp]") {
    namespace ei = Eigen::internal;
    namespace simd = diffuse::simd;
    using P = simd::packet<float>;
    constexpr float bound = simd::normal_range_exp_bound;
    std::vector<float> xs;
    constexpr int points = 1 << 20;
    for (int i = -points; i <= points; ++i) xs.push_back(bound * static_cast<float>(i) / points);
    for (float x = 64; x > 1e-30f; x /= 2) xs.insert(xs.end(), {x, -x});
    xs.insert(xs.end(), {0.0f, -0.0f, bound, -bound});
    const exp_error exp_worst = max_ulp_error<P>(
        xs, [](const P& x) { return simd::exp_normal_range(x).value(); }, [](ld x) { return std::exp(x); });
    check_max_error<float>("short exp", exp_worst, 1.0);
    const exp_error negated_worst = max_ulp_error<P>(
        xs, [](const P& x) { return simd::exp_normal_range_of_negated(x).value(); }, [](ld x) { return std::exp(-x); });
    check_max_error<float>("short exp(-x)", negated_worst, 1.0);

    const simd::exact_constant<float> quick{1.702L};
    for (const float b : {1.0f, 0.37f, 5.5f}) {
        std::vector<float> ms;
        for (const float x : xs)
            if (std::fabs(x) * b <= bound) ms.push_back(-std::fabs(x));
        const float b_lo = b == 1.0f ? quick.lo : 0.0f;  // b = 1 tests the low part, as 1 + (QuickGELU's lo)
        const exp_error worst = max_ulp_error<P>(
            ms,
            [&](const P& m) {
                return simd::exp_normal_range_of_product(m, ei::pset1<P>(b), ei::pset1<P>(b_lo)).value();
            },
            [&](ld m) { return std::exp(m * (static_cast<ld>(b) + b_lo)); });
        check_max_error<float>("short exp of product, b = " + std::to_string(b), worst, 1.15);
    }

    std::vector<float> ys;
    for (const float x : xs)
        if (x >= 0) ys.push_back(x);
    const exp_error expm1_worst = max_ulp_error<P>(
        ys, [](const P& y) { return simd::expm1_normal_range_of_double(ei::pmul(y, ei::pset1<P>(0.5f))); },
        [](ld y) { return std::expm1(y); });
    check_max_error<float>("short expm1", expm1_worst, 1.6);

    const P nan = ei::pset1<P>(std::numeric_limits<float>::quiet_NaN());
    CHECK(std::isnan(ei::pfirst(simd::exp_normal_range(nan).value())));
    CHECK(std::isnan(ei::pfirst(simd::exp_normal_range_of_negated(nan).value())));
    CHECK(std::isnan(ei::pfirst(simd::exp_normal_range_of_product(nan, ei::pset1<P>(1.5f)).value())));
    CHECK(std::isnan(ei::pfirst(simd::expm1_normal_range_of_double(nan))));
}

// The two halves of the AVX2 exact GELU's table-free path (nn/normal_cdf.hpp), on every build
// with an fma at the widest float packet: exp(-x^2/2) from x^2 = s + s_lo, and t H(t) =
// t B/(kappa t B + A) against t Phi(-t) exp(t^2/2) in long double, on a dense grid of [0, 13] and
// through the powers of two below 1/2. Measured: the exponential 1.02 ULP (x = 8.76954; E(rho)
// in [0.7, 1.42] is rounded once, up to 2^-24 relative just above 1), bound 1.1 (a lost s_lo
// gives about x^2 2^-25 relative, 60 ULP at x = 13); t H 2.26 ULP (t = 0.878196), bound 2.5
// (tools/fit_normal_tail_rational.py's float emulation: 2.46 x 2^-24 relative).
TEST_CASE("the AVX2 exact GELU's Gaussian and rational tail are within 1.1 and 2.5 ULP", "[nn][accuracy][gelu]") {
    namespace ei = Eigen::internal;
    namespace simd = diffuse::simd;
    namespace kernels = diffuse::nn::kernels;
    using P = simd::packet<float>;
    constexpr float top = kernels::detail::normal_tail_rational_top;
    std::vector<float> ts;
    constexpr int points = 1 << 20;
    for (int i = 0; i <= points; ++i) ts.push_back(top * static_cast<float>(i) / points);
    for (float t = 0.5f; t > 1e-30f; t /= 2) ts.insert(ts.end(), {t, std::nextafter(t, 1.0f), t * 1.3f});
    const exp_error gaussian = max_ulp_error<P>(
        ts,
        [](const P& x) {
            const auto [s, s_lo] = simd::two_product(x, x);
            return kernels::exp_minus_half_normal_range(s, s_lo);
        },
        [](ld x) { return std::exp(-x * x / 2); });
    check_max_error<float>("exp(-x^2/2), AVX2 GELU", gaussian, 1.1);
    const exp_error tail = max_ulp_error<P>(
        ts, [](const P& t) { return kernels::t_times_scaled_tail_rational(t, ei::pmul(t, t)); },
        [](ld t) { return t * std::erfc(t / std::sqrt(2.0L)) / 2 * std::exp(t * t / 2); });
    check_max_error<float>("t H(t) rational, AVX2 GELU", tail, 2.5);
}
#endif

TEMPLATE_TEST_CASE("log1p on the unit interval is within 1.25 ULP (float) / 1 ULP (double)", "[nn][accuracy][log1p]",
                   float, double) {
    using T = TestType;
    namespace simd = diffuse::simd;
    std::vector<T> us;
    constexpr int points = 1 << 21;
    for (int i = 0; i <= points; ++i) us.push_back(static_cast<T>(i) / points);
    for (T u = T(0.5); u > 0; u /= 2) us.push_back(u);
    us.push_back(std::nextafter(T(1), T(0)));
    auto kernel = [](const auto& u) { return simd::log1p_unit_interval(u); };
    auto reference = [](ld u) { return std::log1p(u); };
    exp_error worst = max_ulp_error<simd::packet<T>>(us, kernel, reference);
    if (const exp_error scalar = max_ulp_error<T>(us, kernel, reference); scalar.max > worst.max) worst = scalar;
    check_max_error<T>("log1p on [0, 1]", worst, sizeof(T) == 4 ? (hardware_fma ? 1.25 : 1.6) : 1.0);
    CHECK(std::isnan(simd::log1p_unit_interval(std::numeric_limits<T>::quiet_NaN())));
}
#pragma GCC diagnostic pop

// Hard sigmoid's relu6(x + 3) / 6 without a division (nn/hard.hpp, detail::ramp_over_6): the
// quotient must be the correctly rounded one, as PyTorch's division gives, for every y the ramp
// can produce (0, or y >= 2^-23): checked for every float of [2^-24, 8), at the widest packet.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"  // packet types as template arguments
TEST_CASE("hard sigmoid's division by 6 is correctly rounded for every float it meets", "[nn][accuracy][hard]") {
    namespace ei = Eigen::internal;
    using P = diffuse::simd::packet<float>;
    constexpr std::size_t n = ei::unpacket_traits<P>::size;
    const auto first = std::bit_cast<std::uint32_t>(0x1p-24f);
    const auto last = std::bit_cast<std::uint32_t>(8.0f);
    std::size_t wrong = 0;
    float y[n], q[n];
    for (std::uint32_t bits = first; bits < last; bits += n) {
        for (std::size_t j = 0; j < n; ++j) y[j] = std::bit_cast<float>(bits + static_cast<std::uint32_t>(j));
        ei::pstoreu(q, nn::detail::ramp_over_6(ei::ploadu<P>(y)));
        for (std::size_t j = 0; j < n; ++j) wrong += q[j] != y[j] / 6.0f;
    }
    CHECK(wrong == 0);
    CHECK(nn::detail::ramp_over_6(0.0f) == 0.0f);
    CHECK(nn::detail::ramp_over_6(6.0f) == 1.0f);
}

// Hard swish divides x relu6(x + 3) by 6 the same way: bitwise PyTorch's x * relu6(x + 3) / 6
// wherever that product is at least 2^-119 in magnitude (the multiplication's correct rounding
// depends on the mantissa only, which the test above covers), and a neighbour of it below (y z_lo
// underflows there). Every 61st float of [-3, 3] (about 17 million), both signs.
TEST_CASE("hard swish's division by 6 matches PyTorch's", "[nn][accuracy][hard]") {
    const std::uint32_t last = std::bit_cast<std::uint32_t>(3.0f);
    std::size_t different = 0, off_by_more = 0;
    std::vector<float> xs;
    for (std::uint32_t bits = 0; bits <= last; bits += 61) {
        xs.push_back(std::bit_cast<float>(bits));
        xs.push_back(-std::bit_cast<float>(bits));
    }
    const auto in = diffuse::flat(xs);
    const diffuse::buffer<float> ys = in.unaryExpr(nn::hardswish{});
    for (std::size_t i = 0; i < xs.size(); ++i) {
        const float product = xs[i] * std::min(std::max(xs[i] + 3.0f, 0.0f), 6.0f);
        const float torch = product / 6.0f;
        if (std::fabs(product) >= 0x1p-119f) different += ys[i] != torch;
        else
            off_by_more +=
                ys[i] != torch && ys[i] != std::nextafter(torch, 1.0f) && ys[i] != std::nextafter(torch, -1.0f);
    }
    CHECK(different == 0);
    CHECK(off_by_more == 0);
}
#pragma GCC diagnostic pop

TEST_CASE("the float exponential's table holds 2^(j/16) to twice float precision", "[nn][accuracy][exp]") {
    const auto& table = diffuse::simd::detail::exp2_sixteenths;
    for (std::size_t j = 0; j < 16; ++j) {
        const ld exact = std::exp2(static_cast<ld>(j) / 16);  // the C library's exp2l
        const ld stored = 2 * static_cast<ld>(table.half_power[j]) * (1 + static_cast<ld>(table.correction[j]));
        INFO("j = " << j);
        CHECK(2 * table.half_power[j] == static_cast<float>(exact));  // the entry is 2^(j/16) rounded
        CHECK(std::fabs(stored / exact - 1) < 0x1p-47L);              // entry and correction within 2^-47
    }
}

// The exact GELU's scaled tail H(t) = Phi(-t) exp(t^2/2), carried as h + h_lo: from the table of
// 32 polynomials on AVX-512 float builds (nn/detail/normal_tail_table.hpp, 2^-27.2 as fitted by
// tools/fit_quarter_octaves.py, and q's roundings), from the series in u elsewhere (for
// t >= 1/2, carrying G's rounding). Every interval's edges and a dense grid, at the widest packet
// and on plain float (lane by lane there, so the same table entries).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
TEST_CASE("the exact GELU's scaled normal tail is accurate to twice float precision where tabulated",
          "[nn][accuracy][gelu]") {
    namespace kernels = diffuse::nn::kernels;
    namespace ei = Eigen::internal;
    using P = diffuse::simd::packet<float>;
    constexpr bool tabulated = kernels::detail::quarter_octaves_tabulated<float>;
    const float low = tabulated ? 0.0f : 0.5f;
    std::vector<float> ts;
    for (int i = 0; i <= 200000; ++i) ts.push_back(low + (14.6f - low) * static_cast<float>(i) / 200000);
    for (float edge = std::max(low, 0.0625f); edge < 16; edge *= 1.0f + 1.0f / 1024) ts.push_back(edge);
    for (int e = -4; e < 4; ++e)
        for (int q = 0; q < 4; ++q) {
            const float start = std::ldexp(1.0f + static_cast<float>(q) / 4, e);
            if (start >= low) ts.insert(ts.end(), {start, std::nextafter(start, 0.0f)});
        }
    constexpr std::size_t n = ei::unpacket_traits<P>::size;
    while (ts.size() % n) ts.push_back(ts.back());
    double worst_packet = 0, worst_scalar = 0, at = 0;
    for (std::size_t i = 0; i < ts.size(); i += n) {
        float x[n];
        for (std::size_t j = 0; j < n; ++j) x[j] = -ts[i + j];
        const auto parts = kernels::normal_tail(ei::ploadu<P>(x));
        float h[n], h_lo[n];
        ei::pstoreu(h, parts.h);
        ei::pstoreu(h_lo, parts.h_lo);
        for (std::size_t j = 0; j < n; ++j) {
            const ld t = ts[i + j];
            const ld exact = std::erfc(t / std::sqrt(2.0L)) / 2 * std::exp(t * t / 2);
            const double packet_error = static_cast<double>(std::fabs((static_cast<ld>(h[j]) + h_lo[j]) / exact - 1));
            const auto scalar = kernels::normal_tail(x[j]);
            const double scalar_error =
                static_cast<double>(std::fabs((static_cast<ld>(scalar.h) + scalar.h_lo) / exact - 1));
            if (packet_error > worst_packet) at = static_cast<double>(t);
            worst_packet = std::max(worst_packet, packet_error);
            worst_scalar = std::max(worst_scalar, scalar_error);
        }
    }
    std::printf("normal tail    float  %s: max relative error 2^%.1f (t=%.6g), plain float 2^%.1f\n",
                tabulated ? "table" : "series", std::log2(worst_packet), at, std::log2(worst_scalar));
    INFO("max relative error " << worst_packet << " at t = " << at);
    const double bound = tabulated ? 0x1.6ap-26 : 0x1p-22;  // 2^-25.5 : 2^-22
    CHECK(worst_packet <= bound);
    CHECK(worst_scalar <= bound);
}

// Every t of ts through evaluate (a table's evaluation returning two parts) at the widest float
// packet and on plain float (lane by lane where the lookup has no packet form), each result's
// parts handed to record(t, first, second).
template <class Evaluate, class Record>
void for_each_table_result(std::vector<float> ts, Evaluate evaluate, Record record) {
    namespace ei = Eigen::internal;
    using P = diffuse::simd::packet<float>;
    constexpr std::size_t n = ei::unpacket_traits<P>::size;
    while (ts.size() % n) ts.push_back(ts.back());
    for (std::size_t i = 0; i < ts.size(); i += n) {
        const auto [first, second] = evaluate(ei::ploadu<P>(&ts[i]));
        float a[n], b[n];
        ei::pstoreu(a, first);
        ei::pstoreu(b, second);
        for (std::size_t j = 0; j < n; ++j) record(ts[i + j], a[j], b[j]);
    }
    for (const float t : ts) {
        const auto [a, b] = evaluate(t);
        record(t, a, b);
    }
}

// Every quarter-octave table (nn/detail/quarter_octaves.hpp) against its function in long
// double, F = hi + lo as evaluate() forms it: a dense grid over [0, top], every interval's edges
// and a geometric grid through all 32 intervals, at the widest float packet and on plain float.
// The tables are data, so this runs on every build (lane by lane without AVX-512). Bounds: the
// fits' errors as printed by tools/fit_quarter_octaves.py (normal tail 2^-27.2, tanh ratio
// 2^-27.9, softplus tail 2^-28.3) plus q's roundings; measured 2^-26.3, 2^-26.8, 2^-28.1.
template <int E, std::size_t Rows, class F>
double quarter_octave_error(const char* name, const diffuse::nn::kernels::detail::quarter_octave_table<E, Rows>& table,
                            F exact) {
    namespace kernels = diffuse::nn::kernels;
    const float top = kernels::detail::table_top(table);
    std::vector<float> ts;
    for (int i = 0; i <= 100000; ++i) ts.push_back(top * static_cast<float>(i) / 100000);
    for (float t = std::ldexp(1.0f, E - 12); t < top; t *= 1.0f + 1.0f / 1024) ts.push_back(t);
    for (int e = E; e < E + 8; ++e)
        for (int q = 0; q < 4; ++q) {
            const float start = std::ldexp(1.0f + static_cast<float>(q) / 4, e);
            ts.insert(ts.end(), {start, std::nextafter(start, 0.0f)});
        }
    ts.insert(ts.end(), {top, std::numeric_limits<float>::denorm_min()});
    double worst = 0, at = 0;
    auto record = [&](float t, float hi, float lo) {
        const double error = static_cast<double>(std::fabs((static_cast<ld>(hi) + lo) / exact(static_cast<ld>(t)) - 1));
        if (error > worst) at = static_cast<double>(t);
        worst = std::max(worst, error);
    };
    for_each_table_result(
        ts, [&](const auto& t) { return kernels::detail::evaluate(table, t); }, record);
    std::printf("quarter octaves %-13s: max relative error 2^%.1f (t=%.6g)\n", name, std::log2(worst), at);
    INFO(name << ": max relative error " << worst << " at t = " << at);
    return worst;
}

TEST_CASE("the quarter-octave tables are accurate to twice float precision", "[nn][accuracy]") {
    namespace detail = diffuse::nn::kernels::detail;
    CHECK(quarter_octave_error("normal_tail", detail::normal_tail_by_bits, [](ld t) {
              return std::erfc(t / std::sqrt(2.0L)) / 2 * std::exp(t * t / 2);
          }) <= 0x1.6ap-26);
    CHECK(quarter_octave_error("tanh_ratio", detail::tanh_ratio_by_bits,
                               [](ld t) { return t == 0 ? 1 : std::tanh(t) / t; }) <= 0x1p-26);
}

// The step tables (nn/detail/step_tables.hpp) that the float GELUs use on AVX-512 where a packet
// lies in their range: lead + rest against F(t) in long double, relative up to relative_top (x < 0
// needs that), relative to 1 - F beyond (x > 0 uses only x (1 - F)). A dense grid over [low, top),
// every interval's edges and their neighbours, at the widest float packet and on plain float;
// data, so every build checks them. The fits' error is 2^-25.0 (tools/fit_quarter_octaves.py);
// q's roundings add more, since z q reaches 0.7 of F near t = 4: measured 2^-23.7 (normal_lower,
// t = 3.865), 2^-23.0 (gelu_tanh_lower, t = 4.115, where z q is 0.85 of F) and 2^-23.5
// (normal_lower_far, t = 7.437), bounds 2^-23.5, 2^-22.8 and 2^-23.2; Mish's gate, whose fit is
// 2^-26.2 and whose z q stays below 0.3 of g, 2^-24.5 (x = -6.244), bound 2^-24. Without hardware FMA (the
// tables serve only AVX-512 builds, but they are checked everywhere) Horner's steps round twice:
// 2^-22.7 at most, bound 2^-22.4.
template <int StepsPerUnit, class F, class Evaluate>
double stepped_table_error(const char* name, Evaluate evaluate, float low, float top, float relative_top, F exact) {
    std::vector<float> ts;
    for (int i = 0; i < 200000; ++i) ts.push_back(low + (top - low) * static_cast<float>(i) / 200000);
    for (int k = -64; k < 64; ++k) {  // the edges between intervals k and k + 1
        const float edge = (static_cast<float>(k) + 0.5f) / StepsPerUnit;
        if (edge > low && edge < top)
            ts.insert(ts.end(), {edge, std::nextafter(edge, 0.0f), std::nextafter(edge, 8.0f)});
    }
    ts.push_back(std::nextafter(top, 0.0f));
    if (low <= 0) {
        for (const float tiny : {std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::min(), 1e-30f}) {
            ts.push_back(tiny);
            if (low < 0) ts.push_back(-tiny);
        }
    }
    double worst = 0, at = 0;
    auto record = [&](float t, float lead, float rest) {
        const ld f = exact(static_cast<ld>(t));
        const ld scale = t <= relative_top ? f : 1 - f;
        const double error = static_cast<double>(std::fabs(static_cast<ld>(lead) + rest - f) / scale);
        if (error > worst) at = static_cast<double>(t);
        worst = std::max(worst, error);
    };
    for_each_table_result(ts, evaluate, record);
    std::printf("steps %-17s: max relative error 2^%.1f (t=%.6g)\n", name, std::log2(worst), at);
    INFO(name << ": max relative error " << worst << " at t = " << at);
    return worst;
}
template <int StepsPerUnit, int Offset = 0, class F>
double step_error(const char* name, const diffuse::nn::kernels::detail::step_table& table, float low, float top,
                  float relative_top, F exact) {
    namespace detail = diffuse::nn::kernels::detail;
    return stepped_table_error<StepsPerUnit>(
        name, [&](const auto& t) { return detail::evaluate_by_steps<StepsPerUnit, Offset>(table, t); }, low, top,
        relative_top, exact);
}

TEST_CASE("the step tables are accurate to float precision", "[nn][accuracy][gelu]") {
    namespace detail = diffuse::nn::kernels::detail;
    auto normal_lower = [](ld t) { return std::erfc(t / std::sqrt(2.0L)) / 2; };
    const float top = detail::quarter_steps_top;
    const float relative_top = detail::quarter_steps_relative_top;
    auto bound = [](double with_fma) { return hardware_fma ? with_fma : 0x1.8p-23; };
    CHECK(step_error<4>("normal_lower", detail::normal_lower_steps, 0, top, relative_top, normal_lower) <=
          bound(0x1.6ap-24));
    // The eighth steps serve x in [-7.5, -4) only: relative everywhere.
    CHECK(step_error<8>("normal_lower_far", detail::normal_lower_far_steps, 4, 7.5f, 7.5f, normal_lower) <=
          bound(0x1.cp-24));
    const ld k = std::sqrt(2 / pi);
    CHECK(step_error<4>("gelu_tanh_lower", detail::gelu_tanh_lower_steps, 0, top, relative_top, [=](ld t) {
              return 1 / (1 + std::exp(2 * k * (t + 0.044715L * t * t * t)));
          }) <= bound(0x1.2p-23));
    // Mish's gate on half steps of a signed argument, relative everywhere.
    CHECK(step_error<2, 8>("mish_gate", detail::mish_gate_steps, -8, 7.75f, 7.75f,
                           [](ld x) { return std::tanh(std::log1p(std::exp(x))); }) <= bound(0x1p-24));
    // The AVX2 exact GELU's 8 half steps (one vpermps per coefficient there, lane by lane
    // elsewhere): relative up to t = 3.25, where x < 0 uses them. Measured 2^-23.4 (t = 2.74849;
    // the fit as stored is 2^-24.8, q's roundings add since z q reaches 1.2 c0), bound 2^-23.1.
    CHECK(stepped_table_error<2>(
              "normal_lower_half",
              [](const auto& t) { return detail::evaluate_by_half_steps(detail::normal_lower_half_pieces, t); }, 0,
              detail::half_steps_top, detail::half_steps_relative_top, normal_lower) <= bound(0x1.d4p-24));
}

// The lookup of a step table's coefficients at the widest float packet (a two-source permute per
// row on AVX-512, a transposition of each lane's 32-byte interval on AVX2) returns, bitwise, the
// entries a lane-by-lane lookup gives: every interval in every lane position, and intervals in
// every order (the transposition takes lanes i and i + 4 through one register).
TEST_CASE("step table lookups give every lane its interval's coefficients", "[nn][accuracy][gelu]") {
    namespace ei = Eigen::internal;
    namespace detail = diffuse::nn::kernels::detail;
    using P = diffuse::simd::packet<float>;
    constexpr int n = ei::unpacket_traits<P>::size;
    for (const detail::step_table* table : {&detail::normal_lower_steps, &detail::normal_lower_far_steps,
                                            &detail::gelu_tanh_lower_steps, &detail::mish_gate_steps}) {
        int mismatches = 0;
        for (std::uint32_t shift = 0; shift < 32; ++shift) {
            for (std::uint32_t stride : {1u, 5u, 11u}) {
                float lanes[n];
                for (int j = 0; j < n; ++j)  // the index bits with unrelated high bits set
                    lanes[j] =
                        std::bit_cast<float>(0x4b000000u | ((shift + stride * static_cast<std::uint32_t>(j)) & 31u) |
                                             (static_cast<std::uint32_t>(j) << 8));
                const auto packed = detail::coefficients_at(*table, ei::ploadu<P>(lanes));
                for (std::size_t k = 0; k < packed.size(); ++k) {
                    float got[n];
                    ei::pstoreu(got, packed[k]);
                    for (int j = 0; j < n; ++j) {
                        const std::uint32_t interval = std::bit_cast<std::uint32_t>(lanes[j]) & 31u;
                        if (std::bit_cast<std::uint32_t>(got[j]) !=
                            std::bit_cast<std::uint32_t>(table->rows[k][interval]))
                            ++mismatches;
                        if (std::bit_cast<std::uint32_t>(detail::coefficients_at(*table, lanes[j])[k]) !=
                            std::bit_cast<std::uint32_t>(table->by_interval[interval][k]))
                            ++mismatches;
                    }
                }
            }
        }
        CHECK(mismatches == 0);
    }
}

#pragma GCC diagnostic pop
