/* The malloc family lgmalloc takes over, listed once.
 *
 * LG_ALLOC_FUNCTIONS(C, CXX) lists every function that returns a new block:
 *   C(ret, name, params, args, n, m)  a C function the shim wraps: __wrap_NAME,
 *                                     and NAME defined in the program (wrap.c)
 *   CXX(symbol, callee, n, m)         a C++ operator new, defined in the
 *                                     program (new.cc); callee: its name in
 *                                     the reports
 * The request size is argument n (from 1) times argument m (0: none).
 *
 * LG_WRAPPED_FUNCTIONS(C, FREE) lists what the shim wraps, each with its
 * -Wl,--wrap=NAME flag (meson.build's lgmalloc_wrapped, checked against
 * this list by wrap/meson.build): the C functions above, then free,
 * FREE(name, params, args), and malloc_usable_size, C(...) with no size.
 *
 * Made from these lists: the shim's entry points and the malloc family
 * defined in the program (wrap.c), the forwarders (entry.c), what the
 * start wrapper pulls in (start.c), the analysis' targets
 * (predict/analysis/targets.c) and the running program's entry points
 * (predict/runtime/self_entries.c). */
#ifndef LG_ALLOC_FUNCTIONS_H
#define LG_ALLOC_FUNCTIONS_H

#define LG_ALLOC_FUNCTIONS(C, CXX) \
    C(void *, malloc,         (size_t size),                              (size),                1, 0) \
    C(void *, calloc,         (size_t count, size_t size),                (count, size),         1, 2) \
    C(void *, realloc,        (void *p, size_t size),                     (p, size),             2, 0) \
    C(void *, reallocarray,   (void *p, size_t count, size_t size),       (p, count, size),      2, 3) \
    C(void *, aligned_alloc,  (size_t align, size_t size),                (align, size),         2, 0) \
    C(int,    posix_memalign, (void **memptr, size_t align, size_t size), (memptr, align, size), 3, 0) \
    C(void *, memalign,       (size_t align, size_t size),                (align, size),         2, 0) \
    C(void *, valloc,         (size_t size),                              (size),                1, 0) \
    C(void *, pvalloc,        (size_t size),                              (size),                1, 0) \
    CXX(_Znwm,                              "operator new",   1, 0) \
    CXX(_Znam,                              "operator new[]", 1, 0) \
    CXX(_ZnwmRKSt9nothrow_t,                "operator new",   1, 0) \
    CXX(_ZnamRKSt9nothrow_t,                "operator new[]", 1, 0) \
    CXX(_ZnwmSt11align_val_t,               "operator new",   1, 0) \
    CXX(_ZnamSt11align_val_t,               "operator new[]", 1, 0) \
    CXX(_ZnwmSt11align_val_tRKSt9nothrow_t, "operator new",   1, 0) \
    CXX(_ZnamSt11align_val_tRKSt9nothrow_t, "operator new[]", 1, 0)

#define LG_WRAPPED_FUNCTIONS(C, FREE) \
    LG_ALLOC_FUNCTIONS(C, LG_FUNCTIONS_NONE) \
    FREE(free, (void *p), (p)) \
    C(size_t, malloc_usable_size, (void *p), (p), 0, 0)

/* For a kind of entry a use of the lists leaves out. */
#define LG_FUNCTIONS_NONE(...)

#define LG_FUNCTIONS_ONE(...) + 1
#define LG_ALLOC_FUNCTION_COUNT (0 LG_ALLOC_FUNCTIONS(LG_FUNCTIONS_ONE, LG_FUNCTIONS_ONE))

/* Their names, for wrap/meson.build's check of lgmalloc_wrapped. */
#define LG_FUNCTIONS_NAME(ret, name, ...) name
#define LG_FUNCTIONS_FREE_NAME(name, ...) name
#define LG_WRAPPED_FUNCTION_NAMES LG_WRAPPED_FUNCTIONS(LG_FUNCTIONS_NAME, LG_FUNCTIONS_FREE_NAME)

#endif /* LG_ALLOC_FUNCTIONS_H */
