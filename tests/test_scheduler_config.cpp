// The runtime facade: samplers built from diffusers scheduler_config.json files or from a class
// name plus options behave exactly as the compile-time samplers, and bad configs are errors.
#include <catch2/catch.hpp>

#include <filesystem>
#include <limits>

#include "diffuse/config/scheduler_config.hpp"
#include "diffuse/sampler/sample.hpp"
#include "diffusers_fixtures.hpp"
#include "reference_init_noise_sigma.hpp"

using namespace diffuse;
template <class T>
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

namespace {

template <class T>
double loop_a_sum(const config::any_sampler<T>& s, diffuse::index steps) {
    array<T> x = fixtures::sample0<T>();
    const auto model = [](const_view<T> in, double t, view<T> out) { fixtures::dummy_model<T>(in, t, out); };
    diffuse::sample(model, s, steps, x);
    return static_cast<double>(x.abs().sum());
}

}  // namespace

TEMPLATE_TEST_CASE("a DDIM scheduler_config.json reproduces diffusers' DDIM test values", "[config][diffusers]", float,
                   double) {
    using T = TestType;
    // The config of diffusers' tests/schedulers/test_scheduler_ddim.py (shared/reference/diffusers_tests.md).
    const auto j = nlohmann::json::parse(R"({"_class_name": "DDIMScheduler", "_diffusers_version": "0.30.0",
        "num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear",
        "clip_sample": true, "trained_betas": null, "skip_prk_steps": true})");
    const auto s = config::from_scheduler_config<T>(j);
    CHECK(s.class_name() == "DDIMScheduler");
    // diffusers' float32 test value, printed to 4 decimals (2.9e-7 relative); measured 9.7e-8 (float), 1.0e-6 (double,
    // against diffusers' float32 run) relative
    CHECK(loop_a_sum(s, 10) == Approx(172.0067).epsilon(std::is_same_v<T, float> ? 1e-6 : 2e-5).margin(0));
    auto v = j;
    v["prediction_type"] = "v_prediction";
    // 4 decimals (9.5e-7 relative); measured 2.4e-7 (float), 1.5e-6 (double) relative
    CHECK(loop_a_sum(config::from_scheduler_config<T>(v), 10) ==
          Approx(52.5302).epsilon(std::is_same_v<T, float> ? 3e-6 : 2e-5).margin(0));
}

TEMPLATE_TEST_CASE("from_scheduler_config_text reads the JSON text Python writes, as the file loader does", "[config]",
                   float, double) {
    using T = TestType;
    // lambda_min_clipped: -Infinity is how diffusers saves DPMSolverMultistep's default; for DDIM it is
    // another class's key (ignored). Same config as the file-based DDIM test above: same result, exactly.
    const std::string text = R"({"_class_name": "DDIMScheduler", "num_train_timesteps": 1000, "beta_start": 0.0001,
        "beta_end": 0.02, "beta_schedule": "linear", "clip_sample": true, "lambda_min_clipped": -Infinity})";
    const auto s = config::from_scheduler_config_text<T>(text);
    CHECK(s.class_name() == "DDIMScheduler");
    CHECK(loop_a_sum(s, 10) == loop_a_sum(config::from_scheduler_config<T>(config::parse_python_json(text)), 10));
    CHECK_THROWS_WITH(config::from_scheduler_config_text<T>("{\"_class_name\": "), Catch::Contains("valid JSON"));
}

TEMPLATE_TEST_CASE("an Euler config reproduces diffusers' Euler values through the erased run", "[config][diffusers]",
                   float, double) {
    using T = TestType;
    const auto s = config::make_sampler<T>("EulerDiscreteScheduler", {{"num_train_timesteps", 1100},
                                                                      {"beta_start", 0.0001},
                                                                      {"beta_end", 0.02},
                                                                      {"beta_schedule", "linear"},
                                                                      {"use_karras_sigmas", true}});
    // Loop B with the erased run (init_noise_sigma, input_scale): diffusers' test_full_loop_with_karras_sigmas.
    array<T> x = fixtures::sample0<T>(), out(768);
    auto run = s.start(10, 768);
    x *= run.init_noise_sigma();
    while (!run.done()) {
        x *= run.input_scale();
        fixtures::dummy_model<T>(x, run.model_time(), out);
        run.step(out, x);
    }
    // diffusers' float32 run; measured 2.8e-6 (float), 4.2e-5 (double) relative
    CHECK(static_cast<double>(x.abs().sum()) ==
          Approx(124.52299499511719).epsilon(std::is_same_v<T, float> ? 3e-5 : 5e-4).margin(0));
}

