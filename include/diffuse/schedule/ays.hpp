// diffuse/schedule/ays.hpp: Align Your Steps (Sabour et al. 2024, arXiv 2404.14507): sigma
// schedules optimized for 10 steps per model, and their log-linear interpolation to any step
// count (the authors' loglinear_interp: interpolate log sigma linearly on [0, 1]).
// The tables end at the model's sigma_min as published; diffusers' AysSchedules replace that
// last entry by 0, which is final_sigma::zero here.
#pragma once

#include <array>
#include <cmath>
#include <vector>

#include "diffuse/schedule/discrete.hpp"
#include "diffuse/schedule/sigmas.hpp"

namespace diffuse::schedule {

enum class ays_model { stable_diffusion, stable_diffusion_xl, stable_video_diffusion };

// The published 10-step tables (11 sigmas; Sabour et al. 2024, project page "How to use").
inline std::array<double, 11> ays_table(ays_model m) {
    switch (m) {
        case ays_model::stable_diffusion:
            return {14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029};
        case ays_model::stable_diffusion_xl:
            return {14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029};
        case ays_model::stable_video_diffusion:
            return {700.00, 54.5, 15.886, 7.977, 4.248, 1.789, 0.981, 0.403, 0.173, 0.034, 0.002};
    }
    return {};
}

// `count` decreasing values from the decreasing positive `sigmas`, log-linear in between.
inline std::vector<double> loglinear_interp(std::span<const double> sigmas, index count) {
    require(sigmas.size() >= 2, "sigmas.size()", sigmas.size(), "at least 2");
    require(count >= 2, "count", count, "an integer >= 2");
    for (std::size_t i = 0; i < sigmas.size(); ++i) {
        require(sigmas[i] > 0 && std::isfinite(sigmas[i]) && (i == 0 || sigmas[i] < sigmas[i - 1]),
                "sigmas[" + std::to_string(i) + "]", sigmas[i], "finite, > 0 and strictly decreasing");
    }
    const double last = static_cast<double>(sigmas.size() - 1);
    std::vector<double> out = detail::linspace(0.0, 1.0, count);
    for (double& u : out) {  // u = 0 at the largest sigma
        const double at = u * last;
        const auto lo = static_cast<std::size_t>(std::min(std::floor(at), last - 1));
        const double w = at - static_cast<double>(lo);
        u = std::exp((1.0 - w) * std::log(sigmas[lo]) + w * std::log(sigmas[lo + 1]));
    }
    return out;
}

// The AYS sigmas for `steps` steps: steps + 1 sigmas, the last the table's sigma_min, or 0.
inline std::vector<double> ays_sigmas(ays_model m, index steps, final_sigma last = final_sigma::zero) {
    require(steps >= 1, "num_inference_steps", steps, "an integer >= 1");
    const auto table = ays_table(m);
    std::vector<double> out = loglinear_interp(table, steps + 1);
    if (last == final_sigma::zero) out.back() = 0.0;
    return out;
}

}  // namespace diffuse::schedule
