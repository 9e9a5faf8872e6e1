// diffuse/schedule/sigmas.hpp: noise levels in the k-diffusion form and the grids of them that
// sigma-space samplers visit.
//
// A noise level is written the way Karras et al. 2022 ("EDM", sec. 2) write every diffusion:
//   x / alpha = x0 + sigma eps,
// with `sigma` the k-diffusion noise level and `alpha` the scale of the model's own input
// (1/sqrt(1 + sigma^2) for a variance-preserving DDPM-trained network, 1 for VE/EDM networks,
// 1 - s for a rectified-flow network at flow time s). So the network sees alpha * x_k where
// x_k = x0 + sigma eps, and its own (alpha_t, sigma_t) are (alpha, alpha * sigma).
// A grid holds n + 1 levels, strictly decreasing in sigma, the last one the end point (sigma 0,
// or sigma_min); each level except the last carries the model time the network expects there.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/schedule/discrete.hpp"
#include "diffuse/schedule/spacings.hpp"
#include "diffuse/schedule/timesteps.hpp"

namespace diffuse::schedule {

template <Real T>
struct noise_level {
    T sigma;            // k-diffusion noise level: x_k = x0 + sigma eps
    T alpha;            // the model input is alpha * x_k
    double model_time;  // what the network is told (timestep, continuous t, c_noise(sigma), ...)

    [[nodiscard]] T model_sigma() const { return alpha * sigma; }  // sigma_t
    [[nodiscard]] T lambda() const { return -std::log(sigma); }    // log(alpha_t / sigma_t)
};

template <Real T>
class sigma_grid {
public:
    // `levels`: n + 1 levels, sigma strictly decreasing, >= 0, alpha > 0. `initial_noise_std`:
    // the standard deviation of pure noise in the model's own state at the first level (1 for
    // VP and flow networks, sigma_max for VE/EDM ones); samplers turn it into the scale of x_T.
    sigma_grid(std::vector<noise_level<T>> levels, T initial_noise_std)
        : sigma_grid(std::move(levels), initial_noise_std, false) {}

    // A grid that runs from data towards noise (sigma strictly increasing), for inversion with the
    // samplers whose steps hold for either direction (dpm_solver_multistep with an ODE algorithm).
    [[nodiscard]] static sigma_grid increasing(std::vector<noise_level<T>> levels, T initial_noise_std) {
        return sigma_grid(std::move(levels), initial_noise_std, true);
    }

    [[nodiscard]] bool is_increasing() const { return increasing_; }

    [[nodiscard]] index steps() const { return static_cast<index>(levels_.size()) - 1; }
    [[nodiscard]] const noise_level<T>& operator[](index i) const { return levels_[static_cast<std::size_t>(i)]; }
    [[nodiscard]] std::span<const noise_level<T>> levels() const { return levels_; }
    [[nodiscard]] T initial_noise_std() const { return initial_noise_std_; }
    [[nodiscard]] std::vector<T> sigmas() const {
        std::vector<T> out;
        for (const auto& l : levels_) out.push_back(l.sigma);
        return out;
    }
    [[nodiscard]] std::vector<double> model_times() const {
        std::vector<double> out;
        for (std::size_t i = 0; i + 1 < levels_.size(); ++i) out.push_back(levels_[i].model_time);
        return out;
    }

private:
    sigma_grid(std::vector<noise_level<T>> levels, T initial_noise_std, bool increasing)
        : levels_(std::move(levels)), initial_noise_std_(initial_noise_std), increasing_(increasing) {
        require(levels_.size() >= 2, "levels.size()", levels_.size(), "at least 2 (one step and its end point)");
        for (std::size_t i = 0; i < levels_.size(); ++i) {
            const auto& l = levels_[i];
            const std::string at = "levels[" + std::to_string(i) + "]";
            require(std::isfinite(l.sigma) && l.sigma >= T(0), at + ".sigma", l.sigma, "a finite number >= 0");
            require(std::isfinite(l.alpha) && l.alpha > T(0), at + ".alpha", l.alpha, "a finite number > 0");
            if (i > 0 && !(increasing_ ? l.sigma > levels_[i - 1].sigma : l.sigma < levels_[i - 1].sigma)) {
                throw invalid(at + ".sigma", l.sigma,
                              std::string(increasing_ ? "strictly greater" : "strictly less") +
                                  " than the level before it (" + std::to_string(levels_[i - 1].sigma) + ")");
            }
        }
        require_positive("initial_noise_std", initial_noise_std_);
    }

