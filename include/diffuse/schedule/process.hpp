// diffuse/schedule/process.hpp: continuous-time noise processes
//   x_t = alpha(t) x0 + sigma(t) eps,   eps ~ N(0, I),   t in [0, T],
// the marginals of the linear forward SDE dx = f(t) x dt + g(t) dW with
//   f = d log alpha / dt,   g^2 = d sigma^2 / dt - 2 f sigma^2          (Song et al. 2021, eqs. 29, 33;
// Kingma et al. 2021, eq. 17). One class covers the processes users meet:
//   vp      linear beta(t) = beta_min + t (beta_max - beta_min), alpha = exp(-t^2 (beta_max - beta_min)/4
//           - t beta_min/2), sigma = sqrt(1 - alpha^2)                 (Song et al. 2021, eq. 33; score_sde VPSDE)
//   sub_vp  the same alpha, sigma = 1 - alpha^2, g^2 = beta(t) (1 - alpha^4)  (eq. 29; score_sde subVPSDE)
//   ve      alpha = 1, sigma = sigma_min (sigma_max / sigma_min)^t      (eq. 31; score_sde VESDE)
//   edm     alpha = 1, sigma = t                                        (Karras et al. 2022, Table 1)
//   cosine  alpha = cos(phi(t)) / cos(phi(0)), phi = (t + s)/(1 + s) pi/2, sigma = sqrt(1 - alpha^2)
//           (Nichol & Dhariwal 2021, eq. 17; diffusers' squaredcos_cap_v2 in continuous time), ending
//           at DPM-Solver's T = 0.9946 (alpha(1) = 0, where f and g diverge)
//   flow    alpha = 1 - t, sigma = t (rectified flow; diffusers' FlowMatch convention, noise at t = 1)
// plus the one map from a time to what the network is told and the level it sees
// (noise_level: sigma/alpha, input scale, model time), used by every module that converts.
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
#include "diffuse/schedule/flow.hpp"
#include "diffuse/schedule/sigmas.hpp"

namespace diffuse::schedule {

enum class process_kind { vp, sub_vp, ve, edm, cosine, flow };

// What the network is told at time t: model_time = scale * x + offset, with x the time t itself,
// the level's sigma (sigma(t)/alpha(t), which is sigma(t) for VE and EDM), or its natural log.
enum class model_time_of { time, sigma, log_sigma };

struct model_time_rule {
    model_time_of of = model_time_of::time;
    double scale = 1.0;
    double offset = 0.0;

