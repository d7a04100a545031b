/* The secure build (-Dsecure=true; linked here against the secure variant
 * of the archive): overflows past a block's usable size, writes into free
 * blocks that would steer malloc, and linear overflows of huge blocks are
 * stopped; fresh blocks come in no predictable order. */
#include <setjmp.h>
#include <stdlib.h>

#include "fatal.h"

static void *volatile sink;

static void overflow_by_one(void)
{
    char *p = malloc(opaque(100));
    p[lg_malloc_usable_size(p)] = 1;
    free(p);
}

static void steer_free_list(void)
{
    void **p = malloc(opaque(64));
    void **q = malloc(opaque(64));
    free(q);
    free(p);                 /* p's first word now links to q */
    static char target[64];
    *p = target;             /* a write after free aims the list elsewhere */
    sink = malloc(opaque(64));
    sink = malloc(opaque(64));
    sink = malloc(opaque(64));
}

static void huge_overflow(void)
{
    char *p = malloc(opaque(1 << 20));
    memset(p, 1, lg_malloc_usable_size(p) + 4096 * 2);
}

Test(secure, overflow_past_the_usable_size)
{
    assert_stopped(run_fatal(overflow_by_one), "heap overflow");
}

Test(secure, write_after_free_cannot_steer_malloc)
{
    assert_stopped(run_fatal(steer_free_list), "write after free");
}

Test(secure, guard_page_after_a_huge_block)
{
    fatal_t f = run_fatal(huge_overflow);
    cr_assert_eq(f.signal, SIGSEGV, "a write past a huge block did not fault (signal %d)", f.signal);
}

Test(secure, usable_size_is_all_usable)
{
    for (size_t n = 1; n < 20000; n += 37) {
        char *p = malloc(n);
        size_t u = lg_malloc_usable_size(p);
        cr_assert_geq(u, n);
        memset(p, 0x5a, u);
        p = realloc(p, n + 100);
        cr_assert_eq(p[n - 1], 0x5a);
        free(p);
    }
}

Test(secure, fresh_blocks_in_random_order)
{
    enum { N = 64 };
    char *b[N];
    int ascending = 0;
    for (int i = 0; i < N; i++)
        b[i] = malloc(opaque(48));
    for (int i = 1; i < N; i++)
        ascending += b[i] > b[i - 1];
    for (int i = 0; i < N; i++)
        free(b[i]);
    /* in address order every step would ascend; random order about half */
    cr_assert_lt(ascending, N - 8, "%d of %d steps ascend: not shuffled", ascending, N - 1);
}

Test(secure, aligned_blocks_keep_their_alignment)
{
    for (size_t a = 16; a <= 4096; a *= 2) {
        void *p = aligned_alloc(a, a * 3);
        cr_assert(is_aligned(p, a));
        memset(p, 1, lg_malloc_usable_size(p));
        free(p);
    }
}
