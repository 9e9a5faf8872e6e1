// diffuse/sampler/consistency_model.hpp: multistep consistency sampling (Song et al. 2023,
// "Consistency Models", Algorithm 1; diffusers' CMStochasticIterativeScheduler) on an EDM-style
// (variance-exploding) network. The network F sees c_in x = x / sqrt(sigma^2 + sd^2) at model time
// 250 log(sigma) (EDM's c_noise), and at each grid level
//   d  = c_skip(sigma) x + c_out(sigma) F        (boundary condition, eq. 5 / App. C, detail/consistency.hpp)
//        clipped to [-1, 1] if clip_denoised,
//   x' = d + s_noise sqrt(sigma'^2 - sigma_min^2) z,   sigma' = the next level clamped to [sigma_min, sigma_max].
// The grid is Karras sigmas (Karras et al. 2022, eq. 5) of the training ramp, ending at sigma_min,
// so the last step adds no noise.
#pragma once

#include <cmath>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "diffuse/sampler/detail/consistency.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"
#include "diffuse/sampler/detail/update.hpp"
#include "diffuse/sampler/sigma_run.hpp"

namespace diffuse::sampler {

// Defaults are diffusers' CMStochasticIterativeScheduler defaults.
template <Real T>
struct consistency_model_options {
    index num_train_timesteps = 40;  // the length of the Karras ramp the model was distilled on
    T sigma_min = T(0.002);
    T sigma_max = T(80);
    T sigma_data = T(0.5);
    T s_noise = T(1);
    T rho = T(7);
    bool clip_denoised = true;

    void validate() const {
        require(num_train_timesteps >= 2, "num_train_timesteps", num_train_timesteps, "an integer >= 2");
        require(sigma_min > T(0) && std::isfinite(sigma_min), "sigma_min", sigma_min, "a finite number > 0");
        require(sigma_max > sigma_min && std::isfinite(sigma_max), "sigma_max", sigma_max,
                "a finite number > sigma_min");
        require(sigma_data > T(0) && std::isfinite(sigma_data), "sigma_data", sigma_data, "a finite number > 0");
        require(s_noise >= T(0) && std::isfinite(s_noise), "s_noise", s_noise, "a finite number >= 0");
        require(rho > T(0) && std::isfinite(rho), "rho", rho, "a finite number > 0");
    }
};

template <Real T>
class consistency_model
    : public detail::sampler_shell<consistency_model<T>, consistency_model_options<T>, sigma_grid<T>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "CMStochasticIterative";

    using consistency_model::sampler_shell::sampler_shell;

    // diffusers' set_timesteps(timesteps=...): entries of the training ramp, strictly decreasing as
    // diffusers requires; ramp entry k has sigma = Karras(k / (N - 1)), so entry 0 is sigma_max and the
    // level order is the reverse of the list. The grid ends at sigma_min.
    [[nodiscard]] sigma_grid<T> grid(std::span<const timestep> timesteps) const {
        const auto& o = this->options();
        const index n = o.num_train_timesteps;
        require(!timesteps.empty(), "timesteps.size()", 0, "at least one timestep");
        const auto ramp = schedule::karras_sigmas(n, static_cast<double>(o.sigma_min), static_cast<double>(o.sigma_max),
                                                  static_cast<double>(o.rho));
        std::vector<noise_level<T>> levels;
        for (std::size_t i = timesteps.size(); i-- > 0;) {
            const timestep k = timesteps[i];
            if (k < 0 || k > n - 2) {
                throw invalid("timesteps[" + std::to_string(i) + "]", k,
                              "an integer in [0, num_train_timesteps - 2 = " + std::to_string(n - 2) +
                                  "] (entry N - 1 is sigma_min itself)");
            }
            if (i > 0 && k >= timesteps[i - 1]) {
                throw invalid("timesteps[" + std::to_string(i) + "]", k,
                              "strictly less than timesteps[" + std::to_string(i - 1) +
                                  "] = " + std::to_string(timesteps[i - 1]));
            }
            const double sigma = ramp[static_cast<std::size_t>(k)];
            levels.push_back({static_cast<T>(sigma), T(1), 1000.0 * 0.25 * std::log(sigma + 1e-44)});
        }
        levels.push_back({o.sigma_min, T(1), 0.0});
        return sigma_grid<T>(std::move(levels), o.sigma_max);
    }
    // diffusers' set_timesteps(num_inference_steps): ramp entries (0, 1, ..., n - 1) * (N // n).
    [[nodiscard]] sigma_grid<T> grid(index steps) const {
        const index n = this->options().num_train_timesteps;
        require(steps >= 1 && steps <= n - 1, "num_inference_steps", steps,
                "an integer in [1, num_train_timesteps - 1 = " + std::to_string(n - 1) + "]");
        std::vector<timestep> entries(static_cast<std::size_t>(steps));
        for (index i = 0; i < steps; ++i) entries[static_cast<std::size_t>(i)] = (steps - 1 - i) * (n / steps);
        return grid(entries);
    }

    class run : public detail::sigma_run_state<T>, public detail::stepping<run, T> {
    public:
        // The consistency function predicts the clean sample, hence the `sample` tag (sigma > 0 everywhere).
        run(const consistency_model& sampler, sigma_grid<T> grid, layout shape)
            : detail::sigma_run_state<T>(std::move(grid), shape, state_space::denoiser, predict::prediction::sample),
              sampler_(&sampler) {
            if (this->grid_.steps() > 1) noise_.resize(shape.size);
        }

        [[nodiscard]] double model_time() const { return this->current_level().model_time; }
        // EDM's c_in = 1 / sqrt(sigma^2 + sigma_data^2).
        [[nodiscard]] T input_scale() const {
            const T sigma = this->current_level().sigma, sd = sampler_->options().sigma_data;
            return T(1) / std::sqrt(sigma * sigma + sd * sd);
        }

    private:
        friend detail::stepping<run, T>;
        template <class Noise>
        void step_views(const_view<T> output, view<T> x, Noise&& noise_in) {
            this->check_buffers(output.size(), x.size());
            const auto& o = sampler_->options();
            const auto c = detail::consistency_scalings(this->current_level().sigma, o.sigma_min, o.sigma_data);
            const T next = std::clamp(this->next_level().sigma, o.sigma_min, o.sigma_max);
            detail::linear_update<T> u{.from = {{c.skip, c.out}, {T(0), T(0)}}};
            u.to_x0 = T(1);
            // sqrt(sigma'^2 - sigma_min^2) as a product, exactly 0 at sigma' = sigma_min (a contracted
            // next * next - min * min could round to a negative number there).
            u.to_noise = next > o.sigma_min ? o.s_noise * std::sqrt((next - o.sigma_min) * (next + o.sigma_min)) : T(0);
            const bool noisy = u.to_noise > T(0);
            const const_view<T> noise =
                detail::acquire_noise<T>(noise_in, view<T>(noise_.data(), noise_.size()), noisy, name);
            if (noisy) require_size("noise.size()", noise.size(), x.size());
            predict::x0_processing<T> clip{};
            if (o.clip_denoised) clip.clip_range = T(1);
            detail::apply(u, clip, output, x, noise, this->shape_.batch, view<T>(nullptr, 0), view<T>(nullptr, 0));
            this->advance();
        }

        const consistency_model* sampler_;
        buffer<T> noise_;
    };
};

}  // namespace diffuse::sampler
