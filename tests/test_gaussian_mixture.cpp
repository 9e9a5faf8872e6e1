// Tests for diffuse/models/gaussian_mixture.hpp: every closed form is checked against an
// independent route (finite differences of the log density, Tweedie's identity, the
// continuity equation, Bayes' rule, single-Gaussian textbook formulas, sampling moments).
#include <catch2/catch.hpp>

#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <set>
#include <thread>
#include <vector>

#include "diffuse/core/random.hpp"
#include "diffuse/models/gaussian_mixture.hpp"

namespace {

using diffuse::flat;
using diffuse::models::gaussian_mixture;
using Eigen::Index;  // not `index`: that name clashes with POSIX ::index
template <class T>
using buf = diffuse::buffer<T>;

template <class T>
buf<T> values(std::initializer_list<double> list) {
    buf<T> out(static_cast<Index>(list.size()));
    Index i = 0;
    for (double v : list) out[i++] = static_cast<T>(v);
    return out;
}

// Three anisotropic 2-D components with unequal weights; components 0 and 2 are class 0.
template <class T>
gaussian_mixture<T> tilted() {
    const buf<T> w = values<T>({0.5, 0.3, 0.2});
    const buf<T> mu = values<T>({-2, 0, 2, 1, 0, -2.5});
    const buf<T> cov = values<T>({1.0, 0.6, 0.6, 0.8, 0.3, -0.1, -0.1, 0.5, 0.2, 0.0, 0.0, 1.5});
    const std::vector<int> labels{0, 1, 0};
    return gaussian_mixture<T>::full(2, flat(w), flat(mu), flat(cov), labels);
}

// Two correlated 3-D components.
template <class T>
gaussian_mixture<T> tilted_3d() {
    const buf<T> w = values<T>({1, 2});
    const buf<T> mu = values<T>({1, 0, -1, -1, 1, 0.5});
    const buf<T> cov = values<T>({1.0, 0.3, 0.1, 0.3, 0.7, -0.2, 0.1, -0.2, 0.5,  //
                                  0.4, 0.0, 0.1, 0.0, 0.9, 0.3, 0.1, 0.3, 1.2});
    return gaussian_mixture<T>::full(3, flat(w), flat(mu), flat(cov));
}

// Points that exercise every regime: near each mean, between means, at the origin, and far
// out where the component densities underflow (log-sum-exp must keep everything finite).
template <class T>
buf<T> probe_points(const gaussian_mixture<T>& g) {
    const Index d = g.dim();
    std::vector<double> p;
    for (Index k = 0; k < g.components(); ++k) {
        for (Index c = 0; c < d; ++c)
            p.push_back(static_cast<double>(g.mean(k)[c]) + 0.3 - 0.25 * static_cast<double>(c));
    }
    for (Index c = 0; c < d; ++c) p.push_back(0.5 * static_cast<double>(g.mean(0)[c] + g.mean(g.components() - 1)[c]));
    for (Index c = 0; c < d; ++c) p.push_back(0.0);
    for (Index c = 0; c < d; ++c) p.push_back(c % 2 == 0 ? 30.0 : -20.0);
    buf<T> out(static_cast<Index>(p.size()));
    for (Index i = 0; i < out.size(); ++i) out[i] = static_cast<T>(p[static_cast<std::size_t>(i)]);
    return out;
}

struct noise_level {
    double alpha, sigma;
};
// Data (sigma = 0), nearly clean, VP mid-way, nearly pure noise, and VE with large sigma.
const std::vector<noise_level> noise_levels{{1, 0}, {1, 0.05}, {0.8, 0.6}, {0.2, 0.98}, {1, 3}};

// Finite-difference step and the relative accuracy it buys: the model computes in double,
// but a float model reads float inputs and rounds its outputs to float.
template <class T>
double fd_step() {
    return std::is_same_v<T, double> ? 1e-5 : 1.0 / 256;
}
template <class T>
double fd_tolerance() {
    return std::is_same_v<T, double> ? 1e-6 : 1e-2;
}

// Central differences of a per-point scalar field along every coordinate (n*d values).
template <class T, class F>
buf<T> gradient_fd(F field, const buf<T>& x, Index d, double h) {
    const Index n = x.size() / d;
    buf<T> grad(x.size()), fp(n), fm(n);
    for (Index c = 0; c < d; ++c) {
        buf<T> plus = x, minus = x;
        for (Index i = 0; i < n; ++i) {
            plus[i * d + c] += static_cast<T>(h);
            minus[i * d + c] -= static_cast<T>(h);
        }
        field(plus, fp);
        field(minus, fm);
        for (Index i = 0; i < n; ++i) {
            const double step = static_cast<double>(plus[i * d + c]) - static_cast<double>(minus[i * d + c]);
            grad[i * d + c] = static_cast<T>((static_cast<double>(fp[i]) - static_cast<double>(fm[i])) / step);
        }
    }
    return grad;
}

// Central-difference divergence of a vector field (n values).
template <class T, class F>
buf<T> divergence_fd(F field, const buf<T>& x, Index d, double h) {
    const Index n = x.size() / d;
    buf<T> div = buf<T>::Zero(n), fp(x.size()), fm(x.size());
    for (Index c = 0; c < d; ++c) {
        buf<T> plus = x, minus = x;
        for (Index i = 0; i < n; ++i) {
            plus[i * d + c] += static_cast<T>(h);
            minus[i * d + c] -= static_cast<T>(h);
        }
        field(plus, fp);
        field(minus, fm);
        for (Index i = 0; i < n; ++i) {
            const double step = static_cast<double>(plus[i * d + c]) - static_cast<double>(minus[i * d + c]);
            div[i] += static_cast<T>((static_cast<double>(fp[i * d + c]) - static_cast<double>(fm[i * d + c])) / step);
        }
    }
    return div;
}

// Largest per-point error |actual - expected| / max(1, |expected|) (norms over a point's d values).
template <class T>
double worst_relative_error(const buf<T>& actual, const buf<T>& expected, Index d) {
    double worst = 0;
    for (Index i = 0; i < actual.size() / d; ++i) {
        const auto a = actual.segment(i * d, d).template cast<double>();
        const auto e = expected.segment(i * d, d).template cast<double>();
        worst = std::max(worst, (a - e).matrix().norm() / std::max(1.0, e.matrix().norm()));
    }
    return worst;
}

template <class T>
std::vector<gaussian_mixture<T>> test_mixtures() {
    return {gaussian_mixture<T>::ring(), gaussian_mixture<T>::checkerboard(), tilted<T>(), tilted_3d<T>()};
}

}  // namespace

