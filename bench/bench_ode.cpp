// Adaptive Dormand-Prince 5(4) (diffuse::ode::adaptive) against Boost.Odeint's runge_kutta_dopri5 in
// a controlled stepper (integrate_adaptive), both on the same system with the same rtol and atol.
// The system is Lorenz-96 (Lorenz 1996): dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F, F = 8, on
// a ring of n variables, from x = F plus a small perturbation, over t in [0, 1]: chaotic, smooth,
// and cheap per element, so the integrators' own overhead shows. Counters: accepted steps and
// evaluations of the system per solve. A second pair runs 40 equal steps in both (the cost of a
// step without any controller). Boost.Odeint is used here only (Debian libboost-dev).
//
// The controllers differ by design: diffuse follows scipy (RMS norm over atol + rtol max(|y0|, |y1|),
// factor 0.9 err^(-1/5) in [0.2, 10], Hairer's initial step), Odeint uses the max norm over
// atol + rtol (|x| + dt |x'|), shrinks by 0.9 err^(-1/3), grows by 0.9 err^(-1/5) (at most 5x) only
// when err < 0.5, and starts from the caller's dt (here 0.01). So their step counts differ too.
// diffuse_dopri5_odeint_rules runs diffuse's solver with Odeint's rules (ode::norm_kind::odeint_max,
// ode::odeint_controller, first step 0.01) and fails unless it takes Odeint's accepted steps within one.
#include <benchmark/benchmark.h>

#include <boost/numeric/odeint.hpp>

#include <cstdlib>
#include <utility>
#include <vector>

#include "diffuse/ode/adaptive.hpp"
#include "diffuse/ode/integrate_fixed.hpp"

