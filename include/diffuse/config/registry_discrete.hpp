// diffuse/config/registry_discrete.hpp: factories of the diffusers classes that step on training
// timesteps (DDIMScheduler, DDIMInverseScheduler, DDPMScheduler, PNDMScheduler, and the sequential
// step of DDIMParallelScheduler and DDPMParallelScheduler).
#pragma once

#include <string>

#include "diffuse/config/registry_detail.hpp"
#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/ddim_inverse.hpp"
#include "diffuse/sampler/ddpm.hpp"
#include "diffuse/sampler/pndm.hpp"

namespace diffuse::config::detail {

// `step_arguments`: DDIMScheduler.step's eta and use_clipped_model_output, which diffusers' pipelines
// pass per call, are options here (DDIMInverseScheduler.step has neither, nor thresholding).
template <Real T>
sampler::ddim_options<T> ddim_options(const options& o, bool step_arguments) {
    return {.prediction = prediction(o),
            .eta = step_arguments ? static_cast<T>(o.get_double("eta", 0.0)) : T(0),
            .set_alpha_to_one = o.get_bool("set_alpha_to_one", true),
            .use_clipped_model_output = step_arguments && o.get_bool("use_clipped_model_output", false),
            .x0 = x0_processing<T>(o, true, step_arguments)};
}

template <Real T>
any_sampler<T> ddim_named(const options& o, std::string class_name) {
    auto betas = discrete_schedule<T>(o);
    const auto grid_for = discrete_grid_for(o, betas.num_train_timesteps());
    auto opt = ddim_options<T>(o, true);
    opt.target = sampler::step_target::diffusers_prev_timestep;  // the class's t - T // n (step_target.hpp)
    return any_sampler<T>::wrap(std::move(class_name), sampler::ddim<T>(std::move(betas), opt), grid_for);
}

template <Real T>
any_sampler<T> make_ddim(const options& o) {
    return ddim_named<T>(o, "DDIMScheduler");
}

// DDIMParallelScheduler and DDPMParallelScheduler have the keys and the step() of DDIMScheduler and
// DDPMScheduler; their batch_step_no_noise (ParaDiGMS: many timesteps evaluated at once) is not
// provided here, only the sequential run.
template <Real T>
any_sampler<T> make_ddim_parallel(const options& o) {
    return ddim_named<T>(o, "DDIMParallelScheduler");
}

template <Real T>
any_sampler<T> make_ddim_inverse(const options& o) {
    auto betas = discrete_schedule<T>(o);
    const auto grid_for = discrete_grid_for(o, betas.num_train_timesteps());
    auto opt = ddim_options<T>(o, false);
    opt.target = sampler::step_target::diffusers_prev_timestep;  // from t - T // n to t, as the class
    return any_sampler<T>::wrap(
        "DDIMInverseScheduler", sampler::ddim_inverse<T>(std::move(betas), opt),
        [grid_for](index steps) { return sampler::ddim_inverse<T>::reversed(grid_for(steps)); });
}

template <Real T>
any_sampler<T> ddpm_named(const options& o, std::string class_name) {
    auto betas = discrete_schedule<T>(o);
    const auto grid_for = discrete_grid_for(o, betas.num_train_timesteps());
    sampler::ddpm_options<T> opt{.prediction = prediction(o),
                                 .variance = sampler::parse_variance_type(o.get_string("variance_type", "fixed_small")),
                                 .x0 = x0_processing<T>(o, true)};
    return any_sampler<T>::wrap(std::move(class_name), sampler::ddpm<T>(std::move(betas), opt), grid_for);
}

template <Real T>
any_sampler<T> make_ddpm(const options& o) {
    return ddpm_named<T>(o, "DDPMScheduler");
}

template <Real T>
any_sampler<T> make_ddpm_parallel(const options& o) {
    return ddpm_named<T>(o, "DDPMParallelScheduler");
}

// PNDMScheduler: prediction_type epsilon or v_prediction (diffusers raises for the others).
template <Real T>
any_sampler<T> make_pndm(const options& o) {
    auto betas = discrete_schedule<T>(o, false);
    const auto grid_for = discrete_grid_for(o, betas.num_train_timesteps());
    const auto p = one_of(o, "prediction_type", "epsilon", {"epsilon", "v_prediction"});
    const sampler::pndm_options<T> opt{.prediction = predict::parse_prediction(p),
                                       .skip_prk_steps = o.get_bool("skip_prk_steps", false),
                                       .set_alpha_to_one = o.get_bool("set_alpha_to_one", false),
                                       .target = sampler::step_target::diffusers_prev_timestep};
    return any_sampler<T>::wrap("PNDMScheduler", sampler::pndm<T>(std::move(betas), opt), grid_for);
}

}  // namespace diffuse::config::detail
