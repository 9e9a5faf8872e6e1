// diffuse/sampler/edm_preconditioning.hpp: samplers for a network F trained with EDM preconditioning
// (Karras et al. 2022, eq. 7 and Table 1), driven as diffusers' EDMEulerScheduler drives it:
//   the network is told c_noise(sigma) = ln(sigma)/4 and sees c_in x = x / sqrt(sigma^2 + sd^2)
//   (the levels of schedule::edm_grid_from_sigmas), and its output gives the denoiser
//   D(x, sigma) = c_skip x + c_out F,  c_skip = sd^2 / (sigma^2 + sd^2),  c_out = +-sigma sd / sqrt(sigma^2 + sd^2),
// with c_out's sign + for diffusers' prediction_type "epsilon" and - for "v_prediction"
// (EDMEulerScheduler.precondition_outputs; sd = sigma_data). D is an x0 prediction in the denoiser
// state, so `edm_preconditioned<Inner>` is x0_from_output (x0_from_output.hpp) with these weights,
// around a sampler built for prediction::sample in the denoiser state.
#pragma once

#include <cmath>
#include <string_view>

#include "diffuse/core/error.hpp"
#include "diffuse/sampler/x0_from_output.hpp"
#include "diffuse/schedule/sigmas.hpp"

namespace diffuse::sampler {

enum class edm_output { epsilon, v_prediction };  // the sign of c_out

inline edm_output parse_edm_output(std::string_view name) {
    if (name == "epsilon") return edm_output::epsilon;
    if (name == "v_prediction") return edm_output::v_prediction;
    throw invalid("prediction_type", name, "\"epsilon\" or \"v_prediction\" (EDM preconditioning)");
}

// c_skip and c_out of Karras et al. 2022, Table 1 (EDM column), at sigma >= 0.
template <Real T>
output_weights<T> edm_output_at(T sigma, T sigma_data, edm_output kind = edm_output::epsilon) {
    const T sd2 = sigma_data * sigma_data, variance = sigma * sigma + sd2;
    const T out = sigma * sigma_data / std::sqrt(variance);
    return {sd2 / variance, kind == edm_output::epsilon ? out : -out};
}

// `scaled_state`: the wrapped sampler's state is the network's input c_in x = alpha x (samplers that
// run in the model state, e.g. dpm_solver_multistep), so D = (c_skip / alpha) x_state + c_out F.
template <Real T>
class edm_weights {
public:
    explicit edm_weights(T sigma_data = T(0.5), edm_output kind = edm_output::epsilon, bool scaled_state = false)
        : sigma_data_(sigma_data), kind_(kind), scaled_state_(scaled_state) {
        require(std::isfinite(sigma_data) && sigma_data > T(0), "sigma_data", sigma_data, "a finite number > 0");
    }
    [[nodiscard]] output_weights<T> operator()(const schedule::noise_level<T>& level) const {
        output_weights<T> w = edm_output_at(level.sigma, sigma_data_, kind_);
        if (scaled_state_) w.skip /= level.alpha;
        return w;
    }

private:
    T sigma_data_;
    edm_output kind_;
    bool scaled_state_;
};

template <class Inner>
using edm_preconditioned = x0_from_output<Inner, edm_weights<typename Inner::scalar>>;

}  // namespace diffuse::sampler
