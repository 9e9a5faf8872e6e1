// diffuse/models/gaussian_mixture.hpp: a Gaussian-mixture data distribution whose noised
// marginals are known in closed form, so every prediction a network would learn (score,
// epsilon, x0, v, flow velocity, class posterior) can be evaluated exactly. It is the
// reference model the samplers, guidance and likelihood code are tested against.
//
// Derivations: docs/models.md (after the note /work/shared/reference/gmm.md). Points are
// read and written point-major: n points in d dimensions are n*d values, point i in
// [i*d, (i+1)*d). All arithmetic runs in double whatever T is; T is only the storage type
// of inputs and outputs.
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/random.hpp"
#include "diffuse/core/view.hpp"

namespace diffuse::models {

// A source of randomness for sampling: a random::noise_source (N(0, 1) fills) that also fills
// a view with U(0, 1) draws; diffuse::random::generator is one.
template <class G, class T>
concept normal_uniform_source = random::noise_source<G, T> && requires(G& g, view<T> v) {
    g.uniform(v);
};

template <Real T>
class gaussian_mixture {
public:
    // p_0 = sum_k w_k N(mu_k, s_k^2 I). `means` holds K points of `dim` values (point-major),
    // `weights` and `stddevs` K values each; weights are normalised here. A zero standard
    // deviation is a point mass: allowed wherever the noise keeps C_k invertible (sigma > 0).
    // `labels` (K values or empty) give each component a class; by default component k is
    // class k.
    static gaussian_mixture isotropic(index dim, const_view<T> weights, const_view<T> means, const_view<T> stddevs,
                                      std::span<const int> labels = {}) {
        gaussian_mixture g(dim, weights, means, labels);
        require_size("stddevs.size()", stddevs.size(), g.components());
        g.variances_.resize(dim, g.components());
        for (index k = 0; k < g.components(); ++k) {
            const double s = static_cast<double>(stddevs[k]);
            require(std::isfinite(s) && s >= 0.0, "stddevs[" + std::to_string(k) + "]", s, "a finite number >= 0");
            g.variances_.col(k).setConstant(s * s);
        }
        return g;
    }

    // p_0 = sum_k w_k N(mu_k, Sigma_k) with full covariances: `covariances` holds K symmetric
    // positive definite dim x dim matrices one after another (K*dim*dim values).
    static gaussian_mixture full(index dim, const_view<T> weights, const_view<T> means, const_view<T> covariances,
                                 std::span<const int> labels = {}) {
        gaussian_mixture g(dim, weights, means, labels);
        require_size("covariances.size()", covariances.size(), g.components() * dim * dim);
        g.variances_.resize(dim, g.components());
        g.rotations_.reserve(static_cast<std::size_t>(g.components()));
        g.cholesky_.reserve(static_cast<std::size_t>(g.components()));
        for (index k = 0; k < g.components(); ++k) {
            const Eigen::MatrixXd cov = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>>(
                                            covariances.data() + k * dim * dim, dim, dim)
                                            .template cast<double>();
            const std::string name = "covariances[" + std::to_string(k) + "]";
            const double scale = cov.cwiseAbs().maxCoeff();
            const double asymmetry = (cov - cov.transpose()).cwiseAbs().maxCoeff();
            // Symmetric up to the rounding of the caller's type T.
            const bool symmetric = cov.allFinite() && asymmetry <= 8 * std::numeric_limits<T>::epsilon() * scale;
            require(symmetric, name, matrix_text(cov), "a finite symmetric matrix");
            const Eigen::MatrixXd sym = 0.5 * (cov + cov.transpose());
            Eigen::LLT<Eigen::MatrixXd> llt(sym);
            require(llt.info() == Eigen::Success, name, matrix_text(cov),
                    "a symmetric positive definite matrix (its Cholesky factorisation failed)");
            Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(sym);
            require(eigen.info() == Eigen::Success && eigen.eigenvalues().minCoeff() > 0.0, name, matrix_text(cov),
                    "a symmetric positive definite matrix (an eigenvalue is not > 0)");
            g.variances_.col(k) = eigen.eigenvalues();
            g.rotations_.push_back(eigen.eigenvectors());
            g.cholesky_.push_back(llt.matrixL());
        }
        return g;
    }

