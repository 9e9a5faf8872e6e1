// Continuous processes (schedule/process.hpp) and time grids (schedule/time_grid.hpp):
// alpha, sigma, f and g against the formulas of score_sde's sde_lib.py (Song et al. 2021; VPSDE,
// subVPSDE, VESDE) and diffusers' squaredcos_cap_v2 alpha_bar_fn in continuous time (evaluated in
// float64 by tools/reference_process.py -> tests/reference_process.hpp); derivatives against finite
// differences; the marginal variance identity of the forward SDE; the inverses; the existing grids
// (vp_continuous_grid, edm_sigma_grid, flow_match_grid, discrete cosine and linear VP schedules) as
// levels of the processes; prior sampling and log-density; intervals and grids in both directions.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "diffuse/core/random.hpp"
#include "diffuse/schedule/continuous.hpp"
#include "diffuse/schedule/discrete.hpp"
#include "diffuse/schedule/flow.hpp"
#include "diffuse/schedule/process.hpp"
#include "diffuse/schedule/time_grid.hpp"
#include "reference_process.hpp"

using namespace diffuse;
using schedule::process;
using schedule::process_kind;

namespace {

template <class T>
std::vector<process<T>> all_processes() {
    return {process<T>::vp(),  process<T>::sub_vp(), process<T>::ve(),
            process<T>::edm(), process<T>::cosine(), process<T>::flow()};
}

std::string name_of(process_kind k) {
    switch (k) {
        case process_kind::vp:
            return "vp";
        case process_kind::sub_vp:
            return "sub_vp";
        case process_kind::ve:
            return "ve";
        case process_kind::edm:
            return "edm";
        case process_kind::cosine:
            return "cosine";
        case process_kind::flow:
            return "flow";
    }
    return "?";
}

// Interior times (fractions of T) where every function is finite and smooth.
const std::vector<double> interior = {0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98};

// |a - b| / max(|b|, floor): the relative error with a floor for values near zero.
double relative(double a, double b, double floor = 1e-30) {
    return std::abs(a - b) / std::max(std::abs(b), floor);
}

template <class T>
constexpr bool is_float = std::is_same_v<T, float>;

}  // namespace

TEMPLATE_TEST_CASE("alpha, sigma, f and g match score_sde's formulas", "[process]", float, double) {
    using T = TestType;
    struct table {
        process<T> p;
        const std::vector<reference_process::row>& rows;
    };
    const std::vector<table> tables = {{process<T>::vp(), reference_process::vp},
                                       {process<T>::sub_vp(), reference_process::sub_vp},
                                       {process<T>::ve(), reference_process::ve},
                                       {process<T>::cosine(), reference_process::cosine}};
    double worst = 0;
    for (const auto& [p, rows] : tables) {
        for (const auto& r : rows) {
            const T t = static_cast<T>(r.t);
            INFO(name_of(p.kind()) << " t = " << r.t);
            for (const auto& [got, want] : {std::pair{p.alpha(t), r.alpha},
                                            {p.sigma(t), r.sigma},
                                            {p.drift(t), r.drift},
                                            {p.diffusion(t), r.diffusion}}) {
                worst = std::max(worst, relative(static_cast<double>(got), want));
                // measured worst: 3.8e-7 (float), 1.1e-15 (double); the references are exact (mpmath) at
                // float-representable times, and no value is below 1e-4 except exact zeros (no absolute slack).
                CHECK(static_cast<double>(got) == Approx(want).epsilon(is_float<T> ? 4e-6 : 1.1e-14).margin(0));
            }
        }
    }
    INFO("worst relative error against score_sde's formulas: " << worst);
}

