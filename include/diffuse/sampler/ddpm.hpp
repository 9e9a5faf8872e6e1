// diffuse/sampler/ddpm.hpp: ancestral sampling of Denoising Diffusion Probabilistic Models
// (Ho, Jain, Abbeel 2020), on any grid of timesteps.
//
// One step from t to the next grid entry t' samples the posterior q(x_t' | x_t, x0) (eq. 6-7)
// with beta_t = 1 - ab_t / ab_t' (the effective beta between the two grid entries):
//   mean     = sqrt(ab_t') beta_t / (1 - ab_t) x0 + sqrt(1 - beta_t) (1 - ab_t') / (1 - ab_t) x_t
//   variance = (1 - ab_t') / (1 - ab_t) beta_t                 (fixed_small, "beta tilde")
//            | beta_t                                          (fixed_large)
//            | exp(v log beta_t + (1 - v) log beta_tilde), v = (out + 1) / 2   (learned_range,
//              Nichol & Dhariwal 2021, eq. 15, from the second half of the model's channels)
// No noise is added at t = 0.
#pragma once

#include <algorithm>
#include <cmath>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "diffuse/predict/parameterization.hpp"
#include "diffuse/predict/thresholding.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"
#include "diffuse/sampler/detail/update.hpp"
#include "diffuse/sampler/run.hpp"
#include "diffuse/schedule/discrete.hpp"

namespace diffuse::sampler {

// diffusers' `variance_type` names.
enum class variance_type { fixed_small, fixed_small_log, fixed_large, fixed_large_log, learned, learned_range };

inline constexpr std::string_view variance_type_names =
    "fixed_small, fixed_small_log, fixed_large, fixed_large_log, learned, learned_range";

inline variance_type parse_variance_type(std::string_view name) {
    if (name == "fixed_small") return variance_type::fixed_small;
    if (name == "fixed_small_log") return variance_type::fixed_small_log;
    if (name == "fixed_large") return variance_type::fixed_large;
    if (name == "fixed_large_log") return variance_type::fixed_large_log;
    if (name == "learned") return variance_type::learned;
    if (name == "learned_range") return variance_type::learned_range;
    throw invalid("variance_type", name, variance_type_names);
}

// Learned variances come as a second block of channels: per sample, the model output holds the
// prediction (sample_size values) followed by the variance values (sample_size values), which is
// diffusers' split of a [B, 2C, H, W] output along the channel axis.
inline constexpr bool is_learned(variance_type v) {
    return v == variance_type::learned || v == variance_type::learned_range;
}

// Defaults are diffusers' DDPMScheduler defaults.
template <Real T>
struct ddpm_options {
    predict::prediction prediction = predict::prediction::epsilon;
    variance_type variance = variance_type::fixed_small;
    predict::x0_processing<T> x0{.clip_range = T(1), .thresholding = {}};
    // diffusers' UnCLIPScheduler: a step from t to t - 1 takes beta_t from the schedule instead of
    // 1 - ab_t / ab_{t-1} (equal in exact arithmetic; in float32 the latter keeps ~7 digits of 1 - beta).
    bool schedule_beta_on_unit_steps = false;

    void validate() const { x0.validate(); }
};

template <Real T>
class ddpm : public detail::sampler_shell<ddpm<T>, ddpm_options<T>, std::vector<timestep>, std::span<const timestep>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "DDPM";

    explicit ddpm(schedule::discrete<T> noise_schedule, ddpm_options<T> options = {})
        : ddpm::sampler_shell(options), schedule_(std::move(noise_schedule)) {}

    [[nodiscard]] const schedule::discrete<T>& noise_schedule() const { return schedule_; }

