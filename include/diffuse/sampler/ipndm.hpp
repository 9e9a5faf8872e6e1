// diffuse/sampler/ipndm.hpp: improved PNDM (Zhang & Chen 2023, "Fast Sampling of Diffusion Models
// with Exponential Integrator", sec. 5 and App. D; diffusers' IPNDMScheduler). PNDM's linear multistep without its
// Runge-Kutta warm-up: the order ramps up from one (DDIM) with the eps history instead,
//   e = Adams-Bashforth combination of eps_i, eps_{i-1}, ... (weights 1; 3/2, -1/2; 23/12, ...; 55/24, ...),
//   x_{i+1} = DDIM transfer of x_i with e from sigma_i to sigma_{i+1}:
//     denoiser state x = x0 + sigma eps:  x' = x + (sigma' - sigma) e          (the Karras ODE form, d = eps)
//     model state  x = alpha x0 + alpha sigma eps:  x' = alpha' (x/alpha + (sigma' - sigma) e)   (diffusers')
// Both are the same method; it runs on any sigma grid. diffusers' own schedule is ipndm_grid().
#pragma once

#include <cmath>
#include <limits>
#include <numbers>
#include <span>
#include <string_view>
#include <vector>

#include "diffuse/sampler/detail/pseudo_numerical.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"
#include "diffuse/sampler/sigma_run.hpp"

namespace diffuse::sampler {

// The k-diffusion sigma that stands for sigma_t = 1 (alpha_t = 0) in an IPNDM grid (ipndm_grid).
template <Real T>
inline constexpr T pure_noise_sigma = std::numeric_limits<T>::max();

template <Real T>
struct ipndm_options {
    predict::prediction prediction = predict::prediction::epsilon;
    index order = 4;  // the highest Adams-Bashforth order used; diffusers uses 4
    state_space space = state_space::denoiser;

    void validate() const { require(order >= 1 && order <= 4, "order", order, "an integer in [1, 4]"); }
};

template <Real T>
class ipndm : public detail::sampler_shell<ipndm<T>, ipndm_options<T>, sigma_grid<T>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "iPNDM";

    using ipndm::sampler_shell::sampler_shell;

    class run : public detail::sigma_run_state<T>, public detail::stepping<run, T> {
    public:
        run(const ipndm& sampler, sigma_grid<T> grid, layout shape)
            : detail::sigma_run_state<T>(std::move(grid), shape, sampler.options().space, sampler.options().prediction),
              history_(sampler.options().order, shape.size) {}

        [[nodiscard]] double model_time() const { return this->current_level().model_time; }
        [[nodiscard]] T input_scale() const { return this->input_scale_at(this->current_level()); }

    private:
        // iPNDM is deterministic: stepping passes no noise here.
        friend detail::stepping<run, T>;
        void step_views(const_view<T> out, view<T> x) {
            this->check_buffers(out.size(), x.size());
            const auto& level = this->current_level();
            const auto& next = this->next_level();
            if (level.sigma == pure_noise_sigma<T>) {
                // sigma_t = 1, alpha_t = 0: x = eps and x0 is unreadable; diffusers' alpha clamp reads it
                // as 0, so x' = sigma_t' eps (the model's output has weight alpha_t = 0).
                require(this->space_ == state_space::model, "space", "denoiser",
                        "state_space::model for a grid that starts at sigma_t = 1");
                history_.push_multistep(x, out, {T(1), T(0)}, {T(0), next.sigma * next.alpha});
                this->advance();
                return;
            }
            history_.push_multistep(x, out, this->decompose(level).eps,
                                    detail::ddim_transfer(level.sigma, level.alpha, next.sigma, next.alpha,
                                                          this->space_ == state_space::model));
            this->advance();
        }

        detail::eps_history<T> history_;
    };
};

// diffusers' IPNDMScheduler grid from the network's noise levels sigma_t (its `trained_betas`):
// alpha_t = sqrt(1 - sigma_t^2), model time = atan2(sigma_t, alpha_t) * 2 / pi, in the k-diffusion
// form sigma = sigma_t / alpha_t. `model_sigmas` decreases strictly from at most 1 to 0; a first
// sigma_t = 1 (alpha_t = 0, pure noise, where diffusers' default grid starts) has no finite
// k-diffusion sigma and is stored as pure_noise_sigma, which ipndm steps as diffusers does.
template <Real T>
sigma_grid<T> ipndm_grid(std::span<const double> model_sigmas) {
    require(model_sigmas.size() >= 2, "model_sigmas.size()", model_sigmas.size(),
            "at least 2 (one step and its end point)");
    std::vector<noise_level<T>> levels;
    for (std::size_t i = 0; i < model_sigmas.size(); ++i) {
        const T s = static_cast<T>(model_sigmas[i]);
        if (i == 0 && s == T(1)) {
            levels.push_back({pure_noise_sigma<T>, std::numeric_limits<T>::min(), 1.0});
            continue;
        }
        if (!(s >= T(0) && s < T(1))) {
            throw invalid("model_sigmas[" + std::to_string(i) + "]", s,
                          "[0, 1) (sigma_t = 1, alpha_t = 0, only as the first level)");
        }
        const T alpha = std::sqrt(T(1) - s * s);
        levels.push_back({s / alpha, alpha, static_cast<double>(std::atan2(s, alpha) / std::numbers::pi_v<T> * T(2))});
    }
    return sigma_grid<T>(std::move(levels), T(1));
}

// diffusers' default IPNDMScheduler schedule, sigma_t = sin^2(pi s / 2) at s = linspace(start, 0, n + 1).
// diffusers starts at s = 1 (sigma_t = 1, alpha_t = 0: pure noise, where it divides by max(alpha, 1e-8)
// and so discards the model's x0 in its first step); the default here starts just below, where the
// first step reads it.
inline std::vector<double> ipndm_model_sigmas(index steps, double start = 1.0 - 1e-3) {
    require(steps >= 1, "num_inference_steps", steps, "an integer >= 1");
    require(start > 0.0 && start <= 1.0, "start", start, "(0, 1]");
    std::vector<double> out(static_cast<std::size_t>(steps + 1));
    for (index i = 0; i <= steps; ++i) {
        const double s = start * static_cast<double>(steps - i) / static_cast<double>(steps);
        const double root = std::sin(s * std::numbers::pi / 2.0);
        out[static_cast<std::size_t>(i)] = root * root;
    }
    return out;
}

}  // namespace diffuse::sampler