TEMPLATE_TEST_CASE("derivatives of alpha and sigma match central differences", "[process]", float, double) {
    using T = TestType;
    double worst = 0;
    for (const auto& pd : all_processes<double>()) {
        const auto p = [&] {
            for (const auto& q : all_processes<T>())
                if (q.kind() == pd.kind()) return q;
            return all_processes<T>().front();
        }();
        const double end = static_cast<double>(pd.t_max());
        for (const double fraction : interior) {
            // Five-point central differences in double with h relative to t (sigma ~ sqrt(t) near 0):
            // truncation O((h/t)^4) and O((h beta)^4), rounding 1e-16 |value| / h.
            const double t = static_cast<double>(static_cast<T>(fraction * end));
            const double h = 1e-4 * t;
            const auto diff = [&](auto f) {
                return (-f(t + 2 * h) + 8 * f(t + h) - 8 * f(t - h) + f(t - 2 * h)) / (12 * h);
            };
            const double da = diff([&](double u) { return pd.alpha(u); });
            const double ds = diff([&](double u) { return pd.sigma(u); });
            const T tt = static_cast<T>(t);
            INFO(name_of(pd.kind()) << " t = " << t);
            // Bound: a relative error (5e-6 float, 5e-10 double: 10x the worst measured where the quotient is
            // exact enough, 6.8e-7 and 4.6e-11) plus 3x the quotient's own rounding, (1 + 8 + 8 + 1)/12 ulp |value| / h
            // (it dominates for VP's sigma near T, where sigma ~ 1 and sigma' ~ 1e-3).
            const double rel = is_float<T> ? 5e-6 : 5e-10;
            const auto bound = [&](double derivative, double value) {
                return rel * std::abs(derivative) + 1e-15 * std::abs(value) / h;
            };
            const double ea = std::abs(static_cast<double>(p.alpha_derivative(tt)) - da);
            const double es = std::abs(static_cast<double>(p.sigma_derivative(tt)) - ds);
            if (pd.kind() == process_kind::ve || pd.kind() == process_kind::edm) {
                CHECK(p.alpha_derivative(tt) == T(0));
                CHECK(std::abs(da) < 1e-12);
            } else {
                worst = std::max(worst, ea / bound(da, pd.alpha(t)));
                CHECK(ea <= bound(da, pd.alpha(t)));
            }
            worst = std::max(worst, es / bound(ds, pd.sigma(t)));
            CHECK(es <= bound(ds, pd.sigma(t)));
        }
    }
    INFO("worst derivative error as a fraction of its bound: " << worst);
}

TEMPLATE_TEST_CASE("f and g are consistent with alpha and sigma (marginal variance of the forward SDE)", "[process]",
                   float, double) {
    using T = TestType;
    double worst = 0;
    for (const auto& p : all_processes<T>()) {
        const double end = static_cast<double>(p.t_max());
        for (const double fraction : interior) {
            const T t = static_cast<T>(fraction * end);
            INFO(name_of(p.kind()) << " t = " << t);
            const double a = p.alpha(t), s = p.sigma(t), f = p.drift(t), g = p.diffusion(t);
            const double da = p.alpha_derivative(t), ds = p.sigma_derivative(t);
            // f = d log alpha / dt and d sigma^2 / dt = 2 f sigma^2 + g^2: the mean and variance ODEs of a linear
            // SDE (Saerkkae & Solin 2019, eqs. 5.50-5.51, used in Song et al. 2021, app. B).
            const double lhs = 2 * s * ds, rhs = 2 * f * s * s + g * g;
            const double e_var = std::abs(lhs - rhs) / (std::abs(lhs) + std::abs(2 * f * s * s) + g * g);
            const double e_f = std::abs(da / a - f) / (std::abs(f) + 1e-30);
            worst = std::max({worst, e_var, p.kind() == process_kind::ve || p.kind() == process_kind::edm ? 0.0 : e_f});
            // measured worst: 7.1e-8 (float), 2.1e-16 (double)
            CHECK(e_var < (is_float<T> ? 7e-7 : 2.2e-15));
            if (p.kind() == process_kind::ve || p.kind() == process_kind::edm) {
                CHECK(f == 0);
                CHECK(da == 0);
            } else {
                CHECK(e_f < (is_float<T> ? 7e-7 : 2.2e-15));
            }
        }
    }
    INFO("worst identity error: " << worst);
    // A broken g fails: sub-VP's g without its discount breaks the identity by a factor 1/(1 - alpha^4).
    const auto sub = process<T>::sub_vp();
    const T t = T(0.3);
    const double s = sub.sigma(t), f = sub.drift(t), without_discount = -2 * f;  // beta(t)
    CHECK(std::abs(2 * s * sub.sigma_derivative(t) - (2 * f * s * s + without_discount)) > 0.1);
}

