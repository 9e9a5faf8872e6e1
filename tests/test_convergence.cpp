// Empirical order of convergence of the deterministic samplers on the Gaussian-mixture
// probability-flow ODE (tests/convergence_harness.hpp): the fitted log-log slope of the final
// error against the number of steps is within 0.3 of the method's order.
#include <catch2/catch.hpp>

#include "convergence_harness.hpp"
#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/euler.hpp"
#include "diffuse/sampler/sample.hpp"

using namespace diffuse;

namespace {

const Eigen::ArrayXd& reference() {
    static const Eigen::ArrayXd x = convergence::reference_solution();
    return x;
}

template <class Sampler>
double order_of(const Sampler& sampler, const std::vector<double>& steps, predict::prediction prediction,
                std::vector<double>* errors_out = nullptr) {
    std::vector<double> errors;
    for (double n : steps)
        errors.push_back(
            convergence::rms(convergence::solve(sampler, static_cast<diffuse::index>(n), prediction), reference()));
    if (errors_out) *errors_out = errors;
    return convergence::fitted_order(steps, errors);
}

}  // namespace

TEST_CASE("the RK4 reference solution has converged", "[convergence]") {
    // Halving the RK4 step changes the solution by far less than any sampler error measured below.
    CHECK(convergence::rms(convergence::reference_solution(2000), reference()) < 1e-9);
}

TEST_CASE("Euler is first order in both state conventions and for every parameterization", "[convergence][euler]") {
    const std::vector<double> steps{16, 32, 64, 128};
    for (const auto p :
         {predict::prediction::epsilon, predict::prediction::sample, predict::prediction::v_prediction}) {
        INFO("prediction " << predict::name(p));
        std::vector<double> errors;
        const double order = order_of(sampler::euler<double>({.prediction = p}), steps, p, &errors);
        INFO("errors " << errors[0] << " " << errors[1] << " " << errors[2] << " " << errors[3]);
        CHECK(order == Approx(1.0).epsilon(0).margin(0.007));  // fitted order 1.00062 (measured)
        CHECK(order_of(sampler::euler<double>({.prediction = p, .space = sampler::state_space::model}), steps, p) ==
              Approx(1.0).epsilon(0).margin(0.007));  // fitted order 1.00062 (measured)
    }
}

TEST_CASE("DDIM (eta 0) is first order on discrete timesteps", "[convergence][ddim]") {
    // Song et al. 2021, eq. 12 with eta = 0: the first-order exponential integrator (Lu et al. 2022a,
    // DPM-Solver-1). On convergence::discrete_schedule() the timestep grid has the harness's
    // log-uniform sigmas; no clipping, and the last step ends on alphabar_0 (sigma_min).
    const sampler::ddim<double> ddim(convergence::discrete_schedule(), {.set_alpha_to_one = false, .x0 = {}});
    const std::vector<double> steps{16, 32, 64, 128};
    std::vector<double> errors;
    for (const double n : steps)
        errors.push_back(
            convergence::rms(convergence::solve_discrete(ddim, static_cast<diffuse::index>(n)), reference()));
    const double order = convergence::fitted_order(steps, errors);
    INFO("errors " << errors[0] << " " << errors[1] << " " << errors[2] << " " << errors[3] << ", order " << order);
    CHECK(order == Approx(1.0).epsilon(0).margin(0.007));  // fitted order 1.00062 (measured)
}
