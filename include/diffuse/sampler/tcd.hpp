// diffuse/sampler/tcd.hpp: strategic stochastic sampling of trajectory consistency distillation
// (Zheng et al. 2024, "Trajectory Consistency Distillation", sec. 4.3 and Algorithm 4; diffusers'
// TCDScheduler). From grid timestep t to the next one t', with gamma in [0, 1] (diffusers' `eta`):
//   s    = floor((1 - gamma) t')
//   x_s  = sqrt(ab_s) x0 + sqrt(1 - ab_s) eps             (the trajectory jump, a DDIM step to s)
//   x_t' = sqrt(ab_t'/ab_s) x_s + sqrt(1 - ab_t'/ab_s) z   (forward noise from s back to t')
// gamma = 0 is deterministic (DDIM to t'), gamma = 1 renoises a full clean estimate like LCM.
// As in diffusers the last step goes to t' = 0 without noise, so the result is x_s at s = 0
// (alphabar_0), not the clean estimate.
#pragma once

#include <cmath>
#include <span>
#include <string_view>
#include <vector>

#include "diffuse/predict/parameterization.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"
#include "diffuse/sampler/detail/update.hpp"
#include "diffuse/sampler/lcm.hpp"
#include "diffuse/sampler/run.hpp"
#include "diffuse/schedule/discrete.hpp"

namespace diffuse::sampler {

// diffusers' TCDScheduler defaults (gamma is the `eta` argument of its step(), default 0.3).
template <Real T>
struct tcd_options {
    predict::prediction prediction = predict::prediction::epsilon;
    T gamma = T(0.3);

    void validate() const { require(gamma >= T(0) && gamma <= T(1), "gamma", gamma, "[0, 1]"); }
};

template <Real T>
class tcd : public detail::sampler_shell<tcd<T>, tcd_options<T>, std::vector<timestep>, std::span<const timestep>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "TCD";

    // start() takes a strictly decreasing grid of training timesteps (lcm_timesteps, or custom).
    explicit tcd(schedule::discrete<T> noise_schedule, tcd_options<T> options = {})
        : tcd::sampler_shell(options), schedule_(std::move(noise_schedule)) {}

    [[nodiscard]] const schedule::discrete<T>& noise_schedule() const { return schedule_; }

    // s = floor((1 - gamma) t'), evaluated in float32 as torch does (a float times an int64 tensor).
    [[nodiscard]] timestep jump_target(timestep next) const {
        const float product =
            static_cast<float>(1.0 - static_cast<double>(this->options().gamma)) * static_cast<float>(next);
        return static_cast<timestep>(std::floor(product));
    }

    class run : public detail::discrete_run_state<T>, public detail::stepping<run, T> {
    public:
        run(const tcd& sampler, std::vector<timestep> grid, layout shape)
            : detail::discrete_run_state<T>(std::move(grid), shape, sampler.schedule_), sampler_(&sampler) {
            schedule::require_valid_grid(this->grid_, sampler.schedule_.num_train_timesteps());
            if (predict::needs_positive_alpha(sampler.options().prediction)) {
                require(sampler.schedule_.alpha_bar(this->grid_.front()) > T(0), "prediction_type",
                        predict::name(sampler.options().prediction),
                        "v_prediction or sample when the grid starts at a zero-SNR timestep (alphabar = 0)");
            }
            if (sampler.options().gamma > T(0) && this->grid_.size() > 1) noise_.resize(shape.size);
        }

    private:
        friend detail::stepping<run, T>;
        template <class Noise>
        void step_views(const_view<T> output, view<T> x, Noise&& noise_in) {
            this->check_buffers(output.size(), x.size());
            const auto& s = *sampler_;
            const bool last = this->next_timestep() < 0;
            const timestep t = this->current_timestep(), next = last ? 0 : this->next_timestep();
            const timestep jump = s.jump_target(next);
            const T ab = s.schedule_.alpha_bar(t), ab_next = s.schedule_.alpha_bar(next),
                    ab_s = s.schedule_.alpha_bar(jump);
            const bool noisy = s.options().gamma > T(0) && !last;
            const T keep = noisy ? std::sqrt(ab_next / ab_s) : T(1);
            detail::linear_update<T> u{
                .from = predict::decompose(s.options().prediction, std::sqrt(ab), std::sqrt(T(1) - ab))};
            u.to_x0 = keep * std::sqrt(ab_s);
            u.to_eps = keep * std::sqrt(T(1) - ab_s);
            u.to_noise = noisy ? std::sqrt(T(1) - ab_next / ab_s) : T(0);
            const const_view<T> noise =
                detail::acquire_noise<T>(noise_in, view<T>(noise_.data(), noise_.size()), noisy, name);
            if (noisy) require_size("noise.size()", noise.size(), x.size());
            detail::apply(u, {}, output, x, noise, this->shape_.batch, view<T>(nullptr, 0), view<T>(nullptr, 0));
            this->advance();
        }

        const tcd* sampler_;
        buffer<T> noise_;
    };

private:
    schedule::discrete<T> schedule_;
};

}  // namespace diffuse::sampler
