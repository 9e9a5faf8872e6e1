// diffuse/sde/reverse_sde.hpp: the reverse-time SDE and the probability-flow ODE of a process.
//
// A process's forward SDE dx = f(t) x dt + g(t) dW (schedule/process.hpp) has, for every
// noise scale lambda >= 0, a reverse-time process with the same marginals p_t
// (Song et al. 2021, eqs. 6 and 13; Zhang & Chen 2023, eq. 5):
//   dx = [f(t) x - (1 + lambda^2)/2 g(t)^2 grad log p_t(x)] dt + lambda g(t) dW_bar,   dt < 0.
// lambda = 1 is Anderson's reverse SDE  dx = [f x - g^2 score] dt + g dW_bar,
// lambda = 0 the probability-flow ODE   dx = [f x - g^2 score / 2] dt.
// One class holds both: drift(t, x, out) and diffusion(t) (its amplitude, the same for every
// element); operator() is the drift, so a reverse_sde is an ode::system and the ODE integrators run
// the probability flow directly; as_diagonal_sde(r) is the same process as an ode::diagonal_sde, so the
// generic SDE steppers (ode/sde_*.hpp, ode::integrate_sde on a decreasing grid) integrate the reverse
// SDE. The drift's divergence is f(t) n - (1 + lambda^2)/2 g^2 div(score).
#pragma once

#include <cmath>
#include <utility>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/ode/sde_problem.hpp"
#include "diffuse/sde/score.hpp"

namespace diffuse::sde {

template <Real T, score_function<T> Score>
class reverse_sde {
public:
    // noise = lambda above: 1 for the reverse SDE, 0 for the probability flow.
    explicit reverse_sde(Score score, T noise = T(1)) : score_(std::move(score)), noise_(noise) {
        require(std::isfinite(noise) && noise >= T(0), "noise", noise, "a finite number >= 0 (1: reverse SDE, 0: ODE)");
    }

    [[nodiscard]] const Score& score() const { return score_; }
    [[nodiscard]] const schedule::process<T>& process() const { return score_.process(); }
    [[nodiscard]] T noise() const { return noise_; }

    // The weight of g^2 score in the drift: (1 + lambda^2) / 2.
    [[nodiscard]] T score_weight() const { return (T(1) + noise_ * noise_) / T(2); }

    // out <- f(t) x - (1 + lambda^2)/2 g(t)^2 score(t, x). out may not alias x.
    void drift(T t, const_view<T> x, view<T> out) const {
        score_(t, x, out);
        const T f = process().drift(t), g = process().diffusion(t);
        out = f * x - score_weight() * g * g * out;
    }
    void operator()(T t, const_view<T> x, view<T> out) const { drift(t, x, out); }

    // lambda g(t): the amplitude of dW_bar.
    [[nodiscard]] T diffusion(T t) const { return noise_ * process().diffusion(t); }

    // The drift's divergence for a point of n elements whose score has divergence score_divergence.
    [[nodiscard]] T drift_divergence(T t, index n, T score_divergence) const {
        const T g = process().diffusion(t);
        return process().drift(t) * static_cast<T>(n) - score_weight() * g * g * score_divergence;
    }

private:
    Score score_;
    T noise_;
};

// The reverse process as a problem of the generic SDE steppers (additive noise: the amplitude does not
// depend on x). Refers to r, which must outlive it.
template <Real T, class Score>
auto as_diagonal_sde(const reverse_sde<T, Score>& r) {
    return ode::diagonal_sde{[&r](T t, const_view<T> x, view<T> out) { r.drift(t, x, out); },
                             [&r](T t, const_view<T>, view<T> out) { out.setConstant(r.diffusion(t)); }};
}

// The probability-flow ODE dx = [f x - g^2 score / 2] dt (Song et al. 2021, eq. 13).
template <Real T, score_function<T> Score>
reverse_sde<T, Score> probability_flow(Score score) {
    return reverse_sde<T, Score>(std::move(score), T(0));
}

}  // namespace diffuse::sde
