/* Bad input: impossible sizes, overflowing products, zero sizes, invalid
 * alignments and pointers lgmalloc does not own.  Each call fails the way
 * glibc's does (NULL with errno ENOMEM or EINVAL; posix_memalign returns
 * the error and leaves errno alone) and the heap works afterwards.
 *
 * Garbage handed to free and realloc (a stack address, a static one) is
 * not lgmalloc's to judge: lg_owns is false for it, so it goes to the C
 * library's allocator, which is what README specifies.  What lgmalloc must
 * catch itself, a pointer inside its own memory that starts no block, aborts
 * (lg__fatal); those cases are tested at the end. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "helpers.h"

#define TOO_BIG ((size_t)PTRDIFF_MAX + 1)
#define COUNT(a) (sizeof(a) / sizeof *(a))
#if SIZE_MAX > 0xffffffffu
/* Below PTRDIFF_MAX but more than any address space holds. */
#define UNMAPPABLE POW2(62)
#else
/* On 32 bits a size the address space cannot hold is above PTRDIFF_MAX. */
#define UNMAPPABLE TOO_BIG
#endif

#ifdef LG_HAVE_LIBC_ALLOCATOR
extern void *__libc_malloc(size_t size);
#endif

TestSuite(badinput, .timeout = 30);

/* Blocks of every kind can be allocated, written to their last byte, read
 * back and freed: the heap is still sound after whatever went before. */
static void assert_heap_works(void)
{
    static const size_t sizes[] = { 0, 1, 16, 100, 1000, 20000, 300000, 600000, 5 * MiB };
    void *p[COUNT(sizes)];
    for (size_t i = 0; i < COUNT(sizes); i++) {
        size_t n = sizes[i] ? sizes[i] : 1;
        p[i] = malloc(sizes[i]);
        cr_assert_not_null(p[i], "malloc(%zu) failed after bad input", sizes[i]);
        assert_ours(p[i]);
        cr_assert(is_aligned(p[i], 16));
        cr_assert_geq(malloc_usable_size(p[i]), sizes[i]);
        fill(p[i], n, (unsigned)i);
    }
    for (size_t i = 0; i < COUNT(sizes); i++) {
        size_t n = sizes[i] ? sizes[i] : 1;
        cr_assert_eq(check(p[i], n, (unsigned)i), n, "block of %zu damaged", sizes[i]);
        p[i] = realloc(p[i], n * 2);
        cr_assert_not_null(p[i]);
        cr_assert_eq(check(p[i], n, (unsigned)i), n, "block of %zu damaged by realloc", sizes[i]);
        free(p[i]);
    }
}

/* ---- impossible sizes ---------------------------------------------------- */

Test(badinput, malloc_of_size_max_gives_enomem)
{
    errno = 0;
    cr_assert_null(malloc(opaque(SIZE_MAX)));
    cr_assert_eq(errno, ENOMEM, "errno %d", errno);
    errno = 0;
    cr_assert_null(lg_malloc(opaque(SIZE_MAX)));
    cr_assert_eq(errno, ENOMEM, "lg_malloc: errno %d", errno);
    assert_heap_works();
}

/* Each malloc(sizes[i]) returns NULL with ENOMEM, and the heap goes on. */
static void assert_malloc_fails(const size_t *sizes, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        errno = 0;
        cr_assert_null(malloc(opaque(sizes[i])), "malloc(%zu) succeeded", sizes[i]);
        cr_assert_eq(errno, ENOMEM, "malloc(%zu): errno %d", sizes[i], errno);
    }
    assert_heap_works();
}

static void assert_calloc_fails(const size_t (*pairs)[2], size_t count)
{
    for (size_t i = 0; i < count; i++) {
        errno = 0;
        void *p = calloc(opaque(pairs[i][0]), opaque(pairs[i][1]));
        cr_assert_null(p, "calloc(%zu, %zu) succeeded", pairs[i][0], pairs[i][1]);
        cr_assert_eq(errno, ENOMEM, "calloc(%zu, %zu): errno %d", pairs[i][0], pairs[i][1], errno);
    }
    assert_heap_works();
}

Test(badinput, malloc_just_above_ptrdiff_max_gives_enomem)
{
    static const size_t sizes[] = { TOO_BIG, TOO_BIG + 1, TOO_BIG + 4096, SIZE_MAX - 4096,
                                    SIZE_MAX - 15, SIZE_MAX - 1 };
    assert_malloc_fails(sizes, COUNT(sizes));
}

