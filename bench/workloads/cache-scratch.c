/* cache-scratch: passive false sharing.  The main thread allocates one small
 * object per thread, all likely on one cache line, and hands them out; each
 * thread frees its object, then allocates an object of the same size and
 * writes it in a tight loop, again and again.  An allocator that gives a
 * thread back the block another thread's object shares a line with makes
 * the threads fight over that line (after Hoard's cache-scratch). */
#include "bench.h"

#define OBJ_SIZE 8

static char **handed;
static long n_rounds, n_writes;

static void *worker(void *arg)
{
    char *obj = handed[(intptr_t)arg];
    free(obj);
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
    handed = calloc((size_t)a.threads, sizeof *handed);
    CHECK(handed != NULL);
    for (int i = 0; i < a.threads; i++) {
        handed[i] = malloc(OBJ_SIZE);
        CHECK(handed[i] != NULL);
    }
    double t0 = now_s();
    run_threads(a.threads, worker);
    double dt = now_s() - t0;
    free(handed);
    printf("cache-scratch: writes=%ld mwrites_per_s=%.1f\n",
           n_rounds * n_writes * a.threads,
           (double)n_rounds * n_writes * a.threads / dt / 1e6);
    return 0;
}
