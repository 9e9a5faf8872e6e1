// Property tests for diffuse/rf over random networks (fixed seeds, so every run is the same):
//  - single path: the top-down recurrence, the bottom-up jump/start arithmetic and the closed
//    form agree exactly (Araujo et al., Distill 2019), with and without an input size;
//  - single path: the regions agree with a brute-force enumeration of the input units every
//    output unit reads, layer by layer, on an unbounded grid;
//  - graphs: the forward algorithm, the top-down algorithm of google-research/receptive_field and
//    an enumeration of every input-to-output path agree on the field and on (mis)alignment.
#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>
#include <random>
#include <set>
#include <vector>

#include "diffuse/rf/rf.hpp"

namespace rf = diffuse::rf;
using diffuse::index;
using rf::hw;

namespace {

class generator {
public:
    explicit generator(std::uint64_t seed) : engine_(seed) {}
    index uniform(index lo, index hi) { return std::uniform_int_distribution<index>(lo, hi)(engine_); }
    bool chance(double p) { return std::bernoulli_distribution(p)(engine_); }

    // A random layer. `integer_strides` leaves out upsampling; `walkable` keeps transposed
    // convolutions undilated with kernel >= stride (every output unit then reads an input unit).
    rf::layer layer(bool integer_strides, bool walkable, bool allow_same) {
        const index kind = uniform(0, integer_strides ? 3 : 6);
        const hw kernel(uniform(1, 5), uniform(1, 5));
        const hw stride(uniform(1, 3), uniform(1, 3));
        switch (kind) {
            case 0: {
                const hw dilation(uniform(1, 3), uniform(1, 3));
                if (allow_same && chance(0.3)) return rf::conv(kernel, stride, rf::same, dilation);
                return rf::conv(kernel, stride,
                                rf::padding::asymmetric(uniform(0, 3), uniform(0, 3), uniform(0, 3), uniform(0, 3)),
                                dilation);
            }
            case 1: {
                if (allow_same && chance(0.3)) return rf::pool(kernel, stride, rf::same);
                const auto half = [&](index k) { return uniform(0, k / 2); };
                return rf::pool(kernel, stride,
                                rf::padding::asymmetric(half(kernel.h), half(kernel.h), half(kernel.w), half(kernel.w)),
                                chance(0.3));
            }
            case 2:
                return rf::pad(rf::padding::asymmetric(uniform(0, 3), uniform(0, 3), uniform(0, 3), uniform(0, 3)));
            case 3:
                return rf::pointwise();
            case 4: {
                const hw s = walkable ? hw(uniform(1, 3), uniform(1, 3)) : stride;
                const hw k = walkable ? hw(s.h + uniform(0, 2), s.w + uniform(0, 2)) : kernel;
                const hw d = walkable ? hw(1) : hw(uniform(1, 2), uniform(1, 2));
                const hw p(uniform(0, k.h - 1), uniform(0, k.w - 1));
                return rf::transposed_conv(k, s, p, d, hw(uniform(0, s.h - 1), uniform(0, s.w - 1)));
            }
            case 5:
                return rf::upsample_nearest(hw(uniform(1, 3), uniform(1, 3)));
            default:
                return rf::upsample_bilinear(hw(uniform(1, 4), uniform(1, 4)));
        }
    }

private:
    std::mt19937_64 engine_;
};

// The input units output unit j of a layer reads on one axis, on an unbounded grid (padding
// units are negative or beyond the input), from each framework's definition of the layer.
std::vector<index> reads(const rf::layer& l, std::size_t axis, index j) {
    const rf::axis_spec& s = l.axes[axis];
    std::vector<index> units;
    switch (l.kind) {
        case rf::op::conv:
        case rf::op::pool:
            for (index m = 0; m < s.kernel; ++m) units.push_back(j * s.stride - s.pad_begin + m * s.dilation);
            break;
        case rf::op::pad:
            units.push_back(j - s.pad_begin);
            break;
        case rf::op::pointwise:
            units.push_back(j);
            break;
        case rf::op::transposed_conv:
            // j = i*stride - padding + m*dilation
            for (index m = 0; m < s.kernel; ++m) {
                const index t = j + s.pad_begin - m * s.dilation;
                if (t % s.stride == 0) units.push_back(t / s.stride);
            }
            break;
        case rf::op::upsample_nearest:
            units.push_back(j >= 0 ? j / s.stride : -((-j + s.stride - 1) / s.stride));
            break;
        case rf::op::upsample_bilinear: {
            // x = (j + 1/2)/f - 1/2 = (2j + 1 - f) / (2f): floor(x) and floor(x) + 1.
            const index num = 2 * j + 1 - s.stride;
            const index den = 2 * s.stride;
            const index lo = num >= 0 ? num / den : -((-num + den - 1) / den);
            units.push_back(lo);
            units.push_back(lo + 1);
            break;
        }
    }
    return units;
}

// All input units output unit n of the path reads, by brute force.
std::set<index> brute_force(const std::vector<rf::layer>& layers, std::size_t axis, index n) {
    std::set<index> current{n};
    for (std::size_t l = layers.size(); l-- > 0;) {
        std::set<index> previous;
        for (const index j : current) {
            for (const index i : reads(layers[l], axis, j)) previous.insert(i);
        }
        current = std::move(previous);
    }
    return current;
}

}  // namespace

