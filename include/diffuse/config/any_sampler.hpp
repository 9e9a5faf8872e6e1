// diffuse/config/any_sampler.hpp: a sampler chosen at run time. Type erasure over the
// compile-time samplers, so a program can pick one from a config file and still drive it with
// the loop API or the step API. The erased run costs one virtual call per step; the step itself
// is the sampler's own (fused, allocation-free) code.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "diffuse/core/random.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/sampler/output_check.hpp"
#include "diffuse/sampler/run.hpp"

namespace diffuse::config {

// A non-owning, type-erased noise source (anything with normal(view<T>)).
template <Real T>
class noise_ref {
public:
    template <class G>
    requires(random::noise_source<G, T> && !std::is_same_v<std::remove_cvref_t<G>, noise_ref>)
        noise_ref(G& source)  // NOLINT: implicit on purpose, like a reference
        : object_(&source), fill_([](void* o, view<T> out) { static_cast<G*>(o)->normal(out); }) {}

    void normal(view<T> out) { fill_(object_, out); }

private:
    void* object_;
    void (*fill_)(void*, view<T>);
};

template <Real T>
class any_run {
public:
    template <class Run>
    explicit any_run(Run run, std::shared_ptr<const void> keep_alive)
        : self_(std::make_unique<model<Run>>(std::move(run))), keep_alive_(std::move(keep_alive)) {}

    [[nodiscard]] bool done() const { return self_->done(); }
    [[nodiscard]] double model_time() const { return self_->model_time(); }
    [[nodiscard]] T input_scale() const { return self_->input_scale(); }
    [[nodiscard]] T init_noise_sigma() const { return self_->init_noise_sigma(); }
    [[nodiscard]] index num_steps() const { return self_->num_steps(); }
    [[nodiscard]] index step_index() const { return self_->step_index(); }
    [[nodiscard]] index model_output_size() const { return self_->model_output_size(); }
    // Starts the run at grid step k (img2img's begin index; sampler/run.hpp), before the first step.
    void skip_to(index k) { self_->skip_to(k); }
    // The context of the next evaluation (sampler/evaluation_context.hpp).
    [[nodiscard]] sampler::evaluation_context<T> context() { return self_->context(); }

    // A step refuses a model output holding NaN or Inf (sampler/output_check.hpp) unless the check
    // is turned off; it reads the output once, a small cost beside the model call.
    void set_check_finite(bool on) { check_finite_ = on; }
    [[nodiscard]] bool check_finite() const { return check_finite_; }

    template <class Output, class X>
    void step(const Output& output, X&& x) {
        step_with(output, x, sampler::detail::no_noise<T>{});
    }
    template <class Output, class X, class Noise>
    void step(const Output& output, X&& x, Noise& noise) {
        step_with(output, x, noise);
    }

    // The hook diffuse::sample calls before the first evaluation (the churn of edm.hpp); a no-op
    // for runs that have none.
    template <class X>
    void begin(X&& x) {
        self_->begin(flat(x));
    }
    template <class X, class Noise>
    void begin(X&& x, Noise& noise) {
        if constexpr (std::is_same_v<std::remove_cvref_t<Noise>, sampler::detail::no_noise<T>>) {
            self_->begin(flat(x));
        } else if constexpr (random::noise_source<Noise, T>) {
            self_->begin(flat(x), noise_ref<T>(noise));
        } else {
            self_->begin(flat(x), cflat(noise));
        }
    }

private:
    template <class Output, class X, class Noise>
    void step_with(const Output& output, X& x, Noise&& noise) {
        static_assert(sampler::output_buffer<Output, T>,
                      "the model output must be a buffer of the sampler's scalar type T (float or double, as "
                      "the sampler)");
        static_assert(sampler::state_buffer<X, T>,
                      "x must be a writable buffer of the sampler's scalar type T: not const, and of the same "
                      "precision (float or double) as the sampler (an Eigen array, std::vector, std::span or "
                      "view<T>)");
        if constexpr (sampler::output_buffer<Output, T> && sampler::state_buffer<X, T>) {
            const const_view<T> out = cflat(output);
            if (check_finite_) sampler::require_finite_output(*this, out);
            using source = std::remove_cvref_t<Noise>;
            if constexpr (std::is_same_v<source, sampler::detail::no_noise<T>>) {
                self_->step(out, flat(x));
            } else if constexpr (random::noise_source<source, T>) {
                self_->step(out, flat(x), noise_ref<T>(noise));
            } else {
                self_->step(out, flat(x), cflat(noise));
            }
        }
    }

