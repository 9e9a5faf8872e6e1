// diffuse/rf/layer.hpp: the layers a receptive-field calculation knows, as constexpr data.
//
// A layer is described per spatial axis (index 0 = height, 1 = width) by its kernel, stride,
// dilation and padding; everything else about it (channels, weights, the non-linearity) does not
// change which input units an output unit sees. Pooling has the geometry of a convolution;
// batch normalization, activations and other element-wise operations are `pointwise`.
// The upsampling layers and the transposed convolution are the ones Araujo et al. (Distill 2019,
// "Other network operations") treat: their output units see a few input units each, so they act
// as a convolution with the fractional stride 1/s (see rf/step.hpp for the arithmetic).
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"

namespace diffuse::rf {

// A value per spatial axis: {height, width}. An integer means the same value on both axes.
struct hw {
    index h = 1;
    index w = 1;
    constexpr hw(index both) : h(both), w(both) {}
    constexpr hw(index height, index width) : h(height), w(width) {}
    constexpr index operator[](std::size_t axis) const { return axis == 0 ? h : w; }
    friend constexpr bool operator==(const hw&, const hw&) = default;
};

inline constexpr std::array<std::string_view, 2> axis_names{"height", "width"};

// How a convolution or pooling pads its input: explicit amounts before and after on each axis
// (PyTorch's `padding`, or a Pad layer folded in), or TensorFlow's 'SAME', whose amounts depend
// on the input size (rf/step.hpp). 'VALID' is explicit zero padding.
struct padding {
    std::array<index, 2> begin{0, 0};
    std::array<index, 2> end{0, 0};
    bool same = false;

