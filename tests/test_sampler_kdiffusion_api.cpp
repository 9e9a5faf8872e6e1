// The k-diffusion-form samplers' API: every parameterization gives the same trajectory, the step
// API and the loop API agree, and bad options, sizes and calls throw diffuse::error naming the
// parameter, its value and what is allowed.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/dpm2.hpp"
#include "diffuse/sampler/dpm2_ancestral.hpp"
#include "diffuse/sampler/dpm_adaptive.hpp"
#include "diffuse/sampler/dpmpp_2m_sde.hpp"
#include "diffuse/sampler/dpmpp_2s_ancestral.hpp"
#include "diffuse/sampler/dpmpp_3m_sde.hpp"
#include "diffuse/sampler/dpmpp_sde.hpp"
#include "diffuse/sampler/edm.hpp"
#include "diffuse/sampler/euler.hpp"
#include "diffuse/sampler/euler_ancestral.hpp"
#include "diffuse/sampler/heun.hpp"
#include "diffuse/sampler/lms.hpp"
#include "diffuse/sampler/sample.hpp"
#include "diffuse/schedule/flow.hpp"
#include "diffusers_fixtures.hpp"

using namespace diffuse;
using Catch::Matchers::Contains;
using predict::prediction;
template <class T>
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

namespace {

template <class T>
schedule::sigma_grid<T> grid8() {
    return schedule::vp_sigma_grid(schedule::discrete<T>::scaled_linear(1000, 0.00085, 0.012),
                                   {.steps = 8, .sigmas = schedule::sigma_spacing::karras});
}

// An exact denoiser x0 = D(x_k; sigma) = x_k / (1 + sigma^2) (the posterior mean for unit-variance
// data), written as each parameterization's network output at the evaluation level (alpha, sigma):
// the model state is alpha x_k with alpha_t = alpha, sigma_t = alpha sigma.
template <class T>
void network(prediction p, const schedule::noise_level<T>& l, const_view<T> xk, view<T> out) {
    const T s = l.sigma, a = l.alpha;
    const auto x0 = xk / (T(1) + s * s);
    const auto eps = (xk - x0) / s;
    switch (p) {
        case prediction::epsilon:
            out = eps;
            break;
        case prediction::sample:
            out = x0;
            break;
        case prediction::v_prediction:
            out = a * eps - a * s * x0;
            break;
        case prediction::score:
            out = -eps / (a * s);
            break;
        case prediction::flow_velocity:
            out = eps - x0;
            break;
    }
}

// A rectified-flow grid: flow time s_f in (0, 1], alpha = 1 - s_f, sigma = s_f / (1 - s_f).
template <class T>
schedule::sigma_grid<T> flow_grid8() {
    std::vector<schedule::noise_level<T>> levels;
    for (int i = 0; i <= 8; ++i) {
        const double sf = 0.98 * (8 - i) / 8.0;
        levels.push_back({static_cast<T>(sf / (1 - sf)), static_cast<T>(1 - sf), 1000 * sf});
    }
    return schedule::sigma_grid<T>(std::move(levels), T(1));
}

// Step API; `noise` is seeded the same for every parameterization.
template <class T, class Sampler>
array<T> run_with(const Sampler& s, prediction p, const schedule::sigma_grid<T>& grid) {
    array<T> x = fixtures::sample0<T>() * grid[0].sigma;
    random::generator g(7);
    auto run = s.start(grid, x.size());
    if constexpr (requires { run.begin(x, g); }) run.begin(x, g);
    array<T> out(x.size());
    while (!run.done()) {
        network<T>(p, run.evaluation(), cflat(x), flat(out));
        run.step(out, x, g);
    }
    return x;
}

template <class T, template <class> class Sampler, class Options>
void same_for_every_prediction(Options o) {
    // v_prediction is defined for VP networks, flow_velocity for flow networks.
    for (const bool flow : {false, true}) {
        const auto grid = flow ? flow_grid8<T>() : grid8<T>();
        o.prediction = prediction::epsilon;
        const array<T> reference = run_with<T>(Sampler<T>(o), prediction::epsilon, grid);
        REQUIRE(reference.allFinite());
        for (const auto p :
             {prediction::sample, prediction::score, flow ? prediction::flow_velocity : prediction::v_prediction}) {
            o.prediction = p;
            const array<T> x = run_with<T>(Sampler<T>(o), p, grid);
            INFO(predict::name(p) << (flow ? " on a flow grid" : " on a VP grid"));
            CHECK(((x - reference).abs().maxCoeff()) <=
                  (std::is_same_v<T, float> ? 2e-4 : 1e-10) * (1 + reference.abs().maxCoeff()));
        }
    }
}

}  // namespace