TEMPLATE_TEST_CASE("t from lambda, from sigma and from model time invert lambda, sigma and model time", "[process]",
                   float, double) {
    using T = TestType;
    const double eps = std::numeric_limits<T>::epsilon();
    double worst = 0;
    for (const auto& p : all_processes<T>()) {
        const double end = static_cast<double>(p.t_max());
        std::vector<double> times = interior;
        times.insert(times.end(), {1e-4, 1e-3, 0.999});
        for (const double fraction : times) {
            const T t = static_cast<T>(fraction * end);
            if (p.kind() == process_kind::flow && fraction > 0.99) continue;  // lambda(1) = -inf: checked below
            INFO(name_of(p.kind()) << " t = " << t);
            // An inverse can only be as good as its argument's rounding allows: a relative error eps in x
            // moves t by eps |x| / |dx/dt|. So the error is measured in units of eps (t + |x|/|dx/dt|).
            const double s = p.sigma(t), ds = p.sigma_derivative(t);
            const double l = p.lambda(t), dl = static_cast<double>(p.drift(t)) - ds / s;  // lambda' = f - sigma'/sigma
            const double by_sigma = static_cast<double>(t) + s / std::abs(ds);
            const double by_lambda = static_cast<double>(t) + (std::abs(l) + 1) / std::abs(dl);
            const double by_model = p.model_time_convention().of == schedule::model_time_of::time
                                        ? static_cast<double>(t) + 2e-3
                                        : by_lambda;
            for (const auto& [back, scale] : {std::pair{p.time_at_lambda(p.lambda(t)), by_lambda},
                                              {p.time_at_sigma(p.sigma(t)), by_sigma},
                                              {p.time_at_model_time(p.model_time(t)), by_model}}) {
                const double e = std::abs(static_cast<double>(back) - static_cast<double>(t)) / (eps * scale);
                worst = std::max(worst, e);
                CHECK(e < 130);  // measured worst: 10.2 (float), 12.9 (double) units of eps
            }
        }
        // The ends: lambda(0) = +inf (except VE, whose sigma(0) = sigma_min), and t(lambda(0)) = 0.
        CHECK(std::abs(p.time_at_lambda(p.lambda(T(0)))) <= 4 * std::numeric_limits<T>::epsilon());
        CHECK(std::abs(p.time_at_sigma(p.sigma(T(0)))) <= 4 * std::numeric_limits<T>::epsilon());
    }
    INFO("worst round-trip error (units of eps (t + |x| / |dx/dt|)): " << worst);
    const auto flow = process<T>::flow();
    CHECK(flow.lambda(T(1)) == -std::numeric_limits<T>::infinity());
    CHECK(flow.time_at_lambda(-std::numeric_limits<T>::infinity()) == T(1));
    // Out of range is an error, not a clamp.
    const auto vp = process<T>::vp();
    CHECK_THROWS_WITH(vp.time_at_lambda(vp.lambda(T(1)) - T(0.5)),
                      Catch::Contains("lambda") && Catch::Contains("[lambda(T), lambda(0)]"));
    CHECK_THROWS_WITH(vp.time_at_sigma(T(1.5)), Catch::Contains("sigma = 1.5"));
    CHECK_THROWS_WITH(vp.time_at_model_time(1000.0), Catch::Contains("t (from model_time)"));
    CHECK_THROWS_WITH(vp.alpha(T(1.25)), Catch::Contains("t = 1.25") && Catch::Contains("[0, T]"));
    CHECK_THROWS_WITH(process<T>::edm().sigma(T(-1)), Catch::Contains("t = -1"));
}

