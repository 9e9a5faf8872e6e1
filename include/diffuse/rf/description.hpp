// diffuse/rf/description.hpp: networks read from a small line-based text description.
//
// One node per line, `#` starts a comment:
//     input   image                                  # optional first line: names the input
//     conv    conv1   kernel=7 stride=2 padding=3
//     pool    pool1   kernel=3 stride=2 padding=same
//     conv    b1      kernel=1,7 padding=0,3 from=pool1
//     add     sum     from=conv2,pool1
// A node reads the node on the line before unless `from=` names it (a merge names two or more).
// Kinds: conv, pool, pad, pointwise, deconv (transposed convolution), upsample_nearest,
// upsample_bilinear, add, concat. Values per axis are `V` (both axes) or `H,W`. Padding is `same`
// (TensorFlow), `valid`, or per axis `P` (both sides) or `B:E` (before:after), e.g. `0:1,0:1`.
// Keys: kernel, stride, dilation, padding, output_padding (deconv), factor (upsampling),
// ceil_mode=true|false (pool), from. A pool's stride defaults to its kernel (as in PyTorch).
//
// The format is parsed here, without a JSON dependency; a malformed line is a diffuse::error
// naming the line and the field. `parse` is constexpr, so a description in a string literal
// can be checked at compile time.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/rf/layer.hpp"
#include "diffuse/rf/network.hpp"

namespace diffuse::rf {

namespace detail {

constexpr bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

constexpr std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    std::size_t begin = 0;
    for (std::size_t i = 0; i <= text.size(); ++i) {
        if (i == text.size() || text[i] == separator) {
            parts.push_back(text.substr(begin, i - begin));
            begin = i + 1;
        }
    }
    return parts;
}

constexpr std::string_view trim(std::string_view text) {
    while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
    return text;
}

constexpr std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && is_space(line[i])) ++i;
        const std::size_t begin = i;
        while (i < line.size() && !is_space(line[i])) ++i;
        if (i > begin) out.push_back(line.substr(begin, i - begin));
    }
    return out;
}

// One line of a description being read: knows its number for the messages.
class line_reader {
public:
    constexpr explicit line_reader(index number) : number_(number) {}

    [[noreturn]] void fail(std::string_view field, std::string_view value, std::string_view allowed) const {
        throw invalid(join("line ", std::to_string(number_), ", field '", field, "'"), value, allowed);
    }

    static constexpr index max_value = 1'000'000'000;

    constexpr index integer(std::string_view field, std::string_view text, index lowest) const {
        index value = 0;
        bool ok = !text.empty() && text.size() <= 10;
        for (const char c : text) ok = ok && c >= '0' && c <= '9';
        if (ok) {
            for (const char c : text) value = value * 10 + (c - '0');
        }
        if (!ok || value < lowest || value > max_value) {
            fail(field, text,
                 lowest == 0 ? "a decimal integer in [0, 1000000000]" : "a decimal integer in [1, 1000000000]");
        }
        return value;
    }

    // `V` or `H,W`.
    constexpr hw pair(std::string_view field, std::string_view text, index lowest) const {
        const std::vector<std::string_view> parts = split(text, ',');
        if (parts.size() == 1) return hw(integer(field, parts[0], lowest));
        if (parts.size() != 2) fail(field, text, "one value for both axes or two, height,width");
        return hw(integer(field, parts[0], lowest), integer(field, parts[1], lowest));
    }

    // `same`, `valid`, `P`, `H,W`, `B:E`, `B:E,B:E`.
    constexpr padding pads(std::string_view field, std::string_view text) const {
        if (text == "same") return same;
        if (text == "valid") return valid;
        std::vector<std::string_view> axes = split(text, ',');
        if (axes.size() == 1) axes.push_back(axes[0]);
        if (axes.size() != 2) fail(field, text, "same, valid, or per axis P or before:after, e.g. 1 or 0:1,0:1");
        std::array<std::array<index, 2>, 2> amounts{};  // [axis][before, after]
        for (std::size_t a = 0; a < 2; ++a) {
            const std::vector<std::string_view> sides = split(axes[a], ':');
            if (sides.size() > 2) fail(field, text, "same, valid, or per axis P or before:after, e.g. 1 or 0:1,0:1");
            amounts[a] = {integer(field, sides[0], 0), integer(field, sides.back(), 0)};
        }
        return padding::asymmetric(amounts[0][0], amounts[0][1], amounts[1][0], amounts[1][1]);
    }

private:
    index number_;
};

struct statement {
    std::string_view kind;
    std::string_view name;
    std::vector<std::array<std::string_view, 2>> fields;  // key, value
};

constexpr std::optional<std::string_view> value_of(const statement& s, std::string_view key) {
    for (const auto& f : s.fields) {
        if (f[0] == key) return f[1];
    }
    return std::nullopt;
}

}  // namespace detail