TEST_CASE("top-down, bottom-up and closed form agree on random single-path networks", "[rf][properties]") {
    generator gen(20191104);  // the Distill article's publication date
    int with_size = 0;
    for (int trial = 0; trial < 3000; ++trial) {
        const bool integer_strides = trial % 2 == 0;
        std::vector<rf::layer> layers(static_cast<std::size_t>(gen.uniform(1, 10)));
        for (rf::layer& l : layers) l = gen.layer(integer_strides, false, true);
        INFO("trial " << trial);
        const rf::field td = rf::top_down(layers);
        CHECK(td == rf::bottom_up(layers));
        CHECK(td == rf::closed_form(layers));
        CHECK(td == rf::output_field(rf::chain(layers)));
        CHECK(td == rf::top_down(rf::chain(layers), static_cast<index>(layers.size())));
        if (integer_strides) {
            CHECK(td[0].size.is_integer());
            CHECK(td[0].stride.is_integer());
        }
        const hw input(gen.uniform(1, 400), gen.uniform(1, 400));
        try {
            const rf::field sized = rf::top_down(layers, input);
            ++with_size;
            CHECK(sized == rf::bottom_up(layers, input));
            CHECK(sized == rf::closed_form(layers, input));
            CHECK(sized[0].padding_known);
            CHECK(sized[0].units >= 1);
            CHECK(sized[0].size == td[0].size);  // padding may change with the size, the field may not
            CHECK(sized[1].stride == td[1].stride);
            CHECK(rf::per_layer(layers, input).back() == sized);
        } catch (const diffuse::error&) {
            // The input was too small for these layers (an empty output); try another.
        }
    }
    CHECK(with_size > 1000);
}

TEST_CASE("regions of random single-path networks agree with a brute-force enumeration", "[rf][properties]") {
    generator gen(435);  // ResNet-18's receptive field
    int upsampling = 0;
    for (int trial = 0; trial < 1500; ++trial) {
        const bool integer_strides = trial % 2 == 0;
        std::vector<rf::layer> layers(static_cast<std::size_t>(gen.uniform(1, 6)));
        for (rf::layer& l : layers) l = gen.layer(integer_strides, true, false);
        const rf::field f = rf::bottom_up(layers);
        upsampling += integer_strides ? 0 : 1;
        for (const index n : {index(0), index(1), index(2), index(5), index(11)}) {
            INFO("trial " << trial << ", unit " << n);
            const auto walked = rf::unit_region(layers, {n, n});
            for (std::size_t a = 0; a < 2; ++a) {
                const std::set<index> units = brute_force(layers, a, n);
                REQUIRE_FALSE(units.empty());
                const rf::unit_range hull{*units.begin(), *units.rbegin()};
                // Walking back unit by unit is exact for these layers ...
                CHECK(walked[a] == hull);
                // ... and the affine window of the field is exact with integer strides, a bound
                // otherwise.
                const rf::unit_range window = f[a].region(n);
                if (integer_strides) {
                    CHECK(window == hull);
                    CHECK(window.size() == f[a].size.num());
                } else {
                    CHECK(window.first <= hull.first);
                    CHECK(window.last >= hull.last);
                }
                // The centre is the middle of the window.
                CHECK(f[a].centre(n) * 2 == f[a].first(n) + f[a].last(n));
            }
        }
    }
    CHECK(upsampling == 750);
}