namespace {

constexpr double forcing = 8.0, t_end = 1.0, tolerance = 1e-6;

// The ring's ends apart, so that the interior is a plain vectorizable loop.
void lorenz96(const double* x, double* dxdt, long n) {
    const auto at = [&](long i) { return x[(i + n) % n]; };
    for (long i : {0L, 1L, n - 1}) dxdt[i] = (at(i + 1) - at(i - 2)) * at(i - 1) - x[i] + forcing;
    for (long i = 2; i < n - 1; ++i) dxdt[i] = (x[i + 1] - x[i - 2]) * x[i - 1] - x[i] + forcing;
}

std::vector<double> start(long n) {
    std::vector<double> x(static_cast<std::size_t>(n), forcing);
    for (long i = 0; i < n; ++i) x[static_cast<std::size_t>(i)] += 0.01 * static_cast<double>((i * 7) % 13);
    return x;
}

// Times diffuse's adaptive solves of Lorenz-96 with `solver`; counters: steps and evaluations per solve.
template <class Solver>
diffuse::ode::statistics time_diffuse_solves(benchmark::State& state, Solver& solver) {
    const long n = state.range(0);
    const auto f = [n](double, diffuse::const_view<double> x, diffuse::view<double> dxdt) {
        lorenz96(x.data(), dxdt.data(), n);
    };
    const std::vector<double> x0 = start(n);
    std::vector<double> x;
    diffuse::ode::statistics stats;
    for (auto _ : state) {
        x = x0;
        stats = solver.integrate(f, 0.0, t_end, x);
        benchmark::DoNotOptimize(x.data());
    }
    state.counters["accepted"] = static_cast<double>(stats.accepted);
    state.counters["rejected"] = static_cast<double>(stats.rejected);
    state.counters["evaluations"] = static_cast<double>(stats.evaluations);
    return stats;
}

void diffuse_dopri5(benchmark::State& state) {
    diffuse::ode::adaptive<double> solver(state.range(0), {.rtol = tolerance, .atol = tolerance});
    time_diffuse_solves(state, solver);
}

// Odeint's accepted steps and evaluations for one solve (outside any timing).
std::pair<long, long> odeint_counts(long n) {
    namespace odeint = boost::numeric::odeint;
    long evaluations = 0;
    const auto f = [n, &evaluations](const std::vector<double>& x, std::vector<double>& dxdt, double) {
        ++evaluations;
        lorenz96(x.data(), dxdt.data(), n);
    };
    std::vector<double> x = start(n);
    auto stepper = odeint::make_controlled(tolerance, tolerance, odeint::runge_kutta_dopri5<std::vector<double>>());
    const auto steps = static_cast<long>(odeint::integrate_adaptive(stepper, f, x, 0.0, t_end, 0.01));
    return {steps, evaluations};
}

// diffuse's solver with Odeint's rules (its max norm, odeint_controller, first step 0.01): the same
// accepted steps as Odeint within one, or the benchmark reports an error.
void diffuse_dopri5_odeint_rules(benchmark::State& state) {
    namespace ode = diffuse::ode;
    const long n = state.range(0);
    ode::adaptive<double, ode::dormand_prince54, ode::odeint_controller> solver(
        n, {.rtol = tolerance, .atol = tolerance, .first_step = 0.01, .norm = ode::norm_kind::odeint_max},
        ode::odeint_controller::for_tableau<ode::dormand_prince54>());
    const auto stats = time_diffuse_solves(state, solver);
    const auto [odeint_steps, odeint_evaluations] = odeint_counts(n);
    state.counters["odeint_accepted"] = static_cast<double>(odeint_steps);
    state.counters["odeint_evaluations"] = static_cast<double>(odeint_evaluations);
    if (std::abs(static_cast<long>(stats.accepted) - odeint_steps) > 1) {
        state.SkipWithError("the accepted steps differ from Odeint's by more than one");
    }
}

void odeint_dopri5(benchmark::State& state) {
    namespace odeint = boost::numeric::odeint;
    const long n = state.range(0);
    long evaluations = 0;
    const auto f = [n, &evaluations](const std::vector<double>& x, std::vector<double>& dxdt, double) {
        ++evaluations;
        lorenz96(x.data(), dxdt.data(), n);
    };
    const std::vector<double> x0 = start(n);
    std::vector<double> x;
    std::size_t steps = 0;
    long per_solve = 0;
    // Built once, as diffuse's solver is (its buffers are sized on first use); reset() makes the
    // FSAL pair evaluate the derivative at the new start.
    auto stepper = odeint::make_controlled(tolerance, tolerance, odeint::runge_kutta_dopri5<std::vector<double>>());
    for (auto _ : state) {
        x = x0;
        evaluations = 0;
        stepper.reset();
        steps = odeint::integrate_adaptive(stepper, f, x, 0.0, t_end, 0.01);
        per_solve = evaluations;
        benchmark::DoNotOptimize(x.data());
    }
    state.counters["accepted"] = static_cast<double>(steps);
    state.counters["evaluations"] = static_cast<double>(per_solve);
}

// The same 40 equal steps in both (no controller): the cost of a Dormand-Prince step alone.
constexpr long fixed_steps = 40;

void diffuse_dopri5_fixed(benchmark::State& state) {
    const long n = state.range(0);
    diffuse::ode::explicit_runge_kutta<double, diffuse::ode::dormand_prince54> stepper(n);
    const auto f = [n](double, diffuse::const_view<double> x, diffuse::view<double> dxdt) {
        lorenz96(x.data(), dxdt.data(), n);
    };
    const std::vector<double> x0 = start(n);
    std::vector<double> x;
    for (auto _ : state) {
        x = x0;
        diffuse::ode::integrate_fixed(stepper, f, 0.0, t_end, fixed_steps, x);
        benchmark::DoNotOptimize(x.data());
    }
    state.counters["evaluations"] = static_cast<double>(stepper.evaluations());
}

void odeint_dopri5_fixed(benchmark::State& state) {
    namespace odeint = boost::numeric::odeint;
    const long n = state.range(0);
    long evaluations = 0;
    const auto f = [n, &evaluations](const std::vector<double>& x, std::vector<double>& dxdt, double) {
        ++evaluations;
        lorenz96(x.data(), dxdt.data(), n);
    };
    const std::vector<double> x0 = start(n);
    std::vector<double> x;
    long per_solve = 0;
    odeint::runge_kutta_dopri5<std::vector<double>> stepper;
    for (auto _ : state) {
        x = x0;
        evaluations = 0;
        stepper.reset();
        odeint::integrate_n_steps(stepper, f, x, 0.0, t_end / fixed_steps, fixed_steps);
        per_solve = evaluations;
        benchmark::DoNotOptimize(x.data());
    }
    state.counters["evaluations"] = static_cast<double>(per_solve);
}

}  // namespace

BENCHMARK(diffuse_dopri5_fixed)->Arg(128)->Arg(4096)->Unit(benchmark::kMicrosecond);
BENCHMARK(odeint_dopri5_fixed)->Arg(128)->Arg(4096)->Unit(benchmark::kMicrosecond);
BENCHMARK(diffuse_dopri5)->Arg(128)->Arg(4096)->Unit(benchmark::kMicrosecond);
BENCHMARK(odeint_dopri5)->Arg(128)->Arg(4096)->Unit(benchmark::kMicrosecond);
BENCHMARK(diffuse_dopri5_odeint_rules)->Arg(128)->Arg(4096)->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
