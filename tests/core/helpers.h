/* Small helpers shared by the core tests. */
#ifndef LG_TEST_HELPERS_H
#define LG_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "../emulation.h"
#include "lgmalloc.h"

/* Hides a constant from the compiler, so it neither folds a call nor warns
 * about a size it can see is impossible. */
static inline size_t opaque(size_t n)
{
    volatile size_t v = n;
    return v;
}

/* Powers of two by size_t's width, so that a test states its expectation
 * once for 64 and 32 bits: TOP_BIT is 2^63 or 2^31, HALF_BITS 32 or 16. */
#define SIZE_BITS (8 * sizeof(size_t))
#define HALF_BITS (SIZE_BITS / 2)
#define POW2(n)   ((size_t)1 << (n))
#define TOP_BIT   POW2(SIZE_BITS - 1)

static inline int is_aligned(const void *p, size_t a)
{
    return ((uintptr_t)p & (a - 1)) == 0;
}

/* Asserts that p is a block lgmalloc serves (not glibc's). */
#define assert_ours(p) \
    cr_assert(lg_owns(p), "%p (line %d) was not served by lgmalloc", (void *)(p), __LINE__)

/* Resident set size of this process, in bytes (/proc/self/statm; under
 * qemu-user the program's own mappings, without the emulator's memory). */
static inline size_t rss_bytes(void)
{
    if (test_emulated())
        return emulated_resident_bytes();
    FILE *f = fopen("/proc/self/statm", "r");
    cr_assert_not_null(f, "cannot open /proc/self/statm");
    unsigned long size = 0, resident = 0;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    cr_assert_eq(n, 2, "cannot parse /proc/self/statm");
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* Skips the test under qemu-user for what the emulator cannot do, said in
 * the log (Criterion shows its skips only when verbose).  Only for causes
 * reproduced without lgmalloc: docs/testing.md, "Other targets". */
#define QEMU_FORK_THREAD "qemu-user 7.2 aborts a forked child that starts a thread " \
    "while the parent has another live thread"
#define skip_under_qemu(why) \
    do { \
        if (test_emulated()) { \
            fprintf(stderr, "[SKIP] %s: under qemu-user: %s\n", __func__, why); \
            cr_skip_test("under qemu-user: %s", why); \
        } \
    } while (0)

static inline lg_stats_t stats_now(void)
{
    lg_stats_t s;
    lg_stats_get(&s);
    return s;
}

/* Fills n bytes with a pattern derived from seed, and checks it back. */
static inline void fill(void *p, size_t n, unsigned seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(seed + i * 7 + (i >> 8));
}

static inline size_t check(const void *p, size_t n, unsigned seed)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(seed + i * 7 + (i >> 8)))
            return i;
    return n;
}

#define MiB ((size_t)1 << 20)

/* The page size lgmalloc works with: the kernel's, or the larger one the
 * bigpage variant assumes (tests/meson.build). */
static inline size_t lg_page_size(void)
{
#ifdef LG_PAGE_SIZE_ASSUMED
    return LG_PAGE_SIZE_ASSUMED;
#else
    return (size_t)sysconf(_SC_PAGESIZE);
#endif
}

#endif
