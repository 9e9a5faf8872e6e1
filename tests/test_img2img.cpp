// img2img and inpainting (sampler/img2img.hpp, sampler/inpainting.hpp): the begin index of a
// strength, the noised start latents and whole runs agree element-wise with diffusers' img2img and
// inpaint pipelines' arithmetic on diffusers' own schedulers (tools/reference_img2img.py ->
// tests/reference_image_to_image.hpp, snapshot 58eb52c0, float32, replayed noise): DDIM, Euler, Euler
// ancestral, DPM-Solver++ 2M and 3M (lower_order_final over the whole grid, warm-up from the begin),
// UniPC (no corrector at the begin), Heun and FlowMatchEuler, through the facade, the typed samplers,
// the loop API and the step API. Bad strengths and late skip_to calls are errors.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "diffuse/config/scheduler_config.hpp"
#include "diffuse/sampler/dpm_solver_multistep.hpp"
#include "diffuse/sampler/edm.hpp"
#include "diffuse/sampler/euler.hpp"
#include "diffuse/sampler/heun.hpp"
#include "diffuse/sampler/img2img.hpp"
#include "diffuse/sampler/inpainting.hpp"
#include "diffuse/sampler/lms.hpp"
#include "diffuse/sampler/pndm.hpp"
#include "diffuse/sampler/sample.hpp"
#include "diffuse/schedule/solver_sigmas.hpp"
#include "kdiffusion_test_support.hpp"
#include "reference_image_to_image.hpp"

using namespace diffuse;
using Catch::Contains;
template <class T>
using array = Eigen::Array<T, Eigen::Dynamic, 1>;
namespace ref = reference_img2img;

namespace {

template <class T>
array<T> from(const std::vector<float>& v) {
    array<T> a(static_cast<diffuse::index>(v.size()));
    for (std::size_t i = 0; i < v.size(); ++i) a[static_cast<diffuse::index>(i)] = static_cast<T>(v[i]);
    return a;
}

template <class T>
schedule::discrete<T> sd_betas() {
    return schedule::discrete<T>::scaled_linear(1000, 0.00085, 0.012);
}
// SD 1.5's config (steps_offset 1) with the Euler family's and DPM-Solver's default linspace spacing.
template <class T>
schedule::sigma_grid<T> sd_linspace(diffuse::index steps) {
    return schedule::vp_sigma_grid(sd_betas<T>(), {.steps = steps, .steps_offset = 1});
}

// Tolerances against float32 data (relative, with kdtest's 1e-3 floor): the start latents are one
// multiply-add, but diffusers rounds alphas_cumprod's 1000-term product and the sigmas in float32
// (measured 3.3e-5 float, 1.4e-4 double); whole runs as kdiffusion_test_support.hpp's.
template <class T>
double start_tolerance() {
    return std::is_same_v<T, float> ? 3e-4 : 1.5e-3;
}
template <class T>
double run_tolerance(const ref::trace& tr) {
    return kdtest::tolerance<T>(tr.draws > 0);
}

// A model that records the times it is asked for (tools/reference_img2img.py's smooth network).
template <class T>
struct recording_model {
    std::vector<double>* times;
    void operator()(const_view<T> in, double t, view<T> out) const {
        times->push_back(t);
        kdtest::smooth<T>(in, t, out);
    }
};

}  // namespace

TEMPLATE_TEST_CASE("img2img_begin is diffusers' get_timesteps t_start, and bad strengths are errors", "[img2img]",
                   float, double) {
    CHECK(img2img_begin(10, 1.0) == 0);
    CHECK(img2img_begin(10, 0.75) == 3);  // int(7.5) = 7 steps run
    CHECK(img2img_begin(10, 0.3) == 7);   // int(3.0000000000000004) = 3
    CHECK(img2img_begin(50, 0.8) == 10);
    CHECK(img2img_begin(10, 0.1) == 9);
    for (const auto* tr : ref::all) CHECK(img2img_begin(tr->steps, tr->strength) == tr->t_start);
    CHECK_THROWS_WITH(img2img_begin(10, 1.5), Contains("strength = 1.5") && Contains("[0, 1]"));
    CHECK_THROWS_WITH(img2img_begin(10, -0.1), Contains("strength") && Contains("[0, 1]"));
    CHECK_THROWS_WITH(img2img_begin(10, std::nan("")), Contains("strength"));
    CHECK_THROWS_WITH(img2img_begin(10, 0.05), Contains("strength = 0.05") && Contains(">= 1/num_steps"));
    CHECK_THROWS_WITH(img2img_begin(10, 0.0), Contains("strength = 0") && Contains("int(num_steps * strength)"));
    CHECK_THROWS_WITH(img2img_begin(0, 0.5), Contains("num_steps = 0"));
}

