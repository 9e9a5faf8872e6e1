// diffuse/sampler/lcm.hpp: multistep latent consistency sampling (Luo et al. 2023, "Latent
// Consistency Models", Algorithm 3; diffusers' LCMScheduler). At each grid timestep t the
// consistency function maps x_t to a clean estimate, which is then noised forward to the next
// grid timestep t' with fresh noise:
//   x0 = predicted clean sample (any parameterization), optionally clipped/thresholded,
//   d  = c_skip(t) x + c_out(t) x0            (boundary condition, eq. 9, detail/consistency.hpp)
//   x' = sqrt(ab_t') d + sqrt(1 - ab_t') z     (forward process, Ho et al. 2020 eq. 4)
// and the last step returns d itself. Noise comes from the caller (a source or a buffer).
#pragma once

#include <cmath>
#include <span>
#include <string_view>
#include <vector>

#include "diffuse/predict/parameterization.hpp"
#include "diffuse/predict/thresholding.hpp"
#include "diffuse/sampler/detail/consistency.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"
#include "diffuse/sampler/detail/update.hpp"
#include "diffuse/sampler/run.hpp"
#include "diffuse/schedule/discrete.hpp"

namespace diffuse::sampler {

// The timesteps of LCMScheduler.set_timesteps (and TCDScheduler's with its config's
// original_inference_steps): the distillation grid (1..floor(original * strength)) * (T // original) - 1,
// from which `steps` entries are taken at floor(i * len / steps), largest first.
inline std::vector<timestep> lcm_timesteps(index num_train_timesteps, index steps, index original_inference_steps = 50,
                                           double strength = 1.0) {
    require(num_train_timesteps >= 2, "num_train_timesteps", num_train_timesteps, "an integer >= 2");
    require(original_inference_steps >= 1 && original_inference_steps <= num_train_timesteps,
            "original_inference_steps", original_inference_steps,
            "an integer in [1, num_train_timesteps = " + std::to_string(num_train_timesteps) + "]");
    require(strength > 0.0 && strength <= 1.0, "strength", strength, "(0, 1]");
    const index k = num_train_timesteps / original_inference_steps;
    const auto length = static_cast<index>(static_cast<double>(original_inference_steps) * strength);
    require(steps >= 1 && steps <= length, "num_inference_steps", steps,
            "an integer in [1, original_inference_steps * strength = " + std::to_string(length) + "]");
    std::vector<timestep> out(static_cast<std::size_t>(steps));
    const double stride = static_cast<double>(length) / static_cast<double>(steps);
    for (index i = 0; i < steps; ++i) {
        const auto position =
            static_cast<index>(std::floor(static_cast<double>(i) * stride));  // into the reversed grid
        out[static_cast<std::size_t>(i)] = static_cast<timestep>((length - position) * k - 1);
    }
    return out;
}

// Defaults are diffusers' LCMScheduler defaults.
template <Real T>
struct lcm_options {
    predict::prediction prediction = predict::prediction::epsilon;
    T timestep_scaling = T(10);
    predict::x0_processing<T> x0{};  // clip_sample / thresholding, off by default

    void validate() const {
        require(timestep_scaling > T(0) && std::isfinite(timestep_scaling), "timestep_scaling", timestep_scaling,
                "a finite number > 0");
        x0.validate();
    }
};

template <Real T>
class lcm : public detail::sampler_shell<lcm<T>, lcm_options<T>, std::vector<timestep>, std::span<const timestep>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "LCM";

    // start() takes a strictly decreasing grid of training timesteps (lcm_timesteps, or custom).
    explicit lcm(schedule::discrete<T> noise_schedule, lcm_options<T> options = {})
        : lcm::sampler_shell(options), schedule_(std::move(noise_schedule)) {}

    [[nodiscard]] const schedule::discrete<T>& noise_schedule() const { return schedule_; }

    class run : public detail::discrete_run_state<T>, public detail::stepping<run, T> {
    public:
        run(const lcm& sampler, std::vector<timestep> grid, layout shape)
            : detail::discrete_run_state<T>(std::move(grid), shape, sampler.schedule_), sampler_(&sampler) {
            const auto& opt = sampler.options();
            schedule::require_valid_grid(this->grid_, sampler.schedule_.num_train_timesteps());
            if (predict::needs_positive_alpha(opt.prediction)) {
                require(sampler.schedule_.alpha_bar(this->grid_.front()) > T(0), "prediction_type",
                        predict::name(opt.prediction),
                        "v_prediction or sample when the grid starts at a zero-SNR timestep (alphabar = 0)");
            }
            if (this->grid_.size() > 1) noise_.resize(shape.size);
            if (opt.x0.needs_two_passes()) {
                x0_.resize(shape.size);
                quantile_.resize(shape.sample_size());
            }
        }

    private:
        friend detail::stepping<run, T>;
        template <class Noise>
        void step_views(const_view<T> output, view<T> x, Noise&& noise_in) {
            this->check_buffers(output.size(), x.size());
            const auto& s = *sampler_;
            const timestep t = this->current_timestep(), next = this->next_timestep();
            const T ab = s.schedule_.alpha_bar(t);
            const auto c = detail::lcm_scalings<T>(static_cast<double>(t), s.options().timestep_scaling);
            // x' = on_d (c_skip x + c_out x0) + sqrt(1 - ab') z; the last step returns d.
            const bool last = next < 0;
            const T ab_next = last ? T(1) : s.schedule_.alpha_bar(next);
            const T on_d = std::sqrt(ab_next);
            detail::linear_update<T> u{
                .from = predict::decompose(s.options().prediction, std::sqrt(ab), std::sqrt(T(1) - ab))};
            u.to_x0 = on_d * c.out;
            u.to_x = on_d * c.skip;
            u.to_noise = last ? T(0) : std::sqrt(T(1) - ab_next);
            const const_view<T> noise =
                detail::acquire_noise<T>(noise_in, view<T>(noise_.data(), noise_.size()), !last, name);
            if (!last) require_size("noise.size()", noise.size(), x.size());
            detail::apply(u, s.options().x0, output, x, noise, this->shape_.batch, view<T>(x0_.data(), x0_.size()),
                          view<T>(quantile_.data(), quantile_.size()));
            this->advance();
        }

        const lcm* sampler_;
        buffer<T> noise_, x0_, quantile_;
    };

private:
    schedule::discrete<T> schedule_;
};

}  // namespace diffuse::sampler
