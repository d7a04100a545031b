/* lg_set_limit and LGMALLOC_LIMIT (48M for this program, set by
 * tests/meson.build): allocations past the cap fail with ENOMEM, committed
 * memory stays under it, and the heap works again once memory is freed or
 * the cap lifted. */
#include <errno.h>
#include <stdlib.h>

#include "helpers.h"

TestSuite(limit, .timeout = 60);

#define SLACK (4 * MiB)   /* a page or a huge block committed at the same moment */

Test(limit, comes_from_the_environment)
{
    cr_assert_eq(lg_get_limit(), 48 * MiB);
}

/* Allocates blocks of `size` until malloc fails; returns how many. */
static size_t fill_up(void **p, size_t max, size_t size)
{
    size_t n = 0;
    while (n < max) {
        errno = 0;
        void *q = malloc(size);
        if (!q) {
            cr_assert_eq(errno, ENOMEM, "malloc(%zu) failed with errno %d", size, errno);
            break;
        }
        memset(q, 1, size);
        p[n++] = q;
    }
    return n;
}

static void check_cap(size_t size)
{
    enum { MAX = 1 << 20 };
    static void *p[MAX];
    size_t cap = stats_now().committed_bytes + 16 * MiB;
    cr_assert_eq(lg_set_limit(cap), 48 * MiB);
    size_t n = fill_up(p, MAX, size);
    cr_assert_lt(n, MAX, "the cap was never reached");
    cr_assert_gt(n * size, 8 * MiB, "only %zu bytes before the cap", n * size);
    cr_assert_leq(stats_now().committed_bytes, cap + SLACK);
    for (size_t i = 0; i < n; i += 2)
        free(p[i]);
    void *q = malloc(size);                       /* room again */
    cr_assert_not_null(q);
    free(q);
    lg_set_limit(0);                              /* lifted */
    q = malloc(64 * MiB);
    cr_assert_not_null(q);
    free(q);
    for (size_t i = 1; i < n; i += 2)
        free(p[i]);
}

Test(limit, caps_small_blocks)
{
    check_cap(100);
}

Test(limit, caps_medium_blocks)
{
    check_cap(100 << 10);
}

Test(limit, caps_huge_blocks)
{
    check_cap(3 * MiB);
}

Test(limit, calloc_and_realloc_fail_cleanly)
{
    lg_set_limit(stats_now().committed_bytes + 8 * MiB);
    errno = 0;
    cr_assert_null(calloc(1, 64 * MiB));
    cr_assert_eq(errno, ENOMEM);
    char *p = malloc(MiB);
    cr_assert_not_null(p);
    memset(p, 7, MiB);
    errno = 0;
    cr_assert_null(realloc(p, 64 * MiB));
    cr_assert_eq(errno, ENOMEM);
    cr_assert_eq(p[MiB - 1], 7, "a failed realloc must leave the block as it was");
    free(p);
}
