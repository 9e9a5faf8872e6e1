// diffuse/models/discrete_model.hpp: puts an exact model of a noised distribution (such as
// gaussian_mixture) behind the interface of a network trained on a discrete schedule:
// model(x, timestep, out) writes the chosen prediction at
//   alpha = sqrt(alphabar_t), sigma = sqrt(1 - alphabar_t).
// This is how the demo and the acceptance tests drive DDPM/DDIM with a perfect denoiser.
#pragma once

#include <cmath>
#include <optional>

#include "diffuse/core/view.hpp"
#include "diffuse/predict/parameterization.hpp"
#include "diffuse/schedule/discrete.hpp"
#include "diffuse/schedule/timesteps.hpp"

namespace diffuse::models {

// What an exact model provides: every prediction at a noise level (alpha, sigma).
template <class M, class T>
concept exact_predictor = requires(const M& m, const_view<T> x, T a, view<T> out) {
    m.epsilon(x, a, a, out);
    m.x0(x, a, a, out);
    m.v(x, a, a, out);
    m.score(x, a, a, out);
};

template <Real T, class Exact>
requires exact_predictor<Exact, T>
class discrete_model {
public:
    // Both referents must outlive the model.
    discrete_model(const Exact& exact, const schedule::discrete<T>& noise_schedule,
                   predict::prediction prediction = predict::prediction::epsilon)
        : exact_(&exact), schedule_(&noise_schedule), prediction_(prediction) {}

    void operator()(const_view<T> x, double model_time, view<T> out) const {
        const auto t = static_cast<schedule::timestep>(std::llround(model_time));
        const T ab = schedule_->alpha_bar(t);
        const T alpha = std::sqrt(ab), sigma = std::sqrt(T(1) - ab);
        switch (prediction_) {
            case predict::prediction::epsilon:
                exact_->epsilon(x, alpha, sigma, out);
                return;
            case predict::prediction::sample:
                exact_->x0(x, alpha, sigma, out);
                return;
            case predict::prediction::v_prediction:
                exact_->v(x, alpha, sigma, out);
                return;
            case predict::prediction::score:
                exact_->score(x, alpha, sigma, out);
                return;
            case predict::prediction::flow_velocity:
                break;
        }
        throw invalid("prediction", predict::name(prediction_),
                      "epsilon, sample, v_prediction, score (a DDPM schedule has no flow velocity)");
    }

    [[nodiscard]] predict::prediction prediction() const { return prediction_; }

private:
    const Exact* exact_;
    const schedule::discrete<T>* schedule_;
    predict::prediction prediction_;
};

}  // namespace diffuse::models
