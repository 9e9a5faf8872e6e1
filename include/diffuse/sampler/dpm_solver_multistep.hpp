// diffuse/sampler/dpm_solver_multistep.hpp: multistep DPM-Solver and DPM-Solver++ (Lu et al. 2022a,
// "DPM-Solver", eq. 3.7 and Appendix B; Lu et al. 2022b, "DPM-Solver++", Algorithms 1-2) and their
// SDE forms (Lu et al. 2022b, sec. 4), as diffusers' DPMSolverMultistepScheduler.
//
// Each step evaluates the model once at level s0, converts the output to the integrand (x0 for
// DPM-Solver++, eps for DPM-Solver), and steps to the next level t with the exponential
// integrator of detail/exponential_integrator.hpp, interpolating through the last 1-3 outputs:
//   order 1:  x_t = (sigma_t/sigma_s) x - alpha_t (e^{-h} - 1) D0                       (DDIM)
//   order 2:  + alpha_t h phi_2(-h) D1 (heun)  or  - 1/2 alpha_t (e^{-h} - 1) D1 (midpoint),
//             D1 = (m0 - m1) / r0, r0 = h_0 / h                       (DPM-Solver++(2M), Alg. 2)
//   order 3:  + alpha_t h phi_2 D1 + alpha_t h phi_3 D2 with diffusers' D1, D2
// (written for the data integrand; the noise integrand reads alpha <-> sigma, h -> -h). Orders
// warm up from 1; lower_order_final lowers the last two steps of short runs (< 15 steps), and a
// step to sigma 0 (diffusers' final_sigmas_type "zero") or with euler_at_final is first order.
#pragma once

#include <array>
#include <cmath>
#include <optional>
#include <span>
#include <string_view>

#include "diffuse/sampler/detail/exponential_integrator.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"
#include "diffuse/sampler/run.hpp"

namespace diffuse::sampler {

// Defaults are diffusers' DPMSolverMultistepScheduler defaults.
template <Real T>
struct dpm_solver_multistep_options {
    predict::prediction prediction = predict::prediction::epsilon;
    dpm_algorithm algorithm = dpm_algorithm::dpmsolver_pp;
    index solver_order = 2;
    dpm_solver_type solver_type = dpm_solver_type::midpoint;
    bool lower_order_final = true;
    bool euler_at_final = false;
    third_order_weights third_order = third_order_weights::reference;
    std::optional<predict::dynamic_thresholding<T>> thresholding{};  // diffusers' thresholding=True
    bool learned_variance = false;  // variance_type learned / learned_range: the output's second half is dropped

    void validate() const {
        require(solver_order >= 1 && solver_order <= 3, "solver_order", solver_order, "1, 2 or 3");
        if (thresholding) thresholding->validate();
        require(prediction != predict::prediction::flow_velocity || detail::is_data(detail::integrand_of(algorithm)),
                "prediction_type", "flow_prediction",
                "with algorithm_type dpmsolver++ or sde-dpmsolver++ (as diffusers)");
    }
};

template <Real T>
class dpm_solver_multistep
    : public detail::sampler_shell<dpm_solver_multistep<T>, dpm_solver_multistep_options<T>, sigma_grid<T>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "DPMSolverMultistep";

    using dpm_solver_multistep::sampler_shell::sampler_shell;

    class run : public detail::exponential_run<T>, public detail::stepping<run, T> {
    public:
        run(const dpm_solver_multistep& sampler, sigma_grid<T> grid, layout shape)
            : detail::exponential_run<T>(std::move(grid), shape, sampler.options().prediction,
                                         detail::integrand_of(sampler.options().algorithm),
                                         sampler.options().solver_order,
                                         {.clip_range = {}, .thresholding = sampler.options().thresholding},
                                         sampler.options().learned_variance),
              sampler_(&sampler) {
            // Towards noise (h < 0) the SDE forms' noise scale sqrt(1 - e^{-2h}) is not real.
            require(!this->grid().is_increasing() || !detail::is_sde(this->kind()), "algorithm_type",
                    "sde-dpmsolver(++)", "dpmsolver or dpmsolver++ on an increasing (inversion) grid");
            if (detail::is_sde(this->kind())) noise_.resize(shape.size);
        }

        // The order of the step from grid level i (diffusers' step(): warm-up, lower_order_final,
        // euler_at_final, and first order into sigma 0).
        [[nodiscard]] index order_at(index i) const {
            const auto& o = sampler_->options();
            const index n = this->num_steps();
            return detail::multistep_order(i, i - this->begin_index(), n, o.solver_order, o.lower_order_final,
                                           o.euler_at_final || this->grid_[n].sigma == T(0));
        }

    private:
        friend detail::stepping<run, T>;
        template <class Noise>
        void step_views(const_view<T> output, view<T> x, Noise&& noise_in) {
            const noise_level<T>& level = this->current_level();
            const const_view<T> z = detail::acquire_noise<T>(noise_in, view<T>(noise_.data(), noise_.size()),
                                                             detail::is_sde(this->kind()), name);
            if (z.size() != 0) require_size("noise.size()", z.size(), x.size());
            static constexpr std::array<index, 3> ages{0, 1, 2};
            const index order = order_at(this->step_index());
            const auto& o = sampler_->options();
            // The conversion of the output and the step in one pass (record's plan).
            this->record(output, cflat(x), level, [&] {
                // Lu et al. 2022b Alg. 2 (midpoint) / Lu et al. 2022a eq. 3.7 (heun); order 3: diffusers' D2 weight.
                const detail::combination<T> step = this->exponential_plan(
                    level, this->next_level(), std::span<const index>(ages.data(), static_cast<std::size_t>(order)),
                    [&](detail::exponential_step& s, const detail::vp_point&, const detail::vp_point& t) {
                        if (order == 2 && o.solver_type == dpm_solver_type::midpoint) s.weight[1] = 0.5 * s.weight[0];
                        if (order == 3 && o.third_order == third_order_weights::reference &&
                            this->kind() != detail::integrand::noise_sde) {
                            s.weight[2] = detail::reference_third_weight(this->kind(), s.weight[2], t.alpha, 0.5);
                        }
                    });
                return [&, step](index begin, index count) { step.apply(x, cflat(x), z, begin, count); };
            });
            this->advance();
        }

        const dpm_solver_multistep* sampler_;
        buffer<T> noise_;
    };
};

}  // namespace diffuse::sampler