    void validate() const {
        require(std::isfinite(scale) && scale != 0.0, "model_time_rule.scale", scale, "a finite number != 0");
        require_finite("model_time_rule.offset", offset);
    }
};

// The conventions of the networks each process was published with.
namespace model_times {
// score_sde's VP and sub-VP networks (DDPM++, NCSN++ continuous and DDPM-trained): t * 999.
inline constexpr model_time_rule score_sde_vp{model_time_of::time, 999.0, 0.0};
// score_sde's continuous VE networks (NCSN++): the marginal standard deviation sigma(t).
inline constexpr model_time_rule score_sde_ve{model_time_of::sigma, 1.0, 0.0};
// EDM's preconditioned network F: c_noise = ln(sigma) / 4 (Karras et al. 2022, Table 1).
inline constexpr model_time_rule edm_c_noise{model_time_of::log_sigma, 0.25, 0.0};
// A DDPM-trained network with N training steps whose alphas_cumprod[k] is alpha((k + 1)/N)^2
// (diffusers' squaredcos_cap_v2): the integer timestep k = N t - 1.
inline constexpr model_time_rule discrete_timestep(double num_train_timesteps) {
    return {model_time_of::time, num_train_timesteps, -1.0};
}
// diffusers' FlowMatch networks: s * num_train_timesteps.
inline constexpr model_time_rule flow_match(double num_train_timesteps = 1000.0) {
    return {model_time_of::time, num_train_timesteps, 0.0};
}
// k-diffusion's VP-SDE denoiser (and schedule::vp_continuous_grid): t itself.
inline constexpr model_time_rule continuous_time{model_time_of::time, 1.0, 0.0};
}  // namespace model_times

template <Real T>
class process {
public:
    // score_sde's VPSDE defaults (beta_min 0.1, beta_max 20, T = 1).
    static process vp(double beta_min = 0.1, double beta_max = 20.0, model_time_rule rule = model_times::score_sde_vp) {
        check_betas(beta_min, beta_max);
        return process(process_kind::vp, beta_min, beta_max, 1.0, rule);
    }
    static process sub_vp(double beta_min = 0.1, double beta_max = 20.0,
                          model_time_rule rule = model_times::score_sde_vp) {
        check_betas(beta_min, beta_max);
        return process(process_kind::sub_vp, beta_min, beta_max, 1.0, rule);
    }
    // score_sde's VESDE defaults (CIFAR-10: sigma_min 0.01, sigma_max 50).
    static process ve(double sigma_min = 0.01, double sigma_max = 50.0,
                      model_time_rule rule = model_times::score_sde_ve) {
        check_sigmas(sigma_min, sigma_max);
        return process(process_kind::ve, sigma_min, sigma_max, 1.0, rule);
    }
    // Karras et al. 2022: t = sigma in [0, sigma_max]; sigma_min is where sampling stops.
    // The network is EDM's preconditioned F, whose input scale is c_in = 1/sqrt(sigma^2 + sigma_data^2).
    static process edm(double sigma_min = 0.002, double sigma_max = 80.0, double sigma_data = 0.5,
                       model_time_rule rule = model_times::edm_c_noise) {
        check_sigmas(sigma_min, sigma_max);
        require_positive("sigma_data", sigma_data);
        process p(process_kind::edm, sigma_min, sigma_max, sigma_max, rule);
        p.sigma_data_ = sigma_data;
        return p;
    }
    // Nichol & Dhariwal's offset s = 0.008. alpha reaches 0 at t = 1, where f and g diverge; the process
    // ends at DPM-Solver's T = 0.9946 (NoiseScheduleVP: "T = 1 will have numerical issues").
    static process cosine(double s = 0.008, double t_end = 0.9946,
                          model_time_rule rule = model_times::discrete_timestep(1000.0)) {
        require(std::isfinite(s) && s > 0.0 && s < 1.0, "s", s, "in (0, 1)");
        require(std::isfinite(t_end) && t_end > 0.0 && t_end < 1.0, "t_end", t_end, "in (0, 1) (alpha(1) = 0)");
        return process(process_kind::cosine, s, t_end, t_end, rule);
    }
    static process flow(model_time_rule rule = model_times::flow_match()) {
        return process(process_kind::flow, 0.0, 0.0, 1.0, rule);
    }

    // The same process telling its network another model time.
    [[nodiscard]] process with_model_time(model_time_rule rule) const {
        rule.validate();
        process p = *this;
        p.rule_ = rule;
        return p;
    }

    [[nodiscard]] process_kind kind() const { return kind_; }
    [[nodiscard]] T t_max() const { return static_cast<T>(end_); }  // T: 1, sigma_max (EDM) or the cosine end
    [[nodiscard]] const model_time_rule& model_time_convention() const { return rule_; }
    // The parameters; NaN for a process that has no such parameter.
    [[nodiscard]] double beta_min() const { return vp_family() ? a_ : NAN; }
    [[nodiscard]] double beta_max() const { return vp_family() ? b_ : NAN; }
    [[nodiscard]] double sigma_min() const { return sigma_family() ? a_ : NAN; }
    [[nodiscard]] double sigma_max() const { return sigma_family() ? b_ : NAN; }
    [[nodiscard]] double sigma_data() const { return kind_ == process_kind::edm ? sigma_data_ : NAN; }
    [[nodiscard]] double cosine_s() const { return kind_ == process_kind::cosine ? a_ : NAN; }

    // ---- the marginal x_t = alpha x0 + sigma eps ---------------------------------------------
    [[nodiscard]] T alpha(T t) const {
        check_time(t);
        switch (kind_) {
            case process_kind::vp:
            case process_kind::sub_vp:
                return std::exp(log_mean(t));
            case process_kind::ve:
            case process_kind::edm:
                return T(1);
            case process_kind::cosine:
                return cos_phase(t) / cos_phase0();
            case process_kind::flow:
                return T(1) - t;
        }
        return T(0);
    }

    [[nodiscard]] T sigma(T t) const {
        check_time(t);
        switch (kind_) {
            case process_kind::vp:
                return std::sqrt(-std::expm1(T(2) * log_mean(t)));
            case process_kind::sub_vp:
                return -std::expm1(T(2) * log_mean(t));
            case process_kind::ve:
                return static_cast<T>(a_) * std::exp(t * log_ratio());
            case process_kind::edm:
            case process_kind::flow:
                return t;
            case process_kind::cosine: {
                // 1 - alpha^2 = sin(phi - phi0) sin(phi + phi0) / cos^2(phi0), phi - phi0 = t phi': no cancellation
                // near t = 0.
                return std::sqrt(std::sin(t * phase_rate()) * std::sin(phase(t) + phase0())) / cos_phase0();
            }
        }
        return T(0);
    }