TEMPLATE_TEST_CASE("log density of a standard normal matches its definition", "[models][gmm]", float, double) {
    using T = TestType;
    // N(0, 1): log p(0) = -log(2 pi)/2 = -0.91893853320467274, log p(1) = log p(0) - 1/2.
    const buf<T> w = values<T>({1}), mu = values<T>({0}), s = values<T>({1});
    const auto g = gaussian_mixture<T>::isotropic(1, flat(w), flat(mu), flat(s));
    const buf<T> x = values<T>({0, 1, -1});
    buf<T> out(3);
    g.log_density(flat(x), flat(out));
    // measured 1.2e-16 (double), 1.6e-08 (float) relative
    CHECK(out[0] == Approx(-0.91893853320467274).epsilon(std::is_same_v<T, float> ? 2e-7 : 2e-15).margin(0));
    // measured 0 (double), 1.1e-08 (float) relative
    CHECK(out[1] == Approx(-1.41893853320467274).epsilon(std::is_same_v<T, float> ? 2e-7 : 2e-15).margin(0));
    CHECK(out[2] == out[1]);
    // Noised marginal N(0, alpha^2 + sigma^2) at alpha = 0.6, sigma = 0.8 is N(0, 1) again.
    buf<T> noised(3);
    g.log_density_t(flat(x), T(0.6), T(0.8), flat(noised));
    // measured 0 (double), 1.1e-08 (float) relative
    CHECK(noised[1] == Approx(-1.41893853320467274).epsilon(std::is_same_v<T, float> ? 2e-7 : 2e-15).margin(0));
    // An equal two-component mixture of N(-1, 1) and N(1, 1) at 0: both densities are
    // N(1; 0, 1), so log p = log p(1) exactly.
    const buf<T> w2 = values<T>({3, 3}), mu2 = values<T>({-1, 1}), s2 = values<T>({1, 1});
    const auto pair = gaussian_mixture<T>::isotropic(1, flat(w2), flat(mu2), flat(s2));
    buf<T> at_zero(1);
    pair.log_density(flat(values<T>({0})), flat(at_zero));
    // measured 0 (double), 1.1e-08 (float) relative
    CHECK(at_zero[0] == Approx(-1.41893853320467274).epsilon(std::is_same_v<T, float> ? 2e-7 : 2e-15).margin(0));
}

TEMPLATE_TEST_CASE("score equals finite differences of log_density_t", "[models][gmm][score]", float, double) {
    using T = TestType;
    for (const auto& g : test_mixtures<T>()) {
        const buf<T> x = probe_points(g);
        for (const auto [alpha, sigma] : noise_levels) {
            buf<T> score(x.size());
            g.score(flat(x), T(alpha), T(sigma), flat(score));
            // the bindings by copy: C++20 allows capturing them by reference, clang 14 does not
            auto log_p = [&, alpha = alpha, sigma = sigma](const buf<T>& at, buf<T>& out) {
                g.log_density_t(flat(at), T(alpha), T(sigma), flat(out));
            };
            const buf<T> fd = gradient_fd<T>(log_p, x, g.dim(), fd_step<T>());
            INFO("dim " << g.dim() << " components " << g.components() << " alpha " << alpha << " sigma " << sigma);
            CHECK(score.allFinite());
            CHECK(worst_relative_error(score, fd, g.dim()) < fd_tolerance<T>());
        }
    }
}

// Rounding errors of a mixture average are relative to its per-component terms, which can
// be far larger than the (cancelling) average: with M = max_k |mu_k|, z_k = x - alpha mu_k and
// c_min, lambda_max the extreme eigenvalues of C_k = alpha^2 Sigma_k + sigma^2 I and of Sigma_k,
// |z_k| <= |x| + alpha M and |C_k^{-1} z_k| <= (|x| + alpha M) / c_min.
template <class T>
struct term_scale {
    double mean_norm = 0, lambda_max = 0, lambda_min = std::numeric_limits<double>::infinity();
    explicit term_scale(const gaussian_mixture<T>& g) {
        for (Index k = 0; k < g.components(); ++k) {
            mean_norm = std::max(mean_norm, g.mean(k).template cast<double>().norm());
            Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(g.covariance(k).template cast<double>());
            lambda_max = std::max(lambda_max, eigen.eigenvalues().maxCoeff());
            lambda_min = std::min(lambda_min, eigen.eigenvalues().minCoeff());
        }
    }
};

