/* The malloc family's semantics and errno, as glibc defines them.  glibc's
 * extensions are tested where the C library has them (LG_HAVE_*). */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "helpers.h"

#define TOO_BIG ((size_t)PTRDIFF_MAX + 1)

TestSuite(api, .timeout = 30);

Test(api, malloc_is_served_by_lgmalloc)
{
    void *p = malloc(opaque(100));
    cr_assert_not_null(p);
    assert_ours(p);
    free(p);
}

Test(api, malloc_zero_gives_unique_pointers)
{
    void *a = malloc(opaque(0));
    void *b = malloc(opaque(0));
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_neq(a, b, "malloc(0) gave the same pointer twice");
    assert_ours(a);
    assert_ours(b);
    free(a);
    free(b);
}

Test(api, free_null_does_nothing)
{
    free(NULL);
    void *p = malloc(opaque(32));
    cr_assert_not_null(p);
    free(p);
}

Test(api, calloc_gives_zeroed_memory_even_when_reused)
{
    static const size_t sizes[] = { 8, 100, 1000, 20000, 300000, 3 << 20 };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        unsigned char *dirty = malloc(n);
        cr_assert_not_null(dirty);
        memset(dirty, 0xa5, n);
        free(dirty);
        unsigned char *p = calloc(1, n);
        cr_assert_not_null(p);
        assert_ours(p);
        for (size_t j = 0; j < n; j++)
            cr_assert_eq(p[j], 0, "calloc(1, %zu) byte %zu is %#x", n, j, p[j]);
        free(p);
    }
}

Test(api, calloc_of_huge_sizes_is_zeroed_after_huge_blocks_were_freed)
{
    static const size_t sizes[] = { 5 * MiB, 4 * MiB + 4096, 8 * MiB, 6 * MiB + 1 };
    enum { COUNT = sizeof sizes / sizeof *sizes };
    unsigned char *dirty[COUNT];
    for (size_t i = 0; i < COUNT; i++) {
        dirty[i] = malloc(sizes[i]);
        cr_assert_not_null(dirty[i]);
        memset(dirty[i], 0x5a, sizes[i]);
    }
    dirty[0] = realloc(dirty[0], 9 * MiB); /* grown: maybe in place */
    cr_assert_not_null(dirty[0]);
    memset(dirty[0], 0x5a, 9 * MiB);
    for (size_t i = 0; i < COUNT; i++)
        free(dirty[i]);
    for (size_t i = 0; i < COUNT; i++) {
        size_t n = sizes[i];
        unsigned char *p = calloc(n, 1);
        cr_assert_not_null(p);
        for (size_t j = 0; j < n; j += 512)
            cr_assert_eq(p[j], 0, "calloc(%zu, 1) byte %zu is %#x", n, j, p[j]);
        cr_assert_eq(p[n - 1], 0);
        dirty[i] = p;
    }
    for (size_t i = 0; i < COUNT; i++)
        free(dirty[i]);
}

/* calloc(1, n), each 512th byte and the last checked, freed. */
static void calloc_and_check_zeroed(size_t n)
{
    unsigned char *q = calloc(1, n);
    cr_assert_not_null(q);
    for (size_t j = 0; j < n; j += 512)
        cr_assert_eq(q[j], 0, "calloc(1, %zu) byte %zu is %#x", n, j, q[j]);
    cr_assert_eq(q[n - 1], 0);
    free(q);
}

Test(api, calloc_is_zeroed_where_a_shrunk_huge_block_was_written)
{
    unsigned char *p = malloc(10 * MiB);
    cr_assert_not_null(p);
    memset(p, 0x5a, 10 * MiB);
    p = realloc(p, 5 * MiB); /* the bytes past 5 MiB were written and may stay mapped */
    cr_assert_not_null(p);
    free(p);
    calloc_and_check_zeroed(7 * MiB);
}

Test(api, calloc_is_zeroed_when_a_smaller_freed_huge_block_is_grown_for_it)
{
    unsigned char *p = malloc(6 * MiB);
    cr_assert_not_null(p);
    memset(p, 0x5a, 6 * MiB);
    free(p); /* cached; the next, larger block grows it (lib/huge.c) */
    calloc_and_check_zeroed(20 * MiB);
}

