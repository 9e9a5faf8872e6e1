// Empirical order of convergence on the probability-flow ODE of a Gaussian mixture.
//
// Problem: the exact VP denoiser of the 8-Gaussian ring (models::gaussian_mixture) on a
// log-uniform sigma grid from sigma_max = 20 to sigma_min = 0.05 (the end point is sigma_min, not
// 0, so every method integrates the same smooth ODE). In the k-diffusion form the ODE is
// dx/dsigma = (x - D(x, sigma)) / sigma (Karras et al. 2022, eq. 3 with s = 1); the reference
// solution integrates dx/du = x - D(x, e^u), u = log sigma, with classical RK4 and many steps.
// The model time of the grid is sigma itself, so a network-shaped model can recover its level.
#pragma once

#include <cmath>
#include <numeric>
#include <vector>

#include "diffuse/core/random.hpp"
#include "diffuse/models/gaussian_mixture.hpp"
#include "diffuse/predict/parameterization.hpp"
#include "diffuse/sampler/sample.hpp"
#include "diffuse/sampler/sigma_run.hpp"
#include "diffuse/schedule/sigmas.hpp"

namespace convergence {

using diffuse::index;
inline constexpr double sigma_max = 20.0, sigma_min = 0.05;
inline constexpr index points = 64;  // 64 two-dimensional starting points

// A network of the given parameterization for a VP-trained model of the mixture: it sees
// alpha * x_k at "time" sigma, alpha = 1/sqrt(1 + sigma^2).
template <class T>
struct vp_mixture_model {
    const diffuse::models::gaussian_mixture<T>* mixture;
    diffuse::predict::prediction prediction = diffuse::predict::prediction::epsilon;

    void operator()(diffuse::const_view<T> x, double sigma, diffuse::view<T> out) const {
        const T s = static_cast<T>(sigma), alpha = T(1) / std::sqrt(T(1) + s * s);
        switch (prediction) {
            case diffuse::predict::prediction::epsilon: mixture->epsilon(x, alpha, alpha * s, out); return;
            case diffuse::predict::prediction::sample: mixture->x0(x, alpha, alpha * s, out); return;
            case diffuse::predict::prediction::v_prediction: mixture->v(x, alpha, alpha * s, out); return;
            default: throw diffuse::invalid("prediction", diffuse::predict::name(prediction), "epsilon, sample, v_prediction");
        }
    }
};

// n steps, sigmas log-uniform from sigma_max to sigma_min, model time = sigma, VP alphas.
template <class T>
diffuse::schedule::sigma_grid<T> log_grid(index n) {
    std::vector<diffuse::schedule::noise_level<T>> levels;
    for (index i = 0; i <= n; ++i) {
        const double u = std::log(sigma_max) + (std::log(sigma_min) - std::log(sigma_max)) * static_cast<double>(i) / static_cast<double>(n);
        const double s = std::exp(u);
        levels.push_back({static_cast<T>(s), static_cast<T>(1.0 / std::sqrt(1.0 + s * s)), s});
    }
    return diffuse::schedule::sigma_grid<T>(std::move(levels), T(1));
}

// Starting points x_T in the k-diffusion state (x_k = x0 + sigma_max eps, here sigma_max * N(0, I)).
inline Eigen::ArrayXd start_points() {
    Eigen::ArrayXd x(2 * points);
    diffuse::random::generator g(2024);
    g.normal(x);
    return x * sigma_max;
}

// RK4 in u = log sigma on dx/du = x - D(x, e^u), in double.
inline Eigen::ArrayXd reference_solution(index steps = 4000) {
    const auto mixture = diffuse::models::gaussian_mixture<double>::ring();
    Eigen::ArrayXd x = start_points(), denoised(x.size());
    const double u0 = std::log(sigma_max), u1 = std::log(sigma_min), h = (u1 - u0) / static_cast<double>(steps);
    const auto f = [&](const Eigen::ArrayXd& y, double u) -> Eigen::ArrayXd {
        mixture.x0(diffuse::cflat(y), 1.0, std::exp(u), diffuse::flat(denoised));
        return y - denoised;
    };
    for (index i = 0; i < steps; ++i) {
        const double u = u0 + h * static_cast<double>(i);
        const Eigen::ArrayXd k1 = f(x, u), k2 = f(x + 0.5 * h * k1, u + 0.5 * h), k3 = f(x + 0.5 * h * k2, u + 0.5 * h),
                             k4 = f(x + h * k3, u + h);
        x += h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4);
    }
    return x;
}

// Least-squares slope of -log(error) against log(steps): the empirical order.
inline double fitted_order(const std::vector<double>& steps, const std::vector<double>& errors) {
    const auto n = static_cast<double>(steps.size());
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const double lx = std::log(steps[i]), ly = -std::log(errors[i]);
        sx += lx, sy += ly, sxx += lx * lx, sxy += lx * ly;
    }
    return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

// Root-mean-square distance between two point sets.
inline double rms(const Eigen::ArrayXd& a, const Eigen::ArrayXd& b) { return std::sqrt((a - b).square().mean()); }

// Runs a sampler (double) with the loop API from the common start; returns the final state in
// the k-diffusion convention (x_k = x / alpha for model-state samplers).
template <class Sampler>
Eigen::ArrayXd solve(const Sampler& sampler, index steps, diffuse::predict::prediction prediction) {
    const auto mixture = diffuse::models::gaussian_mixture<double>::ring();
    const auto grid = log_grid<double>(steps);
    auto run = sampler.start(grid, 2 * points);
    const bool model_state = run.space() == diffuse::sampler::state_space::model;
    Eigen::ArrayXd x = start_points();
    if (model_state) x *= grid[0].alpha;
    diffuse::sample(vp_mixture_model<double>{&mixture, prediction}, sampler, grid, x);
    if (model_state) x /= grid[grid.steps()].alpha;
    return x;
}

}  // namespace convergence
