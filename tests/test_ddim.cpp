// DDIM, DDIM inversion and their grids against diffusers' own scheduler tests
// (huggingface/diffusers tests/schedulers/test_scheduler_ddim.py and
// test_scheduler_ddim_inverse.py, snapshot 58eb52c0; values in shared/reference/diffusers_tests.md).
#include <catch2/catch.hpp>

#include <vector>

#include "diffuse/sampler/ddim.hpp"
#include "diffuse/sampler/ddim_inverse.hpp"
#include "diffuse/sampler/sample.hpp"
#include "diffusers_fixtures.hpp"
#include "reference_discrete.hpp"

using namespace diffuse;
using sampler::ddim;
using sampler::ddim_options;
using schedule::spacing;

namespace {

struct sums {
    double sum_abs;
    double mean_abs;
};

template <class T, class Sampler>
sums full_loop(const Sampler& s, const std::vector<schedule::timestep>& grid, Eigen::Array<T, Eigen::Dynamic, 1> x) {
    auto run = s.start(grid, x.size());
    Eigen::Array<T, Eigen::Dynamic, 1> out(x.size());
    for (auto t : run.timesteps()) {
        fixtures::dummy_model<T>(x, static_cast<double>(t), out);
        run.step(out, x);
    }
    const double sum = static_cast<double>(x.abs().sum());
    return {sum, sum / static_cast<double>(x.size())};
}

// A full loop against diffusers' own run of it (tools/reference_discrete.py: float against its float32
// run, double against its float64 run): sum and mean within a relative bound `rel` and no absolute
// slack, stated per loop at about 10x the measured difference (float, double; the comments give the
// larger of the sum's and the mean's). diffusers' own tests assert the published values to 1e-2 on
// the sum, which a float run here meets 1000x over.
template <class T>
void check_loop(const sums& got, const reference_discrete::full_loop& diffusers, double float_rel, double double_rel) {
    const bool is_float = std::is_same_v<T, float>;
    const double sum = is_float ? diffusers.sum_float : diffusers.sum_double;
    const double mean = is_float ? diffusers.mean_float : diffusers.mean_double;
    const double rel = is_float ? float_rel : double_rel;
    CHECK(got.sum_abs == Approx(sum).epsilon(rel).margin(0));
    CHECK(got.mean_abs == Approx(mean).epsilon(rel).margin(0));
}

template <class T>
ddim<T> make_ddim(ddim_options<T> o = {}, double beta_start = 1e-4) {
    return ddim<T>(schedule::discrete<T>::linear(1000, beta_start, 0.02), o);
}

}  // namespace

TEST_CASE("timestep spacings match diffusers' set_timesteps", "[schedule][grid]") {
    // diffusers_tests.md: T=1000, n=10 leading/trailing/linspace, and DDIM steps_offset=1, n=5.
    using V = std::vector<schedule::timestep>;
    CHECK(schedule::spaced_timesteps(1000, 10, spacing::leading) == V{900, 800, 700, 600, 500, 400, 300, 200, 100, 0});
    CHECK(schedule::spaced_timesteps(1000, 10, spacing::trailing) ==
          V{999, 899, 799, 699, 599, 499, 399, 299, 199, 99});
    CHECK(schedule::spaced_timesteps(1000, 10, spacing::linspace) == V{999, 888, 777, 666, 555, 444, 333, 222, 111, 0});
    CHECK(schedule::spaced_timesteps(1000, 5, spacing::leading, 1) == V{801, 601, 401, 201, 1});
    // A non-dividing step count (diffusers issue 11347): trailing keeps 1000/3 spacing.
    CHECK(schedule::spaced_timesteps(1000, 3, spacing::trailing) == V{999, 666, 332});
    CHECK(schedule::spaced_timesteps(1000, 1, spacing::linspace) == V{0});
}

TEST_CASE("grid and spacing errors name the parameter and the allowed range", "[schedule][grid][errors]") {
    CHECK_THROWS_WITH(schedule::spaced_timesteps(1000, 0),
                      Catch::Contains("num_inference_steps = 0") && Catch::Contains("[1, num_train_timesteps = 1000]"));
    CHECK_THROWS_WITH(schedule::spaced_timesteps(1000, 1001), Catch::Contains("num_inference_steps = 1001"));
    CHECK_THROWS_WITH(schedule::spaced_timesteps(1000, 10, spacing::leading, 100),
                      Catch::Contains("steps_offset = 100"));
    CHECK_THROWS_WITH(schedule::parse_spacing("middle"), Catch::Contains("timestep_spacing = \"middle\"") &&
                                                             Catch::Contains("leading, trailing, linspace"));
    const std::vector<schedule::timestep> up{1, 5};
    CHECK_THROWS_WITH(schedule::require_valid_grid(up, 1000),
                      Catch::Contains("timesteps[1] = 5") && Catch::Contains("strictly less"));
    const std::vector<schedule::timestep> out_of_range{1000, 5};
    CHECK_THROWS_WITH(schedule::require_valid_grid(out_of_range, 1000),
                      Catch::Contains("timesteps[0] = 1000") && Catch::Contains("[0, 999]"));
    CHECK(schedule::strength_timesteps(schedule::spaced_timesteps(1000, 10), 0.2) ==
          std::vector<schedule::timestep>{100, 0});
    CHECK_THROWS_WITH(schedule::strength_timesteps(up, 1.5), Catch::Contains("strength = 1.5"));
}

