// diffuse/sampler/euler_ancestral.hpp: Euler ancestral sampling (k-diffusion sample_euler_ancestral;
// diffusers EulerAncestralDiscreteScheduler, which is eta = 1). Each step splits sigma -> sigma' into
// a deterministic Euler step of the Karras ODE down to sigma_down and fresh noise of std sigma_up:
//   x' = x + (sigma_down - sigma) (x - x0)/sigma + s_noise sigma_up z,
// sigma_up = min(sigma', eta sqrt(sigma'^2 (sigma^2 - sigma'^2)/sigma^2)), sigma_down^2 = sigma'^2 - sigma_up^2
// (Song et al. 2021, the ancestral sampler of DDPM written in sigma). eta = 0 is plain Euler.
#pragma once

#include <string_view>

#include "diffuse/sampler/detail/kdiffusion.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"

namespace diffuse::sampler {

template <Real T>
struct euler_ancestral_options {
    predict::prediction prediction = predict::prediction::epsilon;
    T eta = T(1);
    T s_noise = T(1);
    // Draw the noise of a step whose sigma_up is 0 (the step into sigma 0) and discard it, as
    // diffusers' EulerAncestralDiscreteScheduler does (k-diffusion does not draw there), so that a
    // replayed noise stream stays aligned with diffusers'.
    bool draw_when_noiseless = false;

    void validate() const { detail::validate_noise_options(eta, s_noise); }
};

template <Real T>
class euler_ancestral : public detail::sampler_shell<euler_ancestral<T>, euler_ancestral_options<T>, sigma_grid<T>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "EulerAncestral";

    using euler_ancestral::sampler_shell::sampler_shell;

    class run : public detail::kdiffusion_run<T, run> {
        using base = detail::kdiffusion_run<T, run>;
        friend base;

    public:
        run(const euler_ancestral& sampler, sigma_grid<T> grid, layout shape)
            : base(std::move(grid), shape, sampler.options().prediction, name), options_(sampler.options()) {
            if (options_.eta > T(0)) this->reserve_noise();
        }

    private:
        template <class Noise>
        void update(const_view<T> output, view<T> x, Noise& noise) {
            const auto split = detail::ancestral_step(this->evaluation().sigma, this->next_level().sigma, options_.eta);
            if (options_.draw_when_noiseless && options_.eta > T(0) && !(split.up > T(0) && options_.s_noise > T(0)))
                static_cast<void>(this->draw(noise));
            this->euler_step(output, x, split.down, split.up, options_.s_noise, noise);
            this->finish_step();
        }

        euler_ancestral_options<T> options_;
    };
};

}  // namespace diffuse::sampler
