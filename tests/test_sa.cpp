// Tests for diffuse/sa: step-size traits, deterministic reference values, optimizers against
// PyTorch, batch sampling, averaging, errors and allocation-free steps.
// Statistical properties (rates, variances, convergence under noise) are in test_sa_statistics.cpp.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <random>
#include <type_traits>
#include <utility>
#include <vector>

#include "allocation_counting.hpp"
#include "diffuse/core/random.hpp"
#include "diffuse/sa/sa.hpp"

namespace sa = diffuse::sa;

namespace {

template <class T>
using vec = Eigen::Array<T, Eigen::Dynamic, 1>;

// Compile-time acceptance of a step policy by the algorithms that need Robbins-Monro gains.
template <class Step>
concept accepted_by_robbins_monro = requires {
    typename sa::robbins_monro<double, Step>;
};
template <class Step, class Interval>
concept accepted_by_spsa = requires {
    typename sa::spsa<double, Step, Interval>;
};
template <class Step, class Interval>
concept accepted_by_kiefer_wolfowitz = requires {
    typename sa::kiefer_wolfowitz<double, Step, Interval>;
};

// A perturbation without bounded inverse moments (normal entries), which SPSA must refuse.
struct normal_perturbation {
    static constexpr bool bounded_inverse_moments = false;
};
template <class P>
concept accepted_as_perturbation = requires {
    typename sa::spsa<double, sa::harmonic_step<double>, sa::power_interval<double>, P>;
};

}  // namespace

TEST_CASE("Robbins-Monro conditions are checked when the program is compiled", "[sa][step]") {
    using sa::constant_step, sa::harmonic_step, sa::spall_step, sa::clamped_harmonic_step;
    STATIC_REQUIRE(sa::robbins_monro_step<harmonic_step<double>>);
    STATIC_REQUIRE(sa::robbins_monro_step<spall_step<double>>);
    STATIC_REQUIRE(sa::robbins_monro_step<clamped_harmonic_step<double>>);
    STATIC_REQUIRE(sa::step_size<constant_step<double>>);
    STATIC_REQUIRE_FALSE(sa::robbins_monro_step<constant_step<double>>);

    // The algorithms whose proofs need the conditions reject a constant step.
    STATIC_REQUIRE(accepted_by_robbins_monro<harmonic_step<double>>);
    STATIC_REQUIRE_FALSE(accepted_by_robbins_monro<constant_step<double>>);
    STATIC_REQUIRE(accepted_by_spsa<spall_step<double>, sa::power_interval<double>>);
    STATIC_REQUIRE_FALSE(accepted_by_spsa<constant_step<double>, sa::power_interval<double>>);
    // ... and a difference interval that does not vanish.
    STATIC_REQUIRE_FALSE(accepted_by_spsa<spall_step<double>, sa::constant_interval<double>>);
    STATIC_REQUIRE(accepted_by_kiefer_wolfowitz<harmonic_step<double>, sa::power_interval<double>>);
    STATIC_REQUIRE_FALSE(accepted_by_kiefer_wolfowitz<constant_step<double>, sa::power_interval<double>>);
    STATIC_REQUIRE_FALSE(accepted_by_kiefer_wolfowitz<harmonic_step<double>, sa::constant_interval<double>>);
    // Uniform/normal perturbations are not allowed in SPSA (Spall 1992, condition A4).
    STATIC_REQUIRE(accepted_as_perturbation<sa::rademacher>);
    STATIC_REQUIRE_FALSE(accepted_as_perturbation<normal_perturbation>);

    // User-defined gains carry the user's statement.
    auto rm = sa::make_step<true>([](diffuse::index k) { return 2.0 / static_cast<double>(k + 5); });
    auto not_rm = sa::make_step<false>([](diffuse::index) { return 0.1; });
    STATIC_REQUIRE(accepted_by_robbins_monro<decltype(rm)>);
    STATIC_REQUIRE_FALSE(accepted_by_robbins_monro<decltype(not_rm)>);
    // measured 0 relative (a floor of a few ulp)
    CHECK(rm(1) == Approx(2.0 / 6.0).epsilon(2e-15).margin(0));
    // Optimizers for training accept any policy.
    STATIC_REQUIRE(sa::optimizer<sa::sgd<double>, double>);
    STATIC_REQUIRE(sa::optimizer<sa::adamw<double>, double>);
    STATIC_REQUIRE(sa::optimizer<sa::nesterov<double, sa::harmonic_step<double>>, double>);
}

