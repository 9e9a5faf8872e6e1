// diffuse/models/denoiser.hpp: a network of any parameterization seen as the k-diffusion denoiser
// D(x, sigma) ~ E[x0 | x0 + sigma eps = x] (Karras et al. 2022, sec. 2).
//   - a network trained on levels (alpha, model time), told alpha x at its model time: D is the x0
//     of sampler::decompose_at in the denoiser state (for a VP epsilon network this is
//     D(x, sigma) = x - sigma eps(x / sqrt(1 + sigma^2), t(sigma)), k-diffusion's DiscreteEpsDDPMDenoiser);
//   - an EDM-preconditioned network F (Karras et al. 2022, eq. 7 and Table 1):
//     D(x, sigma) = c_skip x + c_out F(c_in x, c_noise) with c_skip = sd^2 / (sigma^2 + sd^2),
//     c_out = sigma sd / sqrt(sigma^2 + sd^2), c_in = 1 / sqrt(sigma^2 + sd^2), c_noise = ln(sigma) / 4.
// (The same c_skip / c_out drive diffusers' EDMEulerScheduler through sampler/edm_preconditioning.hpp.)
// The adapter owns one input and one output buffer, sized on the first call (no allocation after).
#pragma once

#include <cmath>
#include <utility>

#include "diffuse/core/view.hpp"
#include "diffuse/predict/parameterization.hpp"
#include "diffuse/sampler/edm_preconditioning.hpp"
#include "diffuse/sampler/level_map.hpp"
#include "diffuse/sampler/sigma_run.hpp"

namespace diffuse::models {

// Network: callable network(const_view<T> input, double model_time, view<T> out).
template <Real T, class Network>
class level_denoiser {
public:
    level_denoiser(Network network, predict::prediction prediction, sampler::level_map<T> levels)
        : network_(std::move(network)), prediction_(prediction), levels_(std::move(levels)) {}

    // out = D(x, sigma), sigma > 0.
    void operator()(const_view<T> x, T sigma, view<T> out) {
        require_size("out.size()", out.size(), x.size());
        const schedule::noise_level<T> level = levels_(sigma);
        resize(x.size());
        input_ = level.alpha * x;
        network_(const_view<T>(input_.data(), input_.size()), level.model_time,
                 view<T>(output_.data(), output_.size()));
        const auto x0 = sampler::decompose_at(prediction_, level, sampler::state_space::denoiser).x0;
        out = x0.from_x * x + x0.from_output * output_;
    }

private:
    void resize(index n) {
        if (input_.size() != n) {
            input_.resize(n);
            output_.resize(n);
        }
    }
    Network network_;
    predict::prediction prediction_;
    sampler::level_map<T> levels_;
    buffer<T> input_, output_;
};

// Karras et al. 2022, eq. 7 (Table 1, "EDM" column) preconditioning around a raw network F.
template <Real T, class Network>
class edm_denoiser {
public:
    explicit edm_denoiser(Network network, T sigma_data = T(0.5))
        : network_(std::move(network)), sigma_data_(sigma_data) {
        require(std::isfinite(sigma_data) && sigma_data > T(0), "sigma_data", sigma_data, "a finite number > 0");
    }

    void operator()(const_view<T> x, T sigma, view<T> out) {
        require(std::isfinite(sigma) && sigma > T(0), "sigma", sigma, "a finite number > 0");
        require_size("out.size()", out.size(), x.size());
        if (input_.size() != x.size()) {
            input_.resize(x.size());
            output_.resize(x.size());
        }
        const T c_in = T(1) / std::sqrt(sigma * sigma + sigma_data_ * sigma_data_);
        input_ = c_in * x;
        network_(const_view<T>(input_.data(), input_.size()), 0.25 * std::log(static_cast<double>(sigma)),
                 view<T>(output_.data(), output_.size()));
        const auto c = sampler::edm_output_at(sigma, sigma_data_);  // c_skip, c_out
        out = c.skip * x + c.out * output_;
    }

private:
    Network network_;
    T sigma_data_;
    buffer<T> input_, output_;
};

}  // namespace diffuse::models
