// diffuse/sampler/heun.hpp: Heun's method on the probability-flow ODE (Karras et al. 2022,
// Algorithm 1 / Algorithm 2 without churn; diffusers HeunDiscreteScheduler, k-diffusion sample_heun):
//   d = (x - x0(x; sigma))/sigma,  x_e = x + (sigma' - sigma) d,
//   d' = (x_e - x0(x_e; sigma'))/sigma',  x' = x + (sigma' - sigma) (d + d')/2,
// and a plain Euler step when sigma' = 0. Two model evaluations per step (one on the last): the
// first step() call leaves x at x_e, where the model is evaluated next (at the grid level sigma',
// as diffusers' duplicated timesteps do), and the second completes the step.
#pragma once

#include <string_view>

#include "diffuse/sampler/detail/cache_blocks.hpp"
#include "diffuse/sampler/detail/kdiffusion.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"

namespace diffuse::sampler {

namespace detail {

// The two stages of Heun's step, shared by heun and edm (which evaluates the first at a churned sigma).
template <Real T, class Derived>
class heun_stages : public kdiffusion_run<T, Derived> {
    using base = kdiffusion_run<T, Derived>;

public:
    heun_stages(sigma_grid<T> grid, layout shape, predict::prediction prediction, std::string_view name)
        : base(std::move(grid), shape, prediction, name) {
        start_.resize(shape.size);
        slope_.resize(shape.size);
    }

protected:
    // One model evaluation; returns true when the grid step is complete.
    bool heun_update(const_view<T> output, view<T> x) {
        const noise_level<T>& next = this->next_level();
        if (this->stage() == 0) {
            if (next.sigma == T(0)) {  // Algorithm 2 line 8: the last step is Euler
                const auto [on_x, on_output] = this->euler_to(T(0));
                base::combine(x, output, on_x, on_output);
                return true;
            }
            const auto d = this->derivative();
            dt_ = next.sigma - this->evaluation().sigma;
            for_each_block(x.size(), [&](index begin, index size) {  // one pass over x, the output and both
                view<T> xb = block(x, begin, size);
                view<T> slope = block(slope_, begin, size);
                slope = d.from_x * xb + d.from_output * block(output, begin, size);
                block(start_, begin, size) = xb;
                xb += dt_ * slope;
            });
            this->evaluate_at(next);
            return false;
        }
        // Algorithm 2 lines 9-11: the trapezoidal correction.
        const auto d = this->derivative();
        const T half = dt_ / T(2);
        x = start_ + half * slope_ + (half * d.from_x) * x + (half * d.from_output) * output;
        return true;
    }

    buffer<T> start_, slope_;
    T dt_ = T(0);
};

}  // namespace detail

template <Real T>
struct heun_options {
    predict::prediction prediction = predict::prediction::epsilon;

    void validate() const {}
};

template <Real T>
class heun : public detail::sampler_shell<heun<T>, heun_options<T>, sigma_grid<T>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "Heun";

    using heun::sampler_shell::sampler_shell;

    class run : public detail::heun_stages<T, run> {
        using base = detail::heun_stages<T, run>;
        friend detail::kdiffusion_run<T, run>;

    public:
        run(const heun& sampler, sigma_grid<T> grid, layout shape)
            : base(std::move(grid), shape, sampler.options().prediction, name) {}

    private:
        template <class Noise>
        void update(const_view<T> output, view<T> x, Noise&) {
            if (this->heun_update(output, x)) this->finish_step();
        }
    };
};

}  // namespace diffuse::sampler
