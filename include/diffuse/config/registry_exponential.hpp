// diffuse/config/registry_exponential.hpp: factories of diffusers' exponential-integrator classes
// (DPMSolverMultistep, DPMSolverSinglestep, DEISMultistep, UniPCMultistep) on the grids of their
// set_timesteps (schedule/solver_sigmas.hpp). Values diffusers silently rewrites (e.g. solver_type
// "bh2" for DPM-Solver) are rewritten the same way; values it rejects are errors here too.
#pragma once

#include "diffuse/config/registry_detail.hpp"
#include "diffuse/sampler/deis.hpp"
#include "diffuse/sampler/dpm_solver_multistep.hpp"
#include "diffuse/sampler/dpm_solver_singlestep.hpp"
#include "diffuse/sampler/edm_preconditioning.hpp"
#include "diffuse/sampler/sa_solver.hpp"
#include "diffuse/sampler/unipc.hpp"

namespace diffuse::config::detail {

// variance_type: null, "learned" or "learned_range" (the output's second half is the variance).
inline bool learned_variance(const options& o) {
    if (!o.contains("variance_type")) return false;
    static_cast<void>(one_of(o, "variance_type", "", {"learned", "learned_range"}));
    return true;
}

inline sampler::dpm_solver_type dpm_solver_type(const options& o) {
    return sampler::parse_dpm_solver_type(
        one_of(o, "solver_type", "midpoint", {"midpoint", "heun"}, {"logrho", "bh1", "bh2"}, "midpoint"));
}

// diffusers: only the data-prediction algorithms may end at sigma 0.
inline sampler::dpm_algorithm dpm_algorithm(const options& o, const std::vector<std::string>& accepted) {
    const auto name = one_of(o, "algorithm_type", "dpmsolver++", accepted, {"deis"}, "dpmsolver++");
    const auto last = o.get_string("final_sigmas_type", "zero");
    require(last != "zero" || name == "dpmsolver++" || name == "sde-dpmsolver++", "final_sigmas_type", last,
            "\"sigma_min\" with algorithm_type \"" + name + "\" (\"zero\" needs dpmsolver++ or sde-dpmsolver++)");
    return sampler::parse_dpm_algorithm(name);
}

// The keys DPMSolverMultistep and its inverse share, with their prediction and algorithm.
template <Real T>
sampler::dpm_solver_multistep_options<T> dpm_multistep_options(const options& o, predict::prediction p,
                                                               sampler::dpm_algorithm algorithm) {
    return {.prediction = p,
            .algorithm = algorithm,
            .solver_order = o.get_int("solver_order", 2),
            .solver_type = dpm_solver_type(o),
            .lower_order_final = o.get_bool("lower_order_final", true),
            .euler_at_final = o.get_bool("euler_at_final", false),
            .thresholding = thresholding<T>(o),
            .learned_variance = learned_variance(o)};
}

template <Real T>
any_sampler<T> make_dpm_solver_multistep(const options& o) {
    auto betas = discrete_schedule<T>(o);
    const auto opt = dpm_multistep_options<T>(
        o, prediction(o), dpm_algorithm(o, {"dpmsolver", "dpmsolver++", "sde-dpmsolver", "sde-dpmsolver++"}));
    const bool cosine = o.get_string("beta_schedule", "linear") == "squaredcos_cap_v2";
    auto grid_for = solver_grid_for<T>(o, std::move(betas), schedule::solver_family::dpm_multistep,
                                       {.lambda_min = true, .lu_lambdas = true, .round_timesteps = !cosine});
    return any_sampler<T>::wrap("DPMSolverMultistepScheduler", sampler::dpm_solver_multistep<T>(opt), grid_for);
}

// DPMSolverMultistepInverseScheduler: the same steps on schedule::inverse_solver_sigma_grid (data to
// noise). Its keys are DPMSolverMultistep's without final_sigmas_type, use_lu_lambdas,
// rescale_betas_zero_snr and dynamic shifting; the SDE algorithms (NaN in diffusers on this grid),
// use_*_sigmas / use_flow_sigmas and trailing spacing are not implemented and are refused.
template <Real T>
any_sampler<T> make_dpm_solver_multistep_inverse(const options& o) {
    auto betas = discrete_schedule<T>(o, false);
    for (const char* key : {"use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "use_flow_sigmas"})
        require(!o.get_bool(key, false), key, formatted{"true"},
                "false: DPMSolverMultistepInverseScheduler supports only timestep spacing here");
    const auto opt = dpm_multistep_options<T>(
        o, predict::parse_prediction(one_of(o, "prediction_type", "epsilon", {"epsilon", "sample", "v_prediction"})),
        sampler::parse_dpm_algorithm(
            one_of(o, "algorithm_type", "dpmsolver++", {"dpmsolver", "dpmsolver++"}, {"deis"}, "dpmsolver++")));
    const auto rule = schedule::parse_spacing(o.get_string("timestep_spacing", "linspace"));
    const auto offset = o.get_int("steps_offset", 0);
    const double lambda_min = o.get_double("lambda_min_clipped", -std::numeric_limits<double>::infinity());
    schedule::inverse_solver_sigma_grid(betas, 1, rule, offset, lambda_min);  // the keys are checked here, once
    return any_sampler<T>::wrap("DPMSolverMultistepInverseScheduler", sampler::dpm_solver_multistep<T>(opt),
                                [betas = std::move(betas), rule, offset, lambda_min](index steps) {
                                    return schedule::inverse_solver_sigma_grid(betas, steps, rule, offset, lambda_min);
                                });
}

template <Real T>
any_sampler<T> make_dpm_solver_singlestep(const options& o) {
    auto betas = discrete_schedule<T>(o, false);
    const sampler::dpm_solver_singlestep_options<T> opt{
        .prediction = prediction(o),
        .algorithm = dpm_algorithm(o, {"dpmsolver", "dpmsolver++", "sde-dpmsolver++"}),
        .solver_order = o.get_int("solver_order", 2),
        .solver_type = dpm_solver_type(o),
        .lower_order_final = o.get_bool("lower_order_final", false),
        .thresholding = thresholding<T>(o),
        .learned_variance = learned_variance(o)};
    auto grid_for = solver_grid_for<T>(o, std::move(betas), schedule::solver_family::dpm_singlestep,
                                       {.spacing = false, .lambda_min = true});
    return any_sampler<T>::wrap("DPMSolverSinglestepScheduler", sampler::dpm_solver_singlestep<T>(opt), grid_for);
}

template <Real T>
any_sampler<T> make_deis(const options& o) {
    auto betas = discrete_schedule<T>(o, false);
    static_cast<void>(one_of(o, "algorithm_type", "deis", {"deis"}, {"dpmsolver", "dpmsolver++"}, "deis"));
    static_cast<void>(one_of(o, "solver_type", "logrho", {"logrho"}, {"midpoint", "heun", "bh1", "bh2"}, "logrho"));
    const sampler::deis_options<T> opt{.prediction = prediction(o),
                                       .solver_order = o.get_int("solver_order", 2),
                                       .lower_order_final = o.get_bool("lower_order_final", true),
                                       .thresholding = thresholding<T>(o)};
    auto grid_for = solver_grid_for<T>(o, std::move(betas), schedule::solver_family::deis, {.final_sigmas = false});
    return any_sampler<T>::wrap("DEISMultistepScheduler", sampler::deis<T>(opt), grid_for);
}

template <Real T>
any_sampler<T> make_unipc(const options& o) {
    auto betas = discrete_schedule<T>(o);
    std::vector<index> disabled;
    for (const double step : o.get_list("disable_corrector")) {
        require(step >= 0 && step == std::trunc(step), "disable_corrector", step,
                "a list of step indices (integers >= 0)");
        disabled.push_back(static_cast<index>(step));
    }
    // solver_p is a second scheduler object used as UniPC's predictor: not a value a config can hold.
    require(!o.contains("solver_p"), "solver_p", "set",
            "null (an external predictor scheduler object is not supported)");
    const sampler::unipc_options<T> opt{
        .prediction = prediction(o),
        .solver_order = o.get_int("solver_order", 2),
        .predict_x0 = o.get_bool("predict_x0", true),
        .variant = sampler::parse_unipc_variant(
            one_of(o, "solver_type", "bh2", {"bh1", "bh2"}, {"midpoint", "heun", "logrho"}, "bh2")),
        .lower_order_final = o.get_bool("lower_order_final", true),
        .disable_corrector = std::move(disabled),
        .thresholding = thresholding<T>(o)};
    auto grid_for = solver_grid_for<T>(o, std::move(betas), schedule::solver_family::unipc, {.sigma_range = true});
    return any_sampler<T>::wrap("UniPCMultistepScheduler", sampler::unipc<T>(opt), grid_for);
}

// SASolverScheduler on the grid of its set_timesteps: DPMSolverMultistep's spacings and
// lambda_min_clipped, ending at the training sigma at t = 0. Karras / exponential / beta / flow sigmas
// are refused: diffusers repeats the last sigma there, and that zero-length step still evaluates the
// model to correct the step before it, which a grid of strictly decreasing sigmas cannot express.
template <Real T>
any_sampler<T> make_sa_solver(const options& o) {
    auto betas = discrete_schedule<T>(o, false);
    require(sigma_kind(o) == schedule::sigma_spacing::timesteps, "use_karras/exponential/beta_sigmas", "true",
            "false for SASolverScheduler (its repeated last sigma is a corrector-only step; not implemented)");
    require(!o.get_bool("use_flow_sigmas", false), "use_flow_sigmas", "true",
            "false for SASolverScheduler (its repeated last sigma is a corrector-only step; not implemented)");
    static_cast<void>(o.get_double("flow_shift", 1.0));  // read by diffusers with use_flow_sigmas only
    // tau_func is a Python callable: a config file can only hold null (the default window).
    require(!o.contains("tau_func"), "tau_func", "set",
            "null (diffusers' default: tau 1 on timesteps [200, 800], 0 elsewhere; other tau functions through "
            "sampler::sa_tau in C++)");
    const auto kind = prediction(o);
    require(kind != predict::prediction::flow_velocity, "prediction_type", formatted{"\"flow_prediction\""},
            "\"epsilon\", \"sample\" or \"v_prediction\" (flow_prediction needs use_flow_sigmas, not implemented)");
    const sampler::sa_solver_options<T> opt{
        .prediction = kind,
        .predictor_order = o.get_int("predictor_order", 2),
        .corrector_order = o.get_int("corrector_order", 2),
        .data_prediction = one_of(o, "algorithm_type", "data_prediction", {"data_prediction", "noise_prediction"}) ==
                           "data_prediction",
        .lower_order_final = o.get_bool("lower_order_final", true),
        .thresholding = thresholding<T>(o),
        .learned_variance = learned_variance(o)};
    auto grid_for = solver_grid_for<T>(o, std::move(betas), schedule::solver_family::dpm_multistep,
                                       {.final_sigmas = false, .lambda_min = true});
    return any_sampler<T>::wrap(
        "SASolverScheduler", sampler::sa_solver<T>(opt), [grid_for](index steps, const run_inputs& in) {
            auto g = grid_for(steps, in);
            // a last timestep 0 would repeat sigma_min (see above)
            require(g.steps() == steps, "num_inference_steps", steps, "a count whose spaced timesteps do not reach 0");
            return g;
        });
}

// EDMDPMSolverMultistepScheduler: DPM-Solver++ on the EDM grid for an EDM-preconditioned network.
// diffusers integrates x = x0 + sigma eps (alpha_t = 1); dpm_solver_multistep integrates the network's
// state c_in x, the same ODE (its exponential integrator only sees lambda = -log sigma). The last
// level (sigma 0) gets alpha 1, so that the final first-order step, x = D, returns x0 itself; the
// EDM weights divide c_skip by c_in (edm_weights' scaled_state). final_sigmas_type "sigma_min" would
// end the state at c_in(sigma_min) x and is refused.
// What the EDM DPM-Solver classes share: `opt` (prediction and the rest set here), their grid keys with
// the class's `defaults`, and the refusal of final_sigmas_type "sigma_min".
template <Real T>
any_sampler<T> edm_dpm_solver_named(const options& o, std::string class_name,
                                    sampler::dpm_solver_multistep_options<T> opt,
                                    const schedule::edm_grid_options& defaults, const char* default_prediction) {
    const schedule::edm_grid_options grid = edm_grid(o, defaults);
    require(grid.last == schedule::final_sigma::zero, "final_sigmas_type", "sigma_min",
            "\"zero\" (the network-state run would end at c_in(sigma_min) x; not implemented)");
    const auto kind =
        sampler::parse_edm_output(one_of(o, "prediction_type", default_prediction, {"epsilon", "v_prediction"}));
    opt.prediction = predict::prediction::sample;
    opt.solver_type = dpm_solver_type(o);
    opt.lower_order_final = o.get_bool("lower_order_final", true);
    opt.euler_at_final = o.get_bool("euler_at_final", false);
    const sampler::edm_preconditioned<sampler::dpm_solver_multistep<T>> s(
        sampler::dpm_solver_multistep<T>(opt), sampler::edm_weights<T>(static_cast<T>(grid.sigma_data), kind, true));
    return any_sampler<T>::wrap(std::move(class_name), s, [grid](index steps) {
        auto g = grid;
        g.steps = steps;
        const auto edm = schedule::edm_sigma_grid<T>(g);
        std::vector<schedule::noise_level<T>> levels(edm.levels().begin(), edm.levels().end());
        levels.back().alpha = T(1);  // sigma 0: the state is x0 itself
        return schedule::sigma_grid<T>(std::move(levels), edm.initial_noise_std());
    });
}

template <Real T>
any_sampler<T> make_edm_dpm_solver_multistep(const options& o) {
    return edm_dpm_solver_named<T>(o, "EDMDPMSolverMultistepScheduler",
                                   {.algorithm = dpm_algorithm(o, {"dpmsolver++", "sde-dpmsolver++"}),
                                    .solver_order = o.get_int("solver_order", 2),
                                    .thresholding = thresholding<T>(o)},
                                   {}, "epsilon");
}

// CosineDPMSolverMultistepScheduler (Stable Audio): the SDE form (sde-dpmsolver++) of the above with the
// network told c_noise = atan(sigma) 2/pi, exponential sigmas in [0.3, 500] and sigma_data 1 by default,
// orders 1 or 2 (its step has no third-order update) and no thresholding. diffusers draws the noise
// from a Brownian tree (BrownianTreeNoiseSampler seeded by the generator); here it is the caller's noise
// source, one draw per step.
template <Real T>
any_sampler<T> make_cosine_dpm_solver_multistep(const options& o) {
    const auto order = o.get_int("solver_order", 2);
    require(order == 1 || order == 2, "solver_order", order, "1 or 2 (CosineDPMSolverMultistepScheduler)");
    return edm_dpm_solver_named<T>(o, "CosineDPMSolverMultistepScheduler",
                                   {.algorithm = sampler::dpm_algorithm::sde_dpmsolver_pp, .solver_order = order},
                                   {.sigma_min = 0.3,
                                    .sigma_max = 500.0,
                                    .sigma_data = 1.0,
                                    .spacing = schedule::edm_spacing::exponential,
                                    .time = schedule::edm_noise_time::atan},
                                   "v_prediction");
}

}  // namespace diffuse::config::detail
