// diffuse/config/registry_detail.hpp: the key parsing the sampler factories share (discrete
// schedule, prediction type, x0 processing, the two families of sigma grids), so that each
// factory only maps the keys of its own class.
#pragma once

#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "diffuse/config/any_sampler.hpp"
#include "diffuse/config/options.hpp"
#include "diffuse/predict/parameterization.hpp"
#include "diffuse/predict/thresholding.hpp"
#include "diffuse/schedule/continuous.hpp"
#include "diffuse/schedule/discrete.hpp"
#include "diffuse/schedule/flow.hpp"
#include "diffuse/schedule/sigmas.hpp"
#include "diffuse/schedule/solver_sigmas.hpp"
#include "diffuse/schedule/timesteps.hpp"

namespace diffuse::config {

// Keys that some diffusers scheduler reads; a class that does not read one ignores it.
inline const std::set<std::string, std::less<>>& diffusers_scheduler_keys() {
    static const std::set<std::string, std::less<>> keys{"num_train_timesteps",
                                                         "beta_start",
                                                         "beta_end",
                                                         "beta_schedule",
                                                         "trained_betas",
                                                         "prediction_type",
                                                         "timestep_spacing",
                                                         "steps_offset",
                                                         "rescale_betas_zero_snr",
                                                         "clip_sample",
                                                         "clip_sample_range",
                                                         "thresholding",
                                                         "dynamic_thresholding_ratio",
                                                         "sample_max_value",
                                                         "set_alpha_to_one",
                                                         "variance_type",
                                                         "skip_prk_steps",
                                                         "use_karras_sigmas",
                                                         "use_exponential_sigmas",
                                                         "use_beta_sigmas",
                                                         "use_flow_sigmas",
                                                         "use_lu_lambdas",
                                                         "final_sigmas_type",
                                                         "interpolation_type",
                                                         "timestep_type",
                                                         "sigma_min",
                                                         "sigma_max",
                                                         "solver_order",
                                                         "algorithm_type",
                                                         "solver_type",
                                                         "lower_order_final",
                                                         "euler_at_final",
                                                         "lambda_min_clipped",
                                                         "predict_x0",
                                                         "solver_p",
                                                         "disable_corrector",
                                                         "flow_shift",
                                                         "shift",
                                                         "use_dynamic_shifting",
                                                         "base_shift",
                                                         "max_shift",
                                                         "base_image_seq_len",
                                                         "max_image_seq_len",
                                                         "invert_sigmas",
                                                         "shift_terminal",
                                                         "time_shift_type",
                                                         "stochastic_sampling",
                                                         "original_inference_steps",
                                                         "timestep_scaling",
                                                         "sigma_data",
                                                         "s_noise",
                                                         "rho",
                                                         "noise_sampler_seed",
                                                         "sigma_schedule",
                                                         "deis_type",
                                                         "clip_denoised",
                                                         "predictor_order",
                                                         "corrector_order",
                                                         "tau_func",
                                                         "snr_shift_scale",
                                                         "scaler",
                                                         "s",
                                                         "snr",
                                                         "sampling_eps",
                                                         "correct_steps"};
    return keys;
}

namespace detail {

// num_train_timesteps, beta_*, trained_betas and (for the classes that read it)
// rescale_betas_zero_snr (Lin et al. 2024, Algorithm 1).
// The class's default betas (LCM and TCD default to Stable Diffusion's scaled_linear ones).
struct beta_defaults {
    const char* schedule = "linear";
    double start = 1e-4, end = 0.02;
};

template <Real T>
schedule::discrete<T> discrete_schedule(const options& o, bool reads_zero_snr = true, beta_defaults d = {}) {
    const auto train = o.get_int("num_train_timesteps", 1000);
    const auto trained = o.get_list("trained_betas");
    auto s = trained.empty() ? schedule::discrete<T>::named(
                                   schedule::parse_beta_schedule(o.get_string("beta_schedule", d.schedule)), train,
                                   o.get_double("beta_start", d.start), o.get_double("beta_end", d.end))
                             : schedule::discrete<T>::from_betas(std::vector<T>(trained.begin(), trained.end()));
    return reads_zero_snr && o.get_bool("rescale_betas_zero_snr", false) ? s.rescaled_zero_terminal_snr() : s;
}

// `reads_thresholding`: DDIMInverseScheduler has no thresholding keys (its step only clips).
template <Real T>
predict::x0_processing<T> x0_processing(const options& o, bool clip_by_default, bool reads_thresholding = true) {
    predict::x0_processing<T> p;
    const T range = static_cast<T>(o.get_double("clip_sample_range", 1.0));
    if (o.get_bool("clip_sample", clip_by_default)) p.clip_range = range;
    if (!reads_thresholding) return p;
    const T ratio = static_cast<T>(o.get_double("dynamic_thresholding_ratio", 0.995));
    const T max_value = static_cast<T>(o.get_double("sample_max_value", 1.0));
    if (o.get_bool("thresholding", false)) p.thresholding = predict::dynamic_thresholding<T>{ratio, max_value};
    return p;
}

// thresholding / dynamic_thresholding_ratio / sample_max_value of the exponential integrators.
template <Real T>
std::optional<predict::dynamic_thresholding<T>> thresholding(const options& o) {
    const T ratio = static_cast<T>(o.get_double("dynamic_thresholding_ratio", 0.995));
    const T max_value = static_cast<T>(o.get_double("sample_max_value", 1.0));
    if (!o.get_bool("thresholding", false)) return std::nullopt;
    return predict::dynamic_thresholding<T>{ratio, max_value};
}

inline predict::prediction prediction(const options& o) {
    return predict::parse_prediction(o.get_string("prediction_type", "epsilon"));
}

// Rejects a key whose value this version cannot honour, naming what it can.
template <class V>
void require_value(const options& o, std::string_view key, const V& actual, const V& supported,
                   std::string_view allowed) {
    if (actual != supported)
        throw invalid(std::string(key), formatted{o.entries().at(std::string(key)).describe()}, allowed);
}

// A string key whose value must be one of `accepted`; `aliases` are values diffusers silently
// replaces by `canonical` (e.g. DPMSolverMultistep's solver_type "bh2" -> "midpoint").
inline std::string one_of(const options& o, std::string_view key, std::string fallback,
                          const std::vector<std::string>& accepted, const std::vector<std::string>& aliases = {},
                          const std::string& canonical = {}) {
    const auto v = o.get_string(key, std::move(fallback));
    for (const auto& a : accepted)
        if (v == a) return v;
    for (const auto& a : aliases)
        if (v == a) return canonical;
    std::string allowed;
    for (const auto& a : accepted) allowed += (allowed.empty() ? "\"" : ", \"") + a + "\"";
    for (const auto& a : aliases) allowed += ", \"" + a + "\" (read as \"" + canonical + "\")";
    throw invalid(std::string(key), formatted{"\"" + v + "\""}, allowed);
}

// final_sigmas_type: "zero" or "sigma_min".
inline schedule::final_sigma final_sigma(const options& o) {
    return one_of(o, "final_sigmas_type", "zero", {"zero", "sigma_min"}) == "zero" ? schedule::final_sigma::zero
                                                                                   : schedule::final_sigma::sigma_min;
}

// use_karras_sigmas / use_exponential_sigmas / use_beta_sigmas: at most one (diffusers' rule).
inline schedule::sigma_spacing sigma_kind(const options& o) {
    const bool karras = o.get_bool("use_karras_sigmas", false),
               exponential = o.get_bool("use_exponential_sigmas", false), beta = o.get_bool("use_beta_sigmas", false);
    require(int(karras) + int(exponential) + int(beta) <= 1, "use_karras_sigmas/use_exponential_sigmas/use_beta_sigmas",
            "more than one true", "at most one of them true");
    return karras        ? schedule::sigma_spacing::karras
           : exponential ? schedule::sigma_spacing::exponential
           : beta        ? schedule::sigma_spacing::beta
                         : schedule::sigma_spacing::timesteps;
}

// The grid of the Euler-family set_timesteps (timestep_spacing, steps_offset, and the sigma kind
// for the classes that read use_*_sigmas). `round_karras`: KDPM2 rounds the timesteps of Karras sigmas.
template <Real T>
std::function<schedule::sigma_grid<T>(index)> vp_grid_for(const options& o, schedule::discrete<T> betas,
                                                          bool reads_sigma_kind, bool round_karras = false) {
    schedule::vp_sigma_options<T> grid{
        .timestep_spacing = schedule::parse_spacing(o.get_string("timestep_spacing", "linspace")),
        .steps_offset = o.get_int("steps_offset", 0)};
    if (reads_sigma_kind) grid.sigmas = sigma_kind(o);
    const bool round = round_karras && grid.sigmas == schedule::sigma_spacing::karras;
    return [betas = std::move(betas), grid, round](index steps) {
        auto g = grid;
        g.steps = steps;
        auto out = schedule::vp_sigma_grid(betas, g);
        if (!round) return out;
        std::vector<schedule::noise_level<T>> levels(out.levels().begin(), out.levels().end());
        for (auto& l : levels) l.model_time = std::nearbyint(l.model_time);
        return schedule::sigma_grid<T>(std::move(levels), out.initial_noise_std());
    };
}

// Dynamic shifting (use_dynamic_shifting, time_shift_type): diffusers takes mu as an argument of
// set_timesteps(mu=...) (the SD3/Flux pipelines compute it per resolution), so a shipped config has
// none. Here mu comes with the run (any_sampler::with_mu / with_image_seq_len) or, fixed, from the
// options "mu" or "image_seq_len"; mu follows from a sequence length by the pipelines' calculate_shift
// with the keys base_image_seq_len, max_image_seq_len, base_shift, max_shift. diffusers accepts mu
// only with use_dynamic_shifting (and, except in FlowMatchEuler and UniPC, only the exponential shift).
struct dynamic_shift {
    bool enabled = false;
    std::optional<double> mu{};  // from the options
    schedule::time_shift_kind kind = schedule::time_shift_kind::exponential;
    double base_shift = 0.5, max_shift = 1.15;
    std::int64_t base_len = 256, max_len = 4096;

