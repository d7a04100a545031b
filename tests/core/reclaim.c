/* Memory comes back after a large multi-threaded working set is freed.
 *
 * Four threads each allocate a quarter of about 1 GiB, half of it in small
 * blocks (16 to 1024 bytes) and half in large ones (64 KiB to 8 MiB), and
 * write every byte.  Then each thread frees half of its own blocks and half
 * of its neighbour's (remote frees), either before its owner exits or after.
 * RSS (/proc/self/statm) must fall to within 16 MiB of where it started,
 * after lg_collect(), and also without it once the program has gone on
 * with a bounded amount of ordinary work.  rss.c covers one thread and
 * 256 MiB; this is the threaded case at scale.  The figures are logged. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include "helpers.h"

TestSuite(reclaim, .timeout = 60);

#define THREADS     4
#define SHARE       (256 * MiB) /* each thread's working set */
#define SMALL_SHARE (SHARE / 2)
#define MAX_BLOCKS  (SMALL_SHARE / 16 + 1024)
#define SLACK       (16 * MiB)
/* Allowed on top for each heap whose thread lives on: up to 1 MiB of empty
 * slices before it purges them (docs/design.md, "Returning memory"), and
 * pages of classes it no longer allocates from, holding blocks other
 * threads freed, which it collects only when it uses the class again or
 * calls lg_collect (a known limit: README, "Limits"). */
#define HEAP_DIRTY  (4 * MiB)

typedef struct {
    void **p;           /* the thread's blocks (an array mapped, not malloc'ed) */
    size_t count;
    size_t bytes;
} set_t;

/* When the neighbour's half is freed, and what the owners do then. */
typedef enum {
    OWNERS_EXIT,       /* freed while the owners live; then they exit */
    AFTER_EXIT,        /* freed by the main thread after the owners exited */
    OWNERS_COLLECT,    /* owners stay alive and call lg_collect */
    OWNERS_WORK,       /* owners stay alive and go on with ordinary work */
} mode_t_;

typedef struct {
    int id;
    mode_t_ mode;
    set_t *sets;
    pthread_barrier_t *allocated, *freed, *measured;
} worker_t;

static long further_work(void);

static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The pointer arrays are mapped directly so they are no part of the heap
 * being measured. */
static void *map_array(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    return p;
}

static void allocate_share(set_t *s, uint64_t seed)
{
    uint64_t rng = seed * 0x9e3779b97f4a7c15ull | 1;
    size_t small = 0;
    while (small < SMALL_SHARE) {
        size_t n = 16 + next_random(&rng) % 1009;
        void *p = malloc(n);
        cr_assert_not_null(p);
        memset(p, (int)n, n);
        s->p[s->count++] = p;
        small += n;
    }
    size_t large = 0;
    while (large < SHARE - SMALL_SHARE) {
        size_t n = (64 << 10) + next_random(&rng) % (8 * MiB - (64 << 10));
        if (large + n > SHARE - SMALL_SHARE)
            n = SHARE - SMALL_SHARE - large < (64 << 10) ? (64 << 10) : SHARE - SMALL_SHARE - large;
        void *p = malloc(n);
        cr_assert_not_null(p);
        memset(p, (int)n, n);
        s->p[s->count++] = p;
        large += n;
    }
    s->bytes = small + large;
}

static void free_half(set_t *s, size_t first)
{
    for (size_t i = first; i < s->count; i += 2)
        free(s->p[i]);
}

static void *worker(void *arg)
{
    worker_t *w = arg;
    allocate_share(&w->sets[w->id], (uint64_t)w->id + 1);
    pthread_barrier_wait(w->allocated);
    free_half(&w->sets[w->id], 0);
    if (w->mode != AFTER_EXIT)
        free_half(&w->sets[(w->id + 1) % THREADS], 1); /* the neighbour's, while it lives */
    pthread_barrier_wait(w->freed);
    long ops = 0;
    if (w->mode == OWNERS_COLLECT) {
        lg_collect();
    } else if (w->mode == OWNERS_WORK) {
        ops = further_work();
    }
    if (w->mode == OWNERS_COLLECT || w->mode == OWNERS_WORK) {
        pthread_barrier_wait(w->measured); /* done */
        pthread_barrier_wait(w->measured); /* alive while RSS is read */
    }
    return (void *)ops;
}

