// The diffusers classes written for one model family, through the runtime facade:
// CogVideoXDDIMScheduler and CogVideoXDPMScheduler (CogVideoX), DDPMWuerstchenScheduler (Stable Cascade),
// UnCLIPScheduler (Karlo), CosineDPMSolverMultistepScheduler (Stable Audio), and
// DPMSolverMultistepInverseScheduler (inversion). Each reproduces diffusers 58eb52c0
// element-wise (the runs of tools/reference_classes_more.py, float32 and float64, deterministic or with replayed
// noise), and bad keys are errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "diffuse/config/registry.hpp"
#include "diffuse/schedule/wuerstchen.hpp"
#include "diffusers_fixtures.hpp"
#include "reference_classes_more.hpp"

using namespace diffuse;
using Catch::Contains;
template <class T>
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

namespace {

constexpr diffuse::index size = 192;  // the first sample of diffusers' dummy_sample_deter

// tools/reference_classes_more.py's k-th noise draw: exact dyadic values, replayed in order.
template <class T>
struct injected_noise {
    diffuse::index draws = 0;
    void normal(view<T> out) {
        for (diffuse::index i = 0; i < out.size(); ++i)
            out[i] = static_cast<T>(((i * 37 + draws * 101) % 257 - 128) / 64.0);
        ++draws;
    }
};

struct outcome {
    double worst;  // max |x - ref| / (|ref| + 1e-2 max|ref|)
    diffuse::index draws;
};

// The class's pipeline loop from x_T = sample0 * init_noise_sigma with the script's model on the
// scaled input, tanh(in) (0.5 + t / 2000), and for a learned variance the channel block
// 0.8 tanh(in) - 0.1 after it; checks the times the model was told.
template <class T>
outcome run_against(const config::any_sampler<T>& s, diffuse::index steps, const reference_classes_more::run& ref) {
    auto run = s.start(steps, size);
    array<T> x = fixtures::sample0<T>().head(size) * run.init_noise_sigma();
    array<T> in(size), out(run.model_output_size());
    injected_noise<T> noise;
    std::vector<double> times;
    while (!run.done()) {
        const double t = run.model_time();
        times.push_back(t);
        in = x * run.input_scale();
        out.head(size) = in.tanh() * static_cast<T>(0.5 + t / 2000.0);
        if (out.size() > size) out.tail(size) = T(0.8) * in.tanh() - T(0.1);
        run.step(out, x, noise);
    }
    REQUIRE(times.size() == ref.timesteps.size());
    // Measured: equal, but 6.5e-7 relative for CosineDPMSolverMultistep's Karras sigmas (diffusers' ramp
    // is float32 arithmetic, here double rounded to T).
    for (std::size_t i = 0; i < times.size(); ++i)
        CHECK(times[i] == Approx(ref.timesteps[i]).epsilon(1e-5).margin(1e-7));
    double scale = 0, worst = 0;
    const auto at = [&](std::size_t i) {
        if constexpr (std::is_same_v<T, float>) return static_cast<double>(ref.single[i]);
        else return ref.twice[i];
    };
    for (std::size_t i = 0; i < size; ++i) scale = std::max(scale, std::fabs(at(i)));
    for (diffuse::index i = 0; i < size; ++i) {
        const double b = at(static_cast<std::size_t>(i));
        worst = std::max(worst, std::fabs(static_cast<double>(x[i]) - b) / (std::fabs(b) + 1e-2 * scale));
    }
    return {worst, noise.draws};
}

std::string describe(const config::options& o) {
    std::string out;
    for (const auto& [key, v] : o.entries()) out += key + "=" + v.describe() + " ";
    return out;
}

// Tolerances are on the element-wise error of run_against (relative to |ref| + 1e-2 max|ref|, so
// relative and absolute slack at once), about 10x the measured worst error (float, double) written
// beside each case. The double runs compare with diffusers' float64 runs, whose tables the script
// builds in float64 too. Float errors grow where diffusers computes a coefficient in float64 (the
// CogVideoX scaled_linear tables); the double Wuerstchen runs with scaler != 1 keep diffusers'
// float32 t^scaler.
struct parity_case {
    const char* class_name;
    const reference_classes_more::run* expected;
    diffuse::index steps;
    config::options keys;
    double float_tolerance, double_tolerance;
};

template <class T>
void check_cases(const std::vector<parity_case>& cases) {
    for (const auto& c : cases) {
        INFO(c.class_name << " " << c.steps << " steps, " << describe(c.keys));
        const auto s = config::make_sampler<T>(c.class_name, c.keys);
        CHECK(s.warnings().empty());
        const auto r = run_against<T>(s, c.steps, *c.expected);
        INFO("worst relative error " << r.worst);
        CHECK(r.draws == c.expected->noise_draws);
        CHECK(r.worst <= (std::is_same_v<T, float> ? c.float_tolerance : c.double_tolerance));
    }
}

// CogVideoX-2b's shipped scheduler_config.json (THUDM/CogVideoX-2b), as the script's COGVIDEOX_2B.
config::options cogvideox_2b() {
    return {{"beta_schedule", "scaled_linear"},
            {"beta_start", 0.00085},
            {"beta_end", 0.012},
            {"clip_sample", false},
            {"prediction_type", "v_prediction"},
            {"rescale_betas_zero_snr", true},
            {"set_alpha_to_one", true},
            {"snr_shift_scale", 3.0},
            {"steps_offset", 0},
            {"timestep_spacing", "trailing"}};
}

config::options with(config::options o, const config::options& more) {
    for (const auto& [key, v] : more.entries()) o.set(key, v);
    return o;
}

}  // namespace

