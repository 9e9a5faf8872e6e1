// Counting heap allocations in a test binary (include this header FIRST, in one translation unit):
// - the global operator new/delete are replaced and count while `allocation_counting::active` is set;
// - Eigen allocates with malloc; its EIGEN_RUNTIME_NO_MALLOC hook asserts (eigen_assert) in every
//   Eigen heap allocation while malloc is disallowed, and eigen_assert is routed to a counter.
// The same approach as tests/test_allocations.cpp, shared here for the per-sampler proof.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

namespace allocation_counting {
inline bool active = false;
inline long news = 0;
inline long deletes = 0;
inline long eigen_asserts = 0;  // Eigen heap allocations while disallowed (or any failed Eigen assertion)

inline void on_eigen_assert() { ++eigen_asserts; }
}  // namespace allocation_counting

#define EIGEN_RUNTIME_NO_MALLOC
#define eigen_assert(condition) ((condition) ? void(0) : allocation_counting::on_eigen_assert())

#include <Eigen/Core>


// ---- the replaced global allocation functions -------------------------------------------------

namespace allocation_counting::detail {
inline void* counted_allocation(std::size_t size, std::size_t alignment) {
    if (allocation_counting::active) ++allocation_counting::news;
    if (size == 0) size = 1;
    void* p = nullptr;
    if (alignment <= alignof(std::max_align_t)) {
        p = std::malloc(size);
    } else {
        // aligned_alloc wants a size that is a multiple of the alignment.
        p = std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
    }
    return p;
}
inline void* counted_allocation_or_throw(std::size_t size, std::size_t alignment) {
    if (void* p = counted_allocation(size, alignment)) return p;
    throw std::bad_alloc();
}
inline void counted_free(void* p) noexcept {
    if (p == nullptr) return;
    if (allocation_counting::active) ++allocation_counting::deletes;
    std::free(p);
}
inline constexpr std::size_t plain = alignof(std::max_align_t);
}  // namespace allocation_counting::detail


void* operator new(std::size_t size) { return allocation_counting::detail::counted_allocation_or_throw(size, allocation_counting::detail::plain); }
void* operator new[](std::size_t size) { return allocation_counting::detail::counted_allocation_or_throw(size, allocation_counting::detail::plain); }
void* operator new(std::size_t size, std::align_val_t a) {
    return allocation_counting::detail::counted_allocation_or_throw(size, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t size, std::align_val_t a) {
    return allocation_counting::detail::counted_allocation_or_throw(size, static_cast<std::size_t>(a));
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return allocation_counting::detail::counted_allocation(size, allocation_counting::detail::plain); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return allocation_counting::detail::counted_allocation(size, allocation_counting::detail::plain); }
void* operator new(std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
    return allocation_counting::detail::counted_allocation(size, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
    return allocation_counting::detail::counted_allocation(size, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { allocation_counting::detail::counted_free(p); }
void operator delete[](void* p) noexcept { allocation_counting::detail::counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { allocation_counting::detail::counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { allocation_counting::detail::counted_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { allocation_counting::detail::counted_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { allocation_counting::detail::counted_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { allocation_counting::detail::counted_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { allocation_counting::detail::counted_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { allocation_counting::detail::counted_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { allocation_counting::detail::counted_free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { allocation_counting::detail::counted_free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { allocation_counting::detail::counted_free(p); }

namespace allocation_counting {

struct allocations {
    long news = 0;
    long deletes = 0;
    long eigen = 0;

    allocations& operator+=(const allocations& other) {
        news += other.news;
        deletes += other.deletes;
        eigen += other.eigen;
        return *this;
    }
};

// The allocations `f` makes: counting is on only while f runs (no Catch assertion in between).
template <class F>
allocations count(F&& f) {
    news = deletes = eigen_asserts = 0;
    Eigen::internal::set_is_malloc_allowed(false);
    active = true;
    f();
    active = false;
    Eigen::internal::set_is_malloc_allowed(true);
    return {news, deletes, eigen_asserts};
}

}  // namespace allocation_counting
