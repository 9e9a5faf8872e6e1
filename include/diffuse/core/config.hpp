// diffuse/core/config.hpp: version, the Real concept, index type, assertions.
#pragma once

#include <concepts>
#include <cstddef>
#include <type_traits>

#define DIFFUSE_VERSION_MAJOR 0
#define DIFFUSE_VERSION_MINOR 1
#define DIFFUSE_VERSION_PATCH 0

// Internal invariants (not user input: user input is checked with diffuse::require and
// reported as diffuse::error). Compiled out unless DIFFUSE_ENABLE_ASSERTS is defined.
#ifdef DIFFUSE_ENABLE_ASSERTS
#include <cassert>
#define DIFFUSE_ASSERT(cond) assert(cond)
#else
#define DIFFUSE_ASSERT(cond) ((void)0)
#endif

namespace diffuse {

// The scalar types every module is instantiated and tested with.
template <class T>
concept Real = std::same_as<std::remove_cv_t<T>, float> || std::same_as<std::remove_cv_t<T>, double>;

// Signed index type used for sizes and loop counters (matches Eigen::Index).
using index = std::ptrdiff_t;

}  // namespace diffuse