    // The classic 2-D toy: `components` Gaussians evenly spaced on a circle of `radius`
    // (the first on the positive x axis), equal weights, isotropic `stddev`; class k is
    // component k. The defaults (8 components, radius 4, stddev 0.5) are the "8 gaussians"
    // set of the FFJORD/flow-matching toy benchmarks before their final rescaling.
    static gaussian_mixture ring(int components = 8, T radius = T(4), T stddev = T(0.5)) {
        require(components >= 1, "components", components, "an integer >= 1");
        require(std::isfinite(static_cast<double>(radius)) && radius >= T(0), "radius", radius, "a finite number >= 0");
        buffer<T> means(2 * components);
        for (int k = 0; k < components; ++k) {
            const double angle = 2.0 * std::numbers::pi * k / components;
            means[2 * k] = static_cast<T>(static_cast<double>(radius) * std::cos(angle));
            means[2 * k + 1] = static_cast<T>(static_cast<double>(radius) * std::sin(angle));
        }
        const buffer<T> weights = buffer<T>::Ones(components);
        const buffer<T> stddevs = buffer<T>::Constant(components, stddev);
        return isotropic(2, flat(weights), flat(std::as_const(means)), flat(stddevs));
    }

    // A checkerboard-like 2-D mixture: one Gaussian at the centre of each of the 8 black
    // squares of a 4x4 board of side 4 * `square` centred at the origin (black: the square
    // at the bottom-left corner and those with the same colour), equal weights, isotropic
    // `stddev`. Defaults: unit squares (board [-2, 2]^2) and stddev 0.15, so each blob stays
    // well inside its square while the data keeps a unit scale.
    static gaussian_mixture checkerboard(T square = T(1), T stddev = T(0.15)) {
        require_positive("square", square);
        buffer<T> means(16);
        index k = 0;
        for (int row = 0; row < 4; ++row) {
            for (int col = 0; col < 4; ++col) {
                if ((row + col) % 2 != 0) continue;
                means[2 * k] = static_cast<T>((col - 1.5) * static_cast<double>(square));
                means[2 * k + 1] = static_cast<T>((row - 1.5) * static_cast<double>(square));
                ++k;
            }
        }
        const buffer<T> weights = buffer<T>::Ones(8);
        const buffer<T> stddevs = buffer<T>::Constant(8, stddev);
        return isotropic(2, flat(weights), flat(std::as_const(means)), flat(stddevs));
    }

    [[nodiscard]] index dim() const { return dim_; }
    [[nodiscard]] index components() const { return static_cast<index>(weights_.size()); }
    [[nodiscard]] bool is_isotropic() const { return rotations_.empty(); }
    [[nodiscard]] T weight(index k) const { return static_cast<T>(weights_[check_component(k)]); }
    [[nodiscard]] int label(index k) const { return labels_[static_cast<std::size_t>(check_component(k))]; }
    [[nodiscard]] Eigen::Matrix<T, Eigen::Dynamic, 1> mean(index k) const {
        return means_.col(check_component(k)).template cast<T>();
    }
    [[nodiscard]] Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> covariance(index k) const {
        check_component(k);
        if (is_isotropic()) return Eigen::MatrixXd(variances_.col(k).asDiagonal()).template cast<T>();
        const auto& u = rotations_[static_cast<std::size_t>(k)];
        return (u * variances_.col(k).asDiagonal() * u.transpose()).template cast<T>();
    }
    // The distinct class labels, ascending.
    [[nodiscard]] std::vector<int> classes() const {
        std::vector<int> out = labels_;
        std::sort(out.begin(), out.end());
        out.erase(std::unique(out.begin(), out.end()), out.end());
        return out;
    }

