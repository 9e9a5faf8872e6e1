// diffuse/sampler/brownian_noise.hpp: seeded Brownian-tree noise for the SDE samplers, what
// k-diffusion's BrownianTreeNoiseSampler (and diffusers' copy in scheduling_dpmsolver_sde.py, the
// noise behind DPMSolverSDEScheduler's `noise_sampler_seed`) gives sample_dpmpp_sde.
//
// One Brownian path W over [sigma_min, sigma_max] (a grid's smallest positive and largest sigma; the
// tree's time is sigma itself, the identity transform both use), fixed by the seed. The noise of a
// step sigma -> sigma' is the normalized increment
//   z = (W(sigma') - W(sigma)) / sqrt|sigma' - sigma|  ~ N(0, I),
// so the same seed gives the same path whatever the number of steps: refining a grid refines the
// path, and z_a sqrt(h_a) + z_b sqrt(h_b) = z sqrt(h) over two halves of a step. The path is
// random::brownian_tree's (Philox), not torchsde's BrownianInterval on torch's generator: a seed
// gives other numbers than in diffusers or k-diffusion, with the same law and the same consistency.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include "diffuse/core/brownian.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/schedule/sigmas.hpp"

namespace diffuse::sampler {

// The interval a grid's Brownian noise spans: (smallest positive sigma, largest sigma), as
// k-diffusion's sigmas[sigmas > 0].min(), sigmas.max(). Equal ends: at most one positive sigma, so
// no step of the grid injects noise.
template <Real T>
std::pair<T, T> positive_sigma_range(const schedule::sigma_grid<T>& grid) {
    T lo = std::numeric_limits<T>::infinity(), hi = T(0);
    for (index i = 0; i <= grid.steps(); ++i) {
        const T sigma = grid[i].sigma;
        if (sigma > T(0)) lo = std::min(lo, sigma);
        hi = std::max(hi, sigma);
    }
    return {std::min(lo, hi), hi};
}

template <Real T>
class brownian_noise {
public:
    // The tree's leaf width: torchsde's tol = 1e-6 that diffusers and k-diffusion pass, raised to the
    // finest width T resolves on the interval (float: about sigma_max 2^-20). Fixed by the interval
    // alone, so every grid over the same interval queries the same path.
    [[nodiscard]] static T tolerance(T sigma_min, T sigma_max) {
        return std::max(T(1e-6), random::brownian_tree<T>::finest_tolerance(sigma_min, sigma_max));
    }

    brownian_noise(std::uint64_t seed, T sigma_min, T sigma_max, index size)
        : tree_(seed, sigma_min, sigma_max, size, tolerance(sigma_min, sigma_max)) {}

    // z = (W(sigma_next) - W(sigma)) / sqrt|sigma_next - sigma| into z (size() elements); both sigmas
    // within [sigma_min, sigma_max] and different.
    void draw(T sigma, T sigma_next, view<T> z) {
        require(sigma_next != sigma, "sigma_next", sigma_next, "a sigma different from the step's start");
        tree_.increment(sigma, sigma_next, z);
        z /= std::sqrt(std::abs(sigma_next - sigma));
    }

    [[nodiscard]] index size() const { return tree_.size(); }
    [[nodiscard]] T sigma_min() const { return tree_.lower(); }
    [[nodiscard]] T sigma_max() const { return tree_.upper(); }

private:
    random::brownian_tree<T> tree_;
};

}  // namespace diffuse::sampler
