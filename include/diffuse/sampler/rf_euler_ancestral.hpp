// diffuse/sampler/rf_euler_ancestral.hpp: Euler ancestral sampling of a rectified-flow path
// x_s = (1 - s) x0 + s eps, as ComfyUI's RF sampler and diffusers' LTXEulerAncestralRFScheduler
// (LTX-Video). A step from flow time s to s' goes down to s_down = s' (1 + (s'/s - 1) eta) along the
// straight line through x and x0 = x - s v, then re-noises to s':
//   x_down = (s_down/s) x + (1 - s_down/s) x0,
//   x'     = ((1 - s')/(1 - s_down)) x_down + s_noise sqrt(s'^2 - s_down^2 (1 - s')^2/(1 - s_down)^2) z,
// which keeps the marginal of x_s' (scaling x_down's path from alpha = 1 - s_down to 1 - s' and adding
// the missing noise variance). eta = 0 is the flow Euler step; a step into s' = 0 returns x0 and
// draws nothing. diffusers guards both divisions by 1 - s_down with + 1e-12, and so does this.
#pragma once

#include <algorithm>
#include <cmath>
#include <string_view>

#include "diffuse/sampler/detail/kdiffusion.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"
#include "diffuse/sampler/detail/update.hpp"
#include "diffuse/sampler/sigma_run.hpp"

namespace diffuse::sampler {

template <Real T>
struct rf_euler_ancestral_options {
    predict::prediction prediction = predict::prediction::flow_velocity;
    T eta = T(1);
    T s_noise = T(1);

    void validate() const { detail::validate_noise_options(eta, s_noise); }
};

// Runs on flow grids (schedule/flow.hpp: alpha = 1 - s); the state is the flow state.
template <Real T>
class rf_euler_ancestral
    : public detail::sampler_shell<rf_euler_ancestral<T>, rf_euler_ancestral_options<T>, sigma_grid<T>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "RFEulerAncestral";

    using rf_euler_ancestral::sampler_shell::sampler_shell;

    class run : public detail::sigma_run_state<T>, public detail::stepping<run, T> {
    public:
        run(const rf_euler_ancestral& sampler, sigma_grid<T> grid, layout shape)
            : detail::sigma_run_state<T>(std::move(grid), shape, state_space::model, sampler.options().prediction),
              options_(sampler.options()) {
            if (stochastic()) noise_.resize(shape.size);
        }

        [[nodiscard]] double model_time() const { return this->current_level().model_time; }
        [[nodiscard]] T input_scale() const { return T(1); }

    private:
        friend detail::stepping<run, T>;
        template <class Noise>
        void step_views(const_view<T> output, view<T> x, Noise&& noise) {
            this->check_buffers(output.size(), x.size());
            const noise_level<T>& level = this->current_level();
            // flow times s = alpha * (k-diffusion sigma), 1 - s = alpha
            const T s = level.sigma * level.alpha, next = this->next_level().sigma * this->next_level().alpha;
            detail::linear_update<T> u{.from = this->decompose(level)};
            if (next < T(1e-8)) {  // diffusers: the last step returns x0
                u.to_x0 = T(1);
                detail::apply(u, {}, output, x, const_view<T>(nullptr, 0), this->shape_.batch, view<T>(nullptr, 0),
                              view<T>(nullptr, 0));
                this->advance();
                return;
            }
            const T down = next * (T(1) + (next / s - T(1)) * options_.eta);
            const T ratio = down / s;
            u.to_x = ratio;
            u.to_x0 = T(1) - ratio;
            if (stochastic()) {
                const T alpha_next = T(1) - next, alpha_down = T(1) - down;
                const T rescale = alpha_next / (alpha_down + T(1e-12));
                const T variance =
                    next * next - down * down * alpha_next * alpha_next / (alpha_down * alpha_down + T(1e-12));
                u.to_x *= rescale;
                u.to_x0 *= rescale;
                u.to_noise = std::sqrt(std::max(variance, T(0))) * options_.s_noise;
            }
            const const_view<T> z =
                detail::acquire_noise<T>(noise, view<T>(noise_.data(), noise_.size()), stochastic(), name);
            if (stochastic()) require_size("noise.size()", z.size(), x.size());
            detail::apply(u, {}, output, x, z, this->shape_.batch, view<T>(nullptr, 0), view<T>(nullptr, 0));
            this->advance();
        }

        [[nodiscard]] bool stochastic() const { return options_.eta > T(0) && options_.s_noise > T(0); }

        rf_euler_ancestral_options<T> options_;
        buffer<T> noise_;
    };
};

}  // namespace diffuse::sampler
