// The k-diffusion-form samplers against diffusers (snapshot 58eb52c0): the full-loop values of
// diffusers' own test-suite (tests/schedulers/test_scheduler_{heun,kdpm2_discrete,lms}.py, loop B
// with the dummy model on T=1100 linear betas, 10 steps), and element-wise traces of
// EulerAncestral/Heun/KDPM2/KDPM2Ancestral/LMS/DPMSolverSDE schedulers on Stable-Diffusion-style
// configurations recorded by tools/reference_kdiffusion.py (tests/reference_kdiffusion.hpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "diffuse/sampler/dpm2.hpp"
#include "diffuse/sampler/dpm2_ancestral.hpp"
#include "diffuse/sampler/dpmpp_sde.hpp"
#include "diffuse/sampler/euler.hpp"
#include "diffuse/sampler/euler_ancestral.hpp"
#include "diffuse/sampler/heun.hpp"
#include "diffuse/sampler/lms.hpp"
#include "kdiffusion_test_support.hpp"

using namespace diffuse;
using kdtest::array;
namespace ref = reference_kdiffusion;
using predict::prediction;

namespace {

// Loop B of diffusers' tests: each step overwrites x with the scaled model input. `from` > 0 is
// test_full_loop_with_noise: x = sample0 * init_noise_sigma + noise0 * sigma_from, then the grid
// from level `from` on (diffusers' timesteps[t_start * order:], t_start = 8).
template <class T, class Sampler>
std::pair<double, double> loop_b(const Sampler& s, const schedule::sigma_grid<T>& full, diffuse::index from = 0) {
    std::vector<schedule::noise_level<T>> levels(full.levels().begin() + from, full.levels().end());
    const schedule::sigma_grid<T> grid(std::move(levels), full.initial_noise_std());
    // diffusers' init_noise_sigma for linspace spacing is sigma_max itself.
    array<T> x = fixtures::sample0<T>() * full[0].sigma;
    if (from > 0) x += fixtures::noise0<T>() * full[from].sigma;
    auto run = s.start(grid, x.size());
    array<T> out(x.size());
    while (!run.done()) {
        x *= run.input_scale();
        fixtures::dummy_model<T>(x, run.model_time(), out);
        run.step(out, x);
    }
    return {static_cast<double>(x.abs().sum()), static_cast<double>(x.abs().mean())};
}

template <class T>
schedule::sigma_grid<T> test_grid(bool karras = false) {
    return schedule::vp_sigma_grid(
        schedule::discrete<T>::linear(1100, 1e-4, 0.02),
        {.steps = 10, .sigmas = karras ? schedule::sigma_spacing::karras : schedule::sigma_spacing::timesteps});
}

// A full loop against the same loop run by diffusers 58eb52c0 itself in float32
// (tools/reference_kdiffusion.py): sum and mean within a relative bound and no absolute slack (the
// values span 5e-7 to 7.5e4, so only a relative bound means the same everywhere), one bound per
// scalar type at about 10x the difference measured for that loop (the larger of sum and mean). Both
// are compared with diffusers' float32 run, so the double runs differ by its float32 rounding (most
// on Karras grids, whose sigmas diffusers computes in float32).
template <class T>
void check(std::pair<double, double> got, const ref::full_loop& diffusers, double float_rel, double double_rel) {
    const double rel = std::is_same_v<T, float> ? float_rel : double_rel;
    CHECK(got.first == Approx(diffusers.sum).epsilon(rel).margin(0));
    CHECK(got.second == Approx(diffusers.mean).epsilon(rel).margin(0));
}

}  // namespace

TEMPLATE_TEST_CASE("Heun reproduces diffusers' test_scheduler_heun.py full loops", "[heun][diffusers]", float, double) {
    using T = TestType;
    // Published (diffusers' test asserts them to 1e-2 on the sum, 1e-3 on the mean): no noise
    // S=0.1233 M=0.0002; v_prediction S=4.6934e-07 M=6.1112e-10; Karras S=0.00015
    // M=1.9869554535034695e-07; with noise S=75074.8906 M=97.7538. Checked against diffusers' own
    // run of the same loops, which agrees with them to those tolerances.
    // Measured relative differences (float, double) in each comment.
    check<T>(loop_b<T>(sampler::heun<T>(), test_grid<T>()), ref::heun_no_noise, 3e-6, 2e-6);  // 3.0e-7, 1.4e-7
    check<T>(loop_b<T>(sampler::heun<T>({.prediction = prediction::v_prediction}), test_grid<T>()),
             ref::heun_v_prediction, 2e-5, 1e-5);                                                  // 1.3e-6, 9.3e-7
    check<T>(loop_b<T>(sampler::heun<T>(), test_grid<T>(true)), ref::heun_karras, 3e-5, 9e-3);     // 2.4e-6, 9.0e-4
    check<T>(loop_b<T>(sampler::heun<T>(), test_grid<T>(), 8), ref::heun_with_noise, 3e-6, 4e-6);  // 2.3e-7, 3.5e-7
}

