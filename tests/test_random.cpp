// Tests for diffuse/core/random.hpp: Philox4x32-10 known answers, the documented counter/element
// mapping, order- and thread-independence of fills, statistics of the draws, the generator.
#include <catch2/catch.hpp>

#include <unsupported/Eigen/CXX11/Tensor>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>
#include <numeric>
#include <thread>
#include <utility>
#include <vector>

#include "compiled_isa.hpp"
#include "diffuse/core/random.hpp"

namespace rnd = diffuse::random;
using diffuse::buffer;
using diffuse::flat;
using rnd::u32;
using rnd::u64;

namespace {

// Random123 kat_vectors, "philox4x32 10" lines (counter, key -> output), also listed in
// /work/shared/reference/numerics.md.
constexpr std::array<u32, 4> kat_zero = rnd::philox4x32_10({0u, 0u, 0u, 0u}, {0u, 0u});
constexpr std::array<u32, 4> kat_ones =
    rnd::philox4x32_10({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu});
constexpr std::array<u32, 4> kat_pi =
    rnd::philox4x32_10({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u});
static_assert(kat_zero == std::array<u32, 4>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
static_assert(kat_ones == std::array<u32, 4>{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
static_assert(kat_pi == std::array<u32, 4>{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});

// The mapping of docs/random.md, written out independently of the library's tile code.
template <class T>
long double documented_uniform(u64 seed, u64 stream, u64 element) {
    constexpr u64 lanes = sizeof(T) == 4 ? 4 : 2;
    const u64 block_index = element / lanes;
    const std::array<u32, 4> words = rnd::philox4x32_10(
        {u32(block_index), u32(block_index >> 32), u32(stream), u32(stream >> 32)}, {u32(seed), u32(seed >> 32)});
    if constexpr (sizeof(T) == 4) {
        const u32 w = words[element % 4];
        return (static_cast<long double>(w >> 9) + 0.5L) / 8388608.0L;  // 2^23
    } else {
        const u64 j = element % 2;
        const u64 mantissa = (u64(words[2 * j]) << 20) | (words[2 * j + 1] >> 12);
        return (static_cast<long double>(mantissa) + 0.5L) / 4503599627370496.0L;  // 2^52
    }
}

template <class T>
long double documented_normal(u64 seed, u64 stream, u64 element) {
    const u64 first = element - element % 2;
    const long double u1 = documented_uniform<T>(seed, stream, first);
    const long double u2 = documented_uniform<T>(seed, stream, first + 1);
    const long double radius = std::sqrt(-2.0L * std::log(u1));
    const long double theta = 2.0L * std::numbers::pi_v<long double> * u2;
    return element % 2 == 0 ? radius * std::cos(theta) : radius * std::sin(theta);
}

double normal_cdf(double x) {
    return 0.5 * std::erfc(-x / std::numbers::sqrt2);
}

// Kolmogorov-Smirnov statistic D_n = sup |F_n(x) - F(x)| of a sample against the CDF F.
template <class T, class Cdf>
double ks_statistic(std::vector<T> sample, Cdf cdf) {
    std::sort(sample.begin(), sample.end());
    const double n = static_cast<double>(sample.size());
    double d = 0;
    for (std::size_t i = 0; i < sample.size(); ++i) {
        const double f = cdf(static_cast<double>(sample[i]));
        d = std::max({d, (static_cast<double>(i) + 1) / n - f, f - static_cast<double>(i) / n});
    }
    return d;
}
// Asymptotic critical value of the Kolmogorov distribution at alpha = 0.01: K = 1.6276
// (Smirnov 1948 table; Marsaglia, Tsang, Wang, J. Stat. Softw. 8(18), 2003), rounded up.
double ks_critical_001(std::size_t n) {
    return 1.63 / std::sqrt(static_cast<double>(n));
}

struct moments {
    double mean, variance, skewness, excess_kurtosis;
};
template <class T>
moments sample_moments(const std::vector<T>& x) {
    const double n = static_cast<double>(x.size());
    double mean = 0;
    for (T v : x) mean += v;
    mean /= n;
    double m2 = 0, m3 = 0, m4 = 0;
    for (T v : x) {
        const double d = v - mean;
        m2 += d * d;
        m3 += d * d * d;
        m4 += d * d * d * d;
    }
    m2 /= n;
    m3 /= n;
    m4 /= n;
    return {mean, m2, m3 / std::pow(m2, 1.5), m4 / (m2 * m2) - 3};
}

template <class T>
double correlation(const T* a, const T* b, std::size_t n) {
    double sa = 0, sb = 0, sab = 0, saa = 0, sbb = 0;
    for (std::size_t i = 0; i < n; ++i) {
        sa += a[i];
        sb += b[i];
        sab += double(a[i]) * b[i];
        saa += double(a[i]) * a[i];
        sbb += double(b[i]) * b[i];
    }
    const double dn = static_cast<double>(n);
    const double cov = sab / dn - sa / dn * sb / dn;
    return cov / std::sqrt((saa / dn - sa / dn * sa / dn) * (sbb / dn - sb / dn * sb / dn));
}

template <class T>
bool bitwise_equal(const buffer<T>& a, const buffer<T>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(T) * static_cast<std::size_t>(a.size())) == 0;
}

template <class T>
buffer<T> normals(std::size_t n, u64 seed, u64 stream, u64 first_element) {
    buffer<T> out(static_cast<diffuse::index>(n));
    rnd::fill_normal<T>(flat(out), seed, stream, first_element);
    return out;
}

}  // namespace

TEST_CASE("Philox4x32-10 matches the Random123 known-answer vectors", "[random][philox]") {
    // Random123 kat_vectors (also checked at compile time above).
    CHECK(rnd::philox4x32_10({0, 0, 0, 0}, {0, 0}) ==
          std::array<u32, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
    CHECK(rnd::philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}) ==
          std::array<u32, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
    CHECK(rnd::philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}) ==
          std::array<u32, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
    // block() is Philox of (block low, block high, stream low, stream high) under (seed low, seed high).
    CHECK(rnd::block(0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3243f6a88ull) == kat_pi);
}

TEMPLATE_TEST_CASE("uniforms follow the documented bit mapping and lie in the open interval (0, 1)",
                   "[random][uniform]", float, double) {
    using T = TestType;
    constexpr int p = std::numeric_limits<T>::digits - 1;  // 23 or 52 random bits
    const u32 zeros[2] = {0, 0};
    const u32 ones[2] = {0xffffffffu, 0xffffffffu};
    CHECK(rnd::uniform_from_words<T>(zeros) == std::ldexp(T(1), -(p + 1)));
    CHECK(rnd::uniform_from_words<T>(ones) == T(1) - std::ldexp(T(1), -(p + 1)));
    CHECK(rnd::uniform_from_words<T>(ones) < T(1));

    // Elements around a block-index carry into the high counter word, with seed and stream
    // using both of their words.
    const u64 seed = 0x0123456789abcdefull, stream = 0x00000003fffffffdull;
    const u64 first = rnd::lanes<T> * (u64(1) << 32) - 37;
    buffer<T> u(101);
    rnd::fill_uniform<T>(flat(u), seed, stream, first);
    for (diffuse::index i = 0; i < u.size(); ++i) {
        INFO("element " << first + u64(i));
        CHECK(static_cast<long double>(u[i]) == documented_uniform<T>(seed, stream, first + u64(i)));
    }
    // The highest representable element index.
    buffer<T> last(3);
    rnd::fill_uniform<T>(flat(last), seed, stream, std::numeric_limits<u64>::max() - 2);
    CHECK(static_cast<long double>(last[2]) == documented_uniform<T>(seed, stream, std::numeric_limits<u64>::max()));
}

TEMPLATE_TEST_CASE("normals are Box-Muller of the documented uniform pairs", "[random][normal]", float, double) {
    using T = TestType;
    const u64 seed = 0xfedcba9876543210ull, stream = 0x100000007ull;
    const u64 first = 1001;  // odd: the fill starts at the sine half of a pair
    const buffer<T> z = normals<T>(4099, seed, stream, first);
    // Measured worst case 2.8 eps relative (log, sqrt and the Taylor sin/cos each add about one ulp).
    const long double tolerance = 4 * static_cast<long double>(std::numeric_limits<T>::epsilon());
    long double worst = 0;
    for (diffuse::index i = 0; i < z.size(); ++i) {
        const long double expected = documented_normal<T>(seed, stream, first + u64(i));
        worst = std::max(worst, std::fabs(z[i] - expected) / std::max(1.0L, std::fabs(expected)));
    }
    INFO("worst relative error / eps = " << worst / std::numeric_limits<T>::epsilon());
    CHECK(worst <= tolerance);
}

TEMPLATE_TEST_CASE("the angle's range reduction in turns is exact in every octant", "[random][normal]", float, double) {
    using T = TestType;
    // First words covering all eight octants (top three bits) at the octant's lowest and highest
    // mantissa; the second word fills the low mantissa bits of a double.
    for (u32 octant = 0; octant < 8; ++octant) {
        for (const u32 low_bits : {0u, 0x1fffffffu, 0x0badf00du}) {
            const u32 words[2] = {(octant << 29) | low_bits, 0xffffffffu};
            const T u_t = rnd::uniform_from_words<T>(words);
            const long double u = u_t;
            const auto angle = rnd::detail::reduce_turns(u_t);
            const long double theta = 2 * std::numbers::pi_v<long double> * u;
            const long double x = 2 * std::numbers::pi_v<long double> * static_cast<long double>(angle.f);
            INFO("octant " << octant << ", u = " << static_cast<double>(u));
            CHECK(std::fabs(angle.f) <= T(0.125));
            CHECK(angle.cos_q * angle.cos_q + angle.sin_q * angle.sin_q == T(1));
            // u - f is a whole number of quarter turns, exactly.
            const long double quarters = (u - static_cast<long double>(angle.f)) * 4;
            CHECK(quarters == std::round(quarters));
            CHECK(std::round(std::cos(quarters * std::numbers::pi_v<long double> / 2)) == angle.cos_q);
            CHECK(std::round(std::sin(quarters * std::numbers::pi_v<long double> / 2)) == angle.sin_q);
            CHECK(std::fabs(angle.cos_q * std::sin(x) + angle.sin_q * std::cos(x) - std::sin(theta)) < 1e-15L);
            CHECK(std::fabs(angle.cos_q * std::cos(x) - angle.sin_q * std::sin(x) - std::cos(theta)) < 1e-15L);
        }
    }
}

TEMPLATE_TEST_CASE("vectorized fills equal the one-element reference bit for bit", "[random][reproducible]", float,
                   double) {
    using T = TestType;
    // The reference computes each element alone: the scalar Philox (philox4x32_10), the documented
    // uniform mapping, and the Box-Muller kernel in one packet lane. The fills compute packets of
    // blocks in the integer lanes (x86) or tiles (elsewhere), start and end anywhere inside a group,
    // and write to any address. Any lane, shuffle, tail or alignment mistake changes a bit here.
    const u64 seeds[] = {0, 1, 0xfedcba9876543210ull, ~u64(0)};
    const u64 streams[] = {0, 5, (u64(1) << 32) + 3};
    // Group starts and ends (multiples of 2, 4, 32, 64, 128, 256 elements and of this build's
    // normal and uniform groups, +-1), a block index that carries into the high counter word
    // (the groups that cross it run Philox's ten full rounds, the others fold the first two), and
    // the last elements before 2^64.
    constexpr u64 gn = rnd::detail::normal_group_elements<T>, gu = rnd::detail::uniform_group_elements<T>;
    const u64 carry = rnd::lanes<T> * (u64(1) << 32) - 7, last = ~u64(0) - 600;
    const u64 firsts[] = {0,   1,      2,      3,          5,      31,     33,         127,   129, 255,
                          257, gn - 1, gn + 1, 3 * gn - 1, gu - 1, gu + 1, 3 * gu - 1, carry, last};
    const std::size_t sizes[] = {1, 2, 3, 7, 31, 32, 33, 65, 129, 257, 520};
    std::vector<T> z(600), u(600);
    std::size_t checked = 0, mismatches = 0;
    for (const u64 seed : seeds) {
        for (const u64 stream : streams) {
            for (const u64 first : firsts) {
                for (const std::size_t n : sizes) {
                    // Start one element past the allocation's alignment: the stores are unaligned.
                    rnd::fill_normal<T>(flat(z.data() + 1, static_cast<diffuse::index>(n)), seed, stream, first);
                    rnd::fill_uniform<T>(flat(u.data() + 1, static_cast<diffuse::index>(n)), seed, stream, first);
                    for (std::size_t i = 0; i < n; ++i) {
                        const u64 element = first + i;
                        const auto pair = rnd::detail::normal_pair_at<T>(seed, stream, element / 2);
                        const T expected_z = element % 2 == 0 ? pair.cos_part : pair.sin_part;
                        const std::array<u32, 4> words = rnd::block(seed, stream, element / rnd::lanes<T>);
                        const T expected_u = rnd::uniform_from_words<T>(words.data() + rnd::words_per_element<T> *
                                                                                           (element % rnd::lanes<T>));
                        mismatches += std::memcmp(&z[i + 1], &expected_z, sizeof(T)) != 0;
                        mismatches += std::memcmp(&u[i + 1], &expected_u, sizeof(T)) != 0;
                        checked += 2;
                    }
                }
            }
        }
    }
    INFO(checked << " elements checked");
    CHECK(mismatches == 0);
    CHECK(checked == 2 * std::size(seeds) * std::size(streams) * std::size(firsts) *
                         std::accumulate(std::begin(sizes), std::end(sizes), std::size_t{0}));
}

#if defined(DIFFUSE_PHILOX_LANES)
// Packet types as template arguments carry alignment attributes GCC warns about.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
TEST_CASE("the x86 float kernel from the Philox words equals the Box-Muller definition for every uniform",
          "[random][reproducible]") {
    // The float fills compute the radius from u1 (Eigen's plog_float without its special-value
    // branches, psqrt's Newton step with -s/2 taken from the log) and the angle from u2's word
    // (integer turn reduction, the quadrant as a swap and two sign flips) instead of the
    // definition's box_muller_radius and box_muller_angle, for lockstep_packets packets at once.
    // Both halves are compared bit for bit for all 2^23 float uniforms, the word's ignored low 9
    // bits varied, each packet of the lockstep with other uniforms; the normals they make in the
    // fills are compared with the definition in the test above.
    namespace rd = rnd::detail;
    using P = diffuse::simd::packet<float>;
    constexpr int K = rd::lockstep_packets;
    constexpr u32 size = Eigen::internal::unpacket_traits<P>::size;
    alignas(64) std::array<u32, size> words;
    std::size_t radius_mismatches = 0, angle_mismatches = 0, checked = 0;
    const auto differ = [](const P& a, const P& b) { return std::memcmp(&a, &b, sizeof(P)) != 0; };
    for (u32 m = 0; m < (u32(1) << 23); m += K * size) {
        // Packet k holds the uniforms m + k size + i; as u2 the kernel gets the words of a
        // different packet (the next one, cyclically), so the radius and the angle of one call
        // come from different uniforms.
        std::array<rd::word_lanes::words, K> first, second;
        for (int k = 0; k < K; ++k) {
            for (u32 i = 0; i < size; ++i) {
                const u32 n = m + u32(k) * size + i;
                words[i] = (n << 9) | (n * 2654435761u >> 23);
            }
            first[k] = std::bit_cast<rd::word_lanes::words>(words);
        }
        for (int k = 0; k < K; ++k) second[k] = first[(k + 1) % K];
        const auto fast = rd::polar_from_words<P, K>(first, second);
        for (int k = 0; k < K; ++k) {
            radius_mismatches += differ(fast.radius[k], rd::box_muller_radius(rd::uniform_packet<float>(first[k])));
            const auto definition = rd::box_muller_angle(rd::uniform_packet<float>(second[k]));
            angle_mismatches +=
                differ(fast.cos_theta[k], definition.cos_theta) || differ(fast.sin_theta[k], definition.sin_theta);
            checked += size;
        }
    }
    CHECK(checked == (std::size_t(1) << 23));
    CHECK(radius_mismatches == 0);
    CHECK(angle_mismatches == 0);
}

TEST_CASE("the x86 double radius equals the Box-Muller definition", "[random][reproducible]") {
    // The double fills compute sqrt(-2 ln u1) with Eigen's plog_double without its special-value
    // branches (radius_of_double_uniform) instead of the definition's box_muller_radius. 2^20
    // uniforms from Philox words (all 52 mantissa bits random, every exponent the uniforms reach
    // with its share), then the edges: the smallest and largest uniforms, both sides of every
    // power of two and of sqrt(1/2) times a power of two (where the log's branch switches).
    namespace rd = rnd::detail;
    using P = diffuse::simd::packet<double>;
    constexpr int size = Eigen::internal::unpacket_traits<P>::size;
    std::vector<double> uniforms;
    for (u64 b = 0; b < (u64(1) << 19); ++b) {
        const std::array<u32, 4> words = rnd::block(7, 11, b);
        for (int j = 0; j < 2; ++j) uniforms.push_back(rnd::uniform_from_words<double>(words.data() + 2 * j));
    }
    const double step = 0x1p-52, smallest = 0x1p-53;
    uniforms.push_back(smallest);
    uniforms.push_back(1 - smallest);
    for (int k = 1; k <= 52; ++k) {
        for (const double edge : {std::ldexp(1.0, -k), std::ldexp(0.70710678118654752440, -k + 1)}) {
            // the uniforms' grid: (m + 1/2) 2^-52 nearest the edge, and two steps on either side
            const double m = std::floor(edge / step - 0.5);
            for (int d = -2; d <= 2; ++d)
                if (m + d >= 0 && m + d < 0x1p52) uniforms.push_back((m + d + 0.5) * step);
        }
    }
    while (uniforms.size() % size != 0) uniforms.push_back(0.5 + smallest);
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < uniforms.size(); i += size) {
        const P u = Eigen::internal::ploadu<P>(uniforms.data() + i);
        const P fast = rd::radius_of_double_uniform(u), definition = rd::box_muller_radius(u);
        mismatches += std::memcmp(&fast, &definition, sizeof(P)) != 0;
    }
    INFO(uniforms.size() << " uniforms");
    CHECK(uniforms.size() > (std::size_t(1) << 20));
    CHECK(mismatches == 0);
}
#pragma GCC diagnostic pop
#endif

