// The program every consumer project (tests/consume/*) builds and runs: it samples with the
// library and checks the result, so a consumer that compiles but links or includes the
// wrong thing still fails.
//
// Data is a single point mu. For a point mass the noise is exactly recoverable from x_t
// (x_t = sqrt(ab_t) mu + sqrt(1 - ab_t) eps, Ho et al. 2020 eq. 4), so the eps-model
//   eps(x, t) = (x - sqrt(ab_t) mu) / sqrt(1 - ab_t)
// is exact, every DDIM step predicts x0 = mu, and deterministic DDIM (Song et al. 2021,
// eq. 12 with eta = 0) must land on mu from any starting noise.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/sample.hpp"

namespace {

constexpr int num_steps = 50;
constexpr double tolerance = 1e-3;

template <diffuse::Real T>
bool ddim_lands_on_the_point(const char* type_name) {
    using namespace diffuse;
    // Components outside [-1, 1] on purpose, so x0 clipping (on by default, as in diffusers)
    // has to be switched off for the result to be exact.
    buffer<T> mu(4);
    mu << T(0.5), T(-1.25), T(2.0), T(0.0);

    sampler::ddim_options<T> options;
    options.x0.clip_range.reset();
    const sampler::ddim<T> ddim(schedule::discrete<T>::linear(1000, 1e-4, 0.02), options);

    auto eps_model = [&](const_view<T> x, double model_time, view<T> out) {
        const T ab = ddim.noise_schedule().alpha_bar(static_cast<std::int64_t>(model_time));
        out = (x - std::sqrt(ab) * mu) / std::sqrt(T(1) - ab);
    };

    std::mt19937_64 engine(20240601);
    std::normal_distribution<double> normal;
    buffer<T> x(mu.size());
    for (auto& value : x) value = static_cast<T>(normal(engine));

    const auto grid = schedule::spaced_timesteps(1000, num_steps);
    const diffuse::index steps = sample(eps_model, ddim, grid, x);
    const double error = static_cast<double>((x - mu).abs().maxCoeff());
    const bool ok = steps == num_steps && error < tolerance;
    std::printf("%s: DDIM eta=0, %lld steps, max |x - mu| = %.3g (tolerance %.0e): %s\n", type_name,
                static_cast<long long>(steps), error, tolerance, ok ? "ok" : "FAILED");
    return ok;
}

}  // namespace

int main() {
    const bool float_ok = ddim_lands_on_the_point<float>("float");
    const bool double_ok = ddim_lands_on_the_point<double>("double");
    return float_ok && double_ok ? 0 : 1;
}
