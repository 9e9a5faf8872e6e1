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
//
// The mean-shift form (Dhariwal & Nichol 2021, Algorithm 1, for DDPM's ancestral step):
//   x_t' ~ N(mu + s Sigma grad log p(y | x_t), Sigma),
// with mu and Sigma the step's mean and noise variance in the network's state. A run that reports
// where its step lands (evaluation_context.hpp: x'/alpha' = x0 + sigma' eps + noise z) has
// mu = alpha' (x0(out) + sigma' eps(out)) and Sigma = (alpha' noise)^2, and mu moves with the output by
// d mu = alpha' (x0_o + sigma' eps_o) d out (x0_o, eps_o: the output's coefficients in x0 and eps), so
//   d out = s alpha' noise^2 / (x0_o + sigma' eps_o) grad log p(y | x).
// The sampler's step then lands at mu + s Sigma g with the same noise. For epsilon on DDPM,
// x0_o + sigma' eps_o = sigma' - sigma. A step without noise (DDPM's last one) is not moved. Runs that
// report no landing (DDPM with clip_sample, thresholding or a learned variance, ...) are a diffuse::error.
#pragma once

#include <utility>

#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/guidance/guided.hpp"
#include "diffuse/guidance/rules.hpp"
#include "diffuse/predict/parameterization.hpp"
#include "diffuse/sampler/evaluation_context.hpp"

namespace diffuse::guidance {

// score: the score shifts by s grad log p(y | x) (every sampler); mean_shift: the step's mean shifts
// by s Sigma grad log p(y | x) (Algorithm 1; runs that report their landing).
enum class classifier_form { score, mean_shift };

struct classifier_options {
    double scale = 1.0;  // s; 1 samples p(x | y) exactly with the exact classifier (score form)
    predict::prediction prediction = predict::prediction::epsilon;  // what the guided model predicts
    guidance_window window{};
    classifier_form form = classifier_form::score;

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

// The coefficient of grad log p(y | x) in the output for the mean-shift form (see the top of the file).
template <Real T>
T mean_shift_coefficient(predict::prediction prediction, const evaluation_context<T>& c, double scale) {
    if (!c.target) {
        throw invalid("classifier_options.form", "mean_shift",
                      "a run that reports where its step lands (run.target_level()): DDPM with a fixed variance "
                      "or DDIM, without clip_sample or thresholding; the score form guides every sampler");
    }
    const auto d = predict::decompose(prediction, c.alpha_t(), c.sigma_t());
    const double alpha = c.target->level.alpha, noise = c.target->noise;
    const double along = static_cast<double>(d.x0.from_output) + c.target->level.sigma * d.eps.from_output;
    if (noise == 0.0) return T(0);
    require(along != 0.0, "classifier mean shift", "a step whose mean does not depend on the model output",
            "a step that moves x0 + sigma' eps with the output");
    return static_cast<T>(scale * alpha * noise * noise / along);
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
        const T k = o_.form == classifier_form::score ? classifier_coefficient(o_.prediction, c, o_.scale)
                                                      : mean_shift_coefficient(o_.prediction, c, o_.scale);
        if (k == T(0)) return;  // a step without noise: no mean shift
        view<T> g = c.slot(0, x.size());
        sampler::call_model<T>(gradient_, x, model_time, g, inner);
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