/* Below PTRDIFF_MAX but far more than a 47-bit address space holds: the
 * mapping fails, and that failure too is ENOMEM.  On 32 bits PTRDIFF_MAX
 * (2 GiB) may fit in a 4 GiB address space: the block is given, usable at
 * both ends, or the answer is ENOMEM. */
Test(badinput, malloc_larger_than_the_address_space_gives_enomem)
{
#if SIZE_MAX > 0xffffffffu
    static const size_t sizes[] = { PTRDIFF_MAX, PTRDIFF_MAX - 4 * MiB, POW2(62), POW2(48) };
    assert_malloc_fails(sizes, COUNT(sizes));
#else
    static const size_t sizes[] = { PTRDIFF_MAX, PTRDIFF_MAX - 4 * MiB, POW2(30) + 1 };
    for (size_t i = 0; i < COUNT(sizes); i++) {
        errno = 0;
        char *p = malloc(opaque(sizes[i]));
        if (!p) {
            cr_assert_eq(errno, ENOMEM, "malloc(%zu): errno %d", sizes[i], errno);
            continue;
        }
        assert_ours(p);
        p[0] = p[sizes[i] - 1] = 1;
        free(p);
    }
    assert_heap_works();
#endif
}

Test(badinput, calloc_whose_product_overflows_gives_enomem)
{
    static const size_t pairs[][2] = {
        { SIZE_MAX / 2 + 1, 2 },
        { 2, SIZE_MAX / 2 + 1 },
        { SIZE_MAX, SIZE_MAX },
        { SIZE_MAX, 2 },
        { POW2(HALF_BITS), POW2(HALF_BITS) },
        { SIZE_MAX / 3 + 1, 3 },
        { 65537, SIZE_MAX / 65536 },
        { SIZE_MAX / 16 + 1, 16 },
    };
    assert_calloc_fails(pairs, COUNT(pairs));
}

/* The product fits in size_t but is above PTRDIFF_MAX. */
Test(badinput, calloc_whose_product_exceeds_ptrdiff_max_gives_enomem)
{
    static const size_t pairs[][2] = {
        { PTRDIFF_MAX / 2 + 1, 2 },
        { POW2(HALF_BITS - 1), POW2(HALF_BITS) },
        { TOO_BIG / 16, 16 },
    };
    assert_calloc_fails(pairs, COUNT(pairs));
}

Test(badinput, reallocarray_overflow_keeps_small_and_huge_blocks_intact)
{
    static const size_t sizes[] = { 1, 64, 5000, 200000, 6 * MiB };
    for (size_t i = 0; i < COUNT(sizes); i++) {
        size_t n = sizes[i];
        char *p = malloc(n);
        cr_assert_not_null(p);
        fill(p, n, 31 + (unsigned)i);
        errno = 0;
        cr_assert_null(reallocarray(p, opaque(SIZE_MAX / 2 + 1), opaque(2)),
                       "reallocarray of a %zu-byte block succeeded", n);
        cr_assert_eq(errno, ENOMEM);
        errno = 0;
        cr_assert_null(reallocarray(p, opaque(3), opaque(SIZE_MAX / 3 + 1)));
        cr_assert_eq(errno, ENOMEM);
        errno = 0;
        cr_assert_null(reallocarray(p, opaque(1), opaque(TOO_BIG)));
        cr_assert_eq(errno, ENOMEM);
        assert_ours(p);
        cr_assert_eq(check(p, n, 31 + (unsigned)i), n, "the %zu-byte block changed", n);
        p = reallocarray(p, opaque(2), opaque(n));
        cr_assert_not_null(p, "the block cannot grow after the failures");
        cr_assert_eq(check(p, n, 31 + (unsigned)i), n);
        free(p);
    }
    assert_heap_works();
}

Test(badinput, reallocarray_of_null_with_overflow_gives_enomem)
{
    errno = 0;
    cr_assert_null(reallocarray(NULL, opaque(SIZE_MAX / 2 + 1), opaque(2)));
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_null(lg_reallocarray(NULL, opaque(POW2(HALF_BITS)), opaque(POW2(HALF_BITS))));
    cr_assert_eq(errno, ENOMEM);
    assert_heap_works();
}

