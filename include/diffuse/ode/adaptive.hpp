// diffuse/ode/adaptive.hpp: adaptive integration of y' = f(t, y) with an embedded Runge-Kutta pair.
//
// Each attempt from (t, y) with step h computes y1 and the error norm of the pair's estimate
// (ode/norm.hpp: RMS of err_i / (atol + rtol max(|y_i|, |y1_i|))); the controller
// (ode/step_size_controller.hpp) accepts or rejects it and scales h. The first step comes from
// Hairer's rule (ode/initial_step.hpp) unless given. With Dormand-Prince 5(4) and the default
// options this is scipy.integrate.solve_ivp(method='RK45') attempt for attempt: the same initial
// step, the same step clipped to the end, the same minimum step 10 |nextafter(t) - t|, the same
// controller (tests/test_ode.cpp compares the accepted steps).
//
//   ode::adaptive<double> solver(y.size(), {.rtol = 1e-6, .atol = 1e-9});
//   solver.integrate(f, t0, t1, y);                  // y <- y(t1); observer(t, y) after each step
//   solver.integrate_times(f, t0, times, y, out);    // out(t, y(t)) at each of `times` (dense output)
//
// Output times are used as given: they must be monotone in the direction of integration (either
// direction: t1 < t0 integrates backwards) and are never added as steps; values between steps come
// from the pair's continuous extension. Work buffers are sized at construction (or resize(n)): a
// solve allocates nothing. Failures throw diffuse::error naming the limit: the step falling below
// min_step (a stiff problem, a singularity, a non-finite derivative), max_steps attempts used.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <limits>
#include <sstream>
#include <string>

#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/ode/butcher.hpp"
#include "diffuse/ode/explicit_runge_kutta.hpp"
#include "diffuse/ode/initial_step.hpp"
#include "diffuse/ode/norm.hpp"
#include "diffuse/ode/step_size_controller.hpp"
#include "diffuse/ode/system.hpp"

namespace diffuse::ode {

template <Real T>
struct adaptive_options {
    T rtol = T(1e-3);  // scipy's defaults
    T atol = T(1e-6);
    T first_step = T(0);                              // 0: Hairer's rule (ode/initial_step.hpp)
    T max_step = std::numeric_limits<T>::infinity();  // bound on |h|
    T min_step = T(0);                                // failure below max(min_step, 10 ulp(t))
    index max_steps = 100000;                         // attempts (accepted + rejected) per solve
    controller_options control{};                     // for the standard controller
    norm_kind norm = norm_kind::rms;                  // odeint_max: Boost.Odeint's (ode/norm.hpp)

    [[nodiscard]] tolerances<T> tol() const { return {rtol, atol, norm}; }

    void validate() const {
        tol().validate();
        require(first_step >= T(0) && std::isfinite(first_step), "first_step", first_step,
                "a finite number >= 0 (0: chosen by Hairer's rule)");
        require(max_step > T(0) && !std::isnan(max_step), "max_step", max_step, "a number > 0 (infinity: no bound)");
        require(min_step >= T(0) && std::isfinite(min_step) && min_step <= max_step, "min_step", min_step,
                "a finite number in [0, max_step]");
        require(max_steps >= 1, "max_steps", max_steps, ">= 1");
        control.validate();
    }
};

template <Real T, embedded_tableau Tableau = dormand_prince54, step_size_controller Controller = standard_controller>
class adaptive {
public:
    using scalar = T;
    using tableau = Tableau;

    // The standard controller, built from o.control.
    explicit adaptive(index n, adaptive_options<T> o = {}) requires std::same_as<Controller, standard_controller>
        : adaptive(n, o, standard_controller(o.control, Tableau::error_order)) {}
    // Any controller (e.g. pid_controller).
    adaptive(index n, adaptive_options<T> o, Controller controller)
        : o_((o.validate(), o)), controller_(std::move(controller)) {
        resize(n);
    }

    // Sizes the buffers for states of n elements.
    void resize(index n) {
        stepper_.resize(n);
        current_.resize(n);
        next_.resize(n);
        dense_.resize(n);
    }
    [[nodiscard]] index size() const { return stepper_.size(); }
    [[nodiscard]] const adaptive_options<T>& options() const { return o_; }
    // The counters of the last solve.
    [[nodiscard]] const statistics& stats() const { return stats_; }

    // y <- y(t1), from y = y(t0). observer(t, y) sees (t0, y0) and the end of every accepted step.
    template <class System, class State, class Observer = no_observer>
    requires system<System, T> statistics integrate(System&& f, T t0, T t1, State&& y, Observer&& observer = {}) {
        return solve(f, t0, t1, flat(y), const_view<T>(nullptr, 0), observer, true);
    }

