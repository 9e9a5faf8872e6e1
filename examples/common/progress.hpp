// examples/common/progress.hpp: the progress bar of the example programs (not part of the
// library). On a terminal a bar is redrawn in place; on a pipe or a log file one line per quarter
// of the work is printed, so logs stay short.
#pragma once

#include <cstdio>
#include <string>

#include <unistd.h>

#include <diffuse/core/config.hpp>

namespace examples {

// `label [#####.....] done/total unit detail` on stderr; `detail` (e.g. the current loss) may be empty.
inline void show_progress(const char* label, diffuse::index done, diffuse::index total, const char* unit,
                          const std::string& detail = {}) {
    static const bool terminal = isatty(fileno(stderr)) != 0;
    const auto d = static_cast<long long>(done), n = static_cast<long long>(total);
    const std::string tail = detail.empty() ? std::string() : "  " + detail;
    if (!terminal) {
        if (done == total || (4 * done) / total != (4 * (done - 1)) / total) {
            std::fprintf(stderr, "%s %lld/%lld %s%s\n", label, d, n, unit, tail.c_str());
        }
        return;
    }
    constexpr int width = 40;
    const auto filled = static_cast<std::size_t>(width * done / total);
    std::fprintf(stderr, "\r%s [%s%s] %lld/%lld %s%s", label, std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), d, n, unit, tail.c_str());
    if (done == total) std::fprintf(stderr, "\n");
}

}  // namespace examples
