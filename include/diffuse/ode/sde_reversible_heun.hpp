// diffuse/ode/sde_reversible_heun.hpp: the reversible Heun method (Stratonovich).
//
// P. Kidger, J. Foster, X. Li, T. Lyons, "Efficient and Accurate Gradients for Neural SDEs",
// NeurIPS 2021 (arXiv:2105.13493), section 3. Besides y it carries an
// auxiliary state z and the drift and diffusion at z, (f_z, g_z) = (f(t, z), g(t, z)):
//   z' = 2 y - z + f_z h + g_z dW,   (f_z', g_z') = (f(t + h, z'), g(t + h, z'))
//   y' = y + (f_z + f_z') h / 2 + (g_z + g_z') dW / 2.
// Each step is algebraically invertible (step_back), so a solve can be retraced backwards from its
// end to its start, to rounding, with the same increments: no stored trajectory is needed for a
// backward pass. One drift and one diffusion evaluation per step. Strong order 0.5 in general and
// 1.0 for additive noise (as the paper and torchsde's implementation state; measured in docs/sde.md).
#pragma once

#include "diffuse/core/view.hpp"
#include "diffuse/ode/sde_problem.hpp"

namespace diffuse::ode {

template <Real T>
class reversible_heun {
public:
    using scalar = T;
    static constexpr sde_calculus calculus = sde_calculus::stratonovich;
    static constexpr bool needs_time_integral = false;

    explicit reversible_heun(index size) : work_(size) {}
    [[nodiscard]] index size() const { return work_.size(); }

    // z = y and its drift and diffusion at t (every solve starts here).
    template <sde_problem<T> P, class Y>
    void start(P& p, T t, const Y& state) {
        const const_view<T> y = cflat(state);
        work_.check(y.size(), y.size());
        view<T> z = work_[z_], f_z = work_[f_], g_z = work_[g_];
        z = y;
        p.drift(t, cflat(z), f_z);
        p.diffusion(t, cflat(z), g_z);
        started_ = true;
    }

    // From (y, z) at t to t + h.
    template <sde_problem<T> P, class Y, class W>
    void step(P& p, T t, T h, Y&& state, const W& noise) {
        view<T> y = flat(state);
        const const_view<T> dw = cflat(noise);
        check_started(y.size(), dw.size());
        view<T> z = work_[z_], f_z = work_[f_], g_z = work_[g_], f_next = work_[f_next_], g_next = work_[g_next_];
        z = T(2) * y - z + h * f_z + g_z * dw;
        p.drift(t + h, cflat(z), f_next);
        p.diffusion(t + h, cflat(z), g_next);
        y += (T(0.5) * h) * (f_z + f_next) + T(0.5) * (g_z + g_next) * dw;
        work_.swap(f_, f_next_);
        work_.swap(g_, g_next_);
    }

    // The inverse of step(p, t, h, y, dw): from (y, z) at t + h back to t, with the same dw.
    template <sde_problem<T> P, class Y, class W>
    void step_back(P& p, T t, T h, Y&& state, const W& noise) {
        view<T> y = flat(state);
        const const_view<T> dw = cflat(noise);
        check_started(y.size(), dw.size());
        view<T> z = work_[z_], f_z = work_[f_], g_z = work_[g_], f_prev = work_[f_next_], g_prev = work_[g_next_];
        z = T(2) * y - z - h * f_z - g_z * dw;
        p.drift(t, cflat(z), f_prev);
        p.diffusion(t, cflat(z), g_prev);
        y -= (T(0.5) * h) * (f_z + f_prev) + T(0.5) * (g_z + g_prev) * dw;
        work_.swap(f_, f_next_);
        work_.swap(g_, g_next_);
    }

    // The auxiliary state (z equals y at the start; they differ by O(h) afterwards).
    [[nodiscard]] const_view<T> auxiliary() { return cflat(work_[z_]); }

private:
    void check_started(index state, index noise) const {
        require(started_, "reversible_heun", "not started", "start(problem, t0, y0) before the first step");
        work_.check(state, noise);
    }

    static constexpr int z_ = 0, f_ = 1, g_ = 2, f_next_ = 3, g_next_ = 4;
    detail::sde_work<T, 5> work_;
    bool started_ = false;
};

}  // namespace diffuse::ode