TEMPLATE_TEST_CASE("a fill is a pure function of the element index: chunks, order and offsets do not matter",
                   "[random][reproducible]", float, double) {
    using T = TestType;
    const u64 seed = 20240607, stream = 3;
    // Starts below a block-index carry into the high counter word and is not a multiple of any
    // block or tile width.
    const u64 first = rnd::lanes<T> * (u64(1) << 32) - 1001;
    const std::size_t n = 3001;
    const buffer<T> whole_normal = normals<T>(n, seed, stream, first);
    buffer<T> whole_uniform(static_cast<diffuse::index>(n));
    rnd::fill_uniform<T>(flat(whole_uniform), seed, stream, first);

    const std::size_t chunk_sizes[] = {1, 2, 3, 5, 7, 11, 13, 255, 257, 1, 129, 4, 6};
    std::vector<std::pair<std::size_t, std::size_t>> chunks;  // (offset, size)
    for (std::size_t offset = 0, k = 0; offset < n; ++k) {
        const std::size_t size = std::min(chunk_sizes[k % std::size(chunk_sizes)], n - offset);
        chunks.emplace_back(offset, size);
        offset += size;
    }

    SECTION("chunks in order and in reverse order") {
        for (const bool reversed : {false, true}) {
            auto ordered = chunks;
            if (reversed) std::reverse(ordered.begin(), ordered.end());
            buffer<T> z(static_cast<diffuse::index>(n)), u(static_cast<diffuse::index>(n));
            for (const auto& [offset, size] : ordered) {
                rnd::fill_normal<T>(flat(z.data() + offset, static_cast<diffuse::index>(size)), seed, stream,
                                    first + offset);
                rnd::fill_uniform<T>(flat(u.data() + offset, static_cast<diffuse::index>(size)), seed, stream,
                                     first + offset);
            }
            INFO("reversed = " << reversed);
            CHECK(bitwise_equal(z, whole_normal));
            CHECK(bitwise_equal(u, whole_uniform));
        }
    }

    SECTION("a sub-range filled alone equals the same elements of a larger fill") {
        for (const std::size_t offset : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{517}, n - 1}) {
            const buffer<T> part = normals<T>(n - offset, seed, stream, first + offset);
            INFO("offset = " << offset);
            CHECK(bitwise_equal(part, buffer<T>(whole_normal.tail(static_cast<diffuse::index>(n - offset)))));
        }
    }

    SECTION("threads filling disjoint ranges") {
        const std::size_t big = 100003;
        const buffer<T> reference = normals<T>(big, seed, stream, first);
        buffer<T> z(static_cast<diffuse::index>(big));
        const std::size_t threads = 4;
        std::vector<std::thread> pool;
        for (std::size_t t = 0; t < threads; ++t) {
            const std::size_t begin = big * t / threads, end = big * (t + 1) / threads;
            pool.emplace_back([&, begin, end] {
                rnd::fill_normal<T>(flat(z.data() + begin, static_cast<diffuse::index>(end - begin)), seed, stream,
                                    first + begin);
            });
        }
        for (auto& thread : pool) thread.join();
        CHECK(bitwise_equal(z, reference));
    }
}

