// diffuse/sampler/detail/exponential_integrator.hpp: the arithmetic that DPM-Solver (multistep and
// singlestep), DEIS and UniPC share. All of them work in the network's own state
// x = alpha_t x0 + sigma_t eps, with lambda = log(alpha_t / sigma_t), and solve the
// probability-flow ODE by the variation-of-constants formula (Lu et al. 2022a, "DPM-Solver",
// eq. 3.4; Lu et al. 2022b, "DPM-Solver++", eq. 8): from level s to level t, h = lambda_t - lambda_s,
//   noise integrand:  x_t = (alpha_t/alpha_s) x_s - sigma_t int_0^h e^{h-u} eps(lambda_s + u) du
//   data integrand:   x_t = (sigma_t/sigma_s) x_s + alpha_t int_0^h e^{-(h-u)} x0(lambda_s + u) du.
// The integrand is replaced by the polynomial in r = (lambda - lambda_s)/h through earlier (multistep)
// or intermediate (singlestep) model outputs, m(r) = sum_k D_k r^k, and integrated exactly:
//   int_0^h e^{-(h-u)} (u/h)^k du = k! h phi_{k+1}(-h)   (phi_k below; Hochbruck & Ostermann 2010)
// so a step is x_t = on_x x_s + sum_k weight_k D_k (+ on_noise z), and with D = V^{-1} m (V the
// Vandermonde matrix of the nodes' r) it becomes x_t = on_x x_s + sum_i c_i m_i: one fused pass.
// DEIS's rho-AB integration of the Lagrange polynomial in log(sigma/alpha) (Zhang & Chen 2023,
// eq. 14) is the same integral written in rho = sigma/alpha, so DEIS uses these weights as they are.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "diffuse/core/view.hpp"
#include "diffuse/predict/parameterization.hpp"
#include "diffuse/predict/thresholding.hpp"
#include "diffuse/sampler/detail/cache_blocks.hpp"
#include "diffuse/sampler/sigma_run.hpp"

namespace diffuse::sampler {

// diffusers' `algorithm_type` of the DPM-Solver schedulers.
enum class dpm_algorithm { dpmsolver, dpmsolver_pp, sde_dpmsolver, sde_dpmsolver_pp };

inline constexpr std::string_view dpm_algorithm_names = "dpmsolver, dpmsolver++, sde-dpmsolver, sde-dpmsolver++";

inline dpm_algorithm parse_dpm_algorithm(std::string_view name) {
    if (name == "dpmsolver") return dpm_algorithm::dpmsolver;
    if (name == "dpmsolver++") return dpm_algorithm::dpmsolver_pp;
    if (name == "sde-dpmsolver") return dpm_algorithm::sde_dpmsolver;
    if (name == "sde-dpmsolver++") return dpm_algorithm::sde_dpmsolver_pp;
    throw invalid("algorithm_type", name, dpm_algorithm_names);
}

// diffusers' `solver_type` of the second-order DPM-Solver update: midpoint weighs D1 by half the
// first-order weight (Lu et al. 2022b, Algorithm 2), heun by the exact h phi_2 (Lu et al. 2022a, eq. 3.7).
enum class dpm_solver_type { midpoint, heun };

inline dpm_solver_type parse_dpm_solver_type(std::string_view name) {
    if (name == "midpoint") return dpm_solver_type::midpoint;
    if (name == "heun") return dpm_solver_type::heun;
    throw invalid("solver_type", name, "midpoint, heun");
}

// Third-order weights: `reference` reproduces diffusers (see detail::reference_third_weight),
// `taylor` integrates the interpolating polynomial exactly (third order).
enum class third_order_weights { reference, taylor };

}  // namespace diffuse::sampler

