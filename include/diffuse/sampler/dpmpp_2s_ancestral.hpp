// diffuse/sampler/dpmpp_2s_ancestral.hpp: DPM-Solver++(2S) with ancestral noise (k-diffusion
// sample_dpmpp_2s_ancestral). Lu et al. 2022b ("DPM-Solver++"), Algorithm 1 (the singlestep
// second-order solver in the data prediction, r = 1/2) on lambda = -log sigma, aimed at the ancestral
// sigma_down of the step sigma -> sigma' (euler_ancestral.hpp), then s_noise sigma_up z:
//   h = log(sigma/sigma_down), sigma_s = sigma e^{-h/2},
//   x_s = (sigma_s/sigma) x - expm1(-h/2) x0(x; sigma),
//   x'  = (sigma_down/sigma) x - expm1(-h) x0(x_s; sigma_s) + s_noise sigma_up z,
// and Euler to sigma_down when it is 0. sigma_s is not a grid level (see level_map.hpp).
// The run is shared with DPM++ SDE (dpmpp_sde.hpp), which also splits the first stage.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

#include "diffuse/sampler/brownian_noise.hpp"
#include "diffuse/sampler/detail/kdiffusion.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"

namespace diffuse::sampler {

namespace detail {

template <Real T>
struct dpmpp_two_stage_settings {
    predict::prediction prediction;
    T eta;
    T s_noise;
    T r;                     // where the second evaluation sits, as a fraction of h in lambda
    bool stochastic_middle;  // DPM++ SDE: the first stage is an ancestral step too, h spans sigma -> sigma'
    level_map<T> levels;
    // DPM++ SDE's noise_sampler_seed: the run draws its noise from its own Brownian path
    // (brownian_noise.hpp) instead of the caller's source.
    std::optional<std::uint64_t> noise_seed;
};

template <Real T>
class dpmpp_two_stage_run : public kdiffusion_run<T, dpmpp_two_stage_run<T>> {
    using base = kdiffusion_run<T, dpmpp_two_stage_run<T>>;
    friend base;

public:
    dpmpp_two_stage_run(dpmpp_two_stage_settings<T> settings, sigma_grid<T> grid, layout shape, std::string_view name)
        : base(std::move(grid), shape, settings.prediction, name), settings_(std::move(settings)) {
        if (!settings_.levels) settings_.levels = grid_levels(this->grid_);
        start_.resize(shape.size);
        if (blend() != T(1)) first_x0_.resize(shape.size);
        if (settings_.eta > T(0)) this->reserve_noise();
        if (settings_.noise_seed && settings_.eta > T(0) && settings_.s_noise > T(0)) {
            const auto [lo, hi] = positive_sigma_range(this->grid_);
            if (lo < hi) tree_.emplace(*settings_.noise_seed, lo, hi, shape.size);
        }
    }

private:
    // Weight of the second x0 in the final transfer: 1/(2r) (k-diffusion sample_dpmpp_sde's fac).
    [[nodiscard]] T blend() const { return settings_.stochastic_middle ? T(1) / (T(2) * settings_.r) : T(1); }

    // The normal noise of the stretch sigma -> to: the normalized increment of the run's own Brownian
    // path when seeded (k-diffusion's noise_sampler(sigma, to)), else the caller's.
    template <class Noise>
    const_view<T> noise_over(Noise& noise, T sigma, T to) {
        if (!tree_) return this->draw(noise);
        tree_->draw(sigma, to, view<T>(this->noise_.data(), this->noise_.size()));
        return const_view<T>(this->noise_.data(), this->noise_.size());
    }

    template <class Noise>
    void update(const_view<T> output, view<T> x, Noise& noise) {
        // A seeded run leaves a noise source untouched (the loop API passes one to every sampler),
        // but noise values handed to it would be silently dropped: refused.
        if constexpr (std::is_same_v<std::remove_cvref_t<Noise>, const_view<T>>) {
            if (settings_.noise_seed) {
                throw invalid("noise", "a noise buffer",
                              "no noise or a noise source: this run draws its noise from its Brownian tree "
                              "(noise_sampler_seed)");
            }
        }
        const T sigma = this->current_level().sigma, next = this->next_level().sigma;
        const auto split = ancestral_step(sigma, next, settings_.eta);
        const T target = settings_.stochastic_middle ? next : split.down;
        const auto x0 = this->x0_form();
        if (this->stage() == 0 && target == T(0)) {
            this->euler_step(output, x, split.down, split.up, settings_.s_noise, noise);
            this->finish_step();
        } else if (this->stage() == 0) {
            const T mid = std::exp(std::log(sigma) - settings_.r * (std::log(sigma) - std::log(target)));
            const auto first = ancestral_step(sigma, mid, settings_.stochastic_middle ? settings_.eta : T(0));
            const auto tr = data_transfer(sigma, first.down);
            start_ = x;
            if (first_x0_.size() > 0) first_x0_ = x0.from_x * x + x0.from_output * output;
            const T on_x = tr.on_x + tr.on_x0 * x0.from_x, on_output = tr.on_x0 * x0.from_output;
            if (first.up > T(0) && settings_.s_noise > T(0)) {
                base::combine(x, output, on_x, on_output, noise_over(noise, sigma, mid), settings_.s_noise * first.up);
            } else {
                base::combine(x, output, on_x, on_output);
            }
            this->evaluate_at(settings_.levels(mid));
        } else {
            const auto tr = data_transfer(sigma, split.down);
            const T fac = blend(), on_x0 = tr.on_x0 * fac;
            const auto mean = tr.on_x * start_ + (on_x0 * x0.from_x) * x + (on_x0 * x0.from_output) * output;
            const bool noisy = split.up > T(0) && settings_.s_noise > T(0);
            const T on_noise = settings_.s_noise * split.up;
            if (first_x0_.size() > 0 && noisy) {
                x = mean + (tr.on_x0 * (T(1) - fac)) * first_x0_ + on_noise * noise_over(noise, sigma, next);
            } else if (first_x0_.size() > 0) {
                x = mean + (tr.on_x0 * (T(1) - fac)) * first_x0_;
            } else if (noisy) {
                x = mean + on_noise * noise_over(noise, sigma, next);
            } else {
                x = mean;
            }
            this->finish_step();
        }
    }

    dpmpp_two_stage_settings<T> settings_;
    buffer<T> start_, first_x0_;
    std::optional<brownian_noise<T>> tree_;
};

}  // namespace detail

template <Real T>
struct dpmpp_2s_ancestral_options {
    predict::prediction prediction = predict::prediction::epsilon;
    T eta = T(1);
    T s_noise = T(1);
    // alpha and model time at the intermediate sigmas; empty: read off the grid (grid_levels).
    level_map<T> levels = {};

    void validate() const { detail::validate_noise_options(eta, s_noise); }
};

template <Real T>
class dpmpp_2s_ancestral
    : public detail::sampler_shell<dpmpp_2s_ancestral<T>, dpmpp_2s_ancestral_options<T>, sigma_grid<T>> {
public:
    using scalar = T;
    using run = detail::dpmpp_two_stage_run<T>;
    static constexpr std::string_view name = "DPM++2SAncestral";

    using dpmpp_2s_ancestral::sampler_shell::sampler_shell;

    [[nodiscard]] run start(sigma_grid<T> grid, layout shape) const& {
        const auto& o = this->options();
        return run({o.prediction, o.eta, o.s_noise, T(0.5), false, o.levels, std::nullopt}, std::move(grid), shape,
                   name);
    }
    using dpmpp_2s_ancestral::sampler_shell::start;
};

}  // namespace diffuse::sampler
