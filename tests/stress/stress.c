/* stress: many threads, born and dying all the time, allocate, reallocate
 * and free blocks of random sizes (mostly small, some of several MiB) and
 * trade them through a shared table, so most frees are of another thread's
 * blocks, often of a thread that has exited.  Every block is filled with a
 * pattern derived from its address and size (pattern.h) and checked before
 * it is reallocated or freed.
 *
 * Usage: stress [seconds [threads]]   (default 5 8)
 * Prints operations, threads created, corrupted blocks, peak RSS and RSS at
 * the end; exits 1 when any block was corrupted.  churn.c is the other
 * stress program: whole rounds of threads, and forks. */
#define _GNU_SOURCE
#include <lgmalloc.h>

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"
#include "scale.h"

#define SLOTS       4096
#define STRIPES     64
#define MAX_THREADS 256
#define MiB         ((size_t)1 << 20)

/* The shared table: a block and its size per slot, under striped locks
 * (the size is needed to check the block, and 1-byte blocks cannot hold
 * it themselves). */
typedef struct {
    void  *p;
    size_t size;
} slot_t;

static slot_t table[SLOTS];
static pthread_mutex_t stripes[STRIPES];

static atomic_long operations, corruptions, threads_created;
static atomic_bool stopping;

static slot_t swap_slot(size_t i, slot_t in)
{
    pthread_mutex_lock(&stripes[i % STRIPES]);
    slot_t out = table[i];
    table[i] = in;
    pthread_mutex_unlock(&stripes[i % STRIPES]);
    return out;
}

static void corrupted(const void *p, size_t size, size_t at, const char *when)
{
    if (atomic_fetch_add(&corruptions, 1) < 20)
        fprintf(stderr, "stress: block %p of %zu bytes wrong at byte %zu (%s)\n", p, size, at, when);
}

static void check_block(const void *p, size_t size, const char *when)
{
    size_t at = pattern_check(p, size);
    if (at != size)
        corrupted(p, size, at, when);
}

static void check_and_free(slot_t s)
{
    if (!s.p)
        return;
    check_block(s.p, s.size, "before free");
    free(s.p);
}

/* Mostly small; a few up to 64 KiB; three in a thousand up to 4 MiB. */
static size_t random_size(uint64_t *rng)
{
    uint64_t r = pattern_next_random(rng);
    unsigned pick = (unsigned)(r % 1000);
    r >>= 10;
    if (pick < 700)
        return 1 + r % 256;
    if (pick < 900)
        return 1 + r % 4096;
    if (pick < 997)
        return 1 + r % (64 << 10);
    return 1 + r % (4 * MiB);
}

static void out_of_memory(size_t size)
{
    fprintf(stderr, "stress: out of memory for %zu bytes\n", size);
    exit(2);
}

/* A new block by one of the allocation functions, checked and filled. */
static slot_t new_block(uint64_t *rng)
{
    size_t size = random_size(rng);
    void *p = NULL;
    size_t align = 16;
    switch (pattern_next_random(rng) % 8) {
    case 0: {
        p = calloc(1, size);
        for (size_t i = 0; p && i < size; i += 8) {
            uint64_t w = 0;
            memcpy(&w, (unsigned char *)p + i, size - i < 8 ? size - i : 8);
            if (w) {
                corrupted(p, size, i, "calloc not zero");
                break;
            }
        }
        break;
    }
    case 1:
        align = (size_t)16 << (pattern_next_random(rng) % 9); /* 16 to 4096 */
        p = aligned_alloc(align, size);
        break;
    case 2:
        align = (size_t)8 << (pattern_next_random(rng) % 10);
        if (posix_memalign(&p, align, size) != 0)
            p = NULL;
        break;
    default:
        p = malloc(size);
        break;
    }
    if (!p)
        out_of_memory(size);
    if ((uintptr_t)p % align != 0 || (uintptr_t)p % 16 != 0)
        corrupted(p, size, 0, "misaligned");
    if (malloc_usable_size(p) < size)
        corrupted(p, size, 0, "usable size below the request");
    pattern_fill(p, size);
    return (slot_t){ p, size };
}