    constexpr padding(index both = 0) : begin{both, both}, end{both, both} {}
    constexpr padding(index height, index width) : begin{height, width}, end{height, width} {}
    static constexpr padding asymmetric(index top, index bottom, index left, index right) {
        padding p;
        p.begin = {top, left};
        p.end = {bottom, right};
        return p;
    }
    static constexpr padding tf_same() {
        padding p;
        p.same = true;
        return p;
    }
};
inline constexpr padding same = padding::tf_same();
inline constexpr padding valid = padding(0);

enum class op : unsigned char { conv, pool, pad, pointwise, transposed_conv, upsample_nearest, upsample_bilinear };

// The spelling used in tables and in description files (rf/description.hpp).
inline constexpr std::array<std::string_view, 7> op_names{
    "conv", "pool", "pad", "pointwise", "deconv", "upsample_nearest", "upsample_bilinear"};
constexpr std::string_view name_of(op kind) {
    return op_names[static_cast<std::size_t>(kind)];
}

// One axis of a layer. For upsampling the factor is the stride.
struct axis_spec {
    index kernel = 1;
    index stride = 1;
    index dilation = 1;
    index pad_begin = 0;
    index pad_end = 0;
    index output_padding = 0;  // transposed convolution only: extra units at the end of the output
    bool same = false;         // TensorFlow 'SAME' padding (conv and pool only)
    bool ceil_mode = false;    // PyTorch pooling ceil_mode: changes the output size, not the field
};

struct layer {
    op kind = op::pointwise;
    std::array<axis_spec, 2> axes{};
};

namespace detail {

// Decimal digits of a non-negative integer (std::to_string is not constexpr in C++20).
constexpr std::string decimal(index value) {
    std::string digits;
    do {
        digits.insert(digits.begin(), static_cast<char>('0' + value % 10));
        value /= 10;
    } while (value != 0);
    return digits;
}

// Concatenation by appending: `"literal" + std::string&&` makes GCC 12 at -O2 report a false
// -Wrestrict, which would break users' -Werror builds.
template <class... Parts>
constexpr std::string join(const Parts&... parts) {
    std::string out;
    (out.append(std::string_view(parts)), ...);
    return out;
}

constexpr layer make_windowed(op kind, hw kernel, hw stride, const padding& pad, hw dilation) {
    layer l{kind, {}};
    for (std::size_t a = 0; a < 2; ++a) {
        l.axes[a] = axis_spec{kernel[a], stride[a], dilation[a], pad.begin[a], pad.end[a], 0, pad.same, false};
    }
    return l;
}

}  // namespace detail

// Convolution (also depthwise/separable: the same geometry).
constexpr layer conv(hw kernel, hw stride = 1, padding pad = valid, hw dilation = 1) {
    return detail::make_windowed(op::conv, kernel, stride, pad, dilation);
}
// Max or average pooling. PyTorch's pooling stride defaults to the kernel; say it explicitly here.
constexpr layer pool(hw kernel, hw stride, padding pad = valid, bool ceil_mode = false) {
    layer l = detail::make_windowed(op::pool, kernel, stride, pad, 1);
    l.axes[0].ceil_mode = l.axes[1].ceil_mode = ceil_mode;
    return l;
}
// An explicit padding layer (tf.pad, nn.ZeroPad2d): moves the grid, sees one unit.
constexpr layer pad(padding amounts) {
    return detail::make_windowed(op::pad, 1, 1, amounts, 1);
}
// Batch norm, activations, dropout, 1x1 channel mixing without stride...: sees one unit.
constexpr layer pointwise() {
    return layer{};
}
// Transposed convolution with PyTorch's parameters (ConvTranspose2d): output unit j receives
// input unit i when j = i*stride - padding + m*dilation for a kernel tap m.
constexpr layer transposed_conv(hw kernel, hw stride = 1, hw pad = 0, hw dilation = 1, hw output_padding = 0) {
    layer l = detail::make_windowed(op::transposed_conv, kernel, stride, padding(pad.h, pad.w), dilation);
    l.axes[0].output_padding = output_padding.h;
    l.axes[1].output_padding = output_padding.w;
    return l;
}
// nn.Upsample(scale_factor, mode='nearest'): output j copies input floor(j / factor).
constexpr layer upsample_nearest(hw factor) {
    return detail::make_windowed(op::upsample_nearest, 1, factor, 0, 1);
}
// nn.Upsample(scale_factor, mode='bilinear', align_corners=False): output j interpolates the two
// input units around (j + 1/2) / factor - 1/2.
constexpr layer upsample_bilinear(hw factor) {
    return detail::make_windowed(op::upsample_bilinear, 1, factor, 0, 1);
}

// Rejects parameters no framework accepts; `where` names the layer in the message. constexpr so
// that a network checked at compile time fails to compile when it is wrong.
constexpr void validate(const layer& l, std::string_view where) {
    std::size_t a = 0;
    const auto check = [&](bool ok, std::string_view what, auto value, std::string_view allowed) {
        if (!ok) {
            throw invalid(detail::join(where, ": ", what, " (", axis_names[a], ")"), value, allowed);
        }
    };
    const bool upsample = l.kind == op::upsample_nearest || l.kind == op::upsample_bilinear;
    for (; a < 2; ++a) {
        const axis_spec& s = l.axes[a];
        check(s.kernel >= 1, "kernel", s.kernel, "an integer >= 1");
        check(s.stride >= 1, upsample ? "factor" : "stride", s.stride, "an integer >= 1");
        check(s.dilation >= 1, "dilation", s.dilation, "an integer >= 1");
        check(s.pad_begin >= 0, "padding before", s.pad_begin, "an integer >= 0");
        check(s.pad_end >= 0, "padding after", s.pad_end, "an integer >= 0");
        check(!s.same || l.kind == op::conv || l.kind == op::pool, "padding", "same",
              "'same' only on a convolution or a pooling");
        check(!s.ceil_mode || l.kind == op::pool, "ceil_mode", "true", "ceil_mode only on a pooling");
        if (l.kind == op::transposed_conv) {
            // PyTorch's rule: output_padding must be smaller than the stride or the dilation.
            check(s.output_padding >= 0 && (s.output_padding < s.stride || s.output_padding < s.dilation),
                  "output_padding", s.output_padding, "0 <= output_padding < max(stride, dilation)");
            check(s.pad_begin == s.pad_end, "padding", s.pad_end,
                  "the same padding before and after (use output_padding for one more unit at the end)");
        } else {
            check(s.output_padding == 0, "output_padding", s.output_padding,
                  "0 (output_padding belongs to transposed convolutions)");
        }
        if (l.kind == op::pool && !s.same) {
            // PyTorch: padding at most half the kernel, so that no window lies in the padding only.
            check(s.pad_begin <= s.kernel / 2 && s.pad_end <= s.kernel / 2, "padding",
                  s.pad_begin > s.pad_end ? s.pad_begin : s.pad_end, "at most half the pooling kernel");
        }
        if (l.kind == op::pad || l.kind == op::pointwise || upsample) {
            check(s.kernel == 1, "kernel", s.kernel, "1 (this layer has no kernel)");
            check(s.dilation == 1, "dilation", s.dilation, "1 (this layer has no kernel)");
        }
        if (l.kind == op::pointwise || upsample) {
            check(s.pad_begin == 0 && s.pad_end == 0, "padding", s.pad_begin + s.pad_end,
                  "0 (this layer does not pad)");
        }
        if (l.kind == op::pad || l.kind == op::pointwise) {
            check(s.stride == 1, "stride", s.stride, "1 (this layer has no stride)");
        }
    }
}

}  // namespace diffuse::rf
