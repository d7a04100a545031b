/* Threads: blocks freed by other threads, blocks that outlive their thread,
 * and thousands of short-lived threads. */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "helpers.h"

TestSuite(threads, .timeout = 60);

/* ---- a bounded queue of blocks between threads -------------------------- */

typedef struct {
    unsigned char *p;
    size_t size;
    unsigned seed;
} item_t;

#define QCAP 1024

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    item_t items[QCAP];
    size_t head, count;
    int producers_left;
} queue_t;

static void queue_init(queue_t *q, int producers)
{
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    q->producers_left = producers;
}

static void queue_push(queue_t *q, item_t it)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == QCAP)
        pthread_cond_wait(&q->not_full, &q->lock);
    q->items[(q->head + q->count++) % QCAP] = it;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
}

static void queue_producer_done(queue_t *q)
{
    pthread_mutex_lock(&q->lock);
    q->producers_left--;
    pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
}

/* Returns 0 when the queue is empty and every producer is done. */
static int queue_pop(queue_t *q, item_t *out)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == 0 && q->producers_left > 0)
        pthread_cond_wait(&q->not_empty, &q->lock);
    int got = q->count > 0;
    if (got) {
        *out = q->items[q->head];
        q->head = (q->head + 1) % QCAP;
        q->count--;
        pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->lock);
    return got;
}

/* ---- producers and consumers -------------------------------------------- */

typedef struct {
    queue_t *q;
    unsigned id;
    size_t count;
    size_t max_size;
    atomic_size_t *errors;
} worker_t;

static size_t pick_size(unsigned *state, size_t max)
{
    *state = *state * 1103515245u + 12345u;
    size_t r = (*state >> 8) % 1000;
    if (r < 900)
        return 1 + r % 256;        /* mostly small */
    if (r < 995)
        return 1 + (r * 97) % (max < 16384 ? max : 16384); /* some medium */
    return max;                    /* a few large */
}

static void *producer(void *arg)
{
    worker_t *w = arg;
    unsigned state = w->id * 7919u + 1;
    for (size_t i = 0; i < w->count; i++) {
        size_t n = pick_size(&state, w->max_size);
        unsigned char *p = malloc(n);
        if (p == NULL || !lg_owns(p)) {
            atomic_fetch_add(w->errors, 1);
            continue;
        }
        fill(p, n < 64 ? n : 64, (unsigned)i);
        queue_push(w->q, (item_t){ p, n, (unsigned)i });
    }
    queue_producer_done(w->q);
    return NULL;
}

static void *consumer(void *arg)
{
    worker_t *w = arg;
    item_t it;
    while (queue_pop(w->q, &it)) {
        size_t n = it.size < 64 ? it.size : 64;
        if (check(it.p, n, it.seed) != n || malloc_usable_size(it.p) < it.size)
            atomic_fetch_add(w->errors, 1);
        free(it.p);
    }
    return NULL;
}

static size_t run_producers_consumers(int producers, int consumers, size_t per_producer,
                                      size_t max_size)
{
    queue_t q;
    atomic_size_t errors = 0;
    pthread_t t[16];
    worker_t w[16];
    queue_init(&q, producers);
    for (int i = 0; i < producers + consumers; i++) {
        w[i] = (worker_t){ &q, (unsigned)i, per_producer, max_size, &errors };
        int rc = pthread_create(&t[i], NULL, i < producers ? producer : consumer, &w[i]);
        cr_assert_eq(rc, 0, "pthread_create: %d", rc);
    }
    for (int i = 0; i < producers + consumers; i++)
        pthread_join(t[i], NULL);
    return errors;
}

Test(threads, blocks_freed_by_other_threads_keep_their_contents)
{
    size_t errors = run_producers_consumers(2, 2, 100000, 200000);
    cr_assert_eq(errors, 0, "%zu blocks were corrupt, missing or not lgmalloc's", errors);
}