TEMPLATE_TEST_CASE("step-size policies give their documented gains", "[sa][step]", float, double) {
    using T = TestType;
    CHECK(sa::constant_step<T>(T(0.3))(7) == T(0.3));
    CHECK(sa::harmonic_step<T>(T(2))(4) == T(0.5));
    // Spall (1998): a/(k + A)^alpha, here a = 1, A = 9, alpha = 0.602 at k = 1.
    // measured 0 (double), 1.9e-08 (float) relative
    CHECK(sa::spall_step<T>(T(1), T(9), T(0.602))(1) ==
          Approx(std::pow(10.0, -0.602)).epsilon(std::is_same_v<T, float> ? 2e-7 : 2e-15).margin(0));
    const sa::clamped_harmonic_step<T> clamped(T(10), T(2));
    CHECK(clamped(1) == T(2));
    CHECK(clamped(5) == T(2));
    CHECK(clamped(20) == T(0.5));
    // measured 0 (double), 1.5e-08 (float) relative
    CHECK(sa::power_interval<T>(T(0.2), T(0.101))(1) ==
          Approx(0.2).epsilon(std::is_same_v<T, float> ? 2e-7 : 2e-15).margin(0));
}

TEMPLATE_TEST_CASE("warm-up + cosine gains match torch's CosineAnnealingLR and diffusers' warm-up", "[sa][step]", float,
                   double) {
    using T = TestType;
    STATIC_REQUIRE(sa::step_size<sa::warmup_cosine_step<T>>);
    STATIC_REQUIRE_FALSE(sa::robbins_monro_step<sa::warmup_cosine_step<T>>);
    // torch 1.13: SGD(lr=0.01) with CosineAnnealingLR(T_max=10, eta_min=0.001), the lr of steps 1..11.
    const double torch_lr[] = {
        0.01,   0.009779754323328192, 0.009140576474687263,  0.008145033635316129, 0.006890576474687263,
        0.0055, 0.004109423525312737, 0.0028549663646838712, 0.001859423525312737, 0.001220245676671809,
        0.001};
    const sa::warmup_cosine_step<T> annealing(T(0.01), 0, 10, T(0.001));
    // against torch's float64 values; measured 0 (double), 2.7e-07 (float) relative
    for (diffuse::index k = 1; k <= 11; ++k)
        CHECK(annealing(k) == Approx(torch_lr[k - 1]).epsilon(std::is_same_v<T, float> ? 3e-6 : 2e-15).margin(0));
    CHECK(annealing(12) == T(0.001));  // stays at the floor (torch rises again)
    // diffusers get_cosine_schedule_with_warmup(warmup 4, training 20), num_cycles 0.5:
    // lambda(s) = s / 4 for s < 4, then (1 + cos(pi (s - 4) / 16)) / 2; gain of step k = lambda(k - 1).
    const sa::warmup_cosine_step<T> warm(T(2), 4, 20);
    CHECK(warm(1) == T(0));
    CHECK(warm(3) == T(1));
    CHECK(warm(5) == T(2));
    // measured 0 (both types) relative (a floor of a few ulp)
    CHECK(warm(13) == Approx(1.0).epsilon(std::is_same_v<T, float> ? 2e-7 : 2e-15).margin(0));
    // measured 0 absolute (a floor of about one ulp of 1)
    CHECK(warm(21) == Approx(0.0).epsilon(0).margin(std::is_same_v<T, float> ? 1e-7 : 1e-15));
    CHECK(warm(22) == T(0));
}

