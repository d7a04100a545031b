/* Memory goes back to the OS: RSS falls after a program frees its working
 * set, and 256 MiB blocks work. */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "helpers.h"

TestSuite(rss, .timeout = 60);

/* About 256 MiB: 128 MiB of small blocks, 64 MiB of medium, 64 MiB huge. */
typedef struct {
    void **p;
    size_t count;
} working_set_t;

static working_set_t allocate_working_set(void)
{
    working_set_t w;
    size_t cap = 600000;
    w.p = malloc(cap * sizeof *w.p);
    cr_assert_not_null(w.p);
    w.count = 0;
    size_t bytes = 0;
    for (unsigned i = 0; bytes < 128 * MiB; i++) {
        size_t n = 32 + (i * 53) % 1000;
        w.p[w.count] = malloc(n);
        cr_assert_not_null(w.p[w.count]);
        memset(w.p[w.count++], 1, n);
        bytes += n;
    }
    for (unsigned i = 0; bytes < 192 * MiB; i++) {
        size_t n = 16384 + (i * 7919) % 300000;
        w.p[w.count] = malloc(n);
        cr_assert_not_null(w.p[w.count]);
        memset(w.p[w.count++], 2, n);
        bytes += n;
    }
    for (int i = 0; i < 4; i++) {
        w.p[w.count] = malloc(16 * MiB);
        cr_assert_not_null(w.p[w.count]);
        memset(w.p[w.count++], 3, 16 * MiB);
    }
    cr_assert_leq(w.count, cap);
    return w;
}

/* Frees in an order unlike the allocation order: odd ones, then even ones. */
static void free_working_set(working_set_t *w)
{
    for (size_t i = 1; i < w->count; i += 2)
        free(w->p[i]);
    for (size_t i = 0; i < w->count; i += 2)
        free(w->p[i]);
    free(w->p);
}

Test(rss, falls_after_the_working_set_is_freed_and_collected)
{
    size_t start = rss_bytes();
    working_set_t w = allocate_working_set();
    size_t peak = rss_bytes();
    cr_assert_geq(peak, start + 240 * MiB, "RSS rose only from %zu to %zu", start, peak);
    free_working_set(&w);
    lg_collect();
    size_t end = rss_bytes();
    cr_assert_leq(end, start + 24 * MiB,
                  "RSS %zu MiB at start, %zu MiB at peak, %zu MiB after free + lg_collect",
                  start / MiB, peak / MiB, end / MiB);
}

static void further_work(int ops)
{
    for (int i = 0; i < ops; i++)
        free(malloc((size_t)1 + (size_t)i % 3000));
}

/* The small and medium blocks' memory goes back but for what the heap
 * keeps for reuse (at most 8 MiB, 10-20 ms); the huge blocks' mappings
 * (64 MiB) may wait a second in their cache.  A second later, with more
 * work (the heartbeat's purge ticks), all of it is back. */
Test(rss, falls_after_the_working_set_is_freed_without_collect)
{
    size_t start = rss_bytes();
    working_set_t w = allocate_working_set();
    size_t peak = rss_bytes();
    free_working_set(&w);
    further_work(10000);
    size_t end = rss_bytes();
    cr_assert_leq(end, start + 64 * MiB + 24 * MiB,
                  "RSS %zu MiB at start, %zu MiB at peak, %zu MiB after free and more work",
                  start / MiB, peak / MiB, end / MiB);
    struct timespec pause = { 1, 200 * 1000 * 1000 };
    nanosleep(&pause, NULL);
    further_work(100000);
    size_t later = rss_bytes();
    cr_assert_leq(later, start + 24 * MiB,
                  "RSS %zu MiB at start, %zu MiB at peak, %zu MiB after free and more work, "
                  "%zu MiB a second later",
                  start / MiB, peak / MiB, end / MiB, later / MiB);
}

static void *allocate_and_exit(void *arg)
{
    *(working_set_t *)arg = allocate_working_set();
    return NULL;
}

Test(rss, falls_after_freeing_the_blocks_of_an_exited_thread)
{
    size_t start = rss_bytes();
    working_set_t w;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, allocate_and_exit, &w), 0);
    pthread_join(t, NULL);
    size_t peak = rss_bytes();
    free_working_set(&w);
    lg_collect();
    size_t end = rss_bytes();
    cr_assert_leq(end, start + 24 * MiB,
                  "RSS %zu MiB at start, %zu MiB at peak, %zu MiB after free + lg_collect",
                  start / MiB, peak / MiB, end / MiB);
}

Test(rss, block_of_256_mib_is_usable_to_its_last_byte)
{
    size_t n = 256 * MiB;
    unsigned char *p = malloc(n);
    cr_assert_not_null(p);
    assert_ours(p);
    assert_ours(p + n - 1);
    cr_assert_geq(malloc_usable_size(p), n);
    p[0] = 0x11;
    p[n / 2] = 0x22;
    p[n - 1] = 0x33;
    cr_assert_eq(p[0], 0x11);
    cr_assert_eq(p[n - 1], 0x33);
    free(p);
}

Test(rss, calloc_of_256_mib_is_zeroed)
{
    size_t n = 256 * MiB;
    unsigned char *p = calloc(1, n);
    cr_assert_not_null(p);
    assert_ours(p);
    for (size_t i = 0; i < n; i += 4096)
        cr_assert_eq(p[i], 0, "byte %zu", i);
    cr_assert_eq(p[n - 1], 0);
    free(p);
}

Test(rss, block_of_256_mib_keeps_ends_across_realloc)
{
    size_t n = 256 * MiB;
    unsigned char *p = malloc(n);
    cr_assert_not_null(p);
    p[0] = 0x44;
    p[n - 1] = 0x55;
    p = realloc(p, n + 64 * MiB);
    cr_assert_not_null(p);
    assert_ours(p + n + 64 * MiB - 1);
    cr_assert_eq(p[0], 0x44);
    cr_assert_eq(p[n - 1], 0x55);
    p[n + 64 * MiB - 1] = 0x66;
    free(p);
}

Test(rss, freed_256_mib_block_leaves_the_process)
{
    size_t start = rss_bytes();
    lg_stats_t before = stats_now();
    unsigned char *p = malloc(256 * MiB);
    cr_assert_not_null(p);
    memset(p, 7, 256 * MiB);
    lg_stats_t during = stats_now();
    cr_assert_geq(during.huge_blocks, before.huge_blocks + 1);
    cr_assert_geq(during.huge_bytes, before.huge_bytes + 256 * MiB);
    free(p);
    lg_stats_t after = stats_now();
    cr_assert_eq(after.huge_blocks, before.huge_blocks);
    cr_assert_leq(rss_bytes(), start + 8 * MiB);
}
