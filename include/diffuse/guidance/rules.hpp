// diffuse/guidance/rules.hpp: how a guided prediction is made from a conditional and an
// unconditional one, with diffusers' guider classes' option names and defaults (snapshot 58eb52c0,
// src/diffusers/guiders/*.py):
//   classifier_free_options       ClassifierFreeGuidance (Ho & Salimans 2022), also the combination
//                                 of AutoGuidance (Karras et al. 2024: the "uncond" branch is a weaker
//                                 model) and of perturbed-attention / skip-layer / smoothed-energy
//                                 guidance (the second branch is the user's perturbed network)
//   zero_star_options             ClassifierFreeZeroStarGuidance (Fan et al. 2025, CFG-Zero*)
//   magnitude_aware_options       MagnitudeAwareGuidance (MAG, "mambo_guidance")
//   adaptive_projected_options    AdaptiveProjectedGuidance (Sadat et al. 2024, APG)
//   adaptive_projected_mix_options AdaptiveProjectedMixGuidance (CFG, then APG from a given step)
//   tangential_options            TangentialClassifierFreeGuidance (Kwon et al. 2025, TCFG)
//   cfg_pp_options                CFG++ (Chung et al. 2024; no diffusers class): needs the level the
//                                 step lands at (evaluation_context::target)
// Each rule works per sample on the prediction part of the outputs (a learned-variance output's
// variance part is the conditional one, as diffusers' pipelines keep it) and ends with the
// guidance rescale of Lin et al. 2024 (diffusers' rescale_noise_cfg) when guidance_rescale > 0.
// Reductions sum packets of T in blocks (shifted by the first element) into double; the element-wise writes
// are one fused pass.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <string>

#include "diffuse/core/error.hpp"
#include "diffuse/core/simd.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/sampler/evaluation_context.hpp"

namespace diffuse::guidance {

using sampler::evaluation_context;

// Where guidance is applied, shared by every rule (diffusers' BaseGuidance start/stop/enabled, and
// the guidance interval of Kynkaanniemi et al. 2024 on the level's sigma, x/alpha = x0 + sigma eps).
struct guidance_window {
    double start = 0.0;  // fraction of the steps before which guidance is off
    double stop = 1.0;   // fraction of the steps from which guidance is off
    bool enabled = true;
    double sigma_low = 0.0;  // guide only where sigma_low < sigma <= sigma_high
    double sigma_high = std::numeric_limits<double>::infinity();

    void validate() const {
        // diffusers' BaseGuidance.__init__ checks.
        require(start >= 0.0 && start < 1.0, "start", start, "in [0, 1)");
        require(stop >= start && stop <= 1.0, "stop", stop, "in [start, 1] with start = " + std::to_string(start));
        require(sigma_low >= 0.0 && std::isfinite(sigma_low), "sigma_low", sigma_low, "a finite number >= 0");
        require(sigma_high > sigma_low, "sigma_high", sigma_high,
                "a number > sigma_low = " + std::to_string(sigma_low) + " (+inf for no upper bound)");
    }

