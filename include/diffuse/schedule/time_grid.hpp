// diffuse/schedule/time_grid.hpp: intervals and grids of continuous time (schedule/process.hpp)
// that run either way: noise -> data (t decreasing: sampling, decoding) or data -> noise
// (t increasing: encoding, likelihood by the probability-flow ODE).
//
// Continuous processes are not integrated down to t = 0, where the score of a VP or VE process
// is singular (sigma -> 0): score_sde stops at eps. Its conventions (Song et al. 2021, code
// release run_lib.py, likelihood.py, losses.py):
//   sampling    eps = 1e-3 for VP and sub-VP, 1e-5 for VE (sampling_eps);
//   likelihood  eps = 1e-5 (get_likelihood_fn, integrating from eps to T); training t ~ U(eps, T), eps = 1e-5.
// EDM stops at sigma_min (Karras et al. 2022); a flow network is evaluated down to s = 0
// (diffusers' FlowMatch), where its velocity stays finite.
#pragma once

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/schedule/discrete.hpp"
#include "diffuse/schedule/process.hpp"
#include "diffuse/schedule/sigmas.hpp"

namespace diffuse::schedule {

enum class direction {
    to_data,  // t decreasing: sampling, decoding
    to_noise  // t increasing: encoding, likelihood
};

namespace score_sde_eps {
inline constexpr double sampling_vp = 1e-3;  // VP and sub-VP (run_lib.py)
inline constexpr double sampling_ve = 1e-5;  // VE (run_lib.py)
inline constexpr double likelihood = 1e-5;   // likelihood.py and the training loss (losses.py)
}  // namespace score_sde_eps

// Where sampling stops by default for each process (see the header comment).
template <Real T>
T default_sampling_eps(const process<T>& p) {
    switch (p.kind()) {
        case process_kind::vp:
        case process_kind::sub_vp:
        case process_kind::cosine:
            return static_cast<T>(score_sde_eps::sampling_vp);
        case process_kind::ve:
            return static_cast<T>(score_sde_eps::sampling_ve);
        case process_kind::edm:
            return static_cast<T>(p.sigma_min());
        case process_kind::flow:
            return T(0);
    }
    return T(0);
}

template <Real T>
class time_grid;

namespace detail {

inline void require_time_bounds(double eps, double t_max) {
    require(std::isfinite(eps) && eps >= 0.0 && eps < t_max, "eps", eps,
            "in [0, T) = [0, " + std::to_string(t_max) + ")");
}

template <Real T>
void require_time_within(std::string_view name, T t, T eps, T t_max) {
    if (!(t >= eps && t <= t_max)) {
        throw invalid(name, t,
                      "in [eps, T] = [" + std::to_string(static_cast<double>(eps)) + ", " +
                          std::to_string(static_cast<double>(t_max)) + "]");
    }
}

}  // namespace detail

// [eps, T] traversed from `from` to `to`.
template <Real T>
class time_interval {
public:
    time_interval(const process<T>& p, T from, T to, T eps) : from_(from), to_(to), eps_(eps), t_max_(p.t_max()) {
        detail::require_time_bounds(static_cast<double>(eps_), static_cast<double>(t_max_));
        detail::require_time_within("from", from_, eps_, t_max_);
        detail::require_time_within("to", to_, eps_, t_max_);
        require(from_ != to_, "to", to_, "different from `from` (an interval of positive length)");
    }

    // Noise -> data: from T down to eps (default: default_sampling_eps(p)).
    static time_interval sampling(const process<T>& p) { return sampling(p, default_sampling_eps(p)); }
    static time_interval sampling(const process<T>& p, T eps) { return time_interval(p, p.t_max(), eps, eps); }
    // Data -> noise: from eps up to T (score_sde's likelihood eps by default).
    static time_interval encoding(const process<T>& p, T eps = static_cast<T>(score_sde_eps::likelihood)) {
        return time_interval(p, eps, p.t_max(), eps);
    }

    [[nodiscard]] T from() const { return from_; }
    [[nodiscard]] T to() const { return to_; }
    [[nodiscard]] T eps() const { return eps_; }
    [[nodiscard]] T t_max() const { return t_max_; }
    [[nodiscard]] direction dir() const { return to_ < from_ ? direction::to_data : direction::to_noise; }
    [[nodiscard]] T length() const { return std::abs(to_ - from_); }
    [[nodiscard]] bool contains(T t) const { return t >= std::min(from_, to_) && t <= std::max(from_, to_); }
    [[nodiscard]] time_interval reversed() const { return time_interval(to_, from_, eps_, t_max_); }