    [[nodiscard]] double mu_of_length(std::int64_t len) const {
        require(len > 0, "image_seq_len", len, "an integer > 0");
        return schedule::dynamic_shift_mu(static_cast<double>(len), static_cast<double>(base_len),
                                          static_cast<double>(max_len), base_shift, max_shift);
    }
    // The mu of one run: the run's own, else the options'.
    [[nodiscard]] std::optional<double> mu_for(const run_inputs& in) const {
        if (!in.mu && !in.image_seq_len) return mu;
        const std::string source = in.mu ? "mu" : "image_seq_len";
        require(enabled, source, in.mu ? *in.mu : static_cast<double>(*in.image_seq_len),
                "not set unless use_dynamic_shifting is true");
        const double m = in.mu ? *in.mu : mu_of_length(*in.image_seq_len);
        require(std::isfinite(m), "mu", m, "a finite number");
        return m;
    }
};

inline dynamic_shift dynamic_shifting(const options& o, bool linear_allowed) {
    dynamic_shift d;
    d.enabled = o.get_bool("use_dynamic_shifting", false);
    const auto kind = linear_allowed ? one_of(o, "time_shift_type", "exponential", {"exponential", "linear"})
                                     : one_of(o, "time_shift_type", "exponential", {"exponential"});
    if (kind == "linear") d.kind = schedule::time_shift_kind::linear;
    d.base_shift = o.get_double("base_shift", 0.5);
    d.max_shift = o.get_double("max_shift", 1.15);
    d.base_len = o.get_int("base_image_seq_len", 256);
    d.max_len = o.get_int("max_image_seq_len", 4096);
    require(!(o.contains("mu") && o.contains("image_seq_len")), "mu/image_seq_len", "both set", "at most one of them");
    if (o.contains("mu")) d.mu = o.get_double("mu", 0.0);
    if (o.contains("image_seq_len")) d.mu = d.mu_of_length(o.get_int("image_seq_len", 0));
    if (d.mu) {
        const std::string source = o.contains("mu") ? "mu" : "image_seq_len";
        require(d.enabled, source, formatted{o.entries().at(source).describe()},
                "null unless use_dynamic_shifting is true");
        require(std::isfinite(*d.mu), "mu", *d.mu, "a finite number");
    }
    return d;
}

// The error of a run that starts without the mu its class needs.
[[noreturn]] inline void missing_mu(std::string_view class_name) {
    throw invalid("mu", formatted{"missing"},
                  "a number: " + std::string(class_name) +
                      " with use_dynamic_shifting = true takes set_timesteps' mu per run; start the run from "
                      "sampler.with_mu(mu) or sampler.with_image_seq_len(len), or set the option \"mu\" or "
                      "\"image_seq_len\"");
}

// The grid of the exponential integrators' set_timesteps (solver_sigmas.hpp): use_*_sigmas,
// use_flow_sigmas / flow_shift, final_sigmas_type, and the keys only some classes read.
struct solver_keys {
    bool spacing = true;       // timestep_spacing / steps_offset (not DPMSolverSinglestep)
    bool final_sigmas = true;  // final_sigmas_type (not DEIS)
    bool lambda_min = false;   // lambda_min_clipped (DPM-Solver classes)
    bool lu_lambdas = false;   // use_lu_lambdas (DPMSolverMultistep)
    bool sigma_range = false;  // sigma_min / sigma_max (UniPC)
    bool round_timesteps =
        true;  // false: DPMSolverMultistep with squaredcos_cap_v2 keeps Karras/Lu timesteps fractional
};

template <Real T>
std::function<schedule::sigma_grid<T>(index, const run_inputs&)> solver_grid_for(const options& o,
                                                                                 schedule::discrete<T> betas,
                                                                                 schedule::solver_family family,
                                                                                 solver_keys keys) {
    using schedule::solver_sigma_kind;
    schedule::solver_sigma_options grid;
    if (keys.spacing) {
        grid.timestep_spacing = schedule::parse_spacing(o.get_string("timestep_spacing", "linspace"));
        grid.steps_offset = o.get_int("steps_offset", 0);
    }
    switch (sigma_kind(o)) {
        case schedule::sigma_spacing::karras:
            grid.sigmas = solver_sigma_kind::karras;
            break;
        case schedule::sigma_spacing::exponential:
            grid.sigmas = solver_sigma_kind::exponential;
            break;
        case schedule::sigma_spacing::beta:
            grid.sigmas = solver_sigma_kind::beta;
            break;
        case schedule::sigma_spacing::timesteps:
            break;
    }
    if (keys.lu_lambdas && o.get_bool("use_lu_lambdas", false)) {
        require(grid.sigmas == solver_sigma_kind::timesteps, "use_lu_lambdas", formatted{"true"},
                "not together with use_*_sigmas");
        grid.sigmas = solver_sigma_kind::lu_lambdas;
    }
    grid.round_timesteps = keys.round_timesteps;
    grid.use_flow_sigmas = o.get_bool("use_flow_sigmas", false);
    grid.flow_shift = o.get_double("flow_shift", 1.0);
    // DEIS has no final_sigmas_type: it always ends at the training sigma at t = 0.
    grid.last = keys.final_sigmas ? final_sigma(o) : schedule::final_sigma::sigma_min;
    if (keys.lambda_min)
        grid.lambda_min_clipped = o.get_double("lambda_min_clipped", -std::numeric_limits<double>::infinity());
    if (keys.sigma_range) {
        if (o.contains("sigma_min")) grid.sigma_min = o.get_double("sigma_min", 0.0);
        if (o.contains("sigma_max")) grid.sigma_max = o.get_double("sigma_max", 0.0);
    }
    const bool unipc = family == schedule::solver_family::unipc;
    const auto shift = dynamic_shifting(o, unipc);
    if (unipc) {
        // UniPC time-shifts its flow sigmas by mu (diffusers raises without mu) and may stretch them.
        grid.time_shift = shift.kind;
        if (o.contains("shift_terminal")) {
            grid.shift_terminal = o.get_double("shift_terminal", 0.0);
            require(grid.use_flow_sigmas, "shift_terminal", *grid.shift_terminal,
                    "null unless use_flow_sigmas is true (diffusers' rule)");
        }
    }
    // The DPM-Solver classes and DEIS: set_timesteps(mu) sets flow_shift = e^mu.
    const auto with_mu = [unipc](schedule::solver_sigma_options g, std::optional<double> mu) {
        if (unipc) g.mu = mu;
        else if (mu) g.flow_shift = std::exp(*mu);
        return g;
    };
    grid.steps = 1;  // the step count (and mu) come with start(); the rest is checked here, once
    // A missing mu is reported when a run starts; the other keys are checked with a stand-in.
    with_mu(grid, shift.enabled && unipc ? std::optional<double>(shift.mu.value_or(1.0)) : shift.mu)
        .validate(family, betas.num_train_timesteps());
    return [betas = std::move(betas), grid, family, shift, with_mu, unipc](index steps, const run_inputs& in) {
        const auto mu = shift.mu_for(in);
        if (unipc && shift.enabled && !mu) missing_mu("UniPCMultistepScheduler");
        auto g = with_mu(grid, mu);
        g.steps = steps;
        return schedule::solver_sigma_grid(betas, family, g);
    };
}

// The keys of diffusers' EDM classes (EDMEuler, EDMDPMSolverMultistep): sigma_min, sigma_max,
// sigma_data, rho, sigma_schedule (karras, exponential), final_sigmas_type, num_train_timesteps
// (only their __init__ grid uses it). `defaults`: the class's defaults (CosineDPMSolverMultistep's differ).
inline schedule::edm_grid_options edm_grid(const options& o, const schedule::edm_grid_options& defaults = {}) {
    static_cast<void>(o.get_int("num_train_timesteps", 1000));
    const bool karras = defaults.spacing == schedule::edm_spacing::karras;
    schedule::edm_grid_options grid{
        .sigma_min = o.get_double("sigma_min", defaults.sigma_min),
        .sigma_max = o.get_double("sigma_max", defaults.sigma_max),
        .sigma_data = o.get_double("sigma_data", defaults.sigma_data),
        .rho = o.get_double("rho", defaults.rho),
        .spacing = one_of(o, "sigma_schedule", karras ? "karras" : "exponential", {"karras", "exponential"}) == "karras"
                       ? schedule::edm_spacing::karras
                       : schedule::edm_spacing::exponential,
        .last = final_sigma(o),
        .time = defaults.time};
    grid.validate();
    return grid;
}

// The grid DDIM, DDIM inversion, DDPM and PNDM build in set_timesteps (timestep_spacing, steps_offset).
inline auto discrete_grid_for(const options& o, index train) {
    const auto rule = schedule::parse_spacing(o.get_string("timestep_spacing", "leading"));
    const auto offset = o.get_int("steps_offset", 0);
    return [=](index steps) { return schedule::spaced_timesteps(train, steps, rule, offset); };
}

}  // namespace detail
}  // namespace diffuse::config
