/* Per-thread footprint: RSS of T threads (default 50) that each hold 20
 * blocks each of 24, 40, 72, 136 and 264 bytes, against T threads that
 * allocate nothing, per thread.  Prints both and their difference (the
 * idle figure is noisy: compare the allocating one between allocators).
 * usage: threads [T]   (bench/footprint/run builds it against each
 * allocator; docs/decisions.md#thread-nursery) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 256
#define EACH        20

#define SIZES       5   /* 24, 40, 72, 136 and 264 bytes (hold) */

static pthread_barrier_t barrier;
static int allocate;

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long total = 0, resident = 0;
    if (!f || fscanf(f, "%ld %ld", &total, &resident) != 2) {
        perror("/proc/self/statm");
        exit(1);
    }
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void *hold(void *arg)
{
    void *p[SIZES * EACH];
    int n = 0;
    (void)arg;
    if (allocate) {
        /* a call site per size, each with its literal: sizes the
         * prediction finds */
#define TAKE(size)                                                  \
        for (int i = 0; i < EACH; i++, n++) {                       \
            if (!(p[n] = malloc(size)))                             \
                abort();                                            \
            memset(p[n], 1, size);                                  \
        }
        TAKE(24) TAKE(40) TAKE(72) TAKE(136) TAKE(264)
#undef TAKE
    }
    pthread_barrier_wait(&barrier);   /* measured here */
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < n; i++)
        free(p[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 50;
    if (threads < 1 || threads > MAX_THREADS)
        threads = 50;
    free(malloc(100));
    pthread_t t[MAX_THREADS];
    long grew[2];
    for (int mode = 0; mode < 2; mode++) {
        allocate = mode;
        pthread_barrier_init(&barrier, NULL, (unsigned)threads + 1);
        long before = rss_kib();
        for (int i = 0; i < threads; i++)
            if (pthread_create(&t[i], NULL, hold, NULL) != 0)
                abort();
        pthread_barrier_wait(&barrier);
        grew[mode] = rss_kib() - before;
        pthread_barrier_wait(&barrier);
        for (int i = 0; i < threads; i++)
            pthread_join(t[i], NULL);
        pthread_barrier_destroy(&barrier);
    }
    printf("per thread: idle %.1f KiB, allocating %.1f KiB, net %.1f KiB\n",
           (double)grew[0] / threads, (double)grew[1] / threads,
           (double)(grew[1] - grew[0]) / threads);
    return 0;
}
