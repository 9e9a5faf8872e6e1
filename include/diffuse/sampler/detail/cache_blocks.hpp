// diffuse/sampler/detail/cache_blocks.hpp: one trip through memory for a step made of several
// element-wise stages.
//
// A multistep or multi-stage step converts the model output (x0, eps or d), stores it in the history,
// then combines it with x and the older entries; a stage-point step also keeps its start. Written
// array by array, each stage streams every buffer it touches from memory again, so a 1M-float step
// moved 7 to 14 arrays where it needs 4 to 8. Run block by block instead, the later stages find
// the block still in the L1/L2 cache: memory sees each buffer once, and every element goes through
// the same Eigen expressions as before (blocks start at multiples of the packet-aligned block size,
// so the vectorized and scalar parts of each expression fall on the same elements and the results
// are bitwise those of the array-by-array form).
#pragma once

#include <algorithm>

#include "diffuse/core/view.hpp"

namespace diffuse::sampler::detail {

// Elements per block: 8 KiB per float stream, so the eight streams of the widest step (UniPC) stay
// in a 256 KiB L2 in double and most of them in a 32 KiB L1 in float.
inline constexpr index cache_block = 2048;

// Calls pass(begin, count) over [0, n) in blocks of cache_block elements, in order.
template <class Pass>
void for_each_block(index n, Pass&& pass) {
    for (index begin = 0; begin < n; begin += cache_block) pass(begin, std::min(cache_block, n - begin));
}

// The elements [begin, begin + count) of a view.
template <Real T>
view<T> block(view<T> v, index begin, index count) {
    return view<T>(v.data() + begin, count);
}
template <Real T>
const_view<T> block(const_view<T> v, index begin, index count) {
    return const_view<T>(v.data() + begin, count);
}
template <Real T>
view<T> block(buffer<T>& v, index begin, index count) {
    return view<T>(v.data() + begin, count);
}
template <Real T>
const_view<T> block(const buffer<T>& v, index begin, index count) {
    return const_view<T>(v.data() + begin, count);
}

}  // namespace diffuse::sampler::detail
