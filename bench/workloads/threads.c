/* threads: thousands of short-lived threads, THREADS at a time, each
 * allocating a few blocks of constant sizes (literal sizes at their own call
 * sites) and exiting; one block outlives its thread and is freed by main.
 * Models a thread-per-connection server. */
#include "bench.h"

static void *worker(void *arg)
{
    size_t *keep = malloc(136);
    CHECK(keep != NULL);
    keep[0] = (size_t)(intptr_t)arg;
    for (int i = 0; i < 8; i++) {
        char *a = malloc(56), *b = malloc(330), *c = malloc(2100);
        char *d = malloc(9000);
        CHECK(a && b && c && d);
        a[55] = b[329] = c[2099] = d[8999] = (char)i;
        free(d);
        free(c);
        free(b);
        free(a);
    }
    return keep;
}

int main(int argc, char **argv)
{
    bench_args_t a = bench_args(argc, argv);
    long total = scaled(a, 20000);
    pthread_t *t = calloc((size_t)a.threads, sizeof *t);
    CHECK(t != NULL);
    long done = 0;
    double t0 = now_s();
    for (; done < total; done += a.threads) {
        for (intptr_t i = 0; i < a.threads; i++)
            CHECK(pthread_create(&t[i], NULL, worker, (void *)(done + i)) == 0);
        for (intptr_t i = 0; i < a.threads; i++) {
            void *keep;
            CHECK(pthread_join(t[i], &keep) == 0);
            CHECK(*(size_t *)keep == (size_t)(done + i));
            free(keep);
        }
    }
    double dt = now_s() - t0;
    free(t);
    printf("threads: threads_started=%ld kthreads_per_s=%.1f\n", done,
           (double)done / dt / 1e3);
    return 0;
}