    // diffusers: skip_start_step = int(start * n) <= step < int(stop * n) = skip_stop_step (the whole
    // run when the step count is not known, as for the adaptive DPM-Solver).
    template <Real T>
    [[nodiscard]] bool covers(const evaluation_context<T>& c) const {
        if (!enabled) return false;
        if (c.num_steps > 0) {
            const auto n = static_cast<double>(c.num_steps);
            const auto first = static_cast<index>(start * n), end = static_cast<index>(stop * n);
            if (!(first <= c.step && c.step < end)) return false;
        }
        const auto sigma = static_cast<double>(c.level.sigma);
        return sigma > sigma_low && sigma <= sigma_high;
    }
};

namespace detail {

// math.isclose(a, b) with its default rel_tol = 1e-9, as diffusers tests a no-op scale.
inline bool is_close(double a, double b) {
    return std::abs(a - b) <= 1e-9 * std::max(std::abs(a), std::abs(b));
}

// The scale at which a rule's output equals the conditional prediction (so diffusers skips it).
inline bool is_noop_scale(double scale, bool original) {
    return is_close(scale, original ? 0.0 : 1.0);
}

inline void validate_scale(double guidance_scale, double guidance_rescale) {
    require_finite("guidance_scale", guidance_scale);
    require_in_closed("guidance_rescale", guidance_rescale, 0.0, 1.0);
}

// Sums over one sample, in double: raw (for the inner products the rules use) and of the inputs
// shifted by their first elements, c' = c - c[0] and u' = u - u[0] (for the variances, which do not
// depend on a shift and would cancel in the raw sums of a sample far from zero).
struct moments {
    double n = 0, sum_c = 0, sum_u = 0, cc = 0, uu = 0, cu = 0;
    double shifted_c = 0, shifted_u = 0, shifted_cc = 0, shifted_uu = 0, shifted_cu = 0;
};

// The five sums in one read of both inputs, in packets of T: each sum runs in two packet
// accumulators (even and odd packets, so consecutive fused multiply-adds do not wait on each other;
// the plain sums are multiply-adds by 1 too, which spreads the work over the FMA and the add units)
// for a block of reduction_block elements, whose lanes are then added into double lanes. A block
// thus sums reduction_block / (2 packet width) values per lane in T (16 for float on AVX-512, 32 on
// AVX2): a block's rounding error is about that many ulps of T, and the blocks add up in double.
// Each input is shifted by its first element, so the blocks sum nearly centred values; the raw sums
// are restored in double, the variances use the shifted ones. The head of n % reduction_block
// elements is summed in double. Measured (docs/benchmarks.md): the pass runs at about the speed of a
// plain read of both inputs; five Eigen reductions per block, the earlier form, took 1.6x that.
inline constexpr index reduction_block = 512;

// Packet types as template arguments (ei::ploadu<P>): their alignment attribute is ignored there, as
// core/simd.hpp says.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
template <Real T>
moments moments_of(const_view<T> c, const_view<T> u) {
    namespace ei = Eigen::internal;
    using P = simd::packet<T>;
    constexpr index width = ei::unpacket_traits<P>::size;
    static_assert(reduction_block % (2 * width) == 0);
    const index n = c.size();
    const T kc = n > 0 ? c[0] : T(0), ku = n > 0 ? u[0] : T(0);
    // Lane sums of c' = c - kc, u' = u - ku, c'^2, u'^2, c'u', in double.
    std::array<std::array<double, width>, 5> lanes{};
    const P one = ei::pset1<P>(T(1));
    const P shift_c = ei::pset1<P>(kc), shift_u = ei::pset1<P>(ku);
    const T* pc = c.data();
    const T* pu = u.data();
    index at = 0;
    for (; at + reduction_block <= n; at += reduction_block) {
        // Two sets of the five packet sums, for even and odd packets.
        P s0 = ei::pset1<P>(T(0)), s1 = s0, s2 = s0, s3 = s0, s4 = s0;
        P t0 = s0, t1 = s0, t2 = s0, t3 = s0, t4 = s0;
        for (index i = at; i < at + reduction_block; i += 2 * width) {
            const P x = ei::psub(ei::ploadu<P>(pc + i), shift_c), y = ei::psub(ei::ploadu<P>(pu + i), shift_u);
            const P v = ei::psub(ei::ploadu<P>(pc + i + width), shift_c);
            const P w = ei::psub(ei::ploadu<P>(pu + i + width), shift_u);
            s0 = ei::pmadd(x, one, s0);
            s1 = ei::pmadd(y, one, s1);
            s2 = ei::pmadd(x, x, s2);
            s3 = ei::pmadd(y, y, s3);
            s4 = ei::pmadd(x, y, s4);
            t0 = ei::pmadd(v, one, t0);
            t1 = ei::pmadd(w, one, t1);
            t2 = ei::pmadd(v, v, t2);
            t3 = ei::pmadd(w, w, t3);
            t4 = ei::pmadd(v, w, t4);
        }
        const P block_sums[5] = {ei::padd(s0, t0), ei::padd(s1, t1), ei::padd(s2, t2), ei::padd(s3, t3),
                                 ei::padd(s4, t4)};
        for (std::size_t k = 0; k < 5; ++k) {
            alignas(64) std::array<T, width> block{};
            ei::pstoreu(block.data(), block_sums[k]);
            for (index l = 0; l < width; ++l) lanes[k][l] += static_cast<double>(block[l]);
        }
    }
    std::array<double, 5> sums{};
    for (std::size_t k = 0; k < 5; ++k)
        for (const double v : lanes[k]) sums[k] += v;
    for (; at < n; ++at) {
        const double x = static_cast<double>(pc[at]) - kc, y = static_cast<double>(pu[at]) - ku;
        sums[0] += x;
        sums[1] += y;
        sums[2] += x * x;
        sums[3] += y * y;
        sums[4] += x * y;
    }
    const auto [a, b, aa, bb, ab] = sums;
    const double m = static_cast<double>(n), sc = kc, su = ku;
    return {m,
            a + m * sc,
            b + m * su,
            aa + 2 * sc * a + m * sc * sc,
            bb + 2 * su * b + m * su * su,
            ab + su * a + sc * b + m * sc * su,
            a,
            b,
            aa,
            bb,
            ab};
}
#pragma GCC diagnostic pop

// Unbiased variance of p c + q u (torch.std's default correction = 1), from the shifted sums: it
// equals the variance of p c' + q u', whose sums are about as large as the sample's spread (plus its
// first elements' distance from the mean), so little cancels.
inline double combined_variance(const moments& m, double p, double q) {
    const double mean = (p * m.shifted_c + q * m.shifted_u) / m.n;
    const double squares = p * p * m.shifted_cc + q * q * m.shifted_uu + 2 * p * q * m.shifted_cu;
    return std::max(0.0, (squares - m.n * mean * mean) / (m.n - 1));
}

template <Real T>
double variance_of(const_view<T> v) {
    return combined_variance(moments_of(v, v), 1.0, 0.0);
}

// rescale_noise_cfg's factor: pred_rescaled = pred (r std_cond / std_pred + 1 - r).
inline double rescale_factor(double rescale, double var_cond, double var_pred) {
    if (rescale == 0.0) return 1.0;
    return rescale * std::sqrt(var_cond) / std::sqrt(var_pred) + (1.0 - rescale);
}

}  // namespace detail

// What every rule's combine() sees for one sample: the prediction parts of the conditional and
// unconditional outputs (cond may be the same memory as out) and the sample's index.
template <Real T>
struct sample_pair {
    const_view<T> cond;
    const_view<T> uncond;
    view<T> out;
    index sample;
};

// What every rule shares: its options, validated once; no run memory unless it says otherwise; it
// guides inside its window unless its scale makes the result the conditional prediction.
template <class Options>
class rule_base {
public:
    using options_type = Options;
    explicit rule_base(Options o) : o_((o.validate(), o)) {}
    [[nodiscard]] const Options& options() const { return o_; }

