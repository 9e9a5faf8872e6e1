// diffuse/config/registry_sde.hpp: the factory of the score-SDE class, ScoreSdeVeScheduler
// (sde/score_sde_ve.hpp): score_sde's predictor-corrector sampler at diffusers' levels.
#pragma once

#include "diffuse/config/registry_detail.hpp"
#include "diffuse/sde/score_sde_ve.hpp"

namespace diffuse::config::detail {

// The network's output is the score and it is told sigma_i. num_train_timesteps does not reach
// inference: the pipeline's set_timesteps(N) and set_sigmas(N) replace what __init__ built from it.
template <Real T>
any_sampler<T> make_score_sde_ve(const options& o) {
    static_cast<void>(o.get_int("num_train_timesteps", 2000));
    const sde::score_sde_ve<T> s({.snr = static_cast<T>(o.get_double("snr", 0.15)),
                                  .sigma_min = static_cast<T>(o.get_double("sigma_min", 0.01)),
                                  .sigma_max = static_cast<T>(o.get_double("sigma_max", 1348.0)),
                                  .sampling_eps = static_cast<T>(o.get_double("sampling_eps", 1e-5)),
                                  .correct_steps = o.get_int("correct_steps", 1)});
    return any_sampler<T>::wrap("ScoreSdeVeScheduler", s, [s](index steps) { return s.grid(steps); });
}

}  // namespace diffuse::config::detail
