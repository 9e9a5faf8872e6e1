// diffuse/ode/norm.hpp: the error norm of adaptive integrators (ODE and SDE alike) and the tolerances
// that define it.
//
// A step's local error estimate err is measured against the tolerance per component,
//   scale_i = atol + rtol max(|y0_i|, |y1_i|)      (y0, y1: the state before and after the step),
// in the root-mean-square norm
//   ||err|| = sqrt( (1/n) sum_i (err_i / scale_i)^2 ),
// and a step is acceptable when ||err|| < 1 (Hairer, Norsett & Wanner, "Solving Ordinary Differential
// Equations I", II.4, eq. 4.11; scipy.integrate's RungeKutta uses the same norm). norm_kind::odeint_max
// is Boost.Odeint's instead (default_error_checker in controlled_runge_kutta.hpp, a_x = a_dxdt = 1):
//   ||err|| = max_i |err_i| / (atol + rtol (|y0_i| + |h| |f(t0, y0)_i|)),
// so that a solve can take Odeint's steps (with ode::odeint_controller). The arguments are
// Eigen array expressions, so an error written as a sum of stage derivatives is evaluated in the
// same single pass as its norm, with no buffer.
#pragma once

#include <Eigen/Core>

#include <cmath>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"

namespace diffuse::ode {

// The norm a step's error is measured in (header comment).
enum class norm_kind { rms, odeint_max };

// rtol and atol of an adaptive solve: the error per component may be atol + rtol |y|.
template <Real T>
struct tolerances {
    T rtol = T(1e-3);  // scipy.integrate.solve_ivp's defaults
    T atol = T(1e-6);
    norm_kind norm = norm_kind::rms;

    void validate() const {
        require(rtol > T(0) && std::isfinite(rtol), "rtol", rtol, "a finite number > 0");
        require(atol >= T(0) && std::isfinite(atol), "atol", atol, "a finite number >= 0");
    }
};

// Root-mean-square of the elements of an array expression (0 for an empty one).
template <class Derived>
[[nodiscard]] typename Derived::Scalar rms(const Eigen::ArrayBase<Derived>& x) {
    using T = typename Derived::Scalar;
    if (x.size() == 0) return T(0);
    return std::sqrt(x.derived().square().sum() / static_cast<T>(x.size()));
}

// ||err|| of the header comment: err, y0 and y1 are array expressions of one size.
template <class Error, class Before, class After>
[[nodiscard]] typename Error::Scalar error_norm(const Eigen::ArrayBase<Error>& err, const Eigen::ArrayBase<Before>& y0,
                                                const Eigen::ArrayBase<After>& y1,
                                                const tolerances<typename Error::Scalar>& tol) {
    return rms(err.derived() / (tol.atol + tol.rtol * y0.derived().abs().max(y1.derived().abs())));
}

// Odeint's max norm (header comment): err, y0 and dydt0 = f(t0, y0) are array expressions of one size.
template <class Error, class Before, class Slope>
[[nodiscard]] typename Error::Scalar odeint_error_norm(const Eigen::ArrayBase<Error>& err,
                                                       const Eigen::ArrayBase<Before>& y0,
                                                       const Eigen::ArrayBase<Slope>& dydt0, typename Error::Scalar h,
                                                       const tolerances<typename Error::Scalar>& tol) {
    using T = typename Error::Scalar;
    if (err.size() == 0) return T(0);
    return (err.derived().abs() / (tol.atol + tol.rtol * (y0.derived().abs() + std::abs(h) * dydt0.derived().abs())))
        .maxCoeff();
}

// The same norm against one state (scale_i = atol + rtol |y_i|), as the initial step selection uses.
template <class Value, class State>
[[nodiscard]] typename Value::Scalar scaled_norm(const Eigen::ArrayBase<Value>& x, const Eigen::ArrayBase<State>& y,
                                                 const tolerances<typename Value::Scalar>& tol) {
    return rms(x.derived() / (tol.atol + tol.rtol * y.derived().abs()));
}

}  // namespace diffuse::ode
