// diffuse/predict/parameterization.hpp: what a network predicts, and how to turn any prediction
// into the two quantities every sampler is written in: the clean sample x0 and the noise eps.
//
// With x = alpha x0 + sigma eps (a variance-preserving state: alpha^2 + sigma^2 = 1 where v is
// involved) each parameterization is linear in (x, model output), so a sampler reads
//   x0  = x0.from_x  * x + x0.from_output  * output
//   eps = eps.from_x * x + eps.from_output * output
// with per-step scalar coefficients and no per-element branching:
//   epsilon (Ho et al. 2020):        x0 = (x - sigma out) / alpha,            eps = out
//   sample (x0):                     x0 = out,                                eps = (x - alpha out) / sigma
//   v_prediction (Salimans & Ho 2022, eq. on p. 5, v = alpha eps - sigma x0):
//                                    x0 = alpha x - sigma out,                eps = alpha out + sigma x
//   score (Song et al. 2021, grad log p_t = -eps / sigma):
//                                    x0 = (x + sigma^2 out) / alpha,          eps = -sigma out
//   flow_velocity (rectified flow, Liu et al. 2023; x = (1 - s) x0 + s eps, u = eps - x0, so
//   alpha + sigma = 1):              x0 = x - sigma out,                      eps = x + alpha out
#pragma once

#include <string_view>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"

namespace diffuse::predict {

enum class prediction { epsilon, sample, v_prediction, score, flow_velocity };

inline constexpr std::string_view prediction_names = "epsilon, sample, v_prediction, score, flow_prediction";

// diffusers' `prediction_type` names ("sample" is x0-prediction).
inline prediction parse_prediction(std::string_view name) {
    if (name == "epsilon") return prediction::epsilon;
    if (name == "sample") return prediction::sample;
    if (name == "v_prediction") return prediction::v_prediction;
    if (name == "score") return prediction::score;
    if (name == "flow_prediction") return prediction::flow_velocity;  // diffusers' name
    throw invalid("prediction_type", name, prediction_names);
}

inline constexpr std::string_view name(prediction p) {
    switch (p) {
        case prediction::epsilon:
            return "epsilon";
        case prediction::sample:
            return "sample";
        case prediction::v_prediction:
            return "v_prediction";
        case prediction::score:
            return "score";
        case prediction::flow_velocity:
            return "flow_prediction";
    }
    return "unknown";
}

// value = from_x * x + from_output * output
template <Real T>
struct linear_form {
    T from_x;
    T from_output;
};

template <Real T>
struct decomposition {
    linear_form<T> x0;
    linear_form<T> eps;
};

// Coefficients of x0 and eps in terms of (x, output) at a noise level (alpha, sigma). The
// expressions follow diffusers' order of operations so float results match it bit for bit where
// possible (e.g. epsilon: x0 = (x - sigma out) / alpha is written as x/alpha - (sigma/alpha) out).
template <Real T>
constexpr decomposition<T> decompose(prediction p, T alpha, T sigma) {
    switch (p) {
        case prediction::epsilon:
            return {{T(1) / alpha, -sigma / alpha}, {T(0), T(1)}};
        case prediction::sample:
            return {{T(0), T(1)}, {T(1) / sigma, -alpha / sigma}};
        case prediction::v_prediction:
            return {{alpha, -sigma}, {sigma, alpha}};
        case prediction::score:
            return {{T(1) / alpha, sigma * sigma / alpha}, {T(0), -sigma}};
        case prediction::flow_velocity:
            return {{T(1), -sigma}, {T(1), alpha}};
    }
    return {{T(0), T(0)}, {T(0), T(0)}};
}

// Whether the x0 coefficients are finite at sigma = 0 / alpha = 0 (sample-prediction needs
// sigma > 0 for eps; epsilon and score need alpha > 0 for x0).
inline constexpr bool needs_positive_alpha(prediction p) {
    return p == prediction::epsilon || p == prediction::score;
}
inline constexpr bool needs_positive_sigma(prediction p) {
    return p == prediction::sample;
}

}  // namespace diffuse::predict
