// diffuse/schedule/discrete.hpp: discrete-time noise schedules (DDPM, Ho et al. 2020).
//
// A discrete schedule is the sequence beta_0..beta_{T-1} and its products
//   alpha_t = 1 - beta_t,   alphabar_t = prod_{s<=t} alpha_s          (Ho et al. 2020, eq. 4)
// so that the forward process is x_t = sqrt(alphabar_t) x_0 + sqrt(1 - alphabar_t) eps.
// The constructors reproduce diffusers' arithmetic: betas are computed in double and stored in
// T (diffusers stores float32), and alphabar is accumulated in double and rounded to T element
// by element, which is exactly what torch.cumprod does for float32 on the CPU.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"

namespace diffuse::schedule {

// diffusers' `beta_schedule` names.
enum class beta_schedule { linear, scaled_linear, squaredcos_cap_v2, sigmoid };

inline constexpr std::string_view beta_schedule_names = "linear, scaled_linear, squaredcos_cap_v2, sigmoid";

inline beta_schedule parse_beta_schedule(std::string_view name) {
    if (name == "linear") return beta_schedule::linear;
    if (name == "scaled_linear") return beta_schedule::scaled_linear;
    if (name == "squaredcos_cap_v2") return beta_schedule::squaredcos_cap_v2;
    if (name == "sigmoid") return beta_schedule::sigmoid;
    throw invalid("beta_schedule", name, beta_schedule_names);
}

namespace detail {

// n points from a to b inclusive, computed in double (each point rounded once when stored).
inline std::vector<double> linspace(double a, double b, index n) {
    std::vector<double> out(static_cast<std::size_t>(n));
    const double step = n > 1 ? (b - a) / static_cast<double>(n - 1) : 0.0;
    for (index i = 0; i < n; ++i) {
        // Fill from both ends so the end points are exact, as torch.linspace does.
        out[static_cast<std::size_t>(i)] =
            i < n / 2 ? a + step * static_cast<double>(i) : b - step * static_cast<double>(n - 1 - i);
    }
    return out;
}

inline void require_train_timesteps(index n) {
    require(n >= 2 && n <= 100'000'000, "num_train_timesteps", n, "an integer in [2, 1e8]");
}

}  // namespace detail

template <Real T>
class discrete {
public:
    // Linear betas (Ho et al. 2020, sec. 4): beta_t = linspace(beta_start, beta_end, T).
    static discrete linear(index num_train_timesteps = 1000, double beta_start = 1e-4, double beta_end = 0.02) {
        check_beta_range(beta_start, beta_end);
        detail::require_train_timesteps(num_train_timesteps);
        return from_doubles(detail::linspace(beta_start, beta_end, num_train_timesteps));
    }

    // Stable Diffusion's schedule: linear in sqrt(beta), then squared.
    static discrete scaled_linear(index num_train_timesteps = 1000, double beta_start = 0.00085,
                                  double beta_end = 0.012) {
        check_beta_range(beta_start, beta_end);
        detail::require_train_timesteps(num_train_timesteps);
        auto betas = detail::linspace(std::sqrt(beta_start), std::sqrt(beta_end), num_train_timesteps);
        // diffusers squares the float32 linspace in float32: round first, then square in T.
        std::vector<T> rounded(betas.size());
        for (std::size_t i = 0; i < betas.size(); ++i) {
            const T root = static_cast<T>(betas[i]);
            rounded[i] = root * root;
        }
        return from_betas(std::move(rounded));
    }

    // Cosine schedule (Nichol & Dhariwal 2021, eq. 17): alphabar(t) = cos^2((t/T + s)/(1 + s) * pi/2),
    // s = 0.008, beta_i = min(1 - alphabar((i+1)/T) / alphabar(i/T), max_beta).
    static discrete squaredcos_cap_v2(index num_train_timesteps = 1000, double max_beta = 0.999) {
        detail::require_train_timesteps(num_train_timesteps);
        require(max_beta > 0.0 && max_beta < 1.0, "max_beta", max_beta, "(0, 1)");
        const auto alphabar = [](double t) {
            const double c = std::cos((t + 0.008) / 1.008 * std::numbers::pi / 2.0);
            return c * c;
        };
        std::vector<double> betas(static_cast<std::size_t>(num_train_timesteps));
        const auto n = static_cast<double>(num_train_timesteps);
        for (index i = 0; i < num_train_timesteps; ++i) {
            const double t1 = static_cast<double>(i) / n, t2 = static_cast<double>(i + 1) / n;
            betas[static_cast<std::size_t>(i)] = std::min(1.0 - alphabar(t2) / alphabar(t1), max_beta);
        }
        return from_doubles(betas);
    }

