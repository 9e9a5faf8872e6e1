// Error against model evaluations for every deterministic sampler on the convergence problem of
// tests/convergence_harness.hpp (exact Gaussian-mixture denoiser, probability-flow ODE, log-uniform
// sigma grid 20 -> 0.05, RK4 reference). Writes a CSV that tools/plot_convergence.py turns into
// docs/convergence.png and the table of docs/convergence.md:
//
//   build/bench/convergence_plot convergence.csv
//   /usr/bin/python3 tools/plot_convergence.py convergence.csv docs/convergence.png
//
// Columns: sampler, family (the plot's panel), order (the formula's order), steps (empty for the
// adaptive solver), rtol (the adaptive solver's tolerance, else empty), evaluations (model calls,
// counted by wrapping the model), error (RMS distance of the 64 final points to the reference).
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "convergence_harness.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/deis.hpp"
#include "diffuse/sampler/dpm2.hpp"
#include "diffuse/sampler/dpm_adaptive.hpp"
#include "diffuse/sampler/dpm_solver_multistep.hpp"
#include "diffuse/sampler/dpm_solver_singlestep.hpp"
#include "diffuse/sampler/dpmpp_2m_sde.hpp"
#include "diffuse/sampler/dpmpp_2s_ancestral.hpp"
#include "diffuse/sampler/dpmpp_3m_sde.hpp"
#include "diffuse/sampler/edm.hpp"
#include "diffuse/sampler/euler.hpp"
#include "diffuse/sampler/heun.hpp"
#include "diffuse/sampler/ipndm.hpp"
#include "diffuse/sampler/lms.hpp"
#include "diffuse/sampler/pndm.hpp"
#include "diffuse/sampler/unipc.hpp"