Test(threads, memory_freed_by_other_threads_is_reused)
{
    /* At most QCAP blocks are in flight, so a producer that gets its
     * remote-freed blocks back needs only a few segments. */
    size_t errors = run_producers_consumers(1, 1, 600000, 256);
    cr_assert_eq(errors, 0);
    lg_stats_t s = stats_now();
    cr_assert_leq(s.segments_peak, 8, "segments peaked at %zu for ~%d KiB in flight",
                  s.segments_peak, QCAP * 256 / 1024);
}

/* ---- blocks that outlive their thread ----------------------------------- */

typedef struct {
    unsigned char *p[2000];
    size_t n[2000];
} batch_t;

static void *allocate_batch(void *arg)
{
    batch_t *b = arg;
    for (int i = 0; i < 2000; i++) {
        b->n[i] = (size_t)1 + (size_t)(i * 37) % (i % 50 == 0 ? 300000 : 2000);
        b->p[i] = malloc(b->n[i]);
        if (b->p[i] != NULL)
            fill(b->p[i], b->n[i], (unsigned)i);
    }
    return NULL;
}

static void *free_batch(void *arg)
{
    batch_t *b = arg;
    for (int i = 0; i < 2000; i++)
        free(b->p[i]);
    return NULL;
}

Test(threads, blocks_outlive_their_thread)
{
    static batch_t b;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, allocate_batch, &b), 0);
    pthread_join(t, NULL);
    for (int i = 0; i < 2000; i++) {
        cr_assert_not_null(b.p[i]);
        assert_ours(b.p[i]);
        cr_assert_eq(check(b.p[i], b.n[i], (unsigned)i), b.n[i], "block %d changed after its thread exited", i);
    }
    /* Grow half of them here, free the rest. */
    for (int i = 0; i < 2000; i += 2) {
        b.p[i] = realloc(b.p[i], b.n[i] * 2);
        cr_assert_not_null(b.p[i]);
        cr_assert_eq(check(b.p[i], b.n[i], (unsigned)i), b.n[i]);
    }
    for (int i = 0; i < 2000; i++)
        free(b.p[i]);
}

Test(threads, blocks_of_an_exited_thread_can_be_freed_by_a_third_thread)
{
    static batch_t b;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, allocate_batch, &b), 0);
    pthread_join(t, NULL);
    cr_assert_eq(pthread_create(&t, NULL, free_batch, &b), 0);
    pthread_join(t, NULL);
    /* The memory is usable again. */
    cr_assert_eq(pthread_create(&t, NULL, allocate_batch, &b), 0);
    pthread_join(t, NULL);
    for (int i = 0; i < 2000; i++)
        cr_assert_eq(check(b.p[i], b.n[i], (unsigned)i), b.n[i]);
    free_batch(&b);
}

/* ---- statistics with threads -------------------------------------------- */

static pthread_barrier_t barrier;

static void *allocate_and_wait(void *arg)
{
    void *p = malloc(100);
    *(void **)arg = p;
    pthread_barrier_wait(&barrier); /* all are live */
    pthread_barrier_wait(&barrier); /* main has read the statistics */
    free(p);
    return NULL;
}

Test(threads, each_live_thread_has_its_own_heap)
{
    enum { T = 4 };
    free(malloc(1));
    lg_stats_t before = stats_now();
    pthread_t t[T];
    void *p[T];
    pthread_barrier_init(&barrier, NULL, T + 1);
    for (int i = 0; i < T; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, allocate_and_wait, &p[i]), 0);
    pthread_barrier_wait(&barrier);
    lg_stats_t during = stats_now();
    for (int i = 0; i < T; i++)
        assert_ours(p[i]);
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < T; i++)
        pthread_join(t[i], NULL);
    lg_stats_t after = stats_now();
    /* Counted against the threads this test knows of: a thread of the test
     * runner or of the prediction can exit between the two readings. */
    cr_assert_geq(during.threads_seen, before.threads_seen + T,
                  "threads_seen %zu -> %zu with %d more threads", before.threads_seen,
                  during.threads_seen, T);
    cr_assert_geq(during.threads_live, 1 + T, "threads_live %zu with main and %d more threads live",
                  during.threads_live, T);
    cr_assert_geq(during.threads_seen, during.threads_live);
    cr_assert_leq(after.threads_live + T, during.threads_live,
                  "threads_live %zu after %d threads exited, %zu while they lived", after.threads_live,
                  T, during.threads_live);
}

