// diffuse/config/registry.hpp: builds a sampler from a diffusers scheduler class name and its
// options (the keys of scheduler_config.json). Defaults are diffusers' defaults for that class.
// Keys of other diffusers schedulers are accepted and ignored, as diffusers' from_config does;
// unknown keys, ill-typed values and out-of-range values are errors.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "diffuse/config/any_sampler.hpp"
#include "diffuse/config/options.hpp"
#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/ddim_inverse.hpp"
#include "diffuse/sampler/ddpm.hpp"
#include "diffuse/sampler/euler.hpp"
#include "diffuse/schedule/discrete.hpp"
#include "diffuse/schedule/sigmas.hpp"
#include "diffuse/schedule/timesteps.hpp"

namespace diffuse::config {

// Keys that some diffusers scheduler reads; a class that does not read one ignores it.
inline const std::set<std::string, std::less<>>& diffusers_scheduler_keys() {
    static const std::set<std::string, std::less<>> keys{
        "num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "prediction_type",
        "timestep_spacing", "steps_offset", "rescale_betas_zero_snr", "clip_sample", "clip_sample_range",
        "thresholding", "dynamic_thresholding_ratio", "sample_max_value", "set_alpha_to_one", "variance_type",
        "skip_prk_steps", "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "use_flow_sigmas",
        "use_lu_lambdas", "final_sigmas_type", "interpolation_type", "timestep_type", "sigma_min", "sigma_max",
        "solver_order", "algorithm_type", "solver_type", "lower_order_final", "euler_at_final", "lambda_min_clipped",
        "predict_x0", "solver_p", "disable_corrector", "flow_shift", "shift", "use_dynamic_shifting",
        "base_shift", "max_shift", "base_image_seq_len", "max_image_seq_len", "invert_sigmas", "shift_terminal",
        "time_shift_type", "stochastic_sampling", "original_inference_steps", "timestep_scaling", "sigma_data",
        "s_noise", "rho", "noise_sampler_seed", "eta", "gamma", "variance_type", "use_beta_sigmas",
        "sigma_schedule", "deis_type", "clip_denoised", "rescale_betas_zero_snr"};
    return keys;
}

namespace detail {

template <Real T>
schedule::discrete<T> discrete_schedule(const options& o) {
    const auto train = o.get_int("num_train_timesteps", 1000);
    const auto trained = o.get_list("trained_betas");
    auto s = trained.empty()
                 ? schedule::discrete<T>::named(schedule::parse_beta_schedule(o.get_string("beta_schedule", "linear")),
                                                train, o.get_double("beta_start", 1e-4), o.get_double("beta_end", 0.02))
                 : schedule::discrete<T>::from_betas(std::vector<T>(trained.begin(), trained.end()));
    return o.get_bool("rescale_betas_zero_snr", false) ? s.rescaled_zero_terminal_snr() : s;
}

template <Real T>
predict::x0_processing<T> x0_processing(const options& o, bool clip_by_default) {
    predict::x0_processing<T> p;
    const T range = static_cast<T>(o.get_double("clip_sample_range", 1.0));
    if (o.get_bool("clip_sample", clip_by_default)) p.clip_range = range;
    const T ratio = static_cast<T>(o.get_double("dynamic_thresholding_ratio", 0.995));
    const T max_value = static_cast<T>(o.get_double("sample_max_value", 1.0));
    if (o.get_bool("thresholding", false)) p.thresholding = predict::dynamic_thresholding<T>{ratio, max_value};
    return p;
}

inline predict::prediction prediction(const options& o) { return predict::parse_prediction(o.get_string("prediction_type", "epsilon")); }

// Rejects a key whose value this version cannot honour, naming what it can.
template <class V>
void require_value(const options& o, std::string_view key, const V& actual, const V& supported, std::string_view allowed) {
    if (actual != supported) throw invalid(std::string(key), formatted{o.entries().at(std::string(key)).describe()}, allowed);
}

// The grid DDIM, DDIM inversion and DDPM build in set_timesteps (timestep_spacing, steps_offset).
inline auto discrete_grid_for(const options& o, index train) {
    const auto rule = schedule::parse_spacing(o.get_string("timestep_spacing", "leading"));
    const auto offset = o.get_int("steps_offset", 0);
    return [=](index steps) { return schedule::spaced_timesteps(train, steps, rule, offset); };
}

template <Real T>
sampler::ddim_options<T> ddim_options(const options& o) {
    return {.prediction = prediction(o),
            .eta = T(0),
            .set_alpha_to_one = o.get_bool("set_alpha_to_one", true),
            .use_clipped_model_output = false,
            .x0 = x0_processing<T>(o, true)};
}

template <Real T>
any_sampler<T> make_ddim(const options& o) {
    auto betas = discrete_schedule<T>(o);
    const auto grid_for = discrete_grid_for(o, betas.num_train_timesteps());
    return any_sampler<T>::wrap("DDIMScheduler", sampler::ddim<T>(std::move(betas), ddim_options<T>(o)), grid_for);
}

template <Real T>
any_sampler<T> make_ddim_inverse(const options& o) {
    auto betas = discrete_schedule<T>(o);
    const auto grid_for = discrete_grid_for(o, betas.num_train_timesteps());
    return any_sampler<T>::wrap("DDIMInverseScheduler", sampler::ddim_inverse<T>(std::move(betas), ddim_options<T>(o)),
                                [grid_for](index steps) { return sampler::ddim_inverse<T>::reversed(grid_for(steps)); });
}

template <Real T>
any_sampler<T> make_ddpm(const options& o) {
    auto betas = discrete_schedule<T>(o);
    const auto grid_for = discrete_grid_for(o, betas.num_train_timesteps());
    sampler::ddpm_options<T> opt{.prediction = prediction(o),
                                 .variance = sampler::parse_variance_type(o.get_string("variance_type", "fixed_small")),
                                 .x0 = x0_processing<T>(o, true)};
    return any_sampler<T>::wrap("DDPMScheduler", sampler::ddpm<T>(std::move(betas), opt), grid_for);
}

template <Real T>
any_sampler<T> make_euler(const options& o) {
    auto betas = discrete_schedule<T>(o);
    schedule::vp_sigma_options<T> grid{.timestep_spacing = schedule::parse_spacing(o.get_string("timestep_spacing", "linspace")),
                                       .steps_offset = o.get_int("steps_offset", 0)};
    if (o.get_bool("use_karras_sigmas", false)) grid.sigmas = schedule::sigma_spacing::karras;
    const auto last = o.get_string("final_sigmas_type", "zero");
    require(last == "zero" || last == "sigma_min", "final_sigmas_type", last, "zero, sigma_min");
    grid.last = last == "zero" ? schedule::final_sigma::zero : schedule::final_sigma::sigma_min;
    require_value(o, "interpolation_type", o.get_string("interpolation_type", "linear"), std::string("linear"), "\"linear\"");
    require_value(o, "timestep_type", o.get_string("timestep_type", "discrete"), std::string("discrete"), "\"discrete\"");
    require_value(o, "use_exponential_sigmas", o.get_bool("use_exponential_sigmas", false), false, "false");
    require_value(o, "use_beta_sigmas", o.get_bool("use_beta_sigmas", false), false, "false");
    sampler::euler_options<T> opt{.prediction = prediction(o)};
    return any_sampler<T>::wrap("EulerDiscreteScheduler", sampler::euler<T>(opt), [betas = std::move(betas), grid](index steps) {
        auto g = grid;
        g.steps = steps;
        return schedule::vp_sigma_grid(betas, g);
    });
}

}  // namespace detail

template <Real T>
using factory = std::function<any_sampler<T>(const options&)>;

// diffusers class name -> factory. Extend with register_sampler for your own classes.
template <Real T>
std::map<std::string, factory<T>, std::less<>>& registry() {
    static std::map<std::string, factory<T>, std::less<>> table{
        {"DDIMScheduler", detail::make_ddim<T>},
        {"DDIMInverseScheduler", detail::make_ddim_inverse<T>},
        {"DDPMScheduler", detail::make_ddpm<T>},
        {"EulerDiscreteScheduler", detail::make_euler<T>},
    };
    return table;
}

template <Real T>
void register_sampler(std::string class_name, factory<T> make) {
    registry<T>()[std::move(class_name)] = std::move(make);
}

// Builds the sampler of `class_name` from `o`; every key must be one the class reads or a key
// of another diffusers scheduler.
template <Real T>
any_sampler<T> make_sampler(std::string_view class_name, const options& o = {}) {
    const auto& table = registry<T>();
    const auto it = table.find(class_name);
    if (it == table.end()) {
        std::string names;
        for (const auto& [name, make] : table) names += (names.empty() ? "" : ", ") + name;
        throw invalid("_class_name", std::string(class_name), names);
    }
    auto sampler = it->second(o);
    o.finish(class_name, diffusers_scheduler_keys());
    return sampler;
}

}  // namespace diffuse::config
