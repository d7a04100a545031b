// C++ operator new and delete, every form, replaced in the program so that
// its allocations (and libstdc++'s own) reach lgmalloc.  A wrap-only link
// does not catch them: operator new inside libstdc++ calls malloc there.
//
// Semantics are the standard's: a failed new calls the new-handler and
// tries again, and throws std::bad_alloc when there is none; the nothrow
// forms return nullptr where the others throw.
//
// Under valgrind (handover.h) every form goes to libstdc++'s operator of
// the same kind, which valgrind replaces, so that memcheck still tells
// new from new[] from malloc; a load and a branch on each call.
#include <cstddef>
#include <new>

#include "lgmalloc.h"
#include "handover.h"

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

// ---- handing over (handover.h) ----

// libstdc++'s operator of the kind asked for; without libstdc++ (linked
// statically, its operators are these), the C library's malloc.
__attribute__((noinline)) void *handover_new(std::size_t size, std::size_t align, bool array)
{
    const lg_real_t &r = lg__real;
    if (align) {
        if (void *(*fn)(std::size_t, std::size_t) = array ? r.new_array_aligned : r.new_one_aligned)
            return fn(size, align);
    } else if (void *(*fn)(std::size_t) = array ? r.new_array : r.new_one) {
        return fn(size);
    }
    for (;;) {
        void *p = align ? r.aligned_alloc(align, size ? (size + align - 1) & ~(align - 1) : align)
                        : r.malloc(size ? size : 1);
        if (p)
            return p;
        std::new_handler handler = std::get_new_handler();
        if (!handler)
            throw std::bad_alloc();
        handler();
    }
}

__attribute__((noinline)) void handover_delete(void *p, std::size_t align, bool array) noexcept
{
    const lg_real_t &r = lg__real;
    if (lg_owns(p)) // served before the handing over, or by an lg_ function
        lg_free(p);
    else if (align && (array ? r.delete_array_aligned : r.delete_one_aligned))
        (array ? r.delete_array_aligned : r.delete_one_aligned)(p, align);
    else if (!align && (array ? r.delete_array : r.delete_one))
        (array ? r.delete_array : r.delete_one)(p);
    else
        r.free(p);
}

// ---- the operators' bodies ----

// Anything but a settled "lgmalloc serves" takes the out-of-line branch,
// which asks (and may decide), so the usual path keeps its tail calls.
inline bool settled_serving()
{
    return __builtin_expect(__atomic_load_n(&lg__handover_state, __ATOMIC_RELAXED) == LG_HANDOVER_NO, 1);
}

inline void *alloc_lg(std::size_t size, std::size_t align)
{
    void *p = alloc(size, align);
    return __builtin_expect(p != nullptr, 1) ? p : alloc_retry(size, align);
}

__attribute__((noinline)) void *alloc_asking(std::size_t size, std::size_t align, bool array)
{
    return lg__handover() ? handover_new(size, align, array) : alloc_lg(size, align);
}

inline void *alloc_or_throw(std::size_t size, std::size_t align, bool array)
{
    return settled_serving() ? alloc_lg(size, align) : alloc_asking(size, align, array);
}

void *alloc_or_null(std::size_t size, std::size_t align, bool array) noexcept
{
    try {
        return alloc_or_throw(size, align, array);
    } catch (...) {
        return nullptr;
    }
}

__attribute__((noinline)) void release_asking(void *p, std::size_t align, bool array) noexcept
{
    if (lg__handover())
        handover_delete(p, align, array);
    else
        lg_free(p);
}

inline void release(void *p, std::size_t align, bool array) noexcept
{
    if (settled_serving())
        lg_free(p);
    else
        release_asking(p, align, array);
}

constexpr bool one = false, many = true; // new/delete, new[]/delete[]

inline std::size_t al(std::align_val_t a) { return static_cast<std::size_t>(a); }

} // namespace

REPLACE void *operator new(std::size_t n) { return alloc_or_throw(n, 0, one); }
REPLACE void *operator new[](std::size_t n) { return alloc_or_throw(n, 0, many); }
REPLACE void *operator new(std::size_t n, const std::nothrow_t &) noexcept { return alloc_or_null(n, 0, one); }
REPLACE void *operator new[](std::size_t n, const std::nothrow_t &) noexcept { return alloc_or_null(n, 0, many); }
REPLACE void *operator new(std::size_t n, std::align_val_t a) { return alloc_or_throw(n, al(a), one); }
REPLACE void *operator new[](std::size_t n, std::align_val_t a) { return alloc_or_throw(n, al(a), many); }
REPLACE void *operator new(std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept
{
    return alloc_or_null(n, al(a), one);
}
REPLACE void *operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept
{
    return alloc_or_null(n, al(a), many);
}

REPLACE void operator delete(void *p) noexcept { release(p, 0, one); }
REPLACE void operator delete[](void *p) noexcept { release(p, 0, many); }
REPLACE void operator delete(void *p, std::size_t) noexcept { release(p, 0, one); }
REPLACE void operator delete[](void *p, std::size_t) noexcept { release(p, 0, many); }
REPLACE void operator delete(void *p, const std::nothrow_t &) noexcept { release(p, 0, one); }
REPLACE void operator delete[](void *p, const std::nothrow_t &) noexcept { release(p, 0, many); }
REPLACE void operator delete(void *p, std::align_val_t a) noexcept { release(p, al(a), one); }
REPLACE void operator delete[](void *p, std::align_val_t a) noexcept { release(p, al(a), many); }
REPLACE void operator delete(void *p, std::size_t, std::align_val_t a) noexcept { release(p, al(a), one); }
REPLACE void operator delete[](void *p, std::size_t, std::align_val_t a) noexcept { release(p, al(a), many); }
REPLACE void operator delete(void *p, std::align_val_t a, const std::nothrow_t &) noexcept { release(p, al(a), one); }
REPLACE void operator delete[](void *p, std::align_val_t a, const std::nothrow_t &) noexcept { release(p, al(a), many); }
