// receptive_field: per-layer receptive fields of a zoo network or of a description file, and a
// picture of one unit's receptive field over the input grid.
//
//   receptive_field --list
//   receptive_field --zoo resnet50_torchvision --input 224
//   receptive_field --file tiny_unet.txt --input 64 --unit 3,5 --png field.png
//
// Options: --input H[,W] (resolves TensorFlow 'SAME' padding, adds output sizes), --layer NAME
// (the node whose unit is drawn; default: the last), --unit N[,M] (default: the middle unit).
// Description files: see include/diffuse/rf/description.hpp and docs/receptive_field.md.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include "diffuse/rf/rf.hpp"

namespace rf = diffuse::rf;
using idx = diffuse::index;  // (a plain `index` clashes with POSIX index() from <strings.h>)

namespace {

struct options {
    std::string zoo;
    std::string file;
    std::optional<rf::hw> input;
    std::string layer;
    std::optional<std::array<idx, 2>> unit;
    std::string png;
    bool list = false;
};

std::array<idx, 2> parse_pair(const std::string& text, const std::string& option) {
    std::istringstream in(text);
    idx a = 0;
    idx b = 0;
    char comma = 0;
    if (!(in >> a)) throw diffuse::invalid(option, text, "an integer or two, N,M");
    if (!(in >> comma)) return {a, a};
    if (comma != ',' || !(in >> b)) throw diffuse::invalid(option, text, "an integer or two, N,M");
    return {a, b};
}

options parse_arguments(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw diffuse::invalid(arg, "nothing", "a value after the option");
            return argv[++i];
        };
        if (arg == "--list") {
            o.list = true;
        } else if (arg == "--zoo") {
            o.zoo = value();
        } else if (arg == "--file") {
            o.file = value();
        } else if (arg == "--input") {
            const auto hw = parse_pair(value(), arg);
            diffuse::require(hw[0] >= 1 && hw[1] >= 1, "--input", hw[0] < 1 ? hw[0] : hw[1], "sizes >= 1");
            o.input = rf::hw(hw[0], hw[1]);
        } else if (arg == "--layer") {
            o.layer = value();
        } else if (arg == "--unit") {
            o.unit = parse_pair(value(), arg);
        } else if (arg == "--png") {
            o.png = value();
        } else {
            throw diffuse::invalid("option", arg, "--list, --zoo, --file, --input, --layer, --unit, --png");
        }
    }
    return o;
}

rf::network load(const options& o) {
    if (!o.zoo.empty()) {
        for (const rf::zoo::entry& e : rf::zoo::catalogue) {
            if (e.name == o.zoo) return e.build();
        }
        throw diffuse::invalid("--zoo", o.zoo, "a name printed by --list");
    }
    std::ifstream in(o.file);
    if (!in) throw diffuse::invalid("--file", o.file, "a readable description file");
    std::stringstream text;
    text << in.rdbuf();
    return rf::parse(text.str());
}

std::string pair_text(const std::string& h, const std::string& w) {
    return h == w ? h : h + "x" + w;
}

std::string layer_text(const rf::node& n) {
    if (n.kind != rf::node_kind::layer) return std::string(rf::name_of(n.kind));
    const auto& y = n.op.axes[0];
    const auto& x = n.op.axes[1];
    std::string text(rf::name_of(n.op.kind));
    if (n.op.kind == rf::op::pointwise) return text;
    if (n.op.kind == rf::op::conv || n.op.kind == rf::op::pool || n.op.kind == rf::op::transposed_conv) {
        text += " k" + pair_text(std::to_string(y.kernel), std::to_string(x.kernel));
    }
    const bool upsample = n.op.kind == rf::op::upsample_nearest || n.op.kind == rf::op::upsample_bilinear;
    if (n.op.kind != rf::op::pad) {
        text += (upsample ? " x" : " s") + pair_text(std::to_string(y.stride), std::to_string(x.stride));
    }
    if (y.dilation != 1 || x.dilation != 1)
        text += " d" + pair_text(std::to_string(y.dilation), std::to_string(x.dilation));
    if (y.same) {
        text += " SAME";
    } else if (y.pad_begin || y.pad_end || x.pad_begin || x.pad_end) {
        const auto side = [](const rf::axis_spec& a) {
            return a.pad_begin == a.pad_end ? std::to_string(a.pad_begin)
                                            : std::to_string(a.pad_begin) + ":" + std::to_string(a.pad_end);
        };
        text += " p" + pair_text(side(y), side(x));
    }
    return text;
}

