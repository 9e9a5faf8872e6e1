// Shared by the PNDM / iPNDM / LCM / TCD / consistency-model tests: the step-API loop that
// replays a diffusers trace of tools/reference_pndm_consistency.py (tests/reference_pndm_consistency.hpp).
#pragma once

#include <catch2/catch.hpp>

#include <vector>

#include "kdiffusion_test_support.hpp"
#include "reference_pndm_consistency.hpp"

namespace f3test {

using namespace diffuse;
using kdtest::array;
namespace ref = reference_pndm_consistency;

template <class T>
array<T> start_of(const ref::trace& tr) {
    array<T> x(static_cast<diffuse::index>(tr.start.size()));
    for (std::size_t i = 0; i < tr.start.size(); ++i) x[static_cast<diffuse::index>(i)] = static_cast<T>(tr.start[i]);
    return x;
}

// Runs `run` from the trace's start with the stand-in network (evaluated on the scaled input),
// replaying the recorded noise; checks the model times and returns the final sample.
template <class T, class Run>
array<T> replay(Run run, const ref::trace& tr, bool noisy) {
    array<T> x = start_of<T>(tr), input(x.size()), out(x.size());
    kdtest::replay<T> noise{&tr.noise};
    std::vector<double> times;
    while (!run.done()) {
        times.push_back(run.model_time());
        if constexpr (requires { run.input_scale(); }) {
            input = run.input_scale() * x;
        } else {
            input = x;
        }
        kdtest::smooth<T>(cflat(input), run.model_time(), flat(out));
        if (noisy) {
            run.step(out, x, noise);
        } else {
            run.step(out, x);
        }
    }
    kdtest::require_times(times, tr.model_times);
    return x;
}

template <class T>
void require_trace(const array<T>& x, const ref::trace& tr, bool noisy) {
    kdtest::require_close<T>(x, tr.x, kdtest::tolerance<T>(noisy));
}

// With bounds stated per trace (T = float, T = double) on kdtest::require_close's relative difference.
struct bounds {
    double for_float, for_double;
};
template <class T>
void require_trace(const array<T>& x, const ref::trace& tr, bounds rel) {
    kdtest::require_close<T>(x, tr.x, std::is_same_v<T, float> ? rel.for_float : rel.for_double);
}

inline std::vector<schedule::timestep> grid_of(const ref::trace& tr) {
    return {tr.timesteps.begin(), tr.timesteps.end()};
}

// diffusers' config blocks used by the traces.
template <class T>
schedule::discrete<T> stable_diffusion() {
    return schedule::discrete<T>::scaled_linear(1000, 0.00085, 0.012);
}
template <class T>
schedule::discrete<T> linear() {
    return schedule::discrete<T>::linear(1000, 1e-4, 0.02);
}

}  // namespace f3test
