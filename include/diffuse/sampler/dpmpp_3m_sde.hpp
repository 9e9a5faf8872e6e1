// diffuse/sampler/dpmpp_3m_sde.hpp: DPM-Solver++(3M) SDE (k-diffusion sample_dpmpp_3m_sde; Lu et al.
// 2022b, "DPM-Solver++", the third-order multistep data-prediction solver, eq. 16 and appendix B,
// with the SDE transfer of dpmpp_2m_sde.hpp). With h_eta = (1 + eta) h, phi = 1 - e^{-h_eta},
// phi_2 = 1 - phi/h_eta, phi_3 = phi_2/h_eta - 1/2 and the backward differences
//   D1_0 = (x0 - x0_1)/r0, D1_1 = (x0_1 - x0_2)/r1 (r0 = h_1/h, r1 = h_2/h),
//   D1 = D1_0 + (D1_0 - D1_1) r0/(r0 + r1),  D2 = (D1_0 - D1_1)/(r0 + r1):
//   x' = (sigma'/sigma) e^{-eta h} x + phi x0 + phi_2 D1 - phi_3 D2 + s_noise sigma' sqrt(1 - e^{-2 eta h}) z,
// lower orders on the first two steps (second: phi_2 D1_0), and x' = x0 when sigma' = 0.
#pragma once

#include <string_view>
#include <utility>

#include "diffuse/sampler/detail/kdiffusion.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"

namespace diffuse::sampler {

template <Real T>
struct dpmpp_3m_sde_options {
    predict::prediction prediction = predict::prediction::epsilon;
    T eta = T(1);
    T s_noise = T(1);

    void validate() const { detail::validate_noise_options(eta, s_noise); }
};

template <Real T>
class dpmpp_3m_sde : public detail::sampler_shell<dpmpp_3m_sde<T>, dpmpp_3m_sde_options<T>, sigma_grid<T>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "DPM++3MSDE";

    using dpmpp_3m_sde::sampler_shell::sampler_shell;

    class run : public detail::kdiffusion_run<T, run> {
        using base = detail::kdiffusion_run<T, run>;
        friend base;

    public:
        run(const dpmpp_3m_sde& sampler, sigma_grid<T> grid, layout shape)
            : base(std::move(grid), shape, sampler.options().prediction, name), options_(sampler.options()) {
            current_.resize(shape.size);
            // Zeroed: the first two steps weigh the missing history by 0, and 0 * (unwritten
            // memory) may be NaN.
            previous_.setZero(shape.size);
            before_previous_.setZero(shape.size);
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
            // x' = on_x x + (phi + a) x0 + b x0_1 + c x0_2 (+ noise)
            T a = T(0), b = T(0), c = T(0);
            const T phi_2 = detail::sde_phi_2(tr, options_.eta);
            if (this->steps_taken() >= 2) {
                const T r0 = h_[0] / tr.h, r1 = h_[1] / tr.h;
                const T phi_3 = phi_2 / ((T(1) + options_.eta) * tr.h) - T(0.5);
                const T w = r0 / (r0 + r1);
                const T on_d1_0 = phi_2 * (T(1) + w) - phi_3 / (r0 + r1);  // coefficient of D1_0
                const T on_d1_1 = -phi_2 * w + phi_3 / (r0 + r1);          // coefficient of D1_1
                a = on_d1_0 / r0;
                b = -on_d1_0 / r0 + on_d1_1 / r1;
                c = -on_d1_1 / r1;
            } else if (this->steps_taken() == 1) {
                a = phi_2 / (h_[0] / tr.h);
                b = -a;
            }
            current_ = x0.from_x * x + x0.from_output * output;
            const auto mean = tr.on_x * x + (tr.phi + a) * current_ + b * previous_ + c * before_previous_;
            if (options_.eta > T(0) && options_.s_noise > T(0)) {
                x = mean + (options_.s_noise * tr.noise) * this->draw(noise);
            } else {
                x = mean;
            }
            std::swap(before_previous_, previous_);
            std::swap(previous_, current_);
            h_[1] = h_[0];
            h_[0] = tr.h;
            this->finish_step();
        }

        dpmpp_3m_sde_options<T> options_;
        buffer<T> current_, previous_, before_previous_;
        T h_[2] = {T(0), T(0)};
    };
};

}  // namespace diffuse::sampler
