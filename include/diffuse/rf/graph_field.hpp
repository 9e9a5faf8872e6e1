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
#include "diffuse/rf/offset.hpp"
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
        const std::string where = detail::join("node '", n.name, "'");
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
                        throw invalid(
                            detail::join(where, ": size (", axis_names[a], ") of input '", net[from].name, "'"),
                            other[a],
                            detail::join("the size of input '", net[n.inputs[0]].name, "', ", std::to_string(units[a]),
                                         " (merged feature maps must have the same size)"));
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
    for (const index id : ids) text.append(text.empty() ? "" : " -> ").append(net[id].name);
    return text;
}

// The chain of witnesses leading back from `id` to the input, returned input first.
constexpr std::vector<index> witness_chain(const std::vector<index>& witness, index id) {
    std::vector<index> chain;
    for (index at = id; at >= 0; at = witness[static_cast<std::size_t>(at)]) chain.insert(chain.begin(), at);
    return chain;
}

// The two witness paths into a merge, from the last node they share to the merge.
constexpr std::array<std::string, 2> diverging_paths(const network& net, const std::vector<index>& witness, index a,
                                                     index b, index merge) {
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
    return join("path ", path, " has stride ", stride.str(), centre ? " and centre offset " : "",
                centre ? centre->str() : std::string());
}

// `unknowns`: the two centres share unknown 'SAME' paddings; only their difference is known.
[[noreturn]] inline void misaligned(const std::string& where, std::size_t axis, const std::array<std::string, 2>& paths,
                                    fraction stride_a, fraction stride_b, std::optional<fraction> centre_a,
                                    std::optional<fraction> centre_b, bool unknowns = false) {
    throw invalid(join("alignment at ", where, " (", axis_names[axis], ")"),
                  join(describe(paths[0], stride_a, centre_a), ", but ", describe(paths[1], stride_b, centre_b),
                       unknowns ? " (each plus the same unknown 'SAME' paddings)" : ""),
                  "paths with the same effective stride and the same centre offset -P + (r-1)/2 "
                  "(Araujo et al. 2019); change a padding or a stride on one of them");
}

// Where several positions meet (a merge going forward, a fork going back): every pair whose
// difference is known must agree. The meeting point keeps their common form, or a fresh
// unknown `symbol` when they depend on different unknowns.
struct meeting {
    std::vector<offset> seen;
    std::vector<index> from;  // which neighbour brought each position
    // The index in `seen` of a comparable position that differs from `position`, or -1.
    constexpr index conflict(const offset& position) const {
        for (std::size_t i = 0; i < seen.size(); ++i) {
            if (seen[i].comparable(position) && seen[i] != position) return static_cast<index>(i);
        }
        return -1;
    }
    constexpr offset common(index symbol) const {
        for (const offset& o : seen) {
            if (!o.comparable(seen[0])) return offset::unknown(symbol);
        }
        return seen[0];
    }
};

constexpr std::optional<fraction> constant_if_known(const offset& o) {
    return o.known() ? std::optional<fraction>(o.constant()) : std::nullopt;
}

}  // namespace detail

