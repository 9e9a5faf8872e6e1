// Guidance (include/diffuse/guidance) and the evaluation context every run hands to models
// (sampler/evaluation_context.hpp):
//   - the context carries the level actually evaluated (Heun's and DPM2's intermediate levels, the
//     discrete samplers' alphas_cumprod), through diffuse::sample, the step API and any_run, and the
//     run's memory starts empty with every run;
//   - exact references on the class-conditional Gaussian mixture (models/gaussian_mixture.hpp,
//     /work/shared/reference/gmm.md): classifier guidance at scale 1 with the exact classifier
//     grad log p(y | x_t) = score_y - score equals the conditional model at every evaluation, for
//     every prediction type; CFG at g = 1 is the conditional model; CFG at g is the tilted score
//     (1 - g) score + g score_y;
//   - element-wise parity with diffusers' guider classes (snapshot 58eb52c0) on recorded tensors
//     (tools/reference_guidance.py -> tests/reference_guidance.hpp);
//   - sampling: class purity rises with the CFG scale, and at g = 1 the samples match the
//     conditional mixture in energy distance;
//   - a guided run allocates nothing per step; invalid options are diffuse::errors naming them.
#include <catch2/catch.hpp>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "allocation_counting.hpp"
#include "diffuse/config/scheduler_config.hpp"
#include "diffuse/core/random.hpp"
#include "diffuse/guidance/classifier.hpp"
#include "diffuse/guidance/frequency_decoupled.hpp"
#include "diffuse/guidance/guided.hpp"
#include "diffuse/guidance/rules.hpp"
#include "diffuse/models/gaussian_mixture.hpp"
#include "diffuse/models/metrics.hpp"
#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/ddpm.hpp"
#include "diffuse/sampler/dpm2.hpp"
#include "diffuse/sampler/euler.hpp"
#include "diffuse/sampler/heun.hpp"
#include "diffuse/sampler/sample.hpp"
#include "diffuse/schedule/flow.hpp"
#include "diffuse/schedule/sigmas.hpp"
#include "diffuse/schedule/timesteps.hpp"
#include "reference_cfg_pp.hpp"
#include "reference_guidance.hpp"

using namespace diffuse;
using predict::prediction;
using sampler::evaluation_context;

namespace {

template <class T>
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

// Two classes in 2-D: class 0 = components 0 and 1, class 1 = components 2 and 3, overlapping.
template <Real T>
models::gaussian_mixture<T> two_classes() {
    const array<T> weights = (array<T>(4) << 1, 1, 1, 1).finished();
    const array<T> means = (array<T>(8) << -1.0, 0.4, -0.6, -0.6, 0.8, 0.3, 0.5, -0.8).finished();
    const array<T> stddevs = (array<T>(4) << 0.6, 0.5, 0.6, 0.5).finished();
    const std::vector<int> labels{0, 0, 1, 1};
    return models::gaussian_mixture<T>::isotropic(2, cflat(weights), cflat(means), cflat(stddevs), labels);
}

// The mixture as a network of any prediction type, told its level by the context: x is the
// network's input x_net = alpha_t x0 + sigma_t eps.
template <Real T>
struct mixture_network {
    const models::gaussian_mixture<T>* mixture;
    prediction kind;
    std::optional<int> label;

    void operator()(const_view<T> x, double, view<T> out, const evaluation_context<T>& c) const {
        const T a = c.alpha_t(), s = c.sigma_t();
        switch (kind) {
            case prediction::epsilon:
                return mixture->epsilon(x, a, s, out, label);
            case prediction::sample:
                return mixture->x0(x, a, s, out, label);
            case prediction::v_prediction:
                return mixture->v(x, a, s, out, label);
            case prediction::score:
                return mixture->score(x, a, s, out, label);
            case prediction::flow_velocity: {  // u = eps - x0 (predict/parameterization.hpp)
                array<T> x0(x.size());
                mixture->x0(x, a, s, flat(x0), label);
                mixture->epsilon(x, a, s, out, label);
                out -= x0;
                return;
            }
        }
    }
};

// The exact classifier gradient grad_x log p(y | x_t = x) at the context's level.
template <Real T>
struct exact_classifier {
    const models::gaussian_mixture<T>* mixture;
    int label;
    void operator()(const_view<T> x, double, view<T> out, const evaluation_context<T>& c) const {
        mixture->class_log_posterior_gradient(x, c.alpha_t(), c.sigma_t(), label, out);
    }
};

// Wraps a model: at every evaluation compares it with `reference` at the same context and keeps
// the largest difference relative to the reference's largest magnitude.
template <Real T, class Model, class Reference>
struct comparing {
    Model model;
    Reference reference;
    double* worst;
    diffuse::index* evaluations;
    std::vector<T>* sigmas = nullptr;

    void operator()(const_view<T> x, double t, view<T> out, const evaluation_context<T>& c) const {
        model(x, t, out, c);
        array<T> expected(out.size());
        reference(x, t, flat(expected), c);
        const double scale = std::max(1.0, static_cast<double>(expected.abs().maxCoeff()));
        *worst = std::max(*worst, static_cast<double>((out - expected).abs().maxCoeff()) / scale);
        ++*evaluations;
        if (sigmas) sigmas->push_back(c.level.sigma);
    }
};

template <Real T>
array<T> start_noise(diffuse::index n, std::uint64_t seed, T scale) {
    array<T> x(n);
    random::generator g(seed);
    g.normal(flat(x));
    return x * scale;
}

}  // namespace

// ---- the evaluation context ---------------------------------------------------------------------

