/* fastpath: the malloc and free fast paths in a tight loop.  Each thread
 * first allocates and frees one small size, then replaces blocks of eight
 * rotating sizes among 64 live ones.  Models an inner loop that allocates
 * short-lived temporaries. */
#include "bench.h"

static long n_ops;
static const size_t mixed[8] = {16, 40, 64, 100, 128, 200, 320, 640};

static void *worker(void *arg)
{
    uint64_t tag = (uint64_t)(intptr_t)arg + 1;
    for (long i = 0; i < n_ops; i++) {
        volatile uint64_t *p = malloc(32);
        CHECK(p != NULL);
        *p = tag;
        free((void *)p);
    }

    uint64_t *live[64] = {0};
    for (long i = 0; i < n_ops; i++) {
        uint64_t **slot = &live[i & 63];
        if (*slot) {
            CHECK(**slot == tag);
            free(*slot);
        }
        *slot = malloc(mixed[i & 7]);
        CHECK(*slot != NULL);
        **slot = tag;
    }
    for (int i = 0; i < 64; i++)
        free(live[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_args_t a = bench_args(argc, argv);
    n_ops = scaled(a, 50000000);
    double t0 = now_s();
    run_threads(a.threads, worker);
    double dt = now_s() - t0;
    printf("fastpath: pairs=%ld mpairs_per_s=%.1f\n", 2 * n_ops * a.threads,
           2.0 * (double)n_ops * a.threads / dt / 1e6);
    return 0;
}
