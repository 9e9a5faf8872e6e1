// Tests for diffuse/nn/mlp.hpp, time_embedding.hpp, losses.hpp and serialize.hpp.
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "diffuse/core/random.hpp"
#include "diffuse/nn/activations.hpp"
#include "diffuse/nn/losses.hpp"
#include "diffuse/nn/mlp.hpp"
#include "diffuse/nn/serialize.hpp"
#include "diffuse/nn/time_embedding.hpp"
#include "diffuse/predict/parameterization.hpp"
#include "diffuse/sa/adam.hpp"

namespace nn = diffuse::nn;

namespace {

template <class T>
using mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

// An activation written against the documented contract only (no packet kernels).
struct contract_softsign {
    template <diffuse::Real T>
    T operator()(T x) const {
        return x / (T(1) + std::abs(x));
    }
    template <diffuse::Real T>
    T derivative(T x) const {
        return T(1) / ((T(1) + std::abs(x)) * (T(1) + std::abs(x)));
    }
};

// Loss used for gradient checks: L = sum(w .* y) with fixed weights w, so dL/dy = w.
template <class T, class Net>
double weighted_output(const Net& net, const mat<T>& x, const mat<T>& weights) {
    auto ws = net.make_workspace(x.cols());
    mat<T> y(net.output_size(), x.cols());
    net.forward(x, y, ws);
    return static_cast<double>((y.array() * weights.array()).sum());
}

template <class Activation>
void check_gradients_against_finite_differences() {
    // Double precision, central differences with h = 1e-6: truncation O(h^2), rounding O(1e-16/h).
    using T = double;
    diffuse::random::generator rng(42);
    nn::mlp<T, Activation> net({3, 7, 5, 2});
    net.initialize(rng);
    mat<T> x(3, 4), weights(2, 4);
    rng.normal(diffuse::flat(x));
    rng.normal(diffuse::flat(weights));

    auto ws = net.make_workspace(8);
    mat<T> y(2, 4), dx(3, 4);
    net.forward(x, y, ws);
    diffuse::buffer<T> gradient(net.parameter_count());
    net.backward(weights, diffuse::flat(gradient), ws, dx);

    const T h = 1e-6;
    auto p = net.parameters();
    double worst = 0;
    for (diffuse::index i = 0; i < p.size(); ++i) {
        const T saved = p[i];
        p[i] = saved + h;
        const double plus = weighted_output<T>(net, x, weights);
        p[i] = saved - h;
        const double minus = weighted_output<T>(net, x, weights);
        p[i] = saved;
        worst = std::max(worst, std::abs((plus - minus) / (2 * h) - gradient[i]) / (1 + std::abs(gradient[i])));
    }
    CHECK(worst < 1e-7);
    worst = 0;
    for (diffuse::index i = 0; i < x.size(); ++i) {
        mat<T> shifted = x;
        shifted.data()[i] += h;
        const double plus = weighted_output<T>(net, shifted, weights);
        shifted.data()[i] -= 2 * h;
        const double minus = weighted_output<T>(net, shifted, weights);
        worst = std::max(worst, std::abs((plus - minus) / (2 * h) - dx.data()[i]) / (1 + std::abs(dx.data()[i])));
    }
    CHECK(worst < 1e-7);
}

}  // namespace