void print_table(const rf::network& net, const std::vector<rf::field>& fields, bool sized) {
    std::printf("%-44s %-22s %9s %8s %9s %10s%s\n", "node", "layer", "RF", "stride", "padding", "centre(0)",
                sized ? "     size" : "");
    for (idx id = 0; id < net.size(); ++id) {
        const rf::field& f = fields[static_cast<std::size_t>(id)];
        const auto both = [&](auto get) { return pair_text(get(f[0]), get(f[1])); };
        const std::string size = both([](const rf::axis_field& a) { return a.size.str(); });
        const std::string stride = both([](const rf::axis_field& a) { return a.stride.str(); });
        const std::string padding =
            both([](const rf::axis_field& a) { return a.padding_known ? a.padding.str() : "?"; });
        const std::string centre =
            both([](const rf::axis_field& a) { return a.padding_known ? a.centre(0).str() : std::string("?"); });
        std::string units;
        if (sized) units = both([](const rf::axis_field& a) { return std::to_string(a.units); });
        std::printf("%-44s %-22s %9s %8s %9s %10s %8s\n", net[id].name.c_str(), layer_text(net[id]).c_str(),
                    size.c_str(), stride.c_str(), padding.c_str(), centre.c_str(), units.c_str());
    }
}

// The input grid (plus the padding the window reaches), the window of the unit in blue, the
// units it really reads in darker blue, its centre in red, and the centres of the layer's
// units as grey dots.
void draw(const std::string& path, const rf::field& f, std::array<idx, 2> unit, std::array<rf::unit_range, 2> reads,
          rf::hw input) {
    std::array<rf::unit_range, 2> window{f[0].region(unit[0]), f[1].region(unit[1])};
    std::array<idx, 2> lo{};
    std::array<idx, 2> extent{};
    for (std::size_t a = 0; a < 2; ++a) {
        lo[a] = std::min<idx>(0, window[a].first) - 1;
        extent[a] = std::max<idx>(input[a] - 1, window[a].last) + 2 - lo[a];
    }
    const idx scale = std::max<idx>(1, 512 / std::max(extent[0], extent[1]));
    const idx height = extent[0] * scale;
    const idx width = extent[1] * scale;
    std::vector<unsigned char> rgb(static_cast<std::size_t>(height * width * 3));
    const auto put = [&](idx y, idx x, unsigned char r, unsigned char g, unsigned char b) {
        if (y < 0 || x < 0 || y >= height || x >= width) return;
        const auto at = static_cast<std::size_t>((y * width + x) * 3);
        rgb[at] = r;
        rgb[at + 1] = g;
        rgb[at + 2] = b;
    };
    for (idx py = 0; py < height; ++py) {
        for (idx px = 0; px < width; ++px) {
            const idx y = lo[0] + py / scale;
            const idx x = lo[1] + px / scale;
            const bool inside = y >= 0 && x >= 0 && y < input.h && x < input.w;
            const bool in_window =
                y >= window[0].first && y <= window[0].last && x >= window[1].first && x <= window[1].last;
            const bool read = y >= reads[0].first && y <= reads[0].last && x >= reads[1].first && x <= reads[1].last;
            const bool grid_line = scale >= 4 && (py % scale == 0 || px % scale == 0);
            unsigned char r = inside ? 255 : 200;
            unsigned char g = inside ? 255 : 200;
            unsigned char b = inside ? 255 : 200;
            if (in_window) r = g = static_cast<unsigned char>(inside ? 170 : 140);
            if (read) r = g = static_cast<unsigned char>(inside ? 90 : 70);
            if (grid_line) r = g = b = static_cast<unsigned char>(r * 0.85);
            put(py, px, r, g, b);
        }
    }
    const auto pixel = [&](std::size_t a, rf::fraction coordinate) {
        // Input unit u covers [u, u+1) on the picture; its centre is u + 1/2.
        return ((coordinate + rf::fraction(1, 2) - lo[a]) * scale).floor();
    };
    if (input.h <= 4096 && input.w <= 4096) {
        for (idx n = 0; f[0].units > 0 && n < f[0].units; ++n) {
            for (idx m = 0; f[1].units > 0 && m < f[1].units; ++m) {
                const idx cy = pixel(0, f[0].centre(n));
                const idx cx = pixel(1, f[1].centre(m));
                for (idx d = -1; d <= 1; ++d) {
                    put(cy + d, cx, 110, 110, 110);
                    put(cy, cx + d, 110, 110, 110);
                }
            }
        }
    }
    const idx cy = pixel(0, f[0].centre(unit[0]));
    const idx cx = pixel(1, f[1].centre(unit[1]));
    for (idx d = -3 * std::max<idx>(1, scale / 2); d <= 3 * std::max<idx>(1, scale / 2); ++d) {
        put(cy + d, cx, 220, 30, 30);
        put(cy, cx + d, 220, 30, 30);
    }
    if (stbi_write_png(path.c_str(), static_cast<int>(width), static_cast<int>(height), 3, rgb.data(),
                       static_cast<int>(width * 3)) == 0) {
        throw diffuse::invalid("--png", path, "a writable file path");
    }
    std::printf("wrote %s (%ldx%ld pixels, %ld per input unit)\n", path.c_str(), width, height, scale);
}

