// diffuse/schedule/continuous.hpp: grids for networks that are told a noise level rather than a
// training timestep, and grids from the caller's own sigmas.
//   edm_grid_from_sigmas: EDM levels at the caller's sigmas.
//   edm_sigma_grid:      diffusers' EDMEulerScheduler (Karras et al. 2022): Karras (rho) or
//                        exponential sigmas in [sigma_min, sigma_max], model time c_noise =
//                        ln(sigma)/4, model input c_in x = x / sqrt(sigma^2 + sigma_data^2) (Table 1).
//   vp_continuous_grid:  the VP-SDE spacing (spacings.hpp) for a network told t in [eps_s, 1].
//   vp_grid_from_sigmas: diffusers' Euler-family set_timesteps(sigmas=...): the caller's n + 1
//                        sigmas, the model times from log-sigma interpolation of the training sigmas.
#pragma once

#include <cmath>
#include <numbers>
#include <span>
#include <string>
#include <vector>

#include "diffuse/schedule/sigmas.hpp"
#include "diffuse/schedule/spacings.hpp"

namespace diffuse::schedule {

namespace detail {

// n + 1 caller sigmas: finite, >= 0, strictly decreasing (the last may be 0).
inline void require_decreasing_sigmas(std::span<const double> sigmas) {
    require(sigmas.size() >= 2, "sigmas.size()", sigmas.size(), "at least 2 (one step and its end point)");
    for (std::size_t i = 0; i < sigmas.size(); ++i) {
        require(std::isfinite(sigmas[i]) && sigmas[i] >= 0 && (i == 0 || sigmas[i] < sigmas[i - 1]),
                "sigmas[" + std::to_string(i) + "]", sigmas[i], "finite, >= 0 and strictly decreasing");
    }
}

}  // namespace detail

enum class edm_spacing { karras, exponential };  // EDMEulerScheduler's sigma_schedule

// What an EDM-preconditioned network is told: c_noise = ln(sigma)/4 (Karras et al. 2022, Table 1;
// diffusers' EDM classes) or atan(sigma) 2/pi (Stable Audio; CosineDPMSolverMultistepScheduler).
enum class edm_noise_time { log_quarter, atan };

struct edm_grid_options {
    index steps = 50;
    double sigma_min = 0.002, sigma_max = 80.0, sigma_data = 0.5, rho = 7.0;  // EDMEulerScheduler defaults
    edm_spacing spacing = edm_spacing::karras;
    final_sigma last = final_sigma::zero;
    edm_noise_time time = edm_noise_time::log_quarter;

    void validate() const {
        require(std::isfinite(sigma_data) && sigma_data > 0, "sigma_data", sigma_data, "a finite number > 0");
    }
};

// A grid of EDM levels from the caller's n + 1 decreasing sigmas (e.g. the AYS SVD table):
// alpha = c_in(sigma), model time c_noise(sigma) (ln(sigma)/4 unless `time` says otherwise). The
// network's pure-noise input c_in(sigma_max) * sqrt(sigma_max^2 + 1) x_T is what diffusers'
// init_noise_sigma gives.
template <Real T>
sigma_grid<T> edm_grid_from_sigmas(std::span<const double> sigmas, double sigma_data = 0.5,
                                   edm_noise_time time = edm_noise_time::log_quarter) {
    detail::require_decreasing_sigmas(sigmas);
    require(std::isfinite(sigma_data) && sigma_data > 0, "sigma_data", sigma_data, "a finite number > 0");
    std::vector<noise_level<T>> levels;
    for (const double sigma : sigmas) {
        const T s = static_cast<T>(sigma);  // diffusers keeps sigmas in float32
        const T c_in = T(1) / std::sqrt(s * s + static_cast<T>(sigma_data * sigma_data));
        const double c_noise = time == edm_noise_time::atan
                                   ? static_cast<double>(std::atan(s) / static_cast<T>(std::numbers::pi) * T(2))
                               : s > T(0) ? static_cast<double>(static_cast<T>(0.25) * std::log(s))
                                          : 0.0;
        levels.push_back({s, c_in, c_noise});
    }
    const T initial = levels.front().alpha * std::sqrt(levels.front().sigma * levels.front().sigma + T(1));
    return sigma_grid<T>(std::move(levels), initial);
}

// diffusers' EDMEulerScheduler.set_timesteps.
template <Real T>
sigma_grid<T> edm_sigma_grid(const edm_grid_options& o = {}) {
    o.validate();
    std::vector<double> sigmas = o.spacing == edm_spacing::karras
                                     ? karras_sigmas(o.steps, o.sigma_min, o.sigma_max, o.rho)
                                     : exponential_sigmas(o.steps, o.sigma_min, o.sigma_max);
    // final_sigmas_type "sigma_min" repeats the last sigma: a zero-length step, left out here.
    if (o.last == final_sigma::zero) sigmas.push_back(0.0);
    require(sigmas.size() >= 2, "final_sigmas_type", "sigma_min", "\"zero\" for a one-step grid");
    return edm_grid_from_sigmas<T>(sigmas, o.sigma_data, o.time);
}

// A VP network told the continuous time t of the VP-SDE: alpha = 1/sqrt(1 + sigma^2).
template <Real T>
sigma_grid<T> vp_continuous_grid(index steps, const vp_continuous_options& o = {},
                                 final_sigma last = final_sigma::zero) {
    const std::vector<double> times = vp_continuous_times(steps, o);
    std::vector<noise_level<T>> levels;
    const auto level = [](double sigma, double time) {
        const T s = static_cast<T>(sigma);
        return noise_level<T>{s, T(1) / std::sqrt(s * s + T(1)), time};
    };
    for (const double t : times) levels.push_back(level(o.sigma_at(t), t));
    if (last == final_sigma::zero) levels.push_back(level(0.0, 0.0));
    require(levels.size() >= 2, "final_sigma", "sigma_min", "\"zero\" for a one-step grid");
    return sigma_grid<T>(std::move(levels), T(1));
}

// diffusers' EulerDiscreteScheduler.set_timesteps(sigmas=...) for a discrete VP schedule.
template <Real T>
sigma_grid<T> vp_grid_from_sigmas(const discrete<T>& schedule, std::span<const double> sigmas) {
    detail::require_decreasing_sigmas(sigmas);
    std::vector<double> log_sigmas;
    for (const T s : training_sigmas(schedule)) log_sigmas.push_back(std::log(static_cast<double>(s)));
    std::vector<noise_level<T>> levels;
    for (std::size_t i = 0; i < sigmas.size(); ++i) {
        const T s = static_cast<T>(sigmas[i]);  // np.float32
        const double time =
            i + 1 < sigmas.size()
                ? static_cast<double>(static_cast<float>(sigma_to_timestep(static_cast<double>(s), log_sigmas)))
                : 0.0;
        levels.push_back({s, T(1) / std::sqrt(s * s + T(1)), time});
    }
    // init_noise_sigma = max(sigmas) (linspace spacing, the default): sigma_max * alpha_0 in model units.
    const T initial = levels.front().model_sigma();
    return sigma_grid<T>(std::move(levels), initial);
}

}  // namespace diffuse::schedule
