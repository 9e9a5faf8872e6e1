// diffuse/sampler/dpm_adaptive.hpp: the adaptive-step DPM-Solver-12 and DPM-Solver-23 of Lu et al.
// 2022 ("DPM-Solver", sec. 4 and appendix C, Algorithm 4; k-diffusion DPMSolver.dpm_solver_adaptive /
// sample_dpm_adaptive). Steps of size h in lambda = -log sigma; each attempt from s to t = s + h
// computes a lower- and a higher-order DPM-Solver step from the same evaluations (eq. 3.7-3.9 in
// the noise prediction, eps = (x - x0)/sigma):
//   DPM-Solver-1: x_1 = x - sigma_t expm1(h) eps(x, s)
//   DPM-Solver-2 (r1): u1 = x - sigma_{s1} expm1(r1 h) eps, s1 = s + r1 h,
//                      x_2 = x - sigma_t expm1(h) eps - sigma_t/(2 r1) expm1(h) (eps(u1, s1) - eps)
//   DPM-Solver-3 (1/3, 2/3): u2 = x - sigma_{s2} expm1(r2 h) eps - sigma_{s2} (r2/r1)(expm1(r2 h)/(r2 h) - 1)(eps_1 -
//   eps),
//                      x_3 = x - sigma_t expm1(h) eps - sigma_t/r2 (expm1(h)/h - 1)(eps(u2, s2) - eps)
// order 2 compares x_1 with x_2, order 3 x_2 (r1 = 1/3) with x_3; the error
//   E = || (x_low - x_high) / max(atol, rtol max(|x_low|, |x_low,previous|)) ||_2 / sqrt(n)
// drives a PID step-size controller (Söderlind 2003 as in k-diffusion's PIDStepSizeController;
// ode::pid_controller, shared with the ODE solvers):
// h *= 1 + atan(f - 1), f = E^{-b1} E_1^{-b2} E_2^{-b3}; the attempt is accepted when f >= accept_safety.
// With eta > 0 each accepted step is an ancestral one (euler_ancestral.hpp's split, t capped at t_end).
//
// There is no grid: start(sigma_interval, size) runs from sigma_max down to sigma_min, and done(),
// model_time(), input_scale(), step() drive it as any run. An attempt takes `order` evaluations,
// except that a rejected attempt reuses the evaluation at its start (k-diffusion evaluates it again;
// the result is the same).
#pragma once

#include <cmath>
#include <string_view>

#include "diffuse/ode/step_size_controller.hpp"
#include "diffuse/sampler/detail/kdiffusion.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"

namespace diffuse::sampler {

template <Real T>
struct dpm_adaptive_options {
    predict::prediction prediction = predict::prediction::epsilon;
    index order = 3;  // 2: DPM-Solver-12, 3: DPM-Solver-23
    T rtol = T(0.05);
    T atol = T(0.0078);
    T h_init = T(0.05);
    T pcoeff = T(0);
    T icoeff = T(1);
    T dcoeff = T(0);
    T accept_safety = T(0.81);
    T eta = T(0);
    T s_noise = T(1);

    void validate() const {
        require(order == 2 || order == 3, "order", order, "2 (DPM-Solver-12) or 3 (DPM-Solver-23)");
        require(rtol >= T(0) && std::isfinite(rtol), "rtol", rtol, "a finite number >= 0");
        require(atol > T(0) && std::isfinite(atol), "atol", atol, "a finite number > 0");
        require_positive("h_init", h_init);
        for (const auto& [n, v] :
             {std::pair{"pcoeff", pcoeff}, std::pair{"icoeff", icoeff}, std::pair{"dcoeff", dcoeff}}) {
            require_finite(n, v);
        }
        require(accept_safety > T(0) && accept_safety <= T(1), "accept_safety", accept_safety, "in (0, 1]");
        detail::validate_noise_options(eta, s_noise);
    }
};

// The noise range an adaptive run covers, and the noise level (alpha, model time) at any sigma in it.
template <Real T>
struct sigma_interval {
    T sigma_max;
    T sigma_min;
    level_map<T> levels;