TEMPLATE_TEST_CASE("the context carries the level each run actually evaluates", "[guidance][context]", float, double) {
    using T = TestType;
    const auto sched = schedule::discrete<T>::linear();
    const auto grid = schedule::vp_sigma_grid(sched, {.steps = 4});

    SECTION("Heun: step API, the grid level and then the next one within each step") {
        sampler::heun<T> heun;
        auto run = heun.start(grid, 2);
        array<T> x = start_noise<T>(2, 1, run.init_noise_sigma()), out = array<T>::Zero(2);
        std::vector<T> seen;
        std::vector<diffuse::index> steps;
        while (!run.done()) {
            const auto c = run.context();
            CHECK(c.model_time() == run.model_time());
            CHECK(c.alpha_t() == run.input_scale());
            CHECK(c.num_steps == 4);
            CHECK(c.shape.size == 2);
            CHECK(c.output_size == 2);
            seen.push_back(c.level.sigma);
            steps.push_back(c.step);
            out = T(0.1) * x;
            run.step(out, x);
        }
        // sigma_0; sigma_1 twice (first stage of step 1, second of step 0) ... one evaluation on the last.
        const std::vector<T> expected{grid[0].sigma, grid[1].sigma, grid[1].sigma, grid[2].sigma,
                                      grid[2].sigma, grid[3].sigma, grid[3].sigma};
        CHECK(seen == expected);
        CHECK(steps == std::vector<diffuse::index>{0, 0, 1, 1, 2, 2, 3});
    }
    SECTION("DPM2 through diffuse::sample: the geometric midpoints") {
        std::vector<T> seen;
        double worst = 0;
        diffuse::index evaluations = 0;
        const auto plain = [](const_view<T> x, double, view<T> out, const evaluation_context<T>&) { out = T(0.1) * x; };
        comparing<T, decltype(plain), decltype(plain)> model{plain, plain, &worst, &evaluations, &seen};
        array<T> x = start_noise<T>(4, 2, T(10));
        diffuse::sample(model, sampler::dpm2<T>(), grid, x);
        REQUIRE(seen.size() == 7);
        for (diffuse::index i = 0; i < 3; ++i) {
            CHECK(seen[static_cast<std::size_t>(2 * i)] == grid[i].sigma);
            const double mid = std::sqrt(static_cast<double>(grid[i].sigma) * static_cast<double>(grid[i + 1].sigma));
            CHECK(static_cast<double>(seen[static_cast<std::size_t>(2 * i + 1)]) ==
                  Approx(mid).epsilon(1e-5).margin(0));  // exp of a float log-midpoint: measured 2e-7
        }
    }
    SECTION("DDIM: alpha_t = sqrt(alphas_cumprod[t]) at the evaluated timestep") {
        sampler::ddim<T> ddim(sched);
        const auto timesteps = schedule::spaced_timesteps(1000, 5);
        auto run = ddim.start(timesteps, 3);
        array<T> x = start_noise<T>(3, 3, T(1)), out = array<T>::Zero(3);
        while (!run.done()) {
            const auto c = run.context();
            const T ab = sched.alpha_bar(run.current_timestep());
            CHECK(c.alpha_t() == std::sqrt(ab));
            CHECK(c.sigma_t() == Approx(std::sqrt(T(1) - ab)).epsilon(1e-6).margin(1e-7));
            CHECK(c.model_time() == run.model_time());
            run.step(out, x);
        }
    }
    SECTION("any_run: the context of the erased run, and the memory of a new run starts empty") {
        const auto s =
            config::from_scheduler_config<T>(nlohmann::json::parse(R"({"_class_name": "EulerDiscreteScheduler"})"));
        auto run = s.start(6, 4);
        auto c = run.context();
        CHECK(c.model_time() == run.model_time());
        CHECK(c.alpha_t() == run.input_scale());
        (void)c.slot(0, 4);
        CHECK(c.memory->has(0));
        auto again = s.start(6, 4);
        CHECK_FALSE(again.context().memory->has(0));
    }
    SECTION("any_sampler through diffuse::sample: a contextual model sees the erased run's levels") {
        const auto s =
            config::from_scheduler_config<T>(nlohmann::json::parse(R"({"_class_name": "HeunDiscreteScheduler"})"));
        std::vector<T> seen;
        double worst = 0;
        diffuse::index evaluations = 0;
        const auto plain = [](const_view<T> x, double, view<T> out, const evaluation_context<T>&) { out = T(0.1) * x; };
        comparing<T, decltype(plain), decltype(plain)> model{plain, plain, &worst, &evaluations, &seen};
        array<T> x = start_noise<T>(4, 4, T(10));
        diffuse::sample(model, s, 5, x);
        REQUIRE(seen.size() == 9);  // Heun: two evaluations per step, one on the last
        // The second stage of step i and the first of step i + 1 share a level; levels decrease.
        for (std::size_t i = 1; i < 9; i += 2) CHECK(seen[i] == seen[i + 1]);
        for (std::size_t i = 0; i < 8; i += 2) CHECK(seen[i] > seen[i + 1]);
    }
}

// ---- exact references on the Gaussian mixture ------------------------------------------------------

TEMPLATE_TEST_CASE("classifier guidance at scale 1 with the exact classifier is the conditional model",
                   "[guidance][classifier]", float, double) {
    using T = TestType;
    const auto mixture = two_classes<T>();
    const auto sched = schedule::discrete<T>::linear();
    // Measured worst relative difference: double 1.4e-14 (sample, v), float 2.3e-7 (flow).
    const double tolerance = std::is_same_v<T, double> ? 1e-10 : 3e-6;
    for (const int label : {0, 1}) {
        for (const auto kind : {prediction::epsilon, prediction::sample, prediction::v_prediction, prediction::score,
                                prediction::flow_velocity}) {
            const bool flow = kind == prediction::flow_velocity;
            const auto guided = guidance::classifier_guidance(
                mixture_network<T>{&mixture, kind, {}}, exact_classifier<T>{&mixture, label}, {.prediction = kind});
            double worst = 0;
            diffuse::index evaluations = 0;
            comparing<T, decltype(guided), mixture_network<T>> model{guided, mixture_network<T>{&mixture, kind, label},
                                                                     &worst, &evaluations};
            array<T> x = start_noise<T>(2 * 64, 7, T(1));
            if (flow) {  // flow networks: Euler in the model state on a flow grid inside (0, 1): at flow time
                // 1 (alpha_t = 0) x carries no information and no classifier can guide.
                schedule::flow_match_options fo;
                fo.custom_sigmas = {0.95, 0.85, 0.7, 0.55, 0.4, 0.25, 0.12, 0.05};
                const auto grid = schedule::flow_match_grid<T>(fo);
                diffuse::sample(model, sampler::euler<T>({.prediction = kind, .space = sampler::state_space::model}),
                                grid, x);
            } else {  // VP networks: Heun (intermediate levels) on the Euler-family grid
                x *= T(14);
                const auto grid = schedule::vp_sigma_grid(sched, {.steps = 8});
                diffuse::sample(model, sampler::heun<T>({.prediction = kind}), grid, x);
            }
            INFO(predict::name(kind) << ", class " << label << ": worst " << worst << " over " << evaluations);
            CHECK(evaluations >= 8);
            CHECK(worst <= tolerance);
        }
    }
    SECTION("the test has power: scale 2 is not the conditional model") {
        const auto guided = guidance::classifier_guidance(mixture_network<T>{&mixture, prediction::epsilon, {}},
                                                          exact_classifier<T>{&mixture, 1}, {.scale = 2.0});
        double worst = 0;
        diffuse::index evaluations = 0;
        comparing<T, decltype(guided), mixture_network<T>> model{
            guided, mixture_network<T>{&mixture, prediction::epsilon, 1}, &worst, &evaluations};
        array<T> x = start_noise<T>(2 * 64, 7, T(14));
        diffuse::sample(model, sampler::heun<T>(), schedule::vp_sigma_grid(sched, {.steps = 8}), x);
        CHECK(worst > 1e-2);
    }
}