typedef struct {
    size_t start, peak, freed, bytes, end; /* end: measured while owners live */
    long ops;                              /* the owners' further work */
    size_t pages;                          /* pages holding blocks, at end */
} figures_t;

/* Allocates the working set in the threads and frees all of it. */
static figures_t build_and_free(mode_t_ mode)
{
    figures_t f = { .start = rss_bytes() };
    set_t sets[THREADS];
    for (int i = 0; i < THREADS; i++)
        sets[i] = (set_t){ .p = map_array(MAX_BLOCKS * sizeof(void *)) };
    pthread_barrier_t allocated, freed, measured;
    pthread_barrier_init(&allocated, NULL, THREADS + 1);
    pthread_barrier_init(&freed, NULL, THREADS + 1);
    pthread_barrier_init(&measured, NULL, THREADS + 1);
    worker_t w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker_t){ i, mode, sets, &allocated, &freed, &measured };
        cr_assert_eq(pthread_create(&t[i], NULL, worker, &w[i]), 0);
    }
    pthread_barrier_wait(&allocated);
    f.peak = rss_bytes();
    pthread_barrier_wait(&freed);
    if (mode == OWNERS_COLLECT || mode == OWNERS_WORK) {
        pthread_barrier_wait(&measured); /* their work is done */
        f.end = rss_bytes();
        f.pages = stats_now().pages_in_use;
        pthread_barrier_wait(&measured); /* read while they live */
    }
    for (int i = 0; i < THREADS; i++) {
        void *ops;
        pthread_join(t[i], &ops);
        f.ops += (long)ops;
    }
    if (mode == AFTER_EXIT) /* blocks of exited threads, freed by this one */
        for (int i = 0; i < THREADS; i++)
            free_half(&sets[i], 1);
    for (int i = 0; i < THREADS; i++) {
        f.bytes += sets[i].bytes;
        munmap(sets[i].p, MAX_BLOCKS * sizeof(void *));
    }
    pthread_barrier_destroy(&allocated);
    pthread_barrier_destroy(&freed);
    pthread_barrier_destroy(&measured);
    f.freed = rss_bytes();
    cr_assert_geq(f.peak, f.start + f.bytes / 10 * 9, "RSS rose only from %zu to %zu MiB for %zu MiB",
                  f.start / MiB, f.peak / MiB, f.bytes / MiB);
    return f;
}

/* Ordinary work after the frees: batches of 256 blocks of mixed sizes
 * (1 byte to 4 KiB), allocated and then freed, and a large block now and
 * then, spread over a little more than a second (the huge-block cache lets
 * a mapping go after a second, when a later one is freed).  Returns the
 * number of malloc and free calls. */
