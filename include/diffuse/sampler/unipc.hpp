// diffuse/sampler/unipc.hpp: UniPC, the unified predictor-corrector (Zhao et al. 2023, "UniPC: A
// Unified Predictor-Corrector Framework for Fast Sampling of Diffusion Models"), as diffusers'
// UniPCMultistepScheduler with its B(h) variants bh1 (B(h) = h) and bh2 (B(h) = e^h - 1).
//
// Written for the data integrand (predict_x0; the noise integrand reads alpha <-> sigma, h -> -h),
// from level s0 to t with h = lambda_t - lambda_s0, r_k = (lambda_{s_k} - lambda_s0)/h and
// D_k = (m_k - m_0)/r_k over earlier outputs m_k:
//   UniP-p (Algorithm 1 / eq. 5):  x_t = (sigma_t/sigma_s0) x - alpha_t (e^{-h} - 1) m_0
//                                        - alpha_t B(h) sum_{k<p} a_k D_k,
//   UniC-p (Algorithm 2 / eq. 7):  the same from the previous sample with the new output m_t at t
//                                  as one more node (r = 1): x_t^c = ... - alpha_t B(h) (sum_k a_k D_k + a_p (m_t -
//                                  m_0)),
// where the a solve R a = g, R_{ik} = r_k^{i-1}, g_i = i! h phi_{i+1}(h) / B(h) (eq. 8; diffusers
// takes a = 1/2 for UniP-2 and UniC-1). Each step first corrects the sample the model was just
// evaluated at (except after step indices in disable_corrector), then predicts the next one; the
// corrected sample, not the predicted one, is the start of the next step. Orders warm up from 1
// and, with lower_order_final, fall to n - i at the end; a step into sigma 0 is first order.
#pragma once

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <optional>
#include <string_view>
#include <vector>

#include "diffuse/sampler/detail/cache_blocks.hpp"
#include "diffuse/sampler/detail/exponential_integrator.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"
#include "diffuse/sampler/detail/stepping.hpp"

namespace diffuse::sampler {

enum class unipc_variant { bh1, bh2 };

inline unipc_variant parse_unipc_variant(std::string_view name) {
    if (name == "bh1") return unipc_variant::bh1;
    if (name == "bh2") return unipc_variant::bh2;
    throw invalid("solver_type", name, "bh1, bh2");
}

// Defaults are diffusers' UniPCMultistepScheduler defaults.
template <Real T>
struct unipc_options {
    predict::prediction prediction = predict::prediction::epsilon;
    index solver_order = 2;
    bool predict_x0 = true;
    unipc_variant variant = unipc_variant::bh2;
    bool lower_order_final = true;
    std::vector<index> disable_corrector{};  // step indices whose result is not corrected
    std::optional<predict::dynamic_thresholding<T>> thresholding{};

    void validate() const {
        require(solver_order >= 1 && solver_order <= 3, "solver_order", solver_order, "1, 2 or 3");
        require(predict_x0 || prediction != predict::prediction::flow_velocity, "prediction_type", "flow_prediction",
                "with predict_x0 = true (as diffusers)");
        require(predict_x0 || !thresholding, "thresholding", "true", "only with predict_x0 = true (it acts on x0)");
        for (const index i : disable_corrector) require(i >= 0, "disable_corrector", i, "step indices >= 0");
        if (thresholding) thresholding->validate();
    }
};

template <Real T>
class unipc : public detail::sampler_shell<unipc<T>, unipc_options<T>, sigma_grid<T>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "UniPCMultistep";

    using unipc::sampler_shell::sampler_shell;

    class run : public detail::exponential_run<T>, public detail::stepping<run, T> {
    public:
        run(const unipc& sampler, sigma_grid<T> grid, layout shape)
            : detail::exponential_run<T>(
                  std::move(grid), shape, sampler.options().prediction,
                  sampler.options().predict_x0 ? detail::integrand::data : detail::integrand::noise,
                  sampler.options().solver_order + 1,
                  {.clip_range = {}, .thresholding = sampler.options().thresholding}, false),
              sampler_(&sampler),
              last_sample_(shape.size) {}

        // The predictor's order after evaluation i.
        [[nodiscard]] index order_at(index i) const {
            const auto& o = sampler_->options();
            const index n = this->num_steps();
            if (i == n - 1 && this->grid_[n].sigma == T(0)) return 1;
            const index order = o.lower_order_final ? std::min(o.solver_order, n - i) : o.solver_order;
            return std::min(order, i - this->begin_index() + 1);  // warm-up over the steps taken
        }

