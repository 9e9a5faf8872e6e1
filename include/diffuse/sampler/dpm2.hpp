// diffuse/sampler/dpm2.hpp: DPM2 (k-diffusion sample_dpm_2; diffusers KDPM2DiscreteScheduler), a
// second-order step inspired by DPM-Solver-2 (Lu et al. 2022, Algorithm 1 with r = 1/2) written on
// the Karras ODE: with the midpoint in log sigma, sigma_mid = sqrt(sigma sigma'),
//   x_mid = x + (sigma_mid - sigma) d(x; sigma),   x' = x + (sigma' - sigma) d(x_mid; sigma_mid),
// and a plain Euler step when sigma' = 0. The midpoint is not a grid level: its model time and
// input scale come from the level map (vp_levels(schedule) reproduces diffusers' interpolated
// timesteps; the default reads them off the grid). Two model evaluations per step (one on the last).
//
// The ancestral variant (dpm2_ancestral.hpp) aims the step at sigma_down instead of sigma' and adds
// s_noise sigma_up z; with eta = 0 it is this sampler, and both share the run below.
#pragma once

#include <cmath>
#include <string_view>
#include <vector>

#include "diffuse/sampler/detail/cache_blocks.hpp"
#include "diffuse/sampler/detail/kdiffusion.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"

namespace diffuse::sampler {

namespace detail {

template <Real T>
struct dpm2_settings {
    predict::prediction prediction;
    T eta;
    T s_noise;
    level_map<T> levels;
};

template <Real T>
class dpm2_run : public kdiffusion_run<T, dpm2_run<T>> {
    using base = kdiffusion_run<T, dpm2_run<T>>;
    friend base;

public:
    dpm2_run(dpm2_settings<T> settings, sigma_grid<T> grid, layout shape, std::string_view name)
        : base(std::move(grid), shape, settings.prediction, name), settings_(std::move(settings)) {
        if (!settings_.levels) settings_.levels = grid_levels(this->grid_);
        start_.resize(shape.size);
        if (settings_.eta > T(0)) this->reserve_noise();
    }

private:
    template <class Noise>
    void update(const_view<T> output, view<T> x, Noise& noise) {
        const T sigma = this->current_level().sigma;
        const auto split = ancestral_step(sigma, this->next_level().sigma, settings_.eta);
        if (this->stage() == 0 && split.down == T(0)) {  // the last step: Euler
            this->euler_step(output, x, split.down, split.up, settings_.s_noise, noise);
            this->finish_step();
        } else if (this->stage() == 0) {  // to the midpoint
            const T mid = geometric_midpoint(sigma, split.down);
            const auto [on_x, on_output] = this->euler_to(mid);
            for_each_block(x.size(), [&](index begin, index size) {  // one pass: keep the start, then move
                view<T> xb = block(x, begin, size);
                block(start_, begin, size) = xb;
                base::combine(xb, block(output, begin, size), on_x, on_output);
            });
            this->evaluate_at(settings_.levels(mid));
        } else {  // x' = x + (sigma_down - sigma) d(x_mid; sigma_mid) [+ s_noise sigma_up z]
            const auto d = this->derivative();
            const T dt = split.down - sigma;
            if (split.up > T(0) && settings_.s_noise > T(0)) {
                x = start_ + (dt * d.from_x) * x + (dt * d.from_output) * output +
                    (settings_.s_noise * split.up) * this->draw(noise);
            } else {
                x = start_ + (dt * d.from_x) * x + (dt * d.from_output) * output;
            }
            this->finish_step();
        }
    }

    dpm2_settings<T> settings_;
    buffer<T> start_;
};

}  // namespace detail

template <Real T>
struct dpm2_options {
    predict::prediction prediction = predict::prediction::epsilon;
    // alpha and model time at the midpoints; empty: read off the grid (grid_levels).
    level_map<T> levels = {};

    void validate() const {}
};

// diffusers' KDPM2 schedulers round the timesteps of Karras sigmas to integers (their other
// schedulers keep them fractional); this copy of a grid does the same, for parity.
template <Real T>
sigma_grid<T> with_rounded_model_times(const sigma_grid<T>& grid) {
    std::vector<noise_level<T>> levels(grid.levels().begin(), grid.levels().end());
    for (auto& l : levels) l.model_time = std::nearbyint(l.model_time);
    return sigma_grid<T>(std::move(levels), grid.initial_noise_std());
}

template <Real T>
class dpm2 : public detail::sampler_shell<dpm2<T>, dpm2_options<T>, sigma_grid<T>> {
public:
    using scalar = T;
    using run = detail::dpm2_run<T>;
    static constexpr std::string_view name = "DPM2";

    using dpm2::sampler_shell::sampler_shell;

    [[nodiscard]] run start(sigma_grid<T> grid, layout shape) const& {
        const auto& o = this->options();
        return run({o.prediction, T(0), T(1), o.levels}, std::move(grid), shape, name);
    }
    using dpm2::sampler_shell::start;
};

}  // namespace diffuse::sampler
