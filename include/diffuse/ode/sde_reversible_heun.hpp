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
class reversible_heun : public detail::sde_stepper_base<T, 5, sde_calculus::stratonovich> {
    using base = detail::sde_stepper_base<T, 5, sde_calculus::stratonovich>;

public:
    using base::base;

    // z = y and its drift and diffusion at t (every solve starts here).
    template <sde_problem<T> P, class Y>
    void start(P& p, T t, const Y& state) {
        const const_view<T> y = cflat(state);
        require_size("y.size()", y.size(), this->size());
        view<T> z = this->work(z_), f_z = this->work(f_), g_z = this->work(g_);
        z = y;
        p.drift(t, cflat(z), f_z);
        p.diffusion(t, cflat(z), g_z);
        started_ = true;
    }

    // From (y, z) at t to t + h.
    template <sde_problem<T> P, class Y, class W>
    void step(P& p, T t, T h, Y&& state, const W& noise) {
        const auto [y, dw] = this->views(state, noise);
        advance(p, t + h, h, y, dw, T(1));
    }

    // The inverse of step(p, t, h, y, dw): from (y, z) at t + h back to t, with the same dw. It is
    // the forward step with h and dW negated (the scheme is symmetric), evaluated at t.
    template <sde_problem<T> P, class Y, class W>
    void step_back(P& p, T t, T h, Y&& state, const W& noise) {
        const auto [y, dw] = this->views(state, noise);
        advance(p, t, h, y, dw, T(-1));
    }

    // The auxiliary state (z equals y at the start; they differ by O(h) afterwards).
    [[nodiscard]] const_view<T> auxiliary() { return cflat(this->work(z_)); }

private:
    // z' = 2 y - z + s (h f_z + g_z dW), (f_z', g_z') at (t_next, z'),
    // y' = y + s ((f_z + f_z') h / 2 + (g_z + g_z') dW / 2), s = +1 forward and -1 backward.
    template <class P>
    void advance(P& p, T t_next, T h, view<T> y, const_view<T> dw, T direction) {
        require(started_, "reversible_heun", "not started", "start(problem, t0, y0) before the first step");
        view<T> z = this->work(z_), f_z = this->work(f_), g_z = this->work(g_);
        view<T> f_next = this->work(f_next_), g_next = this->work(g_next_);
        z = T(2) * y - z + direction * (h * f_z + g_z * dw);
        p.drift(t_next, cflat(z), f_next);
        p.diffusion(t_next, cflat(z), g_next);
        y += direction * ((T(0.5) * h) * (f_z + f_next) + T(0.5) * (g_z + g_next) * dw);
        this->swap_work(f_, f_next_);
        this->swap_work(g_, g_next_);
    }

    static constexpr int z_ = 0, f_ = 1, g_ = 2, f_next_ = 3, g_next_ = 4;
    bool started_ = false;
};

}  // namespace diffuse::ode
