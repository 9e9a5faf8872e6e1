// Discrete beta schedules. Reference alphas_cumprod values are diffusers' DDPMScheduler.__init__
// arithmetic evaluated with torch 1.13 float32 tensors by tools/reference_schedules.py.
#include <catch2/catch.hpp>

#include <utility>
#include <vector>

#include "diffuse/schedule/discrete.hpp"

using namespace diffuse;
using schedule::discrete;

namespace {

using picks = std::vector<std::pair<int, double>>;

template <class T>
void check_alphas_cumprod(const discrete<T>& s, const picks& expected) {
    // float: betas agree with torch.linspace to an ulp, so alphas_cumprod to ~1e-6 relative.
    // double: betas are not rounded to float32, which moves alphabar by up to ~5e-5 relative
    // where a beta is close to 1 (squaredcos' capped 0.999).
    const double relative = std::is_same_v<T, float> ? 3e-6 : 1e-4;
    for (const auto& [t, value] : expected) {
        INFO("t = " << t);
        CHECK(static_cast<double>(s.alpha_bar(t)) == Approx(value).epsilon(relative).margin(1e-12));
    }
}

}  // namespace

TEMPLATE_TEST_CASE("beta schedules reproduce diffusers' alphas_cumprod", "[schedule][diffusers]", float, double) {
    using T = TestType;
    SECTION("linear 1e-4..0.02") {
        check_alphas_cumprod(discrete<T>::linear(), {{0, 0.999899983},
                                                     {1, 0.999780059},
                                                     {250, 0.521423042},
                                                     {500, 0.0777966604},
                                                     {750, 0.00330015901},
                                                     {998, 4.11819456e-05},
                                                     {999, 4.03583072e-05}});
    }
    SECTION("scaled_linear 0.00085..0.012 (Stable Diffusion)") {
        check_alphas_cumprod(discrete<T>::scaled_linear(), {{0, 0.999149978},
                                                            {1, 0.998296022},
                                                            {250, 0.673792303},
                                                            {500, 0.276332498},
                                                            {750, 0.0561698116},
                                                            {998, 0.00471669622},
                                                            {999, 0.00466009602}});
    }
    SECTION("squaredcos_cap_v2") {
        check_alphas_cumprod(discrete<T>::squaredcos_cap_v2(), {{0, 0.999958694},
                                                                {1, 0.99991256},
                                                                {250, 0.845888019},
                                                                {500, 0.492285043},
                                                                {750, 0.143178657},
                                                                {998, 2.42876627e-06},
                                                                {999, 2.42873499e-09}});
    }
    SECTION("sigmoid") {
        check_alphas_cumprod(discrete<T>::sigmoid(), {{0, 0.99985081},
                                                      {1, 0.999701023},
                                                      {250, 0.90279901},
                                                      {500, 0.298887581},
                                                      {750, 0.00562291965},
                                                      {998, 4.04896236e-05},
                                                      {999, 3.96818214e-05}});
    }
    SECTION("zero terminal SNR (Lin et al. 2024, Algorithm 1)") {
        const auto linear = discrete<T>::linear().rescaled_zero_terminal_snr();
        check_alphas_cumprod(linear, {{0, 0.999899983},
                                      {1, 0.999779344},
                                      {250, 0.518860579},
                                      {500, 0.0752462298},
                                      {750, 0.00264410721},
                                      {998, 4.213216e-09}});
        CHECK(linear.alpha_bar(999) == T(0));
        CHECK(linear.betas()[999] == T(1));
        const auto scaled = discrete<T>::scaled_linear().rescaled_zero_terminal_snr();
        check_alphas_cumprod(scaled, {{0, 0.999149978},
                                      {1, 0.998233497},
                                      {250, 0.652456701},
                                      {500, 0.241018593},
                                      {750, 0.0327990763},
                                      {998, 1.96789003e-07}});
        CHECK(scaled.alpha_bar(999) == T(0));
    }
    SECTION("named constructors match the direct ones") {
        CHECK(discrete<T>::named(schedule::parse_beta_schedule("scaled_linear"), 1000, 0.00085, 0.012).alpha_bar(500) ==
              discrete<T>::scaled_linear().alpha_bar(500));
    }
}

TEMPLATE_TEST_CASE("schedules are monotone and user betas round-trip", "[schedule]", float, double) {
    using T = TestType;
    const auto s = discrete<T>::linear(1000);
    for (int t = 1; t < 1000; ++t) REQUIRE(s.alpha_bar(t) < s.alpha_bar(t - 1));
    std::vector<T> betas(s.betas().begin(), s.betas().end());
    const auto copy = discrete<T>::from_betas(betas);
    CHECK(copy.alpha_bar(999) == s.alpha_bar(999));
    CHECK(copy.num_train_timesteps() == 1000);
}

TEMPLATE_TEST_CASE("add_noise is the forward process q(x_t | x_0)", "[schedule]", float, double) {
    using T = TestType;
    const auto s = discrete<T>::linear();
    Eigen::Array<T, Eigen::Dynamic, 1> x0(3), noise(3), out(3);
    x0 << 1, -2, 3;
    noise << 0.5, 0.25, -1;
    s.add_noise(x0, noise, 500, out);
    const T ab = s.alpha_bar(500);
    // measured 0 (double), 3.3e-09 (float) relative
    for (int i = 0; i < 3; ++i)
        CHECK(out[i] == Approx(std::sqrt(ab) * x0[i] + std::sqrt(1 - ab) * noise[i])
                            .epsilon(std::is_same_v<T, float> ? 2e-7 : 2e-15)
                            .margin(0));
    Eigen::Array<T, Eigen::Dynamic, 1> short_noise(2);
    CHECK_THROWS_WITH(s.add_noise(x0, short_noise, 500, out), Catch::Contains("noise.size() = 2"));
}

TEMPLATE_TEST_CASE("schedule errors name the parameter, the value and the allowed range", "[schedule][errors]", float,
                   double) {
    using T = TestType;
    CHECK_THROWS_WITH(discrete<T>::linear(1000, 0.0, 0.02),
                      Catch::Contains("beta_start = 0") && Catch::Contains("(0, 1)"));
    CHECK_THROWS_WITH(discrete<T>::linear(1000, 1e-4, 2.0), Catch::Contains("beta_end = 2"));
    CHECK_THROWS_WITH(discrete<T>::linear(1), Catch::Contains("num_train_timesteps = 1"));
    CHECK_THROWS_WITH(discrete<T>::squaredcos_cap_v2(1000, 1.0), Catch::Contains("max_beta = 1"));
    CHECK_THROWS_WITH(schedule::parse_beta_schedule("cosine"),
                      Catch::Contains("beta_schedule = \"cosine\"") && Catch::Contains("squaredcos_cap_v2"));
    CHECK_THROWS_WITH(discrete<T>::from_betas({T(0.1), T(-0.1), T(0.2)}), Catch::Contains("betas[1] = -0.1"));
    CHECK_THROWS_WITH(discrete<T>::from_betas({T(0.1), T(1), T(0.2)}), Catch::Contains("betas[1] = 1"));
    CHECK_THROWS_WITH(discrete<T>::linear().alpha_bar(1000),
                      Catch::Contains("timestep = 1000") && Catch::Contains("[0, 999]"));
}
