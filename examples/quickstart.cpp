// The README's usage example: DDIM with 50 steps on a model that knows its data is the point mu.
#include <diffuse/sampler/ddim.hpp>
#include <diffuse/sampler/sample.hpp>

#include <cmath>
#include <iostream>

int main() {
    using namespace diffuse;
    const auto betas = schedule::discrete<float>::scaled_linear();    // Stable Diffusion's schedule
    const sampler::ddim<float> ddim(betas, {.eta = 0.0f, .x0 = {}});  // no clipping
    const auto grid = schedule::spaced_timesteps(1000, 50, schedule::spacing::trailing);

    // Your network goes here: fill `eps` with the predicted noise for input x at timestep t.
    const float mu = 0.5f;
    auto network = [&](const_view<float> x, double t, view<float> eps) {
        const float ab = betas.alpha_bar(static_cast<schedule::timestep>(t));
        eps = (x - std::sqrt(ab) * mu) / std::sqrt(1 - ab);
    };
    Eigen::ArrayXf x = Eigen::ArrayXf::Constant(4 * 64 * 64, 1.0f);  // x_T (normally Gaussian noise)
    diffuse::sample(network, ddim, grid, x);
    std::cout << "max |x - mu| = " << (x - mu).abs().maxCoeff() << '\n';  // 0: DDIM is exact here
    return (x - mu).abs().maxCoeff() < 1e-4f ? 0 : 1;
}
