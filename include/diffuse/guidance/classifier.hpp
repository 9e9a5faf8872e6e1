// diffuse/guidance/classifier.hpp: classifier guidance (Dhariwal & Nichol 2021, sec. 4 and
// Algorithm 2) as a model decorator, for every prediction type.
//
// A classifier p(y | x_t) shifts the score: grad log p_t(x | y) = grad log p_t(x) + grad log p(y | x_t),
// scaled by s. With the network's own state x = alpha_t x0 + sigma_t eps (the context's level) and
// eps = -sigma_t grad log p_t, the noise prediction moves by d eps = -sigma_t s grad log p(y | x), and
// every prediction type is affine in eps at fixed x (predict/parameterization.hpp: eps = e_x x + e_o out),
// so the output moves by
//   d out = -(sigma_t / e_o) s grad log p(y | x):
//   epsilon: -sigma_t s g;  sample: +(sigma_t^2 / alpha_t) s g;  v: -(sigma_t / alpha_t) s g (VP);
//   score: +s g;  flow velocity: -(sigma_t / alpha_t) s g.
// The gradient callable is `grad(const_view<T> x, double model_time, view<T> out, const
// evaluation_context<T>&)` (or without the context): grad_x log p(y | x_t = x) at the network's input x.
// With a learned-variance output only the prediction part moves.
#pragma once

#include <utility>

#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/guidance/guided.hpp"
#include "diffuse/guidance/rules.hpp"
#include "diffuse/predict/parameterization.hpp"
#include "diffuse/sampler/evaluation_context.hpp"

namespace diffuse::guidance {

struct classifier_options {
    double scale = 1.0;  // s; 1 samples p(x | y) exactly with the exact classifier
    predict::prediction prediction = predict::prediction::epsilon;  // what the guided model predicts
    guidance_window window{};

    void validate() const {
        require_finite("scale", scale);
        window.validate();
    }
};

// The coefficient of grad log p(y | x) in the output of `prediction` at the context's level.
template <Real T>
T classifier_coefficient(predict::prediction prediction, const evaluation_context<T>& c, double scale) {
    const T alpha = c.alpha_t(), sigma = c.sigma_t();
    const auto d = predict::decompose(prediction, alpha, sigma);
    return static_cast<T>(-(static_cast<double>(sigma) / static_cast<double>(d.eps.from_output)) * scale);
}

template <class Model, class Gradient>
class classifier_guided {
public:
    classifier_guided(Model model, Gradient gradient, classifier_options options)
        : model_(std::move(model)), gradient_(std::move(gradient)), o_((options.validate(), options)) {}

    [[nodiscard]] const classifier_options& options() const { return o_; }
    [[nodiscard]] index memory_slots() const { return 1; }  // the gradient

    template <Real T>
    void prepare(const evaluation_context<T>& c) const {
        (void)c.slot(0, c.shape.size);
        sampler::prepare_model<T>(model_, c.inner(1));
        sampler::prepare_model<T>(gradient_, c.inner(1));
    }

    template <Real T>
    void operator()(const_view<T> x, double model_time, view<T> out, const evaluation_context<T>& c) const {
        const auto l = detail::layout_of(c, x.size(), out.size());
        const auto inner = c.inner(1);
        sampler::call_model<T>(model_, x, model_time, out, inner);
        if (!o_.window.covers(c) || o_.scale == 0.0) return;
        view<T> g = c.slot(0, x.size());
        sampler::call_model<T>(gradient_, x, model_time, g, inner);
        const T k = classifier_coefficient(o_.prediction, c, o_.scale);
        if (l.stride == l.width) {
            out += k * g;
            return;
        }
        for (index b = 0; b < l.batch; ++b) out.segment(b * l.stride, l.width) += k * g.segment(b * l.width, l.width);
    }

private:
    Model model_;
    Gradient gradient_;
    classifier_options o_;
};

template <class Model, class Gradient>
auto classifier_guidance(Model model, Gradient gradient, classifier_options options = {}) {
    return classifier_guided<Model, Gradient>(std::move(model), std::move(gradient), options);
}

}  // namespace diffuse::guidance