TEMPLATE_TEST_CASE("CogVideoXDDIMScheduler reproduces diffusers", "[classes_more][cogvideox]", float, double) {
    namespace ref = reference_classes_more;
    const auto linear_sample =
        config::options{{"beta_schedule", "linear"},   {"beta_start", 0.0001},   {"beta_end", 0.02},
                        {"prediction_type", "sample"}, {"snr_shift_scale", 2.0}, {"steps_offset", 1}};
    const auto five_b_linspace =
        with(cogvideox_2b(), {{"snr_shift_scale", 1.0}, {"timestep_spacing", "linspace"}, {"set_alpha_to_one", false}});
    check_cases<TestType>({
        // 12 trailing steps: t - T // n (83) differs from the next grid entry; zero terminal SNR, v.
        // Measured 8.7e-7 (float), 4.2e-8 (double).
        {"CogVideoXDDIMScheduler", &ref::cogvideox_ddim_2b, 12, cogvideox_2b(), 1e-5, 5e-7},
        // Measured 7.7e-7, 4.2e-8.
        {"CogVideoXDDIMScheduler", &ref::cogvideox_ddim_5b_linspace, 10, five_b_linspace, 1e-5, 5e-7},
        // Measured 7.2e-7, 6.8e-8.
        {"CogVideoXDDIMScheduler", &ref::cogvideox_ddim_defaults, 10, {}, 1e-5, 1e-6},
        // Measured 4.1e-7, 3.5e-8.
        {"CogVideoXDDIMScheduler", &ref::cogvideox_ddim_linear_sample, 10, linear_sample, 5e-6, 5e-7},
    });
}

TEMPLATE_TEST_CASE("CogVideoXDPMScheduler reproduces diffusers with replayed noise", "[classes_more][cogvideox]", float,
                   double) {
    namespace ref = reference_classes_more;
    const auto cosine_sample = config::options{{"beta_schedule", "squaredcos_cap_v2"},
                                               {"prediction_type", "sample"},
                                               {"set_alpha_to_one", false},
                                               {"timestep_spacing", "linspace"}};
    check_cases<TestType>({
        // Measured 4.7e-5 (float), 1.1e-10 (double).
        {"CogVideoXDPMScheduler", &ref::cogvideox_dpm_2b, 12, cogvideox_2b(), 5e-4, 1e-9},
        // Measured 3.6e-5, 1.3e-9.
        {"CogVideoXDPMScheduler", &ref::cogvideox_dpm_5b, 10, with(cogvideox_2b(), {{"snr_shift_scale", 1.0}}), 4e-4,
         2e-8},
        // Measured 1.3e-5, 3.2e-7.
        {"CogVideoXDPMScheduler", &ref::cogvideox_dpm_defaults, 10, {}, 2e-4, 4e-6},
        // Measured 1.6e-6, 1.8e-10.
        {"CogVideoXDPMScheduler", &ref::cogvideox_dpm_cosine_sample_linspace, 10, cosine_sample, 2e-5, 2e-9},
    });
}

TEMPLATE_TEST_CASE("DDPMWuerstchenScheduler reproduces diffusers with replayed noise", "[classes_more][wuerstchen]",
                   float, double) {
    namespace ref = reference_classes_more;
    check_cases<TestType>({
        // Measured 1.2e-6 (float), 1.6e-7 (double).
        {"DDPMWuerstchenScheduler", &ref::wuerstchen_defaults, 10, {}, 2e-5, 2e-6},
        // Measured 8.3e-6, 1.9e-7.
        {"DDPMWuerstchenScheduler", &ref::wuerstchen_scaler_2, 8, {{"scaler", 2.0}, {"s", 0.01}}, 1e-4, 2e-6},
        // Measured 1.5e-5, 6.1e-6.
        {"DDPMWuerstchenScheduler", &ref::wuerstchen_scaler_half, 12, {{"scaler", 0.5}}, 2e-4, 6e-5},
    });
}

