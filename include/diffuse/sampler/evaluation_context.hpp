// diffuse/sampler/evaluation_context.hpp: what a run tells a model about the evaluation it asks for.
//
// A model is `model(const_view<T> x, double model_time, view<T> out)`. A model that also accepts a
// fourth argument, `const evaluation_context<T>&`, receives the context of the evaluation through
// diffuse::sample, the step API (`run.context()`) and config::any_run. Model decorators (guidance/)
// need it: the noise level converts a classifier gradient into the sampler's prediction type, the
// step index gives diffusers' start/stop fractions, the layout gives per-sample reductions, and the
// run's memory keeps buffers and state across the evaluations of one run (APG's momentum).
//
// The level is the one of the evaluation actually performed: multi-stage samplers (Heun, DPM2,
// DPM++(2S), the churn of EDM, the adaptive DPM-Solver) report their intermediate levels.
//
// Runs whose step is one transfer of this evaluation's prediction also report where the step lands
// (`target`, step_landing below): CFG++ and the mean-shift form of classifier guidance need it.
#pragma once

#include <cmath>
#include <concepts>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/schedule/discrete.hpp"
#include "diffuse/schedule/sigmas.hpp"
#include "diffuse/schedule/timesteps.hpp"

namespace diffuse::sampler {

using schedule::timestep;

// The buffer a run works on: `size` elements made of `batch` equal samples (the batch matters only
// to per-sample operations such as dynamic thresholding, learned variances and guidance).
struct layout {
    index size = 0;
    index batch = 1;

    void validate() const {
        require(size >= 1, "layout.size", size, "an integer >= 1");
        require(batch >= 1 && size % batch == 0, "layout.batch", batch,
                "a divisor of layout.size = " + std::to_string(size));
    }
    [[nodiscard]] index sample_size() const { return size / batch; }
};

// Buffers a run keeps for its models: slot k is sized (and zero-filled) the first time a model
// asks for it, then reused for every evaluation of the run. A new run starts with no slots, so
// state kept here is reset when a run starts. Sizing allocates; a model that sizes its slots in
// prepare() (diffuse::sample calls it before the first step) keeps the steps allocation-free.
template <Real T>
class run_memory {
public:
    // Slot `slot` as `size` elements: zero-filled when it is new or its size changes.
    [[nodiscard]] view<T> slot(index slot, index size) {
        require(slot >= 0, "memory slot", slot, "an integer >= 0");
        require(size >= 0, "memory slot size", size, "an integer >= 0");
        if (slot >= static_cast<index>(slots_.size())) slots_.resize(static_cast<std::size_t>(slot + 1));
        auto& b = slots_[static_cast<std::size_t>(slot)];
        if (b.size() != size) b.setZero(size);
        return view<T>(b.data(), size);
    }
    // Whether slot `slot` has been sized in this run (a stateful model's "first evaluation" test).
    [[nodiscard]] bool has(index slot) const {
        return slot >= 0 && slot < static_cast<index>(slots_.size()) &&
               slots_[static_cast<std::size_t>(slot)].size() > 0;
    }

private:
    std::vector<buffer<T>> slots_;
};

// Where a step lands, for runs whose step is (in x/alpha units, the level's convention)
//   x' / alpha' = x0 + sigma' eps + noise z,
// with (x0, eps) this evaluation's prediction (the model output read at the evaluation's level) and
// z fresh standard noise: DDIM (any eta; sigma'^2 + noise^2 is the target timestep's sigma^2) and
// DDPM with fixed variances, both without x0 clipping or thresholding, and Euler without churn.
// `level` holds alpha' and the sigma' of the deterministic part; its model_time is the target's
// (-1 past the end of a timestep grid).
template <Real T>
struct step_landing {
    schedule::noise_level<T> level{};
    T noise = T(0);
};

template <Real T>
struct evaluation_context {
    // The level of this evaluation: the network's input is x_net = alpha x0 + alpha sigma eps
    // (schedule/sigmas.hpp), so the network's own coefficients are alpha_t() and sigma_t().
    schedule::noise_level<T> level{};
    index step = 0;         // grid steps completed before this evaluation (a step may take several)
    index num_steps = 0;    // steps of the run; 0 where not known in advance (adaptive step size)
    layout shape{};         // the sampler's state: size elements made of batch samples
    index output_size = 0;  // of the model output the run reads (2 size for learned variances)
    run_memory<T>* memory = nullptr;
    index first_slot = 0;  // memory slots below this belong to an enclosing model (decorators nest)
    // Where the step of this evaluation lands, for runs that have target_level(); empty otherwise.
    std::optional<step_landing<T>> target{};