    void validate() const {
        require(sigma_min > T(0) && std::isfinite(sigma_min), "sigma_min", sigma_min, "a finite number > 0");
        require(sigma_max > sigma_min && std::isfinite(sigma_max), "sigma_max", sigma_max,
                "a finite number > sigma_min");
        require(static_cast<bool>(levels), "levels", "empty", "a level map (e.g. vp_levels(schedule))");
    }
};

template <Real T>
class dpm_adaptive : public detail::sampler_shell<dpm_adaptive<T>, dpm_adaptive_options<T>, sigma_interval<T>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "DPMAdaptive";

    using dpm_adaptive::sampler_shell::sampler_shell;

    class run : public detail::stepping<run, T> {
    public:
        run(const dpm_adaptive& sampler, sigma_interval<T> interval, layout shape)
            : o_(sampler.options()),
              interval_((interval.validate(), std::move(interval))),
              shape_(shape),
              pid_(static_cast<double>(o_.pcoeff), static_cast<double>(o_.icoeff), static_cast<double>(o_.dcoeff),
                   o_.eta > T(0) ? 1.5 : static_cast<double>(o_.order), static_cast<double>(o_.accept_safety)),
              h_next_(static_cast<double>(o_.h_init)),
              s_(-std::log(interval_.sigma_max)),
              t_end_(-std::log(interval_.sigma_min)) {
            shape_.validate();
            for (auto* b : {&start_, &previous_low_, &eps_[0], &eps_[1], &eps_[2]}) b->setZero(shape.size);
            if (o_.eta > T(0)) noise_.resize(shape.size);
            eval_ = interval_.levels(interval_.sigma_max);
        }

        [[nodiscard]] bool done() const { return !(s_ < t_end_ - T(1e-5)); }
        [[nodiscard]] const noise_level<T>& evaluation() const {
            require(!done(), "sigma", std::exp(-s_), "> sigma_min (the run has finished)");
            return eval_;
        }
        [[nodiscard]] double model_time() const { return evaluation().model_time; }
        [[nodiscard]] T input_scale() const { return evaluation().alpha; }
        [[nodiscard]] const noise_level<T>& evaluation_level() const { return evaluation(); }
        [[nodiscard]] evaluation_context<T> context() { return context_of(*this); }
        [[nodiscard]] run_memory<T>& memory() { return memory_; }
        [[nodiscard]] T init_noise_sigma() const { return interval_.sigma_max; }
        [[nodiscard]] const layout& shape() const { return shape_; }
        [[nodiscard]] T sigma() const { return std::exp(-s_); }  // where the solution x currently is
        // Attempts finished (accepted + rejected); the step count is not known in advance.
        [[nodiscard]] index step_index() const { return accepted_ + rejected_; }
        [[nodiscard]] index num_steps() const { return 0; }
        [[nodiscard]] index accepted() const { return accepted_; }
        [[nodiscard]] index rejected() const { return rejected_; }
        [[nodiscard]] index evaluations() const { return evaluations_; }

    private:
        friend detail::stepping<run, T>;
        template <class Noise>
        void step_views(const_view<T> output, view<T> x, Noise&& noise) {
            require_size("x.size()", x.size(), shape_.size);
            require_size("model_output.size()", output.size(), shape_.size);
            (void)evaluation();
            ++evaluations_;
            const auto d =
                detail::derivative_form(decompose_at(o_.prediction, eval_, state_space::denoiser).x0, eval_.sigma);
            eps_[static_cast<std::size_t>(stage_)] = d.from_x * x + d.from_output * output;  // eps = (x - x0)/sigma
            if (stage_ == 0) {
                if (step_index() == 0) previous_low_ = x;  // k-diffusion's x_prev starts at x
                start_ = x;
                begin_attempt(x);
            } else if (stage_ + 1 < o_.order) {
                // DPM-Solver-3's second intermediate point u2 at s2 = s + 2h/3.
                const T r1 = T(1) / T(3), r2 = T(2) / T(3), s2 = sigma_at(r2);
                const T e = std::expm1(r2 * h_);
                x = start_ - (s2 * e) * eps_[0] - (s2 * (r2 / r1) * (e / (r2 * h_) - T(1))) * (eps_[1] - eps_[0]);
                stage_ = 2;
                eval_ = interval_.levels(s2);
            } else {
                finish_attempt(x, noise);
            }
        }