    struct transition {
        T ab, ab_prev, beta;  // beta = 1 - ab / ab_prev
        [[nodiscard]] T posterior_variance() const {
            // diffusers clamps at 1e-20 so that log() stays finite at t = 0.
            return std::max((T(1) - ab_prev) / (T(1) - ab) * beta, T(1e-20));
        }
    };
    [[nodiscard]] transition between(timestep t, timestep prev) const {
        const T ab = schedule_.alpha_bar(t);
        const T ab_prev = prev >= 0 ? schedule_.alpha_bar(prev) : T(1);
        if (this->options().schedule_beta_on_unit_steps && prev == t - 1)
            return {ab, ab_prev, schedule_.betas()[static_cast<std::size_t>(t)]};
        return {ab, ab_prev, T(1) - ab / ab_prev};
    }

    // The mean of the posterior q(x_prev | x_t, x0) (Ho et al. 2020, eq. 7) as an update of (x, output).
    [[nodiscard]] detail::linear_update<T> posterior_mean(const transition& tr) const {
        detail::linear_update<T> u{
            .from = predict::decompose(this->options().prediction, std::sqrt(tr.ab), std::sqrt(T(1) - tr.ab))};
        u.to_x0 = std::sqrt(tr.ab_prev) * tr.beta / (T(1) - tr.ab);
        u.to_x = std::sqrt(T(1) - tr.beta) * (T(1) - tr.ab_prev) / (T(1) - tr.ab);
        return u;
    }

    // Standard deviation of the fixed variance types between t and prev (prev < 0: past the grid).
    [[nodiscard]] T fixed_std(timestep t, timestep prev) const {
        const transition tr = between(t, prev);
        switch (this->options().variance) {
            case variance_type::fixed_small:
                return std::sqrt(tr.posterior_variance());
            case variance_type::fixed_small_log:
                return std::exp(T(0.5) * std::log(tr.posterior_variance()));
            case variance_type::fixed_large:
                return std::sqrt(tr.beta);
            // diffusers returns log(beta) here and then takes its square root (NaN); the intended
            // standard deviation is exp(0.5 log beta).
            case variance_type::fixed_large_log:
                return std::exp(T(0.5) * std::log(tr.beta));
            case variance_type::learned:
            case variance_type::learned_range:
                break;
        }
        throw invalid("variance_type", "learned", "a fixed variance type for fixed_std()");
    }

    // diffusers' _get_variance(t) for the fixed types: the variance itself (fixed_small), or what
    // that function returns for the others; used by the parity tests.
    [[nodiscard]] T variance(timestep t, timestep prev) const {
        const transition tr = between(t, prev);
        switch (this->options().variance) {
            case variance_type::fixed_small:
                return tr.posterior_variance();
            case variance_type::fixed_large:
                return tr.beta;
            default:
                return fixed_std(t, prev) * fixed_std(t, prev);
        }
    }

    class run : public detail::discrete_run_state<T>, public detail::stepping<run, T> {
    public:
        run(const ddpm& sampler, std::vector<timestep> grid, layout shape)
            : detail::discrete_run_state<T>(std::move(grid), shape, sampler.schedule_), sampler_(&sampler) {
            schedule::require_valid_grid(this->grid_, sampler.schedule_.num_train_timesteps());
            const auto& opt = sampler.options();
            if (predict::needs_positive_alpha(opt.prediction)) {
                require(sampler.schedule_.alpha_bar(this->grid_.front()) > T(0), "prediction_type",
                        predict::name(opt.prediction),
                        "v_prediction or sample when the grid starts at a zero-SNR timestep (alphabar = 0)");
            }
            noise_.resize(shape.size);
            if (opt.x0.needs_two_passes()) {
                x0_.resize(shape.size);
                quantile_.resize(shape.sample_size());
            }
            if (is_learned(opt.variance)) prediction_.resize(shape.size);
        }

        // Size of the model output this run expects (twice the sample for learned variances).
        [[nodiscard]] index model_output_size() const {
            return is_learned(sampler_->options().variance) ? 2 * this->shape_.size : this->shape_.size;
        }

