// diffuse/sampler/pndm.hpp: pseudo numerical methods for diffusion models (Liu et al. 2022,
// "Pseudo Numerical Methods for Diffusion Models on Manifolds", sec. 3.3), as diffusers'
// PNDMScheduler runs them on a grid of training timesteps.
//
// Every update is the DDIM transfer x' = phi(x, e, t -> t') (eq. 9, detail/pseudo_numerical.hpp)
// with a combined noise prediction e:
//   pseudo Runge-Kutta (PRK, eq. 13), the first three steps unless skip_prk_steps: four evaluations
//     e1 = eps(x, t), e2 = eps(phi(x, e1, t -> t - h), t' + h), e3 = eps(phi(x, e2, t -> t' + h), t' + h),
//     e4 = eps(phi(x, e3, t -> t'), t'),   e = (e1 + 2 e2 + 2 e3 + e4) / 6,   h = (t - t') // 2
//     (t - h and t' + h differ by one timestep when t - t' is odd: diffusers' arithmetic, kept);
//   pseudo linear multistep (PLMS, eq. 12): e = Adams-Bashforth combination of the eps at the last
//     (up to) four grid points, 55/24, -59/24, 37/24, -9/24 once four are known;
//   with skip_prk_steps the first step is the pseudo improved Euler (Heun) step instead:
//     e = (eps(x, t) + eps(phi(x, eps(x, t), t -> t'), t')) / 2.
// The eps are those of the model output at the point where it was evaluated, so every
// parameterization gives the same trajectory (diffusers combines raw v-predictions and converts
// the sum at the current point instead, which for v_prediction is not the paper's method).
// Like ddim.hpp, a step goes to the next grid entry t'; with `target = diffusers_prev_timestep`
// (sampler/step_target.hpp) it goes to t - T//n as diffusers' step, and then h = T//n // 2 and the
// Heun corrector starts from alphabar(t' + T//n), diffusers' arithmetic. Past the last entry
// alphabar is 1 (set_alpha_to_one) or alphabar_0.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "diffuse/predict/parameterization.hpp"
#include "diffuse/sampler/detail/cache_blocks.hpp"
#include "diffuse/sampler/detail/pseudo_numerical.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"
#include "diffuse/sampler/run.hpp"
#include "diffuse/sampler/step_target.hpp"
#include "diffuse/schedule/discrete.hpp"

namespace diffuse::sampler {

// Defaults are diffusers' PNDMScheduler defaults.
template <Real T>
struct pndm_options {
    predict::prediction prediction = predict::prediction::epsilon;
    bool skip_prk_steps = false;
    bool set_alpha_to_one = false;
    step_target target = step_target::next_grid_entry;  // diffusers' PNDMScheduler: diffusers_prev_timestep

    void validate() const {}
};

template <Real T>
class pndm : public detail::sampler_shell<pndm<T>, pndm_options<T>, std::vector<timestep>, std::span<const timestep>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "PNDM";
    static constexpr index warmup_steps = 3;  // Runge-Kutta steps before the 4-value multistep

    // start() takes a strictly decreasing grid of training timesteps (schedule::spaced_timesteps).
    explicit pndm(schedule::discrete<T> noise_schedule, pndm_options<T> options = {})
        : pndm::sampler_shell(options), schedule_(std::move(noise_schedule)) {}

    [[nodiscard]] const schedule::discrete<T>& noise_schedule() const { return schedule_; }
    // alphabar at timestep t; t < 0 is past the grid.
    [[nodiscard]] T alpha_bar(timestep t) const {
        if (t >= 0) return schedule_.alpha_bar(t);
        return this->options().set_alpha_to_one ? T(1) : schedule_.alphas_cumprod()[0];
    }

    class run : public detail::discrete_run_state<T>, public detail::stepping<run, T> {
    public:
        run(const pndm& sampler, std::vector<timestep> grid, layout shape)
            : detail::discrete_run_state<T>(std::move(grid), shape, sampler.schedule_),
              sampler_(&sampler),
              history_(4, shape.size),
              start_(shape.size) {
            schedule::require_valid_grid(this->grid_, sampler.schedule_.num_train_timesteps());
            if (!sampler.options().skip_prk_steps) {
                require(this->grid_.size() > static_cast<std::size_t>(warmup_steps), "timesteps.size()",
                        this->grid_.size(),
                        ">= 4 when skip_prk_steps is false (three Runge-Kutta warm-up steps, then multistep ones)");
                sum_.resize(shape.size);
            }
            if (predict::needs_positive_alpha(sampler.options().prediction)) {
                require(sampler.schedule_.alpha_bar(this->grid_.front()) > T(0), "prediction_type",
                        predict::name(sampler.options().prediction),
                        "v_prediction or sample when the grid starts at a zero-SNR timestep (alphabar = 0)");
            }
        }

