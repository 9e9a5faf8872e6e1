// PNDM (pndm.hpp) against diffusers' PNDMScheduler (snapshot 58eb52c0): full loops in the style
// of diffusers' tests/schedulers/test_scheduler_pndm.py (dummy model, T = 1000 linear betas,
// 10 steps) and element-wise traces recorded by tools/reference_pndm_consistency.py.
#include <catch2/catch.hpp>

#include "diffuse/models/gaussian_mixture.hpp"
#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/pndm.hpp"
#include "diffuse/sampler/sample.hpp"
#include "diffusers_fixtures.hpp"
#include "pndm_consistency_test_support.hpp"

using namespace diffuse;
using f3test::array;
namespace ref = reference_pndm_consistency;
using predict::prediction;
using sampler::pndm;
using sampler::pndm_options;

namespace {

// diffusers' test loop: x overwritten by each step, the dummy model at every evaluation timestep.
template <class T>
std::pair<double, double> full_loop(pndm_options<T> o, diffuse::index steps_offset = 0) {
    const pndm<T> s(f3test::linear<T>(), o);
    auto run = s.start(schedule::spaced_timesteps(1000, 10, schedule::spacing::leading, steps_offset), fixtures::size);
    array<T> x = fixtures::sample0<T>(), out(x.size());
    while (!run.done()) {
        fixtures::dummy_model<T>(x, run.model_time(), out);
        run.step(out, x);
    }
    return {static_cast<double>(x.abs().sum()), static_cast<double>(x.abs().mean())};
}

void check(std::pair<double, double> got, const ref::full_loop& expected, double rel) {
    CHECK(got.first == Approx(expected.sum).epsilon(rel));
    CHECK(got.second == Approx(expected.mean).epsilon(rel));
}

}  // namespace

TEMPLATE_TEST_CASE("PNDM reproduces diffusers' PNDMScheduler full loops", "[pndm][diffusers]", float, double) {
    using T = TestType;
    const double rel = std::is_same_v<T, float> ? 1e-4 : 1e-3;
    // test_scheduler_pndm.py test_full_loop_no_noise publishes S=198.1318 M=0.2580 (4 decimals) for the default config.
    const auto published = full_loop<T>({});
    CHECK(published.first == Approx(198.1318).margin(1e-3));
    CHECK(published.second == Approx(0.2580).margin(1e-4));
    check(full_loop<T>({}), ref::pndm_default, rel);
    check(full_loop<T>({.skip_prk_steps = true}), ref::pndm_skip_prk, rel);
    check(full_loop<T>({.set_alpha_to_one = true}), ref::pndm_alpha_to_one, rel);
    check(full_loop<T>({.skip_prk_steps = true}, 1), ref::pndm_skip_prk_offset, rel);
}

TEMPLATE_TEST_CASE("PNDM traces match diffusers element-wise", "[pndm][diffusers]", float, double) {
    using T = TestType;
    SECTION("Stable Diffusion's config: scaled_linear, leading + offset 1, skip_prk_steps") {
        const pndm<T> s(f3test::stable_diffusion<T>(), {.skip_prk_steps = true});
        const auto& tr = ref::diffusers_pndm_sd;
        f3test::require_trace<T>(f3test::replay<T>(s.start(f3test::grid_of(tr), 64), tr, false), tr, false);
    }
    SECTION("Runge-Kutta warm-up on linear betas (8 steps: 12 + 5 evaluations)") {
        const pndm<T> s(f3test::linear<T>());
        const auto& tr = ref::diffusers_pndm_prk_linear;
        f3test::require_trace<T>(f3test::replay<T>(s.start(f3test::grid_of(tr), 64), tr, false), tr, false);
    }
    SECTION("Runge-Kutta warm-up with an odd T // n (half step 12 of 25)") {
        const pndm<T> s(f3test::stable_diffusion<T>());
        const auto& tr = ref::diffusers_pndm_prk_sd_odd_ratio;
        f3test::require_trace<T>(f3test::replay<T>(s.start(f3test::grid_of(tr), 64), tr, false), tr, false);
    }
}

TEMPLATE_TEST_CASE("PNDM with one skip-PRK step is the DDIM step", "[pndm]", float, double) {
    using T = TestType;
    const std::vector<schedule::timestep> grid{500};
    const pndm<T> p(f3test::linear<T>(), {.skip_prk_steps = true});
    const sampler::ddim<T> d(f3test::linear<T>(), {.set_alpha_to_one = false, .x0 = {}});
    array<T> a = fixtures::sample0<T>(), b = a, out(a.size());
    fixtures::dummy_model<T>(a, 500, out);
    auto pr = p.start(grid, a.size());
    pr.step(out, a);
    auto dr = d.start(grid, b.size());
    dr.step(out, b);
    CHECK(pr.done());
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
    CHECK((a - b).abs().maxCoeff() <= tol * b.abs().maxCoeff());
}