Test(badinput, realloc_to_an_impossible_size_keeps_the_block)
{
    static const size_t bad[] = { TOO_BIG, SIZE_MAX, SIZE_MAX - 4 * MiB, UNMAPPABLE };
    static const size_t sizes[] = { 10, 1000, 100000, 600000, 9 * MiB };
    for (size_t s = 0; s < COUNT(sizes); s++) {
        size_t n = sizes[s];
        char *p = malloc(n);
        cr_assert_not_null(p);
        fill(p, n, 77);
        for (size_t i = 0; i < COUNT(bad); i++) {
            errno = 0;
            cr_assert_null(realloc(p, opaque(bad[i])), "realloc(%zu bytes, %zu)", n, bad[i]);
            cr_assert_eq(errno, ENOMEM, "realloc(%zu bytes, %zu): errno %d", n, bad[i], errno);
        }
        cr_assert_eq(check(p, n, 77), n, "the %zu-byte block changed", n);
        free(p);
    }
    assert_heap_works();
}

/* ---- zero sizes ----------------------------------------------------------
 * malloc(0) and calloc with a zero gives a unique block; realloc(p, 0)
 * frees p and gives NULL, as glibc does (lib/alloc.c). */

Test(badinput, calloc_with_a_zero_gives_unique_blocks)
{
    void *a = calloc(opaque(0), opaque(100));
    void *b = calloc(opaque(100), opaque(0));
    void *c = calloc(opaque(0), opaque(0));
    void *d = calloc(opaque(0), opaque(SIZE_MAX));
    cr_assert(a && b && c && d, "calloc with a zero gave NULL");
    cr_assert(a != b && a != c && b != c && c != d && a != d && b != d);
    assert_ours(a);
    assert_ours(d);
    free(a);
    free(b);
    free(c);
    free(d);
    assert_heap_works();
}

Test(badinput, realloc_of_null_to_zero_gives_a_block)
{
    void *p = realloc(NULL, opaque(0));
    cr_assert_not_null(p);
    assert_ours(p);
    free(p);
}

/* Were realloc(p, 0) not to free, a million of them would hold 1 GB. */
Test(badinput, realloc_to_zero_frees_the_block)
{
    size_t committed = stats_now().committed_bytes;
    for (int i = 0; i < 1000000; i++) {
        void *p = malloc(opaque(1000));
        cr_assert_not_null(p);
        errno = 0;
        void *q = realloc(p, opaque(0));
        if (q) /* no cr_assert here: a million of them are slow */
            cr_assert_fail("realloc(p, 0) gave %p, not NULL", q);
    }
    size_t after = stats_now().committed_bytes;
    cr_assert_leq(after, committed + 16 * MiB, "committed grew from %zu to %zu MiB",
                  committed / MiB, after / MiB);
    lg_stats_t before = stats_now();
    void *h = malloc(opaque(8 * MiB));
    cr_assert_not_null(h);
    cr_assert_eq(stats_now().huge_blocks, before.huge_blocks + 1);
    cr_assert_null(realloc(h, opaque(0)));
    cr_assert_eq(stats_now().huge_blocks, before.huge_blocks, "realloc(huge, 0) did not free it");
    assert_heap_works();
}

Test(badinput, reallocarray_to_zero_frees_like_realloc)
{
    lg_stats_t before = stats_now();
    void *h = malloc(opaque(8 * MiB));
    cr_assert_not_null(h);
    cr_assert_null(reallocarray(h, opaque(0), opaque(100)));
    cr_assert_eq(stats_now().huge_blocks, before.huge_blocks);
    assert_heap_works();
}

Test(badinput, aligned_functions_with_size_zero_give_aligned_blocks)
{
    void *a = aligned_alloc(opaque(64), opaque(0));
    cr_assert_not_null(a);
    cr_assert(is_aligned(a, 64));
    void *b = memalign(opaque(4096), opaque(0));
    cr_assert_not_null(b);
    cr_assert(is_aligned(b, 4096));
    void *c = NULL;
    cr_assert_eq(posix_memalign(&c, opaque(256), opaque(0)), 0);
    cr_assert_not_null(c);
    cr_assert(is_aligned(c, 256));
    cr_assert(a != b && b != c && a != c);
    free(a);
    free(b);
    free(c);
    assert_heap_works();
}

/* ---- invalid alignments ---------------------------------------------------- */

