// diffuse/guidance/frequency_decoupled.hpp: FrequencyDecoupledGuidance (FDG, Sadat et al. 2025,
// arXiv 2506.19713), a rule for guided()/batched() with diffusers' option names and defaults
// (snapshot 58eb52c0, src/diffusers/guiders/frequency_decoupled_guidance.py).
//
// Each sample, a [channels, height, width] tensor, is split into a Laplacian pyramid (Burt and
// Adelson) with kornia's operators, which diffusers calls: a 5x5 Gaussian [1 4 6 4 1]^2/256 after
// reflect padding of 2 (separable, so two 5-tap passes here), pyrdown = blur then bilinear resize to
// half size, pyrup = bilinear resize to double size then blur (align_corners = False). Level l < L-1
// is G_l - pyrup(G_{l+1}), the last is G_{L-1}. On each level CFG runs with that level's scale
// (optionally with the shift's part parallel to the conditional level weighted by parallel_weights),
// then the guided pyramid is collapsed: img = P_{L-1}, img = pyrup(img) + P_l. All of it is
// separable over the last two dimensions, so no dependency is needed.
//
// Shapes: kornia pads a sample whose height and width are both not powers of two up to powers of
// two, and diffusers then returns the padded size (not the input's); such shapes are a
// diffuse::error here. Every level but the last must have even height and width (else kornia's
// level sizes do not match), and every level at least 3 rows and columns (reflect padding of 2).
//
// Differences from diffusers: a level that is not guided (its own start/stop, or a scale at its
// no-op value) keeps the conditional prediction's component of that level; diffusers appends the
// previous level's component there (an error or a shape mismatch), so only steps where every level
// is guided are comparable. Reductions run in double (diffusers' upcast_to_double = True, its default).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "diffuse/core/error.hpp"
#include "diffuse/core/view.hpp"
#include "diffuse/guidance/rules.hpp"

namespace diffuse::guidance {

enum class rescale_space { data, freq };  // diffusers' guidance_rescale_space "data" / "freq"

struct frequency_decoupled_options {
    std::vector<double> guidance_scales{10.0, 5.0};  // per level, highest frequency first
    std::vector<double> guidance_rescale{0.0};       // one value for every level, or one per level
    std::vector<double> parallel_weights{};          // none: 1 (plain CFG shift); one, or one per level
    bool use_original_formulation = false;
    std::vector<double> start{0.0};  // per-level step fractions (one value: every level)
    std::vector<double> stop{1.0};
    rescale_space guidance_rescale_space = rescale_space::data;
    bool enabled = true;
    double sigma_low = 0.0;  // the guidance interval (guidance_window)
    double sigma_high = std::numeric_limits<double>::infinity();
    index height = 0;  // the last two dimensions of each sample (channels = sample size / (height width))
    index width = 0;

    [[nodiscard]] index levels() const { return static_cast<index>(guidance_scales.size()); }
    // Value `l` of a per-level option given as one value or one per level.
    [[nodiscard]] static double at(const std::vector<double>& v, index l, double otherwise) {
        if (v.empty()) return otherwise;
        return v.size() == 1 ? v[0] : v[static_cast<std::size_t>(l)];
    }
    [[nodiscard]] guidance_window window_of(index l) const {
        return {at(start, l, 0.0), at(stop, l, 1.0), enabled, sigma_low, sigma_high};
    }
    // diffusers' BaseGuidance window: min(start) to max(stop).
    [[nodiscard]] guidance_window window() const {
        return {*std::min_element(start.begin(), start.end()), *std::max_element(stop.begin(), stop.end()), enabled,
                sigma_low, sigma_high};
    }