TEST_CASE("PNDM gives one trajectory for every parameterization (eps are taken where evaluated)", "[pndm]") {
    // The exact Gaussian-mixture network predicts eps, x0 or v consistently; PNDM's combined eps
    // then agree, so the samples agree to rounding (diffusers combines raw v outputs instead).
    const auto mixture = models::gaussian_mixture<double>::ring();
    const auto betas = f3test::linear<double>();
    const auto grid = schedule::spaced_timesteps(1000, 12, schedule::spacing::leading);
    const auto run_with = [&](prediction p, bool skip) {
        Eigen::ArrayXd x(32);
        random::generator g(7);
        g.normal(x);
        const auto model = [&](const_view<double> in, double t, view<double> out) {
            const double ab = betas.alpha_bar(static_cast<schedule::timestep>(t));
            const double a = std::sqrt(ab), s = std::sqrt(1 - ab);
            if (p == prediction::epsilon) mixture.epsilon(in, a, s, out);
            if (p == prediction::sample) mixture.x0(in, a, s, out);
            if (p == prediction::v_prediction) mixture.v(in, a, s, out);
        };
        diffuse::sample(model, pndm<double>(betas, {.prediction = p, .skip_prk_steps = skip}), grid, x);
        return x;
    };
    for (const bool skip : {false, true}) {
        const Eigen::ArrayXd eps = run_with(prediction::epsilon, skip);
        CHECK((run_with(prediction::sample, skip) - eps).abs().maxCoeff() < 1e-9);
        CHECK((run_with(prediction::v_prediction, skip) - eps).abs().maxCoeff() < 1e-9);
    }
}

TEMPLATE_TEST_CASE("PNDM's step API and loop API agree; evaluations per step", "[pndm]", float, double) {
    using T = TestType;
    const pndm<T> s(f3test::linear<T>());
    const auto grid = schedule::spaced_timesteps(1000, 6, schedule::spacing::leading);
    array<T> a = fixtures::sample0<T>(), b = a;
    const auto model = [](const_view<T> in, double t, view<T> out) { fixtures::dummy_model<T>(in, t, out); };
    diffuse::index calls = 0;
    const auto counting = [&](const_view<T> in, double t, view<T> out) {
        ++calls;
        model(in, t, out);
    };
    CHECK(diffuse::sample(counting, s, grid, a) == 6);
    CHECK(calls == 3 * 4 + 3);  // three Runge-Kutta steps of four evaluations, three multistep steps
    auto run = s.start(grid, b.size());
    array<T> out(b.size());
    while (!run.done()) {
        model(cflat(b), run.model_time(), flat(out));
        run.step(out, b);
    }
    CHECK((a - b).abs().maxCoeff() == T(0));
}

TEST_CASE("PNDM rejects bad grids and sizes, naming what is allowed", "[pndm][errors]") {
    const pndm<float> prk(f3test::linear<float>());
    const pndm<float> skip(f3test::linear<float>(), {.skip_prk_steps = true});
    const std::vector<schedule::timestep> three{900, 600, 300};
    CHECK_THROWS_WITH(prk.start(three, 4),
                      Catch::Contains("timesteps.size()") && Catch::Contains(">= 4 when skip_prk_steps is false"));
    CHECK_NOTHROW(skip.start(three, 4));
    CHECK_THROWS_WITH(skip.start(std::vector<schedule::timestep>{900, 950}, 4),
                      Catch::Contains("timesteps[1]") && Catch::Contains("strictly less"));
    CHECK_THROWS_WITH(skip.start(std::vector<schedule::timestep>{1000}, 4),
                      Catch::Contains("timesteps[0]") && Catch::Contains("[0, 999]"));
    CHECK_THROWS_WITH(skip.start(three, 0), Catch::Contains("layout.size") && Catch::Contains(">= 1"));
    auto run = skip.start(three, 4);
    Eigen::ArrayXf x(4), out(5);
    CHECK_THROWS_WITH(run.step(out, x), Catch::Contains("model_output.size()"));
    // Epsilon prediction cannot start where alphabar = 0 (zero terminal SNR).
    const auto zero_snr = f3test::stable_diffusion<float>().rescaled_zero_terminal_snr();
    const pndm<float> eps_zero_snr(zero_snr, {.skip_prk_steps = true});
    CHECK_THROWS_WITH(eps_zero_snr.start(std::vector<schedule::timestep>{999, 500}, 4),
                      Catch::Contains("prediction_type") && Catch::Contains("v_prediction or sample"));
    const pndm<float> v_zero_snr(zero_snr, {.prediction = prediction::v_prediction, .skip_prk_steps = true});
    CHECK_NOTHROW(v_zero_snr.start(std::vector<schedule::timestep>{999, 500}, 4));
    // A finished run refuses another step.
    auto one = skip.start(std::vector<schedule::timestep>{10}, 4);
    Eigen::ArrayXf o4 = Eigen::ArrayXf::Zero(4);
    one.step(o4, x);
    CHECK_THROWS_WITH(one.step(o4, x), Catch::Contains("step_index"));
}
