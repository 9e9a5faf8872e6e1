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

// Packet kernels (core/simd.hpp, nn/) are forced inline: GCC stops inlining in a large
// translation unit once it has grown by its unit-growth budget, and an out-of-line packet
// kernel reloads its constants and spills on every call (measured: SiLU 3.35 -> 2.24 Gelem/s,
// softplus 1.20 -> 0.84 in bench_activations, where they were not inlined).
// Not under AddressSanitizer (a build that checks, not measures), where forcing it costs
// compile time: about a minute of CI for the activation and MLP tests.
// (GCC says __SANITIZE_ADDRESS__, clang __has_feature(address_sanitizer).)
#if defined(__SANITIZE_ADDRESS__)
#define DIFFUSE_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DIFFUSE_UNDER_ASAN 1
#endif
#endif
#if defined(DIFFUSE_UNDER_ASAN)
#define DIFFUSE_ALWAYS_INLINE inline
#elif defined(__GNUC__) || defined(__clang__)
#define DIFFUSE_ALWAYS_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define DIFFUSE_ALWAYS_INLINE __forceinline
#else
#define DIFFUSE_ALWAYS_INLINE inline
#endif
// The opposite, for the loops over buffers (nn::apply): a loop inlined into a large caller can
// lose the scalarization of the kernels' small structs (GCC then writes them to the stack on
// every packet: measured SiLU 2.4 against 3.1 Gelem/s); in a function of its own it cannot.
#if defined(__GNUC__) || defined(__clang__)
#define DIFFUSE_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define DIFFUSE_NOINLINE __declspec(noinline)
#else
#define DIFFUSE_NOINLINE
#endif

// Whether std::string can be used in constant expressions, which the receptive-field module's
// compile-time evaluation needs (rf/: layer labels and network names are std::strings). GCC 12
// with its libstdc++ can; clang 14 with libstdc++ 12 (Debian 12's pair) cannot: it rejects
// libstdc++'s constant-evaluated string constructor. So with clang on libstdc++ it is 0 and rf/
// works at run time only; define it to 1 where your clang and libstdc++ evaluate std::string.
#if !defined(DIFFUSE_CONSTEXPR_STRING)
#if defined(__clang__) && defined(__GLIBCXX__)
#define DIFFUSE_CONSTEXPR_STRING 0
#else
#define DIFFUSE_CONSTEXPR_STRING 1
#endif
#endif

namespace diffuse {

// The scalar types every module is instantiated and tested with.
template <class T>
concept Real = std::same_as < std::remove_cv_t<T>,
float > || std::same_as<std::remove_cv_t<T>, double>;

// Signed index type used for sizes and loop counters (matches Eigen::Index).
using index = std::ptrdiff_t;

}  // namespace diffuse
