// diffuse/sampler/img2img.hpp: a run that starts from a noised image instead of pure noise
// (diffusers' img2img pipelines, "strength").
//
// diffusers keeps the whole grid of n steps and starts its step index at
//   t_start = n - min(int(n strength), n)        (get_timesteps, then set_begin_index)
// from the image latents noised to that grid level with the initial noise (add_noise, or
// scale_noise for flow matching). Here the same: `img2img_begin` is t_start, `run.skip_to(t_start)`
// (or `sample_options::begin`) starts a run there, and `img2img_latents` writes the start latents.
// Decisions that look at the whole grid (lower_order_final, the last step) see the whole grid;
// multistep histories warm up from the begin index (sampler/run.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "diffuse/core/error.hpp"
#include "diffuse/core/random.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/sampler/initial_latents.hpp"
#include "diffuse/sampler/run.hpp"

namespace diffuse {

// diffusers' get_timesteps(num_inference_steps, strength): the grid step an img2img run begins at,
// t_start = num_steps - min(int(num_steps strength), num_steps). Heun and DPM2 count grid steps (their
// diffusers timesteps repeat each level; begin index t_start * order there is grid step t_start here).
inline index img2img_begin(index num_steps, double strength) {
    require(num_steps >= 1, "num_steps", num_steps, "an integer >= 1");
    require(std::isfinite(strength) && strength >= 0.0 && strength <= 1.0, "strength", strength,
            "a number in [0, 1] (1 starts from the first level of the grid, 0 would run no step)");
    const index denoised = std::min(static_cast<index>(static_cast<double>(num_steps) * strength), num_steps);
    if (denoised < 1) {  // the message is built only on failure
        throw invalid("strength", strength,
                      ">= 1/num_steps = " + std::to_string(1.0 / static_cast<double>(num_steps)) +
                          ": int(num_steps * strength) is the number of steps run, and must be >= 1 (num_steps = " +
                          std::to_string(num_steps) + ")");
    }
    return num_steps - denoised;
}

namespace sampler {

// x = on_image image + on_noise eps: the image latents noised to the level of a run's next evaluation,
// in the run's state. The network's input there is alpha x0 + alpha sigma eps = sqrt(ab) x0 + sqrt(1 - ab) eps
// (diffusers' add_noise of the discrete and exponential-integrator classes, scale_noise's
// (1 - s) x0 + s eps for flow matching); the state is that input over the run's input scale (the
// k-diffusion classes' x0 + sigma eps). A level without signal (alpha = 0, zero-SNR or flow time 1)
// is pure noise.
template <Real T>
struct noising {
    T on_image;
    T on_noise;
};

template <class Run>
auto noising_at(Run& run) {
    using T = std::remove_cvref_t<decltype(run.context().level.sigma)>;
    const auto level = run.context().level;
    const T scale = input_scale(run);
    if (!(level.alpha > T(0)) || !std::isfinite(level.sigma) || level.sigma == std::numeric_limits<T>::max()) {
        return noising<T>{T(0), T(1) / scale};
    }
    if (scale == level.alpha) return noising<T>{T(1), level.sigma};  // k-diffusion state
    return noising<T>{level.alpha / scale, level.model_sigma() / scale};
}

}  // namespace sampler

namespace detail {

template <Real T, class Image, class X, class Noise>
void fill_noised_image(const sampler::noising<T>& c, const Image& image_in, X& x_in, Noise& noise) {
    static_assert(sampler::state_buffer<X, T>,
                  "x must be a writable buffer of the sampler's scalar type T: not const, and of the same "
                  "precision (float or double) as the sampler (an Eigen array, std::vector, std::span or view<T>)");
    static_assert(sampler::output_buffer<Image, T>,
                  "image must be a buffer of the sampler's scalar type T (float or double, as the sampler)");
    view<T> x = flat(x_in);
    const const_view<T> image = cflat(image_in);
    require_size("image.size()", image.size(), x.size());
    if constexpr (random::noise_source<std::remove_cvref_t<Noise>, T>) {
        require(image.data() != x.data(), "image", "the buffer x", "a buffer other than x when noise is drawn into x");
        noise.normal(x);
        x = c.on_image * image + c.on_noise * x;
    } else {
        static_assert(!std::is_arithmetic_v<std::remove_cvref_t<Noise>>,
                      "noise must be a noise source (e.g. diffuse::random::generator seeded with your seed) or a "
                      "buffer of standard normals; a bare number is neither");
        const const_view<T> given = cflat(noise);
        require_size("noise.size()", given.size(), x.size());
        x = c.on_image * image + c.on_noise * given;
    }
}

}  // namespace detail

// img2img's start: moves `run` (typed or config::any_run, not yet stepped) to the begin index of
// `strength` and writes x = the image latents noised to that level with `noise` (a noise source, drawn
// once, or a buffer of x.size() standard normals, which may be x itself). Returns the begin index.
template <class Run, class Image, class X, class Noise>
index img2img_latents(Run& run, double strength, const Image& image, X&& x, Noise&& noise) {
    const index begin = img2img_begin(run.num_steps(), strength);
    run.skip_to(begin);
    detail::fill_noised_image(sampler::noising_at(run), image, x, noise);
    return begin;
}

// The same before a run starts, from a sampler and its grid (a step count for config::any_sampler),
// for the loop API: diffuse::sample(model, sampler, grid, x, noise, {.begin = begin}).
template <class Sampler, class Grid, class Image, class X, class Noise>
requires sampler::starts_on<Sampler, Grid> index img2img_latents(const Sampler& sampler, const Grid& grid,
                                                                 double strength, const Image& image, X&& x,
                                                                 Noise&& noise) {
    auto run = sampler.start(grid, 1, 1);
    return img2img_latents(run, strength, image, x, noise);
}

}  // namespace diffuse
