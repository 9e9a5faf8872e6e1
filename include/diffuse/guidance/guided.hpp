// diffuse/guidance/guided.hpp: guidance as model decorators. A guided model is a model (it takes
// the evaluation context, sampler/evaluation_context.hpp), so it runs with every sampler, every
// parameterization, diffuse::sample, the step API and config::any_run.
//
// Two ways to give the branches:
//   guided(rule, cond, uncond)   two models (each plain or contextual), evaluated one after the other;
//   batched(rule, network)       ONE call of the network on a batch of 2N, the uncond half first,
//                                then the cond half (the layout of diffusers' pipelines), so a GPU
//                                runtime evaluates both branches together.
// `rule` is one of guidance/rules.hpp (classifier_free, zero_star, magnitude_aware,
// adaptive_projected, tangential). Where the rule does not guide (outside start/stop or the sigma
// interval, disabled, or a scale at which it is a no-op) only the conditional branch is evaluated:
// `cond` alone, or the network on the N inputs (its batch is N then). Every buffer (the uncond
// output, the 2N input and output) is a slot of the run's memory, sized in prepare() (which
// diffuse::sample calls before the first step), so steps allocate nothing and one decorator serves
// many concurrent runs.
#pragma once

#include <utility>

#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/guidance/rules.hpp"
#include "diffuse/sampler/evaluation_context.hpp"

namespace diffuse::guidance {

namespace detail {

// The prediction part of each sample: `width` elements at the start of each block of `stride`.
struct output_layout {
    index batch, width, stride;
};

template <Real T>
output_layout layout_of(const evaluation_context<T>& c, index x_size, index out_size) {
    require_size("x.size()", x_size, c.shape.size);
    const index width = c.shape.sample_size();
    if (!(out_size > 0 && out_size % c.shape.batch == 0 && out_size / c.shape.batch >= width)) {
        throw invalid("model_output.size()", out_size,
                      "batch x (per-sample prediction + optional variance channels), at least x.size() = " +
                          std::to_string(x_size));
    }
    return {c.shape.batch, width, out_size / c.shape.batch};
}

// Runs rule.combine on every sample's prediction part.
template <Real T, class Rule>
void combine_samples(const Rule& rule, const evaluation_context<T>& c, index slot, const output_layout& l,
                     const T* cond, const T* uncond, T* out) {
    for (index b = 0; b < l.batch; ++b) {
        const index at = b * l.stride;
        rule.combine(sample_pair<T>{const_view<T>(cond + at, l.width), const_view<T>(uncond + at, l.width),
                                    view<T>(out + at, l.width), b},
                     c, slot);
    }
}

// The size of a rule's memory slot k: rule.slot_size(k, c) where a rule has it, else the state's size.
template <class Rule, class T>
index slot_size(const Rule& rule, index k, const evaluation_context<T>& c) {
    if constexpr (requires { rule.slot_size(k, c); }) {
        return rule.slot_size(k, c);
    } else {
        return c.shape.size;
    }
}

template <class Rule, class T>
bool zeroes(const Rule& rule, const evaluation_context<T>& c) {
    if constexpr (requires { rule.zeroes(c); }) {
        return rule.zeroes(c);
    } else {
        return false;
    }
}

}  // namespace detail

// Conditional and unconditional branches as two models.
template <class Rule, class Cond, class Uncond>
class guided {
public:
    guided(Rule rule, Cond cond, Uncond uncond)
        : rule_(std::move(rule)), cond_(std::move(cond)), uncond_(std::move(uncond)) {}

    [[nodiscard]] const Rule& rule() const { return rule_; }
    // Memory slots: the uncond output, then the rule's.
    [[nodiscard]] index memory_slots() const { return 1 + rule_.memory_slots(); }

    template <Real T>
    void prepare(const evaluation_context<T>& c) const {
        (void)c.slot(0, c.output_size);
        for (index k = 0; k < rule_.memory_slots(); ++k) (void)c.slot(1 + k, detail::slot_size(rule_, k, c));
        sampler::prepare_model<T>(cond_, c.inner(memory_slots()));
        sampler::prepare_model<T>(uncond_, c.inner(memory_slots()));
    }

