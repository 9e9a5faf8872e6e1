// diffuse/rf/sequential.hpp: receptive fields of single-path networks, three ways.
//
// Araujo, Norris, Sim, "Computing Receptive Fields of Convolutional Neural Networks" (Distill
// 2019) give, for layers l = 1..L with kernel k_l, stride s_l and left padding p_l:
//   top-down recurrence  r_{l-1} = s_l r_l + (k_l - s_l),  S_{l-1} = s_l S_l,
//                        P_{l-1} = s_l P_l + p_l,  from r_L = S_L = 1, P_L = 0  (eq. 1, 9, 10)
//   closed form          r_0 = 1 + sum_l (k_l - 1) prod_{i<l} s_i,  S_0 = prod_l s_l,
//                        P_0 = sum_l p_l prod_{i<l} s_i                          (eq. 2, 11, 12)
// and the bottom-up "jump and start" arithmetic (Dang Ha The Hien, "A guide to receptive field
// arithmetic", 2017) walks forward with the jump j (= S), the size r and the centre of the first
// unit `start`:  j' = j s,  r' = r + (k - 1) j,  start' = start + ((k - 1)/2 - p) j.
// The three must agree; tests/test_receptive_field_properties.cpp checks it on random networks.
// All of it is constexpr: a network held in a constexpr std::array has its field at compile time.
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "diffuse/core/config.hpp"
#include "diffuse/rf/field.hpp"
#include "diffuse/rf/fraction.hpp"
#include "diffuse/rf/layer.hpp"
#include "diffuse/rf/offset.hpp"
#include "diffuse/rf/step.hpp"

namespace diffuse::rf {

using steps = std::array<axis_step, 2>;

namespace detail {

constexpr std::string layer_label(std::size_t position) {
    return join("layer ", decimal(static_cast<index>(position)));
}

// The bottom-up state on one axis: jump j, size r, centre of the first unit.
struct jump_start {
    fraction jump = 1;
    fraction size = 1;
    offset start{};
};

// The left padding of a step; `symbol` names it when TensorFlow 'SAME' leaves it unknown.
constexpr offset padding_of(const axis_step& s, index symbol) {
    // (not `?:`: GCC 12 mis-destroys a class prvalue chosen by ?: in constant evaluation)
    if (s.offset_known) return offset(s.offset);
    return offset::unknown(symbol);
}

constexpr jump_start advance(const jump_start& in, const axis_step& s, index symbol) {
    return {in.jump * s.stride, in.size + s.extent * in.jump,
            in.start + offset(s.extent / 2 * in.jump) - in.jump * padding_of(s, symbol)};
}

// The top-down state on one axis: the output unit's window seen in some layer's grid, r_l, S_l, P_l.
struct window {
    fraction size = 1;
    fraction stride = 1;
    offset padding{};
    constexpr offset centre() const { return offset((size - 1) / 2) - padding; }
};

constexpr window recede(const window& out, const axis_step& s, index symbol) {
    return {s.stride * out.size + (s.kernel() - s.stride), s.stride * out.stride,
            s.stride * out.padding + padding_of(s, symbol)};
}

constexpr axis_field to_field(fraction size, fraction stride, const offset& padding, index units) {
    return {size, stride, padding.known() ? padding.constant() : fraction(0), padding.known(), units};
}
constexpr axis_field to_field(const jump_start& js, index units) {
    // start = -P + (r-1)/2, so P = (r-1)/2 - start.
    return to_field(js.size, js.jump, offset((js.size - 1) / 2) - js.start, units);
}
constexpr axis_field to_field(const window& w, index units) {
    return to_field(w.size, w.stride, w.padding, units);
}

}  // namespace detail

// The resolved geometry of a single-path network: one step per layer and axis (TensorFlow
// 'SAME' resolved when the input size is known) and, then, the output size of every layer.
struct resolved_path {
    std::vector<steps> layer_steps;
    std::vector<std::array<index, 2>> units;  // empty without an input size
};

constexpr resolved_path resolve(std::span<const layer> layers, std::optional<hw> input = std::nullopt) {
    resolved_path out;
    std::array<index, 2> size{input ? input->h : -1, input ? input->w : -1};
    for (std::size_t l = 0; l < layers.size(); ++l) {
        const std::string where = detail::layer_label(l + 1);
        validate(layers[l], where);
        steps st{};
        for (std::size_t a = 0; a < 2; ++a) {
            st[a] = step_of(layers[l].kind, layers[l].axes[a], size[a]);
            if (input) size[a] = output_size(layers[l].kind, layers[l].axes[a], size[a], where);
        }
        out.layer_steps.push_back(st);
        if (input) out.units.push_back(size);
    }
    return out;
}

namespace detail {

constexpr index final_units(const resolved_path& path, std::size_t axis, std::optional<hw> input) {
    if (!input) return -1;
    return path.units.empty() ? (*input)[axis] : path.units.back()[axis];
}

}  // namespace detail

// Top-down recurrence from the last layer's output unit back to the input.
constexpr field top_down(std::span<const layer> layers, std::optional<hw> input = std::nullopt) {
    const resolved_path path = resolve(layers, input);
    field f;
    for (std::size_t a = 0; a < 2; ++a) {
        detail::window acc;
        for (std::size_t l = path.layer_steps.size(); l-- > 0;) {
            acc = detail::recede(acc, path.layer_steps[l][a], static_cast<index>(l));
        }
        f[a] = detail::to_field(acc, detail::final_units(path, a, input));
    }
    return f;
}

// Bottom-up jump/start arithmetic from the input forward.
constexpr field bottom_up(std::span<const layer> layers, std::optional<hw> input = std::nullopt) {
    const resolved_path path = resolve(layers, input);
    field f;
    for (std::size_t a = 0; a < 2; ++a) {
        detail::jump_start js;
        for (std::size_t l = 0; l < path.layer_steps.size(); ++l) {
            js = detail::advance(js, path.layer_steps[l][a], static_cast<index>(l));
        }
        f[a] = detail::to_field(js, detail::final_units(path, a, input));
    }
    return f;
}

// Closed-form sums over the layers.
constexpr field closed_form(std::span<const layer> layers, std::optional<hw> input = std::nullopt) {
    const resolved_path path = resolve(layers, input);
    field f;
    for (std::size_t a = 0; a < 2; ++a) {
        fraction size = 1;
        fraction padding = 0;
        fraction stride_product = 1;  // prod_{i<l} s_i
        bool known = true;
        for (const steps& st : path.layer_steps) {
            size += st[a].extent * stride_product;
            padding += st[a].offset * stride_product;
            known = known && st[a].offset_known;
            stride_product *= st[a].stride;
        }
        f[a] =
            axis_field{size, stride_product, known ? padding : fraction(0), known, detail::final_units(path, a, input)};
    }
    return f;
}

// The field after every layer (row l is the output of layers[l]), by the bottom-up arithmetic.
constexpr std::vector<field> per_layer(std::span<const layer> layers, std::optional<hw> input = std::nullopt) {
    const resolved_path path = resolve(layers, input);
    std::array<detail::jump_start, 2> js{};
    std::vector<field> rows;
    for (std::size_t l = 0; l < path.layer_steps.size(); ++l) {
        field f;
        for (std::size_t a = 0; a < 2; ++a) {
            js[a] = detail::advance(js[a], path.layer_steps[l][a], static_cast<index>(l));
            f[a] = detail::to_field(js[a], input ? path.units[l][a] : -1);
        }
        rows.push_back(f);
    }
    return rows;
}

}  // namespace diffuse::rf
