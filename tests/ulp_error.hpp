// tests/ulp_error.hpp: the error unit of the activation accuracy sweeps
// (tests/test_activations_accuracy.cpp and the exhaustive bench/activations_float_sweep.cpp):
// |got - ref| in units in the last place of the reference in the tested type T.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

namespace diffuse::testing {

// ULP of max(|ref|, scale) in T: the denormal spacing below the normal range. A nonzero
// `scale` measures a result that crosses zero in ULP of the largest term of its formula (the
// condition of the problem). A NaN reference wants NaN; a reference that rounds to +-inf in T
// wants that infinity; any other non-finite result counts as 1e30.
template <class T>
long double ulp_error(T got, long double ref, long double scale = 0) {
    const T ref_t = static_cast<T>(ref);
    if (std::isnan(ref)) return std::isnan(got) ? 0 : 1e30L;
    if (std::isinf(ref_t)) return got == ref_t ? 0 : 1e30L;
    if (!std::isfinite(got)) return 1e30L;
    const long double magnitude = std::max(std::fabs(ref), scale);
    int exponent = 0;
    std::frexp(magnitude, &exponent);
    constexpr int digits = std::numeric_limits<T>::digits;
    constexpr int lowest = std::numeric_limits<T>::min_exponent - digits;
    const long double ulp = std::ldexp(1.0L, std::max(exponent - digits, lowest));
    return std::fabs(static_cast<long double>(got) - ref) / ulp;
}

}  // namespace diffuse::testing
