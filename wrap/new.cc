// C++ operator new and delete, every form, replaced in the program so that
// its allocations (and libstdc++'s own) reach lgmalloc.  A wrap-only link
// does not catch them: operator new inside libstdc++ calls malloc there.
//
// Semantics are the standard's: a failed new calls the new-handler and
// tries again, and throws std::bad_alloc when there is none; the nothrow
// forms return nullptr where the others throw.
#include <cstddef>
#include <new>

#include "lgmalloc.h"

#define REPLACE __attribute__((visibility("default")))

namespace {

void *alloc(std::size_t size, std::size_t align)
{
    return align <= alignof(std::max_align_t) ? lg_malloc(size) : lg_aligned_alloc(align, size);
}

__attribute__((noinline)) void *alloc_retry(std::size_t size, std::size_t align)
{
    for (;;) {
        std::new_handler handler = std::get_new_handler();
        if (!handler)
            throw std::bad_alloc();
        handler();
        if (void *p = alloc(size, align))
            return p;
    }
}

inline void *alloc_or_throw(std::size_t size, std::size_t align)
{
    void *p = alloc(size, align);
    return __builtin_expect(p != nullptr, 1) ? p : alloc_retry(size, align);
}

void *alloc_or_null(std::size_t size, std::size_t align) noexcept
{
    try {
        return alloc_or_throw(size, align);
    } catch (...) {
        return nullptr;
    }
}

} // namespace

REPLACE void *operator new(std::size_t n) { return alloc_or_throw(n, 0); }
REPLACE void *operator new[](std::size_t n) { return alloc_or_throw(n, 0); }
REPLACE void *operator new(std::size_t n, const std::nothrow_t &) noexcept { return alloc_or_null(n, 0); }
REPLACE void *operator new[](std::size_t n, const std::nothrow_t &) noexcept { return alloc_or_null(n, 0); }
REPLACE void *operator new(std::size_t n, std::align_val_t a) { return alloc_or_throw(n, static_cast<std::size_t>(a)); }
REPLACE void *operator new[](std::size_t n, std::align_val_t a) { return alloc_or_throw(n, static_cast<std::size_t>(a)); }
REPLACE void *operator new(std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept
{
    return alloc_or_null(n, static_cast<std::size_t>(a));
}
REPLACE void *operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept
{
    return alloc_or_null(n, static_cast<std::size_t>(a));
}

REPLACE void operator delete(void *p) noexcept { lg_free(p); }
REPLACE void operator delete[](void *p) noexcept { lg_free(p); }
REPLACE void operator delete(void *p, std::size_t) noexcept { lg_free(p); }
REPLACE void operator delete[](void *p, std::size_t) noexcept { lg_free(p); }
REPLACE void operator delete(void *p, const std::nothrow_t &) noexcept { lg_free(p); }
REPLACE void operator delete[](void *p, const std::nothrow_t &) noexcept { lg_free(p); }
REPLACE void operator delete(void *p, std::align_val_t) noexcept { lg_free(p); }
REPLACE void operator delete[](void *p, std::align_val_t) noexcept { lg_free(p); }
REPLACE void operator delete(void *p, std::size_t, std::align_val_t) noexcept { lg_free(p); }
REPLACE void operator delete[](void *p, std::size_t, std::align_val_t) noexcept { lg_free(p); }
REPLACE void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept { lg_free(p); }
REPLACE void operator delete[](void *p, std::align_val_t, const std::nothrow_t &) noexcept { lg_free(p); }
