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
#include "diffuse/guidance/guided.hpp"
#include "diffuse/guidance/rules.hpp"
#include "diffuse/models/gaussian_mixture.hpp"
#include "diffuse/models/metrics.hpp"
#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/dpm2.hpp"
#include "diffuse/sampler/euler.hpp"
#include "diffuse/sampler/heun.hpp"
#include "diffuse/sampler/sample.hpp"
#include "diffuse/schedule/flow.hpp"
#include "diffuse/schedule/sigmas.hpp"
#include "diffuse/schedule/timesteps.hpp"
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
        } else if (kind == "adaptive_projected") {
            guidance::adaptive_projected_options o{
                .guidance_scale = rc.guidance_scale,
                .adaptive_projected_guidance_rescale = rc.adaptive_projected_guidance_rescale,
                .eta = rc.eta,
                .guidance_rescale = rc.guidance_rescale,
                .use_original_formulation = rc.use_original_formulation,
                .window = window};
            if (rc.has_momentum) o.adaptive_projected_guidance_momentum = rc.momentum;
            check_case<T>(rc, guidance::adaptive_projected(o), tolerance);
        } else {
            FAIL("unknown kind " << kind);
        }
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