TEMPLATE_TEST_CASE("model times follow each network's convention and map back to the same level", "[process]", float,
                   double) {
    using T = TestType;
    const T t = T(0.4);
    // score_sde: t * 999 for VP and sub-VP networks, sigma(t) for VE, c_noise = ln(sigma)/4 for EDM.
    CHECK(process<T>::vp().model_time(t) == Approx(0.4 * 999).epsilon(1e-7).margin(0));
    CHECK(process<T>::sub_vp().model_time(t) == Approx(0.4 * 999).epsilon(1e-7).margin(0));
    const auto ve = process<T>::ve();
    CHECK(ve.model_time(t) == Approx(0.01 * std::pow(5000.0, 0.4)).epsilon(1e-6).margin(0));
    // The ends as a user states them: a VE network told exactly sigma_max (or sigma_min) is at T (or 0),
    // whatever the rounding of sigma(T).
    CHECK(static_cast<double>(ve.time_at_model_time(50.0)) == Approx(1).epsilon(0).margin(1e-6));
    CHECK(static_cast<double>(ve.time_at_model_time(0.01)) == Approx(0).epsilon(0).margin(1e-6));
    CHECK(static_cast<double>(ve.time_at_sigma(T(50))) == Approx(1).epsilon(0).margin(1e-6));
    CHECK(process<T>::edm().model_time(T(3)) == Approx(0.25 * std::log(3.0)).epsilon(1e-6).margin(0));
    // diffusers: the cosine network is told k with alphas_cumprod[k] = alpha((k + 1)/N)^2; the flow network s * 1000.
    CHECK(process<T>::cosine().model_time(t) == Approx(399).epsilon(1e-6).margin(0));
    CHECK(process<T>::flow().model_time(t) == Approx(400).epsilon(1e-6).margin(0));
    for (const auto& p : all_processes<T>()) {
        INFO(name_of(p.kind()));
        const auto a = p.level(t);
        const auto b = p.level_at_model_time(a.model_time);
        CHECK(static_cast<double>(b.sigma) == Approx(a.sigma).epsilon(is_float<T> ? 2e-5 : 1e-12).margin(0));
        CHECK(static_cast<double>(b.alpha) == Approx(a.alpha).epsilon(is_float<T> ? 2e-5 : 1e-12).margin(0));
        // The level is the process in k-diffusion form: sigma/alpha, and the network's input scale.
        if (p.kind() != process_kind::edm) CHECK(a.alpha == p.alpha(t));
        CHECK(static_cast<double>(a.sigma) ==
              Approx(p.sigma(t) / p.alpha(t)).epsilon(is_float<T> ? 1e-6 : 1e-15).margin(0));
        // lambda agrees with noise_level::lambda() = -log(sigma/alpha).
        CHECK(static_cast<double>(a.lambda()) ==
              Approx(p.lambda(t)).epsilon(is_float<T> ? 1e-6 : 1e-14).margin(is_float<T> ? 1e-6 : 1e-14));
    }
    // Another convention on the same process: k-diffusion's VP denoiser is told t itself.
    const auto kd = process<T>::vp().with_model_time(schedule::model_times::continuous_time);
    CHECK(kd.model_time(t) == static_cast<double>(t));
    CHECK_THROWS_WITH(process<T>::vp().with_model_time({schedule::model_time_of::time, 0.0, 0.0}),
                      Catch::Contains("model_time_rule.scale = 0"));
}

TEMPLATE_TEST_CASE("the existing sigma grids are levels of the processes", "[process][grids]", float, double) {
    using T = TestType;
    const double tol = is_float<T> ? 2e-6 : 1e-12;
    const auto same = [&](const schedule::sigma_grid<T>& grid, const schedule::sigma_grid<T>& expected) {
        REQUIRE(grid.steps() == expected.steps());
        for (diffuse::index i = 0; i <= grid.steps(); ++i) {
            INFO("level " << i);
            CHECK(static_cast<double>(grid[i].sigma) == Approx(expected[i].sigma).epsilon(tol).margin(1e-30));
            CHECK(static_cast<double>(grid[i].alpha) == Approx(expected[i].alpha).epsilon(tol).margin(1e-30));
            CHECK(grid[i].model_time == Approx(expected[i].model_time).epsilon(tol).margin(tol));
        }
    };
    SECTION("k-diffusion's VP-SDE grid: the VP process told t, from 1 to eps_s = 1e-3") {
        const auto p = process<T>::vp().with_model_time(schedule::model_times::continuous_time);
        const auto grid = schedule::time_interval<T>::sampling(p).uniform(9).levels(p);
        same(grid, schedule::vp_continuous_grid<T>(10));
        CHECK(grid.initial_noise_std() == T(1));
    }
    SECTION("diffusers' EDMEuler grid: the EDM process at t = sigma") {
        const auto p = process<T>::edm();
        const auto expected = schedule::edm_sigma_grid<T>({.steps = 8});
        std::vector<T> times;
        for (diffuse::index i = 0; i < expected.steps(); ++i) times.push_back(expected[i].sigma);
        times.front() = p.t_max();  // the float-rounded sigma_max
        same(schedule::time_grid<T>(p, times, static_cast<T>(0.002)).levels(p), expected);
    }
    SECTION("diffusers' FlowMatchEuler grid: the flow process at t = s") {
        const auto p = process<T>::flow();
        const auto expected = schedule::flow_match_grid<T>({.steps = 7, .shift = 3.0});
        std::vector<T> times;
        for (diffuse::index i = 0; i < expected.steps(); ++i)
            times.push_back(static_cast<T>(expected[i].model_time / 1000.0));
        same(schedule::time_grid<T>(p, times, T(0)).levels(p), expected);
    }
}