    [[nodiscard]] index memory_slots() const { return 0; }
    template <Real T>
    [[nodiscard]] bool guides(const evaluation_context<T>& c) const {
        return o_.window.covers(c) && !detail::is_noop_scale(o_.guidance_scale, o_.use_original_formulation);
    }

protected:
    Options o_;
};

// ClassifierFreeGuidance: uncond + g (cond - uncond), or cond + g (cond - uncond) with
// use_original_formulation (Ho & Salimans 2022, eq. 6 with w = g). One fused pass, or a pass of
// sums then one fused pass with the rescale.
struct classifier_free_options {
    double guidance_scale = 7.5;
    double guidance_rescale = 0.0;
    bool use_original_formulation = false;
    guidance_window window{};

    void validate() const {
        detail::validate_scale(guidance_scale, guidance_rescale);
        window.validate();
    }
};

class classifier_free : public rule_base<classifier_free_options> {
public:
    using rule_base::rule_base;

    template <Real T>
    void combine(sample_pair<T> s, const evaluation_context<T>&, index) const {
        // pred = p cond + q uncond.
        const double g = o_.guidance_scale;
        const double p = o_.use_original_formulation ? 1.0 + g : g, q = o_.use_original_formulation ? -g : 1.0 - g;
        double factor = 1.0;
        if (o_.guidance_rescale > 0.0) {
            const auto m = detail::moments_of(s.cond, s.uncond);
            factor = detail::rescale_factor(o_.guidance_rescale, detail::combined_variance(m, 1.0, 0.0),
                                            detail::combined_variance(m, p, q));
        }
        s.out = T(factor * p) * s.cond + T(factor * q) * s.uncond;
    }
};

namespace detail {

// The rules that write their output first and rescale it after: std(cond) is taken before the
// write (cond may share memory with out).
template <Real T, class Write>
void write_then_rescale(sample_pair<T>& s, double rescale, Write write) {
    const double var_cond = rescale > 0.0 ? variance_of(s.cond) : 0.0;
    write();
    if (rescale > 0.0)
        s.out *= T(rescale_factor(rescale, var_cond, variance_of<T>(const_view<T>(s.out.data(), s.out.size()))));
}

}  // namespace detail

// ClassifierFreeZeroStarGuidance (CFG-Zero*): the unconditional prediction is scaled by the
// optimized s* = <cond, uncond> / (|uncond|^2 + 1e-8) per sample before CFG, and the first
// zero_init_steps steps output zero.
struct zero_star_options {
    double guidance_scale = 7.5;
    index zero_init_steps = 1;
    double guidance_rescale = 0.0;
    bool use_original_formulation = false;
    guidance_window window{};

