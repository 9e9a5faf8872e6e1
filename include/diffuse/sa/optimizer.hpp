// diffuse/sa/optimizer.hpp: what every first-order optimizer (sgd, momentum, adam) shares:
// a learning-rate policy a_k evaluated at the iteration index k = 1, 2, ..., and the shapes
// of parameters and gradients it was sized for. Optimizers own their state (velocity,
// moments), sized at construction, so a step never allocates.
#pragma once

#include <concepts>
#include <utility>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/sa/step_size.hpp"

namespace diffuse::sa {

// opt.step(params, gradient) updates params in place from the gradient of the loss.
template <class O, class T>
concept optimizer = Real<T> && requires(O& o, view<T> params, const_view<T> gradient) {
    o.step(params, gradient);
    { o.iteration() } -> std::convertible_to<index>;
};

namespace detail {

template <Real T, step_size Step>
class optimizer_base {
public:
    // The index k of the next step (starts at 1).
    index iteration() const { return k_; }
    index dimension() const { return dimension_; }
    // The learning rate the next step will use.
    T learning_rate() const { return static_cast<T>(step_(k_)); }

protected:
    optimizer_base(Step step, index dimension) : step_(std::move(step)), dimension_(dimension) {
        require(dimension >= 1, "dimension", dimension, ">= 1");
    }

    // Checks the sizes, calls update(w, g, a_k) and advances k.
    template <class P, class G, class Update>
    void advance(P&& params, const G& gradient, Update&& update) {
        auto w = flat(params);
        const auto g = flat(gradient);
        require_size("params.size()", w.size(), dimension_);
        require_size("gradient.size()", g.size(), dimension_);
        update(w, g, learning_rate());
        ++k_;
    }

private:
    Step step_;
    index dimension_;
    index k_ = 1;
};

}  // namespace detail

}  // namespace diffuse::sa
