// diffuse/sampler/sample.hpp: the loop API. `diffuse::sample(model, sampler, grid, x, noise, options)`
// runs a sampler from the first grid entry to the end, calling the model once per step, so the
// caller never writes a sampler loop. The step API (`sampler.start(...)`, `run.step(...)`) is what
// it is built on and stays available for callers that need to own the loop.
//
// A model is any callable `model(const_view<T> x, double model_time, view<T> out)` that writes
// its prediction (of the sampler's prediction type) for input x at model_time into out. A model
// that also accepts a fourth argument, `const sampler::evaluation_context<T>&`, receives the
// context of each evaluation (its level, step, layout and the run's memory; evaluation_context.hpp).
#pragma once

#include <cmath>
#include <concepts>
#include <functional>
#include <span>
#include <string>
#include <utility>

#include "diffuse/core/view.hpp"
#include "diffuse/sampler/initial_latents.hpp"
#include "diffuse/sampler/output_check.hpp"
#include "diffuse/sampler/run.hpp"

namespace diffuse {

template <class M, class T>
concept model_for = sampler::plain_model<M, T> || sampler::contextual_model<M, T>;

template <Real T>
struct sample_options {
    // Called after every step with (steps done, total steps).
    std::function<void(index, index)> progress{};
    // Called after every step with (steps done, x); returning false stops the run early.
    std::function<bool(index, const_view<T>)> observer{};
    // Report NaN/Inf in a model output as diffuse::error instead of propagating it.
    bool check_finite = true;
    // The grid step the run starts at (run.skip_to(begin)): img2img's begin index, as
    // diffuse::img2img_latents returns it; 0 runs the whole grid.
    index begin = 0;
};

namespace detail {

template <class Model, class Sampler, class Grid, class Noise>
index sample_loop(Model& model, const Sampler& sampler, const Grid& grid, view<typename Sampler::scalar> x,
                  Noise& noise, const sample_options<typename Sampler::scalar>& options, index batch) {
    using T = typename Sampler::scalar;
    auto run = sampler.start(grid, x.size(), batch);
    // The check is done here, on the buffer this loop marks before each model call.
    if constexpr (requires { run.set_check_finite(false); }) run.set_check_finite(false);
    buffer<T> out(sampler::model_output_size(run));
    // Samplers whose state is not the network's input (k-diffusion form) scale it first.
    constexpr bool scales_input = requires {
        run.input_scale();
    };
    buffer<T> scaled(scales_input ? x.size() : 0);
    const index total = run.num_steps();
    if (options.begin != 0) {
        if constexpr (requires { run.skip_to(options.begin); }) {
            run.skip_to(options.begin);
        } else {
            throw invalid("sample_options.begin", options.begin,
                          "0: this sampler has no grid to start inside (adaptive step size)");
        }
    }
    // Runs that change x before the first evaluation (the churn of edm.hpp) do it here.
    if constexpr (requires { run.begin(x, noise); }) run.begin(x, noise);
    if (!run.done()) sampler::prepare_model<T>(model, run.context());
    while (!run.done()) {
        const sampler::evaluation_context<T> context = run.context();
        const double time = context.model_time();
        const T* input = x.data();
        if constexpr (scales_input) {
            const T scale = run.input_scale();
            if (scale != T(1)) {
                scaled = scale * x;
                input = scaled.data();
            }
        }
        if (options.check_finite) sampler::mark_unwritten<T>(view<T>(out.data(), out.size()));
        sampler::call_model<T>(model, const_view<T>(input, x.size()), time, view<T>(out.data(), out.size()), context);
        if (options.check_finite)
            sampler::require_finite_output<T>(const_view<T>(out.data(), out.size()), run.step_index(), time);
        if constexpr (std::same_as<std::remove_cvref_t<Noise>, sampler::detail::no_noise<T>>) {
            run.step(out, x);
        } else {
            run.step(out, x, noise);
        }
        const index done = run.step_index();
        if (options.progress) options.progress(done, total);
        if (options.observer && !options.observer(done, const_view<T>(x.data(), x.size()))) break;
    }
    return run.step_index();
}

}  // namespace detail

// Runs `sampler` over `grid` on x in place. `noise` is a noise source (diffuse::random::generator
// or any type with normal(view<T>)); deterministic samplers accept sampler::detail::no_noise via
// the overload without it. Returns the number of steps taken.
template <class Model, class Sampler, class Grid, class X, class Noise>
requires(!std::same_as<std::remove_cvref_t<Noise>, sample_options<typename Sampler::scalar>>) index
    sample(Model&& model, const Sampler& sampler, const Grid& grid, X&& x_in, Noise&& noise,
           const sample_options<typename Sampler::scalar>& options = {}, index batch = 1) {
    using T = typename Sampler::scalar;
    static_assert(model_for<std::remove_reference_t<Model>, T>,
                  "a model is callable as model(const_view<T> x, double model_time, view<T> out) or as "
                  "model(x, model_time, out, const sampler::evaluation_context<T>&)");
    static_assert(sampler::state_buffer<std::remove_reference_t<X>, T>,
                  "x must be a writable buffer of the sampler's scalar type T: not const, and of the same "
                  "precision (float or double) as the sampler (an Eigen array, std::vector, std::span or view<T>)");
    if constexpr (model_for<std::remove_reference_t<Model>, T> && sampler::state_buffer<std::remove_reference_t<X>, T>)
        return detail::sample_loop(model, sampler, grid, flat(x_in), noise, options, batch);
    else return 0;
}

// Deterministic samplers (or stochastic ones configured deterministically, e.g. DDIM with eta = 0).
template <class Model, class Sampler, class Grid, class X>
index sample(Model&& model, const Sampler& sampler, const Grid& grid, X&& x,
             const sample_options<typename Sampler::scalar>& options = {}, index batch = 1) {
    sampler::detail::no_noise<typename Sampler::scalar> none;
    return sample(std::forward<Model>(model), sampler, grid, std::forward<X>(x), none, options, batch);
}

}  // namespace diffuse