        // Where this step lands (evaluation_context.hpp): the posterior mean is sqrt(ab') x0 + c_x x_t
        // with x_t = sqrt(ab) x0 + sqrt(1 - ab) eps, i.e. sqrt(ab') (x0 + sigma' eps) with
        // sigma' = c_x sqrt(1 - ab) / sqrt(ab') (the x0 terms add up to sqrt(ab')), plus the fixed std z.
        // Clipping or thresholding x0, or a learned variance (the noise is the model's), leave none.
        [[nodiscard]] std::optional<step_landing<T>> target_level() const {
            const auto& o = sampler_->options();
            if (o.x0.clip_range || o.x0.thresholding || is_learned(o.variance)) return std::nullopt;
            const timestep t = this->current_timestep(), prev = this->next_timestep();
            const transition tr = sampler_->between(t, prev);
            const T alpha = std::sqrt(tr.ab_prev);
            const T on_eps = sampler_->posterior_mean(tr).to_x * std::sqrt(T(1) - tr.ab);
            const T noise = t > 0 ? sampler_->fixed_std(t, prev) : T(0);
            return step_landing<T>{{on_eps / alpha, alpha, static_cast<double>(prev)}, noise / alpha};
        }
        [[nodiscard]] evaluation_context<T> context() { return context_of(*this); }

    private:
        friend detail::stepping<run, T>;
        template <class Noise>
        void step_views(const_view<T> output, view<T> x, Noise&& noise_in) {
            require_size("x.size()", x.size(), this->shape_.size);
            require_size("model_output.size()", output.size(), model_output_size());
            const auto& s = *sampler_;
            const timestep t = this->current_timestep(), prev = this->next_timestep();
            const transition tr = s.between(t, prev);
            const bool learned = is_learned(s.options().variance);
            const bool stochastic = t > 0;

            detail::linear_update<T> u = s.posterior_mean(tr);
            u.to_noise = stochastic && !learned ? s.fixed_std(t, prev) : T(0);

            const const_view<T> noise =
                detail::acquire_noise<T>(noise_in, view<T>(noise_.data(), noise_.size()), stochastic, name);
            if (stochastic) require_size("noise.size()", noise.size(), x.size());
            const const_view<T> prediction = learned ? split_prediction(output) : output;
            detail::apply(u, s.options().x0, prediction, x, noise, this->shape_.batch, view<T>(x0_.data(), x0_.size()),
                          view<T>(quantile_.data(), quantile_.size()));
            if (learned && stochastic) add_learned_noise(output, x, noise, tr);
            this->advance();
        }

        // Copies the prediction half of each sample's output into a contiguous buffer.
        const_view<T> split_prediction(const_view<T> output) {
            const index d = this->shape_.sample_size();
            for (index b = 0; b < this->shape_.batch; ++b) prediction_.segment(b * d, d) = output.segment(2 * b * d, d);
            return const_view<T>(prediction_.data(), prediction_.size());
        }

        void add_learned_noise(const_view<T> output, view<T> x, const_view<T> noise, const transition& tr) {
            const index d = this->shape_.sample_size();
            const T min_log = std::log(tr.posterior_variance()), max_log = std::log(tr.beta);
            for (index b = 0; b < this->shape_.batch; ++b) {
                const auto values = output.segment(2 * b * d + d, d);
                auto xb = x.segment(b * d, d);
                const auto zb = noise.segment(b * d, d);
                if (sampler_->options().variance == variance_type::learned) {
                    // diffusers treats the output as the variance itself.
                    xb += values.sqrt() * zb;
                } else {
                    const auto frac = (values + T(1)) / T(2);
                    xb += (T(0.5) * (frac * max_log + (T(1) - frac) * min_log)).exp() * zb;
                }
            }
        }

        const ddpm* sampler_;
        buffer<T> noise_, x0_, quantile_, prediction_;
    };

private:
    schedule::discrete<T> schedule_;
};

}  // namespace diffuse::sampler
