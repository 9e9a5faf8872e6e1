// SASolverScheduler (sampler::sa_solver), FlowMapEulerDiscreteScheduler (euler on flow_map_grid),
// LTXEulerAncestralRFScheduler (sampler::rf_euler_ancestral), SCMScheduler (sampler::scm) and
// RePaintScheduler (sampler::repaint) against diffusers 58eb52c0
// (tests/reference_classes_flow_sa.hpp, tools/reference_classes_flow_sa.py): diffusers' loop A with
// the smooth model and injected noise of tools/reference_exponential.py, float32 and float64 runs.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

#include "diffuse/config/registry.hpp"
#include "diffuse/sampler/repaint.hpp"
#include "diffuse/sampler/rf_euler_ancestral.hpp"
#include "diffuse/sampler/sa_solver.hpp"
#include "diffuse/sampler/scm.hpp"
#include "diffuse/schedule/flow.hpp"
#include "exponential_test_support.hpp"
#include "reference_classes_flow_sa.hpp"

namespace {

using diffuse::index;
using exponential_test::array;
namespace config = diffuse::config;
namespace sampler = diffuse::sampler;
namespace schedule = diffuse::schedule;
using reference_classes_flow_sa::run;

// The worst of |a - b| / (|b| + 1e-2 max|b|) over the sample (exponential_test::check_sample's measure);
// DIFFUSE_REPORT_ERRORS=1 prints it.
template <class T, class V>
double worst_error(const array<T>& x, const std::vector<V>& expected, const char* label) {
    REQUIRE(static_cast<std::size_t>(x.size()) == expected.size());
    double scale = 0;
    for (const V v : expected) scale = std::max(scale, std::fabs(static_cast<double>(v)));
    double worst = 0;
    for (index i = 0; i < x.size(); ++i) {
        const double b = static_cast<double>(expected[static_cast<std::size_t>(i)]);
        worst = std::max(worst, std::fabs(static_cast<double>(x[i]) - b) / (std::fabs(b) + 1e-2 * scale));
    }
    if (std::getenv("DIFFUSE_REPORT_ERRORS") != nullptr)
        std::printf("measured %.2e: %s %s\n", worst, label, std::is_same_v<T, float> ? "float" : "double");
    return worst;
}

// float against diffusers' float32 run, double against its float64 run; `bound_float` and
// `bound_double` are about 10x the worst measured over the cases of a test.
template <class T>
void check_against(const array<T>& x, const run& expected, const char* label, double bound_float, double bound_double) {
    INFO(label);
    if constexpr (std::is_same_v<T, float>) {
        CHECK(worst_error(x, expected.sample, label) <= bound_float);
    } else {
        CHECK(worst_error(x, expected.sample64, label) <= bound_double);
    }
}

// The grid's sigmas in diffusers' convention (flow time s = alpha * sigma for flow grids) and its
// model times against the scheduler's.
template <class T>
void check_grid(const schedule::sigma_grid<T>& grid, const run& expected, bool flow) {
    REQUIRE(static_cast<std::size_t>(grid.steps() + 1) == expected.sigmas.size());
    for (index i = 0; i <= grid.steps(); ++i) {
        INFO("level " << i);
        const double s = static_cast<double>(grid[i].sigma), a = static_cast<double>(grid[i].alpha);
        // float: the float32 values themselves (a flow time of 1 is held as the float below 1: 6e-8);
        // double: diffusers' float32 training sigmas differ from double ones (measured 2.6e-4 relative
        // at the cosine schedule's t = 0, 8e-5 elsewhere).
        CHECK((flow ? s * a : s) == Approx(expected.sigmas[static_cast<std::size_t>(i)])
                                        .epsilon(std::is_same_v<T, float> ? 2e-6 : 3e-3)
                                        .margin(1e-12));
        // model times: integers (SASolver) or s * 1000 computed in T (float: 6e-5 absolute)
        if (i < grid.steps())
            CHECK(grid[i].model_time ==
                  Approx(expected.timesteps[static_cast<std::size_t>(i)]).epsilon(0).margin(1e-4));
    }
}

struct sa_case {
    const char* name;
    const run* expected;
    schedule::beta_schedule betas;
    schedule::solver_sigma_options grid;
    sampler::sa_solver_options<double> options;
    // the float run's measured worst difference from diffusers' float32 run; diffusers' float32 run
    // itself differs from its float64 run by about as much (3.6e-4 for the trailing SDE case)
    double float_measured;
};

constexpr auto linear = schedule::beta_schedule::linear;
constexpr auto scaled_linear = schedule::beta_schedule::scaled_linear;
constexpr auto cosine = schedule::beta_schedule::squaredcos_cap_v2;

std::vector<sa_case> sa_cases() {
    using namespace reference_classes_flow_sa;
    using diffuse::predict::prediction;
    const schedule::solver_sigma_options sigma_min{.last = schedule::final_sigma::sigma_min};
    auto with = [&](auto change) {
        auto g = sigma_min;
        change(g);
        return g;
    };
    return {
        {"default", &sa_default, linear, sigma_min, {}, 6.0e-6},
        {"order 3, v",
         &sa_order3_v,
         scaled_linear,
         sigma_min,
         {.prediction = prediction::v_prediction, .predictor_order = 3, .corrector_order = 3},
         1.2e-5},
        {"ODE, order 4",
         &sa_ode_order4,
         linear,
         sigma_min,
         {.predictor_order = 4, .corrector_order = 4, .tau = {.inside = 0, .outside = 0}},
         1.2e-5},
        {"SDE, trailing, no lower_order_final",
         &sa_sde_trailing_no_lower_final,
         linear,
         with([](auto& g) { g.timestep_spacing = schedule::spacing::trailing; }),
         {.predictor_order = 3, .corrector_order = 1, .lower_order_final = false, .tau = {.inside = 1, .outside = 1}},
         3.8e-4},
        {"noise prediction",
         &sa_noise_prediction,
         linear,
         sigma_min,
         {.predictor_order = 3, .corrector_order = 2, .data_prediction = false},
         3.5e-5},
        {"noise prediction, sample, SDE",
         &sa_noise_sample_sde,
         linear,
         sigma_min,
         {.prediction = prediction::sample, .data_prediction = false, .tau = {.inside = 1, .outside = 1}},
         1.1e-6},
        {"cosine, lambda_min_clipped, leading",
         &sa_cosine_clipped_leading,
         cosine,
         with([](auto& g) {
             g.timestep_spacing = schedule::spacing::leading;
             g.steps_offset = 1;
             g.lambda_min_clipped = -5.1;
         }),
         {.corrector_order = 3},
         7.5e-6},
        {"thresholding",
         &sa_thresholding,
         linear,
         sigma_min,
         {.prediction = prediction::sample, .thresholding = diffuse::predict::dynamic_thresholding<double>{0.9, 1.5}},
         1.5e-5},
    };
}

// diffusers' own VP levels (its float32 sigmas, alpha = 1/sqrt(1 + sigma^2), its timesteps): the
// grid of the float64 reference runs, which keep diffusers' float32 sigmas.
template <class T>
schedule::sigma_grid<T> reference_grid(const run& expected) {
    std::vector<schedule::noise_level<T>> levels;
    for (std::size_t i = 0; i < expected.sigmas.size(); ++i) {
        const T s = static_cast<T>(expected.sigmas[i]);
        levels.push_back(
            {s, T(1) / std::sqrt(s * s + T(1)), i < expected.timesteps.size() ? expected.timesteps[i] : 0.0});
    }
    return schedule::sigma_grid<T>(std::move(levels), T(1));
}

template <class T>
sampler::sa_solver_options<T> in(const sampler::sa_solver_options<double>& o) {
    sampler::sa_solver_options<T> out{.prediction = o.prediction,
                                      .predictor_order = o.predictor_order,
                                      .corrector_order = o.corrector_order,
                                      .data_prediction = o.data_prediction,
                                      .lower_order_final = o.lower_order_final,
                                      .tau = o.tau};
    if (o.thresholding)
        out.thresholding = diffuse::predict::dynamic_thresholding<T>{static_cast<T>(o.thresholding->ratio),
                                                                     static_cast<T>(o.thresholding->max_value)};
    return out;
}

}  // namespace

