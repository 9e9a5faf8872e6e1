// The instruction set a kernel test was compiled for, printed by its first test case and checked
// against DIFFUSE_EXPECT_ISA when that is set: scripts/test's fixed-ISA passes (DIFFUSE_ARCH=x86-64,
// x86-64-v3, x86-64-v4) set it, so a pass whose -march did not reach the test (and which would
// therefore test the same kernel path twice) fails instead of passing quietly.
#pragma once

#include <catch2/catch.hpp>

#include <Eigen/Core>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace diffuse_test {

// The kernel path Eigen's packets and the library's #if branches (core/simd.hpp,
// core/detail/philox_lanes.hpp, nn/detail/quarter_octaves.hpp) select.
inline const char* compiled_isa() {
#if defined(EIGEN_VECTORIZE_AVX512)
    return "avx512";
#elif defined(EIGEN_VECTORIZE_AVX2) && defined(EIGEN_VECTORIZE_FMA)
    return "avx2-fma";
#elif defined(EIGEN_VECTORIZE_AVX)
    return "avx";
#elif defined(EIGEN_VECTORIZE_SSE2) && !defined(EIGEN_VECTORIZE_FMA)
    return "sse2";
#elif defined(EIGEN_VECTORIZE)
    return "other-vector";
#else
    return "scalar";
#endif
}

inline constexpr bool compiled_fma =
#if defined(EIGEN_VECTORIZE_FMA)
    true;
#else
    false;
#endif

}  // namespace diffuse_test

TEST_CASE("the compiled instruction set is the one the build asked for", "[isa]") {
    const std::string isa = diffuse_test::compiled_isa();
    std::printf("compiled for %s: %d float / %d double lanes per packet, hardware FMA %s\n", isa.c_str(),
                Eigen::internal::packet_traits<float>::size, Eigen::internal::packet_traits<double>::size,
                diffuse_test::compiled_fma ? "yes" : "no");
    if (const char* expected = std::getenv("DIFFUSE_EXPECT_ISA")) CHECK(isa == expected);
}
