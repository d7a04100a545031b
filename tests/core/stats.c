/* lg_stats_get and lg_stats_print. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "helpers.h"

TestSuite(stats, .timeout = 30);

Test(stats, segments_are_counted_after_allocation)
{
    void *p = malloc(2000);   /* above the nursery's blocks: an ordinary page (lib/nursery.c) */
    cr_assert_not_null(p);
    lg_stats_t s = stats_now();
    cr_assert_gt(s.segments, 0);
    cr_assert_geq(s.segments_peak, s.segments);
    cr_assert_gt(s.pages_in_use, 0);
    cr_assert_geq(s.threads_live, 1);
    cr_assert_geq(s.threads_seen, s.threads_live);
    free(p);
}

Test(stats, committed_is_within_reserved)
{
    void *p = malloc(1 << 20);
    cr_assert_not_null(p);
    lg_stats_t s = stats_now();
    cr_assert_gt(s.reserved_bytes, 0);
    cr_assert_gt(s.committed_bytes, 0);
    cr_assert_leq(s.committed_bytes, s.reserved_bytes);
    cr_assert_geq(s.committed_peak, s.committed_bytes);
    cr_assert_geq(s.reserved_bytes, s.segments * ((size_t)4 << 20));
    free(p);
}

Test(stats, huge_blocks_are_counted_while_live)
{
    lg_stats_t before = stats_now();
    void *p = malloc(32 * MiB);
    cr_assert_not_null(p);
    lg_stats_t during = stats_now();
    free(p);
    lg_stats_t after = stats_now();
    cr_assert_eq(during.huge_blocks, before.huge_blocks + 1);
    cr_assert_geq(during.huge_bytes, before.huge_bytes + 32 * MiB);
    cr_assert_eq(after.huge_blocks, before.huge_blocks);
    cr_assert_eq(after.huge_bytes, before.huge_bytes);
}

Test(stats, huge_bytes_return_to_where_they_were_after_realloc_and_free)
{
    lg_stats_t before = stats_now();
    unsigned char *p = malloc(5 * MiB);
    cr_assert_not_null(p);
    p = realloc(p, 6 * MiB);   /* within its mapping */
    cr_assert_not_null(p);
    p = realloc(p, 40 * MiB);  /* a bigger mapping */
    cr_assert_not_null(p);
    p = realloc(p, 9 * MiB);   /* a smaller one */
    cr_assert_not_null(p);
    free(p);
    lg_stats_t after = stats_now();
    cr_assert_eq(after.huge_blocks, before.huge_blocks);
    cr_assert_eq(after.huge_bytes, before.huge_bytes, "huge bytes %zu before, %zu after",
                 before.huge_bytes, after.huge_bytes);
}

Test(stats, committed_returns_to_where_it_was_after_free_and_collect)
{
    lg_collect();
    lg_stats_t before = stats_now();
    void *p[200];
    for (int i = 0; i < 200; i++) {
        p[i] = malloc((size_t)(i % 7 + 1) * 100000);
        cr_assert_not_null(p[i]);
        memset(p[i], 1, 4096);
    }
    p[0] = realloc(p[0], 12 * MiB);
    cr_assert_not_null(p[0]);
    for (int i = 0; i < 200; i++)
        free(p[i]);
    lg_collect();
    lg_stats_t after = stats_now();
    cr_assert_leq(after.committed_bytes, before.committed_bytes + MiB,
                  "committed %zu before, %zu after", before.committed_bytes, after.committed_bytes);
    cr_assert_leq(after.committed_bytes, after.reserved_bytes);
}

Test(stats, purged_bytes_grow_when_memory_is_returned)
{
    lg_stats_t before = stats_now();
    void *p[64];
    for (int i = 0; i < 64; i++) {
        p[i] = malloc(200000);
        cr_assert_not_null(p[i]);
        memset(p[i], 1, 200000);
    }
    for (int i = 0; i < 64; i++)
        free(p[i]);
    lg_collect();
    lg_stats_t after = stats_now();
    cr_assert_gt(after.purged_bytes, before.purged_bytes, "nothing purged after lg_collect");
}

