// diffuse/sampler/dpm_solver_singlestep.hpp: singlestep DPM-Solver-1/2/3 and DPM-Solver++ (Lu et al.
// 2022a, "DPM-Solver", Algorithms 1-2 and eq. 3.7; Lu et al. 2022b, "DPM-Solver++", Algorithm 1), as
// diffusers' DPMSolverSinglestepScheduler.
//
// The grid levels are the model evaluations; an order list groups them: a k-th order step starts
// at a level s, evaluates the model at s and at the k - 1 levels after it (the intermediate points
// s1, s2 of the paper's Runge-Kutta-like stages) and lands on the level after those, from the
// sample at s. Each step() call consumes one evaluation and moves one level, so x always holds the
// point where the model is evaluated next (the stage points in between). Per group (data integrand
// shown; r_i = (lambda_i - lambda_s)/h measured from the group's start s):
//   order 1: x_t = (sigma_t/sigma_s) x_s - alpha_t (e^{-h} - 1) m_s                   (DDIM)
//   order 2: + alpha_t weight_1 D1, D1 = (m_s1 - m_s)/r1 (midpoint: weight_1 = -(e^{-h} - 1)/2)
//   order 3: midpoint: + alpha_t h phi_2(-h) (m_s2 - m_s)/r2 (Lu et al. 2022a, Alg. 2 with the
//            second stage only); heun: the quadratic through the three stages, integrated exactly.
// Orders (diffusers' get_order_list): [1, 2, 3] repeated, with lower_order_final closing the list
// with lower orders; it is forced on when the steps do not divide by the order or the grid ends
// at sigma 0, where the last step is first order.
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "diffuse/sampler/detail/cache_blocks.hpp"
#include "diffuse/sampler/detail/exponential_integrator.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"
#include "diffuse/sampler/run.hpp"

namespace diffuse::sampler {

// Defaults are diffusers' DPMSolverSinglestepScheduler defaults.
template <Real T>
struct dpm_solver_singlestep_options {
    predict::prediction prediction = predict::prediction::epsilon;
    dpm_algorithm algorithm = dpm_algorithm::dpmsolver_pp;
    index solver_order = 2;
    dpm_solver_type solver_type = dpm_solver_type::midpoint;
    bool lower_order_final = false;
    third_order_weights third_order = third_order_weights::reference;  // differs only for sde-dpmsolver++
    std::optional<predict::dynamic_thresholding<T>> thresholding{};
    bool learned_variance = false;

    void validate() const {
        require(solver_order >= 1 && solver_order <= 3, "solver_order", solver_order, "1, 2 or 3");
        require(algorithm != dpm_algorithm::sde_dpmsolver, "algorithm_type", "sde-dpmsolver",
                "dpmsolver, dpmsolver++, sde-dpmsolver++ (DPMSolverSinglestepScheduler's choices)");
        if (thresholding) thresholding->validate();
        require(prediction != predict::prediction::flow_velocity || detail::is_data(detail::integrand_of(algorithm)),
                "prediction_type", "flow_prediction",
                "with algorithm_type dpmsolver++ or sde-dpmsolver++ (as diffusers)");
    }
};

// diffusers' DPMSolverSinglestepScheduler.get_order_list, after set_timesteps' adjustments.
inline std::vector<index> singlestep_orders(index steps, index order, bool lower_order_final, bool ends_at_zero) {
    if (steps % order != 0 || ends_at_zero) lower_order_final = true;
    std::vector<index> out;
    const auto repeat = [&](index groups) {
        for (index g = 0; g < groups; ++g)
            for (index k = 1; k <= order; ++k) out.push_back(k);
    };
    if (!lower_order_final || order == 1) {
        repeat(steps / order);
    } else if (order == 3) {
        repeat(steps / 3 - (steps % 3 == 0 ? 1 : 0));
        if (steps % 3 == 0) out.insert(out.end(), {1, 2, 1});
        if (steps % 3 == 1) out.push_back(1);
        if (steps % 3 == 2) out.insert(out.end(), {1, 2});
    } else {
        repeat(steps / 2 - (steps % 2 == 0 ? 1 : 0));
        out.insert(out.end(), steps % 2 == 0 ? std::initializer_list<index>{1, 1} : std::initializer_list<index>{1});
    }
    if (ends_at_zero) out.back() = 1;
    return out;
}

template <Real T>
class dpm_solver_singlestep
    : public detail::sampler_shell<dpm_solver_singlestep<T>, dpm_solver_singlestep_options<T>, sigma_grid<T>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "DPMSolverSinglestep";