TEST_CASE("diffusers' squaredcos_cap_v2 is the cosine process at t = (k + 1)/N", "[process][discrete]") {
    const auto d = schedule::discrete<double>::squaredcos_cap_v2(1000);
    const auto p = process<double>::cosine().with_model_time(schedule::model_times::continuous_time);
    double worst = 0;
    // Below k = 990 no beta reaches the cap max_beta = 0.999, so the product telescopes exactly.
    for (diffuse::index k = 0; k < 990; ++k) {
        const double t = static_cast<double>(k + 1) / 1000.0;
        const double a = p.alpha(t);
        const double want = static_cast<double>(d.alphas_cumprod()[static_cast<std::size_t>(k)]);
        worst = std::max(worst, relative(a * a, want));
    }
    INFO("squaredcos_cap_v2 against alpha((k+1)/N)^2: worst relative " << worst);
    // measured: 2.3e-14 (products of up to 990 betas rounded to double)
    CHECK(worst < 2.5e-13);
    // And the network's timestep: level at k = 499 is the discrete level of timestep 499.
    const auto cosine = process<double>::cosine();
    CHECK(cosine.time_at_model_time(499.0) == Approx(0.5).epsilon(1e-15).margin(1e-15));
}

TEST_CASE("score_sde's discrete VP (beta_k = beta(k/(N-1))/N) converges to the continuous VP", "[process][discrete]") {
    // score_sde's VPSDE.discrete_betas = linspace(beta_min/N, beta_max/N, N), i.e. beta_k = beta(t_k)/N
    // (Song et al. 2021, app. B: beta(i/N) = N beta_i as N -> infinity); for N = 1000 these are DDPM's
    // linear(1e-4, 0.02) betas. alphas_cumprod[k] = prod (1 - beta_j) ~ alpha((k + 1)/N)^2 with an
    // error O(1/N) in log alpha^2.
    const auto p = process<double>::vp();
    std::vector<double> errors;
    for (const diffuse::index n : {250, 1000, 4000}) {
        const auto d =
            schedule::discrete<double>::linear(n, 0.1 / static_cast<double>(n), 20.0 / static_cast<double>(n));
        double worst = 0;
        for (diffuse::index k = 0; k < n; ++k) {
            const double a = p.alpha(static_cast<double>(k + 1) / static_cast<double>(n));
            worst =
                std::max(worst, std::abs(std::log(d.alphas_cumprod()[static_cast<std::size_t>(k)]) - 2 * std::log(a)));
        }
        errors.push_back(worst);
    }
    INFO("max |log alphabar_k - log alpha^2((k+1)/N)| for N = 250, 1000, 4000: " << errors[0] << ", " << errors[1]
                                                                                 << ", " << errors[2]);
    // measured: 0.280, 0.0677, 0.0168 (first order: each 4x N divides it by 4.13, 4.03)
    CHECK(errors[1] < 0.08);
    CHECK(errors[0] / errors[1] == Approx(4.0).epsilon(0.05).margin(0));
    CHECK(errors[1] / errors[2] == Approx(4.0).epsilon(0.05).margin(0));
    // diffusers' default linear schedule is score_sde's N = 1000 discretization.
    const auto ddpm = schedule::discrete<double>::linear(1000, 1e-4, 0.02);
    const auto score_sde = schedule::discrete<double>::linear(1000, 0.1 / 1000, 20.0 / 1000);
    CHECK(ddpm.alphas_cumprod()[999] == score_sde.alphas_cumprod()[999]);
}

