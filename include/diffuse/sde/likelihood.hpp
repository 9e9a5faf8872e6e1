// diffuse/sde/likelihood.hpp: exact log-likelihoods through the probability-flow ODE, by the
// instantaneous change of variables (Chen et al. 2018, Theorem 1; Song et al. 2021, eq. 39):
//   log p_eps(x) = log p_T(x_T) + int_eps^T div F(t, x_t) dt,   F = f x - g^2 score / 2,
// with x_t the PF-ODE's solution from x_eps = x. One ODE on the augmented state [x; delta] (n points
// of `dim` values, then one delta per point) is solved from eps to T; the prior term is
// process.prior_log_density. div F = f dim - g^2/2 div(score) per point, with div(score) either
//   exact: a callable score_divergence(t, x, out) filling one value per point (the Gaussian mixture's
//          closed form), or
//   Hutchinson-Skilling (Hutchinson 1990; Skilling 1989; Grathwohl et al. 2019): div F ~ z^T (dF/dx) z
//          with a probe z of i.i.d. Rademacher (+-1) or standard normal entries, drawn once per solve
//          (so the ODE stays smooth) and shared by every step. E[z^T J z] = tr J, so the log-density is
//          unbiased; its variance is smaller with Rademacher probes. The Jacobian-vector product is a
//          central finite difference J z ~ (F(x + h z) - F(x - h z)) / (2h) with
//          h = cbrt(machine epsilon) * max(1, max|x|) (error O(h^2) + O(epsilon/h), both about
//          epsilon^(2/3) relative: 4e-11 in double, 2e-5 in float): three drift evaluations per step.
// score_sde's likelihood.py uses RK45 with rtol = atol = 1e-5 from eps = 1e-5, the defaults here.
//
// bits_per_dim turns a log-density of data scaled from `bins` integer levels into an interval of width
// `width` into bits per dimension of the discrete data under uniform dequantization:
//   bpd = -log p(x) / (dim ln 2) + log2(bins / width)   (score_sde: offset 7 for 256 levels in [-1, 1],
// 8 for [0, 1]).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/random.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/ode/adaptive.hpp"
#include "diffuse/ode/butcher.hpp"
#include "diffuse/sde/pf_ode_sampler.hpp"
#include "diffuse/sde/reverse_sde.hpp"
#include "diffuse/sde/score.hpp"

namespace diffuse::sde {

enum class probe { rademacher, gaussian };

template <Real T>
struct likelihood_options {
    T rtol = T(1e-5);  // score_sde's likelihood.py
    T atol = T(1e-5);
    T eps = T(1e-5);  // schedule::score_sde_eps::likelihood
    index max_steps = 100000;
};

// The bits per dimension of a log-density (natural log) of `dim`-dimensional dequantized data.
template <Real T>
T bits_per_dim(T log_density, index dim, double bins = 256.0, double width = 2.0) {
    require(dim >= 1, "dim", dim, "an integer >= 1");
    require(std::isfinite(bins) && bins > 0.0, "bins", bins, "a finite number > 0");
    require(std::isfinite(width) && width > 0.0, "width", width, "a finite number > 0");
    const double bits = -static_cast<double>(log_density) / (static_cast<double>(dim) * std::numbers::ln2);
    return static_cast<T>(bits + std::log2(bins / width));
}

template <Real T, ode::embedded_tableau Tableau = ode::dormand_prince54>
class likelihood {
public:
    // For `points` points of `dim` values each.
    likelihood(index points, index dim, likelihood_options<T> o = {})
        : o_(o),
          points_(points),
          dim_(dim),
          solver_(points * dim + points, {.rtol = o.rtol, .atol = o.atol, .max_steps = o.max_steps}) {
        require(points >= 1, "points", points, "an integer >= 1");
        require(dim >= 1, "dim", dim, "an integer >= 1");
        require(std::isfinite(o.eps) && o.eps >= T(0), "eps", o.eps, "a finite number >= 0");
        const index n = points * dim;
        state_.resize(n + points);
        probe_.resize(n);
        shifted_.resize(n);
        plus_.resize(n);
        minus_.resize(n);
        divergence_.resize(points);
        prior_.resize(points);
    }

