// diffuse/sampler/ddim_inverse.hpp: DDIM inversion, the deterministic DDIM ODE run from data
// to noise (Song et al. 2021, sec. 4.3; used for image editing, e.g. Mokady et al. 2023).
//
// The grid is strictly increasing. Step i moves x from the previous grid entry (or from
// ab = 1 / ab_0 before the first, per set_alpha_to_one) to grid[i], with the model evaluated
// at grid[i], as diffusers' DDIMInverseScheduler does (which moves x from grid[i] - T // n instead:
// option `target = diffusers_prev_timestep`, sampler/step_target.hpp):
//   x_{t_i} = sqrt(ab_{t_i}) x0 + sqrt(1 - ab_{t_i}) eps,
// x0 and eps decomposed at the level x is currently at.
#pragma once

#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "diffuse/predict/parameterization.hpp"
#include "diffuse/predict/thresholding.hpp"
#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"
#include "diffuse/sampler/detail/update.hpp"
#include "diffuse/sampler/run.hpp"
#include "diffuse/sampler/step_target.hpp"
#include "diffuse/schedule/discrete.hpp"

namespace diffuse::sampler {

template <Real T>
class ddim_inverse
    : public detail::sampler_shell<ddim_inverse<T>, ddim_options<T>, std::vector<timestep>, std::span<const timestep>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "DDIM inversion";

    // Uses prediction, set_alpha_to_one and x0 processing from the options; eta must be 0.
    explicit ddim_inverse(schedule::discrete<T> noise_schedule, ddim_options<T> options = {})
        : ddim_inverse::sampler_shell(options), schedule_(std::move(noise_schedule)) {
        require(this->options().eta == T(0), "eta", this->options().eta, "0 (inversion is deterministic)");
    }

    [[nodiscard]] const schedule::discrete<T>& noise_schedule() const { return schedule_; }
    [[nodiscard]] T initial_alpha_bar() const {
        return this->options().set_alpha_to_one ? T(1) : schedule_.alphas_cumprod()[0];
    }

    // Reverses a decreasing sampling grid into the increasing inversion grid.
    static std::vector<timestep> reversed(std::span<const timestep> grid) { return {grid.rbegin(), grid.rend()}; }

    class run : public detail::discrete_run_state<T>, public detail::stepping<run, T> {
    public:
        run(const ddim_inverse& sampler, std::vector<timestep> grid, layout shape)
            : detail::discrete_run_state<T>(std::move(grid), shape, sampler.schedule_), sampler_(&sampler) {
            const auto& g = this->grid_;
            require(!g.empty(), "timesteps.size()", 0, "at least one timestep");
            for (std::size_t i = 0; i < g.size(); ++i) {
                sampler.schedule_.require_timestep(g[i], "timesteps[" + std::to_string(i) + "]");
                if (i > 0 && g[i] <= g[i - 1]) {
                    throw invalid("timesteps[" + std::to_string(i) + "]", g[i],
                                  "strictly greater than the entry before it (inversion runs from data to noise)");
                }
            }
            if (sampler.options().x0.needs_two_passes()) {
                x0_.resize(shape.size);
                quantile_.resize(shape.sample_size());
            }
        }

    private:
        // Deterministic: stepping passes no noise here.
        friend detail::stepping<run, T>;
        void step_views(const_view<T> output, view<T> x) {
            this->check_buffers(output.size(), x.size());
            const auto& s = *sampler_;
            // The step's DDIM counterpart runs from `to` to `from` (step_target.hpp).
            const timestep to = this->current_timestep();
            const timestep from = target_timestep(s.options().target, to, this->previous_timestep(),
                                                  s.schedule_.num_train_timesteps(), this->num_steps());
            const T ab_from = from >= 0 ? s.schedule_.alpha_bar(from) : s.initial_alpha_bar();
            const T ab_to = s.schedule_.alpha_bar(to);
            detail::linear_update<T> u{
                .from = predict::decompose(s.options().prediction, std::sqrt(ab_from), std::sqrt(T(1) - ab_from))};
            u.to_x0 = std::sqrt(ab_to);
            u.to_eps = std::sqrt(T(1) - ab_to);
            detail::apply(u, s.options().x0, output, x, const_view<T>(nullptr, 0), this->shape_.batch,
                          view<T>(x0_.data(), x0_.size()), view<T>(quantile_.data(), quantile_.size()));
            this->advance();
        }

        const ddim_inverse* sampler_;
        buffer<T> x0_, quantile_;
    };

private:
    schedule::discrete<T> schedule_;
};

}  // namespace diffuse::sampler
