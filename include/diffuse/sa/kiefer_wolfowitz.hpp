// diffuse/sa/kiefer_wolfowitz.hpp: Kiefer-Wolfowitz stochastic minimization.
//
// Minimizes f from noisy values y(w) = f(w) + eta with the central-difference gradient
//     g_i = (y(w + c_k e_i) - y(w - c_k e_i)) / (2 c_k),   w_{k+1} = w_k - a_k g
// (Kiefer & Wolfowitz 1952; Blum 1954 for the multivariate form). Needs a Robbins-Monro gain,
// c_k -> 0 and sum (a_k / c_k)^2 < inf. Costs 2 d measurements per iteration in dimension d;
// SPSA (spsa.hpp) costs 2 whatever d is.
#pragma once

#include "diffuse/core/config.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/sa/gradient_free.hpp"
#include "diffuse/sa/step_size.hpp"

namespace diffuse::sa {

template <Real T, robbins_monro_step Step, vanishing_interval Interval>
class kiefer_wolfowitz : public detail::gradient_free_descent<T, Step, Interval> {
    using base = detail::gradient_free_descent<T, Step, Interval>;

public:
    using base::base;

    // Central-difference estimate at w with interval c into gradient(); `measure(const_view<T>)`
    // returns the noisy value y.
    template <class Measure>
    void estimate_gradient(const_view<T> w, Measure&& measure, T c) {
        require_size("w.size()", w.size(), this->dimension());
        require_positive("c", c);
        this->probe_ = w;
        for (index i = 0; i < w.size(); ++i) {
            const T difference =
                this->central_difference(measure, [&](view<T> probe, T sign) { probe[i] = w[i] + sign * c; });
            this->probe_[i] = w[i];
            this->gradient_[i] = difference / (T(2) * c);
        }
    }

    template <class W, class Measure>
    void step(W&& iterate, Measure&& measure) {
        auto w = flat(iterate);
        estimate_gradient(const_view<T>(w.data(), w.size()), measure, this->interval(this->iteration()));
        this->descend(w);
    }
};

}  // namespace diffuse::sa