namespace diffuse::sampler::detail {

// phi_k(x) = (e^x - sum_{j<k} x^j / j!) / x^k for k >= 1 (phi_1(x) = expm1(x)/x), by its Taylor
// series sum_j x^j / (j + k)! near 0 (where the recurrence cancels) and by
// phi_{k+1} = (phi_k - 1/k!) / x elsewhere; phi_k(-inf) = 0.
inline double phi(int k, double x) {
    if (x == -std::numeric_limits<double>::infinity()) return 0.0;
    if (std::fabs(x) < 0.5) {
        double term = 1.0, sum = 0.0;
        for (int j = 1; j <= k; ++j) term /= j;  // 1/k!
        for (int j = 0; j < 30 && term != 0.0; ++j) {
            sum += term;
            term *= x / (j + k + 1);
        }
        return sum;
    }
    double value = std::expm1(x) / x, factorial = 1.0;
    for (int j = 1; j < k; ++j) {
        value = (value - 1.0 / factorial) / x;
        factorial *= j + 1;
    }
    return value;
}

// A level in the network's own state, in double.
struct vp_point {
    double alpha;  // alpha_t
    double rho;    // sigma_t / alpha_t (the k-diffusion sigma)
    [[nodiscard]] double sigma() const { return alpha * rho; }
    [[nodiscard]] double lambda() const { return -std::log(rho); }  // +inf at rho = 0
};

template <Real T>
vp_point point(const noise_level<T>& l) {
    return {static_cast<double>(l.alpha), static_cast<double>(l.sigma)};
}

// h = lambda_t - lambda_s (+inf when t has sigma 0).
inline double step_length(const vp_point& s, const vp_point& t) {
    return std::log(s.rho / t.rho);
}

// What the exponential integrator integrates (Lu et al. 2022b, sec. 3): eps (DPM-Solver, DEIS) or
// x0 (DPM-Solver++), as an ODE or as the SDE of Lu et al. 2022b, sec. 4 / eq. 15.
enum class integrand { noise, data, noise_sde, data_sde };

inline constexpr bool is_data(integrand i) {
    return i == integrand::data || i == integrand::data_sde;
}
inline constexpr bool is_sde(integrand i) {
    return i == integrand::noise_sde || i == integrand::data_sde;
}

inline constexpr integrand integrand_of(dpm_algorithm a) {
    switch (a) {
        case dpm_algorithm::dpmsolver:
            return integrand::noise;
        case dpm_algorithm::dpmsolver_pp:
            return integrand::data;
        case dpm_algorithm::sde_dpmsolver:
            return integrand::noise_sde;
        case dpm_algorithm::sde_dpmsolver_pp:
            return integrand::data_sde;
    }
    return integrand::data;
}

// One step: x_t = on_x x_s + sum_k weight[k] D_k + on_noise z, D_k the coefficient of r^k.
struct exponential_step {
    double on_x = 0;
    std::array<double, 4> weight{};
    double on_noise = 0;
};

// The exact weights of D_0..D_3 (k! h phi_{k+1}(-h) scaled as above) for the SDE family with
// noise scale tau of the variance-controlled diffusion SDE of SA-Solver (Xue et al. 2023, "SA-Solver";
// tau = 0 is the probability-flow ODE, tau = 1 the SDE of Lu et al. 2022b, eq. 15), solved
// by variation of constants:
//   data:  x_t = (sigma_t/sigma_s) e^{-tau^2 h} x_s + (1 + tau^2) alpha_t int_0^h e^{-(1 + tau^2)(h-u)} x0 du
//                + sigma_t sqrt(1 - e^{-2 tau^2 h}) z: the data weights with h -> (1 + tau^2) h;
//   noise: x_t = (alpha_t/alpha_s) x_s - (1 + tau^2) sigma_t int_0^h e^{h-u} eps du
//                + tau sigma_t sqrt(e^{2h} - 1) z: the noise weights times (1 + tau^2).
// Each weight is finite at sigma_t = 0 for k = 0 (only first-order steps end at sigma 0).
inline exponential_step stochastic_exponential_weights(bool data, double tau, const vp_point& s, const vp_point& t) {
    const double h = step_length(s, t), tau2 = tau * tau;
    exponential_step out;
    double factorial = 1.0;
    if (data) {
        const double hh = (1.0 + tau2) * h;
        // e^{-h} = rho_t / rho_s, exact at sigma_t = 0
        const double decay = t.rho / s.rho;
        out.on_x = t.sigma() / s.sigma() * (tau2 == 0.0 ? 1.0 : std::pow(decay, tau2));
        out.weight[0] = t.alpha * -std::expm1(-hh);
        for (int k = 1; k < 4; ++k) {
            factorial *= k;
            // k! h phi_{k+1}(-h) -> 1 as h -> inf (a step to sigma 0)
            out.weight[static_cast<std::size_t>(k)] =
                std::isinf(hh) ? t.alpha : t.alpha * factorial * hh * phi(k + 1, -hh);
        }
        if (tau2 != 0.0) out.on_noise = t.sigma() * std::sqrt(-std::expm1(-2.0 * tau2 * h));
        return out;
    }
    const double scale = 1.0 + tau2;
    out.on_x = t.alpha / s.alpha;
    // sigma_t (e^h - 1) = alpha_t (rho_s - rho_t): the DDIM form, finite at sigma_t = 0.
    out.weight[0] = -scale * t.alpha * (s.rho - t.rho);
    for (int k = 1; k < 4; ++k) {
        factorial *= k;
        // unused at sigma_t = 0 (first order only there); keep it finite
        out.weight[static_cast<std::size_t>(k)] =
            std::isinf(h) ? 0.0 : -scale * t.sigma() * factorial * h * phi(k + 1, h);
    }
    if (tau2 != 0.0) out.on_noise = tau * t.sigma() * std::sqrt(std::expm1(2.0 * h));
    return out;
}

// The ODE and the SDE (tau = 1) of DPM-Solver's integrands:
//   data (SDE-DPM-Solver++): x_t = (sigma_t/sigma_s) e^{-h} x_s + alpha_t 2 int e^{-2(h-u)} x0 du
//       + sigma_t sqrt(1 - e^{-2h}) z;
//   noise (SDE-DPM-Solver): x_t = (alpha_t/alpha_s) x_s - 2 sigma_t int e^{h-u} eps du
//       + sigma_t sqrt(e^{2h} - 1) z.
inline exponential_step exponential_weights(integrand kind, const vp_point& s, const vp_point& t) {
    return stochastic_exponential_weights(is_data(kind), is_sde(kind) ? 1.0 : 0.0, s, t);
}

// The third-order weight of the reference implementations (diffusers; Lu's dpm_solver_pytorch and
// k-diffusion's sample_dpmpp_3m_sde for the multistep form), as a fraction of the exact weight of
// the r^2 coefficient: the multistep form weighs D2 = (D1_0 - D1_1)/(r0 + r1), which is that
// coefficient, by h phi_3 where the exact weight is 2 h phi_3 (fraction 1/2: the method is then of
// order 2, see docs/samplers_exponential.md); the singlestep form weighs D2 = 2 x that coefficient
// (fraction 1). diffusers' SDE-DPM-Solver++ writes the term as (1 - e^{-2h} - 2h)/(2h)^2 - 1/2,
// with the sign of the 1/2 not flipped along with the rest: 2 fraction alpha_t less.
inline double reference_third_weight(integrand kind, double exact, double alpha_t, double fraction) {
    return fraction * exact - (kind == integrand::data_sde ? 2.0 * fraction * alpha_t : 0.0);
}

// Coefficients of the integrand's polynomial in r from values at up to 4 nodes: D = V^{-1} m with
// V[i][k] = r_i^k (Lagrange interpolation); returns c with c[i] = sum_k weight[k] V^{-1}[k][i], the
// weight of node i in sum_k weight[k] D_k. Nodes must be distinct.
struct node_weights {
    std::array<double, 4> on_node{};
};

inline node_weights interpolate_weights(std::span<const double> r, std::span<const double> weight) {
    const auto n = r.size();
    node_weights out;
    // Lagrange basis L_i(r) = prod_{j != i} (r - r_j) / (r_i - r_j); its monomial coefficients.
    for (std::size_t i = 0; i < n; ++i) {
        std::array<double, 4> poly{1.0, 0.0, 0.0, 0.0};
        double denominator = 1.0;
        std::size_t degree = 0;
        for (std::size_t j = 0; j < n; ++j) {
            if (j == i) continue;
            // poly *= (r - r_j)
            for (std::size_t k = degree + 1; k > 0; --k) poly[k] = poly[k - 1] - r[j] * poly[k];
            poly[0] *= -r[j];
            ++degree;
            denominator *= r[i] - r[j];
        }
        double c = 0.0;
        for (std::size_t k = 0; k < n && k < weight.size(); ++k) c += weight[k] * poly[k];
        out.on_node[i] = c / denominator;
    }
    return out;
}

// x = on_base base + sum_i on[i] m[i] (+ on_noise z): one fused pass over up to four inputs
// (`base` may be x itself).
template <Real T>
void combine(view<T> x, const_view<T> base, double on_base, std::span<const T* const> terms, std::span<const double> on,
             const_view<T> noise, double on_noise) {
    const auto c = [&](std::size_t i) { return static_cast<T>(on[i]); };
    const auto term = [&](std::size_t i) { return const_view<T>(terms[i], x.size()); };
    const T cx = static_cast<T>(on_base), cz = static_cast<T>(on_noise);
    const bool noisy = on_noise != 0.0;
    const auto finish = [&](const auto& expr) {
        if (noisy) {
            x = expr + cz * noise;
        } else {
            x = expr;
        }
    };
    switch (terms.size()) {
        case 1:
            finish(cx * base + c(0) * term(0));
            break;
        case 2:
            finish(cx * base + c(0) * term(0) + c(1) * term(1));
            break;
        case 3:
            finish(cx * base + c(0) * term(0) + c(1) * term(1) + c(2) * term(2));
            break;
        case 4:
            finish(cx * base + c(0) * term(0) + c(1) * term(1) + c(2) * term(2) + c(3) * term(3));
            break;
        default:
            throw invalid("combine terms", terms.size(), "1 to 4 model-output terms");
    }
}

// A combine() whose weights are folded for the step: x = on_base base + sum_i on[i] terms[i]
// (+ on_noise z), applied to the whole array or block by block (cache_blocks.hpp).
template <Real T>
struct combination {
    double on_base = 1.0;
    std::array<const T*, 4> terms{};
    std::array<double, 4> on{};
    std::size_t count = 0;
    double on_noise = 0.0;

