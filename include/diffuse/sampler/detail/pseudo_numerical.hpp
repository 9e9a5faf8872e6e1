// diffuse/sampler/detail/pseudo_numerical.hpp: what PNDM (pndm.hpp) and iPNDM (ipndm.hpp) share.
//
// Both are "pseudo numerical methods" (Liu et al. 2022, "Pseudo Numerical Methods for Diffusion
// Models on Manifolds", sec. 3): a classical scheme (Runge-Kutta, Adams-Bashforth) combines noise
// predictions eps, and the DDIM transfer phi(x, eps, t -> t') moves x along the data manifold with
// the combined eps. Shared here:
//   - the DDIM transfer written in eps (PNDM eq. 9 / DDIM eq. 12 with eta = 0),
//   - the equal-step Adams-Bashforth weights of the linear multistep part (PNDM eq. 12,
//     iPNDM in Zhang & Chen 2023, "DEIS", sec. 5 and App. D),
//   - the ring of past eps the multistep part combines.
#pragma once

#include <array>
#include <cmath>

#include "diffuse/core/view.hpp"
#include "diffuse/predict/parameterization.hpp"
#include "diffuse/sampler/detail/cache_blocks.hpp"

namespace diffuse::sampler::detail {

// x' = on_x x + on_eps eps.
template <Real T>
struct eps_transfer {
    T on_x;
    T on_eps;
};

// The DDIM transfer from alphabar `ab` to `ab_to` (PNDM eq. 9):
//   x' = sqrt(ab'/ab) x - (ab' - ab) / (ab sqrt(1 - ab') + sqrt(ab (1 - ab) ab')) eps,
// which is DDIM's x' = sqrt(ab') x0 + sqrt(1 - ab') eps with x0 = (x - sqrt(1 - ab) eps)/sqrt(ab)
// rationalized so that no two nearly equal terms are subtracted (diffusers' _get_prev_sample).
template <Real T>
eps_transfer<T> ddim_transfer(T ab, T ab_to) {
    const T denominator = ab * std::sqrt(T(1) - ab_to) + std::sqrt(ab * (T(1) - ab) * ab_to);
    return {std::sqrt(ab_to / ab), -(ab_to - ab) / denominator};
}

// The same transfer between two levels of a sigma grid (x/alpha = x0 + sigma eps): in the denoiser
// state x' = x + (sigma' - sigma) eps; in the model state x' = alpha' (x/alpha + (sigma' - sigma) eps).
template <Real T>
eps_transfer<T> ddim_transfer(T sigma, T alpha, T sigma_to, T alpha_to, bool model_state) {
    if (!model_state) return {T(1), sigma_to - sigma};
    return {alpha_to / alpha, alpha_to * (sigma_to - sigma)};
}

// Adams-Bashforth weights for `count` (1..4) past values on equal steps, newest first
// (Hairer, Norsett, Wanner, "Solving ODEs I", III.1, Table 1.1; PNDM eq. 12 uses the 4-value row).
template <Real T>
std::array<T, 4> adams_bashforth(index count) {
    switch (count) {
        case 1:
            return {T(1), T(0), T(0), T(0)};
        case 2:
            return {T(3) / T(2), T(-1) / T(2), T(0), T(0)};
        case 3:
            return {T(23) / T(12), T(-16) / T(12), T(5) / T(12), T(0)};
        default:
            return {T(55) / T(24), T(-59) / T(24), T(37) / T(24), T(-9) / T(24)};
    }
}

// The last (up to) four eps of a multistep run, sized once when the run starts.
template <Real T>
class eps_history {
public:
    eps_history(index order, index size) : order_(order) {
        for (index j = 0; j < order; ++j) slots_[static_cast<std::size_t>(j)].resize(size);
    }

    // Records eps = form(x, output) as the newest entry, then runs pass(begin, count) over the same
    // elements block by block (cache_blocks.hpp): one pass through memory for the conversion and the
    // update that reads it.
    template <class Pass>
    void push(const_view<T> x, const_view<T> output, const predict::linear_form<T>& eps, Pass&& pass) {
        newest_ = (newest_ + 1) % order_;
        ++count_;
        buffer<T>& e = slots_[static_cast<std::size_t>(newest_)];
        for_each_block(x.size(), [&](index begin, index size) {
            if (eps.from_x == T(0)) {
                block(e, begin, size) = eps.from_output * block(output, begin, size);
            } else {
                block(e, begin, size) =
                    eps.from_x * block(x, begin, size) + eps.from_output * block(output, begin, size);
            }
            pass(begin, size);
        });
    }
    // The entry `age` steps old (0: newest).
    [[nodiscard]] const buffer<T>& operator[](index age) const {
        return slots_[static_cast<std::size_t>((newest_ - age + order_) % order_)];
    }
    [[nodiscard]] index available() const { return std::min(count_, order_); }

    // The elements [begin, begin + size) of x = on_x x + on_eps (Adams-Bashforth combination of the
    // available entries).
    void multistep(view<T> x, const eps_transfer<T>& tr, index begin, index size) const {
        const auto c = adams_bashforth<T>(available());
        const auto e = [&](index age) { return block((*this)[age], begin, size); };
        view<T> xb = block(x, begin, size);
        switch (available()) {
            case 1:
                xb = tr.on_x * xb + tr.on_eps * e(0);
                break;
            case 2:
                xb = tr.on_x * xb + tr.on_eps * (c[0] * e(0) + c[1] * e(1));
                break;
            case 3:
                xb = tr.on_x * xb + tr.on_eps * (c[0] * e(0) + c[1] * e(1) + c[2] * e(2));
                break;
            default:
                xb = tr.on_x * xb + tr.on_eps * (c[0] * e(0) + c[1] * e(1) + c[2] * e(2) + c[3] * e(3));
                break;
        }
    }
    // Records eps and takes the multistep update with it, one pass.
    void push_multistep(view<T> x, const_view<T> output, const predict::linear_form<T>& eps,
                        const eps_transfer<T>& tr) {
        push(cflat(x), output, eps, [&](index begin, index size) { multistep(x, tr, begin, size); });
    }

private:
    index order_;
    index newest_ = -1;
    index count_ = 0;
    std::array<buffer<T>, 4> slots_;
};

}  // namespace diffuse::sampler::detail
