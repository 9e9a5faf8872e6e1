// The runtime facade for the modern samplers: every registered diffusers class, built from the
// keys of its scheduler_config.json, reproduces values the family tests assert against diffusers
// 58eb52c0 (the published test-suite numbers of shared/reference/diffusers_tests.md and the
// element-wise runs of tools/reference_kdiffusion.py / tools/reference_exponential.py); the
// k-diffusion names reproduce k-diffusion's sampling.py traces; the options of issue 3 (beta sigmas,
// dynamic shift, shift_terminal, EDMEulerScheduler) reproduce tools/reference_options.py's diffusers
// runs; bad configs are errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "diffuse/config/scheduler_config.hpp"
#include "diffuse/sampler/detail/cache_blocks.hpp"
#include "diffuse/sampler/sample.hpp"
#include "exponential_test_support.hpp"
#include "kdiffusion_test_support.hpp"
#include "pndm_consistency_test_support.hpp"
#include "reference_discrete.hpp"
#include "reference_grids.hpp"
#include "reference_options.hpp"
#include "reference_score_sde_ve.hpp"

using namespace diffuse;
using Catch::Contains;
template <class T>
using array = Eigen::Array<T, Eigen::Dynamic, 1>;
using json = nlohmann::json;

namespace {

template <class T>
config::any_sampler<T> from_json(const char* text) {
    return config::from_scheduler_config<T>(json::parse(text));
}

// Loop B of diffusers' tests: x starts at sample0 * init_noise_sigma and each step overwrites x
// with the scaled model input (as kdiffusion's loop_b in test_sampler_kdiffusion_diffusers.cpp).
template <class T>
double loop_b_sum(const config::any_sampler<T>& s, diffuse::index steps) {
    auto run = s.start(steps, fixtures::size);
    array<T> x = fixtures::sample0<T>() * run.init_noise_sigma(), out(x.size());
    while (!run.done()) {
        x *= run.input_scale();
        fixtures::dummy_model<T>(x, run.model_time(), out);
        run.step(out, x);
    }
    return static_cast<double>(x.abs().sum());
}

// Loop A (x is the network's state) with the dummy model.
template <class T>
array<T> loop_a(const config::any_sampler<T>& s, diffuse::index steps) {
    array<T> x = fixtures::sample0<T>();
    diffuse::sample([](const_view<T> in, double t, view<T> out) { fixtures::dummy_model<T>(in, t, out); }, s, steps, x);
    return x;
}

// A recorded k-diffusion-form trace (tools/reference_kdiffusion.py) through the erased sampler.
template <class T>
void check_trace(const config::any_sampler<T>& s, const reference_kdiffusion::trace& tr, bool noisy) {
    const auto steps = static_cast<diffuse::index>(tr.sigmas.size()) - 1;
    CHECK(static_cast<double>(s.start(steps, kdtest::trace_size).init_noise_sigma()) ==
          Approx(tr.init_noise_sigma).epsilon(4e-6).margin(0));  // 3.9e-7
    array<T> x = kdtest::trace_sample0<T>() * static_cast<T>(tr.init_noise_sigma);
    std::vector<double> times;
    const auto model = [&](const_view<T> in, double t, view<T> out) {
        times.push_back(t);
        kdtest::smooth<T>(in, t, out);
    };
    kdtest::replay<T> noise{&tr.noise};
    if (noisy) {
        diffuse::sample(model, s, steps, x, noise);
    } else {
        diffuse::sample(model, s, steps, x);
    }
    if (!tr.accepted) kdtest::require_times(times, tr.model_times);
    CHECK(noise.all_used());
    kdtest::require_close<T>(x, tr.x, kdtest::tolerance<T>(noisy));
}

// diffusers' EulerAncestral draws the noise of its last step too (sigma_up = 0 multiplies it away) and
// so does the facade; tools/reference_kdiffusion.py drops that draw from its traces: put a stand-in back.
reference_kdiffusion::trace with_final_draw(reference_kdiffusion::trace tr) {
    tr.noise.resize(tr.noise.size() + kdtest::trace_size, 0.0f);
    return tr;
}

// A recorded exponential-integrator run (tools/reference_exponential.py): loop A, injected noise.
template <class T>
void check_run(const config::any_sampler<T>& s, diffuse::index steps, const reference_exponential::run& expected) {
    array<T> x = exponential_test::sample0<T>();
    exponential_test::injected_noise<T> noise;
    diffuse::sample(exponential_test::smooth_model<T>, s, steps, x, noise);
    const bool noisy = expected.noise_draws > 0;
    CHECK(noise.draws == expected.noise_draws);
    exponential_test::check_sample(x, expected.sample, std::is_same_v<T, float> && !noisy ? 1e-4 : 1e-3);
}

constexpr const char* sd = R"("beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012)";

std::string with_sd(const std::string& head, const std::string& tail = "") {
    return "{" + head + ", " + sd + (tail.empty() ? "" : ", " + tail) + "}";
}

}  // namespace

TEMPLATE_TEST_CASE("k-diffusion-form classes reproduce diffusers' published test values through the facade",
                   "[config][diffusers]", float, double) {
    using T = TestType;
    // tests/schedulers/test_scheduler_{heun,kdpm2_discrete,lms}.py: T = 1100 linear 1e-4..0.02, 10 steps, loop B.
    const std::string suite =
        R"("num_train_timesteps": 1100, "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear")";
    const auto make = [&](const std::string& cls, const std::string& extra = "") {
        return from_json<T>(("{\"_class_name\": \"" + cls + "\", " + suite + extra + "}").c_str());
    };
    // Against the same loops run by diffusers 58eb52c0 itself in float32 (tools/reference_kdiffusion.py;
    // they agree with the published values to the 1e-2 absolute tolerance diffusers' tests use, which
    // would pass any sum below 0.01): relative slack only, the sums span 5e-7 to 4e3.
    // Bounds at about 10x the measured relative difference (float, double; the double runs differ
    // by diffusers' float32 rounding, most on the Karras grids).
    namespace ref = reference_kdiffusion;
    const auto check = [&](const std::string& cls, const std::string& extra, const ref::full_loop& diffusers,
                           double float_rel, double double_rel) {
        const double rel = std::is_same_v<T, float> ? float_rel : double_rel;
        CHECK(loop_b_sum(make(cls, extra), 10) == Approx(diffusers.sum).epsilon(rel).margin(0));
    };
    const std::string v = R"(, "prediction_type": "v_prediction")", karras = R"(, "use_karras_sigmas": true)";
    check("HeunDiscreteScheduler", "", ref::heun_no_noise, 3e-6, 2e-6);       // 3.0e-7, 1.1e-7; published S=0.1233
    check("HeunDiscreteScheduler", v, ref::heun_v_prediction, 2e-5, 1e-5);    // 1.3e-6, 9.3e-7; S=4.6934e-07
    check("HeunDiscreteScheduler", karras, ref::heun_karras, 3e-5, 9e-3);     // 2.4e-6, 9.0e-4; S=0.00015
    check("KDPM2DiscreteScheduler", "", ref::kdpm2_no_noise, 2e-5, 1e-5);     // 1.2e-6, 8.8e-7; S=20.4125
    check("KDPM2DiscreteScheduler", v, ref::kdpm2_v_prediction, 6e-6, 3e-5);  // 6.0e-7, 2.5e-6; S (Heun's)
    check("KDPM2DiscreteScheduler", karras, ref::kdpm2_karras, 2e-5, 7e-4);   // 1.6e-6, 7.0e-5; rounded times
    check("LMSDiscreteScheduler", "", ref::lms_no_noise, 3e-6, 9e-5);         // 2.4e-7, 8.8e-6; S=1006.388
    check("LMSDiscreteScheduler", v, ref::lms_v_prediction, 4e-6, 8e-5);      // 4.0e-7, 7.8e-6; S=0.0017
    check("LMSDiscreteScheduler", karras, ref::lms_karras, 3e-6, 9e-5);       // 2.6e-7, 8.2e-6; S=3812.9927
}

