// diffuse/predict/thresholding.hpp: post-processing of the predicted clean sample x0.
//
// - clip_sample: x0 = clamp(x0, -range, range) (DDPM's original clipping to the data range).
// - Dynamic thresholding (Saharia et al. 2022, "Imagen", sec. 2.3): per sample, s = the `ratio`
//   quantile of |x0| (linear interpolation between order statistics, as torch.quantile), clamped to
//   [1, max_value]; then x0 = clamp(x0, -s, s) / s.
#pragma once

#include <algorithm>
#include <cmath>
#include <optional>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"

namespace diffuse::predict {

template <Real T>
struct dynamic_thresholding {
    T ratio = T(0.995);    // diffusers' dynamic_thresholding_ratio
    T max_value = T(1.0);  // diffusers' sample_max_value

    void validate() const {
        require(ratio > T(0) && ratio <= T(1), "dynamic_thresholding_ratio", ratio, "(0, 1]");
        require(max_value >= T(1) && std::isfinite(max_value), "sample_max_value", max_value, "a finite number >= 1");
    }
};

template <Real T>
struct x0_processing {
    std::optional<T> clip_range;                          // clip_sample with clip_sample_range
    std::optional<dynamic_thresholding<T>> thresholding;  // takes precedence over clipping, as in diffusers

    void validate() const {
        if (clip_range)
            require(*clip_range > T(0) && std::isfinite(*clip_range), "clip_sample_range", *clip_range,
                    "a finite number > 0");
        if (thresholding) thresholding->validate();
    }
    [[nodiscard]] bool needs_two_passes() const { return thresholding.has_value(); }
};

// The `ratio` quantile of |values| with linear interpolation (torch.quantile's default).
// `scratch` must hold values.size() elements; it is overwritten.
template <Real T>
T abs_quantile(const_view<T> values, T ratio, view<T> scratch) {
    const index n = values.size();
    scratch = values.abs();
    const double position = static_cast<double>(ratio) * static_cast<double>(n - 1);
    const auto below = static_cast<index>(std::floor(position));
    const double fraction = position - static_cast<double>(below);
    T* first = scratch.data();
    std::nth_element(first, first + below, first + n);
    const T low = first[below];
    if (below + 1 >= n || fraction == 0.0) return low;
    const T high = *std::min_element(first + below + 1, first + n);
    return static_cast<T>(low + static_cast<T>(fraction) * (high - low));
}

// Applies dynamic thresholding in place to a batch of `batch` equal-sized samples.
template <Real T>
void apply_dynamic_thresholding(view<T> x0, index batch, const dynamic_thresholding<T>& rule, view<T> scratch) {
    const index per_sample = x0.size() / batch;
    for (index b = 0; b < batch; ++b) {
        auto sample = x0.segment(b * per_sample, per_sample);
        T s =
            abs_quantile<T>(const_view<T>(sample.data(), per_sample), rule.ratio, view<T>(scratch.data(), per_sample));
        s = std::clamp(s, T(1), rule.max_value);
        sample = sample.max(-s).min(s) / s;
    }
}

}  // namespace diffuse::predict
