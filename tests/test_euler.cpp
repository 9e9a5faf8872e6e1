// Euler and the k-diffusion noise-level grid against diffusers' EulerDiscreteScheduler tests
// (tests/schedulers/test_scheduler_euler.py, snapshot 58eb52c0; shared/reference/diffusers_tests.md).
#include <catch2/catch.hpp>

#include <vector>

#include "diffuse/core/random.hpp"

#include "diffuse/sampler/euler.hpp"
#include "diffuse/sampler/sample.hpp"
#include "diffusers_fixtures.hpp"
#include "reference_init_noise_sigma.hpp"

using namespace diffuse;
template <class T>
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

namespace {

// Loop B of the diffusers tests: x = sample0 * init_noise_sigma; each step overwrites x with the
// scaled model input before calling the model and the step.
template <class T, class Sampler>
double loop_b_sum(const Sampler& s, const schedule::sigma_grid<T>& grid) {
    array<T> x = fixtures::sample0<T>();
    auto run = s.start(grid, x.size());
    x *= run.init_noise_sigma();
    array<T> out(x.size());
    while (!run.done()) {
        x *= run.input_scale();
        fixtures::dummy_model<T>(x, run.model_time(), out);
        run.step(out, x);
    }
    return static_cast<double>(x.abs().sum());
}

}  // namespace

TEMPLATE_TEST_CASE("the VP sigma grid matches diffusers' Euler sigmas", "[sigmas][diffusers]", float, double) {
    using T = TestType;
    // test_scheduler_euler.py, T=1100 linear 1e-4..0.02, 10 steps, linspace spacing. The "about"
    // values of diffusers_tests.md to their printed precision, and the exact float32 sigmas printed
    // by diffusers' EulerDiscreteScheduler itself (snapshot 58eb52c0, torch 1.13).
    const auto grid = schedule::vp_sigma_grid(schedule::discrete<T>::linear(1100, 1e-4, 0.02), {.steps = 10});
    const std::vector<double> about{261.0556, 81.4057, 29.1121, 11.9126,   5.5358, 2.8649,
                                    1.5868,   0.8741,  0.4002,  0.0100005, 0.0};
    const std::vector<double> printed{261.055573, 81.4056778,  29.1121178,  11.9125652,   5.53581953, 2.86487532,
                                      1.58681774, 0.874082506, 0.400163233, 0.0100013297, 0.0};
    REQUIRE(grid.steps() == 10);
    for (diffuse::index i = 0; i <= 10; ++i) {
        const auto k = static_cast<std::size_t>(i);
        // diffusers' printout has 4 decimals (rounding <= 5e-5): measured 3.7e-5.
        CHECK(static_cast<double>(grid[i].sigma) == Approx(about[k]).epsilon(0).margin(6e-5));
        // float32 as diffusers computes it: equal to an ulp or two (torch.linspace's betas differ by an ulp).
        if constexpr (std::is_same_v<T, float>)
            CHECK(static_cast<double>(grid[i].sigma) == Approx(printed[k]).epsilon(2e-6).margin(0));  // 1.9e-7
    }
    // init_noise_sigma is sigma_max for linspace/trailing spacing (diffusers printed tensor(261.0556)),
    // sqrt(sigma_max^2 + 1) for leading.
    const sampler::euler<T> euler;
    CHECK(static_cast<double>(euler.start(grid, 1).init_noise_sigma()) ==
          Approx(261.055573).epsilon(1e-6).margin(0));  // 1.2e-7
    const auto leading = schedule::vp_sigma_grid(schedule::discrete<T>::linear(1100, 1e-4, 0.02),
                                                 {.steps = 10, .timestep_spacing = schedule::spacing::leading});
    const double s0 = static_cast<double>(leading[0].sigma);
    CHECK(static_cast<double>(euler.start(leading, 1).init_noise_sigma()) ==
          Approx(std::sqrt(s0 * s0 + 1)).epsilon(4e-8).margin(0));  // 4.0e-9 (float), 0 (double)
    CHECK(grid[0].model_time == 1099.0);
    CHECK(grid[9].model_time == 0.0);
    CHECK(static_cast<double>(grid[0].alpha) ==
          Approx(1.0 / std::sqrt(261.0556 * 261.0556 + 1)).epsilon(6e-7).margin(0));  // 5.5e-8
}