    std::vector<noise_level<T>> levels_;
    T initial_noise_std_;
    bool increasing_ = false;
};

// ---- sigmas of a discrete (DDPM-trained, variance-preserving) schedule ----------------------

// sigma_t = sqrt((1 - ab_t) / ab_t) for every training timestep, evaluated in T as diffusers does.
// A zero-terminal-SNR schedule (last alphas_cumprod 0, Lin et al. 2024, Alg. 1) gets
// alphas_cumprod[-1] = 2^-24 first, as diffusers' sigma-space schedulers do with
// rescale_betas_zero_snr, so that the largest sigma is finite (4096).
template <Real T>
std::vector<T> training_sigmas(const discrete<T>& s) {
    std::vector<T> out;
    out.reserve(s.alphas_cumprod().size());
    for (T ab : s.alphas_cumprod()) {
        if (ab == T(0)) ab = static_cast<T>(std::ldexp(1.0, -24));
        out.push_back(std::sqrt((T(1) - ab) / ab));
    }
    return out;
}

// The (fractional) training timestep of a sigma: linear interpolation of the timestep in
// log sigma between the two training sigmas around it (diffusers' _sigma_to_t, k-diffusion's
// DiscreteSchedule.sigma_to_t).
inline double sigma_to_timestep(double sigma, std::span<const double> log_sigmas) {
    const double log_sigma = std::log(std::max(sigma, 1e-10));
    // log_sigmas increase with the timestep; find the last index with log_sigmas[i] <= log_sigma.
    const auto n = static_cast<index>(log_sigmas.size());
    index low = 0;
    for (index i = 0; i < n; ++i) {
        if (log_sigma - log_sigmas[static_cast<std::size_t>(i)] >= 0) low = i;
    }
    low = std::min(low, n - 2);
    const double lo = log_sigmas[static_cast<std::size_t>(low)], hi = log_sigmas[static_cast<std::size_t>(low + 1)];
    const double w = std::clamp((lo - log_sigma) / (lo - hi), 0.0, 1.0);
    return (1.0 - w) * static_cast<double>(low) + w * static_cast<double>(low + 1);
}

// Karras et al. 2022, eq. 5: sigma_i = (max^(1/rho) + i/(n-1) (min^(1/rho) - max^(1/rho)))^rho.
inline std::vector<double> karras_sigmas(index n, double sigma_min, double sigma_max, double rho = 7.0) {
    require(n >= 1, "num_inference_steps", n, "an integer >= 1");
    require(sigma_min > 0 && sigma_min < sigma_max, "sigma_min", sigma_min, "in (0, sigma_max)");
    require_positive("rho", rho);
    std::vector<double> out(static_cast<std::size_t>(n));
    const double lo = std::pow(sigma_min, 1.0 / rho), hi = std::pow(sigma_max, 1.0 / rho);
    for (index i = 0; i < n; ++i) {
        const double ramp = n == 1 ? 0.0 : static_cast<double>(i) / static_cast<double>(n - 1);
        out[static_cast<std::size_t>(i)] = std::pow(hi + ramp * (lo - hi), rho);
    }
    return out;
}

// diffusers' use_karras_sigmas / use_exponential_sigmas / use_beta_sigmas (spacings.hpp).
enum class sigma_spacing { timesteps, karras, exponential, beta };
enum class final_sigma { zero, sigma_min };
// diffusers' interpolation_type: training sigmas interpolated linearly at the timesteps, or n + 1
// sigmas log-uniform between the training extremes (the timesteps stay the spaced ones).
enum class sigma_interpolation { linear, log_linear };

template <Real T>
struct vp_sigma_options {
    index steps = 50;
    spacing timestep_spacing = spacing::linspace;  // diffusers' Euler-family default
    index steps_offset = 0;
    sigma_spacing sigmas = sigma_spacing::timesteps;
    final_sigma last = final_sigma::zero;
    sigma_interpolation interpolation = sigma_interpolation::linear;
    // diffusers' sigma_min / sigma_max config keys: the Karras/exponential/beta range
    // (default: the extremes of the interpolated sigmas).
    std::optional<double> sigma_min{}, sigma_max{};
    // timestep_type "continuous" (with v_prediction, as diffusers allows it): model time
    // c_noise = ln(sigma) / 4 (Karras et al. 2022, Table 1) instead of the training timestep.
    bool continuous_timesteps = false;
    // set_timesteps(timesteps=...): the caller's decreasing timesteps replace the spaced ones.
    std::vector<double> timesteps{};
};

// The sigma grid diffusers' Euler-family schedulers build from a discrete schedule
// (EulerDiscreteScheduler.set_timesteps with interpolation_type="linear"): timesteps by the
// spacing rule (linspace is not rounded there), sigmas by linear interpolation of the training
// sigmas at those timesteps, or Karras sigmas between the training extremes with timesteps
// from sigma_to_timestep; then the final sigma.
template <Real T>
sigma_grid<T> vp_sigma_grid(const discrete<T>& schedule, const vp_sigma_options<T>& o = {}) {
    const index train = schedule.num_train_timesteps();
    const index steps = o.timesteps.empty() ? o.steps : static_cast<index>(o.timesteps.size());
    require(steps >= 1 && steps <= train, "num_inference_steps", steps,
            "an integer in [1, num_train_timesteps = " + std::to_string(train) + "]");
    if (o.sigma_min) require_positive("sigma_min", *o.sigma_min);
    if (o.sigma_max) require_positive("sigma_max", *o.sigma_max);
    const auto sig = training_sigmas(schedule);
    std::vector<double> log_sigmas(sig.size());
    for (std::size_t i = 0; i < sig.size(); ++i) log_sigmas[i] = std::log(static_cast<double>(sig[i]));

    std::vector<double> times(static_cast<std::size_t>(steps));
    if (!o.timesteps.empty()) {
        for (std::size_t i = 0; i < times.size(); ++i) {
            const double t = o.timesteps[i];
            require(t >= 0 && t <= static_cast<double>(train - 1) && (i == 0 || t < o.timesteps[i - 1]),
                    "timesteps[" + std::to_string(i) + "]", t, "decreasing values in [0, num_train_timesteps - 1]");
            times[i] = static_cast<double>(static_cast<float>(t));
        }
    } else if (o.timestep_spacing == spacing::linspace) {
        // np.linspace(0, T - 1, n, dtype=float32)[::-1]: float32 values, not rounded.
        const double step = o.steps == 1 ? 0.0 : static_cast<double>(train - 1) / static_cast<double>(o.steps - 1);
        for (index i = 0; i < o.steps; ++i) {
            const index k = o.steps - 1 - i;
            const double t =
                (k == o.steps - 1 && o.steps > 1) ? static_cast<double>(train - 1) : static_cast<double>(k) * step;
            times[static_cast<std::size_t>(i)] = static_cast<double>(static_cast<float>(t));
        }
    } else {
        const auto grid = spaced_timesteps(train, o.steps, o.timestep_spacing, o.steps_offset);
        for (std::size_t i = 0; i < grid.size(); ++i) times[i] = static_cast<double>(grid[i]);
    }
    std::vector<double> sigmas(times.size());
    if (o.interpolation == sigma_interpolation::log_linear) {
        // torch.linspace(log sigma_max, log sigma_min, n + 1).exp() in float32: n + 1 sigmas.
        sigmas.clear();
        for (const double l : detail::linspace(log_sigmas.back(), log_sigmas.front(), steps + 1)) {
            sigmas.push_back(static_cast<double>(std::exp(static_cast<float>(l))));
        }
    } else {
        for (std::size_t i = 0; i < times.size(); ++i) {
            // np.interp(t, arange(T), sigmas)
            const double t = std::clamp(times[i], 0.0, static_cast<double>(train - 1));
            const auto lo = static_cast<std::size_t>(std::min<double>(std::floor(t), static_cast<double>(train - 2)));
            const double w = t - static_cast<double>(lo);
            sigmas[i] = (1.0 - w) * static_cast<double>(sig[lo]) + w * static_cast<double>(sig[lo + 1]);
        }
    }
    if (o.sigmas != sigma_spacing::timesteps) {
        const double lo = o.sigma_min.value_or(sigmas.back()), hi = o.sigma_max.value_or(sigmas.front());
        sigmas = o.sigmas == sigma_spacing::karras        ? karras_sigmas(steps, lo, hi)
                 : o.sigmas == sigma_spacing::exponential ? exponential_sigmas(steps, lo, hi)
                                                          : beta_sigmas(steps, lo, hi);
        for (std::size_t i = 0; i < sigmas.size(); ++i) times[i] = sigma_to_timestep(sigmas[i], log_sigmas);
    }
    // With log_linear sigmas (and no respacing) the (n+1)-th sigma is where the n-th step ends;
    // diffusers' appended final sigma is then never reached.
    const bool own_end = sigmas.size() > times.size();
    const double last = own_end ? sigmas.back() : o.last == final_sigma::zero ? 0.0 : static_cast<double>(sig.front());

    std::vector<noise_level<T>> levels;
    const auto level = [](double sigma, double time) {
        const T s = static_cast<T>(sigma);  // diffusers keeps sigmas in float32
        return noise_level<T>{s, T(1) / std::sqrt(s * s + T(1)), time};
    };
    for (std::size_t i = 0; i < times.size(); ++i) {
        const T s = static_cast<T>(sigmas[i]);
        const double time = o.continuous_timesteps
                                ? static_cast<double>(static_cast<float>(0.25 * std::log(static_cast<float>(s))))
                                : static_cast<double>(static_cast<float>(times[i]));
        levels.push_back(level(sigmas[i], time));
    }
    levels.push_back(level(last, 0.0));
    // diffusers' init_noise_sigma: sigma_max for linspace/trailing, sqrt(sigma_max^2 + 1) for leading;
    // in the model's own (VP) units that is sigma_max * alpha_0, or 1.
    const T initial = o.timestep_spacing == spacing::leading ? T(1) : levels.front().model_sigma();
    return sigma_grid<T>(std::move(levels), initial);
}

}  // namespace diffuse::schedule