TEMPLATE_TEST_CASE("prior sampling and prior log-density follow score_sde's prior_sampling and prior_logp",
                   "[process][prior]", float, double) {
    using T = TestType;
    const std::vector<double>& pts = reference_process::prior_points;
    buffer<T> x(static_cast<diffuse::index>(pts.size()));
    for (std::size_t i = 0; i < pts.size(); ++i) x[static_cast<diffuse::index>(i)] = static_cast<T>(pts[i]);
    buffer<T> logp(3);
    for (const auto& [p, want] : {std::pair{process<T>::vp(), reference_process::prior_logp_vp},
                                  {process<T>::ve(), reference_process::prior_logp_ve},
                                  {process<T>::flow(), reference_process::prior_logp_vp},
                                  {process<T>::sub_vp(), reference_process::prior_logp_vp}}) {
        p.prior_log_density(x, 4, logp);
        for (diffuse::index i = 0; i < 3; ++i) {
            // measured: 0 (double), 4e-8 relative (float: rounding of the output)
            CHECK(static_cast<double>(logp[i]) ==
                  Approx(want[static_cast<std::size_t>(i)]).epsilon(is_float<T> ? 2e-7 : 1e-15).margin(0));
        }
    }
    // Sampling: prior_std times the generator's normals, so the same seed gives the same scaled draw.
    const auto ve = process<T>::ve();
    buffer<T> a(64), b(64);
    random::generator g1(7), g2(7);
    ve.sample_prior(a, g1);
    g2.normal(flat(b));
    CHECK(ve.prior_std() == T(50));
    CHECK((a == T(50) * b).all());
    CHECK(process<T>::edm().prior_std() == T(80));
    CHECK(process<T>::cosine().prior_std() == T(1));
    CHECK(process<T>::edm().sigma_min() == 0.002);
    CHECK(process<T>::vp().beta_max() == 20.0);
    CHECK(std::isnan(process<T>::vp().sigma_max()));
    CHECK(process<T>::cosine().cosine_s() == 0.008);
    CHECK_THROWS_WITH(ve.prior_log_density(x, 5, logp), Catch::Contains("x.size() = 12"));
    buffer<T> wrong(2);
    CHECK_THROWS_WITH(ve.prior_log_density(x, 4, wrong), Catch::Contains("out.size() = 2"));
}

TEMPLATE_TEST_CASE("add_noise is the marginal alpha x0 + sigma eps", "[process]", float, double) {
    using T = TestType;
    const auto p = process<T>::sub_vp();
    buffer<T> x0 = buffer<T>::LinSpaced(8, -1, 1), eps = buffer<T>::LinSpaced(8, 2, -3), out(8);
    p.add_noise(x0, eps, T(0.6), out);
    const buffer<T> want = p.alpha(T(0.6)) * x0 + p.sigma(T(0.6)) * eps;
    CHECK((out == want).all());
}

