// Counting heap allocations in a test binary (include this header in ONE translation unit of it):
// every allocation and every release made through the C allocator while counting is on.
// libstdc++'s operator new and Eigen (std::malloc) both allocate there, so one pair of counters
// sees std::vector, std::string, std::function and Eigen's dynamic arrays alike.
// - Without AddressSanitizer the binary replaces glibc's allocation functions (glibc manual,
//   "Replacing malloc": malloc, free, calloc, realloc and the aligned variants) with counting
//   wrappers around glibc's own implementations (__libc_malloc, ...).
// - Under AddressSanitizer, which owns the allocator, its allocation hooks count
//   (__sanitizer_install_malloc_and_free_hooks, sanitizer_common's allocator interface).
// Optionally every fresh block (not calloc's, which is zeroed by contract) is filled with 0xFF
// bytes, a NaN in float and double: code that reads memory it never wrote then computes NaN
// (0 * NaN is NaN) instead of whatever the allocator happened to return. A first step that
// multiplied an unwritten history buffer by a zero coefficient passed here and failed on CI.
// Under AddressSanitizer the sanitizer builds do this for every test instead, with ASan's own
// malloc_fill_byte option (scripts/test): its hook runs before calloc zeroes a block.
// Nothing here changes how Eigen or the library is compiled (an earlier version routed Eigen's
// EIGEN_RUNTIME_NO_MALLOC assertion to a counter, which made every sampler these tests run a
// different instantiation from the shared sampler table's), so the allocation tests link that
// table like every other test (tests/CMakeLists.txt).
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace allocation_counting {
inline bool active = false;
inline long allocation_count = 0;
inline long release_count = 0;
inline bool poison_fresh_blocks = false;

namespace detail {
inline void on_allocation() noexcept {
    if (active) ++allocation_count;
}
inline void* fresh(void* p, std::size_t size) noexcept {
    if (poison_fresh_blocks && p != nullptr) std::memset(p, 0xFF, size);
    return p;
}
inline void on_release(const volatile void* p) noexcept {
    if (active && p != nullptr) ++release_count;
}
}  // namespace detail
}  // namespace allocation_counting

#if defined(__SANITIZE_ADDRESS__)

extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*, std::size_t),
                                                         void (*free_hook)(const volatile void*));

namespace allocation_counting::detail {
inline void asan_allocation_hook(const volatile void*, std::size_t) {
    on_allocation();
}
inline void asan_release_hook(const volatile void* p) {
    on_release(p);
}
[[maybe_unused]] static const int hooks_installed =
    __sanitizer_install_malloc_and_free_hooks(asan_allocation_hook, asan_release_hook);
}  // namespace allocation_counting::detail

#else

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void* __libc_valloc(std::size_t size);
void* __libc_pvalloc(std::size_t size);
void __libc_free(void* p);

void* malloc(std::size_t size) noexcept {
    allocation_counting::detail::on_allocation();
    return allocation_counting::detail::fresh(__libc_malloc(size), size);
}
void* calloc(std::size_t count, std::size_t size) noexcept {
    allocation_counting::detail::on_allocation();
    return __libc_calloc(count, size);
}
// A reallocation counts as an allocation (and as a release of the old block).
void* realloc(void* p, std::size_t size) noexcept {
    allocation_counting::detail::on_allocation();
    allocation_counting::detail::on_release(p);
    return __libc_realloc(p, size);
}
void free(void* p) noexcept {
    allocation_counting::detail::on_release(p);
    __libc_free(p);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
    allocation_counting::detail::on_allocation();
    return allocation_counting::detail::fresh(__libc_memalign(alignment, size), size);
}
void* memalign(std::size_t alignment, std::size_t size) noexcept {
    allocation_counting::detail::on_allocation();
    return allocation_counting::detail::fresh(__libc_memalign(alignment, size), size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
    // POSIX: a power of two multiple of sizeof(void*), else EINVAL.
    if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    allocation_counting::detail::on_allocation();
    void* p = __libc_memalign(alignment, size);
    if (p == nullptr) return ENOMEM;
    *out = allocation_counting::detail::fresh(p, size);
    return 0;
}
void* valloc(std::size_t size) noexcept {
    allocation_counting::detail::on_allocation();
    return allocation_counting::detail::fresh(__libc_valloc(size), size);
}
void* pvalloc(std::size_t size) noexcept {
    allocation_counting::detail::on_allocation();
    return __libc_pvalloc(size);
}
}  // extern "C"

#endif

namespace allocation_counting {

struct allocations {
    long made = 0;      // blocks allocated (or reallocated)
    long released = 0;  // blocks freed

    allocations& operator+=(const allocations& other) {
        made += other.made;
        released += other.released;
        return *this;
    }
};

// The allocations `f` makes: counting is on only while f runs (no Catch assertion in between).
template <class F>
allocations count(F&& f) {
    allocation_count = release_count = 0;
    active = true;
    f();
    active = false;
    return {allocation_count, release_count};
}

}  // namespace allocation_counting
