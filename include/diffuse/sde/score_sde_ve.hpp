// diffuse/sde/score_sde_ve.hpp: diffusers' ScoreSdeVeScheduler with its pipeline's loop as a run:
// the predictor-corrector sampler (predictor_corrector.hpp's reverse-diffusion predictor and Langevin
// corrector) on the VE process sigma(t) = sigma_min (sigma_max / sigma_min)^t, at diffusers' levels
// (58eb52c0: schedulers/scheduling_sde_ve.py, pipelines/deprecated/score_sde_ve).
//
// With N steps, t_i = linspace(1, sampling_eps, N). Step i evaluates the network, told
// sigma_i = sigma(t_i) (score_sde's VE networks take the marginal std), correct_steps + 1 times:
//   corrector  e = 2 (snr mean|z| / mean|s|)^2, x <- x + e s + sqrt(2 e) z, the norms per sample
//              and averaged over the batch (step_correct)
//   predictor  reverse diffusion (a = 1) from rung k to rung k - 1 of the ladder sigma(j / (N - 1)),
//              j = 0 .. N - 1 (discrete_sigmas), rung -1 being sigma 0: x <- x + G^2 s + G z,
//              G^2 = sigma_k^2 - sigma_{k-1}^2, k = floor(t_i (N - 1)) (step_pred)
// The model output is the score. Every evaluation draws noise of x's size, the last predictor's too
// (as diffusers); the last step leaves its noise-free mean in x (the pipeline's result, before its
// clamp to [0, 1]). k is computed exactly, N - 1 - i + floor(i sampling_eps): diffusers truncates
// t_i (N - 1) in its tensor precision, which can land one rung lower where that product is an
// integer (sampling_eps = 0, or i sampling_eps an integer), never with the default 1e-5 below 1e5 steps.
#pragma once

#include <cmath>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"
#include "diffuse/sampler/sigma_run.hpp"
#include "diffuse/schedule/process.hpp"
#include "diffuse/sde/predictor_corrector.hpp"

namespace diffuse::sde {

// Defaults are diffusers' ScoreSdeVeScheduler defaults.
template <Real T>
struct score_sde_ve_options {
    T snr = T(0.15);
    T sigma_min = T(0.01);
    T sigma_max = T(1348);
    T sampling_eps = T(1e-5);
    index correct_steps = 1;

    void validate() const {
        require(std::isfinite(snr) && snr >= T(0), "snr", snr, "a finite number >= 0");
        require(std::isfinite(sigma_min) && sigma_min > T(0), "sigma_min", sigma_min, "a finite number > 0");
        require(std::isfinite(sigma_max) && sigma_max > sigma_min, "sigma_max", sigma_max,
                "a finite number > sigma_min");
        require(sampling_eps >= T(0) && sampling_eps < T(1), "sampling_eps", sampling_eps, "in [0, 1)");
        require(correct_steps >= 0, "correct_steps", correct_steps, "an integer >= 0");
    }
};

// diffusers' set_timesteps(N) + set_sigmas(N): the evaluation levels (sigma_i, alpha 1, model time
// sigma_i, then sigma 0) and, per step, the rungs its predictor moves between.
template <Real T>
struct score_sde_ve_grid {
    schedule::sigma_grid<T> levels;
    std::vector<T> predictor_from, predictor_to;
};

template <Real T>
class score_sde_ve
    : public sampler::detail::sampler_shell<score_sde_ve<T>, score_sde_ve_options<T>, score_sde_ve_grid<T>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "ScoreSdeVe";

    using score_sde_ve::sampler_shell::sampler_shell;

    [[nodiscard]] score_sde_ve_grid<T> grid(index steps) const {
        require(steps >= 1, "num_inference_steps", steps, "an integer >= 1");
        const auto& o = this->options();
        const auto ve =
            schedule::process<double>::ve(static_cast<double>(o.sigma_min), static_cast<double>(o.sigma_max));
        const double eps = static_cast<double>(o.sampling_eps), last = static_cast<double>(steps - 1);
        std::vector<schedule::noise_level<T>> levels;
        std::vector<T> from, to;
        for (index i = 0; i < steps; ++i) {
            const double t = steps == 1 ? 1.0 : 1.0 + (eps - 1.0) * static_cast<double>(i) / last;
            const double sigma = ve.sigma(t);
            levels.push_back({static_cast<T>(sigma), T(1), sigma});
            const index rung = steps - 1 - i + static_cast<index>(std::floor(static_cast<double>(i) * eps));
            const auto ladder = [&](index j) {
                return steps == 1 ? ve.sigma(0.0) : ve.sigma(static_cast<double>(j) / last);
            };
            from.push_back(static_cast<T>(ladder(rung)));
            to.push_back(rung == 0 ? T(0) : static_cast<T>(ladder(rung - 1)));
        }
        levels.push_back({T(0), T(1), 0.0});
        return {schedule::sigma_grid<T>(std::move(levels), o.sigma_max), std::move(from), std::move(to)};
    }

    class run : public sampler::detail::sigma_run_state<T>, public sampler::detail::stepping<run, T> {
    public:
        run(const score_sde_ve& sampler, score_sde_ve_grid<T> grid, sampler::layout shape)
            : sampler::detail::sigma_run_state<T>(std::move(grid.levels), shape, sampler::state_space::denoiser,
                                                  predict::prediction::score),
              sampler_(&sampler),
              from_(std::move(grid.predictor_from)),
              to_(std::move(grid.predictor_to)) {
            noise_.resize(shape.size);
        }

        [[nodiscard]] double model_time() const { return this->current_level().model_time; }
        [[nodiscard]] T input_scale() const { return T(1); }
        // Corrector evaluations done in the current step (the predictor's comes after correct_steps).
        [[nodiscard]] index corrections_done() const { return corrections_; }

    private:
        // One evaluation's output (the score). Every evaluation draws: the noise, a source or a buffer of
        // x.size() values, is required.
        friend sampler::detail::stepping<run, T>;
        template <class Noise>
        void step_views(const_view<T> score, view<T> x, Noise&& noise_in) {
            require(!this->done(), "step_index", this->step_index(), "< num_steps (the run has finished)");
            this->check_buffers(score.size(), x.size());
            const const_view<T> noise =
                sampler::detail::acquire_noise<T>(noise_in, view<T>(noise_.data(), noise_.size()), true, name);
            require_size("noise.size()", noise.size(), x.size());
            const auto& o = sampler_->options();
            if (corrections_ < o.correct_steps) {
                const T ratio = langevin_norm_ratio(noise, score, this->shape_.sample_size());
                langevin_move(x, score, noise, langevin_step_size(T(1), o.snr, ratio));
                ++corrections_;
                return;
            }
            const auto i = static_cast<std::size_t>(this->step_index());
            const bool last = this->step_index() + 1 == this->num_steps();
            apply_predictor(reverse_diffusion_step(T(1), from_[i], to_[i]), x, score,
                            last ? const_view<T>(nullptr, 0) : noise);
            corrections_ = 0;
            this->advance();
        }

        const score_sde_ve* sampler_;
        std::vector<T> from_, to_;
        buffer<T> noise_;
        index corrections_ = 0;
    };
};

}  // namespace diffuse::sde
