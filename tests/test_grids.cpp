// Noise-level grids (schedule/spacings.hpp, continuous.hpp, flow.hpp, ays.hpp and the Euler-family
// options of sigmas.hpp) against the grids diffusers' own schedulers build (snapshot 58eb52c0,
// float32; tools/reference_grids.py -> tests/reference_grids.hpp), scipy.special.betaincinv,
// k-diffusion's spacing formulas, and FlowMatchEulerDiscreteScheduler's steps; the exponential
// integrators' beta, dynamically shifted and terminal-stretched grids against tools/reference_options.py.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "diffuse/sampler/euler.hpp"
#include "diffuse/sampler/sample.hpp"
#include "diffuse/schedule/ays.hpp"
#include "diffuse/schedule/continuous.hpp"
#include "diffuse/schedule/flow.hpp"
#include "diffuse/schedule/solver_sigmas.hpp"
#include "diffusers_fixtures.hpp"
#include "exponential_test_support.hpp"
#include "reference_ays.hpp"
#include "reference_grids.hpp"
#include "reference_options.hpp"

using namespace diffuse;
using schedule::discrete;

namespace {

// float32 reference sigmas/timesteps: 1e-6 relative for float, 1e-5 for double (diffusers' float32
// rounding of intermediate values).
template <class T>
void require_grid(const schedule::sigma_grid<T>& grid, const std::vector<double>& sigmas,
                  const std::vector<double>& times, double init_noise_sigma,
                  sampler::state_space space = sampler::state_space::denoiser) {
    const double tol = std::is_same_v<T, float> ? 2e-6 : 2e-5;
    REQUIRE(grid.steps() == static_cast<diffuse::index>(times.size()));
    for (diffuse::index i = 0; i <= grid.steps(); ++i) {
        const double want = sigmas[static_cast<std::size_t>(i)];
        INFO("level " << i);
        CHECK(static_cast<double>(grid[i].sigma) == Approx(want).epsilon(tol).margin(1e-12));
        if (i < grid.steps())
            CHECK(grid[i].model_time == Approx(times[static_cast<std::size_t>(i)]).epsilon(tol).margin(1e-5));
    }
    const sampler::euler<T> euler({.space = space});
    const auto run = euler.start(grid, 4);
    // against diffusers float32 values; measured 2.6e-07 (double), 5.2e-07 (float) relative
    CHECK(static_cast<double>(run.init_noise_sigma()) ==
          Approx(init_noise_sigma).epsilon(std::is_same_v<T, float> ? 6e-6 : 3e-6).margin(0));
}

template <class T>
discrete<T> sd_schedule() {
    return discrete<T>::scaled_linear(1000, 0.00085, 0.012);
}

}  // namespace

TEST_CASE("inverse regularized incomplete beta matches scipy.special.betaincinv", "[grids][beta]") {
    for (const auto& c : reference_grids::betaincinv) {
        INFO("a=" << c.a << " b=" << c.b << " p=" << c.p);
        const double x = schedule::inverse_regularized_incomplete_beta(c.p, c.a, c.b);
        CHECK(x == Approx(c.x).epsilon(1e-10).margin(1e-15));
        // (near x = 1 the density of Beta(0.6, 0.6) is ~1e4, so one ulp of x moves I_x by ~1e-12)
        CHECK(schedule::regularized_incomplete_beta(x, c.a, c.b) == Approx(c.p).epsilon(1e-12).margin(1e-11));
    }
    // Closed forms: I_x(1, 1) = x; I_x(1/2, 1/2) = (2/pi) asin(sqrt x) (DLMF 8.17.2 special case).
    // measured 0 relative (a floor of a few ulp)
    CHECK(schedule::regularized_incomplete_beta(0.3, 1.0, 1.0) == Approx(0.3).epsilon(2e-15).margin(0));
    // measured 3.8e-16 relative
    CHECK(schedule::regularized_incomplete_beta(0.2, 0.5, 0.5) ==
          Approx(2 / std::numbers::pi * std::asin(std::sqrt(0.2))).epsilon(4e-15).margin(0));
    CHECK_THROWS_WITH(schedule::inverse_regularized_incomplete_beta(1.5, 0.6, 0.6),
                      Catch::Contains("p") && Catch::Contains("[0, 1]"));
    CHECK_THROWS_WITH(schedule::regularized_incomplete_beta(0.5, -1, 0.6),
                      Catch::Contains("alpha") && Catch::Contains("> 0"));
}