    [[nodiscard]] const likelihood_options<T>& options() const { return o_; }
    [[nodiscard]] const ode::statistics& stats() const { return solver_.stats(); }
    // The prior noise x_T of the last solve (points * dim values).
    [[nodiscard]] const_view<T> code() const { return const_view<T>(state_.data(), points_ * dim_); }
    // The last solve's int_eps^T div F dt, one per point: log p_eps(x) = log p_T(x_T) + this, where the
    // result used process.prior_log_density for log p_T (a caller who knows the true marginal at T adds
    // its own).
    [[nodiscard]] const_view<T> divergence_integral() const {
        return const_view<T>(state_.data() + points_ * dim_, points_);
    }

    // out (one per point) <- log p_eps(x) with the exact score divergence.
    template <score_function<T> Score, class Divergence, class X, class Out>
    ode::statistics log_density(const Score& score, const Divergence& score_divergence, const X& x, Out&& out) {
        const auto flow = probability_flow<T, const Score&>(score);
        auto augmented = [&](T t, const_view<T> y, view<T> dydt) {
            const index n = points_ * dim_;
            const const_view<T> xt(y.data(), n);
            flow.drift(t, xt, view<T>(dydt.data(), n));
            score_divergence(t, xt, view<T>(divergence_.data(), points_));
            for (index i = 0; i < points_; ++i) dydt[n + i] = flow.drift_divergence(t, dim_, divergence_[i]);
        };
        return solve(score.process(), augmented, cflat(x), flat(out));
    }

    // out <- the Hutchinson-Skilling estimate of log p_eps(x), one probe per point drawn from `noise`.
    template <score_function<T> Score, class Noise, class X, class Out>
    requires random::noise_source<Noise, T> ode::statistics log_density_hutchinson(const Score& score, probe kind,
                                                                                   Noise& noise, const X& x,
                                                                                   Out&& out) {
        noise.normal(view<T>(probe_.data(), probe_.size()));
        if (kind == probe::rademacher) probe_ = (probe_ >= T(0)).select(buffer<T>::Ones(probe_.size()), T(-1));
        const auto flow = probability_flow<T, const Score&>(score);
        auto augmented = [&](T t, const_view<T> y, view<T> dydt) {
            const index n = points_ * dim_;
            const const_view<T> xt(y.data(), n);
            flow.drift(t, xt, view<T>(dydt.data(), n));
            const T h = std::cbrt(std::numeric_limits<T>::epsilon()) * std::max(T(1), xt.abs().maxCoeff());
            shifted_ = xt + h * probe_;
            flow.drift(t, cflat(shifted_), view<T>(plus_.data(), n));
            shifted_ = xt - h * probe_;
            flow.drift(t, cflat(shifted_), view<T>(minus_.data(), n));
            for (index i = 0; i < points_; ++i) {
                const auto p = probe_.segment(i * dim_, dim_);
                dydt[n + i] = (p * (plus_.segment(i * dim_, dim_) - minus_.segment(i * dim_, dim_))).sum() / (T(2) * h);
            }
        };
        return solve(score.process(), augmented, cflat(x), flat(out));
    }

private:
    template <class System>
    ode::statistics solve(const schedule::process<T>& process, System& f, const_view<T> x, view<T> out) {
        const index n = points_ * dim_;
        require_size("x.size()", x.size(), n);
        require_size("out.size()", out.size(), points_);
        if (!(o_.eps < process.t_max())) {  // the message is built only on failure: a solve allocates nothing
            throw invalid("eps", o_.eps, "< T = " + std::to_string(process.t_max()));
        }
        state_.segment(0, n) = x;
        state_.segment(n, points_).setZero();
        const ode::statistics s = solver_.integrate(f, o_.eps, process.t_max(), state_);
        process.prior_log_density(code(), dim_, view<T>(prior_.data(), points_));
        out = prior_ + state_.segment(n, points_);
        return s;
    }

    likelihood_options<T> o_;
    index points_, dim_;
    ode::adaptive<T, Tableau> solver_;
    buffer<T> state_, probe_, shifted_, plus_, minus_, divergence_, prior_;
};

}  // namespace diffuse::sde
