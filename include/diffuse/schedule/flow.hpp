// diffuse/schedule/flow.hpp: grids for rectified-flow networks (Lipman et al. 2023; Esser et al.
// 2024, "SD3"): x_s = (1 - s) x0 + s eps at flow time s in [0, 1], the network told s * T.
// In the k-diffusion form of sigmas.hpp that is alpha = 1 - s, sigma = s / (1 - s), and the
// network's own state is the flow state (state_space::model).
//   flow_shift:          s -> shift s / (1 + (shift - 1) s) (Esser et al. 2024, eq. 23), on any flow times;
//   dynamic time shift:  s -> e^mu / (e^mu + (1/s - 1)^sigma) ("exponential") or mu / (mu + (1/s - 1)^sigma)
//                        ("linear"), with mu from the image sequence length (dynamic_shift_mu);
//   flow_match_grid:     diffusers' FlowMatchEulerDiscreteScheduler.set_timesteps (shift or dynamic
//                        shift, shift_terminal, Karras/exponential/beta respacing, custom sigmas/timesteps);
//   flow_map_grid:       diffusers' FlowMapEulerDiscreteScheduler.set_timesteps (uniform flow times from 1, shifted).
#pragma once

#include <cmath>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "diffuse/schedule/continuous.hpp"
#include "diffuse/schedule/sigmas.hpp"
#include "diffuse/schedule/spacings.hpp"

namespace diffuse::schedule {

inline double flow_shift(double s, double shift) {
    return shift * s / (1.0 + (shift - 1.0) * s);
}

enum class time_shift_kind { exponential, linear };  // diffusers' time_shift_type

inline double dynamic_time_shift(double s, double mu, time_shift_kind kind, double sigma = 1.0) {
    const double tail = std::pow(1.0 / s - 1.0, sigma);
    return kind == time_shift_kind::exponential ? std::exp(mu) / (std::exp(mu) + tail) : mu / (mu + tail);
}

// shift_terminal (LTX-Video): stretches decreasing flow times so that the last one is `terminal`,
// keeping 1 - s proportional.
inline void stretch_to_terminal(std::vector<double>& flow_times, double terminal) {
    const double scale = (1.0 - flow_times.back()) / (1.0 - terminal);
    for (double& v : flow_times) v = 1.0 - (1.0 - v) / scale;
}

// The linear rule from sequence length to mu of the SD3/Flux pipelines (diffusers' calculate_shift).
inline double dynamic_shift_mu(double image_seq_len, double base_seq_len = 256, double max_seq_len = 4096,
                               double base_shift = 0.5, double max_shift = 1.15) {
    require(max_seq_len != base_seq_len, "max_image_seq_len", max_seq_len, "different from base_image_seq_len");
    const double slope = (max_shift - base_shift) / (max_seq_len - base_seq_len);
    return image_seq_len * slope + (base_shift - slope * base_seq_len);
}

// The level of flow time s (0 <= s <= 1). s = 1 (pure noise) has alpha = 0 and sigma = inf, which
// no level can hold: it is taken as the largest T below 1 (the step from it differs from the
// step from 1 by (1 - s) |v|, 6e-8 |v| in float).
template <Real T>
noise_level<T> flow_level(double s, double model_time) {
    T f = static_cast<T>(s);
    if (f >= T(1)) f = std::nextafter(T(1), T(0));
    return noise_level<T>{f / (T(1) - f), T(1) - f, model_time};
}

// A grid of flow levels from decreasing flow times (the end point included, usually 0), each told
// s * num_train_timesteps, or (1 - s) * num_train_timesteps with `inverted_times` (FlowMatchEuler's
// invert_sigmas, for Mochi-style networks trained on 1 - s).
template <Real T>
sigma_grid<T> flow_grid(std::span<const double> flow_times, index num_train_timesteps, bool inverted_times = false) {
    detail::require_decreasing_sigmas(flow_times);
    require(flow_times.front() <= 1.0, "flow_times[0]", flow_times.front(), "<= 1");
    std::vector<noise_level<T>> levels;
    for (std::size_t i = 0; i < flow_times.size(); ++i) {
        const T s = static_cast<T>(flow_times[i]);
        const T told = inverted_times ? static_cast<T>(1) - s : s;
        const double time =
            i + 1 < flow_times.size() ? static_cast<double>(told * static_cast<T>(num_train_timesteps)) : 0.0;
        levels.push_back(flow_level<T>(static_cast<double>(s), time));
    }
    return sigma_grid<T>(std::move(levels), T(1));
}

struct flow_match_options {
    index steps = 50;
    index num_train_timesteps = 1000;
    double shift = 1.0;
    bool use_dynamic_shifting = false;
    std::optional<double> mu{};  // required with use_dynamic_shifting (set_timesteps(mu=...))
    time_shift_kind time_shift = time_shift_kind::exponential;
    std::optional<double> shift_terminal{};
    sigma_spacing sigmas = sigma_spacing::timesteps;  // use_karras/exponential/beta_sigmas
    std::vector<double> custom_sigmas{};              // set_timesteps(sigmas=...): n flow times, before shifting
    std::vector<double> custom_timesteps{};           // set_timesteps(timesteps=...)
    bool invert_sigmas = false;                       // the network is told (1 - s) T (Mochi); see flow_grid

