// diffuse/sampler/edm_preconditioning.hpp: samplers for a network F trained with EDM preconditioning
// (Karras et al. 2022, eq. 7 and Table 1), driven as diffusers' EDMEulerScheduler drives it:
//   the network is told c_noise(sigma) = ln(sigma)/4 and sees c_in x = x / sqrt(sigma^2 + sd^2)
//   (the levels of schedule::edm_grid_from_sigmas), and its output gives the denoiser
//   D(x, sigma) = c_skip x + c_out F,  c_skip = sd^2 / (sigma^2 + sd^2),  c_out = +-sigma sd / sqrt(sigma^2 + sd^2),
// with c_out's sign + for diffusers' prediction_type "epsilon" and - for "v_prediction"
// (EDMEulerScheduler.precondition_outputs; sd = sigma_data).
// D is an x0 prediction, so `edm_preconditioned` wraps any sampler run in the denoiser state with
// prediction::sample: each step turns F into D in a buffer of its own (sized at start, so the step
// allocates nothing) and hands D to the wrapped step. The wrapped sampler must evaluate the network
// once per step at its current level (Euler, DPM-Solver multistep, ...).
#pragma once

#include <cmath>
#include <string_view>
#include <utility>

#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/predict/parameterization.hpp"
#include "diffuse/sampler/run.hpp"
#include "diffuse/schedule/sigmas.hpp"

namespace diffuse::sampler {

enum class edm_output { epsilon, v_prediction };  // the sign of c_out

inline edm_output parse_edm_output(std::string_view name) {
    if (name == "epsilon") return edm_output::epsilon;
    if (name == "v_prediction") return edm_output::v_prediction;
    throw invalid("prediction_type", name, "\"epsilon\" or \"v_prediction\" (EDM preconditioning)");
}

template <Real T>
struct edm_output_weights {
    T skip, out;  // D = skip x + out F
};

// c_skip and c_out of Karras et al. 2022, Table 1 (EDM column), at sigma >= 0.
template <Real T>
edm_output_weights<T> edm_output_at(T sigma, T sigma_data, edm_output kind = edm_output::epsilon) {
    const T sd2 = sigma_data * sigma_data, variance = sigma * sigma + sd2;
    const T out = sigma * sigma_data / std::sqrt(variance);
    return {sd2 / variance, kind == edm_output::epsilon ? out : -out};
}

template <class Inner>
class edm_preconditioned {
public:
    using scalar = typename Inner::scalar;
    using T = scalar;

    // `inner` must be set up for prediction::sample in the denoiser state (it is given D).
    edm_preconditioned(Inner inner, T sigma_data, edm_output kind) : inner_(std::move(inner)), sigma_data_(sigma_data), kind_(kind) {
        require(std::isfinite(sigma_data) && sigma_data > T(0), "sigma_data", sigma_data, "a finite number > 0");
    }

    class run {
    public:
        run(const edm_preconditioned& sampler, typename Inner::run inner)
            : inner_(std::move(inner)), sigma_data_(sampler.sigma_data_), kind_(sampler.kind_), denoised_(inner_.shape().size) {}

        [[nodiscard]] bool done() const { return inner_.done(); }
        [[nodiscard]] double model_time() const { return inner_.model_time(); }
        [[nodiscard]] T input_scale() const { return inner_.input_scale(); }
        [[nodiscard]] T init_noise_sigma() const { return inner_.init_noise_sigma(); }
        [[nodiscard]] index num_steps() const { return inner_.num_steps(); }
        [[nodiscard]] index step_index() const { return inner_.step_index(); }
        [[nodiscard]] const layout& shape() const { return inner_.shape(); }

        template <class Output, class X>
        void step(const Output& model_output, X&& x) {
            inner_.step(denoise(model_output, x), x);
        }
        template <class Output, class X, class Noise>
        void step(const Output& model_output, X&& x, Noise&& noise) {
            inner_.step(denoise(model_output, x), x, noise);
        }

    private:
        template <class Output, class X>
        const_view<T> denoise(const Output& model_output, X& x_in) {
            const const_view<T> output = cflat(model_output);
            const const_view<T> x = cflat(flat(x_in));
            require_size("model_output.size()", output.size(), denoised_.size());
            require_size("x.size()", x.size(), denoised_.size());
            const auto w = edm_output_at(inner_.current_level().sigma, sigma_data_, kind_);
            denoised_ = w.skip * x + w.out * output;
            return const_view<T>(denoised_.data(), denoised_.size());
        }

        typename Inner::run inner_;
        T sigma_data_;
        edm_output kind_;
        buffer<T> denoised_;
    };

    [[nodiscard]] run start(schedule::sigma_grid<T> grid, layout shape) const { return run(*this, inner_.start(std::move(grid), shape)); }
    [[nodiscard]] run start(const schedule::sigma_grid<T>& grid, index size, index batch = 1) const {
        return run(*this, inner_.start(grid, layout{size, batch}));
    }

private:
    Inner inner_;
    T sigma_data_;
    edm_output kind_;
};

}  // namespace diffuse::sampler