TEMPLATE_TEST_CASE(
    "exponential-integrator classes and PNDM reproduce diffusers' published test values through the facade",
    "[config][diffusers]", float, double) {
    using T = TestType;
    // diffusers_tests.md: DPMSolverMultistep (order 2, dpmsolver++, midpoint, lower_order_final False,
    // sigma_min) M=0.3301, v_prediction M=0.2251; UniPC (order 2, bh2, sigma_min) M=0.2464.
    const auto dpm =
        R"({"_class_name": "DPMSolverMultistepScheduler", "lower_order_final": false, "final_sigmas_type": "sigma_min")";
    CHECK(static_cast<double>(loop_a(from_json<T>((std::string(dpm) + "}").c_str()), 10).abs().mean()) ==
          Approx(0.3301).epsilon(0).margin(5e-4));  // 4.7e-5
    CHECK(static_cast<double>(
              loop_a(from_json<T>((std::string(dpm) + R"(, "prediction_type": "v_prediction"})").c_str()), 10)
                  .abs()
                  .mean()) == Approx(0.2251).epsilon(0).margin(5e-5));  // 3.7e-6 (printed to 1e-4)
    const auto unipc = from_json<T>(R"({"_class_name": "UniPCMultistepScheduler", "final_sigmas_type": "sigma_min"})");
    CHECK(static_cast<double>(loop_a(unipc, 10).abs().mean()) == Approx(0.2464).epsilon(0).margin(5e-5));  // 4.6e-6
    // test_scheduler_pndm.py test_full_loop_no_noise: S=198.1318 M=0.2580.
    const auto pndm = from_json<T>(R"({"_class_name": "PNDMScheduler"})");
    CHECK(static_cast<double>(loop_a(pndm, 10).abs().sum()) == Approx(198.1318).epsilon(0).margin(6e-4));  // 6.1e-5
}

TEMPLATE_TEST_CASE("Euler-family classes agree element-wise with diffusers' recorded runs through the facade",
                   "[config][diffusers]", float, double) {
    using T = TestType;
    namespace ref = reference_kdiffusion;
    // Stable Diffusion's scheduler config (leading spacing, steps_offset 1) and Karras + v_prediction.
    const std::string leading = R"("timestep_spacing": "leading", "steps_offset": 1)";
    const std::string karras_v = R"("use_karras_sigmas": true, "prediction_type": "v_prediction")";
    SECTION("EulerAncestralDiscreteScheduler, injected noise") {
        check_trace(from_json<T>(with_sd(R"("_class_name": "EulerAncestralDiscreteScheduler")", leading).c_str()),
                    with_final_draw(ref::diffusers_euler_ancestral_sd), true);
    }
    SECTION("EulerAncestralDiscreteScheduler, v_prediction, zero terminal SNR, trailing, injected noise") {
        check_trace(
            from_json<T>(
                with_sd(
                    R"("_class_name": "EulerAncestralDiscreteScheduler")",
                    R"("rescale_betas_zero_snr": true, "timestep_spacing": "trailing", "prediction_type": "v_prediction")")
                    .c_str()),
            with_final_draw(ref::diffusers_euler_ancestral_v_zero_snr), true);
    }
    SECTION("HeunDiscreteScheduler") {
        check_trace(from_json<T>(with_sd(R"("_class_name": "HeunDiscreteScheduler")", leading).c_str()),
                    ref::diffusers_heun_sd, false);
        check_trace(from_json<T>(with_sd(R"("_class_name": "HeunDiscreteScheduler")", karras_v).c_str()),
                    ref::diffusers_heun_karras_v, false);
    }
    SECTION("KDPM2DiscreteScheduler") {
        check_trace(from_json<T>(with_sd(R"("_class_name": "KDPM2DiscreteScheduler")", leading).c_str()),
                    ref::diffusers_kdpm2_sd, false);
        check_trace(from_json<T>(with_sd(R"("_class_name": "KDPM2DiscreteScheduler")", karras_v).c_str()),
                    ref::diffusers_kdpm2_karras_v, false);
    }
    SECTION("KDPM2AncestralDiscreteScheduler, injected noise") {
        check_trace(from_json<T>(with_sd(R"("_class_name": "KDPM2AncestralDiscreteScheduler")", leading).c_str()),
                    ref::diffusers_kdpm2_ancestral_sd, true);
        check_trace(from_json<T>(with_sd(R"("_class_name": "KDPM2AncestralDiscreteScheduler")", karras_v).c_str()),
                    ref::diffusers_kdpm2_ancestral_karras_v, true);
    }
    SECTION("LMSDiscreteScheduler") {
        check_trace(from_json<T>(with_sd(R"("_class_name": "LMSDiscreteScheduler")", leading).c_str()),
                    ref::diffusers_lms_sd, false);
        check_trace(from_json<T>(with_sd(R"("_class_name": "LMSDiscreteScheduler")", karras_v).c_str()),
                    ref::diffusers_lms_karras_v, false);
    }
    SECTION("DPMSolverSDEScheduler, replayed noise (noise_sampler_seed null: the caller's noise)") {
        check_trace(from_json<T>(with_sd(R"("_class_name": "DPMSolverSDEScheduler")",
                                         leading + R"(, "noise_sampler_seed": null)")
                                     .c_str()),
                    ref::diffusers_dpmpp_sde_sd, true);
        check_trace(from_json<T>(with_sd(R"("_class_name": "DPMSolverSDEScheduler")", karras_v).c_str()),
                    ref::diffusers_dpmpp_sde_karras_v, true);
    }
}

