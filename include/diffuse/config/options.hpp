// diffuse/config/options.hpp: named, typed options for choosing a sampler at run time (from a
// diffusers scheduler_config.json or from code), with errors that say which key is wrong and
// what is allowed.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "diffuse/core/error.hpp"

namespace diffuse::config {

// One option value: null (diffusers writes `"trained_betas": null`), bool, integer, number,
// string or list of numbers.
class value {
public:
    using storage = std::variant<std::monostate, bool, std::int64_t, double, std::string, std::vector<double>>;

    value() = default;
    value(std::nullptr_t) {}
    value(bool b) : v_(b) {}
    value(int i) : v_(static_cast<std::int64_t>(i)) {}
    value(long i) : v_(static_cast<std::int64_t>(i)) {}
    value(long long i) : v_(static_cast<std::int64_t>(i)) {}
    value(double d) : v_(d) {}
    value(const char* s) : v_(std::string(s)) {}
    value(std::string s) : v_(std::move(s)) {}
    value(std::vector<double> list) : v_(std::move(list)) {}

    [[nodiscard]] bool is_null() const { return std::holds_alternative<std::monostate>(v_); }
    [[nodiscard]] const storage& get() const { return v_; }

    [[nodiscard]] std::string describe() const {
        std::ostringstream out;
        out.precision(17);
        std::visit(
            [&](const auto& x) {
                using X = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<X, std::monostate>) out << "null";
                else if constexpr (std::is_same_v<X, bool>) out << (x ? "true" : "false");
                else if constexpr (std::is_same_v<X, std::string>) out << '"' << x << '"';
                else if constexpr (std::is_same_v<X, std::vector<double>>)
                    out << "a list of " << x.size() << " numbers";
                else out << x;
            },
            v_);
        return out.str();
    }

private:
    storage v_;
};

// A set of options for one sampler class. Reading a key marks it used; `finish` then rejects
// keys nobody read, unless they are keys of other diffusers schedulers (which diffusers' own
// from_config also ignores, so one scheduler_config.json can configure any sampler).
class options {
public:
    options() = default;
    options(std::initializer_list<std::pair<const std::string, value>> entries) : entries_(entries) {}

    void set(std::string key, value v) { entries_[std::move(key)] = std::move(v); }
    [[nodiscard]] bool contains(std::string_view key) const {
        const auto it = entries_.find(std::string(key));
        return it != entries_.end() && !it->second.is_null();
    }
    [[nodiscard]] const std::map<std::string, value>& entries() const { return entries_; }

    [[nodiscard]] bool get_bool(std::string_view key, bool fallback) const {
        return read<bool>(key, fallback, "true or false");
    }
    [[nodiscard]] std::int64_t get_int(std::string_view key, std::int64_t fallback) const {
        const auto* v = find(key);
        if (!v) return fallback;
        if (const auto* i = std::get_if<std::int64_t>(&v->get())) return *i;
        if (const auto* d = std::get_if<double>(&v->get()); d && std::trunc(*d) == *d && std::abs(*d) < 9e15) {
            return static_cast<std::int64_t>(*d);
        }
        throw invalid(std::string(key), formatted{v->describe()}, "an integer");
    }
    [[nodiscard]] double get_double(std::string_view key, double fallback) const {
        const auto* v = find(key);
        if (!v) return fallback;
        if (const auto* d = std::get_if<double>(&v->get())) return *d;
        if (const auto* i = std::get_if<std::int64_t>(&v->get())) return static_cast<double>(*i);
        throw invalid(std::string(key), formatted{v->describe()}, "a number");
    }
    [[nodiscard]] std::string get_string(std::string_view key, std::string fallback) const {
        return read<std::string>(key, std::move(fallback), "a string");
    }
    [[nodiscard]] std::vector<double> get_list(std::string_view key) const {
        return read<std::vector<double>>(key, {}, "a list of numbers");
    }

    // Keys that were never read and are not keys of other diffusers schedulers: an error with
    // `strict`, otherwise one message each (diffusers ignores such keys with a warning, so a config
    // written by a newer diffusers, or with a model-specific key, still loads).
    [[nodiscard]] std::vector<std::string> finish(std::string_view class_name,
                                                  const std::set<std::string, std::less<>>& foreign_keys,
                                                  bool strict) const {
        std::vector<std::string> ignored;
        for (const auto& [key, v] : entries_) {
            if (used_.count(key) || key.starts_with('_') || foreign_keys.count(key)) continue;
            std::string allowed;
            for (const auto& k : used_) allowed += (allowed.empty() ? "" : ", ") + k;
            if (strict) {
                throw invalid(std::string(class_name) + " option '" + key + "'", formatted{v.describe()},
                              "one of the keys this class reads: " + allowed +
                                  " (or a key of another diffusers scheduler, which is ignored)");
            }
            ignored.push_back(std::string(class_name) + " ignores the unknown key '" + key + "' = " + v.describe() +
                              " (keys this class reads: " + allowed + ")");
        }
        return ignored;
    }

private:
    const value* find(std::string_view key) const {
        used_.insert(std::string(key));
        const auto it = entries_.find(std::string(key));
        return it == entries_.end() || it->second.is_null() ? nullptr : &it->second;
    }
    template <class V>
    V read(std::string_view key, V fallback, std::string_view allowed) const {
        const auto* v = find(key);
        if (!v) return fallback;
        if (const auto* x = std::get_if<V>(&v->get())) return *x;
        throw invalid(std::string(key), formatted{v->describe()}, allowed);
    }

    std::map<std::string, value> entries_;
    mutable std::set<std::string, std::less<>> used_;
};

}  // namespace diffuse::config