Test(badinput, aligned_alloc_rejects_alignments_that_are_not_powers_of_two)
{
    static const size_t bad[] = { 0, 3, 6, 24, 48, 96, 1000, 4097, 3 * MiB, SIZE_MAX, SIZE_MAX - 1,
                                  SIZE_MAX / 2, POW2(SIZE_BITS - 24) + 1 };
    for (size_t i = 0; i < COUNT(bad); i++) {
        errno = 0;
        cr_assert_null(aligned_alloc(opaque(bad[i]), opaque(64)), "aligned_alloc(%zu) succeeded", bad[i]);
        cr_assert_eq(errno, EINVAL, "aligned_alloc(%zu, 64): errno %d", bad[i], errno);
        errno = 0;
        cr_assert_null(lg_aligned_alloc(opaque(bad[i]), opaque(0)));
        cr_assert_eq(errno, EINVAL, "lg_aligned_alloc(%zu, 0): errno %d", bad[i], errno);
    }
    assert_heap_works();
}

/* 2^63 is a power of two that no address space can honour: glibc says
 * ENOMEM for it (the alignment is valid, the request impossible).  On 32
 * bits, 2^31 and 2^30 are addresses the kernel may have free: the block is
 * aligned, or the answer is ENOMEM. */
Test(badinput, aligned_alloc_of_an_impossible_power_of_two_gives_enomem)
{
    static const size_t huge[] = { TOP_BIT, TOP_BIT / 2 };
    for (size_t i = 0; i < COUNT(huge); i++) {
        errno = 0;
        void *p = aligned_alloc(opaque(huge[i]), opaque(64));
#if SIZE_MAX <= 0xffffffffu
        if (p) {
            cr_assert(is_aligned(p, huge[i]), "aligned_alloc(%zu) gave %p", huge[i], p);
            assert_ours(p);
            free(p);
            continue;
        }
#endif
        cr_assert_null(p);
        cr_assert_eq(errno, ENOMEM, "aligned_alloc(%zu): errno %d", huge[i], errno);
    }
    assert_heap_works();
}

Test(badinput, alignment_larger_than_the_size_is_honoured)
{
    static const size_t aligns[] = { 32, 4096, 65536, MiB, 8 * MiB };
    for (size_t i = 0; i < COUNT(aligns); i++) {
        size_t a = aligns[i];
        char *p = aligned_alloc(opaque(a), opaque(10));
        cr_assert_not_null(p, "aligned_alloc(%zu, 10)", a);
        cr_assert(is_aligned(p, a), "aligned_alloc(%zu, 10) gave %p", a, (void *)p);
        assert_ours(p);
        cr_assert_geq(malloc_usable_size(p), 10);
        memset(p, 0x3c, 10);
        void *q = NULL;
        cr_assert_eq(posix_memalign(&q, opaque(a), opaque(1)), 0);
        cr_assert(is_aligned(q, a));
        free(q);
        free(p);
    }
    assert_heap_works();
}

Test(badinput, posix_memalign_rejects_bad_alignments_without_touching_errno)
{
    /* sizeof(void *) / 2: a power of two below the least alignment */
    static const size_t bad[] = { 0, 1, 2, sizeof(void *) / 2, 3, 12, 24, 40, 100, 4095, SIZE_MAX,
                                  SIZE_MAX - 7, TOP_BIT + 8 };
    for (size_t i = 0; i < COUNT(bad); i++) {
        void *sentinel = (void *)&sentinel;
        void *p = sentinel;
        errno = 12345;
        int rc = posix_memalign(&p, opaque(bad[i]), opaque(64));
        cr_assert_eq(rc, EINVAL, "posix_memalign(%zu): returned %d", bad[i], rc);
        cr_assert_eq(errno, 12345, "posix_memalign(%zu) set errno to %d", bad[i], errno);
        cr_assert_eq(p, sentinel, "posix_memalign(%zu) changed *memptr", bad[i]);
    }
    assert_heap_works();
}

