// diffuse/sampler/detail/kdiffusion.hpp: what the k-diffusion-form samplers (Euler ancestral, Heun,
// DPM2(a), LMS, EDM, DPM++ 2S a / SDE / 2M SDE / 3M SDE, adaptive DPM-Solver) share:
//   - the Karras ODE derivative d = (x - x0)/sigma (Karras et al. 2022, eq. 3 with x0 = D(x; sigma)),
//   - the ancestral split of a step into sigma_down and sigma_up (k-diffusion get_ancestral_step),
//   - the data-prediction exponential transfer of DPM-Solver++ and its SDE form,
//   - a run base for samplers that evaluate the model several times per grid step.
// All of them live in the denoiser state x = x0 + sigma eps (state_space::denoiser).
#pragma once

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string_view>
#include <utility>

#include "diffuse/sampler/detail/stepping.hpp"
#include "diffuse/sampler/detail/update.hpp"
#include "diffuse/sampler/level_map.hpp"
#include "diffuse/sampler/sigma_run.hpp"

namespace diffuse::sampler::detail {

// d = (x - x0)/sigma with x0 = a x + b output: d = ((1 - a)/sigma) x - (b/sigma) output.
template <Real T>
predict::linear_form<T> derivative_form(const predict::linear_form<T>& x0, T sigma) {
    return {(T(1) - x0.from_x) / sigma, -x0.from_output / sigma};
}

// Ancestral sampling (Song et al. 2021, DDPM's reverse step written in sigma): a step from sigma
// to sigma' goes deterministically down to sigma_down and adds fresh noise of std sigma_up, with
// sigma_down^2 + sigma_up^2 = sigma'^2 and sigma_up = min(sigma', eta sqrt(sigma'^2 (sigma^2 - sigma'^2)/sigma^2)).
template <Real T>
struct ancestral_split {
    T down;
    T up;
};

template <Real T>
ancestral_split<T> ancestral_step(T from, T to, T eta) {
    if (eta == T(0)) return {to, T(0)};
    const T up = std::min(to, eta * std::sqrt(to * to * (from * from - to * to) / (from * from)));
    return {std::sqrt(to * to - up * up), up};
}

// DPM-Solver++ first-order step in the data prediction (Lu et al. 2022b, "DPM-Solver++", eq. 9
// with lambda = -log sigma in the k-diffusion form): x' = (sigma'/sigma) x - expm1(-h) x0,
// h = log(sigma / sigma').
template <Real T>
struct exponential_transfer {
    T on_x;
    T on_x0;
};

template <Real T>
exponential_transfer<T> data_transfer(T sigma, T sigma_to) {
    const T h = std::log(sigma) - std::log(sigma_to);
    return {std::exp(-h), -std::expm1(-h)};
}

// Its SDE form (DPM-Solver++ SDE, Lu et al. 2022b eq. 15-16 / k-diffusion sample_dpmpp_2m_sde),
// with eta scaling the injected noise:
//   x' = (sigma'/sigma) e^{-eta h} x + (1 - e^{-(1 + eta) h}) x0 + sigma' sqrt(1 - e^{-2 eta h}) z.
// `phi` = 1 - e^{-(1 + eta) h} also weighs the multistep corrections.
template <Real T>
struct sde_transfer {
    T h;
    T on_x;
    T phi;
    T noise;
};

template <Real T>
sde_transfer<T> data_sde_transfer(T sigma, T sigma_to, T eta) {
    const T h = std::log(sigma) - std::log(sigma_to);
    const T eta_h = eta * h;
    return {h, sigma_to / sigma * std::exp(-eta_h), -std::expm1(-h - eta_h),
            sigma_to * std::sqrt(-std::expm1(T(-2) * eta_h))};
}

// exp of the midpoint in log sigma: sqrt(a b), as diffusers' KDPM2 computes it (log-lerp-exp).
template <Real T>
T geometric_midpoint(T a, T b) {
    const T la = std::log(a), lb = std::log(b);
    return std::exp(lb - (lb - la) * T(0.5));
}

// The multistep correction of DPM-Solver++(2M) SDE (k-diffusion sample_dpmpp_2m_sde): the weight
// of (x0 - x0_previous) given r = h_previous / h. midpoint: phi / (2r); heun: (1 - phi/((1 + eta) h)) / r
// (the latter is also DPM-Solver++(3M) SDE's second step, Lu et al. 2022b eq. 16 with phi_2).
template <Real T>
T sde_phi_2(const sde_transfer<T>& tr, T eta) {
    return T(1) - tr.phi / ((T(1) + eta) * tr.h);
}

// Karras et al. 2022, Algorithm 2 line 4: gamma_i = min(S_churn / N, sqrt(2) - 1) for sigma_i in
// [S_tmin, S_tmax], else 0.
template <Real T>
T churn_gamma(T s_churn, index steps, T sigma, T s_tmin, T s_tmax) {
    if (!(s_churn > T(0) && s_tmin <= sigma && sigma <= s_tmax)) return T(0);
    return std::min(s_churn / static_cast<T>(steps), std::numbers::sqrt2_v<T> - T(1));
}

// The noise options shared by the ancestral and SDE samplers.
template <Real T>
void validate_noise_options(T eta, T s_noise) {
    require(eta >= T(0) && std::isfinite(eta), "eta", eta, "a finite number >= 0");
    require(s_noise >= T(0) && std::isfinite(s_noise), "s_noise", s_noise, "a finite number >= 0");
}

// Run base of the k-diffusion-form samplers. The level the model is evaluated at next (a grid level
// or one between grid levels) is `evaluation()`; `stage()` counts the evaluations done within the
// current grid step. Derived runs implement update(output, x, noise) for one model evaluation and
// call evaluate_at() to ask for another evaluation in the same step, or finish_step().
template <Real T, class Derived>
class kdiffusion_run : public sigma_run_state<T>, public stepping<kdiffusion_run<T, Derived>, T> {
public:
    kdiffusion_run(sigma_grid<T> grid, layout shape, predict::prediction prediction, std::string_view name)
        : sigma_run_state<T>(std::move(grid), shape, state_space::denoiser, prediction),
          name_(name),
          eval_(this->grid_[0]) {}

