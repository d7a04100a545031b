/* mstress: generations of THREADS short-lived threads whose blocks outlive
 * them.  Each thread allocates blocks of mixed sizes into slots of its own,
 * frees most of them itself, and swaps some with a global transfer array:
 * what it takes out was made by a thread of an earlier generation, gone by
 * now, and it frees it.  When it ends it leaves a share of its blocks in
 * the array; between generations the main thread frees a share of the
 * array.  The live set is bounded (the array and each thread's slots), so
 * peak RSS should not grow with the generations.  Models workers handing
 * items to later workers (after mimalloc-bench's mstress).
 *
 * Run as `mstress THREADS SCALE [GENERATIONS]` (100 generations unless
 * given); SCALE sets the operations of each thread. */
#include "bench.h"

#include <stdatomic.h>

#define SLOTS    1024   /* each thread's own blocks */
#define TRANSFER 4096   /* blocks handed between generations */

static _Atomic(uint64_t *) transfer[TRANSFER];
static long n_ops;
static atomic_long seeds;

/* Mostly small: one in 8 is 1 to 16 KiB, one in 256 is 16 to 256 KiB, one
 * in 8,192 is 256 KiB to 1 MiB; the others are 16 to 512 bytes. */
static size_t random_size(uint64_t *rng)
{
    uint64_t r = rng_next(rng);
    unsigned lo = 4, span = 5;
    if (r % 8192 == 0)
        lo = 18, span = 2;
    else if (r % 256 == 0)
        lo = 14, span = 4;
    else if (r % 8 == 0)
        lo = 10, span = 4;
    unsigned bits = lo + (unsigned)((r >> 16) % span);
    return ((size_t)1 << bits) + ((r >> 24) & (((size_t)1 << bits) - 1));
}

static uint64_t *make(uint64_t *rng)
{
    return stamped_new(random_size(rng), 64);
}

static void *worker(void *arg)
{
    (void)arg;
    uint64_t rng = rng_seed((uint64_t)atomic_fetch_add(&seeds, 1));
    uint64_t **mine = calloc(SLOTS, sizeof *mine);
    CHECK(mine != NULL);
    for (long i = 0; i < n_ops; i++) {
        uint64_t r = rng_next(&rng);
        uint64_t **slot = &mine[(r >> 8) % SLOTS];
        _Atomic(uint64_t *) *shared = &transfer[(r >> 20) % TRANSFER];
        switch (r % 16) {
        case 0: /* a block of an earlier generation comes here, ours goes there */
            *slot = atomic_exchange(shared, *slot);
            break;
        case 1: /* a new block into the array, an older one freed */
            stamped_free(atomic_exchange(shared, make(&rng)));
            break;
        case 2: case 3: case 4: case 5:
            stamped_free(*slot);
            *slot = NULL;
            break;
        default:
            stamped_free(*slot);
            *slot = make(&rng);
        }
    }
    /* a quarter of what is left outlives the thread */
    for (int i = 0; i < SLOTS; i++) {
        if (mine[i] && rng_next(&rng) % 4 == 0)
            stamped_free(atomic_exchange(&transfer[rng_next(&rng) % TRANSFER], mine[i]));
        else
            stamped_free(mine[i]);
    }
    free(mine);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_args_t a = bench_args(argc, argv);
    long generations = argc > 3 ? atol(argv[3]) : 100;
    CHECK(generations > 0);
    n_ops = scaled(a, 20000);
    uint64_t rng = rng_seed(999);
    double t0 = now_s();
    for (long g = 0; g < generations; g++) {
        run_threads(a.threads, worker);
        for (int i = 0; i < TRANSFER / 8; i++) /* main frees some of what they left */
            stamped_free(atomic_exchange(&transfer[rng_next(&rng) % TRANSFER], NULL));
    }
    double dt = now_s() - t0;
    long left = 0;
    for (int i = 0; i < TRANSFER; i++) {
        uint64_t *p = atomic_load(&transfer[i]);
        left += p ? (long)p[0] : 0;
        stamped_free(p);
    }
    printf("mstress: generations=%ld ops=%ld kops_per_s=%.1f left_kib=%ld rss_end_kib=%ld\n",
           generations, generations * n_ops * a.threads,
           (double)generations * n_ops * a.threads / dt / 1e3, left >> 10, rss_now() >> 10);
    return 0;
}
