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

#include <algorithm>
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

// One predictor step as a linear form: x <- keep x + weight s, then + std_dev z unless it is the last.
template <Real T>
struct predictor_step {
    T keep = T(1), weight = T(0), std_dev = T(0);
};

// The reverse-diffusion predictor (eq. 46) from level sigma_from to sigma_to with a = alpha_from /
// alpha_to: x <- x - [(a - 1) x - G^2 s] + G z, G^2 = sigma_from^2 - a^2 sigma_to^2.
template <Real T>
predictor_step<T> reverse_diffusion_step(T a, T sigma_from, T sigma_to) {
    const T G2 = std::max(T(0), sigma_from * sigma_from - a * a * sigma_to * sigma_to);
    return {T(2) - a, G2, std::sqrt(G2)};
}

// x <- keep x + weight s (+ std_dev z when z is given): the predictor's update.
template <Real T>
void apply_predictor(const predictor_step<T>& p, view<T> x, const_view<T> score, const_view<T> noise) {
    if (noise.size() == 0) {
        x = p.keep * x + p.weight * score;
    } else {
        x = p.keep * x + p.weight * score + p.std_dev * noise;
    }
}

// The Langevin corrector's |z| / |s| for a batch of points of `dim` values: the ratio of the norms
// averaged over the points (score_sde's langevin_update_fn; diffusers' ScoreSdeVeScheduler.step_correct).
// A zero score (every point at a mode) would make the step infinite and is refused.
template <Real T>
T langevin_norm_ratio(const_view<T> noise, const_view<T> score, index dim) {
    T noise_norms = T(0), score_norms = T(0);
    for (index i = 0; i < score.size() / dim; ++i) {
        noise_norms += std::sqrt(noise.segment(i * dim, dim).square().sum());
        score_norms += std::sqrt(score.segment(i * dim, dim).square().sum());
    }
    require(score_norms > T(0), "score norm", score_norms,
            "> 0 (the Langevin step divides by it: a zero score everywhere gives an infinite step)");
    return noise_norms / score_norms;
}

// Langevin step size e = 2 a^2 (snr ratio)^2 (Algorithm 5 with alpha_i = a^2).
template <Real T>
T langevin_step_size(T a, T snr, T ratio) {
    const T r = snr * ratio;
    return T(2) * a * a * r * r;
}

// x <- x + e s + sqrt(2 e) z: the corrector's move (Algorithms 4, 5).
template <Real T>
void langevin_move(view<T> x, const_view<T> score, const_view<T> noise, T e) {
    x += e * score + std::sqrt(T(2) * e) * noise;
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
        predictor_step<T> step = reverse_diffusion_step(a, s_t, s_next);
        switch (o_.predict) {
            case predictor::euler_maruyama: {
                const T dt = t - next, f = p.drift(t), g = p.diffusion(t);
                step = {T(1) - f * dt, g * g * dt, g * std::sqrt(dt)};
                break;
            }
            case predictor::reverse_diffusion:
                break;
            case predictor::ancestral: {
                const bool sigma_family =
                    p.kind() == schedule::process_kind::ve || p.kind() == schedule::process_kind::edm;
                step = {T(1) / a, step.weight / a, sigma_family ? s_next * step.std_dev / s_t : step.std_dev};
                break;
            }
            case predictor::none:
                return;
        }
        if (!last) noise.normal(view<T>(noise_.data(), noise_.size()));  // the noise-free mean at the end
        apply_predictor(step, x, cview(score_), last ? const_view<T>(nullptr, 0) : cview(noise_));
    }

    template <class Noise>
    void correct(const schedule::process<T>& p, T t, T a, T snr, view<T> x, Noise& noise) {
        noise.normal(view<T>(noise_.data(), noise_.size()));
        const bool langevin = o_.correct == corrector::langevin;
        const T batch_ratio =
            langevin && o_.batch_norms ? langevin_norm_ratio(cview(noise_), cview(score_), dim_) : T(0);
        for (index i = 0; i < x.size() / dim_; ++i) {
            const const_view<T> s(score_.data() + i * dim_, dim_), z(noise_.data() + i * dim_, dim_);
            const T step =
                langevin ? langevin_step_size(a, snr, o_.batch_norms ? batch_ratio : langevin_norm_ratio(z, s, dim_))
                         : langevin_step_size(a, snr, p.sigma(t));  // annealed: e = 2 a^2 (snr sigma)^2
            langevin_move(view<T>(x.data() + i * dim_, dim_), s, z, step);
        }
    }

    static const_view<T> cview(const buffer<T>& b) { return const_view<T>(b.data(), b.size()); }

    pc_options<T> o_;
    index dim_;
    buffer<T> score_, noise_;
};

}  // namespace diffuse::sde