TEMPLATE_TEST_CASE("mlp forward is the composition of its affine layers and activations", "[nn][mlp]", float, double) {
    using T = TestType;
    nn::mlp<T, nn::relu> net({2, 3, 1});
    CHECK(net.layers() == 2);
    CHECK(net.parameter_count() == 2 * 3 + 3 + 3 * 1 + 1);
    net.weight(0) << 1, -1, 2, 0.5, -3, 1;  // 3 x 2
    net.bias(0) << 0.5, -1, 0;
    net.weight(1) << 1, 2, -1;
    net.bias(1) << 0.25;
    // The flat layout: W_0 column-major first.
    CHECK(net.parameters()[1] == T(2));
    CHECK(net.parameters()[6] == T(0.5));

    mat<T> x(2, 2);
    x << 1, -2, 2, 1;  // columns (1, 2) and (-2, 1)
    auto ws = net.make_workspace(4);
    mat<T> y(1, 2);
    net.forward(x, y, ws);
    // By hand: z = W x + b; column 1: (1 - 2 + .5, 2 + 1 - 1, -3 + 2) = (-0.5, 2, -1) -> relu (0, 2, 0)
    //   -> 0 + 4 - 0 + 0.25 = 4.25. Column 2: (-2 - 1 + .5, -4 + .5 - 1, 6 + 1) = (-2.5, -4.5, 7)
    //   -> (0, 0, 7) -> -7 + 0.25 = -6.75.
    // exact (measured 0 in both types)
    CHECK(y(0, 0) == Approx(4.25).epsilon(0).margin(0));
    // exact (measured 0 in both types)
    CHECK(y(0, 1) == Approx(-6.75).epsilon(0).margin(0));
}

TEST_CASE("mlp backward matches central finite differences", "[nn][mlp][gradient]") {
    SECTION("silu") {
        check_gradients_against_finite_differences<nn::silu>();
    }
    SECTION("gelu") {
        check_gradients_against_finite_differences<nn::gelu>();
    }
    SECTION("tanh") {
        check_gradients_against_finite_differences<nn::tanh_act>();
    }
    SECTION("an activation that only follows the contract") {
        check_gradients_against_finite_differences<contract_softsign>();
    }
}

TEST_CASE("float backward agrees with double backward", "[nn][mlp][gradient]") {
    diffuse::random::generator rng(3);
    nn::mlp<double> wide({4, 16, 16, 3});
    wide.initialize(rng);
    nn::mlp<float> narrow({4, 16, 16, 3});
    narrow.parameters() = wide.parameters().cast<float>();
    mat<double> x(4, 5), dy(3, 5);
    rng.normal(diffuse::flat(x));
    rng.normal(diffuse::flat(dy));
    auto ws_d = wide.make_workspace(5);
    auto ws_f = narrow.make_workspace(5);
    mat<double> y_d(3, 5);
    mat<float> y_f(3, 5);
    wide.forward(x, y_d, ws_d);
    narrow.forward(x.cast<float>(), y_f, ws_f);
    CHECK((y_f.cast<double>() - y_d).cwiseAbs().maxCoeff() < 1e-5);
    diffuse::buffer<double> g_d(wide.parameter_count());
    diffuse::buffer<float> g_f(narrow.parameter_count());
    wide.backward(dy, diffuse::flat(g_d), ws_d);
    narrow.backward(dy.cast<float>(), diffuse::flat(g_f), ws_f);
    CHECK((g_f.cast<double>() - g_d).abs().maxCoeff() < 1e-4 * (1 + g_d.abs().maxCoeff()));
}

TEMPLATE_TEST_CASE("mlp initialization follows torch.nn.Linear's bounds; shapes are checked", "[nn][mlp][errors]",
                   float, double) {
    using T = TestType;
    diffuse::random::generator rng(1);
    nn::mlp<T> net({16, 64, 4});
    net.initialize(rng);
    // U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases (PyTorch nn.Linear.reset_parameters).
    CHECK(net.weight(0).cwiseAbs().maxCoeff() <= T(0.25));
    CHECK(net.weight(0).cwiseAbs().maxCoeff() > T(0.24));
    CHECK(net.weight(1).cwiseAbs().maxCoeff() <= T(0.125));
    CHECK(net.bias(1).abs().maxCoeff() <= T(0.125));
    CHECK(std::abs(net.weight(0).mean()) < T(0.01));

    CHECK_THROWS_WITH(nn::mlp<T>({3}), Catch::Contains("widths.size() = 1"));
    CHECK_THROWS_WITH(nn::mlp<T>({3, 0, 1}), Catch::Contains("widths[1] = 0"));
    auto ws = net.make_workspace(2);
    mat<T> x(16, 3), y(4, 3);
    x.setZero();
    CHECK_THROWS_WITH(net.forward(x, y, ws), Catch::Contains("x.cols() = 3") && Catch::Contains("max_batch"));
    mat<T> wrong(15, 2), y2(4, 2);
    wrong.setZero();
    CHECK_THROWS_WITH(net.forward(wrong, y2, ws), Catch::Contains("x.rows() = 15"));
    CHECK_THROWS_WITH(net.weight(2), Catch::Contains("layer = 2"));
}