TEMPLATE_TEST_CASE("invalid gains are rejected with a message naming the parameter", "[sa][step][errors]", float,
                   double) {
    using T = TestType;
    CHECK_THROWS_WITH(sa::constant_step<T>(T(0)), Catch::Contains("constant_step a") && Catch::Contains("> 0"));
    CHECK_THROWS_WITH(sa::spall_step<T>(T(1), T(0), T(0.5)),
                      Catch::Contains("alpha") && Catch::Contains("0.5") && Catch::Contains("(0.5, 1]"));
    CHECK_THROWS_AS(sa::spall_step<T>(T(1), T(-1), T(0.602)), diffuse::error);
    CHECK_THROWS_AS(sa::power_interval<T>(T(1), T(0)), diffuse::error);
    CHECK_THROWS_AS(sa::clamped_harmonic_step<T>(T(1), T(0)), diffuse::error);
    CHECK_THROWS_WITH(sa::warmup_cosine_step<T>(T(1), 10, 10), Catch::Contains("warmup_cosine_step warmup") &&
                                                                   Catch::Contains("10") && Catch::Contains("[0, 9]"));
    CHECK_THROWS_WITH(sa::warmup_cosine_step<T>(T(1), 0, 10, T(2)),
                      Catch::Contains("warmup_cosine_step floor") && Catch::Contains("[0, peak]"));
    CHECK_THROWS_AS(sa::warmup_cosine_step<T>(T(0), 0, 10), diffuse::error);
    CHECK_THROWS_AS(sa::warmup_cosine_step<T>(T(1), 0, 0), diffuse::error);
    // Kiefer-Wolfowitz needs sum (a_k / c_k)^2 < inf: alpha = 0.602 with gamma = 0.2 breaks it.
    CHECK_THROWS_WITH((sa::kiefer_wolfowitz<T, sa::spall_step<T>, sa::power_interval<T>>(
                          sa::spall_step<T>(T(1), T(0), T(0.602)), sa::power_interval<T>(T(1), T(0.2)), 2)),
                      Catch::Contains("gamma") && Catch::Contains("(a_k / c_k)^2"));
    // Spall's practical pair 0.602 / 0.101 satisfies it.
    CHECK_NOTHROW(sa::spsa<T, sa::spall_step<T>, sa::power_interval<T>>(sa::spall_step<T>(T(1), T(0), T(0.602)),
                                                                        sa::power_interval<T>(T(1), T(0.101)), 2));
}

TEMPLATE_TEST_CASE("mean estimation by Robbins-Monro and by Welford equals the running mean (Zhao, ch. 6)",
                   "[sa][rm][welford]", float, double) {
    using T = TestType;
    // Zhao, Mathematical Foundations of RL, ch. 6: w_{k+1} = w_k - (w_k - x_k)/k on
    // xs = [3,1,4,1,5,9,2,6] gives 3.875.
    const std::vector<T> xs{3, 1, 4, 1, 5, 9, 2, 6};
    sa::robbins_monro<T, sa::harmonic_step<T>> rm(sa::harmonic_step<T>(), 1);
    vec<T> w = vec<T>::Zero(1);
    for (T x : xs) {
        rm.step(w, [x](diffuse::const_view<T> wk, diffuse::view<T> out) { out = wk - x; });
    }
    // measured 0 (both types) relative (a floor of a few ulp)
    CHECK(w[0] == Approx(3.875).epsilon(std::is_same_v<T, float> ? 2e-7 : 2e-15).margin(0));
    CHECK(rm.iteration() == 9);

    sa::running_moments<T> moments(1);
    for (T x : xs) moments.push(vec<T>(vec<T>::Constant(1, x)));
    // measured 0 (both types) relative (a floor of a few ulp)
    CHECK(moments.mean()[0] == Approx(3.875).epsilon(std::is_same_v<T, float> ? 2e-7 : 2e-15).margin(0));
    // Sample variance of xs: sum (x - 3.875)^2 / 7 = 52.875 / 7.
    // measured 0 (double), 9e-08 (float) relative
    CHECK(moments.variance()[0] == Approx(52.875 / 7.0).epsilon(std::is_same_v<T, float> ? 1e-6 : 2e-15).margin(0));
    // measured 0 (double), 7.2e-08 (float) relative
    CHECK(moments.population_variance()[0] ==
          Approx(52.875 / 8.0).epsilon(std::is_same_v<T, float> ? 8e-7 : 2e-15).margin(0));
}

TEMPLATE_TEST_CASE("Welford is accurate where the textbook sum-of-squares formula cancels", "[sa][welford]", float,
                   double) {
    using T = TestType;
    // Values 1e4 + {4, 7, 13, 16} (Welford's motivating example): variance 30 exactly.
    sa::running_moments<T> moments(2);
    for (T d : {T(4), T(7), T(13), T(16)}) {
        vec<T> x(2);
        x << T(1e4) + d, d;
        moments.push(x);
    }
    // measured 0 (both types) relative (a floor of a few ulp)
    CHECK(moments.variance()[0] == Approx(30.0).epsilon(std::is_same_v<T, float> ? 2e-7 : 2e-15).margin(0));
    // measured 0 (both types) relative (a floor of a few ulp)
    CHECK(moments.variance()[1] == Approx(30.0).epsilon(std::is_same_v<T, float> ? 2e-7 : 2e-15).margin(0));
    CHECK(moments.count() == 4);
    CHECK_THROWS_WITH(sa::running_moments<T>(1).variance(), Catch::Contains("count = 0"));
    CHECK_THROWS_WITH(moments.push(vec<T>(vec<T>::Zero(3))), Catch::Contains("sample.size() = 3"));
}