TEST_CASE("k-diffusion spacings: exponential, polyexponential, VP", "[grids][kdiffusion]") {
    // k-diffusion get_sigmas_exponential(4, 0.1, 10) = exp(linspace(ln 10, ln 0.1, 4)): 10, 10^(1/3), 10^(-1/3), 0.1.
    const auto e = schedule::exponential_sigmas(4, 0.1, 10.0);
    // measured 0 relative (a floor of a few ulp)
    CHECK(e[1] == Approx(std::cbrt(10.0)).epsilon(2e-15).margin(0));
    // measured 4.8e-16 relative
    CHECK(e[2] == Approx(1 / std::cbrt(10.0)).epsilon(5e-15).margin(0));
    // get_sigmas_polyexponential with rho = 1 is the exponential spacing; rho = 2 puts sigma at
    // exp(ln min + (2/3)^2 (ln max - ln min)) for i = 1 of 4.
    const auto p1 = schedule::polyexponential_sigmas(4, 0.1, 10.0, 1.0);
    // measured 8.2e-16 relative
    for (std::size_t i = 0; i < 4; ++i) CHECK(p1[i] == Approx(e[i]).epsilon(9e-15).margin(0));
    const auto p2 = schedule::polyexponential_sigmas(4, 0.1, 10.0, 2.0);
    // measured 5.7e-16 relative
    CHECK(p2[1] == Approx(std::exp(std::log(0.1) + 4.0 / 9.0 * std::log(100.0))).epsilon(6e-15).margin(0));
    // get_sigmas_vp(n, beta_d=19.9, beta_min=0.1, eps_s=1e-3): sigma(1) = sqrt(e^{10.05} - 1).
    const auto v = schedule::vp_continuous_sigmas(3);
    // measured 1.1e-15 relative
    CHECK(v[0] == Approx(std::sqrt(std::exp(10.05) - 1)).epsilon(2e-14).margin(0));
    const schedule::vp_continuous_options o;
    // measured 0 relative (a floor of a few ulp)
    CHECK(o.time_at(v[1]) == Approx(0.5005).epsilon(2e-15).margin(0));
    const auto grid = schedule::vp_continuous_grid<double>(3);
    // measured 0 relative (a floor of a few ulp)
    CHECK(grid[2].model_time == Approx(1e-3).epsilon(2e-15).margin(0));
    CHECK(grid[3].sigma == 0.0);
    CHECK_THROWS_WITH(schedule::exponential_sigmas(4, 10.0, 1.0),
                      Catch::Contains("sigma_min") && Catch::Contains("(0, sigma_max)"));
    CHECK_THROWS_WITH(schedule::polyexponential_sigmas(4, 0.1, 1.0, 0.0), Catch::Contains("rho"));
    CHECK_THROWS_WITH(schedule::vp_continuous_sigmas(3, {.eps_s = 1.0}),
                      Catch::Contains("eps_s") && Catch::Contains("(0, 1)"));
}