static long minor_faults(void)
{
    struct rusage ru;
    cr_assert_eq(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_minflt;
}

/* A freed huge block's resident pages serve the next, larger one: only the
 * growth is faulted in. */
Test(api, a_larger_huge_block_reuses_the_pages_of_a_freed_one)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *p = malloc(16 * MiB);
    cr_assert_not_null(p);
    memset(p, 1, 16 * MiB);
    free(p);
    long before = minor_faults();
    unsigned char *q = malloc(20 * MiB);
    cr_assert_not_null(q);
    for (size_t j = 0; j < 20 * MiB; j += page)
        q[j] = 2;
    long faults = minor_faults() - before;
    free(q);
    cr_assert_lt(faults, (long)(4 * MiB / page) + 256,
                 "%ld page faults for 20 MiB where 16 MiB were resident", faults);
}

Test(api, calloc_overflow_gives_enomem)
{
    errno = 0;
    void *p = calloc(opaque(SIZE_MAX / 2 + 1), opaque(2));
    cr_assert_null(p);
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    p = calloc(opaque(POW2(HALF_BITS + 1)), opaque(POW2(HALF_BITS + 1)));
    cr_assert_null(p);
    cr_assert_eq(errno, ENOMEM);
}

Test(api, reallocarray_overflow_gives_enomem_and_keeps_block)
{
    char *p = malloc(opaque(64));
    cr_assert_not_null(p);
    fill(p, 64, 3);
    errno = 0;
    void *q = reallocarray(p, opaque(SIZE_MAX / 4), opaque(8));
    cr_assert_null(q);
    cr_assert_eq(errno, ENOMEM);
    cr_assert_eq(check(p, 64, 3), 64, "the block changed after a failed reallocarray");
    free(p);
}

Test(api, reallocarray_multiplies_count_and_size)
{
    int *p = reallocarray(NULL, opaque(1000), sizeof(int));
    cr_assert_not_null(p);
    assert_ours(p);
    cr_assert_geq(malloc_usable_size(p), 1000 * sizeof(int));
    for (int i = 0; i < 1000; i++)
        p[i] = i;
    p = reallocarray(p, opaque(5000), sizeof(int));
    cr_assert_not_null(p);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(p[i], i);
    free(p);
}

Test(api, malloc_above_ptrdiff_max_gives_enomem)
{
    static const size_t sizes[] = { TOO_BIG, SIZE_MAX - 4096, SIZE_MAX };
    for (size_t i = 0; i < 3; i++) {
        errno = 0;
        cr_assert_null(malloc(opaque(sizes[i])), "malloc(%zu) did not fail", sizes[i]);
        cr_assert_eq(errno, ENOMEM, "malloc(%zu): errno %d", sizes[i], errno);
    }
}

Test(api, calloc_above_ptrdiff_max_gives_enomem)
{
    errno = 0;
    cr_assert_null(calloc(opaque(1), opaque(TOO_BIG)));
    cr_assert_eq(errno, ENOMEM);
}

Test(api, aligned_allocation_above_ptrdiff_max_gives_enomem)
{
    errno = 0;
    cr_assert_null(aligned_alloc(opaque(64), opaque(TOO_BIG)));
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_null(memalign(opaque(4096), opaque(SIZE_MAX - 100)));
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_null(valloc(opaque(TOO_BIG)));
    cr_assert_eq(errno, ENOMEM);
#ifdef LG_HAVE_PVALLOC
    errno = 0;
    cr_assert_null(pvalloc(opaque(SIZE_MAX - 10)));
    cr_assert_eq(errno, ENOMEM);
#endif
}

Test(api, posix_memalign_too_big_gives_enomem_and_leaves_memptr)
{
    void *sentinel = (void *)&sentinel;
    void *p = sentinel;
    int rc = posix_memalign(&p, opaque(64), opaque(TOO_BIG));
    cr_assert_eq(rc, ENOMEM);
    cr_assert_eq(p, sentinel, "posix_memalign changed *memptr on failure");
}

#ifdef LG_HAVE_MALLOPT
Test(api, mallopt_accepts_glibc_parameters_and_refuses_what_glibc_refuses)
{
    /* glibc takes an mmap threshold up to 32 MiB on 64 bits, 512 KiB on 32 */
    static const int taken[][2] = {
        { M_TRIM_THRESHOLD, 128 << 10 }, { M_TOP_PAD, 0 },
        { M_MMAP_THRESHOLD, sizeof(long) == 8 ? 1 << 20 : 512 << 10 },
        { M_MMAP_MAX, 1024 }, { M_CHECK_ACTION, 3 }, { M_PERTURB, 0 },
        { M_ARENA_TEST, 8 }, { M_ARENA_MAX, 4 }, { M_MXFAST, 64 },
    };
    for (size_t i = 0; i < sizeof taken / sizeof *taken; i++)
        cr_assert_eq(mallopt(taken[i][0], taken[i][1]), 1, "mallopt(%d, %d)", taken[i][0],
                     taken[i][1]);
    cr_assert_eq(mallopt(M_MXFAST, 100000), 0);
    cr_assert_eq(mallopt(M_MMAP_THRESHOLD, -1), 0);
    void *p = malloc(100);
    cr_assert_not_null(p, "the heap works after mallopt");
    free(p);
}
#endif