    template <Real T>
    void operator()(const_view<T> x, double model_time, view<T> out, const evaluation_context<T>& c) const {
        const auto l = detail::layout_of(c, x.size(), out.size());
        if (detail::zeroes(rule_, c)) {
            out.setZero();
            return;
        }
        const auto inner = c.inner(memory_slots());
        sampler::call_model<T>(cond_, x, model_time, out, inner);
        if (!rule_.guides(c)) return;
        view<T> uncond = c.slot(0, out.size());
        sampler::call_model<T>(uncond_, x, model_time, uncond, inner);
        // The prediction parts are combined in place; the variance parts stay the conditional ones.
        detail::combine_samples(rule_, c, 1, l, out.data(), uncond.data(), out.data());
    }

private:
    Rule rule_;
    Cond cond_;
    Uncond uncond_;
};

// Both branches from one network call on 2N inputs: [x (uncond); x (cond)] -> [uncond out; cond out].
// The network sees a context whose layout is the doubled batch.
template <class Rule, class Network>
class batched {
public:
    batched(Rule rule, Network network) : rule_(std::move(rule)), network_(std::move(network)) {}

    [[nodiscard]] const Rule& rule() const { return rule_; }
    // Memory slots: the 2N input, the 2N output, then the rule's.
    [[nodiscard]] index memory_slots() const { return 2 + rule_.memory_slots(); }

    template <Real T>
    void prepare(const evaluation_context<T>& c) const {
        (void)c.slot(0, 2 * c.shape.size);
        (void)c.slot(1, 2 * c.output_size);
        for (index k = 0; k < rule_.memory_slots(); ++k) (void)c.slot(2 + k, detail::slot_size(rule_, k, c));
        sampler::prepare_model<T>(network_, doubled(c));
    }

    template <Real T>
    void operator()(const_view<T> x, double model_time, view<T> out, const evaluation_context<T>& c) const {
        const auto l = detail::layout_of(c, x.size(), out.size());
        if (detail::zeroes(rule_, c)) {
            out.setZero();
            return;
        }
        if (!rule_.guides(c)) {
            sampler::call_model<T>(network_, x, model_time, out, c.inner(memory_slots()));
            return;
        }
        const index n = x.size(), m = out.size();
        view<T> input = c.slot(0, 2 * n), output = c.slot(1, 2 * m);
        input.head(n) = x;
        input.tail(n) = x;
        sampler::call_model<T>(network_, const_view<T>(input.data(), 2 * n), model_time, output, doubled(c));
        const T* uncond = output.data();
        const T* cond = output.data() + m;
        if (l.stride > l.width) {  // learned variances: the conditional branch's
            for (index b = 0; b < l.batch; ++b) {
                const index at = b * l.stride + l.width, v = l.stride - l.width;
                out.segment(at, v) = const_view<T>(cond + at, v);
            }
        }
        detail::combine_samples(rule_, c, 2, l, cond, uncond, out.data());
    }

private:
    // The network's context: 2N samples in 2 batch halves, its memory after this decorator's slots.
    template <Real T>
    evaluation_context<T> doubled(const evaluation_context<T>& c) const {
        auto inner = c.inner(memory_slots());
        inner.shape = sampler::layout{2 * c.shape.size, 2 * c.shape.batch};
        inner.output_size = 2 * c.output_size;
        return inner;
    }

    Rule rule_;
    Network network_;
};

// Classifier-free guidance with diffusers' ClassifierFreeGuidance options.
template <class Cond, class Uncond>
auto classifier_free_guidance(Cond cond, Uncond uncond, classifier_free_options options = {}) {
    return guided(classifier_free(options), std::move(cond), std::move(uncond));
}
template <class Network>
auto classifier_free_guidance_batched(Network network, classifier_free_options options = {}) {
    return batched(classifier_free(options), std::move(network));
}

}  // namespace diffuse::guidance