TEMPLATE_TEST_CASE("Euler-family grids match diffusers' EulerDiscreteScheduler", "[grids][diffusers]", float, double) {
    using T = TestType;
    namespace r = reference_grids;
    using schedule::sigma_spacing;
    const auto sd = sd_schedule<T>();
    // EulerDiscreteScheduler(scaled_linear 0.00085..0.012, use_exponential_sigmas / use_beta_sigmas), 10 steps.
    require_grid(schedule::vp_sigma_grid(sd, {.steps = 10, .sigmas = sigma_spacing::exponential}),
                 r::euler_exponential_sigmas, r::euler_exponential_timesteps, r::euler_exponential_init_noise_sigma);
    require_grid(schedule::vp_sigma_grid(sd, {.steps = 10, .sigmas = sigma_spacing::beta}), r::euler_beta_sigmas,
                 r::euler_beta_timesteps, r::euler_beta_init_noise_sigma);
    // interpolation_type="log_linear": 11 log-uniform sigmas, the 11th where the 10th step ends.
    require_grid(schedule::vp_sigma_grid(sd, {.steps = 10, .interpolation = schedule::sigma_interpolation::log_linear}),
                 r::euler_log_linear_sigmas, r::euler_log_linear_timesteps, r::euler_log_linear_init_noise_sigma);
    // rescale_betas_zero_snr=True, trailing: alphas_cumprod[-1] = 2^-24, first sigma 4096.
    require_grid(schedule::vp_sigma_grid(discrete<T>::scaled_linear(1000, 0.00085, 0.012).rescaled_zero_terminal_snr(),
                                         {.steps = 10, .timestep_spacing = schedule::spacing::trailing}),
                 r::euler_zero_snr_sigmas, r::euler_zero_snr_timesteps, r::euler_zero_snr_init_noise_sigma);
    // use_karras_sigmas with the sigma_min / sigma_max config keys.
    require_grid(schedule::vp_sigma_grid(
                     sd, {.steps = 10, .sigmas = sigma_spacing::karras, .sigma_min = 0.05, .sigma_max = 10.0}),
                 r::euler_karras_range_sigmas, r::euler_karras_range_timesteps, r::euler_karras_range_init_noise_sigma);
    // timestep_type="continuous" with v_prediction: model time 0.25 ln sigma.
    require_grid(
        schedule::vp_sigma_grid(sd, {.steps = 10, .sigmas = sigma_spacing::karras, .continuous_timesteps = true}),
        r::euler_continuous_v_sigmas, r::euler_continuous_v_timesteps, r::euler_continuous_v_init_noise_sigma);
    // set_timesteps(timesteps=[AYS SD1.5 timesteps]) and set_timesteps(sigmas=[diffusers' AysSchedules SD sigmas]).
    require_grid(schedule::vp_sigma_grid(sd, {.timesteps = {999, 850, 736, 645, 545, 455, 343, 233, 124, 24}}),
                 r::euler_custom_timesteps_sigmas, r::euler_custom_timesteps_timesteps,
                 r::euler_custom_timesteps_init_noise_sigma);
    const auto ays = schedule::ays_sigmas(schedule::ays_model::stable_diffusion, 10);
    require_grid(schedule::vp_grid_from_sigmas(sd, ays), r::euler_custom_sigmas_sigmas,
                 r::euler_custom_sigmas_timesteps, r::euler_custom_sigmas_init_noise_sigma);
    CHECK_THROWS_WITH(schedule::vp_sigma_grid(sd, {.timesteps = {999, 999}}),
                      Catch::Contains("timesteps[1]") && Catch::Contains("decreasing"));
    CHECK_THROWS_WITH(schedule::vp_sigma_grid(sd, {.sigma_min = -1.0}), Catch::Contains("sigma_min"));
    const std::vector<double> rising{1.0, 2.0};
    CHECK_THROWS_WITH(schedule::vp_grid_from_sigmas(sd, rising),
                      Catch::Contains("sigmas[1]") && Catch::Contains("decreasing"));
}