    void validate() const {
        detail::validate_scale(guidance_scale, guidance_rescale);
        require(zero_init_steps >= 0, "zero_init_steps", zero_init_steps, "an integer >= 0");
        window.validate();
    }
};

class zero_star : public rule_base<zero_star_options> {
public:
    using rule_base::rule_base;

    // The zero-init steps: the output is zero without evaluating anything (diffusers computes both
    // branches and discards them; with guidance_rescale > 0 it then returns NaN from 0 * (std / 0)).
    template <Real T>
    [[nodiscard]] bool zeroes(const evaluation_context<T>& c) const {
        return o_.window.enabled && c.step < o_.zero_init_steps;
    }
    template <Real T>
    void combine(sample_pair<T> s, const evaluation_context<T>&, index) const {
        const auto m = detail::moments_of(s.cond, s.uncond);
        const double star = m.cu / (m.uu + 1e-8);  // cfg_zero_star_scale
        const double g = o_.guidance_scale;
        // pred = base + g (cond - star uncond), base = cond or star uncond.
        const double p = o_.use_original_formulation ? 1.0 + g : g;
        const double q = o_.use_original_formulation ? -g * star : (1.0 - g) * star;
        const double factor = detail::rescale_factor(o_.guidance_rescale, detail::combined_variance(m, 1.0, 0.0),
                                                     detail::combined_variance(m, p, q));
        s.out = T(factor * p) * s.cond + T(factor * q) * s.uncond;
    }
};

// MagnitudeAwareGuidance (diffusers' mambo_guidance): per sample, with r = |cond - uncond| / |uncond|,
// the scale becomes 1 + (g - 1) exp(-alpha r) (or g exp(-alpha r) in the original formulation).
struct magnitude_aware_options {
    double guidance_scale = 10.0;
    double alpha = 8.0;
    double guidance_rescale = 0.0;
    bool use_original_formulation = false;
    guidance_window window{};

