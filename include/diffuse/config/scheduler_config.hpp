// diffuse/config/scheduler_config.hpp: reads a diffusers scheduler_config.json (the file every
// diffusers pipeline ships in scheduler/) and builds the sampler it describes.
// Needs nlohmann/json (Debian: nlohmann-json3-dev); the rest of the library does not.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>

#include "diffuse/config/registry.hpp"

namespace diffuse::config {

// JSON object -> options. Numbers keep integer/float distinction, lists must hold numbers.
inline options options_from_json(const nlohmann::json& j) {
    require(j.is_object(), "scheduler config", j.type_name(), "a JSON object");
    options o;
    for (const auto& [key, v] : j.items()) {
        if (v.is_null()) o.set(key, nullptr);
        else if (v.is_boolean()) o.set(key, v.get<bool>());
        else if (v.is_number_integer()) o.set(key, v.get<long long>());
        else if (v.is_number()) o.set(key, v.get<double>());
        else if (v.is_string()) o.set(key, v.get<std::string>());
        else if (v.is_array()) {
            std::vector<double> list;
            for (const auto& item : v) {
                if (!item.is_number()) throw invalid(key, formatted{item.dump()}, "a list of numbers");
                list.push_back(item.get<double>());
            }
            o.set(key, std::move(list));
        } else {
            throw invalid(key, formatted{v.dump()}, "null, a boolean, a number, a string or a list of numbers");
        }
    }
    return o;
}

// The sampler a scheduler_config.json describes (`_class_name` chooses the class). Unknown keys are
// ignored and listed in warnings(), as diffusers does; unknown_keys::error makes them errors.
template <Real T>
any_sampler<T> from_scheduler_config(const nlohmann::json& j, unknown_keys policy = unknown_keys::warn) {
    const options o = options_from_json(j);
    require(j.contains("_class_name") && j["_class_name"].is_string(), "_class_name",
            formatted{j.contains("_class_name") ? j["_class_name"].dump() : std::string("(missing)")},
            "the name of a diffusers scheduler class, e.g. \"DDIMScheduler\"");
    return make_sampler<T>(j["_class_name"].get<std::string>(), o, policy);
}

// Parses JSON as Python's json module writes it: diffusers saves -Infinity (lambda_min_clipped),
// Infinity and NaN as bare words, which strict JSON has no spelling for. Outside string literals they
// are rewritten to marker strings, which the parser's callback turns back into numbers.
inline nlohmann::json parse_python_json(std::string_view text, const std::string& source = "scheduler config") {
    static constexpr std::string_view nan_marker = "\\u0000NaN", inf_marker = "\\u0000Infinity",
                                      minus_inf_marker = "\\u0000-Infinity";
    std::string rewritten;
    rewritten.reserve(text.size());
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            rewritten += c;
            if (c == '\\' && i + 1 < text.size()) rewritten += text[++i];
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        const auto rest = text.substr(i);
        const auto word = [&](std::string_view w, std::string_view marker) {
            if (!rest.starts_with(w)) return false;
            rewritten += '"';
            rewritten += marker;
            rewritten += '"';
            i += w.size() - 1;
            return true;
        };
        if (word("-Infinity", minus_inf_marker) || word("Infinity", inf_marker) || word("NaN", nan_marker)) continue;
        rewritten += c;
    }
    const auto restore = [](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        if (event != nlohmann::json::parse_event_t::value || !parsed.is_string()) return true;
        const auto& v = parsed.get_ref<const std::string&>();
        constexpr double inf = std::numeric_limits<double>::infinity();
        if (v == std::string("\0NaN", 4)) parsed = std::numeric_limits<double>::quiet_NaN();
        else if (v == std::string("\0Infinity", 9)) parsed = inf;
        else if (v == std::string("\0-Infinity", 10)) parsed = -inf;
        return true;
    };
    try {
        return nlohmann::json::parse(rewritten, restore);
    } catch (const nlohmann::json::parse_error& e) {
        throw invalid(source, e.what(), "valid JSON (NaN, Infinity and -Infinity allowed, as Python writes them)");
    }
}

// (Declared with its defaults in facade.hpp.)
template <Real T>
any_sampler<T> from_scheduler_config_text(std::string_view json, unknown_keys policy) {
    return from_scheduler_config<T>(parse_python_json(json), policy);
}

template <Real T>
any_sampler<T> from_scheduler_config_file(const std::filesystem::path& path, unknown_keys policy) {
    // An ifstream opens a directory on Linux and fails only at the first read, with an ios_base::failure.
    require(!std::filesystem::is_directory(path), "path", path.string(),
            "a scheduler_config.json file, not a directory");
    std::ifstream file(path);
    require(file.good(), "path", path.string(), "a readable scheduler_config.json");
    const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
    return from_scheduler_config<T>(parse_python_json(text, "scheduler config " + path.string()), policy);
}

}  // namespace diffuse::config
