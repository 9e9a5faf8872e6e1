// DDPM: diffusers parity values (tests/schedulers/test_scheduler_ddpm.py, snapshot 58eb52c0, in
// shared/reference/diffusers_tests.md), the posterior step against Ho et al. 2020 eq. 6-7 written
// out independently, learned variances, thresholding, and run independence.
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "diffuse/core/random.hpp"
#include "diffuse/sampler/ddpm.hpp"
#include "diffuse/sampler/sample.hpp"
#include "diffusers_fixtures.hpp"

using namespace diffuse;
using sampler::ddpm;
using sampler::ddpm_options;
using sampler::variance_type;
template <class T>
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

TEMPLATE_TEST_CASE("DDPM variance matches diffusers' _get_variance (fixed_small)", "[ddpm][diffusers]", float, double) {
    // test_scheduler_ddpm.py::test_variance (tolerance 1e-5), previous timestep t - 1.
    const ddpm<TestType> s(schedule::discrete<TestType>::linear());
    CHECK(std::abs(s.variance(0, -1) - 0.0) < 1e-5);
    CHECK(std::abs(s.variance(487, 486) - 0.00979) < 1e-5);
    CHECK(std::abs(s.variance(999, 998) - 0.02) < 1e-5);
}

TEMPLATE_TEST_CASE("DDPM on custom timesteps steps to the next grid entry", "[ddpm][diffusers]", float, double) {
    // test_scheduler_ddpm.py::test_custom_timesteps: previous of [100, 87, 50, 1, 0] is 87, 50, 1, 0, -1.
    using T = TestType;
    const ddpm<T> s(schedule::discrete<T>::linear());
    const std::vector<schedule::timestep> grid{100, 87, 50, 1, 0};
    auto run = s.start(grid, 4);
    array<T> x = array<T>::Ones(4), out = array<T>::Zero(4), noise = array<T>::Zero(4);
    std::vector<schedule::timestep> previous;
    while (!run.done()) {
        previous.push_back(run.next_timestep());
        run.step(out, x, noise);
    }
    CHECK(previous == std::vector<schedule::timestep>{87, 50, 1, 0, -1});
}

TEMPLATE_TEST_CASE("a DDPM step is the posterior q(x_t' | x_t, x0) of Ho et al. 2020 eq. 6-7", "[ddpm]", float,
                   double) {
    using T = TestType;
    const auto sched = schedule::discrete<T>::linear();
    const std::vector<schedule::timestep> grid{600, 300};  // a strided grid: the effective beta spans 300 steps
    for (const auto kind : {variance_type::fixed_small, variance_type::fixed_large, variance_type::fixed_small_log,
                            variance_type::fixed_large_log}) {
        for (const auto pred :
             {predict::prediction::epsilon, predict::prediction::sample, predict::prediction::v_prediction}) {
            const ddpm<T> s(sched, {.prediction = pred, .variance = kind, .x0 = {}});
            auto run = s.start(grid, 5);
            array<T> x(5), out(5), noise(5);
            x << T(0.3), T(-1.2), T(2.0), T(0.0), T(-0.7);
            out << T(0.1), T(0.5), T(-0.4), T(1.1), T(-2.0);
            noise << T(1.0), T(-0.5), T(0.25), T(2.0), T(-1.5);
            const array<T> x_before = x;
            run.step(out, x, noise);

            // Written from the paper, in double, independently of the library's update.
            const double ab = sched.alpha_bar(600), ab_prev = sched.alpha_bar(300);
            const double beta = 1 - ab / ab_prev, a = std::sqrt(ab), s_ = std::sqrt(1 - ab);
            const double tilde = (1 - ab_prev) / (1 - ab) * beta;
            const double variance =
                (kind == variance_type::fixed_small || kind == variance_type::fixed_small_log) ? tilde : beta;
            for (int i = 0; i < 5; ++i) {
                const double xi = x_before[i], oi = out[i];
                double x0 = 0;
                switch (pred) {
                    case predict::prediction::epsilon:
                        x0 = (xi - s_ * oi) / a;
                        break;
                    case predict::prediction::sample:
                        x0 = oi;
                        break;
                    default:
                        x0 = a * xi - s_ * oi;
                        break;
                }
                const double mean =
                    std::sqrt(ab_prev) * beta / (1 - ab) * x0 + std::sqrt(1 - beta) * (1 - ab_prev) / (1 - ab) * xi;
                const double expected = mean + std::sqrt(variance) * noise[i];
                // Measured 6.2e-7 (float), 2.7e-16 (double).
                CHECK(static_cast<double>(x[i]) ==
                      Approx(expected).epsilon(std::is_same_v<T, float> ? 7e-6 : 3e-15).margin(0));
            }
        }
    }
}

