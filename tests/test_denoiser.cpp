// models/denoiser.hpp: the k-diffusion denoiser D(x, sigma) around a network, and the equivalence of
// diffusers' init_noise_sigma / scale_model_input convention (sampler::euler in the denoiser state,
// driven by diffuse::sample) with k-diffusion's sample_euler loop on D (k_diffusion/sampling.py:
// d = (x - D(x, sigma)) / sigma, x += (sigma_next - sigma) d, x_T = sigma_max z).
#include <catch2/catch.hpp>

#include <cmath>
#include <type_traits>
#include <vector>

#include "diffuse/models/denoiser.hpp"
#include "diffuse/predict/parameterization.hpp"
#include "diffuse/sampler/euler.hpp"
#include "diffuse/sampler/sample.hpp"
#include "diffuse/schedule/continuous.hpp"
#include "diffuse/schedule/flow.hpp"
#include "diffusers_fixtures.hpp"

using namespace diffuse;
template <class T>
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

namespace {

// A smooth stand-in network (any parameterization): out = tanh(input) (0.5 + t / 2000).
template <class T>
void network(const_view<T> in, double t, view<T> out) {
    out = in.tanh() * static_cast<T>(0.5 + t / 2000.0);
}

// k-diffusion's sample_euler on D(x, sigma) over the grid's sigmas.
template <class T, class Denoiser>
array<T> kdiffusion_euler(Denoiser& denoise, const schedule::sigma_grid<T>& grid, array<T> x) {
    array<T> d(x.size());
    for (diffuse::index i = 0; i < grid.steps(); ++i) {
        const T sigma = grid[i].sigma, next = grid[i + 1].sigma;
        denoise(const_view<T>(x.data(), x.size()), sigma, view<T>(d.data(), d.size()));
        x += (next - sigma) * (x - d) / sigma;
    }
    return x;
}

template <class T>
double max_relative(const array<T>& a, const array<T>& b) {
    return static_cast<double>(((a - b).abs() / b.abs().max(T(1e-3))).maxCoeff());
}

}  // namespace

TEMPLATE_TEST_CASE("diffusers' input-scaling convention and k-diffusion's D(x, sigma) give the same Euler trajectory",
                   "[denoiser]", float, double) {
    using T = TestType;
    using predict::prediction;
    const auto sd = schedule::discrete<T>::scaled_linear(1000, 0.00085, 0.012);
    const double tol = std::is_same_v<T, float> ? 2e-4 : 1e-9;
    for (const prediction p : {prediction::epsilon, prediction::v_prediction, prediction::sample}) {
        INFO("prediction " << predict::name(p));
        // The level map is the grid's own: D is evaluated exactly at the grid's (alpha, model time).
        const auto grid = schedule::vp_sigma_grid(sd, {.steps = 12, .sigmas = schedule::sigma_spacing::karras});
        const sampler::euler<T> euler({.prediction = p});
        array<T> x_diffusers = fixtures::noise0<T>() * euler.start(grid, 768).init_noise_sigma();
        array<T> x_kdiffusion = x_diffusers;  // x_T = sigma_max z in both (diffusers' linspace init_noise_sigma)
        diffuse::sample(network<T>, euler, grid, x_diffusers);
        models::level_denoiser<T, decltype(&network<T>)> denoise(&network<T>, p, sampler::grid_levels(grid));
        x_kdiffusion = kdiffusion_euler(denoise, grid, x_kdiffusion);
        CHECK(max_relative(x_diffusers, x_kdiffusion) < tol);
    }
    // A flow-velocity network on a shifted flow grid in the k-diffusion form (alpha = 1 - s,
    // sigma = s / (1 - s)). It starts below s = 1: at s -> 1 sigma -> inf and both k-diffusion-form
    // updates cancel catastrophically (flow runs from pure noise use state_space::model).
    const auto flow =
        schedule::flow_match_grid<T>({.shift = 3.0, .custom_sigmas = {0.95, 0.8, 0.6, 0.4, 0.25, 0.1, 0.02}});
    const sampler::euler<T> euler({.prediction = prediction::flow_velocity});
    array<T> x_diffusers = fixtures::noise0<T>() * euler.start(flow, 768).init_noise_sigma();
    array<T> x_kdiffusion = x_diffusers;
    diffuse::sample(network<T>, euler, flow, x_diffusers);
    models::level_denoiser<T, decltype(&network<T>)> denoise(&network<T>, prediction::flow_velocity,
                                                             sampler::grid_levels(flow));
    x_kdiffusion = kdiffusion_euler(denoise, flow, x_kdiffusion);
    CHECK(max_relative(x_diffusers, x_kdiffusion) < tol);
}

