// Empirical order of convergence on the probability-flow ODE of a Gaussian mixture.
//
// Problem: the exact VP denoiser of the 8-Gaussian ring (models::gaussian_mixture) on a
// log-uniform sigma grid from sigma_max = 20 to sigma_min = 0.05 (the end point is sigma_min, not
// 0, so every method integrates the same smooth ODE). In the k-diffusion form the ODE is
// dx/dsigma = (x - D(x, sigma)) / sigma (Karras et al. 2022, eq. 3 with s = 1); the reference
// solution integrates dx/du = x - D(x, e^u), u = log sigma, with classical RK4 and many steps.
// The model time of the grid is sigma itself, so a network-shaped model can recover its level.
// Shared by the convergence tests (tests/test_convergence*.cpp) and bench/convergence_plot.cpp,
// which also count the model evaluations (the `evaluations` out-parameters).
#pragma once

#include <cmath>
#include <numeric>
#include <vector>

#include "diffuse/core/random.hpp"
#include "diffuse/models/gaussian_mixture.hpp"
#include "diffuse/ode/butcher.hpp"
#include "diffuse/ode/integrate_fixed.hpp"
#include "diffuse/predict/parameterization.hpp"
#include "diffuse/sampler/dpm_adaptive.hpp"
#include "diffuse/sampler/level_map.hpp"
#include "diffuse/sampler/sample.hpp"
#include "diffuse/sampler/sigma_run.hpp"
#include "diffuse/schedule/discrete.hpp"
#include "diffuse/schedule/sigmas.hpp"
#include "fitted_order.hpp"

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
            case diffuse::predict::prediction::epsilon:
                mixture->epsilon(x, alpha, alpha * s, out);
                return;
            case diffuse::predict::prediction::sample:
                mixture->x0(x, alpha, alpha * s, out);
                return;
            case diffuse::predict::prediction::v_prediction:
                mixture->v(x, alpha, alpha * s, out);
                return;
            default:
                throw diffuse::invalid("prediction", diffuse::predict::name(prediction),
                                       "epsilon, sample, v_prediction");
        }
    }
};

// The harness's levels off the grid (VP alpha, model time = sigma: what vp_mixture_model reads),
// for samplers that evaluate between grid entries (DPM2, DPM++(2S), EDM, the adaptive solver).
inline diffuse::sampler::level_map<double> levels() {
    return [](double s) { return diffuse::schedule::noise_level<double>{s, 1.0 / std::sqrt(1.0 + s * s), s}; };
}

// A model that counts its calls into *count (when count is not null).
template <class Model>
struct counted {
    Model model;
    index* count = nullptr;

    template <class T>
    void operator()(diffuse::const_view<T> x, double time, diffuse::view<T> out) const {
        if (count) ++*count;
        model(x, time, out);
    }
};
template <class Model>
counted(Model, index*) -> counted<Model>;

