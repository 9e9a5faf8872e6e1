// diffuse/sde/predictor_corrector.hpp: score_sde's predictor-corrector sampler (Song et al. 2021,
// Algorithms 1-3 and sampling.py) for any process, on the grid t_0 = T > t_1 > ... > t_N = eps
// (equal steps). At each t_i, `corrector_steps` corrector steps at t_i, then one predictor step to
// t_{i+1}. With a = alpha(t_i)/alpha(t_{i+1}) and G^2 = sigma(t_i)^2 - a^2 sigma(t_{i+1})^2 (the
// forward transition x_{t_i} = a x_{t_{i+1}} + G z over the step, exact for every process), s the
// score at t_i and z ~ N(0, I):
// predictors
//   euler_maruyama     x <- x - [f x - g^2 s] dt + g sqrt(dt) z,  dt = t_i - t_{i+1}   (Algorithm "EM")
//   reverse_diffusion  x <- x - [(a - 1) x - G^2 s] + G z                             (eq. 46)
//   ancestral          x <- (x + G^2 s) / a + std z, std = G for the VP family (VP, sub-VP, cosine) and
//                      sigma(t_{i+1}) G / sigma(t_i) for VE and EDM (score_sde's ancestral sampling, eq. 47;
//                      its VP branch is DDPM's sigma^2 = beta)
// correctors (per point of `dim` values)
//   langevin           eps = 2 a^2 (snr |z| / |s|)^2, x <- x + eps s + sqrt(2 eps) z   (Algorithm 4, 5),
//                      |z| and |s| per point, or (score_sde, the default) their means over the points
//   annealed_langevin  eps = 2 a^2 (snr sigma(t_i))^2, same update                     (sampling.py)
// score_sde's defaults: N = 1000, one corrector step, snr 0.16 for VE (and EDM), 0.01 otherwise, the
// last predictor's noise-free mean returned (`noise_removal`). Differences from score_sde, for
// generality: score_sde's grid is linspace(T, eps, N) with Euler-Maruyama's dt = 1/N and it
// discretizes VP with DDPM's discrete betas (here: the exact transition above, which differs by
// O(1/N^2)). With batch_norms (the default, as score_sde) a point's result depends on the batch;
// batch_norms = false makes each point independent of the others (unstable for 2-D points: a point
// near a mode has |s| ~ 0 and takes a huge step).
#pragma once

#include <cmath>
#include <string>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/random.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/schedule/time_grid.hpp"
#include "diffuse/sde/pf_ode_sampler.hpp"
#include "diffuse/sde/score.hpp"

namespace diffuse::sde {

enum class predictor { none, euler_maruyama, reverse_diffusion, ancestral };
enum class corrector { none, langevin, annealed_langevin };

template <Real T>
struct pc_options {
    predictor predict = predictor::reverse_diffusion;  // score_sde's configs (e.g. ve/ncsnpp_continuous)
    corrector correct = corrector::langevin;
    index steps = 1000;  // N
    index corrector_steps = 1;
    T snr = T(-1);        // < 0: 0.16 for VE and EDM, 0.01 otherwise
    T eps = T(-1);        // < 0: schedule::default_sampling_eps
    bool denoise = true;  // return the last predictor's mean (score_sde's noise_removal)
    // Langevin's |z| / |s| from the norms averaged over the batch's points, as score_sde (stable for
    // low-dimensional points, whose own norms fluctuate); false: each point's own norms.
    bool batch_norms = true;

    void validate() const {
        require(steps >= 1, "steps", steps, ">= 1");
        require(corrector_steps >= 0, "corrector_steps", corrector_steps, ">= 0");
        require(std::isfinite(snr), "snr", snr, "a finite number (< 0: the process's default)");
        require(std::isfinite(eps), "eps", eps, "a finite number (< 0: the process's default)");
    }
};

// score_sde's signal-to-noise ratio of the Langevin corrector for a process.
template <Real T>
T default_snr(const schedule::process<T>& p) {
    const bool ve = p.kind() == schedule::process_kind::ve || p.kind() == schedule::process_kind::edm;
    return ve ? T(0.16) : T(0.01);
}

template <Real T>
class pc_sampler {
public:
    // For n values in points of `dim` values (the corrector's norms are per point).
    pc_sampler(index n, index dim, pc_options<T> o = {}) : o_((o.validate(), o)), dim_(dim) {
        require(dim >= 1 && n % dim == 0, "dim", dim, "an integer >= 1 dividing n = " + std::to_string(n));
        score_.resize(n);
        noise_.resize(n);
    }

    [[nodiscard]] const pc_options<T>& options() const { return o_; }

