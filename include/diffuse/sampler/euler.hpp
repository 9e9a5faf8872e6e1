// diffuse/sampler/euler.hpp: Euler's method on the probability-flow ODE in the k-diffusion form
// (Karras et al. 2022, eq. 4 and Algorithm 2 without the Heun correction):
//   d = (x - x0) / sigma_hat,     x' = x + (sigma' - sigma_hat) d,
// with optional "churn": gamma = min(S_churn / n, sqrt(2) - 1) on levels inside [S_tmin, S_tmax],
// sigma_hat = sigma (1 + gamma), and x raised to sigma_hat by x += S_noise z sqrt(sigma_hat^2 - sigma^2).
// As in diffusers' EulerDiscreteScheduler the churn is applied after the model evaluation at
// sigma, and x0 is then read at sigma_hat (the edm sampler, edm.hpp, churns before evaluating).
// `renoise` replaces the ODE step by x0 noised afresh to the next level, x' = x0 + sigma' z (in the
// model state alpha' (x0 + sigma' z)): diffusers' FlowMatchEulerDiscreteScheduler stochastic_sampling,
// x' = (1 - s') x0 + s' z, i.e. an ancestral step with sigma_down = 0. Like diffusers it draws z on
// every step, the last (sigma' = 0) included, so a shared generator stays in step with diffusers'.
#pragma once

#include <cmath>
#include <limits>
#include <numbers>
#include <optional>
#include <string_view>

#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"
#include "diffuse/sampler/detail/update.hpp"
#include "diffuse/sampler/sigma_run.hpp"

namespace diffuse::sampler {

template <Real T>
struct euler_options {
    predict::prediction prediction = predict::prediction::epsilon;
    T s_churn = T(0);
    T s_tmin = T(0);
    T s_tmax = std::numeric_limits<T>::infinity();
    T s_noise = T(1);
    state_space space = state_space::denoiser;
    bool renoise = false;

    void validate() const {
        require(s_churn >= T(0) && std::isfinite(s_churn), "s_churn", s_churn, "a finite number >= 0");
        require(!renoise || s_churn == T(0), "s_churn", s_churn, "0 with renoise (stochastic_sampling)");
        require(s_tmin >= T(0) && s_tmin <= s_tmax, "s_tmin", s_tmin, "in [0, s_tmax]");
        require(s_noise >= T(0) && std::isfinite(s_noise), "s_noise", s_noise, "a finite number >= 0");
    }
};

template <Real T>
class euler : public detail::sampler_shell<euler<T>, euler_options<T>, sigma_grid<T>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "Euler";

    using euler::sampler_shell::sampler_shell;

    class run : public detail::sigma_run_state<T>, public detail::stepping<run, T> {
    public:
        run(const euler& sampler, sigma_grid<T> grid, layout shape)
            : detail::sigma_run_state<T>(std::move(grid), shape, sampler.options().space, sampler.options().prediction),
              sampler_(&sampler) {
            if (sampler.options().s_churn > T(0) || sampler.options().renoise) noise_.resize(shape.size);
        }

        [[nodiscard]] double model_time() const { return this->current_level().model_time; }
        [[nodiscard]] T input_scale() const { return this->input_scale_at(this->current_level()); }

        // Where this step lands (evaluation_context.hpp): the ODE step is x'/alpha' = x0 + sigma' eps
        // with (x0, eps) read at the evaluation's level; renoise is x'/alpha' = x0 + sigma' z. A churned
        // step reads the output at sigma_hat, not at the evaluated level: no landing then.
        [[nodiscard]] std::optional<step_landing<T>> target_level() const {
            if (churns(this->current_level().sigma)) return std::nullopt;
            noise_level<T> to = this->next_level();
            if (!sampler_->options().renoise) return step_landing<T>{to, T(0)};
            const T noise = to.sigma;
            to.sigma = T(0);
            return step_landing<T>{to, noise};
        }
        [[nodiscard]] evaluation_context<T> context() { return context_of(*this); }

    private:
        [[nodiscard]] bool churns(T sigma) const {
            const auto& o = sampler_->options();
            return o.s_churn > T(0) && o.s_tmin <= sigma && sigma <= o.s_tmax;
        }

        friend detail::stepping<run, T>;
        template <class Noise>
        void step_views(const_view<T> output, view<T> x, Noise&& noise_in) {
            this->check_buffers(output.size(), x.size());
            const auto& o = sampler_->options();
            noise_level<T> level = this->current_level();
            const T sigma = level.sigma, next = this->next_level().sigma;
            if (o.renoise) {
                const const_view<T> z =
                    detail::acquire_noise<T>(noise_in, view<T>(noise_.data(), noise_.size()), true, name);
                require_size("noise.size()", z.size(), x.size());
                const T scale = this->space_ == state_space::denoiser ? T(1) : this->next_level().alpha;
                const detail::linear_update<T> u{
                    .from = this->decompose(level), .to_x0 = scale, .to_noise = scale * next};
                detail::apply(u, {}, output, x, z, this->shape_.batch, view<T>(nullptr, 0), view<T>(nullptr, 0));
                this->advance();
                return;
            }
            const T gamma =
                churns(sigma) ? std::min(o.s_churn / static_cast<T>(this->num_steps()), std::numbers::sqrt2_v<T> - T(1))
                              : T(0);
            const T sigma_hat = sigma * (gamma + T(1));
            if (gamma > T(0)) {
                const const_view<T> z =
                    detail::acquire_noise<T>(noise_in, view<T>(noise_.data(), noise_.size()), true, name);
                require_size("noise.size()", z.size(), x.size());
                x += (o.s_noise * std::sqrt(sigma_hat * sigma_hat - sigma * sigma)) * z;
            }
            level.sigma = sigma_hat;
            // x' = x + (sigma' - sigma_hat) (x - x0) / sigma_hat
            const T ratio = (next - sigma_hat) / sigma_hat;
            detail::linear_update<T> u{.from = this->decompose(level)};
            if (this->space_ == state_space::denoiser) {
                u.to_x = T(1) + ratio;
                u.to_x0 = -ratio;
            } else {
                // In the model state the same step reads x' = alpha' (x/alpha + (sigma' - sigma_hat) eps).
                // sigma'/sigma_hat, not 1 + ratio: near pure noise (flow time s -> 1, alpha -> 0) the
                // sum cancels while alpha'/alpha is huge.
                const T scale = this->next_level().alpha / level.alpha;
                u.to_x = scale * (next / sigma_hat);
                u.to_x0 = -scale * ratio * level.alpha;
            }
            detail::apply(u, {}, output, x, const_view<T>(nullptr, 0), this->shape_.batch, view<T>(nullptr, 0),
                          view<T>(nullptr, 0));
            this->advance();
        }

        const euler* sampler_;
        buffer<T> noise_;
    };
};

}  // namespace diffuse::sampler