TEMPLATE_TEST_CASE("CFG on the mixture: g = 1 is the conditional model, g is the tilted score", "[guidance][cfg]",
                   float, double) {
    using T = TestType;
    const auto mixture = two_classes<T>();
    const auto sched = schedule::discrete<T>::linear();
    const double tolerance = std::is_same_v<T, double> ? 1e-13 : 4e-6;  // measured: 4e-16 / 3.6e-7
    for (const double g : {1.0, 3.0}) {
        for (const auto kind : {prediction::epsilon, prediction::score}) {
            const auto cfg = guidance::classifier_free_guidance(
                mixture_network<T>{&mixture, kind, 1}, mixture_network<T>{&mixture, kind, {}}, {.guidance_scale = g});
            // The tilted score (1 - g) score + g score_1, as the network of `kind` writes it.
            const auto tilted = [&](const_view<T> x, double, view<T> out, const evaluation_context<T>& c) {
                array<T> uncond(x.size()), cond(x.size());
                mixture.score(x, c.alpha_t(), c.sigma_t(), flat(uncond));
                mixture.score(x, c.alpha_t(), c.sigma_t(), flat(cond), 1);
                const T k = kind == prediction::epsilon ? -c.sigma_t() : T(1);  // eps = -sigma_t score
                out = k * (T(1 - g) * uncond + T(g) * cond);
            };
            double worst = 0;
            diffuse::index evaluations = 0;
            comparing<T, decltype(cfg), decltype(tilted)> model{cfg, tilted, &worst, &evaluations};
            array<T> x = start_noise<T>(2 * 64, 8, T(14));
            diffuse::sample(model, sampler::heun<T>({.prediction = kind}), schedule::vp_sigma_grid(sched, {.steps = 6}),
                            x);
            INFO("g " << g << ", " << predict::name(kind) << ": worst " << worst);
            CHECK(worst <= tolerance);
        }
    }
}

TEMPLATE_TEST_CASE("one batched call of 2N equals two callables; learned variances keep the conditional half",
                   "[guidance][cfg]", float, double) {
    using T = TestType;
    const diffuse::index n = 6, batch = 2, d = n / batch;
    sampler::run_memory<T> memory_a, memory_b;
    evaluation_context<T> c{{T(2), T(0.4), 500.0}, 1, 10, {n, batch}, 2 * n, &memory_a, 0};
    // Two per-sample channel blocks [prediction d, variance d]; cond and uncond differ in both.
    const auto branch = [&](bool cond, const_view<T> x, view<T> out) {
        const diffuse::index samples = x.size() / d;
        for (diffuse::index b = 0; b < samples; ++b) {
            for (diffuse::index i = 0; i < d; ++i) {
                const T xi = x[b * d + i];
                out[2 * b * d + i] = cond ? T(2) * xi + T(1) : T(-0.5) * xi;
                out[2 * b * d + d + i] = cond ? T(0.25) : T(-0.75);
            }
        }
    };
    const auto cond = [&](const_view<T> x, double, view<T> out) { branch(true, x, out); };
    const auto uncond = [&](const_view<T> x, double, view<T> out) { branch(false, x, out); };
    const auto network = [&](const_view<T> x2, double, view<T> out2, const evaluation_context<T>& inner) {
        CHECK(inner.shape.batch == 2 * batch);
        const diffuse::index half = x2.size() / 2;
        branch(false, const_view<T>(x2.data(), half), view<T>(out2.data(), out2.size() / 2));
        branch(true, const_view<T>(x2.data() + half, half), view<T>(out2.data() + out2.size() / 2, out2.size() / 2));
    };
    const guidance::classifier_free_options o{.guidance_scale = 4.0, .guidance_rescale = 0.5};
    const auto two = guidance::classifier_free_guidance(cond, uncond, o);
    const auto one = guidance::classifier_free_guidance_batched(network, o);
    const array<T> x = (array<T>(n) << 0.3, -1.2, 0.7, 2.0, -0.4, 0.1).finished();
    array<T> a(2 * n), b(2 * n);
    two(cflat(x), 500.0, flat(a), c);
    c.memory = &memory_b;
    one(cflat(x), 500.0, flat(b), c);
    CHECK((a == b).all());
    // Expected, per sample: g = uncond + 4 (cond - uncond), rescaled by 0.5 std(cond)/std(g) + 0.5
    // (unbiased std, two passes); the variance half is the conditional one.
    for (diffuse::index s = 0; s < batch; ++s) {
        array<double> c(d), u(d);
        for (diffuse::index i = 0; i < d; ++i) {
            c[i] = 2.0 * static_cast<double>(x[s * d + i]) + 1.0;
            u[i] = -0.5 * static_cast<double>(x[s * d + i]);
        }
        const array<double> g = u + 4.0 * (c - u);
        const auto stddev = [](const array<double>& v) {
            return std::sqrt((v - v.mean()).square().sum() / static_cast<double>(v.size() - 1));
        };
        const array<double> expected = 0.5 * g * (stddev(c) / stddev(g)) + 0.5 * g;
        for (diffuse::index i = 0; i < d; ++i) {
            CHECK(static_cast<double>(a[2 * s * d + i]) ==
                  Approx(expected[i]).epsilon(std::is_same_v<T, float> ? 1e-5 : 1e-12).margin(0));
            CHECK(a[2 * s * d + d + i] == T(0.25));
        }
    }
}

TEMPLATE_TEST_CASE("the rescale's one-pass sums give the two-pass variances, also far off centre",
                   "[guidance][rescale]", float, double) {
    using T = TestType;
    // Three whole blocks of the packet loop and a head of 37 elements summed in double; values near
    // 1000 and -500 with spreads of 1e-2, where sums of squares in T would cancel completely.
    const diffuse::index n = 3 * guidance::detail::reduction_block + 37;
    array<T> c(n), u(n);
    for (diffuse::index i = 0; i < n; ++i) {
        c[i] = T(1000 + 0.01 * std::sin(0.7 * static_cast<double>(i)));
        u[i] = T(-500 + 0.02 * std::cos(0.3 * static_cast<double>(i)) + 0.005 * std::sin(0.7 * static_cast<double>(i)));
    }
    const auto m = guidance::detail::moments_of<T>(cflat(c), cflat(u));
    // Two passes in double over the same (T-rounded) values: mean first, then squared deviations.
    const auto two_pass = [&](double p, double q) {
        array<double> y(n);
        for (diffuse::index i = 0; i < n; ++i) y[i] = p * static_cast<double>(c[i]) + q * static_cast<double>(u[i]);
        return (y - y.mean()).square().sum() / static_cast<double>(n - 1);
    };
    // Measured worst relative difference: 1.4e-8 (float: the centred values carry 2^-24 of 1000 and
    // 500), 4.8e-13 (double, p = 7.5, q = -6.5). Restoring the raw sums first, as this code once did,
    // loses about 1e-6 even in double: the test fails then.
    const double tolerance = std::is_same_v<T, float> ? 1e-7 : 5e-12;
    for (const auto& [p, q] : {std::pair{1.0, 0.0}, std::pair{0.0, 1.0}, std::pair{7.5, -6.5}, std::pair{8.5, -7.5}}) {
        const double expected = two_pass(p, q), got = guidance::detail::combined_variance(m, p, q);
        INFO("p = " << p << ", q = " << q << ": relative difference " << std::abs(got - expected) / expected);
        CHECK(got == Approx(expected).epsilon(tolerance).margin(0));
    }
    CHECK(m.n == static_cast<double>(n));
    CHECK(guidance::detail::variance_of<T>(cflat(c)) == Approx(two_pass(1.0, 0.0)).epsilon(tolerance).margin(0));
}

