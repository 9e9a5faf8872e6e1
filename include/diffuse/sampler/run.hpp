// diffuse/sampler/run.hpp: what every run of a discrete-timestep sampler holds, and the noise
// plumbing shared by all stochastic steps.
//
// A sampler is immutable and shared; `sampler.start(grid, size, batch)` returns a run that owns
// the per-run state (grid, step index, buffers sized once here). Steps never allocate.
#pragma once

#include <cmath>
#include <concepts>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "diffuse/core/random.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/sampler/evaluation_context.hpp"
#include "diffuse/schedule/discrete.hpp"
#include "diffuse/schedule/timesteps.hpp"

namespace diffuse::sampler {

// What a step reads and writes: the model output is anything cflat() views as T, the state x
// anything flat() views as writable T (not const, and of the sampler's precision). The loop API
// and config::any_run check these with one static_assert each instead of pages of Eigen errors.
template <class X, class T>
concept state_buffer = Real<T> && requires(X& x) {
    { flat(x) } -> std::same_as<view<T>>;
};
template <class Output, class T>
concept output_buffer = Real<T> && requires(const Output& out) {
    { cflat(out) } -> std::same_as<const_view<T>>;
};

namespace detail {

// A run may start at grid step k > 0 instead of 0 (img2img, diffusers' set_begin_index): allowed
// once, before the first step, for k in [0, num_steps).
inline void require_begin_index(index k, index steps_taken, index num_steps) {
    require(steps_taken == 0, "skip_to()", "a call after step()", "a call before the first step");
    if (k < 0 || k >= num_steps) {  // the message is built only on failure: skip_to allocates nothing
        throw invalid("begin_index", k,
                      "an integer in [0, num_steps - 1] = [0, " + std::to_string(num_steps - 1) + "]");
    }
}

// Grid position and buffers common to the discrete samplers' runs. `schedule` (the sampler's,
// which outlives its runs) gives the levels of the evaluations.
template <Real T>
class discrete_run_state {
public:
    discrete_run_state(std::vector<timestep> grid, layout shape, const schedule::discrete<T>& schedule)
        : grid_(std::move(grid)), shape_(shape), schedule_(&schedule) {
        shape_.validate();
    }

    [[nodiscard]] std::span<const timestep> timesteps() const { return grid_; }
    [[nodiscard]] bool done() const { return index_ >= static_cast<index>(grid_.size()); }
    [[nodiscard]] index step_index() const { return index_; }
    [[nodiscard]] index num_steps() const { return static_cast<index>(grid_.size()); }
    [[nodiscard]] const layout& shape() const { return shape_; }
    // Where the run started (0 unless skip_to() moved it) and the steps taken since. The grid is
    // always the whole grid: step_index() counts from its start, as diffusers' step_index after
    // set_begin_index, while multistep histories count steps_taken().
    [[nodiscard]] index begin_index() const { return begin_; }
    [[nodiscard]] index steps_taken() const { return index_ - begin_; }
    // Starts the run at grid entry k (img2img); call it before the first step.
    void skip_to(index k) {
        require_begin_index(k, steps_taken(), num_steps());
        index_ = begin_ = k;
    }
    // The timestep the model is evaluated at for the next step.
    [[nodiscard]] timestep current_timestep() const {
        require(!done(), "step_index", index_, "< num_steps (the run has finished)");
        return grid_[static_cast<std::size_t>(index_)];
    }
    [[nodiscard]] double model_time() const { return static_cast<double>(current_timestep()); }
    // The level of the next evaluation and its context for models that take one
    // (evaluation_context.hpp); runs that evaluate between grid entries (PNDM) redefine both.
    [[nodiscard]] schedule::noise_level<T> evaluation_level() const {
        const timestep t = current_timestep();
        return alpha_bar_level(schedule_->alpha_bar(t), static_cast<double>(t));
    }
    [[nodiscard]] evaluation_context<T> context() { return context_of(*this); }
    [[nodiscard]] run_memory<T>& memory() { return memory_; }
    // diffusers' scale_model_input and init_noise_sigma: discrete samplers feed x to the model as
    // is and start from unit-variance noise (sigma-space runs return their own values).
    [[nodiscard]] T input_scale() const { return T(1); }
    [[nodiscard]] T init_noise_sigma() const { return T(1); }

    // The entry after the current one, or -1 past the end of the grid (the clean sample).
    [[nodiscard]] timestep next_timestep() const {
        const auto next = static_cast<std::size_t>(index_ + 1);
        return next < grid_.size() ? grid_[next] : timestep{-1};
    }
    [[nodiscard]] timestep previous_timestep() const {
        return index_ > 0 ? grid_[static_cast<std::size_t>(index_ - 1)] : timestep{-1};
    }

protected:
    void advance() { ++index_; }

    void check_buffers(index output_size, index x_size) const {
        require_size("x.size()", x_size, shape_.size);
        require_size("model_output.size()", output_size, shape_.size);
    }

    std::vector<timestep> grid_;
    layout shape_;
    const schedule::discrete<T>* schedule_;
    run_memory<T> memory_;
    index index_ = 0;
    index begin_ = 0;
};

// Where a step's noise comes from: nowhere, a caller's buffer, or a noise source.
template <Real T>
struct no_noise {};

template <Real T>
const_view<T> acquire_noise(no_noise<T>, view<T>, bool needed, std::string_view sampler_name) {
    if (needed) {
        throw invalid("noise", "none",
                      std::string(sampler_name) +
                          ": this step is stochastic; pass a noise source (e.g. "
                          "diffuse::random::generator) or a noise buffer of x.size() elements");
    }
    return const_view<T>(nullptr, 0);
}

template <Real T>
const_view<T> acquire_noise(const_view<T> given, view<T>, bool needed, std::string_view) {
    if (!needed) return const_view<T>(nullptr, 0);
    return given;
}

template <Real T, class G>
requires random::noise_source<G, T> const_view<T> acquire_noise(G& source, view<T> storage, bool needed,
                                                                std::string_view) {
    if (!needed) return const_view<T>(nullptr, 0);
    source.normal(storage);
    return const_view<T>(storage.data(), storage.size());
}

// Normalizes what a caller passed as noise: a noise source stays a reference, anything flat()
// accepts (an Eigen array, a std::vector, a view) becomes a const view.
template <Real T, class N>
decltype(auto) to_noise_argument(N& noise) {
    using bare = std::remove_cvref_t<N>;
    if constexpr (std::is_same_v<bare, no_noise<T>>) {
        return no_noise<T>{};
    } else if constexpr (random::noise_source<bare, T>) {
        return (noise);
    } else {
        return cflat(noise);
    }
}

}  // namespace detail
}  // namespace diffuse::sampler
