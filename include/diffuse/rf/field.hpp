// diffuse/rf/field.hpp: the receptive field of a layer's output units, and what follows from it.
//
// With r the receptive-field size, S the effective stride and P the effective padding of a layer
// (all measured on the network input), output unit n sees the input units
//     [u_n, v_n] = [n S - P, n S - P + r - 1]                         (Distill 2019, eq. 6-7)
// and is centred at c_n = n S - P + (r - 1)/2 (eq. 8). Units outside [0, input size) are padding.
#pragma once

#include <array>
#include <string>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/rf/fraction.hpp"
#include "diffuse/rf/layer.hpp"

namespace diffuse::rf {

// A closed range of integer input units.
struct unit_range {
    index first = 0;
    index last = -1;
    constexpr index size() const { return last - first + 1; }
    friend constexpr bool operator==(const unit_range&, const unit_range&) = default;
};

struct axis_field {
    fraction size = 1;          // r: input units seen by one output unit
    fraction stride = 1;        // S: input units between neighbouring output units
    fraction padding = 0;       // P: how far unit 0's window starts before input unit 0
    bool padding_known = true;  // false when TensorFlow 'SAME' padding needs the input size
    index units = -1;           // output units on this axis for the given input size (-1: no input size)

    // Centre of output unit 0, -P + (r-1)/2: the quantity every path into a merge must share.
    constexpr fraction centre_offset() const { return (size - 1) / 2 - padding; }
    constexpr fraction first(index n) const { return stride * n - require_padding(); }
    constexpr fraction last(index n) const { return first(n) + size - 1; }
    constexpr fraction centre(index n) const { return first(n) + (size - 1) / 2; }
    template <Real T>
    constexpr T centre_as(index n) const {
        return centre(n).template to<T>();
    }
    // The integer input units inside [first(n), last(n)] (all of them when every stride is an
    // integer; with upsampling the window can start or end between units).
    constexpr unit_range region(index n) const { return {first(n).ceil(), last(n).floor()}; }
    // The same window, clipped to an input of `input_units` units (padding removed).
    constexpr unit_range region_in(index n, index input_units) const {
        unit_range r = region(n);
        if (r.first < 0) r.first = 0;
        if (r.last > input_units - 1) r.last = input_units - 1;
        return r;
    }

    friend constexpr bool operator==(const axis_field&, const axis_field&) = default;

private:
    constexpr fraction require_padding() const {
        if (!padding_known) {
            throw invalid("effective padding", "unknown",
                          "a known input size: TensorFlow 'SAME' padding with a stride > 1 depends on it");
        }
        return padding;
    }
};

// Height (axes[0]) and width (axes[1]).
struct field {
    std::array<axis_field, 2> axes{};
    constexpr const axis_field& operator[](std::size_t axis) const { return axes[axis]; }
    constexpr axis_field& operator[](std::size_t axis) { return axes[axis]; }
    friend constexpr bool operator==(const field&, const field&) = default;
};

}  // namespace diffuse::rf