TEMPLATE_TEST_CASE("img2img and inpainting through the facade and the loop API match diffusers' pipelines",
                   "[img2img][inpainting][diffusers]", float, double) {
    using T = TestType;
    const array<T> image = kdtest::trace_sample0<T>();
    const array<T> noise = from<T>(ref::initial_noise);
    const array<T> mask = from<T>(ref::mask);
    for (const auto* tr : ref::all) {
        INFO(tr->class_name << ", strength " << tr->strength << (tr->inpaint ? ", inpaint" : ""));
        const auto s = config::from_scheduler_config<T>(config::parse_python_json(tr->config));
        array<T> x(image.size());
        const diffuse::index begin = img2img_latents(s, tr->steps, tr->strength, image, x, noise);
        CHECK(begin == tr->t_start);
        kdtest::require_close(x, tr->start, start_tolerance<T>());
        std::vector<double> times;
        kdtest::replay<T> draws{&tr->noise};
        if (tr->inpaint) {
            const inpaint_blend<T> blend(image, mask, noise);
            diffuse::sample(recording_model<T>{&times}, sampler::inpainting(s, blend), tr->steps, x, draws,
                            {.begin = begin});
        } else {
            diffuse::sample(recording_model<T>{&times}, s, tr->steps, x, draws, {.begin = begin});
        }
        kdtest::require_times(times, tr->model_times);
        CHECK(draws.all_used());
        // measured 1.6e-5 float, 1.0e-4 double without noise; 8.0e-6, 3.4e-5 with (Euler ancestral)
        kdtest::require_close(x, tr->x, run_tolerance<T>(*tr));
    }
}

