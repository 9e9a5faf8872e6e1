// diffuse/config/registry.hpp: builds a sampler from a diffusers scheduler class name and its
// options (the keys of scheduler_config.json), or from a k-diffusion sampler name and typed
// options. Defaults are diffusers' (k-diffusion's) defaults for that class. Keys of other diffusers
// schedulers are accepted and ignored, as diffusers' from_config does; unknown keys, ill-typed
// values and out-of-range values are errors. The factories live in registry_<family>.hpp.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "diffuse/config/any_sampler.hpp"
#include "diffuse/config/facade.hpp"
#include "diffuse/config/options.hpp"
#include "diffuse/config/registry_consistency.hpp"
#include "diffuse/config/registry_detail.hpp"
#include "diffuse/config/registry_discrete.hpp"
#include "diffuse/config/registry_exponential.hpp"
#include "diffuse/config/registry_families.hpp"
#include "diffuse/config/registry_kdiffusion.hpp"
#include "diffuse/config/registry_sde.hpp"

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
        {"DDIMParallelScheduler", detail::make_ddim_parallel<T>},
        {"DDPMParallelScheduler", detail::make_ddpm_parallel<T>},
        {"RePaintScheduler", detail::make_repaint<T>},
        {"PNDMScheduler", detail::make_pndm<T>},
        {"EulerDiscreteScheduler", detail::make_euler<T>},
        {"EulerAncestralDiscreteScheduler", detail::make_euler_ancestral<T>},
        {"HeunDiscreteScheduler", detail::make_heun<T>},
        {"KDPM2DiscreteScheduler", detail::make_kdpm2<T>},
        {"KDPM2AncestralDiscreteScheduler", detail::make_kdpm2_ancestral<T>},
        {"LMSDiscreteScheduler", detail::make_lms<T>},
        {"DPMSolverSDEScheduler", detail::make_dpmpp_sde_scheduler<T>},
        {"DPMSolverMultistepScheduler", detail::make_dpm_solver_multistep<T>},
        {"DPMSolverMultistepInverseScheduler", detail::make_dpm_solver_multistep_inverse<T>},
        {"DPMSolverSinglestepScheduler", detail::make_dpm_solver_singlestep<T>},
        {"DEISMultistepScheduler", detail::make_deis<T>},
        {"UniPCMultistepScheduler", detail::make_unipc<T>},
        {"SASolverScheduler", detail::make_sa_solver<T>},
        {"IPNDMScheduler", detail::make_ipndm<T>},
        {"LCMScheduler", detail::make_lcm<T>},
        {"TCDScheduler", detail::make_tcd<T>},
        {"CMStochasticIterativeScheduler", detail::make_consistency_model<T>},
        {"SCMScheduler", detail::make_scm<T>},
        {"FlowMatchEulerDiscreteScheduler", detail::make_flow_match_euler<T>},
        {"FlowMapEulerDiscreteScheduler", detail::make_flow_map_euler<T>},
        {"LTXEulerAncestralRFScheduler", detail::make_ltx_euler_ancestral_rf<T>},
        {"EDMEulerScheduler", detail::make_edm_euler<T>},
        {"EDMDPMSolverMultistepScheduler", detail::make_edm_dpm_solver_multistep<T>},
        {"CosineDPMSolverMultistepScheduler", detail::make_cosine_dpm_solver_multistep<T>},
        {"CogVideoXDDIMScheduler", detail::make_cogvideox_ddim<T>},
        {"CogVideoXDPMScheduler", detail::make_cogvideox_dpm<T>},
        {"DDPMWuerstchenScheduler", detail::make_ddpm_wuerstchen<T>},
        {"UnCLIPScheduler", detail::make_unclip<T>},
        {"ScoreSdeVeScheduler", detail::make_score_sde_ve<T>},
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

// The sampler names of the A1111 web UI and ComfyUI, as diffusers' scheduler overview maps them to a
// class and its options (and, where diffusers has no class, the k-diffusion sampler registered here).
struct named_sampler {
    std::string class_name;
    options preset;
};