    [[nodiscard]] T alpha_t() const { return level.alpha; }
    [[nodiscard]] T sigma_t() const { return level.alpha * level.sigma; }
    [[nodiscard]] double model_time() const { return level.model_time; }
    // The memory slot `k` of this model (k counted from first_slot).
    [[nodiscard]] view<T> slot(index k, index size) const {
        require(memory != nullptr, "evaluation_context.memory", "null", "the memory of a run (run.context())");
        return memory->slot(first_slot + k, size);
    }
    // The context an inner model of a decorator sees: the decorator keeps `used` slots.
    [[nodiscard]] evaluation_context inner(index used) const {
        evaluation_context c = *this;
        c.first_slot += used;
        return c;
    }
};

// The level of a variance-preserving network at alphas_cumprod `ab`: alpha = sqrt(ab),
// sigma = sqrt((1 - ab) / ab) (+inf at a zero-SNR timestep, where alpha = 0).
template <Real T>
schedule::noise_level<T> alpha_bar_level(T ab, double model_time) {
    return {std::sqrt((T(1) - ab) / ab), std::sqrt(ab), model_time};
}

// The size of the model output a run reads: model_output_size() where a run has one (learned
// variances), else the state's size.
template <class Run>
index model_output_size(const Run& run) {
    if constexpr (requires { run.model_output_size(); }) {
        return run.model_output_size();
    } else {
        return run.shape().size;
    }
}

// Where `run`'s next step lands: run.target_level() where a run has it, else nothing.
template <class Run>
auto target_of(const Run& run) {
    using T = std::remove_cvref_t<decltype(run.evaluation_level().sigma)>;
    if constexpr (requires { run.target_level(); }) {
        return std::optional<step_landing<T>>(run.target_level());
    } else {
        return std::optional<step_landing<T>>{};
    }
}

// The context of `run`'s next evaluation. Every run has evaluation_level(), step_index(),
// num_steps(), shape() and memory(); runs expose this as run.context().
template <class Run>
auto context_of(Run& run) {
    using T = std::remove_cvref_t<decltype(run.evaluation_level().sigma)>;
    return evaluation_context<T>{run.evaluation_level(),
                                 run.step_index(),
                                 run.num_steps(),
                                 run.shape(),
                                 model_output_size(run),
                                 &run.memory(),
                                 0,
                                 target_of(run)};
}

// A model that takes the context, and the loop API's call of either kind of model.
template <class M, class T>
concept contextual_model = Real<T> && std::invocable < M&,
        const_view<T>,
double, view<T>, const evaluation_context<T>& > ;
template <class M, class T>
concept plain_model = Real<T> && std::invocable < M&,
        const_view<T>,
double, view < T >> ;

template <class T, class Model>
void call_model(Model& model, const_view<T> x, double model_time, view<T> out, const evaluation_context<T>& context) {
    if constexpr (contextual_model<Model, T>) {
        model(x, model_time, out, context);
    } else {
        model(x, model_time, out);
    }
}

// Lets a model size its run memory before the first step (diffuse::sample calls it).
template <class T, class Model>
void prepare_model(Model& model, const evaluation_context<T>& context) {
    if constexpr (requires { model.prepare(context); }) model.prepare(context);
}

}  // namespace diffuse::sampler
