// diffuse/core/view.hpp: zero-copy flat views of contiguous data.
//
// Solver arithmetic is element-wise, so every module reads and writes a flat contiguous
// buffer through an Eigen::Map. `flat(x)` makes that map from an Eigen array/matrix, an
// Eigen::Tensor or TensorMap of any rank, a std::vector/std::array/std::span, or a raw
// pointer and a size, without copying. Strided data is rejected (it cannot be viewed flat);
// xtensor containers are handled by diffuse/interop/xtensor.hpp.
#pragma once

#include <Eigen/Core>

#include <span>
#include <string>
#include <type_traits>

#include "diffuse/core/config.hpp"
#include "diffuse/core/error.hpp"

namespace diffuse {

template <Real T>
using view = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <Real T>
using const_view = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
// Owned working storage, sized once when a run starts.
template <Real T>
using buffer = Eigen::Array<T, Eigen::Dynamic, 1>;

namespace detail {

// A contiguous range of reals that is not strided: std::vector, std::array, std::span,
// Eigen::Tensor, Eigen::TensorMap. Containers that expose strides() (xtensor) are excluded
// here because their data() may not start the logical first element.
template <class C>
concept contiguous_reals = requires(C& c) {
    {c.data()};
    { c.size() } -> std::convertible_to<std::size_t>;
    requires std::is_pointer_v<decltype(c.data())>;
    requires Real<std::remove_pointer_t<decltype(c.data())>>;
}
&&!requires(C & c) {
    c.strides();
}
&&!std::is_base_of_v<Eigen::DenseBase<std::remove_cvref_t<C>>, std::remove_cvref_t<C>>;

template <class Derived>
void require_contiguous(const Eigen::DenseBase<Derived>& x) {
    static_assert(bool(Derived::Flags & Eigen::DirectAccessBit),
                  "diffuse::flat needs data in memory (an array, matrix, Map or Block), not an "
                  "unevaluated expression; evaluate it into an Eigen::Array first");
    const bool contiguous = x.innerStride() == 1 && (x.outerStride() == x.innerSize() || x.outerSize() <= 1);
    require(contiguous, "x.outerStride()", static_cast<index>(x.outerStride()),
            "data without gaps: inner stride 1 and outer stride equal to the inner size "
            "(a Block of a larger matrix is strided; copy it first)");
}

}  // namespace detail

// Raw pointer and element count (e.g. a buffer owned by ONNX Runtime or LibTorch).
template <Real T>
view<T> flat(T* data, index size) {
    require(size >= 0, "size", size, ">= 0");
    require(data != nullptr || size == 0, "data", "nullptr", "a valid pointer when size > 0");
    return view<T>(data, size);
}
template <Real T>
const_view<T> flat(const T* data, index size) {
    require(size >= 0, "size", size, ">= 0");
    require(data != nullptr || size == 0, "data", "nullptr", "a valid pointer when size > 0");
    return const_view<T>(data, size);
}

// Eigen dense objects (Array, Matrix, Map, contiguous Block). Column- or row-major alike:
// the flat order is the storage order.
template <class Derived>
requires Real<typename Derived::Scalar> view<typename Derived::Scalar> flat(Eigen::DenseBase<Derived>& x) {
    detail::require_contiguous(x);
    return view<typename Derived::Scalar>(x.derived().data(), x.size());
}
template <class Derived>
requires Real<typename Derived::Scalar> const_view<typename Derived::Scalar> flat(const Eigen::DenseBase<Derived>& x) {
    detail::require_contiguous(x);
    return const_view<typename Derived::Scalar>(x.derived().data(), x.size());
}
// Already a view: identity (lets generic code call flat() on anything).
template <Real T>
view<T> flat(view<T> x) {
    return x;
}
template <Real T>
const_view<T> flat(const_view<T> x) {
    return x;
}

// std::vector, std::array, std::span, Eigen::Tensor/TensorMap (any rank).
template <class C>
requires detail::contiguous_reals<C>
auto flat(C& c) {
    using T = std::remove_pointer_t<decltype(c.data())>;
    if constexpr (std::is_const_v<T>) {
        return const_view<std::remove_const_t<T>>(c.data(), static_cast<index>(c.size()));
    } else {
        return view<T>(c.data(), static_cast<index>(c.size()));
    }
}
template <class C>
requires detail::contiguous_reals<const C>
auto flat(const C& c) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(c.data())>>;
    return const_view<T>(c.data(), static_cast<index>(c.size()));
}

// A read-only view of anything flat() accepts (Eigen maps of T and of const T are distinct types,
// and Eigen does not convert one into the other).
template <class C>
auto cflat(const C& c) {
    const auto v = flat(c);
    using T = std::remove_const_t<std::remove_pointer_t<decltype(v.data())>>;
    return const_view<T>(v.data(), v.size());
}
template <Real T>
const_view<T> cflat(view<T> v) {
    return const_view<T>(v.data(), v.size());
}

// Size agreement between two buffers that meet in one update.
inline void require_size(std::string_view parameter, index actual, index expected) {
    if (actual != expected) {
        throw invalid(parameter, actual,
                      "a buffer of " + std::to_string(expected) + " elements (the size the run was started with)");
    }
}

}  // namespace diffuse