TEMPLATE_TEST_CASE("learned_range interpolates log-variance between beta_tilde and beta (Nichol & Dhariwal eq. 15)",
                   "[ddpm]", float, double) {
    using T = TestType;
    const auto sched = schedule::discrete<T>::linear();
    const ddpm<T> s(sched,
                    {.prediction = predict::prediction::sample, .variance = variance_type::learned_range, .x0 = {}});
    const std::vector<schedule::timestep> grid{500, 499};
    // batch of 2 samples of 2 values; output per sample: [prediction(2), variance value(2)]
    auto run = s.start(grid, 4, 2);
    CHECK(run.model_output_size() == 8);
    array<T> x = array<T>::Zero(4), out(8), noise = array<T>::Ones(4);
    out << 0, 0, -1, 1, /*sample 2*/ 0, 0, 0, -1;
    run.step(out, x, noise);
    const double beta = sched.betas()[500];
    const double tilde = (1 - sched.alpha_bar(499)) / (1 - sched.alpha_bar(500)) * beta;
    // Measured 2.6e-6 (float; bound 4x, 10x would loosen it), 2.6e-15 (double).
    const double eps = std::is_same_v<T, float> ? 1e-5 : 3e-14;
    CHECK(static_cast<double>(x[0]) == Approx(std::sqrt(tilde)).epsilon(eps).margin(0));
    CHECK(static_cast<double>(x[1]) == Approx(std::sqrt(beta)).epsilon(eps).margin(0));
    CHECK(static_cast<double>(x[2]) ==
          Approx(std::exp(0.25 * (std::log(beta) + std::log(tilde)))).epsilon(eps).margin(0));
    CHECK(static_cast<double>(x[3]) == Approx(std::sqrt(tilde)).epsilon(eps).margin(0));
    array<T> wrong(4);
    auto run2 = s.start(grid, 4, 2);
    CHECK_THROWS_WITH(run2.step(wrong, x, noise),
                      Catch::Contains("model_output.size() = 4") && Catch::Contains("8 elements"));
}

TEMPLATE_TEST_CASE("dynamic thresholding clamps x0 per sample at the |x0| quantile (Saharia et al. 2022)",
                   "[ddpm][threshold]", float, double) {
    using T = TestType;
    // 101 values 0, 0.05, ..., 5: the 0.9 quantile of |x| is 4.5 exactly (linear interpolation).
    // Measured at most 3.0e-8 relative (float), 0 (double).
    const double exact = std::is_same_v<T, float> ? 3e-7 : 1e-15;
    array<T> values(101), scratch(101);
    for (int i = 0; i <= 100; ++i) values[i] = static_cast<T>(i) * T(0.05);
    CHECK(static_cast<double>(predict::abs_quantile<T>(cflat(values), T(0.9), flat(scratch))) ==
          Approx(4.5).epsilon(exact).margin(0));
    CHECK(static_cast<double>(predict::abs_quantile<T>(cflat(values), T(0.905), flat(scratch))) ==
          Approx(4.525).epsilon(exact).margin(0));

    array<T> x0(202);
    x0.head(101) = values;
    x0.tail(101) = values * T(0.1);  // second sample: quantile 0.45 < 1, so s = 1
    predict::apply_dynamic_thresholding<T>(flat(x0), 2, {.ratio = T(0.9), .max_value = T(3)}, flat(scratch));
    CHECK(static_cast<double>(x0[100]) ==
          Approx(1.0).epsilon(exact).margin(0));  // clamp at s = min(4.5, 3) = 3, then / 3
    CHECK(static_cast<double>(x0[20]) == Approx(1.0 / 3.0).epsilon(exact).margin(0));   // 1.0 / 3
    CHECK(static_cast<double>(x0[101 + 100]) == Approx(0.5).epsilon(exact).margin(0));  // untouched: s = 1
    CHECK_THROWS_WITH(
        (predict::x0_processing<T>{.clip_range = {}, .thresholding = predict::dynamic_thresholding<T>{T(1.5), T(1)}}
             .validate()),
        Catch::Contains("dynamic_thresholding_ratio = 1.5"));
}

TEMPLATE_TEST_CASE(
    "runs are independent: concurrent runs on one sampler equal sequential runs, and a batch equals its "
    "samples drawn alone",
    "[ddpm][threads][random]", float, double) {
    using T = TestType;
    const ddpm<T> s(schedule::discrete<T>::linear());
    const auto grid = schedule::spaced_timesteps(1000, 50);
    constexpr int samples = 8, d = 16;
    const auto model = [](const_view<T> x, double t, view<T> out) { out = x * static_cast<T>(t / (t + 1.0)) * T(0.5); };
    const auto sample_one = [&](int b, array<T>& x) {
        x = array<T>::Constant(d, T(0.1) * static_cast<T>(b));
        random::generator noise(42, static_cast<random::u64>(b) * d);
        diffuse::sample(model, s, grid, x, noise);
    };
    std::vector<array<T>> sequential(samples), parallel(samples);
    for (int b = 0; b < samples; ++b) sample_one(b, sequential[b]);
    std::vector<std::thread> threads;
    for (int b = 0; b < samples; ++b) threads.emplace_back([&, b] { sample_one(b, parallel[b]); });
    for (auto& t : threads) t.join();
    for (int b = 0; b < samples; ++b) CHECK((parallel[b] == sequential[b]).all());

    // One batched run from element 0 gives bitwise the same samples.
    array<T> batch(samples * d);
    for (int b = 0; b < samples; ++b) batch.segment(b * d, d).setConstant(T(0.1) * static_cast<T>(b));
    random::generator noise(42);
    diffuse::sample(model, s, grid, batch, noise, {}, samples);
    for (int b = 0; b < samples; ++b) CHECK((batch.segment(b * d, d) == sequential[b]).all());
}

TEMPLATE_TEST_CASE("DDPM errors name the parameter", "[ddpm][errors]", float, double) {
    using T = TestType;
    CHECK_THROWS_WITH(sampler::parse_variance_type("fixed"),
                      Catch::Contains("variance_type = \"fixed\"") && Catch::Contains("learned_range"));
    const ddpm<T> s(schedule::discrete<T>::linear());
    const std::vector<schedule::timestep> grid{10, 5};
    auto run = s.start(grid, 3);
    array<T> x = array<T>::Zero(3), out = x;
    CHECK_THROWS_WITH(run.step(out, x), Catch::Contains("noise") && Catch::Contains("DDPM"));
    const std::vector<schedule::timestep> bad{5, 10};
    CHECK_THROWS_WITH(s.start(bad, 3), Catch::Contains("timesteps[1] = 10"));
}
