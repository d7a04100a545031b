/* larson: threads replace blocks of random sizes (16 to 1024 bytes) in one
 * shared pool of slots, so most blocks are freed by another thread than the
 * one that allocated them.  Models a server whose objects outlive the
 * thread that made them (after Larson and Krishnan's benchmark). */
#include "bench.h"

#include <stdatomic.h>

#define SLOTS 8192

/* A block starts with its size and ends with a copy of its low byte. */
static _Atomic(size_t *) slots[SLOTS];
static long n_ops;

static void check_block(size_t *p)
{
    CHECK(p[0] >= 16 && p[0] <= 1024);
    CHECK(((unsigned char *)p)[p[0] - 1] == (unsigned char)p[0]);
}

static void *worker(void *arg)
{
    uint64_t rng = rng_seed((uint64_t)(intptr_t)arg);
    for (long i = 0; i < n_ops; i++) {
        uint64_t r = rng_next(&rng);
        size_t size = 16 + (r >> 32) % 1009;
        size_t *p = malloc(size);
        CHECK(p != NULL);
        p[0] = size;
        ((unsigned char *)p)[size - 1] = (unsigned char)size;
        size_t *old = atomic_exchange_explicit(&slots[r % SLOTS], p,
                                               memory_order_acq_rel);
        if (old) {
            check_block(old);
            free(old);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    bench_args_t a = bench_args(argc, argv);
    n_ops = scaled(a, 20000000);
    double t0 = now_s();
    run_threads(a.threads, worker);
    double dt = now_s() - t0;
    for (int i = 0; i < SLOTS; i++) {
        size_t *p = atomic_load(&slots[i]);
        if (p) {
            check_block(p);
            free(p);
        }
    }
    printf("larson: ops=%ld mops_per_s=%.2f\n", n_ops * a.threads,
           (double)n_ops * a.threads / dt / 1e6);
    return 0;
}
