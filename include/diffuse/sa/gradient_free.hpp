// diffuse/sa/gradient_free.hpp: what Kiefer-Wolfowitz and SPSA share: a Robbins-Monro descent
// driven by a gradient estimated from noisy function values at w +- c_k (direction).
#pragma once

#include <utility>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/sa/robbins_monro.hpp"
#include "diffuse/sa/step_size.hpp"

namespace diffuse::sa::detail {

template <Real T, robbins_monro_step Step, vanishing_interval Interval>
class gradient_free_descent {
public:
    gradient_free_descent(Step step, Interval interval, index dimension)
        : descent_(std::move(step), dimension),
          interval_(std::move(interval)),
          probe_(dimension),
          gradient_(dimension) {
        require_gain_ratio_summable(descent_.step_size(), interval_);
    }

    // The index k of the next iteration (starts at 1).
    index iteration() const { return descent_.iteration(); }
    index dimension() const { return probe_.size(); }
    // Function evaluations so far (the cost measure of gradient-free methods).
    index measurements() const { return measurements_; }
    // The gradient estimate of the last iteration.
    const buffer<T>& gradient() const { return gradient_; }
    T interval(index k) const { return static_cast<T>(interval_(k)); }

protected:
    // y(w + offset) - y(w - offset), the probe w +- offset written by `set_offset(probe, sign)`.
    template <class Measure, class Offset>
    T central_difference(Measure& measure, Offset&& set_offset) {
        auto probe = flat(probe_);
        set_offset(probe, T(1));
        const T plus = static_cast<T>(measure(const_view<T>(probe.data(), probe.size())));
        set_offset(probe, T(-1));
        const T minus = static_cast<T>(measure(const_view<T>(probe.data(), probe.size())));
        measurements_ += 2;
        return plus - minus;
    }

    template <class W>
    void descend(W&& w) {
        descent_.update(std::forward<W>(w), gradient_);
    }

    robbins_monro<T, Step> descent_;
    Interval interval_;
    buffer<T> probe_;
    buffer<T> gradient_;
    index measurements_ = 0;
};

}  // namespace diffuse::sa::detail
