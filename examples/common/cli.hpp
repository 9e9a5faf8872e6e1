// examples/common/cli.hpp: command-line helpers shared by the example programs (not part of
// the library). Every bad value is reported as a diffuse::error naming the flag, the value and
// what is allowed, so the programs print one consistent message before their usage text.
#pragma once

#include <charconv>
#include <cmath>
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

}  // namespace examples