// A run reads its sampler at every step, so starting one on a temporary sampler (which would
// leave it dangling: a use-after-scope under ASan) does not compile; on a named sampler it does.
template <class Sampler, class Grid>
concept startable_on_temporary = requires(Grid grid) {
    std::declval<const Sampler&&>().start(grid, diffuse::index{4});
};
template <class Sampler, class Grid>
concept startable_on_named = requires(const Sampler& s, Grid grid) {
    s.start(grid, diffuse::index{4});
};
using sigmas = schedule::sigma_grid<float>;
using timesteps = std::vector<schedule::timestep>;
static_assert(startable_on_named<sampler::euler_ancestral<float>, sigmas>);
static_assert(!startable_on_temporary<sampler::euler_ancestral<float>, sigmas>);
static_assert(startable_on_named<sampler::dpm2<float>, sigmas>);  // declares its own start()
static_assert(!startable_on_temporary<sampler::dpm2<float>, sigmas>);
static_assert(!startable_on_temporary<sampler::dpmpp_sde<float>, sigmas>);
static_assert(startable_on_named<sampler::ddim<float>, timesteps>);
static_assert(!startable_on_temporary<sampler::ddim<float>, timesteps>);

// x must be writable and of the sampler's precision: diffuse::sample, config::any_run::step and
// diffuse::initial_latents check it with one static_assert naming both rules (sampler/run.hpp).
static_assert(sampler::state_buffer<std::vector<float>, float>);
static_assert(sampler::state_buffer<Eigen::ArrayXd, double>);
static_assert(sampler::state_buffer<view<float>, float>);
static_assert(!sampler::state_buffer<const std::vector<float>, float>);  // const x
static_assert(!sampler::state_buffer<const Eigen::ArrayXf, float>);
static_assert(!sampler::state_buffer<const_view<float>, float>);
static_assert(!sampler::state_buffer<std::vector<double>, float>);  // precision mismatch
static_assert(!sampler::state_buffer<Eigen::ArrayXf, double>);
static_assert(sampler::output_buffer<const std::vector<float>, float>);
static_assert(!sampler::output_buffer<std::vector<double>, float>);

namespace {

// docs/sampler.md's general step loop, verbatim: it compiles for every sampler family.
template <class T, class Run, class Model, class Noise>
void run_to_end(Run& run, view<T> x, Model& model, Noise& noise) {
    buffer<T> out(sampler::model_output_size(run));  // twice x.size() for learned variances
    buffer<T> input(x.size());
    if constexpr (requires { run.begin(x, noise); }) run.begin(x, noise);  // EDM's churn
    while (!run.done()) {
        input = sampler::input_scale(run) * x;  // the k-diffusion form feeds the network alpha x
        model(const_view<T>(input.data(), input.size()), run.context().model_time(), view<T>(out.data(), out.size()));
        sampler::checked_step(run, out, x, noise);  // run.step(out, x, noise) after the finite check
    }
}

// The general loop from initial_latents equals diffuse::sample on the same latents and noise.
template <class T, class Sampler, class Grid>
void general_loop_matches_sample(const Sampler& s, const Grid& grid) {
    const auto model = [](const_view<T> x, double t, view<T> out) {
        out = x.tanh() * static_cast<T>(0.5 + t / 2000.0);
    };
    buffer<T> x(48), reference(48);
    random::generator seed(3);
    diffuse::initial_latents(s, grid, x, seed);
    reference = x;
    random::generator noise(5), same_noise(5);
    auto run = s.start(grid, x.size());
    run_to_end<T>(run, flat(x), model, noise);
    diffuse::sample(model, s, grid, reference, same_noise);
    CHECK(run.step_index() == run.num_steps());
    CHECK((x == reference).all());
    // The same loop's finite check stops at a NaN output.
    const auto broken = [](const_view<T>, double, view<T> out) {
        out.setConstant(std::numeric_limits<T>::quiet_NaN());
    };
    auto failing = s.start(grid, x.size());
    CHECK_THROWS_WITH(run_to_end<T>(failing, flat(x), broken, noise),
                      Contains("model_output[0] at step 0") && Contains("NaN or Inf"));
}

}  // namespace

