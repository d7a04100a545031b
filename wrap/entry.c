/* The __wrap_* entry points of the plugin-safe link (lgmalloc.pc): each
 * hands its call to the malloc family the process has.  Built with -fPIC,
 * so a shared object linked with the same flags as its executable takes
 * these and nothing else of lgmalloc: at run time its calls reach the
 * executable's malloc (lgmalloc's, exported for libc's calls), or glibc's
 * in a program without lgmalloc.  In the executable each is one jmp to the
 * malloc defined there; the return address stays the program's, which is
 * what the prediction keys call sites by. */
#include <stddef.h>

#define FORWARD(ret, name, params, args)                                    \
    extern ret __real_##name params;                                        \
    __attribute__((visibility("default"))) ret __wrap_##name params          \
    {                                                                       \
        return __real_##name args;                                          \
    }

FORWARD(void *, malloc, (size_t n), (n))
extern void __real_free(void *p);
__attribute__((visibility("default"))) void __wrap_free(void *p) { __real_free(p); }
FORWARD(void *, calloc, (size_t c, size_t n), (c, n))
FORWARD(void *, realloc, (void *p, size_t n), (p, n))
FORWARD(void *, reallocarray, (void *p, size_t c, size_t n), (p, c, n))
FORWARD(void *, aligned_alloc, (size_t a, size_t n), (a, n))
FORWARD(int, posix_memalign, (void **r, size_t a, size_t n), (r, a, n))
FORWARD(void *, memalign, (size_t a, size_t n), (a, n))
FORWARD(void *, valloc, (size_t n), (n))
FORWARD(void *, pvalloc, (size_t n), (n))
FORWARD(size_t, malloc_usable_size, (void *p), (p))