TEMPLATE_TEST_CASE("DPM2 reproduces diffusers' test_scheduler_kdpm2_discrete.py full loops", "[dpm2][diffusers]", float,
                   double) {
    using T = TestType;
    const auto betas = schedule::discrete<T>::linear(1100, 1e-4, 0.02);
    const sampler::dpm2<T> s({.levels = sampler::vp_levels(betas)});
    const sampler::dpm2<T> v({.prediction = prediction::v_prediction, .levels = sampler::vp_levels(betas)});
    // Published: no noise S=20.4125 M=0.0266; with noise S=70408.4062 M=91.6776; v_prediction
    // S=4.6934e-07 M=6.1112e-10, which diffusers' test copies from Heun's: its own KDPM2 run gives
    // S=6.1026e-05, and only the 1e-2 absolute tolerance lets the published value pass there.
    // Measured relative differences (float, double) in each comment.
    check<T>(loop_b<T>(s, test_grid<T>()), ref::kdpm2_no_noise, 2e-5, 1e-5);       // 1.3e-6, 9.0e-7
    check<T>(loop_b<T>(v, test_grid<T>()), ref::kdpm2_v_prediction, 7e-6, 3e-5);   // 6.3e-7, 2.5e-6
    check<T>(loop_b<T>(s, test_grid<T>(), 8), ref::kdpm2_with_noise, 3e-6, 2e-5);  // 2.5e-7, 1.7e-6
    // Karras sigmas (KDPM2 rounds their timesteps).
    check<T>(loop_b<T>(s, sampler::with_rounded_model_times(test_grid<T>(true))), ref::kdpm2_karras, 2e-5,
             7e-4);  // 1.6e-6, 7.0e-5
}

TEMPLATE_TEST_CASE("LMS reproduces diffusers' test_scheduler_lms.py full loops", "[lms][diffusers]", float, double) {
    using T = TestType;
    const sampler::lms<T> s;
    // Published: no noise S=1006.388 M=1.31; v_prediction S=0.0017 M=2.2676e-06; Karras
    // S=3812.9927 M=4.9648.
    // Measured relative differences (float, double) in each comment.
    check<T>(loop_b<T>(s, test_grid<T>()), ref::lms_no_noise, 3e-6, 9e-5);  // 2.7e-7, 8.8e-6
    check<T>(loop_b<T>(sampler::lms<T>({.prediction = prediction::v_prediction}), test_grid<T>()),
             ref::lms_v_prediction, 4e-6, 8e-5);                              // 4.0e-7, 7.8e-6
    check<T>(loop_b<T>(s, test_grid<T>(true)), ref::lms_karras, 3e-6, 9e-5);  // 2.9e-7, 8.2e-6
    // No "with noise" check: started mid-grid, diffusers' LMS integrates a 4-node basis while holding
    // a single derivative (its step index, not its history, sets the order); a fresh run is first order.
}

TEST_CASE("LMS coefficients are the exact integrals of the Lagrange basis", "[lms]") {
    // Nodes 3, 2, 1.5, 1 (sigma_i first) integrated over [3, 0.5]: by hand the basis of node 3 is
    // (s-2)(s-1.5)(s-1)/((3-2)(3-1.5)(3-1)) and its integral over [3, 0.5] is -0.2170138...;
    // the coefficients sum to the interval length -2.5 (they integrate the constant 1 exactly).
    const std::vector<double> nodes{3.0, 2.0, 1.5, 1.0};
    const double c0 = sampler::detail::lagrange_integral(nodes, 0, 0.5);
    // int (s-2)(s-1.5)(s-1) ds = s^4/4 - 1.5 s^3 + 3.25 s^2 - 3 s
    const auto antiderivative = [](double s) { return s * s * s * s / 4 - 1.5 * s * s * s + 3.25 * s * s - 3 * s; };
    CHECK(c0 == Approx((antiderivative(0.5) - antiderivative(3.0)) / 3.0).epsilon(2e-14).margin(0));  // 2.1e-15
    double total = 0;
    for (std::size_t j = 0; j < 4; ++j) total += sampler::detail::lagrange_integral(nodes, j, 0.5);
    CHECK(total == Approx(-2.5).epsilon(1e-15).margin(0));  // measured 0 (exact)
}

