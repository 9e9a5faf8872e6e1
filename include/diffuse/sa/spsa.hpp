// diffuse/sa/spsa.hpp: simultaneous perturbation stochastic approximation.
//
// Perturbs every coordinate at once along a random Delta with independent +-1 entries:
//     g_i = (y(w + c_k Delta) - y(w - c_k Delta)) / (2 c_k Delta_i),   w_{k+1} = w_k - a_k g
// (Spall 1992, eq. 2.2; Spall 1998 for the gains a/(k + A)^0.602, c/k^0.101). Two measurements
// per iteration whatever the dimension. The perturbation must have bounded inverse moments
// E|Delta_i|^-2 (Spall 1992, condition A4), which excludes uniform and normal perturbations;
// the Rademacher (symmetric Bernoulli +-1) distribution is the standard, optimal choice.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <type_traits>

#include "diffuse/core/config.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/sa/gradient_free.hpp"
#include "diffuse/sa/step_size.hpp"

namespace diffuse::sa {

// A perturbation distribution for SPSA: fills Delta from a random bit generator and states
// whether its inverse moments are bounded.
template <class P>
concept spsa_perturbation = requires {
    typename std::bool_constant<P::bounded_inverse_moments>;
}
&&P::bounded_inverse_moments;

// Independent +-1 entries with probability 1/2 each, one random bit per entry.
struct rademacher {
    static constexpr bool bounded_inverse_moments = true;

    template <Real T, std::uniform_random_bit_generator G>
    void operator()(view<T> delta, G& rng) const {
        static_assert(G::min() == 0 && G::max() >= 0xFFFFFFFFu,
                      "rademacher needs a generator with at least 32 uniform bits per call");
        constexpr int bits_per_word = 32;
        for (index i = 0; i < delta.size(); i += bits_per_word) {
            const auto word = static_cast<std::uint32_t>(rng());
            const index end = std::min<index>(delta.size(), i + bits_per_word);
            for (index j = i; j < end; ++j) delta[j] = ((word >> (j - i)) & 1u) ? T(1) : T(-1);
        }
    }
};

template <Real T, robbins_monro_step Step, vanishing_interval Interval, spsa_perturbation Perturbation = rademacher>
class spsa : public detail::gradient_free_descent<T, Step, Interval> {
    using base = detail::gradient_free_descent<T, Step, Interval>;

public:
    spsa(Step step, Interval interval, index dimension, Perturbation perturbation = {})
        : base(std::move(step), std::move(interval), dimension), perturbation_(perturbation), delta_(dimension) {}

    // The estimate for a given perturbation Delta (entries nonzero) and interval c, into gradient().
    template <class Measure>
    void estimate_gradient(const_view<T> w, Measure&& measure, T c, const_view<T> delta) {
        require_size("w.size()", w.size(), this->dimension());
        require_size("delta.size()", delta.size(), this->dimension());
        require_positive("c", c);
        require((delta != T(0)).all(), "delta", "a vector with a zero entry", "nonzero entries (it is inverted)");
        const T difference =
            this->central_difference(measure, [&](view<T> probe, T sign) { probe = w + (sign * c) * delta; });
        this->gradient_ = (difference / (T(2) * c)) * delta.inverse();
    }

    template <class W, class Measure, class G>
    void step(W&& iterate, Measure&& measure, G& rng) {
        auto w = flat(iterate);
        auto delta = flat(delta_);
        perturbation_(delta, rng);
        estimate_gradient(const_view<T>(w.data(), w.size()), measure, this->interval(this->iteration()),
                          const_view<T>(delta.data(), delta.size()));
        this->descend(w);
    }

    // The perturbation of the last iteration.
    const buffer<T>& perturbation() const { return delta_; }

private:
    Perturbation perturbation_;
    buffer<T> delta_;
};

}  // namespace diffuse::sa
