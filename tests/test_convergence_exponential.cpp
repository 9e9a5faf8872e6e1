// Empirical order of convergence of the exponential-integrator samplers on the Gaussian-mixture
// probability-flow ODE (tests/convergence_harness.hpp: log-uniform grid from sigma 20 to 0.05, RK4
// reference): the fitted log-log slope of the final error against the number of steps is within
// 0.3 of the method's order. Step counts are chosen where the errors (1e-1 .. 1e-9) are far above
// double round-off and, for the multistep third-order methods, before their first-order warm-up
// step takes over (see the last two test cases).
#include <catch2/catch.hpp>

#include <numeric>
#include <sstream>

#include "convergence_harness.hpp"
#include "diffuse/sampler/deis.hpp"
#include "diffuse/sampler/dpm_solver_multistep.hpp"
#include "diffuse/sampler/dpm_solver_singlestep.hpp"
#include "diffuse/sampler/unipc.hpp"

using namespace diffuse;
using predict::prediction;

namespace {

const Eigen::ArrayXd& reference() {
    // 2000 RK4 steps: within 1e-9 of the 4000-step solution (test_convergence.cpp checks), far
    // below the smallest error fitted here (1e-8), at half the cost under the sanitizers.
    static const Eigen::ArrayXd x = convergence::reference_solution(2000);
    return x;
}

template <class Sampler>
double order_of(const Sampler& sampler, const std::vector<double>& steps, prediction p = prediction::epsilon) {
    std::vector<double> errors;
    std::ostringstream log;
    for (const double n : steps) {
        errors.push_back(convergence::rms(convergence::solve(sampler, static_cast<diffuse::index>(n), p), reference()));
        log << n << ": " << errors.back() << "  ";
    }
    const double order = convergence::fitted_order(steps, errors);
    UNSCOPED_INFO(Sampler::name << " errors " << log.str() << "order " << order);
    return order;
}

using multistep = sampler::dpm_solver_multistep<double>;
using singlestep = sampler::dpm_solver_singlestep<double>;
using unipc = sampler::unipc<double>;
using sampler::dpm_algorithm;
using sampler::dpm_solver_type;
using sampler::third_order_weights;

const std::vector<double> wide{24, 48, 96, 192, 384};
const std::vector<double> third{48, 96, 192, 384};
const std::vector<double> early{48, 96, 192};

// Every step index: disables UniPC's corrector throughout (the predictor UniP alone).
const std::vector<diffuse::index>& every_step() {
    static const std::vector<diffuse::index> all = [] {
        std::vector<diffuse::index> v(1000);
        std::iota(v.begin(), v.end(), 0);
        return v;
    }();
    return all;
}

}  // namespace

// The margins: 10x the measured offset of the fitted order from the asymptotic one where that is
// below 0.3; a fitted order at these step counts can sit up to 0.24 off (the higher-order terms
// have not died out), and there the margin stays 0.3, which still keeps the neighbouring orders
// out (a 10x margin would not). Epsilon 0: the slack is absolute.
// Each case covers both integrands and both second-order variants across the samplers, not every
// combination, so that the test stays fast under the sanitizers (every combination is exercised
// against diffusers in the parity tests).
TEST_CASE("first-order exponential integrators (DDIM's update) converge at order 1", "[convergence][exponential]") {
    CHECK(order_of(multistep({.solver_order = 1}), wide) ==
          Approx(1.0).epsilon(0).margin(0.004));  // fitted order 0.99965 (measured)
    CHECK(order_of(singlestep({.algorithm = dpm_algorithm::dpmsolver, .solver_order = 1}), wide) ==
          Approx(1.0).epsilon(0).margin(0.004));  // fitted order 0.99965 (measured)
}

TEST_CASE("second-order exponential integrators converge at order 2", "[convergence][exponential]") {
    // DPM-Solver++(2M), diffusers' default
    CHECK(order_of(multistep(), wide) == Approx(2.0).epsilon(0).margin(0.3));  // fitted 1.93 (measured; 0.3, see above)
    CHECK(order_of(multistep({.algorithm = dpm_algorithm::dpmsolver, .solver_type = dpm_solver_type::heun}), wide) ==
          Approx(2.0).epsilon(0).margin(0.3));  // fitted 1.87 (measured; 0.3, see above)
    CHECK(order_of(multistep({.prediction = prediction::v_prediction}), wide, prediction::v_prediction) ==
          Approx(2.0).epsilon(0).margin(0.3));  // fitted 1.93 (measured; 0.3, see above)
    CHECK(order_of(singlestep({.algorithm = dpm_algorithm::dpmsolver}), wide) ==
          Approx(2.0).epsilon(0).margin(0.2));  // fitted order 2.0117 (measured)
    CHECK(order_of(singlestep({.solver_type = dpm_solver_type::heun}), wide) ==
          Approx(2.0).epsilon(0).margin(0.3));  // fitted 1.8 (measured; 0.3, see above)
    CHECK(order_of(sampler::deis<double>({.solver_order = 2}), wide) ==
          Approx(2.0).epsilon(0).margin(0.3));  // fitted 1.87 (measured; 0.3, see above)
    CHECK(
        order_of(unipc({.solver_order = 2, .variant = sampler::unipc_variant::bh1, .disable_corrector = every_step()}),
                 wide) == Approx(2.0).epsilon(0).margin(0.3));  // fitted 2.03 (measured; 0.3, see above)
    CHECK(order_of(unipc({.solver_order = 2, .predict_x0 = false, .disable_corrector = every_step()}), wide) ==
          Approx(2.0).epsilon(0).margin(0.3));  // fitted 1.87 (measured; 0.3, see above)
}