    // Exact samples of p_0 into `out` (n points): the component by inverse CDF on a uniform,
    // then mu_k + L_k eps with L_k the Cholesky factor of Sigma_k. Draws n*d uniforms (point i
    // uses element i*d) and then n*d normals, so with diffuse::random::generator point i depends
    // only on (seed, element i*d): drawing points [b, b + m) with generator.for_element(b * dim)
    // gives the same points as one big draw. If `labels` is not empty (n values) it receives
    // each point's class label.
    template <class G>
    requires normal_uniform_source<G, T>
    void sample(view<T> out, G& noise, std::span<int> labels = {}) const {
        const index n = points("out.size()", out.size());
        require(labels.empty() || static_cast<index>(labels.size()) == n, "labels.size()", labels.size(),
                "0 (no labels wanted) or one per sampled point, " + std::to_string(n));
        buffer<T> uniforms(out.size());
        view<T> uniform_view(uniforms.data(), uniforms.size());
        noise.uniform(uniform_view);
        noise.normal(out);
        Eigen::VectorXd eps(dim_);
        for (index i = 0; i < n; ++i) {
            const index k = pick_component(static_cast<double>(uniforms[i * dim_]));
            auto point = out.segment(i * dim_, dim_);
            eps = point.template cast<double>().matrix();
            if (is_isotropic()) {
                point = (means_.col(k) + std::sqrt(variances_(0, k)) * eps).array().template cast<T>();
            } else {
                point = (means_.col(k) + cholesky_[static_cast<std::size_t>(k)] * eps).array().template cast<T>();
            }
            if (!labels.empty()) labels[static_cast<std::size_t>(i)] = labels_[static_cast<std::size_t>(k)];
        }
    }

    // log p_0(x), one value per point.
    void log_density(const_view<T> x, view<T> out) const { log_density_t(x, T(1), T(0), out); }

    // log p_t(x) of the noised marginal x_t = alpha x_0 + sigma eps: a mixture of
    // N(alpha mu_k, C_k), C_k = alpha^2 Sigma_k + sigma^2 I (log-sum-exp over components).
    void log_density_t(const_view<T> x, T alpha, T sigma, view<T> out) const {
        const index n = points("x.size()", x.size());
        require_size("out.size()", out.size(), n);
        const auto noised = noise(checked_alpha(alpha), checked_sigma(sigma), all_components());
        for_each_block(x, noised,
                       [&](const block& b) { out.segment(b.start, b.size) = b.log_sum().template cast<T>(); });
    }

    // Score grad log p_t(x) = sum_k r_k C_k^{-1} (alpha mu_k - x), r_k the responsibilities.
    // With `label`, the class-conditional score (only that class's components, renormalised).
    void score(const_view<T> x, T alpha, T sigma, view<T> out, std::optional<int> label = {}) const {
        predict(x, checked_alpha(alpha), checked_sigma(sigma), out, label, score_form);
    }

    // Noise prediction E[eps | x_t = x] = -sigma * score (Tweedie).
    void epsilon(const_view<T> x, T alpha, T sigma, view<T> out, std::optional<int> label = {}) const {
        const double s = checked_sigma(sigma);
        predict(x, checked_alpha(alpha), s, out, label, linear_form{0.0, s, 0.0});
    }

    // Posterior mean E[x_0 | x_t = x] = sum_k r_k [mu_k + alpha Sigma_k C_k^{-1} (x - alpha mu_k)],
    // the ideal denoiser (with alpha = 1 it is D(x; sigma) of Karras et al. 2022).
    void x0(const_view<T> x, T alpha, T sigma, view<T> out, std::optional<int> label = {}) const {
        const double a = checked_alpha(alpha);
        predict(x, a, checked_sigma(sigma), out, label, linear_form{1.0, 0.0, a});
    }

    // v-prediction alpha eps - sigma x_0 (Salimans & Ho 2022) from the two above.
    void v(const_view<T> x, T alpha, T sigma, view<T> out, std::optional<int> label = {}) const {
        const double a = checked_alpha(alpha);
        const double s = checked_sigma(sigma);
        predict(x, a, s, out, label, linear_form{-s, a * s, -s * a});
    }

    // Divergence (trace of the Jacobian) of the score:
    // sum_k r_k [|a_k|^2 - tr C_k^{-1}] - |s|^2 with a_k = C_k^{-1}(alpha mu_k - x), s the score.
    void score_divergence(const_view<T> x, T alpha, T sigma, view<T> out, std::optional<int> label = {}) const {
        const index n = points("x.size()", x.size());
        require_size("out.size()", out.size(), n);
        const auto noised = noise(checked_alpha(alpha), checked_sigma(sigma), select(label));
        Eigen::MatrixXd s;
        for_each_block(x, noised, [&](const block& b) {
            accumulate(b, noised, b.resp, score_form, s);
            Eigen::ArrayXd div = -s.topRows(b.size).rowwise().squaredNorm().array();
            for (index j = 0; j < noised.count(); ++j) {
                const Eigen::ArrayXd a2 = (b.z[static_cast<std::size_t>(j)].topRows(b.size).array().square().matrix() *
                                           noised.inv_c.col(j).cwiseAbs2())
                                              .array();
                div += b.resp.col(j).head(b.size).array() * (a2 - noised.inv_c.col(j).sum());
            }
            out.segment(b.start, b.size) = div.template cast<T>();
        });
    }

