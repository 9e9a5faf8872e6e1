// Tests for diffuse/rf: published receptive fields, PyTorch measurements, compile-time use,
// description files and error messages. Random-network properties are in
// test_receptive_field_properties.cpp.
#include <catch2/catch.hpp>

#include <array>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "diffuse/rf/rf.hpp"

namespace rf = diffuse::rf;

namespace Catch {
template <>
struct StringMaker<rf::unit_range> {
    static std::string convert(const rf::unit_range& r) {
        std::ostringstream out;  // (operator+ chains trip GCC 12's -Wrestrict false positive)
        out << '[' << r.first << ", " << r.last << ']';
        return out.str();
    }
};
template <>
struct StringMaker<rf::fraction> {
    static std::string convert(const rf::fraction& f) { return f.str(); }
};
}  // namespace Catch
using rf::hw;

namespace {

// Height-axis (r, S, P) of a node; the zoo networks are square, so width is checked to match.
struct rsp {
    diffuse::index r;
    diffuse::index s;
    diffuse::index p;
};

void check_node(const rf::network& net, const std::vector<rf::field>& fields, const std::string& name, rsp expected) {
    INFO("node " << name);
    const rf::field& f = fields[static_cast<std::size_t>(net.find(name))];
    CHECK(f[0].size == expected.r);
    CHECK(f[0].stride == expected.s);
    CHECK(f[0].padding_known);
    CHECK(f[0].padding == expected.p);
    CHECK(f[1].size == f[0].size);
    CHECK(f[1].padding == f[0].padding);
}

std::string error_of(auto&& action) {
    try {
        action();
    } catch (const diffuse::error& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

// ---- Distill worked example, at compile time ----------------------------------------------

// Araujo, Norris, Sim, Distill 2019, "Computing receptive field region in input image": layer 1
// k=3 p=1 s=3, layer 2 k=2 p=0 s=1; the first output unit covers input [-1, 4], r0 = 6.
constexpr std::array<rf::layer, 2> distill_example{rf::conv(3, 3, 1), rf::conv(2, 1, 0)};
// Compile-time evaluation needs std::string in constant expressions (DIFFUSE_CONSTEXPR_STRING,
// core/config.hpp: not clang on libstdc++); the same values are checked at run time below.
#if DIFFUSE_CONSTEXPR_STRING
static_assert(rf::top_down(distill_example)[0].size == 6);
static_assert(rf::bottom_up(distill_example)[0].size == 6);
static_assert(rf::closed_form(distill_example)[0].size == 6);
static_assert(rf::closed_form(distill_example)[0].stride == 3);
static_assert(rf::closed_form(distill_example)[0].region(0) == rf::unit_range{-1, 4});
static_assert(rf::top_down(distill_example) == rf::bottom_up(distill_example));
static_assert(rf::bottom_up(distill_example) == rf::closed_form(distill_example));

// The published table of google-research/receptive_field (RECEPTIVE_FIELD_TABLE.md), evaluated
// by the compiler: a whole network built and analysed in a constant expression.
static_assert(rf::output_field(rf::zoo::alexnet_v2_slim())[0].size == 195);                // alexnet_v2/pool5
static_assert(rf::output_field(rf::zoo::vgg16_slim())[0].padding == 90);                   // vgg_16/pool5
static_assert(rf::output_field(rf::zoo::mobilenet_v1_slim(), hw(224))[0].padding == 126);  // Conv2d_13_pointwise
static_assert(rf::output_field(rf::zoo::resnet_v1_50_slim())[0].size == 483);              // resnet_v1_50/block4
// ... and a description in a string literal.
static_assert(rf::output_field(rf::parse("conv a kernel=3 stride=3 padding=1\nconv b kernel=2"))[0].size == 6);
#endif

TEST_CASE("the compile-time checks' networks at run time", "[rf][constexpr]") {
    CHECK(rf::output_field(rf::zoo::alexnet_v2_slim())[0].size == 195);
    CHECK(rf::output_field(rf::zoo::vgg16_slim())[0].padding == 90);
    CHECK(rf::output_field(rf::zoo::mobilenet_v1_slim(), hw(224))[0].padding == 126);
    CHECK(rf::output_field(rf::zoo::resnet_v1_50_slim())[0].size == 483);
    CHECK(rf::output_field(rf::parse("conv a kernel=3 stride=3 padding=1\nconv b kernel=2"))[0].size == 6);
}

TEST_CASE("Distill worked example: three algorithms, region [-1, 4]", "[rf][distill]") {
    for (const rf::field& f :
         {rf::top_down(distill_example), rf::bottom_up(distill_example), rf::closed_form(distill_example)}) {
        for (std::size_t a = 0; a < 2; ++a) {
            CHECK(f[a].size == 6);
            CHECK(f[a].stride == 3);
            CHECK(f[a].padding == 1);
            CHECK(f[a].region(0) == rf::unit_range{-1, 4});
            CHECK(f[a].region(1) == rf::unit_range{2, 7});
            CHECK(f[a].centre(0) == rf::fraction(3, 2));
        }
    }
    const std::vector<rf::field> rows = rf::per_layer(distill_example, hw(12));
    REQUIRE(rows.size() == 2);
    CHECK(rows[0][0].size == 3);
    CHECK(rows[0][0].units == 4);  // floor((12 + 2 - 3)/3) + 1
    CHECK(rows[1][0].units == 3);
}

TEMPLATE_TEST_CASE("centres of units as float and double (Distill eq. 8)", "[rf][centre]", float, double) {
    using T = TestType;
    const rf::axis_field f = rf::closed_form(distill_example)[0];
    CHECK(f.centre_as<T>(0) == T(1.5));
    CHECK(f.centre_as<T>(5) == T(16.5));
    // Nearest upsampling by 3 then a 2-tap convolution: a centre at thirds of an input unit.
    constexpr std::array<rf::layer, 2> up{rf::upsample_nearest(3), rf::conv(2)};
    const rf::axis_field g = rf::bottom_up(up)[0];
    CHECK(g.stride == rf::fraction(1, 3));
    CHECK(g.centre_as<T>(1) == static_cast<T>(g.centre(1).num()) / static_cast<T>(g.centre(1).den()));  // exact
    // Window of unit 1: [1/3 - 2/3, 1/3 - 2/3 + 1], centred at 1/6 (it reads copies of units 0 and 0).
    CHECK(g.centre(1) == rf::fraction(1, 6));
}

// ---- google-research/receptive_field unit-test networks (../shared/reference/numerics.md) ---

TEST_CASE("google-research/receptive_field unit-test networks", "[rf][graph][published]") {
    SECTION("network 1: 1x1/4 || pad[1,0] 3x3/2 1x1/2, add -> (3, 3, 4, 4, 1, 1)") {
        rf::network n;
        const auto a = n.append("a", rf::conv(1, 4));
        n.append("pad", rf::pad(rf::padding::asymmetric(1, 0, 1, 0)), 0);
        n.append("b1", rf::conv(3, 2));
        const auto b = n.append("b2", rf::conv(1, 2));
        n.add("sum", {a, b});
        const rf::field f = rf::output_field(n);
        for (std::size_t axis = 0; axis < 2; ++axis) {
            CHECK(f[axis].size == 3);
            CHECK(f[axis].stride == 4);
            CHECK(f[axis].padding == 1);
        }
        CHECK(rf::top_down(n, n.last()) == f);
    }
    SECTION("network 3: conv [3,5]/2 then conv [3,1]/2 -> (rf_x 5, rf_y 7, 4, 4, 0, 0)") {
        constexpr std::array<rf::layer, 2> net{rf::conv({3, 5}, 2), rf::conv({3, 1}, 2)};
        const rf::field f = rf::closed_form(net);
        CHECK(f[1].size == 5);  // x: width
        CHECK(f[0].size == 7);  // y: height
        CHECK(f[0].stride == 4);
        CHECK(f[1].stride == 4);
        CHECK(f[0].padding == 0);
        CHECK(f[1].padding == 0);
    }
    SECTION("network 4: network 1, then add(1x1/2 || pad[1,0] 3x3/2) -> (11, 11, 8, 8, 5, 5)") {
        rf::network n;
        const auto a = n.append("a", rf::conv(1, 4));
        n.append("pad", rf::pad(rf::padding::asymmetric(1, 0, 1, 0)), 0);
        n.append("b1", rf::conv(3, 2));
        const auto b = n.append("b2", rf::conv(1, 2));
        const auto sum = n.add("sum", {a, b});
        const auto c = n.append("c", rf::conv(1, 2), sum);
        n.append("pad2", rf::pad(rf::padding::asymmetric(1, 0, 1, 0)), sum);
        const auto d = n.append("d", rf::conv(3, 2));
        n.add("sum2", {c, d});
        const rf::field f = rf::output_field(n);
        for (std::size_t axis = 0; axis < 2; ++axis) {
            CHECK(f[axis].size == 11);
            CHECK(f[axis].stride == 8);
            CHECK(f[axis].padding == 5);
        }
        CHECK(rf::top_down(n, n.last()) == f);
    }
    SECTION("network 2: pad[2,1] 5x5/2 || 3x3 3x3 is misaligned: an error naming both paths and the merge") {
        rf::network n;
        n.append("pad", rf::pad(rf::padding::asymmetric(2, 1, 2, 1)));
        const auto a = n.append("conv5x5", rf::conv(5, 2));
        n.append("conv3x3_1", rf::conv(3), 0);
        const auto b = n.append("conv3x3_2", rf::conv(3));
        n.add("sum", {a, b});
        const std::string message = error_of([&] { (void)rf::analyze(n); });
        CHECK_THAT(message, Catch::Contains("alignment at 'sum' (height)"));
        CHECK_THAT(message, Catch::Contains("path input -> pad -> conv5x5 -> sum has stride 2"));
        CHECK_THAT(message, Catch::Contains("path input -> conv3x3_1 -> conv3x3_2 -> sum has stride 1"));
        CHECK_THAT(message, Catch::Contains("allowed: paths with the same effective stride"));
        CHECK_THAT(error_of([&] { (void)rf::top_down(n, n.last()); }), Catch::Contains("alignment at 'input'"));
    }
}

TEST_CASE("same stride, different centres is misaligned; an unknown 'SAME' padding skips the centre check",
          "[rf][graph][errors]") {
    rf::network n;
    const auto a = n.append("left", rf::conv(3, 2, 1));
    const auto b = n.append("right", rf::conv(3, 2, 0), 0);
    n.add("sum", {a, b});
    const std::string message = error_of([&] { (void)rf::analyze(n); });
    CHECK_THAT(message, Catch::Contains("path input -> left -> sum has stride 2 and centre offset 0, but path "
                                        "input -> right -> sum has stride 2 and centre offset 1"));
    // Without the input size TensorFlow 'SAME' with stride 2 and an odd kernel has no known padding:
    // like google-research/receptive_field, the stride is still checked but the centre cannot be.
    rf::network m;
    const auto c = m.append("same", rf::conv(3, 2, rf::same));
    const auto d = m.append("padded", rf::conv(3, 2, 1), 0);
    m.add("sum", {c, d});
    const rf::field f = rf::output_field(m);
    CHECK_FALSE(f[0].padding_known);
    CHECK(f[0].size == 3);
    CHECK_THAT(error_of([&] { (void)f[0].region(0); }), Catch::Contains("effective padding = \"unknown\""));
    // With an odd input size 'SAME' pads 1 before, like the other branch: aligned. With an even
    // one it pads 0 before (and 1 after): misaligned.
    CHECK(rf::output_field(m, hw(225))[0].padding == 1);
    CHECK_THAT(
        error_of([&] { (void)rf::analyze(m, hw(224)); }),
        Catch::Contains("path input -> same -> sum has stride 2 and centre offset 1, but path input -> padded -> "
                        "sum has stride 2 and centre offset 0"));
}

TEST_CASE("paths that share an unknown 'SAME' padding are still checked against each other", "[rf][graph][same]") {
    // The unknown padding of `stem` shifts both branches alike, so their difference is known:
    // a 3x3 'VALID' branch is misaligned with a 1x1 one whatever the input size.
    rf::network n;
    n.append("stem", rf::conv(3, 2, rf::same));
    const auto a = n.append("one", rf::conv(1));
    const auto b = n.append("three", rf::conv(3), 1);
    n.concat("cat", {a, b});
    const std::string message = error_of([&] { (void)rf::analyze(n); });
    CHECK_THAT(message, Catch::Contains("alignment at 'cat' (height)"));
    CHECK_THAT(message,
               Catch::Contains("path stem -> one -> cat has stride 2 and centre offset 1, but path stem -> three "
                               "-> cat has stride 2 and centre offset 3 (each plus the same unknown 'SAME' "
                               "paddings)"));
    CHECK_THAT(error_of([&] { (void)rf::top_down(n, n.last()); }), Catch::Contains("alignment at 'stem' (height)"));
    // Padded to keep the centre, the same graph is aligned; its padding stays unknown.
    rf::network m;
    m.append("stem", rf::conv(3, 2, rf::same));
    const auto c = m.append("one", rf::conv(1));
    const auto d = m.append("three", rf::conv(3, 1, 1), 1);
    m.concat("cat", {c, d});
    const rf::field f = rf::output_field(m);
    CHECK(f[0].size == 7);
    CHECK_FALSE(f[0].padding_known);
    CHECK(f == rf::top_down(m, m.last()));
    CHECK(rf::output_field(m, hw(9))[0].padding == 3);  // 'SAME' pads 1 before an odd input, then 1 * 2
}

// ---- the published table (google-research/receptive_field RECEPTIVE_FIELD_TABLE.md) --------

TEST_CASE("AlexNet v2 and VGG-16 (TF-Slim) match the published table and numerics.md", "[rf][zoo][published]") {
    for (const std::optional<hw> input :
         {std::optional<hw>{}, std::optional<hw>{hw(224)}, std::optional<hw>{hw(321)}}) {
        const rf::network alexnet = rf::zoo::alexnet_v2_slim();
        const std::vector<rf::field> a = rf::analyze(alexnet, input);
        check_node(alexnet, a, "conv1", {11, 4, 0});
        check_node(alexnet, a, "pool1", {19, 8, 0});
        check_node(alexnet, a, "conv2", {51, 8, 16});
        check_node(alexnet, a, "conv3", {99, 16, 32});
        check_node(alexnet, a, "conv4", {131, 16, 48});
        check_node(alexnet, a, "conv5", {163, 16, 64});
        check_node(alexnet, a, "pool5", {195, 32, 64});
        for (const rf::network& vgg : {rf::zoo::vgg16_slim(), rf::zoo::vgg16_torchvision()}) {
            const std::vector<rf::field> v = rf::analyze(vgg, input);
            check_node(vgg, v, "conv1/conv1_1", {3, 1, 1});
            check_node(vgg, v, "pool1", {6, 2, 2});
            check_node(vgg, v, "conv2/conv2_1", {10, 2, 4});
            check_node(vgg, v, "pool2", {16, 4, 6});
            check_node(vgg, v, "conv3/conv3_1", {24, 4, 10});
            check_node(vgg, v, "conv3/conv3_2", {32, 4, 14});
            check_node(vgg, v, "pool3", {44, 8, 18});
            check_node(vgg, v, "conv4/conv4_1", {60, 8, 26});
            check_node(vgg, v, "conv4/conv4_2", {76, 8, 34});
            check_node(vgg, v, "pool4", {100, 16, 42});
            check_node(vgg, v, "conv5/conv5_1", {132, 16, 58});
            check_node(vgg, v, "conv5/conv5_2", {164, 16, 74});
            check_node(vgg, v, "pool5", {212, 32, 90});
        }
    }
}

TEST_CASE("MobileNet v1 (TF-Slim): padding unknown without a resolution, as in the published table",
          "[rf][zoo][published][same]") {
    const rf::network net = rf::zoo::mobilenet_v1_slim();
    const std::array<diffuse::index, 14> r{3, 7, 11, 19, 27, 43, 59, 91, 123, 155, 187, 219, 251, 315};
    const std::array<diffuse::index, 14> s{2, 2, 4, 4, 8, 8, 16, 16, 16, 16, 16, 16, 32, 32};
    const std::array<diffuse::index, 14> p224{0, 2, 2, 6, 6, 14, 14, 30, 46, 62, 78, 94, 94, 126};
    const std::array<diffuse::index, 14> p321{1, 3, 5, 9, 13, 21, 29, 45, 61, 77, 93, 109, 125, 157};
    const std::vector<rf::field> none = rf::analyze(net);
    const std::vector<rf::field> at224 = rf::analyze(net, hw(224));
    const std::vector<rf::field> at321 = rf::analyze(net, hw(321));
    for (std::size_t i = 0; i < r.size(); ++i) {
        const std::string name = i == 0 ? "Conv2d_0" : "Conv2d_" + std::to_string(i) + "_pointwise";
        INFO(name);
        const auto id = static_cast<std::size_t>(net.find(name));
        CHECK(none[id][0].size == r[i]);
        CHECK(none[id][0].stride == s[i]);
        CHECK_FALSE(none[id][0].padding_known);  // "None" in the table
        check_node(net, at224, name, {r[i], s[i], p224[i]});
        check_node(net, at321, name, {r[i], s[i], p321[i]});
    }
    CHECK(at224.back()[0].units == 7);   // 224 / 32
    CHECK(at321.back()[0].units == 11);  // ceil(321 / 32)
}

TEST_CASE("ResNet v1 50/101/152/200 (TF-Slim, stride at the end of each block) match the published table",
          "[rf][zoo][published][resnet]") {
    struct row {
        rf::network (*build)();
        std::string scope;
        std::array<diffuse::index, 4> r;
        std::array<diffuse::index, 4> p224;
    };
    const std::array<row, 4> rows{{
        {rf::zoo::resnet_v1_50_slim, "resnet_v1_50", {35, 99, 291, 483}, {15, 47, 143, 239}},
        {rf::zoo::resnet_v1_101_slim, "resnet_v1_101", {35, 99, 835, 1027}, {15, 47, 415, 511}},
        {rf::zoo::resnet_v1_152_slim, "resnet_v1_152", {35, 163, 1315, 1507}, {15, 79, 655, 751}},
        {rf::zoo::resnet_v1_200_slim, "resnet_v1_200", {35, 419, 1571, 1763}, {15, 207, 783, 879}},
    }};
    const std::array<diffuse::index, 4> s{8, 16, 32, 32};
    for (const row& x : rows) {
        const rf::network net = x.build();
        const std::vector<rf::field> none = rf::analyze(net);
        const std::vector<rf::field> at224 = rf::analyze(net, hw(224));
        const std::vector<rf::field> at321 = rf::analyze(net, hw(321));
        for (std::size_t b = 0; b < 4; ++b) {
            const std::string name = x.scope + "/block" + std::to_string(b + 1);
            const auto id = static_cast<std::size_t>(net.find(name));
            INFO(name);
            CHECK(none[id][0].size == x.r[b]);
            CHECK(none[id][0].stride == s[b]);
            CHECK_FALSE(none[id][0].padding_known);  // pool1 is 'SAME' 3x3/2
            check_node(net, at224, name, {x.r[b], s[b], x.p224[b]});
            check_node(net, at321, name, {x.r[b], s[b], x.p224[b] + 2});  // the table: 17, 49, 145, 241 ...
        }
    }
}

TEST_CASE("Inception v3 (TF-Slim) matches the published table at every end-point", "[rf][zoo][published]") {
    const rf::network net = rf::zoo::inception_v3_slim();
    struct end_point {
        const char* name;
        rsp value;
    };
    const std::array<end_point, 18> table{{
        {"Conv2d_1a_3x3", {3, 2, 0}},
        {"Conv2d_2a_3x3", {7, 2, 0}},
        {"Conv2d_2b_3x3", {11, 2, 2}},
        {"MaxPool_3a_3x3", {15, 4, 2}},
        {"Conv2d_3b_1x1", {15, 4, 2}},
        {"Conv2d_4a_3x3", {23, 4, 2}},
        {"MaxPool_5a_3x3", {31, 8, 2}},
        {"Mixed_5b", {63, 8, 18}},
        {"Mixed_5c", {95, 8, 34}},
        {"Mixed_5d", {127, 8, 50}},
        {"Mixed_6a", {159, 16, 58}},
        {"Mixed_6b", {351, 16, 154}},
        {"Mixed_6c", {543, 16, 250}},
        {"Mixed_6d", {735, 16, 346}},
        {"Mixed_6e", {927, 16, 442}},
        {"Mixed_7a", {1055, 32, 490}},
        {"Mixed_7b", {1183, 32, 554}},
        {"Mixed_7c", {1311, 32, 618}},
    }};
    for (const std::optional<hw> input :
         {std::optional<hw>{}, std::optional<hw>{hw(224)}, std::optional<hw>{hw(321)}}) {
        const std::vector<rf::field> fields = rf::analyze(net, input);
        for (const end_point& e : table) check_node(net, fields, e.name, e.value);
    }
    CHECK(rf::output_field(net, hw(299))[0].units == 8);  // the 8x8 Mixed_7c of a 299x299 input
    CHECK(rf::top_down(net, net.last(), hw(299)) == rf::output_field(net, hw(299)));
}

// ---- torchvision and Stable Diffusion layouts: measured in PyTorch --------------------------

TEST_CASE("torchvision and Stable Diffusion networks match PyTorch gradient measurements", "[rf][zoo][pytorch]") {
    // examples/receptive_field/torch_reference.py: r, S, P measured from the non-zero input
    // gradient of an output unit, and the number of output units for a 224 input (64 for the
    // U-Net latent).
    struct measured {
        rf::network (*build)();
        rsp value;
        diffuse::index input;
        diffuse::index units;
    };
    const std::array<measured, 9> rows{{
        {rf::zoo::alexnet_torchvision, {195, 32, 66}, 224, 6},
        {rf::zoo::vgg16_torchvision, {212, 32, 90}, 224, 7},
        {rf::zoo::resnet18_torchvision, {435, 32, 217}, 224, 7},
        {rf::zoo::resnet34_torchvision, {899, 32, 449}, 224, 7},
        {rf::zoo::resnet50_torchvision, {427, 32, 213}, 224, 7},
        {rf::zoo::resnet101_torchvision, {971, 32, 485}, 224, 7},
        {rf::zoo::resnet152_torchvision, {1451, 32, 725}, 224, 7},
        {rf::zoo::sd_unet_encoder, {201, 8, 100}, 64, 8},
        {rf::zoo::sd_vae_encoder, {217, 8, 101}, 224, 28},
    }};
    for (const measured& m : rows) {
        const rf::network net = m.build();
        INFO("network of " << net.size() << " nodes, last " << net[net.last()].name);
        const rf::field f = rf::output_field(net, hw(m.input));
        CHECK(f[0].size == m.value.r);
        CHECK(f[0].stride == m.value.s);
        CHECK(f[0].padding == m.value.p);
        CHECK(f[0].units == m.units);
        CHECK(f == rf::top_down(net, net.last(), hw(m.input)));
    }
}

TEST_CASE("transposed convolutions and upsampling match PyTorch gradient measurements", "[rf][upsampling][pytorch]") {
    // examples/receptive_field/torch_reference.py, "upsampling paths": 16 input units, the input
    // units (clipped to the input) that output units 0..7 depend on.
    struct measured {
        std::vector<rf::layer> layers;
        diffuse::index units;
        std::array<rf::unit_range, 8> regions;
    };
    const std::vector<measured> rows{
        {{rf::transposed_conv(4, 2, 1)}, 32, {{{0, 0}, {0, 1}, {0, 1}, {1, 2}, {1, 2}, {2, 3}, {2, 3}, {3, 4}}}},
        {{rf::transposed_conv(3, 2, 1, 1, 1)}, 32, {{{0, 0}, {0, 1}, {1, 1}, {1, 2}, {2, 2}, {2, 3}, {3, 3}, {3, 4}}}},
        {{rf::upsample_nearest(2)}, 32, {{{0, 0}, {0, 0}, {1, 1}, {1, 1}, {2, 2}, {2, 2}, {3, 3}, {3, 3}}}},
        {{rf::upsample_nearest(3)}, 48, {{{0, 0}, {0, 0}, {0, 0}, {1, 1}, {1, 1}, {1, 1}, {2, 2}, {2, 2}}}},
        {{rf::upsample_bilinear(2)}, 32, {{{0, 0}, {0, 1}, {0, 1}, {1, 2}, {1, 2}, {2, 3}, {2, 3}, {3, 4}}}},
        {{rf::upsample_bilinear(4)}, 64, {{{0, 0}, {0, 0}, {0, 1}, {0, 1}, {0, 1}, {0, 1}, {1, 2}, {1, 2}}}},
        {{rf::conv(3, 2, 1), rf::upsample_nearest(2), rf::conv(3, 1, 1)},
         16,
         {{{0, 1}, {0, 3}, {0, 3}, {1, 5}, {1, 5}, {3, 7}, {3, 7}, {5, 9}}}},
        {{rf::transposed_conv(4, 2, 1), rf::transposed_conv(4, 2, 1)},
         64,
         {{{0, 0}, {0, 1}, {0, 1}, {0, 1}, {0, 1}, {0, 2}, {0, 2}, {1, 2}}}},
    };
    for (std::size_t i = 0; i < rows.size(); ++i) {
        INFO("path " << i);
        const rf::axis_field f = rf::bottom_up(rows[i].layers, hw(16))[0];
        CHECK(f.units == rows[i].units);
        for (diffuse::index n = 0; n < 8; ++n) {
            INFO("unit " << n);
            const rf::unit_range measured = rows[i].regions[static_cast<std::size_t>(n)];
            // Walking units back layer by layer gives exactly what PyTorch reads.
            rf::unit_range walked = rf::unit_region(rows[i].layers, {n, 0}, hw(16))[0];
            walked.first = walked.first < 0 ? 0 : walked.first;
            CHECK(walked == measured);
            // The affine window of the field is exact for one upsampling layer and a bound after
            // a fractional stride is magnified by a later stride (path 6: up to one unit each side).
            const rf::unit_range window = f.region_in(n, 16);
            if (i != 6) {
                CHECK(window == measured);
            } else {
                CHECK(window.first <= measured.first);
                CHECK(window.last >= measured.last);
                CHECK(window.size() <= measured.size() + 2);
            }
        }
    }
    // A dilated transposed convolution leaves gaps: PyTorch measures units fed by nothing ('-')
    // or by one unit; the window [first, last] of the affine model contains what is measured.
    const rf::axis_field g = rf::bottom_up(std::vector<rf::layer>{rf::transposed_conv(3, 3, 0, 2)}, hw(16))[0];
    CHECK(g.units == 50);
    const std::array<std::optional<diffuse::index>, 8> fed{0, std::nullopt, 0, 1, 0, 1, 2, 1};
    for (diffuse::index n = 0; n < 8; ++n) {
        const rf::unit_range window = g.region_in(n, 16);
        if (const auto unit = fed[static_cast<std::size_t>(n)]) {
            CHECK(window.first <= *unit);
            CHECK(*unit <= window.last);
        }
    }
}

// ---- TensorFlow 'SAME' and output sizes ------------------------------------------------------

TEST_CASE("TensorFlow 'SAME' padding follows the tf.nn.convolution rule", "[rf][same]") {
    // pad_total = max(k - (n mod s or s), 0), the smaller half before.
    CHECK(rf::same_padding_begin(3, 2, 224) == 0);
    CHECK(rf::same_padding_begin(3, 2, 225) == 1);
    CHECK(rf::same_padding_begin(7, 2, 224) == 2);
    CHECK(rf::same_padding_begin(7, 1, 5) == 3);
    CHECK(rf::same_padding_begin(1, 4, 9) == 0);
    // Known without the input size: stride 1, kernel 1, or stride 2 and an even kernel
    // (google-research/receptive_field parse_layer_parameters); also kernels the rule clamps to 0.
    CHECK(rf::same_padding_begin(5, 1) == std::optional<diffuse::index>(2));
    CHECK(rf::same_padding_begin(1, 2) == std::optional<diffuse::index>(0));
    CHECK(rf::same_padding_begin(4, 2) == std::optional<diffuse::index>(1));
    CHECK(rf::same_padding_begin(2, 3) == std::optional<diffuse::index>(0));
    CHECK_FALSE(rf::same_padding_begin(3, 2).has_value());
    CHECK_FALSE(rf::same_padding_begin(5, 3).has_value());
}

TEST_CASE("output sizes follow PyTorch and TensorFlow", "[rf][size]") {
    const rf::axis_spec plain = rf::conv(3, 2, 1).axes[0];
    CHECK(rf::output_size(rf::op::conv, plain, 224, "c") == 112);
    CHECK(rf::output_size(rf::op::conv, rf::conv(3, 1, 2, 2).axes[0], 10, "c") == 10);  // dilation 2
    CHECK(rf::output_size(rf::op::conv, rf::conv(3, 2, rf::same).axes[0], 321, "c") == 161);
    // torch.nn.MaxPool2d(3, 2, ceil_mode=True) on 6 units gives 3, on 112 gives 56; with
    // padding 1 on 5 units the last window would start in the padding and is dropped: 3.
    CHECK(rf::output_size(rf::op::pool, rf::pool(3, 2, 0, true).axes[0], 6, "p") == 3);
    CHECK(rf::output_size(rf::op::pool, rf::pool(3, 2, 0, true).axes[0], 112, "p") == 56);
    CHECK(rf::output_size(rf::op::pool, rf::pool(2, 2, 1, true).axes[0], 5, "p") == 3);
    CHECK(rf::output_size(rf::op::transposed_conv, rf::transposed_conv(3, 2, 1, 1, 1).axes[0], 16, "t") == 32);
    CHECK(rf::output_size(rf::op::pad, rf::pad(rf::padding::asymmetric(0, 1, 0, 1)).axes[0], 64, "p") == 65);
    CHECK(rf::output_size(rf::op::upsample_bilinear, rf::upsample_bilinear(2).axes[0], 7, "u") == 14);
    CHECK_THAT(error_of([&] { (void)rf::output_size(rf::op::conv, rf::conv(7).axes[0], 5, "node 'c'"); }),
               Catch::Contains("node 'c': input size = 5 is invalid; allowed: at least the dilated kernel"));
    CHECK_THAT(error_of([&] { (void)rf::output_field(rf::zoo::alexnet_torchvision(), hw(32)); }),
               Catch::Contains("node 'features.12': input size = 1 is invalid"));
}

// ---- description files -------------------------------------------------------------------

TEST_CASE("a description file gives the same network as the zoo", "[rf][description]") {
    const rf::network parsed = rf::parse(R"(# TF-Slim alexnet_v2
input images
conv conv1 kernel=11 stride=4 padding=valid
pool pool1 kernel=3 stride=2
conv conv2 kernel=5 padding=same   # SAME, stride 1
pool pool2 kernel=3 stride=2
conv conv3 kernel=3 padding=same
conv conv4 kernel=3 padding=same
conv conv5 kernel=3 padding=same
pool pool5 kernel=3 stride=2
)");
    const rf::network zoo = rf::zoo::alexnet_v2_slim();
    CHECK(parsed[0].name == "images");
    CHECK(rf::analyze(parsed, hw(224)) == rf::analyze(zoo, hw(224)));

    const rf::network graph = rf::parse(R"(
conv a kernel=1 stride=4
pad p padding=1:0,1:0 from=input
conv b1 kernel=3 stride=2
conv b2 kernel=1 stride=2
add sum from=a,b2
conv c kernel=3,5 padding=1,2 dilation=1,2
deconv up kernel=4 stride=2 padding=1
upsample_nearest n factor=2
upsample_bilinear b factor=2,1
pool q kernel=3 stride=1 padding=1 ceil_mode=true
pointwise relu
concat cat from=relu,q
)");
    CHECK(graph.size() == 13);
    CHECK(rf::field_of(graph, "sum") == rf::field_of(graph, "sum"));
    CHECK(rf::field_of(graph, "sum")[0].size == 3);
    CHECK(rf::field_of(graph, "c")[1].size == 3 + 8 * 4);  // dilated 5-tap: 9 units at stride 4
    CHECK(rf::field_of(graph, "up")[0].stride == 2);
    CHECK(rf::field_of(graph, "b")[0].stride == rf::fraction(1, 2));
    CHECK(rf::field_of(graph, "b")[1].stride == 1);
}

TEST_CASE("description errors name the line, the field, the value and what is allowed", "[rf][description][errors]") {
    const auto message = [](const char* text) { return error_of([&] { (void)rf::parse(text); }); };
    CHECK(message("conv a kernel=3\nconv b kernel=3 stride=0") ==
          "diffuse: line 2, field 'stride' = \"0\" is invalid; allowed: a decimal integer in [1, 1000000000]");
    CHECK_THAT(message("conv a kernel=3\n\nconvv b kernel=3"),
               Catch::StartsWith("diffuse: line 3, field 'kind' = \"convv\" is invalid; allowed: one of input, conv"));
    CHECK_THAT(
        message("conv a kernel=3 strde=2"),
        Catch::Contains("line 1, field 'strde' = \"2\" is invalid; allowed: a key conv accepts: kernel, stride"));
    CHECK_THAT(message("conv a stride=2"),
               Catch::Contains("line 1, field 'kernel' = \"\" is invalid; allowed: a value"));
    CHECK_THAT(message("conv a kernel=3\nconv a kernel=3"), Catch::Contains("line 2, field 'name' = \"a\""));
    CHECK_THAT(
        message("conv a kernel=3\nadd s from=a,zz"),
        Catch::Contains("line 2, field 'from' = \"zz\" is invalid; allowed: the name of a node on an earlier line"));
    CHECK_THAT(message("conv a kernel=3\nadd s from=a"), Catch::Contains("line 2, field 'from' = \"a\""));
    CHECK_THAT(message("conv a kernel=3 padding=1:2:3"), Catch::Contains("line 1, field 'padding' = \"1:2:3\""));
    CHECK_THAT(message("conv a kernel=3,4,5"), Catch::Contains("line 1, field 'kernel' = \"3,4,5\""));
    CHECK_THAT(message("conv a kernel=x"), Catch::Contains("line 1, field 'kernel' = \"x\""));
    CHECK_THAT(message("conv a kernel=99999999999"), Catch::Contains("field 'kernel' = \"99999999999\""));
    CHECK_THAT(message("conv a kernel=3\ninput b"), Catch::Contains("line 2, field 'kind' = \"input\""));
    CHECK_THAT(
        message("pool a kernel=2 padding=2"),
        Catch::Contains("line 1, field 'pool' = \"a\" is invalid; allowed: diffuse: node 'a': padding (height) = 2"));
    CHECK_THAT(message("pool a kernel=2 ceil_mode=yes"), Catch::Contains("field 'ceil_mode' = \"yes\""));
    CHECK_THAT(message("conv"), Catch::Contains("line 1, field 'name'"));
    CHECK_THAT(message("conv a kernel=3 kernel=5"), Catch::Contains("allowed: a key given once per line"));
}

// ---- errors from the programmatic API ------------------------------------------------------

TEST_CASE("invalid layers and graphs are errors naming the parameter, the value and what is allowed", "[rf][errors]") {
    rf::network n;
    CHECK(error_of([&] { n.append("c", rf::conv(0)); }) ==
          "diffuse: node 'c': kernel (height) = 0 is invalid; allowed: an integer >= 1");
    CHECK_THAT(error_of([&] {
                   n.append("c", rf::conv({3, 3}, {1, 0}));
               }),
               Catch::Contains("node 'c': stride (width) = 0 is invalid"));
    CHECK_THAT(error_of([&] { n.append("t", rf::transposed_conv(3, 2, 1, 1, 2)); }),
               Catch::Contains("output_padding (height) = 2 is invalid; allowed: 0 <= output_padding < max(stride"));
    CHECK_THAT(error_of([&] { n.append("u", rf::upsample_nearest(0)); }), Catch::Contains("factor (height) = 0"));
    CHECK_THAT(error_of([&] { n.append("input", rf::conv(1)); }),
               Catch::Contains("node name = \"input\" is invalid; allowed: a name no earlier node has"));
    CHECK_THAT(error_of([&] { n.append("x", rf::conv(1), 5); }),
               Catch::Contains("node 'x': input node id = 5 is invalid; allowed: the id of an earlier node, 0..0"));
    CHECK_THAT(error_of([&] { n.add("s", {0}); }), Catch::Contains("node 's': number of inputs = 1"));
    CHECK_THAT(error_of([&] { (void)n.find("nope"); }), Catch::Contains("node name = \"nope\""));
    // Merged feature maps of different sizes (a VALID branch next to a SAME one).
    rf::network m;
    const auto a = m.append("valid", rf::conv(3));
    const auto b = m.append("same", rf::conv(3, 1, 1), 0);
    m.concat("cat", {a, b});
    CHECK_THAT(error_of([&] { (void)rf::analyze(m, hw(10)); }),
               Catch::Contains("node 'cat': size (height) of input 'same' = 10 is invalid; allowed: the size of input "
                               "'valid', 8"));
    // Arithmetic that would overflow 64 bits is reported, not undefined.
    std::vector<rf::layer> deep(70, rf::conv(2, 2));
    CHECK_THAT(error_of([&] { (void)rf::closed_form(deep); }), Catch::Contains("receptive-field arithmetic"));
    CHECK_THAT(error_of([] { (void)rf::fraction(1, 0); }), Catch::Contains("fraction denominator = 0"));
}

TEST_CASE("fractions are exact and reduced", "[rf][fraction]") {
    constexpr rf::fraction a(6, -4);
    static_assert(a.num() == -3 && a.den() == 2);
    static_assert(a.floor() == -2 && a.ceil() == -1);
    static_assert(rf::fraction(7, 2).floor() == 3 && rf::fraction(7, 2).ceil() == 4);
    static_assert(rf::fraction(1, 3) + rf::fraction(1, 6) == rf::fraction(1, 2));
    static_assert(rf::fraction(2, 3) * rf::fraction(3, 4) == rf::fraction(1, 2));
    static_assert(rf::fraction(1, 3) < rf::fraction(1, 2));
    CHECK(rf::fraction(-3, 2).str() == "-3/2");
    CHECK(rf::fraction(8, 4).str() == "2");
}