TEST_CASE("third-order exponential integrators converge at order 3", "[convergence][exponential]") {
    // Singlestep DPM-Solver-3 (Lu et al. 2022a, Algorithm 2 / eq. 3.7).
    CHECK(order_of(singlestep({.algorithm = dpm_algorithm::dpmsolver, .solver_order = 3}), third) ==
          Approx(3.0).epsilon(0).margin(0.3));  // fitted 2.95 (measured; 0.3, see above)
    CHECK(order_of(singlestep({.solver_order = 3, .solver_type = dpm_solver_type::heun}), third) ==
          Approx(3.0).epsilon(0).margin(0.3));  // fitted 2.79 (measured; 0.3, see above)
    // Multistep third order with the exact weights: DPM-Solver++(3M) `taylor`, DEIS-3 (noise
    // integrand) and UniP-3, at step counts where the warm-up step does not yet dominate.
    CHECK(order_of(multistep({.solver_order = 3, .third_order = third_order_weights::taylor}), early) ==
          Approx(3.0).epsilon(0).margin(0.3));  // fitted 2.85 (measured; 0.3, see above)
    CHECK(order_of(sampler::deis<double>({.solver_order = 3}), early) ==
          Approx(3.0).epsilon(0).margin(0.3));  // fitted 2.8 (measured; 0.3, see above)
    CHECK(order_of(unipc({.solver_order = 3, .lower_order_final = false, .disable_corrector = every_step()}), early) ==
          Approx(3.0).epsilon(0).margin(0.3));  // fitted 2.85 (measured; 0.3, see above)
}

TEST_CASE("UniPC's corrector raises UniP-p to order p + 1", "[convergence][exponential][unipc]") {
    // Zhao et al. 2023, Theorem 3.1: UniC-p after UniP-p gives order p + 1 (UniPC-2 is third order,
    // UniPC-3 fourth). lower_order_final would end on an uncorrected first-order step (the last
    // prediction has no model evaluation after it), which caps UniPC-3 at 2 as n grows; it is off.
    CHECK(order_of(unipc({.solver_order = 1, .lower_order_final = false}), wide) ==
          Approx(2.0).epsilon(0).margin(0.3));  // fitted 1.91 (measured; 0.3, see above)
    CHECK(order_of(unipc({.solver_order = 2, .variant = sampler::unipc_variant::bh1, .lower_order_final = false}),
                   wide) == Approx(3.0).epsilon(0).margin(0.3));  // fitted 2.91 (measured; 0.3, see above)
    CHECK(order_of(unipc({.solver_order = 3, .lower_order_final = false}), {96, 192, 384}) ==
          Approx(4.0).epsilon(0).margin(0.3));  // fitted 4.24 (measured; 0.3, see above)
}

TEST_CASE("diffusers' third-order multistep weight makes DPM-Solver-3M second order", "[convergence][exponential]") {
    // diffusers (like Lu's dpm_solver_pytorch and k-diffusion's 3M) weighs D2 = (D1_0 - D1_1)/(r0 + r1)
    // by h phi_3 where the exact integral of the interpolating quadratic needs 2 h phi_3: a local error
    // O(h^3) (docs/samplers_exponential.md).
    CHECK(order_of(multistep({.algorithm = dpm_algorithm::dpmsolver, .solver_order = 3}), {96, 192, 384}) ==
          Approx(2.0).epsilon(0).margin(0.3));  // fitted 2.16 (measured; 0.3, see above)
}

TEST_CASE("a first-order warm-up step caps the multistep third-order methods at order 2 as n grows",
          "[convergence][exponential]") {
    // The first multistep step has no history and is first order (local error O(h^2)); nothing
    // corrects it, so the global error is O(h^3) + c h^2 with a small c (the data prediction hardly
    // changes at sigma 20). The slope between 384 and 768 steps shows the h^2 term taking over.
    const double late =
        order_of(multistep({.solver_order = 3, .third_order = third_order_weights::taylor}), {384, 768});
    CHECK(late < 2.7);
    CHECK(late > 2.0);
}
