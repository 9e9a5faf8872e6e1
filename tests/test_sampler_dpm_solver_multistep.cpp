// DPM-Solver / DPM-Solver++ multistep against diffusers' DPMSolverMultistepScheduler
// (tests/schedulers/test_scheduler_dpm_multi.py, snapshot 58eb52c0, values in
// shared/reference/diffusers_tests.md) and element by element against the scheduler itself
// (tests/reference_exponential.hpp, tools/reference_exponential.py).
#include <catch2/catch.hpp>

#include <limits>
#include <vector>

#include "diffuse/sampler/dpm_solver_multistep.hpp"
#include "diffuse/sampler/sample.hpp"
#include "diffuse/schedule/solver_sigmas.hpp"
#include "diffusers_fixtures.hpp"
#include "exponential_test_support.hpp"

using namespace diffuse;
using schedule::final_sigma;
using schedule::solver_family;
using schedule::solver_sigma_kind;
using options = sampler::dpm_solver_multistep_options<double>;
template <class T>
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

namespace {

// Loop A of diffusers' tests with their dummy model (out = x t / (t + 1)) on the 768-value fixture.
template <class T, class Sampler>
array<T> dummy_loop(const Sampler& s, const schedule::sigma_grid<T>& grid, array<T> x) {
    auto run = s.start(grid, x.size());
    array<T> out(x.size());
    while (!run.done()) {
        fixtures::dummy_model<T>(x, run.model_time(), out);
        run.step(out, x);
    }
    return x;
}

// The test-suite configuration: T = 1000 linear, order 2, dpmsolver++, midpoint,
// lower_order_final = False, final_sigmas_type = "sigma_min", 10 steps.
template <class T>
schedule::sigma_grid<T> suite_grid(solver_sigma_kind kind = solver_sigma_kind::timesteps) {
    return schedule::solver_sigma_grid(schedule::discrete<T>::linear(), solver_family::dpm_multistep,
                                       {.steps = 10, .sigmas = kind, .last = final_sigma::sigma_min});
}

template <class T>
sampler::dpm_solver_multistep<T> suite_sampler(predict::prediction p = predict::prediction::epsilon) {
    return sampler::dpm_solver_multistep<T>({.prediction = p, .lower_order_final = false});
}

template <class T>
sampler::dpm_solver_multistep_options<T> cast(const options& o) {
    sampler::dpm_solver_multistep_options<T> out{.prediction = o.prediction,
                                                 .algorithm = o.algorithm,
                                                 .solver_order = o.solver_order,
                                                 .solver_type = o.solver_type,
                                                 .lower_order_final = o.lower_order_final,
                                                 .euler_at_final = o.euler_at_final};
    if (o.thresholding)
        out.thresholding = predict::dynamic_thresholding<T>{static_cast<T>(o.thresholding->ratio),
                                                            static_cast<T>(o.thresholding->max_value)};
    return out;
}

// One recorded diffusers run: its schedule, grid options and sampler options.
struct parity_case {
    const char* name;
    const reference_exponential::run* expected;
    bool scaled_linear;
    bool zero_snr;
    schedule::solver_sigma_options grid;
    options sampler;
};

const std::vector<parity_case>& parity_cases() {
    using predict::prediction;
    using sampler::dpm_algorithm;
    namespace ref = reference_exponential;
    static const std::vector<parity_case> cases{
        {"scaled_linear, defaults", &ref::dpm_scaled_linear, true, false, {.steps = 10}, {}},
        {"karras + v_prediction + heun",
         &ref::dpm_karras_v_heun,
         true,
         false,
         {.steps = 10, .sigmas = solver_sigma_kind::karras},
         {.prediction = prediction::v_prediction, .solver_type = sampler::dpm_solver_type::heun}},
        {"order 3", &ref::dpm_order3, false, false, {.steps = 12}, {.solver_order = 3}},
        {"dpmsolver order 3 heun, sample prediction, sigma_min",
         &ref::dpm_noise_order3_sample,
         false,
         false,
         {.steps = 12, .last = final_sigma::sigma_min},
         {.prediction = prediction::sample,
          .algorithm = dpm_algorithm::dpmsolver,
          .solver_order = 3,
          .solver_type = sampler::dpm_solver_type::heun,
          .lower_order_final = false}},
        {"zero terminal SNR, trailing, v_prediction",
         &ref::dpm_zero_snr_trailing_v,
         true,
         true,
         {.steps = 10, .timestep_spacing = schedule::spacing::trailing},
         {.prediction = prediction::v_prediction}},
        {"sde-dpmsolver++ with injected noise",
         &ref::dpm_sde_pp,
         true,
         false,
         {.steps = 10},
         {.algorithm = dpm_algorithm::sde_dpmsolver_pp}},
        {"sde-dpmsolver++ order 3 heun with injected noise",
         &ref::dpm_sde_pp_order3_heun,
         false,
         false,
         {.steps = 12},
         {.algorithm = dpm_algorithm::sde_dpmsolver_pp,
          .solver_order = 3,
          .solver_type = sampler::dpm_solver_type::heun}},
        {"sde-dpmsolver, euler_at_final, sigma_min, with injected noise",
         &ref::dpm_sde_noise,
         false,
         false,
         {.steps = 10, .last = final_sigma::sigma_min},
         {.algorithm = dpm_algorithm::sde_dpmsolver, .euler_at_final = true}},
        {"dynamic thresholding, sample prediction",
         &ref::dpm_thresholding,
         false,
         false,
         {.steps = 10},
         {.prediction = prediction::sample, .thresholding = predict::dynamic_thresholding<double>{0.9, 1.5}}},
        {"dpmsolver (noise) with dynamic thresholding: eps recomputed from the thresholded x0, sigma_min",
         &ref::dpm_noise_thresholding,
         false,
         false,
         {.steps = 10, .last = final_sigma::sigma_min},
         {.algorithm = dpm_algorithm::dpmsolver, .thresholding = predict::dynamic_thresholding<double>{0.9, 1.5}}},
        {"flow sigmas, flow_shift 3, flow_prediction",
         &ref::dpm_flow,
         false,
         false,
         {.steps = 10, .use_flow_sigmas = true, .flow_shift = 3.0},
         {.prediction = prediction::flow_velocity}},
        {"exponential sigmas",
         &ref::dpm_exponential_leading,
         false,
         false,
         {.steps = 10,
          .sigmas = solver_sigma_kind::exponential,
          .timestep_spacing = schedule::spacing::leading,
          .steps_offset = 1},
         {}},
        {"Lu lambdas, order 3",
         &ref::dpm_lu_lambdas,
         false,
         false,
         {.steps = 10, .sigmas = solver_sigma_kind::lu_lambdas},
         {.solver_order = 3}},
    };
    return cases;
}

}  // namespace