TEMPLATE_TEST_CASE("Robbins-Monro on tanh(w - 1) from w1 = 3 matches Zhao's iterates", "[sa][rm]", float, double) {
    using T = TestType;
    // Zhao, Mathematical Foundations of RL, ch. 6 (g(w) = tanh(w - 1), a_k = 1/k, no noise).
    const std::vector<std::pair<diffuse::index, double>> reference{{2, 2.0359724199241831},
                                                                   {3, 1.6478261074486602},
                                                                   {10, 1.1592052427647026},
                                                                   {100, 1.0145410496143723},
                                                                   {1000, 1.0014410557150648}};
    sa::robbins_monro<T, sa::harmonic_step<T>> rm(sa::harmonic_step<T>(), 1);
    vec<T> w = vec<T>::Constant(1, T(3));
    auto g = [](diffuse::const_view<T> wk, diffuse::view<T> out) { out = (wk - T(1)).tanh(); };
    for (const auto& [k, value] : reference) {
        while (rm.iteration() < k) rm.step(w, g);
        INFO("w_" << k);
        // measured 0 (double), 3e-07 (float) relative
        CHECK(w[0] == Approx(value).epsilon(std::is_same_v<T, float> ? 4e-6 : 2e-15).margin(0));
    }
}

TEMPLATE_TEST_CASE("Robbins-Monro on w^3 - 5 diverges from w1 = 0 and converges from w1 = 2", "[sa][rm]", float,
                   double) {
    using T = TestType;
    // Zhao, ch. 6: the gradient of g is unbounded, which breaks the RM theorem's condition.
    auto g = [](diffuse::const_view<T> wk, diffuse::view<T> out) { out = wk.cube() - T(5); };
    sa::robbins_monro<T, sa::harmonic_step<T>> diverging(sa::harmonic_step<T>(), 1);
    vec<T> w = vec<T>::Zero(1);
    diverging.step(w, g);
    CHECK(w[0] == T(5));
    diverging.step(w, g);
    CHECK(w[0] == T(-55));
    diverging.step(w, g);
    CHECK(w[0] == T(55405));
    for (int i = 0; i < 6; ++i) diverging.step(w, g);
    CHECK_FALSE(std::abs(w[0]) < T(1e30));  // huge, infinite or NaN

    sa::robbins_monro<T, sa::harmonic_step<T>> converging(sa::harmonic_step<T>(), 1);
    vec<T> v = vec<T>::Constant(1, T(2));
    while (converging.iteration() < 100) converging.step(v, g);
    // measured 5.2e-16 (double), 6.6e-09 (float) relative
    CHECK(v[0] == Approx(std::cbrt(5.0)).epsilon(std::is_same_v<T, float> ? 2e-7 : 6e-15).margin(0));
}

TEMPLATE_TEST_CASE("SPSA's gradient estimate is exactly unbiased over all sign patterns", "[sa][spsa]", float, double) {
    using T = TestType;
    // For a quadratic, y(w + c D) - y(w - c D) = 2 c grad.D exactly, and the mean over the 2^d
    // equally likely Rademacher patterns of (grad.D) D_i is grad_i (Spall 1992, Lemma 1).
    constexpr diffuse::index d = 5;
    Eigen::Matrix<T, d, d> h;
    h << 4, 1, 0, 0, 1, 1, 3, 1, 0, 0, 0, 1, 2, 1, 0, 0, 0, 1, 3, 1, 1, 0, 0, 1, 5;
    Eigen::Matrix<T, d, 1> b;
    b << 1, -2, 0.5, 3, -1;
    auto y = [&](diffuse::const_view<T> w) {
        const Eigen::Matrix<T, d, 1> m = w.matrix();
        return T(0.5) * m.dot(h * m) - b.dot(m);
    };
    vec<T> w(d);
    w << 0.3, -0.7, 1.1, 0.2, -0.4;
    const vec<T> exact = (h * w.matrix() - b).array();

    sa::spsa<T, sa::spall_step<T>, sa::power_interval<T>> method(sa::spall_step<T>(T(0.1), T(10), T(0.602)),
                                                                 sa::power_interval<T>(T(0.1), T(0.101)), d);
    vec<T> mean = vec<T>::Zero(d);
    vec<T> delta(d);
    for (unsigned pattern = 0; pattern < (1u << d); ++pattern) {
        for (diffuse::index i = 0; i < d; ++i) delta[i] = (pattern >> i) & 1u ? T(1) : T(-1);
        method.estimate_gradient(diffuse::flat(std::as_const(w)), y, T(0.25), diffuse::flat(std::as_const(delta)));
        mean += method.gradient();
    }
    mean /= T(1u << d);
    CHECK((mean - exact).abs().maxCoeff() <= T(std::is_same_v<T, float> ? 2e-4 : 1e-12) * exact.abs().maxCoeff());
    CHECK(method.measurements() == 2 * (1 << d));
    // A single pattern is not the gradient: the estimator needs the averaging.
    CHECK((method.gradient() - exact).abs().maxCoeff() > T(0.1));
}