    // observer(t, y(t)) for each t of `times` (anything flat() accepts), monotone in the direction
    // from t0 to times' last entry, where the solve ends: y <- y(times.back()). Times between steps
    // are served by the continuous extension; times equal to t0 see y0.
    template <class System, class State, class Times, class Observer>
    requires system<System, T> statistics integrate_times(System&& f, T t0, const Times& times_in, State&& y,
                                                          Observer&& observer) {
        static_assert(dense_tableau<Tableau>,
                      "integrate_times needs a pair with a continuous extension (dense_tableau: Dormand-Prince "
                      "5(4), Bogacki-Shampine 3(2))");
        const const_view<T> times = cflat(times_in);
        require(times.size() > 0, "times.size()", times.size(), ">= 1 output time");
        require_finite("t0", t0);
        const T last = times[times.size() - 1];
        const T direction = last >= t0 ? T(1) : T(-1);
        T previous = t0;
        for (index i = 0; i < times.size(); ++i) {
            if (!(std::isfinite(times[i]) && direction * (times[i] - previous) >= T(0))) {
                std::ostringstream allowed;
                allowed.precision(17);
                allowed << "a finite time monotone in the direction of integration (from t0 = " << t0 << " to " << last
                        << "): " << (direction > 0 ? ">= " : "<= ") << previous;
                throw invalid("times[" + std::to_string(i) + "]", times[i], allowed.str());
            }
            previous = times[i];
        }
        return solve(f, t0, last, flat(y), times, observer, false);
    }

private:
    template <class System, class Observer>
    statistics solve(System& f, T t0, T t_end, view<T> y, const_view<T> times, Observer& observer, bool each_step) {
        require_finite("t0", t0);
        require_finite("t1", t_end);
        require_size("y.size()", y.size(), size());
        const tolerances<T> tol = o_.tol();
        stats_ = {};
        controller_.reset();
        stepper_.reset_evaluations();
        stepper_.invalidate();
        current_ = y;
        const auto current = [this] { return const_view<T>(current_.data(), current_.size()); };
        const T direction = t_end >= t0 ? T(1) : T(-1);

        index next_output = 0;
        while (next_output < times.size() && times[next_output] == t0) observer(t0, current()), ++next_output;
        if (each_step) observer(t0, current());

        index initial_evaluations = 0;
        if (t_end != t0) {
            stepper_.begin(f, t0, current());
            if (!stepper_.start_derivative().allFinite()) fail_not_finite(t0);
            T h_abs = o_.first_step;
            if (h_abs == T(0)) {
                h_abs = initial_step(f, t0, current(), stepper_.start_derivative(), direction, Tableau::error_order,
                                     tol, std::abs(t_end - t0), o_.max_step, view<T>(next_.data(), next_.size()),
                                     view<T>(dense_.data(), dense_.size()));
                initial_evaluations = 1;
            }
            T t = t0;
            while (direction * (t_end - t) > T(0)) {
                // scipy's RungeKutta._step_impl: the bounds, then attempts until one is accepted.
                const T min_step =
                    std::max(o_.min_step,
                             T(10) * std::abs(std::nextafter(t, direction * std::numeric_limits<T>::infinity()) - t));
                if (h_abs > o_.max_step) {
                    h_abs = o_.max_step;
                } else if (h_abs < min_step) {
                    h_abs = min_step;
                }
                T t_new, h;
                for (;;) {
                    if (stats_.accepted + stats_.rejected >= o_.max_steps) fail_max_steps(t, t_end, h_abs);
                    if (!(h_abs >= min_step)) fail_min_step(t, h_abs, min_step);  // also a NaN step
                    t_new = t + h_abs * direction;
                    if (direction * (t_new - t_end) > T(0)) t_new = t_end;
                    h = t_new - t;
                    h_abs = std::abs(h);
                    stepper_.attempt(f, t, current(), h, view<T>(next_.data(), next_.size()));
                    const T error = stepper_.error_norm(h, current(), cflat(next_), tol);
                    const step_decision decision = controller_.decide(static_cast<double>(error));
                    h_abs *= static_cast<T>(decision.factor);
                    if (decision.accept) break;
                    ++stats_.rejected;
                }
                ++stats_.accepted;
                if constexpr (dense_tableau<Tableau>) {
                    while (next_output < times.size() && direction * (times[next_output] - t_new) <= T(0)) {
                        const T tau = times[next_output++];
                        if (tau == t_new) {
                            observer(tau, cflat(next_));
                        } else {
                            stepper_.interpolate((tau - t) / h, h, current(), view<T>(dense_.data(), dense_.size()));
                            observer(tau, cflat(dense_));
                        }
                    }
                }
                stepper_.accept();
                current_.swap(next_);
                t = t_new;
                if (each_step) observer(t, current());
            }
        }
        y = current_;
        stats_.evaluations = stepper_.evaluations() + initial_evaluations;
        return stats_;
    }

    [[noreturn]] void fail_max_steps(T t, T t_end, T h_abs) const {
        std::ostringstream out;
        out.precision(17);
        out << "diffuse: ode::adaptive (" << Tableau::name << "): max_steps = " << o_.max_steps
            << " attempts used at t = " << t << " before reaching t1 = " << t_end << " (|h| = " << h_abs
            << "); raise max_steps or loosen rtol/atol";
        throw error(out.str());
    }
    [[noreturn]] void fail_not_finite(T t0) const {
        std::ostringstream out;
        out.precision(17);
        out << "diffuse: ode::adaptive (" << Tableau::name << "): the derivative f(t0, y0) at t0 = " << t0
            << " is not finite (NaN or Inf): check y0 and the system";
        throw error(out.str());
    }
    [[noreturn]] void fail_min_step(T t, T h_abs, T min_step) const {
        std::ostringstream out;
        out.precision(17);
        out << "diffuse: ode::adaptive (" << Tableau::name << "): the step size |h| = " << h_abs << " at t = " << t
            << " fell below min_step = " << min_step
            << " (the larger of options.min_step and 10 ulp of t) without meeting rtol/atol: the problem may be stiff "
               "or singular there, or its derivative not finite";
        throw error(out.str());
    }

    adaptive_options<T> o_;
    Controller controller_;
    explicit_runge_kutta<T, Tableau> stepper_;
    buffer<T> current_, next_, dense_;
    statistics stats_;
};

}  // namespace diffuse::ode
