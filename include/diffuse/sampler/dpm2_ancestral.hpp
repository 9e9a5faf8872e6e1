// diffuse/sampler/dpm2_ancestral.hpp: DPM2 ancestral (k-diffusion sample_dpm_2_ancestral; diffusers
// KDPM2AncestralDiscreteScheduler, which is eta = 1): the DPM2 step of dpm2.hpp aimed at sigma_down,
// then fresh noise of std sigma_up (the split of euler_ancestral.hpp):
//   sigma_mid = sqrt(sigma sigma_down),  x_mid = x + (sigma_mid - sigma) d(x; sigma),
//   x' = x + (sigma_down - sigma) d(x_mid; sigma_mid) + s_noise sigma_up z.
#pragma once

#include <string_view>

#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/dpm2.hpp"

namespace diffuse::sampler {

template <Real T>
struct dpm2_ancestral_options {
    predict::prediction prediction = predict::prediction::epsilon;
    T eta = T(1);
    T s_noise = T(1);
    // alpha and model time at the midpoints; empty: read off the grid (grid_levels).
    level_map<T> levels = {};

    void validate() const { detail::validate_noise_options(eta, s_noise); }
};

template <Real T>
class dpm2_ancestral : public detail::sampler_shell<dpm2_ancestral<T>, dpm2_ancestral_options<T>, sigma_grid<T>> {
public:
    using scalar = T;
    using run = detail::dpm2_run<T>;
    static constexpr std::string_view name = "DPM2Ancestral";

    using dpm2_ancestral::sampler_shell::sampler_shell;

    [[nodiscard]] run start(sigma_grid<T> grid, layout shape) const& {
        const auto& o = this->options();
        return run({o.prediction, o.eta, o.s_noise, o.levels}, std::move(grid), shape, name);
    }
    using dpm2_ancestral::sampler_shell::start;
};

}  // namespace diffuse::sampler
