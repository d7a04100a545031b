/* What every workload shares: its two arguments, a random generator, a
 * clock, starting threads, checks, and the one result line.
 *
 * A workload is run as `NAME THREADS SCALE`; SCALE multiplies its amount of
 * work (1 is a full-run size).  It prints one line, `NAME: key=value ...`,
 * that bench/run keeps beside the time and peak RSS it measures itself. */
#ifndef BENCH_H
#define BENCH_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int threads;
    double scale;
} bench_args_t;

static inline bench_args_t bench_args(int argc, char **argv)
{
    bench_args_t a = {1, 1.0};
    if (argc > 1)
        a.threads = atoi(argv[1]);
    if (argc > 2)
        a.scale = atof(argv[2]);
    if (a.threads < 1 || a.scale <= 0) {
        fprintf(stderr, "usage: %s THREADS SCALE\n", argv[0]);
        exit(2);
    }
    return a;
}

/* SCALE times a full-run count, at least 1. */
static inline long scaled(bench_args_t a, long full)
{
    long n = (long)(a.scale * (double)full);
    return n > 0 ? n : 1;
}

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,  \
                    #cond);                                                   \
            exit(3);                                                          \
        }                                                                     \
    } while (0)

/* xorshift64*: enough randomness for choosing sizes and slots. */
static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static inline uint64_t rng_seed(uint64_t n)
{
    return 0x9E3779B97F4A7C15ULL * (n + 1);
}

static inline double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Runs fn(i) on n threads at once and waits for all of them. */
static inline void run_threads(int n, void *(*fn)(void *))
{
    pthread_t *t = (pthread_t *)calloc((size_t)n, sizeof *t);
    CHECK(t != NULL);
    for (intptr_t i = 0; i < n; i++)
        CHECK(pthread_create(&t[i], NULL, fn, (void *)i) == 0);
    for (int i = 0; i < n; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    free(t);
}

/* Resident set size now, in bytes. */
static inline long rss_now(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * 4096;
}

#ifdef __cplusplus
}
#endif

/* A checked block: its first word is its size, its last byte echoes it,
 * and its first `fill` bytes are written; stamped_free checks the ends
 * before freeing.  Blocks are at least 8 bytes. */
static inline uint64_t *stamped_new(size_t size, size_t fill)
{
    uint64_t *p = malloc(size);
    CHECK(p != NULL);
    memset(p, (int)size, size < fill ? size : fill);
    p[0] = size;
    ((unsigned char *)p)[size - 1] = (unsigned char)size;
    return p;
}

static inline void stamped_free(uint64_t *p)
{
    if (!p)
        return;
    CHECK(((unsigned char *)p)[p[0] - 1] == (unsigned char)p[0]);
    free(p);
}

#endif
