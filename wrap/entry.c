/* The __wrap_* entry points of the plugin-safe link (lgmalloc.pc): each
 * hands its call to the malloc family the process has.  Built with -fPIC,
 * so a shared object linked with the same flags as its executable takes
 * these and nothing else of lgmalloc: at run time its calls reach the
 * executable's malloc (lgmalloc's, exported for libc's calls), or glibc's
 * in a program without lgmalloc.  In the executable each is one jmp to the
 * malloc defined there; the return address stays the program's, which is
 * what the prediction keys call sites by. */
#include <stddef.h>

#include "alloc_functions.h"

#define FORWARD(ret, name, params, args, ...)                               \
    extern ret __real_##name params;                                        \
    __attribute__((visibility("default"))) ret __wrap_##name params          \
    {                                                                       \
        return __real_##name args;                                          \
    }
#define FORWARD_FREE(name, params, args)                                    \
    extern void __real_##name params;                                       \
    __attribute__((visibility("default"))) void __wrap_##name params         \
    {                                                                       \
        __real_##name args;                                                 \
    }

LG_WRAPPED_FUNCTIONS(FORWARD, FORWARD_FREE)