static long further_work(void)
{
    enum { BATCH = 256 };
    uint64_t rng = 12345;
    long ops = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int round = 0; round < 15; round++) {
        for (int batch = 0; batch < 8; batch++) {
            void *p[BATCH];
            for (int i = 0; i < BATCH; i++) {
                p[i] = malloc(1 + next_random(&rng) % 4096);
                cr_assert_not_null(p[i]);
            }
            for (int i = 0; i < BATCH; i++)
                free(p[i]);
            ops += 2 * BATCH;
        }
        free(malloc(2 * MiB));
        ops += 2;
        struct timespec pause = { 0, 100 * 1000 * 1000 };
        nanosleep(&pause, NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    cr_assert_geq(now.tv_sec - start.tv_sec, 1);
    return ops;
}

static void report(const char *what, figures_t f, size_t end, long ops, size_t slack)
{
    cr_log_info("%s: %zu MiB allocated in %d threads; RSS %zu MiB at start, %zu at peak, "
                "%zu at the end (%s, %ld further malloc/free calls)",
                what, f.bytes / MiB, THREADS, f.start / MiB, f.peak / MiB, end / MiB,
                ops ? "without lg_collect" : "after lg_collect", ops);
    cr_assert_leq(end, f.start + slack,
                  "%s: RSS %zu MiB at start, %zu at peak, %zu at the end: "
                  "more than %zu MiB above the start",
                  what, f.start / MiB, f.peak / MiB, end / MiB, slack / MiB);
}

/* While the owners live, RSS is read before they exit. */
static void report_live(const char *what, figures_t f)
{
    cr_log_info("%s: %zu pages still hold blocks while the owners live; RSS %zu MiB after they exited",
                what, f.pages, f.freed / MiB);
    report(what, f, f.end, f.ops, SLACK + THREADS * HEAP_DIRTY);
}

Test(reclaim, gigabyte_freed_across_threads_returns_after_collect)
{
    figures_t f = build_and_free(OWNERS_EXIT);
    lg_collect();
    report("remote frees while the owners live", f, rss_bytes(), 0, SLACK);
}

Test(reclaim, gigabyte_freed_after_its_threads_exited_returns_after_collect)
{
    figures_t f = build_and_free(AFTER_EXIT);
    lg_collect();
    report("frees after the owners exited", f, rss_bytes(), 0, SLACK);
}

Test(reclaim, gigabyte_freed_across_threads_returns_with_further_work)
{
    figures_t f = build_and_free(OWNERS_EXIT);
    long ops = further_work();
    report("remote frees while the owners live", f, rss_bytes(), ops, SLACK);
}

Test(reclaim, gigabyte_freed_after_its_threads_exited_returns_with_further_work)
{
    figures_t f = build_and_free(AFTER_EXIT);
    long ops = further_work();
    report("frees after the owners exited", f, rss_bytes(), ops, SLACK);
}

/* The owners live on: lg_collect in each returns what the others freed
 * into its pages. */
Test(reclaim, gigabyte_freed_across_live_threads_returns_after_their_collect)
{
    figures_t f = build_and_free(OWNERS_COLLECT);
    report_live("owners alive, lg_collect in each", f);
}

Test(reclaim, gigabyte_freed_across_live_threads_returns_with_their_further_work)
{
    figures_t f = build_and_free(OWNERS_WORK);
    report_live("owners alive, further work in each", f);
}

/* Memory that comes back is used again: a freed huge block's mapping is
 * cached and handed to the next request that fits, and calloc must see
 * zeros in all of it, also where an earlier, larger block wrote before a
 * smaller one took the mapping (found by tests/stress/stress.c). */
Test(reclaim, calloc_reusing_a_freed_huge_mapping_is_zeroed)
{
    size_t big = 3 * MiB, small = 1 * MiB;
    char *a = malloc(opaque(big));
    cr_assert_not_null(a);
    memset(a, 0x5a, big);
    free(a);
    char *b = malloc(opaque(small)); /* takes the cached mapping */
    cr_assert_not_null(b);
    free(b);
    unsigned char *c = calloc(1, opaque(big));
    cr_assert_not_null(c);
    cr_log_info("mapping reused: %s", (char *)c == a ? "yes" : "no");
    for (size_t j = 0; j < big; j += 512)
        cr_assert_eq(c[j], 0, "calloc(%zu) byte %zu is %#x (a freed block's data)", big, j, c[j]);
    cr_assert_eq(c[big - 1], 0);
    free(c);
}

/* malloc_usable_size promises the whole mapping of a huge block: a program
 * may write all of it, and a later calloc that reuses the mapping must
 * still read zeros there (found by tests/fuzz). */
Test(reclaim, calloc_is_zeroed_where_a_huge_block_was_written_to_its_usable_size)
{
    char *a = malloc(opaque(5 * MiB));
    cr_assert_not_null(a);
    size_t usable = malloc_usable_size(a);
    cr_assert_geq(usable, 5 * MiB);
    memset(a, 0x5a, usable);
    free(a);
    unsigned char *c = calloc(1, opaque(usable));
    cr_assert_not_null(c);
    cr_log_info("usable %zu; mapping reused: %s", usable, (char *)c == a ? "yes" : "no");
    for (size_t j = 0; j < usable; j += 512)
        cr_assert_eq(c[j], 0, "calloc(%zu) byte %zu is %#x (a freed block's data)", usable, j, c[j]);
    free(c);
}

/* A huge block larger than every cached mapping takes the pages of several
 * of them, moved into one range (lib/huge.c, cache_gather): three freed
 * blocks of 3 MiB, written, serve most of an 11 MiB one, which then
 * faults in well under half of its pages (the most resident mapping grown
 * alone: 1,800 of 2,816).  Its contents work, and calloc reads zeros in
 * it; what it committed goes back. */
static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static void free_three_written(size_t each, int fill)
{
    char *p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = malloc(opaque(each));
        cr_assert_not_null(p[i]);
        memset(p[i], fill, each);
    }
    for (int i = 0; i < 3; i++)
        free(p[i]);
}