    // The elements [begin, begin + size) of x from those of base, the terms and noise.
    void apply(view<T> x, const_view<T> base, const_view<T> noise, index begin, index size) const {
        std::array<const T*, 4> shifted{};
        for (std::size_t i = 0; i < count; ++i) shifted[i] = terms[i] + begin;
        combine<T>(block(x, begin, size), block(base, begin, size), on_base,
                   std::span<const T* const>(shifted.data(), count), std::span<const double>(on.data(), count),
                   on_noise != 0.0 ? block(noise, begin, size) : const_view<T>(nullptr, 0), on_noise);
    }
    void apply(view<T> x, const_view<T> base, const_view<T> noise) const { apply(x, base, noise, 0, x.size()); }
};

// The order of multistep step i of n (diffusers' DPMSolverMultistep / DEIS step()): warm-up from
// order 1 over the steps taken (i itself for a run started at 0; diffusers' lower_order_nums after
// set_begin_index); with lower_order_final, runs of fewer than 15 grid steps end with orders 2, 1; a
// step into sigma 0 is first order (its higher-order weights divide by h = inf).
inline index multistep_order(index i, index taken, index n, index solver_order, bool lower_order_final,
                             bool first_order_last) {
    const bool short_run = lower_order_final && n < 15;
    if (i == n - 1 && (short_run || first_order_last)) return 1;
    index order = std::min(solver_order, taken + 1);
    if (i == n - 2 && short_run) order = std::min<index>(order, 2);
    return order;
}

// The per-run part every exponential-integrator sampler shares: the model-state conventions, a
// ring of converted model outputs (x0 or eps, diffusers' convert_model_output), and the grid
// levels they were taken at. Sized once at start; nothing allocates in a step.
template <Real T>
class exponential_run : public sigma_run_state<T> {
public:
    exponential_run(sigma_grid<T> grid, layout shape, predict::prediction prediction, integrand kind, index capacity,
                    const predict::x0_processing<T>& processing, bool learned_variance)
        : sigma_run_state<T>(std::move(grid), shape, state_space::model, prediction),
          kind_(kind),
          processing_(processing),
          learned_variance_(learned_variance),
          capacity_(capacity) {
        if (learned_variance) {
            require(prediction == predict::prediction::epsilon, "variance_type", "learned_range",
                    "only with prediction_type epsilon (the variance channels are dropped)");
        }
        history_.resize(shape.size, capacity);
        levels_.resize(static_cast<std::size_t>(capacity));
        if (processing.thresholding) scratch_.resize(shape.size);
    }

