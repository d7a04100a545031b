/* realloc keeps a block's contents, from a few bytes to tens of MiB. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

TestSuite(realloc, .timeout = 60);

Test(realloc, keeps_contents_growing_from_small_to_huge)
{
    size_t n = 1, limit = 48 * MiB;
    unsigned char *p = malloc(n);
    cr_assert_not_null(p);
    fill(p, n, 1);
    while (n < limit) {
        size_t m = n + n / 2 + 7;
        p = realloc(p, m);
        cr_assert_not_null(p, "realloc to %zu", m);
        assert_ours(p);
        cr_assert(is_aligned(p, 16));
        size_t bad = check(p, n, 1);
        cr_assert_eq(bad, n, "growing %zu -> %zu lost byte %zu", n, m, bad);
        fill(p, m, 1);
        n = m;
    }
    free(p);
}

Test(realloc, keeps_contents_shrinking_from_huge_to_small)
{
    size_t n = 40 * MiB;
    unsigned char *p = malloc(n);
    cr_assert_not_null(p);
    fill(p, n, 2);
    while (n >= 3) {
        size_t m = n / 3;
        p = realloc(p, m);
        cr_assert_not_null(p, "realloc to %zu", m);
        assert_ours(p);
        size_t bad = check(p, m, 2);
        cr_assert_eq(bad, m, "shrinking %zu -> %zu lost byte %zu", n, m, bad);
        n = m;
    }
    free(p);
}

/* Two blocks grown in turn, so neither can always grow in place. */
Test(realloc, keeps_contents_of_interleaved_blocks)
{
    unsigned char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    for (size_t n = 8; n < 6 * MiB; n = n * 2 + 24) {
        a = realloc(a, n);
        cr_assert_not_null(a);
        cr_assert_eq(check(a, na, 3), na, "block a lost bytes growing to %zu", n);
        fill(a, n, 3);
        na = n;
        b = realloc(b, n + 8);
        cr_assert_not_null(b);
        cr_assert_eq(check(b, nb, 4), nb, "block b lost bytes growing to %zu", n + 8);
        fill(b, n + 8, 4);
        nb = n + 8;
        cr_assert_eq(check(a, na, 3), na, "block a clobbered by block b");
    }
    free(a);
    free(b);
}

Test(realloc, keeps_contents_between_huge_sizes)
{
    static const size_t steps[] = { 5 * MiB, 40 * MiB, 12 * MiB, 13 * MiB, 64 * MiB, 6 * MiB };
    size_t n = 4 * MiB + 1;
    unsigned char *p = malloc(n);
    cr_assert_not_null(p);
    fill(p, n, 6);
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        size_t m = steps[i];
        p = realloc(p, m);
        cr_assert_not_null(p);
        assert_ours(p);
        assert_ours(p + m - 1);
        size_t keep = n < m ? n : m;
        cr_assert_eq(check(p, keep, 6), keep, "realloc %zu -> %zu", n, m);
        fill(p, m, 6);
        n = m;
    }
    free(p);
}

Test(realloc, within_usable_size_keeps_contents)
{
    /* opaque: the compiler must not take 100 for the block's size (UBSan's
     * object-size check would), malloc_usable_size gives it */
    unsigned char *p = malloc(opaque(100));
    cr_assert_not_null(p);
    size_t u = malloc_usable_size(p);
    fill(p, u, 8);
    unsigned char *q = realloc(p, u);
    cr_assert_not_null(q);
    cr_assert_eq(check(q, u, 8), u);
    free(q);
}

Test(realloc, of_calloc_block_keeps_zeroes)
{
    unsigned char *p = calloc(1000, 1);
    cr_assert_not_null(p);
    p = realloc(p, 100000);
    cr_assert_not_null(p);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(p[i], 0);
    free(p);
}
