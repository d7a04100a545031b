/* growth: buffers grown with realloc from a few bytes to 4 MiB, by half their
 * size each time and appended to, as a string builder or a vector does;
 * THREADS threads at once.  Checks that realloc kept the contents. */
#include "bench.h"

#define MAX_SIZE (4u << 20)

static long n_buffers;

static void *worker(void *arg)
{
    unsigned char seed = (unsigned char)(intptr_t)arg;
    for (long b = 0; b < n_buffers; b++) {
        unsigned char *buf = NULL;
        size_t len = 0;
        for (size_t size = 8; size <= MAX_SIZE; size += size / 2) {
            buf = realloc(buf, size);
            CHECK(buf != NULL);
            CHECK(len == 0 || buf[len - 1] == (unsigned char)(seed + len - 1));
            /* Append: write the new part (one byte per 256 past the first
             * KiB, so the run is not all memset). */
            for (size_t i = len; i < size; i += i < 1024 ? 1 : 256)
                buf[i] = (unsigned char)(seed + i);
            buf[size - 1] = (unsigned char)(seed + size - 1);
            len = size;
        }
        CHECK(buf[0] == seed);
        free(buf);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    bench_args_t a = bench_args(argc, argv);
    n_buffers = scaled(a, 10000);
    double t0 = now_s();
    run_threads(a.threads, worker);
    double dt = now_s() - t0;
    printf("growth: buffers=%ld buffers_per_s=%.0f\n", n_buffers * a.threads,
           (double)n_buffers * a.threads / dt);
    return 0;
}