TEMPLATE_TEST_CASE("SPSA costs two measurements per step in any dimension, Kiefer-Wolfowitz 2d", "[sa][spsa][kw]",
                   float, double) {
    using T = TestType;
    for (diffuse::index d : {1, 3, 40}) {
        sa::spsa<T, sa::spall_step<T>, sa::power_interval<T>> spsa(sa::spall_step<T>(T(0.1), T(10), T(0.602)),
                                                                   sa::power_interval<T>(T(0.1), T(0.101)), d);
        sa::kiefer_wolfowitz<T, sa::harmonic_step<T>, sa::power_interval<T>> kw(
            sa::harmonic_step<T>(T(0.1)), sa::power_interval<T>(T(0.1), T(0.25)), d);
        diffuse::random::generator rng(7);
        vec<T> w = vec<T>::Ones(d);
        auto y = [](diffuse::const_view<T> x) { return x.square().sum(); };
        for (int k = 0; k < 3; ++k) {
            spsa.step(w, y, rng);
            kw.step(w, y);
        }
        CHECK(spsa.measurements() == 6);
        CHECK(kw.measurements() == 6 * d);
        CHECK(spsa.iteration() == 4);
        CHECK((spsa.perturbation().abs() == T(1)).all());
    }
}

TEST_CASE("Rademacher perturbations take one bit per entry, with both signs equally often", "[sa][spsa]") {
    diffuse::random::generator rng(1);
    vec<double> delta(100000);
    sa::rademacher{}(diffuse::flat(delta), rng);
    CHECK((delta.abs() == 1.0).all());
    // Mean of 1e5 independent signs: standard deviation 1/sqrt(1e5) = 0.0032.
    CHECK(std::abs(delta.mean()) < 0.016);
    // Consecutive entries are uncorrelated (the bits of one word are independent).
    CHECK(std::abs((delta.head(99999) * delta.tail(99999)).mean()) < 0.016);
}

TEMPLATE_TEST_CASE("Kiefer-Wolfowitz central differences are exact on a quadratic", "[sa][kw]", float, double) {
    using T = TestType;
    sa::kiefer_wolfowitz<T, sa::harmonic_step<T>, sa::power_interval<T>> kw(sa::harmonic_step<T>(),
                                                                            sa::power_interval<T>(T(0.5), T(0.2)), 3);
    vec<T> w(3);
    w << 1, -2, 0.5;
    auto y = [](diffuse::const_view<T> x) { return x[0] * x[0] + T(3) * x[1] * x[1] + x[0] * x[2] - x[2]; };
    kw.estimate_gradient(diffuse::flat(std::as_const(w)), y, T(0.5));
    vec<T> exact(3);
    exact << T(2) * w[0] + w[2], T(6) * w[1], w[0] - T(1);
    CHECK((kw.gradient() - exact).abs().maxCoeff() < T(std::is_same_v<T, float> ? 1e-5 : 1e-13));
}

// ---- optimizers against PyTorch -----------------------------------------------------------
// Reference: PyTorch 1.13 torch.optim, float64, lr 0.1, 5 steps on
// f(w) = 0.5 w'Hw - b'w, H = [[3,1,0],[1,2,.5],[0,.5,1]], b = [1,-1,.5], w0 = [.5,-1,2]
// (script: torch.optim.SGD(lr=.1[, momentum=.9[, nesterov=True]]), Adam(lr=.1[, weight_decay=.1]),
// AdamW(lr=.1, weight_decay=.1)).
namespace {

template <class T, class Optimizer>
vec<T> run_quadratic(Optimizer optimizer) {
    Eigen::Matrix<T, 3, 3> h;
    h << 3, 1, 0, 1, 2, 0.5, 0, 0.5, 1;
    Eigen::Matrix<T, 3, 1> b(1, -1, 0.5);
    vec<T> w(3);
    w << 0.5, -1, 2;
    vec<T> g(3);
    for (int k = 0; k < 5; ++k) {
        g = (h * w.matrix() - b).array();
        optimizer.step(w, g);
    }
    return w;
}

template <class T>
void check_close(const vec<T>& actual, std::initializer_list<double> expected) {
    vec<T> e(3);
    std::copy(expected.begin(), expected.end(), e.data());
    INFO("actual " << actual.transpose() << " expected " << e.transpose());
    CHECK((actual - e).abs().maxCoeff() <= T(std::is_same_v<T, float> ? 2e-6 : 1e-14));
}

}  // namespace

