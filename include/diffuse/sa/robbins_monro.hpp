// diffuse/sa/robbins_monro.hpp: Robbins-Monro root finding.
//
// Finds w* with g(w*) = 0 from noisy measurements g~(w) = g(w) + eta:
//     w_{k+1} = w_k - a_k g~(w_k),   k = 1, 2, ...
// (Robbins & Monro 1951; Zhao, Mathematical Foundations of RL, eq. 6.5). Convergence needs
// 0 < c1 <= dg/dw <= c2, zero-mean noise of bounded variance and the Robbins-Monro gain
// conditions, which the step policy must promise at compile time.
#pragma once

#include <utility>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/sa/step_size.hpp"

namespace diffuse::sa {

template <Real T, robbins_monro_step Step>
class robbins_monro {
public:
    robbins_monro(Step step, index dimension) : step_(std::move(step)), measurement_(dimension) {
        require(dimension >= 1, "dimension", dimension, ">= 1");
    }

    // One iteration from a measurement g~(w_k) the caller already took.
    template <class W, class G>
    void update(W&& iterate, const G& measurement) {
        auto w = flat(iterate);
        const auto g = flat(measurement);
        require_size("iterate.size()", w.size(), measurement_.size());
        require_size("measurement.size()", g.size(), measurement_.size());
        w -= static_cast<T>(step_(k_)) * g;
        ++k_;
    }

    // One iteration that asks `measure(const_view<T> w, view<T> out)` for g~(w_k).
    template <class W, class Measure>
    void step(W&& iterate, Measure&& measure) {
        auto w = flat(iterate);
        require_size("iterate.size()", w.size(), measurement_.size());
        auto out = flat(measurement_);
        measure(const_view<T>(w.data(), w.size()), out);
        update(w, measurement_);
    }

    // The index k of the next iteration (starts at 1).
    index iteration() const { return k_; }
    const Step& step_size() const { return step_; }

private:
    Step step_;
    buffer<T> measurement_;
    index k_ = 1;
};

}  // namespace diffuse::sa