TEMPLATE_TEST_CASE("the SD 1.5 scheduler config drives DDPM and DDIM, with noise through the erased run", "[config]",
                   float, double) {
    using T = TestType;
    // Stable Diffusion v1.5's scheduler/scheduler_config.json (a PNDMScheduler config), loaded as other classes
    // the way diffusers' from_config allows: skip_prk_steps is PNDM's key and is ignored here.
    auto j = nlohmann::json::parse(R"({"_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
        "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000, "set_alpha_to_one": false,
        "skip_prk_steps": true, "steps_offset": 1, "trained_betas": null, "clip_sample": false})");
    j["_class_name"] = "DDPMScheduler";
    const auto ddpm = config::from_scheduler_config<T>(j);
    const sampler::ddpm<T> direct(schedule::discrete<T>::scaled_linear(), {.x0 = {}});
    const auto grid = schedule::spaced_timesteps(1000, 20, schedule::spacing::leading, 1);
    const auto model = [](const_view<T> in, double t, view<T> out) { fixtures::dummy_model<T>(in, t, out); };
    array<T> a = fixtures::sample0<T>(), b = a;
    random::generator na(5), nb(5);
    diffuse::sample(model, ddpm, 20, a, na);
    diffuse::sample(model, direct, grid, b, nb);
    CHECK((a == b).all());
}

TEST_CASE("bad configs are errors that name the key, the value and what is allowed", "[config][errors]") {
    using T = float;
    CHECK_THROWS_WITH(config::make_sampler<T>("FancyScheduler"),
                      Catch::Contains("_class_name = \"FancyScheduler\"") && Catch::Contains("docs/config.md"));
    CHECK_THROWS_WITH(config::make_sampler<T>("DDIMScheduler", {{"beta_shedule", "linear"}}),
                      Catch::Contains("option 'beta_shedule'") && Catch::Contains("beta_schedule"));
    CHECK_THROWS_WITH(config::make_sampler<T>("DDIMScheduler", {{"num_train_timesteps", "1000"}}),
                      Catch::Contains("num_train_timesteps = \"1000\"") && Catch::Contains("an integer"));
    CHECK_THROWS_WITH(config::make_sampler<T>("DDIMScheduler", {{"beta_end", 2.0}}), Catch::Contains("beta_end = 2"));
    CHECK_THROWS_WITH(config::make_sampler<T>("DDPMScheduler", {{"variance_type", "fixed"}}),
                      Catch::Contains("variance_type = \"fixed\""));
    CHECK_THROWS_WITH(config::make_sampler<T>("EulerDiscreteScheduler", {{"timestep_spacing", "middle"}}),
                      Catch::Contains("timestep_spacing = \"middle\""));
    CHECK_THROWS_WITH(config::make_sampler<T>("EulerDiscreteScheduler", {{"interpolation_type", "log_linear"}}),
                      Catch::Contains("interpolation_type = \"log_linear\"") && Catch::Contains("\"linear\""));
    CHECK_THROWS_WITH(config::from_scheduler_config<T>(nlohmann::json::parse(R"({"beta_start": 0.001})")),
                      Catch::Contains("_class_name = (missing)"));
    CHECK_THROWS_WITH(config::options_from_json(nlohmann::json::parse(R"({"trained_betas": [0.1, "x"]})")),
                      Catch::Contains("trained_betas") && Catch::Contains("list of numbers"));
    CHECK_THROWS_WITH(config::from_scheduler_config_file<T>("/nonexistent/scheduler_config.json"),
                      Catch::Contains("readable scheduler_config.json"));
    // A directory opens as an ifstream on Linux and used to fail at the read with std::ios_base::failure.
    const auto directory = std::filesystem::temp_directory_path() / "diffuse_test_scheduler_config_dir";
    std::filesystem::create_directories(directory);
    CHECK_THROWS_AS(config::from_scheduler_config_file<T>(directory), diffuse::error);
    CHECK_THROWS_WITH(config::from_scheduler_config_file<T>(directory),
                      Catch::Contains(directory.string()) && Catch::Contains("not a directory"));
    std::filesystem::remove(directory);
}

