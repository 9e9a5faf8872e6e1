// diffuse/ode/explicit_runge_kutta.hpp: one explicit Runge-Kutta stepper for any Butcher tableau.
//
// A system is any callable f(T t, const_view<T> y, view<T> dydt) that writes y' = f(t, y) into dydt;
// states are flat contiguous buffers (anything diffuse::flat accepts). The stepper owns the stage
// derivatives k_1..k_s and one stage state, sized once (constructor or resize(n)); a step allocates
// nothing. Every linear combination of the method (a stage's input y + h sum_j a_ij k_j, the new
// state, the error estimate, the dense output) is one Eigen expression over the nonzero
// coefficients only, so each is a single pass over memory.
//
// Driving it (what ode::integrate_fixed and ode::adaptive do):
//   stepper.attempt(f, t, y, h, y1)   all stages from (t, y) and y1 = y + h sum_i b_i k_i; k_1 is
//                                     evaluated first unless the stepper still holds f(t, y)
//   stepper.error_norm(h, y, y1, tol) embedded pairs: ||h sum_i e_i k_i|| (ode/norm.hpp)
//   stepper.interpolate(theta, h, y, out)  dense pairs: y(t + theta h), theta in [0, 1]
//   stepper.accept()                  (t + h, y1) becomes the start of the next step: an FSAL pair
//                                     keeps its last stage as the next k_1, others evaluate it anew
//   stepper.step(f, t, y, h)          one whole step in place, from a fresh k_1
#pragma once

#include <Eigen/Core>

#include <array>
#include <cstddef>
#include <utility>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/ode/butcher.hpp"
#include "diffuse/ode/norm.hpp"
#include "diffuse/ode/system.hpp"

namespace diffuse::ode {

namespace detail {

// The indices j < count with coefficient row[j] != 0, as a constexpr array.
template <std::size_t N, int Count>
constexpr auto count_nonzero(const std::array<double, N>& row) {
    int n = 0;
    for (int j = 0; j < Count; ++j) n += row[static_cast<std::size_t>(j)] != 0.0 ? 1 : 0;
    return n;
}
template <auto Row, int Count>
constexpr auto nonzero_indices() {
    std::array<int, count_nonzero<Row.size(), Count>(Row)> out{};
    std::size_t m = 0;
    for (int j = 0; j < Count; ++j) {
        if (Row[static_cast<std::size_t>(j)] != 0.0) out[m++] = j;
    }
    return out;
}

// sum over j in Indices of w[j] * k[j], as one Eigen expression (Indices is not empty).
template <auto Indices, class Weights, class Stages>
auto weighted_terms(const Weights& w, const Stages& k) {
    return [&]<std::size_t... M>(std::index_sequence<M...>) {
        return ((w[static_cast<std::size_t>(Indices[M])] * k[static_cast<std::size_t>(Indices[M])]) + ...);
    }
    (std::make_index_sequence<Indices.size()>{});
}

// out = base + sum over j in Indices of w[j] k[j] (out may be base itself: the update is element-wise).
template <auto Indices, Real T, class Weights, class Stages>
void combine(view<T> out, const_view<T> base, const Weights& w, const Stages& k) {
    if constexpr (Indices.size() == 0) {
        if (out.data() != base.data()) out = base;
    } else {
        out = base + weighted_terms<Indices>(w, k);
    }
}

// Which stages a continuous extension uses (a stage whose weight polynomial is zero is skipped).
template <dense_tableau Tab>
struct dense_usage {
    static constexpr std::array<double, Tab::stages> row = [] {
        std::array<double, Tab::stages> used{};
        for (std::size_t i = 0; i < used.size(); ++i) {
            for (double d : Tab::dense[i]) used[i] += d != 0.0 ? 1.0 : 0.0;
        }
        return used;
    }();
};

}  // namespace detail

template <Real T, butcher_tableau Tableau>
class explicit_runge_kutta {
public:
    using scalar = T;
    using tableau = Tableau;
    static constexpr int stages = Tableau::stages;
    static constexpr int order = Tableau::order;
    static constexpr bool fsal = first_same_as_last<Tableau>();

    explicit explicit_runge_kutta(index n = 0) { resize(n); }

    // Sizes the work buffers for states of n elements (the only place the stepper allocates).
    void resize(index n) {
        require(n >= 0, "n", n, ">= 0");
        for (auto& k : k_) k.resize(n);
        stage_.resize(n);
        start_valid_ = false;
    }
    [[nodiscard]] index size() const { return stage_.size(); }
    // Calls of the system since construction (or reset_evaluations()).
    [[nodiscard]] index evaluations() const { return evaluations_; }
    void reset_evaluations() { evaluations_ = 0; }

    // Forgets k_1, so that the next attempt evaluates f at its start (after the caller changed y).
    void invalidate() { start_valid_ = false; }
    // k_1 = f(t, y), the derivative at the start of the next attempt.
    template <class System>
    requires system<System, T>
    void begin(System& f, T t, const_view<T> y) {
        evaluate(f, t, y, 0);
        start_valid_ = true;
    }
    [[nodiscard]] const_view<T> start_derivative() const { return const_view<T>(k_[0].data(), k_[0].size()); }

