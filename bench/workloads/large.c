/* large: blocks of 256 KiB to 32 MiB, allocated, written on every page and
 * freed, a few live at once per thread.  Models buffers for files, images or
 * batches; mostly a test of how an allocator maps and reuses memory (page
 * faults are costly on a VM). */
#include "bench.h"

#define LIVE 4

static long n_ops;

static void *worker(void *arg)
{
    uint64_t rng = rng_seed((uint64_t)(intptr_t)arg);
    unsigned char *live[LIVE] = {0};
    size_t sizes[LIVE] = {0};
    for (long i = 0; i < n_ops; i++) {
        int s = (int)(i % LIVE);
        if (live[s]) {
            CHECK(live[s][sizes[s] - 1] == (unsigned char)sizes[s]);
            free(live[s]);
        }
        /* Bit length 18..25, uniform: 256 KiB to 32 MiB. */
        uint64_t r = rng_next(&rng);
        unsigned bits = 18 + (unsigned)(r % 7);
        size_t size = ((size_t)1 << bits) + ((r >> 8) & (((size_t)1 << bits) - 1));
        unsigned char *p = malloc(size);
        CHECK(p != NULL);
        for (size_t off = 0; off < size; off += 4096)
            p[off] = (unsigned char)off;
        p[size - 1] = (unsigned char)size;
        live[s] = p;
        sizes[s] = size;
    }
    for (int s = 0; s < LIVE; s++)
        free(live[s]);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_args_t a = bench_args(argc, argv);
    n_ops = scaled(a, 1000);
    double t0 = now_s();
    run_threads(a.threads, worker);
    double dt = now_s() - t0;
    printf("large: blocks=%ld blocks_per_s=%.0f\n", n_ops * a.threads,
           (double)n_ops * a.threads / dt);
    return 0;
}
