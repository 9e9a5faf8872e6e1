// diffuse/sampler/level_map.hpp: the noise level (alpha, model time) at a sigma that is not on
// the grid.
//
// k-diffusion's samplers call the denoiser D(x; sigma) at sigmas between grid entries (DPM2's
// geometric midpoint, DPM-Solver++(2S)'s half step in log sigma, the churned sigma_hat of Karras
// et al. 2022 Algorithm 2, the steps of the adaptive DPM-Solver). Here the model is told
// (alpha x, model_time) instead of sigma, so these samplers take a level map: sigma -> level.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "diffuse/schedule/discrete.hpp"
#include "diffuse/schedule/sigmas.hpp"

namespace diffuse::sampler {

using schedule::noise_level;
using schedule::sigma_grid;

template <Real T>
using level_map = std::function<noise_level<T>(T sigma)>;

// A network trained on a discrete VP schedule, as diffusers' KDPM2 / DPMSolverSDE schedulers and
// k-diffusion's DiscreteEpsDDPMDenoiser see it: alpha = 1/sqrt(1 + sigma^2) and the model time is
// the fractional training timestep of sigma, interpolated in log sigma (schedule::sigma_to_timestep).
template <Real T>
level_map<T> vp_levels(const schedule::discrete<T>& schedule) {
    std::vector<double> log_sigmas;
    for (const T s : schedule::training_sigmas(schedule)) log_sigmas.push_back(std::log(static_cast<double>(s)));
    return [log_sigmas = std::move(log_sigmas)](T sigma) {
        return noise_level<T>{sigma, T(1) / std::sqrt(sigma * sigma + T(1)),
                              schedule::sigma_to_timestep(static_cast<double>(sigma), log_sigmas)};
    };
}

// The default when a sampler is given no map: read the levels off the grid itself.
// alpha: 1/sqrt(1 + sigma^2) if every grid level follows that rule (VP networks), 1 if every level
// has alpha = 1 (VE / EDM networks), 1/(1 + sigma) if every level follows that (flow networks),
// otherwise interpolated in log-log. Model time: linear in log sigma between the two grid levels
// around sigma (extrapolated from the outer pair beyond them) — exact for EDM's c_noise =
// ln(sigma)/4, close for VP timesteps; pass vp_levels(schedule) for diffusers' exact midpoints.
template <Real T>
level_map<T> grid_levels(const sigma_grid<T>& grid) {
    struct point {
        double log_sigma, log_alpha, time;
    };
    std::vector<point> points;  // levels with sigma > 0, sigma decreasing
    enum class rule { vp, unit, flow, interpolated };
    const auto follows = [&](auto alpha_of) {
        for (const auto& l : grid.levels()) {
            const double expected = alpha_of(static_cast<double>(l.sigma));
            if (std::abs(static_cast<double>(l.alpha) - expected) > 1e-5 * expected) return false;
        }
        return true;
    };
    const rule kind = follows([](double s) { return 1.0 / std::sqrt(1.0 + s * s); }) ? rule::vp
                      : follows([](double) { return 1.0; })                          ? rule::unit
                      : follows([](double s) { return 1.0 / (1.0 + s); })            ? rule::flow
                                                                                     : rule::interpolated;
    for (const auto& l : grid.levels()) {
        if (l.sigma > T(0)) {
            points.push_back(
                {std::log(static_cast<double>(l.sigma)), std::log(static_cast<double>(l.alpha)), l.model_time});
        }
    }
    require(!points.empty(), "grid", "no level with sigma > 0", "a grid with at least one positive sigma");
    return [points = std::move(points), kind](T sigma) {
        require(sigma > T(0) && std::isfinite(sigma), "sigma", sigma, "a finite number > 0 (an evaluation level)");
        const double ls = std::log(static_cast<double>(sigma));
        // The interval [i, i + 1] around ls (points run from the largest sigma down).
        std::size_t i = 0;
        while (i + 2 < points.size() && ls < points[i + 1].log_sigma) ++i;
        const auto lerp = [&](double point::*member) {
            if (points.size() == 1) return points[0].*member;
            const point &a = points[i], &b = points[i + 1];
            const double w = (ls - a.log_sigma) / (b.log_sigma - a.log_sigma);
            return a.*member + w * (b.*member - a.*member);
        };
        const double s = static_cast<double>(sigma);
        double alpha = 1.0;
        switch (kind) {
            case rule::vp:
                return noise_level<T>{sigma, T(1) / std::sqrt(sigma * sigma + T(1)), lerp(&point::time)};
            case rule::unit:
                alpha = 1.0;
                break;
            case rule::flow:
                alpha = 1.0 / (1.0 + s);
                break;
            case rule::interpolated:
                alpha = std::exp(lerp(&point::log_alpha));
                break;
        }
        return noise_level<T>{sigma, static_cast<T>(alpha), lerp(&point::time)};
    };
}

}  // namespace diffuse::sampler