TEMPLATE_TEST_CASE("epsilon, x0 and v satisfy Tweedie's identities exactly", "[models][gmm][tweedie]", float, double) {
    using T = TestType;
    const double rounding = 64 * std::numeric_limits<T>::epsilon();
    for (const auto& g : test_mixtures<T>()) {
        const buf<T> x = probe_points(g);
        const Index d = g.dim();
        const term_scale<T> scale(g);
        for (const auto [alpha, sigma] : noise_levels) {
            const double c_min = alpha * alpha * scale.lambda_min + sigma * sigma;
            for (const std::optional<int> label : {std::optional<int>{}, std::optional<int>{0}}) {
                const T a = T(alpha), s = T(sigma);
                buf<T> score(x.size()), eps(x.size()), x0(x.size()), v(x.size());
                g.score(flat(x), a, s, flat(score), label);
                g.epsilon(flat(x), a, s, flat(eps), label);
                g.x0(flat(x), a, s, flat(x0), label);
                g.v(flat(x), a, s, flat(v), label);
                INFO("dim " << d << " alpha " << alpha << " sigma " << sigma << " label " << label.value_or(-1));
                for (Index i = 0; i < x.size() / d; ++i) {
                    const double x_norm = x.segment(i * d, d).template cast<double>().matrix().norm();
                    const double z = x_norm + alpha * scale.mean_norm;
                    for (Index j = i * d; j < (i + 1) * d; ++j) {
                        const double e = eps[j], m = x0[j], xj = x[j];
                        // x = alpha x0 + sigma eps (Tweedie: x0 = (x + sigma^2 score) / alpha).
                        CHECK(std::abs(alpha * m + sigma * e - xj) <=
                              rounding * (alpha * scale.mean_norm + 2 * z + x_norm));
                        // eps = -sigma score.
                        CHECK(std::abs(e + sigma * static_cast<double>(score[j])) <= rounding * sigma * z / c_min);
                        // v = alpha eps - sigma x0.
                        CHECK(std::abs(static_cast<double>(v[j]) - (alpha * e - sigma * m)) <=
                              rounding * sigma *
                                  (scale.mean_norm + z * (alpha * (1 + scale.lambda_max) / c_min + 1 / alpha)));
                    }
                }
            }
        }
    }
}

TEMPLATE_TEST_CASE("a single Gaussian has the textbook posterior mean and score", "[models][gmm][denoiser]", float,
                   double) {
    using T = TestType;
    // N(mu, s^2 I) noised: x_t ~ N(alpha mu, (alpha^2 s^2 + sigma^2) I), so
    // score = (alpha mu - x) / c and E[x0 | x] = mu + alpha s^2 (x - alpha mu) / c; with
    // alpha = 1 this is the ideal denoiser D(x; sigma) = (s^2 x + sigma^2 mu)/(s^2 + sigma^2)
    // of Karras et al. 2022.
    const buf<T> w = values<T>({2}), mu = values<T>({1.5, -0.5}), s = values<T>({0.7});
    const auto g = gaussian_mixture<T>::isotropic(2, flat(w), flat(mu), flat(s));
    const buf<T> x = values<T>({0.3, 0.9, -2.0, 4.0});
    for (const auto [alpha, sigma] : noise_levels) {
        buf<T> score(4), x0(4);
        g.score(flat(x), T(alpha), T(sigma), flat(score));
        g.x0(flat(x), T(alpha), T(sigma), flat(x0));
        const double c = alpha * alpha * 0.49 + sigma * sigma;
        for (Index i = 0; i < 4; ++i) {
            const double m = mu[i % 2], xi = x[i];
            CHECK(score[i] == Approx((alpha * m - xi) / c).epsilon(1e-6).margin(1e-6));
            // measured 2.2e-16 (double), 2.9e-07 (float) relative
            CHECK(x0[i] == Approx(m + alpha * 0.49 * (xi - alpha * m) / c)
                               .epsilon(std::is_same_v<T, float> ? 3e-6 : 3e-15)
                               .margin(0));
            if (alpha == 1)
                // measured 2.5e-16 (double), 4.7e-08 (float) relative
                CHECK(x0[i] == Approx((0.49 * xi + sigma * sigma * m) / (0.49 + sigma * sigma))
                                   .epsilon(std::is_same_v<T, float> ? 5e-7 : 3e-15)
                                   .margin(0));
        }
    }
    // sigma = 0 gives back the data: the clean point is its own posterior mean.
    buf<T> clean(4);
    g.x0(flat(x), T(1), T(0), flat(clean));
    CHECK(worst_relative_error(clean, x, 2) < 1e-6);
}