TEMPLATE_TEST_CASE("normal draws pass moment and Kolmogorov-Smirnov checks", "[random][normal][statistics]", float,
                   double) {
    using T = TestType;
    const std::size_t n = 1000000;
    const buffer<T> z = normals<T>(n, 7, 11, 5);
    const std::vector<T> sample(z.data(), z.data() + n);
    const double dn = static_cast<double>(n);

    // Standard errors of the sample moments of N(0, 1): mean 1/sqrt(n), variance sqrt(2/n),
    // skewness sqrt(6/n), excess kurtosis sqrt(24/n); 5 standard errors allowed.
    const moments m = sample_moments(sample);
    CHECK(std::fabs(m.mean) < 5 / std::sqrt(dn));
    CHECK(std::fabs(m.variance - 1) < 5 * std::sqrt(2 / dn));
    CHECK(std::fabs(m.skewness) < 5 * std::sqrt(6 / dn));
    CHECK(std::fabs(m.excess_kurtosis) < 5 * std::sqrt(24 / dn));

    // KS against the normal CDF at alpha = 0.01: D < 1.63 / sqrt(n) = 0.00163.
    const double d = ks_statistic(sample, normal_cdf);
    INFO("KS D = " << d << ", critical " << ks_critical_001(n));
    CHECK(d < ks_critical_001(n));

    // The same check has the power to reject a mean shifted by 0.01 (expected D ~ 0.004).
    std::vector<T> shifted = sample;
    for (T& v : shifted) v += T(0.01);
    CHECK(ks_statistic(shifted, normal_cdf) > ks_critical_001(n));

    // No correlation between the two halves of a Box-Muller pair, neighbouring pairs, streams or seeds.
    // z starts at the odd element 5, so pairs (6, 7), (8, 9), ... sit at indices (1, 2), (3, 4), ...
    std::vector<T> cosines, sines;
    for (diffuse::index i = 1; i + 1 < z.size(); i += 2) {
        cosines.push_back(z[i]);
        sines.push_back(z[i + 1]);
    }
    const double bound = 5 / std::sqrt(dn / 2);
    CHECK(std::fabs(correlation(cosines.data(), sines.data(), cosines.size())) < bound);
    CHECK(std::fabs(correlation(z.data(), z.data() + 1, n - 1)) < 5 / std::sqrt(dn));
    const buffer<T> other_stream = normals<T>(n, 7, 12, 5);
    const buffer<T> other_seed = normals<T>(n, 8, 11, 5);
    const buffer<T> seed_high_word = normals<T>(n, 7 + (u64(1) << 32), 11, 5);
    CHECK(std::fabs(correlation(z.data(), other_stream.data(), n)) < 5 / std::sqrt(dn));
    CHECK(std::fabs(correlation(z.data(), other_seed.data(), n)) < 5 / std::sqrt(dn));
    CHECK(std::fabs(correlation(z.data(), seed_high_word.data(), n)) < 5 / std::sqrt(dn));
}

