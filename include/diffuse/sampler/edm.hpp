// diffuse/sampler/edm.hpp: the stochastic Heun sampler of Karras et al. 2022 ("EDM"), Algorithm 2
// (k-diffusion sample_heun with s_churn). Before the model is evaluated at sigma_i, x is raised to
//   sigma_hat = sigma_i (1 + gamma_i),  gamma_i = min(S_churn/N, sqrt(2) - 1) on [S_tmin, S_tmax],
//   x_hat = x + S_noise sqrt(sigma_hat^2 - sigma_i^2) z                           (lines 4-6),
// then a Heun step from sigma_hat to sigma_{i+1} follows (lines 7-11, sampler/heun.hpp).
//
// Churn before the evaluation, on the step API: the user's x always holds the point where the
// model is evaluated next, so the churn of step i + 1 is applied at the end of step i (with the
// noise passed to that step() call), and the churn of step 0 by run.begin(x, noise), which
// diffuse::sample() calls before the first evaluation. model_time() and input_scale() describe
// sigma_hat (from the level map: sigma_hat is in general not on the grid). Without churn this is
// exactly heun.
#pragma once

#include <cmath>
#include <limits>
#include <string_view>

#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/heun.hpp"

namespace diffuse::sampler {

template <Real T>
struct edm_options {
    predict::prediction prediction = predict::prediction::epsilon;
    T s_churn = T(0);
    T s_tmin = T(0);
    T s_tmax = std::numeric_limits<T>::infinity();
    T s_noise = T(1);
    // alpha and model time at sigma_hat; empty: read off the grid (grid_levels).
    level_map<T> levels = {};

    void validate() const {
        require(s_churn >= T(0) && std::isfinite(s_churn), "s_churn", s_churn, "a finite number >= 0");
        require(s_tmin >= T(0) && s_tmin <= s_tmax, "s_tmin", s_tmin, "in [0, s_tmax]");
        require(s_noise >= T(0) && std::isfinite(s_noise), "s_noise", s_noise, "a finite number >= 0");
    }
};

template <Real T>
class edm : public detail::sampler_shell<edm<T>, edm_options<T>, sigma_grid<T>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "EDM";

    using edm::sampler_shell::sampler_shell;

    class run : public detail::heun_stages<T, run> {
        using base = detail::heun_stages<T, run>;
        friend detail::kdiffusion_run<T, run>;

    public:
        run(const edm& sampler, sigma_grid<T> grid, layout shape)
            : base(std::move(grid), shape, sampler.options().prediction, name), options_(sampler.options()) {
            if (options_.s_churn > T(0)) {
                levels_ = options_.levels ? options_.levels : grid_levels(this->grid_);
                this->reserve_noise();
            }
        }

        // Starts at grid step k (img2img), before begin() and the first step.
        void skip_to(index k) {
            require(!begun_, "skip_to()", "a call after begin()", "a call before begin() and the first step");
            base::skip_to(k);
        }

        // Churns x for the first evaluation (a no-op when step 0 has no churn). Call it once, before
        // the first model evaluation.
        template <class X>
        void begin(X&& x) {
            detail::no_noise<T> none;
            begin(x, none);
        }
        template <class X, class Noise>
        void begin(X&& x_in, Noise&& noise_in) {
            require(this->steps_taken() == 0 && this->stage() == 0 && !begun_, "begin()",
                    "a second call or a call after step()", "one call before the first model evaluation");
            const view<T> x = flat(x_in);
            require_size("x.size()", x.size(), this->shape().size);
            auto&& noise = detail::to_noise_argument<T>(noise_in);
            churn(x, noise);
        }

    private:
        template <class Noise>
        void update(const_view<T> output, view<T> x, Noise& noise) {
            require(begun_ || gamma(this->begin_index()) == T(0), "begin()", "not called",
                    "run.begin(x, noise) before the first model evaluation "
                    "(step 0 is churned; diffuse::sample() calls it)");
            if (!this->heun_update(output, x)) return;
            this->finish_step();
            if (!this->done()) churn(x, noise);
        }

        [[nodiscard]] T gamma(index i) const {
            return detail::churn_gamma(options_.s_churn, this->num_steps(), this->grid_[i].sigma, options_.s_tmin,
                                       options_.s_tmax);
        }
        // Algorithm 2 lines 4-6 for the current grid step.
        template <class Noise>
        void churn(view<T> x, Noise& noise) {
            begun_ = true;
            const T g = gamma(this->step_index());
            if (g == T(0)) return;
            const T sigma = this->grid_[this->step_index()].sigma, sigma_hat = sigma * (g + T(1));
            const const_view<T> z = this->draw(noise);
            x += (options_.s_noise * std::sqrt(sigma_hat * sigma_hat - sigma * sigma)) * z;
            this->eval_ = levels_(sigma_hat);
        }

        edm_options<T> options_;
        level_map<T> levels_;
        bool begun_ = false;
    };
};

}  // namespace diffuse::sampler