// ---- parity with diffusers' guiders ------------------------------------------------------------------

namespace {

template <Real T, class Rule>
void check_case(const reference_guidance::guider_case& rc, const Rule& rule, double tolerance) {
    using namespace reference_guidance;
    sampler::run_memory<T> memory;  // one run: APG's momentum carries over the three calls
    for (int k = 0; k < 3; ++k) {
        const evaluation_context<T> c{
            {T(1), T(1), 999.0}, rc.step[k], rc.num_inference_steps, {size, batch}, size, &memory, 0};
        const auto cond = [&](const_view<T>, double, view<T> out) {
            for (int i = 0; i < size; ++i) out[i] = static_cast<T>(reference_guidance::cond[k][i]);
        };
        const auto uncond = [&](const_view<T>, double, view<T> out) {
            for (int i = 0; i < size; ++i) out[i] = static_cast<T>(reference_guidance::uncond[k][i]);
        };
        const guidance::guided model(rule, cond, uncond);
        const array<T> x = array<T>::Zero(size);
        array<T> out(size);
        model(cflat(x), 999.0, flat(out), c);
        // Per element, relative to the call's largest |ref| (diffusers works in float32).
        double worst = 0, largest = 0;
        for (int i = 0; i < size; ++i) largest = std::max(largest, std::abs(static_cast<double>(rc.out[k][i])));
        for (int i = 0; i < size; ++i) {
            worst = std::max(worst, std::abs(static_cast<double>(out[i]) - rc.out[k][i]) / std::max(largest, 1e-30));
        }
        INFO(rc.kind << " call " << k << ": worst relative difference " << worst);
        CHECK(worst <= tolerance);
    }
}

}  // namespace

TEMPLATE_TEST_CASE("every guider matches diffusers' guider classes on recorded tensors", "[guidance][diffusers]", float,
                   double) {
    using T = TestType;
    // Measured worst (float and double alike, diffusers works in float32): tangential 9.0e-7, the
    // others 1.3e-7 to 2.3e-7.
    const double tolerance = 1e-5;
    for (const auto& rc : reference_guidance::cases) {
        const guidance::guidance_window window{.start = rc.start, .stop = rc.stop, .enabled = rc.enabled};
        const std::string kind = rc.kind;
        if (kind == "classifier_free" || kind == "tangential") {
            const guidance::classifier_free_options o{rc.guidance_scale, rc.guidance_rescale,
                                                      rc.use_original_formulation, window};
            if (kind == "classifier_free") check_case<T>(rc, guidance::classifier_free(o), tolerance);
            else check_case<T>(rc, guidance::tangential(o), tolerance);
        } else if (kind == "zero_star") {
            check_case<T>(rc,
                          guidance::zero_star({rc.guidance_scale, rc.zero_init_steps, rc.guidance_rescale,
                                               rc.use_original_formulation, window}),
                          tolerance);
        } else if (kind == "magnitude_aware") {
            check_case<T>(rc,
                          guidance::magnitude_aware(
                              {rc.guidance_scale, rc.alpha, rc.guidance_rescale, rc.use_original_formulation, window}),
                          tolerance);
        } else if (kind == "adaptive_projected" || kind == "adaptive_projected_mix") {
            // The options both share, then the rule.
            const auto projected = [&](auto o) {
                o.adaptive_projected_guidance_rescale = rc.adaptive_projected_guidance_rescale;
                o.adaptive_projected_guidance_momentum = std::nullopt;
                if (rc.has_momentum) o.adaptive_projected_guidance_momentum = rc.momentum;
                o.eta = rc.eta;
                o.guidance_rescale = rc.guidance_rescale;
                o.use_original_formulation = rc.use_original_formulation;
                o.window = window;
                return o;
            };
            if (kind == "adaptive_projected") {
                check_case<T>(rc,
                              guidance::adaptive_projected(
                                  projected(guidance::adaptive_projected_options{.guidance_scale = rc.guidance_scale})),
                              tolerance);
            } else {
                check_case<T>(
                    rc,
                    guidance::adaptive_projected_mix(projected(guidance::adaptive_projected_mix_options{
                        .guidance_scale = rc.guidance_scale,
                        .adaptive_projected_guidance_scale = rc.adaptive_projected_guidance_scale,
                        .adaptive_projected_guidance_start_step = rc.adaptive_projected_guidance_start_step})),
                    tolerance);
            }
        } else {
            FAIL("unknown kind " << kind);
        }
    }
}

