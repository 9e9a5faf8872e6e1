// diffuse/rf/graph_field.hpp: receptive fields of networks with branches, and their alignment.
//
// Araujo, Norris, Sim (Distill 2019, "Arbitrary computation graphs"): when several paths lead
// from the input to a node, the node's field is well defined only if every path gives the same
// effective stride S and the same centre of output unit 0, -P + (r-1)/2; the node then sees the
// largest of the paths' windows (they share the centre). A graph breaking this is misaligned:
// its units' windows would be offset from one another, and `analyze` reports it as an error
// naming the merge node and the two disagreeing paths.
//
// `analyze` walks forward with the jump/start arithmetic (one pass gives every node's field).
// `top_down` is the published algorithm of google-research/receptive_field: it walks back from
// one output node and checks alignment where paths fork. Both are constexpr.
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/rf/field.hpp"
#include "diffuse/rf/fraction.hpp"
#include "diffuse/rf/network.hpp"
#include "diffuse/rf/sequential.hpp"
#include "diffuse/rf/step.hpp"

namespace diffuse::rf {

// Per node: its steps (identity for the input and merges) and, with an input size, its output
// size. Merged nodes must have equal sizes.
struct resolved_graph {
    std::vector<steps> node_steps;
    std::vector<std::array<index, 2>> units;  // -1 without an input size
};

constexpr resolved_graph resolve(const network& net, std::optional<hw> input = std::nullopt) {
    resolved_graph out;
    for (index id = 0; id < net.size(); ++id) {
        const node& n = net[id];
        const std::string where = "node '" + n.name + "'";
        steps st{};
        std::array<index, 2> units{-1, -1};
        if (n.kind == node_kind::input) {
            if (input) units = {input->h, input->w};
        } else if (n.kind == node_kind::layer) {
            const auto& in_units = out.units[static_cast<std::size_t>(n.inputs[0])];
            for (std::size_t a = 0; a < 2; ++a) {
                st[a] = step_of(n.op.kind, n.op.axes[a], in_units[a]);
                if (input) units[a] = output_size(n.op.kind, n.op.axes[a], in_units[a], where);
            }
        } else {
            units = out.units[static_cast<std::size_t>(n.inputs[0])];
            for (const index from : n.inputs) {
                const auto& other = out.units[static_cast<std::size_t>(from)];
                for (std::size_t a = 0; a < 2; ++a) {
                    if (other[a] != units[a]) {
                        throw invalid(where + ": size (" + std::string(axis_names[a]) + ") of input '" + net[from].name +
                                          "'",
                                      other[a],
                                      "the size of input '" + net[n.inputs[0]].name + "', " + std::to_string(units[a]) +
                                          " (merged feature maps must have the same size)");
                    }
                }
            }
        }
        out.node_steps.push_back(st);
        out.units.push_back(units);
    }
    return out;
}

namespace detail {

// Names along a chain of ids (first..last), e.g. "conv1 -> pool1 -> add".
constexpr std::string path_text(const network& net, const std::vector<index>& ids) {
    std::string text;
    for (const index id : ids) text += (text.empty() ? "" : " -> ") + net[id].name;
    return text;
}

// The chain of witnesses leading back from `id` to the input, returned input first.
constexpr std::vector<index> witness_chain(const std::vector<index>& witness, index id) {
    std::vector<index> chain;
    for (index at = id; at >= 0; at = witness[static_cast<std::size_t>(at)]) chain.insert(chain.begin(), at);
    return chain;
}

// The two witness paths into a merge, from the last node they share to the merge.
constexpr std::array<std::string, 2> diverging_paths(const network& net, const std::vector<index>& witness,
                                                     index a, index b, index merge) {
    std::vector<index> pa = witness_chain(witness, a);
    std::vector<index> pb = witness_chain(witness, b);
    std::size_t common = 0;
    while (common + 1 < pa.size() && common + 1 < pb.size() && pa[common + 1] == pb[common + 1]) ++common;
    pa.erase(pa.begin(), pa.begin() + static_cast<std::ptrdiff_t>(common));
    pb.erase(pb.begin(), pb.begin() + static_cast<std::ptrdiff_t>(common));
    pa.push_back(merge);
    pb.push_back(merge);
    return {path_text(net, pa), path_text(net, pb)};
}

inline std::string describe(const std::string& path, fraction stride, std::optional<fraction> centre) {
    return "path " + path + " has stride " + stride.str() +
           (centre ? " and centre offset " + centre->str() : std::string());
}

[[noreturn]] inline void misaligned(const std::string& where, std::size_t axis, const std::array<std::string, 2>& paths,
                                    fraction stride_a, fraction stride_b, std::optional<fraction> centre_a,
                                    std::optional<fraction> centre_b) {
    throw invalid("alignment at " + where + " (" + std::string(axis_names[axis]) + ")",
                  describe(paths[0], stride_a, centre_a) + ", but " + describe(paths[1], stride_b, centre_b),
                  "paths with the same effective stride and the same centre offset -P + (r-1)/2 "
                  "(Araujo et al. 2019); change a padding or a stride on one of them");
}

}  // namespace detail

// The field of every node of `net` (indexed by node id).
constexpr std::vector<field> analyze(const network& net, std::optional<hw> input = std::nullopt) {
    const resolved_graph g = resolve(net, input);
    std::vector<std::array<detail::jump_start, 2>> state(static_cast<std::size_t>(net.size()));
    std::vector<index> witness(static_cast<std::size_t>(net.size()), -1);  // the input a node's field came from
    std::vector<field> fields;
    for (index id = 0; id < net.size(); ++id) {
        const node& n = net[id];
        auto& js = state[static_cast<std::size_t>(id)];
        if (n.kind == node_kind::layer) {
            const auto& in = state[static_cast<std::size_t>(n.inputs[0])];
            for (std::size_t a = 0; a < 2; ++a) js[a] = detail::advance(in[a], g.node_steps[static_cast<std::size_t>(id)][a]);
            witness[static_cast<std::size_t>(id)] = n.inputs[0];
        } else if (n.kind != node_kind::input) {
            const index first = n.inputs[0];
            const auto& ref = state[static_cast<std::size_t>(first)];
            js = ref;
            index widest = first;  // the path reported in messages: the one with the largest window
            for (const index from : n.inputs) {
                const auto& other = state[static_cast<std::size_t>(from)];
                for (std::size_t a = 0; a < 2; ++a) {
                    const bool centres = ref[a].start_known && other[a].start_known;
                    if (other[a].jump != ref[a].jump || (centres && other[a].start != ref[a].start)) {
                        const auto centre = [&](const detail::jump_start& s) {
                            return centres ? std::optional<fraction>(s.start) : std::nullopt;
                        };
                        detail::misaligned("'" + n.name + "'", a, detail::diverging_paths(net, witness, first, from, id),
                                           ref[a].jump, other[a].jump, centre(ref[a]), centre(other[a]));
                    }
                    if (other[a].size > js[a].size) js[a].size = other[a].size;
                    js[a].start_known = js[a].start_known && other[a].start_known;
                }
                const auto& best = state[static_cast<std::size_t>(widest)];
                if (other[0].size + other[1].size > best[0].size + best[1].size) widest = from;
            }
            witness[static_cast<std::size_t>(id)] = widest;
        }
        field f;
        for (std::size_t a = 0; a < 2; ++a) f[a] = detail::to_field(js[a], g.units[static_cast<std::size_t>(id)][a]);
        fields.push_back(f);
    }
    return fields;
}

// The field of one node, by name or id; the field of the last node added.
constexpr field field_of(const network& net, index id, std::optional<hw> input = std::nullopt) {
    return analyze(net, input)[static_cast<std::size_t>(id)];
}
constexpr field field_of(const network& net, std::string_view name, std::optional<hw> input = std::nullopt) {
    return field_of(net, net.find(name), input);
}
constexpr field output_field(const network& net, std::optional<hw> input = std::nullopt) {
    return field_of(net, net.last(), input);
}

// google-research/receptive_field's algorithm: from output unit 0 of node `output`, apply the
// top-down recurrence node by node in reverse topological order; where a node feeds several
// consumers, their views of it must agree in stride and centre, and the largest size is kept.
constexpr field top_down(const network& net, index output, std::optional<hw> input = std::nullopt) {
    const resolved_graph g = resolve(net, input);
    const auto count = static_cast<std::size_t>(net.size());
    std::vector<std::optional<field>> seen(count);  // the output unit's field in each node's grid
    std::vector<index> successor(count, -1);        // the consumer that view came through
    seen[static_cast<std::size_t>(output)] = field{};
    const auto path_to_output = [&](index from) {
        std::vector<index> ids;
        for (index at = from; at >= 0; at = successor[static_cast<std::size_t>(at)]) ids.push_back(at);
        return detail::path_text(net, ids);
    };
    for (index id = output; id >= 0; --id) {
        if (!seen[static_cast<std::size_t>(id)]) continue;  // does not lead to `output`
        const node& n = net[id];
        field view = *seen[static_cast<std::size_t>(id)];
        if (n.kind == node_kind::layer) {
            for (std::size_t a = 0; a < 2; ++a) view[a] = detail::recede(view[a], g.node_steps[static_cast<std::size_t>(id)][a]);
        }
        for (const index from : n.inputs) {
            auto& target = seen[static_cast<std::size_t>(from)];
            if (!target) {
                target = view;
                successor[static_cast<std::size_t>(from)] = id;
                continue;
            }
            for (std::size_t a = 0; a < 2; ++a) {
                axis_field& have = (*target)[a];
                const bool centres = have.padding_known && view[a].padding_known;
                if (have.stride != view[a].stride || (centres && have.centre_offset() != view[a].centre_offset())) {
                    const auto centre = [&](const axis_field& f) {
                        return centres ? std::optional<fraction>(f.centre_offset()) : std::nullopt;
                    };
                    detail::misaligned("'" + net[from].name + "'", a,
                                       {net[from].name + " -> " + path_to_output(successor[static_cast<std::size_t>(from)]),
                                        net[from].name + " -> " + path_to_output(id)},
                                       have.stride, view[a].stride, centre(have), centre(view[a]));
                }
                if (view[a].size > have.size) {
                    const fraction centre = have.centre_offset();
                    have.size = view[a].size;
                    have.padding = centres ? (have.size - 1) / 2 - centre : fraction(0);
                }
                have.padding_known = centres;
                if (!centres) have.padding = 0;
            }
        }
    }
    field result = *seen[0];
    for (std::size_t a = 0; a < 2; ++a) result[a].units = g.units[static_cast<std::size_t>(output)][a];
    return result;
}

// The input units output unit `n` of node `output` depends on, rounded to whole units at every
// layer. With integer strides this is field.region(n). With upsampling the affine window of the
// field is a continuous bound whose fractional ends later strides magnify; walking the units back
// layer by layer keeps only the units that are really read (exact hulls for convolutions,
// poolings, nearest upsampling and undilated transposed convolutions).
constexpr std::array<unit_range, 2> unit_region(const network& net, index output, std::array<index, 2> n,
                                                std::optional<hw> input = std::nullopt) {
    const resolved_graph g = resolve(net, input);
    std::vector<std::optional<std::array<unit_range, 2>>> reach(static_cast<std::size_t>(net.size()));
    reach[static_cast<std::size_t>(output)] = std::array<unit_range, 2>{unit_range{n[0], n[0]}, unit_range{n[1], n[1]}};
    for (index id = output; id > 0; --id) {
        if (!reach[static_cast<std::size_t>(id)]) continue;
        std::array<unit_range, 2> r = *reach[static_cast<std::size_t>(id)];
        const node& nd = net[id];
        if (nd.kind == node_kind::layer) {
            for (std::size_t a = 0; a < 2; ++a) {
                const axis_step& s = g.node_steps[static_cast<std::size_t>(id)][a];
                if (!s.offset_known) {
                    throw invalid("effective padding", "unknown",
                                  "a known input size: TensorFlow 'SAME' padding with a stride > 1 depends on it");
                }
                r[a] = {(s.stride * r[a].first - s.offset).ceil(), (s.stride * r[a].last - s.offset + s.extent).floor()};
            }
        }
        for (const index from : nd.inputs) {
            auto& target = reach[static_cast<std::size_t>(from)];
            if (!target) {
                target = r;
                continue;
            }
            for (std::size_t a = 0; a < 2; ++a) {
                (*target)[a].first = r[a].first < (*target)[a].first ? r[a].first : (*target)[a].first;
                (*target)[a].last = r[a].last > (*target)[a].last ? r[a].last : (*target)[a].last;
            }
        }
    }
    return *reach[0];
}

constexpr std::array<unit_range, 2> unit_region(std::span<const layer> layers, std::array<index, 2> n,
                                                std::optional<hw> input = std::nullopt) {
    const network net = chain(layers);
    return unit_region(net, net.last(), n, input);
}

}  // namespace diffuse::rf