    private:
        // Deterministic: stepping passes no noise here.
        friend detail::stepping<run, T>;
        void step_views(const_view<T> output, view<T> x) {
            const index i = this->step_index();
            const auto& skip = sampler_->options().disable_corrector;
            // UniC (Algorithm 2) corrects the sample the model was evaluated at, with the newest output
            // as the extra node at r = 1; UniP (Algorithm 1) then predicts the next one from it. With the
            // conversion of the output and the kept sample, one pass (record's plan).
            const bool correct = this->steps_taken() > 0 && std::find(skip.begin(), skip.end(), i - 1) == skip.end();
            this->record(output, cflat(x), this->current_level(), [&] {
                const detail::combination<T> corrector =
                    correct ? plan(1, previous_order_, true) : detail::combination<T>{};
                previous_order_ = order_at(i);
                const detail::combination<T> predictor = plan(0, previous_order_, false);
                return [&, corrector, predictor](index begin, index count) {
                    if (correct) corrector.apply(x, cflat(last_sample_), const_view<T>(nullptr, 0), begin, count);
                    detail::block(last_sample_, begin, count) = detail::block(cflat(x), begin, count);
                    predictor.apply(x, cflat(x), const_view<T>(nullptr, 0), begin, count);
                };
            });
            this->advance();
        }

        // UniP-p (corrector = false) or UniC-p (true) from history entry `from` (its level s0) to the
        // level after it, over the entries from, from + 1, ..., from + p - 1 (and entry 0, the new
        // output, for the corrector), applied to the sample at s0.
        [[nodiscard]] detail::combination<T> plan(index from, index p, bool corrector) const {
            const detail::vp_point s = detail::point(this->history_level(from)),
                                   t = detail::point(corrector ? this->history_level(0) : this->next_level());
            const bool data = detail::is_data(this->kind());
            const double h = detail::step_length(s, t), hh = data ? -h : h;
            const double scale = data ? t.alpha : t.sigma();  // alpha_t (data) or sigma_t (noise)
            const double b_h = sampler_->options().variant == unipc_variant::bh1 ? hh : std::expm1(hh);
            // The first-order part is the exponential integrator's (finite into sigma 0).
            const detail::exponential_step first = detail::exponential_weights(this->kind(), s, t);
            // Nodes: r_k of the earlier outputs, then r = 1 for the corrector's new output.
            const index nodes = corrector ? p : p - 1;
            std::array<double, 3> r{};
            for (index k = 0; k < p - 1; ++k)
                r[static_cast<std::size_t>(k)] =
                    (detail::point(this->history_level(from + 1 + k)).lambda() - s.lambda()) / h;
            if (corrector) r[static_cast<std::size_t>(p - 1)] = 1.0;
            const std::array<double, 3> a = coefficients(r, nodes, hh, b_h);
            // x = on_x base - scale (e^{hh} - 1) m_0 - scale B(h) sum_k a_k (m_k - m_0) / r_k
            detail::combination<T> out;
            out.on_base = first.on_x;
            out.terms[0] = this->history(from).data();
            out.on[0] = first.weight[0];
            for (index k = 0; k < nodes; ++k) {
                const auto uk = static_cast<std::size_t>(k);
                const double w = -scale * b_h * a[uk] / r[uk];
                out.terms[uk + 1] = (corrector && k == p - 1 ? this->history(0) : this->history(from + 1 + k)).data();
                out.on[uk + 1] = w;
                out.on[0] -= w;
            }
            out.count = static_cast<std::size_t>(nodes + 1);
            return out;
        }

        // Solves R a = g over the nodes (Zhao et al. 2023, eq. 8), or diffusers' a = 1/2 for UniP-2 / UniC-1.
        static std::array<double, 3> coefficients(const std::array<double, 3>& r, index nodes, double hh, double b_h) {
            std::array<double, 3> a{};
            if (nodes == 0) return a;
            if (nodes == 1) {  // UniP-2 and UniC-1
                a[0] = 0.5;
                return a;
            }
            Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, 0, 3, 3> R(nodes, nodes);
            Eigen::Matrix<double, Eigen::Dynamic, 1, 0, 3, 1> g(nodes);
            double factorial = 1.0;
            for (index i = 0; i < nodes; ++i) {
                factorial *= static_cast<double>(i + 1);
                g(i) = factorial * hh * detail::phi(static_cast<int>(i) + 2, hh) / b_h;
                for (index k = 0; k < nodes; ++k)
                    R(i, k) = std::pow(r[static_cast<std::size_t>(k)], static_cast<double>(i));
            }
            const auto solution = R.partialPivLu().solve(g).eval();
            for (index k = 0; k < nodes; ++k) a[static_cast<std::size_t>(k)] = solution(k);
            return a;
        }

        const unipc* sampler_;
        buffer<T> last_sample_;
        index previous_order_ = 1;
    };
};

}  // namespace diffuse::sampler