TEMPLATE_TEST_CASE("SA-Solver matches diffusers' SASolverScheduler element-wise", "[sa_solver][diffusers]", float,
                   double) {
    using T = TestType;
    for (const auto& c : sa_cases()) {
        INFO(c.name);
        const auto betas = c.betas == scaled_linear ? schedule::discrete<T>::scaled_linear()
                                                    : schedule::discrete<T>::named(c.betas, 1000, 1e-4, 0.02);
        const auto grid = schedule::solver_sigma_grid(betas, schedule::solver_family::dpm_multistep, [&] {
            auto g = c.grid;
            g.steps = static_cast<diffuse::index>(c.expected->timesteps.size());
            return g;
        }());
        check_grid(grid, *c.expected, false);
        // double: on diffusers' float32 sigmas, as the float64 reference run
        const auto on = std::is_same_v<T, float> ? grid : reference_grid<T>(*c.expected);
        const sampler::sa_solver<T> s(in<T>(c.options));
        diffuse::index draws = 0;
        array<T> x;
        if (c.options.tau.deterministic()) {  // no noise argument: the ODE needs none
            x = exponential_test::sample0<T>();
            diffuse::sample(exponential_test::smooth_model<T>, s, on, x);
        } else {
            x = exponential_test::loop_a<T>(s, on, &draws);
            CHECK(draws == c.expected->noise_draws);
        }
        // measured: float c.float_measured; double (float64 reference) 7.4e-13 at worst (trailing SDE)
        check_against(x, *c.expected, c.name, 10 * c.float_measured, 1e-11);
    }
}