// n steps, sigmas log-uniform from sigma_max to sigma_min, model time = sigma, VP alphas.
template <class T>
diffuse::schedule::sigma_grid<T> log_grid(index n) {
    std::vector<diffuse::schedule::noise_level<T>> levels;
    for (index i = 0; i <= n; ++i) {
        const double u = std::log(sigma_max) +
                         (std::log(sigma_min) - std::log(sigma_max)) * static_cast<double>(i) / static_cast<double>(n);
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

// Classical RK4 (ode::rk4) in u = log sigma on dx/du = x - D(x, e^u), in double.
inline Eigen::ArrayXd reference_solution(index steps = 4000) {
    const auto mixture = diffuse::models::gaussian_mixture<double>::ring();
    Eigen::ArrayXd x = start_points();
    const auto f = [&](double u, diffuse::const_view<double> y, diffuse::view<double> dydu) {
        mixture.x0(y, 1.0, std::exp(u), dydu);  // dydu = D(y, e^u), then y - D
        dydu = y - dydu;
    };
    diffuse::ode::explicit_runge_kutta<double, diffuse::ode::rk4> rk4(x.size());
    diffuse::ode::integrate_fixed(rk4, f, std::log(sigma_max), std::log(sigma_min), steps, x);
    return x;
}

// The empirical order (tests/fitted_order.hpp).
using ::fitted_order;

// Root-mean-square distance between two point sets.
inline double rms(const Eigen::ArrayXd& a, const Eigen::ArrayXd& b) {
    return std::sqrt((a - b).square().mean());
}

// Runs a sampler (double) with the loop API from the common start; returns the final state in
// the k-diffusion convention (x_k = x / alpha for model-state samplers). `evaluations`, when
// given, receives the number of model calls.
template <class Sampler>
Eigen::ArrayXd solve(const Sampler& sampler, index steps, diffuse::predict::prediction prediction,
                     index* evaluations = nullptr) {
    const auto mixture = diffuse::models::gaussian_mixture<double>::ring();
    const auto grid = log_grid<double>(steps);
    auto run = sampler.start(grid, 2 * points);
    bool model_state = false;
    if constexpr (requires { run.space(); }) model_state = run.space() == diffuse::sampler::state_space::model;
    Eigen::ArrayXd x = start_points();
    if (model_state) x *= grid[0].alpha;
    if (evaluations) *evaluations = 0;
    diffuse::sample(counted{vp_mixture_model<double>{&mixture, prediction}, evaluations}, sampler, grid, x);
    if (model_state) x /= grid[grid.steps()].alpha;
    return x;
}

// The adaptive DPM-Solver (sampler::dpm_adaptive<double>) over the same interval; it picks its own
// steps. A template, so that only the translation units that use it instantiate it.
template <class Adaptive>
Eigen::ArrayXd solve_adaptive(const Adaptive& sampler, index* evaluations = nullptr) {
    const auto mixture = diffuse::models::gaussian_mixture<double>::ring();
    const diffuse::sampler::sigma_interval<double> interval{sigma_max, sigma_min, levels()};
    Eigen::ArrayXd x = start_points();
    if (evaluations) *evaluations = 0;
    diffuse::sample(counted{vp_mixture_model<double>{&mixture, sampler.options().prediction}, evaluations}, sampler,
                    interval, x);
    return x;
}

// ---- the same ODE for the samplers on discrete timesteps (DDIM, PNDM) ----------------------------
// A schedule with 38401 training timesteps whose sigmas are log-uniform from sigma_min (t = 0) to
// sigma_max (t = 38400), or uniform in sigma; the grid 38400 - i * 38400/n (i < n, n divides 38400)
// ends on alphabar_0, i.e. sigma_min, so it integrates the same ODE as the reference solution.
inline constexpr index last_timestep = 38400;

// sigma at timestep t: log-uniform (the harness's grid) or uniform in sigma.
inline double sigma_at(double t, bool uniform) {
    const double u = t / static_cast<double>(last_timestep);
    if (uniform) return sigma_min + (sigma_max - sigma_min) * u;
    const double lo = std::log(sigma_min), hi = std::log(sigma_max);
    return std::exp(lo + (hi - lo) * u);
}

inline const diffuse::schedule::discrete<double>& discrete_schedule(bool uniform = false) {
    static const auto make = [](bool u) {
        std::vector<double> betas;
        double previous = 1.0;
        for (index t = 0; t <= last_timestep; ++t) {
            const double s = sigma_at(static_cast<double>(t), u), ab = 1.0 / (1.0 + s * s);
            betas.push_back(1.0 - ab / previous);
            previous = ab;
        }
        return diffuse::schedule::discrete<double>::from_betas(std::move(betas));
    };
    static const diffuse::schedule::discrete<double> log_uniform = make(false), linear = make(true);
    return uniform ? linear : log_uniform;
}

// Runs a discrete-timestep sampler built on `betas` (one of discrete_schedule()) for n steps, with
// the network of the sampler's parameterization; returns the final state as x_k = x / sqrt(ab_0).
template <class Sampler>
Eigen::ArrayXd solve_discrete(const Sampler& sampler, index n, index* evaluations = nullptr) {
    const auto& betas = sampler.noise_schedule();
    const auto mixture = diffuse::models::gaussian_mixture<double>::ring();
    std::vector<diffuse::schedule::timestep> grid;
    for (index i = 0; i < n; ++i) grid.push_back(last_timestep - i * (last_timestep / n));
    const auto prediction = sampler.options().prediction;
    const auto model = [&](diffuse::const_view<double> x, double t, diffuse::view<double> out) {
        const double ab = betas.alpha_bar(static_cast<diffuse::schedule::timestep>(t));
        const double a = std::sqrt(ab), s = std::sqrt(1 - ab);
        switch (prediction) {
            case diffuse::predict::prediction::sample:
                mixture.x0(x, a, s, out);
                return;
            case diffuse::predict::prediction::v_prediction:
                mixture.v(x, a, s, out);
                return;
            default:
                mixture.epsilon(x, a, s, out);
                return;
        }
    };
    Eigen::ArrayXd x = start_points() * std::sqrt(betas.alpha_bar(last_timestep));
    if (evaluations) *evaluations = 0;
    diffuse::sample(counted{model, evaluations}, sampler, grid, x);
    x /= std::sqrt(betas.alphas_cumprod()[0]);
    return x;
}

}  // namespace convergence
