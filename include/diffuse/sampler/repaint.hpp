// diffuse/sampler/repaint.hpp: RePaint inpainting (Lugmayr et al. 2022, "RePaint: Inpainting using
// Denoising Diffusion Probabilistic Models", Algorithm 1; diffusers' RePaintScheduler). Each step
// denoises the unknown region with a DDIM step of stochasticity eta and re-noises the known image to
// the same level with the step's noise z, then keeps the known part where the mask is 1:
//   unknown = sqrt(ab') x0 + sqrt(1 - ab' - s^2) eps + s z     (s = eta sigma_t of DDIM, 0 at t = 0)
//   known   = sqrt(ab') image + sqrt(1 - ab') z                 (the forward process, Ho et al. eq. 4)
//   x'      = mask known + (1 - mask) unknown
// with x0 clipped to [-1, 1] when clip_sample (diffusers' default). The resampling schedule
// (`repaint_timesteps`, Algorithm 1's "for u = 1..U" as diffusers' jump_length / jump_n_sample) goes
// back up the chain: every step up is the forward process over one inference interval,
// x <- sqrt(1 - beta) x + sqrt(beta) z for each of its training steps (diffusers' undo_step).
//
// How it composes with the run and loop APIs: the image to keep and the mask belong to one
// inpainting task, so they are options of the sampler (copied once at construction; a run reads them
// from its sampler, which outlives it). The grid is the whole timestep list with its jumps up; a run
// evaluates the model only on the steps down (run.num_steps() counts those) and applies the jumps up
// itself, right after the step before them, drawing their noise from the same source in diffusers'
// order. Every step draws noise (the known part needs it), so a run needs a noise source or buffer.
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "diffuse/predict/parameterization.hpp"
#include "diffuse/predict/thresholding.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"
#include "diffuse/sampler/detail/update.hpp"
#include "diffuse/sampler/run.hpp"
#include "diffuse/schedule/discrete.hpp"

namespace diffuse::sampler {

// RePaintScheduler.set_timesteps: n = min(T, steps) inference steps counted down from n - 1 to 0;
// at every multiple j of jump_length below n - jump_length the count goes back up jump_length steps,
// jump_n_sample - 1 times; entries are scaled by T // n.
inline std::vector<timestep> repaint_timesteps(index num_train_timesteps, index steps, index jump_length = 10,
                                               index jump_n_sample = 10) {
    require(num_train_timesteps >= 1, "num_train_timesteps", num_train_timesteps, "an integer >= 1");
    require(steps >= 1, "num_inference_steps", steps, "an integer >= 1");
    require(jump_length >= 1, "jump_length", jump_length, "an integer >= 1");
    require(jump_n_sample >= 1, "jump_n_sample", jump_n_sample, "an integer >= 1");
    const index n = std::min(num_train_timesteps, steps);
    std::vector<index> jumps(static_cast<std::size_t>(n), 0);
    for (index j = 0; j < n - jump_length; j += jump_length) jumps[static_cast<std::size_t>(j)] = jump_n_sample - 1;
    std::vector<timestep> out;
    const index stride = num_train_timesteps / n;
    for (index t = n; t >= 1;) {
        --t;
        out.push_back(t * stride);
        if (jumps[static_cast<std::size_t>(t)] > 0) {
            --jumps[static_cast<std::size_t>(t)];
            for (index k = 0; k < jump_length; ++k) out.push_back(++t * stride);
        }
    }
    return out;
}

// Defaults are diffusers' RePaintScheduler defaults. `known_image` and `mask` are the task: the image
// whose masked part is kept (in the model's data space) and the mask, 1 where the image is kept and 0
// where it is inpainted (values between blend), both of the size of x.
template <Real T>
struct repaint_options {
    predict::prediction prediction = predict::prediction::epsilon;
    T eta = T(0);
    bool clip_sample = true;  // x0 clipped to [-1, 1]
    std::vector<T> known_image{};
    std::vector<T> mask{};

    void validate() const {
        require(eta >= T(0) && std::isfinite(eta), "eta", eta, "a finite number >= 0");
        require(!known_image.empty(), "known_image.size()", known_image.size(),
                "> 0 (the image RePaint keeps where the mask is 1)");
        require_size("mask.size()", static_cast<index>(mask.size()), static_cast<index>(known_image.size()));
        for (std::size_t i = 0; i < mask.size(); ++i)
            require(mask[i] >= T(0) && mask[i] <= T(1), "mask[" + std::to_string(i) + "]", mask[i],
                    "in [0, 1] (1: keep the known image)");
    }
};

template <Real T>
class repaint
    : public detail::sampler_shell<repaint<T>, repaint_options<T>, std::vector<timestep>, std::span<const timestep>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "RePaint";

    // start() takes repaint_timesteps (or any list of multiples of one stride going down and back up).
    repaint(schedule::discrete<T> noise_schedule, repaint_options<T> options)
        : repaint::sampler_shell(std::move(options)), schedule_(std::move(noise_schedule)) {}

    [[nodiscard]] const schedule::discrete<T>& noise_schedule() const { return schedule_; }