    // d alpha / dt.
    [[nodiscard]] T alpha_derivative(T t) const {
        switch (kind_) {
            case process_kind::vp:
            case process_kind::sub_vp:
            case process_kind::cosine:
                return alpha(t) * drift(t);  // f = d log alpha / dt
            case process_kind::ve:
            case process_kind::edm:
                check_time(t);
                return T(0);
            case process_kind::flow:
                check_time(t);
                return T(-1);
        }
        return T(0);
    }

    // d sigma / dt (infinite at t = 0 where sigma ~ sqrt(t): VP and cosine).
    [[nodiscard]] T sigma_derivative(T t) const {
        switch (kind_) {
            case process_kind::vp:
            case process_kind::cosine: {
                const T a = alpha(t);  // sigma^2 = 1 - alpha^2
                return -a * alpha_derivative(t) / sigma(t);
            }
            case process_kind::sub_vp:
                return T(-2) * alpha(t) * alpha_derivative(t);
            case process_kind::ve:
                return sigma(t) * log_ratio();
            case process_kind::edm:
            case process_kind::flow:
                check_time(t);
                return T(1);
        }
        return T(0);
    }

    // ---- the forward SDE dx = f(t) x dt + g(t) dW ---------------------------------------------
    // f(t) (score_sde's sde() drift divided by x). -inf for the flow at t = 1.
    [[nodiscard]] T drift(T t) const {
        check_time(t);
        switch (kind_) {
            case process_kind::vp:
            case process_kind::sub_vp:
                return T(-0.5) * beta(t);
            case process_kind::ve:
            case process_kind::edm:
                return T(0);
            case process_kind::cosine:
                return -tan_phase(t) * phase_rate();
            case process_kind::flow:
                return T(-1) / (T(1) - t);
        }
        return T(0);
    }

    // g(t), written from each paper's own formula (not from the identity above, which the tests check).
    [[nodiscard]] T diffusion(T t) const {
        check_time(t);
        switch (kind_) {
            case process_kind::vp:
                return std::sqrt(beta(t));
            case process_kind::sub_vp:  // score_sde's discount 1 - exp(-2 beta_min t - (beta_max - beta_min) t^2)
                return std::sqrt(beta(t) * -std::expm1(T(4) * log_mean(t)));
            case process_kind::ve:
                return sigma(t) * std::sqrt(T(2) * log_ratio());
            case process_kind::edm:
                return std::sqrt(T(2) * t);
            case process_kind::cosine:  // g^2 = beta(t) = 2 tan(phi) phi'
                return std::sqrt(T(2) * tan_phase(t) * phase_rate());
            case process_kind::flow:
                return std::sqrt(T(2) * t / (T(1) - t));
        }
        return T(0);
    }

    // ---- signal-to-noise ratio -----------------------------------------------------------------
    // lambda(t) = log(alpha/sigma), half the log-SNR (DPM-Solver's lambda; noise_level::lambda()).
    [[nodiscard]] T lambda(T t) const {
        check_time(t);
        switch (kind_) {
            case process_kind::vp: {
                const T m = log_mean(t);
                return m - T(0.5) * std::log(-std::expm1(T(2) * m));
            }
            case process_kind::sub_vp: {
                const T m = log_mean(t);
                return m - std::log(-std::expm1(T(2) * m));
            }
            case process_kind::ve:
            case process_kind::edm:
                return -std::log(sigma(t));
            case process_kind::cosine:
                return std::log(alpha(t)) - std::log(sigma(t));
            case process_kind::flow:
                return std::log1p(-t) - std::log(t);
        }
        return T(0);
    }
    [[nodiscard]] T snr(T t) const { return std::exp(T(2) * lambda(t)); }  // alpha^2 / sigma^2
    [[nodiscard]] T log_snr(T t) const { return T(2) * lambda(t); }

