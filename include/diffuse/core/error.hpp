// diffuse/core/error.hpp: the one exception type of the library, and the helpers that build
// its messages so that every message names the parameter, the value and what is allowed.
#pragma once

#include <cmath>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace diffuse {

// Thrown for invalid arguments (wrong sizes, out-of-range parameters, unknown names) and for
// numerical failures the caller asked to be told about (NaN/Inf from a model).
class error : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

// A value already formatted for a message (printed as is, without the quotes strings get).
struct formatted {
    std::string text;
    friend std::ostream& operator<<(std::ostream& out, const formatted& f) { return out << f.text; }
};

namespace detail {

template <class V>
void append_value(std::ostringstream& out, const V& value) {
    if constexpr (std::is_convertible_v<const V&, std::string_view>) {
        out << '"' << std::string_view(value) << '"';
    } else if constexpr (std::is_floating_point_v<V>) {
        out.precision(17);
        out << value;
    } else {
        out << value;
    }
}

}  // namespace detail

// Builds "diffuse: <parameter> = <value> is invalid; allowed: <allowed>".
template <class V>
[[nodiscard]] error invalid(std::string_view parameter, const V& value, std::string_view allowed) {
    std::ostringstream out;
    out << "diffuse: " << parameter << " = ";
    detail::append_value(out, value);
    out << " is invalid; allowed: " << allowed;
    return error(out.str());
}

// Throws invalid(...) unless `condition` holds.
template <class V>
void require(bool condition, std::string_view parameter, const V& value, std::string_view allowed) {
    if (!condition) throw invalid(parameter, value, allowed);
}

// Common range checks, phrased once so messages are uniform.
template <class V>
void require_finite(std::string_view parameter, V value) {
    require(std::isfinite(static_cast<double>(value)), parameter, value, "a finite number");
}

template <class V>
void require_in_closed(std::string_view parameter, V value, V lo, V hi) {
    if (!(value >= lo && value <= hi)) {
        std::ostringstream allowed;
        allowed.precision(17);
        allowed << '[' << lo << ", " << hi << ']';
        throw invalid(parameter, value, allowed.str());
    }
}

template <class V>
void require_positive(std::string_view parameter, V value) {
    require(value > V(0) && std::isfinite(static_cast<double>(value)), parameter, value, "a finite number > 0");
}

}  // namespace diffuse
