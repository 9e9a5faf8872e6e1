// diffuse/sa/momentum.hpp: SGD with heavy-ball (Polyak 1964) or Nesterov (1983) momentum, in
// the form PyTorch's torch.optim.SGD uses (Sutskever et al. 2013, eq. 3-4 rewritten so the
// gradient is taken at the current parameters, dampening 0):
//     b_k = mu b_{k-1} + g_k
//     heavy ball: w_{k+1} = w_k - a_k b_k
//     Nesterov:   w_{k+1} = w_k - a_k (g_k + mu b_k)
#pragma once

#include <utility>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/sa/optimizer.hpp"
#include "diffuse/sa/step_size.hpp"

namespace diffuse::sa {

enum class momentum_kind { heavy_ball, nesterov };

template <Real T, momentum_kind Kind = momentum_kind::heavy_ball, step_size Step = constant_step<T>>
class momentum : public detail::optimizer_base<T, Step> {
public:
    momentum(Step step, index dimension, T mu)
        : detail::optimizer_base<T, Step>(std::move(step), dimension), mu_(mu), velocity_(buffer<T>::Zero(dimension)) {
        require(mu >= T(0) && mu < T(1), "momentum mu", mu, "[0, 1)");
    }

    template <class P, class G>
    void step(P&& params, const G& gradient) {
        this->advance(params, gradient, [this](auto& w, const auto& g, T a) {
            velocity_ = mu_ * velocity_ + g;
            if constexpr (Kind == momentum_kind::nesterov) {
                w -= a * (g + mu_ * velocity_);
            } else {
                w -= a * velocity_;
            }
        });
    }

    const buffer<T>& velocity() const { return velocity_; }

private:
    T mu_;
    buffer<T> velocity_;
};

template <Real T, step_size Step = constant_step<T>>
using nesterov = momentum<T, momentum_kind::nesterov, Step>;

}  // namespace diffuse::sa
