// diffuse/sampler/cogvideox_dpm.hpp: the stochastic second-order multistep step of diffusers'
// CogVideoXDPMScheduler: SDE-DPM-Solver++(2M) with the midpoint correction (Lu et al. 2022b,
// "DPM-Solver++", sec. 4, eq. 15-16) on training timesteps, written as that class writes it.
// With lambda = log sqrt(ab / (1 - ab)), h = lambda_t' - lambda_t and r = (lambda_t - lambda_b) / h
// (b the grid entry before t):
//   x_t' = sqrt((1 - ab_t') / (1 - ab_t)) e^{-h} x + sqrt(ab_t') (1 - e^{-2h}) D
//          + sqrt(1 - ab_t') sqrt(1 - e^{-2h}) z,
//   D    = (1 + 1/(2r)) x0 - 1/(2r) x0_previous, or x0 on the first step and on the step past the grid.
// As in that class, t' = t - T // n (sampler/step_target.hpp's diffusers rule) while b is the grid entry
// before t, and each second-order step draws noise twice and uses the second draw (the first is the
// one its discarded first-order candidate used): a noise source is drawn from twice, a caller's
// noise buffer is the noise the step uses.
#pragma once

#include <array>
#include <cmath>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "diffuse/predict/parameterization.hpp"
#include "diffuse/sampler/detail/exponential_integrator.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"
#include "diffuse/sampler/run.hpp"
#include "diffuse/sampler/step_target.hpp"
#include "diffuse/schedule/discrete.hpp"

namespace diffuse::sampler {

// Defaults are diffusers' CogVideoXDPMScheduler defaults.
template <Real T>
struct cogvideox_dpm_options {
    predict::prediction prediction = predict::prediction::epsilon;
    bool set_alpha_to_one = true;
    step_target target = step_target::diffusers_prev_timestep;

    void validate() const {
        require(prediction != predict::prediction::flow_velocity && prediction != predict::prediction::score,
                "prediction_type", predict::name(prediction), "epsilon, sample or v_prediction");
    }
};

template <Real T>
class cogvideox_dpm : public detail::sampler_shell<cogvideox_dpm<T>, cogvideox_dpm_options<T>, std::vector<timestep>,
                                                   std::span<const timestep>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "CogVideoXDPM";

    // start() takes a strictly decreasing grid of training timesteps.
    explicit cogvideox_dpm(schedule::discrete<T> noise_schedule, cogvideox_dpm_options<T> options = {})
        : cogvideox_dpm::sampler_shell(options), schedule_(std::move(noise_schedule)) {}

    [[nodiscard]] const schedule::discrete<T>& noise_schedule() const { return schedule_; }

    class run : public detail::discrete_run_state<T>, public detail::stepping<run, T> {
    public:
        run(const cogvideox_dpm& sampler, std::vector<timestep> grid, layout shape)
            : detail::discrete_run_state<T>(std::move(grid), shape, sampler.schedule_), sampler_(&sampler) {
            schedule::require_valid_grid(this->grid_, sampler.schedule_.num_train_timesteps());
            if (predict::needs_positive_alpha(sampler.options().prediction)) {
                require(sampler.schedule_.alpha_bar(this->grid_.front()) > T(0), "prediction_type",
                        predict::name(sampler.options().prediction),
                        "v_prediction or sample when the grid starts at a zero-SNR timestep (alphabar = 0)");
            }
            x0_.resize(shape.size);
            previous_x0_.resize(shape.size);
            noise_.resize(shape.size);
        }

    private:
        // log sqrt(ab / (1 - ab)), -inf at ab = 0 and +inf at ab = 1, in double.
        static double lambda(T ab) {
            const double a = static_cast<double>(ab);
            return std::log(std::sqrt(a / (1.0 - a)));
        }

        friend detail::stepping<run, T>;
        template <class Noise>
        void step_views(const_view<T> output, view<T> x, Noise&& noise_in) {
            this->check_buffers(output.size(), x.size());
            const auto& s = *sampler_;
            const auto& betas = s.schedule_;
            const timestep t = this->current_timestep();
            const timestep prev = target_timestep(s.options().target, t, this->next_timestep(),
                                                  betas.num_train_timesteps(), this->num_steps());
            const T ab = betas.alpha_bar(t);
            const T ab_prev =
                prev >= 0 ? betas.alpha_bar(prev) : (s.options().set_alpha_to_one ? T(1) : betas.alpha_bar(0));
            const auto d = predict::decompose(s.options().prediction, std::sqrt(ab), std::sqrt(T(1) - ab));
            x0_ = d.x0.from_x * x + d.x0.from_output * output;

            const double h = lambda(ab_prev) - lambda(ab);
            const double on_x = std::sqrt((1.0 - ab_prev) / (1.0 - static_cast<double>(ab))) * std::exp(-h);
            const double on_data = -std::expm1(-2.0 * h) * std::sqrt(static_cast<double>(ab_prev));
            const double on_noise = std::sqrt(1.0 - static_cast<double>(ab_prev)) * std::sqrt(1.0 - std::exp(-2.0 * h));

            auto&& source = noise_in;
            const view<T> storage(noise_.data(), noise_.size());
            const bool second_order = this->step_index() > 0 && prev >= 0;
            // The draw of diffusers' discarded first-order candidate.
            if (second_order) static_cast<void>(detail::acquire_noise<T>(source, storage, true, name));
            const const_view<T> z = detail::acquire_noise<T>(source, storage, true, name);
            require_size("noise.size()", z.size(), x.size());

            const std::array<const T*, 2> terms{x0_.data(), previous_x0_.data()};
            std::array<double, 2> weights{on_data, 0.0};
            if (second_order) {
                const double half_inverse_r =
                    0.5 / ((lambda(ab) - lambda(betas.alpha_bar(this->previous_timestep()))) / h);
                weights = {on_data * (1.0 + half_inverse_r), -on_data * half_inverse_r};
            }
            const std::size_t used = second_order ? 2 : 1;
            detail::combine<T>(x, const_view<T>(x.data(), x.size()), on_x,
                               std::span<const T* const>(terms.data(), used),
                               std::span<const double>(weights.data(), used), z, on_noise);
            std::swap(x0_, previous_x0_);
            this->advance();
        }

        const cogvideox_dpm* sampler_;
        buffer<T> x0_, previous_x0_, noise_;
    };

private:
    schedule::discrete<T> schedule_;
};

}  // namespace diffuse::sampler