TEMPLATE_TEST_CASE("FrequencyDecoupledGuidance matches diffusers' guider (kornia's pyramid ops in torch)",
                   "[guidance][diffusers][fdg]", float, double) {
    using T = TestType;
    using namespace reference_guidance;
    // Measured worst difference relative to the call's largest |ref|: float 3.0e-7, double 1.8e-7 (the
    // reference runs in float32).
    const double tolerance = 3e-6;
    for (const auto& rc : fdg_cases) {
        const auto levels = static_cast<std::size_t>(rc.levels);
        const auto list = [&](const double* v) { return std::vector<double>(v, v + levels); };
        const guidance::frequency_decoupled rule({.guidance_scales = list(rc.guidance_scales),
                                                  .guidance_rescale = list(rc.guidance_rescale),
                                                  .parallel_weights = list(rc.parallel_weights),
                                                  .use_original_formulation = rc.use_original_formulation,
                                                  .start = list(rc.start),
                                                  .stop = list(rc.stop),
                                                  .guidance_rescale_space = rc.rescale_in_freq
                                                                                ? guidance::rescale_space::freq
                                                                                : guidance::rescale_space::data,
                                                  .enabled = rc.enabled,
                                                  .height = fdg_height,
                                                  .width = fdg_width});
        sampler::run_memory<T> memory;
        int k = 0;
        const auto cond = [&](const_view<T>, double, view<T> out) {
            for (int i = 0; i < fdg_size; ++i) out[i] = static_cast<T>(fdg_cond[k][i]);
        };
        const auto uncond = [&](const_view<T>, double, view<T> out) {
            for (int i = 0; i < fdg_size; ++i) out[i] = static_cast<T>(fdg_uncond[k][i]);
        };
        const guidance::guided model(rule, cond, uncond);
        const array<T> x = array<T>::Zero(fdg_size);
        array<T> out(fdg_size);
        model.prepare(evaluation_context<T>{{T(1), T(1), 999.0}, 0, 10, {fdg_size, fdg_batch}, fdg_size, &memory, 0});
        for (; k < 3; ++k) {
            const evaluation_context<T> c{
                {T(1), T(1), 999.0}, rc.step[k], rc.num_inference_steps, {fdg_size, fdg_batch}, fdg_size, &memory, 0};
            const auto made = allocation_counting::count([&] { model(cflat(x), 999.0, flat(out), c); });
            CHECK(made.made == 0);  // the pyramids live in slots sized by prepare()
            double worst = 0, largest = 0;
            for (int i = 0; i < fdg_size; ++i) largest = std::max(largest, std::abs(static_cast<double>(rc.out[k][i])));
            for (int i = 0; i < fdg_size; ++i)
                worst = std::max(worst, std::abs(static_cast<double>(out[i]) - rc.out[k][i]) / largest);
            INFO(rc.levels << " levels, call " << k << ": worst relative difference " << worst);
            CHECK(worst <= tolerance);
        }
    }
    SECTION("shapes kornia would pad, or too small for the levels, and bad options are diffuse::errors") {
        using Catch::Matchers::Contains;
        sampler::run_memory<T> memory;
        const evaluation_context<T> c{{T(1), T(1), 999.0}, 0, 10, {288, 2}, 288, &memory, 0};
        const auto branch = [](const_view<T>, double, view<T> out) { out.setZero(); };
        const array<T> x = array<T>::Zero(288);
        array<T> out(288);
        // 12 x 12: neither side a power of two (diffusers would return 16 x 16).
        const guidance::guided padded(guidance::frequency_decoupled({.height = 12, .width = 12}), branch, branch);
        CHECK_THROWS_WITH(padded(cflat(x), 999.0, flat(out), c), Contains("power of two"));
        // 8 x 18 with 3 levels: the top level would be 2 x 4.
        const guidance::guided small(
            guidance::frequency_decoupled({.guidance_scales = {3, 2, 1.5}, .height = 8, .width = 18}), branch, branch);
        CHECK_THROWS_WITH(small(cflat(x), 999.0, flat(out), c), Contains("at least 3 rows"));
        CHECK_THROWS_WITH(guidance::frequency_decoupled({.width = 4}), Contains("height"));
        CHECK_THROWS_WITH(guidance::frequency_decoupled({.guidance_rescale = {0.1, 0.2, 0.3}, .height = 4, .width = 4}),
                          Contains("guidance_rescale"));
        CHECK_THROWS_WITH(guidance::frequency_decoupled({.guidance_scales = {}, .height = 4, .width = 4}),
                          Contains("guidance_scales"));
    }
}

// ---- sampling ------------------------------------------------------------------------------------------

TEST_CASE("CFG sampling: purity rises with the scale; g = 1 samples the conditional mixture", "[guidance][sampling]") {
    using T = double;
    const auto mixture = two_classes<T>();
    const diffuse::index count = 4000;
    const auto sched = schedule::discrete<T>::linear();
    const auto grid = schedule::vp_sigma_grid(sched, {.steps = 20});
    const int label = 1;
    // Purity: the share of samples whose exact class posterior p(1 | x) at t = 0 exceeds 1/2.
    const auto purity = [&](const array<T>& x) {
        array<T> log_p(count);
        mixture.class_log_posterior(cflat(x), T(1), T(0), label, flat(log_p));
        return static_cast<double>((log_p > std::log(0.5)).count()) / count;
    };
    std::vector<double> purities;
    array<T> at_one;
    for (const double g : {1.0, 1.2, 1.5, 2.0}) {
        const auto cfg = guidance::classifier_free_guidance(mixture_network<T>{&mixture, prediction::epsilon, label},
                                                            mixture_network<T>{&mixture, prediction::epsilon, {}},
                                                            {.guidance_scale = g});
        array<T> x = start_noise<T>(2 * count, 11, T(1));
        sampler::heun<T> heun;
        x *= heun.start(grid, 2 * count).init_noise_sigma();
        diffuse::sample(cfg, heun, grid, x, {}, count);
        purities.push_back(purity(x));
        if (g == 1.0) at_one = x;
    }
    // Measured: 0.8955, 0.9443, 0.9795, 0.9995.
    INFO("purity at g = 1, 1.2, 1.5, 2: " << purities[0] << ", " << purities[1] << ", " << purities[2] << ", "
                                          << purities[3]);
    for (std::size_t i = 1; i < purities.size(); ++i) CHECK(purities[i] > purities[i - 1]);
    CHECK(purities.back() > purities.front() + 0.1);

    // g = 1 against true samples of class 1: within 2x the energy distance of two true sets.
    const array<T> weights = (array<T>(2) << 1, 1).finished();
    const array<T> means = (array<T>(4) << 0.8, 0.3, 0.5, -0.8).finished();
    const array<T> stddevs = (array<T>(2) << 0.6, 0.5).finished();
    const auto conditional = models::gaussian_mixture<T>::isotropic(2, cflat(weights), cflat(means), cflat(stddevs));
    array<T> truth(2 * count), other(2 * count);
    random::generator data(12);
    conditional.sample(flat(truth), data);
    conditional.sample(flat(other), data);
    const double null = models::energy_distance<T>(cflat(other), cflat(truth), 2);
    const double d = models::energy_distance<T>(cflat(at_one), cflat(truth), 2);
    INFO("energy distance at g = 1: " << d << ", two true sets: " << null);  // measured: 4.97e-4, 7.74e-4
    CHECK(d <= 2 * null);
}

// ---- allocation, validation ----------------------------------------------------------------------------