TEMPLATE_TEST_CASE("full covariances: rotated Gaussian matches the direct formula, s^2 I matches isotropic",
                   "[models][gmm][full]", float, double) {
    using T = TestType;
    const buf<T> w = values<T>({1}), mu = values<T>({0.5, -1.0, 2.0});
    const buf<T> cov = values<T>({2.0, 0.8, -0.3, 0.8, 1.0, 0.2, -0.3, 0.2, 0.6});
    const auto g = gaussian_mixture<T>::full(3, flat(w), flat(mu), flat(cov));
    const Eigen::Matrix3d sigma0 = Eigen::Map<const Eigen::Matrix<T, 3, 3>>(cov.data()).template cast<double>();
    const Eigen::Vector3d mean = Eigen::Map<const Eigen::Matrix<T, 3, 1>>(mu.data()).template cast<double>();
    const buf<T> x = values<T>({0.1, 0.2, 0.3, -3.0, 2.0, 1.0});
    for (const auto [alpha, sigma] : noise_levels) {
        const Eigen::Matrix3d c = alpha * alpha * sigma0 + sigma * sigma * Eigen::Matrix3d::Identity();
        buf<T> log_p(2), score(6), x0(6);
        g.log_density_t(flat(x), T(alpha), T(sigma), flat(log_p));
        g.score(flat(x), T(alpha), T(sigma), flat(score));
        g.x0(flat(x), T(alpha), T(sigma), flat(x0));
        for (Index i = 0; i < 2; ++i) {
            const Eigen::Vector3d xi =
                Eigen::Map<const Eigen::Matrix<T, 3, 1>>(x.data() + 3 * i).template cast<double>();
            const Eigen::Vector3d r = xi - alpha * mean;
            const double expected_log_p =
                -0.5 * (3 * std::log(2 * std::numbers::pi) + std::log(c.determinant()) + r.dot(c.inverse() * r));
            // measured 3.5e-16 (double), 4.6e-08 (float) relative
            CHECK(log_p[i] == Approx(expected_log_p).epsilon(std::is_same_v<T, float> ? 5e-7 : 4e-15).margin(0));
            const Eigen::Vector3d expected_score = -c.inverse() * r;
            const Eigen::Vector3d expected_x0 = mean + alpha * sigma0 * c.inverse() * r;
            for (Index j = 0; j < 3; ++j) {
                CHECK(score[3 * i + j] == Approx(expected_score[j]).epsilon(1e-5).margin(1e-6));
                CHECK(x0[3 * i + j] == Approx(expected_x0[j]).epsilon(1e-5).margin(1e-6));
            }
        }
    }

    // The ring written with full covariances s^2 I predicts what the isotropic ring predicts.
    const auto ring = gaussian_mixture<T>::ring(5, T(2), T(0.4));
    buf<T> means(10), covs(20), weights = buf<T>::Ones(5);
    for (Index k = 0; k < 5; ++k) {
        means.segment(2 * k, 2) = ring.mean(k).array();
        covs.segment(4 * k, 4) = values<T>({0.16, 0, 0, 0.16});
    }
    const auto as_full = gaussian_mixture<T>::full(2, flat(std::as_const(weights)), flat(std::as_const(means)),
                                                   flat(std::as_const(covs)));
    CHECK(!as_full.is_isotropic());
    const buf<T> p = probe_points(ring);
    buf<T> a(p.size()), b(p.size());
    ring.v(flat(p), T(0.7), T(0.3), flat(a));
    as_full.v(flat(p), T(0.7), T(0.3), flat(b));
    CHECK(worst_relative_error(a, b, 2) < 64 * std::numeric_limits<T>::epsilon());
}

TEMPLATE_TEST_CASE("flow velocity is (x - E[x0|x_s])/s and satisfies the continuity equation",
                   "[models][gmm][velocity]", float, double) {
    using T = TestType;
    for (const auto& g : test_mixtures<T>()) {
        const buf<T> x = probe_points(g);
        const Index n = x.size() / g.dim();
        for (const double s : {0.1, 0.5, 0.9}) {
            // diffusers' convention: x_s = (1 - s) x0 + s eps, u = eps - x0.
            const T ss = T(s), alpha = T(1 - s);
            buf<T> u(x.size()), x0(x.size()), score(x.size());
            g.velocity(flat(x), ss, flat(u));
            g.x0(flat(x), alpha, ss, flat(x0));
            g.score(flat(x), alpha, ss, flat(score));
            const buf<T> from_posterior =
                ((x.template cast<double>() - x0.template cast<double>()) / s).template cast<T>();
            INFO("dim " << g.dim() << " s " << s);
            CHECK(worst_relative_error(u, from_posterior, g.dim()) < 1e3 * std::numeric_limits<T>::epsilon());

            // d/ds log p_s + div u + u . grad log p_s = 0 (continuity equation for the path
            // x_s = (1 - s) x0 + s eps, whose marginal p_s is the noised mixture alpha = 1 - s, sigma = s).
            const double h = fd_step<T>();
            buf<T> log_plus(n), log_minus(n);
            const T s_plus = T(s + h), s_minus = T(s - h);
            g.log_density_t(flat(x), T(1) - s_plus, s_plus, flat(log_plus));
            g.log_density_t(flat(x), T(1) - s_minus, s_minus, flat(log_minus));
            auto velocity = [&](const buf<T>& at, buf<T>& out) { g.velocity(flat(at), ss, flat(out)); };
            const buf<T> div = divergence_fd<T>(velocity, x, g.dim(), h);
            for (Index i = 0; i < n; ++i) {
                const double ds = (static_cast<double>(log_plus[i]) - log_minus[i]) /
                                  (static_cast<double>(s_plus) - static_cast<double>(s_minus));
                const double transport = (u.segment(i * g.dim(), g.dim()).template cast<double>() *
                                          score.segment(i * g.dim(), g.dim()).template cast<double>())
                                             .sum();
                const double residual = ds + div[i] + transport;
                CHECK(std::abs(residual) <=
                      fd_tolerance<T>() * (std::abs(ds) + std::abs(div[i]) + std::abs(transport) + 1));
            }
        }
        // At s = 1 the point is pure noise whatever the data, so r_k = w_k and u = x - E[x0].
        buf<T> u1(x.size()), expected(x.size());
        g.velocity(flat(x), T(1), flat(u1));
        Eigen::VectorXd data_mean = Eigen::VectorXd::Zero(g.dim());
        for (Index k = 0; k < g.components(); ++k)
            data_mean += static_cast<double>(g.weight(k)) * g.mean(k).template cast<double>();
        for (Index i = 0; i < n; ++i) {
            for (Index c = 0; c < g.dim(); ++c)
                expected[i * g.dim() + c] = static_cast<T>(x[i * g.dim() + c] - data_mean[c]);
        }
        CHECK(worst_relative_error(u1, expected, g.dim()) < 64 * std::numeric_limits<T>::epsilon());
    }
}