namespace {

// Pipeline loop (the model sees the scaled input, x keeps its own scale), step API, against a trace.
// Bounds on the worst relative difference (kdtest::require_close: |a - b| <= rel max(|b|, 1e-3)) for
// T = float and T = double, per trace at about 10x the measured one (the comment beside each call:
// float, double; both are compared with diffusers' float32 data, whose rounding the double runs show).
struct bounds {
    double for_float, for_double;
};

template <class T, class Sampler>
void run_trace(const Sampler& s, const schedule::sigma_grid<T>& grid, const ref::trace& tr, bool noisy, bounds rel) {
    REQUIRE(grid.steps() + 1 == static_cast<diffuse::index>(tr.sigmas.size()));
    for (diffuse::index i = 0; i <= grid.steps(); ++i) {
        // float32 grids agree to an ulp or two; double ones differ by the float32 rounding of the betas.
        CHECK(static_cast<double>(grid[i].sigma) == Approx(tr.sigmas[static_cast<std::size_t>(i)])
                                                        .epsilon(std::is_same_v<T, float> ? 2e-6 : 2e-5)
                                                        .margin(0));  // double: 1.3e-5
        // diffusers interpolates the times in float32: measured at most 1.7e-5 relative (1.2e-3 at
        // t = 298.66) and 1.7e-5 absolute where its time is 0.
        if (i < grid.steps())
            CHECK(grid[i].model_time == Approx(tr.times[static_cast<std::size_t>(i)]).epsilon(2e-4).margin(2e-4));
    }
    array<T> x = kdtest::trace_sample0<T>() * static_cast<T>(tr.init_noise_sigma);
    kdtest::replay<T> noise{&tr.noise};
    auto run = s.start(grid, x.size());
    array<T> input(x.size()), out(x.size());
    std::vector<double> times;
    while (!run.done()) {
        input = x * run.input_scale();
        times.push_back(run.model_time());
        kdtest::smooth<T>(cflat(input), run.model_time(), flat(out));
        if (noisy) {
            run.step(out, x, noise);
        } else {
            run.step(out, x);
        }
    }
    kdtest::require_times(times, tr.model_times);
    CHECK(noise.all_used());
    kdtest::require_close<T>(x, tr.x, std::is_same_v<T, float> ? rel.for_float : rel.for_double);
}

template <class T>
schedule::discrete<T> sd_betas() {
    return schedule::discrete<T>::scaled_linear(1000, 0.00085, 0.012);
}

template <class T>
schedule::sigma_grid<T> sd_leading(diffuse::index steps) {
    return schedule::vp_sigma_grid(sd_betas<T>(),
                                   {.steps = steps, .timestep_spacing = schedule::spacing::leading, .steps_offset = 1});
}
template <class T>
schedule::sigma_grid<T> sd_karras(diffuse::index steps) {
    return schedule::vp_sigma_grid(sd_betas<T>(), {.steps = steps, .sigmas = schedule::sigma_spacing::karras});
}

}  // namespace

TEMPLATE_TEST_CASE("Euler ancestral matches diffusers' EulerAncestralDiscreteScheduler element-wise",
                   "[euler_ancestral][diffusers]", float, double) {
    using T = TestType;
    SECTION("scaled_linear, leading spacing, steps_offset 1, injected noise") {
        run_trace<T>(sampler::euler_ancestral<T>(), sd_leading<T>(8), ref::diffusers_euler_ancestral_sd, true,
                     {7e-5, 3e-4});  // 6.9e-6, 2.6e-5
    }
    SECTION("v_prediction, zero terminal SNR (alphas_cumprod[-1] = 2^-24), trailing spacing, injected noise") {
        const auto& tr = ref::diffusers_euler_ancestral_v_zero_snr;
        const auto grid = kdtest::recorded_grid<T>(tr.sigmas, sampler::vp_levels(sd_betas<T>()), tr.times);
        run_trace<T>(sampler::euler_ancestral<T>({.prediction = prediction::v_prediction}), grid, tr, true,
                     {5e-4, 4e-4});  // 4.2e-5, 3.3e-5
    }
}