TEMPLATE_TEST_CASE("a guided run allocates nothing per step once prepared", "[guidance][allocations]", float, double) {
    using T = TestType;
    const auto sched = schedule::discrete<T>::linear();
    const diffuse::index n = 8;
    const auto cond = [](const_view<T> x, double, view<T> out) { out = T(0.2) * x + T(0.1); };
    const auto uncond = [](const_view<T> x, double, view<T> out) { out = T(0.1) * x; };
    const auto network = [&](const_view<T> x2, double t, view<T> out2) {
        uncond(const_view<T>(x2.data(), n), t, view<T>(out2.data(), n));
        cond(const_view<T>(x2.data() + n, n), t, view<T>(out2.data() + n, n));
    };
    const auto apg = guidance::batched(
        guidance::adaptive_projected({.guidance_scale = 3.0, .adaptive_projected_guidance_momentum = 0.5}), network);
    const auto grad = [](const_view<T> x, double, view<T> out) { out = -x; };
    const auto guided = guidance::classifier_guidance(apg, grad, {.scale = 0.5});
    sampler::ddim<T> ddim(sched);
    auto run = ddim.start(schedule::spaced_timesteps(1000, 6), n);
    guided.prepare(run.context());
    array<T> x = start_noise<T>(n, 13, T(1)), out(n);
    const array<T> before = x;
    const auto made = allocation_counting::count([&] {
        while (!run.done()) {
            const auto c = run.context();
            guided(cflat(x), c.model_time(), flat(out), c);
            run.step(out, x);
        }
    });
    CHECK(made.made == 0);
    CHECK(made.released == 0);
    CHECK((x != before).any());

    // CFG++ (the step landing in every context) on DDIM without clipping, one batched call.
    const auto cfg_pp = guidance::batched(guidance::cfg_pp({.guidance_scale = 0.7}), network);
    sampler::ddim<T> unclipped(sched, {.x0 = {}});
    auto plus = unclipped.start(schedule::spaced_timesteps(1000, 6), n);
    cfg_pp.prepare(plus.context());
    const auto made_plus = allocation_counting::count([&] {
        while (!plus.done()) {
            const auto c = plus.context();
            cfg_pp(cflat(x), c.model_time(), flat(out), c);
            plus.step(out, x);
        }
    });
    CHECK(made_plus.made == 0);
}

TEST_CASE("invalid guidance options are diffuse::errors naming the option", "[guidance][errors]") {
    using Catch::Matchers::Contains;
    CHECK_THROWS_WITH(guidance::classifier_free({.guidance_rescale = 1.5}), Contains("guidance_rescale"));
    CHECK_THROWS_WITH(guidance::classifier_free({.guidance_scale = NAN}), Contains("guidance_scale"));
    CHECK_THROWS_WITH(guidance::classifier_free({.window = {.start = 1.0}}), Contains("start"));
    CHECK_THROWS_WITH(guidance::classifier_free({.window = {.start = 0.5, .stop = 0.25}}), Contains("stop"));
    CHECK_THROWS_WITH(guidance::classifier_free({.window = {.sigma_low = 2.0, .sigma_high = 1.0}}),
                      Contains("sigma_high"));
    CHECK_THROWS_WITH(guidance::zero_star({.zero_init_steps = -1}), Contains("zero_init_steps"));
    CHECK_THROWS_WITH(guidance::magnitude_aware({.alpha = INFINITY}), Contains("alpha"));
    CHECK_THROWS_WITH(guidance::adaptive_projected({.adaptive_projected_guidance_rescale = -1.0}),
                      Contains("adaptive_projected_guidance_rescale"));
    CHECK_THROWS_WITH(guidance::adaptive_projected({.eta = NAN}), Contains("eta"));
    CHECK_THROWS_AS(guidance::classifier_free({.guidance_rescale = -0.1}), diffuse::error);
    const auto model = [](const_view<double>, double, view<double>) {};
    CHECK_THROWS_WITH(guidance::classifier_guidance(model, model, {.scale = INFINITY}), Contains("scale"));
}

TEST_CASE("the guidance interval and start/stop select the evaluations that are guided", "[guidance][window]") {
    using T = double;
    const guidance::guidance_window w{.start = 0.2, .stop = 0.6, .sigma_low = 0.5, .sigma_high = 3.0};
    evaluation_context<T> c{{T(1), T(1), 0.0}, 0, 10, {1, 1}, 1, nullptr, 0};
    // diffusers: int(0.2 * 10) = 2 <= step < int(0.6 * 10) = 6.
    std::vector<bool> on;
    for (diffuse::index step = 0; step < 10; ++step) {
        c.step = step;
        on.push_back(w.covers(c));
    }
    CHECK(on == std::vector<bool>{false, false, true, true, true, true, false, false, false, false});
    c.step = 3;
    c.level.sigma = 0.5;
    CHECK_FALSE(w.covers(c));  // (sigma_low, sigma_high]
    c.level.sigma = 3.0;
    CHECK(w.covers(c));
    c.level.sigma = 3.5;
    CHECK_FALSE(w.covers(c));
}

// ---- CFG++ and the mean-shift form of classifier guidance (the step's landing) --------------------------

namespace {

// tools/reference_cfg_pp.py's element-wise network: tanh(m x + k tau + b), or amplitude cos(m x + k tau),
// tau = model_time / 1000. `period`: the parameters repeat every `period` elements (a 2N batch).
template <Real T>
struct recorded_network {
    const double* m;
    const double* k;
    const double* b;
    const double* amplitude = nullptr;  // set: the cosine (the classifier gradient)

    void operator()(const_view<T> x, double time, view<T> out) const {
        const double tau = time / 1000.0;
        for (diffuse::index j = 0; j < x.size(); ++j) {
            const auto i = static_cast<std::size_t>(j % reference_cfg_pp::size);
            if (amplitude) {
                out[j] = T(amplitude[i]) * std::cos(T(m[i]) * x[j] + T(k[i] * tau));
            } else {
                out[j] = std::tanh(T(m[i]) * x[j] + T(k[i] * tau) + T(b[i]));
            }
        }
    }
};

template <Real T>
recorded_network<T> recorded_cond() {
    using namespace reference_cfg_pp;
    return {mc, kc, bc};
}
template <Real T>
recorded_network<T> recorded_uncond() {
    using namespace reference_cfg_pp;
    return {reference_cfg_pp::mu, ku, bu};
}

// Largest |x - x_ref| over the path, relative to max(1, the step's largest |x_ref|).
template <Real T>
struct path_check {
    const reference_cfg_pp::trajectory_case* rc;
    double worst = 0;
    diffuse::index steps = 0;

    void after_step(diffuse::index done, const_view<T> x) {
        const double* ref = rc->x[done - 1];
        double largest = 1, diff = 0;
        for (diffuse::index i = 0; i < x.size(); ++i) {
            largest = std::max(largest, std::abs(ref[i]));
            diff = std::max(diff, std::abs(static_cast<double>(x[i]) - ref[i]));
        }
        worst = std::max(worst, diff / largest);
        steps = done;
    }
};

}  // namespace

