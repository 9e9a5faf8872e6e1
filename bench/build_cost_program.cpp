// The translation unit bench/build_cost.sh compiles to measure what using the runtime facade costs
// at compile time: a program that loads a scheduler_config.json and samples with it. With
// DIFFUSE_COMPILED_FACADE it includes only config/facade.hpp (declarations; the definitions come
// from diffuse::facade), otherwise config/scheduler_config.hpp (everything, header-only). Not built
// by CMake: it is compiled by the script only.
#if defined(DIFFUSE_COMPILED_FACADE)
#include "diffuse/config/facade.hpp"
#else
#include "diffuse/config/scheduler_config.hpp"
#endif
#include "diffuse/sampler/sample.hpp"

#include <vector>

int main(int argc, char** argv) {
    const auto sampler =
        diffuse::config::from_scheduler_config_file<float>(argc > 1 ? argv[1] : "scheduler_config.json");
    std::vector<float> x(16);
    diffuse::random::generator noise(42);
    diffuse::initial_latents(sampler, 25, x, noise);
    auto model = [](diffuse::const_view<float> in, double, diffuse::view<float> out) { out = -in; };
    diffuse::sample(model, sampler, 25, x, noise);
    return x[0] > 0 ? 0 : 1;
}
