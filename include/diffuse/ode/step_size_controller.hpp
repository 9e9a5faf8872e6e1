// diffuse/ode/step_size_controller.hpp: step-size controllers of adaptive integrators.
//
// A controller sees the error norm of each attempt (ode/norm.hpp: < 1 means within tolerance) and
// decides whether to accept it and by what factor to scale the step. Its arithmetic is a few
// scalars per attempt, done in double whatever the state's type.
//  - standard_controller: the elementary (integral) controller of Hairer, Norsett & Wanner I, II.4,
//    eq. 4.13, h_new = h min(max_factor, max(min_factor, safety err^(-1/k))), k = error order + 1, with
//    optionally the PI term of Gustafsson (Hairer & Wanner II, IV.2, eq. 2.43c; dopri5's beta):
//    h_new = h safety err_n^(-alpha) err_{n-1}^beta on acceptance, alpha = 1/k - 0.75 beta. With
//    beta = 0 and the defaults it is scipy.integrate's RK45/RK23 controller step for step: accept
//    when err < 1, factor max_factor when err = 0, no growth right after a rejection.
//  - pid_controller: k-diffusion's PIDStepSizeController (Söderlind 2003, with the arctangent
//    limiter h *= 1 + atan(f - 1)); accepts when the limited factor is >= accept_safety. The adaptive
//    DPM-Solver (sampler/dpm_adaptive.hpp) runs it.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>

#include "diffuse/core/error.hpp"

namespace diffuse::ode {

struct step_decision {
    bool accept;
    double factor;  // the next step is factor times this one
};

template <class C>
concept step_size_controller = requires(C& c, double error) {
    { c.decide(error) } -> std::same_as<step_decision>;
    c.reset();  // forget the history: a new solve starts
};

struct controller_options {
    double safety = 0.9;      // scipy's SAFETY
    double min_factor = 0.2;  // scipy's MIN_FACTOR: the largest shrink per attempt
    double max_factor = 10;   // scipy's MAX_FACTOR: the largest growth per step
    double beta = 0;          // PI control's weight of the previous error (0: integral control;
                              // Hairer's dopri5 uses 0.04)

    void validate() const {
        require(safety > 0 && safety <= 1, "safety", safety, "in (0, 1]");
        require(min_factor > 0 && min_factor <= 1, "min_factor", min_factor, "in (0, 1]");
        require(max_factor >= 1 && std::isfinite(max_factor), "max_factor", max_factor, "a finite number >= 1");
        require(beta >= 0 && beta < 0.2, "beta", beta, "in [0, 0.2) (0.04 is Hairer's choice; 0: integral control)");
    }
};

class standard_controller {
public:
    // error_order: the order of the embedded solution (4 for Dormand-Prince 5(4)); the error
    // estimate then scales as h^(error_order + 1).
    standard_controller(controller_options o, int error_order)
        : o_((o.validate(), o)), exponent_(-1.0 / (error_order + 1)), alpha_(1.0 / (error_order + 1) - 0.75 * o_.beta) {
        require(error_order >= 1, "error_order", error_order, ">= 1");
    }

    void reset() {
        rejected_ = false;
        previous_error_ = 1e-4;
    }

    step_decision decide(double error) {
        if (error < 1) {
            double factor = o_.max_factor;
            if (error > 0) {
                factor = o_.beta == 0 ? o_.safety * std::pow(error, exponent_)
                                      : o_.safety * std::pow(error, -alpha_) * std::pow(previous_error_, o_.beta);
                factor = std::clamp(factor, o_.min_factor, o_.max_factor);
            }
            if (rejected_) factor = std::min(1.0, factor);
            rejected_ = false;
            previous_error_ = std::max(error, 1e-4);  // Hairer's floor of the remembered error
            return {true, factor};
        }
        rejected_ = true;  // also when the error is NaN: shrink as much as allowed
        const double factor = o_.safety * std::pow(error, exponent_);
        return {false, factor >= o_.min_factor ? factor : o_.min_factor};
    }

    [[nodiscard]] const controller_options& options() const { return o_; }

private:
    controller_options o_;
    double exponent_, alpha_;
    bool rejected_ = false;
    double previous_error_ = 1e-4;
};

// Boost.Odeint's default_step_adjuster as its controlled_runge_kutta calls it (controlled_runge_kutta.hpp):
// an error above 1 rejects the step and shrinks it by max(0.9 err^(-1/(error_order - 1)), 0.2); otherwise
// the step is accepted and, when err < 0.5, grows by 0.9 max(err, 5^-order)^(-1/order) (at most 4.5x).
// error_order and order are the stepper's error_order_value and stepper_order_value (4 and 5 for
// runge_kutta_dopri5). With norm_kind::odeint_max and Odeint's first step this takes Odeint's steps
// (bench/bench_ode.cpp compares them). Unlike Odeint, a NaN error rejects the step with the largest shrink.
class odeint_controller {
public:
    odeint_controller(int error_order, int order) : error_order_(error_order), order_(order) {
        require(error_order >= 2, "error_order", error_order, ">= 2 (Odeint shrinks by err^(-1/(error_order - 1)))");
        require(order >= 1, "order", order, ">= 1");
    }
    // For a tableau: its embedded solution's order and its own.
    template <class Tableau>
    static odeint_controller for_tableau() {
        return odeint_controller(Tableau::error_order, Tableau::order);
    }

    void reset() {}

    step_decision decide(double error) const {
        if (!(error <= 1)) {
            const double shrink = 0.9 * std::pow(error, -1.0 / (error_order_ - 1));
            return {false, shrink >= 0.2 ? shrink : 0.2};  // a NaN shrink takes 0.2
        }
        if (error >= 0.5) return {true, 1.0};
        return {true, 0.9 * std::pow(std::max(error, std::pow(5.0, -order_)), -1.0 / order_)};
    }

private:
    int error_order_, order_;
};

// k-diffusion's PIDStepSizeController: f = E_n^-b1 E_{n-1}^-b2 E_{n-2}^-b3 with E the inverse error
// 1 / (error + 1e-8), b1 = (p + i + d)/order, b2 = -(p + 2d)/order, b3 = d/order; factor = 1 + atan(f - 1).
class pid_controller {
public:
    pid_controller(double pcoeff, double icoeff, double dcoeff, double order, double accept_safety)
        : b1_((pcoeff + icoeff + dcoeff) / order),
          b2_(-(pcoeff + 2 * dcoeff) / order),
          b3_(dcoeff / order),
          accept_safety_(accept_safety) {
        require(order > 0 && std::isfinite(order), "order", order, "a finite number > 0");
        require(accept_safety > 0 && accept_safety <= 1, "accept_safety", accept_safety, "in (0, 1]");
    }

    void reset() { started_ = false; }

    step_decision decide(double error) {
        const double inverse = 1.0 / (error + 1e-8);
        if (!started_) errors_[1] = errors_[2] = inverse;
        started_ = true;
        errors_[0] = inverse;
        const double factor =
            1.0 + std::atan(std::pow(errors_[0], b1_) * std::pow(errors_[1], b2_) * std::pow(errors_[2], b3_) - 1.0);
        const bool accept = factor >= accept_safety_;
        if (accept) {
            errors_[2] = errors_[1];
            errors_[1] = errors_[0];
        }
        return {accept, factor};
    }

private:
    double b1_, b2_, b3_, accept_safety_;
    double errors_[3] = {0, 0, 0};
    bool started_ = false;
};

}  // namespace diffuse::ode