inline const std::map<std::string, named_sampler, std::less<>>& sampler_aliases() {
    static const std::map<std::string, named_sampler, std::less<>> table{
        {"DDIM", {"DDIMScheduler", {}}},
        {"Euler", {"EulerDiscreteScheduler", {}}},
        {"Euler a", {"EulerAncestralDiscreteScheduler", {}}},
        {"Heun", {"HeunDiscreteScheduler", {}}},
        {"LMS", {"LMSDiscreteScheduler", {}}},
        {"LMS Karras", {"LMSDiscreteScheduler", {{"use_karras_sigmas", true}}}},
        {"DPM2", {"KDPM2DiscreteScheduler", {}}},
        {"DPM2 Karras", {"KDPM2DiscreteScheduler", {{"use_karras_sigmas", true}}}},
        {"DPM2 a", {"KDPM2AncestralDiscreteScheduler", {}}},
        {"DPM2 a Karras", {"KDPM2AncestralDiscreteScheduler", {{"use_karras_sigmas", true}}}},
        {"DPM++ 2M", {"DPMSolverMultistepScheduler", {}}},
        {"DPM++ 2M Karras", {"DPMSolverMultistepScheduler", {{"use_karras_sigmas", true}}}},
        {"DPM++ 2M SDE", {"DPMSolverMultistepScheduler", {{"algorithm_type", "sde-dpmsolver++"}}}},
        {"DPM++ 2M SDE Karras",
         {"DPMSolverMultistepScheduler", {{"algorithm_type", "sde-dpmsolver++"}, {"use_karras_sigmas", true}}}},
        {"DPM++ SDE", {"DPMSolverSinglestepScheduler", {}}},
        {"DPM++ SDE Karras", {"DPMSolverSinglestepScheduler", {{"use_karras_sigmas", true}}}},
        {"DPM++ 2S a", {"dpmpp_2s_ancestral", {}}},
        {"DPM++ 2S a Karras", {"dpmpp_2s_ancestral", {{"use_karras_sigmas", true}}}},
        {"DPM++ 3M SDE", {"dpmpp_3m_sde", {}}},
        {"DPM++ 3M SDE Karras", {"dpmpp_3m_sde", {{"use_karras_sigmas", true}}}},
        {"DPM adaptive", {"dpm_adaptive", {}}},
        {"DEIS", {"DEISMultistepScheduler", {}}},
        {"UniPC", {"UniPCMultistepScheduler", {}}},
        {"LCM", {"LCMScheduler", {}}},
        {"TCD", {"TCDScheduler", {}}},
        // ComfyUI's sampler names (its "karras" scheduler is the use_karras_sigmas key).
        {"euler", {"EulerDiscreteScheduler", {}}},
        {"euler_ancestral", {"EulerAncestralDiscreteScheduler", {}}},
        {"heun", {"HeunDiscreteScheduler", {}}},
        {"lms", {"LMSDiscreteScheduler", {}}},
        {"dpm_2", {"KDPM2DiscreteScheduler", {}}},
        {"dpm_2_ancestral", {"KDPM2AncestralDiscreteScheduler", {}}},
        {"dpmpp_2m", {"DPMSolverMultistepScheduler", {}}},
        {"dpmpp_sde", {"DPMSolverSDEScheduler", {}}},
        {"ddim", {"DDIMScheduler", {}}},
        {"uni_pc", {"UniPCMultistepScheduler", {}}},
        {"lcm", {"LCMScheduler", {}}},
        {"deis", {"DEISMultistepScheduler", {}}},
    };
    return table;
}

// diffusers' scheduler classes that have no sampler here (docs/config.md says why for each).
inline const std::set<std::string, std::less<>>& unimplemented_diffusers_classes() {
    static const std::set<std::string, std::less<>> names{"AmusedScheduler",
                                                          "BlockRefinementScheduler",
                                                          "DiscreteDDIMScheduler",
                                                          "EntropyBoundScheduler",
                                                          "FlowMatchHeunDiscreteScheduler",
                                                          "FlowMatchLCMScheduler",
                                                          "HeliosDMDScheduler",
                                                          "HeliosScheduler",
                                                          "KarrasVeScheduler",
                                                          "MiniMaxH3Scheduler",
                                                          "ScoreSdeVpScheduler",
                                                          "VQDiffusionScheduler",
                                                          "FlaxKarrasVeScheduler"};
    return names;
}

namespace detail {

// The registered name a class name stands for: itself, or for diffusers' former Flax* classes
// (FlaxDDIMScheduler, ... in older Stable Diffusion 2 repositories) the PyTorch class with the same math.
template <Real T>
std::string_view registered_name(std::string_view class_name) {
    const auto& table = registry<T>();
    if (table.count(class_name)) return class_name;
    if (class_name.starts_with("Flax") && table.count(class_name.substr(4))) return class_name.substr(4);
    if (unimplemented_diffusers_classes().count(class_name)) {
        throw invalid("_class_name", std::string(class_name),
                      "a class this library implements: " + std::string(class_name) +
                          " is a diffusers scheduler without a sampler here (docs/config.md lists every class and "
                          "its status)");
    }
    throw invalid("_class_name", std::string(class_name),
                  "a diffusers scheduler class this library implements, a k-diffusion sampler name or an "
                  "A1111/ComfyUI sampler name (docs/config.md lists them; registry<T>() holds the registered ones)");
}

}  // namespace detail

// Builds the sampler of `class_name` (a registered class, a Flax* alias of one, or an A1111/ComfyUI
// sampler name from sampler_aliases(), whose preset options join `o`) from `o`. Keys of other
// diffusers schedulers are ignored; other keys nobody reads follow `policy` (defaults in facade.hpp).
template <Real T>
any_sampler<T> make_sampler(std::string_view class_name, const options& o, unknown_keys policy) {
    if (const auto alias = sampler_aliases().find(class_name); alias != sampler_aliases().end()) {
        options merged = o;
        for (const auto& [key, v] : alias->second.preset.entries()) {
            require(!o.contains(key) || o.entries().at(key).describe() == v.describe(), key,
                    formatted{o.contains(key) ? o.entries().at(key).describe() : std::string()},
                    v.describe() + " (set by the sampler name \"" + std::string(class_name) + "\")");
            merged.set(key, v);
        }
        return make_sampler<T>(alias->second.class_name, merged, policy);
    }
    const auto name = detail::registered_name<T>(class_name);
    auto sampler = registry<T>().find(name)->second(o);
    sampler.add_warnings(o.finish(name, diffusers_scheduler_keys(), policy == unknown_keys::error));
    return sampler;
}

// Compile time: registry<T>() instantiates every sampler of the table for T, the heaviest
// template work in the library (tens of seconds per translation unit at -O2). A program with
// several translation units that use the facade can compile it once: define
// DIFFUSE_EXTERN_REGISTRY in all of them and include diffuse/config/registry_instances.hpp in
// exactly one .cpp, or link the compiled facade, CMake target diffuse::facade, which does both
// (docs/config.md, "Compile time").
#if defined(DIFFUSE_EXTERN_REGISTRY)
extern template std::map<std::string, factory<float>, std::less<>>& registry<float>();
extern template std::map<std::string, factory<double>, std::less<>>& registry<double>();
#endif

}  // namespace diffuse::config
