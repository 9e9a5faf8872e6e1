// diffuse/sampler/detail/stepping.hpp: the public step() of every typed run, written once.
//
// A run derives from stepping<run, T> and writes only its equations, in
//   template <class Noise> void step_views(const_view<T> output, view<T> x, Noise&& noise);
// or, for a deterministic run, void step_views(const_view<T> output, view<T> x) (private, with
// `friend detail::stepping<run, T>;`). stepping checks the buffers with one readable
// static_assert each (the wording of sample() and any_run), views them, and hands the noise on
// normalized: no_noise<T> when the caller passed none, a noise source by reference, and anything
// cflat() accepts as a const_view<T>. A deterministic run accepts a noise argument (the loop API
// passes one) and never sees it; stochastic ones give it to acquire_noise (sampler/run.hpp), which throws
// diffuse::error when a draw has no noise.
#pragma once

#include <type_traits>
#include <utility>

#include "diffuse/core/view.hpp"
#include "diffuse/sampler/run.hpp"

namespace diffuse::sampler::detail {

// What step() takes as noise: none, a noise source, or a buffer of the run's precision.
template <class Noise, class T>
concept noise_argument =
    std::is_same_v<Noise, no_noise<T>> || random::noise_source<Noise, T> || output_buffer<Noise, T>;

template <class Derived, Real T>
class stepping {
public:
    // Advances x by one step given the model output at the run's current evaluation.
    template <class Output, class X>
    void step(const Output& model_output, X&& x) {
        step(model_output, std::forward<X>(x), no_noise<T>{});
    }
    template <class Output, class X, class Noise>
    void step(const Output& model_output, X&& x, Noise&& noise) {
        static_assert(output_buffer<Output, T>,
                      "the model output must be a buffer of the sampler's scalar type T (float or double, as "
                      "the sampler)");
        static_assert(state_buffer<std::remove_reference_t<X>, T>,
                      "x must be a writable buffer of the sampler's scalar type T: not const, and of the same "
                      "precision (float or double) as the sampler (an Eigen array, std::vector, std::span or "
                      "view<T>)");
        static_assert(noise_argument<std::remove_cvref_t<Noise>, T>,
                      "the noise must be a noise source (e.g. diffuse::random::generator) or a buffer of the "
                      "sampler's scalar type T (float or double, as the sampler)");
        if constexpr (output_buffer<Output, T> && state_buffer<std::remove_reference_t<X>, T> &&
                      noise_argument<std::remove_cvref_t<Noise>, T>) {
            Derived& run = static_cast<Derived&>(*this);
            if constexpr (requires { run.step_views(cflat(model_output), flat(x)); }) {
                run.step_views(cflat(model_output), flat(x));  // deterministic: the noise is not used
            } else {
                auto&& normalized = to_noise_argument<T>(noise);
                run.step_views(cflat(model_output), flat(x), normalized);
            }
        }
    }
};

}  // namespace diffuse::sampler::detail
