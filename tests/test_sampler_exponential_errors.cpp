// Bad options, grids and buffers of the exponential-integrator samplers and their sigma grids
// throw diffuse::error naming the parameter, the value and what is allowed.
#include <catch2/catch.hpp>

#include <string>

#include "diffuse/sampler/deis.hpp"
#include "diffuse/sampler/dpm_solver_multistep.hpp"
#include "diffuse/sampler/dpm_solver_singlestep.hpp"
#include "diffuse/sampler/sample.hpp"
#include "diffuse/sampler/unipc.hpp"
#include "diffuse/schedule/solver_sigmas.hpp"

using namespace diffuse;
using schedule::final_sigma;
using schedule::solver_family;
using schedule::solver_sigma_kind;

namespace {

// The message names the parameter, the value, and what is allowed.
template <class F>
void check_error(F&& f, const std::string& parameter, const std::string& value, const std::string& allowed) {
    try {
        f();
        FAIL("no diffuse::error for " << parameter);
    } catch (const diffuse::error& e) {
        const std::string message = e.what();
        INFO(message);
        CHECK(message.find(parameter) != std::string::npos);
        CHECK(message.find(value) != std::string::npos);
        CHECK(message.find(allowed) != std::string::npos);
    }
}

const auto betas = schedule::discrete<double>::linear();

schedule::sigma_grid<double> grid(diffuse::index steps = 10) {
    return schedule::solver_sigma_grid(betas, solver_family::dpm_multistep, {.steps = steps});
}

}  // namespace

TEST_CASE("bad sampler options are errors", "[exponential][errors]") {
    using namespace sampler;
    check_error([] { dpm_solver_multistep<double>({.solver_order = 4}); }, "solver_order", "4", "1, 2 or 3");
    check_error([] { dpm_solver_singlestep<double>({.solver_order = 0}); }, "solver_order", "0", "1, 2 or 3");
    check_error([] { deis<double>({.solver_order = 5}); }, "solver_order", "5", "1, 2 or 3");
    check_error([] { unipc<double>({.solver_order = -1}); }, "solver_order", "-1", "1, 2 or 3");
    check_error(
        [] {
            dpm_solver_multistep<double>(
                {.prediction = predict::prediction::flow_velocity, .algorithm = dpm_algorithm::dpmsolver});
        },
        "prediction_type", "flow_prediction", "dpmsolver++");
    check_error([] { dpm_solver_singlestep<double>({.algorithm = dpm_algorithm::sde_dpmsolver}); }, "algorithm_type",
                "sde-dpmsolver", "dpmsolver, dpmsolver++, sde-dpmsolver++");
    check_error(
        [] {
            dpm_solver_multistep<double>({.thresholding = predict::dynamic_thresholding<double>{1.5, 1.0}});
        },
        "dynamic_thresholding_ratio", "1.5", "(0, 1]");
    check_error([] { unipc<double>({.predict_x0 = false, .thresholding = predict::dynamic_thresholding<double>{}}); },
                "thresholding", "true", "predict_x0 = true");
    check_error([] { unipc<double>({.disable_corrector = {2, -1}}); }, "disable_corrector", "-1", ">= 0");
    check_error([] { parse_dpm_algorithm("dpm++"); }, "algorithm_type", "dpm++",
                "dpmsolver, dpmsolver++, sde-dpmsolver");
    check_error([] { parse_dpm_solver_type("rk4"); }, "solver_type", "rk4", "midpoint, heun");
    check_error([] { parse_unipc_variant("bh3"); }, "solver_type", "bh3", "bh1, bh2");
    check_error(
        [] {
            const dpm_solver_multistep<double> s({.prediction = predict::prediction::sample, .learned_variance = true});
            (void)s.start(grid(), 8);
        },
        "variance_type", "learned_range", "epsilon");
}

TEST_CASE("bad grid options are errors", "[exponential][errors][sigmas]") {
    check_error([] { schedule::solver_sigma_grid(betas, solver_family::unipc, {.steps = 0}); }, "num_inference_steps",
                "0", "[1, num_train_timesteps = 1000]");
    check_error([] { schedule::solver_sigma_grid(betas, solver_family::deis, {.steps = 1001}); }, "num_inference_steps",
                "1001", "[1, num_train_timesteps = 1000]");
    check_error(
        [] {
            schedule::solver_sigma_grid(betas, solver_family::dpm_multistep,
                                        {.steps = 10, .use_flow_sigmas = true, .flow_shift = -1});
        },
        "flow_shift", "-1", "> 0");
    check_error(
        [] {
            schedule::solver_sigma_grid(betas, solver_family::unipc,
                                        {.steps = 10, .sigmas = solver_sigma_kind::lu_lambdas});
        },
        "use_lu_lambdas", "true", "DPMSolverMultistepScheduler");
    check_error([] { schedule::solver_sigma_grid(betas, solver_family::deis, {.steps = 10, .sigma_min = 0.1}); },
                "sigma_min/sigma_max", "set", "UniPCMultistepScheduler");
    check_error([] { schedule::solver_sigma_grid(betas, solver_family::unipc, {.steps = 10, .sigma_max = -2.0}); },
                "sigma_max", "-2", "> 0");
    check_error(
        [] {
            schedule::solver_sigma_grid(betas, solver_family::dpm_multistep,
                                        {.steps = 10, .sigmas = solver_sigma_kind::karras, .use_flow_sigmas = true});
        },
        "use_flow_sigmas", "true", "Karras sigmas in UniPC");
    // diffusers repeats the last sigma here; for UniPC and the singlestep solver that is not a no-op.
    check_error(
        [] {
            schedule::solver_sigma_grid(
                betas, solver_family::unipc,
                {.steps = 10, .sigmas = solver_sigma_kind::karras, .last = final_sigma::sigma_min});
        },
        "final_sigmas_type", "sigma_min", "\"zero\"");
    check_error(
        [] {
            schedule::solver_sigma_grid(
                betas, solver_family::dpm_singlestep,
                {.steps = 10, .sigmas = solver_sigma_kind::exponential, .last = final_sigma::sigma_min});
        },
        "final_sigmas_type", "sigma_min", "\"zero\"");
    check_error(
        [] {
            schedule::solver_sigma_grid(betas, solver_family::dpm_multistep,
                                        {.steps = 10, .lambda_min_clipped = 100.0});
        },
        "lambda_min_clipped", "100", "at least 2 timesteps");
    check_error(
        [] {
            schedule::solver_sigma_grid(
                betas, solver_family::dpm_multistep,
                {.steps = 10, .timestep_spacing = schedule::spacing::leading, .steps_offset = 1000});
        },
        "steps_offset", "1000", "[0, num_train_timesteps)");
}