    // x (prior noise at T, e.g. process.sample_prior) <- a sample at eps. Returns the score evaluations.
    template <score_function<T> Score, class State, class Noise>
    requires random::noise_source<Noise, T> index sample(const Score& score, State&& x_in, Noise& noise) {
        const view<T> x = flat(x_in);
        require_size("x.size()", x.size(), score_.size());
        const schedule::process<T>& p = score.process();
        if (o_.predict == predictor::ancestral) check_ancestral(p);
        const T t_end = p.t_max(), t_eps = data_end(p, o_.eps);
        const T snr = o_.snr < T(0) ? default_snr(p) : o_.snr;
        index evaluations = 0;
        for (index i = 0; i < o_.steps; ++i) {
            const T t = t_end + (t_eps - t_end) * static_cast<T>(i) / static_cast<T>(o_.steps);
            const T next =
                i + 1 == o_.steps ? t_eps : t_end + (t_eps - t_end) * static_cast<T>(i + 1) / static_cast<T>(o_.steps);
            const T a = p.alpha(t) / p.alpha(next);
            for (index k = 0; k < o_.corrector_steps && o_.correct != corrector::none; ++k) {
                score(t, cflat(x), score_view());
                ++evaluations;
                correct(p, t, a, snr, x, noise);
            }
            if (o_.predict == predictor::none) continue;
            score(t, cflat(x), score_view());
            ++evaluations;
            predict(p, t, next, a, x, noise, o_.denoise && i + 1 == o_.steps);
        }
        return evaluations;
    }

private:
    view<T> score_view() { return view<T>(score_.data(), score_.size()); }

    static void check_ancestral(const schedule::process<T>& p) {
        using schedule::process_kind;
        const process_kind k = p.kind();
        require(k != process_kind::flow, "predictor", "ancestral",
                "a VP-family (vp, sub_vp, cosine), VE or EDM process (score_sde defines it for VP and VE)");
    }

    template <class Noise>
    void predict(const schedule::process<T>& p, T t, T next, T a, view<T> x, Noise& noise, bool last) {
        const T s_t = p.sigma(t), s_next = p.sigma(next);
        const T G2 = std::max(T(0), s_t * s_t - a * a * s_next * s_next);
        T std_dev = T(0);
        switch (o_.predict) {
            case predictor::euler_maruyama: {
                const T dt = t - next, f = p.drift(t), g = p.diffusion(t);
                x -= (f * x - g * g * score_) * dt;
                std_dev = g * std::sqrt(dt);
                break;
            }
            case predictor::reverse_diffusion:
                x -= (a - T(1)) * x - G2 * score_;
                std_dev = std::sqrt(G2);
                break;
            case predictor::ancestral: {
                x = (x + G2 * score_) / a;
                const bool sigma_family =
                    p.kind() == schedule::process_kind::ve || p.kind() == schedule::process_kind::edm;
                std_dev = sigma_family ? s_next * std::sqrt(G2) / s_t : std::sqrt(G2);
                break;
            }
            case predictor::none:
                return;
        }
        if (last) return;  // the noise-free mean
        noise.normal(view<T>(noise_.data(), noise_.size()));
        x += std_dev * noise_;
    }

    template <class Noise>
    void correct(const schedule::process<T>& p, T t, T a, T snr, view<T> x, Noise& noise) {
        noise.normal(view<T>(noise_.data(), noise_.size()));
        const index points = x.size() / dim_;
        T batch_ratio = T(0);  // mean |z| / mean |s| over the points (score_sde's langevin_update_fn)
        if (o_.correct == corrector::langevin && o_.batch_norms) {
            T noise_norms = T(0), score_norms = T(0);
            for (index i = 0; i < points; ++i) {
                noise_norms += std::sqrt(noise_.segment(i * dim_, dim_).square().sum());
                score_norms += std::sqrt(score_.segment(i * dim_, dim_).square().sum());
            }
            batch_ratio = noise_norms / score_norms;
        }
        for (index i = 0; i < points; ++i) {
            auto s = score_.segment(i * dim_, dim_);
            auto z = noise_.segment(i * dim_, dim_);
            T step = T(0);
            if (o_.correct == corrector::langevin) {
                const T ratio = snr * (o_.batch_norms ? batch_ratio : std::sqrt(z.square().sum() / s.square().sum()));
                step = T(2) * a * a * ratio * ratio;
            } else {
                const T level = snr * p.sigma(t);
                step = T(2) * a * a * level * level;
            }
            x.segment(i * dim_, dim_) += step * s + std::sqrt(T(2) * step) * z;
        }
    }

    pc_options<T> o_;
    index dim_;
    buffer<T> score_, noise_;
};

}  // namespace diffuse::sde