TEMPLATE_TEST_CASE("the facade gives init_noise_sigma and the input scale before a run, and initial latents",
                   "[config][diffusers][initial]", float, double) {
    using T = TestType;
    namespace ref = reference_init_noise_sigma;
    // SD 1.5's EulerDiscrete config (tools/reference_init_noise_sigma.py, diffusers' float32 values).
    const auto s = config::make_sampler<T>("EulerDiscreteScheduler", {{"num_train_timesteps", 1000},
                                                                      {"beta_start", 0.00085},
                                                                      {"beta_end", 0.012},
                                                                      {"beta_schedule", "scaled_linear"},
                                                                      {"steps_offset", 1},
                                                                      {"timestep_spacing", "leading"}});
    // Measured relative error at most 3.2e-7, as the typed sampler's (test_euler.cpp).
    CHECK(static_cast<double>(s.init_noise_sigma(ref::steps)) ==
          Approx(ref::leading_init_noise_sigma).epsilon(3e-6).margin(0));
    CHECK(static_cast<double>(s.input_scale(ref::steps)) == Approx(ref::leading_input_scale).epsilon(3e-6).margin(0));
    CHECK(sampler::init_noise_sigma(s, ref::steps) == s.init_noise_sigma(ref::steps));
    // The facade's initial latents are the typed ones: init_noise_sigma * N(0, I) from the seed.
    array<T> z(32), x(32);
    random::generator(11).normal(z);
    const array<T> expected = z * s.init_noise_sigma(ref::steps);
    random::generator seeded(11);
    diffuse::initial_latents(s, ref::steps, x, seeded);
    CHECK((x == expected).all());
    x.setZero();
    diffuse::initial_latents(s.start(ref::steps, 32), x, z);
    CHECK((x == expected).all());
}

TEMPLATE_TEST_CASE("the erased run refuses non-finite model outputs, and the loop API unwritten ones",
                   "[config][finite]", float, double) {
    using T = TestType;
    const auto s = config::make_sampler<T>("EulerDiscreteScheduler", {});
    array<T> x = fixtures::sample0<T>(), out = array<T>::Zero(768);
    {
        auto run = s.start(10, 768);
        CHECK(run.check_finite());
        out[5] = std::numeric_limits<T>::quiet_NaN();
        CHECK_THROWS_WITH(run.step(out, x),
                          Catch::Contains("model_output[5] at step 0") && Catch::Contains("NaN or Inf"));
        CHECK(run.step_index() == 0);
        run.set_check_finite(false);
        run.step(out, x);  // unchecked: the NaN goes into x
        CHECK(run.step_index() == 1);
        CHECK(!x.allFinite());
    }
    // A model that never writes its output is reported as such by the loop API (and by the step API's
    // check when the caller marks the buffer with sampler::mark_unwritten).
    x = fixtures::sample0<T>();
    const auto lazy = [](const_view<T>, double, view<T>) {};
    CHECK_THROWS_WITH(diffuse::sample(lazy, s, 10, x), Catch::Contains("model_output[0] at step 0") &&
                                                           Catch::Contains("the model did not write its output"));
    const auto half = [](const_view<T> in, double, view<T> out) { out.head(in.size() / 2).setZero(); };
    CHECK_THROWS_WITH(diffuse::sample(half, s, 10, x),
                      Catch::Contains("model_output[384]") && Catch::Contains("did not write"));
    auto run = s.start(10, 768);
    sampler::mark_unwritten<T>(flat(out));
    CHECK_THROWS_WITH(run.step(out, x), Catch::Contains("did not write"));
    // Without the check the loop API lets the marker through (the option still turns it off).
    sample_options<T> unchecked;
    unchecked.check_finite = false;
    CHECK_NOTHROW(diffuse::sample(half, s, 10, x, unchecked));
}