    // GeoDiff's sigmoid schedule: beta = sigmoid(linspace(-6, 6, T)) * (end - start) + start,
    // evaluated in T as diffusers does in float32.
    static discrete sigmoid(index num_train_timesteps = 1000, double beta_start = 1e-4, double beta_end = 0.02) {
        check_beta_range(beta_start, beta_end);
        detail::require_train_timesteps(num_train_timesteps);
        const auto grid = detail::linspace(-6.0, 6.0, num_train_timesteps);
        std::vector<T> betas(grid.size());
        const T span = static_cast<T>(beta_end - beta_start), start = static_cast<T>(beta_start);
        for (std::size_t i = 0; i < grid.size(); ++i) {
            const T z = static_cast<T>(grid[i]);
            betas[i] = T(1) / (T(1) + std::exp(-z)) * span + start;
        }
        return from_betas(std::move(betas));
    }

    // By diffusers' name (`beta_schedule` in scheduler_config.json).
    static discrete named(beta_schedule kind, index num_train_timesteps = 1000, double beta_start = 1e-4,
                          double beta_end = 0.02) {
        switch (kind) {
            case beta_schedule::linear:
                return linear(num_train_timesteps, beta_start, beta_end);
            case beta_schedule::scaled_linear:
                return scaled_linear(num_train_timesteps, beta_start, beta_end);
            case beta_schedule::squaredcos_cap_v2:
                return squaredcos_cap_v2(num_train_timesteps);
            case beta_schedule::sigmoid:
                return sigmoid(num_train_timesteps, beta_start, beta_end);
        }
        throw invalid("beta_schedule", static_cast<int>(kind), beta_schedule_names);
    }

    // User-supplied betas (diffusers' `trained_betas`). Each must lie in (0, 1]; beta = 1 is allowed
    // only as the last entry (zero terminal SNR).
    static discrete from_betas(std::vector<T> betas) {
        detail::require_train_timesteps(static_cast<index>(betas.size()));
        for (std::size_t i = 0; i < betas.size(); ++i) {
            const bool last = i + 1 == betas.size();
            if (!(betas[i] > T(0) && (betas[i] < T(1) || (last && betas[i] == T(1))))) {
                throw invalid("betas[" + std::to_string(i) + "]", betas[i],
                              "(0, 1) (1 only for the last entry, zero terminal SNR)");
            }
        }
        return discrete(std::move(betas));
    }

    // Zero-terminal-SNR rescale (Lin et al. 2024, "Common Diffusion Noise Schedules and Sample Steps
    // are Flawed", Algorithm 1): shift and scale sqrt(alphabar) so the last is 0 and the first is kept.
    // Arithmetic in T, step for step as diffusers' rescale_zero_terminal_snr.
    [[nodiscard]] discrete rescaled_zero_terminal_snr() const {
        const std::size_t n = betas_.size();
        const std::vector<T> root = zero_terminal_snr_roots();
        std::vector<T> betas(n);
        T previous = T(1);
        for (std::size_t i = 0; i < n; ++i) {
            const T alphabar = root[i] * root[i];
            betas[i] = T(1) - (i == 0 ? alphabar : alphabar / previous);
            previous = alphabar;
        }
        return discrete(std::move(betas));
    }

    // CogVideoX's SNR shift (diffusers' CogVideoX schedulers, "SNR shift following SD3"): alphabar'
    // = alphabar / (scale + (1 - scale) alphabar), i.e. SNR' = SNR / scale. Only alphabar changes (the
    // betas stay, as in those classes); evaluated in double.
    [[nodiscard]] discrete snr_shifted(double scale) const {
        require(std::isfinite(scale) && scale > 0.0, "snr_shift_scale", scale, "a finite number > 0");
        std::vector<T> shifted(alphas_cumprod_.size());
        for (std::size_t i = 0; i < shifted.size(); ++i) {
            const double ab = static_cast<double>(alphas_cumprod_[i]);
            shifted[i] = static_cast<T>(ab / (scale + (1.0 - scale) * ab));
        }
        return discrete(betas_, std::move(shifted));
    }