TEMPLATE_TEST_CASE("uniform draws are in (0, 1) and pass a Kolmogorov-Smirnov check", "[random][uniform][statistics]",
                   float, double) {
    using T = TestType;
    const std::size_t n = 1000000;
    buffer<T> u(static_cast<diffuse::index>(n));
    rnd::fill_uniform<T>(flat(u), 99, 0, 12345);
    CHECK(u.minCoeff() > T(0));
    CHECK(u.maxCoeff() < T(1));
    CHECK((u.log().isFinite()).all());
    const double dn = static_cast<double>(n);
    CHECK(std::fabs(u.template cast<double>().mean() - 0.5) < 5 * std::sqrt(1.0 / 12 / dn));

    const std::vector<T> sample(u.data(), u.data() + n);
    const auto uniform_cdf = [](double x) { return std::clamp(x, 0.0, 1.0); };
    const double d = ks_statistic(sample, uniform_cdf);
    INFO("KS D = " << d << ", critical " << ks_critical_001(n));
    CHECK(d < ks_critical_001(n));
    // Power: the squares of the uniforms are far from uniform.
    std::vector<T> squares = sample;
    for (T& v : squares) v *= v;
    CHECK(ks_statistic(squares, uniform_cdf) > ks_critical_001(n));
}

TEMPLATE_TEST_CASE("element indices that would pass 2^64 are rejected", "[random][errors]", float, double) {
    using T = TestType;
    buffer<T> out(10);
    const u64 bad_first = std::numeric_limits<u64>::max() - 5;
    CHECK_THROWS_AS(rnd::fill_normal<T>(flat(out), 1, 2, bad_first), diffuse::error);
    CHECK_THROWS_WITH(
        rnd::fill_uniform<T>(flat(out), 1, 2, bad_first),
        Catch::Contains("first_element") && Catch::Contains(std::to_string(bad_first)) && Catch::Contains("2^64"));
    // The last ten indices are fine.
    CHECK_NOTHROW(rnd::fill_normal<T>(flat(out), 1, 2, std::numeric_limits<u64>::max() - 9));
    buffer<T> empty(0);
    CHECK_NOTHROW(rnd::fill_normal<T>(flat(empty), 1, 2, std::numeric_limits<u64>::max()));
}

