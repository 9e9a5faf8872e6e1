// Tests for diffuse/nn activations: published values, PyTorch defaults, limits and NaN,
// the three ways to apply an activation, gated units, parameter derivatives and errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include "compiled_isa.hpp"
#include "diffuse/nn/activations.hpp"

namespace nn = diffuse::nn;
using diffuse::flat;

namespace {

template <class T>
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

template <class T>
Approx close(double v) {
    return Approx(v).epsilon(std::is_same_v<T, float> ? 4e-7 : 2e-15).margin(0);
}

constexpr double inf = std::numeric_limits<double>::infinity();

// f(-inf), f(+inf), f'(-inf), f'(+inf): the limits every activation must return.
struct limits {
    double f_minus, f_plus, d_minus, d_plus;
};

template <class T, class A>
void check_limits(const char* name, const A& act, limits l) {
    const T big = std::numeric_limits<T>::infinity();
    const T nan = std::numeric_limits<T>::quiet_NaN();
    INFO(name);
    CHECK(act(-big) == static_cast<T>(l.f_minus));
    CHECK(act(big) == static_cast<T>(l.f_plus));
    CHECK(act.derivative(-big) == static_cast<T>(l.d_minus));
    CHECK(act.derivative(big) == static_cast<T>(l.d_plus));
    CHECK(std::isnan(act(nan)));
    CHECK(std::isnan(act.derivative(nan)));
    // The same through the vector path (a full packet of each special value).
    array<T> x(64);
    x.head(16).setConstant(-big);
    x.segment(16, 16).setConstant(big);
    x.segment(32, 16).setConstant(nan);
    x.tail(16).setConstant(T(0.5));
    const array<T> y = x.unaryExpr(act);
    const array<T> d = x.unaryExpr(nn::derivative_of<A>{act});
    CHECK((y.head(16) == static_cast<T>(l.f_minus)).all());
    CHECK((y.segment(16, 16) == static_cast<T>(l.f_plus)).all());
    CHECK(y.segment(32, 16).isNaN().all());
    CHECK(d.segment(32, 16).isNaN().all());
    CHECK((d.head(16) == static_cast<T>(l.d_minus)).all());
    CHECK((d.segment(16, 16) == static_cast<T>(l.d_plus)).all());
}

}  // namespace

TEMPLATE_TEST_CASE("activations match the published values f(-1), f(1), f'(1)", "[nn][reference]", float, double) {
    using T = TestType;
    // Source: /work/shared/reference/numerics.md (values computed from PyTorch's definitions).
    auto check3 = [](const char* name, const auto& act, double fm1, double f1, double d1) {
        INFO(name);
        CHECK(act(T(-1)) == close<T>(fm1));
        CHECK(act(T(1)) == close<T>(f1));
        CHECK(act.derivative(T(1)) == close<T>(d1));
    };
    check3("sigmoid", nn::sigmoid{}, 0.2689414213699951, 0.7310585786300049, 0.19661193324148185);
    check3("gelu", nn::gelu{}, -0.15865525393145707, 0.84134474606854293, 1.0833154705876864);
    check3("gelu_tanh", nn::gelu_tanh{}, -0.15880800939172324, 0.84119199060827676, 1.0829640838457826);
    check3("silu", nn::silu{}, -0.2689414213699951, 0.7310585786300049, 0.92767051187148686);
    check3("swish(beta=1)", nn::swish{}, -0.2689414213699951, 0.7310585786300049, 0.92767051187148686);
    check3("mish", nn::mish{}, -0.30340146137410895, 0.86509838826731034, 1.0490362200997922);
    check3("softplus", nn::softplus{}, 0.31326168751822286, 1.3132616875182228, 0.7310585786300049);
    CHECK(nn::selu{}(T(-1)) == close<T>(-1.1113307378125625));
}

TEST_CASE("parameter defaults are PyTorch's", "[nn][reference]") {
    // Source: numerics.md / torch.nn: LeakyReLU 0.01, PReLU 0.25, ELU 1, CELU 1, Softplus 1 and
    // 20, Hardtanh [-1, 1], SELU constants.
    CHECK(nn::leaky_relu{}.negative_slope == 0.01);
    CHECK(nn::prelu{}.weight == 0.25);
    CHECK(nn::elu{}.alpha == 1.0);
    CHECK(nn::celu{}.alpha == 1.0);
    CHECK(nn::softplus{}.beta == 1.0);
    CHECK(nn::softplus{}.threshold == 20.0);
    CHECK(nn::hard_tanh{}.min_val == -1.0);
    CHECK(nn::hard_tanh{}.max_val == 1.0);
    CHECK(nn::swish{}.beta == 1.0);
    CHECK(static_cast<double>(nn::selu::alpha) == 1.6732632423543772848170429916717);
    CHECK(static_cast<double>(nn::selu::scale) == 1.0507009873554804934193349852946);
    // The designated-initializer spelling the MLP relies on.
    const nn::leaky_relu steep{.negative_slope = 0.2};
    // exact: -2 * 0.2 only doubles 0.2 (measured 0)
    CHECK(steep(-2.0) == Approx(-0.4).epsilon(0).margin(0));
}