TEMPLATE_TEST_CASE("score divergence equals finite differences of the score", "[models][gmm][divergence]", float,
                   double) {
    using T = TestType;
    for (const auto& g : test_mixtures<T>()) {
        const buf<T> x = probe_points(g);
        const Index n = x.size() / g.dim();
        for (const auto [alpha, sigma] : noise_levels) {
            for (const std::optional<int> label : {std::optional<int>{}, std::optional<int>{1}}) {
                buf<T> div(n);
                g.score_divergence(flat(x), T(alpha), T(sigma), flat(div), label);
                auto score = [&, alpha = alpha, sigma = sigma](const buf<T>& at, buf<T>& out) {
                    g.score(flat(at), T(alpha), T(sigma), flat(out), label);
                };
                const buf<T> fd = divergence_fd<T>(score, x, g.dim(), fd_step<T>());
                INFO("dim " << g.dim() << " alpha " << alpha << " sigma " << sigma << " label " << label.value_or(-1));
                CHECK(worst_relative_error(div, fd, 1) < fd_tolerance<T>());
            }
        }
    }
}

TEMPLATE_TEST_CASE("class posterior: normalised, its gradient is score_y - score (Bayes) and its finite difference",
                   "[models][gmm][classes]", float, double) {
    using T = TestType;
    for (const auto& g : test_mixtures<T>()) {
        const buf<T> x = probe_points(g);
        const Index n = x.size() / g.dim();
        for (const auto [alpha, sigma] : noise_levels) {
            const T a = T(alpha), s = T(sigma);
            buf<T> score(x.size());
            g.score(flat(x), a, s, flat(score));
            Eigen::ArrayXd total = Eigen::ArrayXd::Zero(n);
            for (const int y : g.classes()) {
                buf<T> log_post(n), grad(x.size()), score_y(x.size());
                g.class_log_posterior(flat(x), a, s, y, flat(log_post));
                g.class_log_posterior_gradient(flat(x), a, s, y, flat(grad));
                g.score(flat(x), a, s, flat(score_y), y);
                INFO("dim " << g.dim() << " alpha " << alpha << " sigma " << sigma << " class " << y);
                CHECK(log_post.allFinite());
                CHECK((log_post <= T(0)).all());
                CHECK(grad.allFinite());
                total += log_post.template cast<double>().exp();
                const buf<T> bayes = score_y - score;
                // Relative to the score's size: the difference cancels where p(y | x) ~ 1.
                CHECK(worst_relative_error(grad, bayes, g.dim()) <
                      1e3 * std::numeric_limits<T>::epsilon() * std::max<double>(1, score.abs().maxCoeff()));
                auto log_posterior = [&](const buf<T>& at, buf<T>& out) {
                    g.class_log_posterior(flat(at), a, s, y, flat(out));
                };
                const buf<T> fd = gradient_fd<T>(log_posterior, x, g.dim(), fd_step<T>());
                CHECK(worst_relative_error(grad, fd, g.dim()) < fd_tolerance<T>());
            }
            CHECK(((total - 1).abs() < 1e3 * std::numeric_limits<T>::epsilon()).all());
        }
    }
}

TEMPLATE_TEST_CASE("a class label restricts to that class's components with renormalised weights",
                   "[models][gmm][classes]", float, double) {
    using T = TestType;
    // Class 0 of `tilted` is components 0 and 2 with weights 0.5 and 0.2.
    const auto g = tilted<T>();
    const buf<T> w = values<T>({0.5, 0.2}), mu = values<T>({-2, 0, 0, -2.5});
    const buf<T> cov = values<T>({1.0, 0.6, 0.6, 0.8, 0.2, 0.0, 0.0, 1.5});
    const auto class0 = gaussian_mixture<T>::full(2, flat(w), flat(mu), flat(cov));
    const buf<T> x = probe_points(g);
    for (const auto [alpha, sigma] : noise_levels) {
        buf<T> a(x.size()), b(x.size());
        g.x0(flat(x), T(alpha), T(sigma), flat(a), 0);
        class0.x0(flat(x), T(alpha), T(sigma), flat(b));
        CHECK(worst_relative_error(a, b, 2) < 64 * std::numeric_limits<T>::epsilon());
        g.velocity(flat(x), T(alpha / 2), flat(a), 0);
        class0.velocity(flat(x), T(alpha / 2), flat(b));
        CHECK(worst_relative_error(a, b, 2) < 64 * std::numeric_limits<T>::epsilon());
    }
}

