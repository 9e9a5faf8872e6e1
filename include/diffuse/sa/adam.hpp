// diffuse/sa/adam.hpp: Adam (Kingma & Ba 2015, Algorithm 1) and AdamW (Loshchilov & Hutter
// 2019, Algorithm 2), computed as torch.optim.Adam / AdamW do:
//     m_k = b1 m_{k-1} + (1 - b1) g_k,   v_k = b2 v_{k-1} + (1 - b2) g_k^2
//     w_{k+1} = w_k - a_k / (1 - b1^k) * m_k / (sqrt(v_k) / sqrt(1 - b2^k) + eps)
// Weight decay lambda: Adam adds lambda w to the gradient (L2 penalty, decays through the
// adaptive scaling); AdamW multiplies w by (1 - a_k lambda) before the step (decoupled).
#pragma once

#include <cmath>
#include <utility>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/sa/optimizer.hpp"
#include "diffuse/sa/step_size.hpp"

namespace diffuse::sa {

enum class weight_decay { l2, decoupled };

template <Real T>
struct adam_options {
    T beta1 = T(0.9);
    T beta2 = T(0.999);
    T epsilon = T(1e-8);
    T weight_decay = T(0);
};

template <Real T, weight_decay Decay = weight_decay::l2, step_size Step = constant_step<T>>
class adam : public detail::optimizer_base<T, Step> {
public:
    adam(Step step, index dimension, adam_options<T> options = {})
        : detail::optimizer_base<T, Step>(std::move(step), dimension),
          options_(options),
          m_(buffer<T>::Zero(dimension)),
          v_(buffer<T>::Zero(dimension)) {
        require(options.beta1 >= T(0) && options.beta1 < T(1), "adam beta1", options.beta1, "[0, 1)");
        require(options.beta2 >= T(0) && options.beta2 < T(1), "adam beta2", options.beta2, "[0, 1)");
        require_positive("adam epsilon", options.epsilon);
        require(options.weight_decay >= T(0) && std::isfinite(options.weight_decay), "adam weight_decay",
                options.weight_decay, "a finite number >= 0");
    }

    template <class P, class G>
    void step(P&& params, const G& gradient) {
        const T k = static_cast<T>(this->iteration());
        const T correction1 = T(1) - std::pow(options_.beta1, k);
        const T sqrt_correction2 = std::sqrt(T(1) - std::pow(options_.beta2, k));
        this->advance(params, gradient, [&](auto& w, const auto& g, T a) {
            const T lambda = options_.weight_decay;
            if constexpr (Decay == weight_decay::decoupled) {
                w *= T(1) - a * lambda;
                update_moments(g);
            } else {
                update_moments(g + lambda * w);
            }
            w -= (a / correction1) * m_ / (v_.sqrt() / sqrt_correction2 + options_.epsilon);
        });
    }

    const buffer<T>& first_moment() const { return m_; }
    const buffer<T>& second_moment() const { return v_; }
    const adam_options<T>& options() const { return options_; }

private:
    template <class G>
    void update_moments(const G& g) {
        m_ = options_.beta1 * m_ + (T(1) - options_.beta1) * g;
        v_ = options_.beta2 * v_ + (T(1) - options_.beta2) * g.square();
    }

    adam_options<T> options_;
    buffer<T> m_;
    buffer<T> v_;
};

template <Real T, step_size Step = constant_step<T>>
using adamw = adam<T, weight_decay::decoupled, Step>;

}  // namespace diffuse::sa