TEMPLATE_TEST_CASE("img2img with a typed sampler: the step API (skip_to, inpaint_blend::apply) and the loop API",
                   "[img2img][inpainting][diffusers]", float, double) {
    using T = TestType;
    const array<T> image = kdtest::trace_sample0<T>();
    const array<T> noise = from<T>(ref::initial_noise);
    const array<T> mask = from<T>(ref::mask);

    SECTION("Euler, step API, img2img_latents on a started run, then inpainting") {
        const sampler::euler<T> euler;
        const auto grid = sd_linspace<T>(10);
        for (const auto* tr : {&ref::euler_075, &ref::euler_075_inpaint}) {
            auto run = euler.start(grid, image.size());
            array<T> x(image.size()), out(image.size()), in(image.size());
            CHECK(img2img_latents(run, tr->strength, image, x, noise) == tr->t_start);
            CHECK(run.step_index() == tr->t_start);
            CHECK(run.steps_taken() == 0);
            kdtest::require_close(x, tr->start, start_tolerance<T>());
            const inpaint_blend<T> blend(image, mask, noise);
            std::vector<double> times;
            while (!run.done()) {
                times.push_back(run.model_time());
                in = run.input_scale() * x;
                kdtest::smooth<T>(cflat(in), run.model_time(), flat(out));
                run.step(out, x);
                if (tr->inpaint) blend.apply(run, x);
            }
            kdtest::require_times(times, tr->model_times);
            kdtest::require_close(x, tr->x, kdtest::tolerance<T>(false));  // measured 9.6e-7 float, 7.7e-6 double
        }
    }
    SECTION("Heun (two evaluations per grid step): the begin index counts grid steps") {
        const sampler::heun<T> heun;
        for (const auto* tr : {&ref::heun_05, &ref::heun_05_inpaint}) {
            array<T> x(image.size());
            const diffuse::index begin = img2img_latents(heun, sd_linspace<T>(6), tr->strength, image, x, noise);
            CHECK(begin == tr->t_start);
            std::vector<double> times;
            const inpaint_blend<T> blend(image, mask, noise);
            if (tr->inpaint) {
                diffuse::sample(recording_model<T>{&times}, sampler::inpainting(heun, blend), sd_linspace<T>(6), x,
                                {.begin = begin});
            } else {
                diffuse::sample(recording_model<T>{&times}, heun, sd_linspace<T>(6), x, {.begin = begin});
            }
            kdtest::require_times(times, tr->model_times);
            kdtest::require_close(x, tr->x, kdtest::tolerance<T>(false));  // measured 5.2e-6 float, 4.7e-5 double
        }
    }
    SECTION("DPM-Solver++ 3M: warm-up from the begin, lower_order_final over the whole grid") {
        const sampler::dpm_solver_multistep<T> dpm({.solver_order = 3});
        const auto grid = schedule::solver_sigma_grid(sd_betas<T>(), schedule::solver_family::dpm_multistep,
                                                      {.steps = 10, .steps_offset = 1});
        for (const auto* tr : {&ref::dpm_solver_3m_045, &ref::dpm_solver_3m_075}) {
            array<T> x(image.size());
            const diffuse::index begin = img2img_latents(dpm, grid, tr->strength, image, x, noise);
            auto run = dpm.start(grid, image.size());
            run.skip_to(begin);
            // Orders over the steps run: 1, 2, 3, ... from the begin, then 2, 1 at the end of the grid.
            CHECK(run.order_at(begin) == 1);
            CHECK(run.order_at(begin + 1) == 2);
            CHECK(run.order_at(9) == 1);
            std::vector<double> times;
            diffuse::sample(recording_model<T>{&times}, dpm, grid, x, {.begin = begin});
            kdtest::require_times(times, tr->model_times);
            kdtest::require_close(x, tr->x, kdtest::tolerance<T>(false));  // measured 1.3e-5 float, 3.6e-5 double
        }
    }
}

TEMPLATE_TEST_CASE("img2img through config::any_run's step API, and the errors of a begin index",
                   "[img2img][inpainting]", float, double) {
    using T = TestType;
    const array<T> image = kdtest::trace_sample0<T>();
    const array<T> noise = from<T>(ref::initial_noise);
    const array<T> mask = from<T>(ref::mask);
    const auto& tr = ref::unipc_075_inpaint;
    const auto s = config::from_scheduler_config<T>(config::parse_python_json(tr.config));

    SECTION("the erased run, blended after each step") {
        auto run = s.start(tr.steps, image.size());
        array<T> x(image.size()), out(image.size());
        CHECK(img2img_latents(run, tr.strength, image, x, noise) == tr.t_start);
        CHECK(run.step_index() == tr.t_start);
        const inpaint_blend<T> blend(image, mask, noise);
        while (!run.done()) {
            kdtest::smooth<T>(cflat(x), run.model_time(), flat(out));
            run.step(out, x);
            blend.apply(run, x);
        }
        kdtest::require_close(x, tr.x, kdtest::tolerance<T>(false));  // measured 2.6e-6 float, 4.9e-6 double
    }
    SECTION("a noise source draws the noise into x; the image must then be another buffer") {
        array<T> a(image.size()), b(image.size()), z(image.size());
        random::generator g1(7), g2(7);
        img2img_latents(s, tr.steps, 0.5, image, a, g1);
        g2.normal(view<T>(z.data(), z.size()));
        img2img_latents(s, tr.steps, 0.5, image, b, z);
        CHECK((a - b).abs().maxCoeff() == T(0));
        array<T> same = image;
        random::generator g3(7);
        CHECK_THROWS_WITH(img2img_latents(s, tr.steps, 0.5, same, same, g3), Contains("image"));
    }
    SECTION("errors name the parameter") {
        array<T> x(image.size());
        CHECK_THROWS_WITH(img2img_latents(s, tr.steps, 1.2, image, x, noise), Contains("strength = 1.2"));
        CHECK_THROWS_WITH(img2img_latents(s, tr.steps, 0.5, image.head(10), x, noise), Contains("image.size()"));
        CHECK_THROWS_WITH(img2img_latents(s, tr.steps, 0.5, image, x, noise.head(3)), Contains("noise.size()"));
        auto run = s.start(tr.steps, image.size());
        CHECK_THROWS_WITH(run.skip_to(10), Contains("begin_index = 10") && Contains("[0, 9]"));
        CHECK_THROWS_WITH(run.skip_to(-1), Contains("begin_index = -1"));
        array<T> out = array<T>::Zero(image.size());
        run.step(out, x);
        CHECK_THROWS_WITH(run.skip_to(2), Contains("skip_to()") && Contains("before the first step"));
        CHECK_THROWS_WITH(diffuse::sample(recording_model<T>{nullptr}, s, tr.steps, x, {.begin = 10}),
                          Contains("begin_index = 10"));
        CHECK_THROWS_WITH(inpaint_blend<T>(image, mask.head(5), noise), Contains("mask.size()"));
        array<T> bad = mask;
        bad[3] = T(1.5);
        CHECK_THROWS_WITH(inpaint_blend<T>(image, bad, noise), Contains("mask[3] = 1.5") && Contains("[0, 1]"));
        const inpaint_blend<T> blend(image, mask, noise);
        CHECK_THROWS_WITH(sampler::inpainting(s, blend).start(tr.steps, 10), Contains("x.size()"));
    }
}

