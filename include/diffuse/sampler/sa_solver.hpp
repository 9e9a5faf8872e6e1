// diffuse/sampler/sa_solver.hpp: SA-Solver, the stochastic Adams predictor-corrector of Xue et al.
// 2023 ("SA-Solver: Stochastic Adams Solver for Fast Sampling of Diffusion Models"), as diffusers'
// SASolverScheduler.
//
// It solves the variance-controlled diffusion SDE with noise scale tau (tau = 0: the probability-flow
// ODE; tau = 1: the reverse SDE) by variation of constants in lambda = log(alpha/sigma), with the
// integrand (x0 for "data_prediction", eps for "noise_prediction") replaced by its Lagrange polynomial
// through earlier model outputs: detail::stochastic_exponential_weights gives the exact integrals.
//   SA-Predictor (a stochastic Adams-Bashforth step, order p): from level s to level t through the
//     outputs at s and the p - 1 levels before it, noise z_s;
//   SA-Corrector (a stochastic Adams-Moulton step, order c): once the model has been evaluated at
//     the predicted x_t, the step from s is redone from the same x_s with the same z_s, the new
//     output at t joining the nodes; the next predictor starts from the corrected x_t.
// With the data integrand, order-2 steps replace the exact weight of the linear term, alpha_t
// (H - 1 + e^{-H}) / (1 + tau^2) per unit of lambda (H = (1 + tau^2) h), by alpha_t (1 + tau^2) h^2 / 2
// (diffusers' and the authors' modification, "similar to UniPC", for few-step sampling).
// tau is a function of the model time (diffusers' tau_func); the corrector uses the tau of the step
// it corrects. Like diffusers, a run draws one noise per step whatever tau is, so a replayed stream
// stays aligned; a run without a noise argument is possible when tau is 0 everywhere.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include "diffuse/sampler/detail/exponential_integrator.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"

namespace diffuse::sampler {

// tau as a function of the model time: `inside` on [from, to], `outside` elsewhere. The default is
// diffusers' tau_func, `lambda t: 1 if t >= 200 and t <= 800 else 0`; {0, 0} is the ODE, {1, 1} the SDE.
struct sa_tau {
    double inside = 1.0;
    double outside = 0.0;
    double from = 200.0;
    double to = 800.0;

    [[nodiscard]] double operator()(double model_time) const {
        return model_time >= from && model_time <= to ? inside : outside;
    }
    [[nodiscard]] bool deterministic() const { return inside == 0.0 && outside == 0.0; }
    void validate() const {
        require(std::isfinite(inside) && inside >= 0.0, "tau.inside", inside, "a finite number >= 0");
        require(std::isfinite(outside) && outside >= 0.0, "tau.outside", outside, "a finite number >= 0");
        require(!std::isnan(from) && !std::isnan(to), "tau window", "NaN", "numbers (from <= to)");
    }
};

// Defaults are diffusers' SASolverScheduler defaults.
template <Real T>
struct sa_solver_options {
    predict::prediction prediction = predict::prediction::epsilon;
    index predictor_order = 2;    // 1 to 4
    index corrector_order = 2;    // 1 to 4
    bool data_prediction = true;  // algorithm_type "data_prediction" (x0 integrand) or "noise_prediction"
    bool lower_order_final = true;
    sa_tau tau{};
    std::optional<predict::dynamic_thresholding<T>> thresholding{};  // data_prediction only
    bool learned_variance = false;

    void validate() const {
        require(predictor_order >= 1 && predictor_order <= 4, "predictor_order", predictor_order, "1, 2, 3 or 4");
        require(corrector_order >= 1 && corrector_order <= 4, "corrector_order", corrector_order, "1, 2, 3 or 4");
        tau.validate();
        if (thresholding) {
            // diffusers' noise_prediction thresholding indexes alpha_t with a removed argument and fails.
            require(data_prediction, "thresholding", "true", "false with algorithm_type \"noise_prediction\"");
            thresholding->validate();
        }
    }
};

template <Real T>
class sa_solver : public detail::sampler_shell<sa_solver<T>, sa_solver_options<T>, sigma_grid<T>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "SASolver";

    using sa_solver::sampler_shell::sampler_shell;