    // Class posterior log p(y = label | x_t = x) = log sum_{k in y} w_k N_k - log sum_k w_k N_k.
    void class_log_posterior(const_view<T> x, T alpha, T sigma, int label, view<T> out) const {
        const index n = points("x.size()", x.size());
        require_size("out.size()", out.size(), n);
        const auto noised = noise(checked_alpha(alpha), checked_sigma(sigma), all_components());
        const std::vector<index> in_class = select(label);
        for_each_block(x, noised, [&](const block& b) {
            out.segment(b.start, b.size) = (log_sum_exp(b.logits, in_class, b.size) - b.log_sum()).template cast<T>();
        });
    }

    // grad_x log p(y | x_t = x) = score_y(x) - score(x) (Bayes): the exact classifier-guidance
    // term. Computed as sum_k (r_k^y - r_k) C_k^{-1}(alpha mu_k - x) in one pass.
    void class_log_posterior_gradient(const_view<T> x, T alpha, T sigma, int label, view<T> out) const {
        points("x.size()", x.size());
        require_size("out.size()", out.size(), x.size());
        const auto noised = noise(checked_alpha(alpha), checked_sigma(sigma), all_components());
        const std::vector<index> in_class = select(label);
        Eigen::MatrixXd difference, acc;
        for_each_block(x, noised, [&](const block& b) {
            // r^y_k = r_k / sum_{j in y} r_j inside the class, 0 outside; computed from the
            // logits so it stays exact when p(y | x) underflows.
            const Eigen::ArrayXd class_log_sum = log_sum_exp(b.logits, in_class, b.size);
            difference = -b.resp.topRows(b.size);
            for (index j : in_class) {
                difference.col(j).head(b.size).array() += (b.logits.col(j).head(b.size).array() - class_log_sum).exp();
            }
            accumulate(b, noised, difference, score_form, acc);
            write(acc, b, out);
        });
    }

    // The flow-matching marginal velocity in diffusers' convention (the one of schedule/flow.hpp,
    // predict::prediction::flow_velocity and nn::target::velocity): the straight path
    // x_s = (1 - s) x0 + s eps from data x0 ~ p_0 at s = 0 to noise eps ~ N(0, I) at s = 1
    // (Liu et al. 2023; Lipman et al. 2023 with sigma_min = 0), u = E[eps - x0 | x_s = x]. It is the
    // noising above with alpha = 1 - s, sigma = s, and
    //   u = (x - E[x0 | x_s]) / s = sum_k r_k [-mu_k + (s I - (1 - s) Sigma_k) C_k^{-1} (x - (1 - s) mu_k)].
    // Sampling integrates dx/ds = u from s = 1 down to 0 (FlowMatchEuler: x += (s' - s) u).
    void velocity(const_view<T> x, T s, view<T> out, std::optional<int> label = {}) const {
        const double time = static_cast<double>(s);
        require_in_closed("s", time, 0.0, 1.0);
        require(time > 0.0 || variances_.minCoeff() > 0.0, "s", time,
                "(0, 1] for this mixture: it has a zero-variance component, whose C_k = Sigma_k is singular at s = 0");
        predict(x, 1.0 - time, time, out, label, linear_form{-1.0, time, -(1.0 - time)});
    }

private:
    // A prediction that is, per component, b mu_k + U_k ((p + q lambda_k) / c_k * z_k), with
    // z_k = U_k^T (x - alpha mu_k), lambda_k and U_k the eigenvalues and eigenvectors of
    // Sigma_k and c_k = alpha^2 lambda_k + sigma^2 those of C_k. Every closed form of this
    // header is one such form averaged with the responsibilities (docs/models.md).
    struct linear_form {
        double mean_coefficient;      // b
        double constant_coefficient;  // p
        double variance_coefficient;  // q
    };
    static constexpr linear_form score_form{0.0, -1.0, 0.0};