/* ---- thread churn -------------------------------------------------------- */

static void *short_lived(void *arg)
{
    void **keep = arg;
    void *p[64];
    for (int i = 0; i < 64; i++) {
        p[i] = malloc((size_t)16 << (i % 10)); /* 16 B .. 8 KiB */
        if (p[i] != NULL)
            memset(p[i], i, 16);
    }
    for (int i = 1; i < 64; i++)
        free(p[i]);
    *keep = p[0]; /* one block outlives the thread; main frees it */
    return NULL;
}

static void churn(int threads)
{
    enum { BATCH = 8 };
    for (int i = 0; i < threads; i += BATCH) {
        pthread_t t[BATCH];
        void *keep[BATCH];
        for (int j = 0; j < BATCH; j++)
            cr_assert_eq(pthread_create(&t[j], NULL, short_lived, &keep[j]), 0);
        for (int j = 0; j < BATCH; j++) {
            pthread_join(t[j], NULL);
            cr_assert_not_null(keep[j]);
            free(keep[j]);
        }
    }
}

Test(threads, thread_churn_does_not_grow_memory_without_bound, .timeout = 120)
{
    churn(200);
    lg_stats_t warm = stats_now();
    size_t rss_warm = rss_bytes();
    churn(4000);
    lg_stats_t after = stats_now();
    size_t rss_after = rss_bytes();
    cr_assert_geq(after.threads_seen, 1, "threads_seen is zero after thousands of threads");
    cr_assert_leq(after.segments, warm.segments + 4,
                  "segments grew from %zu to %zu over 4000 short-lived threads", warm.segments,
                  after.segments);
    cr_assert_leq(after.committed_bytes, warm.committed_bytes + 16 * MiB,
                  "committed grew from %zu to %zu bytes", warm.committed_bytes,
                  after.committed_bytes);
    cr_assert_leq(rss_after, rss_warm + 32 * MiB, "RSS grew from %zu to %zu bytes", rss_warm,
                  rss_after);
}

Test(threads, thread_churn_releases_heaps)
{
    free(malloc(1));
    lg_stats_t before = stats_now();
    churn(1000);
    lg_stats_t after = stats_now();
    cr_assert_leq(after.threads_live, before.threads_live, "threads_live %zu -> %zu",
                  before.threads_live, after.threads_live);
}

/* ---- frees racing with the owner's exit ---------------------------------- */

static void *produce_and_exit(void *arg)
{
    queue_t *q = arg;
    for (int i = 0; i < 2000; i++) {
        size_t n = (size_t)16 + (size_t)(i * 13) % 3000;
        unsigned char *p = malloc(n);
        if (p == NULL)
            abort();
        fill(p, n < 64 ? n : 64, (unsigned)i);
        queue_push(q, (item_t){ p, n, (unsigned)i });
    }
    queue_producer_done(q);
    return NULL;
}

Test(threads, blocks_freed_while_their_thread_exits_stay_intact)
{
    enum { PRODUCERS = 200, BATCH = 4 };
    queue_t q;
    atomic_size_t errors = 0;
    queue_init(&q, PRODUCERS);
    pthread_t consumers[2];
    worker_t w = { &q, 0, 0, 0, &errors };
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&consumers[i], NULL, consumer, &w), 0);
    /* Producers come and go while the consumers free what they made. */
    for (int i = 0; i < PRODUCERS; i += BATCH) {
        pthread_t t[BATCH];
        for (int j = 0; j < BATCH; j++)
            cr_assert_eq(pthread_create(&t[j], NULL, produce_and_exit, &q), 0);
        for (int j = 0; j < BATCH; j++)
            pthread_join(t[j], NULL);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(consumers[i], NULL);
    cr_assert_eq(errors, 0, "%zu blocks were corrupt", (size_t)errors);
    lg_stats_t s = stats_now();
    cr_assert_leq(s.segments, 16, "%zu segments left after everything was freed", s.segments);
}

