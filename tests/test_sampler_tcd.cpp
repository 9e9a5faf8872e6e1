// TCD (tcd.hpp) against diffusers' TCDScheduler (snapshot 58eb52c0): element-wise traces with
// replayed noise recorded by tools/reference_pndm_consistency.py (Stable Diffusion config with
// gamma 0.3 and 0, v-prediction with gamma 0.7).
#include <catch2/catch.hpp>

#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/tcd.hpp"
#include "pndm_consistency_test_support.hpp"

using namespace diffuse;
using f3test::array;
namespace ref = reference_pndm_consistency;
using predict::prediction;
using sampler::tcd;

TEMPLATE_TEST_CASE("TCD matches diffusers element-wise with replayed noise", "[tcd][diffusers]", float, double) {
    using T = TestType;
    SECTION("Stable Diffusion config, gamma 0.3 (diffusers' default eta)") {
        const tcd<T> s(f3test::stable_diffusion<T>());
        const auto& tr = ref::diffusers_tcd_sd;
        CHECK(f3test::grid_of(tr) == sampler::lcm_timesteps(1000, 4));
        // Bounds per type at about 10x the measured worst relative difference (float, double).
        f3test::require_trace<T>(f3test::replay<T>(s.start(f3test::grid_of(tr), 64), tr, true), tr,
                                 {4e-5, 4e-5});  // 3.3e-6, 3.7e-6
    }
    SECTION("gamma 0 is deterministic") {
        const tcd<T> s(f3test::stable_diffusion<T>(), {.gamma = T(0)});
        const auto& tr = ref::diffusers_tcd_sd_gamma0;
        REQUIRE(tr.noise.empty());
        f3test::require_trace<T>(f3test::replay<T>(s.start(f3test::grid_of(tr), 64), tr, false), tr,
                                 {9e-6, 8e-6});  // 8.4e-7, 7.6e-7
    }
    SECTION("v-prediction, gamma 0.7, 6 steps") {
        const tcd<T> s(f3test::stable_diffusion<T>(), {.prediction = prediction::v_prediction, .gamma = T(0.7)});
        const auto& tr = ref::diffusers_tcd_v_gamma07;
        f3test::require_trace<T>(f3test::replay<T>(s.start(f3test::grid_of(tr), 64), tr, true), tr,
                                 {5e-5, 3e-4});  // 4.8e-6, 2.9e-5
    }
}

TEST_CASE("TCD's jump target s = floor((1 - gamma) t') in float32, as torch computes it", "[tcd]") {
    const auto betas = f3test::stable_diffusion<float>();
    CHECK(tcd<float>(betas, {.gamma = 0.3f}).jump_target(759) == 531);  // 0.7f * 759 = 531.29...
    // 0.7 rounds below 0.7 in float32, so 0.7f * 1000 lands just under 700: s = 699, not 700.
    CHECK(tcd<double>(f3test::stable_diffusion<double>(), {.gamma = 0.3}).jump_target(1000 - 1) == 699);
    CHECK(tcd<float>(betas, {.gamma = 0.0f}).jump_target(499) == 499);
    CHECK(tcd<float>(betas, {.gamma = 1.0f}).jump_target(499) == 0);
}

TEMPLATE_TEST_CASE("TCD with gamma 0 is DDIM down to the next timestep, and ends at timestep 0", "[tcd]", float,
                   double) {
    using T = TestType;
    const auto betas = f3test::stable_diffusion<T>();
    const std::vector<schedule::timestep> grid{999, 499};
    const tcd<T> t(betas, {.gamma = T(0)});
    const sampler::ddim<T> d(betas, {.set_alpha_to_one = false, .x0 = {}});
    array<T> a = kdtest::trace_sample0<T>(), b = a, out(a.size());
    auto tr = t.start(grid, a.size());
    auto dr = d.start(std::vector<schedule::timestep>{999, 499, 0}, b.size());  // diffusers' TCD ends at timestep 0
    for (int i = 0; i < 2; ++i) {
        kdtest::smooth<T>(cflat(a), tr.model_time(), flat(out));
        tr.step(out, a);
        kdtest::smooth<T>(cflat(b), dr.model_time(), flat(out));
        dr.step(out, b);
    }
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
    CHECK((a - b).abs().maxCoeff() <= tol * b.abs().maxCoeff());
}

TEST_CASE("TCD rejects bad options and missing noise, naming what is allowed", "[tcd][errors]") {
    const auto betas = f3test::stable_diffusion<float>();
    CHECK_THROWS_WITH(tcd<float>(betas, {.gamma = 1.5f}), Catch::Contains("gamma") && Catch::Contains("[0, 1]"));
    CHECK_THROWS_WITH(tcd<float>(betas, {.gamma = -0.1f}), Catch::Contains("gamma"));
    const tcd<float> s(betas);
    auto run = s.start(sampler::lcm_timesteps(1000, 4), 8);
    Eigen::ArrayXf x = Eigen::ArrayXf::Ones(8), out = Eigen::ArrayXf::Zero(8);
    CHECK_THROWS_WITH(run.step(out, x), Catch::Contains("noise") && Catch::Contains("stochastic"));
    CHECK_THROWS_WITH(s.start(std::vector<schedule::timestep>{1000}, 8), Catch::Contains("timesteps[0]"));
}
