// diffuse/rf/step.hpp: what one layer does to coordinates on one axis.
//
// Every layer here maps its output unit j to a window of input units
//     first(j) = stride * j - offset,      last(j) = first(j) + extent,
// an affine map with exact rational coefficients (Araujo, Norris, Sim, "Computing Receptive
// Fields of Convolutional Neural Networks", Distill 2019: kernel k_l, stride s_l, left padding
// p_l, with extent = k_l - 1). The three receptive-field algorithms of rf/sequential.hpp and the
// graph algorithms of rf/graph_field.hpp only ever compose these maps.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/rf/fraction.hpp"
#include "diffuse/rf/layer.hpp"

namespace diffuse::rf {

struct axis_step {
    fraction stride = 1;
    fraction extent = 0;       // kernel size - 1, in input units
    fraction offset = 0;       // left padding, in input units
    bool offset_known = true;  // false for TensorFlow 'SAME' when the input size is not known
    constexpr fraction kernel() const { return extent + 1; }
};

// Dilation spreads the k taps over d(k-1)+1 units (Distill, "dilated convolutions").
constexpr fraction dilated_kernel(const axis_spec& s) {
    return fraction(s.dilation) * (s.kernel - 1) + 1;
}

// TensorFlow 'SAME' (tf.nn.convolution docs): the output has ceil(n/s) units and the total
// padding max(k - (n mod s, or s when n mod s = 0), 0) is split with the smaller half first.
constexpr index same_padding_begin(index kernel, index stride, index input_size) {
    const index rest = input_size % stride == 0 ? stride : input_size % stride;
    return (kernel > rest ? kernel - rest : 0) / 2;
}

// Without the input size the left padding is known only when every residue n mod s gives the
// same amount (always for s = 1 or k = 1; for s = 2 exactly when k is even).
constexpr std::optional<index> same_padding_begin(index kernel, index stride) {
    const index first = same_padding_begin(kernel, stride, stride);
    for (index rest = 1; rest < stride; ++rest) {
        if (same_padding_begin(kernel, stride, rest) != first) return std::nullopt;
    }
    return first;
}

namespace detail {

// Output j of a transposed convolution receives input i when j = i*s - p + m*d, m = 0..k-1:
// i runs over [(j + p - d(k-1))/s, (j + p)/s], a convolution with stride 1/s.
constexpr axis_step transposed_step(index kernel, index stride, index pad, index dilation) {
    const fraction reach = fraction(dilation) * (kernel - 1);
    return axis_step{fraction(1, stride), reach / stride, (reach - pad) / stride, true};
}

}  // namespace detail

// The step of `kind` on an axis; `input_size` (-1 when unknown) resolves 'SAME' padding.
constexpr axis_step step_of(op kind, const axis_spec& s, index input_size = -1) {
    switch (kind) {
        case op::conv:
        case op::pool: {
            const fraction kernel = dilated_kernel(s);
            axis_step out{s.stride, kernel - 1, s.pad_begin, true};
            if (s.same) {
                const std::optional<index> begin =
                    input_size >= 0 ? std::optional<index>(same_padding_begin(kernel.num(), s.stride, input_size))
                                    : same_padding_begin(kernel.num(), s.stride);
                out.offset = begin.value_or(0);
                out.offset_known = begin.has_value();
            }
            return out;
        }
        case op::pad:
            return axis_step{1, 0, s.pad_begin, true};
        case op::pointwise:
            return axis_step{};
        case op::transposed_conv:
            return detail::transposed_step(s.kernel, s.stride, s.pad_begin, s.dilation);
        // Nearest upsampling by f is the transposed convolution with an all-ones f-tap kernel.
        case op::upsample_nearest:
            return detail::transposed_step(s.stride, s.stride, 0, 1);
        case op::upsample_bilinear: {
            // Output j reads floor(x) and floor(x)+1 at x = (j + 1/2)/f - 1/2 (PyTorch,
            // align_corners=False). The fractional part of x is (2m+1)/(2f) for even f and m/f for
            // odd f, so the window is [x - max frac, x + 1 - min frac]: extent (2f-1)/f and left
            // offset (3f - 2 - f mod 2) / (2f).
            const index f = s.stride;
            const fraction two_f = fraction(2) * f;
            return axis_step{fraction(1, f), (two_f - 1) / f, (fraction(3) * f - 2 - f % 2) / two_f, true};
        }
    }
    return axis_step{};
}

// Number of output units on an axis for `input_size` input units (PyTorch / TensorFlow rules).
// `where` names the layer in the error raised when the input is too small.
constexpr index output_size(op kind, const axis_spec& s, index input_size, std::string_view where) {
    const auto too_small = [&](std::string_view allowed) {
        return invalid(detail::join(where, ": input size"), input_size, allowed);
    };
    if (input_size < 1) throw too_small("an integer >= 1");
    switch (kind) {
        case op::conv:
        case op::pool: {
            if (s.same) return (fraction(input_size) / s.stride).ceil();
            const fraction padded = fraction(input_size) + s.pad_begin + s.pad_end;
            const fraction span = padded - dilated_kernel(s);
            if (span < 0) throw too_small("at least the dilated kernel minus the padding");
            index out = (s.ceil_mode ? (span / s.stride).ceil() : (span / s.stride).floor()) + 1;
            // PyTorch drops a last ceil_mode window that would start in the right padding.
            if (s.ceil_mode && fraction(out - 1) * s.stride >= fraction(input_size) + s.pad_begin) --out;
            return out;
        }
        case op::pad:
            return (fraction(input_size) + s.pad_begin + s.pad_end).num();
        case op::pointwise:
            return input_size;
        case op::transposed_conv: {
            const fraction out = fraction(input_size - 1) * s.stride - s.pad_begin - s.pad_end +
                                 fraction(s.dilation) * (s.kernel - 1) + s.output_padding + 1;
            if (out < 1) throw too_small("large enough for a non-empty output (padding removes it all)");
            return out.num();
        }
        case op::upsample_nearest:
        case op::upsample_bilinear:
            return (fraction(input_size) * s.stride).num();
    }
    return input_size;
}

}  // namespace diffuse::rf
