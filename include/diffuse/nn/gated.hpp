// diffuse/nn/gated.hpp: gated linear units on split halves (Dauphin et al. 2017; Shazeer 2020,
// "GLU Variants Improve Transformer"): each row of the input is [a | b] and the output row is
// a * act(b), the second half gating as in torch.nn.functional.glu. GLU gates with the sigmoid,
// ReGLU with ReLU, GEGLU with exact GELU (as diffusers' GEGLU), SwiGLU with SiLU.
#pragma once

#include <string>

#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/nn/elementwise.hpp"
#include "diffuse/nn/gelu.hpp"
#include "diffuse/nn/logistic.hpp"
#include "diffuse/nn/relu.hpp"

// Packet types (__m512 ...) carry alignment attributes that GCC warns about when they are used
// as template arguments; Eigen silences the same warning in its own headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace diffuse::nn {

template <elementwise_activation A>
struct gated {
    A activation{};

    // in: rows x (2 half) row-major, out: rows x half. Returns nothing; sizes are checked.
    template <Real T>
    void forward(const_view<T> in, view<T> out, index rows = 1) const {
        const index half = check_sizes(in.size(), out.size(), rows);
        detail::validate(activation);
        const const_matrix_view<T> m(in.data(), 2 * half, rows);
        matrix_view<T>(out.data(), half, rows) = m.topRows(half) * m.bottomRows(half).unaryExpr(activation);
    }

    // Backpropagation: grad_in = [grad_out * act(b) | grad_out * a * act'(b)].
    template <Real T>
    void backward(const_view<T> in, const_view<T> grad_out, view<T> grad_in, index rows = 1) const {
        const index half = check_sizes(in.size(), grad_out.size(), rows);
        require_size("grad_in.size()", grad_in.size(), in.size());
        detail::validate(activation);
        // Column j of the column-major (2 half) x rows map is input row j.
        const const_matrix_view<T> m(in.data(), 2 * half, rows);
        const const_matrix_view<T> g(grad_out.data(), half, rows);
        matrix_view<T> grad(grad_in.data(), 2 * half, rows);
        grad.bottomRows(half) = g * m.topRows(half) * m.bottomRows(half).unaryExpr(derivative_of<A>{activation});
        grad.topRows(half) = g * m.bottomRows(half).unaryExpr(activation);
    }

private:
    template <Real T>
    using matrix_view = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic>>;
    template <Real T>
    using const_matrix_view = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic>>;

    static index check_sizes(index in_size, index out_size, index rows) {
        require(rows > 0, "rows", rows, "a count > 0");
        require(in_size % (2 * rows) == 0, "in.size()", in_size,
                "a multiple of 2 * rows = " + std::to_string(2 * rows) + " (each row is [a | b])");
        const index half = in_size / (2 * rows);
        require_size("out.size()", out_size, half * rows);
        return half;
    }
};

using glu = gated<sigmoid>;
using reglu = gated<relu>;
using geglu = gated<gelu>;
using swiglu = gated<silu>;

}  // namespace diffuse::nn

#pragma GCC diagnostic pop