TEMPLATE_TEST_CASE("SGD, heavy-ball and Nesterov momentum match torch.optim.SGD", "[sa][optim][pytorch]", float,
                   double) {
    using T = TestType;
    const sa::constant_step<T> lr(T(0.1));
    check_close<T>(run_quadratic<T>(sa::sgd<T>(lr, 3)), {0.6679225000000001, -1.1651990625000002, 1.608745});
    check_close<T>(run_quadratic<T>(sa::momentum<T>(lr, 3, T(0.9))), {0.8948125, -1.3870265625, 1.0304275});
    check_close<T>(run_quadratic<T>(sa::nesterov<T>(lr, 3, T(0.9))),
                   {0.85139533765, -1.325376486196875, 0.9932391569875});
}

TEMPLATE_TEST_CASE("Adam and AdamW match torch.optim.Adam / AdamW", "[sa][optim][pytorch]", float, double) {
    using T = TestType;
    const sa::constant_step<T> lr(T(0.1));
    check_close<T>(run_quadratic<T>(sa::adam<T>(lr, 3)), {0.8819369508116921, -1.4279603050865455, 1.515560356206785});
    sa::adam_options<T> decay;
    decay.weight_decay = T(0.1);
    check_close<T>(run_quadratic<T>(sa::adam<T>(lr, 3, decay)),
                   {0.8408466542823843, -1.3676248198221546, 1.512310276858928});
    check_close<T>(run_quadratic<T>(sa::adamw<T>(lr, 3, decay)),
                   {0.856905539941837, -1.3766219743490717, 1.4301005045519886});
}

TEMPLATE_TEST_CASE("optimizers reject bad hyper-parameters and mismatched sizes", "[sa][optim][errors]", float,
                   double) {
    using T = TestType;
    const sa::constant_step<T> lr(T(0.1));
    CHECK_THROWS_WITH(sa::momentum<T>(lr, 3, T(1)), Catch::Contains("momentum mu = 1") && Catch::Contains("[0, 1)"));
    sa::adam_options<T> bad;
    bad.beta2 = T(1);
    CHECK_THROWS_WITH(sa::adam<T>(lr, 3, bad), Catch::Contains("adam beta2"));
    bad = {};
    bad.epsilon = T(0);
    CHECK_THROWS_WITH(sa::adam<T>(lr, 3, bad), Catch::Contains("adam epsilon"));
    CHECK_THROWS_WITH(sa::sgd<T>(lr, 0), Catch::Contains("dimension = 0"));
    sa::sgd<T> sgd(lr, 3);
    vec<T> w = vec<T>::Zero(3);
    CHECK_THROWS_WITH(sgd.step(w, vec<T>(vec<T>::Zero(2))), Catch::Contains("gradient.size() = 2"));
    vec<T> w4 = vec<T>::Zero(4);
    CHECK_THROWS_WITH(sgd.step(w4, vec<T>(vec<T>::Zero(3))), Catch::Contains("params.size() = 4"));
    CHECK(sgd.iteration() == 1);  // failed steps do not count
}

