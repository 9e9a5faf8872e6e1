// diffuse/core/brownian.hpp: Brownian increments over time intervals, from the counter-based RNG.
//
// Two sources of W(t1) - W(t0) ~ N(0, |t1 - t0| I) (one independent Brownian motion per element):
// - brownian_increments: each call draws fresh normals from a noise source (a new stream of the
//   generator per call). Cheap, reproducible from the seed, but only consistent for the sequence
//   of calls it was given.
// - brownian_tree: a virtual Brownian tree (Gaines and Lyons 1997; Li et al. 2020, torchsde's
//   BrownianTree; Kidger et al. 2021, diffrax's VirtualBrownianTree). One fixed path per seed:
//   any query interval, in any order and any number of times, gets increments of that path, so
//   W(a..b) + W(b..c) = W(a..c) up to rounding and a path can be refined. Nothing is stored: the
//   value at a node of the dyadic bisection of [t0, t1] is drawn from the Brownian bridge given
//   its parent, with Philox keyed by the node's number.
// Both can also return the time integral of the path over the interval,
// I_(1,0) = int_t0^t1 (W(s) - W(t0)) ds, jointly with the increment (strong order 1.5 schemes need it).
// The tree draws it from the space-time Levy area (Foster, Lyons, Oberhauser, "The Brownian bridge
// and space-time Levy area", 2020), bisected together with W. docs/random.md has the contract.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"
#include "diffuse/core/random.hpp"
#include "diffuse/core/view.hpp"

namespace diffuse::random {

// A source of Brownian increments: `increment(t0, t1, dw)` writes W(t1) - W(t0); the four-argument
// form also writes dz = int_t0^t1 (W(s) - W(t0)) ds. Either time direction (t1 < t0 negates).
template <class S, class T>
concept brownian_source = Real<T> && requires(S& s, T t, view<T> out) {
    s.increment(t, t, out);
    s.increment(t, t, out, out);
};

namespace detail {

// The time integral from the increment and the space-time Levy area H ~ N(0, |h|/12), independent
// of dw: int_t0^t1 (W(s) - W(t0)) ds = h (dw / 2 + H), h = t1 - t0 (Foster et al. 2020, def. 3.3).
template <Real T>
void time_integral_from_area(T h, const_view<T> dw, view<T> area_in_dz_out) {
    area_in_dz_out = h * (T(0.5) * dw + area_in_dz_out);
}

}  // namespace detail

// Independent increments from a noise source, one draw per call (two with the time integral).
// The default source is the library's generator, so the numbers are a pure function of the seed
// and the order of the calls; pass a replaying source to use recorded noise.
template <Real T, noise_source<T> Source = generator>
class brownian_increments {
public:
    explicit brownian_increments(Source source) : source_(std::move(source)) {}
    explicit brownian_increments(u64 seed) requires std::same_as<Source, generator> : source_(seed) {}

    void increment(T t0, T t1, view<T> dw) {
        const T h = checked_step(t0, t1);
        source_.normal(dw);
        dw *= std::copysign(std::sqrt(std::abs(h)), h);
    }
    void increment(T t0, T t1, view<T> dw, view<T> dz) {
        require_size("dz.size()", dz.size(), dw.size());
        increment(t0, t1, dw);
        const T h = t1 - t0;
        source_.normal(dz);
        dz *= std::sqrt(std::abs(h) / T(12));
        detail::time_integral_from_area<T>(h, cflat(dw), dz);
    }

    [[nodiscard]] Source& source() { return source_; }

private:
    static T checked_step(T t0, T t1) {
        require_finite("t0", t0);
        require_finite("t1", t1);
        return t1 - t0;
    }

