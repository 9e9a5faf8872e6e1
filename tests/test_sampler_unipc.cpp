// UniPC (bh1/bh2, predictor UniP and corrector UniC) against diffusers' UniPCMultistepScheduler
// (tests/schedulers/test_scheduler_unipc.py, snapshot 58eb52c0, values in
// shared/reference/diffusers_tests.md) and element by element against the scheduler itself
// (tests/reference_exponential.hpp, tools/reference_exponential.py).
#include <catch2/catch.hpp>

#include "diffuse/sampler/unipc.hpp"
#include "exponential_test_support.hpp"

using namespace diffuse;
using schedule::final_sigma;
using schedule::solver_family;
using schedule::solver_sigma_kind;

namespace {

using unipc_case = exponential_test::parity_case<sampler::unipc, sampler::unipc_options>;

const std::vector<unipc_case>& cases() {
    namespace ref = reference_exponential;
    using predict::prediction;
    using sampler::unipc_variant;
    static const std::vector<unipc_case> all{
        {"scaled_linear, defaults", &ref::unipc_scaled_linear, true, false, {.steps = 10}, {}, {}},
        {"bh1, order 3, v_prediction, sigma_min",
         &ref::unipc_bh1_order3_v,
         false,
         false,
         {.steps = 12, .last = final_sigma::sigma_min},
         {.prediction = prediction::v_prediction, .solver_order = 3, .variant = unipc_variant::bh1},
         {.prediction = prediction::v_prediction, .solver_order = 3, .variant = unipc_variant::bh1}},
        {"Karras sigmas", &ref::unipc_karras, false, false, {.steps = 10, .sigmas = solver_sigma_kind::karras}, {}, {}},
        {"noise integrand (predict_x0 = false), order 3, sigma_min",
         &ref::unipc_noise,
         false,
         false,
         {.steps = 10, .last = final_sigma::sigma_min},
         {.solver_order = 3, .predict_x0 = false},
         {.solver_order = 3, .predict_x0 = false}},
        {"disable_corrector [0, 3], order 3",
         &ref::unipc_disable_corrector,
         false,
         false,
         {.steps = 10, .last = final_sigma::sigma_min},
         {.solver_order = 3, .disable_corrector = {0, 3}},
         {.solver_order = 3, .disable_corrector = {0, 3}}},
        {"flow sigmas, flow_shift 3, flow_prediction",
         &ref::unipc_flow,
         false,
         false,
         {.steps = 10, .use_flow_sigmas = true, .flow_shift = 3.0},
         {.prediction = prediction::flow_velocity},
         {.prediction = prediction::flow_velocity}},
        {"zero terminal SNR, trailing, v_prediction",
         &ref::unipc_zero_snr_trailing_v,
         true,
         true,
         {.steps = 10, .timestep_spacing = schedule::spacing::trailing},
         {.prediction = prediction::v_prediction},
         {.prediction = prediction::v_prediction}},
    };
    return all;
}

// Loop A with diffusers' dummy model on the 768-value fixture.
template <class T>
exponential_test::array<T> dummy_loop(const sampler::unipc<T>& s, const schedule::sigma_grid<T>& grid) {
    exponential_test::array<T> x = fixtures::sample0<T>(), out(x.size());
    auto run = s.start(grid, x.size());
    while (!run.done()) {
        fixtures::dummy_model<T>(x, run.model_time(), out);
        run.step(out, x);
    }
    return x;
}

}  // namespace

TEMPLATE_TEST_CASE("UniPC reproduces diffusers' test-suite values", "[unipc][diffusers]", float, double) {
    using T = TestType;
    SECTION("test_full_loop_no_noise, M=0.2464 (T = 1000 linear, order 2, bh2, sigma_min, 10 steps)") {
        const auto grid = schedule::solver_sigma_grid(schedule::discrete<T>::linear(), solver_family::unipc,
                                                      {.steps = 10, .last = final_sigma::sigma_min});
        CHECK(static_cast<double>(dummy_loop<T>(sampler::unipc<T>(), grid).abs().mean()) ==
              Approx(0.2464).epsilon(0).margin(5e-5));  // 4.6e-6 (printed to 1e-4)
    }
    SECTION("flow sigmas with Karras sigmas (sigma_min 0.01, sigma_max 200, 5 steps): sigmas and timesteps") {
        const auto grid = schedule::solver_sigma_grid(schedule::discrete<T>::linear(), solver_family::unipc,
                                                      {.steps = 5,
                                                       .sigmas = solver_sigma_kind::karras,
                                                       .use_flow_sigmas = true,
                                                       .sigma_min = 0.01,
                                                       .sigma_max = 200.0});
        const std::vector<double> sigmas{0.9950248599052429, 0.9787454605102539,   0.8774884343147278,
                                         0.3604971766471863, 0.009900986216962337, 0.0};
        const std::vector<double> timesteps{995, 978, 877, 360, 9};
        REQUIRE(grid.steps() == 5);
        for (diffuse::index i = 0; i <= 5; ++i) {
            // the grid's levels are flow levels: diffusers' sigma is alpha * k-sigma = s
            CHECK(static_cast<double>(grid[i].model_sigma()) ==
                  Approx(sigmas[static_cast<std::size_t>(i)]).epsilon(4e-6).margin(0));  // 3.9e-7
            if (i < 5) CHECK(grid[i].model_time == timesteps[static_cast<std::size_t>(i)]);
        }
    }
}

TEMPLATE_TEST_CASE("UniPC agrees element-wise with diffusers' UniPCMultistepScheduler", "[unipc][diffusers]", float,
                   double) {
    exponential_test::check_parity<TestType, sampler::unipc>(cases(), solver_family::unipc);
}
