// The 2-D training set-up shared by examples/train_and_sample (which trains) and
// examples/likelihood --model (which evaluates the trained weights): the data sets, the noise
// levels the network was trained at, its input scaling, its architecture, and the settings file
// written beside the weights (model.bin -> model.txt) so a reader can rebuild the same function.
#pragma once

#include <diffuse/core/error.hpp>
#include <diffuse/core/random.hpp>
#include <diffuse/models/gaussian_mixture.hpp>
#include <diffuse/nn/time_embedding.hpp>
#include <diffuse/schedule/discrete.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

namespace examples {

// The training distributions: the two Gaussian mixtures of diffuse::models, and two moons
// (two noisy half circles, as sklearn.datasets.make_moons with noise 0.1).
template <diffuse::Real T>
class dataset {
public:
    using array = Eigen::Array<T, Eigen::Dynamic, 1>;

    explicit dataset(const std::string& name)
        : name_(name),
          mixture_(name == "checkerboard" ? diffuse::models::gaussian_mixture<T>::checkerboard()
                                          : diffuse::models::gaussian_mixture<T>::ring()) {
        diffuse::require(name == "ring" || name == "moons" || name == "checkerboard", "dataset", name,
                         "ring, moons, checkerboard");
    }

    const std::string& name() const { return name_; }
    // The exact density is known for the two mixtures (not for the moons).
    const diffuse::models::gaussian_mixture<T>* mixture() const { return name_ == "moons" ? nullptr : &mixture_; }
    // Half the side of the square the pictures show.
    double half_width() const { return name_ == "ring" ? 6.5 : 2.5; }

    // n points, point-major (x0, y0, x1, y1, ...).
    void sample(diffuse::view<T> out, diffuse::random::generator& rng) const {
        if (name_ != "moons") {
            mixture_.sample(out, rng);
            return;
        }
        const diffuse::index n = out.size() / 2;
        array u(n), side(n), jitter(2 * n);
        rng.uniform(u);
        rng.uniform(side);
        rng.normal(jitter);
        for (diffuse::index i = 0; i < n; ++i) {
            const T angle = std::numbers::pi_v<T> * u[i];
            const bool upper = side[i] < T(0.5);
            out[2 * i] = upper ? std::cos(angle) : T(1) - std::cos(angle);
            out[2 * i + 1] = upper ? std::sin(angle) : T(0.5) - std::sin(angle);
        }
        out += T(0.1) * jitter;
    }

    // The factor that scales the data to standard deviation sigma_data per coordinate (measured on
    // 65536 points of a fixed seed, so it does not depend on the run's seed).
    double scale(double sigma_data) const {
        array probe(2 * 65536);
        diffuse::random::generator probe_rng(12345);
        sample(diffuse::flat(probe), probe_rng);
        const auto p = probe.template cast<double>();
        return sigma_data / std::sqrt(p.square().mean() - std::pow(p.mean(), 2));
    }

private:
    std::string name_;
    diffuse::models::gaussian_mixture<T> mixture_;
};

// Where a training example sits on the noising path: x_t = alpha x0 + sigma eps at model time `time`.
// DDPM: the integer timestep 0..999 of a 1000-step linear-beta schedule, uniform. Rectified flow:
// x_s = (1 - s) x0 + s eps, s uniform in [0, 1], model time 1000 s (diffusers' FlowMatch convention).
template <diffuse::Real T>
class noise_levels {
public:
    explicit noise_levels(bool flow)
        : flow_(flow),
          alphas_cumprod_(linear_betas().alphas_cumprod().begin(), linear_betas().alphas_cumprod().end()) {}

    // u in [0, 1) -> (alpha, sigma, time) of example j.
    void set(diffuse::index j, T u, diffuse::view<T> alpha, diffuse::view<T> sigma, diffuse::view<T> time) const {
        if (flow_) {
            sigma[j] = u;
            alpha[j] = T(1) - u;
            time[j] = T(1000) * u;
            return;
        }
        const auto t =
            static_cast<std::size_t>(std::min<diffuse::index>(static_cast<diffuse::index>(u * T(1000)), 999));
        alpha[j] = std::sqrt(alphas_cumprod_[t]);
        sigma[j] = std::sqrt(T(1) - alphas_cumprod_[t]);
        time[j] = static_cast<T>(t);
    }

