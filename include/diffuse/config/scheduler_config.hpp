// diffuse/config/scheduler_config.hpp: reads a diffusers scheduler_config.json (the file every
// diffusers pipeline ships in scheduler/) and builds the sampler it describes.
// Needs nlohmann/json (Debian: nlohmann-json3-dev); the rest of the library does not.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>

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

// The sampler a scheduler_config.json describes (`_class_name` chooses the class).
template <Real T>
any_sampler<T> from_scheduler_config(const nlohmann::json& j) {
    const options o = options_from_json(j);
    require(j.contains("_class_name") && j["_class_name"].is_string(), "_class_name",
            formatted{j.contains("_class_name") ? j["_class_name"].dump() : std::string("(missing)")},
            "the name of a diffusers scheduler class, e.g. \"DDIMScheduler\"");
    return make_sampler<T>(j["_class_name"].get<std::string>(), o);
}

template <Real T>
any_sampler<T> from_scheduler_config_file(const std::filesystem::path& path) {
    std::ifstream file(path);
    require(file.good(), "path", path.string(), "a readable scheduler_config.json");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(file);
    } catch (const nlohmann::json::parse_error& e) {
        throw invalid("scheduler config " + path.string(), e.what(), "valid JSON");
    }
    return from_scheduler_config<T>(j);
}

}  // namespace diffuse::config
