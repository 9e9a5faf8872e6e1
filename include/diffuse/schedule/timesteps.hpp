// diffuse/schedule/timesteps.hpp: the grid of training timesteps an inference run visits.
//
// Spacing rules as named by diffusers (and tabulated in Lin et al. 2024, Table 2):
//   leading:   (arange(n) * (T // n))[::-1] + steps_offset   (the only rule steps_offset shifts)
//   trailing:  round(arange(T, 0, -T/n)) - 1
//   linspace:  round(linspace(0, T - 1, n))[::-1]
// A grid is strictly decreasing; the step from grid[i] goes to grid[i+1] and the last step goes
// to the clean sample. Samplers always use the next grid entry as the previous timestep (diffusers'
// DDIM uses t - T//n instead, which is wrong for trailing/linspace when n does not divide T).
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"

namespace diffuse::schedule {

using timestep = std::int64_t;

enum class spacing { leading, trailing, linspace };

inline constexpr std::string_view spacing_names = "leading, trailing, linspace";

inline spacing parse_spacing(std::string_view name) {
    if (name == "leading") return spacing::leading;
    if (name == "trailing") return spacing::trailing;
    if (name == "linspace") return spacing::linspace;
    throw invalid("timestep_spacing", name, spacing_names);
}

// `steps` timesteps out of `num_train_timesteps`, strictly decreasing.
inline std::vector<timestep> spaced_timesteps(index num_train_timesteps, index steps, spacing rule = spacing::leading,
                                              index steps_offset = 0) {
    require(num_train_timesteps >= 2, "num_train_timesteps", num_train_timesteps, "an integer >= 2");
    require(steps >= 1 && steps <= num_train_timesteps, "num_inference_steps", steps,
            "an integer in [1, num_train_timesteps = " + std::to_string(num_train_timesteps) + "]");
    require(steps_offset >= 0 && steps_offset < num_train_timesteps, "steps_offset", steps_offset,
            "an integer in [0, num_train_timesteps)");
    std::vector<timestep> out(static_cast<std::size_t>(steps));
    const auto n = static_cast<std::size_t>(steps);
    switch (rule) {
        case spacing::leading: {
            const index ratio = num_train_timesteps / steps;
            for (std::size_t i = 0; i < n; ++i)
                out[i] = static_cast<timestep>((steps - 1 - static_cast<index>(i)) * ratio + steps_offset);
            // diffusers would index past the training schedule here.
            require(out.front() < num_train_timesteps, "steps_offset", steps_offset,
                    "small enough that the first leading timestep stays below num_train_timesteps");
            break;
        }
        case spacing::trailing: {
            // np.arange(T, 0, -T/n) evaluates T - i * (T/n) in double; np.round rounds half to even.
            const double ratio = static_cast<double>(num_train_timesteps) / static_cast<double>(steps);
            for (std::size_t i = 0; i < n; ++i) {
                const double t = static_cast<double>(num_train_timesteps) + static_cast<double>(i) * -ratio;
                out[i] = static_cast<timestep>(std::nearbyint(t)) - 1;
            }
            break;
        }
        case spacing::linspace: {
            // np.linspace evaluates k * step (the end point exactly), np.round rounds half to even.
            const double last = static_cast<double>(num_train_timesteps - 1);
            const double step = steps == 1 ? 0.0 : last / static_cast<double>(steps - 1);
            for (std::size_t i = 0; i < n; ++i) {
                const index k = steps - 1 - static_cast<index>(i);
                const double t = (k == steps - 1 && steps > 1) ? last : static_cast<double>(k) * step;
                out[i] = static_cast<timestep>(std::nearbyint(t));
            }
            break;
        }
    }
    return out;
}

// Checks a user-supplied grid: non-empty, strictly decreasing, inside [0, T).
inline void require_valid_grid(std::span<const timestep> grid, index num_train_timesteps) {
    require(!grid.empty(), "timesteps.size()", 0, "at least one timestep");
    for (std::size_t i = 0; i < grid.size(); ++i) {
        if (grid[i] < 0 || grid[i] >= num_train_timesteps) {
            throw invalid("timesteps[" + std::to_string(i) + "]", grid[i],
                          "an integer in [0, " + std::to_string(num_train_timesteps - 1) + "]");
        }
        if (i > 0 && grid[i] >= grid[i - 1]) {
            throw invalid("timesteps[" + std::to_string(i) + "]", grid[i],
                          "strictly less than timesteps[" + std::to_string(i - 1) +
                              "] = " + std::to_string(grid[i - 1]) + " (a grid runs from noise to data)");
        }
    }
}

// img2img: keep the last `strength` fraction of the grid (diffusers' get_timesteps):
// init = min(n * strength, n), t_start = max(n - init, 0), grid[t_start * order :].
inline std::vector<timestep> strength_timesteps(std::span<const timestep> grid, double strength, index order = 1) {
    require(strength >= 0.0 && strength <= 1.0, "strength", strength, "[0, 1]");
    require(order >= 1, "order", order, "an integer >= 1");
    const auto n = static_cast<index>(grid.size()) / order;
    const auto init = std::min(static_cast<index>(static_cast<double>(n) * strength), n);
    const auto start = std::max<index>(n - init, 0) * order;
    return {grid.begin() + start, grid.end()};
}

}  // namespace diffuse::schedule
