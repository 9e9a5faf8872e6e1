// diffuse/sampler/ddim.hpp: Denoising Diffusion Implicit Models (Song, Meng, Ermon 2021).
//
// One step from timestep t to the next grid entry t' (or to t - T // n as diffusers, option `target`:
// sampler/step_target.hpp) (eq. 12, with sigma_t from eq. 16):
//   x0  = predicted clean sample (any parameterization), optionally clipped/thresholded
//   s   = eta * sqrt((1 - ab_t') / (1 - ab_t) * (1 - ab_t / ab_t'))
//   x_t' = sqrt(ab_t') x0 + sqrt(1 - ab_t' - s^2) eps + s z,     z ~ N(0, I)
// eta = 0 is the deterministic DDIM sampler, eta = 1 is DDPM's ancestral variance.
// Past the last grid entry ab = 1 (set_alpha_to_one) or ab_0 (Stable Diffusion's choice).
#pragma once

#include <cmath>
#include <optional>
#include <span>
#include <vector>

#include "diffuse/predict/parameterization.hpp"
#include "diffuse/predict/thresholding.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"
#include "diffuse/sampler/detail/update.hpp"
#include "diffuse/sampler/run.hpp"
#include "diffuse/sampler/step_target.hpp"
#include "diffuse/schedule/discrete.hpp"

namespace diffuse::sampler {

// Defaults are diffusers' DDIMScheduler defaults.
template <Real T>
struct ddim_options {
    predict::prediction prediction = predict::prediction::epsilon;
    T eta = T(0);
    bool set_alpha_to_one = true;
    bool use_clipped_model_output = false;
    predict::x0_processing<T> x0{.clip_range = T(1), .thresholding = {}};
    step_target target = step_target::next_grid_entry;  // diffusers' DDIMScheduler: diffusers_prev_timestep

    void validate() const {
        require(eta >= T(0) && std::isfinite(eta), "eta", eta, "a finite number >= 0");
        x0.validate();
    }
};

template <Real T>
class ddim : public detail::sampler_shell<ddim<T>, ddim_options<T>, std::vector<timestep>, std::span<const timestep>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "DDIM";

    // start() takes a strictly decreasing grid of training timesteps.
    explicit ddim(schedule::discrete<T> noise_schedule, ddim_options<T> options = {})
        : ddim::sampler_shell(options), schedule_(std::move(noise_schedule)) {}

    [[nodiscard]] const schedule::discrete<T>& noise_schedule() const { return schedule_; }

    // ab after the last step.
    [[nodiscard]] T final_alpha_bar() const {
        return this->options().set_alpha_to_one ? T(1) : schedule_.alphas_cumprod()[0];
    }

    // DDIM's sigma_t^2 / eta^2 between t and prev (eq. 16); prev < 0 means past the grid.
    [[nodiscard]] T variance(timestep t, timestep prev) const {
        const T ab = schedule_.alpha_bar(t);
        const T ab_prev = prev >= 0 ? schedule_.alpha_bar(prev) : final_alpha_bar();
        return (T(1) - ab_prev) / (T(1) - ab) * (T(1) - ab / ab_prev);
    }

    // The step from t to the level with alphas_cumprod ab_prev whose noise has standard deviation
    // std_dev (eq. 12): x' = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - std_dev^2) eps + std_dev z.
    [[nodiscard]] detail::linear_update<T> update(timestep t, T ab_prev, T std_dev) const {
        const T ab = schedule_.alpha_bar(t);
        const T alpha = std::sqrt(ab), sigma = std::sqrt(T(1) - ab);
        detail::linear_update<T> u{.from = predict::decompose(this->options().prediction, alpha, sigma)};
        u.to_x0 = std::sqrt(ab_prev);
        u.to_eps = std::sqrt(T(1) - ab_prev - std_dev * std_dev);
        u.to_noise = std_dev;
        if (this->options().use_clipped_model_output) u.use_processed_x0_for_eps(alpha, sigma);
        return u;
    }