/* glibc's posix_memalign leaves errno ENOMEM too (its tests check it). */
Test(badinput, posix_memalign_out_of_memory_returns_enomem_and_sets_errno)
{
    static const size_t cases[][2] = {
        { 64, TOO_BIG }, { 4096, SIZE_MAX },
#if SIZE_MAX > 0xffffffffu
        { TOP_BIT, 64 }, { TOP_BIT / 2, 1 },   /* alignments no address space honours */
#else
        { TOP_BIT, TOO_BIG }, { TOP_BIT / 2, TOO_BIG },   /* 2^31 and 2^30 may be honoured */
#endif
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        void *sentinel = (void *)&sentinel;
        void *p = sentinel;
        errno = 12345;
        int rc = posix_memalign(&p, opaque(cases[i][0]), opaque(cases[i][1]));
        cr_assert_eq(rc, ENOMEM, "posix_memalign(%zu, %zu): returned %d", cases[i][0], cases[i][1], rc);
        cr_assert_eq(errno, ENOMEM, "posix_memalign(%zu, %zu) set errno to %d", cases[i][0],
                     cases[i][1], errno);
        cr_assert_eq(p, sentinel);
    }
    assert_heap_works();
}

/* memalign takes any alignment up to 2^63 (2^31 on 32 bits), rounding it
 * up to a power of two as glibc does; above that it is EINVAL. */
Test(badinput, memalign_above_two_to_the_63_gives_einval)
{
    static const size_t bad[] = { TOP_BIT + 1, SIZE_MAX - 4096, SIZE_MAX };
    for (size_t i = 0; i < COUNT(bad); i++) {
        errno = 0;
        cr_assert_null(memalign(opaque(bad[i]), opaque(64)));
        cr_assert_eq(errno, EINVAL, "memalign(%zu): errno %d", bad[i], errno);
    }
    assert_heap_works();
}

Test(badinput, memalign_of_odd_and_tiny_alignments_gives_rounded_alignment)
{
    static const size_t aligns[][2] = { { 0, 16 }, { 1, 16 }, { 3, 16 }, { 24, 32 }, { 100, 128 },
                                        { 5000, 8192 } };
    for (size_t i = 0; i < COUNT(aligns); i++) {
        void *p = memalign(opaque(aligns[i][0]), opaque(40));
        cr_assert_not_null(p, "memalign(%zu, 40)", aligns[i][0]);
        cr_assert(is_aligned(p, aligns[i][1]), "memalign(%zu) gave %p", aligns[i][0], p);
        assert_ours(p);
        free(p);
    }
}

/* Huge alignments either work (the block is aligned, owned, writable to
 * its end) or fail with ENOMEM; either way nothing else is disturbed. */
Test(badinput, memalign_of_huge_alignments_is_aligned_or_enomem)
{
#if SIZE_MAX > 0xffffffffu
    skip_under_qemu("qemu-user walks every page of the 2^40-byte reservation (minutes)");
    static const size_t aligns[] = { POW2(30), POW2(40), POW2(46), POW2(62), POW2(63) };
#else
    static const size_t aligns[] = { POW2(20), POW2(28), POW2(30), POW2(31) };
#endif
    for (size_t i = 0; i < COUNT(aligns); i++) {
        size_t a = aligns[i];
        errno = 0;
        char *p = memalign(opaque(a), opaque(100));
        if (!p) {
            cr_assert_eq(errno, ENOMEM, "memalign(2^%d): NULL with errno %d", __builtin_ctzl(a), errno);
            cr_log_info("memalign(2^%d, 100): ENOMEM", __builtin_ctzl(a));
            continue;
        }
        cr_log_info("memalign(2^%d, 100): %p", __builtin_ctzl(a), (void *)p);
        cr_assert(is_aligned(p, a), "memalign(2^%d) gave %p", __builtin_ctzl(a), (void *)p);
        assert_ours(p);
        assert_ours(p + 99);
        cr_assert_geq(malloc_usable_size(p), 100);
        memset(p, 0x5e, 100);
        p = realloc(p, 200000);
        cr_assert_not_null(p);
        for (int j = 0; j < 100; j++)
            cr_assert_eq(p[j], 0x5e);
        free(p);
    }
#if SIZE_MAX > 0xffffffffu
    cr_assert_null(memalign(opaque(POW2(63)), opaque(1)), "2^63 cannot be honoured");
#endif
    assert_heap_works();
}

/* ---- pointers that are not lgmalloc's ----------------------------------- */