#ifdef LG_HAVE_MALLOC_TRIM
Test(api, malloc_trim_says_whether_memory_went_back)
{
    enum { N = 2000 };
    static void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = malloc(opaque(3000));
    for (int i = 0; i < N; i++)
        free(p[i]);
    cr_assert_eq(malloc_trim(0), 1, "6 MiB freed and nothing given back");
    cr_assert_eq(malloc_trim(0), 0, "a second trim found more to give back");
}
#endif

Test(api, failed_realloc_gives_enomem_and_keeps_small_block)
{
    char *p = malloc(opaque(200));
    cr_assert_not_null(p);
    fill(p, 200, 11);
    errno = 0;
    cr_assert_null(realloc(p, opaque(TOO_BIG)));
    cr_assert_eq(errno, ENOMEM);
    cr_assert_eq(check(p, 200, 11), 200, "the block changed after a failed realloc");
    assert_ours(p);
    free(p);
}

Test(api, failed_realloc_keeps_huge_block)
{
    size_t n = 8 * MiB;
    char *p = malloc(opaque(n));
    cr_assert_not_null(p);
    fill(p, n, 5);
    errno = 0;
    cr_assert_null(realloc(p, opaque(SIZE_MAX - 4096)));
    cr_assert_eq(errno, ENOMEM);
    cr_assert_eq(check(p, n, 5), n, "the block changed after a failed realloc");
    free(p);
}

Test(api, realloc_null_acts_as_malloc)
{
    void *p = realloc(NULL, opaque(48));
    cr_assert_not_null(p);
    assert_ours(p);
    cr_assert_geq(malloc_usable_size(p), 48);
    free(p);
}

Test(api, realloc_to_zero_frees_and_gives_null_like_glibc)
{
    void *p = malloc(opaque(100));
    cr_assert_not_null(p);
    cr_assert_null(realloc(p, opaque(0)));
}

Test(api, aligned_alloc_rejects_bad_alignment_with_einval)
{
    static const size_t bad[] = { 0, 3, 24, 48, 1000, SIZE_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        errno = 0;
        void *p = aligned_alloc(opaque(bad[i]), opaque(64));
        cr_assert_null(p, "aligned_alloc(%zu, 64) succeeded", bad[i]);
        cr_assert_eq(errno, EINVAL, "aligned_alloc(%zu, 64): errno %d", bad[i], errno);
    }
}

Test(api, aligned_alloc_honours_alignment)
{
    void *p = aligned_alloc(opaque(256), opaque(1000));
    cr_assert_not_null(p);
    assert_ours(p);
    cr_assert(is_aligned(p, 256));
    cr_assert_geq(malloc_usable_size(p), 1000);
    free(p);
}

Test(api, posix_memalign_rejects_bad_alignment_and_leaves_memptr)
{
    /* powers of two below sizeof(void *) too: 4 on 64 bits, 2 on 32 */
    static const size_t bad[] = { 0, 1, 2, sizeof(void *) / 2, 3, 12, 24, 100, SIZE_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        void *sentinel = (void *)&sentinel;
        void *p = sentinel;
        int rc = posix_memalign(&p, opaque(bad[i]), opaque(64));
        cr_assert_eq(rc, EINVAL, "posix_memalign(%zu): returned %d", bad[i], rc);
        cr_assert_eq(p, sentinel, "posix_memalign(%zu) changed *memptr", bad[i]);
    }
}

Test(api, posix_memalign_honours_alignment)
{
    void *p = NULL;
    cr_assert_eq(posix_memalign(&p, opaque(sizeof(void *)), opaque(10)), 0);
    assert_ours(p);
    free(p);
    cr_assert_eq(posix_memalign(&p, opaque(4096), opaque(10)), 0);
    assert_ours(p);
    cr_assert(is_aligned(p, 4096));
    free(p);
}

Test(api, memalign_rejects_impossible_alignment_with_einval)
{
    errno = 0;
    cr_assert_null(memalign(opaque(SIZE_MAX / 2 + 2), opaque(64)));
    cr_assert_eq(errno, EINVAL);
}

