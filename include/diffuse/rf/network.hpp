// diffuse/rf/network.hpp: a network as a directed acyclic graph of named layers.
//
// Node 0 is the input. Every other node is a layer fed by one earlier node, or a merge (an
// element-wise add, as in a residual connection, or a channel concatenation, as in Inception)
// of several earlier nodes. Because a node may only read earlier nodes, the insertion order is a
// topological order and cycles cannot be expressed. The type allocates (std::string,
// std::vector) but is usable in constant evaluation: a constexpr function can build a network
// and return its receptive field (rf/zoo.hpp, tests/test_receptive_field.cpp).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/rf/layer.hpp"

namespace diffuse::rf {

enum class node_kind : unsigned char { input, layer, add, concat };

constexpr std::string_view name_of(node_kind kind) {
    switch (kind) {
        case node_kind::input:
            return "input";
        case node_kind::layer:
            return "layer";
        case node_kind::add:
            return "add";
        case node_kind::concat:
            return "concat";
    }
    return "?";
}

struct node {
    std::string name;
    node_kind kind = node_kind::input;
    rf::layer op{};  // layer nodes only
    std::vector<index> inputs;
};

class network {
public:
    // Names are taken as views and copied (GCC 12 cannot move a short std::string in constant
    // evaluation).
    constexpr explicit network(std::string_view input_name = "input") {
        push(node{std::string(input_name), node_kind::input, {}, {}});
    }

    // A layer fed by the node added last.
    constexpr index append(std::string_view name, layer l) { return append(name, l, last()); }
    // A layer fed by node `from`.
    constexpr index append(std::string_view name, layer l, index from) {
        return push(node{std::string(name), node_kind::layer, l, {from}});
    }
    // Element-wise sum of several nodes (a residual connection).
    constexpr index add(std::string_view name, std::vector<index> from) {
        return push(node{std::string(name), node_kind::add, {}, std::move(from)});
    }
    // Channel concatenation of several nodes (Inception).
    constexpr index concat(std::string_view name, std::vector<index> from) {
        return push(node{std::string(name), node_kind::concat, {}, std::move(from)});
    }

    constexpr index size() const { return static_cast<index>(nodes_.size()); }
    constexpr index last() const { return size() - 1; }
    constexpr const node& operator[](index id) const { return nodes_[static_cast<std::size_t>(id)]; }
    constexpr std::span<const node> nodes() const { return nodes_; }

    // The id of the node called `name`, or -1.
    constexpr index lookup(std::string_view name) const {
        for (index id = 0; id < size(); ++id) {
            if ((*this)[id].name == name) return id;
        }
        return -1;
    }
    // The id of the node called `name`; an error when there is none.
    constexpr index find(std::string_view name) const {
        const index id = lookup(name);
        if (id < 0) throw invalid("node name", name, "the name of a node of the network");
        return id;
    }

private:
    constexpr index push(node&& n) {
        if (n.name.empty()) throw invalid("node name", n.name, "a non-empty name");
        if (lookup(n.name) >= 0) throw invalid("node name", n.name, "a name no earlier node has");
        const std::string where = detail::join("node '", n.name, "'");
        if (n.kind == node_kind::layer) validate(n.op, where);
        if ((n.kind == node_kind::add || n.kind == node_kind::concat) && n.inputs.size() < 2) {
            throw invalid(detail::join(where, ": number of inputs"), static_cast<index>(n.inputs.size()),
                          "at least 2 (a merge joins paths)");
        }
        for (const index from : n.inputs) {
            if (from < 0 || from >= size()) {
                throw invalid(detail::join(where, ": input node id"), from,
                              detail::join("the id of an earlier node, 0..", std::to_string(size() - 1)));
            }
        }
        nodes_.push_back(std::move(n));
        return last();
    }

    std::vector<node> nodes_;
};

// A single-path network: layers[i] is node i+1, named "layer i+1".
constexpr network chain(std::span<const layer> layers) {
    network n;
    for (std::size_t i = 0; i < layers.size(); ++i)
        n.append(detail::join("layer ", detail::decimal(static_cast<index>(i + 1))), layers[i]);
    return n;
}

}  // namespace diffuse::rf
