// diffuse/models/metrics.hpp: distances between two point sets, to score generated samples
// against reference samples (e.g. from gaussian_mixture::sample).
//
// Sets are point-major flat buffers (n points of `dim` values, point i in [i*dim, (i+1)*dim))
// and may have different sizes. Arithmetic runs in double whatever T is.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/random.hpp"
#include "diffuse/core/view.hpp"

namespace diffuse::models {

namespace detail {

// The points of a flat set as an n x dim matrix (column c = coordinate c of every point), so
// the distance loops below run over contiguous coordinates. Checks sizes and finiteness.
template <Real T>
Eigen::MatrixXd point_matrix(std::string_view name, const_view<T> points, index dim) {
    require(dim >= 1, "dim", dim, "an integer >= 1");
    require(points.size() > 0 && points.size() % dim == 0, std::string(name) + ".size()", points.size(),
            "a positive multiple of dim = " + std::to_string(dim) + " (point-major points)");
    for (index i = 0; i < points.size(); ++i) {
        if (!std::isfinite(static_cast<double>(points[i]))) {
            throw invalid(std::string(name) + "[" + std::to_string(i) + "]", points[i], "a finite number");
        }
    }
    return Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>>(points.data(), dim, points.size() / dim)
        .transpose()
        .template cast<double>();
}

// sum_{i, j} |p_i - q_j| over all pairs, or over i < j only when `distinct_pairs` (p = q).
// Blocked over q so a block of q's coordinates and the distances stay in L1 while every point
// of p streams past it; each inner step is a vectorized pass over the block.
inline double distance_sum(const Eigen::MatrixXd& p, const Eigen::MatrixXd& q, bool distinct_pairs) {
    constexpr index block = 512;
    Eigen::ArrayXd squared(block);
    double total = 0.0;
    for (index first = 0; first < q.rows(); first += block) {
        const index end = std::min(first + block, q.rows());
        for (index i = 0; i < p.rows(); ++i) {
            const index begin = distinct_pairs ? std::max(first, i + 1) : first;
            if (begin >= end) continue;
            const index len = end - begin;
            squared.head(len) = (q.col(0).segment(begin, len).array() - p(i, 0)).square();
            for (index c = 1; c < q.cols(); ++c)
                squared.head(len) += (q.col(c).segment(begin, len).array() - p(i, c)).square();
            total += squared.head(len).sqrt().sum();
        }
    }
    return total;
}

// W2^2 between the empirical distributions of two sorted samples: the integral over u in (0, 1)
// of (F_x^{-1}(u) - F_y^{-1}(u))^2, both quantile functions being step functions (steps at
// multiples of 1/n and 1/m), walked together in units of 1/(n m) so every piece is exact.
inline double sorted_w2_squared(const Eigen::ArrayXd& x, const Eigen::ArrayXd& y) {
    const auto n = static_cast<std::int64_t>(x.size());
    const auto m = static_cast<std::int64_t>(y.size());
    std::int64_t i = 0, j = 0, done = 0;
    double total = 0.0;
    while (i < n && j < m) {
        const std::int64_t x_step = (i + 1) * m, y_step = (j + 1) * n;  // ends of the current steps
        const std::int64_t next = std::min(x_step, y_step);
        const double gap = x[static_cast<index>(i)] - y[static_cast<index>(j)];
        total += static_cast<double>(next - done) * gap * gap;
        done = next;
        if (x_step == next) ++i;
        if (y_step == next) ++j;
    }
    return total / (static_cast<double>(n) * static_cast<double>(m));
}

}  // namespace detail

// Energy distance (Szekely & Rizzo 2013), V-statistic form:
// 2 mean_{i,j} |a_i - b_j| - mean_{i,i'} |a_i - a_i'| - mean_{j,j'} |b_j - b_j'|, all pairs
// including i = i' (zero terms). It is >= 0 and 0 only for identical empirical distributions
// (up to rounding, about 1e-16 of the mean distance). Its expectation exceeds the population
// value by (E|X - X'| + E|Y - Y'|)/n for n points per set. O((n + m)^2 dim) time, O(n + m) memory.
template <Real T>
T energy_distance(const_view<T> a, const_view<T> b, index dim) {
    const Eigen::MatrixXd p = detail::point_matrix("a", a, dim);
    const Eigen::MatrixXd q = detail::point_matrix("b", b, dim);
    const double n = static_cast<double>(p.rows()), m = static_cast<double>(q.rows());
    const double cross = detail::distance_sum(p, q, false) / (n * m);
    const double within_a = 2 * detail::distance_sum(p, p, true) / (n * n);
    const double within_b = 2 * detail::distance_sum(q, q, true) / (m * m);
    return static_cast<T>(2 * cross - within_a - within_b);
}

// Sliced Wasserstein-2 distance (Rabin et al. 2011; Bonneel et al. 2015):
// sqrt( mean over `projections` random unit directions theta of W2^2(theta.a, theta.b) ),
// each 1-D W2 exact between the projected empirical distributions by sorting (unequal set
// sizes are handled exactly by merging the two quantile functions). Directions are normalised
// N(0, I) draws from diffuse::random::generator(seed), so the value is reproducible. For dim = 1
// it is the exact W2; for a set shifted by s its square has expectation |s|^2 / dim over directions.
template <Real T>
T sliced_wasserstein2(const_view<T> a, const_view<T> b, index dim, index projections = 128, std::uint64_t seed = 0) {
    const Eigen::MatrixXd p = detail::point_matrix("a", a, dim);
    const Eigen::MatrixXd q = detail::point_matrix("b", b, dim);
    require(projections >= 1, "projections", projections, "an integer >= 1");
    Eigen::MatrixXd directions(dim, projections);
    random::generator noise(seed);
    noise.normal(directions);
    Eigen::ArrayXd x(p.rows()), y(q.rows());
    double total = 0.0;
    for (index k = 0; k < projections; ++k) {
        const Eigen::VectorXd theta = directions.col(k).normalized();
        x = (p * theta).array();
        y = (q * theta).array();
        std::sort(x.begin(), x.end());
        std::sort(y.begin(), y.end());
        total += detail::sorted_w2_squared(x, y);
    }
    return static_cast<T>(std::sqrt(total / static_cast<double>(projections)));
}

}  // namespace diffuse::models
