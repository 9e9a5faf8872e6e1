// examples/common/png.hpp: an RGB canvas with 2-D point plots, written as PNG through stb (not
// part of the library). Defines stb_image_write's implementation: include it from one
// translation unit per program (each example is one).
#pragma once

#include <cstddef>
#include <filesystem>
#include <vector>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include <diffuse/core/config.hpp>
#include <diffuse/core/error.hpp>

namespace examples {

struct rgb {
    unsigned char r, g, b;
};

class canvas {
public:
    canvas(int width, int height, rgb background = {255, 255, 255})
        : width_(width), height_(height), pixels_(static_cast<std::size_t>(3 * width * height)) {
        for (int i = 0; i < width * height; ++i) set_index(i, background);
    }

    int width() const { return width_; }
    int height() const { return height_; }

    // Pixel (col, row), row 0 at the top; outside the canvas it is ignored.
    void set(int col, int row, rgb colour) {
        if (row < 0 || row >= height_ || col < 0 || col >= width_) return;
        set_index(row * width_ + col, colour);
    }

    // The rectangle of `width` x `height` pixels whose top-left pixel is (col, row), clipped to the canvas.
    void fill(int col, int row, int width, int height, rgb colour) {
        for (int r = row; r < row + height; ++r)
            for (int c = col; c < col + width; ++c) set(c, r, colour);
    }

    // 2x2 dots for the 2-D points (x0, y0, x1, y1, ...) of a square window [-h, h]^2.
    template <class Points>
    void dots(const Points& points, double half_width, rgb colour) {
        for (diffuse::index p = 0; p + 1 < points.size(); p += 2) {
            const int col = static_cast<int>((points[p] + half_width) / (2 * half_width) * width_);
            const int row = static_cast<int>((half_width - points[p + 1]) / (2 * half_width) * height_);
            for (int dr = 0; dr < 2; ++dr)
                for (int dc = 0; dc < 2; ++dc) set(col + dc, row + dr, colour);
        }
    }

    // `flag` names the command-line option that chose the path, for the error message.
    void write(const std::filesystem::path& path, const char* flag = "--out") const {
        if (!stbi_write_png(path.string().c_str(), width_, height_, 3, pixels_.data(), 3 * width_)) {
            throw diffuse::invalid(flag, path.string(), "a writable directory");
        }
    }

private:
    void set_index(int i, rgb colour) {
        unsigned char* px = &pixels_[static_cast<std::size_t>(3 * i)];
        px[0] = colour.r;
        px[1] = colour.g;
        px[2] = colour.b;
    }

    int width_, height_;
    std::vector<unsigned char> pixels_;
};

}  // namespace examples
