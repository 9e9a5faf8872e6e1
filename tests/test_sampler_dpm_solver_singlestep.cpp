// Singlestep DPM-Solver-1/2/3 and DPM-Solver++ against diffusers' DPMSolverSinglestepScheduler
// (snapshot 58eb52c0), element by element (tests/reference_exponential.hpp,
// tools/reference_exponential.py), and its order list.
#include <catch2/catch.hpp>

#include "diffuse/sampler/dpm_solver_singlestep.hpp"
#include "exponential_test_support.hpp"

using namespace diffuse;
using schedule::final_sigma;
using schedule::solver_family;
using schedule::solver_sigma_kind;

namespace {

using single_case =
    exponential_test::parity_case<sampler::dpm_solver_singlestep, sampler::dpm_solver_singlestep_options>;

const std::vector<single_case>& cases() {
    namespace ref = reference_exponential;
    using predict::prediction;
    using sampler::dpm_algorithm;
    using sampler::dpm_solver_type;
    static const std::vector<single_case> all{
        {"scaled_linear, defaults", &ref::single_default, true, false, {.steps = 10}, {}, {}},
        {"order 3, heun, sigma_min",
         &ref::single_order3_heun,
         false,
         false,
         {.steps = 12, .last = final_sigma::sigma_min},
         {.solver_order = 3, .solver_type = dpm_solver_type::heun},
         {.solver_order = 3, .solver_type = dpm_solver_type::heun}},
        {"dpmsolver order 3 (midpoint), sigma_min",
         &ref::single_order3_noise,
         false,
         false,
         {.steps = 12, .last = final_sigma::sigma_min},
         {.algorithm = dpm_algorithm::dpmsolver, .solver_order = 3},
         {.algorithm = dpm_algorithm::dpmsolver, .solver_order = 3}},
        {"order 3, Karras, v_prediction, lower_order_final, 11 steps",
         &ref::single_order3_lower_final,
         false,
         false,
         {.steps = 11, .sigmas = solver_sigma_kind::karras},
         {.prediction = prediction::v_prediction, .solver_order = 3, .lower_order_final = true},
         {.prediction = prediction::v_prediction, .solver_order = 3, .lower_order_final = true}},
        {"sde-dpmsolver++ with injected noise",
         &ref::single_sde_pp,
         false,
         false,
         {.steps = 10},
         {.algorithm = dpm_algorithm::sde_dpmsolver_pp},
         {.algorithm = dpm_algorithm::sde_dpmsolver_pp}},
    };
    return all;
}

}  // namespace

TEST_CASE("the singlestep order list is diffusers' get_order_list", "[dpm_solver_singlestep]") {
    using v = std::vector<diffuse::index>;
    CHECK(sampler::singlestep_orders(9, 3, false, false) == v{1, 2, 3, 1, 2, 3, 1, 2, 3});
    CHECK(sampler::singlestep_orders(9, 3, true, false) == v{1, 2, 3, 1, 2, 3, 1, 2, 1});
    CHECK(sampler::singlestep_orders(10, 3, true, false) == v{1, 2, 3, 1, 2, 3, 1, 2, 3, 1});
    CHECK(sampler::singlestep_orders(11, 3, false, false) ==
          v{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2});  // 11 % 3 != 0: forced
    CHECK(sampler::singlestep_orders(10, 2, true, false) == v{1, 2, 1, 2, 1, 2, 1, 2, 1, 1});
    CHECK(sampler::singlestep_orders(9, 2, true, true) == v{1, 2, 1, 2, 1, 2, 1, 2, 1});
    CHECK(sampler::singlestep_orders(6, 3, false, true) ==
          v{1, 2, 3, 1, 2, 1});  // into sigma 0: forced, last first order
    CHECK(sampler::singlestep_orders(4, 1, false, false) == v{1, 1, 1, 1});
}

TEMPLATE_TEST_CASE("singlestep DPM-Solver agrees element-wise with diffusers' DPMSolverSinglestepScheduler",
                   "[dpm_solver_singlestep][diffusers]", float, double) {
    exponential_test::check_parity<TestType, sampler::dpm_solver_singlestep>(cases(), solver_family::dpm_singlestep);
}