TEMPLATE_TEST_CASE("exponential-integrator classes agree element-wise with diffusers' recorded runs through the facade",
                   "[config][diffusers]", float, double) {
    using T = TestType;
    namespace ref = reference_exponential;
    const auto make = [](const std::string& body) { return from_json<T>(("{" + body + "}").c_str()); };
    const std::string sdk = std::string(", ") + sd;
    SECTION("DPMSolverMultistepScheduler") {
        check_run(make(R"("_class_name": "DPMSolverMultistepScheduler")" + sdk), 10, ref::dpm_scaled_linear);
        check_run(
            make(
                R"("_class_name": "DPMSolverMultistepScheduler", "use_karras_sigmas": true, "prediction_type": "v_prediction", "solver_type": "heun")" +
                sdk),
            10, ref::dpm_karras_v_heun);
        check_run(
            make(
                R"("_class_name": "DPMSolverMultistepScheduler", "solver_order": 3, "algorithm_type": "dpmsolver", "prediction_type": "sample", "solver_type": "heun", "final_sigmas_type": "sigma_min", "lower_order_final": false)"),
            12, ref::dpm_noise_order3_sample);
        check_run(
            make(
                R"("_class_name": "DPMSolverMultistepScheduler", "rescale_betas_zero_snr": true, "timestep_spacing": "trailing", "prediction_type": "v_prediction")" +
                sdk),
            10, ref::dpm_zero_snr_trailing_v);
        check_run(
            make(
                R"("_class_name": "DPMSolverMultistepScheduler", "algorithm_type": "sde-dpmsolver", "final_sigmas_type": "sigma_min", "euler_at_final": true)"),
            10, ref::dpm_sde_noise);
        check_run(
            make(
                R"("_class_name": "DPMSolverMultistepScheduler", "thresholding": true, "sample_max_value": 1.5, "dynamic_thresholding_ratio": 0.9, "prediction_type": "sample")"),
            10, ref::dpm_thresholding);
        check_run(
            make(
                R"("_class_name": "DPMSolverMultistepScheduler", "use_flow_sigmas": true, "flow_shift": 3.0, "prediction_type": "flow_prediction")"),
            10, ref::dpm_flow);
        check_run(
            make(
                R"("_class_name": "DPMSolverMultistepScheduler", "use_exponential_sigmas": true, "timestep_spacing": "leading", "steps_offset": 1)"),
            10, ref::dpm_exponential_leading);
        check_run(make(R"("_class_name": "DPMSolverMultistepScheduler", "use_lu_lambdas": true, "solver_order": 3)"),
                  10, ref::dpm_lu_lambdas);
    }
    SECTION("DPMSolverSinglestepScheduler") {
        check_run(make(R"("_class_name": "DPMSolverSinglestepScheduler")" + sdk), 10, ref::single_default);
        check_run(
            make(
                R"("_class_name": "DPMSolverSinglestepScheduler", "solver_order": 3, "solver_type": "heun", "final_sigmas_type": "sigma_min")"),
            12, ref::single_order3_heun);
        check_run(
            make(
                R"("_class_name": "DPMSolverSinglestepScheduler", "solver_order": 3, "algorithm_type": "dpmsolver", "final_sigmas_type": "sigma_min")"),
            12, ref::single_order3_noise);
        check_run(make(R"("_class_name": "DPMSolverSinglestepScheduler", "algorithm_type": "sde-dpmsolver++")"), 10,
                  ref::single_sde_pp);
    }
    SECTION("DEISMultistepScheduler") {
        check_run(make(R"("_class_name": "DEISMultistepScheduler")"), 10, ref::deis_default);
        check_run(
            make(R"("_class_name": "DEISMultistepScheduler", "solver_order": 3, "prediction_type": "v_prediction")" +
                 sdk),
            12, ref::deis_order3_v);
    }
    SECTION("UniPCMultistepScheduler") {
        check_run(make(R"("_class_name": "UniPCMultistepScheduler")" + sdk), 10, ref::unipc_scaled_linear);
        check_run(
            make(
                R"("_class_name": "UniPCMultistepScheduler", "solver_type": "bh1", "solver_order": 3, "prediction_type": "v_prediction", "final_sigmas_type": "sigma_min")"),
            12, ref::unipc_bh1_order3_v);
        check_run(make(R"("_class_name": "UniPCMultistepScheduler", "use_karras_sigmas": true)"), 10,
                  ref::unipc_karras);
        check_run(
            make(
                R"("_class_name": "UniPCMultistepScheduler", "predict_x0": false, "solver_order": 3, "final_sigmas_type": "sigma_min")"),
            10, ref::unipc_noise);
        check_run(
            make(
                R"("_class_name": "UniPCMultistepScheduler", "solver_order": 3, "disable_corrector": [0, 3], "final_sigmas_type": "sigma_min")"),
            10, ref::unipc_disable_corrector);
        check_run(
            make(
                R"("_class_name": "UniPCMultistepScheduler", "use_flow_sigmas": true, "flow_shift": 3.0, "prediction_type": "flow_prediction")"),
            10, ref::unipc_flow);
        check_run(
            make(
                R"("_class_name": "UniPCMultistepScheduler", "rescale_betas_zero_snr": true, "timestep_spacing": "trailing", "prediction_type": "v_prediction")" +
                sdk),
            10, ref::unipc_zero_snr_trailing_v);
    }
}

TEMPLATE_TEST_CASE(
    "use_beta_sigmas, mu, shift_terminal, stochastic_sampling and invert_sigmas agree element-wise with diffusers "
    "58eb52c0 through the facade",
    "[config][diffusers][options]", float, double) {
    using T = TestType;
    namespace ref = reference_options;  // tools/reference_options.py
    const auto make = [](const std::string& body) { return from_json<T>(("{" + body + "}").c_str()); };
    const std::string sdk = std::string(", ") + sd;
    const std::string flow = R"(, "use_flow_sigmas": true, "prediction_type": "flow_prediction")";
    SECTION("use_beta_sigmas: Beta(0.6, 0.6) sigmas on every exponential-integrator grid") {
        check_run(make(R"("_class_name": "DPMSolverMultistepScheduler", "use_beta_sigmas": true)" + sdk), 10,
                  ref::dpm_beta);
        check_run(
            make(
                R"("_class_name": "DPMSolverMultistepScheduler", "use_beta_sigmas": true, "prediction_type": "v_prediction", "solver_order": 3)"),
            12, ref::dpm_beta_v_order3);
        check_run(make(R"("_class_name": "DPMSolverSinglestepScheduler", "use_beta_sigmas": true)" + sdk), 10,
                  ref::single_beta);
        check_run(
            make(R"("_class_name": "DEISMultistepScheduler", "use_beta_sigmas": true, "lower_order_final": false)"), 10,
            ref::deis_beta);
        check_run(
            make(
                R"("_class_name": "UniPCMultistepScheduler", "use_beta_sigmas": true, "prediction_type": "v_prediction")" +
                sdk),
            10, ref::unipc_beta);
    }
    SECTION("dynamic shifting: mu (diffusers' set_timesteps(mu=...)) as an option") {
        check_run(
            make(R"("_class_name": "DPMSolverMultistepScheduler", "use_dynamic_shifting": true, "mu": 1.1)" + flow), 10,
            ref::dpm_flow_mu);
        check_run(
            make(R"("_class_name": "DPMSolverSinglestepScheduler", "use_dynamic_shifting": true, "mu": 0.7)" + flow),
            10, ref::single_flow_mu);
        check_run(
            make(
                R"("_class_name": "DEISMultistepScheduler", "use_dynamic_shifting": true, "mu": 1.3, "lower_order_final": false)" +
                flow),
            10, ref::deis_flow_mu);
        check_run(make(R"("_class_name": "UniPCMultistepScheduler", "use_dynamic_shifting": true, "mu": 0.9)" + flow),
                  10, ref::unipc_flow_mu);
        check_run(
            make(
                R"("_class_name": "UniPCMultistepScheduler", "use_dynamic_shifting": true, "time_shift_type": "linear", "mu": 2.0)" +
                flow),
            10, ref::unipc_flow_mu_linear);
    }
    SECTION("UniPC shift_terminal on flow sigmas") {
        check_run(make(R"("_class_name": "UniPCMultistepScheduler", "flow_shift": 3.0, "shift_terminal": 0.2)" + flow),
                  10, ref::unipc_flow_terminal);
    }
    SECTION("FlowMatchEulerDiscreteScheduler with use_dynamic_shifting and mu, exponential and linear") {
        const auto model = [](const_view<T> in, double t, view<T> out) {
            out = in.tanh() - T(0.5) * in * static_cast<T>(t / 1000);
        };
        for (const auto& [body, tr] :
             {std::pair{R"("use_dynamic_shifting": true, "mu": 0.8)", &ref::flow_match_mu},
              std::pair{R"("use_dynamic_shifting": true, "time_shift_type": "linear", "mu": 1.3)",
                        &ref::flow_match_mu_linear}}) {
            INFO(body);
            const auto s = make(std::string(R"("_class_name": "FlowMatchEulerDiscreteScheduler", )") + body);
            array<T> x = fixtures::sample0<T>();
            diffuse::sample(model, s, 6, x);
            kdtest::require_close<T>(x, tr->sample, 1e-4);
        }
    }
    SECTION("FlowMatchEulerDiscreteScheduler with stochastic_sampling, replayed noise") {
        const auto s =
            make(R"("_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0, "stochastic_sampling": true)");
        array<T> x = fixtures::sample0<T>();
        exponential_test::injected_noise<T> noise;  // tools/reference_options.py's FlowNoise
        diffuse::sample(
            [](const_view<T> in, double t, view<T> out) { out = in.tanh() - T(0.5) * in * static_cast<T>(t / 1000); },
            s, 6, x, noise);
        CHECK(noise.draws == 6);  // one draw per step, the last included, as diffusers
        kdtest::require_close<T>(x, ref::flow_match_stochastic.sample, 1e-3);
        array<T> y = fixtures::sample0<T>(), out = array<T>::Zero(y.size());
        CHECK_THROWS_WITH(s.start(6, y.size()).step(out, y), Contains("noise") && Contains("stochastic"));
    }
    SECTION("FlowMatchEulerDiscreteScheduler with invert_sigmas: the network is told (1 - s) T and returns -v") {
        const auto s = make(R"("_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0, "invert_sigmas": true)");
        const auto& tr = ref::flow_match_invert;
        array<T> x = fixtures::sample0<T>();
        std::vector<double> times;
        diffuse::sample(
            [&](const_view<T> in, double t, view<T> out) {
                times.push_back(t);
                out = in.tanh() - T(0.5) * in * static_cast<T>(t / 1000);
            },
            s, 6, x);
        REQUIRE(times.size() == tr.timesteps.size());
        for (std::size_t i = 0; i < times.size(); ++i)
            CHECK(times[i] == Approx(tr.timesteps[i]).epsilon(1e-6).margin(1e-4));
        kdtest::require_close<T>(x, tr.sample, 1e-4);
    }
    SECTION("image_seq_len gives mu by the pipelines' calculate_shift (4096 tokens: max_shift)") {
        const auto by_len = make(
            R"("_class_name": "FlowMatchEulerDiscreteScheduler", "use_dynamic_shifting": true, "image_seq_len": 4096, "max_shift": 0.8)");
        const auto by_mu =
            make(R"("_class_name": "FlowMatchEulerDiscreteScheduler", "use_dynamic_shifting": true, "mu": 0.8)");
        array<T> a = fixtures::sample0<T>(), b = a;
        const auto model = [](const_view<T> in, double t, view<T> out) {
            out = in.tanh() - T(0.5) * in * static_cast<T>(t / 1000);
        };
        diffuse::sample(model, by_len, 6, a);
        diffuse::sample(model, by_mu, 6, b);
        CHECK((a - b).abs().maxCoeff() <= 8 * std::numeric_limits<T>::epsilon());
        kdtest::require_close<T>(a, ref::flow_match_mu.sample, 1e-4);
    }
}