    // (alpha, sigma) at a sampler's model time (DDPM timesteps may be fractional: alphas_cumprod
    // is interpolated linearly between neighbouring integers).
    std::pair<T, T> at_time(double time) const {
        if (flow_) {
            const T s = static_cast<T>(std::clamp(time / 1000.0, 0.0, 1.0));
            return {T(1) - s, s};
        }
        const double t = std::clamp(time, 0.0, 999.0);
        const auto lower = static_cast<std::size_t>(t);
        const auto upper = std::min<std::size_t>(lower + 1, 999);
        const double w = t - static_cast<double>(lower);
        const double alpha_bar = (1 - w) * alphas_cumprod_[lower] + w * alphas_cumprod_[upper];
        return {static_cast<T>(std::sqrt(alpha_bar)), static_cast<T>(std::sqrt(1 - alpha_bar))};
    }

    // The inverse of at_time for DDPM: the fractional timestep whose interpolated alphas_cumprod is
    // alpha_bar (clamped to [0, 999], the trained range).
    double time_of(double alpha_bar) const {
        if (flow_) return 1000.0 * std::clamp(1.0 - std::sqrt(alpha_bar), 0.0, 1.0);
        const auto decreasing = [](T a, double b) { return static_cast<double>(a) > b; };
        const auto it = std::lower_bound(alphas_cumprod_.begin(), alphas_cumprod_.end(), alpha_bar, decreasing);
        if (it == alphas_cumprod_.begin()) return 0.0;
        if (it == alphas_cumprod_.end()) return 999.0;
        const double hi = static_cast<double>(*(it - 1)), lo = static_cast<double>(*it);
        return static_cast<double>(it - alphas_cumprod_.begin() - 1) + (hi - alpha_bar) / (hi - lo);
    }

private:
    static const diffuse::schedule::discrete<T>& linear_betas() {
        static const auto schedule =
            diffuse::schedule::discrete<T>::named(diffuse::schedule::beta_schedule::linear, 1000, 1e-4, 0.02);
        return schedule;
    }

    bool flow_;
    std::vector<T> alphas_cumprod_;
};

// EDM's input scaling c_in (Karras et al. 2022, Table 1, in the variance-preserving form): the
// network sees x_t / sqrt(alpha^2 sigma_data^2 + sigma^2), which has unit variance at every noise
// level, so the first layer never has to resolve the data's scale.
template <diffuse::Real T>
T input_scale(T alpha, T sigma, T sigma_data) {
    return T(1) / std::sqrt(alpha * alpha * sigma_data * sigma_data + sigma * sigma);
}

// The network: 3 hidden layers of `width`, a 32-wide sinusoidal embedding of the model time.
template <diffuse::Real T>
diffuse::nn::time_conditioned_mlp<T> toy_network(diffuse::index width) {
    return diffuse::nn::time_conditioned_mlp<T>(2, std::vector<diffuse::index>(3, width), {32});
}

// What a reader of model.bin needs besides the weights, one "key value" per line in model.txt.
struct training_settings {
    std::string dataset = "ring", objective = "epsilon";
    diffuse::index width = 128;
    double sigma_data = 0.5;
};

inline std::filesystem::path settings_path(const std::filesystem::path& weights) {
    return std::filesystem::path(weights).replace_extension(".txt");
}

inline void write_settings(const std::filesystem::path& weights, const training_settings& s) {
    std::ofstream out(settings_path(weights));
    out.precision(17);
    out << "dataset " << s.dataset << "\nobjective " << s.objective << "\nwidth " << s.width << "\nsigma_data "
        << s.sigma_data << "\n";
    diffuse::require(static_cast<bool>(out), "settings file", settings_path(weights).string(), "a writable path");
}

inline training_settings read_settings(const std::filesystem::path& weights) {
    const auto path = settings_path(weights);
    std::ifstream in(path);
    diffuse::require(static_cast<bool>(in), "settings file", path.string(),
                     "a readable file (train_and_sample writes it beside model.bin)");
    training_settings s;
    int seen = 0;
    for (std::string key; in >> key;) {
        if (key == "dataset") in >> s.dataset;
        else if (key == "objective") in >> s.objective;
        else if (key == "width") in >> s.width;
        else if (key == "sigma_data") in >> s.sigma_data;
        else throw diffuse::invalid("settings key", key, "dataset, objective, width, sigma_data");
        diffuse::require(static_cast<bool>(in), "settings value of", key, "a value after the key");
        ++seen;
    }
    diffuse::require(seen == 4, "settings lines", seen, "4 (dataset, objective, width, sigma_data)");
    diffuse::require(
        s.objective == "epsilon" || s.objective == "v_prediction" || s.objective == "sample" || s.objective == "flow",
        "objective", s.objective, "epsilon, v_prediction, sample, flow");
    diffuse::require(s.width >= 8 && s.width <= 1024, "width", s.width, "8 .. 1024");
    diffuse::require(s.sigma_data > 0.0 && s.sigma_data <= 10.0, "sigma_data", s.sigma_data, "(0, 10]");
    return s;
}

}  // namespace examples
