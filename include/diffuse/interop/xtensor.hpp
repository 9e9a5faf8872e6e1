// diffuse/interop/xtensor.hpp: flat views of xtensor containers (xt::xarray, xt::xtensor,
// xt::xtensor_fixed and the adaptors of xt::adapt), so they can be passed wherever the library
// takes a buffer. Optional: include it only if you use xtensor (Debian: libxtensor-dev).
//
// A container owns (or adapts) one contiguous block of size() elements whatever its layout, so
// the view covers that block in storage order. Views and expressions (xt::view, strided views,
// lazy functions) are not containers: evaluate them first (xt::eval) — that is a copy the caller
// should see, not one the library makes silently.
#pragma once

#include <xtensor/xcontainer.hpp>

#include "diffuse/core/view.hpp"

namespace diffuse {

template <class D>
requires Real<typename xt::xcontainer<D>::value_type> view<typename xt::xcontainer<D>::value_type> flat(
    xt::xcontainer<D>& x) {
    return view<typename xt::xcontainer<D>::value_type>(x.data(), static_cast<index>(x.size()));
}

template <class D>
requires Real<typename xt::xcontainer<D>::value_type> const_view<typename xt::xcontainer<D>::value_type> flat(
    const xt::xcontainer<D>& x) {
    return const_view<typename xt::xcontainer<D>::value_type>(x.data(), static_cast<index>(x.size()));
}

}  // namespace diffuse