    void validate() const {
        detail::validate_scale(guidance_scale, guidance_rescale);
        require_finite("alpha", alpha);
        window.validate();
    }
};

class magnitude_aware : public rule_base<magnitude_aware_options> {
public:
    using rule_base::rule_base;

    template <Real T>
    void combine(sample_pair<T> s, const evaluation_context<T>&, index) const {
        const auto m = detail::moments_of(s.cond, s.uncond);
        const double ratio = std::sqrt(std::max(0.0, m.cc - 2 * m.cu + m.uu)) / std::sqrt(m.uu);
        const double decay = std::exp(-o_.alpha * ratio), g = o_.guidance_scale;
        const double scale = o_.use_original_formulation ? g * decay : 1.0 + (g - 1.0) * decay;
        const double p = o_.use_original_formulation ? 1.0 + scale : scale;
        const double q = o_.use_original_formulation ? -scale : 1.0 - scale;
        const double factor = detail::rescale_factor(o_.guidance_rescale, detail::combined_variance(m, 1.0, 0.0),
                                                     detail::combined_variance(m, p, q));
        s.out = T(factor * p) * s.cond + T(factor * q) * s.uncond;
    }
};

namespace detail {

// The options APG and its mix share.
inline void validate_projection(const std::optional<double>& momentum, double norm_threshold, double eta) {
    if (momentum) require_finite("adaptive_projected_guidance_momentum", *momentum);
    require(norm_threshold >= 0.0 && std::isfinite(norm_threshold), "adaptive_projected_guidance_rescale",
            norm_threshold, "a finite number >= 0 (0: no norm threshold)");
    require_finite("eta", eta);
}

}  // namespace detail

// AdaptiveProjectedGuidance (Sadat et al. 2024, diffusers' normalized_guidance): d = cond - uncond,
// averaged with momentum (d_avg = momentum d_avg + d, from zero at the run's start) when
// adaptive_projected_guidance_momentum is set, clipped to norm adaptive_projected_guidance_rescale
// (when > 0), split into its part parallel to cond and the rest:
//   pred = base + g (d_orthogonal + eta d_parallel),   base = uncond (or cond, original formulation).
// Norms over each whole sample (diffusers' adaptive_projected_guidance_norm_dim = None). The
// momentum average lives in the run's memory, so it starts anew with every run.
struct adaptive_projected_options {
    double guidance_scale = 7.5;
    std::optional<double> adaptive_projected_guidance_momentum{};
    double adaptive_projected_guidance_rescale = 15.0;
    double eta = 1.0;
    double guidance_rescale = 0.0;
    bool use_original_formulation = false;
    guidance_window window{};