TEMPLATE_TEST_CASE("limits at +-inf and NaN propagation, scalar and vector paths", "[nn][special]", float, double) {
    using T = TestType;
    const double sa = static_cast<double>(static_cast<T>(nn::selu::scale * nn::selu::alpha));
    const double s = static_cast<double>(static_cast<T>(nn::selu::scale));
    check_limits<T>("heaviside", nn::heaviside{}, {0, 1, 0, 0});
    check_limits<T>("sigmoid", nn::sigmoid{}, {0, 1, 0, 0});
    check_limits<T>("tanh", nn::tanh_act{}, {-1, 1, 0, 0});
    check_limits<T>("hard_sigmoid", nn::hard_sigmoid{}, {0, 1, 0, 0});
    check_limits<T>("hard_tanh", nn::hard_tanh{}, {-1, 1, 0, 0});
    check_limits<T>("relu", nn::relu{}, {0, inf, 0, 1});
    check_limits<T>("relu6", nn::relu6{}, {0, 6, 0, 0});
    check_limits<T>("leaky_relu", nn::leaky_relu{}, {-inf, inf, static_cast<T>(0.01), 1});
    check_limits<T>("prelu", nn::prelu{}, {-inf, inf, 0.25, 1});
    check_limits<T>("elu", nn::elu{}, {-1, inf, 0, 1});
    check_limits<T>("selu", nn::selu{}, {-sa, inf, 0, s});
    check_limits<T>("celu", nn::celu{.alpha = 2.0}, {-2, inf, 0, 1});
    check_limits<T>("gelu", nn::gelu{}, {0, inf, 0, 1});
    check_limits<T>("gelu_tanh", nn::gelu_tanh{}, {0, inf, 0, 1});
    check_limits<T>("quick_gelu", nn::quick_gelu{}, {0, inf, 0, 1});
    check_limits<T>("silu", nn::silu{}, {0, inf, 0, 1});
    check_limits<T>("swish", nn::swish{.beta = 0.5}, {0, inf, 0, 1});
    check_limits<T>("swish(beta<0)", nn::swish{.beta = -0.5}, {-inf, 0, 1, 0});
    check_limits<T>("swish(beta=0)", nn::swish{.beta = 0.0}, {-inf, inf, 0.5, 0.5});
    // beta = 0 is the line x/2, exactly (on AVX2 through the short path, exp(-0 y) = 1).
    for (const T x : {T(-3.7), T(1e-30), T(2.5e30)}) CHECK(nn::swish{.beta = 0.0}(x) == x / 2);
    check_limits<T>("mish", nn::mish{}, {0, inf, 0, 1});
    check_limits<T>("softplus", nn::softplus{}, {0, inf, 0, 1});
    check_limits<T>("softsign", nn::softsign{}, {-1, 1, 0, 0});
    check_limits<T>("hardswish", nn::hardswish{}, {0, inf, 0, 1});
    check_limits<T>("relu_squared", nn::relu_squared{}, {0, inf, 0, inf});
}