        // Evaluations done within the current step (PRK: 0..3; the Heun start: 0..1).
        [[nodiscard]] index stage() const { return stage_; }
        // Starts at grid entry k (img2img) with a fresh warm-up: the Runge-Kutta steps (or the pseudo
        // improved Euler step) are the first ones taken. diffusers' PNDM has no begin index; its img2img
        // pipelines restart its counter on the sliced timesteps, which then step from the wrong entry
        // after the duplicated one.
        void skip_to(index k) {
            require(stage_ == 0, "skip_to()", "a call after step()", "a call before the first step");
            if (!sampler_->options().skip_prk_steps && this->num_steps() - k <= warmup_steps) {
                throw invalid("begin_index", k,
                              "at most num_steps - 4 = " + std::to_string(this->num_steps() - 4) +
                                  " when skip_prk_steps is false (three Runge-Kutta warm-up steps, then multistep "
                                  "ones)");
            }
            detail::discrete_run_state<T>::skip_to(k);
        }
        // The timestep of the next model evaluation.
        [[nodiscard]] timestep evaluation_timestep() const {
            const timestep t = this->current_timestep(), next = this->next_timestep();
            if (stage_ == 0) return t;
            if (runge_kutta()) return stage_ == 3 ? next : next + half_step();
            return next;  // the Heun stage
        }
        [[nodiscard]] double model_time() const { return static_cast<double>(evaluation_timestep()); }
        [[nodiscard]] schedule::noise_level<T> evaluation_level() const {
            const timestep t = evaluation_timestep();
            return alpha_bar_level(sampler_->alpha_bar(t), static_cast<double>(t));
        }
        [[nodiscard]] evaluation_context<T> context() { return context_of(*this); }

    private:
        [[nodiscard]] bool runge_kutta() const {
            return !sampler_->options().skip_prk_steps && this->steps_taken() < warmup_steps;
        }
        [[nodiscard]] predict::linear_form<T> eps_at(timestep t) const {
            const T ab = sampler_->alpha_bar(t);
            return predict::decompose(sampler_->options().prediction, std::sqrt(ab), std::sqrt(T(1) - ab)).eps;
        }
        // Where a whole step from the current entry lands, and the half of it the Runge-Kutta stages use.
        [[nodiscard]] timestep target() const {
            return target_timestep(sampler_->options().target, this->current_timestep(), this->next_timestep(),
                                   sampler_->schedule_.num_train_timesteps(), this->num_steps());
        }
        [[nodiscard]] timestep half_step() const { return (this->current_timestep() - target()) / 2; }
        [[nodiscard]] detail::eps_transfer<T> transfer(timestep from, timestep to) const {
            return detail::ddim_transfer(sampler_->alpha_bar(from), sampler_->alpha_bar(to));
        }
        [[nodiscard]] detail::eps_transfer<T> transfer_to(timestep to) const {
            return transfer(this->current_timestep(), to);
        }

        // PNDM is deterministic: stepping passes no noise here.
        friend detail::stepping<run, T>;
        void step_views(const_view<T> out, view<T> x) {
            this->check_buffers(out.size(), x.size());
            const timestep t = this->current_timestep(), next = this->next_timestep();
            const auto eps = eps_at(evaluation_timestep());
            if (runge_kutta()) {
                runge_kutta_stage(out, x, eps, t, next);
            } else if (stage_ == 0) {
                if (sampler_->options().skip_prk_steps && this->steps_taken() == 0 && next >= 0) {
                    // Pseudo improved Euler: predict x at t' with e_t, evaluate there next.
                    const auto tr = transfer_to(target());
                    history_.push(cflat(x), out, eps, [&](index begin, index size) {
                        view<T> xb = detail::block(x, begin, size);
                        detail::block(start_, begin, size) = xb;
                        xb = tr.on_x * xb + tr.on_eps * detail::block(history_[0], begin, size);
                    });
                    stage_ = 1;
                    return;
                }
                history_.push_multistep(x, out, eps, transfer_to(target()));  // PLMS, eq. 12
                finish();
            } else {
                // The corrector restarts from the state at t, taken at the level of t' + (t - target): t's
                // own, or with diffusers' rule alphabar(t' + T//n), as diffusers' step_plms.
                const auto tr = transfer(next + (t - target()), next);
                x = tr.on_x * start_ + (tr.on_eps * T(0.5)) * (history_[0] + eps.from_x * x + eps.from_output * out);
                finish();
            }
        }

        // One evaluation of the pseudo Runge-Kutta step (eq. 13).
        void runge_kutta_stage(const_view<T> out, view<T> x, const predict::linear_form<T>& eps, timestep t,
                               timestep next) {
            const timestep h = half_step();
            switch (stage_) {
                case 0: {
                    const auto tr = transfer_to(t - h);
                    history_.push(cflat(x), out, eps, [&](index begin, index size) {
                        view<T> xb = detail::block(x, begin, size);
                        const const_view<T> e = detail::block(history_[0], begin, size);
                        detail::block(start_, begin, size) = xb;
                        detail::block(sum_, begin, size) = e / T(6);
                        xb = tr.on_x * xb + tr.on_eps * e;
                    });
                    break;
                }
                case 1:
                case 2: {
                    const auto tr = transfer_to(stage_ == 1 ? next + h : next);
                    // The stage's eps feeds the sum and the next stage point: one pass, block by block.
                    detail::for_each_block(x.size(), [&](index begin, index size) {
                        view<T> xb = detail::block(x, begin, size);
                        const auto e = eps.from_x * xb + eps.from_output * detail::block(out, begin, size);
                        detail::block(sum_, begin, size) += e / T(3);
                        xb = tr.on_x * detail::block(start_, begin, size) + tr.on_eps * e;
                    });
                    break;
                }
                default: {
                    const auto tr = transfer_to(next);
                    x = tr.on_x * start_ + tr.on_eps * (sum_ + (eps.from_x * x + eps.from_output * out) / T(6));
                    finish();
                    return;
                }
            }
            ++stage_;
        }

        void finish() {
            stage_ = 0;
            this->advance();
        }

        const pndm* sampler_;
        detail::eps_history<T> history_;
        buffer<T> start_, sum_;
        index stage_ = 0;
    };

private:
    schedule::discrete<T> schedule_;
};

}  // namespace diffuse::sampler