TEMPLATE_TEST_CASE("DDIM variance matches diffusers' _get_variance", "[ddim][diffusers]", float, double) {
    // test_scheduler_ddim.py::test_variance, summed abs error < 1e-5.
    const auto s = make_ddim<TestType>();
    CHECK(std::abs(s.variance(0, 0) - 0.0) < 1e-5);
    CHECK(std::abs(s.variance(420, 400) - 0.14771) < 1e-5);
    CHECK(std::abs(s.variance(980, 960) - 0.32460) < 1e-5);
    CHECK(std::abs(s.variance(487, 486) - 0.00979) < 1e-5);
    CHECK(std::abs(s.variance(999, 998) - 0.02) < 1e-5);
}

TEMPLATE_TEST_CASE("DDIM full loops reproduce diffusers' test_full_loop values", "[ddim][diffusers]", float, double) {
    using T = TestType;
    const auto grid = schedule::spaced_timesteps(1000, 10);
    const auto x = fixtures::sample0<T>();

    SECTION("default (epsilon, clip_sample): test_full_loop_no_noise") {
        const auto r = full_loop<T>(make_ddim<T>(), grid, x);
        // Published S=172.0067 M=0.223967.
        check_loop<T>(r, reference_discrete::ddim_no_noise, 2e-6, 3e-12);  // measured 1.8e-7, 3.0e-13
    }
    SECTION("v_prediction: test_full_loop_with_v_prediction") {
        const auto r = full_loop<T>(make_ddim<T>({.prediction = predict::prediction::v_prediction}), grid, x);
        // Published S=52.5302 M=0.0684.
        check_loop<T>(r, reference_discrete::ddim_v_prediction, 2e-6, 3e-12);  // measured 1.5e-7, 3.0e-13
    }
    SECTION("set_alpha_to_one=True, beta_start=0.01: test_full_loop_with_set_alpha_to_one") {
        const auto r = full_loop<T>(make_ddim<T>({.set_alpha_to_one = true}, 0.01), grid, x);
        // Published S=149.8295 M=0.1951.
        check_loop<T>(r, reference_discrete::ddim_set_alpha_to_one, 7e-6, 3e-12);  // measured 6.4e-7, 3.0e-13
    }
    SECTION("set_alpha_to_one=False, beta_start=0.01: test_full_loop_with_no_set_alpha_to_one") {
        const auto r = full_loop<T>(make_ddim<T>({.set_alpha_to_one = false}, 0.01), grid, x);
        // Published S=149.0784 M=0.1941.
        check_loop<T>(r, reference_discrete::ddim_no_set_alpha_to_one, 5e-6, 3e-12);  // measured 4.1e-7, 3.0e-13
    }
    SECTION("with noise, t_start=8 (timesteps [100, 0]): test_full_loop_with_noise") {
        const auto s = make_ddim<T>();
        const std::vector<schedule::timestep> tail(grid.begin() + 8, grid.end());
        REQUIRE(tail == std::vector<schedule::timestep>{100, 0});
        Eigen::Array<T, Eigen::Dynamic, 1> noisy(x.size());
        s.noise_schedule().add_noise(x, fixtures::noise0<T>(), tail.front(), noisy);
        const auto r = full_loop<T>(s, tail, noisy);
        // Published S=354.5418 M=0.4616.
        check_loop<T>(r, reference_discrete::ddim_with_noise, 2e-6, 3e-12);  // measured 1.7e-7, 3.0e-13
    }
}