    void validate() const {
        detail::require_train_timesteps(num_train_timesteps);
        require(std::isfinite(shift) && shift > 0, "shift", shift, "a finite number > 0");
        require(!use_dynamic_shifting || (mu && std::isfinite(*mu)), "mu", mu ? *mu : NAN,
                "a finite number (required with use_dynamic_shifting)");
        if (shift_terminal)
            require(*shift_terminal >= 0 && *shift_terminal < 1, "shift_terminal", *shift_terminal, "in [0, 1)");
        require(custom_sigmas.empty() || custom_timesteps.empty() || custom_sigmas.size() == custom_timesteps.size(),
                "timesteps.size()", custom_timesteps.size(),
                "the size of sigmas (" + std::to_string(custom_sigmas.size()) + ")");
        require(custom_sigmas.size() + custom_timesteps.size() > 0 || steps >= 1, "num_inference_steps", steps,
                "an integer >= 1");
    }
};

template <Real T>
sigma_grid<T> flow_match_grid(const flow_match_options& o = {}) {
    o.validate();
    const double train = static_cast<double>(o.num_train_timesteps);
    const auto shifted = [&](double s) { return o.use_dynamic_shifting ? s : flow_shift(s, o.shift); };
    // __init__: the training flow times k/T, shifted unless the shift is dynamic; their extremes
    // (float32) bound the inference times.
    const double s_max = static_cast<double>(static_cast<float>(shifted(1.0)));
    const double s_min =
        static_cast<double>(static_cast<float>(shifted(static_cast<double>(static_cast<float>(1.0 / train)))));
    std::vector<double> s;
    if (!o.custom_sigmas.empty()) {
        for (const double v : o.custom_sigmas) s.push_back(static_cast<double>(static_cast<float>(v)));
    } else if (!o.custom_timesteps.empty()) {
        for (const double t : o.custom_timesteps) s.push_back(static_cast<double>(static_cast<float>(t)) / train);
    } else {
        for (const double t : detail::linspace(s_max * train, s_min * train, o.steps)) s.push_back(t / train);
    }
    for (double& v : s)
        v = o.use_dynamic_shifting ? dynamic_time_shift(v, *o.mu, o.time_shift) : flow_shift(v, o.shift);
    if (o.shift_terminal) stretch_to_terminal(s, *o.shift_terminal);
    const index n = static_cast<index>(s.size());
    if (o.sigmas == sigma_spacing::karras) s = karras_sigmas(n, s.back(), s.front());
    if (o.sigmas == sigma_spacing::exponential) s = exponential_sigmas(n, s.back(), s.front());
    if (o.sigmas == sigma_spacing::beta) s = beta_sigmas(n, s.back(), s.front());
    for (double& v : s) v = static_cast<double>(static_cast<float>(v));  // torch float32
    s.push_back(0.0);
    return flow_grid<T>(s, o.num_train_timesteps, o.invert_sigmas);
}

// diffusers' FlowMapEulerDiscreteScheduler.set_timesteps: flow times linspace(1, 0, n + 1) without the
// 0, shifted by `shift`, then 0; kept in float64 and told s * num_train_timesteps (the model time is
// computed in T, so in float it differs from diffusers' float64 timesteps by float's rounding).
template <Real T>
sigma_grid<T> flow_map_grid(index steps, index num_train_timesteps = 1000, double shift = 1.0) {
    require(steps >= 1, "num_inference_steps", steps, "an integer >= 1");
    detail::require_train_timesteps(num_train_timesteps);
    require(std::isfinite(shift) && shift > 0, "shift", shift, "a finite number > 0");
    std::vector<double> s = detail::linspace(1.0, 0.0, steps + 1);
    for (double& v : s) v = flow_shift(v, shift);
    return flow_grid<T>(s, num_train_timesteps);
}

}  // namespace diffuse::schedule
