// DDPM, DDIM and DDIM inversion element by element against diffusers' DDPMScheduler,
// DDIMScheduler and DDIMInverseScheduler (snapshot 58eb52c0), and the batched noise-free step of
// DDIMParallelScheduler and DDPMParallelScheduler, run by tools/reference_discrete.py
// with the noise recorded and replayed here (tests/reference_discrete.hpp): float against diffusers'
// float32 run, double against its float64 run of the same configuration.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/ddim_inverse.hpp"
#include "diffuse/sampler/ddpm.hpp"
#include "diffuse/sampler/parallel_step.hpp"
#include "kdiffusion_test_support.hpp"
#include "reference_discrete.hpp"

using namespace diffuse;
using kdtest::array;
using predict::prediction;
namespace ref = reference_discrete;

namespace {

template <class T>
array<T> start_of(const ref::trace& tr) {
    array<T> x(static_cast<diffuse::index>(tr.start.size()));
    for (std::size_t i = 0; i < tr.start.size(); ++i) x[static_cast<diffuse::index>(i)] = static_cast<T>(tr.start[i]);
    return x;
}

std::vector<schedule::timestep> grid_of(const ref::trace& tr) {
    return {tr.timesteps.begin(), tr.timesteps.end()};
}

// The second output block of tools/reference_discrete.py's network for the learned variance types.
template <class T>
void variance_head(const array<T>& x, sampler::variance_type type, Eigen::Ref<array<T>> out) {
    if (type == sampler::variance_type::learned) {
        out = T(0.02) * (T(1.5) + x.tanh());
    } else {
        out = T(0.9) * (T(2) * x).tanh();
    }
}

// Runs the sampler from the trace's start with the stand-in network, replaying the recorded noise
// (when `noisy`), and returns the final sample.
template <class T, class Sampler>
array<T> replay(const Sampler& s, const ref::trace& tr, bool noisy, diffuse::index output_size = 64) {
    array<T> x = start_of<T>(tr), out(output_size);
    kdtest::replay<T> noise{&tr.noise};
    auto run = s.start(grid_of(tr), x.size());
    while (!run.done()) {
        const double t = run.model_time();
        kdtest::smooth<T>(cflat(x), t, view<T>(out.data(), x.size()));
        if constexpr (requires { s.options().variance; }) {
            if (output_size > x.size()) variance_head<T>(x, s.options().variance, out.tail(x.size()));
        }
        if constexpr (requires { run.step(out, x, noise); }) {
            if (noisy) {
                run.step(out, x, noise);
                continue;
            }
        }
        run.step(out, x);
    }
    CHECK(noise.all_used());
    return x;
}

// Allowed difference |x - diffusers| <= abs + rel |diffusers|, element-wise.
struct slack {
    double rel, abs;
};

// Compares the final sample with diffusers' float32 run (T = float) or float64 run (T = double).
// The slack is stated per trace and type at about 10x the measured worst differences, which the
// comments beside each call give as (absolute, relative where |expected| > 1e-3).
template <class T, class Reference>
void require_trace(const array<T>& x, const Reference& tr, slack for_float, slack for_double) {
    const bool is_float = std::is_same_v<T, float>;
    const slack allowed = is_float ? for_float : for_double;
    REQUIRE(x.size() == static_cast<diffuse::index>(tr.x.size()));
    double worst_abs = 0, worst_rel = 0, worst_ratio = 0;
    for (diffuse::index i = 0; i < x.size(); ++i) {
        const auto k = static_cast<std::size_t>(i);
        const double expected = is_float ? static_cast<double>(tr.x[k]) : tr.x_double[k];
        const double d = std::abs(static_cast<double>(x[i]) - expected);
        worst_abs = std::max(worst_abs, d);
        if (std::abs(expected) > 1e-3) worst_rel = std::max(worst_rel, d / std::abs(expected));
        worst_ratio = std::max(worst_ratio, d / (allowed.abs + allowed.rel * std::abs(expected)));
    }
    INFO("worst absolute difference " << worst_abs << ", worst relative difference (|expected| > 1e-3) " << worst_rel);
    kdtest::report_error(worst_abs, allowed.abs);
    kdtest::report_error(worst_rel, allowed.rel);
    CHECK(worst_ratio <= 1.0);
}

template <class T>
schedule::discrete<T> linear() {
    return schedule::discrete<T>::linear(1000, 1e-4, 0.02);
}
template <class T>
schedule::discrete<T> stable_diffusion() {
    return schedule::discrete<T>::scaled_linear(1000, 0.00085, 0.012);
}
template <class T>
predict::x0_processing<T> thresholding() {
    return {.clip_range = std::nullopt,
            .thresholding = predict::dynamic_thresholding<T>{.ratio = T(0.9), .max_value = T(1.5)}};
}
template <class T>
predict::x0_processing<T> no_clip() {
    return {.clip_range = std::nullopt, .thresholding = {}};
}

template <class T>
bool is_float() {
    return std::is_same_v<T, float>;
}

}  // namespace

