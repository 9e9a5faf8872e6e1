// examples/common/cli.hpp: command-line helpers shared by the example programs (not part of
// the library). Every bad value is reported as a diffuse::error naming the flag, the value and
// what is allowed, so the programs print one consistent message before their usage text.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include <diffuse/core/error.hpp>

namespace examples {

// The whole of `text` as a number of type N (integer or floating point), or an error naming `flag`.
template <class N>
N parse_number(const std::string& flag, const std::string& text) {
    N value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) throw diffuse::invalid(flag, text, "a number");
    return value;
}

// The value after flag argv[i] (advancing i), or an error when the flag is the last argument.
inline std::string flag_value(int argc, char** argv, int& i) {
    if (i + 1 >= argc) throw diffuse::invalid(argv[i], "(missing)", "a value after the flag");
    return argv[++i];
}

// The common shape of the examples' command lines: `--help`/`-h` prints `usage` and exits 0,
// `--quiet` sets `quiet`, and every other flag takes a value, handed to `option(flag, value)`.
template <class Option>
void for_each_option(int argc, char** argv, const char* usage, bool& quiet, Option option) {
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--quiet") {
            quiet = true;
            continue;
        }
        if (flag == "--help" || flag == "-h") {
            std::cout << usage;
            std::exit(0);
        }
        option(flag, flag_value(argc, argv, i));
    }
}

// Creates the output directory `path` (and its parents), or an error naming `flag` (a path that is a
// file, say) instead of an uncaught std::filesystem::filesystem_error.
inline std::filesystem::path output_directory(const std::string& flag, const std::string& path) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec || !std::filesystem::is_directory(path)) {
        throw diffuse::invalid(flag, path, "a directory that exists or can be created (" + ec.message() + ")");
    }
    return path;
}

// `parse(argc, argv)`'s arguments, or nothing after printing the error and `usage` to stderr (the
// programs then exit 2).
template <class Parse>
auto parse_or_usage(int argc, char** argv, const char* usage, Parse parse)
    -> std::optional<decltype(parse(argc, argv))> {
    try {
        return parse(argc, argv);
    } catch (const diffuse::error& e) {
        std::cerr << e.what() << "\n\n" << usage;
        return std::nullopt;
    }
}

}  // namespace examples
