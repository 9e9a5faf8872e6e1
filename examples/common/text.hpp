// examples/common/text.hpp: text on a canvas (titles, labels), drawn with stb_easy_font's
// built-in bitmap font (not part of the library). Its glyphs are about 6 x 7 font pixels on a
// 10-pixel line; `scale` draws each font pixel as a scale x scale block.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include <stb/stb_easy_font.h>

#include "png.hpp"

namespace examples {

// Width and height in canvas pixels of `text` drawn at `scale` ('\n' starts a new line).
inline int text_width(std::string_view text, int scale = 1) {
    std::string copy(text);  // stb_easy_font takes char*
    return scale * stb_easy_font_width(copy.data());
}
inline int text_height(std::string_view text, int scale = 1) {
    std::string copy(text);
    return scale * stb_easy_font_height(copy.data());
}

// Draws `text` with its top-left corner at (col, row); what falls outside the canvas is clipped.
inline void draw_text(canvas& c, int col, int row, std::string_view text, rgb colour, int scale = 1) {
    std::string copy(text);
    // stb_easy_font emits quads of 4 vertices of 16 bytes (x, y, z, rgba); a glyph has at most a
    // dozen quads, so 1 KB per character never truncates.
    std::vector<char> vertices(1024 * (copy.size() + 1));
    const int quads =
        stb_easy_font_print(0, 0, copy.data(), nullptr, vertices.data(), static_cast<int>(vertices.size()));
    for (int q = 0; q < quads; ++q) {
        // Vertices 0 and 2 of a quad are opposite corners (font pixels, integral).
        const auto corner = [&](int v, int coordinate) {
            float value;
            std::copy_n(vertices.data() + 64 * q + 16 * v + 4 * coordinate, sizeof value,
                        reinterpret_cast<char*>(&value));
            return static_cast<int>(std::lround(value));
        };
        const int x0 = corner(0, 0), y0 = corner(0, 1), x1 = corner(2, 0), y1 = corner(2, 1);
        c.fill(col + scale * std::min(x0, x1), row + scale * std::min(y0, y1), scale * std::abs(x1 - x0),
               scale * std::abs(y1 - y0), colour);
    }
}

// Draws `text` centred horizontally on column `centre`.
inline void draw_text_centred(canvas& c, int centre, int row, std::string_view text, rgb colour, int scale = 1) {
    draw_text(c, centre - text_width(text, scale) / 2, row, text, colour, scale);
}

}  // namespace examples
