// diffuse/rf/offset.hpp: a position on an axis known up to unknown paddings.
//
// TensorFlow 'SAME' padding with a stride > 1 depends on the input size, so without it the left
// padding p_l of such a layer is an unknown. Positions (window starts, centres, effective
// paddings) are then affine in these unknowns: constant + sum_k c_k u_k. Two positions with the
// same unknown terms still have a known difference, so two paths that share an unknown layer can
// still be checked for alignment (google-research/receptive_field skips the check instead).
#pragma once

#include <vector>

#include "diffuse/core/config.hpp"
#include "diffuse/rf/fraction.hpp"

namespace diffuse::rf {

class offset {
public:
    struct term {
        index symbol;  // which unknown (a node id, or a position in a path)
        fraction coefficient;
        friend constexpr bool operator==(const term&, const term&) = default;
    };

    constexpr offset(fraction constant = 0) : constant_(constant) {}
    static constexpr offset unknown(index symbol, fraction coefficient = 1) {
        offset o;
        if (coefficient != 0) o.terms_.push_back({symbol, coefficient});
        return o;
    }

    constexpr bool known() const { return terms_.empty(); }
    constexpr fraction constant() const { return constant_; }
    // Whether a - b is known: both depend on the same unknowns in the same way.
    constexpr bool comparable(const offset& other) const { return terms_ == other.terms_; }

    friend constexpr offset operator+(const offset& a, const offset& b) {
        offset out(a.constant_ + b.constant_);
        std::size_t i = 0;
        std::size_t j = 0;
        while (i < a.terms_.size() || j < b.terms_.size()) {
            if (j == b.terms_.size() || (i < a.terms_.size() && a.terms_[i].symbol < b.terms_[j].symbol)) {
                out.terms_.push_back(a.terms_[i++]);
            } else if (i == a.terms_.size() || b.terms_[j].symbol < a.terms_[i].symbol) {
                out.terms_.push_back(b.terms_[j++]);
            } else {
                const fraction c = a.terms_[i++].coefficient + b.terms_[j++].coefficient;
                if (c != 0) out.terms_.push_back({a.terms_[i - 1].symbol, c});
            }
        }
        return out;
    }
    friend constexpr offset operator*(fraction k, const offset& a) {
        if (k == 0) return offset();
        offset out(k * a.constant_);
        for (const term& t : a.terms_) out.terms_.push_back({t.symbol, k * t.coefficient});
        return out;
    }
    friend constexpr offset operator-(const offset& a, const offset& b) { return a + fraction(-1) * b; }
    friend constexpr bool operator==(const offset&, const offset&) = default;

private:
    fraction constant_;
    std::vector<term> terms_;  // sorted by symbol, non-zero coefficients
};

}  // namespace diffuse::rf