TEMPLATE_TEST_CASE("signed zeros, kinks and the overflow edges", "[nn][special]", float, double) {
    using T = TestType;
    CHECK(std::signbit(nn::tanh_act{}(T(-0.0))));
    CHECK(std::signbit(nn::gelu{}(T(-0.0))));
    {
        // Whole packets of -0 and of the smallest negative denormal d (GELU(d) = d/2 rounds to
        // -0, Mish(d) = 0.6 d to d; the exponential path scales by a power of two last and
        // rounds it to -0, within one denormal unit): on AVX-512 float they take the step tables.
        const T d = std::numeric_limits<T>::denorm_min();
        array<T> zeros = array<T>::Constant(64, T(-0.0));
        zeros.tail(32).setConstant(-d);
        const array<T> gelu_zeros = zeros.unaryExpr(nn::gelu{});
        for (const T y : gelu_zeros) CHECK((y == T(0) && std::signbit(y)));
        const array<T> mish_zeros = zeros.unaryExpr(nn::mish{});
        for (Eigen::Index i = 0; i < 32; ++i) CHECK((mish_zeros[i] == T(0) && std::signbit(mish_zeros[i])));
        for (Eigen::Index i = 32; i < 64; ++i)
            CHECK(((mish_zeros[i] == -d || mish_zeros[i] == T(0)) && std::signbit(mish_zeros[i])));
    }
    CHECK(nn::heaviside{}(T(0)) == T(0));
    CHECK(nn::heaviside{.at_zero = 0.5}(T(0)) == T(0.5));
    CHECK(nn::relu{}.derivative(T(0)) == T(0));  // PyTorch: threshold_backward gives 0 at 0
    // measured 0 (float), 1.1e-16 (double) relative (a floor of a few ulp)
    CHECK(nn::hardswish{}.derivative(T(-3)) ==
          Approx(-0.5).epsilon(std::is_same_v<T, float> ? 2e-7 : 2e-15).margin(0));  // PyTorch: x <= 3 branch at -3
    // measured 0 (both types) relative (a floor of a few ulp)
    CHECK(nn::hardswish{}.derivative(T(3)) == Approx(1.5).epsilon(std::is_same_v<T, float> ? 2e-7 : 2e-15).margin(0));
    CHECK(nn::softplus{}(T(20.5)) == T(20.5));  // linear above the threshold, like PyTorch
    // Largest finite inputs: no spurious overflow or NaN.
    const T big = std::numeric_limits<T>::max();
    CHECK(nn::hardswish{}(big) == big);
    CHECK(nn::silu{}(big) == big);
    CHECK(nn::mish{}(big) == big);
    CHECK(nn::gelu{}(big) == big);
    CHECK(nn::softsign{}(big) == T(1));
    CHECK(nn::silu{}(-big) == T(0));
    CHECK(nn::elu{}(-big) == T(-1));
    // Results in the denormal range are not flushed: sigma(x) = exp(x)/(1+exp(x)) near the
    // smallest exponent.
    const T x = std::is_same_v<T, float> ? T(-95) : T(-720);
    const long double expected = std::exp(static_cast<long double>(x));
    CHECK(nn::sigmoid{}(x) > T(0));
    // measured 6.1e-6 (float), 2.9e-12 (double) relative; the slack is one denormal spacing at this value
    // (2.5e-4, 2.3e-11 of it), not 10x
    CHECK(static_cast<long double>(nn::sigmoid{}(x)) ==
          Approx(expected).epsilon(std::is_same_v<T, float> ? 3e-4 : 3e-11).margin(0));
}

