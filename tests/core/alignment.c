/* Alignment: every block to 16, and every power-of-two alignment asked for. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

TestSuite(alignment, .timeout = 60);

/* Keeps a batch of blocks live so that sizes do not just reuse one block. */
#define LIVE 512

Test(alignment, every_small_size_is_16_aligned)
{
    void *live[LIVE] = { 0 };
    for (size_t n = 0; n <= 20000; n++) {
        void *p = malloc(n);
        cr_assert_not_null(p, "malloc(%zu)", n);
        cr_assert(is_aligned(p, 16), "malloc(%zu) = %p", n, p);
        free(live[n % LIVE]);
        live[n % LIVE] = p;
    }
    for (int i = 0; i < LIVE; i++)
        free(live[i]);
}

Test(alignment, every_medium_and_huge_size_is_16_aligned)
{
    void *live[64] = { 0 };
    unsigned k = 0;
    for (size_t n = 20000; n <= 9 * MiB; n += n / 64 + 1, k++) {
        void *p = malloc(n);
        cr_assert_not_null(p, "malloc(%zu)", n);
        cr_assert(is_aligned(p, 16), "malloc(%zu) = %p", n, p);
        free(live[k % 64]);
        live[k % 64] = p;
    }
    for (int i = 0; i < 64; i++)
        free(live[i]);
}

Test(alignment, calloc_and_realloc_blocks_are_16_aligned)
{
    void *p = NULL;
    for (size_t n = 1; n <= 300000; n += n / 8 + 1) {
        void *c = calloc(1, n);
        cr_assert_not_null(c);
        cr_assert(is_aligned(c, 16), "calloc(1, %zu) = %p", n, c);
        free(c);
        p = realloc(p, n);
        cr_assert_not_null(p);
        cr_assert(is_aligned(p, 16), "realloc(.., %zu) = %p", n, p);
    }
    free(p);
}

/* Sizes tried at each alignment a: tiny, around a, and a few odd ones. */
static size_t size_for(size_t a, int k)
{
    switch (k) {
    case 0: return 1;
    case 1: return a - 1 ? a - 1 : 1;
    case 2: return a;
    case 3: return a + 1;
    case 4: return 3 * a + 5;
    case 5: return 1000;
    default: return 70000;
    }
}

typedef void *(*align_fn)(size_t align, size_t size);

static void *via_posix_memalign(size_t a, size_t n)
{
    void *p = NULL;
    int rc = posix_memalign(&p, a, n);
    cr_assert_eq(rc, 0, "posix_memalign(%zu, %zu) = %d", a, n, rc);
    return p;
}

static void check_all_alignments(align_fn fn, const char *name, size_t first)
{
    enum { KEEP = 8 };
    void *keep[KEEP] = { 0 };
    unsigned k = 0;
    for (size_t a = first; a <= MiB; a *= 2) {
        for (int s = 0; s < 7; s++, k++) {
            size_t n = size_for(a, s);
            unsigned char *p = fn(a, n);
            cr_assert_not_null(p, "%s(%zu, %zu)", name, a, n);
            cr_assert(is_aligned(p, a), "%s(%zu, %zu) = %p", name, a, n, (void *)p);
            cr_assert(is_aligned(p, 16), "%s(%zu, %zu) = %p", name, a, n, (void *)p);
            assert_ours(p);
            assert_ours(p + n - 1);
            cr_assert_geq(malloc_usable_size(p), n, "%s(%zu, %zu)", name, a, n);
            p[0] = 1;
            p[n - 1] = 2;
            free(keep[k % KEEP]);
            keep[k % KEEP] = p;
        }
    }
    for (int i = 0; i < KEEP; i++)
        free(keep[i]);
}

Test(alignment, posix_memalign_honours_every_power_of_two_to_1mib)
{
    check_all_alignments(via_posix_memalign, "posix_memalign", sizeof(void *));
}

Test(alignment, aligned_alloc_honours_every_power_of_two_to_1mib)
{
    check_all_alignments(aligned_alloc, "aligned_alloc", 1);
}

Test(alignment, memalign_honours_every_power_of_two_to_1mib)
{
    check_all_alignments(memalign, "memalign", 1);
}

Test(alignment, alignments_beyond_a_segment_are_honoured)
{
    for (size_t a = 2 * MiB; a <= 16 * MiB; a *= 2) {
        unsigned char *p = aligned_alloc(a, 100);
        cr_assert_not_null(p, "aligned_alloc(%zu, 100)", a);
        cr_assert(is_aligned(p, a), "aligned_alloc(%zu, 100) = %p", a, (void *)p);
        assert_ours(p);
        p[99] = 1;
        free(p);
    }
}

Test(alignment, aligned_block_keeps_contents_across_realloc)
{
    unsigned char *p = aligned_alloc(opaque(4096), opaque(3000));
    cr_assert_not_null(p);
    fill(p, 3000, 9);
    p = realloc(p, 200000);
    cr_assert_not_null(p);
    assert_ours(p);
    cr_assert_eq(check(p, 3000, 9), 3000);
    free(p);
}