    void validate() const {
        require(!guidance_scales.empty(), "guidance_scales", "an empty list", "one scale per pyramid level");
        for (const double g : guidance_scales) require_finite("guidance_scales", g);
        const auto per_level = [&](const std::vector<double>& v, std::string_view name, bool may_be_empty) {
            const auto n = v.size();
            require((may_be_empty && n == 0) || n == 1 || n == guidance_scales.size(), name,
                    std::to_string(n) + " values",
                    "one value, or one per level (" + std::to_string(guidance_scales.size()) + ")");
        };
        per_level(guidance_rescale, "guidance_rescale", false);
        per_level(parallel_weights, "parallel_weights", true);
        per_level(start, "start", false);
        per_level(stop, "stop", false);
        for (const double r : guidance_rescale) require_in_closed("guidance_rescale", r, 0.0, 1.0);
        for (const double w : parallel_weights) require_finite("parallel_weights", w);
        for (index l = 0; l < levels(); ++l) window_of(l).validate();
        require(height >= 1, "height", height, "the height of each sample (its second-to-last dimension), >= 1");
        require(width >= 1, "width", width, "the width of each sample (its last dimension), >= 1");
    }
};

namespace detail {

// A [channels, height, width] tensor in a flat buffer.
template <Real T>
struct planes {
    T* data;
    index channels, height, width;
    [[nodiscard]] index size() const { return channels * height * width; }
};

// torch's reflect padding (the edge is not repeated).
inline index reflect(index i, index n) {
    if (i < 0) return -i;
    if (i >= n) return 2 * (n - 1) - i;
    return i;
}

// kornia's 5x5 pyramid Gaussian as two 5-tap passes: in -> tmp along the width, tmp -> out along the
// height (out may be in).
template <Real T>
void blur(planes<T> in, T* out, T* tmp) {
    constexpr T k[5] = {T(1) / 16, T(4) / 16, T(6) / 16, T(4) / 16, T(1) / 16};
    const index h = in.height, w = in.width;
    for (index c = 0; c < in.channels; ++c) {
        const T* src = in.data + c * h * w;
        T* mid = tmp + c * h * w;
        for (index y = 0; y < h; ++y)
            for (index x = 0; x < w; ++x) {
                T sum = 0;
                for (index d = -2; d <= 2; ++d) sum += k[d + 2] * src[y * w + reflect(x + d, w)];
                mid[y * w + x] = sum;
            }
        T* dst = out + c * h * w;
        for (index y = 0; y < h; ++y)
            for (index x = 0; x < w; ++x) {
                T sum = 0;
                for (index d = -2; d <= 2; ++d) sum += k[d + 2] * mid[reflect(y + d, h) * w + x];
                dst[y * w + x] = sum;
            }
    }
}

// torch's bilinear interpolation weights along one axis (align_corners = False, an output size
// given): source = (i + 0.5) in/out - 0.5, clamped at 0.
struct bilinear_tap {
    index first, second;
    double weight_second;
};
inline bilinear_tap bilinear_at(index i, index in, index out) {
    const double scale = static_cast<double>(in) / static_cast<double>(out);
    const double source = std::max(0.0, (static_cast<double>(i) + 0.5) * scale - 0.5);
    const auto first = static_cast<index>(source);
    return {first, std::min(first + 1, in - 1), source - static_cast<double>(first)};
}

// Bilinear resize of every channel to (h2, w2): along the width into tmp, then along the height.
template <Real T>
void resize(planes<T> in, planes<T> out, T* tmp) {
    const index h = in.height, w = in.width, h2 = out.height, w2 = out.width;
    for (index c = 0; c < in.channels; ++c) {
        const T* src = in.data + c * h * w;
        T* mid = tmp + c * h * w2;
        for (index x = 0; x < w2; ++x) {
            const auto t = bilinear_at(x, w, w2);
            const T b = static_cast<T>(t.weight_second), a = T(1) - b;
            for (index y = 0; y < h; ++y) mid[y * w2 + x] = a * src[y * w + t.first] + b * src[y * w + t.second];
        }
        T* dst = out.data + c * h2 * w2;
        for (index y = 0; y < h2; ++y) {
            const auto t = bilinear_at(y, h, h2);
            const T b = static_cast<T>(t.weight_second), a = T(1) - b;
            for (index x = 0; x < w2; ++x) dst[y * w2 + x] = a * mid[t.first * w2 + x] + b * mid[t.second * w2 + x];
        }
    }
}

// kornia's pyrdown (blur, then half size) and pyrup (double size, then blur), with scratch a and b
// of the larger tensor's size.
template <Real T>
void pyrdown(planes<T> in, planes<T> out, T* a, T* b) {
    blur(in, a, b);
    resize(planes<T>{a, in.channels, in.height, in.width}, out, b);
}
template <Real T>
void pyrup(planes<T> in, planes<T> out, T* b) {
    resize(in, out, b);
    blur(out, out.data, b);
}

}  // namespace detail

class frequency_decoupled {
public:
    using options_type = frequency_decoupled_options;
    explicit frequency_decoupled(frequency_decoupled_options o) : o_((o.validate(), std::move(o))) {}
    [[nodiscard]] const frequency_decoupled_options& options() const { return o_; }

