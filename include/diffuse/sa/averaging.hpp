// diffuse/sa/averaging.hpp: averages of the iterates of a stochastic approximation.
//
// polyak_ruppert: the running mean of the iterates after a burn-in (Polyak & Juditsky 1992;
//   Ruppert 1988). With gains a_k = a k^-rho, rho in (1/2, 1), the averaged iterate reaches the
//   optimal asymptotic covariance A^-1 S A^-T whatever a is: the rate of the ideal gain A^-1/k
//   without knowing A.
// ema: the exponential moving average of parameters used to evaluate diffusion models
//   (Ho et al. 2020, sec. 4; Song & Ermon 2020, technique 5), shadow <- d shadow + (1 - d) w,
//   optionally with the warm-up of diffusers' EMAModel, d_n = min(decay, (1 + n) / (10 + n)).
#pragma once

#include <algorithm>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/sa/welford.hpp"

namespace diffuse::sa {

template <Real T>
class polyak_ruppert {
public:
    explicit polyak_ruppert(index dimension, index burn_in = 0)
        : average_(buffer<T>::Zero(dimension)), burn_in_(burn_in) {
        require(dimension >= 1, "dimension", dimension, ">= 1");
        require(burn_in >= 0, "burn_in", burn_in, ">= 0");
    }

    // Call once per iteration with the current iterate w_k.
    template <class W>
    void push(const W& iterate) {
        const auto w = flat(iterate);
        require_size("iterate.size()", w.size(), average_.size());
        ++seen_;
        if (seen_ <= burn_in_) return;
        const index n = seen_ - burn_in_;
        detail::move_toward(average_, w, T(1) / static_cast<T>(n));
    }

    // The mean of the iterates after the burn-in (zero before any was averaged).
    const buffer<T>& average() const { return average_; }
    // How many iterates entered the average.
    index count() const { return seen_ > burn_in_ ? seen_ - burn_in_ : 0; }

private:
    buffer<T> average_;
    index burn_in_;
    index seen_ = 0;
};

enum class ema_warmup { none, diffusers };

template <Real T>
class ema {
public:
    // The shadow starts as a copy of the parameters.
    template <class W>
    ema(const W& params, T decay, ema_warmup warmup = ema_warmup::none)
        : shadow_(flat(params)), decay_(decay), warmup_(warmup) {
        require(decay >= T(0) && decay < T(1), "ema decay", decay, "[0, 1)");
    }

    // The decay the next update will use.
    T current_decay() const {
        if (warmup_ == ema_warmup::none) return decay_;
        // diffusers.training_utils.EMAModel.get_decay with use_ema_warmup=False: the first
        // update copies the parameters, then (1 + n) / (10 + n) capped at `decay`.
        if (updates_ == 0) return T(0);
        const T n = static_cast<T>(updates_);
        return std::min(decay_, (T(1) + n) / (T(10) + n));
    }

    template <class W>
    void update(const W& params) {
        const auto w = flat(params);
        require_size("params.size()", w.size(), shadow_.size());
        detail::move_toward(shadow_, w, T(1) - current_decay());
        ++updates_;
    }

    const buffer<T>& shadow() const { return shadow_; }
    index updates() const { return updates_; }

private:
    buffer<T> shadow_;
    T decay_;
    ema_warmup warmup_;
    index updates_ = 0;
};

}  // namespace diffuse::sa