TEMPLATE_TEST_CASE("generator: one stream per draw, batches equal per-sample draws", "[random][generator]", float,
                   double) {
    using T = TestType;
    const u64 seed = 1234;
    rnd::generator g(seed, 7, 2);
    CHECK(g.seed() == seed);
    CHECK(g.first_element() == 7);
    CHECK(g.next_stream() == 2);
    buffer<T> a(33), b(33);
    g.normal(flat(a));
    g.uniform(flat(b));
    CHECK(g.next_stream() == 4);
    CHECK(bitwise_equal(a, normals<T>(33, seed, 2, 7)));
    buffer<T> u(33);
    rnd::fill_uniform<T>(flat(u), seed, 3, 7);
    CHECK(bitwise_equal(b, u));

    // A batch of B samples of D elements drawn at once equals each sample drawn from
    // for_element(b * D), also after earlier draws moved the stream position.
    const diffuse::index batch = 3, dim = 37;
    rnd::generator batched(seed);
    buffer<T> warmup(5), all(batch * dim);
    batched.normal(flat(warmup));
    const rnd::generator before = batched;
    batched.normal(flat(all));
    for (diffuse::index s = 0; s < batch; ++s) {
        rnd::generator one = before.for_element(static_cast<u64>(s * dim));
        CHECK(one.next_stream() == before.next_stream());
        buffer<T> sample(dim);
        one.normal(flat(sample));
        CHECK(bitwise_equal(sample, buffer<T>(all.segment(s * dim, dim))));
    }
}

