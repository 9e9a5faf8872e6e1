// diffuse/sampler/step_target.hpp: where a step from a grid entry of training timesteps lands, for the
// samplers that step on such a grid with a DDIM-type transfer (DDIM, PNDM; DDIM inversion runs the
// same rule backwards, from the target to t).
//
// This library steps from a grid entry to the next one, so every step covers its interval and the
// state always sits at the noise level the network is next told. diffusers' DDIMScheduler and
// PNDMScheduler step from t to t - T // n instead (T training timesteps, n steps) and evaluate the
// network at the next grid entry whatever level that left the state at. The two agree for leading
// spacing and for trailing spacing when n divides T; for linspace spacing, or trailing with other n,
// diffusers' steps skip part of each interval. Its rule is kept as an option so that the runtime
// facade's DDIMScheduler, DDIMInverseScheduler and PNDMScheduler step as diffusers' classes do.
// (DDPMScheduler, LCMScheduler and TCDScheduler step to the next grid entry in diffusers too.)
#pragma once

#include "diffuse/core/config.hpp"
#include "diffuse/schedule/timesteps.hpp"

namespace diffuse::sampler {

enum class step_target {
    next_grid_entry,         // t -> the grid entry after t (default)
    diffusers_prev_timestep  // t -> t - T // n, diffusers' DDIM/PNDM prev_timestep
};

// What a step from grid entry `t` with `next` after it (< 0: t is the last entry) targets, on a grid of
// `steps` (> 0) entries over `num_train_timesteps`; a result < 0 means past the grid (the final alphabar).
inline timestep target_timestep(step_target rule, timestep t, timestep next, index num_train_timesteps, index steps) {
    if (rule == step_target::next_grid_entry) return next;
    return t - static_cast<timestep>(num_train_timesteps / steps);
}

}  // namespace diffuse::sampler