TEMPLATE_TEST_CASE("CFG++ and the classifier mean shift reproduce the papers' algorithms step by step",
                   "[guidance][cfg_pp]", float, double) {
    using T = TestType;
    using namespace reference_cfg_pp;
    const auto sched = schedule::discrete<T>::linear();
    // Measured worst relative difference over the 10 states: double 1.4e-15 (DDPM), 9.9e-16 (CFG++);
    // float 4.0e-7 (DDPM), 8.5e-7 (CFG++, Euler v_prediction).
    const double tolerance = std::is_same_v<T, double> ? 1e-13 : 1e-5;
    int case_index = 0;
    for (const auto& rc : cases) {
        const std::string kind = rc.sampler;
        const prediction pred =
            std::string(rc.prediction) == "epsilon" ? prediction::epsilon : prediction::v_prediction;
        const std::vector<sampler::timestep> grid(std::begin(rc.grid), std::end(rc.grid));
        array<T> x(size);
        for (int i = 0; i < size; ++i) x[i] = T(x_start[i]);
        path_check<T> check{&rc};
        sample_options<T> options;
        options.observer = [&](diffuse::index done, const_view<T> state) {
            check.after_step(done, state);
            return true;
        };
        // Two callables, or (every other case) one network call on the 2N batch, uncond half first.
        const double lambda = kind == "ddpm" ? 0.0 : rc.scale;  // ddpm: rc.scale is the classifier's
        const auto cfg_pp = guidance::cfg_pp({.guidance_scale = lambda});
        const auto network = [](const_view<T> x2, double t, view<T> out2) {
            const diffuse::index n = x2.size() / 2;
            recorded_uncond<T>()(const_view<T>(x2.data(), n), t, view<T>(out2.data(), n));
            recorded_cond<T>()(const_view<T>(x2.data() + n, n), t, view<T>(out2.data() + n, n));
        };
        const auto two = guidance::guided(cfg_pp, recorded_cond<T>(), recorded_uncond<T>());
        const auto one = guidance::batched(cfg_pp, network);
        const bool batched = case_index++ % 2 == 1;
        if (kind == "ddim") {
            const sampler::ddim<T> ddim(sched,
                                        {.prediction = pred,
                                         .x0 = {},
                                         .target = rc.diffusers_target ? sampler::step_target::diffusers_prev_timestep
                                                                       : sampler::step_target::next_grid_entry});
            if (batched) diffuse::sample(one, ddim, grid, x, options, batch);
            else diffuse::sample(two, ddim, grid, x, options, batch);
        } else if (kind == "euler") {
            std::vector<schedule::noise_level<T>> levels;
            for (const auto t : grid) {
                const T ab = sched.alpha_bar(t);
                levels.push_back(sampler::alpha_bar_level(ab, static_cast<double>(t)));
            }
            levels.push_back({T(0), T(1), 0.0});
            const sampler::sigma_grid<T> sigmas(levels, T(1));
            x /= levels[0].alpha;  // the denoiser state of x_net = x_start
            const sampler::euler<T> euler({.prediction = pred});
            if (batched) diffuse::sample(one, euler, sigmas, x, options, batch);
            else diffuse::sample(two, euler, sigmas, x, options, batch);
        } else {  // Dhariwal & Nichol's Algorithm 1 through the step API, with the recorded noise
            const sampler::ddpm<T> ddpm(sched, {.prediction = pred, .x0 = {}});
            const auto guided = guidance::classifier_guidance(
                recorded_cond<T>(), recorded_network<T>{mg, kg, nullptr, sg},
                {.scale = rc.scale, .prediction = pred, .form = guidance::classifier_form::mean_shift});
            auto run = ddpm.start(grid, size, batch);
            guided.prepare(run.context());
            array<T> out(size), z(size);
            while (!run.done()) {
                const auto c = run.context();
                for (int i = 0; i < size; ++i) z[i] = T(ddpm_noise[run.step_index()][i]);
                guided(cflat(x), c.model_time(), flat(out), c);
                run.step(out, x, cflat(z));
                check.after_step(run.step_index(), cflat(x));
            }
        }
        INFO(rc.name << (batched && kind != "ddpm" ? " (batched)" : "") << ": worst relative difference "
                     << check.worst);
        CHECK(check.steps == 10);
        CHECK(check.worst <= tolerance);
    }
}

TEMPLATE_TEST_CASE("where a step lands: DDIM, DDPM and Euler report it, the variance identities hold",
                   "[guidance][cfg_pp][context]", float, double) {
    using T = TestType;
    const auto sched = schedule::discrete<T>::linear();
    const auto grid = schedule::spaced_timesteps(1000, 5);
    const double tolerance = std::is_same_v<T, double> ? 1e-12 : 1e-5;  // measured below
    // A step to t' splits the target's sigma^2 = (1 - ab')/ab' into its deterministic part and its
    // noise: DDIM at any eta (eq. 12: ab' + (1 - ab' - std^2) + std^2 = 1), and DDPM's posterior
    // (the DDIM step at eta = 1, Song et al. 2021 sec. 4.1). Relative differences, worst over the run.
    const auto check_split = [&](auto& run, bool noisy) {
        array<T> x = array<T>::Zero(4), out = array<T>::Zero(4), z = array<T>::Zero(4);
        double worst = 0;
        while (!run.done()) {
            const auto c = run.context();
            REQUIRE(c.target.has_value());
            const sampler::timestep next = run.next_timestep();
            const double ab_next = next >= 0 ? static_cast<double>(sched.alpha_bar(next)) : 1.0;
            const double sigma = c.target->level.sigma, noise = c.target->noise, alpha = c.target->level.alpha;
            const double total = (1 - ab_next) / ab_next;
            worst = std::max(worst, std::abs(alpha - std::sqrt(ab_next)) / std::sqrt(ab_next));
            worst = std::max(worst, std::abs(sigma * sigma + noise * noise - total) / std::max(total, 1e-3));
            if (!noisy) CHECK(noise == 0.0);
            else if (next > 0) CHECK(noise > 0.0);
            run.step(out, x, cflat(z));
        }
        INFO("worst relative difference " << worst);  // measured: double 4.2e-16, float 1.1e-7
        CHECK(worst <= tolerance);
    };
    SECTION("DDIM, eta 0 and 0.5") {
        for (const T eta : {T(0), T(0.5)}) {
            const sampler::ddim<T> ddim(sched, {.eta = eta, .x0 = {}});
            auto run = ddim.start(grid, 4);
            check_split(run, eta > T(0));
        }
    }
    SECTION("DDPM, fixed_small") {
        const sampler::ddpm<T> ddpm(sched, {.x0 = {}});
        auto run = ddpm.start(grid, 4);
        check_split(run, true);
    }
    SECTION("Euler: the next level; renoise: sigma' = 0 and noise = the next sigma") {
        const auto sigmas = schedule::vp_sigma_grid(sched, {.steps = 4});
        for (const bool renoise : {false, true}) {
            const sampler::euler<T> euler({.renoise = renoise});
            auto run = euler.start(sigmas, 2);
            for (diffuse::index i = 0; i < 4; ++i) {
                const auto c = run.context();
                REQUIRE(c.target.has_value());
                CHECK(c.target->level.sigma == (renoise ? T(0) : sigmas[i + 1].sigma));
                CHECK(c.target->noise == (renoise ? sigmas[i + 1].sigma : T(0)));
                array<T> x = array<T>::Zero(2), out = array<T>::Zero(2), z = array<T>::Zero(2);
                run.step(out, x, cflat(z));
            }
        }
    }
    SECTION("no landing where the step is not one transfer of the prediction") {
        const sampler::ddim<T> clipped(sched);  // diffusers' default clip_sample
        const sampler::ddpm<T> learned(sched, {.variance = sampler::variance_type::learned_range, .x0 = {}});
        const auto sigmas = schedule::vp_sigma_grid(sched, {.steps = 4});
        const sampler::euler<T> churned({.s_churn = T(1)});
        const sampler::heun<T> heun;
        CHECK_FALSE(clipped.start(grid, 2).context().target.has_value());
        CHECK_FALSE(learned.start(grid, 2).context().target.has_value());
        CHECK_FALSE(churned.start(sigmas, 2).context().target.has_value());
        CHECK_FALSE(heun.start(sigmas, 2).context().target.has_value());
    }
}

