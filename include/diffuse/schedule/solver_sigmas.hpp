// diffuse/schedule/solver_sigmas.hpp: the sigma grids that diffusers' exponential-integrator
// schedulers (DPMSolverMultistep, DPMSolverSinglestep, DEISMultistep, UniPCMultistep) build in
// set_timesteps, which differ in small ways from the Euler family's (vp_sigma_grid):
//   - linspace timesteps are np.linspace(0, last, n + 1).round()[::-1][:-1] (integers, the
//     t = 0 end dropped), leading uses last // (n + 1), trailing np.arange(last, 0, -T/n) - 1;
//     `last` is num_train_timesteps, lowered by lambda_min_clipped for the DPM-Solver classes;
//   - model times are int64 (fractional timesteps from Karras / exponential / flow sigmas are
//     truncated by the cast, Karras and Lu ones rounded first);
//   - the final sigma is 0 or the training sigma at t = 0 ("sigma_min");
//   - with use_flow_sigmas the levels are rectified-flow levels x = (1 - s) x0 + s eps, i.e.
//     alpha = 1 - s and k-diffusion sigma s / (1 - s), and the model time is s * T; UniPC also
//     applies the dynamic time shift (mu, set_timesteps(mu=...)) and shift_terminal there.
// A zero-terminal-SNR schedule (last alphas_cumprod 0) gets alphas_cumprod[-1] = 2^-24 first, as
// these schedulers do, so that the first sigma is finite.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "diffuse/schedule/flow.hpp"
#include "diffuse/schedule/sigmas.hpp"
#include "diffuse/schedule/spacings.hpp"

namespace diffuse::schedule {

// Which diffusers class's set_timesteps to reproduce (they differ in the details listed above).
enum class solver_family { dpm_multistep, dpm_singlestep, deis, unipc };

enum class solver_sigma_kind {
    timesteps,    // sigmas interpolated at the spaced timesteps (the default)
    karras,       // use_karras_sigmas: Karras et al. 2022, eq. 5, rho = 7
    exponential,  // use_exponential_sigmas: log-uniform between the extremes
    beta,         // use_beta_sigmas: Beta(0.6, 0.6) quantiles between the extremes (Lee et al. 2024)
    lu_lambdas,   // use_lu_lambdas (DPM-Solver multistep only): uniform in lambda = -log sigma
};

struct solver_sigma_options {
    index steps = 10;
    solver_sigma_kind sigmas = solver_sigma_kind::timesteps;
    spacing timestep_spacing = spacing::linspace;  // ignored by dpm_singlestep (always linspace)
    index steps_offset = 0;                        // leading spacing only
    final_sigma last = final_sigma::zero;
    double lambda_min_clipped = -std::numeric_limits<double>::infinity();  // DPM-Solver classes only
    // use_flow_sigmas: rectified-flow levels. With `sigmas = timesteps` the flow sigmas are spaced
    // uniformly and shifted by flow_shift; UniPC also combines it with Karras sigmas.
    bool use_flow_sigmas = false;
    double flow_shift = 1.0;
    // UniPC with use_flow_sigmas: the dynamic time shift of flow.hpp with this mu instead of
    // flow_shift (use_dynamic_shifting), and the stretch that ends the flow times at shift_terminal.
    // (The DPM-Solver classes and DEIS read mu as flow_shift = e^mu; the registry does that.)
    std::optional<double> mu{};
    time_shift_kind time_shift = time_shift_kind::exponential;
    std::optional<double> shift_terminal{};
    // UniPC's sigma_min / sigma_max config keys: the Karras / exponential range (default: the
    // training sigmas' extremes). With use_flow_sigmas, UniPC maps Karras sigmas to flow sigmas
    // s = sigma / (1 + sigma).
    std::optional<double> sigma_min{}, sigma_max{};
    // diffusers rounds Karras / Lu timesteps except for DPMSolverMultistep with squaredcos_cap_v2.
    bool round_timesteps = true;