// diffusers' loop for the EDM classes: x = sample0 init_noise_sigma, F = network(scale_model_input(x), t),
// x = step(F, t, x) (tools/reference_options.py's stand-in network F = tanh(x) (0.5 + 0.1 c_noise),
// injected noise for the SDE). EDMEuler runs in diffusers' x (input scale c_in); EDMDPMSolverMultistep
// runs in the network's state c_in x (input scale 1), which ends at x0 all the same.
template <class T>
void check_edm_trace(const config::any_sampler<T>& s, const reference_options::trace& tr, double sigma_data,
                     bool network_state = false) {
    const auto steps = static_cast<diffuse::index>(tr.timesteps.size());
    // final_sigmas_type "sigma_min" repeats the last sigma in diffusers: a zero-length step the grid drops.
    const bool repeated = tr.sigmas[tr.sigmas.size() - 1] == tr.sigmas[tr.sigmas.size() - 2];
    auto run = s.start(steps, exponential_test::size);
    CHECK(run.num_steps() == steps - (repeated ? 1 : 0));
    const auto c_in = [&](std::size_t i) {
        return 1.0 / std::sqrt(tr.sigmas[i] * tr.sigmas[i] + sigma_data * sigma_data);
    };
    // x_T: diffusers' init_noise_sigma, times c_in(sigma_max) in the network's state
    CHECK(static_cast<double>(run.init_noise_sigma()) ==
          Approx(tr.init_noise_sigma * (network_state ? c_in(0) : 1.0)).epsilon(3e-6).margin(0));  // 2.5e-7
    array<T> x = exponential_test::sample0<T>() * run.init_noise_sigma(), in(x.size()), out(x.size());
    exponential_test::injected_noise<T> noise;
    for (std::size_t i = 0; !run.done(); ++i) {
        const double t = run.model_time();
        CHECK(t == Approx(tr.timesteps[i]).epsilon(8e-6).margin(2e-6));  // 8.1e-7 relative, 2.1e-7 absolute
        CHECK(static_cast<double>(run.input_scale()) ==
              Approx(network_state ? 1.0 : c_in(i)).epsilon(2e-6).margin(0));  // scale_model_input: 1.7e-7
        in = x * run.input_scale();
        out = in.tanh() * static_cast<T>(0.5 + 0.1 * t);
        run.step(out, x, noise);
    }
    exponential_test::check_sample(x, tr.sample, noise.draws > 0 ? 1e-3 : 1e-4);
}

TEMPLATE_TEST_CASE("EDMEulerScheduler agrees element-wise with diffusers 58eb52c0 through the facade",
                   "[config][diffusers][edm]", float, double) {
    using T = TestType;
    namespace ref = reference_options;
    SECTION("Karras sigmas, epsilon preconditioning (defaults)") {
        check_edm_trace(from_json<T>(R"({"_class_name": "EDMEulerScheduler"})"), ref::edm_karras_epsilon, 0.5);
    }
    SECTION("exponential sigmas, v_prediction preconditioning, sigma_data 0.8") {
        check_edm_trace(from_json<T>(R"({"_class_name": "EDMEulerScheduler", "sigma_schedule": "exponential",
            "prediction_type": "v_prediction", "sigma_data": 0.8})"),
                        ref::edm_exponential_v, 0.8);
    }
    SECTION("rho 5, sigma_max 20, final_sigmas_type sigma_min") {
        check_edm_trace(from_json<T>(R"({"_class_name": "EDMEulerScheduler", "rho": 5.0, "sigma_max": 20.0,
            "final_sigmas_type": "sigma_min"})"),
                        ref::edm_karras_sigma_min_end, 0.5);
    }
}

TEMPLATE_TEST_CASE("EDMDPMSolverMultistepScheduler agrees element-wise with diffusers 58eb52c0 through the facade",
                   "[config][diffusers][edm]", float, double) {
    using T = TestType;
    namespace ref = reference_options;
    SECTION("defaults: DPM-Solver++(2M), Karras sigmas, epsilon preconditioning") {
        check_edm_trace(from_json<T>(R"({"_class_name": "EDMDPMSolverMultistepScheduler"})"), ref::edm_dpm_default, 0.5,
                        true);
    }
    SECTION("order 3, v_prediction, exponential sigmas, sigma_data 0.8") {
        check_edm_trace(
            from_json<T>(
                R"({"_class_name": "EDMDPMSolverMultistepScheduler", "solver_order": 3, "prediction_type": "v_prediction",
            "sigma_schedule": "exponential", "sigma_data": 0.8})"),
            ref::edm_dpm_order3_v_exponential, 0.8, true);
    }
    SECTION("sde-dpmsolver++, heun, replayed noise") {
        check_edm_trace(
            from_json<T>(R"({"_class_name": "EDMDPMSolverMultistepScheduler", "algorithm_type": "sde-dpmsolver++",
            "solver_type": "heun"})"),
            ref::edm_dpm_sde_heun, 0.5, true);
    }
}