TEMPLATE_TEST_CASE("DDPM matches diffusers' DDPMScheduler element-wise with replayed noise", "[ddpm][diffusers]", float,
                   double) {
    using T = TestType;
    using sampler::ddpm;
    using sampler::variance_type;
    SECTION("fixed_small, clip_sample") {
        const auto x = replay<T>(ddpm<T>(linear<T>()), ref::diffusers_ddpm_fixed_small_clip, true);
        require_trace<T>(x, ref::diffusers_ddpm_fixed_small_clip, {5e-5, 3e-6},
                         {4e-14, 5e-15});  // 2.4e-7 4.8e-6, 4.4e-16 3.3e-15
    }
    SECTION("fixed_small_log, Stable Diffusion betas, no clipping") {
        const auto x =
            replay<T>(ddpm<T>(stable_diffusion<T>(), {.variance = variance_type::fixed_small_log, .x0 = no_clip<T>()}),
                      ref::diffusers_ddpm_fixed_small_log_sd, true);
        require_trace<T>(x, ref::diffusers_ddpm_fixed_small_log_sd, {2e-4, 9e-5},
                         {3e-13, 3e-13});  // 8.6e-6 1.6e-5, 2.3e-14 2.1e-14
    }
    SECTION("fixed_large, v_prediction, clip_sample_range 1.5") {
        const auto x = replay<T>(ddpm<T>(linear<T>(), {.prediction = prediction::v_prediction,
                                                       .variance = variance_type::fixed_large,
                                                       .x0 = {.clip_range = T(1.5), .thresholding = {}}}),
                                 ref::diffusers_ddpm_fixed_large_v_clip_range, true);
        require_trace<T>(x, ref::diffusers_ddpm_fixed_large_v_clip_range, {5e-5, 3e-6},
                         {1e-13, 3e-15});  // 2.4e-7 4.9e-6, 2.2e-16 9.1e-15
    }
    SECTION("learned (the output's second block is the variance), sample prediction") {
        const auto x =
            replay<T>(ddpm<T>(linear<T>(), {.prediction = prediction::sample, .variance = variance_type::learned}),
                      ref::diffusers_ddpm_learned_sample, true, 128);
        require_trace<T>(x, ref::diffusers_ddpm_learned_sample, {4e-5, 3e-7},
                         {3e-14, 6e-16});  // 3.0e-8 3.9e-6, 5.6e-17 2.4e-15
    }
    SECTION("learned_range, no clipping") {
        const auto x = replay<T>(ddpm<T>(linear<T>(), {.variance = variance_type::learned_range, .x0 = no_clip<T>()}),
                                 ref::diffusers_ddpm_learned_range, true, 128);
        require_trace<T>(x, ref::diffusers_ddpm_learned_range, {2e-3, 5e-4},
                         {5e-12, 8e-13});  // 4.6e-5 1.4e-4, 7.1e-14 4.2e-13
    }
    SECTION("dynamic thresholding (ratio 0.9, sample_max_value 1.5), Stable Diffusion betas") {
        const auto x = replay<T>(ddpm<T>(stable_diffusion<T>(), {.x0 = thresholding<T>()}),
                                 ref::diffusers_ddpm_thresholding_sd, true);
        require_trace<T>(x, ref::diffusers_ddpm_thresholding_sd, {8e-5, 3e-6},
                         {2e-13, 4e-15});  // 3.0e-7 7.2e-6, 3.3e-16 1.2e-14
    }
}

