// diffuse/sampler/ddpm_wuerstchen.hpp: the ancestral DDPM step of Wuerstchen and Stable Cascade
// (diffusers' DDPMWuerstchenScheduler) on the continuous cosine schedule of
// schedule/wuerstchen.hpp. The network predicts eps; from level t to the next level t' with
// a = alphabar_t / alphabar_t' (Ho et al. 2020, Algorithm 2 with sigma^2 = beta tilde):
//   x' = (x - (1 - a) / sqrt(1 - alphabar_t) eps) / sqrt(a)
//        + sqrt((1 - a) (1 - alphabar_t') / (1 - alphabar_t)) z,
// without the noise term on the step into t' = 0 (whose draw diffusers still makes: so does this
// run, to keep a replayed noise stream aligned).
#pragma once

#include <cmath>
#include <string_view>

#include "diffuse/predict/parameterization.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"
#include "diffuse/sampler/detail/update.hpp"
#include "diffuse/sampler/sigma_run.hpp"

namespace diffuse::sampler {

// No options: the class has none for its step (prediction is eps, nothing is clipped).
struct ddpm_wuerstchen_options {
    void validate() const {}
};

template <Real T>
class ddpm_wuerstchen : public detail::sampler_shell<ddpm_wuerstchen<T>, ddpm_wuerstchen_options, sigma_grid<T>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "DDPMWuerstchen";

    using ddpm_wuerstchen::sampler_shell::sampler_shell;

    // start() takes the levels of schedule::wuerstchen_cosine::grid (model_time = t, ending at t = 0).
    class run : public detail::sigma_run_state<T>, public detail::stepping<run, T> {
    public:
        run(const ddpm_wuerstchen&, sigma_grid<T> grid, layout shape)
            : detail::sigma_run_state<T>(std::move(grid), shape, state_space::model, predict::prediction::epsilon) {
            noise_.resize(shape.size);
        }

        [[nodiscard]] double model_time() const { return this->current_level().model_time; }
        [[nodiscard]] T input_scale() const { return T(1); }

    private:
        friend detail::stepping<run, T>;
        template <class Noise>
        void step_views(const_view<T> output, view<T> x, Noise&& noise_in) {
            this->check_buffers(output.size(), x.size());
            const noise_level<T>& from = this->current_level();
            const noise_level<T>& to = this->next_level();
            const T ab = from.alpha * from.alpha, ab_next = to.alpha * to.alpha;
            const T a = ab / ab_next;
            detail::linear_update<T> u{.from = this->decompose(from)};
            u.to_x = T(1) / std::sqrt(a);
            u.to_eps = -u.to_x * (T(1) - a) / std::sqrt(T(1) - ab);
            u.to_noise = to.model_time != 0.0 ? std::sqrt((T(1) - a) * (T(1) - ab_next) / (T(1) - ab)) : T(0);
            const const_view<T> z =
                detail::acquire_noise<T>(noise_in, view<T>(noise_.data(), noise_.size()), true, name);
            require_size("noise.size()", z.size(), x.size());
            detail::apply(u, {}, output, x, z, this->shape_.batch, view<T>(nullptr, 0), view<T>(nullptr, 0));
            this->advance();
        }

        buffer<T> noise_;
    };
};

}  // namespace diffuse::sampler