TEMPLATE_TEST_CASE("Euler with churn matches diffusers' EulerDiscreteScheduler element-wise (s_churn > 0)",
                   "[euler][churn][diffusers]", float, double) {
    // Epsilon prediction only: with v_prediction diffusers reads x0 from the churned sample at sigma,
    // diffuse at sigma_hat (the two differ by design; tools/reference_kdiffusion.py).
    using T = TestType;
    SECTION("s_churn 2 on sigma in [0.5, 10], s_noise 1.003, leading spacing, injected noise") {
        const sampler::euler<T> s({.s_churn = T(2), .s_tmin = T(0.5), .s_tmax = T(10), .s_noise = T(1.003)});
        run_trace<T>(s, sd_leading<T>(8), ref::diffusers_euler_churn_sd, true, {4e-5, 1e-4});  // 3.8e-6, 1.0e-5
    }
    SECTION("s_churn 1 on every level, Karras sigmas, injected noise") {
        const sampler::euler<T> s({.s_churn = T(1)});
        run_trace<T>(s, sd_karras<T>(8), ref::diffusers_euler_churn_karras, true, {8e-5, 9e-4});  // 7.6e-6, 8.5e-5
    }
}

TEMPLATE_TEST_CASE("Heun matches diffusers' HeunDiscreteScheduler element-wise", "[heun][diffusers]", float, double) {
    using T = TestType;
    run_trace<T>(sampler::heun<T>(), sd_leading<T>(6), ref::diffusers_heun_sd, false, {5e-6, 5e-6});  // 4.3e-7, 4.7e-7
    run_trace<T>(sampler::heun<T>({.prediction = prediction::v_prediction}), sd_karras<T>(6),
                 ref::diffusers_heun_karras_v, false, {1e-5, 2e-5});  // 9.8e-7, 1.9e-6
}

TEMPLATE_TEST_CASE("DPM2 matches diffusers' KDPM2DiscreteScheduler element-wise", "[dpm2][diffusers]", float, double) {
    using T = TestType;
    const auto levels = sampler::vp_levels(sd_betas<T>());
    run_trace<T>(sampler::dpm2<T>({.levels = levels}), sd_leading<T>(6), ref::diffusers_kdpm2_sd, false,
                 {5e-6, 6e-6});  // 5.0e-7, 5.8e-7
    run_trace<T>(sampler::dpm2<T>({.prediction = prediction::v_prediction, .levels = levels}),
                 sampler::with_rounded_model_times(sd_karras<T>(6)), ref::diffusers_kdpm2_karras_v, false,
                 {1e-5, 3e-5});  // 9.6e-7, 2.1e-6
}

TEMPLATE_TEST_CASE("DPM2 ancestral matches diffusers' KDPM2AncestralDiscreteScheduler element-wise",
                   "[dpm2_ancestral][diffusers]", float, double) {
    using T = TestType;
    const auto levels = sampler::vp_levels(sd_betas<T>());
    run_trace<T>(sampler::dpm2_ancestral<T>({.levels = levels}), sd_leading<T>(6), ref::diffusers_kdpm2_ancestral_sd,
                 true, {3e-5, 1e-4});  // 2.4e-6, 9.5e-6
    run_trace<T>(sampler::dpm2_ancestral<T>({.prediction = prediction::v_prediction, .levels = levels}),
                 sampler::with_rounded_model_times(sd_karras<T>(6)), ref::diffusers_kdpm2_ancestral_karras_v, true,
                 {3e-3, 1e-2});  // 2.4e-4, 2.5e-3 (double kept at 4x: 10x would loosen it)
}

TEMPLATE_TEST_CASE("LMS matches diffusers' LMSDiscreteScheduler element-wise", "[lms][diffusers]", float, double) {
    using T = TestType;
    run_trace<T>(sampler::lms<T>(), sd_leading<T>(8), ref::diffusers_lms_sd, false, {7e-6, 5e-6});  // 6.2e-7, 5.0e-7
    run_trace<T>(sampler::lms<T>({.prediction = prediction::v_prediction}), sd_karras<T>(8),
                 ref::diffusers_lms_karras_v, false, {9e-6, 6e-6});  // 8.7e-7, 5.8e-7
}

TEMPLATE_TEST_CASE("DPM++ SDE matches diffusers' DPMSolverSDEScheduler element-wise (noise replayed)",
                   "[dpmpp_sde][diffusers]", float, double) {
    using T = TestType;
    const auto levels = sampler::vp_levels(sd_betas<T>());
    run_trace<T>(sampler::dpmpp_sde<T>({.levels = levels}), sd_leading<T>(6), ref::diffusers_dpmpp_sde_sd, true,
                 {1e-4, 6e-4});  // 9.9e-6, 5.2e-5
    run_trace<T>(sampler::dpmpp_sde<T>({.prediction = prediction::v_prediction, .levels = levels}), sd_karras<T>(6),
                 ref::diffusers_dpmpp_sde_karras_v, true, {3e-5, 2e-3});  // 2.2e-6, 1.1e-4
}