TEMPLATE_TEST_CASE("EDM grids match diffusers' EDMEulerScheduler", "[grids][diffusers][edm]", float, double) {
    using T = TestType;
    namespace r = reference_grids;
    // EDMEulerScheduler() defaults (sigma 0.002..80, sigma_data 0.5, rho 7), 8 steps.
    const auto karras = schedule::edm_sigma_grid<T>({.steps = 8});
    require_grid(karras, r::edm_karras_sigmas, r::edm_karras_timesteps, r::edm_karras_init_noise_sigma);
    require_grid(schedule::edm_sigma_grid<T>({.steps = 8, .spacing = schedule::edm_spacing::exponential}),
                 r::edm_exponential_sigmas, r::edm_exponential_timesteps, r::edm_exponential_init_noise_sigma);
    // scale_model_input = precondition_inputs: x / sqrt(sigma^2 + sigma_data^2).
    // measured 0 (double), 4.9e-08 (float) relative
    CHECK(static_cast<double>(karras[0].alpha) ==
          Approx(1 / std::sqrt(6400.25)).epsilon(std::is_same_v<T, float> ? 5e-7 : 2e-15).margin(0));
    CHECK_THROWS_WITH(schedule::edm_sigma_grid<T>({.sigma_data = 0.0}), Catch::Contains("sigma_data"));
    // The AYS SVD table (Sabour et al. 2024) as an EDM grid: c_in and c_noise at each sigma.
    const auto svd =
        schedule::edm_grid_from_sigmas<T>(schedule::ays_sigmas(schedule::ays_model::stable_video_diffusion, 10), 0.5);
    CHECK(svd.steps() == 10);
    // measured 2.1e-16 (double), 1.8e-09 (float) relative
    CHECK(svd[3].model_time ==
          Approx(0.25 * std::log(7.977)).epsilon(std::is_same_v<T, float> ? 2e-7 : 3e-15).margin(0));
    // measured 2.2e-16 (double), 2.3e-08 (float) relative
    CHECK(static_cast<double>(svd[3].alpha) ==
          Approx(1 / std::sqrt(7.977 * 7.977 + 0.25)).epsilon(std::is_same_v<T, float> ? 3e-7 : 3e-15).margin(0));
    const std::vector<double> flat_sigmas{1.0, 1.0};
    CHECK_THROWS_WITH(schedule::edm_grid_from_sigmas<T>(flat_sigmas), Catch::Contains("sigmas[1]"));
}

TEMPLATE_TEST_CASE("flow grids match diffusers' FlowMatchEulerDiscreteScheduler", "[grids][diffusers][flow]", float,
                   double) {
    using T = TestType;
    namespace r = reference_grids;
    using sampler::state_space;
    const auto check_flow = [](const schedule::sigma_grid<T>& grid, const std::vector<double>& flow,
                               const std::vector<double>& times) {
        // level sigma = s/(1 - s), alpha = 1 - s; compare the flow time alpha * sigma = s.
        REQUIRE(grid.steps() + 1 == static_cast<diffuse::index>(flow.size()));
        for (diffuse::index i = 0; i <= grid.steps(); ++i) {
            INFO("level " << i);
            CHECK(static_cast<double>(grid[i].model_sigma()) ==
                  Approx(flow[static_cast<std::size_t>(i)]).epsilon(2e-6).margin(1e-12));
            // against diffusers float32 values; measured 9.2e-08 (double), 6.9e-08 (float) relative
            if (i < grid.steps())
                CHECK(grid[i].model_time == Approx(times[static_cast<std::size_t>(i)])
                                                .epsilon(std::is_same_v<T, float> ? 7e-7 : 1e-6)
                                                .margin(0));
        }
        CHECK(grid.initial_noise_std() == T(1));
    };
    check_flow(schedule::flow_match_grid<T>({.steps = 6, .shift = 3.0}), r::flow_shift3_sigmas,
               r::flow_shift3_timesteps);
    check_flow(schedule::flow_match_grid<T>({.steps = 6, .use_dynamic_shifting = true, .mu = 0.8}),
               r::flow_dynamic_sigmas, r::flow_dynamic_timesteps);
    check_flow(
        schedule::flow_match_grid<T>(
            {.steps = 6, .use_dynamic_shifting = true, .mu = 1.3, .time_shift = schedule::time_shift_kind::linear}),
        r::flow_dynamic_linear_sigmas, r::flow_dynamic_linear_timesteps);
    check_flow(schedule::flow_match_grid<T>({.steps = 6, .shift = 3.0, .shift_terminal = 0.1}), r::flow_terminal_sigmas,
               r::flow_terminal_timesteps);
    check_flow(schedule::flow_match_grid<T>({.steps = 6, .shift = 3.0, .sigmas = schedule::sigma_spacing::karras}),
               r::flow_karras_sigmas, r::flow_karras_timesteps);
    check_flow(schedule::flow_match_grid<T>({.shift = 2.0, .custom_sigmas = {1.0, 0.8, 0.5, 0.3, 0.1}}),
               r::flow_custom_sigmas_sigmas, r::flow_custom_sigmas_timesteps);
    // calculate_shift of the SD3/Flux pipelines: mu(256) = base_shift, mu(4096) = max_shift.
    // measured 0 relative (a floor of a few ulp)
    CHECK(schedule::dynamic_shift_mu(256) == Approx(0.5).epsilon(2e-15).margin(0));
    // measured 0 relative (a floor of a few ulp)
    CHECK(schedule::dynamic_shift_mu(4096) == Approx(1.15).epsilon(2e-15).margin(0));
    CHECK_THROWS_WITH(schedule::flow_match_grid<T>({.use_dynamic_shifting = true}), Catch::Contains("mu"));
    CHECK_THROWS_WITH(schedule::flow_match_grid<T>({.shift = 0.0}), Catch::Contains("shift") && Catch::Contains("> 0"));
}

