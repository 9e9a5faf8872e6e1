// diffuse/sampler/deis.hpp: DEIS, the diffusion exponential integrator sampler (Zhang & Chen 2023,
// "Fast Sampling of Diffusion Models with Exponential Integrator"), in its rho-AB form with the
// log-rho Lagrange interpolation, as diffusers' DEISMultistepScheduler (solver_type "logrho").
//
// With rho = sigma_t / alpha_t, the ODE reads d(x / alpha)/d rho = eps (Zhang & Chen 2023, eq. 13);
// rho-AB-DEIS interpolates eps through the last 1-3 outputs by a polynomial in log rho and
// integrates it exactly (eq. 14):
//   x_t = alpha_t (x_s / alpha_s + sum_j C_j eps_j),   C_j = int_{rho_s}^{rho_t} L_j(log rho) d rho.
// Since log rho = -lambda, this is the noise-integrand exponential integrator with the exact
// weights (detail/exponential_integrator.hpp), order 1 being DDIM; warm-up and lower_order_final
// as in DPM-Solver multistep.
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string_view>

#include "diffuse/sampler/detail/exponential_integrator.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"

namespace diffuse::sampler {

// Defaults are diffusers' DEISMultistepScheduler defaults.
template <Real T>
struct deis_options {
    predict::prediction prediction = predict::prediction::epsilon;
    index solver_order = 2;
    bool lower_order_final = true;
    std::optional<predict::dynamic_thresholding<T>> thresholding{};

    void validate() const {
        require(solver_order >= 1 && solver_order <= 3, "solver_order", solver_order, "1, 2 or 3");
        if (thresholding) thresholding->validate();
    }
};

template <Real T>
class deis : public detail::sampler_shell<deis<T>, deis_options<T>, sigma_grid<T>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "DEISMultistep";

    using deis::sampler_shell::sampler_shell;

    class run : public detail::exponential_run<T>, public detail::stepping<run, T> {
    public:
        run(const deis& sampler, sigma_grid<T> grid, layout shape)
            : detail::exponential_run<T>(std::move(grid), shape, sampler.options().prediction, detail::integrand::noise,
                                         sampler.options().solver_order,
                                         {.clip_range = {}, .thresholding = sampler.options().thresholding}, false),
              sampler_(&sampler) {}

        [[nodiscard]] index order_at(index i) const {
            const index n = this->num_steps();
            return detail::multistep_order(i, i - this->begin_index(), n, sampler_->options().solver_order,
                                           sampler_->options().lower_order_final, this->grid_[n].sigma == T(0));
        }

    private:
        // Zhang & Chen 2023, eq. 14 (rho-AB-DEIS with the log-rho Lagrange basis). Deterministic:
        // stepping passes no noise here.
        friend detail::stepping<run, T>;
        void step_views(const_view<T> output, view<T> x) {
            const noise_level<T>& level = this->current_level();
            static constexpr std::array<index, 3> ages{0, 1, 2};
            const auto order = static_cast<std::size_t>(order_at(this->step_index()));
            this->record(output, cflat(x), level, [&] {
                const detail::combination<T> step = this->exponential_plan(
                    level, this->next_level(), std::span<const index>(ages.data(), order), [](auto&&...) {});
                return [&, step](index begin, index count) {
                    step.apply(x, cflat(x), const_view<T>(nullptr, 0), begin, count);
                };
            });
            this->advance();
        }

        const deis* sampler_;
    };
};

}  // namespace diffuse::sampler