    // steps + 1 equally spaced times from `from` to `to`, both ends exact (score_sde's
    // torch.linspace(T, eps, N) is uniform(N - 1)).
    [[nodiscard]] time_grid<T> uniform(index steps) const {
        require(steps >= 1, "steps", steps, "an integer >= 1");
        std::vector<T> times;
        times.reserve(static_cast<std::size_t>(steps + 1));
        for (const double t : detail::linspace(static_cast<double>(from_), static_cast<double>(to_), steps + 1)) {
            times.push_back(static_cast<T>(t));
        }
        times.front() = from_;
        times.back() = to_;
        return time_grid<T>(std::move(times), eps_, t_max_);
    }

private:
    time_interval(T from, T to, T eps, T t_max) : from_(from), to_(to), eps_(eps), t_max_(t_max) {}

    T from_, to_, eps_, t_max_;
};

// n + 1 strictly monotone times within [eps, T], in either direction.
template <Real T>
class time_grid {
public:
    time_grid(const process<T>& p, std::vector<T> times, T eps) : time_grid(std::move(times), eps, p.t_max()) {}

    [[nodiscard]] index steps() const { return static_cast<index>(times_.size()) - 1; }
    [[nodiscard]] T operator[](index i) const { return times_[static_cast<std::size_t>(i)]; }
    [[nodiscard]] std::span<const T> times() const { return times_; }
    [[nodiscard]] T eps() const { return eps_; }
    [[nodiscard]] T t_max() const { return t_max_; }
    [[nodiscard]] direction dir() const { return times_[1] < times_[0] ? direction::to_data : direction::to_noise; }
    [[nodiscard]] time_interval<T> interval(const process<T>& p) const {
        return time_interval<T>(p, times_.front(), times_.back(), eps_);
    }
    // The same times run the other way (a sampling grid becomes an encoding grid and back).
    [[nodiscard]] time_grid reversed() const {
        return time_grid(std::vector<T>(times_.rbegin(), times_.rend()), eps_, t_max_);
    }

    // A noise -> data grid as the sigma grid every sampler walks (process::level at each time), ending
    // at the clean level (sigma 0) or, with final_sigma::sigma_min, at the last time's level. The
    // initial noise is the prior's, in the network's state: prior_std times the input scale relative
    // to alpha (1, or EDM's c_in).
    [[nodiscard]] sigma_grid<T> levels(const process<T>& p, final_sigma last = final_sigma::zero) const {
        require(dir() == direction::to_data, "grid direction", "data -> noise",
                "noise -> data (decreasing times) for a sampling grid; reverse it first");
        std::vector<noise_level<T>> out;
        out.reserve(times_.size() + 1);
        for (const T t : times_) out.push_back(p.level(t));
        if (last == final_sigma::zero) out.push_back(p.clean_level());
        const T relative_scale = p.kind() == process_kind::edm ? out.front().alpha : T(1);
        return sigma_grid<T>(std::move(out), p.prior_std() * relative_scale);
    }

private:
    template <Real>
    friend class time_interval;

    time_grid(std::vector<T> times, T eps, T t_max) : times_(std::move(times)), eps_(eps), t_max_(t_max) {
        detail::require_time_bounds(static_cast<double>(eps_), static_cast<double>(t_max_));
        require(times_.size() >= 2, "times.size()", times_.size(), "at least 2 (one step and its end point)");
        const bool decreasing = times_[1] < times_[0];
        for (std::size_t i = 0; i < times_.size(); ++i) {
            const std::string at = "times[" + std::to_string(i) + "]";
            detail::require_time_within(at, times_[i], eps_, t_max_);
            if (i > 0 && !(decreasing ? times_[i] < times_[i - 1] : times_[i] > times_[i - 1])) {
                throw invalid(at, times_[i],
                              std::string("strictly ") + (decreasing ? "less" : "greater") +
                                  " than the time before it (" + std::to_string(static_cast<double>(times_[i - 1])) +
                                  "): times must be strictly monotone");
            }
        }
    }

    std::vector<T> times_;
    T eps_, t_max_;
};

}  // namespace diffuse::schedule