TEMPLATE_TEST_CASE("scalar, expression and in-place paths agree", "[nn][paths]", float, double) {
    using T = TestType;
    const array<T> x = array<T>::LinSpaced(1001, -9, 7);
    auto check_paths = [&](const char* name, const auto& act) {
        INFO(name);
        using A = std::remove_cvref_t<decltype(act)>;
        const array<T> expression = x.unaryExpr(act);
        array<T> in_place = x;
        nn::apply(act, in_place);
        CHECK((in_place == expression).all());  // same packet path, bitwise
        std::vector<T> v(x.data(), x.data() + x.size());
        nn::apply(act, v);
        CHECK(std::equal(v.begin(), v.end(), expression.data()));
        array<T> out(x.size()), slope(x.size());
        nn::apply(act, diffuse::const_view<T>(x.data(), x.size()), flat(out));
        nn::apply_derivative(act, diffuse::const_view<T>(x.data(), x.size()), flat(slope));
        const array<T> slope_expression = x.unaryExpr(nn::derivative_of<A>{act});
        CHECK((out == expression).all());
        CHECK((slope == slope_expression).all());
        // The out-of-place forms take whatever flat() accepts: a const std::vector in, a
        // std::vector out, an Eigen array for the gradient.
        const std::vector<T> const_in(x.data(), x.data() + x.size());
        std::vector<T> vector_out(const_in.size()), vector_slope(const_in.size());
        nn::apply(act, const_in, vector_out);
        nn::apply_derivative(act, const_in, vector_slope);
        CHECK(std::equal(vector_out.begin(), vector_out.end(), expression.data()));
        CHECK(std::equal(vector_slope.begin(), vector_slope.end(), slope_expression.data()));
        array<T> grad(x.size());
        nn::backward(act, const_in, array<T>::Ones(x.size()).eval(), grad);
        CHECK((grad == slope_expression).all());
        for (diffuse::index i = 0; i < x.size(); ++i) {
            CHECK(act(x[i]) == close<T>(expression[i]).epsilon(std::is_same_v<T, float> ? 1e-6 : 1e-15));
            // Absolute margin: near a zero of f' (GELU, SiLU, Mish at x ~ -1) the ULP scale is
            // that of the largest term, about 1 (see test_activations_accuracy).
            CHECK(act.derivative(x[i]) == close<T>(slope[i])
                                              .epsilon(std::is_same_v<T, float> ? 1e-6 : 1e-15)
                                              .margin(std::is_same_v<T, float> ? 1e-6 : 1e-15));
        }
        // Fuses with the surrounding expression.
        const array<T> fused = (x * T(2) + T(1)).unaryExpr(act) * T(3);
        const array<T> x2 = x * T(2) + T(1);
        const array<T> separate = x2.unaryExpr(act) * T(3);
        CHECK((fused == separate).all());
        // backward: grad_x = grad_y * f'(x)
        const array<T> grad_y = array<T>::LinSpaced(x.size(), 1, 2);
        array<T> grad_x(x.size());
        nn::backward(act, diffuse::const_view<T>(x.data(), x.size()),
                     diffuse::const_view<T>(grad_y.data(), grad_y.size()), flat(grad_x));
        CHECK(((grad_x - grad_y * slope_expression).abs() <= T(4) * std::numeric_limits<T>::epsilon() * grad_x.abs())
                  .all());
    };
    check_paths("relu", nn::relu{});
    check_paths("leaky_relu", nn::leaky_relu{.negative_slope = 0.2});
    check_paths("sigmoid", nn::sigmoid{});
    check_paths("tanh", nn::tanh_act{});
    check_paths("gelu", nn::gelu{});
    check_paths("gelu_tanh", nn::gelu_tanh{});
    check_paths("silu", nn::silu{});
    check_paths("mish", nn::mish{});
    check_paths("softplus", nn::softplus{.beta = 2.0, .threshold = 10.0});
    check_paths("elu", nn::elu{});
    check_paths("celu", nn::celu{.alpha = 0.5});
    check_paths("hardswish", nn::hardswish{});
    // Activations are a policy: any elementwise_activation works where a layer takes one.
    STATIC_REQUIRE(nn::elementwise_activation<nn::gelu>);
    STATIC_REQUIRE(nn::elementwise_activation<nn::swish>);
    STATIC_REQUIRE(!nn::elementwise_activation<nn::swiglu>);
}

TEMPLATE_TEST_CASE("gated units: the second half gates the first, row by row", "[nn][gated]", float, double) {
    using T = TestType;
    // Shazeer 2020: GLU(a, b) = a * sigma(b), ReGLU a * relu(b), GEGLU a * gelu(b), SwiGLU a * silu(b);
    // torch.nn.functional.glu(x, dim=-1) splits each row into [a | b].
    const diffuse::index rows = 3, half = 37;
    const array<T> in = array<T>::LinSpaced(rows * 2 * half, -4, 5).sin() * T(3);
    auto check_gate = [&](const char* name, const auto& unit, const auto& act) {
        INFO(name);
        array<T> out(rows * half);
        unit.forward(diffuse::const_view<T>(in.data(), in.size()), flat(out), rows);
        for (diffuse::index r = 0; r < rows; ++r)
            for (diffuse::index j = 0; j < half; ++j) {
                const T a = in[r * 2 * half + j];
                const T b = in[r * 2 * half + half + j];
                CHECK(out[r * half + j] ==
                      close<T>(a * act(b)).epsilon(std::is_same_v<T, float> ? 1e-6 : 1e-15).margin(1e-30));
            }
        // Backward against the product rule.
        const array<T> grad_out = array<T>::LinSpaced(rows * half, -1, 1);
        array<T> grad_in(in.size());
        unit.backward(diffuse::const_view<T>(in.data(), in.size()),
                      diffuse::const_view<T>(grad_out.data(), grad_out.size()), flat(grad_in), rows);
        for (diffuse::index r = 0; r < rows; ++r)
            for (diffuse::index j = 0; j < half; ++j) {
                const T a = in[r * 2 * half + j];
                const T b = in[r * 2 * half + half + j];
                const T g = grad_out[r * half + j];
                const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
                CHECK(grad_in[r * 2 * half + j] == Approx(g * act(b)).epsilon(tol).margin(tol));
                CHECK(grad_in[r * 2 * half + half + j] == Approx(g * a * act.derivative(b)).epsilon(tol).margin(tol));
            }
    };
    check_gate("glu", nn::glu{}, nn::sigmoid{});
    check_gate("reglu", nn::reglu{}, nn::relu{});
    check_gate("geglu", nn::geglu{}, nn::gelu{});
    check_gate("swiglu", nn::swiglu{}, nn::silu{});
    check_gate("gated<mish>", nn::gated<nn::mish>{}, nn::mish{});

    array<T> wrong(rows * half + 1);
    CHECK_THROWS_AS(nn::glu{}.forward(diffuse::const_view<T>(in.data(), in.size()), flat(wrong), rows), diffuse::error);
    CHECK_THROWS_WITH(nn::glu{}.forward(diffuse::const_view<T>(in.data(), in.size() - 1), flat(wrong), rows),
                      Catch::Contains("in.size()") && Catch::Contains("multiple of 2 * rows"));
    CHECK_THROWS_AS(nn::glu{}.forward(diffuse::const_view<T>(in.data(), in.size()), flat(wrong), 0), diffuse::error);
}