#ifdef LG_HAVE_LIBC_ALLOCATOR
Test(badinput, realloc_of_a_glibc_block_to_an_impossible_size_keeps_it)
{
    char *p = __libc_malloc(300);
    cr_assert_not_null(p);
    cr_assert_not(lg_owns(p));
    fill(p, 300, 9);
    errno = 0;
    cr_assert_null(realloc(p, opaque(TOO_BIG)));
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_null(reallocarray(p, opaque(SIZE_MAX / 2 + 1), opaque(2)));
    cr_assert_eq(errno, ENOMEM);
    cr_assert_eq(check(p, 300, 9), 300, "the glibc block changed");
    /* README: free, realloc and malloc_usable_size hand it to glibc */
    p = realloc(p, 5000);
    cr_assert_not_null(p);
    cr_assert_not(lg_owns(p), "realloc of a glibc block gave lgmalloc memory");
    cr_assert_eq(check(p, 300, 9), 300);
    cr_assert_geq(malloc_usable_size(p), 5000);
    free(p);
    assert_heap_works();
}
#endif

static int in_data = 42;
static char in_bss[4096];

/* What free would hand to glibc (which aborts on such garbage): lgmalloc
 * does not claim it, so it never writes to it either. */
Test(badinput, garbage_pointers_are_not_owned)
{
    char on_stack[64];
    void *nowhere = mmap(NULL, 4 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(nowhere, MAP_FAILED);
    munmap(nowhere, 4 * MiB); /* an address in no mapping at all */
    const void *garbage[] = {
        on_stack, &in_data, in_bss, in_bss + 4095, (void *)(uintptr_t)assert_heap_works,
        nowhere, (char *)nowhere + 2 * MiB, (void *)(uintptr_t)16, (void *)(uintptr_t)0xdeadbeef,
#if UINTPTR_MAX > 0xffffffffu
        (void *)(uintptr_t)0x7ffffffff000, (void *)(uintptr_t)0xffff800000000000,
        (void *)((uintptr_t)1 << 47),
#else
        (void *)(uintptr_t)0xfffff000, (void *)(uintptr_t)0xc0000000,
#endif
        (void *)UINTPTR_MAX,
    };
    for (size_t i = 0; i < COUNT(garbage); i++)
        cr_assert_not(lg_owns(garbage[i]), "lg_owns claims %p", garbage[i]);
    cr_assert_eq(in_data, 42);
    assert_heap_works();
}

/* A freed huge block is unmapped once the cache lets it go: its address is
 * then in no heap, and lgmalloc says so. */
Test(badinput, a_freed_and_collected_huge_block_is_not_owned)
{
    char *p = malloc(opaque(12 * MiB));
    cr_assert_not_null(p);
    assert_ours(p);
    free(p);
    lg_collect();
    cr_assert_not(lg_owns(p), "a freed huge block %p is still owned after lg_collect", (void *)p);
    cr_assert_not(lg_owns(p + 6 * MiB));
    assert_heap_works();
}

/* ---- misuse inside lgmalloc's memory aborts -------------------------------
 * A pointer that is lgmalloc's but starts no block is misuse lgmalloc can
 * see: it reports it and aborts (lib/huge.c, lib/page.c), before it
 * damages anything. */

Test(badinput, free_of_a_pointer_inside_a_huge_block_aborts, .signal = SIGABRT)
{
    char *p = malloc(opaque(8 * MiB));
    cr_assert_not_null(p);
    free(p + 4096);
}

Test(badinput, free_of_a_pointer_in_the_second_unit_of_a_huge_block_aborts, .signal = SIGABRT)
{
    char *p = malloc(opaque(9 * MiB));
    cr_assert_not_null(p);
    free(p + 5 * MiB);
}

Test(badinput, realloc_of_a_pointer_inside_a_huge_block_aborts, .signal = SIGABRT)
{
    char *p = malloc(opaque(8 * MiB));
    cr_assert_not_null(p);
    void *q = realloc(p + 64, opaque(10 * MiB));
    (void)q;
}

Test(badinput, usable_size_of_a_pointer_inside_a_huge_block_aborts, .signal = SIGABRT)
{
    char *p = malloc(opaque(8 * MiB));
    cr_assert_not_null(p);
    volatile size_t n = malloc_usable_size(p + 128);
    (void)n;
}

/* Slice 0 of a segment holds its header, never a block. */
Test(badinput, free_of_a_segment_header_address_aborts, .signal = SIGABRT)
{
    char *p = malloc(opaque(100));
    cr_assert_not_null(p);
    assert_ours(p);
    char *segment = (char *)((uintptr_t)p & ~(uintptr_t)(4 * MiB - 1));
    cr_assert(lg_owns(segment));
    free(segment + 65536 - 64);
}