namespace {

using diffuse::index;
using diffuse::predict::prediction;
namespace s = diffuse::sampler;

// One line of the plot: runs the sampler for n steps and returns the final state, counting calls.
struct curve {
    std::string name;
    std::string family;
    int order;
    std::function<Eigen::ArrayXd(index steps, index* evaluations)> solve;
};

// A sampler on the harness's log-uniform sigma grid (epsilon prediction).
template <class Sampler>
curve on_grid(std::string name, std::string family, int order, Sampler sampler) {
    return {std::move(name), std::move(family), order,
            [sampler](index n, index* e) { return convergence::solve(sampler, n, prediction::epsilon, e); }};
}

// A sampler on discrete timesteps of convergence::discrete_schedule() (the same sigmas).
template <class Sampler>
curve on_timesteps(std::string name, std::string family, int order, Sampler sampler) {
    return {std::move(name), std::move(family), order,
            [sampler](index n, index* e) { return convergence::solve_discrete(sampler, n, e); }};
}

std::vector<curve> curves() {
    using multistep = s::dpm_solver_multistep<double>;
    using singlestep = s::dpm_solver_singlestep<double>;
    const auto levels = convergence::levels();
    const auto& betas = convergence::discrete_schedule();
    const std::string kd = "k-diffusion", dpm = "DPM-Solver", uni = "DEIS and UniPC", pn = "PNDM and adaptive";
    std::vector<curve> out{
        on_grid("Euler", kd, 1, s::euler<double>()),
        on_grid("Heun", kd, 2, s::heun<double>()),
        on_grid("EDM (no churn)", kd, 2, s::edm<double>({.levels = levels})),
        on_grid("DPM2", kd, 2, s::dpm2<double>({.levels = levels})),
        on_grid("DPM++(2S) eta 0", kd, 2, s::dpmpp_2s_ancestral<double>({.eta = 0.0, .levels = levels})),
        on_grid("DPM++(2M) eta 0", kd, 2, s::dpmpp_2m_sde<double>({.eta = 0.0})),
        on_grid("DPM++(3M) eta 0", kd, 3, s::dpmpp_3m_sde<double>({.eta = 0.0})),
    };
    for (index k = 1; k <= 4; ++k)
        out.push_back(on_grid("LMS-" + std::to_string(k), kd, static_cast<int>(k), s::lms<double>({.order = k})));

    // DDIM (eta 0, no clipping, ending on alphabar_0 = sigma_min).
    out.push_back(on_timesteps("DDIM", dpm, 1, s::ddim<double>(betas, {.set_alpha_to_one = false, .x0 = {}})));
    for (const auto algorithm : {s::dpm_algorithm::dpmsolver, s::dpm_algorithm::dpmsolver_pp}) {
        const std::string solver = algorithm == s::dpm_algorithm::dpmsolver ? "DPM-Solver" : "DPM-Solver++";
        for (index k = 1; k <= 3; ++k) {
            const int order = static_cast<int>(k);
            out.push_back(on_grid(solver + "-" + std::to_string(k) + "M", dpm, order,
                                  multistep({.algorithm = algorithm, .solver_order = k})));
            out.push_back(on_grid(solver + "-" + std::to_string(k) + "S", dpm, order,
                                  singlestep({.algorithm = algorithm, .solver_order = k})));
        }
    }
    out.push_back(on_grid("DPM-Solver++-3M exact weights", dpm, 3,
                          multistep({.solver_order = 3, .third_order = s::third_order_weights::taylor})));

    for (index k = 1; k <= 3; ++k)
        out.push_back(
            on_grid("DEIS-" + std::to_string(k), uni, static_cast<int>(k), s::deis<double>({.solver_order = k})));
    // UniPC-p: predictor UniP-p and corrector UniC-p, order p + 1 (Zhao et al. 2023, Theorem 3.1);
    // lower_order_final off, else the last, uncorrected step is first order.
    for (const auto variant : {s::unipc_variant::bh1, s::unipc_variant::bh2}) {
        for (index k = 1; k <= 3; ++k) {
            out.push_back(on_grid(
                std::string("UniPC-") + std::to_string(k) + (variant == s::unipc_variant::bh1 ? " bh1" : " bh2"), uni,
                static_cast<int>(k) + 1,
                s::unipc<double>({.solver_order = k, .variant = variant, .lower_order_final = false})));
        }
    }

    out.push_back(on_timesteps("PNDM", pn, 4, s::pndm<double>(betas)));
    out.push_back(on_timesteps("PNDM skip_prk_steps", pn, 4, s::pndm<double>(betas, {.skip_prk_steps = true})));
    out.push_back(on_grid("iPNDM", pn, 4, s::ipndm<double>()));
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::FILE* csv = argc > 1 ? std::fopen(argv[1], "w") : stdout;
    if (!csv) {
        std::perror(argv[1]);
        return 1;
    }
    const Eigen::ArrayXd reference = convergence::reference_solution();
    std::fprintf(csv, "sampler,family,order,steps,rtol,evaluations,error\n");
    // Step counts divide 38400, so that the discrete-timestep grids are exactly log-uniform.
    const std::vector<diffuse::index> steps{4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512};
    for (const auto& c : curves()) {
        for (const diffuse::index n : steps) {
            diffuse::index evaluations = 0;
            try {
                const double error = convergence::rms(c.solve(n, &evaluations), reference);
                std::fprintf(csv, "%s,%s,%d,%td,,%td,%.6e\n", c.name.c_str(), c.family.c_str(), c.order, n, evaluations,
                             error);
            } catch (const diffuse::error& e) {
                std::fprintf(stderr, "%s at %td steps: %s\n", c.name.c_str(), n, e.what());
            }
        }
        std::fprintf(stderr, "%s done\n", c.name.c_str());
    }
    // The adaptive DPM-Solver picks its own steps: error against evaluations over tolerances,
    // k-diffusion's defaults (rtol 0.05, atol 0.0078) scaled down together.
    for (const diffuse::index order : {2, 3}) {
        for (double scale = 1.0; scale > 1e-7; scale /= std::sqrt(10.0)) {
            const diffuse::sampler::dpm_adaptive<double> adaptive(
                {.order = order, .rtol = 0.05 * scale, .atol = 0.0078 * scale});
            diffuse::index evaluations = 0;
            const double error = convergence::rms(convergence::solve_adaptive(adaptive, &evaluations), reference);
            std::fprintf(csv, "DPM-Solver-%s adaptive,PNDM and adaptive,%td,,%.3e,%td,%.6e\n", order == 2 ? "12" : "23",
                         order, 0.05 * scale, evaluations, error);
        }
    }
    if (csv != stdout) std::fclose(csv);
    return 0;
}