TEMPLATE_TEST_CASE("generator accepts anything flat() accepts", "[random][generator]", float, double) {
    using T = TestType;
    const buffer<T> expected = normals<T>(24, 5, 0, 0);
    Eigen::Array<T, Eigen::Dynamic, 1> array(24);
    Eigen::Matrix<T, 4, 6> matrix;
    std::vector<T> vector(24);
    Eigen::Tensor<T, 4> tensor(1, 2, 3, 4);
    rnd::generator(5).normal(array);
    rnd::generator(5).normal(matrix);
    rnd::generator(5).normal(vector);
    rnd::generator(5).normal(tensor);
    CHECK(bitwise_equal(buffer<T>(array), expected));
    CHECK(bitwise_equal(buffer<T>(flat(matrix)), expected));
    CHECK(bitwise_equal(buffer<T>(flat(vector)), expected));
    CHECK(bitwise_equal(buffer<T>(flat(tensor)), expected));
}

namespace {
template <class G, class C>
concept can_draw_normal_into = requires(G& g, C&& c) {
    g.normal(std::forward<C>(c));
};
}  // namespace

TEST_CASE("generator refuses read-only containers at compile time", "[random][generator]") {
    STATIC_REQUIRE(can_draw_normal_into<rnd::generator, std::vector<float>&>);
    STATIC_REQUIRE(can_draw_normal_into<rnd::generator, Eigen::ArrayXd&>);
    STATIC_REQUIRE_FALSE(can_draw_normal_into<rnd::generator, const std::vector<float>&>);
    STATIC_REQUIRE_FALSE(can_draw_normal_into<rnd::generator, const Eigen::ArrayXd&>);
    STATIC_REQUIRE_FALSE(can_draw_normal_into<rnd::generator, std::vector<int>&>);
}