TEST_CASE("bad buffers and missing noise are errors", "[exponential][errors]") {
    using namespace sampler;
    Eigen::ArrayXd x = Eigen::ArrayXd::Ones(8), out = Eigen::ArrayXd::Zero(8), short_out = Eigen::ArrayXd::Zero(7);
    SECTION("model output of the wrong size") {
        const unipc<double> sampler;  // a run refers to its sampler, which must outlive it
        auto run = sampler.start(grid(), 8);
        check_error([&] { run.step(short_out, x); }, "model_output.size()", "7", "8 elements");
    }
    SECTION("x of the wrong size") {
        const deis<double> sampler;
        auto run = sampler.start(grid(), 8);
        Eigen::ArrayXd y = Eigen::ArrayXd::Ones(9);
        check_error([&] { run.step(out, y); }, "x.size()", "9", "8 elements");
    }
    SECTION("a stochastic step without noise") {
        const dpm_solver_multistep<double> multi({.algorithm = dpm_algorithm::sde_dpmsolver_pp});
        auto run = multi.start(grid(), 8);
        check_error([&] { run.step(out, x); }, "noise", "none", "stochastic");
        const dpm_solver_singlestep<double> one({.algorithm = dpm_algorithm::sde_dpmsolver_pp});
        auto single = one.start(grid(), 8);
        check_error([&] { single.step(out, x); }, "noise", "none", "stochastic");
    }
    SECTION("caller noise of the wrong size") {
        const dpm_solver_multistep<double> sampler({.algorithm = dpm_algorithm::sde_dpmsolver_pp});
        auto run = sampler.start(grid(), 8);
        const Eigen::ArrayXd noise = Eigen::ArrayXd::Zero(5);
        check_error([&] { run.step(out, x, noise); }, "noise.size()", "5", "8 elements");
    }
    SECTION("a step after the end") {
        const dpm_solver_multistep<double> sampler;
        auto run = sampler.start(grid(1), 8);
        run.step(out, x);
        check_error([&] { run.step(out, x); }, "step_index", "1", "the run has finished");
    }
    SECTION("a bad layout") {
        const unipc<double> s;
        check_error([&] { (void)s.start(grid(), 8, 3); }, "layout.batch", "3", "a divisor of layout.size = 8");
    }
}

TEST_CASE("steps into sigma 0 stay finite where diffusers' formulas give NaN", "[exponential]") {
    // UniPC with bh1 (B(h) = h = -inf) or predict_x0 = false (sigma_t (e^h - 1) = 0 * inf) and
    // DPM-Solver (noise integrand) with final_sigmas_type "zero", which diffusers refuses: the step
    // into sigma 0 is first order, DDIM's x0 = alpha_t (x / alpha_s - rho_s eps), written so that it
    // stays finite. At order 1 (UniPC without corrector) every one of them is exactly DDIM.
    const auto g = schedule::solver_sigma_grid(betas, solver_family::unipc, {.steps = 6});
    REQUIRE(g[g.steps()].sigma == 0.0);
    const auto run_to_end = [&](const auto& sampler) {
        Eigen::ArrayXd x = Eigen::ArrayXd::LinSpaced(16, -1.0, 1.0);
        diffuse::sample([](const_view<double> in, double, view<double> o) { o = 0.3 * in.tanh(); }, sampler, g, x);
        return x;
    };
    using sampler::dpm_algorithm;
    const std::vector<diffuse::index> no_corrector{0, 1, 2, 3, 4, 5};
    const auto ddim = run_to_end(sampler::dpm_solver_multistep<double>({.solver_order = 1}));
    const auto noise =
        run_to_end(sampler::dpm_solver_multistep<double>({.algorithm = dpm_algorithm::dpmsolver, .solver_order = 1}));
    const auto bh1 = run_to_end(sampler::unipc<double>(
        {.solver_order = 1, .variant = sampler::unipc_variant::bh1, .disable_corrector = no_corrector}));
    const auto eps =
        run_to_end(sampler::unipc<double>({.solver_order = 1, .predict_x0 = false, .disable_corrector = no_corrector}));
    CHECK(ddim.allFinite());
    CHECK((noise - ddim).abs().maxCoeff() < 1e-9);
    CHECK((bh1 - ddim).abs().maxCoeff() < 1e-9);
    CHECK((eps - ddim).abs().maxCoeff() < 1e-9);
    // The full methods are finite too.
    CHECK(run_to_end(sampler::unipc<double>({.solver_order = 3, .variant = sampler::unipc_variant::bh1})).allFinite());
    CHECK(run_to_end(sampler::unipc<double>({.solver_order = 3, .predict_x0 = false})).allFinite());
    CHECK(run_to_end(sampler::dpm_solver_multistep<double>({.algorithm = dpm_algorithm::dpmsolver, .solver_order = 3}))
              .allFinite());
}
