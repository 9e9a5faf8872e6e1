// Score SDEs (include/diffuse/sde) against the exact truth of a Gaussian mixture, whose score, score
// divergence and noised log-densities are closed forms (models/gaussian_mixture.hpp):
// - the score of a model of every prediction type equals the mixture's score;
// - the PF-ODE sampler and the predictor-corrector sampler reproduce the mixture: energy distance to a
//   true set within twice the mean distance between independent true sets (issue 18's acceptance);
// - encoding then decoding a point through the PF-ODE returns it to 1e-5;
// - the PF-ODE log-likelihood equals the mixture's analytic log p_eps (the marginal at the ODE's data
//   end eps is a mixture too) to 1e-4 with the exact divergence; Hutchinson's estimate is unbiased.
#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "allocation_counting.hpp"
#include "diffuse/core/brownian.hpp"
#include "diffuse/core/random.hpp"
#include "diffuse/models/gaussian_mixture.hpp"
#include "diffuse/models/metrics.hpp"
#include "diffuse/ode/butcher.hpp"
#include "diffuse/ode/sde_euler_maruyama.hpp"
#include "diffuse/ode/sde_integrate.hpp"
#include "diffuse/sde/sde.hpp"

using namespace diffuse;
using predict::prediction;
using schedule::process;

namespace {

template <class T>
using array = Eigen::Array<T, Eigen::Dynamic, 1>;

// The mixture as a network of a prediction type: told the process's model time, it answers with the
// exact prediction at the time that model time maps back to.
template <class T>
auto mixture_network(const models::gaussian_mixture<T>& mixture, const process<T>& p, prediction kind) {
    return [&mixture, p, kind](const_view<T> x, double model_time, view<T> out) {
        const T t = p.time_at_model_time(model_time), a = p.alpha(t), s = p.sigma(t);
        switch (kind) {
            case prediction::epsilon:
                return mixture.epsilon(x, a, s, out);
            case prediction::sample:
                return mixture.x0(x, a, s, out);
            case prediction::v_prediction:
                return mixture.v(x, a, s, out);
            case prediction::score:
                return mixture.score(x, a, s, out);
            case prediction::flow_velocity:
                return mixture.velocity(x, t, out);
        }
    };
}

template <class T>
auto mixture_score(const models::gaussian_mixture<T>& mixture, const process<T>& p,
                   prediction kind = prediction::epsilon) {
    return sde::score_model<T, decltype(mixture_network(mixture, p, kind))>(mixture_network(mixture, p, kind), p, kind);
}

constexpr diffuse::index count = 1000;

// Mean energy distance between independent true sets of `count` points and `truth`.
template <class T>
double null_distance(const models::gaussian_mixture<T>& target, const array<T>& truth) {
    constexpr int pairs = 4;
    random::generator g(777);
    array<T> other(truth.size());
    double mean = 0;
    for (int i = 0; i < pairs; ++i) {
        target.sample(flat(other), g);
        mean += models::energy_distance<T>(cflat(other), cflat(truth), 2) / pairs;
    }
    return mean;
}

}  // namespace

TEST_CASE("score_model turns every prediction type into the mixture's score", "[sde][score]") {
    using T = double;
    const auto mixture = models::gaussian_mixture<T>::ring();
    array<T> x(2 * 16), expected(x.size()), got(x.size());
    random::generator g(3);
    g.normal(flat(x));
    x *= 3.0;
    const auto check = [&](const process<T>& p, prediction kind, T t) {
        const auto score = mixture_score(mixture, p, kind);
        mixture.score(cflat(x), p.alpha(t), p.sigma(t), flat(expected));
        score(t, cflat(x), flat(got));
        const double error = ((got - expected).abs() / (1 + expected.abs())).maxCoeff();
        INFO(predict::name(kind) << " at t = " << t << ": relative error " << error);
        CHECK(error < 1e-9);  // measured <= 5.8e-11 (sample prediction near t = 0 divides by sigma)
    };
    SECTION("every prediction type on its processes") {
        for (const T t : {0.01, 0.3, 0.9}) {
            for (const auto kind :
                 {prediction::epsilon, prediction::sample, prediction::v_prediction, prediction::score}) {
                check(process<T>::vp(), kind, t);
            }
            for (const auto kind : {prediction::epsilon, prediction::sample, prediction::score}) {
                check(process<T>::ve(), kind, t);
                check(process<T>::sub_vp(), kind, t);
            }
            check(process<T>::flow(), prediction::flow_velocity, t);
            check(process<T>::flow(), prediction::epsilon, t);
        }
    }
    SECTION("a prediction type outside its process is refused") {
        CHECK_THROWS_AS(mixture_score(mixture, process<T>::ve(), prediction::v_prediction), diffuse::error);
        CHECK_THROWS_AS(mixture_score(mixture, process<T>::vp(), prediction::flow_velocity), diffuse::error);
    }
    SECTION("the drift of the reverse SDE and of the probability flow") {
        const auto p = process<T>::vp();
        const auto score = mixture_score(mixture, p);
        const T t = 0.4, f = p.drift(t), g2 = p.diffusion(t) * p.diffusion(t);
        mixture.score(cflat(x), p.alpha(t), p.sigma(t), flat(expected));
        sde::reverse_sde<T, decltype(score)>(score).drift(t, cflat(x), flat(got));
        CHECK(((got - (f * x - g2 * expected)).abs()).maxCoeff() < 1e-9);  // measured 1e-14
        sde::probability_flow<T>(score)(t, cflat(x), flat(got));
        CHECK(((got - (f * x - 0.5 * g2 * expected)).abs()).maxCoeff() < 1e-9);
    }
}