TEST_CASE("a step of every algorithm is allocation-free", "[sa][alloc]") {
    constexpr diffuse::index d = 64;
    vec<double> w = vec<double>::Ones(d), g = vec<double>::Constant(d, 0.5);
    diffuse::random::generator rng(3);
    const sa::constant_step<double> lr(0.01);
    sa::sgd<double> sgd(lr, d);
    sa::nesterov<double> nesterov(lr, d, 0.9);
    sa::adamw<double> adamw(lr, d, {0.9, 0.999, 1e-8, 0.01});
    sa::robbins_monro<double, sa::harmonic_step<double>> rm(sa::harmonic_step<double>(), d);
    sa::kiefer_wolfowitz<double, sa::harmonic_step<double>, sa::power_interval<double>> kw(
        sa::harmonic_step<double>(0.01), sa::power_interval<double>(0.1, 0.25), d);
    sa::spsa<double, sa::spall_step<double>, sa::power_interval<double>> spsa(
        sa::spall_step<double>(0.01, 10, 0.602), sa::power_interval<double>(0.1, 0.101), d);
    sa::running_moments<double> moments(d);
    sa::polyak_ruppert<double> averaged(d, 2);
    sa::ema<double> shadow(w, 0.999, sa::ema_warmup::diffusers);
    sa::batch_sampler shuffled(1000, 32, sa::sampling::without_replacement);
    sa::batch_sampler drawn(1000, 32, sa::sampling::with_replacement);
    auto y = [](diffuse::const_view<double> x) { return x.square().sum(); };
    auto measure = [](diffuse::const_view<double> x, diffuse::view<double> out) { out = x - 1.0; };

    int shuffled_full = 0, drawn_full = 0;
    const allocation_counting::allocations steps = allocation_counting::count([&] {
        for (int k = 0; k < 100; ++k) {
            sgd.step(w, g);
            nesterov.step(w, g);
            adamw.step(w, g);
            rm.step(w, measure);
            kw.step(w, y);
            spsa.step(w, y, rng);
            moments.push(w);
            averaged.push(w);
            shadow.update(w);
            shuffled_full += shuffled.next(rng).size() == 32 - (k % 32 == 31 ? 24 : 0);
            drawn_full += drawn.next(rng).size() == 32;
        }
    });
    CHECK(shuffled_full == 100);
    CHECK(drawn_full == 100);
    CHECK(steps.made == 0);
    CHECK(steps.released == 0);
}

// ---- batch sampling --------------------------------------------------------------------
TEST_CASE("without replacement every sample is seen once per epoch; with replacement uniformly", "[sa][batch]") {
    diffuse::random::generator rng(11);
    sa::batch_sampler shuffled(10, 4, sa::sampling::without_replacement);
    for (int epoch = 1; epoch <= 3; ++epoch) {
        std::vector<diffuse::index> seen;
        std::vector<std::size_t> sizes;
        for (int b = 0; b < 3; ++b) {
            auto batch = shuffled.next(rng);
            sizes.push_back(batch.size());
            seen.insert(seen.end(), batch.begin(), batch.end());
        }
        CHECK(sizes == std::vector<std::size_t>{4, 4, 2});
        std::sort(seen.begin(), seen.end());
        std::vector<diffuse::index> all(10);
        std::iota(all.begin(), all.end(), diffuse::index{0});
        CHECK(seen == all);
        CHECK(shuffled.epoch() == epoch);
    }

    sa::batch_sampler full(7, 1, sa::sampling::full_batch);
    auto batch = full.next(rng);
    CHECK(std::vector<diffuse::index>(batch.begin(), batch.end()) == std::vector<diffuse::index>{0, 1, 2, 3, 4, 5, 6});

    // With replacement: 10 categories, 2e4 draws; chi-square with 9 dof below its 0.999
    // quantile 27.88, and repeats inside a batch do happen.
    sa::batch_sampler drawn(10, 20, sa::sampling::with_replacement);
    std::vector<double> counts(10, 0.0);
    bool repeated = false;
    for (int b = 0; b < 1000; ++b) {
        auto s = drawn.next(rng);
        std::vector<diffuse::index> sorted(s.begin(), s.end());
        std::sort(sorted.begin(), sorted.end());
        repeated = repeated || std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end();
        for (diffuse::index i : s) counts[static_cast<std::size_t>(i)] += 1;
    }
    double chi2 = 0;
    for (double c : counts) chi2 += (c - 2000.0) * (c - 2000.0) / 2000.0;
    CHECK(chi2 < 27.88);
    CHECK(repeated);

    CHECK_THROWS_WITH(sa::batch_sampler(10, 11, sa::sampling::without_replacement),
                      Catch::Contains("batch_size = 11") && Catch::Contains("1 .. dataset_size (10)"));
    CHECK_THROWS_AS(sa::batch_sampler(0, 1, sa::sampling::full_batch), diffuse::error);
    CHECK_THROWS_WITH(sa::batch_sampler(10, 0, sa::sampling::with_replacement), Catch::Contains("batch_size = 0"));
}