constexpr network parse(std::string_view text) {
    network net;
    bool first_statement = true;
    const std::vector<std::string_view> lines = detail::split(text, '\n');
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const detail::line_reader line(static_cast<index>(i + 1));
        std::string_view content = lines[i];
        if (const std::size_t hash = content.find('#'); hash != std::string_view::npos)
            content = content.substr(0, hash);
        const std::vector<std::string_view> tokens = detail::words(content);
        if (tokens.empty()) continue;
        if (tokens.size() < 2) line.fail("name", "", "a kind followed by a node name, e.g. 'conv conv1 kernel=3'");

        detail::statement s{tokens[0], tokens[1], {}};
        if (s.name.find('=') != std::string_view::npos) {
            line.fail("name", s.name, "a node name before the key=value fields");
        }
        if (net.lookup(s.name) >= 0) line.fail("name", s.name, "a name no earlier line uses");
        for (std::size_t t = 2; t < tokens.size(); ++t) {
            const std::size_t eq = tokens[t].find('=');
            if (eq == std::string_view::npos || eq == 0) line.fail("field", tokens[t], "key=value");
            const std::string_view key = tokens[t].substr(0, eq);
            if (detail::value_of(s, key)) line.fail(key, tokens[t].substr(eq + 1), "a key given once per line");
            s.fields.push_back({key, tokens[t].substr(eq + 1)});
        }

        if (s.kind == "input") {
            if (!first_statement) line.fail("kind", s.kind, "input only on the first line");
            if (!s.fields.empty()) line.fail(s.fields[0][0], s.fields[0][1], "no fields on the input line");
            net = network(s.name);
            first_statement = false;
            continue;
        }
        first_statement = false;

        const bool merge = s.kind == "add" || s.kind == "concat";
        std::optional<op> kind;
        for (std::size_t k = 0; k < op_names.size(); ++k) {
            if (op_names[k] == s.kind) kind = static_cast<op>(k);
        }
        if (!merge && !kind) {
            line.fail("kind", s.kind,
                      "one of input, conv, pool, pad, pointwise, deconv, upsample_nearest, upsample_bilinear, add, "
                      "concat");
        }

        // Which keys each kind accepts.
        std::string_view allowed = "from";
        if (kind == op::conv) allowed = "kernel, stride, dilation, padding, from";
        if (kind == op::pool) allowed = "kernel, stride, padding, ceil_mode, from";
        if (kind == op::pad) allowed = "padding, from";
        if (kind == op::transposed_conv) allowed = "kernel, stride, dilation, padding, output_padding, from";
        if (kind == op::upsample_nearest || kind == op::upsample_bilinear) allowed = "factor, from";
        for (const auto& f : s.fields) {
            bool known = false;
            for (const std::string_view key : detail::split(allowed, ',')) {
                known = known || detail::trim(key) == f[0];
            }
            if (!known) line.fail(f[0], f[1], detail::join("a key ", s.kind, " accepts: ", allowed));
        }

        std::vector<index> from;
        if (const auto names = detail::value_of(s, "from")) {
            for (const std::string_view name : detail::split(*names, ',')) {
                const index id = net.lookup(name);
                if (id < 0) line.fail("from", name, "the name of a node on an earlier line");
                from.push_back(id);
            }
        } else if (!merge) {
            from.push_back(net.last());
        }
        if (merge) {
            if (from.size() < 2)
                line.fail("from", detail::value_of(s, "from").value_or(""), "two or more node names, a,b");
            s.kind == "add" ? net.add(s.name, from) : net.concat(s.name, from);
            continue;
        }
        if (from.size() != 1) line.fail("from", *detail::value_of(s, "from"), "exactly one node name");

        const auto get = [&](std::string_view key) { return detail::value_of(s, key); };
        const auto require_key = [&](std::string_view key) {
            const auto v = get(key);
            if (!v) line.fail(key, "", detail::join("a value: ", s.kind, " needs ", key));
            return *v;
        };
        layer l = pointwise();
        switch (*kind) {
            case op::conv: {
                const hw k = line.pair("kernel", require_key("kernel"), 1);
                l = conv(k, get("stride") ? line.pair("stride", *get("stride"), 1) : hw(1),
                         get("padding") ? line.pads("padding", *get("padding")) : valid,
                         get("dilation") ? line.pair("dilation", *get("dilation"), 1) : hw(1));
                break;
            }
            case op::pool: {
                const hw k = line.pair("kernel", require_key("kernel"), 1);
                bool ceil = false;
                if (const auto c = get("ceil_mode")) {
                    if (*c != "true" && *c != "false") line.fail("ceil_mode", *c, "true or false");
                    ceil = *c == "true";
                }
                l = pool(k, get("stride") ? line.pair("stride", *get("stride"), 1) : k,
                         get("padding") ? line.pads("padding", *get("padding")) : valid, ceil);
                break;
            }
            case op::pad:
                l = pad(line.pads("padding", require_key("padding")));
                break;
            case op::pointwise:
                break;
            case op::transposed_conv: {
                const hw p = get("padding") ? line.pair("padding", *get("padding"), 0) : hw(0);
                l = transposed_conv(
                    line.pair("kernel", require_key("kernel"), 1),
                    get("stride") ? line.pair("stride", *get("stride"), 1) : hw(1), p,
                    get("dilation") ? line.pair("dilation", *get("dilation"), 1) : hw(1),
                    get("output_padding") ? line.pair("output_padding", *get("output_padding"), 0) : hw(0));
                break;
            }
            case op::upsample_nearest:
                l = upsample_nearest(line.pair("factor", require_key("factor"), 1));
                break;
            case op::upsample_bilinear:
                l = upsample_bilinear(line.pair("factor", require_key("factor"), 1));
                break;
        }
        // Rules that span fields (a pooling padding larger than half its kernel, an output
        // padding not below the stride...) are checked by the layer itself; report them here.
        try {
            net.append(s.name, l, from[0]);
        } catch (const error& e) {
            line.fail(s.kind, s.name, e.what());
        }
    }
    return net;
}

}  // namespace diffuse::rf