TEMPLATE_TEST_CASE("the documented general step loop drives a discrete, a sigma-grid and a flow sampler",
                   "[sample][initial]", float, double) {
    using T = TestType;
    const auto betas = schedule::discrete<T>::scaled_linear();
    SECTION("DDIM on timesteps (eta = 1: stochastic)") {
        const sampler::ddim<T> ddim(betas, {.eta = T(1)});
        general_loop_matches_sample<T>(ddim, schedule::spaced_timesteps(1000, 10, schedule::spacing::leading, 1));
    }
    SECTION("Heun on a k-diffusion sigma grid (two evaluations a step, input scale)") {
        const sampler::heun<T> heun;
        general_loop_matches_sample<T>(heun, schedule::vp_sigma_grid(betas, {.steps = 8}));
    }
    SECTION("Euler ancestral on a sigma grid (noise)") {
        const sampler::euler_ancestral<T> ancestral;
        general_loop_matches_sample<T>(ancestral, schedule::vp_sigma_grid(betas, {.steps = 8}));
    }
    SECTION("flow-matching Euler on a flow grid") {
        const sampler::euler<T> flow({.prediction = prediction::flow_velocity, .space = sampler::state_space::model});
        general_loop_matches_sample<T>(flow, schedule::flow_match_grid<T>({.steps = 8, .shift = 3.0}));
    }
    SECTION("EDM with churn (begin)") {
        const sampler::edm<T> edm(sampler::edm_options<T>{.s_churn = T(10)});
        general_loop_matches_sample<T>(edm, schedule::vp_sigma_grid(betas, {.steps = 8}));
    }
}

TEMPLATE_TEST_CASE("every parameterization gives the same trajectory", "[kdiffusion][predict]", float, double) {
    using T = TestType;
    same_for_every_prediction<T, sampler::euler_ancestral>(sampler::euler_ancestral_options<T>{});
    same_for_every_prediction<T, sampler::heun>(sampler::heun_options<T>{});
    same_for_every_prediction<T, sampler::edm>(sampler::edm_options<T>{.s_churn = T(1)});
    same_for_every_prediction<T, sampler::dpm2>(sampler::dpm2_options<T>{});
    same_for_every_prediction<T, sampler::dpm2_ancestral>(sampler::dpm2_ancestral_options<T>{});
    same_for_every_prediction<T, sampler::lms>(sampler::lms_options<T>{});
    same_for_every_prediction<T, sampler::dpmpp_2s_ancestral>(sampler::dpmpp_2s_ancestral_options<T>{});
    same_for_every_prediction<T, sampler::dpmpp_sde>(sampler::dpmpp_sde_options<T>{});
    same_for_every_prediction<T, sampler::dpmpp_2m_sde>(sampler::dpmpp_2m_sde_options<T>{});
    same_for_every_prediction<T, sampler::dpmpp_3m_sde>(sampler::dpmpp_3m_sde_options<T>{});
}

TEMPLATE_TEST_CASE("the loop API drives the multi-stage runs as the step API does", "[kdiffusion][sample]", float,
                   double) {
    using T = TestType;
    const auto grid = grid8<T>();
    const sampler::edm<T> s({.s_churn = T(3)});
    const auto model = [](const_view<T> in, double t, view<T> out) { out = in.tanh() * static_cast<T>(t / 1000.0); };
    array<T> a = fixtures::sample0<T>() * grid[0].sigma, b = a;
    random::generator g1(3), g2(3);
    diffuse::index evaluations = 0;
    diffuse::sample(
        [&](const_view<T> in, double t, view<T> out) {
            ++evaluations;
            model(in, t, out);
        },
        s, grid, a, g1);
    auto run = s.start(grid, b.size());
    run.begin(b, g2);
    array<T> out(b.size());
    while (!run.done()) {
        model(cflat(array<T>(b * run.input_scale())), run.model_time(), flat(out));
        run.step(out, b, g2);
    }
    CHECK((a - b).abs().maxCoeff() == T(0));
    CHECK(evaluations == 2 * grid.steps() - 1);  // Heun: two per step, one on the last
}