TEMPLATE_TEST_CASE("the VP denoiser is x - sigma eps(x / sqrt(1 + sigma^2), t(sigma))", "[denoiser]", float, double) {
    using T = TestType;
    // k-diffusion DiscreteEpsDDPMDenoiser: c_out = -sigma, c_in = 1/sqrt(sigma^2 + 1), t = sigma_to_t(sigma).
    const auto sd = schedule::discrete<T>::scaled_linear(1000, 0.00085, 0.012);
    double seen_time = -1;
    const auto net = [&](const_view<T> in, double t, view<T> out) {
        seen_time = t;
        out = in * T(2);
    };
    models::level_denoiser<T, decltype(net)> denoise(net, predict::prediction::epsilon, sampler::vp_levels(sd));
    array<T> x = fixtures::sample0<T>(), d(x.size());
    const T sigma = T(3);
    denoise(const_view<T>(x.data(), x.size()), sigma, view<T>(d.data(), d.size()));
    const array<T> want = x - sigma * T(2) * x / std::sqrt(sigma * sigma + T(1));
    CHECK(((d - want).abs().maxCoeff()) < 1e-5);
    // t(3) between the training timesteps whose sigmas bracket 3 (log-sigma interpolation).
    const auto sig = schedule::training_sigmas(sd);
    const auto above = static_cast<std::size_t>(std::lower_bound(sig.begin(), sig.end(), sigma) - sig.begin());
    CHECK(seen_time > static_cast<double>(above) - 1);
    CHECK(seen_time <= static_cast<double>(above));
    array<T> small(3);
    CHECK_THROWS_WITH(denoise(const_view<T>(x.data(), x.size()), sigma, view<T>(small.data(), small.size())),
                      Catch::Contains("out.size()"));
}

TEMPLATE_TEST_CASE("EDM preconditioning (Karras et al. 2022, eq. 7, Table 1)", "[denoiser][edm]", float, double) {
    using T = TestType;
    // For data N(0, sigma_data^2 I) the ideal denoiser is sigma_data^2 / (sigma^2 + sigma_data^2) x,
    // which is c_skip x: the ideal F is then 0 (the reason for c_skip's form, sec. 5 and appendix B.6).
    const T sigma_data = T(0.5);
    double seen_time = 0;
    array<T> seen_input;
    const auto zero = [&](const_view<T> in, double t, view<T> out) {
        seen_time = t;
        seen_input = in;
        out.setZero();
    };
    models::edm_denoiser<T, decltype(zero)> denoise(zero, sigma_data);
    array<T> x = fixtures::sample0<T>(), d(x.size());
    for (const T sigma : {T(0.002), T(0.5), T(80)}) {
        denoise(const_view<T>(x.data(), x.size()), sigma, view<T>(d.data(), d.size()));
        const T posterior = sigma_data * sigma_data / (sigma * sigma + sigma_data * sigma_data);
        CHECK(((d - posterior * x).abs().maxCoeff()) < 1e-6);
        // c_in x has unit variance for data of variance sigma_data^2 plus noise sigma^2; c_noise = ln(sigma)/4.
        CHECK(((seen_input - x / std::sqrt(sigma * sigma + sigma_data * sigma_data)).abs().maxCoeff()) < 1e-6);
        CHECK(seen_time == Approx(0.25 * std::log(static_cast<double>(sigma))).epsilon(1e-12).margin(0));  // measured 0
    }
    // c_out: a network returning 1 moves D by sigma sigma_data / sqrt(sigma^2 + sigma_data^2).
    const auto one = [](const_view<T>, double, view<T> out) { out.setOnes(); };
    models::edm_denoiser<T, decltype(one)> shifted(one, sigma_data);
    shifted(const_view<T>(x.data(), x.size()), T(2), view<T>(d.data(), d.size()));
    const T c_skip = T(0.25) / T(4.25), c_out = T(2) * sigma_data / std::sqrt(T(4.25));
    CHECK(((d - (c_skip * x + c_out)).abs().maxCoeff()) < 1e-6);
    CHECK_THROWS_WITH((models::edm_denoiser<T, decltype(one)>(one, T(0))),
                      Catch::Contains("sigma_data") && Catch::Contains("> 0"));
    CHECK_THROWS_WITH(shifted(const_view<T>(x.data(), x.size()), T(0), view<T>(d.data(), d.size())),
                      Catch::Contains("sigma"));
}

TEMPLATE_TEST_CASE("every parameterization's x0 and eps rows satisfy x = alpha x0 + sigma eps", "[predict]", float,
                   double) {
    // Samplers read x0 from one row of predict::decompose and eps from the other (DDIM and the
    // exponential integrators use both): a wrong sign or coefficient in either row breaks this
    // identity for every (x, output). VP levels (alpha^2 + sigma^2 = 1) and a flow level
    // (alpha + sigma = 1). Measured: 0 in both types (bounds of a few ulps).
    using T = TestType;
    using predict::prediction;
    const double tolerance = std::is_same_v<T, float> ? 6e-7 : 1e-15;
    for (const prediction p : {prediction::epsilon, prediction::sample, prediction::v_prediction, prediction::score,
                               prediction::flow_velocity}) {
        INFO(predict::name(p));
        const bool flow = p == prediction::flow_velocity;
        const T alpha = flow ? T(0.375) : T(0.6), sigma = flow ? T(0.625) : T(0.8);
        const auto d = predict::decompose<T>(p, alpha, sigma);
        const double on_x = static_cast<double>(alpha * d.x0.from_x + sigma * d.eps.from_x);
        const double on_output = static_cast<double>(alpha * d.x0.from_output + sigma * d.eps.from_output);
        CHECK(on_x == Approx(1.0).epsilon(0).margin(tolerance));
        CHECK(on_output == Approx(0.0).epsilon(0).margin(tolerance));
    }
}
