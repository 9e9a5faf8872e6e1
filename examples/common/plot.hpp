// examples/common/plot.hpp: plots that read on their own (a title, framed axes with tick values and
// names, a legend), drawn on a canvas and written as PNG (not part of the library): a 2-D scatter
// plot over a square window, and a line plot of series against a linear or logarithmic axis.
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

// One axis: the data range it shows and whether it is logarithmic (then lo and hi must be > 0).
struct axis {
    double lo = 0;
    double hi = 1;
    bool log = false;
    std::string name = "";

    // Where v falls on the axis, 0 at lo and 1 at hi.
    [[nodiscard]] double fraction(double v) const {
        return log ? std::log10(v / lo) / std::log10(hi / lo) : (v - lo) / (hi - lo);
    }
    [[nodiscard]] double value_at(double fraction) const {
        return log ? lo * std::pow(hi / lo, fraction) : lo + fraction * (hi - lo);
    }
    // Tick values: every 1, 2 or 5 times a power of ten, four to ten across a linear axis; the
    // powers of ten on a logarithmic one.
    [[nodiscard]] std::vector<double> ticks() const {
        std::vector<double> values;
        if (log) {
            for (double p = std::ceil(std::log10(lo) - 1e-9); p <= std::log10(hi) + 1e-9; ++p)
                values.push_back(std::pow(10.0, p));
            return values;
        }
        const double raw = (hi - lo) / 8, power = std::pow(10.0, std::floor(std::log10(raw)));
        double step = 10 * power;
        for (double m : {1.0, 2.0, 5.0}) {
            if (raw <= m * power) {
                step = m * power;
                break;
            }
        }
        for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + 1e-9 * step; v += step)
            values.push_back(std::abs(v) < 1e-12 * step ? 0.0 : v);
        return values;
    }
};

// A plot area of width x height pixels with margins for the title (top), the tick values (left,
// bottom) and the axis names; the frame, ticks and legend every plot shares.
class axes {
public:
    axes(int width, int height, axis x, axis y, const std::string& title)
        : width_(width),
          height_(height),
          x_(std::move(x)),
          y_(std::move(y)),
          image_(left + width + right, top + height + bottom) {
        const rgb ink{30, 30, 30};
        draw_text_centred(image_, left + width / 2, 8, title, ink, 2);
        draw_text_centred(image_, left + width / 2, top + height + 24, x_.name, ink);
        draw_text(image_, 6, top + height / 2 - 4, y_.name, ink);
    }

    // Legend entries (a colour swatch and its label) in the plot's top-left or top-right corner.
    void legend(const std::vector<std::pair<std::string, rgb>>& entries, bool right_side = false) {
        int text = 0;
        for (const auto& [label, colour] : entries) text = std::max(text, text_width(label));
        const int width = text + 30, height = 14 * static_cast<int>(entries.size()) + 6;
        const int col = right_side ? left + width_ - 6 - width : left + 6;
        image_.fill(col, top + 6, width, height, {255, 255, 255});
        frame(col, top + 6, width, height, {120, 120, 120});
        int row = top + 12;
        for (const auto& [label, colour] : entries) {
            image_.fill(col + 6, row, 8, 8, colour);
            draw_text(image_, col + 20, row, label, {30, 30, 30});
            row += 14;
        }
    }

    // Frames the plot area, draws the tick marks and values, and writes the PNG.
    void write(const std::filesystem::path& path, const char* flag = "--out") {
        const rgb ink{30, 30, 30};
        frame(left - 1, top - 1, width_ + 2, height_ + 2, ink);
        for (const double v : x_.ticks()) {
            const std::string text = tick_label(v);
            const int col = left + static_cast<int>(x_.fraction(v) * width_);
            image_.fill(col, top + height_, 1, 5, ink);
            draw_text_centred(image_, col, top + height_ + 8, text, ink);
        }
        for (const double v : y_.ticks()) {
            const std::string text = tick_label(v);
            const int row = top + static_cast<int>((1 - y_.fraction(v)) * height_);
            image_.fill(left - 5, row, 5, 1, ink);
            draw_text(image_, left - 8 - text_width(text), row - 3, text, ink);
        }
        image_.write(path, flag);
    }

protected:
    static constexpr int left = 52, right = 16, top = 36, bottom = 40;