    [[nodiscard]] double model_time() const { return this->current_level().model_time; }
    [[nodiscard]] T input_scale() const { return T(1); }
    // A learned-variance model writes twice the channels; the sampler reads the first half.
    [[nodiscard]] index model_output_size() const {
        return learned_variance_ ? 2 * this->shape_.size : this->shape_.size;
    }

protected:
    // Converts the model output at `level` (evaluated at x) into the integrand and pushes it as the
    // newest history entry. x0 is thresholded when asked; eps is then re-derived from it.
    void record(const_view<T> output, const_view<T> x, const noise_level<T>& level) {
        record(output, x, level, [] { return [](index, index) {}; });
    }
    // The same, fused with the step that reads the new entry: `plan()` is called once the entry's
    // level is in the history (it folds the step's weights) and returns pass(begin, count), which
    // updates those elements. Block by block (cache_blocks.hpp) the conversion and the pass stream
    // x, the output and the history once; thresholding needs the whole x0 first, and a
    // learned-variance output is read per sample, so those two convert the whole array before the pass.
    template <class Plan>
    void record(const_view<T> output, const_view<T> x, const noise_level<T>& level, Plan&& plan) {
        const index n = this->shape_.size;
        require_size("model_output.size()", output.size(), model_output_size());
        require_size("x.size()", x.size(), n);
        newest_ = (newest_ + 1) % capacity_;
        count_ = std::min(count_ + 1, capacity_);
        levels_[static_cast<std::size_t>(newest_)] = level;
        const auto pass = plan();
        const predict::decomposition<T> d = this->decompose(level);
        const bool threshold = processing_.thresholding.has_value();
        const bool wants_x0 = is_data(kind_) || threshold;
        const auto form = wants_x0 ? d.x0 : d.eps;
        T* m = history_.col(newest_).data();
        if (!threshold && !learned_variance_) {
            for_each_block(n, [&](index begin, index count) {
                block(view<T>(m, n), begin, count) =
                    form.from_x * block(x, begin, count) + form.from_output * block(output, begin, count);
                pass(begin, count);
            });
            return;
        }
        if (learned_variance_) {
            const index per = this->shape_.sample_size();
            for (index b = 0; b < this->shape_.batch; ++b) {
                block(view<T>(m, n), b * per, per) =
                    form.from_x * x.segment(b * per, per) + form.from_output * output.segment(2 * b * per, per);
            }
        } else {
            view<T>(m, n) = form.from_x * x + form.from_output * output;
        }
        if (threshold) {
            predict::apply_dynamic_thresholding(view<T>(m, n), this->shape_.batch, *processing_.thresholding,
                                                view<T>(scratch_.data(), n));
            if (!is_data(kind_)) {
                // eps = (x - alpha x0) / sigma_t
                const T alpha = level.alpha, sigma = level.model_sigma();
                view<T>(m, n) = (x - alpha * view<T>(m, n)) / sigma;
            }
        }
        pass(0, n);
    }