TEMPLATE_TEST_CASE("the PF-ODE sampler reproduces the 8-Gaussian ring", "[sde][pf_ode][acceptance]", float, double) {
    using T = TestType;
    const auto mixture = models::gaussian_mixture<T>::ring();
    array<T> truth(2 * count);
    random::generator data(1);
    mixture.sample(flat(truth), data);
    const double threshold = 2 * null_distance(mixture, truth);
    INFO("threshold (twice the null energy distance) " << threshold);
    SECTION("Dormand-Prince on VP, VE and sub-VP") {
        for (const auto& p : {process<T>::vp(), process<T>::ve(), process<T>::sub_vp()}) {
            const auto score = mixture_score(mixture, p);
            array<T> x(2 * count);
            random::generator noise(2);
            p.sample_prior(flat(x), noise);
            INFO("process " << static_cast<int>(p.kind()));
            CHECK(models::energy_distance<T>(cflat(x), cflat(truth), 2) > threshold);  // the prior is far
            sde::pf_ode_sampler<T> pf(x.size());  // Dormand-Prince, rtol = atol = 1e-5, eps from the process
            const ode::statistics stats = pf.decode(score, x);
            const double d = models::energy_distance<T>(cflat(x), cflat(truth), 2);
            INFO("nfev " << stats.evaluations << ", energy distance " << d);
            CHECK(d < threshold);
            CHECK(stats.rejected < stats.accepted);
        }
    }
    SECTION("a fixed-step tableau: RK4 with 50 steps on VP") {
        const auto p = process<T>::vp();
        const auto score = mixture_score(mixture, p);
        array<T> x(2 * count);
        random::generator noise(2);
        p.sample_prior(flat(x), noise);
        sde::pf_ode_sampler<T, ode::rk4> pf(x.size(), {.steps = 50});
        CHECK(pf.decode(score, x).evaluations == 200);
        const double d = models::energy_distance<T>(cflat(x), cflat(truth), 2);
        INFO("energy distance " << d);
        CHECK(d < threshold);
    }
}

TEST_CASE("PF-ODE encoding then decoding returns the point", "[sde][pf_ode]") {
    using T = double;
    const auto mixture = models::gaussian_mixture<T>::ring();
    array<T> x0(2 * 64), x(x0.size());
    random::generator data(5);
    mixture.sample(flat(x0), data);
    for (const auto& p : {process<T>::vp(), process<T>::ve()}) {
        const auto score = mixture_score(mixture, p);
        sde::pf_ode_sampler<T> pf(x.size(), {.rtol = 1e-7, .atol = 1e-7});
        x = x0;
        const auto there = pf.encode(score, x);
        const double moved = (x - x0).abs().maxCoeff();
        const auto back = pf.decode(score, x);
        const double error = (x - x0).abs().maxCoeff();
        INFO("nfev " << there.evaluations << " + " << back.evaluations << ", round-trip error " << error);
        CHECK(moved > 1.0);   // the code is not the point
        CHECK(error < 1e-5);  // measured: see docs/sde.md
    }
}