    using dpm_solver_singlestep::sampler_shell::sampler_shell;

    class run : public detail::exponential_run<T>, public detail::stepping<run, T> {
    public:
        run(const dpm_solver_singlestep& sampler, sigma_grid<T> grid, layout shape)
            : detail::exponential_run<T>(std::move(grid), shape, sampler.options().prediction,
                                         detail::integrand_of(sampler.options().algorithm),
                                         sampler.options().solver_order,
                                         {.clip_range = {}, .thresholding = sampler.options().thresholding},
                                         sampler.options().learned_variance),
              sampler_(&sampler),
              orders_(singlestep_orders(this->num_steps(), sampler.options().solver_order,
                                        sampler.options().lower_order_final,
                                        this->grid_[this->num_steps()].sigma == T(0))) {
            if (sampler.options().solver_order > 1) start_.resize(shape.size);
            if (detail::is_sde(this->kind())) noise_.resize(shape.size);
        }

        // diffusers' order list for this grid (the order of the update after each evaluation).
        [[nodiscard]] std::span<const index> orders() const { return orders_; }

    private:
        // The listed order, lowered while there are fewer outputs (diffusers: a run entered mid-grid).
        [[nodiscard]] index current_order() const {
            const index available = std::min(this->history_size() + 1, sampler_->options().solver_order);
            return std::min(orders_[static_cast<std::size_t>(this->step_index())], available);
        }

        friend detail::stepping<run, T>;
        template <class Noise>
        void step_views(const_view<T> output, view<T> x, Noise&& noise_in) {
            const index order = current_order();
            const const_view<T> z = detail::acquire_noise<T>(noise_in, view<T>(noise_.data(), noise_.size()),
                                                             detail::is_sde(this->kind()), name);
            if (z.size() != 0) require_size("noise.size()", z.size(), x.size());
            const bool keep_start = order == 1 && start_.size() > 0;  // the group's starting sample
            const const_view<T> base = order == 1 ? cflat(x) : const_view<T>(start_.data(), start_.size());
            const auto& o = sampler_->options();
            const bool midpoint = o.solver_type == dpm_solver_type::midpoint;
            // Ages of the stages used: all of them, except midpoint-3 which skips the middle one.
            static constexpr std::array<index, 3> all{0, 1, 2};
            static constexpr std::array<index, 2> outer{0, 2};
            const std::span<const index> ages =
                order == 3 && midpoint ? std::span<const index>(outer)
                                       : std::span<const index>(all.data(), static_cast<std::size_t>(order));
            // The conversion of the output, the kept start and the step in one pass (record's plan).
            this->record(output, cflat(x), this->current_level(), [&] {
                // Lu et al. 2022a, Algorithms 1-2 / eq. 3.7, at the group's start s = history_level(order - 1).
                const detail::combination<T> step = this->exponential_plan(
                    this->history_level(order - 1), this->next_level(), ages,
                    [&](detail::exponential_step& s, const detail::vp_point&, const detail::vp_point& t) {
                        if (order == 2 && midpoint) s.weight[1] = 0.5 * s.weight[0];
                        if (order == 3 && !midpoint && o.third_order == third_order_weights::reference) {
                            s.weight[2] = detail::reference_third_weight(this->kind(), s.weight[2], t.alpha, 1.0);
                        }
                    });
                return [&, step](index begin, index count) {
                    if (keep_start) detail::block(start_, begin, count) = detail::block(cflat(x), begin, count);
                    step.apply(x, base, z, begin, count);
                };
            });
            this->advance();
        }

        const dpm_solver_singlestep* sampler_;
        std::vector<index> orders_;
        buffer<T> start_;
        buffer<T> noise_;
    };
};

}  // namespace diffuse::sampler
