// diffuse/sampler/scm.hpp: multistep sampling of a continuous-time consistency model in the
// TrigFlow parameterization (Lu & Song 2024, "Simplifying, Stabilizing and Scaling Continuous-Time
// Consistency Models" (sCM); diffusers' SCMScheduler, Sana-Sprint). TrigFlow noises data as
// x_t = cos(t) x0 + sin(t) z at angles t in [0, pi/2]; the network F at angle s gives the
// consistency function x0 = cos(s) x - sin(s) F (prediction_type "trigflow"), and each step
// re-noises x0 to the next angle t with fresh noise of scale sigma_data:
//   x' = cos(t) (cos(s) x - sin(s) F) + sin(t) sigma_data z,
// the last step (t = 0) returning x0. As diffusers, every step draws z, the last one included, so a
// replayed stream stays aligned. The state and F are in the units the scheduler sees (the Sana-Sprint
// pipeline scales the latents by sigma_data around it), and the model time is the angle s.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"
#include "diffuse/sampler/detail/update.hpp"
#include "diffuse/sampler/run.hpp"
#include "diffuse/schedule/sigmas.hpp"

namespace diffuse::sampler {

// SCMScheduler.set_timesteps: the angles {max, intermediate, 0} (two steps; its default, 1.5708 and
// 1.3) or, without an intermediate angle, linspace(max, 0, n + 1); stored in float32 as diffusers.
inline std::vector<double> scm_angles(index steps, double max_angle = 1.5708,
                                      std::optional<double> intermediate = 1.3) {
    require(steps >= 1, "num_inference_steps", steps, "an integer >= 1");
    require(std::isfinite(max_angle) && max_angle > 0.0, "max_timesteps", max_angle, "a finite number > 0");
    std::vector<double> out;
    if (intermediate) {
        require(steps == 2, "num_inference_steps", steps, "2 with intermediate_timesteps (diffusers' rule)");
        require(*intermediate > 0.0 && *intermediate < max_angle, "intermediate_timesteps", *intermediate,
                "in (0, max_timesteps)");
        out = {max_angle, *intermediate, 0.0};
    } else {
        for (index i = 0; i <= steps; ++i)
            out.push_back(max_angle - max_angle * static_cast<double>(i) / static_cast<double>(steps));
        out.back() = 0.0;
    }
    for (double& a : out) a = static_cast<double>(static_cast<float>(a));
    return out;
}

template <Real T>
struct scm_options {
    T sigma_data = T(0.5);

    void validate() const {
        require(std::isfinite(sigma_data) && sigma_data > T(0), "sigma_data", sigma_data, "a finite number > 0");
    }
};

template <Real T>
class scm : public detail::sampler_shell<scm<T>, scm_options<T>, std::vector<double>, std::span<const double>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "SCM";

    using scm::sampler_shell::sampler_shell;

    // start() takes n + 1 decreasing angles (scm_angles), the last usually 0.
    class run : public detail::stepping<run, T> {
    public:
        run(const scm& sampler, std::vector<double> angles, layout shape)
            : angles_(std::move(angles)), shape_(shape), options_(sampler.options()) {
            shape_.validate();
            require(angles_.size() >= 2, "timesteps.size()", angles_.size(), "at least 2 (one step and its end)");
            for (std::size_t i = 0; i < angles_.size(); ++i) {
                require(std::isfinite(angles_[i]) && angles_[i] >= 0.0, "timesteps[" + std::to_string(i) + "]",
                        angles_[i], "a finite angle >= 0");
                if (i > 0)
                    require(angles_[i] < angles_[i - 1], "timesteps[" + std::to_string(i) + "]", angles_[i],
                            "less than the angle before it");
            }
            noise_.resize(shape.size);
        }

        [[nodiscard]] std::span<const double> timesteps() const {
            return std::span<const double>(angles_).first(angles_.size() - 1);
        }
        [[nodiscard]] bool done() const { return step_ >= num_steps(); }
        [[nodiscard]] index step_index() const { return step_; }
        [[nodiscard]] index num_steps() const { return static_cast<index>(angles_.size()) - 1; }
        [[nodiscard]] const layout& shape() const { return shape_; }
        [[nodiscard]] double model_time() const { return current(); }
        [[nodiscard]] run_memory<T>& memory() { return memory_; }
        // x_s = cos(s) (x0 + tan(s) eps') with eps' = sigma_data z: alpha = cos s, sigma = sigma_data tan s.
        // diffusers' default first angle, 1.5708, is just above pi/2 (cos < 0): the level reported to
        // context-taking models is clamped to the largest angle below pi/2 that T holds.
        [[nodiscard]] schedule::noise_level<T> evaluation_level() const {
            const T s = std::min(static_cast<T>(current()), std::nextafter(static_cast<T>(std::acos(-1.0) / 2), T(0)));
            return {options_.sigma_data * std::tan(s), std::cos(s), current()};
        }
        [[nodiscard]] evaluation_context<T> context() { return context_of(*this); }

    private:
        friend detail::stepping<run, T>;
        template <class Noise>
        void step_views(const_view<T> output, view<T> x, Noise&& noise) {
            require_size("x.size()", x.size(), shape_.size);
            require_size("model_output.size()", output.size(), shape_.size);
            const T s = static_cast<T>(current()), t = static_cast<T>(angles_[static_cast<std::size_t>(step_ + 1)]);
            // drawn whenever a noise argument is given (diffusers draws on every step); needed unless t = 0
            constexpr bool given = !std::is_same_v<std::remove_cvref_t<Noise>, detail::no_noise<T>>;
            const const_view<T> z =
                detail::acquire_noise<T>(noise, view<T>(noise_.data(), noise_.size()), given || t != T(0), name);
            // x' = cos(t) x0 + sin(t) sigma_data z with x0 = cos(s) x - sin(s) F: one fused update
            const detail::linear_update<T> u{.from = {.x0 = {std::cos(s), -std::sin(s)}, .eps = {T(0), T(0)}},
                                             .to_x0 = std::cos(t),
                                             .to_noise = z.size() > 0 ? std::sin(t) * options_.sigma_data : T(0)};
            if (z.size() > 0) require_size("noise.size()", z.size(), x.size());
            detail::apply(u, {}, output, x, z, shape_.batch, view<T>(nullptr, 0), view<T>(nullptr, 0));
            ++step_;
        }

        [[nodiscard]] double current() const {
            require(!done(), "step_index", step_, "< num_steps (the run has finished)");
            return angles_[static_cast<std::size_t>(step_)];
        }

        std::vector<double> angles_;
        layout shape_;
        scm_options<T> options_;
        run_memory<T> memory_;
        buffer<T> noise_;
        index step_ = 0;
    };
};

}  // namespace diffuse::sampler