TEMPLATE_TEST_CASE("sinusoidal embedding matches diffusers' get_timestep_embedding", "[nn][embedding]", float, double) {
    using T = TestType;
    // Reference: diffusers.models.embeddings.get_timestep_embedding(t, 8) in float64 (defaults:
    // flip_sin_to_cos False, downscale_freq_shift 1, scale 1, max_period 10000), t = 1, 37.5, 999.
    const std::vector<std::pair<T, std::vector<double>>> reference{
        {T(1),
         {0.8414709848078965, 0.04639922346473126, 0.0021544330233656027, 9.999999983333325e-05, 0.5403023058681398,
          0.9989229760406304, 0.9999976792064809, 0.999999995}},
        {T(37.5),
         {-0.19779879963646227, 0.9856186705578555, 0.08070343893087328, 0.0037499912109436764, 0.9802426408101081,
          -0.16898472193593583, 0.9967381576646551, 0.9999929687582397}},
        {T(999),
         {-0.026460752737064126, 0.6848642293578692, 0.8356485008858456, 0.09973391573129901, 0.9996498529808264,
          -0.7286706988386812, -0.5492645837547137, 0.995014143644653}}};
    const nn::sinusoidal_embedding<T> embedding({8});
    diffuse::buffer<T> out(8);
    for (const auto& [t, expected] : reference) {
        embedding(t, diffuse::flat(out));
        // measured 0 (double), 1.5e-07 (float) relative
        for (int i = 0; i < 8; ++i)
            CHECK(out[i] == Approx(expected[static_cast<std::size_t>(i)])
                                .epsilon(std::is_same_v<T, float> ? 2e-6 : 2e-15)
                                .margin(0));
    }
    // get_timestep_embedding(t, 6, flip_sin_to_cos=True, downscale_freq_shift=0) at t = 37.5.
    const nn::sinusoidal_embedding<T> flipped({6, 10000.0, 0.0, true, 1.0});
    diffuse::buffer<T> six(6);
    flipped(T(37.5), diffuse::flat(six));
    const std::vector<double> expected{0.9802426408101081,   -0.16898472193593583, 0.9967381576646551,
                                       -0.19779879963646227, 0.9856186705578555,   0.08070343893087328};
    // measured 0 (double), 3e-08 (float) relative
    for (int i = 0; i < 6; ++i)
        CHECK(six[i] ==
              Approx(expected[static_cast<std::size_t>(i)]).epsilon(std::is_same_v<T, float> ? 3e-7 : 2e-15).margin(0));
    CHECK_THROWS_WITH(nn::sinusoidal_embedding<T>({7}), Catch::Contains("embedding dimension = 7"));
}

