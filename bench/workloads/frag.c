/* frag: rounds that allocate many blocks, free all but one in 20 and keep
 * those survivors for the next 10 rounds; the size mix moves from round to
 * round, so survivors pin pages that the next sizes cannot use.  Models a
 * cache or a parser that keeps a few objects of each batch.  Prints the live
 * bytes at their peak and at the end, and the RSS at the end: with the peak
 * RSS that bench/run measures, how much memory the allocator holds for the
 * bytes the program uses. */
#include "bench.h"

#include <stdatomic.h>

#define ROUNDS 40
#define KEEP_ROUNDS 10
#define KEEP_ONE_IN 20

static long n_blocks, n_kept;
static size_t ***kept; /* ROUNDS per thread: the survivors of each round */
static atomic_long live, peak_live;

static void account(long delta)
{
    long now = atomic_fetch_add(&live, delta) + delta;
    long peak = atomic_load(&peak_live);
    while (now > peak && !atomic_compare_exchange_weak(&peak_live, &peak, now))
        ;
}

static long free_kept(size_t **old, int r)
{
    long bytes = 0;
    for (long i = 0; i < n_kept; i++) {
        CHECK(((unsigned char *)old[i])[old[i][0] - 1] == (unsigned char)r);
        bytes += (long)old[i][0];
        free(old[i]);
    }
    free(old);
    return bytes;
}

static void *worker(void *arg)
{
    uint64_t rng = rng_seed((uint64_t)(intptr_t)arg);
    size_t ***mine = kept + (intptr_t)arg * ROUNDS;
    size_t **batch = malloc((size_t)n_blocks * sizeof *batch);
    CHECK(batch != NULL);
    for (int r = 0; r < ROUNDS; r++) {
        /* Round r's sizes: 16 bytes up to 64 << (r % 6). */
        size_t max = (size_t)64 << (r % 6);
        long bytes = 0;
        for (long i = 0; i < n_blocks; i++) {
            size_t size = 16 + rng_next(&rng) % (max - 15);
            batch[i] = malloc(size);
            CHECK(batch[i] != NULL);
            memset(batch[i], r, size);
            batch[i][0] = size;
            bytes += (long)size;
        }
        account(bytes);
        mine[r] = malloc((size_t)n_kept * sizeof **mine);
        CHECK(mine[r] != NULL);
        bytes = 0;
        for (long i = 0; i < n_blocks; i++) {
            if (i % KEEP_ONE_IN == 0 && i / KEEP_ONE_IN < n_kept) {
                mine[r][i / KEEP_ONE_IN] = batch[i];
                continue;
            }
            bytes += (long)batch[i][0];
            free(batch[i]);
        }
        account(-bytes);
        if (r >= KEEP_ROUNDS) {
            account(-free_kept(mine[r - KEEP_ROUNDS], r - KEEP_ROUNDS));
            mine[r - KEEP_ROUNDS] = NULL;
        }
    }
    free(batch);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_args_t a = bench_args(argc, argv);
    n_blocks = scaled(a, 100000);
    n_kept = n_blocks / KEEP_ONE_IN;
    kept = calloc((size_t)a.threads * ROUNDS, sizeof *kept);
    CHECK(kept != NULL);
    double t0 = now_s();
    run_threads(a.threads, worker);
    double dt = now_s() - t0;
    printf("frag: peak_live_kb=%ld end_live_kb=%ld end_rss_kb=%ld time_s=%.3f\n",
           atomic_load(&peak_live) / 1024, atomic_load(&live) / 1024,
           rss_now() / 1024, dt);
    for (int i = 0; i < a.threads * ROUNDS; i++)
        if (kept[i])
            free_kept(kept[i], i % ROUNDS);
    free(kept);
    return 0;
}
