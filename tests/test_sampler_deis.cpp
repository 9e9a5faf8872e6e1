// DEIS (rho-AB, log-rho) against diffusers' DEISMultistepScheduler (snapshot 58eb52c0), element by
// element (tests/reference_exponential.hpp, tools/reference_exponential.py), and its identity with
// the exact-weight noise-integrand exponential integrator.
#include <catch2/catch.hpp>

#include "diffuse/sampler/deis.hpp"
#include "diffuse/sampler/dpm_solver_multistep.hpp"
#include "exponential_test_support.hpp"

using namespace diffuse;
using schedule::final_sigma;
using schedule::solver_family;
using schedule::solver_sigma_kind;

namespace {

using deis_case = exponential_test::parity_case<sampler::deis, sampler::deis_options>;

template <class T>
sampler::deis_options<T> deis_with(diffuse::index order, predict::prediction p = predict::prediction::epsilon) {
    return {.prediction = p, .solver_order = order};
}

const std::vector<deis_case>& cases() {
    namespace ref = reference_exponential;
    using predict::prediction;
    // DEIS always ends at the training sigma at t = 0 (no final_sigmas_type); with Karras sigmas it
    // repeats the last one, a no-op step the grid drops (so lower_order_final, which would count
    // that step, is off in that comparison).
    static const std::vector<deis_case> all{
        {"defaults",
         &ref::deis_default,
         false,
         false,
         {.steps = 10, .last = final_sigma::sigma_min},
         deis_with<float>(2),
         deis_with<double>(2)},
        {"order 3, scaled_linear, v_prediction",
         &ref::deis_order3_v,
         true,
         false,
         {.steps = 12, .last = final_sigma::sigma_min},
         deis_with<float>(3, prediction::v_prediction),
         deis_with<double>(3, prediction::v_prediction)},
        {"order 3, Karras sigmas",
         &ref::deis_karras,
         false,
         false,
         {.steps = 10, .sigmas = solver_sigma_kind::karras},
         {.solver_order = 3, .lower_order_final = false},
         {.solver_order = 3, .lower_order_final = false}},
    };
    return all;
}

}  // namespace

TEMPLATE_TEST_CASE("DEIS agrees element-wise with diffusers' DEISMultistepScheduler", "[deis][diffusers]", float,
                   double) {
    exponential_test::check_parity<TestType, sampler::deis>(cases(), solver_family::deis);
}

TEMPLATE_TEST_CASE("rho-AB-DEIS is the noise-integrand exponential integrator with exact weights", "[deis]", float,
                   double) {
    using T = TestType;
    // Zhang & Chen 2023, eq. 14 integrates the log-rho Lagrange polynomial over rho; log rho = -lambda,
    // so for order 2 it equals DPM-Solver's second-order update with solver_type heun (Lu et al. 2022a,
    // eq. 3.7, the exact weight h phi_2), step for step.
    const auto grid = schedule::solver_sigma_grid(schedule::discrete<T>::linear(), solver_family::deis, {.steps = 20});
    const auto a = exponential_test::loop_a<T>(sampler::deis<T>({.solver_order = 2}), grid);
    const auto b =
        exponential_test::loop_a<T>(sampler::dpm_solver_multistep<T>({.algorithm = sampler::dpm_algorithm::dpmsolver,
                                                                      .solver_type = sampler::dpm_solver_type::heun}),
                                    grid);
    CHECK(((a - b).abs().maxCoeff()) <= (std::is_same_v<T, float> ? 1e-5 : 1e-12));
    CHECK((a - exponential_test::sample0<T>()).abs().maxCoeff() > 0.1);  // the run moved
}
