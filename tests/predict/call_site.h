/* A function that is one call site of the tests' own: `call` is a call,
 * not a tail call (the result is used after it), so the site the analysis
 * and the statistics see is the call itself. */
#ifndef LGFX_CALL_SITE_H
#define LGFX_CALL_SITE_H

#define LGFX_CALL_SITE(name, call)                                      \
    __attribute__((noinline)) static void *name(void)                   \
    {                                                                   \
        void *p = call;                                                 \
        __asm__ volatile("" : : "r"(p) : "memory");                     \
        return p;                                                       \
    }

#endif