    // The selected components after noising: C_k = alpha^2 Sigma_k + sigma^2 I.
    struct noised_components {
        std::vector<index> ids;
        Eigen::MatrixXd centre;    // d x K': alpha mu_k
        Eigen::MatrixXd variance;  // d x K': lambda_k (eigenvalues of Sigma_k)
        Eigen::MatrixXd inv_c;     // d x K': 1 / c_k
        Eigen::VectorXd log_norm;  // K': log w_k - 1/2 log det(2 pi C_k)
        [[nodiscard]] index count() const { return static_cast<index>(ids.size()); }
    };

    // One block of points in structure-of-arrays form (b.size x d), so every per-component
    // operation is a contiguous vector operation whatever d is.
    struct block {
        index start = 0;
        index size = 0;
        Eigen::MatrixXd x;               // points
        std::vector<Eigen::MatrixXd> z;  // per component: (x - alpha mu_k) in Sigma_k's eigenbasis
        Eigen::MatrixXd logits;          // log w_k + log N(x; alpha mu_k, C_k)
        Eigen::MatrixXd resp;            // responsibilities r_k (softmax of the logits)
        Eigen::ArrayXd peak;             // largest logit
        Eigen::ArrayXd total;            // sum_k exp(logit_k - peak)
        // log p_t(x) over the selected components (log-sum-exp).
        [[nodiscard]] Eigen::ArrayXd log_sum() const { return peak.head(size) + logarithm(total.head(size)); }
    };

    // Element-wise natural log through std::log: Eigen's AVX-512 packet log of doubles trips
    // GCC 12's -Wuninitialized inside its own intrinsics (GCC bug 105593) in an out-of-line
    // instantiation no pragma here can reach, and -Werror makes that fatal for every user.
    // Only O(points) logs are taken, against O(points * components) exps.
    static Eigen::ArrayXd logarithm(const Eigen::ArrayXd& values) {
        Eigen::ArrayXd out(values.size());
        for (index i = 0; i < values.size(); ++i) out[i] = std::log(values[i]);
        return out;
    }

    gaussian_mixture(index dim, const_view<T> weights, const_view<T> means, std::span<const int> labels) : dim_(dim) {
        require(dim >= 1, "dim", dim, "an integer >= 1");
        const index k_count = weights.size();
        require(k_count >= 1, "weights.size()", k_count, "at least one component");
        require_size("means.size()", means.size(), k_count * dim);
        require(labels.empty() || static_cast<index>(labels.size()) == k_count, "labels.size()", labels.size(),
                "0 (component k is class k) or one label per component, " + std::to_string(k_count));
        weights_.resize(k_count);
        for (index k = 0; k < k_count; ++k) {
            const double w = static_cast<double>(weights[k]);
            require(std::isfinite(w) && w >= 0.0, "weights[" + std::to_string(k) + "]", w, "a finite number >= 0");
            weights_[k] = w;
        }
        const double total = weights_.sum();
        require(total > 0.0 && std::isfinite(total), "sum(weights)", total,
                "a finite number > 0 (weights are normalised)");
        weights_ /= total;
        log_weights_ = logarithm(weights_.array());
        cumulative_.resize(k_count);
        double running = 0.0;
        for (index k = 0; k < k_count; ++k) cumulative_[k] = running += weights_[k];
        means_ = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>>(means.data(), dim, k_count)
                     .template cast<double>();
        for (index k = 0; k < k_count; ++k) {
            require(means_.col(k).allFinite(),
                    "means[" + std::to_string(k * dim) + " .. " + std::to_string((k + 1) * dim - 1) + "]",
                    matrix_text(means_.col(k).transpose()), "finite numbers");
        }
        labels_.resize(static_cast<std::size_t>(k_count));
        for (index k = 0; k < k_count; ++k) {
            labels_[static_cast<std::size_t>(k)] =
                labels.empty() ? static_cast<int>(k) : labels[static_cast<std::size_t>(k)];
        }
    }

    static std::string matrix_text(const Eigen::MatrixXd& m) {
        std::ostringstream text;
        text.precision(17);
        text << '[';
        for (index r = 0; r < m.rows(); ++r) {
            text << (r ? ", [" : "[");
            for (index c = 0; c < m.cols(); ++c) text << (c ? ", " : "") << m(r, c);
            text << ']';
        }
        text << ']';
        return text.str();
    }

    index check_component(index k) const {
        require(k >= 0 && k < components(), "component", k, "an index in [0, " + std::to_string(components()) + ")");
        return k;
    }