    // The zero-terminal-SNR rescale (Lin et al. 2024, Algorithm 1) applied to alphabar itself, which
    // the CogVideoX classes do after the SNR shift, rather than through betas as
    // rescaled_zero_terminal_snr(); arithmetic in T as diffusers'. The betas stay.
    [[nodiscard]] discrete alphas_cumprod_rescaled_zero_terminal_snr() const {
        std::vector<T> root = zero_terminal_snr_roots();
        for (auto& r : root) r *= r;
        return discrete(betas_, std::move(root));
    }

    [[nodiscard]] index num_train_timesteps() const { return static_cast<index>(betas_.size()); }
    [[nodiscard]] std::span<const T> betas() const { return betas_; }
    [[nodiscard]] std::span<const T> alphas() const { return alphas_; }
    [[nodiscard]] std::span<const T> alphas_cumprod() const { return alphas_cumprod_; }

    // alphabar_t for a training timestep t in [0, T).
    [[nodiscard]] T alpha_bar(std::int64_t t) const {
        require_timestep(t);
        return alphas_cumprod_[static_cast<std::size_t>(t)];
    }

    void require_timestep(std::int64_t t, std::string_view parameter = "timestep") const {
        if (t < 0 || t >= static_cast<std::int64_t>(betas_.size())) {
            throw invalid(parameter, t,
                          "an integer in [0, " + std::to_string(betas_.size() - 1) + "] (num_train_timesteps - 1)");
        }
    }

    // Forward process q(x_t | x_0) (Ho et al. 2020, eq. 4): out = sqrt(ab_t) x0 + sqrt(1 - ab_t) noise.
    // Used for img2img (noise an input image to the first timestep of a shortened grid) and training.
    void add_noise(const_view<T> x0, const_view<T> noise, std::int64_t t, view<T> out) const {
        require_size("noise.size()", noise.size(), x0.size());
        require_size("out.size()", out.size(), x0.size());
        const T ab = alpha_bar(t);
        const T signal = std::sqrt(ab), sigma = std::sqrt(T(1) - ab);
        out = signal * x0 + sigma * noise;
    }
    template <class X0, class N, class Out>
    void add_noise(const X0& x0, const N& noise, std::int64_t t, Out&& out) const {
        add_noise(const_view<T>(flat(x0)), const_view<T>(flat(noise)), t, view<T>(flat(out)));
    }

private:
    explicit discrete(std::vector<T> betas) : betas_(std::move(betas)) {
        alphas_.resize(betas_.size());
        alphas_cumprod_.resize(betas_.size());
        double product = 1.0;  // torch.cumprod accumulates float32 in double on the CPU
        for (std::size_t i = 0; i < betas_.size(); ++i) {
            alphas_[i] = T(1) - betas_[i];
            product *= static_cast<double>(alphas_[i]);
            alphas_cumprod_[i] = static_cast<T>(product);
        }
    }

    // sqrt(alphabar) shifted and scaled so that the last is 0 and the first is kept (Algorithm 1).
    [[nodiscard]] std::vector<T> zero_terminal_snr_roots() const {
        std::vector<T> root(alphas_cumprod_.size());
        for (std::size_t i = 0; i < root.size(); ++i) root[i] = std::sqrt(alphas_cumprod_[i]);
        const T first = root.front(), last = root.back();
        for (auto& r : root) {
            r -= last;
            r *= first / (first - last);
        }
        return root;
    }

    discrete(std::vector<T> betas, std::vector<T> alphas_cumprod)
        : betas_(std::move(betas)), alphas_cumprod_(std::move(alphas_cumprod)) {
        alphas_.resize(betas_.size());
        for (std::size_t i = 0; i < betas_.size(); ++i) alphas_[i] = T(1) - betas_[i];
    }

    static discrete from_doubles(const std::vector<double>& betas) {
        std::vector<T> rounded(betas.begin(), betas.end());
        return from_betas(std::move(rounded));
    }

    static void check_beta_range(double beta_start, double beta_end) {
        require(beta_start > 0.0 && beta_start < 1.0, "beta_start", beta_start, "(0, 1)");
        require(beta_end > 0.0 && beta_end < 1.0, "beta_end", beta_end, "(0, 1)");
    }

    std::vector<T> betas_;
    std::vector<T> alphas_;
    std::vector<T> alphas_cumprod_;
};

}  // namespace diffuse::schedule
