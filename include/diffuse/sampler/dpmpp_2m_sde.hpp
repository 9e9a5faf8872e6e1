// diffuse/sampler/dpmpp_2m_sde.hpp: DPM-Solver++(2M) SDE (k-diffusion sample_dpmpp_2m_sde; Lu et al.
// 2022b, "DPM-Solver++", eq. 15-16: the second-order multistep solver of the data-prediction SDE).
// With h = log(sigma/sigma'), phi = 1 - e^{-(1 + eta) h} and r = h_previous/h:
//   x' = (sigma'/sigma) e^{-eta h} x + phi x0 + c (x0 - x0_previous) + s_noise sigma' sqrt(1 - e^{-2 eta h}) z,
//   c = phi/(2r) (midpoint) or (1 - phi/((1 + eta) h))/r (heun), c = 0 on the first step,
// and x' = x0 when sigma' = 0. eta = 0 with the midpoint correction is DPM-Solver++(2M) (k-diffusion
// sample_dpmpp_2m: phi (1 + 1/(2r)) x0 - phi/(2r) x0_previous); eta = 1 is diffusers' sde-dpmsolver++.
#pragma once

#include <string_view>
#include <utility>

#include "diffuse/sampler/detail/kdiffusion.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"

namespace diffuse::sampler {

enum class dpmpp_2m_sde_solver { midpoint, heun };

template <Real T>
struct dpmpp_2m_sde_options {
    predict::prediction prediction = predict::prediction::epsilon;
    T eta = T(1);
    T s_noise = T(1);
    dpmpp_2m_sde_solver solver = dpmpp_2m_sde_solver::midpoint;

    void validate() const { detail::validate_noise_options(eta, s_noise); }
};

template <Real T>
class dpmpp_2m_sde : public detail::sampler_shell<dpmpp_2m_sde<T>, dpmpp_2m_sde_options<T>, sigma_grid<T>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "DPM++2MSDE";

    using dpmpp_2m_sde::sampler_shell::sampler_shell;

    class run : public detail::kdiffusion_run<T, run> {
        using base = detail::kdiffusion_run<T, run>;
        friend base;

    public:
        run(const dpmpp_2m_sde& sampler, sigma_grid<T> grid, layout shape)
            : base(std::move(grid), shape, sampler.options().prediction, name), options_(sampler.options()) {
            current_.resize(shape.size);
            // Zeroed: the first step weighs it by c = 0, and 0 * (unwritten memory) may be NaN.
            previous_.setZero(shape.size);
            if (options_.eta > T(0) && options_.s_noise > T(0)) this->reserve_noise();
        }

    private:
        template <class Noise>
        void update(const_view<T> output, view<T> x, Noise& noise) {
            const auto x0 = this->x0_form();
            const T sigma = this->evaluation().sigma, next = this->next_level().sigma;
            if (next == T(0)) {  // the last step denoises: x' = x0
                base::combine(x, output, x0.from_x, x0.from_output);
                this->finish_step();
                return;
            }
            const auto tr = detail::data_sde_transfer(sigma, next, options_.eta);
            T c = T(0);
            if (this->steps_taken() > 0) {
                const T r = h_previous_ / tr.h;
                c = options_.solver == dpmpp_2m_sde_solver::midpoint ? tr.phi / (T(2) * r)
                                                                     : detail::sde_phi_2(tr, options_.eta) / r;
            }
            current_ = x0.from_x * x + x0.from_output * output;
            const auto mean = tr.on_x * x + (tr.phi + c) * current_ - c * previous_;
            if (options_.eta > T(0) && options_.s_noise > T(0)) {
                x = mean + (options_.s_noise * tr.noise) * this->draw(noise);
            } else {
                x = mean;
            }
            std::swap(current_, previous_);
            h_previous_ = tr.h;
            this->finish_step();
        }

        dpmpp_2m_sde_options<T> options_;
        buffer<T> current_, previous_;
        T h_previous_ = T(0);
    };
};

}  // namespace diffuse::sampler