namespace {
// A user-supplied noise source, e.g. noise recorded in PyTorch and replayed.
struct replayed_noise {
    std::vector<float> recorded;
    void normal(diffuse::view<float> out) { out = Eigen::Map<Eigen::ArrayXf>(recorded.data(), out.size()); }
};
}  // namespace

TEST_CASE("noise_source accepts the generator and user types with normal(view)", "[random][generator]") {
    STATIC_REQUIRE(rnd::noise_source<rnd::generator, float>);
    STATIC_REQUIRE(rnd::noise_source<rnd::generator, double>);
    STATIC_REQUIRE(rnd::noise_source<replayed_noise, float>);
    STATIC_REQUIRE_FALSE(rnd::noise_source<replayed_noise, double>);
    STATIC_REQUIRE_FALSE(rnd::noise_source<int, float>);
    STATIC_REQUIRE_FALSE(rnd::noise_source<rnd::generator, int>);
}

TEST_CASE("generator is a UniformRandomBitGenerator over one stream's words", "[random][generator]") {
    STATIC_REQUIRE(std::uniform_random_bit_generator<rnd::generator>);
    const u64 seed = 77, first_element = 6;
    rnd::generator g(seed, first_element);
    // A run of operator() calls reads stream 0 word by word from word first_element.
    for (u64 word = first_element; word < first_element + 9; ++word)
        CHECK(g() == rnd::block(seed, 0, word / 4)[word % 4]);
    CHECK(g.next_stream() == 1);
    buffer<float> z(4);
    g.normal(flat(z));  // stream 1; ends the run
    CHECK(g() == rnd::block(seed, 2, first_element / 4)[first_element % 4]);
    CHECK(g.next_stream() == 3);

    std::vector<int> deck(52), again(52);
    std::iota(deck.begin(), deck.end(), 0);
    again = deck;
    rnd::generator shuffler(3), replay(3);
    std::shuffle(deck.begin(), deck.end(), shuffler);
    std::shuffle(again.begin(), again.end(), replay);
    CHECK(deck == again);
    std::vector<int> sorted(52);
    std::iota(sorted.begin(), sorted.end(), 0);
    CHECK(std::is_permutation(deck.begin(), deck.end(), sorted.begin()));
    CHECK(deck != sorted);
}