    // The time of a lambda in [lambda(T), lambda(0)] (every process here has lambda decreasing in t),
    // give or take the rounding of the ends (so that e.g. a VE network told exactly sigma_max maps to T).
    [[nodiscard]] T time_at_lambda(T lambda_value) const {
        const T lo = lambda(t_max()), hi = lambda(T(0));
        require(lambda_value >= lo - end_slack(lo) && lambda_value <= hi + end_slack(hi), "lambda", lambda_value,
                "in [lambda(T), lambda(0)] = [" + std::to_string(static_cast<double>(lo)) + ", " +
                    std::to_string(static_cast<double>(hi)) + "]");
        const T l = lambda_value;
        T t = T(0);
        switch (kind_) {
            case process_kind::vp:
                // alpha^2 = 1/(1 + e^{-2 lambda}): -2 log alpha = softplus(-2 lambda).
                t = time_at_log_mean(T(-0.5) * softplus(T(-2) * l));
                break;
            case process_kind::sub_vp: {
                // alpha / (1 - alpha^2) = r = e^lambda: alpha - 1 = -(1 + 1/(2r + q)) / (1 + q), q = sqrt(1 + 4 r^2).
                const T r = std::exp(l), q = std::sqrt(T(1) + T(4) * r * r);
                const T alpha_minus_one = -(T(1) + T(1) / (T(2) * r + q)) / (T(1) + q);
                t = time_at_log_mean(std::log1p(alpha_minus_one));
                break;
            }
            case process_kind::ve:
            case process_kind::edm:
                t = time_at_sigma_unchecked(std::exp(-l));
                break;
            case process_kind::cosine:
                t = cosine_time(T(1) / std::sqrt(T(1) + std::exp(T(-2) * l)),
                                T(1) / std::sqrt(T(1) + std::exp(T(2) * l)));
                break;
            case process_kind::flow:
                t = T(1) / (T(1) + std::exp(l));
                break;
        }
        return std::clamp(t, T(0), t_max());
    }

    // The time of a marginal standard deviation sigma in [sigma(0), sigma(T)] (sigma increases in t),
    // give or take the rounding of the ends.
    [[nodiscard]] T time_at_sigma(T sigma_value) const {
        const T lo = sigma(T(0)), hi = sigma(t_max());
        require(sigma_value >= lo - end_slack(lo) && sigma_value <= hi + end_slack(hi), "sigma", sigma_value,
                "in [sigma(0), sigma(T)] = [" + std::to_string(static_cast<double>(lo)) + ", " +
                    std::to_string(static_cast<double>(hi)) + "]");
        return std::clamp(time_at_sigma_unchecked(sigma_value), T(0), t_max());
    }

    // ---- what the network sees -----------------------------------------------------------------
    [[nodiscard]] double model_time(T t) const {
        double x = 0.0;
        switch (rule_.of) {
            case model_time_of::time:
                check_time(t);
                x = static_cast<double>(t);
                break;
            case model_time_of::sigma:
                x = static_cast<double>(std::exp(-lambda(t)));
                break;
            case model_time_of::log_sigma:
                x = static_cast<double>(-lambda(t));
                break;
        }
        return rule_.scale * x + rule_.offset;
    }

    // The inverse of model_time: the one conversion from what a network is told back to t.
    [[nodiscard]] T time_at_model_time(double model_time_value) const {
        require_finite("model_time", model_time_value);
        const double x = (model_time_value - rule_.offset) / rule_.scale;
        switch (rule_.of) {
            case model_time_of::time:
                require_in_closed("t (from model_time)", x, 0.0, end_);
                return static_cast<T>(x);
            case model_time_of::sigma:
                require(x > 0.0, "sigma (from model_time)", x, "a number > 0");
                return time_at_lambda(static_cast<T>(-std::log(x)));
            case model_time_of::log_sigma:
                return time_at_lambda(static_cast<T>(-x));
        }
        return T(0);
    }

    // The level at time t in the k-diffusion form of sigmas.hpp: x_t / alpha = x0 + (sigma/alpha) eps,
    // the network fed input_scale * x_t / alpha (alpha itself, or EDM's c_in) and told model_time(t).
    [[nodiscard]] noise_level<T> level(T t) const {
        const double time = model_time(t);
        if (kind_ == process_kind::flow) return flow_level<T>(static_cast<double>(t), time);
        const T a = alpha(t), s = sigma(t) / a;
        return {s, input_scale(s, a), time};
    }
    [[nodiscard]] noise_level<T> level_at_model_time(double model_time_value) const {
        return level(time_at_model_time(model_time_value));
    }
    // The clean end of a sampling grid: sigma = 0, told model time 0 (as the grids of sigmas.hpp end).
    [[nodiscard]] noise_level<T> clean_level() const { return {T(0), input_scale(T(0), T(1)), 0.0}; }