    void validate() const {
        detail::validate_scale(guidance_scale, guidance_rescale);
        detail::validate_projection(adaptive_projected_guidance_momentum, adaptive_projected_guidance_rescale, eta);
        window.validate();
    }
};

namespace detail {

// What normalized_guidance (diffusers' APG function) takes.
struct projection_settings {
    double guidance_scale, norm_threshold, eta, guidance_rescale;
    bool use_original_formulation;
};

// This sample's momentum average in `slot` (every sample's, in one slot of the run's memory), or an
// empty view without momentum.
template <Real T>
view<T> momentum_average(const evaluation_context<T>& c, index slot, const sample_pair<T>& s, bool momentum) {
    const index n = s.cond.size();
    return view<T>(momentum ? c.slot(slot, c.shape.size).data() + s.sample * n : nullptr, momentum ? n : 0);
}

// normalized_guidance on one sample, with d = `average` (already updated) when it is not empty,
// else cond - uncond.
template <Real T>
void project_and_combine(sample_pair<T>& s, view<T> average, const projection_settings& p) {
    const index n = s.cond.size();
    double dd = 0, dc = 0, cc = 0;
    const auto sums = [&](auto diff) {
        for (index i = 0; i < n; ++i) {
            const double d = diff(i), ci = s.cond[i];
            dd += d * d;
            dc += d * ci;
            cc += ci * ci;
        }
    };
    if (average.size() > 0) sums([&](index i) { return static_cast<double>(average[i]); });
    else sums([&](index i) { return static_cast<double>(s.cond[i]) - static_cast<double>(s.uncond[i]); });
    // Norm threshold, then d_parallel = k <d, c^> c^ and d_orthogonal = k d - d_parallel.
    const double k = p.norm_threshold > 0.0 ? std::min(1.0, p.norm_threshold / std::sqrt(dd)) : 1.0;
    const double c_norm = std::max(std::sqrt(cc), 1e-12);  // torch.nn.functional.normalize's eps
    const double along = k * dc / (c_norm * c_norm);       // d_parallel = along * cond
    const double g = p.guidance_scale;
    const double on_d = g * k, on_c = g * (p.eta - 1.0) * along;
    const bool original = p.use_original_formulation;
    write_then_rescale(s, p.guidance_rescale, [&] {
        // pred = base + g (k d + (eta - 1) d_parallel) with d = (average) or (cond - uncond).
        if (average.size() > 0) {
            if (original) s.out = T(1 + on_c) * s.cond + T(on_d) * average;
            else s.out = T(on_c) * s.cond + s.uncond + T(on_d) * average;
        } else if (original) {
            s.out = T(1 + on_c + on_d) * s.cond - T(on_d) * s.uncond;
        } else {
            s.out = T(on_c + on_d) * s.cond + T(1 - on_d) * s.uncond;
        }
    });
}

}  // namespace detail

class adaptive_projected : public rule_base<adaptive_projected_options> {
public:
    using rule_base::rule_base;

    // One slot: the momentum average of every sample's prediction part.
    [[nodiscard]] index memory_slots() const { return o_.adaptive_projected_guidance_momentum ? 1 : 0; }
    // `slot`: this rule's first memory slot in c.
    template <Real T>
    void combine(sample_pair<T> s, const evaluation_context<T>& c, index slot) const {
        const auto& momentum = o_.adaptive_projected_guidance_momentum;
        view<T> average = detail::momentum_average(c, slot, s, momentum.has_value());
        if (momentum) average = T(*momentum) * average + (s.cond - s.uncond);
        detail::project_and_combine(s, average,
                                    {o_.guidance_scale, o_.adaptive_projected_guidance_rescale, o_.eta,
                                     o_.guidance_rescale, o_.use_original_formulation});
    }
};

// AdaptiveProjectedMixGuidance (diffusers; HunyuanImage-2.1): CFG at guidance_scale up to step
// adaptive_projected_guidance_start_step (inclusive), then APG at adaptive_projected_guidance_scale;
// the momentum average is updated at every guided step, CFG's included. Where CFG is off (outside the
// window, disabled, or guidance_scale at its no-op value, as diffusers' _is_cfg_enabled) the output
// is cond and APG does not run either. guidance_rescale follows either branch.
struct adaptive_projected_mix_options {
    double guidance_scale = 3.5;
    double guidance_rescale = 0.0;
    double adaptive_projected_guidance_scale = 10.0;
    std::optional<double> adaptive_projected_guidance_momentum = -0.5;
    double adaptive_projected_guidance_rescale = 10.0;
    double eta = 0.0;
    bool use_original_formulation = false;
    index adaptive_projected_guidance_start_step = 5;
    guidance_window window{};

    void validate() const {
        detail::validate_scale(guidance_scale, guidance_rescale);
        require_finite("adaptive_projected_guidance_scale", adaptive_projected_guidance_scale);
        detail::validate_projection(adaptive_projected_guidance_momentum, adaptive_projected_guidance_rescale, eta);
        window.validate();
    }
};

class adaptive_projected_mix : public rule_base<adaptive_projected_mix_options> {
public:
    using rule_base::rule_base;

