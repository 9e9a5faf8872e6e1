// diffuse/sampler/initial_latents.hpp: the start of a run from pure noise, and what a run's first
// evaluation needs, known before the run starts.
//
// A run from pure noise starts at x_T = init_noise_sigma * N(0, I): 1 for the discrete and
// model-state samplers, sqrt(sigma_max^2 + 1) or sigma_max for the k-diffusion (denoiser-state)
// ones (diffusers' init_noise_sigma). `initial_latents` applies that scale, so callers do not
// have to know which kind of sampler they hold.
#pragma once

#include <type_traits>
#include <utility>

#include "diffuse/core/error.hpp"
#include "diffuse/core/random.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/sampler/run.hpp"

namespace diffuse {

namespace sampler {

// A run's init_noise_sigma and first model-input scale; runs that do not declare them use 1.
template <class Run>
auto init_noise_sigma(const Run& run) {
    using T = std::remove_cvref_t<decltype(std::declval<Run&>().context().level.sigma)>;
    if constexpr (requires { run.init_noise_sigma(); }) return static_cast<T>(run.init_noise_sigma());
    else return T(1);
}
template <class Run>
auto input_scale(const Run& run) {
    using T = std::remove_cvref_t<decltype(std::declval<Run&>().context().level.sigma)>;
    if constexpr (requires { run.input_scale(); }) return static_cast<T>(run.input_scale());
    else return T(1);
}

// A sampler and what it starts a run on: a grid for the typed samplers, a step count for
// config::any_sampler.
template <class Sampler, class Grid>
concept starts_on = requires(const Sampler& s, const Grid& grid) {
    s.start(grid, index{1}, index{1});
};

// The same values before a run starts, from the sampler and its grid (or step count).
template <class Sampler, class Grid>
requires starts_on<Sampler, Grid>
typename Sampler::scalar init_noise_sigma(const Sampler& sampler, const Grid& grid) {
    return init_noise_sigma(sampler.start(grid, 1, 1));
}
template <class Sampler, class Grid>
requires starts_on<Sampler, Grid>
typename Sampler::scalar input_scale(const Sampler& sampler, const Grid& grid) {
    return input_scale(sampler.start(grid, 1, 1));
}

}  // namespace sampler

namespace detail {

template <Real T, class X, class Noise>
void fill_initial_latents(T sigma, X& x_in, Noise& noise) {
    static_assert(sampler::state_buffer<X, T>,
                  "x must be a writable buffer of the sampler's scalar type T: not const, and of the same "
                  "precision (float or double) as the sampler (an Eigen array, std::vector, std::span or view<T>)");
    view<T> x = flat(x_in);
    if constexpr (random::noise_source<std::remove_cvref_t<Noise>, T>) {
        noise.normal(x);
    } else if constexpr (std::is_arithmetic_v<std::remove_cvref_t<Noise>>) {
        static_assert(!std::is_arithmetic_v<std::remove_cvref_t<Noise>>,
                      "noise must be a noise source (e.g. diffuse::random::generator seeded with your seed) or a "
                      "buffer of standard normals; a bare number is neither");
    } else {
        const const_view<T> given = cflat(noise);
        require_size("noise.size()", given.size(), x.size());
        if (given.data() != x.data()) x = given;
    }
    x *= sigma;
}

}  // namespace detail

// Writes the initial latents of a run from pure noise into x: init_noise_sigma * z, where z is
// drawn from `noise` (diffuse::random::generator or any noise source) or is the caller's noise
// buffer of x.size() elements (which may be x itself). Given a started run, or a sampler and its
// grid (a step count for config::any_sampler).
template <class Run, class X, class Noise>
void initial_latents(const Run& run, X&& x, Noise&& noise) {
    detail::fill_initial_latents(sampler::init_noise_sigma(run), x, noise);
}
template <class Sampler, class Grid, class X, class Noise>
requires sampler::starts_on<Sampler, Grid>
void initial_latents(const Sampler& sampler, const Grid& grid, X&& x, Noise&& noise) {
    detail::fill_initial_latents(sampler::init_noise_sigma(sampler, grid), x, noise);
}

}  // namespace diffuse