    // ---- forward process and prior -------------------------------------------------------------
    // out = alpha(t) x0 + sigma(t) noise (score_sde's marginal_prob, sampled).
    void add_noise(const_view<T> x0, const_view<T> noise, T t, view<T> out) const {
        require_size("noise.size()", noise.size(), x0.size());
        require_size("out.size()", out.size(), x0.size());
        const T a = alpha(t), s = sigma(t);
        out = a * x0 + s * noise;
    }
    template <class X0, class N, class Out>
    void add_noise(const X0& x0, const N& noise, T t, Out&& out) const {
        add_noise(const_view<T>(flat(x0)), const_view<T>(flat(noise)), t, view<T>(flat(out)));
    }

    // The prior p_T the reverse process starts from: N(0, prior_std^2 I), with prior_std = 1 for the
    // VP family and the flow, sigma_max for VE and EDM (score_sde's prior_sampling).
    [[nodiscard]] T prior_std() const { return sigma_family() ? static_cast<T>(b_) : T(1); }

    template <class Noise>
    requires random::noise_source<Noise, T>
    void sample_prior(view<T> out, Noise& noise) const {
        noise.normal(out);
        out *= prior_std();
    }
    template <class Out, class Noise>
    requires random::noise_source<Noise, T>
    void sample_prior(Out&& out, Noise& noise) const { sample_prior(view<T>(flat(out)), noise); }

    // log p_T of points of `dim` values each (point-major; out gets one value per point), as
    // score_sde's prior_logp: -dim/2 log(2 pi s^2) - |z|^2 / (2 s^2). Summed in double.
    void prior_log_density(const_view<T> x, index dim, view<T> out) const {
        require(dim >= 1, "dim", dim, "an integer >= 1");
        if (x.size() % dim != 0) {  // the message is built only on failure: no allocation per call
            throw invalid("x.size()", x.size(), "a multiple of dim = " + std::to_string(dim));
        }
        require_size("out.size()", out.size(), x.size() / dim);
        const double s = static_cast<double>(prior_std()), variance = s * s;
        const double normaliser = -0.5 * static_cast<double>(dim) * std::log(2.0 * std::numbers::pi * variance);
        for (index i = 0; i < out.size(); ++i) {
            const double squared = x.segment(i * dim, dim).template cast<double>().square().sum();
            out[i] = static_cast<T>(normaliser - squared / (2.0 * variance));
        }
    }
    template <class X, class Out>
    void prior_log_density(const X& x, index dim, Out&& out) const {
        prior_log_density(const_view<T>(cflat(x)), dim, view<T>(flat(out)));
    }

private:
    process(process_kind kind, double a, double b, double end, model_time_rule rule)
        : kind_(kind), a_(a), b_(b), end_(static_cast<double>(static_cast<T>(end))), rule_(rule) {
        rule_.validate();
    }

    static void check_betas(double beta_min, double beta_max) {
        require(std::isfinite(beta_min) && beta_min >= 0.0, "beta_min", beta_min, "a finite number >= 0");
        require(std::isfinite(beta_max) && beta_max > beta_min, "beta_max", beta_max,
                "a finite number > beta_min = " + std::to_string(beta_min));
    }
    static void check_sigmas(double sigma_min, double sigma_max) {
        require(std::isfinite(sigma_max) && sigma_max > 0.0, "sigma_max", sigma_max, "a finite number > 0");
        require(sigma_min > 0.0 && sigma_min < sigma_max, "sigma_min", sigma_min, "in (0, sigma_max)");
    }

    // A few roundings of a finite end of a range (an infinite end needs none).
    static T end_slack(T end) {
        return std::isfinite(end) ? T(8) * std::numeric_limits<T>::epsilon() * (std::abs(end) + T(1)) : T(0);
    }

    [[nodiscard]] bool vp_family() const { return kind_ == process_kind::vp || kind_ == process_kind::sub_vp; }
    [[nodiscard]] bool sigma_family() const { return kind_ == process_kind::ve || kind_ == process_kind::edm; }

    void check_time(T t) const {
        if (!(t >= T(0) && static_cast<double>(t) <= end_)) {
            throw invalid("t", t, "in [0, T] = [0, " + std::to_string(end_) + "]");
        }
    }