    // Slots: the conditional and the unconditional pyramid (one sample at a time), two scratch buffers.
    [[nodiscard]] index memory_slots() const { return 4; }
    template <Real T>
    [[nodiscard]] index slot_size(index k, const evaluation_context<T>& c) const {
        const index n = c.shape.sample_size();
        return k < 2 ? pyramid_size(n) : n;
    }

    // diffusers' _is_fdg_enabled: inside min(start)..max(stop), and not every scale at its no-op value.
    template <Real T>
    [[nodiscard]] bool guides(const evaluation_context<T>& c) const {
        if (!o_.window().covers(c)) return false;
        return !std::all_of(o_.guidance_scales.begin(), o_.guidance_scales.end(),
                            [&](double g) { return detail::is_noop_scale(g, o_.use_original_formulation); });
    }

    template <Real T>
    void combine(sample_pair<T> s, const evaluation_context<T>& c, index slot) const {
        const index n = s.cond.size(), levels = o_.levels();
        T* pc = c.slot(slot, pyramid_size(n)).data();
        T* pu = c.slot(slot + 1, pyramid_size(n)).data();
        T* a = c.slot(slot + 2, n).data();
        T* b = c.slot(slot + 3, n).data();
        const auto level = [&](T* pyramid, index l) {
            const auto shape = level_at(n, l);
            return detail::planes<T>{pyramid + shape.offset, shape.channels, shape.height, shape.width};
        };
        // Laplacian pyramids: Gaussian levels first, then G_l -= pyrup(G_{l+1}) from the top.
        for (T* p : {pc, pu}) {
            const const_view<T> input = p == pc ? s.cond : s.uncond;
            view<T>(p, n) = input;
            for (index l = 0; l + 1 < levels; ++l) detail::pyrdown(level(p, l), level(p, l + 1), a, b);
            for (index l = 0; l + 1 < levels; ++l) {
                const auto g = level(p, l);
                detail::pyrup(level(p, l + 1), detail::planes<T>{a, g.channels, g.height, g.width}, b);
                view<T>(g.data, g.size()) -= const_view<T>(a, g.size());
            }
        }
        // Guidance per level, written over the unconditional pyramid.
        for (index l = 0; l < levels; ++l) {
            const auto lc = level(pc, l), lu = level(pu, l);
            const const_view<T> cond(lc.data, lc.size());
            view<T> pred(lu.data, lu.size());
            combine_level(l, cond, pred, c);
        }
        // Collapse: P_l += pyrup(P_{l+1}) from the top; level 0 is the guided prediction.
        for (index l = levels - 2; l >= 0; --l) {
            const auto g = level(pu, l);
            detail::pyrup(level(pu, l + 1), detail::planes<T>{a, g.channels, g.height, g.width}, b);
            view<T>(g.data, g.size()) += const_view<T>(a, g.size());
        }
        const double rescale = o_.guidance_rescale[0];
        double factor = 1.0;
        if (o_.guidance_rescale_space == rescale_space::data && rescale > 0.0) {
            factor =
                detail::rescale_factor(rescale, detail::variance_of(s.cond), detail::variance_of(const_view<T>(pu, n)));
        }
        s.out = T(factor) * const_view<T>(pu, n);
    }

private:
    struct level_shape {
        index channels, height, width, offset;
    };