TEMPLATE_TEST_CASE("batch and mini-batch gradient descent solve least squares", "[sa][batch][optim]", float, double) {
    using T = TestType;
    // y_i = 2 x_i - 1 exactly: every batch gradient vanishes at (2, -1), so mini-batch SGD with
    // a constant rate converges to it as plain gradient descent does.
    constexpr diffuse::index n = 50;
    vec<T> x = vec<T>::LinSpaced(n, T(-1), T(1));
    vec<T> y = T(2) * x - T(1);
    for (auto mode : {sa::sampling::full_batch, sa::sampling::with_replacement, sa::sampling::without_replacement}) {
        std::mt19937 rng(5);  // any UniformRandomBitGenerator works
        sa::batch_sampler batches(n, 8, mode);
        sa::sgd<T> sgd(sa::constant_step<T>(T(0.3)), 2);
        vec<T> w = vec<T>::Zero(2), g(2);
        for (int k = 0; k < 2000; ++k) {
            g.setZero();
            const auto batch = batches.next(rng);
            for (diffuse::index i : batch) {
                const T r = w[0] * x[i] + w[1] - y[i];
                g[0] += r * x[i];
                g[1] += r;
            }
            g /= static_cast<T>(batch.size());
            sgd.step(w, g);
        }
        INFO("mode " << static_cast<int>(mode));
        // measured 4.4e-16 (double), 2.4e-07 (float) relative
        CHECK(w[0] == Approx(2).epsilon(std::is_same_v<T, float> ? 3e-6 : 5e-15).margin(0));
        // measured 1.1e-16 (double), 6e-08 (float) relative
        CHECK(w[1] == Approx(-1).epsilon(std::is_same_v<T, float> ? 6e-7 : 2e-15).margin(0));
    }
}

// ---- averaging ------------------------------------------------------------------------
TEMPLATE_TEST_CASE("Polyak-Ruppert averages the iterates after the burn-in", "[sa][averaging]", float, double) {
    using T = TestType;
    sa::polyak_ruppert<T> averaged(2, 3);
    for (int k = 1; k <= 7; ++k) averaged.push(vec<T>(vec<T>::Constant(2, static_cast<T>(k))));
    CHECK(averaged.count() == 4);
    // exact (measured 0 in both types)
    CHECK(averaged.average()[0] == Approx(5.5).epsilon(0).margin(0));  // mean of 4, 5, 6, 7
    CHECK_THROWS_AS(sa::polyak_ruppert<T>(2, -1), diffuse::error);
}

TEMPLATE_TEST_CASE("EMA of parameters, with the warm-up of diffusers' EMAModel", "[sa][averaging][ema]", float,
                   double) {
    using T = TestType;
    vec<T> w = vec<T>::Zero(2);
    sa::ema<T> plain(w, T(0.9));
    w.setOnes();
    plain.update(w);
    plain.update(w);
    // measured 0 (double), 2.2e-07 (float) relative
    CHECK(plain.shadow()[0] ==
          Approx(1 - 0.81).epsilon(std::is_same_v<T, float> ? 3e-6 : 2e-15).margin(0));  // 1 - 0.9^2

    // diffusers.training_utils.EMAModel (use_ema_warmup=False, update_after_step=0): decays
    // 0, 2/11, 3/12, 4/13, ... capped at `decay`.
    sa::ema<T> warm(vec<T>(vec<T>::Constant(2, T(5))), T(0.25), sa::ema_warmup::diffusers);
    CHECK(warm.current_decay() == T(0));
    warm.update(w);
    CHECK(warm.shadow()[1] == T(1));  // first update copies the parameters
    // measured 0 (double), 2.9e-08 (float) relative
    CHECK(warm.current_decay() == Approx(2.0 / 11.0).epsilon(std::is_same_v<T, float> ? 3e-7 : 2e-15).margin(0));
    warm.update(vec<T>(vec<T>::Zero(2)));
    // measured 3e-16 (double), 2.9e-08 (float) relative
    CHECK(warm.shadow()[1] == Approx(2.0 / 11.0).epsilon(std::is_same_v<T, float> ? 3e-7 : 4e-15).margin(0));
    // exact (measured 0 in both types)
    CHECK(warm.current_decay() == Approx(0.25).epsilon(0).margin(0));  // 3/12 = 0.25 reaches the cap
    warm.update(vec<T>(vec<T>::Zero(2)));
    // exact (measured 0 in both types)
    CHECK(warm.current_decay() == Approx(0.25).epsilon(0).margin(0));  // 4/13 > 0.25: capped
    CHECK_THROWS_WITH(sa::ema<T>(w, T(1)), Catch::Contains("ema decay = 1") && Catch::Contains("[0, 1)"));
}
