// diffuse/config/registry.hpp: builds a sampler from a diffusers scheduler class name and its
// options (the keys of scheduler_config.json), or from a k-diffusion sampler name and typed
// options. Defaults are diffusers' (k-diffusion's) defaults for that class. Keys of other diffusers
// schedulers are accepted and ignored, as diffusers' from_config does; unknown keys, ill-typed
// values and out-of-range values are errors. The factories live in registry_<family>.hpp.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "diffuse/config/any_sampler.hpp"
#include "diffuse/config/options.hpp"
#include "diffuse/config/registry_consistency.hpp"
#include "diffuse/config/registry_detail.hpp"
#include "diffuse/config/registry_discrete.hpp"
#include "diffuse/config/registry_exponential.hpp"
#include "diffuse/config/registry_kdiffusion.hpp"

namespace diffuse::config {

template <Real T>
using factory = std::function<any_sampler<T>(const options&)>;

// diffusers class name (or k-diffusion sampler name) -> factory. Extend with register_sampler.
template <Real T>
std::map<std::string, factory<T>, std::less<>>& registry() {
    static std::map<std::string, factory<T>, std::less<>> table{
        {"DDIMScheduler", detail::make_ddim<T>},
        {"DDIMInverseScheduler", detail::make_ddim_inverse<T>},
        {"DDPMScheduler", detail::make_ddpm<T>},
        {"PNDMScheduler", detail::make_pndm<T>},
        {"EulerDiscreteScheduler", detail::make_euler<T>},
        {"EulerAncestralDiscreteScheduler", detail::make_euler_ancestral<T>},
        {"HeunDiscreteScheduler", detail::make_heun<T>},
        {"KDPM2DiscreteScheduler", detail::make_kdpm2<T>},
        {"KDPM2AncestralDiscreteScheduler", detail::make_kdpm2_ancestral<T>},
        {"LMSDiscreteScheduler", detail::make_lms<T>},
        {"DPMSolverSDEScheduler", detail::make_dpmpp_sde_scheduler<T>},
        {"DPMSolverMultistepScheduler", detail::make_dpm_solver_multistep<T>},
        {"DPMSolverSinglestepScheduler", detail::make_dpm_solver_singlestep<T>},
        {"DEISMultistepScheduler", detail::make_deis<T>},
        {"UniPCMultistepScheduler", detail::make_unipc<T>},
        {"IPNDMScheduler", detail::make_ipndm<T>},
        {"LCMScheduler", detail::make_lcm<T>},
        {"TCDScheduler", detail::make_tcd<T>},
        {"CMStochasticIterativeScheduler", detail::make_consistency_model<T>},
        {"FlowMatchEulerDiscreteScheduler", detail::make_flow_match_euler<T>},
        {"EDMEulerScheduler", detail::make_edm_euler<T>},
        {"EDMDPMSolverMultistepScheduler", detail::make_edm_dpm_solver_multistep<T>},
        {"dpmpp_2s_ancestral", detail::make_dpmpp_2s_ancestral<T>},
        {"dpmpp_2m_sde", detail::make_dpmpp_2m_sde<T>},
        {"dpmpp_3m_sde", detail::make_dpmpp_3m_sde<T>},
        {"edm", detail::make_edm<T>},
        {"dpm_adaptive", detail::make_dpm_adaptive<T>},
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

// Compile time: registry<T>() instantiates every sampler of the table for T, the heaviest
// template work in the library (tens of seconds per translation unit at -O2). A program with
// several translation units that use the facade can compile it once: define
// DIFFUSE_EXTERN_REGISTRY in all of them and include diffuse/config/registry_instances.hpp in
// exactly one .cpp (docs/config.md, "Compile time").
#if defined(DIFFUSE_EXTERN_REGISTRY)
extern template std::map<std::string, factory<float>, std::less<>>& registry<float>();
extern template std::map<std::string, factory<double>, std::less<>>& registry<double>();
#endif

}  // namespace diffuse::config