        [[nodiscard]] T sigma_at(T fraction) const { return std::exp(-(s_ + fraction * h_)); }

        // Sets the target t of this attempt and moves x to the first intermediate point u1.
        void begin_attempt(view<T> x) {
            const T t = std::min(t_end_, s_ + static_cast<T>(h_next_));
            target_ = t_ = t;
            sigma_up_ = T(0);
            if (o_.eta > T(0)) {
                const auto split = detail::ancestral_step(std::exp(-s_), std::exp(-t), o_.eta);
                t_ = std::min(t_end_, -std::log(split.down));
                sigma_up_ = std::sqrt(std::exp(T(-2) * t) - std::exp(T(-2) * t_));
            }
            h_ = t_ - s_;
            const T r1 = o_.order == 2 ? T(0.5) : T(1) / T(3), s1 = sigma_at(r1);
            x = start_ - (s1 * std::expm1(r1 * h_)) * eps_[0];
            stage_ = 1;
            eval_ = interval_.levels(s1);
        }

        template <class Noise>
        void finish_attempt(view<T> x, Noise& noise) {
            const T sigma_t = std::exp(-t_), e = std::expm1(h_);
            // x_low = start + l0 eps0 + l1 eps1; x_high = start + g0 eps0 + g1 eps1 + g2 eps2
            T l0 = -sigma_t * e, l1 = T(0), g0 = l0, g1 = T(0), g2 = T(0);
            if (o_.order == 2) {
                g0 += sigma_t * e;  // r1 = 1/2: - sigma_t/(2 r1) expm1(h) (eps1 - eps0)
                g1 = -sigma_t * e;
            } else {
                l0 += sigma_t * e * T(1.5);  // r1 = 1/3
                l1 = -sigma_t * e * T(1.5);
                const T c = sigma_t * T(1.5) * (e / h_ - T(1));  // sigma_t / r2 (expm1(h)/h - 1), r2 = 2/3
                g0 += c;
                g2 = -c;
            }
            const auto low = start_ + l0 * eps_[0] + l1 * eps_[1];
            const auto diff = (l0 - g0) * eps_[0] + (l1 - g1) * eps_[1] - g2 * eps_[2];
            const auto delta = (o_.rtol * low.abs().max(previous_low_.abs())).max(o_.atol);
            const double error =
                std::sqrt(static_cast<double>((diff / delta).square().sum()) / static_cast<double>(shape_.size));
            const ode::step_decision decision = pid_.decide(error);
            h_next_ *= decision.factor;
            if (decision.accept) {
                previous_low_ = low;
                const auto high = start_ + g0 * eps_[0] + g1 * eps_[1] + g2 * eps_[2];
                if (sigma_up_ > T(0) && o_.s_noise > T(0)) {
                    const const_view<T> z =
                        detail::acquire_noise<T>(noise, view<T>(noise_.data(), noise_.size()), true, name);
                    require_size("noise.size()", z.size(), shape_.size);
                    x = high + (o_.s_noise * sigma_up_) * z;
                } else {
                    x = high;
                }
                s_ = target_;  // with eta > 0 the noise carries x from t_ to the target
                ++accepted_;
                stage_ = 0;
                if (!done()) eval_ = interval_.levels(std::exp(-s_));
            } else {
                ++rejected_;
                // The evaluation at s is still valid: go straight to the new u1.
                if (!done()) begin_attempt(x);
            }
        }

        dpm_adaptive_options<T> o_;
        sigma_interval<T> interval_;
        layout shape_;
        ode::pid_controller pid_;
        double h_next_;  // the controller's step in lambda, kept in double as k-diffusion does
        T s_, t_end_, target_ = T(0), t_ = T(0), h_ = T(0), sigma_up_ = T(0);
        noise_level<T> eval_{};
        index stage_ = 0, accepted_ = 0, rejected_ = 0, evaluations_ = 0;
        run_memory<T> memory_;
        buffer<T> start_, previous_low_, noise_;
        buffer<T> eps_[3];
    };
};

}  // namespace diffuse::sampler