TEMPLATE_TEST_CASE("k-diffusion names with typed options reproduce k-diffusion's sampling.py", "[config][kdiffusion]",
                   float, double) {
    using T = TestType;
    namespace ref = reference_kdiffusion;
    // k-diffusion on Stable Diffusion's DiscreteEpsDDPMDenoiser with get_sigmas_karras (the facade's
    // scaled_linear schedule with use_karras_sigmas); the run's begin() hook churns step 0 of edm.
    const auto make = [](const char* name, config::options o) {
        o.set("beta_schedule", "scaled_linear");
        o.set("beta_start", 0.00085);
        o.set("beta_end", 0.012);
        o.set("use_karras_sigmas", true);
        return config::make_sampler<T>(name, o);
    };
    SECTION("dpmpp_2s_ancestral") {
        check_trace(make("dpmpp_2s_ancestral", {}), ref::kd_dpmpp_2s_ancestral, true);
    }
    SECTION("dpmpp_2m_sde, midpoint and heun with eta 0.5") {
        check_trace(make("dpmpp_2m_sde", {}), ref::kd_dpmpp_2m_sde_midpoint, true);
        check_trace(make("dpmpp_2m_sde", {{"solver_type", "heun"}, {"eta", 0.5}}), ref::kd_dpmpp_2m_sde_heun_eta_half,
                    true);
    }
    SECTION("dpmpp_3m_sde") {
        check_trace(make("dpmpp_3m_sde", {}), ref::kd_dpmpp_3m_sde, true);
    }
    SECTION("edm: sample_heun with churn (S_churn 2, S_tmin 0.1, S_tmax 10, S_noise 1.003)") {
        check_trace(make("edm", {{"s_churn", 2.0}, {"s_tmin", 0.1}, {"s_tmax", 10.0}, {"s_noise", 1.003}}),
                    ref::kd_edm_churn, true);
    }
    SECTION("dpm_adaptive, order 2, rtol 0.02, atol 0.004 (the step count is ignored)") {
        check_trace(make("dpm_adaptive", {{"order", 2}, {"rtol", 0.02}, {"atol", 0.004}}), ref::kd_dpm_adaptive_2,
                    false);
    }
}

TEMPLATE_TEST_CASE("few-step and flow classes agree element-wise with diffusers' recorded runs through the facade",
                   "[config][diffusers]", float, double) {
    using T = TestType;
    namespace ref = reference_pndm_consistency;
    // tools/reference_pndm_consistency.py: the trace's start, the stand-in network, replayed noise.
    const auto replay = [](const config::any_sampler<T>& s, const ref::trace& tr, bool noisy) {
        f3test::require_trace<T>(
            f3test::replay<T>(s.start(static_cast<diffuse::index>(tr.timesteps.size()), 64), tr, noisy), tr, noisy);
    };
    SECTION("LCMScheduler (defaults are Stable Diffusion's betas), and v_prediction on zero-terminal-SNR betas") {
        replay(from_json<T>(R"({"_class_name": "LCMScheduler"})"), ref::diffusers_lcm_sd, true);
        replay(
            from_json<T>(
                R"({"_class_name": "LCMScheduler", "prediction_type": "v_prediction", "rescale_betas_zero_snr": true})"),
            ref::diffusers_lcm_v_zero_snr, true);
    }
    SECTION("TCDScheduler, gamma 0.3, 0 and 0.7 with v_prediction") {
        replay(from_json<T>(R"({"_class_name": "TCDScheduler"})"), ref::diffusers_tcd_sd, true);
        replay(from_json<T>(R"({"_class_name": "TCDScheduler", "gamma": 0.0})"), ref::diffusers_tcd_sd_gamma0, false);
        replay(from_json<T>(R"({"_class_name": "TCDScheduler", "gamma": 0.7, "prediction_type": "v_prediction"})"),
               ref::diffusers_tcd_v_gamma07, true);
    }
    SECTION("CMStochasticIterativeScheduler, default config") {
        const auto s = from_json<T>(R"({"_class_name": "CMStochasticIterativeScheduler"})");
        f3test::require_trace<T>(f3test::replay<T>(s.start(3, 64), ref::diffusers_cm_default, true),
                                 ref::diffusers_cm_default, true);
    }
    SECTION("IPNDMScheduler with trained_betas = its sigma_t grid") {
        config::options o{{"trained_betas", ref::ipndm_model_sigmas}};
        const auto s = config::make_sampler<T>("IPNDMScheduler", o);
        const auto steps = static_cast<diffuse::index>(ref::ipndm_model_sigmas.size()) - 1;
        f3test::require_trace<T>(f3test::replay<T>(s.start(steps, 64), ref::diffusers_ipndm, false),
                                 ref::diffusers_ipndm, false);
        CHECK_THROWS_WITH(s.start(steps + 1, 64),
                          Contains("num_inference_steps") && Contains("trained_betas.size() - 1"));
    }
    SECTION("FlowMatchEulerDiscreteScheduler, shift 3, 6 steps (tools/reference_grids.py)") {
        const auto s =
            from_json<T>(R"({"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0, "base_shift": 0.5,
            "max_shift": 1.15, "base_image_seq_len": 256, "max_image_seq_len": 4096, "use_dynamic_shifting": false})");
        array<T> x = fixtures::sample0<T>();
        diffuse::sample(
            [](const_view<T> in, double t, view<T> out) { out = in.tanh() - T(0.5) * in * static_cast<T>(t / 1000); },
            s, 6, x);
        std::vector<float> expected(reference_grids::flow_match_euler_final.begin(),
                                    reference_grids::flow_match_euler_final.end());
        kdtest::require_close<T>(x, expected, 1e-4);
    }
}

// Replays a diffusers ScoreSdeVeScheduler pipeline loop (tools/reference_score_sde_ve.py) through
// the facade's step API: the stand-in score network, every recorded draw in order. Checks the sigmas
// the network is told (relative) and the result: |x - expected| / max(|expected|, 1) <= rel.
template <class T>
void require_score_sde_ve(const config::any_sampler<T>& s, const reference_score_sde_ve::trace& tr, double time_rel,
                          double rel) {
    const auto n = static_cast<diffuse::index>(tr.start.size());
    array<T> x(n);
    for (diffuse::index i = 0; i < n; ++i) x[i] = static_cast<T>(tr.start[static_cast<std::size_t>(i)]);
    struct replay {
        const std::vector<double>* draws;
        std::size_t used = 0;
        void normal(view<T> out) {
            REQUIRE(used + static_cast<std::size_t>(out.size()) <= draws->size());
            for (diffuse::index i = 0; i < out.size(); ++i) out[i] = static_cast<T>((*draws)[used++]);
        }
    } noise{&tr.noise};
    std::vector<double> times;
    const auto score = [&](const_view<T> in, double sigma, view<T> out) {
        times.push_back(sigma);
        const T sg = static_cast<T>(sigma);
        out = -in / (T(1) + sg * sg) + T(0.3) * in.tanh() / (T(1) + sg);
    };
    auto run = s.start(tr.steps, n, tr.batch);
    while (!run.done()) {
        array<T> out(n);
        score(cflat(x), run.model_time(), flat(out));
        run.step(out, x, noise);
    }
    CHECK(noise.used == tr.noise.size());
    REQUIRE(times.size() == tr.model_times.size());
    double worst_time = 0;
    for (std::size_t i = 0; i < times.size(); ++i) {
        worst_time = std::max(worst_time, std::abs(times[i] - tr.model_times[i]) / tr.model_times[i]);
    }
    INFO("worst relative model-time difference " << worst_time);
    kdtest::report_error(worst_time, time_rel);
    CHECK(worst_time <= time_rel);
    double worst = 0;
    for (diffuse::index i = 0; i < n; ++i) {
        const double b = tr.x[static_cast<std::size_t>(i)];
        worst = std::max(worst, std::abs(static_cast<double>(x[i]) - b) / std::max(std::abs(b), 1.0));
    }
    INFO("worst difference " << worst);
    kdtest::report_error(worst, rel);
    CHECK(worst <= rel);
}

