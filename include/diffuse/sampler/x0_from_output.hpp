// diffuse/sampler/x0_from_output.hpp: a sampler for networks whose output is not one of the
// parameterizations of predict/ but gives the clean sample linearly, x0 = skip(level) x + out(level) F,
// with x the sampler's state and (skip, out) depending on the level of the evaluation. Examples:
// EDM preconditioning (edm_preconditioning.hpp), and FlowMatchEuler's invert_sigmas (Mochi), whose
// network returns -v in the flow state, x0 = x + s F.
// `x0_from_output` wraps any sampler set up for prediction::sample: each step turns F into x0 in a
// buffer of its own (sized at start, so the step allocates nothing) and hands x0 to the wrapped step.
// The wrapped sampler must evaluate the network once per step, at its current level (Euler,
// DPM-Solver multistep, ...).
#pragma once

#include <utility>

#include "diffuse/core/view.hpp"
#include "diffuse/sampler/detail/stepping.hpp"
#include "diffuse/sampler/run.hpp"
#include "diffuse/schedule/sigmas.hpp"

namespace diffuse::sampler {

template <Real T>
struct output_weights {
    T skip, out;  // x0 = skip x + out F
};

// FlowMatchEuler's invert_sigmas (Mochi): the network is told (1 - s) T and returns the velocity in
// 1 - s, F = -v, so in the flow state x0 = x - s v = x + s F (s = level.model_sigma()).
template <Real T>
struct inverted_flow_weights {
    [[nodiscard]] output_weights<T> operator()(const schedule::noise_level<T>& level) const {
        return {T(1), level.model_sigma()};
    }
};

// Weights: callable as weights(const schedule::noise_level<T>&) -> output_weights<T>.
template <class Inner, class Weights>
class x0_from_output {
public:
    using scalar = typename Inner::scalar;
    using T = scalar;

    x0_from_output(Inner inner, Weights weights) : inner_(std::move(inner)), weights_(std::move(weights)) {}

    class run : public detail::stepping<run, T> {
    public:
        run(const x0_from_output& sampler, typename Inner::run inner)
            : inner_(std::move(inner)), weights_(&sampler.weights_), x0_(inner_.shape().size) {}

        [[nodiscard]] bool done() const { return inner_.done(); }
        [[nodiscard]] double model_time() const { return inner_.model_time(); }
        [[nodiscard]] T input_scale() const { return inner_.input_scale(); }
        [[nodiscard]] T init_noise_sigma() const { return inner_.init_noise_sigma(); }
        [[nodiscard]] index num_steps() const { return inner_.num_steps(); }
        [[nodiscard]] index step_index() const { return inner_.step_index(); }
        void skip_to(index k) { inner_.skip_to(k); }
        [[nodiscard]] const layout& shape() const { return inner_.shape(); }
        [[nodiscard]] decltype(auto) evaluation_level() const { return inner_.evaluation_level(); }
        [[nodiscard]] evaluation_context<T> context() { return context_of(*this); }
        [[nodiscard]] run_memory<T>& memory() { return inner_.memory(); }

    private:
        // The inner run steps with x0 in place of the model output (it checks the noise itself).
        friend detail::stepping<run, T>;
        template <class Noise>
        void step_views(const_view<T> output, view<T> x, Noise&& noise) {
            inner_.step(clean(output, cflat(x)), x, noise);
        }
        const_view<T> clean(const_view<T> output, const_view<T> x) {
            require_size("model_output.size()", output.size(), x0_.size());
            require_size("x.size()", x.size(), x0_.size());
            const output_weights<T> w = (*weights_)(inner_.current_level());
            x0_ = w.skip * x + w.out * output;
            return const_view<T>(x0_.data(), x0_.size());
        }

        typename Inner::run inner_;
        const Weights* weights_;  // the sampler's; a run does not outlive its sampler (as every run here)
        buffer<T> x0_;
    };

    [[nodiscard]] run start(schedule::sigma_grid<T> grid, layout shape) const& {
        return run(*this, inner_.start(std::move(grid), shape));
    }
    [[nodiscard]] run start(const schedule::sigma_grid<T>& grid, index size, index batch = 1) const& {
        return run(*this, inner_.start(grid, layout{size, batch}));
    }
    // A run points to its sampler: not on a temporary (detail/sampler_shell.hpp).
    void start(schedule::sigma_grid<T> grid, layout shape) const&& = delete;
    void start(const schedule::sigma_grid<T>& grid, index size, index batch = 1) const&& = delete;

private:
    Inner inner_;
    Weights weights_;
};

}  // namespace diffuse::sampler
