// diffuse/schedule/wuerstchen.hpp: the continuous-time cosine schedule of Wuerstchen and Stable
// Cascade (Pernias et al. 2024; diffusers' DDPMWuerstchenScheduler), on t in [0, 1]:
//   t'          = 1 - (1 - t)^scaler (scaler > 1), t^scaler (scaler < 1), t (scaler = 1)
//   alphabar(t) = clamp(cos^2((t' + s)/(1 + s) pi/2) / cos^2(s/(1 + s) pi/2), 1e-4, 0.9999)
// The network is told t itself. An n-step run visits t = linspace(1, 0, n + 1) (set_timesteps) and
// evaluates the model at the first n.
#pragma once

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "diffuse/core/error.hpp"
#include "diffuse/schedule/discrete.hpp"
#include "diffuse/schedule/sigmas.hpp"

namespace diffuse::schedule {

// Defaults are diffusers' (and Stable Cascade's scheduler_config.json).
struct wuerstchen_cosine {
    double scaler = 1.0;
    double s = 0.008;

    void validate() const {
        require(std::isfinite(scaler) && scaler > 0.0, "scaler", scaler, "a finite number > 0");
        require(std::isfinite(s) && s >= 0.0, "s", s, "a finite number >= 0");
    }

    [[nodiscard]] double alpha_bar(double t) const {
        if (scaler > 1.0) t = 1.0 - std::pow(1.0 - t, scaler);
        else if (scaler < 1.0) t = std::pow(t, scaler);
        const auto c = [this](double u) {
            const double v = std::cos((u + s) / (1.0 + s) * std::numbers::pi * 0.5);
            return v * v;
        };
        return std::clamp(c(t) / c(0.0), 1e-4, 0.9999);
    }

    // The levels of an n-step run: t = linspace(1, 0, n + 1), sigma = sqrt((1 - ab) / ab),
    // alpha = sqrt(ab). From 156 steps on (at scaler 1) the first two times both fall into the clamp
    // at 1e-4: equal levels, which a sigma_grid refuses (diffusers takes a no-op step there).
    template <Real T>
    [[nodiscard]] sigma_grid<T> grid(index steps) const {
        validate();
        require(steps >= 1, "num_inference_steps", steps, "an integer >= 1");
        const std::vector<double> times = detail::linspace(1.0, 0.0, steps + 1);
        std::vector<noise_level<T>> levels;
        for (const double time : times) {
            const double t = static_cast<float>(time);  // diffusers' timesteps are float32
            const double ab = alpha_bar(t);
            levels.push_back({static_cast<T>(std::sqrt((1.0 - ab) / ab)), static_cast<T>(std::sqrt(ab)), t});
        }
        return sigma_grid<T>(std::move(levels), T(1));
    }
};

}  // namespace diffuse::schedule
