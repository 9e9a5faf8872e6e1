// Which test and section names Catch2 2.13's console reporter can print.
//
// The reporter wraps a header (ConsoleReporter::printHeaderString) to width - 1 columns and indents
// every continuation line to just after the name's first ": ". The wrapping column
// (clara::TextFlow::Column) then has width - 1 - indent columns per continuation line, computed in
// size_t: with 1 column left it makes no progress (an endless run of "-" lines), with 0 or fewer
// it wraps around. A name that fits on its first line is never wrapped and always prints.
#pragma once

#include <cstddef>
#include <string>

namespace catch_harness {

inline bool header_would_hang(const std::string& name, std::size_t indent, std::size_t console_width) {
    const std::size_t wrap_width = console_width - 1;
    if (indent + name.size() < wrap_width) return false;  // printed on one line
    const std::size_t colon = name.find(": ");
    const std::size_t continuation_indent = indent + (colon == std::string::npos ? 0 : colon + 2);
    return continuation_indent + 2 > wrap_width;  // fewer than 2 columns per continuation line
}

}  // namespace catch_harness
