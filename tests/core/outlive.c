/* Memory stays bounded when blocks outlive their thread.
 *
 * Generations of short-lived threads: each allocates blocks of mixed
 * sizes, frees most of them, swaps some with a global transfer array
 * (freeing what an earlier generation left there) and leaves a share of
 * its blocks in the array when it ends; between generations the main
 * thread frees a share of the array.  The live set is bounded, so RSS must
 * not grow with the generations, without the program calling lg_collect.
 * (The main thread adopted the segments it freed into and never gave them
 * back: RSS grew by about a megabyte a generation.) */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

TestSuite(outlive, .timeout = 120);

#define THREADS     2
#define GENERATIONS 120
#define WARMUP      10       /* generations before RSS is read */
#define OPS         6000     /* per thread */
#define SLOTS       512      /* each thread's own blocks */
#define TRANSFER    2048     /* blocks handed between generations */
/* What lgmalloc may keep resident besides the blocks, which varies from
 * one generation to the next: free memory of each heap and of the exited
 * threads' segments, up to 24 MiB for the threads that follow (docs/design.md,
 * "Returning memory"; docs/decisions.md#unowned-slices). */
#define GROWTH      (24 * MiB)

static _Atomic(unsigned char *) transfer[TRANSFER];

static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* 16 bytes to 2 KiB, one in 16 up to 32 KiB; the first byte and the last
 * hold the size's low byte, and the size is in the first word. */
static unsigned char *make(uint64_t *rng)
{
    uint64_t r = next_random(rng);
    size_t size = 16 + (r >> 8) % (r % 16 == 0 ? 32768 : 2048);
    unsigned char *p = malloc(size);
    cr_assert_not_null(p);
    memcpy(p, &size, sizeof size);
    p[size - 1] = (unsigned char)size;
    return p;
}

static void drop(unsigned char *p)
{
    if (!p)
        return;
    size_t size;
    memcpy(&size, p, sizeof size);
    cr_assert_eq(p[size - 1], (unsigned char)size, "block %p of %zu bytes was overwritten",
                 (void *)p, size);
    free(p);
}

static void *generation_worker(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull | 1;
    unsigned char *mine[SLOTS] = { 0 };
    for (int i = 0; i < OPS; i++) {
        uint64_t r = next_random(&rng);
        unsigned char **slot = &mine[(r >> 8) % SLOTS];
        _Atomic(unsigned char *) *shared = &transfer[(r >> 24) % TRANSFER];
        switch (r % 8) {
        case 0: /* an earlier generation's block comes here, ours goes there */
            *slot = atomic_exchange(shared, *slot);
            break;
        case 1:
            drop(atomic_exchange(shared, make(&rng)));
            break;
        case 2: case 3:
            drop(*slot);
            *slot = NULL;
            break;
        default:
            drop(*slot);
            *slot = make(&rng);
        }
    }
    for (int i = 0; i < SLOTS; i++) {
        if (mine[i] && next_random(&rng) % 4 == 0)
            drop(atomic_exchange(&transfer[next_random(&rng) % TRANSFER], mine[i]));
        else
            drop(mine[i]);
    }
    return NULL;
}

Test(outlive, rss_stays_bounded_over_generations_of_threads)
{
    uint64_t rng = 42;
    size_t early = 0, late = 0; /* the most RSS in the first half, in the second */
    for (int g = 0; g < GENERATIONS; g++) {
        pthread_t t[THREADS];
        for (int i = 0; i < THREADS; i++)
            cr_assert_eq(pthread_create(&t[i], NULL, generation_worker,
                                        (void *)(uintptr_t)(g * THREADS + i + 1)), 0);
        for (int i = 0; i < THREADS; i++)
            cr_assert_eq(pthread_join(t[i], NULL), 0);
        for (int i = 0; i < TRANSFER / 8; i++) /* the main thread frees some */
            drop(atomic_exchange(&transfer[next_random(&rng) % TRANSFER], NULL));
        size_t rss = rss_bytes(), *peak = g < GENERATIONS / 2 ? &early : &late;
        if (g >= WARMUP && rss > *peak)
            *peak = rss;
    }
    size_t live = 0;
    for (int i = 0; i < TRANSFER; i++) {
        unsigned char *p = atomic_exchange(&transfer[i], NULL);
        if (p) {
            size_t size;
            memcpy(&size, p, sizeof size);
            live += size;
        }
        drop(p);
    }
    lg_stats_t s = stats_now();
    cr_log_info("RSS at most %zu KiB in generations %d to %d, %zu KiB in %d to %d; %zu KiB live "
                "at the end; %zu segments, %zu pages in use, %zu KiB committed after the last free",
                early >> 10, WARMUP, GENERATIONS / 2 - 1, late >> 10, GENERATIONS / 2,
                GENERATIONS - 1, live >> 10, s.segments, s.pages_in_use, s.committed_bytes >> 10);
    cr_assert_leq(late, early + GROWTH,
                  "RSS grew: at most %zu KiB in generations %d to %d, %zu KiB in %d to %d "
                  "(%zu KiB live at the end)", early >> 10, WARMUP, GENERATIONS / 2 - 1,
                  late >> 10, GENERATIONS / 2, GENERATIONS - 1, live >> 10);
}