    index points(std::string_view parameter, index size) const {
        require(size % dim_ == 0, parameter, size,
                "a multiple of dim = " + std::to_string(dim_) + " (point-major points)");
        return size / dim_;
    }

    static double checked_alpha(T alpha) {
        require_positive("alpha", alpha);
        return static_cast<double>(alpha);
    }
    static double checked_sigma(T sigma) {
        const double s = static_cast<double>(sigma);
        require(std::isfinite(s) && s >= 0.0, "sigma", s, "a finite number >= 0");
        return s;
    }

    std::vector<index> all_components() const {
        std::vector<index> ids(static_cast<std::size_t>(components()));
        for (index k = 0; k < components(); ++k) ids[static_cast<std::size_t>(k)] = k;
        return ids;
    }

    // The components of class `label` (all of them when there is no label).
    std::vector<index> select(std::optional<int> label) const {
        if (!label) return all_components();
        std::vector<index> ids;
        for (index k = 0; k < components(); ++k) {
            if (labels_[static_cast<std::size_t>(k)] == *label) ids.push_back(k);
        }
        if (ids.empty()) {
            std::string known;
            for (int y : classes()) known += (known.empty() ? "" : ", ") + std::to_string(y);
            throw invalid("label", *label, "one of the mixture's class labels: " + known);
        }
        return ids;
    }

    // Inverse CDF of the component weights; never returns a zero-weight component.
    index pick_component(double u) const {
        const auto* first = cumulative_.data();
        const auto* last = first + cumulative_.size();
        index k = std::upper_bound(first, last, u) - first;
        if (k == components()) k = components() - 1;  // u rounded up to the total weight
        while (weights_[k] == 0.0) --k;
        return k;
    }

    noised_components noise(double alpha, double sigma, std::vector<index> ids) const {
        noised_components out;
        const index count = static_cast<index>(ids.size());
        out.centre.resize(dim_, count);
        out.variance.resize(dim_, count);
        out.inv_c.resize(dim_, count);
        out.log_norm.resize(count);
        const double log_two_pi = std::log(2.0 * std::numbers::pi);
        for (index j = 0; j < count; ++j) {
            const index k = ids[static_cast<std::size_t>(j)];
            const Eigen::ArrayXd c = alpha * alpha * variances_.col(k).array() + sigma * sigma;
            require(c.minCoeff() > 0.0, "sigma", sigma,
                    "> 0 here: component " + std::to_string(k) +
                        " has zero variance, so C_k = alpha^2 Sigma_k + sigma^2 I is singular");
            out.centre.col(j) = alpha * means_.col(k);
            out.variance.col(j) = variances_.col(k);
            out.inv_c.col(j) = c.inverse().matrix();
            out.log_norm[j] = log_weights_[k] - 0.5 * (static_cast<double>(dim_) * log_two_pi + logarithm(c).sum());
        }
        out.ids = std::move(ids);
        return out;
    }

    // Walks x in blocks, filling z, the logits, responsibilities and log p_t for each block,
    // and hands every block to `visit`. Scratch is per call, so const calls are thread-safe.
    template <class Visit>
    void for_each_block(const_view<T> x, const noised_components& noised, Visit&& visit) const {
        const index n = x.size() / dim_;
        const index count = noised.count();
        // About 4096 doubles of z per block: the scratch stays far below malloc's trim
        // threshold (bigger blocks spent half the time returning memory to the kernel).
        const index block_rows = std::clamp<index>(4096 / (dim_ * (count + 2)), 16, 256);
        block b;
        b.x.resize(block_rows, dim_);
        b.z.assign(static_cast<std::size_t>(count), Eigen::MatrixXd(block_rows, dim_));
        b.logits.resize(block_rows, count);
        b.resp.resize(block_rows, count);
        b.peak.resize(block_rows);
        b.total.resize(block_rows);
        for (b.start = 0; b.start < n; b.start += b.size) {
            b.size = std::min(block_rows, n - b.start);
            const index m = b.size;
            b.x.topRows(m) =
                Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>>(x.data() + b.start * dim_, dim_, m)
                    .transpose()
                    .template cast<double>();
            for (index j = 0; j < count; ++j) {
                auto& z = b.z[static_cast<std::size_t>(j)];
                z.topRows(m) = b.x.topRows(m).rowwise() - noised.centre.col(j).transpose();
                if (!is_isotropic())
                    z.topRows(m) =
                        z.topRows(m) * rotations_[static_cast<std::size_t>(noised.ids[static_cast<std::size_t>(j)])];
                b.logits.col(j).head(m) =
                    (noised.log_norm[j] - 0.5 * (z.topRows(m).array().square().matrix() * noised.inv_c.col(j)).array())
                        .matrix();
            }
            // Log-sum-exp over components, and the responsibilities as its softmax.
            b.peak.head(m) = b.logits.col(0).head(m).array();
            for (index j = 1; j < count; ++j) b.peak.head(m) = b.peak.head(m).max(b.logits.col(j).head(m).array());
            for (index j = 0; j < count; ++j)
                b.resp.col(j).head(m) = (b.logits.col(j).head(m).array() - b.peak.head(m)).exp().matrix();
            b.total.head(m) = b.resp.topRows(m).rowwise().sum().array();
            for (index j = 0; j < count; ++j) b.resp.col(j).head(m).array() /= b.total.head(m);
            visit(std::as_const(b));
        }
    }