TEMPLATE_TEST_CASE("bad options, sizes and calls throw diffuse::error naming parameter, value and range",
                   "[kdiffusion][errors]", float, double) {
    using T = TestType;
    const T nan = std::numeric_limits<T>::quiet_NaN();
    CHECK_THROWS_WITH(sampler::euler_ancestral<T>({.eta = T(-1)}),
                      Contains("eta = -1") && Contains("finite number >= 0"));
    CHECK_THROWS_WITH(sampler::dpm2_ancestral<T>({.s_noise = nan}), Contains("s_noise = nan") && Contains(">= 0"));
    CHECK_THROWS_WITH(sampler::dpmpp_2s_ancestral<T>({.eta = std::numeric_limits<T>::infinity()}),
                      Contains("eta = inf"));
    CHECK_THROWS_WITH(sampler::dpmpp_sde<T>({.r = T(1)}), Contains("r = 1") && Contains("(0, 1)"));
    CHECK_THROWS_WITH(sampler::dpmpp_2m_sde<T>({.s_noise = T(-0.5)}), Contains("s_noise = -0.5"));
    CHECK_THROWS_WITH(sampler::dpmpp_3m_sde<T>({.eta = T(-2)}), Contains("eta = -2"));
    CHECK_THROWS_WITH(sampler::lms<T>({.order = 5}), Contains("order = 5") && Contains("[1, 4]"));
    CHECK_THROWS_WITH(sampler::edm<T>({.s_churn = T(-1)}), Contains("s_churn = -1"));
    CHECK_THROWS_WITH(sampler::edm<T>({.s_tmin = T(5), .s_tmax = T(1)}),
                      Contains("s_tmin = 5") && Contains("[0, s_tmax]"));
    CHECK_THROWS_WITH(sampler::dpm_adaptive<T>({.order = 1}),
                      Contains("order = 1") && Contains("2 (DPM-Solver-12) or 3"));
    CHECK_THROWS_WITH(sampler::dpm_adaptive<T>({.atol = T(0)}), Contains("atol = 0") && Contains("> 0"));
    CHECK_THROWS_WITH(sampler::dpm_adaptive<T>({.accept_safety = T(2)}),
                      Contains("accept_safety = 2") && Contains("(0, 1]"));
    CHECK_THROWS_WITH(sampler::dpm_adaptive<T>({.h_init = T(0)}), Contains("h_init = 0"));

    const sampler::dpm_adaptive<T> adaptive;
    const auto levels = sampler::vp_levels(schedule::discrete<T>::linear());
    CHECK_THROWS_WITH(adaptive.start({T(1), T(2), levels}, 4), Contains("sigma_max = 1") && Contains("> sigma_min"));
    CHECK_THROWS_WITH(adaptive.start({T(10), T(0), levels}, 4), Contains("sigma_min = 0") && Contains("> 0"));
    CHECK_THROWS_WITH(adaptive.start({T(10), T(1), {}}, 4), Contains("levels") && Contains("level map"));

    const auto grid = grid8<T>();
    array<T> x = array<T>::Ones(8), out = array<T>::Zero(8), small = array<T>::Zero(4);
    SECTION("sizes") {
        const sampler::heun<T> heun;
        auto run = heun.start(grid, 8);
        CHECK_THROWS_WITH(run.step(small, x), Contains("model_output.size() = 4") && Contains("8"));
        CHECK_THROWS_WITH(run.step(out, small), Contains("x.size() = 4"));
        const sampler::euler_ancestral<T> ancestral;
        auto noisy = ancestral.start(grid, 8);
        CHECK_THROWS_WITH(noisy.step(out, x, small), Contains("noise.size() = 4"));
    }
    SECTION("a stochastic step without noise") {
        const sampler::dpmpp_sde<T> sde;
        auto run = sde.start(grid, 8);
        CHECK_THROWS_WITH(run.step(out, x), Contains("noise = \"none\"") && Contains("stochastic"));
        const sampler::edm<T> churn({.s_churn = T(1)});
        auto edm = churn.start(grid, 8);
        CHECK_THROWS_WITH(edm.begin(x), Contains("noise = \"none\""));
    }
    SECTION("EDM churn needs begin() once, before the first evaluation") {
        const sampler::edm<T> churn({.s_churn = T(1)});
        auto run = churn.start(grid, 8);
        random::generator g(1);
        CHECK_THROWS_WITH(run.step(out, x, g), Contains("begin()") && Contains("before the first model evaluation"));
        run.begin(x, g);
        CHECK_THROWS_WITH(run.begin(x, g), Contains("begin()") && Contains("one call"));
    }
    SECTION("stepping a finished run") {
        const sampler::lms<T> lms;
        auto run = lms.start(grid, 8);
        while (!run.done()) run.step(out, x);
        CHECK_THROWS_WITH(run.step(out, x), Contains("step_index = 8") && Contains("finished"));
        CHECK_THROWS_WITH(run.model_time(), Contains("finished"));
    }
}
