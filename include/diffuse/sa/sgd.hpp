// diffuse/sa/sgd.hpp: stochastic gradient descent, w_{k+1} = w_k - a_k g_k.
//
// SGD is Robbins-Monro applied to the gradient (Zhao, ch. 6.4): with a Robbins-Monro gain it
// converges to a stationary point; with a constant rate (the usual choice for training, and
// the default here) it settles into a neighbourhood of size O(a). Batch, mini-batch and
// single-sample variants differ only in how the gradient is estimated (batch_sampler.hpp).
#pragma once

#include <utility>

#include "diffuse/core/config.hpp"
#include "diffuse/sa/optimizer.hpp"
#include "diffuse/sa/step_size.hpp"

namespace diffuse::sa {

template <Real T, step_size Step = constant_step<T>>
class sgd : public detail::optimizer_base<T, Step> {
public:
    sgd(Step step, index dimension) : detail::optimizer_base<T, Step>(std::move(step), dimension) {}

    template <class P, class G>
    void step(P&& params, const G& gradient) {
        this->advance(params, gradient, [](auto& w, const auto& g, T a) { w -= a * g; });
    }
};

}  // namespace diffuse::sa
