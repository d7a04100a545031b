/* cache-thrash: active false sharing.  Each thread allocates a small object,
 * writes it in a tight loop and frees it, again and again.  An allocator that
 * gives two threads objects on one cache line makes them fight over it
 * (after Hoard's cache-thrash). */
#include "bench.h"

#define OBJ_SIZE 8

static long n_rounds, n_writes;

static void *worker(void *arg)
{
    (void)arg;
    for (long r = 0; r < n_rounds; r++) {
        volatile char *p = malloc(OBJ_SIZE);
        CHECK(p != NULL);
        for (int i = 0; i < OBJ_SIZE; i++)
            p[i] = 0;
        for (long w = 0; w < n_writes; w++)
            for (int i = 0; i < OBJ_SIZE; i++)
                p[i] = (char)(p[i] + 1);
        CHECK(p[0] == (char)(p[OBJ_SIZE - 1]));
        free((void *)p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    bench_args_t a = bench_args(argc, argv);
    n_rounds = scaled(a, 50000);
    n_writes = 1000;
    double t0 = now_s();
    run_threads(a.threads, worker);
    double dt = now_s() - t0;
    printf("cache-thrash: writes=%ld mwrites_per_s=%.1f\n",
           n_rounds * n_writes * a.threads,
           (double)n_rounds * n_writes * a.threads / dt / 1e6);
    return 0;
}
