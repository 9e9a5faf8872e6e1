// diffuse/config/registry_consistency.hpp: factories of the few-step and special-grid classes:
// LCMScheduler, TCDScheduler, CMStochasticIterativeScheduler, SCMScheduler, IPNDMScheduler,
// FlowMatchEulerDiscreteScheduler, FlowMapEulerDiscreteScheduler and LTXEulerAncestralRFScheduler.
#pragma once

#include <string>

#include "diffuse/config/registry_detail.hpp"
#include "diffuse/sampler/consistency_model.hpp"
#include "diffuse/sampler/euler.hpp"
#include "diffuse/sampler/ipndm.hpp"
#include "diffuse/sampler/lcm.hpp"
#include "diffuse/sampler/rf_euler_ancestral.hpp"
#include "diffuse/sampler/scm.hpp"
#include "diffuse/sampler/tcd.hpp"
#include "diffuse/sampler/x0_from_output.hpp"
#include "diffuse/schedule/flow.hpp"

namespace diffuse::config::detail {

inline constexpr beta_defaults stable_diffusion_betas{"scaled_linear", 0.00085, 0.012};

// LCM and TCD pick their timesteps from the distillation grid (lcm_timesteps). Keys diffusers
// reads that do not change these steps: set_alpha_to_one (the last step returns x0 itself),
// timestep_spacing and steps_offset (set_timesteps does not use them).
inline auto distillation_grid_for(const options& o, index train) {
    const auto original = o.get_int("original_inference_steps", 50);
    static_cast<void>(o.get_bool("set_alpha_to_one", true));
    static_cast<void>(schedule::parse_spacing(o.get_string("timestep_spacing", "leading")));
    static_cast<void>(o.get_int("steps_offset", 0));
    static_cast<void>(sampler::lcm_timesteps(train, 1, original));  // checks original_inference_steps now
    return [train, original](index steps) { return sampler::lcm_timesteps(train, steps, original); };
}

template <Real T>
any_sampler<T> make_lcm(const options& o) {
    auto betas = discrete_schedule<T>(o, true, stable_diffusion_betas);
    const auto grid_for = distillation_grid_for(o, betas.num_train_timesteps());
    const sampler::lcm_options<T> opt{.prediction = prediction(o),
                                      .timestep_scaling = static_cast<T>(o.get_double("timestep_scaling", 10.0)),
                                      .x0 = x0_processing<T>(o, false)};
    return any_sampler<T>::wrap("LCMScheduler", sampler::lcm<T>(std::move(betas), opt), grid_for);
}

// TCD's gamma is the `eta` argument of diffusers' TCDScheduler.step (pipelines pass 0.3); here it
// is the option "gamma". TCD has no x0 clipping or thresholding: those keys must stay off.
template <Real T>
any_sampler<T> make_tcd(const options& o) {
    auto betas = discrete_schedule<T>(o, true, stable_diffusion_betas);
    const auto grid_for = distillation_grid_for(o, betas.num_train_timesteps());
    static_cast<void>(o.get_double("timestep_scaling", 10.0));  // TCD's boundary conditions are not used by its step
    require_value(o, "clip_sample", o.get_bool("clip_sample", false), false, "false (not implemented for TCD)");
    require_value(o, "thresholding", o.get_bool("thresholding", false), false, "false (not implemented for TCD)");
    static_cast<void>(o.get_double("clip_sample_range", 1.0));
    static_cast<void>(o.get_double("dynamic_thresholding_ratio", 0.995));
    static_cast<void>(o.get_double("sample_max_value", 1.0));
    const sampler::tcd_options<T> opt{.prediction = prediction(o), .gamma = static_cast<T>(o.get_double("gamma", 0.3))};
    return any_sampler<T>::wrap("TCDScheduler", sampler::tcd<T>(std::move(betas), opt), grid_for);
}

// CMStochasticIterativeScheduler: the Karras ramp of num_train_timesteps levels (Song et al. 2023).
template <Real T>
any_sampler<T> make_consistency_model(const options& o) {
    const sampler::consistency_model_options<T> opt{.num_train_timesteps = o.get_int("num_train_timesteps", 40),
                                                    .sigma_min = static_cast<T>(o.get_double("sigma_min", 0.002)),
                                                    .sigma_max = static_cast<T>(o.get_double("sigma_max", 80.0)),
                                                    .sigma_data = static_cast<T>(o.get_double("sigma_data", 0.5)),
                                                    .s_noise = static_cast<T>(o.get_double("s_noise", 1.0)),
                                                    .rho = static_cast<T>(o.get_double("rho", 7.0)),
                                                    .clip_denoised = o.get_bool("clip_denoised", true)};
    const sampler::consistency_model<T> cm(opt);
    return any_sampler<T>::wrap("CMStochasticIterativeScheduler", cm, [cm](index steps) { return cm.grid(steps); });
}

// IPNDMScheduler: the network output is read as v in the network's own state (as diffusers does).
// trained_betas, if given, is its sigma_t grid (n + 1 values for n steps); otherwise diffusers'
// sin^2 schedule from sigma_t = 1, or from the option "start" < 1 (ipndm_model_sigmas says why).
template <Real T>
any_sampler<T> make_ipndm(const options& o) {
    static_cast<void>(o.get_int("num_train_timesteps", 1000));  // the grid does not depend on it
    const auto sigmas = o.get_list("trained_betas");
    const double start = o.get_double("start", 1.0);
    static_cast<void>(sampler::ipndm_model_sigmas(1, start));  // checks start now
    require(sigmas.empty() || !o.contains("start"), "start", start, "not set together with trained_betas");
    const sampler::ipndm<T> s({.prediction = predict::prediction::v_prediction, .space = sampler::state_space::model});
    return any_sampler<T>::wrap("IPNDMScheduler", s, [sigmas, start](index steps) {
        if (sigmas.empty()) return sampler::ipndm_grid<T>(sampler::ipndm_model_sigmas(steps, start));
        require(
            static_cast<std::size_t>(steps) + 1 == sigmas.size(), "num_inference_steps", steps,
            "trained_betas.size() - 1 = " + std::to_string(sigmas.size() - 1) + " (trained_betas is the sigma_t grid)");
        return sampler::ipndm_grid<T>(sigmas);
    });
}

// FlowMatchEulerDiscreteScheduler: Euler in the flow state on flow_match_grid. Dynamic shifting takes
// mu (or image_seq_len) as an option, since start(steps) has no room for set_timesteps(mu=...).
template <Real T>
any_sampler<T> make_flow_match_euler(const options& o) {
    schedule::flow_match_options grid{.num_train_timesteps = o.get_int("num_train_timesteps", 1000),
                                      .shift = o.get_double("shift", 1.0)};
    const auto shift = dynamic_shifting(o, true);
    grid.use_dynamic_shifting = shift.enabled;
    grid.time_shift = shift.kind;
    if (o.contains("shift_terminal")) grid.shift_terminal = o.get_double("shift_terminal", 0.0);
    grid.sigmas = sigma_kind(o);
    // stochastic_sampling: x0 re-noised to the next level with the caller's noise (euler's renoise).
    const bool stochastic = o.get_bool("stochastic_sampling", false);
    grid.invert_sigmas = o.get_bool("invert_sigmas", false);
    // diffusers' stochastic step reads x0 = x - (1 - s) F on inverted sigmas, which is not the
    // inverted network's x0; the combination is left out.
    require(!(stochastic && grid.invert_sigmas), "stochastic_sampling", "true",
            "false with invert_sigmas (the combination is not implemented)");
    // mu usually comes with the run (a shipped config has none); the other keys are checked now.
    auto checked = grid;
    checked.mu = shift.enabled ? std::optional<double>(shift.mu.value_or(1.0)) : shift.mu;
    checked.validate();
    const auto grid_for = [grid, shift](index steps, const run_inputs& in) {
        auto g = grid;
        g.steps = steps;
        g.mu = shift.mu_for(in);
        if (g.use_dynamic_shifting && !g.mu) missing_mu("FlowMatchEulerDiscreteScheduler");
        return schedule::flow_match_grid<T>(g);
    };
    const auto space = sampler::state_space::model;
    if (grid.invert_sigmas) {  // the network returns -v and is told (1 - s) T
        const sampler::x0_from_output<sampler::euler<T>, sampler::inverted_flow_weights<T>> inverted(
            sampler::euler<T>({.prediction = predict::prediction::sample, .space = space}), {});
        return any_sampler<T>::wrap("FlowMatchEulerDiscreteScheduler", inverted, grid_for);
    }
    const sampler::euler<T> euler(
        {.prediction = predict::prediction::flow_velocity, .space = space, .renoise = stochastic});
    return any_sampler<T>::wrap("FlowMatchEulerDiscreteScheduler", euler, grid_for);
}

// FlowMapEulerDiscreteScheduler: Euler in the flow state on flow_map_grid (num_train_timesteps, shift).
template <Real T>
any_sampler<T> make_flow_map_euler(const options& o) {
    const auto train = o.get_int("num_train_timesteps", 1000);
    const double shift = o.get_double("shift", 1.0);
    static_cast<void>(schedule::flow_map_grid<T>(1, train, shift));  // the keys are checked now
    const sampler::euler<T> euler(
        {.prediction = predict::prediction::flow_velocity, .space = sampler::state_space::model});
    return any_sampler<T>::wrap("FlowMapEulerDiscreteScheduler", euler, [train, shift](index steps) {
        return schedule::flow_map_grid<T>(steps, train, shift);
    });
}

// LTXEulerAncestralRFScheduler: rf_euler_ancestral on the grid of a FlowMatchEulerDiscreteScheduler
// built from diffusers' defaults and this config's num_train_timesteps (its set_timesteps does that;
// the other FlowMatch keys, shift included, are not passed on).
template <Real T>
any_sampler<T> make_ltx_euler_ancestral_rf(const options& o) {
    const schedule::flow_match_options grid{.num_train_timesteps = o.get_int("num_train_timesteps", 1000)};
    const sampler::rf_euler_ancestral<T> s({.prediction = predict::prediction::flow_velocity,
                                            .eta = static_cast<T>(o.get_double("eta", 1.0)),
                                            .s_noise = static_cast<T>(o.get_double("s_noise", 1.0))});
    return any_sampler<T>::wrap("LTXEulerAncestralRFScheduler", s, [grid](index steps) {
        auto g = grid;
        g.steps = steps;
        return schedule::flow_match_grid<T>(g);
    });
}

// SCMScheduler: sCM's TrigFlow steps on the angles of its set_timesteps. Its arguments max_timesteps
// (1.5708) and intermediate_timesteps (1.3, used with 2 steps) are options; other step counts take
// linspace(max, 0, n + 1), which diffusers does when intermediate_timesteps=None is passed.
template <Real T>
any_sampler<T> make_scm(const options& o) {
    const auto train = o.get_int("num_train_timesteps", 1000);
    require(train >= 1, "num_train_timesteps", train, "an integer >= 1");
    static_cast<void>(one_of(o, "prediction_type", "trigflow", {"trigflow"}));
    const double max_angle = o.get_double("max_timesteps", 1.5708);
    const double intermediate = o.get_double("intermediate_timesteps", 1.3);
    const auto angles = [=](index steps) {
        require(steps <= train, "num_inference_steps", steps,
                "at most num_train_timesteps = " + std::to_string(train) + " (diffusers' rule)");
        return sampler::scm_angles(steps, max_angle, steps == 2 ? std::optional<double>(intermediate) : std::nullopt);
    };
    static_cast<void>(angles(2));  // the keys are checked now
    const sampler::scm<T> s({.sigma_data = static_cast<T>(o.get_double("sigma_data", 0.5))});
    return any_sampler<T>::wrap("SCMScheduler", s, angles);
}

}  // namespace diffuse::config::detail