TEST_CASE("PF-ODE log-likelihood equals the mixture's analytic log-density", "[sde][likelihood][acceptance]") {
    using T = double;
    const auto mixture = models::gaussian_mixture<T>::ring();
    constexpr diffuse::index points = 32;
    array<T> x(2 * points), got(points), expected(points);
    random::generator data(9);
    mixture.sample(flat(x), data);
    x.head(4) << 0.0, 0.0, 6.0, -1.0;  // two points off the data too
    SECTION("exact divergence on VP, VE and sub-VP") {
        for (const auto& p : {process<T>::vp(), process<T>::ve(), process<T>::sub_vp()}) {
            const auto score = mixture_score(mixture, p);
            const auto divergence = [&mixture, &p](T t, const_view<T> y, view<T> out) {
                mixture.score_divergence(y, p.alpha(t), p.sigma(t), out);
            };
            sde::likelihood<T> lik(points, 2, {.rtol = 1e-7, .atol = 1e-7});
            const auto stats = lik.log_density(score, divergence, x, got);
            const T eps = lik.options().eps, end = p.t_max();
            mixture.log_density_t(cflat(x), p.alpha(eps), p.sigma(eps), flat(expected));
            // got uses the prior N(0, prior_std^2) for p_T; the ODE itself is checked with the true p_T.
            array<T> terminal(points);
            mixture.log_density_t(lik.code(), p.alpha(end), p.sigma(end), flat(terminal));
            const double error = (terminal + lik.divergence_integral() - expected).abs().maxCoeff();
            const double prior_error = (got - expected).abs().maxCoeff();
            INFO("process " << static_cast<int>(p.kind()) << ": nfev " << stats.evaluations << ", max error " << error
                            << ", with the prior for p_T " << prior_error);
            CHECK(error < 1e-4);
        }
    }
    SECTION("bits per dimension") {
        CHECK(sde::bits_per_dim(0.0, 3) == 7.0);  // score_sde's offset for 256 levels in [-1, 1]
        CHECK(sde::bits_per_dim(-3 * std::numbers::ln2, 3, 256.0, 1.0) == Approx(9.0).epsilon(0).margin(1e-14));
    }
}

TEST_CASE("PF-ODE log-likelihood in float agrees with the analytic log-density", "[sde][likelihood]") {
    // float at score_sde's likelihood tolerances (rtol = atol = 1e-5), against the analytic log p_eps
    // computed in double; the terminal marginal is the mixture's own, as in the double test above.
    using T = float;
    const auto mixture = models::gaussian_mixture<T>::ring();
    const auto exact = models::gaussian_mixture<double>::ring();
    constexpr diffuse::index points = 32;
    array<T> x(2 * points), got(points), terminal(points);
    random::generator data(9);
    mixture.sample(flat(x), data);
    x.head(4) << 0.0f, 0.0f, 6.0f, -1.0f;
    const array<double> xd = x.cast<double>();
    array<double> expected(points);
    struct setup {
        process<T> p;
        process<double> pd;
        double bound;  // about 10x the measured error
    };
    // measured: 7.1e-5 (VP, 80 evaluations), 1.4e-4 (VE, 122)
    for (const auto& [p, pd, bound] : {setup{process<T>::vp(), process<double>::vp(), 7e-4},
                                       setup{process<T>::ve(), process<double>::ve(), 1.5e-3}}) {
        const auto score = mixture_score(mixture, p);
        // (a pointer to the binding: clang 14 cannot capture structured bindings)
        const auto divergence = [&mixture, process = &p](T t, const_view<T> y, view<T> out) {
            mixture.score_divergence(y, process->alpha(t), process->sigma(t), out);
        };
        sde::likelihood<T> lik(points, 2);
        const auto stats = lik.log_density(score, divergence, x, got);
        const double eps = lik.options().eps;
        exact.log_density_t(cflat(xd), pd.alpha(eps), pd.sigma(eps), flat(expected));
        mixture.log_density_t(lik.code(), p.alpha(p.t_max()), p.sigma(p.t_max()), flat(terminal));
        const double error = ((terminal + lik.divergence_integral()).cast<double>() - expected).abs().maxCoeff();
        INFO("process " << static_cast<int>(p.kind()) << ": nfev " << stats.evaluations << ", max error " << error);
        CHECK(error < bound);
    }
}