Test(api, memalign_rounds_alignment_up_to_a_power_of_two)
{
    void *p = memalign(opaque(48), opaque(100));
    cr_assert_not_null(p);
    assert_ours(p);
    cr_assert(is_aligned(p, 64), "memalign(48) gave %p", p);
    free(p);
    p = memalign(opaque(3000), opaque(10));
    cr_assert_not_null(p);
    cr_assert(is_aligned(p, 4096), "memalign(3000) gave %p", p);
    free(p);
}

Test(api, memalign_small_alignment_gives_ordinary_block)
{
    void *p = memalign(opaque(1), opaque(30));
    cr_assert_not_null(p);
    assert_ours(p);
    cr_assert(is_aligned(p, 16));
    free(p);
}

Test(api, valloc_gives_page_aligned_block)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *p = valloc(opaque(1));
    cr_assert_not_null(p);
    assert_ours(p);
    cr_assert(is_aligned(p, page));
    free(p);
}

#ifdef LG_HAVE_PVALLOC
Test(api, pvalloc_rounds_size_up_to_whole_pages)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    static const size_t sizes[] = { 0, 1, 4095, 4097, 70000 };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        size_t want = (n + page - 1) / page * page;
        unsigned char *p = pvalloc(opaque(n));
        cr_assert_not_null(p, "pvalloc(%zu)", n);
        assert_ours(p);
        cr_assert(is_aligned(p, page));
        cr_assert_geq(malloc_usable_size(p), want, "pvalloc(%zu): usable %zu", n,
                      malloc_usable_size(p));
        memset(p, 1, want ? want : 1);
        free(p);
    }
}
#endif

Test(api, usable_size_is_at_least_the_request)
{
    for (size_t n = 0; n <= 70000; n += (n < 1024 ? 1 : 97)) {
        void *p = malloc(n);
        cr_assert_not_null(p);
        cr_assert_geq(malloc_usable_size(p), n, "malloc(%zu): usable %zu", n, malloc_usable_size(p));
        free(p);
    }
    static const size_t big[] = { 600000, 4 * MiB - 1, 4 * MiB + 1, 33 * MiB };
    for (size_t i = 0; i < 4; i++) {
        void *p = malloc(big[i]);
        cr_assert_not_null(p);
        cr_assert_geq(malloc_usable_size(p), big[i]);
        free(p);
    }
}

Test(api, usable_size_of_null_is_zero)
{
    cr_assert_eq(malloc_usable_size(NULL), 0);
}

Test(api, whole_usable_size_can_be_written_without_touching_neighbours)
{
    enum { N = 64 };
    static const size_t sizes[] = { 1, 24, 100, 1000, 5000, 40000, 200000 };
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        unsigned char *p[N];
        size_t u[N];
        for (int i = 0; i < N; i++) {
            p[i] = malloc(sizes[s]);
            cr_assert_not_null(p[i]);
            u[i] = malloc_usable_size(p[i]);
            memset(p[i], i + 1, u[i]);
        }
        for (int i = 0; i < N; i++) {
            for (size_t j = 0; j < u[i]; j++)
                cr_assert_eq(p[i][j], i + 1, "size %zu block %d byte %zu overwritten", sizes[s], i, j);
            free(p[i]);
        }
    }
}

#ifdef LG_HAVE_MALLINFO2
/* glibc's reporting functions describe lgmalloc's memory, not glibc's
 * (whose mallinfo2 would not see lgmalloc's blocks at all). */
Test(api, mallinfo2_counts_a_huge_block_while_it_lives)
{
    const size_t size = (size_t)48 << 20;
    struct mallinfo2 before = mallinfo2();
    char *p = malloc(size);
    cr_assert_not_null(p);
    p[0] = p[size - 1] = 1;
    struct mallinfo2 during = mallinfo2();
    cr_assert_eq(during.hblks, before.hblks + 1);
    cr_assert_geq(during.hblkhd, before.hblkhd + size);
    cr_assert_geq(during.usmblks, during.uordblks, "the peak is at least what is held now");
    free(p);
    cr_assert_eq(mallinfo2().hblks, before.hblks);
}
#endif

#ifdef LG_HAVE_MALLOC_INFO
Test(api, malloc_info_writes_lgmalloc_figures_and_rejects_options)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    cr_assert_eq(malloc_info(0, f), 0);
    fclose(f);
    cr_assert_not_null(strstr(text, "<malloc version=\"lgmalloc-1\">"), "%s", text);
    cr_assert_not_null(strstr(text, "<system type=\"current\" size=\""), "%s", text);
    free(text);
    errno = 0;
    cr_assert_eq(malloc_info(1, stderr), -1);
    cr_assert_eq(errno, EINVAL);
}
#endif