    [[nodiscard]] index memory_slots() const { return o_.adaptive_projected_guidance_momentum ? 1 : 0; }
    // diffusers' _is_apg_enabled (given that CFG is on).
    template <Real T>
    [[nodiscard]] bool projects(const evaluation_context<T>& c) const {
        return c.step > o_.adaptive_projected_guidance_start_step &&
               !detail::is_noop_scale(o_.adaptive_projected_guidance_scale, o_.use_original_formulation);
    }
    template <Real T>
    void combine(sample_pair<T> s, const evaluation_context<T>& c, index slot) const {
        const auto& momentum = o_.adaptive_projected_guidance_momentum;
        view<T> average = detail::momentum_average(c, slot, s, momentum.has_value());
        if (momentum) average = T(*momentum) * average + (s.cond - s.uncond);
        if (projects(c)) {
            detail::project_and_combine(s, average,
                                        {o_.adaptive_projected_guidance_scale, o_.adaptive_projected_guidance_rescale,
                                         o_.eta, o_.guidance_rescale, o_.use_original_formulation});
            return;
        }
        // CFG on cond - uncond (the momentum average is only kept up to date here).
        const double g = o_.guidance_scale;
        const double p = o_.use_original_formulation ? 1.0 + g : g, q = o_.use_original_formulation ? -g : 1.0 - g;
        detail::write_then_rescale(s, o_.guidance_rescale, [&] { s.out = T(p) * s.cond + T(q) * s.uncond; });
    }
};

// TangentialClassifierFreeGuidance: uncond is replaced by its projection onto the first right
// singular vector v1 of the 2 x n matrix [cond; uncond] (per sample), then CFG. v1 is
// (a cond + b uncond) / s1 with (a, b) the leading eigenvector of the 2 x 2 Gram matrix, s1^2 its
// eigenvalue; its sign does not matter to the projection (uncond . v1) v1.
using tangential_options = classifier_free_options;

class tangential : public rule_base<tangential_options> {
public:
    using rule_base::rule_base;