TEMPLATE_TEST_CASE("SA-Solver's corrector and noise matter", "[sa_solver]", float, double) {
    using T = TestType;
    // The default run with the noise stream shifted by one draw ends far from diffusers' sample: the
    // parity above depends on drawing one noise per step, in diffusers' order.
    const auto& expected = reference_classes_flow_sa::sa_default;
    const auto grid =
        schedule::solver_sigma_grid(schedule::discrete<T>::linear(), schedule::solver_family::dpm_multistep,
                                    {.steps = 10, .last = schedule::final_sigma::sigma_min});
    const sampler::sa_solver<T> s;
    array<T> x = exponential_test::sample0<T>();
    exponential_test::injected_noise<T> shifted{.draws = 1};
    diffuse::sample(exponential_test::smooth_model<T>, s, grid, x, shifted);
    CHECK(worst_error(x, expected.sample64, "shifted noise") > 1e-2);
    // tau > 0 without noise is an error naming the noise
    array<T> y = exponential_test::sample0<T>();
    CHECK_THROWS_WITH(diffuse::sample(exponential_test::smooth_model<T>, s, grid, y), Catch::Contains("noise"));
    // a grid ending at sigma 0 is refused (lambda = inf)
    const auto to_zero = schedule::solver_sigma_grid(schedule::discrete<T>::linear(),
                                                     schedule::solver_family::dpm_multistep, {.steps = 10});
    CHECK_THROWS_WITH(s.start(to_zero, 4), Catch::Contains("levels.back().sigma"));
    CHECK_THROWS_WITH(sampler::sa_solver<T>({.predictor_order = 5}), Catch::Contains("predictor_order"));
    CHECK_THROWS_WITH(
        sampler::sa_solver<T>({.data_prediction = false, .thresholding = diffuse::predict::dynamic_thresholding<T>{}}),
        Catch::Contains("thresholding"));
}