    Source source_;
};

// Whether a tree also bisects the space-time Levy area (needed for the time integral; doubles the
// normals drawn per node).
enum class levy_area { none, space_time };

// A virtual Brownian tree over [t0, t1] (either order) for `size` independent elements.
//
// The node numbering is a heap: the root (the whole interval) is node 1, node k has children 2k
// (left half) and 2k + 1. The root's increment is sqrt(h) Z(stream 0); with the area, its
// H = sqrt(h/12) Z(stream 2^63). Node k is split at its midpoint with the normals
// xi1 = Z(stream k) and xi2 = Z(stream 2^63 + k) (element i of the tree is element
// first_element + i of each stream, so element b of a batch equals a tree of one element built
// with first_element = b). Bisection stops at `depth` levels, the first whose intervals are no
// longer than `tolerance`; inside a leaf the path is the conditional mean given the leaf's
// increment and area (linear without the area): exact Brownian values at every node, a smooth
// interpolation between nodes, so increments over intervals much shorter than a leaf are too
// small. Choose the tolerance at or below the finest step (grids of t0 + k (t1 - t0) / 2^j land
// exactly on nodes).
//
// A query costs at most `depth` splits (size normals each, twice with the area) per endpoint;
// the last two points are cached, so stepping along a grid costs one descent per step. Not
// thread-safe (work buffers): use one tree per thread; copies hold the same path.
template <Real T>
class brownian_tree {
public:
    brownian_tree(u64 seed, T t0, T t1, index size, T tolerance, levy_area area = levy_area::none,
                  u64 first_element = 0)
        : seed_(seed), first_element_(first_element), area_(area), t0_(t0) {
        require_finite("t0", t0);
        require_finite("t1", t1);
        require(t0 != t1, "t1", t1, "an end time different from t0");
        require(size >= 0, "size", size, ">= 0");
        lo_ = std::min(t0, t1);
        hi_ = std::max(t0, t1);
        const T length = hi_ - lo_;
        require(tolerance >= finest_tolerance(t0, t1) && std::isfinite(tolerance), "tolerance", tolerance,
                "a finite leaf width >= max(|t0|, |t1|, |t1 - t0|) 2^-(digits - 4) (float: 2^-20, double: 2^-49)");
        depth_ = 0;
        while (std::ldexp(length, -depth_) > tolerance) ++depth_;
        for (auto* b : {&root_w_, &root_h_, &node_w_, &node_h_, &xi1_, &xi2_, &prefix_w_, &prefix_i_, &ends_[0].w,
                        &ends_[0].i, &ends_[1].w, &ends_[1].i})
            b->resize(size);
        fill_normal<T>(flat(root_w_), seed_, 0, first_element_);
        root_w_ *= std::sqrt(length);
        if (area_ == levy_area::space_time) {
            fill_normal<T>(flat(root_h_), seed_, area_stream, first_element_);
            root_h_ *= std::sqrt(length / T(12));
        } else {
            root_h_.setZero();
        }
    }

    // The finest leaf width T resolves on [t0, t1]: max(|t0|, |t1|, |t1 - t0|) 2^-(digits - 4); finer
    // than this the midpoints of T times stop being distinct from their ends.
    [[nodiscard]] static T finest_tolerance(T t0, T t1) {
        const T magnitude = std::max({std::abs(t0), std::abs(t1), std::abs(t1 - t0)});
        return std::ldexp(magnitude, -(std::numeric_limits<T>::digits - 4));
    }

    // dw = W(b) - W(a), for any a, b in the tree's interval.
    void increment(T a, T b, view<T> dw) {
        require_size("dw.size()", dw.size(), size());
        const end& start = evaluate(a);
        const end& stop = evaluate(b, &start);
        dw = stop.w - start.w;
    }
    // Also dz = int_a^b (W(s) - W(a)) ds (the tree must have been built with levy_area::space_time).
    void increment(T a, T b, view<T> dw, view<T> dz) {
        require(area_ == levy_area::space_time, "levy_area", "none",
                "levy_area::space_time when the time integral dz is requested");
        require_size("dw.size()", dw.size(), size());
        require_size("dz.size()", dz.size(), size());
        const end& start = evaluate(a);
        const end& stop = evaluate(b, &start);
        dw = stop.w - start.w;
        dz = (stop.i - start.i) - (b - a) * start.w;
    }
    // W(t) - W(t0), t0 the first end given to the constructor.
    void value(T t, view<T> out) { increment(t0_, t, out); }

    [[nodiscard]] index size() const { return root_w_.size(); }
    [[nodiscard]] int depth() const { return depth_; }
    [[nodiscard]] T leaf_width() const { return std::ldexp(hi_ - lo_, -depth_); }
    [[nodiscard]] T lower() const { return lo_; }
    [[nodiscard]] T upper() const { return hi_; }

private:
    static constexpr u64 area_stream = u64{1} << 63;

    // The path at one time: w = W(t) - W(lo), i = int_lo^t (W(s) - W(lo)) ds.
    struct end {
        T t = std::numeric_limits<T>::quiet_NaN();
        buffer<T> w, i;
    };

    // Evaluates W at t into one of the two end slots (reusing a slot that already holds t, never
    // overwriting `keep`).
    const end& evaluate(T t, const end* keep = nullptr) {
        if (!(t >= lo_ && t <= hi_)) {
            throw invalid(
                "t", t, "a time within the tree's interval [" + std::to_string(lo_) + ", " + std::to_string(hi_) + "]");
        }
        for (end& e : ends_)
            if (e.t == t) return e;
        end& slot = (&ends_[next_slot_] == keep) ? ends_[1 - next_slot_] : ends_[next_slot_];
        next_slot_ = static_cast<int>(&slot == &ends_[0]);
        descend(t, slot);
        return slot;
    }