TEMPLATE_TEST_CASE("sampler::euler on the flow grid reproduces FlowMatchEulerDiscreteScheduler",
                   "[grids][diffusers][flow]", float, double) {
    using T = TestType;
    // FlowMatchEulerDiscreteScheduler(shift=3), 6 steps, loop A on sample0 with the flow-velocity
    // stand-in v(x, t) = tanh(x) - 0.5 x t / 1000 (tools/reference_grids.py).
    const auto grid = schedule::flow_match_grid<T>({.steps = 6, .shift = 3.0});
    const sampler::euler<T> euler(
        {.prediction = predict::prediction::flow_velocity, .space = sampler::state_space::model});
    Eigen::Array<T, Eigen::Dynamic, 1> x = fixtures::sample0<T>();
    const auto model = [](const_view<T> in, double t, view<T> out) {
        out = in.tanh() - T(0.5) * in * static_cast<T>(t / 1000);
    };
    diffuse::sample(model, euler, grid, x);
    const auto& want = reference_grids::flow_match_euler_final;
    double worst = 0;
    for (diffuse::index i = 0; i < x.size(); ++i) {
        const double w = want[static_cast<std::size_t>(i)];
        worst = std::max(worst, std::fabs(static_cast<double>(x[i]) - w) / std::max(std::fabs(w), 1e-3));
    }
    INFO("worst relative error " << worst);
    CHECK(worst < 1e-4);
}

TEST_CASE("Align Your Steps: published tables and log-linear interpolation", "[grids][ays]") {
    // Sabour et al. 2024: 10 steps give the table itself (diffusers' AysSchedules with the last
    // entry 0).
    const auto ten =
        schedule::ays_sigmas(schedule::ays_model::stable_diffusion_xl, 10, schedule::final_sigma::sigma_min);
    const auto table = schedule::ays_table(schedule::ays_model::stable_diffusion_xl);
    // measured 2.4e-16 relative
    for (std::size_t i = 0; i < table.size(); ++i) CHECK(ten[i] == Approx(table[i]).epsilon(3e-15).margin(0));
    // 20 steps: every other value is the table's, the ones between are geometric means.
    const auto twenty =
        schedule::ays_sigmas(schedule::ays_model::stable_video_diffusion, 20, schedule::final_sigma::sigma_min);
    const auto svd = schedule::ays_table(schedule::ays_model::stable_video_diffusion);
    // measured 1.3e-16 relative
    CHECK(twenty[2] == Approx(svd[1]).epsilon(2e-15).margin(0));
    // measured 1.5e-16 relative
    CHECK(twenty[1] == Approx(std::sqrt(svd[0] * svd[1])).epsilon(2e-15).margin(0));
    CHECK(schedule::ays_sigmas(schedule::ays_model::stable_diffusion, 5).back() == 0.0);
    CHECK_THROWS_WITH(schedule::ays_sigmas(schedule::ays_model::stable_diffusion, 0),
                      Catch::Contains("num_inference_steps"));
}