    template <Real T>
    void combine(sample_pair<T> s, const evaluation_context<T>&, index) const {
        const auto m = detail::moments_of(s.cond, s.uncond);
        // Leading eigenpair of [[cc, cu], [cu, uu]].
        const double half_trace = 0.5 * (m.cc + m.uu), half_gap = 0.5 * (m.cc - m.uu);
        const double lambda = half_trace + std::hypot(half_gap, m.cu);
        double a = m.cu, b = lambda - m.cc;  // (A - lambda I) (a, b) = 0 from the first row
        if (std::abs(a) + std::abs(b) == 0.0) {
            a = lambda - m.uu;
            b = m.cu;
        }
        if (std::abs(a) + std::abs(b) == 0.0) {  // both branches zero or cu = 0 with cc >= uu
            a = m.cc >= m.uu ? 1.0 : 0.0;
            b = 1.0 - a;
        }
        const double norm = std::hypot(a, b);
        a /= norm;
        b /= norm;
        // v1 = (a cond + b uncond) / s1, s1^2 = lambda; uncond' = (uncond . v1) v1 = w (a cond + b uncond).
        const double w = (a * m.cu + b * m.uu) / lambda;
        const double pc = w * a, pu = w * b;  // uncond' = pc cond + pu uncond
        const double g = o_.guidance_scale;
        // pred = base + g (cond - uncond'), base = uncond' or cond.
        const double p = o_.use_original_formulation ? 1.0 + g - g * pc : pc + g * (1.0 - pc);
        const double q = o_.use_original_formulation ? -g * pu : (1.0 - g) * pu;
        const double factor = detail::rescale_factor(o_.guidance_rescale, detail::combined_variance(m, 1.0, 0.0),
                                                     detail::combined_variance(m, p, q));
        s.out = T(factor * p) * s.cond + T(factor * q) * s.uncond;
    }
};

// CFG++ (Chung et al. 2024, "Manifold-constrained classifier free guidance", arXiv 2406.08070):
// the step's clean estimate comes from the guided prediction eps_l = u + l (c - u) with l in [0, 1],
// its renoising direction from the unconditional one. Algorithm 1 (DDIM):
//   x0_l = (x_t - sqrt(1 - ab_t) eps_l) / sqrt(ab_t),   x_t' = sqrt(ab_t') x0_l + sqrt(1 - ab_t') eps_u,
// and its Euler (k-diffusion) form, x' = x0_l + sigma' (x - x0_u) / sigma (sample_euler_cfg_pp).
// As a model, the output `o` must make the sampler's own step produce that update. Every step that
// reports a landing (evaluation_context.hpp) is x'/alpha' = x0(o) + sigma' eps(o) [+ noise z], with
// x0(o) and eps(o) affine in o at fixed x and x/alpha = x0 + sigma eps (sigma: this evaluation's
// level). Writing x0 = x/alpha - sigma eps:
//   x0(o) + sigma' eps(o) = x/alpha - (sigma - sigma') eps(o)     must equal
//   x0_l + sigma' eps_u   = x/alpha - sigma eps_l + sigma' eps_u,
// so eps(o) = (sigma eps_l - sigma' eps_u) / (sigma - sigma') = u + w (c - u) in eps, with
//   w = l sigma / (sigma - sigma') = l / (1 - sigma'/sigma),
// and, eps being affine in o, o = u + w (c - u) in the model's own prediction type: CFG at the
// per-step scale w (w -> l at the last step, sigma' = 0, and at a zero-SNR level, sigma = inf).
// The same holds for DDIM with eta > 0 and DDPM (sigma' the deterministic part; the fresh noise is
// the sampler's), and for Euler's renoise (sigma' = 0: x0 from eps_l). Runs that report no landing
// (multistep and multi-stage samplers, a clipped or thresholded x0, churn) are a diffuse::error:
// their steps do not take this form, and plain CFG in its place would be silently wrong.
struct cfg_pp_options {
    double guidance_scale = 0.6;  // lambda; 0.6 in the paper's official text-to-image example
    guidance_window window{};

    void validate() const {
        require_in_closed("guidance_scale", guidance_scale, 0.0, 1.0);
        window.validate();
    }
};

class cfg_pp : public rule_base<cfg_pp_options> {
public:
    using rule_base::rule_base;

    // Guided inside the window (l = 0 too: the output is then the unconditional prediction).
    template <Real T>
    [[nodiscard]] bool guides(const evaluation_context<T>& c) const {
        (void)scale_at(c);
        return o_.window.covers(c);
    }
    // The per-step CFG scale w = l / (1 - sigma'/sigma).
    template <Real T>
    [[nodiscard]] double scale_at(const evaluation_context<T>& c) const {
        if (!c.target) {
            throw invalid("CFG++ sampler", "a run that reports no step landing",
                          "a run whose step is one transfer of this evaluation's prediction (run.target_level()): "
                          "DDIM or DDPM without clip_sample or thresholding (DDPM: a fixed variance), or Euler "
                          "without churn");
        }
        const double sigma = c.level.sigma, to = c.target->level.sigma;
        const double ratio = std::isinf(sigma) ? 0.0 : to / sigma;
        if (!(ratio < 1.0))  // (the message is built only here: guides() runs on every evaluation)
            throw invalid("CFG++ target sigma", to,
                          "below the evaluated sigma = " + std::to_string(sigma) + " (a step that removes noise)");
        return o_.guidance_scale / (1.0 - ratio);
    }
    template <Real T>
    void combine(sample_pair<T> s, const evaluation_context<T>& c, index) const {
        const double w = scale_at(c);
        s.out = T(w) * s.cond + T(1.0 - w) * s.uncond;
    }
};

}  // namespace diffuse::guidance