    // The pixel column and row of a data point, in the plot area's coordinates (may lie outside).
    [[nodiscard]] double col_of(double x) const { return x_.fraction(x) * width_; }
    [[nodiscard]] double row_of(double y) const { return (1 - y_.fraction(y)) * height_; }
    [[nodiscard]] double x_at(int col) const { return x_.value_at((col + 0.5) / width_); }
    [[nodiscard]] double y_at(int row) const { return y_.value_at(1 - (row + 0.5) / height_); }
    [[nodiscard]] bool inside(int col, int row) const { return col >= 0 && col < width_ && row >= 0 && row < height_; }
    void put(int col, int row, rgb colour) {
        if (inside(col, row)) image_.set(left + col, top + row, colour);
    }

    void frame(int col, int row, int width, int height, rgb colour) {
        image_.fill(col, row, width, 1, colour);
        image_.fill(col, row + height - 1, width, 1, colour);
        image_.fill(col, row, 1, height, colour);
        image_.fill(col + width - 1, row, 1, height, colour);
    }

    static std::string tick_label(double v) {
        char text[32];
        std::snprintf(text, sizeof text, "%g", v);
        return text;
    }

    int width_;
    int height_;
    axis x_;
    axis y_;
    canvas image_;
};

// The square window [-half_width, half_width]^2 in a plot area of `size` pixels.
class scatter_plot : public axes {
public:
    scatter_plot(int size, double half_width, const std::string& title, std::string x_name = "x",
                 std::string y_name = "y")
        : axes(size, size, {-half_width, half_width, false, std::move(x_name)},
               {-half_width, half_width, false, std::move(y_name)}, title) {}

    // Colours the plot area pixel by pixel, row by row from the top: `colour(x, y)` at the pixel's
    // centre (a density, say).
    template <class Colour>
    void shade(Colour colour) {
        for (int row = 0; row < height_; ++row)
            for (int col = 0; col < width_; ++col) put(col, row, colour(x_at(col), y_at(row)));
    }

    // The centres of the plot area's pixels as 2-D points (x0, y0, x1, y1, ...), row by row from the
    // top, the order shade() visits them in: for computing a density on them in one call.
    template <class Points>
    Points pixel_centres() const {
        Points out(2 * width_ * height_);
        for (int row = 0; row < height_; ++row)
            for (int col = 0; col < width_; ++col) {
                out[2 * (row * width_ + col)] = x_at(col);
                out[2 * (row * width_ + col) + 1] = y_at(row);
            }
        return out;
    }

    // 2x2 dots for the 2-D points (x0, y0, x1, y1, ...); points outside the window are not drawn.
    template <class Points>
    void dots(const Points& points, rgb colour) {
        for (diffuse::index p = 0; p + 1 < points.size(); p += 2) {
            const int col = static_cast<int>(col_of(static_cast<double>(points[p])));
            const int row = static_cast<int>(row_of(static_cast<double>(points[p + 1])));
            if (!inside(col, row) || !inside(col + 1, row + 1)) continue;
            image_.fill(left + col, top + row, 2, 2, colour);
        }
    }
};

// Series of (x, y) points joined by straight lines, clipped to the plot area.
class line_plot : public axes {
public:
    using axes::axes;

    void line(const std::vector<double>& xs, const std::vector<double>& ys, rgb colour) {
        for (std::size_t i = 1; i < std::min(xs.size(), ys.size()); ++i)
            segment(col_of(xs[i - 1]), row_of(ys[i - 1]), col_of(xs[i]), row_of(ys[i]), colour);
    }
    // A 5x5 marker at each point (for measured values beside a fitted line).
    void markers(const std::vector<double>& xs, const std::vector<double>& ys, rgb colour) {
        for (std::size_t i = 0; i < std::min(xs.size(), ys.size()); ++i) {
            const int col = static_cast<int>(col_of(xs[i])), row = static_cast<int>(row_of(ys[i]));
            for (int dr = -2; dr <= 2; ++dr)
                for (int dc = -2; dc <= 2; ++dc) put(col + dc, row + dr, colour);
        }
    }

private:
    // One pixel per step along the longer direction.
    void segment(double c0, double r0, double c1, double r1, rgb colour) {
        const int n = static_cast<int>(std::max(std::abs(c1 - c0), std::abs(r1 - r0))) + 1;
        for (int k = 0; k <= n; ++k) {
            const double f = static_cast<double>(k) / n;
            put(static_cast<int>(c0 + f * (c1 - c0)), static_cast<int>(r0 + f * (r1 - r0)), colour);
        }
    }
};

}  // namespace examples