TEST_CASE("Align Your Steps tables are diffusers' AysSchedules and interpolate as the authors' loglinear_interp",
          "[grids][ays][diffusers]") {
    // tests/reference_ays.hpp (tools/reference_ays.py): diffusers 58eb52c0's AysSchedules, whose last
    // entry is 0 where the published tables end at sigma_min (0.029, 0.029, 0.002), and the authors'
    // numpy interpolation of the published tables to 7 and 20 steps. Measured: the tables equal
    // (the same decimal literals), the sigmas within 2.2e-15 relative (exp of log); bound 2e-14
    // relative, no absolute slack.
    namespace r = reference_ays;
    using schedule::ays_model;
    double worst = 0;
    const auto require_equal = [&worst](const std::vector<double>& got, const std::vector<double>& expected) {
        REQUIRE(got.size() == expected.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
            if (expected[i] != 0) worst = std::max(worst, std::abs(got[i] / expected[i] - 1));
            CHECK(got[i] == Approx(expected[i]).epsilon(2e-14).margin(0));
        }
    };
    const std::pair<ays_model, const std::vector<double>*> tables[] = {
        {ays_model::stable_diffusion, &r::diffusers_sd},
        {ays_model::stable_diffusion_xl, &r::diffusers_sdxl},
        {ays_model::stable_video_diffusion, &r::diffusers_svd}};
    for (const auto& [model, expected] : tables) {
        const auto table = schedule::ays_table(model);
        for (std::size_t i = 0; i + 1 < table.size(); ++i) CHECK(table[i] == (*expected)[i]);
        CHECK(expected->back() == 0.0);
        require_equal(schedule::ays_sigmas(model, 10), *expected);  // final_sigma::zero, as diffusers
    }
    CHECK(schedule::ays_table(ays_model::stable_diffusion).back() == 0.029);
    CHECK(schedule::ays_table(ays_model::stable_diffusion_xl).back() == 0.029);
    CHECK(schedule::ays_table(ays_model::stable_video_diffusion).back() == 0.002);
    const auto sigma_min = schedule::final_sigma::sigma_min;
    require_equal(schedule::ays_sigmas(ays_model::stable_diffusion, 7, sigma_min), r::interp_sd_7);
    require_equal(schedule::ays_sigmas(ays_model::stable_diffusion, 20, sigma_min), r::interp_sd_20);
    require_equal(schedule::ays_sigmas(ays_model::stable_diffusion_xl, 7, sigma_min), r::interp_sdxl_7);
    require_equal(schedule::ays_sigmas(ays_model::stable_diffusion_xl, 20, sigma_min), r::interp_sdxl_20);
    require_equal(schedule::ays_sigmas(ays_model::stable_video_diffusion, 7, sigma_min), r::interp_svd_7);
    require_equal(schedule::ays_sigmas(ays_model::stable_video_diffusion, 20, sigma_min), r::interp_svd_20);
    if (std::getenv("DIFFUSE_REPORT_ERRORS") != nullptr) std::printf("AYS: measured %.2e (bound 2e-14)\n", worst);
}

