// diffuse/sde/score.hpp: a model of any prediction type read as the score grad log p_t(x) of a
// continuous process (schedule/process.hpp), the one quantity the score SDEs are written in.
//
// The network is called as model(x_t, model_time, out) on the process's state x_t = alpha x0 + sigma eps
// and told process.model_time(t) (the process's one map). Its output is linear in (x, out)
// (predict::decompose), so the score is too: grad log p_t = -eps / sigma (Song et al. 2021, eq. 7's
// target; Tweedie), i.e.
//   score = -(eps.from_x x + eps.from_output out) / sigma,
// except for score prediction, which is the output itself (also at sigma = 0). Each prediction type
// needs the process it is defined for: v_prediction a variance-preserving one (alpha^2 + sigma^2 = 1:
// vp, cosine), flow_velocity the straight path (alpha + sigma = 1: flow). EDM's preconditioned F is
// not a prediction type: wrap it as a denoiser (sample prediction) first.
#pragma once

#include <concepts>
#include <string>
#include <utility>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/predict/parameterization.hpp"
#include "diffuse/schedule/process.hpp"

namespace diffuse::sde {

// A model's call: model(const_view<T> x, double model_time, view<T> out), the loop API's signature.
template <class M, class T>
concept network = Real<T> && requires(const M& m, const_view<T> x, double time, view<T> out) {
    m(x, time, out);
};

// The score as a linear form in (x, output) at (alpha, sigma): the conversion, written once.
template <Real T>
predict::linear_form<T> score_form(predict::prediction p, T alpha, T sigma) {
    if (p == predict::prediction::score) return {T(0), T(1)};
    const predict::linear_form<T> eps = predict::decompose(p, alpha, sigma).eps;
    return {-eps.from_x / sigma, -eps.from_output / sigma};
}

// Throws unless prediction p is defined for the process's kind (see the header comment).
template <Real T>
void check_prediction_for(predict::prediction p, const schedule::process<T>& process) {
    using schedule::process_kind;
    const process_kind k = process.kind();
    if (p == predict::prediction::v_prediction) {
        require(k == process_kind::vp || k == process_kind::cosine, "prediction", predict::name(p),
                "v_prediction only with a variance-preserving process (vp, cosine)");
    }
    if (p == predict::prediction::flow_velocity) {
        require(k == process_kind::flow, "prediction", predict::name(p),
                "flow_prediction only with the flow process (alpha + sigma = 1)");
    }
}

// score(t, x, out): the model's prediction at time t turned into grad log p_t(x). Holds the model by
// value (a lambda holding references keeps them: the caller keeps what they refer to alive).
template <Real T, network<T> Model>
class score_model {
public:
    score_model(Model model, schedule::process<T> process, predict::prediction prediction)
        : model_(std::move(model)), process_(std::move(process)), prediction_(prediction) {
        check_prediction_for(prediction_, process_);
    }

    [[nodiscard]] const schedule::process<T>& process() const { return process_; }
    [[nodiscard]] predict::prediction prediction() const { return prediction_; }

    // out <- grad log p_t(x); out may not alias x. One model call, no allocation.
    void operator()(T t, const_view<T> x, view<T> out) const {
        require_size("out.size()", out.size(), x.size());
        const T sigma = process_.sigma(t);
        if (prediction_ != predict::prediction::score && !(sigma > T(0))) {
            throw invalid("t", t,
                          "a time with sigma(t) > 0 (the score of a " + std::string(predict::name(prediction_)) +
                              " model divides by sigma)");
        }
        model_(x, process_.model_time(t), out);
        const predict::linear_form<T> form = score_form(prediction_, process_.alpha(t), sigma);
        out = form.from_x * x + form.from_output * out;
    }

private:
    Model model_;
    schedule::process<T> process_;
    predict::prediction prediction_;
};

// The score of a process: score(t, x, out) fills grad log p_t(x); exposes the process it belongs to.
template <class S, class T>
concept score_function = Real<T> && requires(const S& s, T t, const_view<T> x, view<T> out) {
    s(t, x, out);
    { s.process() } -> std::convertible_to<const schedule::process<T>&>;
};

}  // namespace diffuse::sde