TEMPLATE_TEST_CASE("DDIM matches diffusers' DDIMScheduler element-wise with replayed noise", "[ddim][diffusers]", float,
                   double) {
    using T = TestType;
    using sampler::ddim;
    SECTION("eta 0.5, Stable Diffusion config (set_alpha_to_one False, steps_offset 1, no clipping)") {
        const auto x =
            replay<T>(ddim<T>(stable_diffusion<T>(), {.eta = T(0.5), .set_alpha_to_one = false, .x0 = no_clip<T>()}),
                      ref::diffusers_ddim_eta05_sd, true);
        require_trace<T>(x, ref::diffusers_ddim_eta05_sd, {7e-6, 4e-5},
                         {3e-14, 8e-14});  // 3.8e-6 6.6e-7, 7.1e-15 2.5e-15
    }
    SECTION("eta 1, clip_sample") {
        const auto x = replay<T>(ddim<T>(linear<T>(), {.eta = T(1)}), ref::diffusers_ddim_eta1_clip, true);
        require_trace<T>(x, ref::diffusers_ddim_eta1_clip, {7e-5, 3e-6},
                         {2e-13, 6e-15});  // 2.4e-7 6.8e-6, 5.6e-16 1.8e-14
    }
    SECTION("eta 0.5, use_clipped_model_output with clip_sample") {
        const auto x = replay<T>(ddim<T>(linear<T>(), {.eta = T(0.5), .use_clipped_model_output = true}),
                                 ref::diffusers_ddim_eta05_clipped_output, true);
        require_trace<T>(x, ref::diffusers_ddim_eta05_clipped_output, {7e-4, 3e-6},
                         {6e-13, 6e-15});  // 3.0e-7 6.8e-5, 5.6e-16 5.4e-14
    }
    SECTION("eta 0, use_clipped_model_output with dynamic thresholding, v_prediction") {
        const auto x = replay<T>(ddim<T>(stable_diffusion<T>(), {.prediction = prediction::v_prediction,
                                                                 .use_clipped_model_output = true,
                                                                 .x0 = thresholding<T>()}),
                                 ref::diffusers_ddim_thresholding_clipped_output_v, false);
        require_trace<T>(x, ref::diffusers_ddim_thresholding_clipped_output_v, {6e-6, 4e-6},
                         {1e-14, 9e-15});  // 3.6e-7 5.8e-7, 8.9e-16 9.0e-16
    }
    SECTION("eta 1 with dynamic thresholding") {
        const auto x = replay<T>(ddim<T>(stable_diffusion<T>(), {.eta = T(1), .x0 = thresholding<T>()}),
                                 ref::diffusers_ddim_thresholding_eta1, true);
        require_trace<T>(x, ref::diffusers_ddim_thresholding_eta1, {5e-5, 3e-6},
                         {9e-14, 6e-15});  // 2.4e-7 4.3e-6, 5.6e-16 8.3e-15
    }
    SECTION("eta 0.5, sample prediction (eps recovered from x0), no clipping") {
        const auto x =
            replay<T>(ddim<T>(linear<T>(), {.prediction = prediction::sample, .eta = T(0.5), .x0 = no_clip<T>()}),
                      ref::diffusers_ddim_sample_prediction_eta05, true);
        require_trace<T>(x, ref::diffusers_ddim_sample_prediction_eta05, {2e-4, 8e-7},
                         {2e-13, 1e-15});  // 7.5e-8 2.0e-5, 9.7e-17 1.9e-14
    }
}

TEMPLATE_TEST_CASE("DDIM inversion matches diffusers' DDIMInverseScheduler element-wise", "[ddim][inverse][diffusers]",
                   float, double) {
    using T = TestType;
    using sampler::ddim_inverse;
    SECTION("defaults (clip_sample)") {
        const auto x = replay<T>(ddim_inverse<T>(linear<T>()), ref::diffusers_ddim_inverse_default, false);
        require_trace<T>(x, ref::diffusers_ddim_inverse_default, {8e-6, 2e-6},
                         {9e-15, 3e-15});  // 1.2e-7 7.5e-7, 2.8e-16 8.1e-16
    }
    SECTION("Stable Diffusion config, v_prediction, set_alpha_to_one False, steps_offset 1") {
        const auto x = replay<T>(
            ddim_inverse<T>(stable_diffusion<T>(),
                            {.prediction = prediction::v_prediction, .set_alpha_to_one = false, .x0 = no_clip<T>()}),
            ref::diffusers_ddim_inverse_sd_v, false);
        require_trace<T>(x, ref::diffusers_ddim_inverse_sd_v, {5e-6, 5e-6},
                         {2e-14, 2e-14});  // 4.8e-7 4.4e-7, 1.6e-15 1.5e-15
    }
}

// batch_step_no_noise: 4 samples, each at its own timestep, stepped to t - T // n at once.
template <class T, class Sampler>
array<T> batch_step(const Sampler& s, diffuse::index num_inference_steps, const ref::batch_step& ref) {
    array<T> x = Eigen::Map<const Eigen::ArrayXf>(ref.samples.data(), static_cast<diffuse::index>(ref.samples.size()))
                     .template cast<T>();
    const array<T> out =
        Eigen::Map<const Eigen::ArrayXf>(ref.output.data(), static_cast<diffuse::index>(ref.output.size()))
            .template cast<T>();
    const std::vector<schedule::timestep> timesteps(ref.timesteps.begin(), ref.timesteps.end());
    sampler::batch_step_no_noise(s, num_inference_steps, timesteps, out, x);
    return x;
}