    // VP family: beta(t) and log alpha = -t^2 (beta_max - beta_min)/4 - t beta_min/2.
    [[nodiscard]] T beta(T t) const { return static_cast<T>(a_) + t * static_cast<T>(b_ - a_); }
    [[nodiscard]] T log_mean(T t) const {
        return T(-0.25) * t * t * static_cast<T>(b_ - a_) - T(0.5) * t * static_cast<T>(a_);
    }
    // The t >= 0 with log_mean(t) = m <= 0: (beta_max - beta_min) t^2 / 2 + beta_min t = c = -2 m,
    // t = 2c / (beta_min + sqrt(beta_min^2 + 2 (beta_max - beta_min) c)) (no cancellation).
    [[nodiscard]] T time_at_log_mean(T m) const {
        const T c = T(-2) * m, b0 = static_cast<T>(a_), d = static_cast<T>(b_ - a_);
        if (!(c > T(0))) return T(0);  // alpha = 1 (also with beta_min = 0, where the formula is 0/0)
        return T(2) * c / (b0 + std::sqrt(b0 * b0 + T(2) * d * c));
    }
    static T softplus(T x) { return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

    // VE: log(sigma_max / sigma_min).
    [[nodiscard]] T log_ratio() const { return static_cast<T>(std::log(b_ / a_)); }

    // Cosine: phi(t) = (t + s)/(1 + s) pi/2.
    [[nodiscard]] T phase_rate() const { return static_cast<T>(std::numbers::pi / (2.0 * (1.0 + a_))); }
    [[nodiscard]] T phase(T t) const { return (t + static_cast<T>(a_)) * phase_rate(); }
    // cos(phi) and tan(phi), from pi/2 - phi = (1 - t) phi' once phi > pi/4 (1 - t is exact in T for
    // t >= 1/2), so both stay accurate as phi -> pi/2, where cos and tan of phi itself are ill-conditioned.
    [[nodiscard]] T complement(T t) const { return (T(1) - t) * phase_rate(); }
    [[nodiscard]] T cos_phase(T t) const { return t < T(0.5) ? std::cos(phase(t)) : std::sin(complement(t)); }
    [[nodiscard]] T tan_phase(T t) const { return t < T(0.5) ? std::tan(phase(t)) : T(1) / std::tan(complement(t)); }
    [[nodiscard]] T phase0() const { return static_cast<T>(a_ * std::numbers::pi / (2.0 * (1.0 + a_))); }
    [[nodiscard]] T cos_phase0() const { return static_cast<T>(std::cos(a_ * std::numbers::pi / (2.0 * (1.0 + a_)))); }
    // The time where (alpha, sigma) = (a, s) with a^2 + s^2 = 1: cos(phi) = a cos(phi0) and
    // sin(phi)^2 = sin(phi0)^2 + cos(phi0)^2 s^2, so phi = atan2 of the two (accurate at both ends).
    [[nodiscard]] T cosine_time(T a, T s) const {
        const T c0 = cos_phase0(), s0 = std::sin(phase0());
        const T phi = std::atan2(std::sqrt(s0 * s0 + c0 * c0 * s * s), c0 * a);
        return phi / phase_rate() - static_cast<T>(a_);
    }

    [[nodiscard]] T time_at_sigma_unchecked(T s) const {
        switch (kind_) {
            case process_kind::vp:  // alpha^2 = 1 - sigma^2
                return time_at_log_mean(T(0.5) * std::log1p(-s * s));
            case process_kind::sub_vp:  // alpha^2 = 1 - sigma
                return time_at_log_mean(T(0.5) * std::log1p(-s));
            case process_kind::ve:
                return std::log(s / static_cast<T>(a_)) / log_ratio();
            case process_kind::edm:
            case process_kind::flow:
                return s;
            case process_kind::cosine:
                return cosine_time(std::sqrt((T(1) - s) * (T(1) + s)), s);
        }
        return T(0);
    }

    // The scale of the network's input at level sigma (k-diffusion form): alpha, or EDM's c_in.
    [[nodiscard]] T input_scale(T level_sigma, T a) const {
        if (kind_ != process_kind::edm) return a;
        return T(1) / std::sqrt(level_sigma * level_sigma + static_cast<T>(sigma_data_ * sigma_data_));
    }

    process_kind kind_;
    double a_, b_;  // beta_min, beta_max (VP family); sigma_min, sigma_max (VE, EDM); s, T (cosine)
    double end_;    // T, as stored in the scalar type
    model_time_rule rule_;
    double sigma_data_ = 0.5;
};

}  // namespace diffuse::schedule
