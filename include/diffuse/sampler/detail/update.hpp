// diffuse/sampler/detail/update.hpp: the one fused element-wise update that first-order
// discrete samplers (DDPM, DDIM, DDIM inversion) share.
//
//   x0    = x0.from_x * x + x0.from_output * output        (then clipped or thresholded)
//   eps   = eps.from_x * x + eps.from_output * output
//   x_new = to_x0 * x0 + to_x * x + to_eps * eps + to_noise * noise
//
// eps is linear in (x, output), so its term is folded into their coefficients once per step
// rather than evaluated per element; when x0 is not clipped or thresholded it is linear too and
// the whole step is x_new = a x + b output (+ c noise): per element one multiply-add per stream,
// which keeps the step memory-bound down to L1-sized buffers (docs/benchmarks.md). Folding
// changes the rounding of the result by a few ulps, not its value.
//
// Without dynamic thresholding this is a single pass over (x, output[, noise]) writing x; with
// it, x0 is first materialized in a scratch buffer (the per-sample quantile needs all of it).
#pragma once

#include "diffuse/core/view.hpp"
#include "diffuse/predict/parameterization.hpp"
#include "diffuse/predict/thresholding.hpp"

namespace diffuse::sampler::detail {

template <Real T>
struct linear_update {
    predict::decomposition<T> from;  // x0 and eps in terms of (x, output)
    T to_x0 = T(0);
    T to_x = T(0);
    T to_eps = T(0);
    T to_noise = T(0);  // 0: the step draws no noise

    // diffusers' use_clipped_model_output: after x0 is clipped, eps is re-derived from it,
    // eps = (x - alpha x0) / sigma, which folds into the x0 and x coefficients.
    void use_processed_x0_for_eps(T alpha, T sigma) {
        to_x0 -= to_eps * alpha / sigma;
        to_x += to_eps / sigma;
        to_eps = T(0);
    }
};

// Applies `u` to x in place. `noise` may be empty when u.to_noise == 0. `scratch` holds x.size()
// elements when thresholding is on; `quantile_scratch` holds one sample.
template <Real T>
void apply(const linear_update<T>& u, const predict::x0_processing<T>& processing, const_view<T> output, view<T> x,
           const_view<T> noise, index batch, view<T> scratch, view<T> quantile_scratch) {
    // x_new = to_x0 x0 + on_x x + on_output output + to_noise noise, with eps folded in.
    const T on_x = u.to_x + u.to_eps * u.from.eps.from_x;
    const T on_output = u.to_eps * u.from.eps.from_output;
    const auto finish = [&](const auto& mean) {
        if (u.to_noise != T(0)) {
            x = mean + u.to_noise * noise;
        } else {
            x = mean;
        }
    };
    const auto x0 = u.from.x0.from_x * x + u.from.x0.from_output * output;
    if (processing.thresholding) {
        scratch = x0;
        predict::apply_dynamic_thresholding(scratch, batch, *processing.thresholding, quantile_scratch);
        finish(u.to_x0 * scratch + on_x * x + on_output * output);
    } else if (processing.clip_range) {
        const T r = *processing.clip_range;
        finish(u.to_x0 * x0.max(-r).min(r) + on_x * x + on_output * output);
    } else {
        // x0 is linear in (x, output) too, so it folds in as well.
        finish((on_x + u.to_x0 * u.from.x0.from_x) * x + (on_output + u.to_x0 * u.from.x0.from_output) * output);
    }
}

}  // namespace diffuse::sampler::detail
