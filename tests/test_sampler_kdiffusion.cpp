// The k-diffusion-form samplers against k-diffusion's own sampling functions
// (crowsonkb/k-diffusion k_diffusion/sampling.py at 4601bf0, recorded by tools/reference_kdiffusion.py
// on its DiscreteEpsDDPMDenoiser form of a scaled_linear VP network, Karras sigmas, 8 steps), run
// through the loop API diffuse::sample(); plus the parameterizations, the run protocol and errors.
#include <catch2/catch.hpp>

#include <vector>

#include "diffuse/sampler/dpm2.hpp"
#include "diffuse/sampler/dpm2_ancestral.hpp"
#include "diffuse/sampler/dpm_adaptive.hpp"
#include "diffuse/sampler/dpmpp_2m_sde.hpp"
#include "diffuse/sampler/dpmpp_2s_ancestral.hpp"
#include "diffuse/sampler/dpmpp_3m_sde.hpp"
#include "diffuse/sampler/dpmpp_sde.hpp"
#include "diffuse/sampler/edm.hpp"
#include "diffuse/sampler/euler_ancestral.hpp"
#include "diffuse/sampler/heun.hpp"
#include "diffuse/sampler/lms.hpp"
#include "diffuse/sampler/sample.hpp"
#include "kdiffusion_test_support.hpp"

using namespace diffuse;
using kdtest::array;
namespace ref = reference_kdiffusion;
using Catch::Matchers::Contains;
using predict::prediction;

namespace {

template <class T>
sampler::level_map<T> sd_levels() {
    return sampler::vp_levels(schedule::discrete<T>::scaled_linear(1000, 0.00085, 0.012));
}

// k-diffusion: x = sample0 * sigma_max, then the sampler over the recorded sigmas.
template <class T, class Sampler>
void run_kd(const Sampler& s, const ref::trace& tr, bool noisy) {
    const auto grid = kdtest::recorded_grid<T>(tr.sigmas, sd_levels<T>());
    array<T> x = kdtest::trace_sample0<T>() * static_cast<T>(tr.init_noise_sigma);
    std::vector<double> times;
    const auto model = [&](const_view<T> in, double t, view<T> out) {
        times.push_back(t);
        kdtest::smooth<T>(in, t, out);
    };
    kdtest::replay<T> noise{&tr.noise};
    if (noisy) {
        diffuse::sample(model, s, grid, x, noise);
    } else {
        diffuse::sample(model, s, grid, x);
    }
    kdtest::require_times(times, tr.model_times);
    CHECK(noise.all_used());
    kdtest::require_close<T>(x, tr.x, kdtest::tolerance<T>(noisy));
}

}  // namespace

