// examples/common/plot.hpp: a 2-D scatter plot that reads on its own (title, framed axes with
// tick values, a legend), drawn on a canvas and written as PNG (not part of the library).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "png.hpp"
#include "text.hpp"

namespace examples {

// The square window [-half_width, half_width]^2 in a plot area of `size` pixels, with margins
// for the title (top), the tick values (left, bottom) and the axis names.
class scatter_plot {
public:
    scatter_plot(int size, double half_width, std::string title, std::string x_name = "x", std::string y_name = "y")
        : size_(size), half_width_(half_width), image_(left + size + right, top + size + bottom) {
        const rgb ink{30, 30, 30};
        draw_text_centred(image_, left + size / 2, 8, title, ink, 2);
        draw_text_centred(image_, left + size / 2, top + size + 24, x_name, ink);
        draw_text(image_, 6, top + size / 2 - 4, y_name, ink);
    }

    // Colours the plot area pixel by pixel: `colour(x, y)` at the pixel's centre (a density, say).
    template <class Colour>
    void shade(Colour colour) {
        for (int row = 0; row < size_; ++row)
            for (int col = 0; col < size_; ++col) image_.set(left + col, top + row, colour(x_at(col), y_at(row)));
    }

    // The centres of the plot area's pixels as 2-D points (x0, y0, x1, y1, ...), row by row from the
    // top, the order shade() visits them in: for computing a density on them in one call.
    template <class Points>
    Points pixel_centres() const {
        Points out(2 * size_ * size_);
        for (int row = 0; row < size_; ++row)
            for (int col = 0; col < size_; ++col) {
                out[2 * (row * size_ + col)] = x_at(col);
                out[2 * (row * size_ + col) + 1] = y_at(row);
            }
        return out;
    }

    // 2x2 dots for the 2-D points (x0, y0, x1, y1, ...); points outside the window are not drawn.
    template <class Points>
    void dots(const Points& points, rgb colour) {
        for (diffuse::index p = 0; p + 1 < points.size(); p += 2) {
            const int col = static_cast<int>((points[p] + half_width_) / (2 * half_width_) * size_);
            const int row = static_cast<int>((half_width_ - points[p + 1]) / (2 * half_width_) * size_);
            if (col < 0 || col + 1 >= size_ || row < 0 || row + 1 >= size_) continue;
            image_.fill(left + col, top + row, 2, 2, colour);
        }
    }

    // Legend entries (a colour swatch and its label) in the plot's top-left corner.
    void legend(const std::vector<std::pair<std::string, rgb>>& entries) {
        int width = 0;
        for (const auto& [label, colour] : entries) width = std::max(width, text_width(label));
        const int height = 14 * static_cast<int>(entries.size()) + 6;
        image_.fill(left + 6, top + 6, width + 30, height, {255, 255, 255});
        frame(left + 6, top + 6, width + 30, height, {120, 120, 120});
        int row = top + 12;
        for (const auto& [label, colour] : entries) {
            image_.fill(left + 12, row, 8, 8, colour);
            draw_text(image_, left + 26, row, label, {30, 30, 30});
            row += 14;
        }
    }

    // Frames the plot area, draws the tick marks and values, and writes the PNG.
    void write(const std::filesystem::path& path, const char* flag = "--out") {
        const rgb ink{30, 30, 30};
        frame(left - 1, top - 1, size_ + 2, size_ + 2, ink);
        const double step = tick_step();
        for (double v = -std::floor(half_width_ / step) * step; v <= half_width_ + 1e-9; v += step) {
            char text[32];
            std::snprintf(text, sizeof text, "%g", std::abs(v) < 1e-12 ? 0.0 : v);
            const int col = left + static_cast<int>((v + half_width_) / (2 * half_width_) * size_);
            const int row = top + static_cast<int>((half_width_ - v) / (2 * half_width_) * size_);
            image_.fill(col, top + size_, 1, 5, ink);
            draw_text_centred(image_, col, top + size_ + 8, text, ink);
            image_.fill(left - 5, row, 5, 1, ink);
            draw_text(image_, left - 8 - text_width(text), row - 3, text, ink);
        }
        image_.write(path, flag);
    }

private:
    static constexpr int left = 44, right = 16, top = 36, bottom = 40;

    double x_at(int col) const { return (col + 0.5) / size_ * 2 * half_width_ - half_width_; }
    double y_at(int row) const { return half_width_ - (row + 0.5) / size_ * 2 * half_width_; }

    // A tick every 1, 2 or 5 times a power of ten, four to ten ticks across the window.
    double tick_step() const {
        const double raw = 2 * half_width_ / 8, power = std::pow(10.0, std::floor(std::log10(raw)));
        for (double m : {1.0, 2.0, 5.0})
            if (raw <= m * power) return m * power;
        return 10 * power;
    }

    void frame(int col, int row, int width, int height, rgb colour) {
        image_.fill(col, row, width, 1, colour);
        image_.fill(col, row + height - 1, width, 1, colour);
        image_.fill(col, row, 1, height, colour);
        image_.fill(col + width - 1, row, 1, height, colour);
    }

    int size_;
    double half_width_;
    canvas image_;
};

}  // namespace examples