// The field of every node of `net` (indexed by node id).
constexpr std::vector<field> analyze(const network& net, std::optional<hw> input = std::nullopt) {
    const resolved_graph g = resolve(net, input);
    const auto count = static_cast<std::size_t>(net.size());
    std::vector<std::array<detail::jump_start, 2>> state(count);
    std::vector<index> witness(count, -1);  // the input a node's field came from, for messages
    std::vector<field> fields;
    for (index id = 0; id < net.size(); ++id) {
        const node& n = net[id];
        auto& js = state[static_cast<std::size_t>(id)];
        if (n.kind == node_kind::layer) {
            const auto& in = state[static_cast<std::size_t>(n.inputs[0])];
            for (std::size_t a = 0; a < 2; ++a)
                js[a] = detail::advance(in[a], g.node_steps[static_cast<std::size_t>(id)][a], id);
            witness[static_cast<std::size_t>(id)] = n.inputs[0];
        } else if (n.kind != node_kind::input) {
            const index first = n.inputs[0];
            js = state[static_cast<std::size_t>(first)];
            for (std::size_t a = 0; a < 2; ++a) {
                detail::meeting centres;
                for (const index from : n.inputs) {
                    const detail::jump_start& other = state[static_cast<std::size_t>(from)][a];
                    const detail::jump_start& ref = state[static_cast<std::size_t>(first)][a];
                    if (other.jump != ref.jump) {
                        detail::misaligned(detail::join("'", n.name, "'"), a,
                                           detail::diverging_paths(net, witness, first, from, id), ref.jump, other.jump,
                                           std::nullopt, std::nullopt);
                    }
                    if (const index clash = centres.conflict(other.start); clash >= 0) {
                        const offset& before = centres.seen[static_cast<std::size_t>(clash)];
                        detail::misaligned(detail::join("'", n.name, "'"), a,
                                           detail::diverging_paths(
                                               net, witness, centres.from[static_cast<std::size_t>(clash)], from, id),
                                           other.jump, other.jump, before.constant(), other.start.constant(),
                                           !other.start.known());
                    }
                    centres.seen.push_back(other.start);
                    centres.from.push_back(from);
                    if (other.size > js[a].size) js[a].size = other.size;
                }
                js[a].start = centres.common(id);
            }
            index widest = first;  // the path reported in later messages: the largest window
            for (const index from : n.inputs) {
                const auto& other = state[static_cast<std::size_t>(from)];
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
    // The output unit's window in each node's grid, once every consumer of the node has been seen.
    std::vector<std::optional<std::array<detail::window, 2>>> seen(count);
    std::vector<std::array<detail::meeting, 2>> centres(count);
    std::vector<index> successor(count, -1);  // the consumer the first view came through
    seen[static_cast<std::size_t>(output)] = std::array<detail::window, 2>{};
    const auto path_from = [&](index from, index via) {
        std::vector<index> ids{from};
        for (index at = via; at >= 0; at = successor[static_cast<std::size_t>(at)]) ids.push_back(at);
        return detail::path_text(net, ids);
    };
    for (index id = output; id >= 0; --id) {
        const auto self = static_cast<std::size_t>(id);
        if (!seen[self]) continue;  // does not lead to `output`
        std::array<detail::window, 2> view = *seen[self];
        for (std::size_t a = 0; a < 2; ++a) {
            // Views that depend on different unknowns meet in a fresh unknown (ids past the nodes).
            if (!centres[self][a].seen.empty()) {
                view[a].padding = offset((view[a].size - 1) / 2) - centres[self][a].common(net.size() + id);
            }
            if (net[id].kind == node_kind::layer) view[a] = detail::recede(view[a], g.node_steps[self][a], id);
        }
        for (const index from : net[id].inputs) {
            const auto f = static_cast<std::size_t>(from);
            const std::string where = detail::join("'", net[from].name, "'");
            for (std::size_t a = 0; a < 2; ++a) {
                detail::meeting& met = centres[f][a];
                if (seen[f] && (*seen[f])[a].stride != view[a].stride) {
                    detail::misaligned(where, a, {path_from(from, successor[f]), path_from(from, id)},
                                       (*seen[f])[a].stride, view[a].stride, std::nullopt, std::nullopt);
                }
                const offset centre = view[a].centre();
                if (const index clash = met.conflict(centre); clash >= 0) {
                    detail::misaligned(
                        where, a, {path_from(from, met.from[static_cast<std::size_t>(clash)]), path_from(from, id)},
                        view[a].stride, view[a].stride, met.seen[static_cast<std::size_t>(clash)].constant(),
                        centre.constant(), !centre.known());
                }
                met.seen.push_back(centre);
                met.from.push_back(id);
            }
            if (!seen[f]) {
                seen[f] = view;
                successor[f] = id;
                continue;
            }
            for (std::size_t a = 0; a < 2; ++a) {
                if (view[a].size > (*seen[f])[a].size) (*seen[f])[a].size = view[a].size;
            }
        }
    }
    std::array<detail::window, 2> at_input = *seen[0];
    field result;
    for (std::size_t a = 0; a < 2; ++a) {
        if (!centres[0][a].seen.empty()) {
            at_input[a].padding = offset((at_input[a].size - 1) / 2) - centres[0][a].common(net.size());
        }
        result[a] = detail::to_field(at_input[a], g.units[static_cast<std::size_t>(output)][a]);
    }
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
                r[a] = {(s.stride * r[a].first - s.offset).ceil(),
                        (s.stride * r[a].last - s.offset + s.extent).floor()};
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