TEMPLATE_TEST_CASE("UnCLIPScheduler reproduces diffusers with replayed noise", "[classes_more][unclip]", float,
                   double) {
    namespace ref = reference_classes_more;
    check_cases<TestType>({
        // Measured 5.8e-5 (float), 1.9e-8 (double).
        {"UnCLIPScheduler", &ref::unclip_defaults, 10, {}, 6e-4, 2e-7},
        // Measured 6.8e-6, 3.3e-8; 5.2e-4 in float when the step from t = 0 takes 1 - alphabar_0
        // instead of beta_0 (ddpm_options::schedule_beta_on_unit_steps).
        {"UnCLIPScheduler",
         &ref::unclip_sample_unclipped,
         7,
         {{"prediction_type", "sample"}, {"clip_sample", false}},
         7e-5,
         4e-7},
        // Measured 3.8e-5, 3.4e-8.
        {"UnCLIPScheduler",
         &ref::unclip_learned_range,
         10,
         {{"variance_type", "learned_range"}, {"clip_sample_range", 2.0}},
         4e-4,
         4e-7},
    });
}

TEMPLATE_TEST_CASE("CosineDPMSolverMultistepScheduler reproduces diffusers with replayed noise",
                   "[classes_more][cosine]", float, double) {
    namespace ref = reference_classes_more;
    const auto karras_epsilon_heun = config::options{{"sigma_schedule", "karras"},
                                                     {"prediction_type", "epsilon"},
                                                     {"solver_type", "heun"},
                                                     {"sigma_data", 0.5},
                                                     {"sigma_max", 80.0},
                                                     {"sigma_min", 0.01},
                                                     {"rho", 5.0}};
    check_cases<TestType>({
        // Stable Audio Open's config (the class's defaults). Measured 1.8e-5 (float), 1.3e-9 (double).
        {"CosineDPMSolverMultistepScheduler", &ref::cosine_defaults, 10, {}, 2e-4, 2e-8},
        // Measured 6.1e-5, 3.1e-9.
        {"CosineDPMSolverMultistepScheduler", &ref::cosine_karras_epsilon_heun, 12, karras_epsilon_heun, 6e-4, 4e-8},
        // Measured 5.7e-6, 1.1e-9.
        {"CosineDPMSolverMultistepScheduler",
         &ref::cosine_order1_long,
         20,
         {{"solver_order", 1}, {"lower_order_final", false}},
         6e-5,
         2e-8},
    });
}

TEMPLATE_TEST_CASE("DPMSolverMultistepInverseScheduler reproduces diffusers' inversion", "[classes_more][inverse]",
                   float, double) {
    namespace ref = reference_classes_more;
    const auto order3_v_leading = config::options{{"solver_order", 3},
                                                  {"prediction_type", "v_prediction"},
                                                  {"beta_schedule", "scaled_linear"},
                                                  {"beta_start", 0.00085},
                                                  {"beta_end", 0.012},
                                                  {"timestep_spacing", "leading"},
                                                  {"steps_offset", 1}};
    const auto noise_heun_cosine = config::options{{"algorithm_type", "dpmsolver"},
                                                   {"solver_type", "heun"},
                                                   {"beta_schedule", "squaredcos_cap_v2"},
                                                   {"lambda_min_clipped", -5.1},
                                                   {"lower_order_final", false}};
    check_cases<TestType>({
        // Measured 6.8e-6 (float), 1.5e-6 (double: diffusers rounds this class's sigmas to float32 in both runs).
        {"DPMSolverMultistepInverseScheduler", &ref::inverse_defaults, 10, {}, 7e-5, 2e-5},
        // Measured 3.9e-6, 3.8e-7 (no lower_order_final from 15 steps on).
        {"DPMSolverMultistepInverseScheduler", &ref::inverse_long, 20, {}, 4e-5, 4e-6},
        // Measured 1.0e-6, 1.7e-6.
        {"DPMSolverMultistepInverseScheduler", &ref::inverse_order3_v_leading, 12, order3_v_leading, 2e-5, 2e-5},
        // Measured 1.5e-6, 1.5e-7.
        {"DPMSolverMultistepInverseScheduler", &ref::inverse_noise_heun_cosine_clipped, 10, noise_heun_cosine, 2e-5,
         2e-6},
    });
}