TEMPLATE_TEST_CASE("sampling reproduces the mixture's mean, covariance and class frequencies", "[models][gmm][sample]",
                   float, double) {
    using T = TestType;
    constexpr Index n = 100000;
    for (const auto& g : {gaussian_mixture<T>::ring(), tilted<T>()}) {
        const Index d = g.dim();
        buf<T> out(n * d);
        std::vector<int> labels(n);
        diffuse::random::generator noise(2024);
        g.sample(flat(out), noise, labels);
        REQUIRE(out.allFinite());
        const Eigen::MatrixXd samples =
            Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>>(out.data(), d, n)
                .template cast<double>();

        // Exact moments: mean = sum w_k mu_k, covariance = sum w_k (Sigma_k + mu_k mu_k^T) - mean mean^T.
        Eigen::VectorXd mean = Eigen::VectorXd::Zero(d);
        Eigen::MatrixXd second = Eigen::MatrixXd::Zero(d, d);
        for (Index k = 0; k < g.components(); ++k) {
            const Eigen::VectorXd m = g.mean(k).template cast<double>();
            const double wk = g.weight(k);
            mean += wk * m;
            second += wk * (g.covariance(k).template cast<double>() + m * m.transpose());
        }
        const Eigen::MatrixXd cov = second - mean * mean.transpose();
        // Within 5 standard errors, the errors estimated from the samples themselves.
        const Eigen::VectorXd sample_mean = samples.rowwise().mean();
        const Eigen::MatrixXd centred = samples.colwise() - sample_mean;
        for (Index a = 0; a < d; ++a) {
            CHECK(std::abs(sample_mean[a] - mean[a]) < 5 * std::sqrt(cov(a, a) / n));
            for (Index b = 0; b < d; ++b) {
                const Eigen::ArrayXd products = centred.row(a).array() * centred.row(b).array();
                const double estimate = products.mean();
                const double standard_error = std::sqrt((products - estimate).square().mean() / n);
                CHECK(std::abs(estimate - cov(a, b)) < 5 * standard_error);
            }
        }
        // Class frequencies are binomial(n, sum of the class's weights).
        for (const int y : g.classes()) {
            double p = 0;
            for (Index k = 0; k < g.components(); ++k) p += g.label(k) == y ? static_cast<double>(g.weight(k)) : 0.0;
            const double count = static_cast<double>(std::count(labels.begin(), labels.end(), y));
            CHECK(std::abs(count - n * p) < 5 * std::sqrt(n * p * (1 - p)));
        }
    }
    // Class 1 of `tilted` is the single component N(mu_1, Sigma_1): its samples have that
    // mean and covariance (checks the Cholesky factor used to colour the noise).
    const auto g = tilted<T>();
    buf<T> out(2 * n);
    std::vector<int> labels(n);
    diffuse::random::generator noise(7);
    g.sample(flat(out), noise, labels);
    std::vector<Eigen::Vector2d> class1;
    for (Index i = 0; i < n; ++i) {
        if (labels[static_cast<std::size_t>(i)] == 1) class1.emplace_back(double(out[2 * i]), double(out[2 * i + 1]));
    }
    const double m = static_cast<double>(class1.size());
    Eigen::Vector2d mean = Eigen::Vector2d::Zero();
    for (const auto& p : class1) mean += p / m;
    Eigen::Matrix2d cov = Eigen::Matrix2d::Zero();
    for (const auto& p : class1) cov += (p - mean) * (p - mean).transpose() / m;
    const Eigen::Matrix2d expected = g.covariance(1).template cast<double>();
    CHECK((mean - g.mean(1).template cast<double>()).cwiseAbs().maxCoeff() < 5 * std::sqrt(0.5 / m));
    // Var of a Gaussian sample covariance entry: (S_ab^2 + S_aa S_bb) / m.
    for (Index a = 0; a < 2; ++a) {
        for (Index b = 0; b < 2; ++b) {
            const double se = std::sqrt((expected(a, b) * expected(a, b) + expected(a, a) * expected(b, b)) / m);
            CHECK(std::abs(cov(a, b) - expected(a, b)) < 5 * se);
        }
    }
}

TEMPLATE_TEST_CASE("sampling is batch invariant with the counter-based generator", "[models][gmm][sample]", float,
                   double) {
    using T = TestType;
    // Point i depends only on (seed, element i * dim): points 3..9 drawn alone with
    // for_element(3 * dim) equal points 3..9 of one draw of 10.
    const auto g = tilted<T>();
    buf<T> all(20), tail(14);
    std::vector<int> all_labels(10), tail_labels(7);
    diffuse::random::generator whole(99);
    g.sample(flat(all), whole, all_labels);
    auto part = diffuse::random::generator(99).for_element(3 * 2);
    g.sample(flat(tail), part, tail_labels);
    CHECK((tail == all.tail(14)).all());
    CHECK(std::equal(tail_labels.begin(), tail_labels.end(), all_labels.begin() + 3));
    CHECK(std::set<int>(all_labels.begin(), all_labels.end()).size() == 2);
}