TEMPLATE_TEST_CASE("ScoreSdeVeScheduler agrees element-wise with diffusers' pipeline loop (replayed noise)",
                   "[config][diffusers][sde]", float, double) {
    using T = TestType;
    namespace ref = reference_score_sde_ve;
    constexpr bool is_float = std::is_same_v<T, float>;
    // float against diffusers' float32 runs, double against its float64 runs (timesteps and sigmas
    // in float64 too); bounds on |x - x_diffusers| / max(|x_diffusers|, 1), about 10x the measured.
    // Model times: measured 4.4e-7 (float: diffusers' float32 sigmas against ours in double), 1.3e-15.
    const double time_rel = is_float ? 5e-6 : 1e-14;
    SECTION("defaults: snr 0.15, sigma 0.01 .. 1348, eps 1e-5, one corrector step, 4 samples") {
        const auto s = from_json<T>(R"({"_class_name": "ScoreSdeVeScheduler"})");
        CHECK(s.init_noise_sigma(10) == T(1348));
        // measured 3.6e-5 (float), 1.1e-13 (double)
        require_score_sde_ve<T>(s, is_float ? ref::default_f32 : ref::default_f64, time_rel, is_float ? 4e-4 : 1e-12);
    }
    SECTION("two corrector steps, snr 0.2, sigma 0.02 .. 50, eps 1e-3, 2 samples") {
        const auto s = from_json<T>(R"({"_class_name": "ScoreSdeVeScheduler", "snr": 0.2, "sigma_min": 0.02,
            "sigma_max": 50.0, "sampling_eps": 0.001, "correct_steps": 2, "num_train_timesteps": 2000})");
        // measured 7.6e-6 (float), 9.8e-15 (double)
        require_score_sde_ve<T>(s, is_float ? ref::two_corrections_f32 : ref::two_corrections_f64, time_rel,
                                is_float ? 8e-5 : 1e-13);
    }
    SECTION("predictor only, sigma_max 100") {
        const auto s = config::make_sampler<T>("ScoreSdeVeScheduler", {{"correct_steps", 0}, {"sigma_max", 100.0}});
        // measured 1.8e-5 (float), 1.9e-14 (double)
        require_score_sde_ve<T>(s, is_float ? ref::predictor_only_f32 : ref::predictor_only_f64, time_rel,
                                is_float ? 2e-4 : 2e-13);
    }
    SECTION("bad options and a zero score are errors") {
        const auto make = [](config::options o) { return config::make_sampler<T>("ScoreSdeVeScheduler", o); };
        CHECK_THROWS_WITH(make({{"snr", -0.1}}), Contains("snr") && Contains(">= 0"));
        CHECK_THROWS_WITH(make({{"sigma_max", 0.005}}), Contains("sigma_max") && Contains("> sigma_min"));
        CHECK_THROWS_WITH(make({{"sampling_eps", 1.0}}), Contains("sampling_eps") && Contains("[0, 1)"));
        CHECK_THROWS_WITH(make({{"correct_steps", -1}}), Contains("correct_steps") && Contains(">= 0"));
        CHECK_THROWS_WITH(make({{"snr_ratio", 0.1}}), Contains("option 'snr_ratio'"));
        auto run = make({}).start(3, 4);
        array<T> x = array<T>::Ones(4), zero = array<T>::Zero(4);
        diffuse::random::generator g(1);
        CHECK_THROWS_WITH(run.step(zero, x, g), Contains("score norm"));
        CHECK_THROWS_WITH(make({}).start(3, 4).step(array<T>(array<T>::Ones(4)), x), Contains("stochastic"));
    }
}

TEST_CASE("the registry lists every sampler class and k-diffusion name", "[config]") {
    std::vector<std::string> names;
    for (const auto& [name, make] : config::registry<double>()) names.push_back(name);
    for (const char* expected : {"DDIMScheduler",
                                 "DDIMInverseScheduler",
                                 "DDPMScheduler",
                                 "PNDMScheduler",
                                 "EulerDiscreteScheduler",
                                 "EulerAncestralDiscreteScheduler",
                                 "HeunDiscreteScheduler",
                                 "KDPM2DiscreteScheduler",
                                 "KDPM2AncestralDiscreteScheduler",
                                 "LMSDiscreteScheduler",
                                 "DPMSolverSDEScheduler",
                                 "DPMSolverMultistepScheduler",
                                 "DPMSolverSinglestepScheduler",
                                 "DEISMultistepScheduler",
                                 "UniPCMultistepScheduler",
                                 "IPNDMScheduler",
                                 "LCMScheduler",
                                 "TCDScheduler",
                                 "CMStochasticIterativeScheduler",
                                 "FlowMatchEulerDiscreteScheduler",
                                 "EDMEulerScheduler",
                                 "EDMDPMSolverMultistepScheduler",
                                 "ScoreSdeVeScheduler",
                                 "dpmpp_2s_ancestral",
                                 "dpmpp_2m_sde",
                                 "dpmpp_3m_sde",
                                 "edm",
                                 "dpm_adaptive"}) {
        INFO(expected);
        CHECK(std::find(names.begin(), names.end(), expected) != names.end());
        CHECK_NOTHROW(config::make_sampler<double>(expected).start(10, 4));
    }
}

