// diffuse/sampler/lms.hpp: the linear multistep sampler of k-diffusion (sample_lms) and diffusers'
// LMSDiscreteScheduler: an Adams-Bashforth method on the Karras ODE dx/dsigma = d(x; sigma)
// (Karras et al. 2022, eq. 3) over the non-uniform sigma grid. With the last k <= order derivatives
// d_{i-j} at sigma_{i-j}, the step integrates their Lagrange interpolant over [sigma_i, sigma_{i+1}]:
//   x_{i+1} = x_i + sum_j c_j d_{i-j},   c_j = int_{sigma_i}^{sigma_{i+1}} prod_{m != j} (s - sigma_{i-m})/(sigma_{i-j}
//   - sigma_{i-m}) ds.
// The basis polynomial has degree k - 1 <= 3, so c_j is integrated exactly in closed form (k-diffusion
// and diffusers use scipy's adaptive quadrature, exact for polynomials to its tolerance).
#pragma once

#include <array>
#include <span>
#include <string_view>

#include "diffuse/sampler/detail/cache_blocks.hpp"
#include "diffuse/sampler/detail/kdiffusion.hpp"
#include "diffuse/sampler/detail/sampler_shell.hpp"

namespace diffuse::sampler {

namespace detail {

// c_j for the nodes sigma[i], sigma[i-1], ..., sigma[i-k+1] (k = nodes.size(), nodes[m] = sigma_{i-m})
// over [nodes[0], end]. The basis is expanded in u = s - nodes[0], whose powers stay small.
inline double lagrange_integral(std::span<const double> nodes, std::size_t j, double end) {
    std::array<double, 8> poly{};  // poly[p] is the coefficient of u^p
    poly[0] = 1.0;
    std::size_t degree = 0;
    for (std::size_t m = 0; m < nodes.size(); ++m) {
        if (m == j) continue;
        const double root = nodes[m] - nodes[0], scale = 1.0 / (nodes[j] - nodes[m]);
        // poly *= (u - root) * scale
        for (std::size_t p = degree + 1; p-- > 0;) {
            poly[p + 1] += poly[p] * scale;
            poly[p] *= -root * scale;
        }
        ++degree;
    }
    const double width = end - nodes[0];
    double integral = 0.0, power = width;
    for (std::size_t p = 0; p <= degree; ++p, power *= width) integral += poly[p] * power / static_cast<double>(p + 1);
    return integral;
}

}  // namespace detail

template <Real T>
struct lms_options {
    predict::prediction prediction = predict::prediction::epsilon;
    index order = 4;

    void validate() const { require(order >= 1 && order <= 4, "order", order, "an integer in [1, 4]"); }
};

template <Real T>
class lms : public detail::sampler_shell<lms<T>, lms_options<T>, sigma_grid<T>> {
public:
    using scalar = T;
    static constexpr std::string_view name = "LMS";

    using lms::sampler_shell::sampler_shell;

    class run : public detail::kdiffusion_run<T, run> {
        using base = detail::kdiffusion_run<T, run>;
        friend base;

    public:
        run(const lms& sampler, sigma_grid<T> grid, layout shape)
            : base(std::move(grid), shape, sampler.options().prediction, name), order_(sampler.options().order) {
            for (index j = 0; j < order_; ++j) history_[static_cast<std::size_t>(j)].resize(shape.size);
        }

        // The coefficients c_j of the current step (j = 0 for its own derivative), as diffusers'
        // get_lms_coefficient(order, step, j) returns them. The order warms up over the steps taken:
        // after a nonzero begin index (img2img) diffusers' LMSDiscrete keeps order min(step_index + 1, 4)
        // but has only the derivatives since the begin, so its first steps weigh the newest derivative
        // alone by the 4-node weight (not a consistent multistep rule); here they are orders 1, 2, ...
        [[nodiscard]] std::array<double, 4> coefficients() const {
            const index i = this->step_index(), k = std::min(this->steps_taken() + 1, order_);
            std::array<double, 4> nodes{}, c{};
            for (index m = 0; m < k; ++m)
                nodes[static_cast<std::size_t>(m)] = static_cast<double>(this->grid_[i - m].sigma);
            const double end = static_cast<double>(this->grid_[i + 1].sigma);
            for (index j = 0; j < k; ++j) {
                c[static_cast<std::size_t>(j)] =
                    detail::lagrange_integral(std::span<const double>(nodes.data(), static_cast<std::size_t>(k)),
                                              static_cast<std::size_t>(j), end);
            }
            return c;
        }

    private:
        template <class Noise>
        void update(const_view<T> output, view<T> x, Noise&) {
            const index i = this->step_index(), k = std::min(this->steps_taken() + 1, order_);
            const auto d = this->derivative();
            const auto slot = [&](index j) -> buffer<T>& {
                return history_[static_cast<std::size_t>((i - j) % order_)];
            };
            const auto c64 = coefficients();
            std::array<T, 4> c{};
            for (std::size_t j = 0; j < 4; ++j) c[j] = static_cast<T>(c64[j]);
            // The new derivative and the step that reads it in one pass, block by block.
            detail::for_each_block(x.size(), [&](index begin, index size) {
                const auto d_at = [&](index j) { return detail::block(slot(j), begin, size); };
                view<T> xb = detail::block(x, begin, size);
                d_at(0) = d.from_x * xb + d.from_output * detail::block(output, begin, size);
                switch (k) {
                    case 1:
                        xb += c[0] * d_at(0);
                        break;
                    case 2:
                        xb += c[0] * d_at(0) + c[1] * d_at(1);
                        break;
                    case 3:
                        xb += c[0] * d_at(0) + c[1] * d_at(1) + c[2] * d_at(2);
                        break;
                    default:
                        xb += c[0] * d_at(0) + c[1] * d_at(1) + c[2] * d_at(2) + c[3] * d_at(3);
                        break;
                }
            });
            this->finish_step();
        }

        index order_;
        std::array<buffer<T>, 4> history_;
    };
};

}  // namespace diffuse::sampler