TEMPLATE_TEST_CASE("FlowMapEuler and LTX Euler ancestral RF match diffusers element-wise", "[flow][diffusers]", float,
                   double) {
    using T = TestType;
    using namespace reference_classes_flow_sa;
    SECTION("FlowMapEulerDiscreteScheduler") {
        for (const auto& [expected, shift] : {std::pair{&flow_map_default, 1.0}, std::pair{&flow_map_shift3, 3.0}}) {
            const auto grid =
                schedule::flow_map_grid<T>(static_cast<diffuse::index>(expected->timesteps.size()), 1000, shift);
            check_grid(grid, *expected, true);
            const sampler::euler<T> s(
                {.prediction = diffuse::predict::prediction::flow_velocity, .space = sampler::state_space::model});
            const auto x = exponential_test::loop_a<T>(s, grid);
            // measured: float 4.9e-7, double 1.0e-15
            check_against(x, *expected, "flow map", 5e-6, 1e-14);
        }
    }
    SECTION("LTXEulerAncestralRFScheduler") {
        // diffusers computes LTX's step in float32 even for float64 samples: both runs are float32
        // data, so the double run is bounded by the float32 rounding.
        for (const auto& [expected, eta, s_noise] :
             {std::tuple{&ltx_default, 1.0, 1.0}, std::tuple{&ltx_eta_half, 0.5, 0.8},
              std::tuple{&ltx_eta_zero, 0.0, 1.0}}) {
            const auto grid =
                schedule::flow_match_grid<T>({.steps = static_cast<diffuse::index>(expected->timesteps.size())});
            check_grid(grid, *expected, true);
            const sampler::rf_euler_ancestral<T> s({.eta = static_cast<T>(eta), .s_noise = static_cast<T>(s_noise)});
            diffuse::index draws = 0;
            const auto x = exponential_test::loop_a<T>(s, grid, &draws);
            CHECK(draws == expected->noise_draws);
            // measured: float 2.2e-5, double 1.4e-5 (eta 1)
            INFO("eta " << eta);
            CHECK(worst_error(x, expected->sample, "ltx") <= 2e-4);
        }
    }
}

TEMPLATE_TEST_CASE("the facade builds the three classes from their diffusers keys", "[config][diffusers]", float,
                   double) {
    using T = TestType;
    using namespace reference_classes_flow_sa;
    const auto sample_with = [](const std::string& name, const config::options& o, diffuse::index steps, bool noisy) {
        const auto s = config::make_sampler<T>(name, o);
        array<T> x = exponential_test::sample0<T>();
        exponential_test::injected_noise<T> noise;
        if (noisy) {
            diffuse::sample(exponential_test::smooth_model<T>, s, steps, x, noise);
        } else {
            diffuse::sample(exponential_test::smooth_model<T>, s, steps, x);
        }
        return x;
    };
    // measured: float 1.2e-5 / 4.9e-7 / 1.4e-5; double 2.6e-5 (the facade's grid has double training
    // sigmas, the float64 reference diffusers' float32 ones) / 1.0e-15 / 1.4e-5
    check_against(sample_with("SASolverScheduler",
                              {{"predictor_order", 3},
                               {"corrector_order", 3},
                               {"prediction_type", "v_prediction"},
                               {"beta_schedule", "scaled_linear"},
                               {"beta_start", 0.00085},
                               {"beta_end", 0.012}},
                              12, true),
                  sa_order3_v, "facade SASolver", 1.2e-4, 3e-4);
    check_against(sample_with("FlowMapEulerDiscreteScheduler", {{"shift", 3.0}}, 8, false), flow_map_shift3,
                  "facade FlowMapEuler", 5e-6, 1e-14);
    CHECK(worst_error(sample_with("LTXEulerAncestralRFScheduler", {{"eta", 0.5}, {"s_noise", 0.8}}, 8, true),
                      ltx_eta_half.sample, "facade LTX") <= 2e-4);

    // Values diffusers would honour and this library cannot are errors naming the key.
    CHECK_THROWS_WITH(config::make_sampler<T>("SASolverScheduler", {{"use_karras_sigmas", true}}),
                      Catch::Contains("use_karras"));
    CHECK_THROWS_WITH(config::make_sampler<T>("SASolverScheduler", {{"use_flow_sigmas", true}}),
                      Catch::Contains("use_flow_sigmas"));
    CHECK_THROWS_WITH(config::make_sampler<T>("SASolverScheduler", {{"tau_func", "lambda t: 0"}}),
                      Catch::Contains("tau_func"));
    CHECK_THROWS_WITH(config::make_sampler<T>("SASolverScheduler", {{"algorithm_type", "dpmsolver++"}}),
                      Catch::Contains("algorithm_type"));
    CHECK_THROWS_WITH(config::make_sampler<T>("SASolverScheduler", {{"prediction_type", "flow_prediction"}}),
                      Catch::Contains("prediction_type"));
    CHECK_THROWS_WITH(config::make_sampler<T>("FlowMapEulerDiscreteScheduler", {{"shift", -1.0}}),
                      Catch::Contains("shift"));
    CHECK_THROWS_WITH(config::make_sampler<T>("LTXEulerAncestralRFScheduler", {{"eta", -0.5}}), Catch::Contains("eta"));
}