int run(int argc, char** argv) {
    const options o = parse_arguments(argc, argv);
    if (o.list) {
        for (const rf::zoo::entry& e : rf::zoo::catalogue) {
            std::printf("%-24s %s\n", std::string(e.name).c_str(), std::string(e.description).c_str());
        }
        return 0;
    }
    diffuse::require(!o.zoo.empty() || !o.file.empty(), "network", "none", "--zoo NAME or --file PATH");
    const rf::network net = load(o);
    const std::vector<rf::field> fields = rf::analyze(net, o.input);
    print_table(net, fields, o.input.has_value());
    const idx chosen = o.layer.empty() ? net.last() : net.find(o.layer);
    const rf::field& f = fields[static_cast<std::size_t>(chosen)];
    std::printf("\n%s: receptive field %s, effective stride %s, effective padding %s (height x width)\n",
                net[chosen].name.c_str(), pair_text(f[0].size.str(), f[1].size.str()).c_str(),
                pair_text(f[0].stride.str(), f[1].stride.str()).c_str(),
                f[0].padding_known && f[1].padding_known ? pair_text(f[0].padding.str(), f[1].padding.str()).c_str()
                                                         : "unknown without --input");
    if (!o.input) return 0;
    std::array<idx, 2> unit = o.unit.value_or(std::array<idx, 2>{f[0].units / 2, f[1].units / 2});
    for (std::size_t a = 0; a < 2; ++a) {
        diffuse::require(unit[a] >= 0 && unit[a] < f[a].units, "--unit", unit[a],
                         "a unit of the layer, 0.." + std::to_string(f[a].units - 1));
    }
    const auto reads = rf::unit_region(net, chosen, unit, o.input);
    std::printf(
        "unit (%ld, %ld): window rows [%s, %s] cols [%s, %s], centre (%s, %s); reads rows %ld..%ld, cols %ld..%ld\n",
        unit[0], unit[1], f[0].first(unit[0]).str().c_str(), f[0].last(unit[0]).str().c_str(),
        f[1].first(unit[1]).str().c_str(), f[1].last(unit[1]).str().c_str(), f[0].centre(unit[0]).str().c_str(),
        f[1].centre(unit[1]).str().c_str(), reads[0].first, reads[0].last, reads[1].first, reads[1].last);
    if (!o.png.empty()) draw(o.png, f, unit, reads, *o.input);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const diffuse::error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
    }
}
