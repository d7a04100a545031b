/* xmalloc: THREADS producers allocate blocks (16 to 512 bytes) in batches
 * of 64 and hand each batch to a consumer thread, which frees them: all
 * frees cross threads.  Models a pipeline stage that passes messages on
 * (after Lever and Boreham's xmalloc-test). */
#include "bench.h"

#include <sched.h>
#include <stdatomic.h>

#define BATCH 64
#define MAX_IN_FLIGHT 256 /* batches per consumer */

typedef struct blk {
    size_t size;
    struct blk *next;
} blk_t;

/* A batch is allocated too, and freed by the consumer with its blocks. */
typedef struct batch {
    struct batch *next;
    blk_t *blocks;
} batch_t;

typedef struct {
    _Atomic(batch_t *) batches;
    atomic_long in_flight;
    atomic_int done;
    char pad[64];
} queue_t;

static queue_t *queues;
static int n_pairs;
static long n_batches;

static void *producer(void *arg)
{
    queue_t *q = &queues[(intptr_t)arg];
    uint64_t rng = rng_seed((uint64_t)(intptr_t)arg);
    for (long b = 0; b < n_batches; b++) {
        while (atomic_load_explicit(&q->in_flight, memory_order_relaxed) >= MAX_IN_FLIGHT)
            sched_yield();
        batch_t *batch = malloc(sizeof *batch);
        CHECK(batch != NULL);
        batch->blocks = NULL;
        for (int i = 0; i < BATCH; i++) {
            size_t size = 16 + rng_next(&rng) % 497;
            blk_t *x = malloc(size);
            CHECK(x != NULL);
            x->size = size;
            x->next = batch->blocks;
            batch->blocks = x;
        }
        batch->next = atomic_load_explicit(&q->batches, memory_order_relaxed);
        while (!atomic_compare_exchange_weak_explicit(&q->batches, &batch->next, batch,
                   memory_order_release, memory_order_relaxed))
            ;
        atomic_fetch_add_explicit(&q->in_flight, 1, memory_order_relaxed);
    }
    atomic_store(&q->done, 1);
    return NULL;
}

static long consume(queue_t *q)
{
    long n = 0;
    batch_t *batch = atomic_exchange_explicit(&q->batches, NULL, memory_order_acquire);
    while (batch) {
        batch_t *next_batch = batch->next;
        for (blk_t *x = batch->blocks; x;) {
            blk_t *next = x->next;
            CHECK(x->size >= 16 && x->size <= 512);
            free(x);
            x = next;
            n++;
        }
        free(batch);
        atomic_fetch_sub_explicit(&q->in_flight, 1, memory_order_relaxed);
        batch = next_batch;
    }
    return n;
}

static void *consumer(void *arg)
{
    queue_t *q = &queues[(intptr_t)arg];
    long freed = 0;
    for (;;) {
        int done = atomic_load(&q->done);
        long n = consume(q);
        freed += n;
        if (done && n == 0)
            break;
        if (n == 0)
            sched_yield();
    }
    CHECK(freed == n_batches * BATCH);
    return NULL;
}

static void *role(void *arg)
{
    intptr_t i = (intptr_t)arg;
    return i < n_pairs ? producer((void *)i) : consumer((void *)(i - n_pairs));
}

int main(int argc, char **argv)
{
    bench_args_t a = bench_args(argc, argv);
    n_pairs = a.threads;
    n_batches = scaled(a, 30000);
    queues = calloc((size_t)n_pairs, sizeof *queues);
    CHECK(queues != NULL);
    double t0 = now_s();
    run_threads(2 * n_pairs, role);
    double dt = now_s() - t0;
    free(queues);
    printf("xmalloc: blocks=%ld mblocks_per_s=%.2f\n", n_batches * BATCH * n_pairs,
           (double)n_batches * BATCH * n_pairs / dt / 1e6);
    return 0;
}