TEST_CASE("the Hutchinson-Skilling log-likelihood is unbiased", "[sde][likelihood]") {
    using T = double;
    const auto mixture = models::gaussian_mixture<T>::ring(8, 2.0, 0.5);
    const auto p = process<T>::vp();
    const auto score = mixture_score(mixture, p);
    // One test point repeated: each copy gets its own probe, so one solve gives `probes` estimates.
    constexpr diffuse::index probes = 400;
    const array<T> point = (array<T>(2) << 1.5, -0.5).finished();
    array<T> x = point.replicate(probes, 1), estimates(probes), exact(1);
    const auto divergence = [&mixture, &p](T t, const_view<T> y, view<T> out) {
        mixture.score_divergence(y, p.alpha(t), p.sigma(t), out);
    };
    sde::likelihood<T> single(1, 2, {.rtol = 1e-7, .atol = 1e-7});
    single.log_density(score, divergence, point, exact);
    sde::likelihood<T> lik(probes, 2, {.rtol = 1e-6, .atol = 1e-6});
    for (const auto kind : {sde::probe::rademacher, sde::probe::gaussian}) {
        random::generator rng(11);
        lik.log_density_hutchinson(score, kind, rng, x, estimates);
        const double mean = estimates.mean();
        const double stderr_ = std::sqrt((estimates - mean).square().sum() / (probes - 1) / probes);
        INFO("probe " << static_cast<int>(kind) << ": mean " << mean << " +- " << stderr_ << ", exact " << exact[0]);
        CHECK(stderr_ > 1e-3);                           // the probes do vary the estimate
        CHECK(std::abs(mean - exact[0]) < 3 * stderr_);  // unbiased
    }
}

TEMPLATE_TEST_CASE("the predictor-corrector sampler reproduces the 8-Gaussian ring", "[sde][pc][acceptance]", float,
                   double) {
    using T = TestType;
    const auto mixture = models::gaussian_mixture<T>::ring();
    array<T> truth(2 * count);
    random::generator data(1);
    mixture.sample(flat(truth), data);
    const double threshold = 2 * null_distance(mixture, truth);
    struct setup {
        process<T> p;
        sde::predictor predict;
        sde::corrector correct;
    };
    const std::vector<setup> setups{
        {process<T>::vp(), sde::predictor::reverse_diffusion, sde::corrector::langevin},
        {process<T>::ve(), sde::predictor::reverse_diffusion, sde::corrector::langevin},
        {process<T>::vp(), sde::predictor::euler_maruyama, sde::corrector::none},
        {process<T>::vp(), sde::predictor::ancestral, sde::corrector::annealed_langevin},
        {process<T>::ve(), sde::predictor::ancestral, sde::corrector::none},
        {process<T>::sub_vp(), sde::predictor::euler_maruyama, sde::corrector::langevin},
        {process<T>::ve(), sde::predictor::reverse_diffusion, sde::corrector::none},
        {process<T>::ve(), sde::predictor::euler_maruyama, sde::corrector::annealed_langevin},
    };
    SECTION("predictors and correctors, N = 200") {
        for (const auto& s : setups) {
            const auto score = mixture_score(mixture, s.p);
            sde::pc_sampler<T> pc(2 * count, 2, {.predict = s.predict, .correct = s.correct, .steps = 200});
            array<T> x(2 * count);
            random::generator noise(4);
            s.p.sample_prior(flat(x), noise);
            const diffuse::index evaluations = pc.sample(score, x, noise);
            const double d = models::energy_distance<T>(cflat(x), cflat(truth), 2);
            INFO("process " << static_cast<int>(s.p.kind()) << ", predictor " << static_cast<int>(s.predict)
                            << ", corrector " << static_cast<int>(s.correct) << ": energy distance " << d
                            << ", threshold " << threshold);
            CHECK(evaluations == (s.correct == sde::corrector::none ? 200 : 400));
            CHECK(d < threshold);
        }
    }
    SECTION("the reverse SDE through the generic Euler-Maruyama stepper, 200 steps, VP") {
        const auto p = process<T>::vp();
        const auto score = mixture_score(mixture, p);
        const sde::reverse_sde<T, decltype(score)> reverse(score);
        auto problem = sde::as_diagonal_sde(reverse);
        array<T> x(2 * count), times(201);
        random::generator noise(6);
        p.sample_prior(flat(x), noise);
        for (diffuse::index k = 0; k <= 200; ++k) times[k] = T(1) - (T(1) - T(1e-3)) * T(k) / T(200);
        ode::euler_maruyama<T> em(x.size());
        random::brownian_increments<T> increments(7);
        ode::integrate_sde(em, problem, times, x, increments);
        const double d = models::energy_distance<T>(cflat(x), cflat(truth), 2);
        INFO("energy distance " << d << ", threshold " << threshold);
        CHECK(d < threshold);
    }
    SECTION("the statistic has power: 5 Euler-Maruyama steps on VP fail it") {
        const auto p = process<T>::vp();
        sde::pc_sampler<T> pc(2 * count, 2,
                              {.predict = sde::predictor::euler_maruyama, .correct = sde::corrector::none, .steps = 5});
        array<T> x(2 * count);
        random::generator noise(4);
        p.sample_prior(flat(x), noise);
        pc.sample(mixture_score(mixture, p), x, noise);
        CHECK(models::energy_distance<T>(cflat(x), cflat(truth), 2) > threshold);
    }
}