    class run : public detail::discrete_run_state<T>, public detail::stepping<run, T> {
    public:
        run(const ddim& sampler, std::vector<timestep> grid, layout shape)
            : detail::discrete_run_state<T>(std::move(grid), shape, sampler.schedule_), sampler_(&sampler) {
            const auto& opt = sampler.options();
            schedule::require_valid_grid(this->grid_, sampler.schedule_.num_train_timesteps());
            if (predict::needs_positive_alpha(opt.prediction)) {
                require(sampler.schedule_.alpha_bar(this->grid_.front()) > T(0), "prediction_type",
                        predict::name(opt.prediction),
                        "v_prediction or sample when the grid starts at a zero-SNR timestep (alphabar = 0)");
            }
            if (opt.eta > T(0)) noise_.resize(shape.size);
            if (opt.x0.needs_two_passes()) {
                x0_.resize(shape.size);
                quantile_.resize(shape.sample_size());
            }
        }

        // Where this step lands (evaluation_context.hpp): x' = sqrt(ab') x0 + on_eps eps + std z, so
        // alpha' = sqrt(ab'), sigma' = on_eps / alpha', noise = std / alpha'. Clipping or thresholding
        // x0 makes the step nonlinear in the model output: no landing then.
        [[nodiscard]] std::optional<step_landing<T>> target_level() const {
            const auto& x0 = sampler_->options().x0;
            if (x0.clip_range || x0.thresholding) return std::nullopt;
            const transfer tr = transfer_of_step();
            const T alpha = std::sqrt(tr.ab_prev);
            return step_landing<T>{{tr.on_eps() / alpha, alpha, static_cast<double>(tr.prev < 0 ? -1 : tr.prev)},
                                   tr.std_dev / alpha};
        }
        [[nodiscard]] evaluation_context<T> context() { return context_of(*this); }

    private:
        // The step from the current timestep t to its target (step_target option) (eq. 12, 16).
        struct transfer {
            timestep prev;
            T ab, ab_prev, std_dev;
            [[nodiscard]] T on_eps() const { return std::sqrt(T(1) - ab_prev - std_dev * std_dev); }
        };
        [[nodiscard]] transfer transfer_of_step() const {
            const auto& s = *sampler_;
            const timestep t = this->current_timestep();
            const timestep prev = target_timestep(s.options().target, t, this->next_timestep(),
                                                  s.schedule_.num_train_timesteps(), this->num_steps());
            return {prev, s.schedule_.alpha_bar(t), prev >= 0 ? s.schedule_.alpha_bar(prev) : s.final_alpha_bar(),
                    s.options().eta * std::sqrt(s.variance(t, prev))};
        }

        friend detail::stepping<run, T>;
        template <class Noise>
        void step_views(const_view<T> output, view<T> x, Noise&& noise_in) {
            this->check_buffers(output.size(), x.size());
            const auto& s = *sampler_;
            const transfer tr = this->transfer_of_step();
            const detail::linear_update<T> u = s.update(this->current_timestep(), tr.ab_prev, tr.std_dev);

            // With eta > 0 every step draws, the last one too, where std_dev may be 0 (set_alpha_to_one):
            // diffusers draws there as well, so a replayed noise stream stays aligned.
            const bool draws = s.options().eta > T(0);
            const const_view<T> noise =
                detail::acquire_noise<T>(noise_in, view<T>(noise_.data(), noise_.size()), draws, name);
            if (draws) require_size("noise.size()", noise.size(), x.size());
            detail::apply(u, s.options().x0, output, x, noise, this->shape_.batch, view<T>(x0_.data(), x0_.size()),
                          view<T>(quantile_.data(), quantile_.size()));
            this->advance();
        }

        const ddim* sampler_;
        buffer<T> noise_, x0_, quantile_;
    };

private:
    schedule::discrete<T> schedule_;
};

}  // namespace diffuse::sampler
