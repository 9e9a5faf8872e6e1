// iPNDM (ipndm.hpp) against diffusers' IPNDMScheduler (snapshot 58eb52c0, trained_betas = its
// sigma_t grid, v-prediction as that scheduler assumes), recorded by tools/reference_pndm_consistency.py;
// and its relations to Euler (order 1) and between the two state conventions.
#include <catch2/catch.hpp>

#include "diffuse/sampler/euler.hpp"
#include "diffuse/sampler/ipndm.hpp"
#include "diffuse/sampler/sample.hpp"
#include "pndm_consistency_test_support.hpp"

using namespace diffuse;
using f3test::array;
namespace ref = reference_pndm_consistency;
using predict::prediction;
using sampler::ipndm;
using sampler::state_space;

TEMPLATE_TEST_CASE("iPNDM matches diffusers' IPNDMScheduler element-wise", "[ipndm][diffusers]", float, double) {
    using T = TestType;
    const auto grid = sampler::ipndm_grid<T>(ref::ipndm_model_sigmas);
    const ipndm<T> s({.prediction = prediction::v_prediction, .space = state_space::model});
    const auto& tr = ref::diffusers_ipndm;
    f3test::require_trace<T>(f3test::replay<T>(s.start(grid, 64), tr, false), tr, false);
    // The grid's model times are diffusers' timesteps atan2(sigma_t, alpha_t) * 2 / pi; measured
    // 1.0e-7 (float), 6.7e-6 (double: against diffusers' float32 values).
    for (diffuse::index i = 0; i < grid.steps(); ++i)
        CHECK(grid[i].model_time == Approx(tr.model_times[static_cast<std::size_t>(i)])
                                        .epsilon(std::is_same_v<T, float> ? 1e-6 : 7e-5)
                                        .margin(0));
}

TEMPLATE_TEST_CASE("iPNDM is the same method in both state conventions", "[ipndm]", float, double) {
    using T = TestType;
    const auto grid = sampler::ipndm_grid<T>(sampler::ipndm_model_sigmas(12));
    const auto model = [](const_view<T> x, double t, view<T> out) { kdtest::smooth<T>(x, t, out); };
    array<T> a = kdtest::trace_sample0<T>(), b = a;
    diffuse::sample(model, ipndm<T>({.space = state_space::model}), grid, a);
    // The denoiser state holds x / alpha; the loop API scales the model input by alpha.
    b /= grid[0].alpha;
    diffuse::sample(model, ipndm<T>({.space = state_space::denoiser}), grid, b);
    const double tol = std::is_same_v<T, float> ? 2e-4 : 1e-11;
    CHECK((a - b).abs().maxCoeff() <= tol * a.abs().maxCoeff());
}

TEMPLATE_TEST_CASE("iPNDM of order 1 is Euler's method; higher orders use the history", "[ipndm]", float, double) {
    using T = TestType;
    const auto grid = schedule::vp_sigma_grid(f3test::stable_diffusion<T>(), {.steps = 8});
    const auto model = [](const_view<T> x, double t, view<T> out) { kdtest::smooth<T>(x, t, out); };
    array<T> a = kdtest::trace_sample0<T>() * grid[0].sigma, b = a, c = a;
    diffuse::sample(model, ipndm<T>({.order = 1}), grid, a);
    diffuse::sample(model, sampler::euler<T>(), grid, b);
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
    CHECK((a - b).abs().maxCoeff() <= tol * b.abs().maxCoeff());
    diffuse::sample(model, ipndm<T>(), grid, c);
    CHECK((c - b).abs().maxCoeff() > 1e-3 * b.abs().maxCoeff());
}

TEST_CASE("iPNDM rejects bad options and grids, naming what is allowed", "[ipndm][errors]") {
    CHECK_THROWS_WITH(ipndm<float>({.order = 5}), Catch::Contains("order") && Catch::Contains("[1, 4]"));
    CHECK_THROWS_WITH(ipndm<float>({.order = 0}), Catch::Contains("order"));
    const std::vector<double> late_pure_noise{0.5, 1.0, 0.0};  // sigma_t = 1 only as the first level
    CHECK_THROWS_WITH(sampler::ipndm_grid<float>(late_pure_noise),
                      Catch::Contains("model_sigmas[1]") && Catch::Contains("[0, 1)"));
    const std::vector<double> one{0.5};
    CHECK_THROWS_WITH(sampler::ipndm_grid<float>(one), Catch::Contains("model_sigmas.size()"));
    const std::vector<double> rising{0.5, 0.6, 0.0};
    CHECK_THROWS_WITH(sampler::ipndm_grid<float>(rising),
                      Catch::Contains("levels[1].sigma") && Catch::Contains("strictly less"));
    CHECK_THROWS_WITH(sampler::ipndm_model_sigmas(0), Catch::Contains("num_inference_steps"));
    CHECK_THROWS_WITH(sampler::ipndm_model_sigmas(10, 1.5), Catch::Contains("start") && Catch::Contains("(0, 1]"));
    const ipndm<float> ipndm_sampler;
    auto run = ipndm_sampler.start(sampler::ipndm_grid<float>(sampler::ipndm_model_sigmas(3)), 4);
    Eigen::ArrayXf x(4), out(3);
    CHECK_THROWS_WITH(run.step(out, x), Catch::Contains("model_output.size()"));
}
