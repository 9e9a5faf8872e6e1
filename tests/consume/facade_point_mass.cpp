// The program the find_package and subdirectory consumers build against diffuse::facade, the
// compiled runtime facade: it includes config/facade.hpp (declarations only) and the loop API,
// loads a DDIMScheduler config from its JSON text and samples. If the library's definitions were
// missing or built wrongly, this fails to link or to land on the point.
//
// As in ddim_point_mass.cpp: for a point mass mu the exact eps-model is (x - alpha_t mu) / sigma_t
// (Ho et al. 2020 eq. 4, with the evaluation context's alpha_t = sqrt(ab_t) and
// sigma_t = sqrt(1 - ab_t)), and deterministic DDIM lands on mu.
#include <cstdio>

#include "diffuse/config/facade.hpp"
#include "diffuse/sampler/sample.hpp"

int main() {
    using namespace diffuse;
    constexpr double tolerance = 1e-3;
    const auto ddim = config::from_scheduler_config_text<double>(R"({
        "_class_name": "DDIMScheduler", "num_train_timesteps": 1000, "beta_schedule": "linear",
        "beta_start": 0.0001, "beta_end": 0.02, "clip_sample": false, "timestep_spacing": "leading"})");
    buffer<double> mu(3), x(3);
    mu << 0.5, -1.25, 2.0;
    x << 0.3, -0.7, 1.1;
    auto eps_model = [&](const_view<double> in, double, view<double> out,
                         const sampler::evaluation_context<double>& context) {
        out = (in - context.alpha_t() * mu) / context.sigma_t();
    };
    const diffuse::index steps = sample(eps_model, ddim, 50, x);
    const double error = (x - mu).abs().maxCoeff();
    const bool ok = steps == 50 && error < tolerance;
    std::printf("facade: %s from JSON text, %lld steps, max |x - mu| = %.3g (tolerance %.0e): %s\n",
                ddim.class_name().c_str(), static_cast<long long>(steps), error, tolerance, ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