TEMPLATE_TEST_CASE("CFG++ on the mixture: lambda = 0 is the unconditional sampler; errors without a landing",
                   "[guidance][cfg_pp]", float, double) {
    using T = TestType;
    const auto mixture = two_classes<T>();
    const auto sched = schedule::discrete<T>::linear();
    const auto timesteps = schedule::spaced_timesteps(1000, 8);
    const auto sigmas = schedule::vp_sigma_grid(sched, {.steps = 8});
    const mixture_network<T> cond{&mixture, prediction::epsilon, 1}, uncond{&mixture, prediction::epsilon, {}};
    const sampler::ddim<T> ddim(sched, {.x0 = {}});
    const sampler::euler<T> euler;
    const auto run_both = [&](const auto& model, array<T>& a, array<T>& b) {
        a = start_noise<T>(2 * 32, 21, T(1));
        b = start_noise<T>(2 * 32, 21, T(1)) / sigmas[0].alpha;  // the denoiser state of the same x_net
        diffuse::sample(model, ddim, timesteps, a);
        diffuse::sample(model, euler, sigmas, b);
    };
    array<T> guided_ddim, guided_euler, plain_ddim, plain_euler, half_ddim, half_euler;
    run_both(guidance::guided(guidance::cfg_pp({.guidance_scale = 0.0}), cond, uncond), guided_ddim, guided_euler);
    run_both(uncond, plain_ddim, plain_euler);
    run_both(guidance::guided(guidance::cfg_pp({.guidance_scale = 0.5}), cond, uncond), half_ddim, half_euler);
    // w = 0 * ... : the output is the unconditional prediction bit for bit.
    CHECK((guided_ddim == plain_ddim).all());
    CHECK((guided_euler == plain_euler).all());
    // The test has power: lambda = 0.5 moves the samples.
    INFO("lambda = 0.5 moves DDIM by " << (half_ddim - plain_ddim).abs().maxCoeff() << ", Euler by "
                                       << (half_euler - plain_euler).abs().maxCoeff());
    CHECK((half_ddim - plain_ddim).abs().maxCoeff() > T(0.05));
    CHECK((half_euler - plain_euler).abs().maxCoeff() > T(0.05));

    using Catch::Matchers::Contains;
    const auto guided = guidance::guided(guidance::cfg_pp(guidance::cfg_pp_options{}), cond, uncond);
    array<T> x = start_noise<T>(2 * 4, 22, T(1));
    // DDIM's default clip_sample, Heun's two stages, Euler's churn: a diffuse::error, not plain CFG.
    CHECK_THROWS_WITH(diffuse::sample(guided, sampler::ddim<T>(sched), timesteps, x), Contains("CFG++"));
    CHECK_THROWS_WITH(diffuse::sample(guided, sampler::heun<T>(), sigmas, x), Contains("target_level"));
    random::generator rng(3);
    CHECK_THROWS_AS(diffuse::sample(guided, sampler::euler<T>({.s_churn = T(2)}), sigmas, x, rng), diffuse::error);
    CHECK_THROWS_WITH(guidance::cfg_pp({.guidance_scale = 1.5}), Contains("guidance_scale"));
}

TEMPLATE_TEST_CASE("classifier mean shift on DDPM: the step lands at mu + s Sigma grad log p(y | x_t)",
                   "[guidance][classifier]", float, double) {
    using T = TestType;
    const auto mixture = two_classes<T>();
    const auto sched = schedule::discrete<T>::linear();
    const auto timesteps = schedule::spaced_timesteps(1000, 8);
    // Measured worst relative difference: double 1.6e-15 (epsilon), float 2.0e-7 (epsilon).
    const double tolerance = std::is_same_v<T, double> ? 1e-12 : 3e-6;
    for (const auto kind : {prediction::epsilon, prediction::sample, prediction::v_prediction}) {
        const double s = 3.0;
        const sampler::ddpm<T> ddpm(sched, {.prediction = kind, .x0 = {}});
        const mixture_network<T> network{&mixture, kind, {}};
        const exact_classifier<T> classifier{&mixture, 1};
        const auto guided = guidance::classifier_guidance(
            network, classifier, {.scale = s, .prediction = kind, .form = guidance::classifier_form::mean_shift});
        const diffuse::index n = 2 * 32;
        auto a = ddpm.start(timesteps, n), b = ddpm.start(timesteps, n);
        guided.prepare(a.context());
        array<T> xa = start_noise<T>(n, 31, T(1)), xb = xa, out(n), g(n), z(n);
        random::generator rng(32);
        double worst = 0;
        while (!a.done()) {
            rng.normal(flat(z));
            const auto ca = a.context();
            guided(cflat(xa), ca.model_time(), flat(out), ca);
            a.step(out, xa, cflat(z));
            // The same step unguided, then its mean moved by s Sigma g (Sigma: DDPM's posterior variance).
            const auto cb = b.context();
            network(cflat(xb), cb.model_time(), flat(out), cb);
            classifier(cflat(xb), cb.model_time(), flat(g), cb);
            const sampler::timestep t = b.current_timestep();
            const T variance = t > 0 ? ddpm.variance(t, b.next_timestep()) : T(0);
            b.step(out, xb, cflat(z));
            xb += T(s) * variance * g;
            worst =
                std::max(worst, static_cast<double>((xa - xb).abs().maxCoeff() / std::max(T(1), xb.abs().maxCoeff())));
        }
        INFO(predict::name(kind) << ": worst relative difference " << worst);
        CHECK(worst <= tolerance);
    }
    using Catch::Matchers::Contains;
    const auto guided = guidance::classifier_guidance(mixture_network<T>{&mixture, prediction::epsilon, {}},
                                                      exact_classifier<T>{&mixture, 1},
                                                      {.form = guidance::classifier_form::mean_shift});
    array<T> x = start_noise<T>(2 * 4, 33, T(1));
    random::generator rng(34);
    // DDPM's default clip_sample: the step's mean is not affine in the output.
    CHECK_THROWS_WITH(diffuse::sample(guided, sampler::ddpm<T>(sched), timesteps, x, rng), Contains("mean_shift"));
}
