/* stress: rounds of THREADS threads that replace blocks of random sizes, from
 * 16 bytes to 4 MiB (most of them small), in private slots and in a
 * shared pool whose blocks outlive the thread that made them; every round
 * starts new threads.  Models a long-running service under mixed load
 * (after mimalloc-bench's mstress). */
#include "bench.h"

#include <stdatomic.h>

#define PRIVATE 256
#define SHARED 1024

static _Atomic(uint64_t *) pool[SHARED];
static long n_rounds, n_ops;

static atomic_long seeds;

/* One in 64 is large (64 KiB to 4 MiB), the others 16 bytes to 64 KiB; the
 * bit length is uniform in each range, then the low bits. */
static size_t random_size(uint64_t *rng)
{
    uint64_t r = rng_next(rng);
    unsigned bits = r % 64 == 0 ? 16 + (unsigned)((r >> 6) % 7)
                                : 4 + (unsigned)((r >> 6) % 12);
    size_t size = ((size_t)1 << bits) + ((r >> 16) & (((size_t)1 << bits) - 1));
    return size < (4u << 20) ? size : (4u << 20);
}

static uint64_t *make(uint64_t *rng)
{
    return stamped_new(random_size(rng), 128);
}

static void *worker(void *arg)
{
    (void)arg;
    uint64_t rng = rng_seed((uint64_t)atomic_fetch_add(&seeds, 1));
    uint64_t *mine[PRIVATE] = {0};
    for (long i = 0; i < n_ops; i++) {
        uint64_t r = rng_next(&rng);
        if (r % 8 == 0) {
            stamped_free(atomic_exchange(&pool[(r >> 8) % SHARED], make(&rng)));
        } else {
            uint64_t **slot = &mine[(r >> 8) % PRIVATE];
            stamped_free(*slot);
            *slot = make(&rng);
        }
    }
    for (int i = 0; i < PRIVATE; i++)
        stamped_free(mine[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_args_t a = bench_args(argc, argv);
    n_rounds = 20;
    n_ops = scaled(a, 100000);
    double t0 = now_s();
    for (long r = 0; r < n_rounds; r++)
        run_threads(a.threads, worker);
    double dt = now_s() - t0;
    for (int i = 0; i < SHARED; i++)
        stamped_free(atomic_load(&pool[i]));
    printf("stress: ops=%ld kops_per_s=%.1f\n", n_rounds * n_ops * a.threads,
           (double)n_rounds * n_ops * a.threads / dt / 1e3);
    return 0;
}
