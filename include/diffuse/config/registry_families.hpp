// diffuse/config/registry_families.hpp: factories of the diffusers classes written for one model
// family: CogVideoXDDIMScheduler and CogVideoXDPMScheduler (CogVideoX), DDPMWuerstchenScheduler
// (Wuerstchen, Stable Cascade) and UnCLIPScheduler (Karlo unCLIP).
#pragma once

#include <string>

#include "diffuse/config/registry_detail.hpp"
#include "diffuse/sampler/cogvideox_dpm.hpp"
#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/ddpm.hpp"
#include "diffuse/sampler/ddpm_wuerstchen.hpp"
#include "diffuse/schedule/wuerstchen.hpp"

namespace diffuse::config::detail {

// The CogVideoX classes' alphabar: the betas (linear, scaled_linear or squaredcos_cap_v2; scaled_linear
// by default), SNR divided by snr_shift_scale, then rescale_betas_zero_snr applied to alphabar itself.
template <Real T>
schedule::discrete<T> cogvideox_schedule(const options& o) {
    static_cast<void>(one_of(o, "beta_schedule", "scaled_linear", {"linear", "scaled_linear", "squaredcos_cap_v2"}));
    const auto shifted = discrete_schedule<T>(o, false, {"scaled_linear", 0.00085, 0.012})
                             .snr_shifted(o.get_double("snr_shift_scale", 3.0));
    return o.get_bool("rescale_betas_zero_snr", false) ? shifted.alphas_cumprod_rescaled_zero_terminal_snr() : shifted;
}

// What both CogVideoX classes read and their step() does not use: clip_sample, clip_sample_range and
// sample_max_value (nothing is clipped), and step's eta (accepted and ignored by diffusers: only 0,
// the value their update has, is accepted here).
inline predict::prediction cogvideox_prediction(const options& o, const char* class_name) {
    static_cast<void>(o.get_bool("clip_sample", true));
    static_cast<void>(o.get_double("clip_sample_range", 1.0));
    static_cast<void>(o.get_double("sample_max_value", 1.0));
    const double eta = o.get_double("eta", 0.0);
    require(eta == 0.0, "eta", eta,
            std::string("0: ") + class_name + ".step takes eta and ignores it (its update is deterministic DDIM's)");
    return predict::parse_prediction(one_of(o, "prediction_type", "epsilon", {"epsilon", "sample", "v_prediction"}));
}

// CogVideoXDDIMScheduler: DDIM with eta = 0 and no clipping on the shifted alphabar, stepping to t - T // n.
template <Real T>
any_sampler<T> make_cogvideox_ddim(const options& o) {
    const auto p = cogvideox_prediction(o, "CogVideoXDDIMScheduler");
    auto betas = cogvideox_schedule<T>(o);
    const auto grid_for = discrete_grid_for(o, betas.num_train_timesteps());
    const sampler::ddim_options<T> opt{.prediction = p,
                                       .set_alpha_to_one = o.get_bool("set_alpha_to_one", true),
                                       .x0 = {},
                                       .target = sampler::step_target::diffusers_prev_timestep};
    return any_sampler<T>::wrap("CogVideoXDDIMScheduler", sampler::ddim<T>(std::move(betas), opt), grid_for);
}

// CogVideoXDPMScheduler (sampler/cogvideox_dpm.hpp); its step's eta is ignored by diffusers too.
template <Real T>
any_sampler<T> make_cogvideox_dpm(const options& o) {
    const auto p = cogvideox_prediction(o, "CogVideoXDPMScheduler");
    auto betas = cogvideox_schedule<T>(o);
    const auto grid_for = discrete_grid_for(o, betas.num_train_timesteps());
    const sampler::cogvideox_dpm_options<T> opt{.prediction = p,
                                                .set_alpha_to_one = o.get_bool("set_alpha_to_one", true)};
    return any_sampler<T>::wrap("CogVideoXDPMScheduler", sampler::cogvideox_dpm<T>(std::move(betas), opt), grid_for);
}

// DDPMWuerstchenScheduler: keys scaler and s (schedule/wuerstchen.hpp).
template <Real T>
any_sampler<T> make_ddpm_wuerstchen(const options& o) {
    const schedule::wuerstchen_cosine cosine{.scaler = o.get_double("scaler", 1.0), .s = o.get_double("s", 0.008)};
    cosine.validate();
    return any_sampler<T>::wrap("DDPMWuerstchenScheduler", sampler::ddpm_wuerstchen<T>(),
                                [cosine](index steps) { return cosine.grid<T>(steps); });
}

// UnCLIPScheduler: DDPM on the squaredcos_cap_v2 betas, stepping to the next grid entry (the unCLIP
// pipelines pass it as prev_timestep), with variance fixed_small_log or learned_range, epsilon or
// sample prediction, clip_sample; its grid round(arange(n) (T - 1) / (n - 1)) is linspace spacing.
template <Real T>
any_sampler<T> make_unclip(const options& o) {
    static_cast<void>(one_of(o, "beta_schedule", "squaredcos_cap_v2", {"squaredcos_cap_v2"}));
    auto betas = schedule::discrete<T>::squaredcos_cap_v2(o.get_int("num_train_timesteps", 1000));
    const sampler::ddpm_options<T> opt{
        .prediction = predict::parse_prediction(one_of(o, "prediction_type", "epsilon", {"epsilon", "sample"})),
        .variance = sampler::parse_variance_type(
            one_of(o, "variance_type", "fixed_small_log", {"fixed_small_log", "learned_range"})),
        .x0 = x0_processing<T>(o, true, false),
        .schedule_beta_on_unit_steps = true};
    const index train = betas.num_train_timesteps();
    return any_sampler<T>::wrap("UnCLIPScheduler", sampler::ddpm<T>(std::move(betas), opt), [train](index steps) {
        // diffusers divides by n - 1 (a single step gives NaN timesteps there).
        require(steps >= 2, "num_inference_steps", steps,
                "an integer >= 2 (UnCLIPScheduler's step ratio is (T - 1) / (n - 1))");
        return schedule::spaced_timesteps(train, steps, schedule::spacing::linspace);
    });
}

}  // namespace diffuse::config::detail