    // The level of the next model evaluation (diffusers' sigma of scale_model_input).
    [[nodiscard]] const noise_level<T>& evaluation() const {
        require(!this->done(), "step_index", this->step_, "< num_steps (the run has finished)");
        return eval_;
    }
    [[nodiscard]] double model_time() const { return evaluation().model_time; }
    [[nodiscard]] T input_scale() const { return evaluation().alpha; }
    [[nodiscard]] index stage() const { return stage_; }
    // sigma_run_state::skip_to, and the next evaluation at the new grid step.
    void skip_to(index k) {
        require(stage_ == 0, "skip_to()", "a call after step()", "a call before the first step");
        sigma_run_state<T>::skip_to(k);
        eval_ = this->grid_[k];
    }
    [[nodiscard]] const noise_level<T>& evaluation_level() const { return evaluation(); }
    [[nodiscard]] evaluation_context<T> context() { return context_of(*this); }

private:
    friend stepping<kdiffusion_run, T>;
    template <class Noise>
    void step_views(const_view<T> output, view<T> x, Noise&& noise) {
        this->check_buffers(output.size(), x.size());
        (void)evaluation();
        static_cast<Derived&>(*this).update(output, x, noise);
    }

protected:
    // x0 and d of the model output at the evaluation level.
    [[nodiscard]] predict::linear_form<T> x0_form() const { return this->decompose(eval_).x0; }
    [[nodiscard]] predict::linear_form<T> derivative() const { return derivative_form(x0_form(), eval_.sigma); }

    void evaluate_at(const noise_level<T>& level) {
        eval_ = level;
        ++stage_;
    }
    void finish_step() {
        stage_ = 0;
        this->advance();
        if (!this->done()) eval_ = this->grid_[this->step_];
    }
    void reserve_noise() { noise_.resize(this->shape_.size); }
    // Standard normal noise for this update (from the caller's source or buffer); throws if none was given.
    template <class Noise>
    const_view<T> draw(Noise& noise) {
        const const_view<T> z = acquire_noise<T>(noise, view<T>(noise_.data(), noise_.size()), true, name_);
        require_size("noise.size()", z.size(), this->shape_.size);
        return z;
    }
    // x = on_x x + on_output output [+ on_noise z], one pass.
    static void combine(view<T> x, const_view<T> output, T on_x, T on_output) { x = on_x * x + on_output * output; }
    static void combine(view<T> x, const_view<T> output, T on_x, T on_output, const_view<T> z, T on_noise) {
        x = on_x * x + on_output * output + on_noise * z;
    }
    // Coefficients (on_x, on_output) of an Euler step of the Karras ODE from the evaluation level
    // to sigma_to: x' = x + (sigma_to - sigma) d (Karras et al. 2022, Algorithm 2 line 5-6).
    [[nodiscard]] std::pair<T, T> euler_to(T sigma_to) const {
        const auto d = derivative();
        const T dt = sigma_to - eval_.sigma;
        return {T(1) + dt * d.from_x, dt * d.from_output};
    }
    // The last step of most samplers: Euler from the evaluation level down to sigma_to (0: x = x0),
    // plus s_noise sigma_up z for the ancestral ones.
    template <class Noise>
    void euler_step(const_view<T> output, view<T> x, T sigma_to, T sigma_up, T s_noise, Noise& noise) {
        const auto [on_x, on_output] = euler_to(sigma_to);
        if (sigma_up > T(0) && s_noise > T(0)) {
            combine(x, output, on_x, on_output, draw(noise), s_noise * sigma_up);
        } else {
            combine(x, output, on_x, on_output);
        }
    }

    std::string_view name_;
    noise_level<T> eval_;
    index stage_ = 0;
    buffer<T> noise_;
};

}  // namespace diffuse::sampler::detail
