// Consistency-model multistep sampling (consistency_model.hpp) against diffusers'
// CMStochasticIterativeScheduler (snapshot 58eb52c0): grids (Karras sigmas of the training ramp,
// model times 250 log sigma) and element-wise traces with replayed noise recorded by
// tools/reference_pndm_consistency.py (default config with 3 steps; the ImageNet-64 CD pipeline's
// custom timesteps [22, 0]; s_noise 1.007 without clipping on a 151-entry ramp).
#include <catch2/catch.hpp>

#include "diffuse/sampler/consistency_model.hpp"
#include "pndm_consistency_test_support.hpp"

using namespace diffuse;
using f3test::array;
namespace ref = reference_pndm_consistency;
using sampler::consistency_model;

namespace {

template <class T>
void check_grid(const schedule::sigma_grid<T>& grid, const std::vector<double>& sigmas, const ref::trace& tr) {
    REQUIRE(grid.levels().size() == sigmas.size());
    for (std::size_t i = 0; i < sigmas.size(); ++i) {
        CHECK(grid[static_cast<diffuse::index>(i)].sigma == Approx(sigmas[i]).epsilon(7e-7).margin(0));  // 6.3e-8
        if (i + 1 < sigmas.size())
            CHECK(grid[static_cast<diffuse::index>(i)].model_time ==
                  Approx(tr.model_times[i]).epsilon(1e-6).margin(0));  // 3.3e-7 (float32 data)
    }
}

}  // namespace

TEMPLATE_TEST_CASE("Consistency-model sampling matches diffusers element-wise with replayed noise",
                   "[consistency][diffusers]", float, double) {
    using T = TestType;
    SECTION("default config, 3 steps") {
        const consistency_model<T> s;
        const auto grid = s.grid(3);
        check_grid(grid, ref::diffusers_cm_default_sigmas, ref::diffusers_cm_default);
        const auto& tr = ref::diffusers_cm_default;
        f3test::require_trace<T>(f3test::replay<T>(s.start(grid, 64), tr, true), tr, true);
    }
    SECTION("custom timesteps [22, 0]") {
        const consistency_model<T> s;
        const std::vector<schedule::timestep> custom{22, 0};
        const auto grid = s.grid(custom);
        check_grid(grid, ref::diffusers_cm_custom_sigmas, ref::diffusers_cm_custom);
        const auto& tr = ref::diffusers_cm_custom;
        f3test::require_trace<T>(f3test::replay<T>(s.start(grid, 64), tr, true), tr, true);
    }
    SECTION("no clipping, s_noise 1.007, 151 training entries, 5 steps") {
        const consistency_model<T> s({.num_train_timesteps = 151, .s_noise = T(1.007), .clip_denoised = false});
        const auto grid = s.grid(5);
        check_grid(grid, ref::diffusers_cm_noclip_sigmas, ref::diffusers_cm_noclip);
        const auto& tr = ref::diffusers_cm_noclip;
        f3test::require_trace<T>(f3test::replay<T>(s.start(grid, 64), tr, true), tr, true);
    }
}

TEMPLATE_TEST_CASE("One-step consistency sampling is the boundary-conditioned network output", "[consistency]", float,
                   double) {
    using T = TestType;
    // Song et al. 2023, App. C: at sigma = sigma_max, c_skip = sd^2 / ((s - s_min)^2 + sd^2),
    // c_out = (s - s_min) sd / sqrt(s^2 + sd^2); the model sees x / sqrt(s^2 + sd^2).
    const consistency_model<T> s({.clip_denoised = false});
    const auto grid = s.grid(1);
    auto run = s.start(grid, 64);
    CHECK(run.init_noise_sigma() == T(80));
    const double sd = 0.5, sm = 0.002, sigma = 80;
    CHECK(run.input_scale() == Approx(1 / std::sqrt(sigma * sigma + sd * sd)).epsilon(5e-7).margin(0));  // 4.9e-8
    array<T> x = kdtest::trace_sample0<T>() * T(80), out = x.tanh();
    const double skip = sd * sd / ((sigma - sm) * (sigma - sm) + sd * sd),
                 c_out = (sigma - sm) * sd / std::sqrt(sigma * sigma + sd * sd);
    const Eigen::ArrayXd expected = skip * x.template cast<double>() + c_out * out.template cast<double>();
    run.step(out, x);  // the only step ends at sigma_min: no noise
    CHECK(run.done());
    CHECK((x.template cast<double>() - expected).abs().maxCoeff() <= (std::is_same_v<T, float> ? 1e-6 : 1e-12));
}

TEST_CASE("Consistency-model options, grids and noise are checked, naming what is allowed", "[consistency][errors]") {
    using o = sampler::consistency_model_options<float>;
    CHECK_THROWS_WITH(consistency_model<float>(o{.sigma_min = 0.0f}),
                      Catch::Contains("sigma_min") && Catch::Contains("> 0"));
    CHECK_THROWS_WITH(consistency_model<float>(o{.sigma_max = 0.001f}),
                      Catch::Contains("sigma_max") && Catch::Contains("> sigma_min"));
    CHECK_THROWS_WITH(consistency_model<float>(o{.sigma_data = -1.0f}), Catch::Contains("sigma_data"));
    CHECK_THROWS_WITH(consistency_model<float>(o{.s_noise = -1.0f}), Catch::Contains("s_noise"));
    CHECK_THROWS_WITH(consistency_model<float>(o{.rho = 0.0f}), Catch::Contains("rho"));
    CHECK_THROWS_WITH(consistency_model<float>(o{.num_train_timesteps = 1}), Catch::Contains("num_train_timesteps"));
    const consistency_model<float> s;
    CHECK_THROWS_WITH(s.grid(40),
                      Catch::Contains("num_inference_steps") && Catch::Contains("[1, num_train_timesteps - 1 = 39]"));
    CHECK_THROWS_WITH(s.grid(std::vector<schedule::timestep>{0, 22}),
                      Catch::Contains("timesteps[1]") && Catch::Contains("strictly less"));
    CHECK_THROWS_WITH(s.grid(std::vector<schedule::timestep>{39, 0}),
                      Catch::Contains("timesteps[0]") && Catch::Contains("[0, num_train_timesteps - 2 = 38]"));
    CHECK_THROWS_WITH(s.grid(std::vector<schedule::timestep>{}), Catch::Contains("timesteps.size()"));
    auto run = s.start(s.grid(2), 8);
    Eigen::ArrayXf x = Eigen::ArrayXf::Ones(8), out = Eigen::ArrayXf::Zero(8);
    CHECK_THROWS_WITH(run.step(out, x), Catch::Contains("noise") && Catch::Contains("stochastic"));
}
