/* Address width (lib/os.c, lib/fast.h): every block lgmalloc hands out
 * lies where its map of units reaches, below 2^LG_ADDRESS_BITS, and is
 * known as its own there, whatever addresses the kernel gives.  The
 * highaddr variant narrows the map to 40 bits, so that every mapping the
 * kernel makes is above it, as a 48-bit arm64 kernel's are above 2^47. */
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "helpers.h"

#if UINTPTR_MAX > 0xffffffffu
#ifndef LG_ADDRESS_BITS
#define LG_ADDRESS_BITS 48
#endif
#define BELOW_REACH(p) (((uintptr_t)(p) >> LG_ADDRESS_BITS) == 0)
#else
#define BELOW_REACH(p) 1
#endif

TestSuite(address, .timeout = 60);

static void check_block(char *p, size_t n)
{
    cr_assert_not_null(p, "%zu bytes", n);
    cr_assert(BELOW_REACH(p) && BELOW_REACH(p + n - 1), "a %zu-byte block at %p", n, (void *)p);
    cr_assert(lg_owns(p) && lg_owns(p + n - 1), "a %zu-byte block at %p is not ours", n, (void *)p);
    cr_assert_geq(lg_malloc_usable_size(p), n);
    p[0] = 1;
    p[n - 1] = 2;
}

static void *blocks_of_every_kind(void *arg)
{
    static const size_t sizes[] = { 16, 1000, 20000, 300000, 600000, 5 * MiB, 70 * MiB };
    (void)arg;
    for (int round = 0; round < 3; round++) {
        char *p[sizeof sizes / sizeof *sizes];
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            p[i] = malloc(opaque(sizes[i]));
            check_block(p[i], sizes[i]);
        }
        char *a = aligned_alloc(opaque(8 * MiB), opaque(3 * MiB));
        check_block(a, 3 * MiB);
        cr_assert_eq((uintptr_t)a % (8 * MiB), 0);
        /* a huge block grown in place or moved, past its first units */
        p[5] = realloc(p[5], opaque(40 * MiB));
        check_block(p[5], 40 * MiB);
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
            free(p[i]);
        free(a);
    }
    return NULL;
}

Test(address, blocks_of_every_kind_lie_where_the_map_reaches)
{
    blocks_of_every_kind(NULL);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, blocks_of_every_kind, NULL), 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_join(t[i], NULL), 0);
}

/* Enough small blocks for many segments: the window's and, past it (the
 * smallwindow variant), ones placed anywhere. */
Test(address, many_segments_lie_where_the_map_reaches)
{
    enum { N = 400 };
    static char *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = malloc(opaque(200 * 1024));
        check_block(p[i], 200 * 1024);
    }
    for (int i = 0; i < N; i++)
        free(p[i]);
}

/* Someone else's mapping above the map's reach is not taken for ours. */
Test(address, a_mapping_beyond_the_maps_reach_is_not_ours)
{
    char *other = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(other, MAP_FAILED);
    cr_assert_not(lg_owns(other) || lg_owns(other + (1 << 20) - 1), "a mapping at %p", (void *)other);
    munmap(other, 1 << 20);
}