TEMPLATE_TEST_CASE("denoising targets agree with predict::decompose for every parameterization", "[nn][losses]", float,
                   double) {
    using T = TestType;
    // Whatever the target, the x0 that diffuse::predict recovers from (x_t, target) is x0.
    diffuse::random::generator rng(9);
    mat<T> x0(3, 4), noise(3, 4), x_t(3, 4), target(3, 4);
    rng.normal(diffuse::flat(x0));
    rng.normal(diffuse::flat(noise));
    diffuse::buffer<T> alpha(4), sigma(4);
    alpha << T(0.99), T(0.8), T(0.5), T(0.1);
    sigma = (T(1) - alpha.square()).sqrt();
    const double tolerance = std::is_same_v<T, float> ? 1e-4 : 1e-12;
    auto check = [&]<class Target>(Target, diffuse::predict::prediction p, const diffuse::buffer<T>& a,
                                   const diffuse::buffer<T>& s) {
        nn::denoising_pair<Target, T>(x0, noise, diffuse::cflat(a), diffuse::cflat(s), x_t, target);
        for (diffuse::index j = 0; j < 4; ++j) {
            const auto d = diffuse::predict::decompose(p, a[j], s[j]);
            const auto recovered = (d.x0.from_x * x_t.col(j) + d.x0.from_output * target.col(j)).eval();
            INFO(diffuse::predict::name(p) << " column " << j);
            CHECK((recovered - x0.col(j)).cwiseAbs().maxCoeff() < tolerance * 100);
            CHECK((x_t.col(j) - (a[j] * x0.col(j) + s[j] * noise.col(j))).cwiseAbs().maxCoeff() < tolerance);
        }
    };
    using diffuse::predict::prediction;
    check(nn::target::epsilon{}, prediction::epsilon, alpha, sigma);
    check(nn::target::sample{}, prediction::sample, alpha, sigma);
    check(nn::target::v{}, prediction::v_prediction, alpha, sigma);
    check(nn::target::score{}, prediction::score, alpha, sigma);
    // Rectified flow: alpha = 1 - s, sigma = s.
    diffuse::buffer<T> s = diffuse::buffer<T>::LinSpaced(4, T(0.1), T(0.9)), a = T(1) - s;
    check(nn::target::velocity{}, prediction::flow_velocity, a, s);
    CHECK((target - (noise - x0)).cwiseAbs().maxCoeff() < tolerance);
    // The velocity target needs the straight path.
    CHECK_THROWS_WITH((nn::denoising_pair<nn::target::velocity, T>(x0, noise, diffuse::cflat(alpha),
                                                                   diffuse::cflat(sigma), x_t, target)),
                      Catch::Contains("alpha + sigma"));
}

TEMPLATE_TEST_CASE("mse_loss returns the mean squared error and its gradient", "[nn][losses]", float, double) {
    using T = TestType;
    mat<T> prediction(2, 2), target(2, 2), gradient(2, 2);
    prediction << 1, 2, 3, 4;
    target << 0, 2, 5, 4;
    const T loss = nn::mse_loss(prediction, target, gradient);
    // exact (measured 0 in both types)
    CHECK(loss == Approx((1.0 + 4.0) / 4.0).epsilon(0).margin(0));
    // exact (measured 0 in both types)
    CHECK(gradient(0, 0) == Approx(2.0 * 1.0 / 4.0).epsilon(0).margin(0));
    // exact (measured 0 in both types)
    CHECK(gradient(1, 0) == Approx(2.0 * -2.0 / 4.0).epsilon(0).margin(0));
    CHECK(gradient(0, 1) == T(0));
}

TEMPLATE_TEST_CASE("Adam trains an mlp on a regression problem", "[nn][mlp][training]", float, double) {
    using T = TestType;
    // y = sin(3 x) on [-1, 1]: the loss of a 1-32-32-1 silu network falls by 100x in 1500 steps.
    diffuse::random::generator rng(5);
    nn::mlp<T> net({1, 32, 32, 1});
    net.initialize(rng);
    mat<T> x(1, 64), target(1, 64), y(1, 64), dy(1, 64);
    x.row(0) = Eigen::Matrix<T, 1, Eigen::Dynamic>::LinSpaced(64, T(-1), T(1));
    target = (T(3) * x.array()).sin().matrix();
    auto ws = net.make_workspace(64);
    diffuse::buffer<T> gradient(net.parameter_count());
    diffuse::sa::adam<T> adam(diffuse::sa::constant_step<T>(T(0.01)), net.parameter_count());
    net.forward(x, y, ws);
    const T initial = nn::mse_loss(y, target, dy);
    T loss = initial;
    for (int k = 0; k < 1500; ++k) {
        net.forward(x, y, ws);
        loss = nn::mse_loss(y, target, dy);
        net.backward(dy, diffuse::flat(gradient), ws);
        adam.step(net.parameters(), gradient);
    }
    INFO("initial " << initial << ", final " << loss);
    CHECK(loss < initial / 100);
}

