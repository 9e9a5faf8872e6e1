// diffuse/sa/welford.hpp: incremental mean and variance of a stream of vectors.
//
// Welford's update (Welford 1962; Knuth TAOCP vol. 2, 4.2.2) is the Robbins-Monro iteration
// w_{k+1} = w_k - (w_k - x_k)/k for the mean (Zhao, ch. 6.1), plus the matching recursion for
// the sum of squared deviations, which avoids the cancellation of sum(x^2) - n mean^2.
#pragma once

#include <Eigen/Core>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"

namespace diffuse::sa {

namespace detail {

// avg <- avg + weight (x - avg): the one update shared by running means, Polyak-Ruppert
// averaging and exponential moving averages.
template <class Avg, class X, class W>
void move_toward(Avg&& avg, const X& x, W weight) {
    avg += weight * (x - avg);
}

}  // namespace detail

// Per-component running mean and variance of vectors of a fixed dimension. Allocation-free
// after construction.
template <Real T>
class running_moments {
public:
    explicit running_moments(index dimension) : mean_(buffer<T>::Zero(dimension)), m2_(buffer<T>::Zero(dimension)) {
        require(dimension >= 1, "dimension", dimension, ">= 1");
    }

    template <class X>
    void push(const X& sample) {
        const auto x = flat(sample);
        require_size("sample.size()", x.size(), mean_.size());
        ++count_;
        const T n = static_cast<T>(count_);
        // (x - mean_old)(x - mean_new) = (x - mean_old)^2 (n - 1) / n, with the old mean.
        m2_ += (x - mean_).square() * ((n - T(1)) / n);
        detail::move_toward(mean_, x, T(1) / n);
    }

    index count() const { return count_; }
    index dimension() const { return mean_.size(); }
    const buffer<T>& mean() const { return mean_; }
    // Unbiased sample variance (divides by n - 1); needs two samples.
    auto variance() const {
        require(count_ >= 2, "count", count_, ">= 2 samples for a sample variance");
        return m2_ / static_cast<T>(count_ - 1);
    }
    // Population variance (divides by n); needs one sample.
    auto population_variance() const {
        require(count_ >= 1, "count", count_, ">= 1 sample");
        return m2_ / static_cast<T>(count_);
    }
    void reset() {
        count_ = 0;
        mean_.setZero();
        m2_.setZero();
    }

private:
    index count_ = 0;
    buffer<T> mean_;
    buffer<T> m2_;
};

}  // namespace diffuse::sa