TEMPLATE_TEST_CASE("DDIM inversion reproduces diffusers' DDIMInverseScheduler", "[ddim][inverse][diffusers]", float,
                   double) {
    using T = TestType;
    using sampler::ddim_inverse;
    // test_scheduler_ddim_inverse.py::test_steps_offset
    CHECK(ddim_inverse<T>::reversed(schedule::spaced_timesteps(1000, 5, spacing::leading, 1)) ==
          std::vector<schedule::timestep>{1, 201, 401, 601, 801});
    const auto grid = ddim_inverse<T>::reversed(schedule::spaced_timesteps(1000, 10));
    const auto sched = schedule::discrete<T>::linear(1000, 1e-4, 0.02);
    SECTION("default: test_full_loop_no_noise") {
        const auto r = full_loop<T>(ddim_inverse<T>(sched), grid, fixtures::sample0<T>());
        // Published S=671.6816 M=0.8746.
        check_loop<T>(r, reference_discrete::ddim_inverse_no_noise, 2e-6, 3e-12);  // measured 2.0e-7, 3.0e-13
    }
    SECTION("v_prediction: test_full_loop_with_v_prediction") {
        const auto r = full_loop<T>(ddim_inverse<T>(sched, {.prediction = predict::prediction::v_prediction}), grid,
                                    fixtures::sample0<T>());
        // Published S=1394.2185 M=1.8154.
        check_loop<T>(r, reference_discrete::ddim_inverse_v_prediction, 3e-7, 3e-12);  // measured 2.2e-8, 3.0e-13
    }
}

TEMPLATE_TEST_CASE("the loop API gives the step API's result and reports progress", "[ddim][loop]", float, double) {
    using T = TestType;
    const auto s = make_ddim<T>();
    const auto grid = schedule::spaced_timesteps(1000, 10);
    auto x = fixtures::sample0<T>();
    std::vector<diffuse::index> seen;
    sample_options<T> options;
    options.progress = [&](diffuse::index done, diffuse::index total) {
        CHECK(total == 10);
        seen.push_back(done);
    };
    const auto model = [](const_view<T> in, double t, view<T> out) { fixtures::dummy_model<T>(in, t, out); };
    CHECK(diffuse::sample(model, s, grid, x, options) == 10);
    CHECK(seen.size() == 10);
    CHECK(seen.back() == 10);
    // The same run as the step API, to the bit (and that run is checked against diffusers above).
    CHECK(static_cast<double>(x.abs().sum()) == full_loop<T>(s, grid, fixtures::sample0<T>()).sum_abs);

    SECTION("an observer can stop early") {
        auto y = fixtures::sample0<T>();
        sample_options<T> stop_after_3;
        stop_after_3.observer = [](diffuse::index done, const_view<T>) { return done < 3; };
        CHECK(diffuse::sample(model, s, grid, y, stop_after_3) == 3);
    }
}

TEMPLATE_TEST_CASE("DDIM rejects bad input with errors that name it", "[ddim][errors]", float, double) {
    using T = TestType;
    const auto sched = schedule::discrete<T>::linear();
    CHECK_THROWS_WITH(ddim<T>(sched, {.eta = T(-1)}), Catch::Contains("eta = -1") && Catch::Contains(">= 0"));
    ddim_options<T> bad_clip;
    bad_clip.x0.clip_range = T(0);
    CHECK_THROWS_WITH(ddim<T>(sched, bad_clip), Catch::Contains("clip_sample_range = 0"));
    const ddim<T> s(sched, {.eta = T(1)});
    const auto grid = schedule::spaced_timesteps(1000, 10);
    Eigen::Array<T, Eigen::Dynamic, 1> x = Eigen::Array<T, Eigen::Dynamic, 1>::Zero(8), out = x, short_out(7);
    auto run = s.start(grid, 8);
    CHECK_THROWS_WITH(run.step(short_out, x),
                      Catch::Contains("model_output.size() = 7") && Catch::Contains("8 elements"));
    CHECK_THROWS_WITH(run.step(out, x), Catch::Contains("noise") && Catch::Contains("stochastic"));
    Eigen::Array<T, Eigen::Dynamic, 1> short_noise(3);
    CHECK_THROWS_WITH(run.step(out, x, short_noise), Catch::Contains("noise.size() = 3"));
    CHECK_THROWS_WITH(s.start(grid, 8, 3), Catch::Contains("layout.batch = 3"));

    // A model that returns NaN is reported by the loop API, with the step and the element.
    const auto nan_model = [](const_view<T>, double, view<T> o) {
        o.setZero();
        o[5] = std::numeric_limits<T>::quiet_NaN();
    };
    const ddim<T> deterministic(sched);
    CHECK_THROWS_WITH(diffuse::sample(nan_model, deterministic, grid, x),
                      Catch::Contains("model_output[5] at step 0") && Catch::Contains("NaN"));
    // Zero terminal SNR with epsilon prediction cannot recover x0 at the first step.
    const ddim<T> zero_snr(schedule::discrete<T>::linear().rescaled_zero_terminal_snr());
    const std::vector<schedule::timestep> from_999{999, 500};
    CHECK_THROWS_WITH(zero_snr.start(from_999, 8), Catch::Contains("prediction_type = \"epsilon\""));
}