TEMPLATE_TEST_CASE("time-conditioned mlp is a sampler model over a flat batch", "[nn][embedding][mlp]", float, double) {
    using T = TestType;
    diffuse::random::generator rng(8);
    nn::time_conditioned_mlp<T> model(2, {16, 16}, {8}, T(1000));
    model.net().initialize(rng);
    CHECK(model.net().input_size() == 10);
    diffuse::buffer<T> x(6), out(6), single(2);
    rng.normal(x);
    model(diffuse::cflat(x), 0.25, diffuse::flat(out));
    // Each point is processed independently: point 2 alone gives the same output.
    diffuse::buffer<T> point = x.segment(2, 2);
    model(diffuse::cflat(point), 0.25, diffuse::flat(single));
    CHECK((single - out.segment(2, 2)).abs().maxCoeff() < T(1e-6));
    // ... and the time matters.
    model(diffuse::cflat(point), 0.75, diffuse::flat(single));
    CHECK((single - out.segment(2, 2)).abs().maxCoeff() > T(1e-4));
    diffuse::buffer<T> odd(3);
    CHECK_THROWS_WITH(model(diffuse::cflat(odd), 0.5, diffuse::flat(odd)), Catch::Contains("x.size() = 3"));
}

// ---- save / load ------------------------------------------------------------------------
TEST_CASE("CRC-32 matches the standard check value", "[nn][serialize]") {
    // CRC-32/ISO-HDLC (zlib crc32) of "123456789" is 0xCBF43926 (Williams, "A painless guide to
    // CRC error detection algorithms", and the CRC catalogue's check value).
    const std::string text = "123456789";
    CHECK(nn::detail::crc32(reinterpret_cast<const unsigned char*>(text.data()), text.size()) == 0xCBF43926u);
}

TEMPLATE_TEST_CASE("weights survive save and load; corrupt, truncated and foreign files are errors",
                   "[nn][serialize][errors]", float, double) {
    using T = TestType;
    diffuse::random::generator rng(12);
    nn::mlp<T> net({3, 5, 2});
    net.initialize(rng);
    std::stringstream stream;
    nn::save(net, stream);
    const std::string bytes = stream.str();
    CHECK(bytes.size() == 8 + 4 + 4 + 4 + 3 * 8 + 8 + static_cast<std::size_t>(net.parameter_count()) * sizeof(T) + 4);
    CHECK(bytes.substr(0, 7) == "DFSNMLP");

    std::stringstream in(bytes);
    const auto loaded = nn::load_mlp<T>(in);
    CHECK(loaded.widths() == net.widths());
    CHECK((loaded.parameters() == net.parameters()).all());  // bitwise

    // Cross-type: a float file into double and back.
    std::stringstream again(bytes);
    const auto other = nn::load_mlp<std::conditional_t<std::is_same_v<T, float>, double, float>>(again);
    CHECK((other.parameters().template cast<T>() - net.parameters()).abs().maxCoeff() < T(1e-6));

    auto load = [](std::string data) {
        std::stringstream s(std::move(data));
        return nn::load_mlp<T>(s);
    };
    std::string corrupt = bytes;
    corrupt[60] = static_cast<char>(corrupt[60] ^ 0x10);  // one bit of a parameter
    CHECK_THROWS_WITH(load(corrupt), Catch::Contains("checksum"));
    CHECK_THROWS_WITH(load(bytes.substr(0, bytes.size() - 1)), Catch::Contains("weight file size"));
    CHECK_THROWS_WITH(load(bytes.substr(0, 30)), Catch::Contains("truncated") && Catch::Contains("widths"));
    CHECK_THROWS_WITH(load(bytes + "x"), Catch::Contains("trailing bytes"));
    CHECK_THROWS_WITH(load("GIF89a..............."), Catch::Contains("magic"));
    CHECK_THROWS_WITH(load(""), Catch::Contains("truncated"));
    std::string future = bytes;
    future[8] = 2;  // version 2
    CHECK_THROWS_WITH(load(future), Catch::Contains("version = 2"));
    std::string wrong_count = bytes;
    wrong_count[20 + 3 * 8] = static_cast<char>(wrong_count[20 + 3 * 8] + 1);  // parameter count
    CHECK_THROWS_WITH(load(wrong_count), Catch::Contains("parameter count"));
}