    // log sum_{j in subset} exp(logits_j), row by row.
    static Eigen::ArrayXd log_sum_exp(const Eigen::MatrixXd& logits, const std::vector<index>& subset, index rows) {
        Eigen::ArrayXd peak = Eigen::ArrayXd::Constant(rows, -std::numeric_limits<double>::infinity());
        for (index j : subset) peak = peak.max(logits.col(j).head(rows).array());
        Eigen::ArrayXd total = Eigen::ArrayXd::Zero(rows);
        for (index j : subset) total += (logits.col(j).head(rows).array() - peak).exp();
        return peak + logarithm(total);
    }

    // acc = sum_j weights_j * [b mu_k + U_k ((p + q lambda_k) / c_k * z_k)] for one block.
    void accumulate(const block& b, const noised_components& noised, const Eigen::MatrixXd& weights, linear_form form,
                    Eigen::MatrixXd& acc) const {
        const index m = b.size;
        acc.setZero(m, dim_);
        for (index j = 0; j < noised.count(); ++j) {
            const index k = noised.ids[static_cast<std::size_t>(j)];
            const auto w = weights.col(j).head(m);
            const Eigen::RowVectorXd coefficient =
                ((form.constant_coefficient + form.variance_coefficient * noised.variance.col(j).array()) *
                 noised.inv_c.col(j).array())
                    .matrix()
                    .transpose();
            const auto& z = b.z[static_cast<std::size_t>(j)];
            if (is_isotropic()) {
                acc.array() += (z.topRows(m).array().rowwise() * coefficient.array()).colwise() * w.array();
            } else {
                acc.noalias() +=
                    ((z.topRows(m).array().rowwise() * coefficient.array()).colwise() * w.array()).matrix() *
                    rotations_[static_cast<std::size_t>(k)].transpose();
            }
            if (form.mean_coefficient != 0.0) acc.noalias() += (form.mean_coefficient * w) * means_.col(k).transpose();
        }
    }

    void write(const Eigen::MatrixXd& acc, const block& b, view<T> out) const {
        Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>>(out.data() + b.start * dim_, dim_, b.size) =
            acc.transpose().template cast<T>();
    }

    void predict(const_view<T> x, double alpha, double sigma, view<T> out, std::optional<int> label,
                 linear_form form) const {
        points("x.size()", x.size());
        require_size("out.size()", out.size(), x.size());
        const auto noised = noise(alpha, sigma, select(label));
        Eigen::MatrixXd acc;
        for_each_block(x, noised, [&](const block& b) {
            accumulate(b, noised, b.resp, form, acc);
            write(acc, b, out);
        });
    }

    index dim_;
    Eigen::VectorXd weights_;                 // normalised w_k
    Eigen::VectorXd log_weights_;             // log w_k
    Eigen::VectorXd cumulative_;              // running sums of w_k, for inverse-CDF sampling
    Eigen::MatrixXd means_;                   // d x K
    Eigen::MatrixXd variances_;               // d x K: eigenvalues of Sigma_k (all s_k^2 when isotropic)
    std::vector<Eigen::MatrixXd> rotations_;  // eigenvectors U_k of Sigma_k (empty when isotropic)
    std::vector<Eigen::MatrixXd> cholesky_;   // L_k with Sigma_k = L_k L_k^T (empty when isotropic)
    std::vector<int> labels_;
};

}  // namespace diffuse::models