TEMPLATE_TEST_CASE("exponential-integrator grids with beta sigmas, mu and shift_terminal match diffusers 58eb52c0",
                   "[grids][diffusers][options]", float, double) {
    using T = TestType;
    using schedule::solver_family;
    using kind = schedule::solver_sigma_kind;
    namespace ref = reference_options;  // tools/reference_options.py
    const auto sd = sd_schedule<T>();
    const auto linear = discrete<T>::linear();
    const auto check = [](const discrete<T>& betas, solver_family family, const schedule::solver_sigma_options& o,
                          const reference_exponential::run& expected) {
        exponential_test::check_grid(schedule::solver_sigma_grid(betas, family, o), expected, o.use_flow_sigmas);
    };
    SECTION("use_beta_sigmas") {
        check(sd, solver_family::dpm_multistep, {.steps = 10, .sigmas = kind::beta}, ref::dpm_beta);
        check(linear, solver_family::dpm_multistep, {.steps = 12, .sigmas = kind::beta}, ref::dpm_beta_v_order3);
        check(sd, solver_family::dpm_singlestep, {.steps = 10, .sigmas = kind::beta}, ref::single_beta);
        check(linear, solver_family::deis,
              {.steps = 10, .sigmas = kind::beta, .last = schedule::final_sigma::sigma_min}, ref::deis_beta);
        check(sd, solver_family::unipc, {.steps = 10, .sigmas = kind::beta}, ref::unipc_beta);
    }
    SECTION("dynamic shift: flow_shift = e^mu for DPM-Solver, time_shift(mu) for UniPC; shift_terminal") {
        check(linear, solver_family::dpm_multistep, {.steps = 10, .use_flow_sigmas = true, .flow_shift = std::exp(1.1)},
              ref::dpm_flow_mu);
        check(linear, solver_family::dpm_singlestep,
              {.steps = 10, .use_flow_sigmas = true, .flow_shift = std::exp(0.7)}, ref::single_flow_mu);
        check(linear, solver_family::deis,
              {.steps = 10,
               .last = schedule::final_sigma::sigma_min,
               .use_flow_sigmas = true,
               .flow_shift = std::exp(1.3)},
              ref::deis_flow_mu);
        check(linear, solver_family::unipc, {.steps = 10, .use_flow_sigmas = true, .mu = 0.9}, ref::unipc_flow_mu);
        check(linear, solver_family::unipc,
              {.steps = 10, .use_flow_sigmas = true, .mu = 2.0, .time_shift = schedule::time_shift_kind::linear},
              ref::unipc_flow_mu_linear);
        check(linear, solver_family::unipc,
              {.steps = 10, .use_flow_sigmas = true, .flow_shift = 3.0, .shift_terminal = 0.2},
              ref::unipc_flow_terminal);
    }
    SECTION("mu and shift_terminal only where diffusers applies them") {
        CHECK_THROWS_WITH(schedule::solver_sigma_grid(linear, solver_family::dpm_multistep,
                                                      {.steps = 4, .use_flow_sigmas = true, .mu = 1.0}),
                          Catch::Contains("mu = 1") && Catch::Contains("UniPCMultistepScheduler"));
        CHECK_THROWS_WITH(
            schedule::solver_sigma_grid(linear, solver_family::unipc, {.steps = 4, .shift_terminal = 0.1}),
            Catch::Contains("shift_terminal = 0.1") && Catch::Contains("use_flow_sigmas"));
        CHECK_THROWS_WITH(
            schedule::solver_sigma_grid(
                linear, solver_family::unipc,
                {.steps = 4, .use_flow_sigmas = true, .mu = -1.0, .time_shift = schedule::time_shift_kind::linear}),
            Catch::Contains("mu = -1") && Catch::Contains("linear"));
    }
}

// euler's renoise (FlowMatchEuler's stochastic_sampling, x' = x0 + sigma' z) is one update in two
// states: in the network's state it must be alpha' times the denoiser-state update.
TEMPLATE_TEST_CASE("euler renoise: the model-state step is alpha' times the denoiser-state step", "[grids][euler]",
                   float, double) {
    using T = TestType;
    const auto grid = schedule::vp_sigma_grid(sd_schedule<T>(), schedule::vp_sigma_options<T>{.steps = 5});
    const sampler::euler<T> in_denoiser({.prediction = predict::prediction::v_prediction, .renoise = true});
    const sampler::euler<T> in_model(
        {.prediction = predict::prediction::v_prediction, .space = sampler::state_space::model, .renoise = true});
    auto a = in_denoiser.start(grid, 64);
    auto b = in_model.start(grid, 64);
    Eigen::Array<T, Eigen::Dynamic, 1> x = fixtures::sample0<T>().head(64) * a.init_noise_sigma(),
                                       y = x * grid[0].alpha, out(64), z(64);
    for (diffuse::index k = 0; !a.done(); ++k) {
        const T alpha = grid[k].alpha;
        out = (alpha * x).sin();  // the same network output at the same network input
        z = fixtures::sample0<T>(true).head(64) - T(0.5);
        a.step(out, x, z);
        b.step(out, y, z);
        const T next_alpha = grid[k + 1].alpha;
        CHECK(((next_alpha * x - y).abs() / (y.abs() + T(1e-3))).maxCoeff() <=
              (std::is_same_v<T, float> ? 1e-5 : 1e-10));
    }
}