TEMPLATE_TEST_CASE("time intervals and grids run in either direction and are validated", "[process][time_grid]", float,
                   double) {
    using T = TestType;
    using schedule::direction;
    using schedule::time_interval;
    const auto vp = process<T>::vp();
    // score_sde's conventions: sampling stops at 1e-3 (VP, sub-VP) or 1e-5 (VE); likelihood starts at 1e-5.
    const auto sampling = time_interval<T>::sampling(vp);
    CHECK(sampling.from() == T(1));
    CHECK(sampling.to() == static_cast<T>(1e-3));
    CHECK(sampling.dir() == direction::to_data);
    CHECK(time_interval<T>::sampling(process<T>::ve()).to() == static_cast<T>(1e-5));
    CHECK(time_interval<T>::sampling(process<T>::edm()).to() == static_cast<T>(0.002));
    CHECK(time_interval<T>::sampling(process<T>::flow()).to() == T(0));
    const auto encoding = time_interval<T>::encoding(vp);
    CHECK(encoding.from() == static_cast<T>(1e-5));
    CHECK(encoding.to() == T(1));
    CHECK(encoding.dir() == direction::to_noise);
    CHECK(sampling.reversed().dir() == direction::to_noise);
    CHECK(sampling.reversed().from() == sampling.to());
    CHECK(sampling.length() == T(1) - static_cast<T>(1e-3));
    CHECK(sampling.contains(T(0.5)));
    CHECK(!sampling.contains(static_cast<T>(1e-4)));

    // score_sde's torch.linspace(T, eps, N): uniform(N - 1), ends exact, equal steps.
    const auto grid = sampling.uniform(4);
    REQUIRE(grid.steps() == 4);
    CHECK(grid[0] == T(1));
    CHECK(grid[4] == static_cast<T>(1e-3));
    CHECK(static_cast<double>(grid[1]) == Approx(1 - 0.999 / 4).epsilon(1e-7).margin(0));
    CHECK(grid.dir() == direction::to_data);
    const auto back = grid.reversed();
    CHECK(back.dir() == direction::to_noise);
    CHECK(back[0] == grid[4]);
    CHECK(back.interval(vp).dir() == direction::to_noise);
    const auto up = encoding.uniform(3);
    CHECK(up[0] == static_cast<T>(1e-5));
    CHECK(up[3] == T(1));
    CHECK(up[1] > up[0]);

    // A sampling grid becomes a sigma grid; an encoding grid cannot (its sigmas increase).
    const auto levels = grid.levels(vp);
    CHECK(levels.steps() == 5);
    CHECK(levels[5].sigma == T(0));
    CHECK(grid.levels(vp, schedule::final_sigma::sigma_min).steps() == 4);
    CHECK(schedule::time_interval<T>::sampling(process<T>::ve())
              .uniform(3)
              .levels(process<T>::ve())
              .initial_noise_std() == T(50));
    CHECK_THROWS_WITH(up.levels(vp), Catch::Contains("noise -> data"));

    // Validation: within [eps, T], strictly monotone, eps in [0, T).
    CHECK_THROWS_WITH(time_interval<T>(vp, T(1), T(0.5), T(0.6)),
                      Catch::Contains("to = 0.5") && Catch::Contains("[eps, T]"));
    CHECK_THROWS_WITH(time_interval<T>(vp, T(1.5), T(0.5), T(0)), Catch::Contains("from = 1.5"));
    CHECK_THROWS_WITH(time_interval<T>(vp, T(0.5), T(0.5), T(0)), Catch::Contains("positive length"));
    CHECK_THROWS_WITH(time_interval<T>(vp, T(1), T(0.5), T(1)), Catch::Contains("eps = 1"));
    CHECK_THROWS_WITH(sampling.uniform(0), Catch::Contains("steps = 0"));
    CHECK_THROWS_WITH(schedule::time_grid<T>(vp, {T(1), T(0.5), T(0.7)}, T(1e-3)),
                      Catch::Contains("times[2] = 0.69999") && Catch::Contains("strictly monotone"));
    CHECK_THROWS_WITH(schedule::time_grid<T>(vp, {T(0.2), T(0.2)}, T(1e-3)), Catch::Contains("times[1]"));
    CHECK_THROWS_WITH(schedule::time_grid<T>(vp, {T(1), T(1e-4)}, T(1e-3)), Catch::Contains("times[1]"));
    CHECK_THROWS_WITH(schedule::time_grid<T>(vp, {T(1)}, T(1e-3)), Catch::Contains("times.size() = 1"));
    CHECK_THROWS_WITH(schedule::time_grid<T>(vp, {T(NAN), T(0.5)}, T(1e-3)), Catch::Contains("times[0] = nan"));
}

TEST_CASE("process constructors reject bad parameters", "[process]") {
    CHECK_THROWS_WITH(process<double>::vp(0.1, 0.05), Catch::Contains("beta_max = 0.05"));
    CHECK_THROWS_WITH(process<double>::vp(-1), Catch::Contains("beta_min = -1"));
    CHECK_THROWS_WITH(process<double>::ve(60, 50), Catch::Contains("sigma_min = 60"));
    CHECK_THROWS_WITH(process<double>::edm(0.002, 80, 0), Catch::Contains("sigma_data = 0"));
    CHECK_THROWS_WITH(process<double>::cosine(0.008, 1.0), Catch::Contains("t_end = 1"));
}