TEMPLATE_TEST_CASE("LMS, PNDM and EDM after a begin index: warm-ups restart, the grid stays whole", "[img2img]", float,
                   double) {
    using T = TestType;
    const array<T> image = kdtest::trace_sample0<T>();
    array<T> out = image * T(0.3), x = image;
    SECTION("LMS: the first step from the begin is first order (Euler), the next second order") {
        const sampler::lms<T> lms;
        const auto grid = sd_linspace<T>(10);
        auto run = lms.start(grid, image.size());
        run.skip_to(4);
        auto c = run.coefficients();
        // The one-node Lagrange integral over [sigma_4, sigma_5] is sigma_5 - sigma_4.
        CHECK(c[0] == Approx(static_cast<double>(grid[5].sigma - grid[4].sigma)).epsilon(1e-6).margin(0));
        CHECK(c[1] == 0.0);
        run.step(out, x);
        c = run.coefficients();
        CHECK(c[1] != 0.0);
        CHECK(c[2] == 0.0);
        CHECK(run.step_index() == 5);
        CHECK(run.steps_taken() == 1);
        CHECK(run.num_steps() == 10);
    }
    SECTION("PNDM: the pseudo improved Euler start, or three Runge-Kutta steps that must fit in the rest") {
        const sampler::pndm<T> plms(sd_betas<T>(), {.skip_prk_steps = true});
        const auto grid = schedule::spaced_timesteps(1000, 10);
        auto run = plms.start(grid, image.size());
        run.skip_to(6);
        run.step(out, x);
        CHECK(run.stage() == 1);  // evaluates again at the next entry before moving on
        const sampler::pndm<T> prk(sd_betas<T>());
        auto late = prk.start(grid, image.size());
        CHECK_THROWS_WITH(late.skip_to(7), Contains("begin_index = 7") && Contains("at most num_steps - 4 = 6"));
        late.skip_to(6);
        late.step(out, x);
        CHECK(late.stage() == 1);  // a Runge-Kutta stage
    }
    SECTION("EDM: skip_to before begin(), churn at the begin level") {
        const sampler::edm<T> edm(sampler::edm_options<T>{.s_churn = T(10)});
        const auto grid = schedule::vp_sigma_grid(sd_betas<T>(), {.steps = 10});
        auto run = edm.start(grid, image.size());
        random::generator rng(3);
        run.skip_to(2);
        run.begin(x, rng);
        CHECK(run.evaluation().sigma > grid[2].sigma);  // churned from grid step 2
        CHECK_THROWS_WITH(run.skip_to(3), Contains("skip_to()") && Contains("begin()"));
    }
}
