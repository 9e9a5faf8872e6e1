// diffuse/rf/fraction.hpp: exact rational numbers for receptive-field arithmetic.
//
// Receptive fields of convolutions and poolings are integers, but transposed convolutions and
// upsampling have a fractional stride 1/s (one input unit feeds s output units), and the centre
// of a receptive field is a half-integer when its size is even. A floating-point type would make
// the alignment check of Araujo et al. (an equality of strides and centres) depend on rounding,
// so the geometry is computed exactly with 64-bit rationals and converted to a Real type only
// for display (`to<T>()`). Every operation is constexpr; an overflow is reported as
// diffuse::error instead of being undefined behaviour.
#pragma once

#include <compare>
#include <numeric>
#include <string>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"

namespace diffuse::rf {

class fraction {
public:
    // Implicit from an integer: every integer receptive-field quantity is a fraction.
    constexpr fraction(index value = 0) : num_(value), den_(1) {}
    constexpr fraction(index numerator, index denominator) : num_(numerator), den_(denominator) {
        if (denominator == 0) throw invalid("fraction denominator", denominator, "a non-zero integer");
        normalize();
    }

    constexpr index num() const { return num_; }
    constexpr index den() const { return den_; }  // always > 0
    constexpr bool is_integer() const { return den_ == 1; }

    // Largest integer <= value, smallest integer >= value.
    constexpr index floor() const {
        const index q = num_ / den_;
        return (num_ % den_ != 0 && num_ < 0) ? q - 1 : q;
    }
    constexpr index ceil() const {
        const index q = num_ / den_;
        return (num_ % den_ != 0 && num_ > 0) ? q + 1 : q;
    }

    template <Real T>
    constexpr T to() const {
        return static_cast<T>(num_) / static_cast<T>(den_);
    }

    friend constexpr fraction operator+(fraction a, fraction b) {
        const index g = std::gcd(a.den_, b.den_);
        const index bd = b.den_ / g;
        return fraction(checked_add(checked_mul(a.num_, bd), checked_mul(b.num_, a.den_ / g)), checked_mul(a.den_, bd));
    }
    friend constexpr fraction operator-(fraction a) { return fraction(checked_mul(a.num_, -1), a.den_); }
    friend constexpr fraction operator-(fraction a, fraction b) { return a + (-b); }
    friend constexpr fraction operator*(fraction a, fraction b) {
        // Cross-reduce first so that products of reduced fractions stay small.
        const index g1 = std::gcd(a.num_, b.den_);  // >= 1: denominators are positive
        const index g2 = std::gcd(b.num_, a.den_);
        return fraction(checked_mul(a.num_ / g1, b.num_ / g2), checked_mul(a.den_ / g2, b.den_ / g1));
    }
    friend constexpr fraction operator/(fraction a, fraction b) {
        if (b.num_ == 0) throw invalid("fraction divisor", 0, "a non-zero number");
        return a * fraction(b.den_, b.num_);
    }
    constexpr fraction& operator+=(fraction b) { return *this = *this + b; }
    constexpr fraction& operator-=(fraction b) { return *this = *this - b; }
    constexpr fraction& operator*=(fraction b) { return *this = *this * b; }

    friend constexpr bool operator==(fraction a, fraction b) { return a.num_ == b.num_ && a.den_ == b.den_; }
    friend constexpr std::strong_ordering operator<=>(fraction a, fraction b) {
        return checked_mul(a.num_, b.den_) <=> checked_mul(b.num_, a.den_);
    }

    // "7", "-3/2": exact text for tables and messages.
    std::string str() const {
        std::string text = std::to_string(num_);
        if (den_ != 1) text.append("/").append(std::to_string(den_));
        return text;
    }

private:
    static constexpr index checked_mul(index a, index b) {
        index out = 0;
        if (__builtin_mul_overflow(a, b, &out)) throw overflow();
        return out;
    }
    static constexpr index checked_add(index a, index b) {
        index out = 0;
        if (__builtin_add_overflow(a, b, &out)) throw overflow();
        return out;
    }
    static error overflow() {
        return invalid("receptive-field arithmetic", "an intermediate value beyond 64 bits",
                       "networks whose sizes, strides and paddings stay within 64-bit integers");
    }
    constexpr void normalize() {
        if (den_ < 0) {
            num_ = checked_mul(num_, -1);
            den_ = checked_mul(den_, -1);
        }
        const index g = std::gcd(num_, den_);
        if (g > 1) {
            num_ /= g;
            den_ /= g;
        }
    }

    index num_;
    index den_;
};

}  // namespace diffuse::rf
