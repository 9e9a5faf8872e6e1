// diffuse/sampler/sigma_run.hpp: what the runs of sigma-space samplers share: the grid of
// noise levels, the state convention, the model-input scale, and the conversion of a model
// output of any parameterization into x0 and eps in terms of the state.
//
// Two state conventions, both diffusers':
//   denoiser: x = x0 + sigma eps (k-diffusion; diffusers' Euler, Heun, DPM2, LMS). The model input
//             is alpha * x (diffusers' scale_model_input), and x_T = initial noise * init_noise_sigma.
//   model:    x = alpha x0 + alpha sigma eps, the network's own state (diffusers' DPM-Solver, UniPC,
//             DEIS; flow-matching samplers). The model input is x itself.
#pragma once

#include <cmath>
#include <span>
#include <vector>

#include "diffuse/core/view.hpp"
#include "diffuse/predict/parameterization.hpp"
#include "diffuse/sampler/run.hpp"
#include "diffuse/schedule/sigmas.hpp"

namespace diffuse::sampler {

using schedule::noise_level;
using schedule::sigma_grid;

enum class state_space { denoiser, model };

// x0 and eps as linear forms in (state x, model output) at `level`.
// In the denoiser state these are written out per parameterization (as diffusers' Euler family
// writes them) rather than by rescaling the model-state forms, so float results round alike.
template <Real T>
predict::decomposition<T> decompose_at(predict::prediction p, const noise_level<T>& level, state_space space) {
    using predict::prediction;
    const T a = level.alpha, s = level.sigma;
    if (space == state_space::model) return predict::decompose(p, a, a * s);
    switch (p) {
        case prediction::epsilon:
            return {{T(1), -s}, {T(0), T(1)}};
        case prediction::sample:
            return {{T(0), T(1)}, {T(1) / s, -T(1) / s}};
        // x_model = a x with a = 1/sqrt(1 + s^2): x0 = a x_model - a s out = a^2 x - a s out.
        case prediction::v_prediction:
            return {{a * a, -s * a}, {a * a * s, a}};
        case prediction::score:
            return {{T(1), s * s * a}, {T(0), -s * a}};
        // x_model = a x is the flow state (1 - s_f) x0 + s_f eps with s_f = a s.
        case prediction::flow_velocity:
            return {{a, -a * s}, {a, a}};
    }
    return {};
}

namespace detail {

// Grid position, per-run buffers and the conventions of a sigma-space run.
template <Real T>
class sigma_run_state {
public:
    sigma_run_state(sigma_grid<T> grid, layout shape, state_space space, predict::prediction prediction)
        : grid_(std::move(grid)), shape_(shape), space_(space), prediction_(prediction) {
        shape_.validate();
        if (prediction == predict::prediction::sample) {
            for (index i = 0; i < grid_.steps(); ++i) {
                require(grid_[i].sigma > T(0), "levels[" + std::to_string(i) + "].sigma", grid_[i].sigma,
                        "> 0 where the model is evaluated (sample prediction needs sigma > 0 to give eps)");
            }
        }
    }

    [[nodiscard]] const sigma_grid<T>& grid() const { return grid_; }
    [[nodiscard]] const layout& shape() const { return shape_; }
    [[nodiscard]] state_space space() const { return space_; }
    // Steps completed (a step may take several model evaluations).
    [[nodiscard]] index step_index() const { return step_; }
    [[nodiscard]] index num_steps() const { return grid_.steps(); }
    [[nodiscard]] bool done() const { return step_ >= grid_.steps(); }
    // Where the run started and the steps taken since (run.hpp's discrete_run_state::skip_to).
    [[nodiscard]] index begin_index() const { return begin_; }
    [[nodiscard]] index steps_taken() const { return step_ - begin_; }
    // Starts the run at grid step k (img2img); call it before the first step.
    void skip_to(index k) {
        require_begin_index(k, steps_taken(), num_steps());
        step_ = begin_ = k;
    }

    // The level the model is evaluated at next, and what the model is told there. Samplers with
    // intermediate evaluations override evaluation_level().
    [[nodiscard]] const noise_level<T>& current_level() const {
        require(!done(), "step_index", step_, "< num_steps (the run has finished)");
        return grid_[step_];
    }
    [[nodiscard]] const noise_level<T>& next_level() const { return grid_[step_ + 1]; }
    // The level of the next evaluation and its context for models that take one
    // (evaluation_context.hpp); runs that evaluate between grid levels redefine both.
    [[nodiscard]] const noise_level<T>& evaluation_level() const { return current_level(); }
    [[nodiscard]] evaluation_context<T> context() { return context_of(*this); }
    [[nodiscard]] run_memory<T>& memory() { return memory_; }

    // Scale of x_T for a start from pure noise: x_T = init_noise_sigma() * N(0, I).
    [[nodiscard]] T init_noise_sigma() const {
        return space_ == state_space::denoiser ? grid_.initial_noise_std() / grid_[0].alpha : grid_.initial_noise_std();
    }

protected:
    [[nodiscard]] T input_scale_at(const noise_level<T>& l) const {
        return space_ == state_space::denoiser ? l.alpha : T(1);
    }
    [[nodiscard]] predict::decomposition<T> decompose(const noise_level<T>& l) const {
        return decompose_at(prediction_, l, space_);
    }
    void check_buffers(index output_size, index x_size) const {
        require_size("x.size()", x_size, shape_.size);
        require_size("model_output.size()", output_size, shape_.size);
    }
    void advance() { ++step_; }

    sigma_grid<T> grid_;
    layout shape_;
    state_space space_;
    predict::prediction prediction_;
    run_memory<T> memory_;
    index step_ = 0;
    index begin_ = 0;
};

}  // namespace detail
}  // namespace diffuse::sampler