TEMPLATE_TEST_CASE("Euler full loops reproduce diffusers' test values", "[euler][diffusers]", float, double) {
    using T = TestType;
    const auto betas = schedule::discrete<T>::linear(1100, 1e-4, 0.02);
    const sampler::euler<T> s;
    SECTION("test_full_loop_no_noise: S=10.0807, M=0.0131") {
        const double sum = loop_b_sum<T>(s, schedule::vp_sigma_grid(betas, {.steps = 10}));
        CHECK(sum == Approx(10.0807).epsilon(0).margin(3e-4));       // 3.2e-5
        CHECK(sum / 768 == Approx(0.0131).epsilon(0).margin(3e-4));  // 2.6e-5 (printed to 1e-4)
    }
    SECTION("test_full_loop_with_karras_sigmas: S=124.52299499511719, M=0.16213932633399963") {
        const double sum =
            loop_b_sum<T>(s, schedule::vp_sigma_grid(betas, {.steps = 10, .sigmas = schedule::sigma_spacing::karras}));
        // Measured 3.4e-4 (float), 5.2e-3 (double: diffusers' float32 rounding, which a double run
        // reproduces exactly; bound 2x, as 10x would loosen the bound it had).
        const bool is_float = std::is_same_v<T, float>;
        CHECK(sum == Approx(124.52299499511719).epsilon(0).margin(is_float ? 4e-3 : 1e-2));
        CHECK(sum / 768 == Approx(0.16213932633399963).epsilon(0).margin(is_float ? 5e-6 : 7e-5));  // 4.6e-7, 6.8e-6
    }
}

TEMPLATE_TEST_CASE("Euler in the model state is the same method (DDIM's update)", "[euler]", float, double) {
    using T = TestType;
    const auto betas = schedule::discrete<T>::linear();
    const auto grid = schedule::vp_sigma_grid(betas, {.steps = 20});
    const auto model = [](const_view<T> x, double t, view<T> out) { out = x * static_cast<T>(t / (t + 1.0)) * T(0.5); };
    const sampler::euler<T> euler;
    array<T> x_denoiser = fixtures::sample0<T>() * euler.start(grid, 768).init_noise_sigma();
    array<T> x_model = x_denoiser * grid[0].alpha;
    diffuse::sample(model, sampler::euler<T>(), grid, x_denoiser);
    diffuse::sample(model, sampler::euler<T>({.space = sampler::state_space::model}), grid, x_model);
    // Both end at sigma = 0 where alpha = 1: the same point.
    CHECK(((x_denoiser - x_model).abs().maxCoeff()) < (std::is_same_v<T, float> ? 1e-4 : 1e-10));
}

TEMPLATE_TEST_CASE("SD's EulerDiscrete config: init_noise_sigma and input scale before a run, initial_latents",
                   "[euler][diffusers][initial]", float, double) {
    using T = TestType;
    namespace ref = reference_init_noise_sigma;
    // SD 1.5's config (scaled_linear, 1000 train steps, steps_offset 1), 50 steps: diffusers'
    // init_noise_sigma is sqrt(sigma_max^2 + 1) for leading spacing and sigma_max for linspace
    // (tools/reference_init_noise_sigma.py).
    const sampler::euler<T> euler;
    const auto betas = schedule::discrete<T>::scaled_linear();
    const auto leading = schedule::vp_sigma_grid(
        betas, {.steps = ref::steps, .timestep_spacing = schedule::spacing::leading, .steps_offset = 1});
    const auto linspace = schedule::vp_sigma_grid(betas, {.steps = ref::steps, .steps_offset = 1});
    // Measured relative error at most 2.7e-7 (float) and 3.2e-7 (double; diffusers computes in float32).
    const double eps = 3e-6;
    CHECK(static_cast<double>(sampler::init_noise_sigma(euler, leading)) ==
          Approx(ref::leading_init_noise_sigma).epsilon(eps).margin(0));
    CHECK(static_cast<double>(sampler::init_noise_sigma(euler, linspace)) ==
          Approx(ref::linspace_init_noise_sigma).epsilon(eps).margin(0));
    CHECK(static_cast<double>(sampler::input_scale(euler, leading)) ==
          Approx(ref::leading_input_scale).epsilon(eps).margin(0));
    CHECK(static_cast<double>(sampler::input_scale(euler, linspace)) ==
          Approx(ref::linspace_input_scale).epsilon(eps).margin(0));
    CHECK(leading[0].model_time == ref::leading_first_timestep);

    // initial_latents = init_noise_sigma * N(0, I), from a seed or from the caller's noise.
    const T sigma = sampler::init_noise_sigma(euler, leading);
    array<T> z(64), x(64);
    random::generator(7).normal(z);
    // Stored first: compared within one expression, z * sigma could be fused into the subtraction.
    const array<T> expected = z * sigma;
    random::generator seeded(7);
    diffuse::initial_latents(euler, leading, x, seeded);
    CHECK((x == expected).all());
    x.setZero();
    diffuse::initial_latents(euler, leading, x, z);
    CHECK((x == expected).all());
    array<T> in_place = z;
    auto run = euler.start(leading, 64);
    diffuse::initial_latents(run, in_place, in_place);
    CHECK((in_place == expected).all());
    // A discrete or model-state sampler starts from unit-variance noise.
    const sampler::euler<T> model_state({.space = sampler::state_space::model});
    CHECK(sampler::init_noise_sigma(model_state, leading) == T(1));
    CHECK(sampler::input_scale(model_state, leading) == T(1));
    array<T> short_noise(63);
    CHECK_THROWS_WITH(diffuse::initial_latents(euler, leading, x, short_noise), Catch::Contains("noise.size()"));
}