    class run : public detail::stepping<run, T> {
    public:
        run(const repaint& sampler, std::vector<timestep> grid, layout shape)
            : grid_(std::move(grid)), shape_(shape), sampler_(&sampler) {
            shape_.validate();
            require(!grid_.empty(), "timesteps.size()", grid_.size(), "> 0");
            require_size("known_image.size()", static_cast<index>(sampler.options().known_image.size()), shape.size);
            const index train = sampler.schedule_.num_train_timesteps();
            stride_ = grid_.size() > 1 ? std::abs(grid_[1] - grid_[0]) : train;
            for (std::size_t i = 0; i < grid_.size(); ++i) {
                require(grid_[i] >= 0 && grid_[i] < train, "timesteps[" + std::to_string(i) + "]", grid_[i],
                        "in [0, num_train_timesteps)");
                if (i > 0)
                    require(std::abs(grid_[i] - grid_[i - 1]) == stride_, "timesteps[" + std::to_string(i) + "]",
                            grid_[i], "one stride (" + std::to_string(stride_) + ") from the entry before it");
            }
            require(grid_.size() > 1 || grid_[0] == 0, "timesteps[0]", grid_[0], "0 for a one-entry list");
            if (grid_.size() > 1)
                require(grid_[1] < grid_[0], "timesteps[1]", grid_[1],
                        "below timesteps[0] (the list starts going down)");
            for (std::size_t i = 0; i < grid_.size(); ++i)
                if (i == 0 || grid_[i] < grid_[i - 1]) ++steps_;
            noise_.resize(shape.size);
        }

        [[nodiscard]] bool done() const { return position_ >= grid_.size(); }
        [[nodiscard]] index step_index() const { return step_; }
        [[nodiscard]] index num_steps() const { return steps_; }
        [[nodiscard]] const layout& shape() const { return shape_; }
        [[nodiscard]] timestep current_timestep() const {
            require(!done(), "step_index", step_, "< num_steps (the run has finished)");
            return grid_[position_];
        }
        [[nodiscard]] double model_time() const { return static_cast<double>(current_timestep()); }
        [[nodiscard]] schedule::noise_level<T> evaluation_level() const {
            const timestep t = current_timestep();
            return alpha_bar_level(sampler_->schedule_.alpha_bar(t), static_cast<double>(t));
        }
        [[nodiscard]] evaluation_context<T> context() { return context_of(*this); }
        [[nodiscard]] run_memory<T>& memory() { return memory_; }

    private:
        // Every step draws noise: without a noise argument it is an error naming it. A noise buffer
        // serves every draw of the call (the step's and its jumps'); a noise source draws afresh for
        // each, as diffusers does.
        friend detail::stepping<run, T>;
        template <class Noise>
        void step_views(const_view<T> output, view<T> x, Noise&& noise) {
            require_size("x.size()", x.size(), shape_.size);
            require_size("model_output.size()", output.size(), shape_.size);
            const auto& o = sampler_->options();
            const auto& schedule = sampler_->schedule_;
            const timestep t = current_timestep(), previous = t - stride_;
            const T ab = schedule.alpha_bar(t), ab_prev = previous >= 0 ? schedule.alpha_bar(previous) : T(1);
            const const_view<T> z = draw(noise);
            // DDIM's sigma_t (Song et al. 2021, eq. 16) times eta; its noise term is dropped at t = 0
            const T s = o.eta * std::sqrt((T(1) - ab_prev) / (T(1) - ab) * (T(1) - ab / ab_prev));
            detail::linear_update<T> u{.from = predict::decompose(o.prediction, std::sqrt(ab), std::sqrt(T(1) - ab)),
                                       .to_x0 = std::sqrt(ab_prev),
                                       .to_eps = std::sqrt(T(1) - ab_prev - s * s),
                                       .to_noise = t > 0 && o.eta > T(0) ? s : T(0)};
            predict::x0_processing<T> clip;
            if (o.clip_sample) clip.clip_range = T(1);
            detail::apply(u, clip, output, x, z, shape_.batch, view<T>(nullptr, 0), view<T>(nullptr, 0));
            // x = mask known + (1 - mask) unknown, known = sqrt(ab') image + sqrt(1 - ab') z
            const const_view<T> image(o.known_image.data(), x.size()), mask(o.mask.data(), x.size());
            x = mask * (std::sqrt(ab_prev) * image + std::sqrt(T(1) - ab_prev) * z) + (T(1) - mask) * x;
            ++step_;
            ++position_;
            // the jumps up that follow: the forward process over each inference interval (undo_step)
            while (!done() && grid_[position_] > grid_[position_ - 1]) {
                for (timestep k = 0; k < stride_; ++k) {
                    const T beta = schedule.betas()[static_cast<std::size_t>(grid_[position_ - 1] + k)];
                    x = std::sqrt(T(1) - beta) * x + std::sqrt(beta) * draw(noise);
                }
                ++position_;
            }
        }

        template <class Noise>
        const_view<T> draw(Noise& noise) {
            const const_view<T> z = detail::acquire_noise<T>(noise, view<T>(noise_.data(), noise_.size()), true, name);
            require_size("noise.size()", z.size(), shape_.size);
            return z;
        }

        std::vector<timestep> grid_;
        layout shape_;
        const repaint* sampler_;
        run_memory<T> memory_;
        buffer<T> noise_;
        timestep stride_ = 1;
        std::size_t position_ = 0;
        index step_ = 0;
        index steps_ = 0;
    };

private:
    schedule::discrete<T> schedule_;
};

}  // namespace diffuse::sampler