    class run : public detail::exponential_run<T>, public detail::stepping<run, T> {
    public:
        run(const sa_solver& sampler, sigma_grid<T> grid, layout shape)
            : detail::exponential_run<T>(
                  std::move(grid), shape, sampler.options().prediction,
                  sampler.options().data_prediction ? detail::integrand::data : detail::integrand::noise,
                  std::max(sampler.options().predictor_order, sampler.options().corrector_order),
                  {.clip_range = {}, .thresholding = sampler.options().thresholding},
                  sampler.options().learned_variance),
              options_(sampler.options()) {
            // lambda is infinite at sigma 0: SA-Solver's grids end at the smallest training sigma.
            require(this->grid_[this->num_steps()].sigma > T(0), "levels.back().sigma", T(0),
                    "> 0 (SA-Solver's polynomial weights need a finite lambda; diffusers ends at sigma_min)");
            last_sample_.resize(shape.size);
            noise_.resize(shape.size);
            last_noise_.resize(shape.size);
        }

        // The predictor's order at step i (diffusers' this_predictor_order: warm-up, lower_order_final).
        [[nodiscard]] index predictor_order_at(index i) const {
            const index n = this->num_steps();
            index order =
                options_.lower_order_final ? std::min(options_.predictor_order, n - i) : options_.predictor_order;
            return std::min(order, i + 1);
        }
        // The order of the corrector that redoes step i once the model has been evaluated after it.
        [[nodiscard]] index corrector_order_at(index i) const {
            const index n = this->num_steps();
            index order =
                options_.lower_order_final ? std::min(options_.corrector_order, n - i + 1) : options_.corrector_order;
            return std::min(order, i + 2);
        }

    private:
        friend detail::stepping<run, T>;
        template <class Noise>
        void step_views(const_view<T> output, view<T> x, Noise&& noise) {
            const index i = this->step_index();
            const noise_level<T>& level = this->current_level();
            this->record(output, cflat(x), level);
            static constexpr std::array<index, 4> ages{0, 1, 2, 3};
            if (i > 0) {  // SA-Corrector: redo step i - 1 with the output at its end point among the nodes
                const noise_level<T>& from = this->grid_[i - 1];
                const auto order = corrector_order_at(i - 1);
                const auto weights = sa_weights(from, level, tau_previous_, order);
                this->interpolated_update(x, const_view<T>(last_sample_.data(), x.size()), from, level, weights,
                                          std::span<const index>(ages.data(), static_cast<std::size_t>(order)),
                                          const_view<T>(last_noise_.data(), x.size()));
            }
            // Drawn on every step, as diffusers does; needed when tau is not 0 here.
            const double tau = options_.tau(level.model_time);
            constexpr bool given = !std::is_same_v<std::remove_cvref_t<Noise>, detail::no_noise<T>>;
            const const_view<T> z =
                detail::acquire_noise<T>(noise, view<T>(noise_.data(), noise_.size()), given || tau != 0.0, name);
            if (z.size() > 0) {
                require_size("noise.size()", z.size(), x.size());
                last_noise_ = z;
            }
            last_sample_ = x;
            tau_previous_ = tau;
            // SA-Predictor from the (corrected) x at this level to the next one.
            const auto order = predictor_order_at(i);
            const auto weights = sa_weights(level, this->next_level(), tau, order);
            this->interpolated_update(x, cflat(x), level, this->next_level(), weights,
                                      std::span<const index>(ages.data(), static_cast<std::size_t>(order)),
                                      const_view<T>(last_noise_.data(), x.size()));
            this->advance();
        }

        // The exact weights of the tau-SDE step, with the order-2 modification of the data integrand
        // (the linear term's weight alpha_t H / 2 in r = (lambda - lambda_s)/h, H = (1 + tau^2) h).
        [[nodiscard]] detail::exponential_step sa_weights(const noise_level<T>& from, const noise_level<T>& to,
                                                          double tau, index order) const {
            const detail::vp_point s = detail::point(from), t = detail::point(to);
            detail::exponential_step step = detail::stochastic_exponential_weights(options_.data_prediction, tau, s, t);
            if (options_.data_prediction && order == 2)
                step.weight[1] = t.alpha * (1.0 + tau * tau) * detail::step_length(s, t) / 2.0;
            return step;
        }

        sa_solver_options<T> options_;
        buffer<T> last_sample_, noise_, last_noise_;
        double tau_previous_ = 0.0;
    };
};

}  // namespace diffuse::sampler
