// diffuse/sampler/detail/consistency.hpp: the boundary-condition parameterization that consistency
// samplers (consistency_model.hpp, lcm.hpp) share: the consistency function is
//   f(x, s) = c_skip(s) x + c_out(s) F(x, s),   c_skip(s_min) = 1, c_out(s_min) = 0,
// so that f is the identity at the start of the diffusion (Song et al. 2023, "Consistency Models",
// eq. 5 and App. C, with EDM's c_skip/c_out shifted by s_min).
#pragma once

#include <cmath>

#include "diffuse/core/config.hpp"

namespace diffuse::sampler::detail {

template <Real T>
struct boundary_scalings {
    T skip;
    T out;
};

// Song et al. 2023, App. C: c_skip = sd^2 / ((sigma - sigma_min)^2 + sd^2),
// c_out = (sigma - sigma_min) sd / sqrt(sigma^2 + sd^2) (diffusers' CMStochasticIterativeScheduler).
template <Real T>
boundary_scalings<T> consistency_scalings(T sigma, T sigma_min, T sigma_data) {
    const T shifted = sigma - sigma_min, sd2 = sigma_data * sigma_data;
    return {sd2 / (shifted * shifted + sd2), shifted * sigma_data / std::sqrt(sigma * sigma + sd2)};
}

// The discrete-time form of latent consistency models (Luo et al. 2023, "Latent Consistency Models",
// eq. 9 and its code): the same shape in the scaled timestep u = t * timestep_scaling with sigma_data
// 0.5 and no s_min shift: c_skip = sd^2 / (u^2 + sd^2), c_out = u / sqrt(u^2 + sd^2).
template <Real T>
boundary_scalings<T> lcm_scalings(double timestep, T timestep_scaling, T sigma_data = T(0.5)) {
    const T u = static_cast<T>(timestep) * timestep_scaling, sd2 = sigma_data * sigma_data;
    return {sd2 / (u * u + sd2), u / std::sqrt(u * u + sd2)};
}

}  // namespace diffuse::sampler::detail