    struct concept_t {
        virtual ~concept_t() = default;
        virtual bool done() const = 0;
        virtual double model_time() const = 0;
        virtual T input_scale() const = 0;
        virtual T init_noise_sigma() const = 0;
        virtual index num_steps() const = 0;
        virtual index step_index() const = 0;
        virtual index model_output_size() const = 0;
        virtual void skip_to(index k) = 0;
        virtual sampler::evaluation_context<T> context() = 0;
        virtual void step(const_view<T> output, view<T> x) = 0;
        virtual void step(const_view<T> output, view<T> x, noise_ref<T> noise) = 0;
        virtual void step(const_view<T> output, view<T> x, const_view<T> noise) = 0;
        virtual void begin(view<T> x) = 0;
        virtual void begin(view<T> x, noise_ref<T> noise) = 0;
        virtual void begin(view<T> x, const_view<T> noise) = 0;
    };
    template <class Run>
    struct model final : concept_t {
        explicit model(Run r) : run(std::move(r)) {}
        bool done() const override { return run.done(); }
        double model_time() const override { return run.model_time(); }
        T input_scale() const override {
            if constexpr (requires { run.input_scale(); }) return run.input_scale();
            else return T(1);
        }
        T init_noise_sigma() const override {
            if constexpr (requires { run.init_noise_sigma(); }) return run.init_noise_sigma();
            else return T(1);
        }
        index num_steps() const override { return run.num_steps(); }
        index step_index() const override { return run.step_index(); }
        index model_output_size() const override {
            if constexpr (requires { run.model_output_size(); }) return run.model_output_size();
            else return run.shape().size;
        }
        void skip_to(index k) override {
            if constexpr (requires { run.skip_to(k); }) {
                run.skip_to(k);
            } else {
                require(k == 0, "begin_index", k, "0: this sampler has no grid to start inside (adaptive step size)");
            }
        }
        sampler::evaluation_context<T> context() override { return run.context(); }
        void step(const_view<T> output, view<T> x) override { run.step(output, x); }
        // Deterministic runs (no noise overload) ignore a noise argument.
        void step(const_view<T> output, view<T> x, noise_ref<T> noise) override {
            if constexpr (requires { run.step(output, x, noise); }) run.step(output, x, noise);
            else run.step(output, x);
        }
        void step(const_view<T> output, view<T> x, const_view<T> noise) override {
            if constexpr (requires { run.step(output, x, noise); }) run.step(output, x, noise);
            else run.step(output, x);
        }
        void begin(view<T> x) override {
            if constexpr (requires { run.begin(x); }) run.begin(x);
        }
        void begin(view<T> x, noise_ref<T> noise) override {
            if constexpr (requires { run.begin(x, noise); }) run.begin(x, noise);
        }
        void begin(view<T> x, const_view<T> noise) override {
            if constexpr (requires { run.begin(x, noise); }) run.begin(x, noise);
        }
        Run run;
    };

    std::unique_ptr<concept_t> self_;
    std::shared_ptr<const void> keep_alive_;  // the sampler the run points into
    bool check_finite_ = true;
};

// What diffusers' set_timesteps takes besides the step count and a config cannot hold: the dynamic
// shift's mu, or the image sequence length it follows from (the pipelines' calculate_shift).
struct run_inputs {
    std::optional<double> mu{};
    std::optional<index> image_seq_len{};
};

// A configured sampler: `start(num_inference_steps, size, batch)` builds the grid the class
// builds in diffusers' set_timesteps and starts a run on it.
template <Real T>
class any_sampler {
public:
    using scalar = T;
    using starter = std::function<any_run<T>(index steps, index size, index batch, const run_inputs& inputs)>;

    any_sampler(std::string class_name, starter start) : class_name_(std::move(class_name)), start_(std::move(start)) {}

    [[nodiscard]] const std::string& class_name() const { return class_name_; }
    // diffusers' init_noise_sigma and the first model-input scale of a run of `num_inference_steps`,
    // before it starts (diffuse::initial_latents applies the first).
    [[nodiscard]] T init_noise_sigma(index num_inference_steps) const {
        return start(num_inference_steps, 1).init_noise_sigma();
    }
    [[nodiscard]] T input_scale(index num_inference_steps) const { return start(num_inference_steps, 1).input_scale(); }
    [[nodiscard]] any_run<T> start(index num_inference_steps, index size, index batch = 1) const {
        return start_(num_inference_steps, size, batch, inputs_);
    }

    // The same sampler with set_timesteps' mu (dynamic shifting), or the image sequence length
    // it is computed from, for the runs it starts; classes without dynamic shifting refuse them at start.
    [[nodiscard]] any_sampler with_mu(double mu) const {
        auto copy = *this;
        copy.inputs_ = {.mu = mu};
        return copy;
    }
    [[nodiscard]] any_sampler with_image_seq_len(index image_seq_len) const {
        auto copy = *this;
        copy.inputs_ = {.image_seq_len = image_seq_len};
        return copy;
    }

    // What building the sampler ignored (unknown config keys), one message each.
    [[nodiscard]] const std::vector<std::string>& warnings() const { return warnings_; }
    void add_warnings(const std::vector<std::string>& messages) {
        warnings_.insert(warnings_.end(), messages.begin(), messages.end());
    }

    // Wraps a compile-time sampler and a function that builds its grid from a step count (and, for
    // the classes with dynamic shifting, from the run inputs).
    template <class Sampler, class GridFor>
    static any_sampler wrap(std::string class_name, Sampler sampler, GridFor grid_for) {
        auto shared = std::make_shared<const Sampler>(std::move(sampler));
        return any_sampler(
            class_name, [shared, grid_for, class_name](index steps, index size, index batch, const run_inputs& inputs) {
                if constexpr (std::is_invocable_v<const GridFor&, index, const run_inputs&>) {
                    return any_run<T>(shared->start(grid_for(steps, inputs), size, batch), shared);
                } else {
                    require(!inputs.mu && !inputs.image_seq_len, inputs.mu ? "mu" : "image_seq_len",
                            inputs.mu ? *inputs.mu : static_cast<double>(inputs.image_seq_len.value_or(0)),
                            "not set: " + class_name + " has no dynamic shifting");
                    return any_run<T>(shared->start(grid_for(steps), size, batch), shared);
                }
            });
    }

private:
    std::string class_name_;
    starter start_;
    run_inputs inputs_{};
    std::vector<std::string> warnings_{};
};

}  // namespace diffuse::config
