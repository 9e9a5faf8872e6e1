// LCM (lcm.hpp) against diffusers' LCMScheduler (snapshot 58eb52c0): its timestep selection and
// element-wise traces with replayed noise recorded by tools/reference_pndm_consistency.py
// (Stable Diffusion config; v-prediction on zero-terminal-SNR betas; clip_sample on linear betas).
#include <catch2/catch.hpp>

#include "diffuse/core/random.hpp"
#include "diffuse/sampler/lcm.hpp"
#include "diffuse/sampler/sample.hpp"
#include "pndm_consistency_test_support.hpp"

using namespace diffuse;
using f3test::array;
namespace ref = reference_pndm_consistency;
using predict::prediction;
using sampler::lcm;

TEST_CASE("lcm_timesteps reproduces LCMScheduler.set_timesteps", "[lcm][diffusers]") {
    using v = std::vector<schedule::timestep>;
    CHECK(sampler::lcm_timesteps(1000, 4) == v{999, 759, 499, 259});
    CHECK(sampler::lcm_timesteps(1000, 6) == v{999, 839, 679, 499, 339, 179});
    CHECK(sampler::lcm_timesteps(1000, 3, 25) == v{999, 679, 359});
    CHECK(f3test::grid_of(ref::diffusers_lcm_sd) == sampler::lcm_timesteps(1000, 4));
    CHECK(f3test::grid_of(ref::diffusers_lcm_v_zero_snr) == sampler::lcm_timesteps(1000, 6));
    CHECK(f3test::grid_of(ref::diffusers_lcm_clip_linear) == sampler::lcm_timesteps(1000, 3, 25));
    // img2img strength 0.5 keeps the distillation grid's lower half: (1..25) * 20 - 1.
    CHECK(sampler::lcm_timesteps(1000, 2, 50, 0.5) == v{499, 259});
}

TEMPLATE_TEST_CASE("LCM matches diffusers element-wise with replayed noise", "[lcm][diffusers]", float, double) {
    using T = TestType;
    SECTION("Stable Diffusion config, 4 steps") {
        const lcm<T> s(f3test::stable_diffusion<T>());
        const auto& tr = ref::diffusers_lcm_sd;
        f3test::require_trace<T>(f3test::replay<T>(s.start(f3test::grid_of(tr), 64), tr, true), tr, true);
    }
    SECTION("v-prediction on zero-terminal-SNR betas, 6 steps") {
        const lcm<T> s(f3test::stable_diffusion<T>().rescaled_zero_terminal_snr(),
                       {.prediction = prediction::v_prediction});
        const auto& tr = ref::diffusers_lcm_v_zero_snr;
        f3test::require_trace<T>(f3test::replay<T>(s.start(f3test::grid_of(tr), 64), tr, true), tr, true);
    }
    SECTION("clip_sample on linear betas, original_inference_steps 25") {
        const lcm<T> s(f3test::linear<T>(), {.x0 = {.clip_range = T(1), .thresholding = {}}});
        const auto& tr = ref::diffusers_lcm_clip_linear;
        f3test::require_trace<T>(f3test::replay<T>(s.start(f3test::grid_of(tr), 64), tr, true), tr, true);
    }
}

TEMPLATE_TEST_CASE("LCM's last step returns the boundary-conditioned estimate without noise", "[lcm]", float, double) {
    using T = TestType;
    // One step at t = 259: d = c_skip x + c_out x0 with the LCM scalings (Luo et al. 2023, eq. 9:
    // u = 2590, c_skip = 0.25 / (u^2 + 0.25), c_out = u / sqrt(u^2 + 0.25)).
    const auto betas = f3test::stable_diffusion<T>();
    const lcm<T> s(betas);
    array<T> x = kdtest::trace_sample0<T>(), out = x.tanh();
    const double ab = static_cast<double>(betas.alpha_bar(259)), u = 2590.0;
    const double skip = 0.25 / (u * u + 0.25), c_out = u / std::sqrt(u * u + 0.25);
    const Eigen::ArrayXd expected =
        skip * x.template cast<double>() +
        c_out * (x.template cast<double>() - std::sqrt(1 - ab) * out.template cast<double>()) / std::sqrt(ab);
    auto run = s.start(std::vector<schedule::timestep>{259}, x.size());
    run.step(out, x);  // no noise needed
    CHECK((x.template cast<double>() - expected).abs().maxCoeff() <= (std::is_same_v<T, float> ? 1e-5 : 1e-12));
}

TEST_CASE("LCM rejects bad options, grids and missing noise, naming what is allowed", "[lcm][errors]") {
    CHECK_THROWS_WITH(lcm<float>(f3test::stable_diffusion<float>(), {.timestep_scaling = 0.0f}),
                      Catch::Contains("timestep_scaling") && Catch::Contains("> 0"));
    CHECK_THROWS_WITH(lcm<float>(f3test::stable_diffusion<float>(), {.x0 = {.clip_range = -1.0f, .thresholding = {}}}),
                      Catch::Contains("clip_sample_range"));
    CHECK_THROWS_WITH(
        sampler::lcm_timesteps(1000, 51),
        Catch::Contains("num_inference_steps") && Catch::Contains("[1, original_inference_steps * strength = 50]"));
    CHECK_THROWS_WITH(sampler::lcm_timesteps(1000, 4, 1001),
                      Catch::Contains("original_inference_steps") && Catch::Contains("num_train_timesteps = 1000"));
    CHECK_THROWS_WITH(sampler::lcm_timesteps(1000, 4, 50, 0.0),
                      Catch::Contains("strength") && Catch::Contains("(0, 1]"));
    CHECK_THROWS_WITH(sampler::lcm_timesteps(1000, 4, 50, 0.05),
                      Catch::Contains("num_inference_steps") && Catch::Contains("= 2]"));
    const lcm<float> s(f3test::stable_diffusion<float>());
    auto run = s.start(sampler::lcm_timesteps(1000, 4), 8);
    Eigen::ArrayXf x = Eigen::ArrayXf::Ones(8), out = Eigen::ArrayXf::Zero(8), short_noise(7);
    CHECK_THROWS_WITH(run.step(out, x), Catch::Contains("noise") && Catch::Contains("stochastic"));
    CHECK_THROWS_WITH(run.step(out, x, short_noise), Catch::Contains("noise.size()"));
    CHECK_THROWS_WITH(s.start(std::vector<schedule::timestep>{259, 499}, 8), Catch::Contains("timesteps[1]"));
    const auto zero_snr = f3test::stable_diffusion<float>().rescaled_zero_terminal_snr();
    const lcm<float> zero_snr_lcm(zero_snr);
    CHECK_THROWS_WITH(zero_snr_lcm.start(sampler::lcm_timesteps(1000, 4), 8), Catch::Contains("prediction_type"));
}

TEMPLATE_TEST_CASE("LCM through the loop API with a noise source", "[lcm]", float, double) {
    using T = TestType;
    const lcm<T> s(f3test::stable_diffusion<T>());
    const auto grid = sampler::lcm_timesteps(1000, 4);
    const auto model = [](const_view<T> x, double t, view<T> out) { kdtest::smooth<T>(x, t, out); };
    array<T> a = kdtest::trace_sample0<T>(), b = a;
    random::generator g1(3), g2(3);
    CHECK(diffuse::sample(model, s, grid, a, g1) == 4);
    auto run = s.start(grid, b.size());
    array<T> out(b.size());
    while (!run.done()) {
        model(cflat(b), run.model_time(), flat(out));
        run.step(out, b, g2);
    }
    CHECK((a - b).abs().maxCoeff() == T(0));
}
