// No heap allocation inside a step once a run has started (docs/DESIGN.md, section 3): every step
// of DDIM (eta = 0 and eta = 1 with generator noise), DDPM (fixed_small with generator noise,
// caller noise, learned_range), DDIM inversion and dynamic thresholding runs with counting on.
// Counting sees every allocation of the C allocator, which operator new and Eigen both use
// (tests/allocation_counting.hpp, shared with test_allocations_samplers.cpp).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <optional>
#include <vector>

#include "allocation_counting.hpp"
#include "diffuse/core/random.hpp"
#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/ddim_inverse.hpp"
#include "diffuse/sampler/ddpm.hpp"
#include "diffuse/sampler/dpm_solver_multistep.hpp"
#include "diffuse/sampler/img2img.hpp"
#include "diffuse/sampler/inpainting.hpp"
#include "diffuse/schedule/solver_sigmas.hpp"
#include "diffuse/schedule/timesteps.hpp"

// ---- counting ---------------------------------------------------------------------------------

namespace {

using namespace diffuse;
using diffuse::index;  // not ::index from <strings.h>
template <class T>
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

using allocation_counting::allocations;
using allocation_counting::count;

// Keeps an allocation observable so the compiler cannot elide it.
void* volatile escape_sink = nullptr;
void escape(void* p) {
    escape_sink = p;
}

constexpr index sample_size = 64;
constexpr index batch = 2;
constexpr index size = sample_size * batch;

template <Real T>
schedule::discrete<T> linear_schedule() {
    return schedule::discrete<T>::linear(1000);
}

// A stand-in network: out = 0.5 x + 0.1, and for learned variances a second block per sample of
// values in [-1, 1] (diffusers' model_output split along channels).
template <Real T>
void model(const array<T>& x, array<T>& out) {
    if (out.size() == x.size()) {
        out = T(0.5) * x + T(0.1);
        return;
    }
    for (index b = 0; b < batch; ++b) {
        out.segment(2 * b * sample_size, sample_size) = T(0.5) * x.segment(b * sample_size, sample_size) + T(0.1);
        out.segment(2 * b * sample_size + sample_size, sample_size).setConstant(T(0.3));
    }
}

// Walks `run` to its end, counting what step() allocates (the model call is not counted).
template <Real T, class Run, class Step>
allocations count_steps(Run& run, index output_size, Step step) {
    array<T> x(size), out(output_size);
    random::fill_normal<T>(flat(x), 11, 0, 0);
    allocations total;
    index steps = 0;
    while (!run.done()) {
        model<T>(x, out);
        total += count([&] { step(run, out, x); });
        ++steps;
    }
    // The steps did run and did move x (a counter cannot be fooled by a step that did nothing).
    CHECK(steps == run.num_steps());
    CHECK(x.allFinite());
    return total;
}

void require_none(const allocations& a) {
    CHECK(a.made == 0);
    CHECK(a.released == 0);
}

const auto deterministic_step = [](auto& run, const auto& out, auto& x) { run.step(out, x); };

}  // namespace

TEST_CASE("the counters see operator new, operator delete and Eigen's heap allocations", "[allocations]") {
    // Positive controls: without them a zero count would prove nothing.
    const allocations vector_made = count([] {
        std::vector<double> v(100, 1.0);
        escape(v.data());
    });
    CHECK(vector_made.made == 1);
    CHECK(vector_made.released == 1);
    const allocations eigen_made = count([] {
        array<double> a = array<double>::Constant(100, 1.0);
        escape(a.data());
    });
    CHECK(eigen_made.made == 1);
    CHECK(eigen_made.released == 1);
    // Called through volatile pointers: the compiler may remove a malloc/free pair it can see.
    void* (*volatile c_allocate)(std::size_t) = std::malloc;
    void (*volatile c_release)(void*) = std::free;
    const allocations c_made = count([&] { c_release(c_allocate(64)); });
    CHECK(c_made.made == 1);
    CHECK(c_made.released == 1);
}

