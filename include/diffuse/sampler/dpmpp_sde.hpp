// diffuse/sampler/dpmpp_sde.hpp: DPM-Solver++ SDE, the stochastic second-order singlestep sampler
// of k-diffusion (sample_dpmpp_sde) and diffusers' DPMSolverSDEScheduler (eta = 1, r = 1/2).
// Lu et al. 2022b ("DPM-Solver++"), Algorithm 1 with both stages ancestral: on lambda = -log sigma,
// h = log(sigma/sigma'), sigma_s = sigma e^{-r h},
//   stage 1: split sigma -> sigma_s into (d1, u1);  x_s = (d1/sigma) x - expm1(-log(sigma/d1)) x0 + s_noise u1 z1,
//   stage 2: split sigma -> sigma' into (d, u), x0_d = (1 - 1/(2r)) x0 + 1/(2r) x0(x_s; sigma_s),
//            x' = (d/sigma) x - expm1(-log(sigma/d)) x0_d + s_noise u z2,
// and Euler when sigma' = 0. The two noises z1, z2 are the caller's (any standard normal source), or
// with `noise_sampler_seed` those of k-diffusion and diffusers: the normalized increments
// W(sigma_s) - W(sigma) and W(sigma') - W(sigma) of one seeded Brownian path over the grid's sigma
// range (brownian_noise.hpp), drawn by the run itself. Then step(output, x) needs no noise, a noise
// source passed to step (as diffuse::sample passes one) is left untouched, and a noise buffer is
// refused (diffuse::error) rather than silently ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/dpmpp_2s_ancestral.hpp"

namespace diffuse::sampler {

template <Real T>
struct dpmpp_sde_options {
    predict::prediction prediction = predict::prediction::epsilon;
    T eta = T(1);
    T s_noise = T(1);
    T r = T(0.5);
    // alpha and model time at sigma_s; empty: read off the grid (grid_levels).
    level_map<T> levels = {};
    // Set: each run draws its noise from the Brownian path of this seed (diffusers' and
    // k-diffusion's seeded Brownian tree; other numbers than theirs, see brownian_noise.hpp).
    std::optional<std::uint64_t> noise_sampler_seed = std::nullopt;

    void validate() const {
        detail::validate_noise_options(eta, s_noise);
        require(r > T(0) && r < T(1), "r", r, "in (0, 1) (the position of the second evaluation within the step)");
    }
};

template <Real T>
class dpmpp_sde : public detail::sampler_shell<dpmpp_sde<T>, dpmpp_sde_options<T>, sigma_grid<T>> {
public:
    using scalar = T;
    using run = detail::dpmpp_two_stage_run<T>;
    static constexpr std::string_view name = "DPM++SDE";

    using dpmpp_sde::sampler_shell::sampler_shell;

    [[nodiscard]] run start(sigma_grid<T> grid, layout shape) const& {
        const auto& o = this->options();
        return run({o.prediction, o.eta, o.s_noise, o.r, true, o.levels, o.noise_sampler_seed}, std::move(grid), shape,
                   name);
    }
    using dpmpp_sde::sampler_shell::start;
};

}  // namespace diffuse::sampler