TEST_CASE("score-SDE inputs are validated", "[sde][errors]") {
    using T = double;
    const auto mixture = models::gaussian_mixture<T>::ring();
    const auto p = process<T>::vp();
    const auto score = mixture_score(mixture, p);
    array<T> x(4), out(4), logp(2);
    x.setZero();
    CHECK_THROWS_AS(score(T(0), cflat(x), flat(out)), diffuse::error);  // epsilon / sigma at sigma(0) = 0
    CHECK_NOTHROW(mixture_score(mixture, p, prediction::score)(T(0), cflat(x), flat(out)));
    CHECK_THROWS_AS(score(T(0.5), cflat(x), flat(logp)), diffuse::error);    // wrong output size
    CHECK_THROWS_AS((sde::pf_ode_sampler<T, ode::rk4>(4)), diffuse::error);  // a fixed tableau needs steps
    CHECK_THROWS_AS((sde::pf_ode_sampler<T>(4, {.eps = 2.0}).decode(score, x)), diffuse::error);  // eps >= T
    CHECK_THROWS_AS((sde::pc_sampler<T>(4, 2, {.steps = 0})), diffuse::error);
    CHECK_THROWS_AS((sde::pc_sampler<T>(5, 2)), diffuse::error);  // not whole points
    CHECK_THROWS_AS((sde::reverse_sde<T, decltype(score)>(score, -1.0)), diffuse::error);
    CHECK_THROWS_AS((sde::likelihood<T>(0, 2)), diffuse::error);
    CHECK_THROWS_AS(sde::bits_per_dim(0.0, 0), diffuse::error);
    SECTION("ancestral sampling is not defined for the flow path") {
        const auto flow = process<T>::flow();
        sde::pc_sampler<T> pc(4, 2, {.predict = sde::predictor::ancestral, .steps = 2});
        random::generator g(1);
        CHECK_THROWS_AS(pc.sample(mixture_score(mixture, flow, prediction::flow_velocity), x, g), diffuse::error);
    }
}

TEMPLATE_TEST_CASE("score-SDE solves and samples allocate nothing", "[sde][allocations]", float, double) {
    using T = TestType;
    using allocation_counting::count;
    // Data N(m, s^2 I): p_t = N(alpha m, (alpha^2 s^2 + sigma^2) I), eps = sigma (x - alpha m) / variance.
    const auto p = process<T>::vp();
    const T m = T(1.5), s = T(0.5);
    const auto network = [p, m, s](const_view<T> x, double model_time, view<T> out) {
        const T t = p.time_at_model_time(model_time), a = p.alpha(t), sigma = p.sigma(t);
        out = sigma * (x - a * m) / (a * a * s * s + sigma * sigma);
    };
    const sde::score_model<T, decltype(network)> score(network, p, prediction::epsilon);
    const auto divergence = [p, s](T t, const_view<T> x, view<T> out) {
        const T a = p.alpha(t), sigma = p.sigma(t);
        out.setConstant(-static_cast<T>(x.size() / out.size()) / (a * a * s * s + sigma * sigma));
    };
    constexpr diffuse::index points = 8;
    array<T> x(2 * points), logp(points);
    random::generator g(3);
    sde::pf_ode_sampler<T> pf(x.size());
    sde::pc_sampler<T> pc(x.size(), 2, {.steps = 20});
    sde::likelihood<T> lik(points, 2);
    p.sample_prior(flat(x), g);
    const auto decoded = count([&] { pf.decode(score, x); });
    const auto encoded = count([&] { pf.encode(score, x); });
    const auto sampled = count([&] { pc.sample(score, x, g); });
    const auto exact = count([&] { lik.log_density(score, divergence, x, logp); });
    const auto estimated = count([&] { lik.log_density_hutchinson(score, sde::probe::rademacher, g, x, logp); });
    CHECK(decoded.made == 0);
    CHECK(encoded.made == 0);
    CHECK(sampled.made == 0);
    CHECK(exact.made == 0);
    CHECK(estimated.made == 0);
    CHECK(x.allFinite());
    CHECK(logp.allFinite());
    CHECK(count([] {
              array<T> fresh(100);
              fresh.setZero();
          }).made == 1);  // the counter does see an allocation (positive control)
}
