// No heap allocation inside any sampler's step once its run has started (docs/DESIGN.md,
// section 3), for every sampler the runtime facade registers (config/registry.hpp), in float and
// double, with a noise source (stochastic samplers draw from it, deterministic ones ignore it),
// and through the type-erased run (its virtual call must not allocate either). Every fresh heap
// block reads as NaN here (allocation_counting.hpp), so the finite-sample check also catches a
// sampler that reads a buffer before writing it.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "allocation_counting.hpp"
#include "diffuse/config/registry.hpp"
#include "diffuse/core/random.hpp"

using namespace diffuse;
using allocation_counting::allocations;

namespace {

template <class T>
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

constexpr diffuse::index size = 128;

struct configuration {
    const char* name;
    config::options options;
};

// Each registered class with its defaults, plus the options that switch on other step code paths.
std::vector<configuration> configurations() {
    std::vector<configuration> all;
    for (const auto& [name, make] : config::registry<double>())
        if (name != "RePaintScheduler") all.push_back({name.c_str(), {}});  // needs its task: below
    std::vector<double> mask(size, 0.0);
    for (diffuse::index i = 0; i < size / 2; ++i) mask[static_cast<std::size_t>(i)] = 1.0;
    all.push_back({"RePaintScheduler",
                   {{"known_image", std::vector<double>(size, 0.25)},
                    {"mask", mask},
                    {"eta", 0.5},
                    {"jump_length", 2},
                    {"jump_n_sample", 2}}});
    all.push_back({"EulerDiscreteScheduler", {{"use_karras_sigmas", true}, {"prediction_type", "v_prediction"}}});
    all.push_back({"DDIMScheduler", {{"thresholding", true}, {"clip_sample", false}}});
    all.push_back({"DDIMScheduler", {{"eta", 0.5}, {"set_alpha_to_one", true}}});
    all.push_back({"DPMSolverMultistepScheduler", {{"solver_order", 3}, {"algorithm_type", "sde-dpmsolver++"}}});
    all.push_back(
        {"DPMSolverMultistepScheduler", {{"algorithm_type", "dpmsolver"}, {"final_sigmas_type", "sigma_min"}}});
    all.push_back({"DPMSolverSinglestepScheduler", {{"solver_order", 3}, {"solver_type", "heun"}}});
    all.push_back({"DEISMultistepScheduler", {{"solver_order", 3}}});
    all.push_back({"UniPCMultistepScheduler", {{"solver_order", 3}, {"solver_type", "bh1"}, {"predict_x0", false}}});
    all.push_back({"PNDMScheduler", {{"skip_prk_steps", true}}});
    all.push_back({"edm", {{"s_churn", 2.0}}});
    all.push_back({"dpm_adaptive", {{"eta", 0.5}}});
    all.push_back({"dpmpp_2m_sde", {{"solver_type", "heun"}}});
    all.push_back({"DPMSolverSDEScheduler", {{"noise_sampler_seed", 42}}});  // its own Brownian tree
    all.push_back({"FlowMatchEulerDiscreteScheduler", {{"stochastic_sampling", true}}});
    all.push_back({"FlowMatchEulerDiscreteScheduler", {{"invert_sigmas", true}}});
    all.push_back({"EDMEulerScheduler", {{"prediction_type", "v_prediction"}}});
    return all;
}

// Walks a run of the configured sampler to its end, counting what begin() and step() allocate
// (the stand-in model out = 0.5 x + 0.1 runs outside the counted region).
template <Real T>
allocations count_run(const configuration& c, diffuse::index& evaluations, bool& finite) {
    allocation_counting::poison_fresh_blocks = true;  // a run must not read memory it never wrote
    const auto sampler = config::make_sampler<T>(c.name, c.options);
    auto run = sampler.start(8, size);
    array<T> x(size), out(run.model_output_size());
    random::fill_normal<T>(flat(x), 11, 0, 0);
    x *= run.init_noise_sigma();
    random::generator noise(3);
    allocations total = allocation_counting::count([&] { run.begin(x, noise); });
    evaluations = 0;
    while (!run.done() && evaluations < 1000) {
        out.head(size) = T(0.5) * x * run.input_scale() + T(0.1);
        if (out.size() > size) out.tail(out.size() - size).setConstant(T(0.3));
        total += allocation_counting::count([&] { run.step(out, x, noise); });
        ++evaluations;
    }
    finite = run.done() && x.allFinite();
    return total;
}

}  // namespace

TEST_CASE("the counters see operator new and Eigen's heap allocations", "[allocations]") {
    // Positive controls: without them a zero count would prove nothing.
    void* volatile sink = nullptr;
    const allocations counted = allocation_counting::count([&] {
        std::vector<double> v(100, 1.0);
        sink = v.data();
        array<double> a = array<double>::Constant(100, 1.0);
        sink = a.data();
    });
    CHECK(counted.made == 2);  // the vector's block and the Eigen array's
    CHECK(counted.released == 2);
}

TEMPLATE_TEST_CASE("no sampler allocates in a step after start", "[allocations]", float, double) {
    using T = TestType;
    for (const auto& c : configurations()) {
        std::string label = c.name;
        for (const auto& [key, value] : c.options.entries()) label += " " + key + "=" + value.describe();
        INFO(label);
        diffuse::index evaluations = 0;
        bool finite = false;
        const allocations a = count_run<T>(c, evaluations, finite);
        // the run did take model evaluations and ended with a finite sample
        CHECK(evaluations >= 1);
        CHECK(finite);
        CHECK(a.made == 0);
        CHECK(a.released == 0);
    }
}