    // Bisects from the root towards t. At each node [l, r] (length h) the state is the prefix
    // (W(l), int_lo^l W) and the node's own increment W and area H.
    void descend(T t, end& out) {
        prefix_w_.setZero();
        prefix_i_.setZero();
        node_w_ = root_w_;
        node_h_ = root_h_;
        T l = lo_;
        T r = hi_;
        u64 node = 1;
        for (int level = 0; level < depth_ && t != l; ++level) {
            const T half = (r - l) / 2;
            const T m = l + half;
            split(node, half);
            // node_w_/node_h_ now hold the left child (W1, H1), xi1_/xi2_ the right (W2, H2).
            if (t < m) {
                r = m;
                node = 2 * node;
            } else {
                accumulate(half, prefix_w_, prefix_i_, node_w_, node_h_);
                node_w_ = xi1_;
                node_h_ = xi2_;
                l = m;
                node = 2 * node + 1;
            }
        }
        // Inside the leaf [l, r]: the conditional mean given (W, H) at tau = (t - l) / (r - l),
        // W(l + tau h) - W(l) = tau W + 6 tau (1 - tau) H (Foster et al. 2020, the bridge's mean
        // given its area), whose integral over [0, tau] is h (tau^2 / 2 W + (3 tau^2 - 2 tau^3) H).
        const T h = r - l;
        const T tau = (t - l) / h;
        out.w = prefix_w_ + (tau * node_w_ + (6 * tau * (1 - tau)) * node_h_);
        out.i =
            prefix_i_ + (t - l) * prefix_w_ + h * ((tau * tau / 2) * node_w_ + (tau * tau * (3 - 2 * tau)) * node_h_);
        out.t = t;
    }

    // The prefix moves from l to the midpoint m = l + half past the left child (W1, H1):
    // int_l^m (W(s) - W(lo)) ds = half W(l) + half (W1 / 2 + H1).
    static void accumulate(T half, buffer<T>& prefix_w, buffer<T>& prefix_i, const buffer<T>& w1, const buffer<T>& h1) {
        prefix_i += half * prefix_w + half * (T(0.5) * w1 + h1);
        prefix_w += w1;
    }

    // Splits node (W, H) of length 2 half into its halves, in place: node_w_/node_h_ become the left
    // child's (W1, H1), xi1_/xi2_ the right child's (W2, H2). With a = W1 - W2, b = H1 - H2 and
    // c = H1 + H2, independence of the halves gives W1 + W2 = W and c + a/2 = 2H, and conditioning
    // on H gives a = 3H + sqrt(half/2) xi1, b = sqrt(half/6) xi2 (a, b, c jointly normal; derivation
    // in docs/random.md). Without the area H = 0 and a = sqrt(2 half) xi1, the Brownian bridge.
    void split(u64 node, T half) {
        fill_normal<T>(flat(xi1_), seed_, node, first_element_);
        if (area_ == levy_area::space_time) {
            fill_normal<T>(flat(xi2_), seed_, area_stream | node, first_element_);
            // xi1 <- a, xi2 <- b, then the children from (W, a) and (c, b).
            xi1_ = T(3) * node_h_ + std::sqrt(half / 2) * xi1_;
            xi2_ *= std::sqrt(half / 6);
            node_h_ = T(2) * node_h_ - T(0.5) * xi1_;  // c
            const buffer<T>& a = xi1_;
            node_w_ = T(0.5) * (node_w_ + a);     // W1
            xi1_ = node_w_ - a;                   // W2 = W1 - a
            node_h_ = T(0.5) * (node_h_ + xi2_);  // H1 = (c + b) / 2
            xi2_ = node_h_ - xi2_;                // H2 = H1 - b
        } else {
            xi1_ *= std::sqrt(2 * half);
            node_w_ = T(0.5) * (node_w_ + xi1_);
            xi1_ = node_w_ - xi1_;
            xi2_.setZero();
        }
    }

    u64 seed_;
    u64 first_element_;
    levy_area area_;
    T t0_;
    T lo_ = 0, hi_ = 0;
    int depth_ = 0;
    buffer<T> root_w_, root_h_, node_w_, node_h_, xi1_, xi2_, prefix_w_, prefix_i_;
    end ends_[2];
    int next_slot_ = 0;
};

static_assert(brownian_source<brownian_tree<double>, double>);
static_assert(brownian_source<brownian_increments<float>, float>);

}  // namespace diffuse::random
