// diffuse/sampler/detail/sampler_shell.hpp: what every sampler class shares around its run: it
// owns its options, validated once at construction, and starts runs over a grid (CRTP: the
// sampler derives from sampler_shell<itself, its options, its grid>).
#pragma once

#include <span>
#include <utility>
#include <vector>

#include "diffuse/sampler/run.hpp"

namespace diffuse::sampler::detail {

// A grid as a run owns it, from the form start() accepts by reference.
template <class Grid>
Grid owned_grid(const Grid& grid) {
    return grid;
}
template <class Timestep>
std::vector<Timestep> owned_grid(std::span<const Timestep> grid) {
    return std::vector<Timestep>(grid.begin(), grid.end());
}

// Derived::run is constructed as run(const Derived&, Grid, layout); a sampler whose run is built
// differently declares its own start(Grid, layout), which the second overload then calls.
template <class Derived, class Options, class Grid, class GridView = const Grid&>
class sampler_shell {
public:
    explicit sampler_shell(Options options = {}) : options_(std::move(options)) { options_.validate(); }

    [[nodiscard]] const Options& options() const { return options_; }

    // A run over `grid` for a batch of `shape.batch` samples of `shape.size` values.
    [[nodiscard]] auto start(Grid grid, layout shape) const& {
        return typename Derived::run(derived(), std::move(grid), shape);
    }
    [[nodiscard]] auto start(GridView grid, index size, index batch = 1) const& {
        return derived().start(owned_grid(grid), layout{size, batch});
    }
    // A run reads its sampler (options, schedule, coefficients) at every step, so a sampler must
    // outlive its runs: starting a run on a temporary sampler, as in
    // `auto run = sampler::ddim<float>(betas).start(grid, n);`, would leave the run dangling, and
    // is a compile error ("use of deleted function"). Name the sampler first.
    void start(Grid grid, layout shape) const&& = delete;
    void start(GridView grid, index size, index batch = 1) const&& = delete;

private:
    const Derived& derived() const { return static_cast<const Derived&>(*this); }

    Options options_;
};

}  // namespace diffuse::sampler::detail
