/* fragment: does RSS stay bounded under a long alternating pattern?
 *
 * Each round allocates many blocks of mixed sizes (16 bytes to 128 KiB),
 * writes them, and frees all but a few; the few survive for a while in a
 * ring, so the live set stays about constant but is scattered over pages
 * that also held the freed blocks: the pattern that fragments a heap.
 * After each round it reports RSS and the live bytes (the sizes asked
 * for).  It fails when RSS keeps growing (the last rounds above 1.2 times
 * RSS once the ring is full) or when RSS is more than MAX_RATIO times the
 * live bytes.
 *
 * Usage: fragment [rounds [blocks per round]]   (default 200 10000)
 * Exits 1 on failure; prints a line every 10 rounds and the verdict. */
#define _GNU_SOURCE
#include <lgmalloc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../emulation.h"
#include "pattern.h"
#include "scale.h"

#define MiB         ((size_t)1 << 20)
#define SURVIVE_PER 20      /* one block in SURVIVE_PER survives its round */
#define RING        8000    /* survivors live until RING more have come */
#define GROWTH      1.2     /* last rounds' RSS over the RSS once the ring is full */
#define MAX_RATIO   3.5     /* RSS over live bytes (glibc: 2.75 on this pattern) */

typedef struct {
    void  *p;
    size_t size;
} block_t;

/* Under qemu-user the program's own mappings: statm counts the emulator. */
static size_t rss_bytes(void)
{
    if (test_emulated())
        return emulated_resident_bytes();
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (!f || fscanf(f, "%lu %lu", &size, &resident) != 2) {
        fprintf(stderr, "fragment: cannot read /proc/self/statm\n");
        exit(2);
    }
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static size_t random_size(uint64_t *rng)
{
    uint64_t r = pattern_next_random(rng);
    unsigned pick = (unsigned)(r % 100);
    r >>= 8;
    if (pick < 70)
        return 16 + r % 241;
    if (pick < 95)
        return 256 + r % 7937;
    return 8192 + r % (120 << 10);
}

static void check_and_free(block_t b, long *bad)
{
    if (pattern_check(b.p, b.size) != b.size && (*bad)++ < 10)
        fprintf(stderr, "fragment: block %p of %zu bytes damaged\n", b.p, b.size);
    free(b.p);
}

int main(int argc, char **argv)
{
    int rounds = (int)stress_scaled(argc > 1 ? atoi(argv[1]) : 200);
    int per_round = argc > 2 ? atoi(argv[2]) : 10000;
    if (rounds < 40)
        rounds = 40;
    if (per_round < 1000)
        per_round = 1000;
    block_t *round = calloc((size_t)per_round, sizeof *round);
    block_t *ring = calloc(RING, sizeof *ring);
    if (!round || !ring)
        return 2;
    uint64_t rng = 0x2545f4914f6cdd1dull;
    size_t ring_next = 0, live = 0, start = rss_bytes();
    long bad = 0;
    /* the ring fills after RING * SURVIVE_PER / per_round rounds; measure
     * the reference a few rounds later */
    int full = (int)((size_t)RING * SURVIVE_PER / (size_t)per_round) + 1;
    int ref_from = full + 3, ref_to = full + 8, tail_from = rounds - rounds / 10;
    if (ref_to >= tail_from) {
        fprintf(stderr, "fragment: too few rounds (%d) for %d blocks per round\n", rounds, per_round);
        return 2;
    }
    size_t ref_rss = 0, tail_rss = 0, peak_rss = 0;
    double worst_ratio = 0;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < per_round; i++) {
            size_t n = random_size(&rng);
            round[i].p = malloc(n);
            if (!round[i].p) {
                fprintf(stderr, "fragment: out of memory\n");
                return 2;
            }
            round[i].size = n;
            pattern_fill(round[i].p, n);
        }
        size_t high = rss_bytes();
        for (int i = 0; i < per_round; i++) {
            if (pattern_next_random(&rng) % SURVIVE_PER == 0) {
                block_t *slot = &ring[ring_next++ % RING];
                if (slot->p) {
                    live -= slot->size;
                    check_and_free(*slot, &bad);
                }
                *slot = round[i];
                live += round[i].size;
            } else {
                check_and_free(round[i], &bad);
            }
        }
        size_t rss = rss_bytes();
        double ratio = (double)rss / (double)live;
        if (high > peak_rss)
            peak_rss = high;
        if (r >= ref_from && r < ref_to && rss > ref_rss)
            ref_rss = rss;
        if (r >= tail_from && rss > tail_rss)
            tail_rss = rss;
        if (r >= ref_from && ratio > worst_ratio)
            worst_ratio = ratio;
        if (r % 10 == 0 || r == rounds - 1)
            printf("fragment: round %3d: RSS %6.1f MiB after the round's frees (%6.1f before), "
                   "live %6.1f MiB, RSS/live %.2f\n",
                   r, (double)rss / MiB, (double)high / MiB, (double)live / MiB, ratio);
    }
    for (size_t i = 0; i < RING; i++)
        if (ring[i].p)
            check_and_free(ring[i], &bad);
    free(ring);
    free(round);
    lg_heap_check();    /* aborts, naming the invariant, if one is broken */
    lg_collect();
    double growth = (double)tail_rss / (double)ref_rss;
    printf("fragment: %d rounds of %d blocks: RSS %.1f MiB at rounds %d-%d, %.1f MiB at most in the "
           "last %d; growth %.2f (limit %.2f); worst RSS/live %.2f (limit %.2f); peak %.1f MiB; "
           "%.1f MiB at start, %.1f MiB at the end after lg_collect; %ld damaged blocks\n",
           rounds, per_round, (double)ref_rss / MiB, ref_from, ref_to - 1, (double)tail_rss / MiB,
           rounds - tail_from, growth, GROWTH, worst_ratio, MAX_RATIO, (double)peak_rss / MiB,
           (double)start / MiB, (double)rss_bytes() / MiB, bad);
    int failed = 0;
    if (growth > GROWTH) {
        printf("fragment: FAIL: RSS grew by %.2f, over %.2f\n", growth, GROWTH);
        failed = 1;
    }
    if (worst_ratio > MAX_RATIO) {
        printf("fragment: FAIL: RSS/live reached %.2f, over %.2f\n", worst_ratio, MAX_RATIO);
        failed = 1;
    }
    if (bad) {
        printf("fragment: FAIL: %ld damaged blocks\n", bad);
        failed = 1;
    }
    return failed;
}
