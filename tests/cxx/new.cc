// C++ operator new and delete, in every form, reach lgmalloc with C++
// semantics: alignment honoured, std::bad_alloc and the new-handler on
// failure, nullptr from the nothrow forms.
#include <criterion/criterion.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "lgmalloc.h"

namespace {

// Hides a size from the compiler so it cannot fold or reject the call.
std::size_t opaque(std::size_t n)
{
    volatile std::size_t v = n;
    return v;
}

bool aligned(const void *p, std::size_t a)
{
    return (reinterpret_cast<std::uintptr_t>(p) & (a - 1)) == 0;
}

const std::size_t too_big = static_cast<std::size_t>(PTRDIFF_MAX) + 1;

struct alignas(256) Wide {
    char bytes[300];
};

int handler_calls;
void counting_handler()
{
    handler_calls++;
    std::set_new_handler(nullptr); // the next attempt throws
}

} // namespace

TestSuite(cxx, .timeout = 30);

Test(cxx, new_and_delete_use_lgmalloc)
{
    int *p = new int(7);
    cr_assert(lg_owns(p));
    cr_assert(aligned(p, 16));
    delete p;
}

Test(cxx, array_new_uses_lgmalloc)
{
    int *p = new int[opaque(1000)];
    cr_assert(lg_owns(p));
    cr_assert(lg_owns(p + 999));
    delete[] p;
}

Test(cxx, sized_delete_accepts_blocks_of_every_size)
{
    for (std::size_t n = 1; n < (std::size_t(1) << 24); n = n * 3 + 1) {
        void *p = ::operator new(n);
        cr_assert(lg_owns(p), "operator new(%zu)", n);
        std::memset(p, 1, n);
        ::operator delete(p, n);
        void *a = ::operator new[](n);
        cr_assert(lg_owns(a), "operator new[](%zu)", n);
        ::operator delete[](a, n);
    }
}

Test(cxx, aligned_new_honours_alignment)
{
    for (std::size_t a = 1; a <= (std::size_t(1) << 20); a *= 2) {
        void *p = ::operator new(opaque(100), std::align_val_t(a));
        cr_assert(lg_owns(p));
        cr_assert(aligned(p, a), "operator new(100, align %zu) = %p", a, p);
        ::operator delete(p, std::align_val_t(a));
        void *q = ::operator new[](opaque(3 * a + 1), std::align_val_t(a));
        cr_assert(lg_owns(q));
        cr_assert(aligned(q, a), "operator new[](.., align %zu) = %p", a, q);
        ::operator delete[](q, 3 * a + 1, std::align_val_t(a));
    }
}

Test(cxx, over_aligned_types_are_aligned)
{
    Wide *w = new Wide;
    cr_assert(lg_owns(w));
    cr_assert(aligned(w, alignof(Wide)));
    delete w;
    Wide *ws = new Wide[5];
    cr_assert(lg_owns(ws));
    cr_assert(aligned(ws, alignof(Wide)));
    delete[] ws;
}

Test(cxx, nothrow_new_uses_lgmalloc)
{
    int *p = new (std::nothrow) int(3);
    cr_assert_not_null(p);
    cr_assert(lg_owns(p));
    delete p;
    char *a = new (std::nothrow) char[opaque(5000)];
    cr_assert(lg_owns(a));
    delete[] a;
    void *q = ::operator new(opaque(64), std::align_val_t(512), std::nothrow);
    cr_assert(lg_owns(q));
    cr_assert(aligned(q, 512));
    ::operator delete(q, std::align_val_t(512), std::nothrow);
}

Test(cxx, failing_new_throws_bad_alloc)
{
    bool threw = false;
    try {
        void *p = ::operator new(opaque(too_big));
        ::operator delete(p);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    cr_assert(threw, "operator new(PTRDIFF_MAX + 1) did not throw std::bad_alloc");
}

Test(cxx, failing_array_and_aligned_new_throw_bad_alloc)
{
    int thrown = 0;
    try {
        ::operator delete[](::operator new[](opaque(too_big)));
    } catch (const std::bad_alloc &) {
        thrown++;
    }
    try {
        ::operator delete(::operator new(opaque(too_big), std::align_val_t(64)), std::align_val_t(64));
    } catch (const std::bad_alloc &) {
        thrown++;
    }
    try {
        ::operator delete[](::operator new[](opaque(too_big), std::align_val_t(4096)), std::align_val_t(4096));
    } catch (const std::bad_alloc &) {
        thrown++;
    }
    cr_assert_eq(thrown, 3);
}

Test(cxx, failing_new_calls_the_new_handler)
{
    handler_calls = 0;
    std::set_new_handler(counting_handler);
    bool threw = false;
    try {
        ::operator delete(::operator new(opaque(too_big)));
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    std::set_new_handler(nullptr);
    cr_assert_eq(handler_calls, 1, "the new-handler ran %d times", handler_calls);
    cr_assert(threw);
}

Test(cxx, failing_aligned_new_calls_the_new_handler)
{
    handler_calls = 0;
    std::set_new_handler(counting_handler);
    bool threw = false;
    try {
        ::operator delete(::operator new(opaque(too_big), std::align_val_t(256)), std::align_val_t(256));
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    std::set_new_handler(nullptr);
    cr_assert_eq(handler_calls, 1, "the new-handler ran %d times", handler_calls);
    cr_assert(threw);
}

Test(cxx, nothrow_forms_return_null_on_failure)
{
    cr_assert_null(::operator new(opaque(too_big), std::nothrow));
    cr_assert_null(::operator new[](opaque(too_big), std::nothrow));
    cr_assert_null(::operator new(opaque(too_big), std::align_val_t(64), std::nothrow));
    cr_assert_null(::operator new[](opaque(too_big), std::align_val_t(64), std::nothrow));
}

Test(cxx, delete_of_null_does_nothing)
{
    ::operator delete(nullptr);
    ::operator delete[](nullptr);
    ::operator delete(nullptr, std::align_val_t(64));
    ::operator delete(nullptr, std::size_t(8));
}

Test(cxx, standard_containers_use_lgmalloc)
{
    std::vector<int> v(10000, 1);
    cr_assert(lg_owns(v.data()));
    std::string s(1000, 'x');
    cr_assert(lg_owns(s.data()));
    auto sp = std::make_shared<std::vector<char>>(100);
    cr_assert(lg_owns(sp.get()));
    auto up = std::make_unique<Wide>();
    cr_assert(lg_owns(up.get()));
    cr_assert(aligned(up.get(), alignof(Wide)));
}

// libstdc++ allocates inside the shared library too: the message of a
// std::runtime_error is copied there, with the library's own call to
// operator new, which must reach the program's replacement.
Test(cxx, allocations_inside_libstdcxx_use_lgmalloc)
{
    std::runtime_error e(std::string(1000, 'x'));
    cr_assert(lg_owns(e.what()), "the message %p was allocated outside lgmalloc",
              static_cast<const void *>(e.what()));
}