TEMPLATE_TEST_CASE("the parallel classes' batched noise-free step matches diffusers' batch_step_no_noise",
                   "[ddim][ddpm][parallel][diffusers]", float, double) {
    using T = TestType;
    using sampler::ddim;
    using sampler::ddpm;
    SECTION("DDIMParallel, epsilon, no clipping") {
        const auto x = batch_step<T>(ddim<T>(linear<T>(), {.x0 = no_clip<T>()}), 10, ref::diffusers_ddim_parallel_eps);
        require_trace<T>(x, ref::diffusers_ddim_parallel_eps, {2e-6, 5e-6},
                         {3e-15, 5e-15});  // 4.8e-7 1.1e-7, 4.4e-16 2.9e-16
    }
    SECTION("DDIMParallel, v_prediction, clip_sample, use_clipped_model_output, set_alpha_to_one False") {
        const auto x = batch_step<T>(ddim<T>(stable_diffusion<T>(), {.prediction = prediction::v_prediction,
                                                                     .set_alpha_to_one = false,
                                                                     .use_clipped_model_output = true}),
                                     25, ref::diffusers_ddim_parallel_v_clip_clipped_output);
        require_trace<T>(x, ref::diffusers_ddim_parallel_v_clip_clipped_output, {2e-6, 3e-6},
                         {3e-15, 5e-15});  // 2.4e-7 1.2e-7, 4.4e-16 2.7e-16
    }
    SECTION("DDIMParallel, sample prediction, dynamic thresholding") {
        const auto x =
            batch_step<T>(ddim<T>(stable_diffusion<T>(), {.prediction = prediction::sample, .x0 = thresholding<T>()}),
                          20, ref::diffusers_ddim_parallel_sample_thresholding);
        require_trace<T>(x, ref::diffusers_ddim_parallel_sample_thresholding, {2e-6, 5e-6},
                         {3e-15, 5e-15});  // 4.8e-7 1.6e-7, 4.4e-16 2.2e-16
    }
    SECTION("DDPMParallel, epsilon, clip_sample") {
        const auto x = batch_step<T>(ddpm<T>(linear<T>()), 10, ref::diffusers_ddpm_parallel_eps_clip);
        require_trace<T>(x, ref::diffusers_ddpm_parallel_eps_clip, {2e-6, 2e-6},
                         {3e-15, 3e-15});  // 1.2e-7 1.3e-7, 2.2e-16 2.1e-16
    }
    SECTION("DDPMParallel, learned_range (the variance half is not used), v_prediction") {
        const auto x = batch_step<T>(ddpm<T>(stable_diffusion<T>(), {.prediction = prediction::v_prediction,
                                                                     .variance = sampler::variance_type::learned_range,
                                                                     .x0 = no_clip<T>()}),
                                     50, ref::diffusers_ddpm_parallel_learned_range_v);
        require_trace<T>(x, ref::diffusers_ddpm_parallel_learned_range_v, {3e-6, 3e-6},
                         {7e-15, 7e-15});  // 2.4e-7 2.3e-7, 6.7e-16 6.3e-16
    }
    SECTION("DDPMParallel, dynamic thresholding") {
        const auto x = batch_step<T>(ddpm<T>(stable_diffusion<T>(), {.x0 = thresholding<T>()}), 20,
                                     ref::diffusers_ddpm_parallel_thresholding);
        require_trace<T>(x, ref::diffusers_ddpm_parallel_thresholding, {3e-6, 5e-6},
                         {6e-15, 1.4e-14});  // 4.8e-7 2.2e-7, 1.3e-15 5.5e-16
    }
    SECTION("bad input names the parameter") {
        const ddim<T> s(linear<T>());
        array<T> x = array<T>::Zero(8), out = array<T>::Zero(8);
        const std::vector<schedule::timestep> two{500, 100}, off_range{1000};
        CHECK_THROWS_WITH(sampler::batch_step_no_noise(s, 10, two, array<T>(array<T>::Zero(6)), x),
                          Catch::Contains("model_output.size()"));
        const std::vector<schedule::timestep> three{900, 500, 100};
        CHECK_THROWS_WITH(sampler::batch_step_no_noise(s, 10, three, out, x), Catch::Contains("samples.size()"));
        CHECK_THROWS_WITH(sampler::batch_step_no_noise(s, 10, std::vector<schedule::timestep>{1000, 0}, out, x),
                          Catch::Contains("timesteps[b]"));
        CHECK_THROWS_WITH(sampler::batch_step_no_noise(s, 0, two, array<T>(array<T>::Zero(8)), x),
                          Catch::Contains("num_inference_steps"));
    }
}