    // Throws unless samples of n elements make a pyramid kornia and diffusers handle (the top of the
    // file). No allocation unless it throws: it runs on every combine.
    void check_shape(index n) const {
        const index h = o_.height, w = o_.width, plane = h * w;
        if (n % plane != 0)
            throw invalid(
                "height * width", plane,
                "a divisor of the sample size " + std::to_string(n) + " (a sample is [channels, height, width])");
        const auto power_of_two = [](index v) { return v > 0 && (v & (v - 1)) == 0; };
        if (!power_of_two(h) && !power_of_two(w))
            throw invalid("height", h,
                          "a power of two, or width one (width = " + std::to_string(w) +
                              "): kornia pads other shapes and diffusers' FDG then returns the padded size");
        for (index l = 0; l < o_.levels(); ++l) {
            const index hl = h >> l, wl = w >> l;
            const bool last = l + 1 == o_.levels();
            if (hl < 3 || wl < 3 || (!last && (hl % 2 != 0 || wl % 2 != 0)))
                throw invalid("height", h,
                              "and width (" + std::to_string(w) + ") giving pyramid level " + std::to_string(l) +
                                  " at least 3 rows and columns, and even sizes below the top level (" +
                                  std::to_string(o_.levels()) + " levels)");
        }
    }
    // Level l of the pyramid of a checked sample of n elements: halved l times, after the levels below.
    [[nodiscard]] level_shape level_at(index n, index l) const {
        const index channels = n / (o_.height * o_.width);
        index offset = 0;
        for (index k = 0; k < l; ++k) offset += channels * (o_.height >> k) * (o_.width >> k);
        return {channels, o_.height >> l, o_.width >> l, offset};
    }
    [[nodiscard]] index pyramid_size(index n) const {
        check_shape(n);
        return level_at(n, o_.levels()).offset;
    }

    // diffusers' forward on level l: pred = base + g shift, shift = cond - uncond with its part along
    // cond weighted by parallel_weights (project()), then the per-level rescale in "freq" space.
    template <Real T>
    void combine_level(index l, const_view<T> cond, view<T> pred, const evaluation_context<T>& c) const {
        const double g = o_.guidance_scales[static_cast<std::size_t>(l)];
        if (!o_.window_of(l).covers(c) || detail::is_noop_scale(g, o_.use_original_formulation)) {
            pred = cond;  // not guided: the conditional component
            return;
        }
        // shift = cond - uncond + (w - 1) <shift, c^> c^, c^ = cond / max(|cond|, 1e-12).
        const double weight = frequency_decoupled_options::at(o_.parallel_weights, l, 1.0);
        double along = 0.0;
        if (!detail::is_close(weight, 1.0)) {
            double sc = 0, cc = 0;
            for (index i = 0; i < cond.size(); ++i) {
                const double ci = cond[i], di = ci - static_cast<double>(pred[i]);
                sc += di * ci;
                cc += ci * ci;
            }
            const double norm = std::max(std::sqrt(cc), 1e-12);
            along = (weight - 1.0) * sc / (norm * norm);
        }
        // pred = base + g (cond - uncond + along cond), base = uncond or cond; pred holds uncond.
        const double on_cond = g * (1.0 + along) + (o_.use_original_formulation ? 1.0 : 0.0);
        const double on_uncond = (o_.use_original_formulation ? 0.0 : 1.0) - g;
        const double rescale = frequency_decoupled_options::at(o_.guidance_rescale, l, 0.0);
        const double var_cond =
            o_.guidance_rescale_space == rescale_space::freq && rescale > 0.0 ? detail::variance_of(cond) : 0.0;
        pred = T(on_cond) * cond + T(on_uncond) * pred;
        if (o_.guidance_rescale_space == rescale_space::freq && rescale > 0.0)
            pred *= T(detail::rescale_factor(rescale, var_cond,
                                             detail::variance_of(const_view<T>(pred.data(), pred.size()))));
    }

    frequency_decoupled_options o_;
};

}  // namespace diffuse::guidance