Test(stats, print_writes_a_report)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    cr_assert_not_null(f);
    free(malloc(10));
    lg_stats_print(f);
    cr_assert_eq(fclose(f), 0);
    cr_assert_gt(size, 0, "lg_stats_print wrote nothing");
    cr_assert_not_null(strstr(buf, "segments"), "no segment count in:\n%s", buf);
    free(buf);
}

/* lg_thread_collect gives back what the calling thread freed, and nothing
 * of another thread's: the pages of the blocks one thread freed stay
 * resident through another's collect and are gone after its own.  (Seen
 * with mincore: the process-wide counters move with the prediction's
 * thread, which runs at the same time.)  The blocks are too large for the
 * nursery, whose runs share the segment header's OS pages
 * (docs/decisions.md#thread-nursery). */
#define TC_BLOCKS 192
#define TC_SIZE   2000

typedef struct {
    pthread_barrier_t freed, main_collected, collected, measured;
    uintptr_t pages[TC_BLOCKS];   /* the pages the blocks started on */
} two_steps_t;

static size_t resident_pages(const two_steps_t *s)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = 0;
    for (int i = 0; i < TC_BLOCKS; i++) {
        unsigned char in = 0;
        cr_assert_eq(mincore((void *)s->pages[i], page, &in), 0);
        n += in & 1;
    }
    return n;
}

static void *free_then_collect(void *arg)
{
    two_steps_t *s = arg;
    void *p[TC_BLOCKS];
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < TC_BLOCKS; i++) {
        p[i] = malloc(TC_SIZE);
        cr_assert_not_null(p[i]);
        memset(p[i], 1, TC_SIZE);
        s->pages[i] = (uintptr_t)p[i] & ~(page - 1);
    }
    for (int i = 0; i < TC_BLOCKS; i++)
        free(p[i]);
    pthread_barrier_wait(&s->freed);
    pthread_barrier_wait(&s->main_collected);
    lg_thread_collect();
    pthread_barrier_wait(&s->collected);
    pthread_barrier_wait(&s->measured);
    for (int i = 0; i < TC_BLOCKS; i++) {   /* and the heap serves again */
        p[i] = malloc(TC_SIZE);
        cr_assert_not_null(p[i]);
        memset(p[i], 2, TC_SIZE);
    }
    for (int i = 0; i < TC_BLOCKS; i++)
        free(p[i]);
    return NULL;
}

Test(stats, thread_collect_returns_only_the_calling_threads_free_memory)
{
    two_steps_t s;
    pthread_t t;
    pthread_barrier_init(&s.freed, NULL, 2);
    pthread_barrier_init(&s.main_collected, NULL, 2);
    pthread_barrier_init(&s.collected, NULL, 2);
    pthread_barrier_init(&s.measured, NULL, 2);
    cr_assert_eq(pthread_create(&t, NULL, free_then_collect, &s), 0);
    pthread_barrier_wait(&s.freed);
    size_t freed = resident_pages(&s);
    lg_thread_collect();   /* this thread has nothing free: the other's stays */
    size_t after_mine = resident_pages(&s);
    pthread_barrier_wait(&s.main_collected);
    pthread_barrier_wait(&s.collected);
    size_t after_theirs = resident_pages(&s);
    pthread_barrier_wait(&s.measured);
    pthread_join(t, NULL);
    cr_log_info("of %d blocks' pages resident: %zu freed, %zu after this thread's collect, "
                "%zu after the other's", TC_BLOCKS, freed, after_mine, after_theirs);
    cr_assert_eq(after_mine, freed, "%zu resident before, %zu after this thread's collect",
                 freed, after_mine);
    cr_assert_eq(after_theirs, 0, "%zu pages still resident after the other thread's collect",
                 after_theirs);
}
