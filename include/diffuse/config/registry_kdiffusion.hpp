// diffuse/config/registry_kdiffusion.hpp: factories of the samplers that live in k-diffusion's
// state x = x0 + sigma eps: diffusers' Euler-family classes (EulerDiscrete, EulerAncestralDiscrete,
// HeunDiscrete, KDPM2Discrete, KDPM2AncestralDiscrete, LMSDiscrete, DPMSolverSDE) on the grid of
// their set_timesteps, and k-diffusion-only samplers by their k-diffusion name (dpmpp_2s_ancestral,
// dpmpp_2m_sde, dpmpp_3m_sde, edm, dpm_adaptive) on the same discrete-schedule grids.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

#include "diffuse/config/registry_detail.hpp"
#include "diffuse/sampler/dpm2.hpp"
#include "diffuse/sampler/dpm2_ancestral.hpp"
#include "diffuse/sampler/dpm_adaptive.hpp"
#include "diffuse/sampler/dpmpp_2m_sde.hpp"
#include "diffuse/sampler/dpmpp_2s_ancestral.hpp"
#include "diffuse/sampler/dpmpp_3m_sde.hpp"
#include "diffuse/sampler/dpmpp_sde.hpp"
#include "diffuse/sampler/edm.hpp"
#include "diffuse/sampler/edm_preconditioning.hpp"
#include "diffuse/sampler/euler.hpp"
#include "diffuse/sampler/euler_ancestral.hpp"
#include "diffuse/sampler/heun.hpp"
#include "diffuse/sampler/level_map.hpp"
#include "diffuse/sampler/lms.hpp"

