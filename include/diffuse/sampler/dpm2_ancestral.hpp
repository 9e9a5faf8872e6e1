// diffuse/sampler/dpm2_ancestral.hpp: DPM2 ancestral (k-diffusion sample_dpm_2_ancestral; diffusers
// KDPM2AncestralDiscreteScheduler, which is eta = 1): the DPM2 step of dpm2.hpp aimed at sigma_down,
// then fresh noise of std sigma_up (the split of euler_ancestral.hpp):
//   sigma_mid = sqrt(sigma sigma_down),  x_mid = x + (sigma_mid - sigma) d(x; sigma),
//   x' = x + (sigma_down - sigma) d(x_mid; sigma_mid) + s_noise sigma_up z.
#pragma once

#include <string_view>

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
class dpm2_ancestral {
public:
    using scalar = T;
    using run = detail::dpm2_run<T>;
    static constexpr std::string_view name = "DPM2Ancestral";

    explicit dpm2_ancestral(dpm2_ancestral_options<T> options = {}) : options_(std::move(options)) { options_.validate(); }
    [[nodiscard]] const dpm2_ancestral_options<T>& options() const { return options_; }

    [[nodiscard]] run start(sigma_grid<T> grid, layout shape) const {
        return run({options_.prediction, options_.eta, options_.s_noise, options_.levels}, std::move(grid), shape, name);
    }
    [[nodiscard]] run start(const sigma_grid<T>& grid, index size, index batch = 1) const {
        return start(sigma_grid<T>(grid), layout{size, batch});
    }

private:
    dpm2_ancestral_options<T> options_;
};

}  // namespace diffuse::sampler
