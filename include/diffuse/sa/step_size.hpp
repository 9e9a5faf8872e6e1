// diffuse/sa/step_size.hpp: step-size (gain) policies a_k and difference intervals c_k.
//
// A step-size policy is an immutable callable `a(k)` for the iteration index k = 1, 2, ...
// that states at compile time whether it satisfies the Robbins-Monro conditions
//     sum_k a_k = inf   and   sum_k a_k^2 < inf
// (Robbins & Monro 1951; Zhao, Mathematical Foundations of RL, ch. 6, Theorem 6.1).
// Algorithms whose convergence proof needs them (robbins_monro, kiefer_wolfowitz, spsa)
// constrain their step policy with `robbins_monro_step`, so a constant step is rejected when
// the program is compiled. Optimizers used for training (sgd, momentum, adam) accept any policy.
//
// Policies whose parameters decide the conditions (the exponent of a power law) validate them
// in the constructor, so the compile-time trait is a promise the object keeps.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <numbers>
#include <string>
#include <type_traits>
#include <utility>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"

namespace diffuse::sa {

// Anything that maps k >= 1 to a gain and says, as a constant expression, whether the gains
// satisfy the Robbins-Monro conditions.
template <class S>
concept step_size = requires(const S& s, index k) {
    { s(k) } -> std::convertible_to<double>;
    typename std::bool_constant<S::robbins_monro>;
};

template <class S>
concept robbins_monro_step = step_size<S> && S::robbins_monro;

// A difference interval c_k for finite-difference gradient estimates (Kiefer-Wolfowitz, SPSA);
// `vanishing` promises c_k -> 0, which those methods need for their bias to vanish.
template <class C>
concept difference_interval = requires(const C& c, index k) {
    { c(k) } -> std::convertible_to<double>;
    typename std::bool_constant<C::vanishing>;
};

template <class C>
concept vanishing_interval = difference_interval<C> && C::vanishing;

// a_k = a. Sum a_k^2 diverges: the iterate keeps fluctuating with variance O(a) (useful for
// tracking and for training, not a Robbins-Monro gain).
template <Real T>
class constant_step {
public:
    static constexpr bool robbins_monro = false;
    explicit constant_step(T a) : a_(a) { require_positive("constant_step a", a); }
    T operator()(index /*k*/) const { return a_; }
    static constexpr T decay_exponent() { return T(0); }

private:
    T a_;
};

// a_k = a / k: the classic Robbins-Monro gain (a = 1 turns RM into the running mean).
template <Real T>
class harmonic_step {
public:
    static constexpr bool robbins_monro = true;
    explicit harmonic_step(T a = T(1)) : a_(a) { require_positive("harmonic_step a", a); }
    T operator()(index k) const { return a_ / static_cast<T>(k); }
    static constexpr T decay_exponent() { return T(1); }

private:
    T a_;
};

// a_k = a / (k + A)^alpha (Spall 1998, "Implementation of the simultaneous perturbation
// algorithm", eq. for a_k with k counted from 1). Robbins-Monro needs alpha in (1/2, 1];
// Spall's practical choice is alpha = 0.602, A about 10% of the planned iterations.
template <Real T>
class spall_step {
public:
    static constexpr bool robbins_monro = true;
    spall_step(T a, T stability, T alpha) : a_(a), stability_(stability), alpha_(alpha) {
        require_positive("spall_step a", a);
        require(stability >= T(0) && std::isfinite(stability), "spall_step A (stability constant)", stability,
                "a finite number >= 0");
        require(alpha > T(0.5) && alpha <= T(1), "spall_step alpha", alpha,
                "(0.5, 1] (the Robbins-Monro conditions: sum a_k = inf, sum a_k^2 < inf)");
    }
    T operator()(index k) const { return a_ / std::pow(static_cast<T>(k) + stability_, alpha_); }
    T decay_exponent() const { return alpha_; }

private:
    T a_, stability_, alpha_;
};

// a_k = min(c / k, upper): the 1/k gain with its first, largest steps capped, which keeps a
// large c (needed for the 1/k rate when the slope of g is small) from throwing the first
// iterates far away. Capping finitely many terms does not change either series.
template <Real T>
class clamped_harmonic_step {
public:
    static constexpr bool robbins_monro = true;
    clamped_harmonic_step(T c, T upper) : c_(c), upper_(upper) {
        require_positive("clamped_harmonic_step c", c);
        require_positive("clamped_harmonic_step upper", upper);
    }
    T operator()(index k) const { return std::min(c_ / static_cast<T>(k), upper_); }
    static constexpr T decay_exponent() { return T(1); }

private:
    T c_, upper_;
};

// Linear warm-up, then cosine decay to a floor: the learning-rate schedule of diffusion
// training scripts. With s = k - 1 the number of steps already taken (PyTorch's scheduler
// counter), peak a and floor f:
//     a_k = a s / W                                           for s < W (warm-up),
//     a_k = f + (a - f) (1 + cos(pi (s - W) / (N - W))) / 2     for W <= s <= N,
//     a_k = f                                                 for s > N.
// This is diffusers' get_cosine_schedule_with_warmup (num_cycles = 0.5) times a when f = 0,
// and torch.optim.lr_scheduler.CosineAnnealingLR(T_max = N, eta_min = f) when W = 0 (cosine
// annealing: Loshchilov & Hutter 2017, eq. 5, without restarts; warm-up: Goyal et al. 2017).
// Past N both of those rise again; here the gain stays at the floor. The first gain of a
// warm-up is 0, as in diffusers. Not a Robbins-Monro gain: sum a_k is finite (f = 0) or
// sum a_k^2 is not (f > 0).
template <Real T>
class warmup_cosine_step {
public:
    static constexpr bool robbins_monro = false;
    warmup_cosine_step(T peak, index warmup, index total, T floor = T(0))
        : peak_(peak), floor_(floor), warmup_(warmup), total_(total) {
        require_positive("warmup_cosine_step peak", peak);
        require(floor >= T(0) && floor <= peak, "warmup_cosine_step floor", floor, "[0, peak]");
        require(total >= 1, "warmup_cosine_step total", total, "an integer >= 1");
        require(warmup >= 0 && warmup < total, "warmup_cosine_step warmup", warmup,
                "an integer in [0, total - 1] = [0, " + std::to_string(total - 1) + "]");
    }
    T operator()(index k) const {
        const index s = k - 1;
        if (s < warmup_) return peak_ * static_cast<T>(s) / static_cast<T>(warmup_);
        if (s >= total_) return floor_;
        const double progress = static_cast<double>(s - warmup_) / static_cast<double>(total_ - warmup_);
        const double cosine = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
        return floor_ + (peak_ - floor_) * static_cast<T>(cosine);
    }

private:
    T peak_, floor_;
    index warmup_, total_;
};

// A user-defined gain: any callable k -> a_k, with the caller's statement about the
// Robbins-Monro conditions (which cannot be proved from a callable).
template <class F, bool RobbinsMonro>
class custom_step {
public:
    static constexpr bool robbins_monro = RobbinsMonro;
    explicit custom_step(F f) : f_(std::move(f)) {}
    auto operator()(index k) const { return f_(k); }

private:
    F f_;
};

// make_step<true>([](index k) { return 2.0 / (k + 5); })
template <bool RobbinsMonro, class F>
custom_step<F, RobbinsMonro> make_step(F f) {
    return custom_step<F, RobbinsMonro>(std::move(f));
}

// c_k = c / k^gamma, gamma > 0 (Spall's c_k = c/(k+1)^0.101 with k counted from 0).
template <Real T>
class power_interval {
public:
    static constexpr bool vanishing = true;
    power_interval(T c, T gamma) : c_(c), gamma_(gamma) {
        require_positive("power_interval c", c);
        require(gamma > T(0) && gamma < T(0.5), "power_interval gamma", gamma,
                "(0, 0.5) (c_k -> 0 while sum (a_k / c_k)^2 can stay finite)");
    }
    T operator()(index k) const { return c_ / std::pow(static_cast<T>(k), gamma_); }
    T decay_exponent() const { return gamma_; }

private:
    T c_, gamma_;
};

// c_k = c: finite differences with a fixed interval keep an O(c^2) bias; not vanishing.
template <Real T>
class constant_interval {
public:
    static constexpr bool vanishing = false;
    explicit constant_interval(T c) : c_(c) { require_positive("constant_interval c", c); }
    T operator()(index /*k*/) const { return c_; }

private:
    T c_;
};

namespace detail {

template <class P>
concept has_decay_exponent = requires(const P& p) {
    { p.decay_exponent() } -> std::convertible_to<double>;
};

// Kiefer-Wolfowitz / SPSA also need sum (a_k / c_k)^2 < inf (Kiefer & Wolfowitz 1952; Spall
// 1992, condition A1). For power laws a_k ~ k^-alpha, c_k ~ k^-gamma that is 2(alpha - gamma) > 1;
// it is checked when both policies expose their exponents, which is all the built-in ones.
template <class Step, class Interval>
void require_gain_ratio_summable(const Step& step, const Interval& interval) {
    if constexpr (has_decay_exponent<Step> && has_decay_exponent<Interval>) {
        const double alpha = static_cast<double>(step.decay_exponent());
        const double gamma = static_cast<double>(interval.decay_exponent());
        require(2.0 * (alpha - gamma) > 1.0, "difference interval exponent gamma", gamma,
                "gamma < alpha - 1/2 = " + std::to_string(alpha - 0.5) +
                    " so that sum (a_k / c_k)^2 < inf (step exponent alpha = " + std::to_string(alpha) + ")");
    }
}

}  // namespace detail

}  // namespace diffuse::sa