Test(reclaim, a_huge_block_larger_than_every_cached_one_takes_their_pages)
{
    lg_collect();
    lg_stats_t before;
    lg_stats_get(&before);
    free_three_written(3 * MiB, 0x5a);
    size_t size = 11 * MiB;
    long faults = minor_faults();
    unsigned char *b = malloc(opaque(size));
    cr_assert_not_null(b);
    for (size_t j = 0; j < size; j += 4096)
        b[j] = (unsigned char)(j >> 12);
    faults = minor_faults() - faults;
    cr_log_info("%ld page faults for %zu pages", faults, size / 4096);
    cr_assert_lt(faults, (long)(size / 4096 / 2), "%ld page faults for %zu pages", faults, size / 4096);
    for (size_t j = 0; j < size; j += 4096)
        cr_assert_eq(b[j], (unsigned char)(j >> 12));
    free(b);
    lg_collect();
    lg_stats_t after;
    lg_stats_get(&after);
    cr_assert_leq(after.committed_bytes, before.committed_bytes + MiB,
                  "committed %zu before, %zu after", before.committed_bytes, after.committed_bytes);
    cr_assert_leq(after.reserved_bytes, before.reserved_bytes + MiB,
                  "reserved %zu before, %zu after", before.reserved_bytes, after.reserved_bytes);
}

Test(reclaim, calloc_over_gathered_mappings_is_zeroed)
{
    lg_collect();
    free_three_written(3 * MiB, 0x5a);
    size_t size = 11 * MiB;
    unsigned char *c = calloc(1, opaque(size));
    cr_assert_not_null(c);
    size_t usable = malloc_usable_size(c);
    for (size_t j = 0; j < usable; j += 256)
        cr_assert_eq(c[j], 0, "calloc(%zu) byte %zu is %#x (a freed block's data)", size, j, c[j]);
    free(c);
}

/* A freed huge block's mapping waits in the cache a second at most, also
 * when no huge block is allocated or freed after it: the heap's purge
 * ticks (on its slow paths that make or retire a page) age the cache. */
Test(reclaim, a_cached_huge_mapping_goes_back_a_second_later_without_more_huge_blocks)
{
    lg_collect();
    size_t size = 8 * MiB;
    char *p = malloc(opaque(size));
    cr_assert_not_null(p);
    memset(p, 0x5a, size);
    free(p);
    unsigned char in;
    cr_assert_eq(mincore((void *)((uintptr_t)p & ~(uintptr_t)4095), 4096, &in), 0,
                 "the freed mapping should wait in the cache first");
    struct timespec pause = { 1, 200 * 1000 * 1000 };
    nanosleep(&pause, NULL);
    enum { N = 2048 };
    void **small = malloc(N * sizeof *small);
    cr_assert_not_null(small);
    for (int i = 0; i < N; i++)
        cr_assert_not_null(small[i] = malloc(1000));
    for (int i = 0; i < N; i++)
        free(small[i]);
    free(small);
    errno = 0;
    cr_assert_eq(mincore((void *)((uintptr_t)p & ~(uintptr_t)4095), 4096, &in), -1,
                 "the mapping of a huge block freed over a second ago is still there");
    cr_assert_eq(errno, ENOMEM);
}