TEMPLATE_TEST_CASE("SCM matches diffusers' SCMScheduler element-wise", "[scm][diffusers]", float, double) {
    using T = TestType;
    using namespace reference_classes_flow_sa;
    for (const auto& [expected, steps, intermediate, sigma_data] :
         {std::tuple{&scm_default, 2, std::optional<double>(1.3), 0.5},
          std::tuple{&scm_linspace, 4, std::optional<double>(), 0.7}}) {
        const auto angles = sampler::scm_angles(steps, 1.5708, intermediate);
        REQUIRE(angles.size() == expected->sigmas.size());
        for (std::size_t i = 0; i < angles.size(); ++i)  // float32 values, both
            CHECK(angles[i] == Approx(expected->sigmas[i]).epsilon(1e-7).margin(1e-12));
        const sampler::scm<T> s({.sigma_data = static_cast<T>(sigma_data)});
        array<T> x = exponential_test::sample0<T>();
        exponential_test::injected_noise<T> noise;
        diffuse::sample(exponential_test::smooth_model<T>, s, angles, x, noise);
        CHECK(noise.draws == expected->noise_draws);
        // measured: float 9.6e-6 (linspace; 5.7e-7 default), double 9.0e-15
        check_against(x, *expected, "scm", 1e-4, 1e-13);
    }
    // the facade: diffusers' keys, set_timesteps' angles as options
    const auto facade = config::make_sampler<T>("SCMScheduler", {{"sigma_data", 0.7}, {"prediction_type", "trigflow"}});
    array<T> x = exponential_test::sample0<T>();
    exponential_test::injected_noise<T> noise;
    diffuse::sample(exponential_test::smooth_model<T>, facade, 4, x, noise);
    check_against(x, scm_linspace, "facade scm", 1e-4, 1e-13);  // measured as above
    CHECK_THROWS_WITH(config::make_sampler<T>("SCMScheduler", {{"prediction_type", "epsilon"}}),
                      Catch::Contains("prediction_type"));
    CHECK_THROWS_WITH(sampler::scm_angles(3, 1.5708, 1.3), Catch::Contains("intermediate_timesteps"));
    // the last step (angle 0) needs no noise; a step to an angle > 0 does
    const sampler::scm<T> s;
    array<T> y = exponential_test::sample0<T>();
    CHECK_THROWS_WITH(diffuse::sample(exponential_test::smooth_model<T>, s, sampler::scm_angles(2), y),
                      Catch::Contains("noise"));
    const std::vector<double> one_step{1.5, 0.0};
    CHECK_NOTHROW(diffuse::sample(exponential_test::smooth_model<T>, s, one_step, y));
}

namespace {

// tools/reference_classes_flow_sa.py's known_image() and repaint_mask() over the flat sample.
template <class T>
std::vector<T> known_image() {
    const array<T> x = exponential_test::sample0<T>();
    std::vector<T> out;
    for (diffuse::index i = 0; i < x.size(); ++i) out.push_back(x[i] * T(1.5) - T(0.5));
    return out;
}

template <class T>
std::vector<T> repaint_mask() {
    std::vector<T> out;
    for (int i = 0; i < 192; ++i) out.push_back(i % 3 == 0 ? T(1) : i % 3 == 1 && i % 5 == 0 ? T(0.5) : T(0));
    return out;
}

}  // namespace

