// diffuse/nn/losses.hpp: training losses for diffusion and flow models.
//
// Every objective here regresses the network output on a target that is linear in the clean
// sample x0 and the noise eps, at a noisy input x_t = alpha x0 + sigma eps:
//   epsilon   target eps                      (denoising score matching, Ho et al. 2020, eq. 14)
//   sample    target x0                       (x0-prediction)
//   v         target alpha eps - sigma x0     (Salimans & Ho 2022, sec. 4)
//   score     target -eps / sigma             (Vincent 2011; Song & Ermon 2019, eq. 2)
//   velocity  target eps - x0 with alpha = 1 - s, sigma = s (rectified flow, Liu et al. 2023,
//             eq. 1; conditional flow matching with the OT path and sigma_min = 0, Lipman et al.
//             2023, eq. 23, up to the direction of time)
// The loss only needs alpha_t and sigma_t per sample, so it works with any schedule: the caller
// draws t, looks the pair up in its schedule, and passes them here. The targets are policies
// (one struct each) so the per-element loop has no branches.
#pragma once

#include <Eigen/Core>

#include <cmath>
#include <limits>
#include <string>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"

namespace diffuse::nn {

// target = from_sample * x0 + from_noise * eps
template <Real T>
struct target_coefficients {
    T from_sample;
    T from_noise;
};

namespace target {

struct epsilon {
    template <Real T>
    static target_coefficients<T> coefficients(T, T) {
        return {T(0), T(1)};
    }
};
struct sample {
    template <Real T>
    static target_coefficients<T> coefficients(T, T) {
        return {T(1), T(0)};
    }
};
struct v {
    template <Real T>
    static target_coefficients<T> coefficients(T alpha, T sigma) {
        return {-sigma, alpha};
    }
};
struct score {
    template <Real T>
    static target_coefficients<T> coefficients(T, T sigma) {
        require_positive("sigma (score target)", sigma);
        return {T(0), T(-1) / sigma};
    }
};
// The straight path x_t = (1 - s) x0 + s eps has d/ds x_t = eps - x0.
struct velocity {
    template <Real T>
    static target_coefficients<T> coefficients(T alpha, T sigma) {
        const T tolerance = T(64) * std::numeric_limits<T>::epsilon();
        require(std::abs(alpha + sigma - T(1)) <= tolerance, "alpha + sigma (velocity target)", alpha + sigma,
                "1 (the straight path x = (1 - s) x0 + s eps of rectified flow)");
        return {T(-1), T(1)};
    }
};

}  // namespace target

// Column j of x0 and noise (dimension x batch) is one training example at (alpha[j], sigma[j]).
// Writes the network input x_t and the regression target, same shape.
template <class Target, Real T, class X0, class Noise, class Xt, class Out>
void denoising_pair(const X0& x0, const Noise& noise, const_view<T> alpha, const_view<T> sigma, Xt&& x_t,
                    Out&& target_out) {
    const index batch = x0.cols();
    require(noise.rows() == x0.rows() && noise.cols() == batch, "noise.rows() x noise.cols()",
            std::to_string(noise.rows()) + " x " + std::to_string(noise.cols()), "the shape of x0");
    require_size("alpha.size()", alpha.size(), batch);
    require_size("sigma.size()", sigma.size(), batch);
    require(x_t.rows() == x0.rows() && x_t.cols() == batch, "x_t.cols()", x_t.cols(), "the shape of x0");
    require(target_out.rows() == x0.rows() && target_out.cols() == batch, "target.cols()", target_out.cols(),
            "the shape of x0");
    for (index j = 0; j < batch; ++j) {
        require(std::isfinite(alpha[j]) && std::isfinite(sigma[j]) && sigma[j] >= T(0), "sigma", sigma[j],
                "finite alpha and sigma >= 0");
        const auto c = Target::coefficients(alpha[j], sigma[j]);
        x_t.col(j) = alpha[j] * x0.col(j) + sigma[j] * noise.col(j);
        target_out.col(j) = c.from_sample * x0.col(j) + c.from_noise * noise.col(j);
    }
}

// Mean squared error over all entries, and its gradient 2 (prediction - target) / N.
template <class P, class Tg, class G>
auto mse_loss(const P& prediction, const Tg& target_values, G&& gradient) {
    using T = typename P::Scalar;
    require(prediction.rows() == target_values.rows() && prediction.cols() == target_values.cols(), "prediction.size()",
            prediction.size(), "the shape of the target");
    require(gradient.rows() == prediction.rows() && gradient.cols() == prediction.cols(), "gradient.size()",
            gradient.size(), "the shape of the prediction");
    const T n = static_cast<T>(prediction.size());
    gradient = (T(2) / n) * (prediction - target_values);
    return (prediction - target_values).squaredNorm() / n;
}

}  // namespace diffuse::nn
