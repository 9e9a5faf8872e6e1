// tests/order_problems.hpp: the problems with exact solutions behind the order studies, shared by
// tests/test_ode.cpp and tests/test_sde.cpp (which assert the orders) and bench/order_plot.cpp (which
// draws them for docs/ode.md): a non-autonomous scalar ODE, geometric Brownian motion and an
// Ornstein-Uhlenbeck process, and the Brownian-tree paths replayed to every SDE scheme.
#pragma once

#include <cmath>
#include <vector>

#include "diffuse/core/brownian.hpp"
#include "diffuse/ode/explicit_runge_kutta.hpp"
#include "diffuse/ode/integrate_fixed.hpp"
#include "diffuse/ode/sde_integrate.hpp"
#include "diffuse/ode/sde_problem.hpp"

namespace order_problems {

// y' = y - t^2 + 1, y(0) = 1/2: y = (t + 1)^2 - e^t / 2 (Burden & Faires' test problem). Non-autonomous,
// so the stage times c_i matter, and its global error keeps one sign (no cancellation at t = 2
// that would fake a higher order).
struct forced_growth {
    template <class T>
    void operator()(T t, diffuse::const_view<T> y, diffuse::view<T> dydt) const {
        dydt[0] = y[0] - t * t + T(1);
    }
    template <class T>
    static T solution(T t) {
        return (t + T(1)) * (t + T(1)) - std::exp(t) / T(2);
    }
};

// y(2) after `steps` fixed steps of the tableau from t = 0.
template <class T, class Tableau>
T fixed_step_solution(diffuse::index steps) {
    diffuse::ode::explicit_runge_kutta<T, Tableau> stepper(1);
    Eigen::Array<T, Eigen::Dynamic, 1> y = Eigen::Array<T, Eigen::Dynamic, 1>::Constant(1, T(0.5));
    diffuse::ode::integrate_fixed(stepper, forced_growth{}, T(0), T(2), steps, y);
    return y[0];
}

// Geometric Brownian motion dX = lambda X dt + mu X dW, X(0) = 1 (Higham, "An algorithmic
// introduction to numerical simulation of stochastic differential equations", SIAM Review 43(3),
// 2001, uses lambda = 2, mu = 1). Ito: X(T) = exp((lambda - mu^2 / 2) T + mu W(T)); Stratonovich:
// X(T) = exp(lambda T + mu W(T)).
template <class T>
struct gbm {
    T lambda = 2, mu = 1;
    auto problem() const {
        return diffuse::ode::diagonal_sde_with_derivative{
            [l = lambda](T, diffuse::const_view<T> y, diffuse::view<T> out) { out = l * y; },
            [m = mu](T, diffuse::const_view<T> y, diffuse::view<T> out) { out = m * y; },
            [m = mu](T, diffuse::const_view<T>, diffuse::view<T> out) { out.setConstant(m); }};
    }
    diffuse::buffer<double> exact(const diffuse::buffer<double>& w_end, double end,
                                  diffuse::ode::sde_calculus calculus) const {
        const double drift = calculus == diffuse::ode::sde_calculus::ito ? lambda - mu * mu / 2.0 : double(lambda);
        return (drift * end + double(mu) * w_end).exp();
    }
};

// Ornstein-Uhlenbeck with a time-dependent additive noise: dX = -theta X dt + s(t) dW,
// s(t) = s0 (1 + t), X(0) = 1. X(T) = e^(-theta T) + int_0^T phi(s) dW(s), phi(s) = e^(-theta (T - s)) s(s).
template <class T>
struct ornstein_uhlenbeck {
    T theta = 1, s0 = T(0.8);
    auto problem() const {
        return diffuse::ode::diagonal_sde{
            [th = theta](T, diffuse::const_view<T> y, diffuse::view<T> out) { out = -th * y; },
            [s = s0](T t, diffuse::const_view<T>, diffuse::view<T> out) { out.setConstant(s * (1 + t)); }};
    }
    // The stochastic integral on the tree's finest grid (step h): on each step
    // int phi dW = phi(s) dW + phi'(s) (h dW - dz) + O(h^2.5), dz = int (W(u) - W(s)) du, so the sum
    // errs by about phi'' h^2 / (2 sqrt 5) = 1e-7 at h = 2^-10, far below the schemes' errors.
    diffuse::buffer<double> exact(diffuse::random::brownian_tree<double>& tree, double end, int fine_steps) const {
        const diffuse::index n = tree.size();
        diffuse::buffer<double> x = diffuse::buffer<double>::Constant(n, std::exp(-double(theta) * end));
        diffuse::buffer<double> dw(n), dz(n);
        const double h = end / fine_steps;
        for (int k = 0; k < fine_steps; ++k) {
            const double s = k * h;
            const double decay = std::exp(-double(theta) * (end - s));
            const double phi = decay * double(s0) * (1 + s);
            const double dphi = double(theta) * phi + decay * double(s0);
            tree.increment(s, s + h, diffuse::flat(dw), diffuse::flat(dz));
            x += phi * dw + dphi * (h * dw - dz);
        }
        return x;
    }
};

// The increments of a tree on a uniform grid of [0, 1], recorded once and replayed to every scheme
// (the tree is the expensive part of a solve).
struct recorded_path {
    int steps = 0;
    std::vector<diffuse::buffer<double>> dw, dz;
};
inline recorded_path record(diffuse::random::brownian_tree<double>& tree, int steps, bool with_time_integral) {
    recorded_path path{steps, std::vector<diffuse::buffer<double>>(steps, diffuse::buffer<double>(tree.size())), {}};
    if (with_time_integral) path.dz.assign(steps, diffuse::buffer<double>(tree.size()));
    for (int k = 0; k < steps; ++k) {
        const double t0 = double(k) / steps, t1 = double(k + 1) / steps;
        if (with_time_integral) {
            tree.increment(t0, t1, diffuse::flat(path.dw[k]), diffuse::flat(path.dz[k]));
        } else {
            tree.increment(t0, t1, diffuse::flat(path.dw[k]));
        }
    }
    return path;
}
inline std::vector<recorded_path> record(diffuse::random::brownian_tree<double>& tree, const std::vector<int>& steps,
                                         bool with_time_integral) {
    std::vector<recorded_path> paths;
    for (const int n : steps) paths.push_back(record(tree, n, with_time_integral));
    return paths;
}

// Replays recorded increments in order (a brownian_source), in float or double.
template <class T>
struct replay {
    const recorded_path* path;
    std::size_t next = 0;
    void increment(T, T, diffuse::view<T> out) { out = path->dw[next++].template cast<T>(); }
    void increment(T, T, diffuse::view<T> out, diffuse::view<T> out_z) {
        out_z = path->dz[next].template cast<T>();
        increment(T(0), T(0), out);
    }
};

// The solution at t = 1 from y(0) = 1 on a recorded path.
template <template <class> class Stepper, class T = double, class Problem>
diffuse::buffer<T> solve(Problem problem, const recorded_path& path) {
    const diffuse::index n = path.dw[0].size();
    Stepper<T> stepper(n);
    diffuse::buffer<T> y = diffuse::buffer<T>::Ones(n);
    std::vector<T> grid(path.steps + 1);
    for (int k = 0; k <= path.steps; ++k) grid[k] = T(k) / T(path.steps);
    replay<T> noise{&path};
    diffuse::ode::integrate_sde(stepper, problem, grid, y, noise);
    return y;
}

// Mean over paths of |X_N - X(T)| for each recorded resolution.
template <template <class> class Stepper, class Problem>
std::vector<double> strong_errors(Problem problem, const std::vector<recorded_path>& paths,
                                  const diffuse::buffer<double>& exact) {
    std::vector<double> errors;
    for (const auto& path : paths) errors.push_back((solve<Stepper>(problem, path) - exact).abs().mean());
    return errors;
}

inline std::vector<double> step_sizes(const std::vector<int>& steps) {
    std::vector<double> h;
    for (const int n : steps) h.push_back(1.0 / n);
    return h;
}

}  // namespace order_problems