TEST_CASE("bad configs of the modern samplers are errors naming key, value and what is allowed", "[config][errors]") {
    using T = float;
    const auto make = [](const char* cls, config::options o) { return config::make_sampler<T>(cls, o); };
    // unknown key (a typo): the error lists the keys the class reads
    CHECK_THROWS_WITH(make("HeunDiscreteScheduler", {{"use_karas_sigmas", true}}),
                      Contains("option 'use_karas_sigmas'") && Contains("use_karras_sigmas"));
    CHECK_THROWS_WITH(make("dpmpp_2m_sde", {{"s_churn", 1.0}}), Contains("option 's_churn'") && Contains("eta"));
    // wrong type
    CHECK_THROWS_WITH(make("DPMSolverMultistepScheduler", {{"solver_order", "2"}}),
                      Contains("solver_order = \"2\"") && Contains("an integer"));
    CHECK_THROWS_WITH(make("UniPCMultistepScheduler", {{"lower_order_final", 1}}),
                      Contains("lower_order_final = 1") && Contains("true or false"));
    CHECK_THROWS_WITH(make("edm", {{"s_churn", "a lot"}}), Contains("s_churn = \"a lot\"") && Contains("a number"));
    // out of range
    CHECK_THROWS_WITH(make("DPMSolverMultistepScheduler", {{"solver_order", 4}}),
                      Contains("solver_order = 4") && Contains("1, 2 or 3"));
    CHECK_THROWS_WITH(make("DEISMultistepScheduler", {{"solver_order", 0}}), Contains("solver_order = 0"));
    CHECK_THROWS_WITH(make("edm", {{"s_churn", -1.0}}), Contains("s_churn = -1") && Contains(">= 0"));
    CHECK_THROWS_WITH(make("dpm_adaptive", {{"order", 4}}), Contains("order = 4") && Contains("DPM-Solver-23"));
    CHECK_THROWS_WITH(make("dpmpp_3m_sde", {{"eta", -0.5}}), Contains("eta = -0.5"));
    CHECK_THROWS_WITH(make("UniPCMultistepScheduler", {{"disable_corrector", std::vector<double>{0.5}}}),
                      Contains("disable_corrector = 0.5") && Contains("integers"));
    CHECK_THROWS_WITH(make("DPMSolverMultistepScheduler", {{"flow_shift", -1.0}, {"use_flow_sigmas", true}}),
                      Contains("flow_shift = -1"));
    // values diffusers rejects, or that this version cannot honour
    CHECK_THROWS_WITH(make("DPMSolverMultistepScheduler", {{"algorithm_type", "unipc"}}),
                      Contains("algorithm_type = \"unipc\"") && Contains("\"sde-dpmsolver++\"") &&
                          Contains("\"deis\" (read as \"dpmsolver++\")"));
    CHECK_THROWS_WITH(make("DPMSolverSinglestepScheduler", {{"algorithm_type", "sde-dpmsolver"}}),
                      Contains("algorithm_type = \"sde-dpmsolver\""));
    CHECK_THROWS_WITH(make("DPMSolverMultistepScheduler", {{"algorithm_type", "dpmsolver"}}),
                      Contains("final_sigmas_type = \"zero\"") && Contains("sigma_min"));
    CHECK_THROWS_WITH(make("UniPCMultistepScheduler", {{"solver_type", "bh3"}}),
                      Contains("solver_type = \"bh3\"") && Contains("\"bh1\""));
    CHECK_THROWS_WITH(make("DEISMultistepScheduler", {{"solver_type", "euler"}}),
                      Contains("solver_type = \"euler\"") && Contains("logrho"));
    CHECK_THROWS_WITH(make("PNDMScheduler", {{"prediction_type", "sample"}}),
                      Contains("prediction_type = \"sample\"") && Contains("\"v_prediction\""));
    CHECK_THROWS_WITH(make("HeunDiscreteScheduler", {{"clip_sample", true}}),
                      Contains("clip_sample = true") && Contains("false"));
    CHECK_THROWS_WITH(make("LMSDiscreteScheduler", {{"use_karras_sigmas", true}, {"use_beta_sigmas", true}}),
                      Contains("at most one"));
    CHECK_THROWS_WITH(make("DEISMultistepScheduler", {{"use_beta_sigmas", true}, {"use_flow_sigmas", true}}),
                      Contains("use_flow_sigmas = \"true\""));
    CHECK_THROWS_WITH(make("UniPCMultistepScheduler", {{"shift_terminal", 0.1}}),
                      Contains("shift_terminal = 0.1") && Contains("use_flow_sigmas"));
    CHECK_THROWS_WITH(make("UniPCMultistepScheduler", {{"use_flow_sigmas", true}, {"shift_terminal", 1.0}}),
                      Contains("shift_terminal = 1") && Contains("[0, 1)"));
    // dynamic shifting: mu only with use_dynamic_shifting; UniPC needs it; the DPM-Solver classes only shift
    // exponentially
    CHECK_THROWS_WITH(make("DPMSolverMultistepScheduler", {{"mu", 0.5}}),
                      Contains("mu = 0.5") && Contains("use_dynamic_shifting"));
    CHECK_THROWS_WITH(
        make("DPMSolverMultistepScheduler", {{"use_dynamic_shifting", true}, {"time_shift_type", "linear"}}),
        Contains("time_shift_type = \"linear\"") && Contains("\"exponential\""));
    CHECK_THROWS_WITH(
        make("UniPCMultistepScheduler", {{"use_dynamic_shifting", true}, {"use_flow_sigmas", true}}).start(10, 8),
        Contains("mu = missing") && Contains("with_mu"));
    CHECK_THROWS_WITH(
        make("FlowMatchEulerDiscreteScheduler", {{"use_dynamic_shifting", true}, {"mu", 0.5}, {"image_seq_len", 1024}}),
        Contains("mu/image_seq_len") && Contains("at most one"));
    CHECK_THROWS_WITH(make("FlowMatchEulerDiscreteScheduler", {{"use_dynamic_shifting", true}, {"image_seq_len", 0}}),
                      Contains("image_seq_len = 0"));
    CHECK_THROWS_WITH(make("DEISMultistepScheduler", {{"image_seq_len", 1024}}),
                      Contains("image_seq_len = 1024") && Contains("use_dynamic_shifting"));
    CHECK_THROWS_WITH(make("UniPCMultistepScheduler", {{"solver_p", "DPMSolverMultistepScheduler"}}),
                      Contains("solver_p") && Contains("not supported"));
    CHECK_THROWS_WITH(make("EDMEulerScheduler", {{"prediction_type", "sample"}}),
                      Contains("prediction_type = \"sample\"") && Contains("\"v_prediction\""));
    CHECK_THROWS_WITH(make("EDMEulerScheduler", {{"sigma_schedule", "linear"}}),
                      Contains("sigma_schedule = \"linear\""));
    CHECK_THROWS_WITH(make("EDMEulerScheduler", {{"sigma_data", -1.0}}), Contains("sigma_data = -1"));
    CHECK_THROWS_WITH(make("EDMEulerScheduler", {{"mu", 1.0}}), Contains("option 'mu'"));
    CHECK_THROWS_WITH(make("EDMDPMSolverMultistepScheduler", {{"final_sigmas_type", "sigma_min"}}),
                      Contains("final_sigmas_type = \"sigma_min\"") && Contains("not implemented"));
    CHECK_THROWS_WITH(make("EDMDPMSolverMultistepScheduler", {{"algorithm_type", "dpmsolver"}}),
                      Contains("algorithm_type = \"dpmsolver\""));
    CHECK_THROWS_WITH(make("FlowMatchEulerDiscreteScheduler", {{"invert_sigmas", true}, {"stochastic_sampling", true}}),
                      Contains("stochastic_sampling = \"true\"") && Contains("invert_sigmas"));
    CHECK_THROWS_WITH(make("DPMSolverMultistepScheduler", {{"variance_type", "fixed_small"}}),
                      Contains("variance_type = \"fixed_small\""));
    CHECK_THROWS_WITH(make("LCMScheduler", {{"original_inference_steps", 2000}}),
                      Contains("original_inference_steps = 2000"));
    CHECK_THROWS_WITH(make("TCDScheduler", {{"gamma", 1.5}}), Contains("gamma = 1.5") && Contains("[0, 1]"));
    CHECK_THROWS_WITH(make("TCDScheduler", {{"clip_sample", true}}), Contains("clip_sample = true"));
    CHECK_THROWS_WITH(make("CMStochasticIterativeScheduler", {{"sigma_min", 0.0}}),
                      Contains("sigma_min = 0") && Contains("> 0"));
    CHECK_THROWS_WITH(make("FlowMatchEulerDiscreteScheduler", {{"use_dynamic_shifting", true}}).start(10, 8),
                      Contains("mu = missing") && Contains("with_image_seq_len"));
    CHECK_THROWS_WITH(make("FlowMatchEulerDiscreteScheduler", {{"shift", 0.0}}),
                      Contains("shift = 0") && Contains("> 0"));
    CHECK_THROWS_WITH(make("FlowMatchEulerDiscreteScheduler", {{"time_shift_type", "cubic"}}),
                      Contains("time_shift_type = \"cubic\""));
    // a stochastic class driven without noise says so
    auto run = make("EulerAncestralDiscreteScheduler", {}).start(4, 8);
    array<T> x = array<T>::Ones(8), out = array<T>::Zero(8);
    CHECK_THROWS_WITH(run.step(out, x), Contains("noise") && Contains("stochastic"));
}

namespace {

// Observations of the factory registered below (static: the registry outlives the test case).
int custom_factory_calls = 0;
double custom_factory_beta_end = 0;

}  // namespace