    // History entry `age` (0 = newest) and the level it was taken at.
    [[nodiscard]] const_view<T> history(index age) const {
        return const_view<T>(history_.col(slot(age)).data(), this->shape_.size);
    }
    [[nodiscard]] const noise_level<T>& history_level(index age) const {
        return levels_[static_cast<std::size_t>(slot(age))];
    }
    [[nodiscard]] index history_size() const { return count_; }
    [[nodiscard]] integrand kind() const { return kind_; }

    // The exponential step from level `from` to level `to`, the integrand interpolated through the
    // history entries of the given ages (r measured from `from`); `adjust(step, s, t)` applies a
    // sampler's variant of the exact weights (diffusers' midpoint and third-order forms).
    template <class AdjustWeights>
    [[nodiscard]] combination<T> exponential_plan(const noise_level<T>& from, const noise_level<T>& to,
                                                  std::span<const index> ages, AdjustWeights&& adjust) const {
        const vp_point s = point(from), t = point(to);
        exponential_step step = exponential_weights(kind_, s, t);
        adjust(step, s, t);
        return interpolated_plan(from, to, step, ages);
    }

    // x = step.on_x base + sum_k step.weight[k] D_k + step.on_noise z, the D_k those of the polynomial
    // in r = (lambda - lambda_from)/h through the history entries of the given ages, with the
    // weights folded onto the entries.
    [[nodiscard]] combination<T> interpolated_plan(const noise_level<T>& from, const noise_level<T>& to,
                                                   const exponential_step& step, std::span<const index> ages) const {
        const vp_point s = point(from);
        const double h = step_length(s, point(to));
        combination<T> out;
        out.count = ages.size();
        out.on_base = step.on_x;
        out.on_noise = step.on_noise;
        std::array<double, 4> r{};
        for (std::size_t i = 0; i < out.count; ++i) {
            r[i] = out.count == 1 ? 0.0 : (point(history_level(ages[i])).lambda() - s.lambda()) / h;
            out.terms[i] = history(ages[i]).data();
        }
        out.on = interpolate_weights(std::span<const double>(r.data(), out.count), step.weight).on_node;
        return out;
    }
    void interpolated_update(view<T> x, const_view<T> base, const noise_level<T>& from, const noise_level<T>& to,
                             const exponential_step& step, std::span<const index> ages, const_view<T> noise) const {
        interpolated_plan(from, to, step, ages).apply(x, base, noise);
    }

private:
    [[nodiscard]] index slot(index age) const { return (newest_ - age + capacity_) % capacity_; }

    integrand kind_;
    predict::x0_processing<T> processing_;
    bool learned_variance_;
    index capacity_;
    Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic> history_;
    std::vector<noise_level<T>> levels_;
    buffer<T> scratch_;
    index newest_ = -1;
    index count_ = 0;
};

}  // namespace diffuse::sampler::detail