TEMPLATE_TEST_CASE("named constructors place the ring and the checkerboard as documented", "[models][gmm]", float,
                   double) {
    using T = TestType;
    const auto ring = gaussian_mixture<T>::ring();
    REQUIRE(ring.components() == 8);
    for (Index k = 0; k < 8; ++k) {
        // measured 0 (double), 5.9e-08 (float) relative
        CHECK(ring.mean(k).norm() == Approx(4).epsilon(std::is_same_v<T, float> ? 6e-7 : 2e-15).margin(0));
        // exact (measured 0)
        CHECK(ring.weight(k) == Approx(0.125).epsilon(0).margin(0));
        // exact (measured 0)
        CHECK(ring.covariance(k)(0, 0) == Approx(0.25).epsilon(0).margin(0));
        CHECK(ring.label(k) == k);
    }
    // exact (measured 0)
    CHECK(ring.mean(2)[1] == Approx(4).epsilon(0).margin(0));  // a quarter turn from the first, on the positive x axis
    const auto board = gaussian_mixture<T>::checkerboard();
    REQUIRE(board.components() == 8);
    for (Index k = 0; k < 8; ++k) {
        const double x = board.mean(k)[0], y = board.mean(k)[1];
        // Centres of unit squares in [-2, 2]^2 whose column + row is even (bottom-left is black).
        const double col = x + 1.5, row = y + 1.5;
        // exact (measured 0)
        CHECK(col == Approx(std::round(col)).epsilon(0).margin(0));
        // exact (measured 0)
        CHECK(row == Approx(std::round(row)).epsilon(0).margin(0));
        CHECK(static_cast<int>(std::lround(col + row)) % 2 == 0);
        CHECK(std::abs(x) < 2);
        CHECK(std::abs(y) < 2);
        // measured 0 (double), 4.4e-08 (float) relative
        CHECK(board.covariance(k)(1, 1) == Approx(0.0225).epsilon(std::is_same_v<T, float> ? 5e-7 : 2e-15).margin(0));
    }
}

TEMPLATE_TEST_CASE("point masses: the empirical mixture denoises to the nearest data point", "[models][gmm]", float,
                   double) {
    using T = TestType;
    const buf<T> w = values<T>({1, 1, 1}), mu = values<T>({0, 0, 3, 0, 0, 3}), s = values<T>({0, 0, 0});
    const auto g = gaussian_mixture<T>::isotropic(2, flat(w), flat(mu), flat(s));
    const buf<T> x = values<T>({2.9, 0.2, 0.1, 2.7});
    buf<T> x0(4);
    g.x0(flat(x), T(1), T(0.1), flat(x0));
    const buf<T> nearest = values<T>({3, 0, 0, 3});
    CHECK(worst_relative_error(x0, nearest, 2) < 1e-6);
    CHECK_THROWS_WITH(g.x0(flat(x), T(1), T(0), flat(x0)),
                      Catch::Contains("sigma = 0") && Catch::Contains("zero variance"));
    CHECK_THROWS_WITH(g.velocity(flat(x), T(0), flat(x0)),
                      Catch::Contains("s = 0") && Catch::Contains("zero-variance"));
    buf<T> log_p(2);
    CHECK_THROWS_AS(g.log_density(flat(x), flat(log_p)), diffuse::error);
}

TEMPLATE_TEST_CASE("float and double instances agree, and concurrent const calls are safe", "[models][gmm]", float,
                   double) {
    using T = TestType;
    const auto g = tilted<T>();
    const auto reference = tilted<double>();
    buf<T> x(2 * 2000);
    diffuse::random::generator noise(11);
    g.sample(flat(x), noise);
    const buf<double> xd = x.template cast<double>();
    const auto points = flat(std::as_const(x));
    buf<T> score(x.size());
    buf<double> expected(x.size());
    g.score(points, T(0.9), T(0.45), flat(score));
    reference.score(flat(xd), 0.9, 0.45, flat(expected));
    CHECK(worst_relative_error(buf<double>(score.template cast<double>()), expected, 2) <
          4 * std::numeric_limits<T>::epsilon());

    buf<T> first(x.size()), second(x.size());
    std::thread worker([&] { g.score(points, T(0.9), T(0.45), flat(first)); });
    g.score(points, T(0.9), T(0.45), flat(second));
    worker.join();
    CHECK((first == score).all());
    CHECK((second == score).all());
}