TEMPLATE_TEST_CASE("register_sampler adds a class name that make_sampler and scheduler configs then build", "[config]",
                   float, double) {
    using T = TestType;
    const std::string name = "TestOnlyDDIMScheduler";
    CHECK_THROWS_WITH(config::make_sampler<T>(name), Contains("_class_name") && Contains(name));
    custom_factory_calls = 0;
    config::register_sampler<T>(name, [](const config::options& o) {
        ++custom_factory_calls;
        custom_factory_beta_end = o.get_double("beta_end", 0.0);
        return config::detail::make_ddim<T>(o);
    });
    // The factory receives the options and its sampler runs: the same run as DDIMScheduler's, to the bit.
    const auto custom = config::make_sampler<T>(name, {{"beta_end", 0.012}});
    CHECK(custom_factory_calls == 1);
    CHECK(custom_factory_beta_end == 0.012);
    const auto ddim = config::make_sampler<T>("DDIMScheduler", {{"beta_end", 0.012}});
    CHECK((loop_a(custom, 10) == loop_a(ddim, 10)).all());
    // Scheduler configs find it by _class_name; unknown keys are still errors; the registry lists
    // it (the error for an unknown class points there instead of listing every name).
    const auto from_config = from_json<T>(R"({"_class_name": "TestOnlyDDIMScheduler", "beta_end": 0.012})");
    CHECK(custom_factory_calls == 2);
    CHECK((loop_a(from_config, 10) == loop_a(ddim, 10)).all());
    CHECK_THROWS_WITH(config::make_sampler<T>(name, {{"beta_ends", 0.012}}), Contains("beta_ends"));
    CHECK(config::registry<T>().contains(name));
    CHECK_THROWS_WITH(config::make_sampler<T>("NoSuchScheduler"), Contains("registry<T>()"));
    CHECK(custom.class_name() == "DDIMScheduler");  // the class the factory wrapped
    // Registering a name again replaces its factory.
    config::register_sampler<T>(name, [](const config::options& o) { return config::detail::make_ddpm<T>(o); });
    CHECK(config::make_sampler<T>(name).class_name() == "DDPMScheduler");
    config::registry<T>().erase(name);
    CHECK_THROWS_WITH(config::make_sampler<T>(name), Contains("_class_name"));
}

TEMPLATE_TEST_CASE("DDPMScheduler configs with thresholding and variance options reproduce diffusers' traces",
                   "[config][diffusers]", float, double) {
    using T = TestType;
    namespace ref = reference_discrete;
    // The traces of tools/reference_discrete.py (tests/test_sampler_discrete_diffusers.cpp checks the
    // samplers themselves), run through the facade: thresholding, dynamic_thresholding_ratio,
    // sample_max_value, variance_type, prediction_type and clip_sample_range must all reach the
    // sampler. Slack as in that test (|x - diffusers| <= abs + rel |diffusers|, 10x its measurement).
    const auto run = [](const char* config, const ref::trace& tr, double rel, double abs) {
        const auto s = from_json<T>(config);
        array<T> x(static_cast<diffuse::index>(tr.start.size()));
        for (std::size_t i = 0; i < tr.start.size(); ++i)
            x[static_cast<diffuse::index>(i)] = static_cast<T>(tr.start[i]);
        kdtest::replay<T> noise{&tr.noise};
        diffuse::sample([](const_view<T> in, double t, view<T> out) { kdtest::smooth<T>(in, t, out); }, s,
                        static_cast<diffuse::index>(tr.timesteps.size()), x, noise);
        CHECK(noise.all_used());
        double worst = 0;
        for (std::size_t i = 0; i < tr.x.size(); ++i) {
            const double expected = std::is_same_v<T, float> ? static_cast<double>(tr.x[i]) : tr.x_double[i];
            const double d = std::abs(static_cast<double>(x[static_cast<diffuse::index>(i)]) - expected);
            worst = std::max(worst, d / (abs + rel * std::abs(expected)));
        }
        CHECK(worst <= 1.0);
    };
    const bool is_float = std::is_same_v<T, float>;
    run(R"({"_class_name": "DDPMScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
            "thresholding": true, "dynamic_thresholding_ratio": 0.9, "sample_max_value": 1.5})",
        ref::diffusers_ddpm_thresholding_sd, is_float ? 8e-5 : 2e-13, is_float ? 3e-6 : 4e-15);
    // Every DDPMScheduler default (linear betas, fixed_small, clip_sample on at clip_sample_range 1):
    // the facade's defaults must be diffusers'. Slack 10x this run's measurement (the worst difference
    // was 0.019 (float) and 0.016 (double) of test_sampler_discrete_diffusers' bound, 1/5 of it here).
    run(R"({"_class_name": "DDPMScheduler"})", ref::diffusers_ddpm_fixed_small_clip, is_float ? 1e-5 : 8e-15,
        is_float ? 6e-7 : 1e-15);
    // dynamic_thresholding_ratio left out: the facade's default must be diffusers' (0.995; with 0.95
    // diffusers' own result moves by up to 0.11). Slack about 10x this run's measurement: the
    // worst difference is 0.065 (float) and 0.26 (double) of the bound given.
    run(R"({"_class_name": "DDPMScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
            "thresholding": true, "sample_max_value": 1.5})",
        ref::diffusers_ddpm_thresholding_default_ratio, is_float ? 8e-6 : 2e-14, is_float ? 3e-7 : 4e-16);
    run(R"({"_class_name": "DDPMScheduler", "variance_type": "fixed_large", "prediction_type": "v_prediction",
            "clip_sample_range": 1.5})",
        ref::diffusers_ddpm_fixed_large_v_clip_range, is_float ? 5e-5 : 1e-13, is_float ? 3e-6 : 3e-15);
}

// The multistep and multi-stage steps run their stages block by block (sampler/detail/cache_blocks.hpp):
// at a size of two blocks and a ragged tail, every element must still follow its own trajectory,
// the one it follows alone (n = 1). Checked at the block edges; a block stepped with another
// block's offset, a skipped tail or a stage run before the conversion it reads moves these elements
// by O(1). Measured difference 0 (float and double, -march=native); slack 16 ulp of the values.
TEMPLATE_TEST_CASE("multistep and multi-stage classes step every element as alone across cache blocks",
                   "[config][sampler]", float, double) {
    using T = TestType;
    constexpr diffuse::index n = 2 * sampler::detail::cache_block + 5;
    const array<T> start = array<T>::LinSpaced(n, T(-1.5), T(1.7));
    const array<T> offset = array<T>::LinSpaced(n, T(0.4), T(-0.3));
    // An element-wise stand-in network: each element's output depends on that element alone.
    const auto run_from = [](const config::any_sampler<T>& s, array<T> x, const array<T>& c) {
        diffuse::sample([&](const_view<T> in, double t, view<T> out) { out = T(0.3) * in + T(t * 1e-3) * c; }, s, 10,
                        x);
        return x;
    };
    for (const char* config_text : {
             R"({"_class_name": "UniPCMultistepScheduler"})",
             R"({"_class_name": "UniPCMultistepScheduler", "solver_order": 3, "solver_type": "bh1"})",
             R"({"_class_name": "DPMSolverMultistepScheduler"})",
             R"({"_class_name": "DPMSolverMultistepScheduler", "solver_order": 3, "algorithm_type": "dpmsolver",
                 "final_sigmas_type": "sigma_min"})",
             R"({"_class_name": "DPMSolverSinglestepScheduler", "solver_order": 3})",
             R"({"_class_name": "DEISMultistepScheduler", "solver_order": 3})",
             R"({"_class_name": "LMSDiscreteScheduler"})",
             R"({"_class_name": "IPNDMScheduler"})",
             R"({"_class_name": "PNDMScheduler"})",
             R"({"_class_name": "PNDMScheduler", "skip_prk_steps": true})",
             R"({"_class_name": "HeunDiscreteScheduler"})",
             R"({"_class_name": "KDPM2DiscreteScheduler"})",
         }) {
        INFO(config_text);
        const auto s = from_json<T>(config_text);
        const array<T> all = run_from(s, start, offset);
        for (const diffuse::index i :
             {diffuse::index{0}, diffuse::index{1}, sampler::detail::cache_block - 1, sampler::detail::cache_block,
              2 * sampler::detail::cache_block - 1, 2 * sampler::detail::cache_block, n - 1}) {
            INFO("element " << i);
            const array<T> alone = run_from(s, start.segment(i, 1), offset.segment(i, 1));
            const T scale = std::max(T(1), std::abs(alone(0)));
            CHECK(std::abs(all(i) - alone(0)) <= 16 * std::numeric_limits<T>::epsilon() * scale);
            CHECK(std::abs(all(i) - start(i)) > T(1e-3));  // the element did move
        }
    }
}