TEST_CASE("the model-family classes refuse what they cannot honour", "[classes_more][errors]") {
    const auto error_of = [](const char* class_name, const config::options& o, diffuse::index steps = 10) {
        try {
            (void)config::make_sampler<double>(class_name, o).start(steps, 4);
        } catch (const diffuse::error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK_THAT(error_of("CogVideoXDDIMScheduler", {{"eta", 1.0}}), Contains("eta") && Contains("ignores it"));
    CHECK_THAT(error_of("CogVideoXDPMScheduler", {{"eta", 0.5}}), Contains("eta") && Contains("0.5"));
    CHECK_THAT(error_of("CogVideoXDDIMScheduler", {{"beta_schedule", "sigmoid"}}),
               Contains("beta_schedule") && Contains("squaredcos_cap_v2"));
    CHECK_THAT(error_of("CogVideoXDPMScheduler", {{"prediction_type", "flow_prediction"}}),
               Contains("prediction_type") && Contains("v_prediction"));
    CHECK_THAT(error_of("CogVideoXDDIMScheduler", {{"snr_shift_scale", -1.0}}), Contains("snr_shift_scale"));
    // epsilon at a zero-SNR first timestep divides by sqrt(alphabar) = 0 (diffusers returns inf there).
    CHECK_THAT(error_of("CogVideoXDPMScheduler", with(cogvideox_2b(), {{"prediction_type", "epsilon"}})),
               Contains("prediction_type") && Contains("zero-SNR"));
    CHECK_THAT(error_of("UnCLIPScheduler", {{"beta_schedule", "linear"}}), Contains("squaredcos_cap_v2"));
    CHECK_THAT(error_of("UnCLIPScheduler", {{"variance_type", "fixed_small"}}),
               Contains("variance_type") && Contains("learned_range"));
    CHECK_THAT(error_of("UnCLIPScheduler", {{"prediction_type", "v_prediction"}}), Contains("prediction_type"));
    CHECK_THAT(error_of("UnCLIPScheduler", {}, 1), Contains("num_inference_steps") && Contains(">= 2"));
    CHECK_THAT(error_of("CosineDPMSolverMultistepScheduler", {{"solver_order", 3}}),
               Contains("solver_order") && Contains("1 or 2"));
    CHECK_THAT(error_of("CosineDPMSolverMultistepScheduler", {{"prediction_type", "sample"}}),
               Contains("prediction_type") && Contains("v_prediction"));
    CHECK_THAT(error_of("CosineDPMSolverMultistepScheduler", {{"final_sigmas_type", "sigma_min"}}),
               Contains("final_sigmas_type") && Contains("not implemented"));
    CHECK_THAT(error_of("DPMSolverMultistepInverseScheduler", {{"algorithm_type", "sde-dpmsolver++"}}),
               Contains("algorithm_type") && Contains("dpmsolver++"));
    CHECK_THAT(error_of("DPMSolverMultistepInverseScheduler", {{"timestep_spacing", "trailing"}}),
               Contains("timestep_spacing") && Contains("zero-length"));
    CHECK_THAT(error_of("DPMSolverMultistepInverseScheduler", {{"use_karras_sigmas", true}}),
               Contains("use_karras_sigmas") && Contains("timestep spacing"));
    CHECK_THAT(error_of("DPMSolverMultistepInverseScheduler", {}, 1000), Contains("num_inference_steps"));
    CHECK_THAT(error_of("DDPMWuerstchenScheduler", {{"scaler", 0.0}}), Contains("scaler") && Contains("> 0"));
    CHECK_THAT(error_of("DDPMWuerstchenScheduler", {{"s", -0.1}}), Contains("s") && Contains(">= 0"));
    // From 156 steps on, the first two times both fall into the clamp at alphabar = 1e-4.
    CHECK_THAT(error_of("DDPMWuerstchenScheduler", {}, 160), Contains("strictly less"));
    CHECK(error_of("DDPMWuerstchenScheduler", {}, 150) == "no error");
}

TEST_CASE("the model-family keys are diffusers keys other classes ignore", "[classes_more][config]") {
    // A CogVideoX config loaded as DDIMScheduler (diffusers' from_config) ignores snr_shift_scale silently.
    const auto s =
        config::make_sampler<double>("DDIMScheduler", {{"snr_shift_scale", 3.0}, {"scaler", 1.0}, {"s", 0.008}});
    CHECK(s.warnings().empty());
}