TEMPLATE_TEST_CASE("RePaint matches diffusers' RePaintScheduler with its jumps element-wise", "[repaint][diffusers]",
                   float, double) {
    using T = TestType;
    using namespace reference_classes_flow_sa;
    struct repaint_case {
        const run* expected;
        diffuse::index steps, jump_length, jump_n_sample;
        double eta;
        bool clip, scaled;
    };
    for (const auto& c : {repaint_case{&repaint_jumps, 10, 3, 2, 0.0, true, false},
                          repaint_case{&repaint_eta_scaled, 8, 2, 3, 0.7, false, true}}) {
        const auto grid = sampler::repaint_timesteps(1000, c.steps, c.jump_length, c.jump_n_sample);
        REQUIRE(grid.size() == c.expected->timesteps.size());
        for (std::size_t i = 0; i < grid.size(); ++i) CHECK(static_cast<double>(grid[i]) == c.expected->timesteps[i]);
        const sampler::repaint<T> s(c.scaled ? schedule::discrete<T>::scaled_linear() : schedule::discrete<T>::linear(),
                                    {.eta = static_cast<T>(c.eta),
                                     .clip_sample = c.clip,
                                     .known_image = known_image<T>(),
                                     .mask = repaint_mask<T>()});
        array<T> x = exponential_test::sample0<T>();
        exponential_test::injected_noise<T> noise;
        diffuse::index evaluations = 0;
        const auto counted = [&](diffuse::const_view<T> in, double t, diffuse::view<T> out) {
            ++evaluations;
            exponential_test::smooth_model<T>(in, t, out);
        };
        diffuse::sample(counted, s, grid, x, noise);
        CHECK(noise.draws == c.expected->noise_draws);  // the steps' draws and the jumps' (T // n each)
        // the model runs on the steps down only
        diffuse::index down = 1;
        for (std::size_t i = 1; i < grid.size(); ++i) down += grid[i] < grid[i - 1] ? 1 : 0;
        CHECK(evaluations == down);
        // measured: float 1.3e-5, double 1.5e-14
        check_against(x, *c.expected, "repaint", 1.3e-4, 2e-13);
    }
    // the facade: the task as options
    std::vector<double> image, mask;
    for (const T v : known_image<T>()) image.push_back(static_cast<double>(v));
    for (const T v : repaint_mask<T>()) mask.push_back(static_cast<double>(v));
    const auto facade = config::make_sampler<T>(
        "RePaintScheduler", {{"known_image", image}, {"mask", mask}, {"jump_length", 3}, {"jump_n_sample", 2}});
    array<T> x = exponential_test::sample0<T>();
    exponential_test::injected_noise<T> noise;
    diffuse::sample(exponential_test::smooth_model<T>, facade, 10, x, noise);
    check_against(x, repaint_jumps, "facade repaint", 1.3e-4, 2e-13);  // measured as above
    CHECK_THROWS_WITH(config::make_sampler<T>("RePaintScheduler"), Catch::Contains("known_image"));
    CHECK_THROWS_WITH(config::make_sampler<T>("RePaintScheduler", {{"known_image", image}, {"mask", image}}),
                      Catch::Contains("mask["));
    CHECK_THROWS_WITH(sampler::repaint_timesteps(1000, 10, 0), Catch::Contains("jump_length"));
    // every step draws (the known part is re-noised): no noise is an error naming it
    const sampler::repaint<T> s(schedule::discrete<T>::linear(),
                                {.known_image = known_image<T>(), .mask = repaint_mask<T>()});
    array<T> y = exponential_test::sample0<T>();
    CHECK_THROWS_WITH(diffuse::sample(exponential_test::smooth_model<T>, s, sampler::repaint_timesteps(1000, 4), y),
                      Catch::Contains("noise"));
}