/* Takes a block out of the table, checks it, reallocates it, checks that
 * the prefix moved with it, and fills it anew. */
static void realloc_one(uint64_t *rng)
{
    size_t i = pattern_next_random(rng) % SLOTS;
    slot_t s = swap_slot(i, (slot_t){ NULL, 0 });
    if (!s.p)
        return;
    check_block(s.p, s.size, "before realloc");
    size_t size = random_size(rng);
    uintptr_t origin = (uintptr_t)s.p;
    void *q = realloc(s.p, size);
    if (!q)
        out_of_memory(size);
    size_t keep = size < s.size ? size : s.size;
    size_t at = pattern_check_as(q, keep, origin, s.size);
    if (at != keep)
        corrupted(q, size, at, "prefix after realloc");
    pattern_fill(q, size);
    check_and_free(swap_slot(i, (slot_t){ q, size }));
}

static void *worker(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull | 1;
    long n = 10 + (long)(pattern_next_random(&rng) % 3000);
    long i = 0;
    for (; i < n && !atomic_load_explicit(&stopping, memory_order_relaxed); i++) {
        unsigned what = (unsigned)(pattern_next_random(&rng) % 10);
        if (what < 6) { /* into the table; the block it replaces is most likely another thread's */
            slot_t s = new_block(&rng);
            check_and_free(swap_slot(pattern_next_random(&rng) % SLOTS, s));
        } else if (what < 8) {
            realloc_one(&rng);
        } else { /* a short-lived local block */
            slot_t s = new_block(&rng);
            check_block(s.p, s.size, "local");
            free(s.p);
        }
    }
    atomic_fetch_add(&operations, i);
    return NULL;
}

static size_t status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kib = 0, len = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0)
            kib = strtoul(line + len, NULL, 10);
    if (f)
        fclose(f);
    return kib;
}

typedef struct {
    pthread_t thread;
    atomic_bool done;
    bool live;
} runner_t;

static runner_t runners[MAX_THREADS];

static void *run(void *arg)
{
    runner_t *r = arg;
    worker((void *)(uintptr_t)atomic_fetch_add(&threads_created, 1));
    atomic_store(&r->done, true);
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = stress_scaled(argc > 1 ? atof(argv[1]) : 5);
    int threads = argc > 2 ? atoi(argv[2]) : 8;
    if (threads < 1 || threads > MAX_THREADS)
        threads = 8;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&stripes[i], NULL);
    size_t rss_start = status_kib("VmRSS:");
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    /* Keep `threads` running; each does a random number of operations and
     * exits, and a new one takes its place. */
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        bool time_up = (double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9 >= seconds;
        if (time_up)
            atomic_store(&stopping, true);
        int live = 0;
        for (int i = 0; i < threads; i++) {
            runner_t *r = &runners[i];
            if (r->live && atomic_load(&r->done)) {
                pthread_join(r->thread, NULL);
                r->live = false;
            }
            if (!r->live && !time_up) {
                atomic_store(&r->done, false);
                if (pthread_create(&r->thread, NULL, run, r) != 0) {
                    fprintf(stderr, "stress: pthread_create failed\n");
                    return 2;
                }
                r->live = true;
            }
            live += r->live;
        }
        if (time_up && live == 0)
            break;
        usleep(1000);
    }
    for (size_t i = 0; i < SLOTS; i++)
        check_and_free(swap_slot(i, (slot_t){ NULL, 0 }));
    size_t rss_freed = status_kib("VmRSS:");
    lg_heap_check();    /* aborts, naming the invariant, if one is broken */
    lg_collect();
    lg_heap_check();
    long bad = atomic_load(&corruptions);
    printf("stress: %.0f s, %d threads at a time: %ld operations, %ld threads created, "
           "%ld corrupted blocks\n",
           seconds, threads, (long)operations, (long)threads_created, bad);
    printf("stress: RSS %zu MiB at start, peak %zu MiB, %zu MiB after freeing everything, "
           "%zu MiB after lg_collect\n",
           rss_start / 1024, status_kib("VmHWM:") / 1024, rss_freed / 1024,
           status_kib("VmRSS:") / 1024);
    lg_stats_print(stdout);
    return bad ? 1 : 0;
}