    void validate(solver_family family, index num_train_timesteps) const {
        require(steps >= 1 && steps <= num_train_timesteps, "num_inference_steps", steps,
                "an integer in [1, num_train_timesteps = " + std::to_string(num_train_timesteps) + "]");
        require(steps_offset >= 0 && steps_offset < num_train_timesteps, "steps_offset", steps_offset,
                "an integer in [0, num_train_timesteps)");
        require(std::isfinite(flow_shift) && flow_shift > 0, "flow_shift", flow_shift, "a finite number > 0");
        require(!std::isnan(lambda_min_clipped), "lambda_min_clipped", lambda_min_clipped, "a number or -inf");
        if (sigmas == solver_sigma_kind::lu_lambdas) {
            require(family == solver_family::dpm_multistep, "use_lu_lambdas", "true",
                    "only with DPMSolverMultistepScheduler");
        }
        if (use_flow_sigmas && sigmas != solver_sigma_kind::timesteps) {
            require(family == solver_family::unipc && sigmas == solver_sigma_kind::karras, "use_flow_sigmas", "true",
                    "with timestep sigmas, or with Karras sigmas in UniPC (other combinations are not defined by "
                    "diffusers)");
        }
        if (mu || shift_terminal) {
            require(family == solver_family::unipc && use_flow_sigmas && sigmas == solver_sigma_kind::timesteps,
                    mu ? "mu" : "shift_terminal", mu ? *mu : *shift_terminal,
                    "only with UniPCMultistepScheduler and use_flow_sigmas (and no use_*_sigmas)");
            if (mu)
                require(std::isfinite(*mu) && (time_shift == time_shift_kind::exponential || *mu > 0), "mu", *mu,
                        "a finite number (> 0 with time_shift_type \"linear\")");
            if (shift_terminal)
                require(*shift_terminal >= 0 && *shift_terminal < 1, "shift_terminal", *shift_terminal, "in [0, 1)");
        }
        if (sigma_min || sigma_max) {
            require(family == solver_family::unipc, "sigma_min/sigma_max", "set", "only with UniPCMultistepScheduler");
            if (sigma_min) require_positive("sigma_min", *sigma_min);
            if (sigma_max) require_positive("sigma_max", *sigma_max);
        }
    }
};

namespace detail {

// np.interp(t, arange(T), values) for t in [0, T - 1].
inline double interpolate_at(double t, const std::vector<double>& values) {
    const double last = static_cast<double>(values.size() - 1);
    t = std::clamp(t, 0.0, last);
    const auto lo = static_cast<std::size_t>(std::min(std::floor(t), last - 1));
    const double w = t - static_cast<double>(lo);
    return (1.0 - w) * values[lo] + w * values[lo + 1];
}

// The spaced integer timesteps of set_timesteps (float values, decreasing).
inline std::vector<double> solver_timesteps(solver_family family, const solver_sigma_options& o, index train,
                                            index last_timestep) {
    const index n = o.steps;
    std::vector<double> out;
    const spacing rule = family == solver_family::dpm_singlestep ? spacing::linspace : o.timestep_spacing;
    switch (rule) {
        case spacing::linspace: {
            // np.linspace(0, last - 1, n + 1).round()[::-1][:-1]
            const double end = static_cast<double>(last_timestep - 1), step = end / static_cast<double>(n);
            for (index k = n; k >= 1; --k) out.push_back(std::nearbyint(k == n ? end : static_cast<double>(k) * step));
            break;
        }
        case spacing::leading: {
            const index ratio = last_timestep / (n + 1);
            for (index k = n; k >= 1; --k) out.push_back(static_cast<double>(k * ratio + o.steps_offset));
            break;
        }
        case spacing::trailing: {
            // np.arange(last, 0, -T/n).round() - 1
            const double ratio = static_cast<double>(train) / static_cast<double>(n);
            for (index i = 0;; ++i) {
                const double t = static_cast<double>(last_timestep) - static_cast<double>(i) * ratio;
                if (!(t > 0.0)) break;
                out.push_back(std::nearbyint(t) - 1.0);
            }
            break;
        }
    }
    return out;
}

}  // namespace detail

// The grid of `family`'s set_timesteps for a discrete (VP-trained) schedule.
namespace detail {

// How many training timesteps have lambda = log(alpha_t / sigma_t) below lambda_min_clipped (the
// noisiest ones, which the DPM-Solver classes leave out); at least 2 must stay.
template <Real T>
index lambda_clipped_count(std::span<const T> alphas_cumprod, double lambda_min_clipped) {
    if (lambda_min_clipped == -std::numeric_limits<double>::infinity()) return 0;
    index clipped = 0;
    for (const T ab : alphas_cumprod) {
        const T lambda = std::log(std::sqrt(ab)) - std::log(std::sqrt(T(1) - ab));
        if (static_cast<double>(lambda) < lambda_min_clipped) ++clipped;
    }
    require(static_cast<index>(alphas_cumprod.size()) - clipped >= 2, "lambda_min_clipped", lambda_min_clipped,
            "a value that keeps at least 2 timesteps");
    return clipped;
}

}  // namespace detail

template <Real T>
sigma_grid<T> solver_sigma_grid(const discrete<T>& schedule, solver_family family, const solver_sigma_options& o = {}) {
    const index train = schedule.num_train_timesteps();
    o.validate(family, train);
    // Training sigmas in T (diffusers: float32 torch), zero terminal SNR clamped to 2^-24.
    std::vector<T> alphas_cumprod(schedule.alphas_cumprod().begin(), schedule.alphas_cumprod().end());
    if (alphas_cumprod.back() == T(0)) alphas_cumprod.back() = static_cast<T>(std::ldexp(1.0, -24));
    std::vector<double> sig(alphas_cumprod.size()), log_sigmas(alphas_cumprod.size());
    for (std::size_t i = 0; i < sig.size(); ++i) {
        const T ab = alphas_cumprod[i];
        sig[i] = static_cast<double>(std::sqrt((T(1) - ab) / ab));
        log_sigmas[i] = std::log(sig[i]);
    }

    // lambda_min_clipped: drop the timesteps whose lambda = log(alpha_t / sigma_t) is below it.
    index last_timestep = train;
    const bool dpm = family == solver_family::dpm_multistep || family == solver_family::dpm_singlestep;
    if (dpm)
        last_timestep =
            train - detail::lambda_clipped_count<T>(std::span<const T>(alphas_cumprod), o.lambda_min_clipped);

    std::vector<double> times = detail::solver_timesteps(family, o, train, last_timestep);
    std::vector<double> sigmas;
    const double train_min = o.sigma_min.value_or(sig.front()), train_max = o.sigma_max.value_or(sig.back());
    const auto times_from_sigmas = [&](bool round) {
        times.clear();
        for (const double s : sigmas) {
            const double t = sigma_to_timestep(s, log_sigmas);
            times.push_back(round && o.round_timesteps ? std::nearbyint(t) : t);
        }
    };
    const auto flow_times = [&] {
        times.clear();
        for (const double s : sigmas) times.push_back(s * static_cast<double>(train));
    };
    switch (o.sigmas) {
        case solver_sigma_kind::timesteps:
            if (!o.use_flow_sigmas) {
                for (const double t : times) sigmas.push_back(detail::interpolate_at(t, sig));
                break;
            }
            {
                const double inv_train = 1.0 / static_cast<double>(train);
                const auto shifted = [&o](double s) {
                    return o.mu ? dynamic_time_shift(s, *o.mu, o.time_shift) : schedule::flow_shift(s, o.flow_shift);
                };
                if (family == solver_family::unipc) {
                    // linspace(1, 1/T, n + 1)[:-1], shifted (statically or by mu), stretched to
                    // shift_terminal, the first nudged below 1.
                    for (const double s : detail::linspace(1.0, inv_train, o.steps + 1)) sigmas.push_back(shifted(s));
                    sigmas.pop_back();
                    if (o.shift_terminal) stretch_to_terminal(sigmas, *o.shift_terminal);
                    if (std::fabs(sigmas.front() - 1.0) < 1e-6) sigmas.front() -= 1e-6;
                } else {
                    // flip(shift(1 - linspace(1, 1/T, n + 1)))[:-1]
                    const auto a = detail::linspace(1.0, inv_train, o.steps + 1);
                    for (auto it = a.rbegin(); it != a.rend(); ++it) sigmas.push_back(shifted(1.0 - *it));
                    sigmas.pop_back();
                }
                flow_times();
            }
            break;
        case solver_sigma_kind::karras:
            sigmas = karras_sigmas(o.steps, train_min, train_max);
            if (o.use_flow_sigmas) {  // UniPC: Karras sigmas as flow sigmas s = sigma / (1 + sigma)
                for (double& s : sigmas) s = s / (s + 1.0);
                flow_times();
            } else {
                times_from_sigmas(true);
            }
            break;
        case solver_sigma_kind::exponential:
            sigmas = exponential_sigmas(o.steps, train_min, train_max);
            times_from_sigmas(false);
            break;
        case solver_sigma_kind::beta:
            sigmas = beta_sigmas(o.steps, train_min, train_max);
            times_from_sigmas(false);
            break;
        case solver_sigma_kind::lu_lambdas: {
            // Lu et al. 2022, sec. 3.3: uniform in lambda between the extremes.
            const auto l = detail::linspace(-log_sigmas.back(), -log_sigmas.front(), o.steps);
            for (const double v : l) sigmas.push_back(std::exp(-v));
            times_from_sigmas(true);
            break;
        }
    }

    const bool flow_levels = o.use_flow_sigmas;
    // The DPM-Solver classes append the training sigma at t = 0 even to flow sigmas; DEIS repeats
    // the last sigma when the sigmas are not interpolated at timesteps.
    const bool not_interpolated = o.sigmas != solver_sigma_kind::timesteps || o.use_flow_sigmas;
    const bool deis_repeat = family == solver_family::deis && not_interpolated;
    const bool unipc_repeat = family == solver_family::unipc && not_interpolated && o.last == final_sigma::sigma_min;
    const double end_sigma = deis_repeat || unipc_repeat   ? sigmas.back()
                             : o.last == final_sigma::zero ? 0.0
                                                           : sig.front();
    // A repeated last sigma (Karras/exponential/beta/Lu sigmas that already end at sigma_min, and DEIS)
    // is a zero-length step: for the multistep methods it leaves x unchanged (every weight has a
    // factor e^0 - 1 = 0 or a 1/r0 = h/h_0 = 0), so the grid ends at that sigma instead: one model
    // evaluation fewer, the same sample. For the singlestep method it is not a no-op (its last
    // group starts earlier), so it is refused, as is UniPC's (diffusers corrects on that step).
    // (equal as stored, or up to the rounding of the Karras formula's powers in double)
    const bool repeats_last = static_cast<T>(end_sigma) == static_cast<T>(sigmas.back()) ||
                              std::fabs(end_sigma - sigmas.back()) <= 1e-12 * sigmas.back();
    if (repeats_last && (family == solver_family::dpm_singlestep || family == solver_family::unipc)) {
        throw invalid(
            "final_sigmas_type", "sigma_min",
            "\"zero\" when the sigmas already end at sigma_min (Karras, exponential or flow sigmas): diffusers "
            "repeats the last sigma there, which this scheduler does not treat as a no-op");
    }

    std::vector<noise_level<T>> levels;
    const auto model_time = [](double t) { return static_cast<double>(static_cast<std::int64_t>(t)); };  // .to(int64)
    const auto vp_level = [](double sigma, double time) {
        const T s = static_cast<T>(sigma);  // diffusers keeps sigmas in float32
        return noise_level<T>{s, T(1) / std::sqrt(s * s + T(1)), time};
    };
    const auto flow_level = [](double flow_sigma, double time) {
        const T s = static_cast<T>(flow_sigma);
        return noise_level<T>{s / (T(1) - s), T(1) - s, time};
    };
    const auto level = [&](double sigma, double time) {
        return flow_levels ? flow_level(sigma, time) : vp_level(sigma, time);
    };
    for (std::size_t i = 0; i < sigmas.size(); ++i) levels.push_back(level(sigmas[i], model_time(times[i])));
    if (!repeats_last) levels.push_back(level(end_sigma, 0.0));
    return sigma_grid<T>(std::move(levels), T(1));
}

// diffusers' DPMSolverMultistepInverseScheduler.set_timesteps with timestep spacing (its default
// path): n increasing timesteps from 0 towards the noisiest timestep N that lambda_min_clipped keeps,
//   linspace: round(linspace(0, N, n + 1))[:-1],  leading: arange(n) ((N + 1) // (n + 1)) + steps_offset,
// the training sigmas there (float32), and a last level at sigma_N: a grid from data towards noise
// (sigma_grid::increasing). Trailing spacing is refused: its last timestep is N itself, so diffusers'
// last step has length zero, and leaving it out would change which steps its lower_order_final lowers.
template <Real T>
sigma_grid<T> inverse_solver_sigma_grid(const discrete<T>& schedule, index steps, spacing rule, index steps_offset = 0,
                                        double lambda_min_clipped = -std::numeric_limits<double>::infinity()) {
    require(!std::isnan(lambda_min_clipped), "lambda_min_clipped", lambda_min_clipped, "a number or -inf");
    require(rule != spacing::trailing, "timestep_spacing", "trailing",
            "\"linspace\" or \"leading\" for the inverse DPM-Solver (diffusers' trailing grid ends with a zero-length "
            "step)");
    const std::vector<T> sigmas = training_sigmas(schedule);
    const auto noisiest = static_cast<index>(sigmas.size()) - 1 -
                          detail::lambda_clipped_count<T>(schedule.alphas_cumprod(), lambda_min_clipped);
    require(steps >= 1 && steps <= noisiest, "num_inference_steps", steps,
            "an integer in [1, " + std::to_string(noisiest) + "] (the noisiest timestep kept)");
    std::vector<index> times;
    if (rule == spacing::linspace) {
        const auto points = detail::linspace(0.0, static_cast<double>(noisiest), steps + 1);
        for (index i = 0; i < steps; ++i)
            times.push_back(static_cast<index>(std::nearbyint(points[static_cast<std::size_t>(i)])));
    } else {
        const index ratio = (noisiest + 1) / (steps + 1);
        for (index i = 0; i < steps; ++i) times.push_back(i * ratio + steps_offset);
    }
    std::vector<noise_level<T>> levels;
    const auto level = [](T sigma, double time) {
        return noise_level<T>{sigma, T(1) / std::sqrt(sigma * sigma + T(1)), time};
    };
    for (std::size_t i = 0; i < times.size(); ++i) {
        require(times[i] < noisiest && (i == 0 || times[i] > times[i - 1]), "num_inference_steps", steps,
                "few enough for distinct timesteps below the noisiest one (" + std::to_string(noisiest) + ")");
        levels.push_back(level(sigmas[static_cast<std::size_t>(times[i])], static_cast<double>(times[i])));
    }
    levels.push_back(level(sigmas[static_cast<std::size_t>(noisiest)], static_cast<double>(noisiest)));
    return sigma_grid<T>::increasing(std::move(levels), T(1));
}

}  // namespace diffuse::schedule