TEMPLATE_TEST_CASE("starting a run allocates, its steps do not", "[allocations][ddim][ddpm]", float, double) {
    using T = TestType;
    const std::vector<schedule::timestep> grid = schedule::spaced_timesteps(1000, 20);

    SECTION("DDIM, eta = 0, clip_sample (diffusers' defaults)") {
        const sampler::ddim<T> s(linear_schedule<T>());
        std::optional<typename sampler::ddim<T>::run> run;
        const allocations started = count([&] { run.emplace(s.start(grid, size, batch)); });
        CHECK(started.made >= 1);  // the run's own copy of the grid
        require_none(count_steps<T>(*run, size, deterministic_step));
    }
    SECTION("DDIM, eta = 0, no clipping, v_prediction with use_clipped_model_output") {
        const sampler::ddim<T> s(
            linear_schedule<T>(),
            {.prediction = predict::prediction::v_prediction, .use_clipped_model_output = true, .x0 = {}});
        auto run = s.start(grid, size, batch);
        require_none(count_steps<T>(run, size, deterministic_step));
    }
    SECTION("DDIM, eta = 1, noise from diffuse::random::generator") {
        const sampler::ddim<T> s(linear_schedule<T>(), {.eta = T(1)});
        auto run = s.start(grid, size, batch);
        random::generator noise(7);
        require_none(count_steps<T>(run, size, [&](auto& r, const auto& out, auto& x) { r.step(out, x, noise); }));
        CHECK(noise.next_stream() > 0);  // the stochastic path ran
    }
    SECTION("DDIM, dynamic thresholding") {
        const sampler::ddim<T> s(linear_schedule<T>(),
                                 {.x0 = {.clip_range = {}, .thresholding = predict::dynamic_thresholding<T>{}}});
        auto run = s.start(grid, size, batch);
        require_none(count_steps<T>(run, size, deterministic_step));
    }
    SECTION("DDIM inversion") {
        const sampler::ddim_inverse<T> s(linear_schedule<T>(), {.x0 = {}});
        auto run = s.start(sampler::ddim_inverse<T>::reversed(grid), sampler::layout{size, batch});
        require_none(count_steps<T>(run, size, deterministic_step));
    }
    SECTION("DDIM inversion with dynamic thresholding") {
        const sampler::ddim_inverse<T> s(
            linear_schedule<T>(), {.x0 = {.clip_range = {}, .thresholding = predict::dynamic_thresholding<T>{}}});
        auto run = s.start(sampler::ddim_inverse<T>::reversed(grid), sampler::layout{size, batch});
        require_none(count_steps<T>(run, size, deterministic_step));
    }
    SECTION("DDPM, fixed_small, noise from diffuse::random::generator") {
        const sampler::ddpm<T> s(linear_schedule<T>());
        auto run = s.start(grid, size, batch);
        random::generator noise(7);
        require_none(count_steps<T>(run, size, [&](auto& r, const auto& out, auto& x) { r.step(out, x, noise); }));
        CHECK(noise.next_stream() > 0);
    }
    SECTION("DDPM, fixed_small, noise from the caller's buffer") {
        const sampler::ddpm<T> s(linear_schedule<T>(), {.x0 = {}});
        auto run = s.start(grid, size, batch);
        array<T> noise(size);
        random::fill_normal<T>(flat(noise), 5, 0, 0);
        require_none(count_steps<T>(run, size, [&](auto& r, const auto& out, auto& x) { r.step(out, x, noise); }));
    }
    SECTION("DDPM, learned_range (model output of twice the sample)") {
        const sampler::ddpm<T> s(linear_schedule<T>(), {.variance = sampler::variance_type::learned_range});
        auto run = s.start(grid, size, batch);
        REQUIRE(run.model_output_size() == 2 * size);
        random::generator noise(7);
        require_none(count_steps<T>(run, 2 * size, [&](auto& r, const auto& out, auto& x) { r.step(out, x, noise); }));
        CHECK(noise.next_stream() > 0);
    }
    SECTION("DDPM, dynamic thresholding") {
        const sampler::ddpm<T> s(linear_schedule<T>(),
                                 {.x0 = {.clip_range = {}, .thresholding = predict::dynamic_thresholding<T>{}}});
        auto run = s.start(grid, size, batch);
        random::generator noise(7);
        require_none(count_steps<T>(run, size, [&](auto& r, const auto& out, auto& x) { r.step(out, x, noise); }));
    }
}

TEMPLATE_TEST_CASE("img2img's begin index and inpainting's blend allocate nothing per step",
                   "[allocations][img2img][inpainting]", float, double) {
    using T = TestType;
    array<T> image(size), mask(size), noise(size), x(size), out(size);
    random::fill_normal<T>(flat(image), 3, 0, 0);
    random::fill_normal<T>(flat(noise), 4, 0, 0);
    for (diffuse::index i = 0; i < size; ++i) mask[i] = i % 3 == 0 ? T(1) : T(0);
    const inpaint_blend<T> blend(image, mask, noise);
    // Steps and blends after the start: nothing allocated, and the run did step from the begin index.
    const auto walk = [&](auto& run) {
        allocations total;
        diffuse::index steps = 0;
        diffuse::index begin = -1;
        total += count([&] { begin = img2img_latents(run, 0.6, image, x, noise); });
        CHECK(begin == 8);  // 20 - int(20 * 0.6)
        while (!run.done()) {
            model<T>(x, out);
            total += count([&] {
                run.step(out, x);
                blend.apply(run, x);
            });
            ++steps;
        }
        CHECK(steps == 12);
        CHECK(x.allFinite());
        require_none(total);
    };
    SECTION("DDIM (timestep grid)") {
        const sampler::ddim<T> s(linear_schedule<T>());
        auto run = s.start(schedule::spaced_timesteps(1000, 20), size, batch);
        walk(run);
    }
    SECTION("DPM-Solver++(2M) (sigma grid, model state)") {
        const sampler::dpm_solver_multistep<T> s;
        auto run = s.start(
            schedule::solver_sigma_grid(linear_schedule<T>(), schedule::solver_family::dpm_multistep, {.steps = 20}),
            size, batch);
        walk(run);
    }
}