TEMPLATE_TEST_CASE("invalid inputs throw diffuse::error naming the parameter", "[models][gmm][errors]", float, double) {
    using T = TestType;
    using G = gaussian_mixture<T>;
    const buf<T> w = values<T>({1, 2}), mu = values<T>({0, 0, 1, 1}), s = values<T>({1, 0.5});
    auto iso = [&](Index dim, const buf<T>& ww, const buf<T>& mm, const buf<T>& ss, std::vector<int> labels = {}) {
        return G::isotropic(dim, flat(ww), flat(mm), flat(ss), labels);
    };
    CHECK_THROWS_WITH(iso(0, w, mu, s), Catch::Contains("dim = 0"));
    CHECK_THROWS_WITH(iso(2, buf<T>(0), buf<T>(0), buf<T>(0)), Catch::Contains("weights.size() = 0"));
    CHECK_THROWS_WITH(iso(2, w, values<T>({0, 0, 1}), s),
                      Catch::Contains("means.size() = 3") && Catch::Contains("4 elements"));
    CHECK_THROWS_WITH(iso(2, w, mu, values<T>({1})), Catch::Contains("stddevs.size() = 1"));
    CHECK_THROWS_WITH(iso(2, values<T>({1, -1}), mu, s), Catch::Contains("weights[1] = -1") && Catch::Contains(">= 0"));
    CHECK_THROWS_WITH(iso(2, values<T>({std::nan(""), 1}), mu, s), Catch::Contains("weights[0] = nan"));
    CHECK_THROWS_WITH(iso(2, values<T>({INFINITY, 1}), mu, s), Catch::Contains("weights[0] = inf"));
    CHECK_THROWS_WITH(iso(2, values<T>({0, 0}), mu, s), Catch::Contains("sum(weights) = 0"));
    CHECK_THROWS_WITH(iso(2, w, mu, values<T>({1, -0.5})), Catch::Contains("stddevs[1] = -0.5"));
    CHECK_THROWS_WITH(iso(2, w, values<T>({0, 0, NAN, 1}), s),
                      Catch::Contains("means[2 .. 3]") && Catch::Contains("finite"));
    CHECK_THROWS_WITH(iso(2, w, mu, s, {1}), Catch::Contains("labels.size() = 1"));

    auto full = [&](const buf<T>& cov) { return G::full(2, flat(w), flat(mu), flat(cov)); };
    CHECK_THROWS_WITH(full(values<T>({1, 0, 0, 1})),
                      Catch::Contains("covariances.size() = 4") && Catch::Contains("8 elements"));
    CHECK_THROWS_WITH(full(values<T>({1, 0, 0, 1, 1, 0.5, 0.2, 1})),
                      Catch::Contains("covariances[1] = \"[[1, 0.2") && Catch::Contains("symmetric"));
    CHECK_THROWS_WITH(full(values<T>({1, 0, 0, 1, 1, 2, 2, 1})),
                      Catch::Contains("covariances[1]") && Catch::Contains("positive definite"));
    CHECK_THROWS_WITH(full(values<T>({1, 0, 0, -1, 1, 0, 0, 1})),
                      Catch::Contains("covariances[0]") && Catch::Contains("positive definite"));
    CHECK_THROWS_WITH(full(values<T>({1, 0, 0, 1, NAN, 0, 0, 1})),
                      Catch::Contains("covariances[1]") && Catch::Contains("finite"));
    CHECK_NOTHROW(full(values<T>({1, 0, 0, 1, 2, 0.5, 0.5, 1})));

    CHECK_THROWS_WITH(G::ring(0), Catch::Contains("components = 0"));
    CHECK_THROWS_WITH(G::ring(8, T(-1)), Catch::Contains("radius = -1"));
    CHECK_THROWS_WITH(G::ring(8, T(4), T(-0.5)), Catch::Contains("stddevs[0] = -0.5"));
    CHECK_THROWS_WITH(G::checkerboard(T(0)), Catch::Contains("square = 0"));

    const auto g = iso(2, w, mu, s, {3, 5});
    const buf<T> x = values<T>({0, 0, 1, 1});
    buf<T> out(4), scalar(2);
    CHECK_THROWS_WITH(g.score(flat(values<T>({0, 0, 1})), T(1), T(0.5), flat(out)),
                      Catch::Contains("x.size() = 3") && Catch::Contains("multiple of dim = 2"));
    CHECK_THROWS_WITH(g.score(flat(x), T(1), T(0.5), flat(scalar)), Catch::Contains("out.size() = 2"));
    CHECK_THROWS_WITH(g.log_density(flat(x), flat(out)), Catch::Contains("out.size() = 4"));
    CHECK_THROWS_WITH(g.x0(flat(x), T(0), T(0.5), flat(out)), Catch::Contains("alpha = 0") && Catch::Contains("> 0"));
    CHECK_THROWS_WITH(g.epsilon(flat(x), T(-1), T(0.5), flat(out)), Catch::Contains("alpha = -1"));
    CHECK_THROWS_WITH(g.v(flat(x), T(NAN), T(0.5), flat(out)), Catch::Contains("alpha = nan"));
    CHECK_THROWS_WITH(g.score(flat(x), T(1), T(-0.1), flat(out)), Catch::Contains("sigma = -0.1"));
    CHECK_THROWS_WITH(g.log_density_t(flat(x), T(1), T(INFINITY), flat(scalar)), Catch::Contains("sigma = inf"));
    CHECK_THROWS_WITH(g.score(flat(x), T(1), T(0.5), flat(out), 4),
                      Catch::Contains("label = 4") && Catch::Contains("3, 5"));
    CHECK_THROWS_WITH(g.class_log_posterior(flat(x), T(1), T(0.5), 0, flat(scalar)), Catch::Contains("label = 0"));
    CHECK_THROWS_WITH(g.class_log_posterior_gradient(flat(x), T(1), T(0.5), 7, flat(out)),
                      Catch::Contains("label = 7"));
    CHECK_THROWS_WITH(g.score_divergence(flat(x), T(1), T(0.5), flat(out)), Catch::Contains("out.size() = 4"));
    CHECK_THROWS_WITH(g.velocity(flat(x), T(1.5), flat(out)), Catch::Contains("s = 1.5") && Catch::Contains("[0, 1]"));
    CHECK_THROWS_WITH(g.velocity(flat(x), T(-0.1), flat(out)), Catch::Contains("s = -0.1"));
    CHECK_THROWS_WITH(g.mean(2), Catch::Contains("component = 2"));
    diffuse::random::generator noise(1);
    buf<T> odd(3);
    CHECK_THROWS_WITH(g.sample(flat(odd), noise), Catch::Contains("out.size() = 3"));
    std::vector<int> too_few(1);
    CHECK_THROWS_WITH(g.sample(flat(out), noise, too_few), Catch::Contains("labels.size() = 1"));
}
