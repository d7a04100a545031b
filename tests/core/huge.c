/* Huge blocks (lib/huge.c) placed in mappings that held other blocks
 * before: they report their own size, not the mapping's history; memory
 * past their end goes back to the OS; and a pointer to a block that was
 * freed, whether its mapping waits in the cache or holds another block
 * now, is reported as a double free with lgmalloc's message (in a forked
 * child, fatal.h). */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "fatal.h"

static size_t page_size(void)
{
    return lg_page_size();
}

/* Every page of n bytes written, so that the bytes are resident. */
static void *touched(size_t n)
{
    unsigned char *p = malloc(opaque(n));
    cr_assert_not_null(p);
    assert_ours(p);
    memset(p, 0x5a, n);
    return p;
}

#define assert_usable_near(p, n)                                                        \
    do {                                                                                \
        size_t u_ = malloc_usable_size(p);                                              \
        cr_assert(u_ >= (n) && u_ < (n) + page_size(),                                  \
                  "usable size %zu for %zu bytes (over a page more)", u_, (size_t)(n)); \
    } while (0)

/* ---- usable size and resident memory ------------------------------------ */

Test(huge, usable_size_after_reusing_a_bigger_freed_mapping)
{
    free(touched(3000000));
    void *q = touched(600000);
    assert_usable_near(q, 600000);
    free(q);
}

Test(huge, realloc_shrink_reduces_usable_size)
{
    void *p = touched(2 * MiB);
    p = realloc(p, opaque(700000));
    cr_assert_not_null(p);
    assert_usable_near(p, 700000);
    free(p);
}

Test(huge, realloc_shrink_after_reuse_reduces_usable_size)
{
    free(touched(3000000));
    void *p = touched(2 * MiB);
    p = realloc(p, opaque(700000));
    cr_assert_not_null(p);
    assert_usable_near(p, 700000);
    free(p);
}

/* Redis's case: large values deleted, smaller ones stored in their place.
 * The smaller blocks reuse the cached mappings; what the bigger ones wrote
 * past the smaller blocks' ends must not stay resident longer than a freed
 * mapping does in the cache (a second, then given back at the next huge
 * free or purge tick). */
Test(huge, rss_follows_smaller_blocks_placed_in_bigger_freed_mappings)
{
    enum { N = 20 };
    const size_t big = 4000000, small = 600 * 1000;
    void *b[N];
    size_t before = rss_bytes();
    for (int i = 0; i < N; i++)
        b[i] = touched(big);
    for (int i = 0; i < N; i++)
        free(b[i]);
    for (int i = 0; i < N; i++)
        b[i] = touched(small);
    usleep(1200 * 1000);
    free(malloc(opaque(MiB)));
    size_t grown = rss_bytes() - before;
    cr_assert_lt(grown, N * small + N * small / 4 + 2 * MiB,
                 "RSS grew %zu KiB for %d blocks of %zu KiB", grown >> 10, N, small >> 10);
    for (int i = 0; i < N; i++)
        free(b[i]);
}

Test(huge, realloc_shrink_gives_the_pages_back)
{
    void *p = touched(16 * MiB);
    size_t before = rss_bytes();
    p = realloc(p, opaque(MiB));
    cr_assert_not_null(p);
    size_t after = rss_bytes();
    cr_assert_gt(before, after + 14 * MiB, "RSS %zu KiB before the shrink to 1 MiB, %zu after",
                 before >> 10, after >> 10);
    free(p);
}

/* Bytes up to the usable size are the block's, and a reused mapping still
 * reads as zeros past what calloc cleared. */
Test(huge, calloc_in_a_reused_mapping_is_zero_to_its_usable_size)
{
    unsigned char *p = touched(3 * MiB);
    free(p);
    unsigned char *q = calloc(1, opaque(700000));
    cr_assert_not_null(q);
    size_t n = malloc_usable_size(q);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(q[i], 0, "byte %zu of %zu is %#x", i, n, q[i]);
    memset(q, 0x77, n);
    free(q);
    q = touched(3 * MiB); /* what q wrote up to its usable size is the new block's: fine */
    free(q);
}

/* A block made of several freed mappings' pages (moved together) is several
 * areas for the kernel: growing it must move them all. */
Test(huge, realloc_grows_a_block_made_of_gathered_mappings)
{
    void *a = touched(6 * MiB), *b = touched(6 * MiB);
    free(a);
    free(b);
    char *p = touched(14 * MiB); /* no cached mapping fits: both are gathered for it */
    fill(p, 14 * MiB, 7);
    p = realloc(p, opaque(40 * MiB));
    cr_assert_not_null(p, "realloc to 40 MiB failed");
    cr_assert_eq(check(p, 14 * MiB, 7), 14 * MiB, "contents lost");
    free(p);
}

/* ---- double frees ------------------------------------------------------- */

static void *volatile sink;

static void huge_double_free(void)
{
    char *p = malloc(opaque(8 * MiB));
    free(p);
    free(p);
}

/* The same mapping holds a new block of the same size when p is freed again. */
static void huge_stale_free_after_reuse(void)
{
    char *p = malloc(opaque(8 * MiB));
    free(p);
    sink = malloc(opaque(8 * MiB));
    free(p);
}

/* ... or of a smaller size, the mapping cut to it. */
static void huge_stale_free_after_smaller_reuse(void)
{
    char *p = malloc(opaque(8 * MiB));
    free(p);
    sink = malloc(opaque(MiB));
    free(p);
}

static void huge_realloc_of_freed(void)
{
    char *p = malloc(opaque(8 * MiB));
    free(p);
    sink = realloc(p, opaque(9 * MiB));
}

Test(huge, double_free_is_reported)
{
    assert_stopped(run_fatal(huge_double_free), "double free");
}

Test(huge, stale_free_after_the_mapping_holds_a_new_block_is_reported)
{
    assert_stopped(run_fatal(huge_stale_free_after_reuse), "double free");
}

Test(huge, stale_free_after_the_mapping_holds_a_smaller_block_is_reported)
{
    assert_stopped(run_fatal(huge_stale_free_after_smaller_reuse), "double free");
}

Test(huge, realloc_of_a_freed_block_is_reported)
{
    assert_stopped(run_fatal(huge_realloc_of_freed), "free already");
}

/* The places blocks take in a reused mapping run out and start again:
 * correct programs that reuse one mapping many times are never stopped,
 * and their blocks stay aligned. */
Test(huge, many_reuses_of_one_mapping_are_fine)
{
    for (int i = 0; i < 500; i++) {
        size_t n = (i % 3 + 1) * MiB + (size_t)i * 8;
        char *p = malloc(opaque(n));
        cr_assert_not_null(p);
        cr_assert(is_aligned(p, 16), "%p", (void *)p);
        p[0] = 1;
        p[n - 1] = 2;
        cr_assert_geq(malloc_usable_size(p), n);
        free(p);
    }
}
