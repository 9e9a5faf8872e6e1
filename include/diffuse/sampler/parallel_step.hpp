// diffuse/sampler/parallel_step.hpp: the batched, noise-free step of diffusers' DDIMParallelScheduler
// and DDPMParallelScheduler (`batch_step_no_noise`), for parallel sampling (ParaDiGMS, Shih et al.
// 2023): a batch of samples, each at its own timestep t_b, each stepped to t_b - T // n (T training
// timesteps, n inference steps; past t = 0 the clean level, alphas_cumprod = 1). The pipeline adds
// the pre-drawn noise itself. This is no run: it keeps no state and may be called with any
// timesteps in any order.
//
//   DDIM (Song et al. 2021, eq. 12 with eta = 0): x' = sqrt(ab') x0 + sqrt(1 - ab') eps
//   DDPM (Ho et al. 2020, eq. 7):                 x' = posterior mean of q(x' | x_t, x0)
//
// x0 is clipped or thresholded per sample as the sampler's options say; DDIM honours
// use_clipped_model_output. For DDPM with a learned variance the model output holds, per sample,
// the prediction then the variance values (twice the sample's size); the variance is not used.
// Thresholding needs a scratch copy of one sample, allocated per call; otherwise nothing is.
#pragma once

#include <span>
#include <string>

#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/ddpm.hpp"
#include "diffuse/sampler/detail/update.hpp"
#include "diffuse/sampler/run.hpp"

namespace diffuse::sampler {

namespace detail {

// Applies update(b, t_b) to each sample b of `samples` (batch = timesteps.size() equal slices) with
// its slice of `output` (output_per_sample values each, of which the first sample-size are used).
template <Real T, class UpdateFor>
void batch_apply(const predict::x0_processing<T>& processing, std::span<const timestep> timesteps, const_view<T> output,
                 view<T> samples, index output_per_sample_factor, UpdateFor update_for) {
    const auto batch = static_cast<index>(timesteps.size());
    require(batch >= 1, "timesteps.size()", batch, "at least 1 (one timestep per sample)");
    require(samples.size() % batch == 0 && samples.size() > 0, "samples.size()", samples.size(),
            "a positive multiple of timesteps.size() = " + std::to_string(batch));
    const index d = samples.size() / batch;
    require_size("model_output.size()", output.size(), output_per_sample_factor * samples.size());
    buffer<T> x0, quantile;
    if (processing.needs_two_passes()) {
        x0.resize(d);
        quantile.resize(d);
    }
    for (index b = 0; b < batch; ++b) {
        const linear_update<T> u = update_for(timesteps[static_cast<std::size_t>(b)]);
        apply(u, processing, const_view<T>(output.data() + output_per_sample_factor * b * d, d),
              view<T>(samples.data() + b * d, d), const_view<T>(nullptr, 0), 1, view<T>(x0.data(), x0.size()),
              view<T>(quantile.data(), quantile.size()));
    }
}

// t - T // n, as both parallel classes compute it; < 0 is the clean level.
inline timestep parallel_target(timestep t, index num_train_timesteps, index num_inference_steps) {
    require(num_inference_steps >= 1 && num_inference_steps <= num_train_timesteps, "num_inference_steps",
            num_inference_steps, "in [1, num_train_timesteps = " + std::to_string(num_train_timesteps) + "]");
    require(t >= 0 && t < num_train_timesteps, "timesteps[b]", t,
            "a training timestep in [0, " + std::to_string(num_train_timesteps) + ")");
    return t - static_cast<timestep>(num_train_timesteps / num_inference_steps);
}

// DDIMParallelScheduler's step to prev (eta = 0): diffusers' batched step takes alphas_cumprod = 1
// past t = 0 whatever set_alpha_to_one says.
template <Real T>
linear_update<T> parallel_update(const ddim<T>& sampler, timestep t, timestep prev) {
    return sampler.update(t, prev >= 0 ? sampler.noise_schedule().alpha_bar(prev) : T(1), T(0));
}
// DDPMParallelScheduler's: the posterior mean.
template <Real T>
linear_update<T> parallel_update(const ddpm<T>& sampler, timestep t, timestep prev) {
    return sampler.posterior_mean(sampler.between(t, prev));
}
template <Real T>
index output_per_sample_factor(const ddim<T>&) {
    return 1;
}
template <Real T>
index output_per_sample_factor(const ddpm<T>& sampler) {
    return is_learned(sampler.options().variance) ? 2 : 1;
}

}  // namespace detail

// diffusers' batch_step_no_noise for a ddim or ddpm sampler: samples (timesteps.size() samples,
// in place) stepped from their timesteps to t - T // n, given the model outputs there.
template <class Sampler, class Output, class X>
requires requires(const Sampler& s, timestep t) {
    detail::parallel_update(s, t, t);
}
void batch_step_no_noise(const Sampler& sampler, index num_inference_steps, std::span<const timestep> timesteps,
                         const Output& model_output, X&& samples) {
    using T = typename Sampler::scalar;
    static_assert(output_buffer<Output, T>, "the model output must be a buffer of the sampler's scalar type T");
    static_assert(state_buffer<std::remove_reference_t<X>, T>,
                  "samples must be a writable buffer of the sampler's scalar type T (not const)");
    const index train = sampler.noise_schedule().num_train_timesteps();
    detail::batch_apply<T>(sampler.options().x0, timesteps, cflat(model_output), flat(samples),
                           detail::output_per_sample_factor(sampler), [&](timestep t) {
                               return detail::parallel_update(sampler, t,
                                                              detail::parallel_target(t, train, num_inference_steps));
                           });
}

}  // namespace diffuse::sampler