namespace {

// Every path from the input to `id`, as node ids from the input.
void enumerate_paths(const rf::network& net, index id, std::vector<index>& suffix,
                     std::vector<std::vector<index>>& out) {
    suffix.push_back(id);
    if (id == 0) out.emplace_back(suffix.rbegin(), suffix.rend());
    for (const index from : net[id].inputs) enumerate_paths(net, from, suffix, out);
    suffix.pop_back();
}

// The field path enumeration predicts, or nothing when two paths are misaligned: every path's
// stride must be the same, and so must every two centres whose difference is known (they depend
// on the same unknown 'SAME' paddings, named by node id).
std::optional<rf::field> by_paths(const rf::network& net) {
    std::vector<std::vector<index>> paths;
    std::vector<index> suffix;
    enumerate_paths(net, net.last(), suffix, paths);
    const rf::resolved_graph g = rf::resolve(net);
    rf::field result;
    for (std::size_t a = 0; a < 2; ++a) {
        std::vector<rf::detail::jump_start> ends;
        for (const auto& path : paths) {
            rf::detail::jump_start js;
            for (const index id : path) {
                if (net[id].kind == rf::node_kind::layer)
                    js = rf::detail::advance(js, g.node_steps[static_cast<std::size_t>(id)][a], id);
            }
            ends.push_back(js);
        }
        rf::detail::jump_start merged = ends[0];
        bool common = true;
        for (const auto& e : ends) {
            if (e.jump != ends[0].jump) return std::nullopt;
            for (const auto& other : ends) {
                if (e.start.comparable(other.start) && e.start != other.start) return std::nullopt;
            }
            common = common && e.start.comparable(ends[0].start);
            merged.size = std::max(merged.size, e.size);
        }
        if (!common) merged.start = rf::offset::unknown(-1);
        result[a] = rf::detail::to_field(merged, -1);
    }
    return result;
}

}  // namespace

TEST_CASE("graph algorithms agree with each other and with path enumeration on random DAGs",
          "[rf][properties][graph]") {
    generator gen(1311);  // Inception v3's receptive field
    int aligned = 0;
    int misaligned = 0;
    for (int trial = 0; trial < 2000; ++trial) {
        INFO("trial " << trial);
        rf::network net;
        const index count = gen.uniform(2, 9);
        for (index i = 1; i <= count; ++i) {
            std::string name = "n";  // (not "n" + to_string: a GCC 12 -Wrestrict false positive)
            name += std::to_string(i);
            if (i > 2 && gen.chance(0.3)) {
                const index a = gen.uniform(0, i - 1);
                const index b = gen.uniform(0, i - 1);
                gen.chance(0.5) ? net.add(name, {a, b}) : net.concat(name, {a, b});
            } else {
                // Small parameters make aligned merges common; 'SAME' leaves some centres unknown.
                const index k = gen.uniform(0, 1) * 2 + 1;
                const index s = gen.uniform(1, 2);
                rf::layer l = gen.chance(0.15) ? rf::conv(k, s, rf::same)
                                               : rf::conv(k, s, rf::padding(gen.uniform(0, 1) * (k / 2)));
                if (gen.chance(0.1)) l = rf::upsample_nearest(2);
                if (gen.chance(0.1)) l = rf::transposed_conv(4, 2, 1);
                net.append(name, l, gen.uniform(std::max<index>(0, i - 3), i - 1));
            }
        }
        // Join every node nothing reads, so that every path ends in the output node.
        std::vector<bool> read(static_cast<std::size_t>(net.size()), false);
        for (const rf::node& n : net.nodes()) {
            for (const index from : n.inputs) read[static_cast<std::size_t>(from)] = true;
        }
        std::vector<index> sinks;
        for (index id = 1; id < net.size(); ++id) {
            if (!read[static_cast<std::size_t>(id)]) sinks.push_back(id);
        }
        if (sinks.size() > 1) net.concat("output", sinks);

        const std::optional<rf::field> expected = by_paths(net);
        std::optional<rf::field> forward;
        std::optional<rf::field> backward;
        try {
            forward = rf::output_field(net);
        } catch (const diffuse::error& e) {
            CHECK_THAT(e.what(), Catch::Contains("alignment at"));
        }
        try {
            backward = rf::top_down(net, net.last());
        } catch (const diffuse::error& e) {
            CHECK_THAT(e.what(), Catch::Contains("alignment at"));
        }
        CHECK(forward.has_value() == expected.has_value());
        CHECK(backward.has_value() == expected.has_value());
        if (expected && forward && backward) {
            CHECK(*forward == *expected);
            CHECK(*backward == *expected);
            ++aligned;
        } else {
            ++misaligned;
        }
    }
    // Both outcomes are exercised.
    CHECK(aligned > 200);
    CHECK(misaligned > 300);
}
