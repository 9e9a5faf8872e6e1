// diffuse/config/registry_discrete.hpp: factories of the diffusers classes that step on training
// timesteps (DDIMScheduler, DDIMInverseScheduler, DDPMScheduler, PNDMScheduler, and the sequential
// step of DDIMParallelScheduler and DDPMParallelScheduler, RePaintScheduler).
#pragma once

#include <string>

#include "diffuse/config/registry_detail.hpp"
#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/ddim_inverse.hpp"
#include "diffuse/sampler/ddpm.hpp"
#include "diffuse/sampler/pndm.hpp"
#include "diffuse/sampler/repaint.hpp"

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

// RePaintScheduler: the inpainting task (known_image, and mask with 1 where the image is kept, each a
// list of the sample's values) and set_timesteps' jump_length / jump_n_sample (10, 10) are options.
template <Real T>
any_sampler<T> make_repaint(const options& o) {
    auto betas = discrete_schedule<T>(o, false);
    const auto image = o.get_list("known_image"), mask = o.get_list("mask");
    require(!image.empty(), "known_image", formatted{"missing"},
            "a list of the sample's values: RePaintScheduler inpaints the image given as the options "
            "\"known_image\" and \"mask\" (1: keep)");
    sampler::repaint_options<T> opt{.eta = static_cast<T>(o.get_double("eta", 0.0)),
                                    .clip_sample = o.get_bool("clip_sample", true),
                                    .known_image = std::vector<T>(image.begin(), image.end()),
                                    .mask = std::vector<T>(mask.begin(), mask.end())};
    const index train = betas.num_train_timesteps();
    const index jump_length = o.get_int("jump_length", 10), jump_n_sample = o.get_int("jump_n_sample", 10);
    static_cast<void>(sampler::repaint_timesteps(train, 1, jump_length, jump_n_sample));  // checked now
    return any_sampler<T>::wrap(
        "RePaintScheduler", sampler::repaint<T>(std::move(betas), std::move(opt)),
        [=](index steps) { return sampler::repaint_timesteps(train, steps, jump_length, jump_n_sample); });
}

}  // namespace diffuse::config::detail
