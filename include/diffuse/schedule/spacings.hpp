// diffuse/schedule/spacings.hpp: sigma spacings between a sigma_max and a sigma_min, for any
// noise-level range (Karras' rho spacing is karras_sigmas in sigmas.hpp). Each returns n
// decreasing sigmas from sigma_max to sigma_min; the grid builders append the end point.
//   exponential:     uniform in log sigma (k-diffusion get_sigmas_exponential, diffusers
//                    _convert_to_exponential / use_exponential_sigmas);
//   polyexponential: log sigma = log min + (1 - i/(n-1))^rho (log max - log min)
//                    (k-diffusion get_sigmas_polyexponential; rho = 1 is the exponential);
//   beta:            sigma_min + F^{-1}(1 - i/(n-1)) (sigma_max - sigma_min), F the Beta(alpha, beta)
//                    CDF (Lee et al. 2024, arXiv 2407.12173; diffusers _convert_to_beta / use_beta_sigmas);
//   vp_continuous:   the VP-SDE of Song et al. 2021 (eq. 33, beta(t) = beta_min + t beta_d):
//                    sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1) at t = linspace(1, eps_s, n)
//                    (k-diffusion get_sigmas_vp).
#pragma once

#include <cmath>
#include <vector>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/schedule/discrete.hpp"
#include "diffuse/schedule/incomplete_beta.hpp"

namespace diffuse::schedule {

namespace detail {

inline void require_sigma_range(index n, double sigma_min, double sigma_max) {
    require(n >= 1, "num_inference_steps", n, "an integer >= 1");
    require(std::isfinite(sigma_max) && sigma_max > 0, "sigma_max", sigma_max, "a finite number > 0");
    require(sigma_min > 0 && sigma_min < sigma_max, "sigma_min", sigma_min, "in (0, sigma_max)");
}

}  // namespace detail

inline std::vector<double> exponential_sigmas(index n, double sigma_min, double sigma_max) {
    detail::require_sigma_range(n, sigma_min, sigma_max);
    std::vector<double> out = detail::linspace(std::log(sigma_max), std::log(sigma_min), n);
    for (double& s : out) s = std::exp(s);
    return out;
}

inline std::vector<double> polyexponential_sigmas(index n, double sigma_min, double sigma_max, double rho = 1.0) {
    detail::require_sigma_range(n, sigma_min, sigma_max);
    require(std::isfinite(rho) && rho > 0, "rho", rho, "a finite number > 0");
    const double lo = std::log(sigma_min), span = std::log(sigma_max) - lo;
    std::vector<double> out = detail::linspace(1.0, 0.0, n);
    for (double& ramp : out) ramp = std::exp(lo + std::pow(ramp, rho) * span);
    return out;
}

inline std::vector<double> beta_sigmas(index n, double sigma_min, double sigma_max, double alpha = 0.6,
                                       double beta = 0.6) {
    detail::require_sigma_range(n, sigma_min, sigma_max);
    std::vector<double> out = detail::linspace(0.0, 1.0, n);
    for (double& u : out)
        u = sigma_min + inverse_regularized_incomplete_beta(1.0 - u, alpha, beta) * (sigma_max - sigma_min);
    return out;
}

struct vp_continuous_options {
    double beta_d = 19.9, beta_min = 0.1, eps_s = 1e-3;  // k-diffusion's defaults (Song et al. 2021)

    void validate() const {
        require(std::isfinite(beta_d) && beta_d > 0, "beta_d", beta_d, "a finite number > 0");
        require(std::isfinite(beta_min) && beta_min >= 0, "beta_min", beta_min, "a finite number >= 0");
        require(eps_s > 0 && eps_s < 1, "eps_s", eps_s, "in (0, 1)");
    }
    // sigma(t) of the VP-SDE (expm1 keeps small t accurate) and its inverse t(sigma).
    [[nodiscard]] double sigma_at(double t) const { return std::sqrt(std::expm1(0.5 * beta_d * t * t + beta_min * t)); }
    [[nodiscard]] double time_at(double sigma) const {
        const double c = std::log1p(sigma * sigma);  // beta_d t^2 / 2 + beta_min t = c
        return (std::sqrt(beta_min * beta_min + 2 * beta_d * c) - beta_min) / beta_d;
    }
};

// The times t = linspace(1, eps_s, n) of the VP spacing (the continuous model time there).
inline std::vector<double> vp_continuous_times(index n, const vp_continuous_options& o = {}) {
    require(n >= 1, "num_inference_steps", n, "an integer >= 1");
    o.validate();
    return detail::linspace(1.0, o.eps_s, n);
}

inline std::vector<double> vp_continuous_sigmas(index n, const vp_continuous_options& o = {}) {
    std::vector<double> out = vp_continuous_times(n, o);
    for (double& t : out) t = o.sigma_at(t);
    return out;
}

}  // namespace diffuse::schedule