TEMPLATE_TEST_CASE("the k-diffusion samplers reproduce k-diffusion's sampling.py element-wise", "[kdiffusion]", float,
                   double) {
    using T = TestType;
    const auto levels = sd_levels<T>();
    SECTION("sample_euler_ancestral, eta 0.5") {
        run_kd<T>(sampler::euler_ancestral<T>({.eta = T(0.5)}), ref::kd_euler_ancestral_eta_half, true);
    }
    SECTION("sample_heun") {
        run_kd<T>(sampler::heun<T>(), ref::kd_heun, false);
    }
    SECTION(
        "sample_heun with churn (Karras et al. 2022 Algorithm 2): S_churn 2, S_tmin 0.1, S_tmax 10, S_noise 1.003") {
        run_kd<T>(sampler::edm<T>(
                      {.s_churn = T(2), .s_tmin = T(0.1), .s_tmax = T(10), .s_noise = T(1.003), .levels = levels}),
                  ref::kd_edm_churn, true);
    }
    SECTION("sample_dpm_2") {
        run_kd<T>(sampler::dpm2<T>({.levels = levels}), ref::kd_dpm_2, false);
    }
    SECTION("sample_dpm_2_ancestral, eta 0.8") {
        run_kd<T>(sampler::dpm2_ancestral<T>({.eta = T(0.8), .levels = levels}), ref::kd_dpm_2_ancestral, true);
    }
    SECTION("sample_lms, order 4") {
        run_kd<T>(sampler::lms<T>(), ref::kd_lms, false);
    }
    SECTION("sample_dpmpp_2s_ancestral") {
        run_kd<T>(sampler::dpmpp_2s_ancestral<T>({.levels = levels}), ref::kd_dpmpp_2s_ancestral, true);
    }
    SECTION("sample_dpmpp_sde") {
        run_kd<T>(sampler::dpmpp_sde<T>({.levels = levels}), ref::kd_dpmpp_sde, true);
    }
    SECTION("sample_dpmpp_sde, eta 0.5, r 1/3") {
        run_kd<T>(sampler::dpmpp_sde<T>({.eta = T(0.5), .r = T(1) / T(3), .levels = levels}),
                  ref::kd_dpmpp_sde_r_third_eta_half, true);
    }
    SECTION("sample_dpmpp_2m_sde, midpoint") {
        run_kd<T>(sampler::dpmpp_2m_sde<T>(), ref::kd_dpmpp_2m_sde_midpoint, true);
    }
    SECTION("sample_dpmpp_2m_sde, heun, eta 0.5") {
        run_kd<T>(sampler::dpmpp_2m_sde<T>({.eta = T(0.5), .solver = sampler::dpmpp_2m_sde_solver::heun}),
                  ref::kd_dpmpp_2m_sde_heun_eta_half, true);
    }
    SECTION("sample_dpmpp_2m is DPM++ 2M SDE with eta 0") {
        run_kd<T>(sampler::dpmpp_2m_sde<T>({.eta = T(0)}), ref::kd_dpmpp_2m_ode, false);
    }
    SECTION("sample_dpmpp_3m_sde") {
        run_kd<T>(sampler::dpmpp_3m_sde<T>(), ref::kd_dpmpp_3m_sde, true);
    }
    SECTION("sample_dpmpp_3m_sde, eta 0") {
        run_kd<T>(sampler::dpmpp_3m_sde<T>({.eta = T(0)}), ref::kd_dpmpp_3m_ode, false);
    }
}

namespace {

template <class T>
void run_adaptive(const sampler::dpm_adaptive_options<T>& o, const ref::trace& tr, bool noisy) {
    const sampler::dpm_adaptive<T> s(o);
    const sampler::sigma_interval<T> interval{static_cast<T>(tr.sigmas.front()), static_cast<T>(0.0291675329),
                                              sd_levels<T>()};
    array<T> x = kdtest::trace_sample0<T>() * static_cast<T>(tr.init_noise_sigma);
    kdtest::replay<T> noise{&tr.noise};
    auto run = s.start(interval, x.size());
    array<T> out(x.size());
    std::vector<double> times;
    while (!run.done()) {
        times.push_back(run.model_time());
        kdtest::smooth<T>(cflat(array<T>(x * run.input_scale())), run.model_time(), flat(out));
        if (noisy) {
            run.step(out, x, noise);
        } else {
            run.step(out, x);
        }
    }
    CHECK(run.accepted() == tr.accepted);
    CHECK(run.rejected() == tr.rejected);
    // k-diffusion evaluates again at the start of a rejected attempt; here that evaluation is reused.
    CHECK(run.evaluations() + run.rejected() == static_cast<diffuse::index>(tr.model_times.size()));
    CHECK(noise.all_used());
    kdtest::require_close<T>(x, tr.x, kdtest::tolerance<T>(noisy));
}

}  // namespace

TEMPLATE_TEST_CASE("the adaptive DPM-Solver-12/23 reproduces k-diffusion's sample_dpm_adaptive",
                   "[dpm_adaptive][kdiffusion]", float, double) {
    using T = TestType;
    // sigma_min of the trace: the smallest training sigma of the scaled_linear schedule (float32).
    SECTION("order 3, defaults (rtol 0.05, atol 0.0078, h_init 0.05)") {
        run_adaptive<T>({}, ref::kd_dpm_adaptive_3, false);
    }
    SECTION("order 2, rtol 0.02, atol 0.004 (with rejections)") {
        run_adaptive<T>({.order = 2, .rtol = T(0.02), .atol = T(0.004)}, ref::kd_dpm_adaptive_2, false);
    }
    SECTION("order 3, eta 0.5, pcoeff 0.2, icoeff 0.8") {
        run_adaptive<T>({.pcoeff = T(0.2), .icoeff = T(0.8), .eta = T(0.5)}, ref::kd_dpm_adaptive_3_eta, true);
    }
}