    // All stages of a step of size h from (t, y); writes y1 = y + h sum_i b_i k_i (y1 may be y's
    // buffer: it is written last, element by element).
    template <class System>
    requires system<System, T>
    void attempt(System& f, T t, const_view<T> y, T h, view<T> y1) {
        DIFFUSE_ASSERT(y.size() == size() && y1.size() == size());
        if (!start_valid_) begin(f, t, y);
        run_stages(f, t, y, h, y1, std::make_index_sequence<static_cast<std::size_t>(stages - 1)>{});
        if constexpr (!fsal) combine_row<Tableau::b, stages>(y1, y, h);
    }

    // The end of the last attempt becomes the start of the next one.
    void accept() {
        if constexpr (fsal) {
            k_[0].swap(k_[static_cast<std::size_t>(stages - 1)]);  // k_s = f(t + h, y1): no copy
        } else {
            start_valid_ = false;
        }
    }

    // One whole step in place: y <- y(t + h), from a fresh k_1.
    template <class System, class State>
    requires system<System, T>
    void step(System& f, T t, State&& y_in, T h) {
        const view<T> y = flat(y_in);
        require_size("y.size()", y.size(), size());
        start_valid_ = false;
        attempt(f, t, const_view<T>(y.data(), y.size()), h, y);
    }

    // ||h sum_i e_i k_i|| of the last attempt from y to y1 (ode/norm.hpp: tol.norm's norm; Odeint's
    // reads k_1 = f(t, y)), in one pass.
    [[nodiscard]] T error_norm(T h, const_view<T> y, const_view<T> y1,
                               const tolerances<T>& tol) const requires embedded_tableau<Tableau> {
        constexpr auto used = detail::nonzero_indices<Tableau::e, stages>();
        std::array<T, stages> w{};
        for (int j : used) w[static_cast<std::size_t>(j)] = h * static_cast<T>(Tableau::e[static_cast<std::size_t>(j)]);
        const auto err = detail::weighted_terms<used>(w, k_);
        if (tol.norm == norm_kind::odeint_max) {
            return ode::odeint_error_norm(err, y, k_[0], h, tol);
        }
        return ode::error_norm(err, y, y1, tol);
    }

    // y(t + theta h) from the last attempt (t, y, h), before accept(): out = y + h sum_i b_i(theta) k_i.
    void interpolate(T theta, T h, const_view<T> y, view<T> out) const requires dense_tableau<Tableau> {
        constexpr auto used = detail::nonzero_indices<detail::dense_usage<Tableau>::row, stages>();
        std::array<T, stages> w{};
        for (int j : used) {
            const auto& poly = Tableau::dense[static_cast<std::size_t>(j)];
            T value = T(0);  // sum_p poly[p] theta^(p+1), by Horner's rule
            for (std::size_t p = poly.size(); p-- > 0;) value = (value + static_cast<T>(poly[p])) * theta;
            w[static_cast<std::size_t>(j)] = h * value;
        }
        detail::combine<used, T>(out, y, w, k_);
    }

private:
    template <class System>
    void evaluate(System& f, T t, const_view<T> y, int i) {
        auto& k = k_[static_cast<std::size_t>(i)];
        f(t, y, view<T>(k.data(), k.size()));
        ++evaluations_;
    }

    // out = base + h sum_j row[j] k_j over the first `count` entries of a constexpr row.
    template <auto Row, int Count>
    void combine_row(view<T> out, const_view<T> base, T h) {
        constexpr auto used = detail::nonzero_indices<Row, Count>();
        std::array<T, stages> w{};
        for (int j : used) w[static_cast<std::size_t>(j)] = h * static_cast<T>(Row[static_cast<std::size_t>(j)]);
        detail::combine<used, T>(out, base, w, k_);
    }

    // Stage i (1-based index I + 1): its input y + h sum_{j<i} a_ij k_j, then k_i. An FSAL pair's
    // last stage input is y1 itself, so it is written there.
    template <class System, std::size_t... I>
    void run_stages([[maybe_unused]] System& f, [[maybe_unused]] T t, [[maybe_unused]] const_view<T> y,
                    [[maybe_unused]] T h, [[maybe_unused]] view<T> y1, std::index_sequence<I...>) {
        (run_stage<static_cast<int>(I) + 1>(f, t, y, h, y1), ...);  // nothing for a one-stage method
    }
    template <int I, class System>
    void run_stage(System& f, T t, const_view<T> y, T h, view<T> y1) {
        constexpr bool into_y1 = fsal && I == stages - 1;
        view<T> input = into_y1 ? y1 : view<T>(stage_.data(), stage_.size());
        combine_row<Tableau::a[static_cast<std::size_t>(I)], I>(input, y, h);
        evaluate(f, t + static_cast<T>(Tableau::c[static_cast<std::size_t>(I)]) * h,
                 const_view<T>(input.data(), input.size()), I);
    }

    std::array<buffer<T>, static_cast<std::size_t>(stages)> k_;
    buffer<T> stage_;
    index evaluations_ = 0;
    bool start_valid_ = false;
};

}  // namespace diffuse::ode