TEST_CASE("parameter derivatives match central differences", "[nn][parameters]") {
    // d f / d parameter at several x, against (f(p + h) - f(p - h)) / 2h in double.
    const double h = 1e-6;
    for (double x : {-3.0, -0.7, -0.01, 0.4, 2.5}) {
        INFO("x = " << x);
        auto diff = [&](auto make) { return (make(+h)(x) - make(-h)(x)) / (2 * h); };
        // measured 3e-12; the quotient's rounding, eps |f| / h ~ 7e-10, bounds it on any instruction set, hence 1e-9
        // here and below
        CHECK(nn::leaky_relu{.negative_slope = 0.1}.derivative_negative_slope(x) ==
              Approx(diff([](double d) { return nn::leaky_relu{.negative_slope = 0.1 + d}; })).epsilon(0).margin(1e-9));
        // measured 2.5e-11
        CHECK(nn::prelu{}.derivative_weight(x) ==
              Approx(diff([](double d) { return nn::prelu{.weight = 0.25 + d}; })).epsilon(0).margin(1e-9));
        // measured 4e-11
        CHECK(nn::elu{.alpha = 0.7}.derivative_alpha(x) ==
              Approx(diff([](double d) { return nn::elu{.alpha = 0.7 + d}; })).epsilon(0).margin(1e-9));
        CHECK(nn::celu{.alpha = 1.3}.derivative_alpha(x) ==
              Approx(diff([](double d) { return nn::celu{.alpha = 1.3 + d}; })).epsilon(1e-6).margin(1e-8));
        CHECK(nn::swish{.beta = 1.4}.derivative_beta(x) ==
              Approx(diff([](double d) { return nn::swish{.beta = 1.4 + d}; })).epsilon(1e-6).margin(1e-8));
        CHECK(nn::softplus{.beta = 1.8}.derivative_beta(x) ==
              Approx(diff([](double d) { return nn::softplus{.beta = 1.8 + d}; })).epsilon(1e-6).margin(1e-8));
    }
}

TEST_CASE("invalid parameters throw diffuse::error naming the parameter, the value and the range", "[nn][errors]") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_WITH(nn::leaky_relu{.negative_slope = nan}(1.0f), Catch::Contains("leaky_relu.negative_slope") &&
                                                                       Catch::Contains("nan") &&
                                                                       Catch::Contains("finite"));
    CHECK_THROWS_WITH(nn::celu{.alpha = 0.0}(1.0), Catch::Contains("celu.alpha = 0") && Catch::Contains("> 0"));
    CHECK_THROWS_WITH(nn::softplus{.beta = -1.0}.derivative(1.0), Catch::Contains("softplus.beta = -1"));
    const nn::hard_tanh reversed{.min_val = 1.0, .max_val = -1.0};
    CHECK_THROWS_WITH(reversed(0.0), Catch::Contains("hard_tanh.max_val = -1"));
    CHECK_THROWS_AS(nn::swish{.beta = std::numeric_limits<double>::infinity()}(0.5), diffuse::error);
    CHECK_THROWS_AS(nn::heaviside{.at_zero = nan}(0.5), diffuse::error);
    CHECK_THROWS_AS(nn::elu{.alpha = nan}.derivative_alpha(-1.0), diffuse::error);
    std::vector<double> data(8, 1.0);
    CHECK_THROWS_AS(nn::apply(nn::prelu{.weight = nan}, data), diffuse::error);
    std::vector<double> out(7);
    CHECK_THROWS_WITH(nn::apply(nn::relu{}, diffuse::const_view<double>(data.data(), 8), flat(out)),
                      Catch::Contains("out.size() = 7"));
    CHECK_THROWS_AS(nn::geglu{}.forward(diffuse::const_view<double>(data.data(), 8), flat(out)), diffuse::error);
}