/* ---- an exited thread's memory is reused --------------------------------- */

#define REUSE_BLOCKS (512 * 1024) /* 32 MiB of 64-byte blocks */

static void *allocate_small_blocks(void *arg)
{
    void **p = arg;
    for (size_t i = 0; i < REUSE_BLOCKS; i++)
        if ((p[i] = malloc(64)) == NULL)
            abort();
    return NULL;
}

static void *free_half_then_allocate(void *arg)
{
    void **p = arg;
    for (size_t i = 0; i < REUSE_BLOCKS; i += 2)
        free(p[i]);
    for (size_t i = 0; i < REUSE_BLOCKS; i += 2)
        if ((p[i] = malloc(64)) == NULL)
            abort();
    return NULL;
}

Test(threads, memory_of_an_exited_thread_is_reused_by_later_threads)
{
    void **p = malloc(REUSE_BLOCKS * sizeof *p);
    cr_assert_not_null(p);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, allocate_small_blocks, p), 0);
    pthread_join(t, NULL);
    lg_stats_t full = stats_now();
    /* A second thread frees half the blocks of the first and allocates as
     * many again: it should fill the holes, not map new segments. */
    cr_assert_eq(pthread_create(&t, NULL, free_half_then_allocate, p), 0);
    pthread_join(t, NULL);
    lg_stats_t after = stats_now();
    for (size_t i = 0; i < REUSE_BLOCKS; i++)
        free(p[i]);
    free(p);
    cr_assert_leq(after.segments_peak, full.segments + 2,
                  "segments went from %zu to a peak of %zu: the holes were not reused",
                  full.segments, after.segments_peak);
}

/* A short-lived thread: a few sizes, one block handed back to main. */
static void *one_of_many_short_threads(void *arg)
{
    (void)arg;
    for (int i = 0; i < 4; i++) {
        char *a = malloc(opaque(56)), *b = malloc(opaque(330));
        char *c = malloc(opaque(2100)), *d = malloc(opaque(9000));
        if (!a || !b || !c || !d)
            abort();
        a[55] = b[329] = c[2099] = d[8999] = 1;
        free(d);
        free(c);
        free(b);
        free(a);
    }
    return malloc(opaque(136));
}

static long minor_faults(void)
{
    struct rusage ru;
    cr_assert_eq(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_minflt;
}

/* The segment of a thread that exits keeps its resident pages for the next
 * one (lib/purge.c): one thread after another costs no page faults.
 * (Purging at every exit took 5 faults per thread.) */
Test(threads, one_short_thread_after_another_reuses_resident_pages)
{
    skip_under_qemu("qemu-user's own page faults count in the program's ru_minflt");
    enum { WARM = 20, COUNTED = 200, STACK = 256 * 1024 };
    /* One stack for them all, so that only the allocator's pages count:
     * musl maps each thread's stack anew, and how many of its pages the
     * first call into the allocator reaches depends on the build (one in
     * the release build, two in the secure one). */
    static _Alignas(4096) unsigned char stack[STACK];
    pthread_attr_t attr;
    cr_assert_eq(pthread_attr_init(&attr), 0);
    cr_assert_eq(pthread_attr_setstack(&attr, stack, sizeof stack), 0);
    long before = 0;
    for (int i = 0; i < WARM + COUNTED; i++) {
        if (i == WARM)
            before = minor_faults();
        pthread_t t;
        void *keep;
        cr_assert_eq(pthread_create(&t, &attr, one_of_many_short_threads, NULL), 0);
        cr_assert_eq(pthread_join(t, &keep), 0);
        assert_ours(keep);
        free(keep);
    }
    pthread_attr_destroy(&attr);
    long faults = minor_faults() - before;
#ifdef __GLIBC__
    long libc = 0;
#else
    /* musl maps a thread's TLS and thread-specific data on their own when
     * they would take more than 2 KiB of a stack the program gave it */
    long libc = COUNTED;
#endif
    cr_assert_lt(faults, libc + COUNTED / 2, "%ld page faults for %d threads", faults, COUNTED);
}