namespace diffuse::config::detail {

template <Real T>
any_sampler<T> make_euler(const options& o) {
    auto betas = discrete_schedule<T>(o);
    schedule::vp_sigma_options<T> grid{
        .timestep_spacing = schedule::parse_spacing(o.get_string("timestep_spacing", "linspace")),
        .steps_offset = o.get_int("steps_offset", 0)};
    grid.sigmas = sigma_kind(o);
    grid.last = final_sigma(o);
    if (o.contains("sigma_min")) grid.sigma_min = o.get_double("sigma_min", 0.0);
    if (o.contains("sigma_max")) grid.sigma_max = o.get_double("sigma_max", 0.0);
    require_value(o, "interpolation_type", o.get_string("interpolation_type", "linear"), std::string("linear"),
                  "\"linear\"");
    // timestep_type "continuous" (Stable Video Diffusion): with v_prediction the network is told
    // c_noise = ln(sigma) / 4; with the other predictions diffusers keeps the discrete timesteps.
    const bool continuous = one_of(o, "timestep_type", "discrete", {"discrete", "continuous"}) == "continuous";
    sampler::euler_options<T> opt{.prediction = prediction(o)};
    grid.continuous_timesteps = continuous && opt.prediction == predict::prediction::v_prediction;
    return any_sampler<T>::wrap("EulerDiscreteScheduler", sampler::euler<T>(opt),
                                [betas = std::move(betas), grid](index steps) {
                                    auto g = grid;
                                    g.steps = steps;
                                    return schedule::vp_sigma_grid(betas, g);
                                });
}

template <Real T>
any_sampler<T> make_euler_ancestral(const options& o) {
    auto betas = discrete_schedule<T>(o);
    auto grid_for = vp_grid_for<T>(o, std::move(betas), false);
    return any_sampler<T>::wrap("EulerAncestralDiscreteScheduler",
                                sampler::euler_ancestral<T>({.prediction = prediction(o), .draw_when_noiseless = true}),
                                grid_for);
}

template <Real T>
any_sampler<T> make_heun(const options& o) {
    auto betas = discrete_schedule<T>(o, false);
    auto grid_for = vp_grid_for<T>(o, std::move(betas), true);
    // diffusers clips x0 only with clip_sample=True (default False); the Heun run has no x0 clipping.
    static_cast<void>(o.get_double("clip_sample_range", 1.0));
    require_value(o, "clip_sample", o.get_bool("clip_sample", false), false,
                  "false (x0 clipping is not implemented for Heun)");
    return any_sampler<T>::wrap("HeunDiscreteScheduler", sampler::heun<T>({.prediction = prediction(o)}), grid_for);
}

// KDPM2 evaluates at geometric midpoints: their model times come from the training sigmas
// (vp_levels), and Karras timesteps are rounded as diffusers does.
template <Real T>
any_sampler<T> make_kdpm2(const options& o) {
    auto betas = discrete_schedule<T>(o, false);
    auto levels = sampler::vp_levels(betas);
    auto grid_for = vp_grid_for<T>(o, std::move(betas), true, true);
    return any_sampler<T>::wrap("KDPM2DiscreteScheduler",
                                sampler::dpm2<T>({.prediction = prediction(o), .levels = levels}), grid_for);
}

template <Real T>
any_sampler<T> make_kdpm2_ancestral(const options& o) {
    auto betas = discrete_schedule<T>(o, false);
    auto levels = sampler::vp_levels(betas);
    auto grid_for = vp_grid_for<T>(o, std::move(betas), true, true);
    return any_sampler<T>::wrap("KDPM2AncestralDiscreteScheduler",
                                sampler::dpm2_ancestral<T>({.prediction = prediction(o), .levels = levels}), grid_for);
}

template <Real T>
any_sampler<T> make_lms(const options& o) {
    auto betas = discrete_schedule<T>(o, false);
    auto grid_for = vp_grid_for<T>(o, std::move(betas), true);
    return any_sampler<T>::wrap("LMSDiscreteScheduler", sampler::lms<T>({.prediction = prediction(o)}), grid_for);
}

// DPMSolverSDEScheduler: noise_sampler_seed (an integer >= 0) seeds each run's own Brownian path, as
// it seeds diffusers' Brownian tree (other numbers: sampler/brownian_noise.hpp); null or absent:
// the noise is the caller's (a noise source or buffer passed to step or sample).
template <Real T>
any_sampler<T> make_dpmpp_sde_scheduler(const options& o) {
    auto betas = discrete_schedule<T>(o, false);
    auto levels = sampler::vp_levels(betas);
    auto grid_for = vp_grid_for<T>(o, std::move(betas), true);
    std::optional<std::uint64_t> seed;
    if (o.contains("noise_sampler_seed")) {
        const std::int64_t given = o.get_int("noise_sampler_seed", 0);
        require(given >= 0, "noise_sampler_seed", given, "null or an integer >= 0");
        seed = static_cast<std::uint64_t>(given);
    }
    return any_sampler<T>::wrap(
        "DPMSolverSDEScheduler",
        sampler::dpmpp_sde<T>({.prediction = prediction(o), .levels = levels, .noise_sampler_seed = seed}), grid_for);
}

// --- k-diffusion names: a discrete VP schedule (the same keys), the Euler-family grid, and the
// sampler's own typed options (eta, s_noise, ...), defaults as in k-diffusion.

template <Real T>
T typed(const options& o, std::string_view key, T fallback) {
    return static_cast<T>(o.get_double(key, static_cast<double>(fallback)));
}

template <Real T, class Sampler>
any_sampler<T> kdiffusion_sampler(const options& o, std::string name, auto make_options) {
    auto betas = discrete_schedule<T>(o);
    auto levels = sampler::vp_levels(betas);
    auto grid_for = vp_grid_for<T>(o, std::move(betas), true);
    return any_sampler<T>::wrap(std::move(name), Sampler(make_options(prediction(o), levels)), grid_for);
}

template <Real T>
any_sampler<T> make_dpmpp_2s_ancestral(const options& o) {
    return kdiffusion_sampler<T, sampler::dpmpp_2s_ancestral<T>>(o, "dpmpp_2s_ancestral", [&](auto p, auto levels) {
        return sampler::dpmpp_2s_ancestral_options<T>{.prediction = p,
                                                      .eta = typed<T>(o, "eta", T(1)),
                                                      .s_noise = typed<T>(o, "s_noise", T(1)),
                                                      .levels = levels};
    });
}

template <Real T>
any_sampler<T> make_dpmpp_2m_sde(const options& o) {
    return kdiffusion_sampler<T, sampler::dpmpp_2m_sde<T>>(o, "dpmpp_2m_sde", [&](auto p, auto) {
        const auto solver = one_of(o, "solver_type", "midpoint", {"midpoint", "heun"});
        return sampler::dpmpp_2m_sde_options<T>{.prediction = p,
                                                .eta = typed<T>(o, "eta", T(1)),
                                                .s_noise = typed<T>(o, "s_noise", T(1)),
                                                .solver = solver == "midpoint" ? sampler::dpmpp_2m_sde_solver::midpoint
                                                                               : sampler::dpmpp_2m_sde_solver::heun};
    });
}

template <Real T>
any_sampler<T> make_dpmpp_3m_sde(const options& o) {
    return kdiffusion_sampler<T, sampler::dpmpp_3m_sde<T>>(o, "dpmpp_3m_sde", [&](auto p, auto) {
        return sampler::dpmpp_3m_sde_options<T>{
            .prediction = p, .eta = typed<T>(o, "eta", T(1)), .s_noise = typed<T>(o, "s_noise", T(1))};
    });
}

// Karras et al. 2022, Algorithm 2 (k-diffusion's sample_heun with churn).
template <Real T>
any_sampler<T> make_edm(const options& o) {
    return kdiffusion_sampler<T, sampler::edm<T>>(o, "edm", [&](auto p, auto levels) {
        return sampler::edm_options<T>{.prediction = p,
                                       .s_churn = typed<T>(o, "s_churn", T(0)),
                                       .s_tmin = typed<T>(o, "s_tmin", T(0)),
                                       .s_tmax = typed<T>(o, "s_tmax", std::numeric_limits<T>::infinity()),
                                       .s_noise = typed<T>(o, "s_noise", T(1)),
                                       .levels = levels};
    });
}

// EDMEulerScheduler: Euler on D = c_skip x + c_out F (sampler/edm_preconditioning.hpp) over the EDM
// grid (schedule::edm_sigma_grid: Karras or exponential sigmas, c_in inputs, c_noise times).
// diffusers' step(s_churn, ...) arguments are not config keys; they stay at their defaults (no churn).
template <Real T>
any_sampler<T> make_edm_euler(const options& o) {
    const schedule::edm_grid_options grid = edm_grid(o);
    const auto kind = sampler::parse_edm_output(one_of(o, "prediction_type", "epsilon", {"epsilon", "v_prediction"}));
    const sampler::euler<T> euler({.prediction = predict::prediction::sample});
    const sampler::edm_preconditioned<sampler::euler<T>> s(
        euler, sampler::edm_weights<T>(static_cast<T>(grid.sigma_data), kind));
    return any_sampler<T>::wrap("EDMEulerScheduler", s, [grid](index steps) {
        auto g = grid;
        g.steps = steps;
        return schedule::edm_sigma_grid<T>(g);
    });
}

// The adaptive DPM-Solver-12/23 picks its own steps: start()'s step count is ignored and the run
// goes from sigma_max to sigma_min (default: the training sigmas' extremes).
template <Real T>
any_sampler<T> make_dpm_adaptive(const options& o) {
    auto betas = discrete_schedule<T>(o);
    const auto sig = schedule::training_sigmas(betas);
    const auto [lo, hi] = std::minmax_element(sig.begin(), sig.end());
    const sampler::sigma_interval<T> interval{typed<T>(o, "sigma_max", *hi), typed<T>(o, "sigma_min", *lo),
                                              sampler::vp_levels(betas)};
    interval.validate();
    const sampler::dpm_adaptive_options<T> opt{.prediction = prediction(o),
                                               .order = o.get_int("order", 3),
                                               .rtol = typed<T>(o, "rtol", T(0.05)),
                                               .atol = typed<T>(o, "atol", T(0.0078)),
                                               .h_init = typed<T>(o, "h_init", T(0.05)),
                                               .pcoeff = typed<T>(o, "pcoeff", T(0)),
                                               .icoeff = typed<T>(o, "icoeff", T(1)),
                                               .dcoeff = typed<T>(o, "dcoeff", T(0)),
                                               .accept_safety = typed<T>(o, "accept_safety", T(0.81)),
                                               .eta = typed<T>(o, "eta", T(0)),
                                               .s_noise = typed<T>(o, "s_noise", T(1))};
    return any_sampler<T>::wrap("dpm_adaptive", sampler::dpm_adaptive<T>(opt), [interval](index) { return interval; });
}

}  // namespace diffuse::config::detail