TEMPLATE_TEST_CASE("DPM-Solver++(2M) reproduces diffusers' test-suite values", "[dpm_solver_multistep][diffusers]",
                   float, double) {
    using T = TestType;
    SECTION("test_full_loop_no_noise: M=0.3301") {
        const auto x = dummy_loop<T>(suite_sampler<T>(), suite_grid<T>(), fixtures::sample0<T>());
        CHECK(static_cast<double>(x.abs().mean()) == Approx(0.3301).epsilon(0).margin(5e-4));  // 4.7e-5
    }
    SECTION("test_full_loop_with_v_prediction: M=0.2251") {
        const auto x =
            dummy_loop<T>(suite_sampler<T>(predict::prediction::v_prediction), suite_grid<T>(), fixtures::sample0<T>());
        CHECK(static_cast<double>(x.abs().mean()) ==
              Approx(0.2251).epsilon(0).margin(5e-5));  // 3.7e-6 (the value is printed to 1e-4)
    }
    SECTION("test_full_loop_with_karras_and_v_prediction: M=0.2096") {
        const auto x = dummy_loop<T>(suite_sampler<T>(predict::prediction::v_prediction),
                                     suite_grid<T>(solver_sigma_kind::karras), fixtures::sample0<T>());
        CHECK(static_cast<double>(x.abs().mean()) ==
              Approx(0.2096).epsilon(0).margin(1e-3));  // 4.0e-4: diffusers' float32 Karras sigmas
        // (kept at 2.5x; dpm_karras_v_heun's element-wise trace holds this path to float precision)
    }
    SECTION("test_full_loop_with_noise, t_start = 5: S=318.4111, M=0.4146") {
        // ts = timesteps[5:], x = add_noise(sample0, noise0, ts[0]): a run over the last 5 levels.
        const auto full = suite_grid<T>();
        const auto levels = full.levels();
        const schedule::sigma_grid<T> tail(std::vector<schedule::noise_level<T>>(levels.begin() + 5, levels.end()),
                                           T(1));
        const T alpha = tail[0].alpha, sigma = tail[0].model_sigma();
        const array<T> x = alpha * fixtures::sample0<T>() + sigma * fixtures::noise0<T>();
        const auto result = dummy_loop<T>(suite_sampler<T>(), tail, x);
        CHECK(static_cast<double>(result.abs().sum()) == Approx(318.4111).epsilon(0).margin(2e-2));  // 1.9e-3
        CHECK(static_cast<double>(result.abs().mean()) ==
              Approx(0.4146).epsilon(0).margin(5e-5));  // 2.1e-6 (printed to 1e-4)
    }
}

TEMPLATE_TEST_CASE("DPM-Solver multistep agrees element-wise with diffusers' DPMSolverMultistepScheduler",
                   "[dpm_solver_multistep][diffusers]", float, double) {
    using T = TestType;
    for (const auto& c : parity_cases()) {
        INFO(c.name);
        auto betas = c.scaled_linear ? schedule::discrete<T>::scaled_linear() : schedule::discrete<T>::linear();
        if (c.zero_snr) betas = betas.rescaled_zero_terminal_snr();
        const auto grid = schedule::solver_sigma_grid(betas, solver_family::dpm_multistep, c.grid);
        exponential_test::check_grid(grid, *c.expected, c.grid.use_flow_sigmas);
        diffuse::index draws = 0;
        const auto x = exponential_test::loop_a<T>(sampler::dpm_solver_multistep<T>(cast<T>(c.sampler)), grid, &draws);
        CHECK(draws == c.expected->noise_draws);
        // float32 against float32 data: 1e-4 (1e-3 with noise); double against the same data: 1e-3.
        const bool noisy = c.expected->noise_draws > 0;
        exponential_test::check_sample(x, c.expected->sample, std::is_same_v<T, float> && !noisy ? 1e-4 : 1e-3);
    }
}
