/* limited-service: a service that lives within a fixed memory limit.
 *
 * The shape of an embedded or containerised service: it caps the memory
 * lgmalloc may take from the OS with lg_set_limit(), then runs a cache that
 * keeps every value it is asked for until an allocation fails.  A failed
 * malloc or realloc returns NULL with errno ENOMEM, and the service answers
 * it by evicting its oldest entries and trying again: it never stops.
 * Values have the sizes of real caches (mostly small, some of tens of KiB,
 * a few of MiB: those lgmalloc maps on their own), are filled with a
 * pattern and checked whenever they are read or evicted, and some grow with
 * realloc (a realloc that fails must leave the old value intact).
 *
 * Exits non-zero if the limit was not respected (lgmalloc's peak of
 * committed memory above it, beyond a little slack), if an allocation
 * failed without ENOMEM, if the limit was never reached, if a value was
 * damaged, or if memory could not be had again once the limit was lifted.
 *
 * Usage: limited-service [limit-MiB [operations]]   (default 32 1000000) */
#define _GNU_SOURCE
#include <lgmalloc.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB        ((size_t)1 << 20)
#define KEYS       65536         /* distinct keys the clients ask for */
#define SLACK      (2 * MIB)     /* what committed memory may pass the limit by */

typedef struct entry_s {
    uint32_t key;
    uint32_t version;            /* bumped when the value grows */
    size_t   size;
    unsigned char *value;
    struct entry_s *older, *newer;
} entry_t;

/* The cache: a table by key and a list from oldest to newest. */
static entry_t *table[KEYS];
static entry_t *oldest, *newest;
static size_t   entries, cached_bytes, cached_peak;

static struct {
    size_t gets, hits, stores, grows;
    size_t enomem, other_errno, evictions, stored_after_failure;
    size_t damaged, gave_up;
} seen;

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Mostly small values, some medium, a few large. */
static size_t value_size(void)
{
    uint64_t r = rng();
    switch (r % 1000) {
    case 0: case 1:
        return MIB + (r >> 10) % (3 * MIB);                /* 1-4 MiB: mapped on its own */
    case 2: case 3: case 4: case 5: case 6: case 7: case 8: case 9:
    case 10: case 11: case 12: case 13: case 14: case 15: case 16: case 17:
        return 16384 + (r >> 10) % 200000;                 /* 16-216 KiB */
    default:
        return 16 + (r >> 10) % 2000;                      /* up to 2 KiB */
    }
}

static unsigned char pattern(const entry_t *e, size_t i)
{
    return (unsigned char)(e->key * 31u + e->version * 7u + i);
}

/* Values are checked at the positions fill() writes a pattern to: every
 * byte of small ones, a sample of large ones (whose other bytes are written
 * too, as a real value's would be). */
static size_t step_of(const entry_t *e)
{
    return e->size > 4096 ? e->size / 64 : 1;
}

static void fill(entry_t *e)
{
    size_t step = step_of(e);
    if (step > 1)
        memset(e->value, 0xa5, e->size);
    for (size_t i = 0; i < e->size; i += step)
        e->value[i] = pattern(e, i);
    e->value[e->size - 1] = pattern(e, e->size - 1);
}

static bool intact(const entry_t *e)
{
    size_t step = step_of(e);
    for (size_t i = 0; i < e->size; i += step)
        if (e->value[i] != pattern(e, i))
            return false;
    return e->value[e->size - 1] == pattern(e, e->size - 1);
}

static void unlink_entry(entry_t *e)
{
    if (e->older) e->older->newer = e->newer; else oldest = e->newer;
    if (e->newer) e->newer->older = e->older; else newest = e->older;
    e->older = e->newer = NULL;
}

static void push_newest(entry_t *e)
{
    e->older = newest;
    e->newer = NULL;
    if (newest) newest->newer = e; else oldest = e;
    newest = e;
}

static void drop(entry_t *e)
{
    if (!intact(e))
        seen.damaged++;
    unlink_entry(e);
    table[e->key] = NULL;
    cached_bytes -= e->size;
    entries--;
    free(e->value);
    free(e);
}

/* Frees the oldest quarter of the cache (at least one entry); false when
 * there is nothing left to evict. */
static bool evict(void)
{
    if (oldest == NULL)
        return false;
    size_t n = entries / 4 > 0 ? entries / 4 : 1;
    while (n-- > 0 && oldest != NULL) {
        drop(oldest);
        seen.evictions++;
    }
    return true;
}

/* A failed allocation must say why: ENOMEM. */
static void failed(void)
{
    if (errno == ENOMEM)
        seen.enomem++;
    else
        seen.other_errno++;
}

/* Allocates with malloc, evicting until it succeeds. */
static void *alloc_evicting(size_t size)
{
    for (;;) {
        errno = 0;
        void *p = malloc(size);
        if (p != NULL)
            return p;
        failed();
        if (!evict())
            return NULL;
    }
}

static void store(uint32_t key)
{
    size_t size = value_size();
    entry_t *e = alloc_evicting(sizeof *e);
    unsigned char *value = e ? alloc_evicting(size) : NULL;
    if (value == NULL) {
        free(e);
        seen.gave_up++;          /* even an empty cache cannot hold it */
        return;
    }
    *e = (entry_t){ .key = key, .size = size, .value = value };
    fill(e);
    table[key] = e;
    push_newest(e);
    entries++;
    cached_bytes += size;
    if (cached_bytes > cached_peak)
        cached_peak = cached_bytes;
    seen.stores++;
    if (seen.enomem > 0)
        seen.stored_after_failure++;
}

/* Doubles a value in place of a small append; a failed realloc leaves the
 * old value as it was. */
static void grow(entry_t *e)
{
    size_t size = e->size * 2;
    for (;;) {
        errno = 0;
        unsigned char *value = realloc(e->value, size);
        if (value != NULL) {
            e->value = value;
            cached_bytes += size - e->size;
            e->size = size;
            e->version++;
            fill(e);
            seen.grows++;
            return;
        }
        failed();
        if (!intact(e))
            seen.damaged++;
        /* Evict others, not this one: take it out of the list meanwhile. */
        unlink_entry(e);
        bool more = evict();
        push_newest(e);
        if (!more)
            return;
    }
}

int main(int argc, char **argv)
{
    size_t limit_mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 32;
    size_t operations = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
    if (limit_mib < 16 || operations < 1) {
        fprintf(stderr, "usage: limited-service [limit-MiB (16 or more) [operations]]\n");
        return EXIT_FAILURE;
    }
    size_t limit = limit_mib * MIB;

    lg_set_limit(limit);
    if (lg_get_limit() != limit) {
        fprintf(stderr, "limited-service: lg_get_limit() is %zu after lg_set_limit(%zu)\n",
                lg_get_limit(), limit);
        return EXIT_FAILURE;
    }

    for (size_t op = 0; op < operations; op++) {
        /* Clients ask for recent keys more often than old ones. */
        uint32_t range = rng() % 4 == 0 ? KEYS : KEYS / 8;
        uint32_t key = (uint32_t)(rng() % range);
        entry_t *e = table[key];
        seen.gets++;
        if (e == NULL) {
            store(key);
            continue;
        }
        seen.hits++;
        if (!intact(e))
            seen.damaged++;
        unlink_entry(e);
        push_newest(e);
        if (rng() % 16 == 0 && e->size < MIB)
            grow(e);
        /* If the cap does nothing the cache would take all the machine
         * has: stop well before. */
        if (cached_bytes > 4 * limit)
            break;
    }

    lg_stats_t stats;
    lg_stats_get(&stats);
    printf("limited-service: limit %zu MiB, %zu gets, %zu hits, %zu stores, %zu grown\n",
           limit_mib, seen.gets, seen.hits, seen.stores, seen.grows);
    printf("  allocations refused with ENOMEM: %zu (without ENOMEM: %zu); entries evicted: %zu\n",
           seen.enomem, seen.other_errno, seen.evictions);
    printf("  values stored after the first refusal: %zu; values that fit in no cache: %zu\n",
           seen.stored_after_failure, seen.gave_up);
    printf("  cache now %zu entries, %.1f MiB; at most %.1f MiB\n", entries,
           (double)cached_bytes / MIB, (double)cached_peak / MIB);
    printf("  lgmalloc committed now %.1f MiB, at most %.1f MiB (limit %zu MiB)\n\n",
           (double)stats.committed_bytes / MIB, (double)stats.committed_peak / MIB, limit_mib);
    fflush(stdout);
    lg_stats_print(stdout);

    bool ok = true;
    if (stats.committed_peak > limit + SLACK) {
        fprintf(stderr, "limited-service: committed memory reached %zu bytes, above the limit "
                "%zu (+%zu slack)\n", stats.committed_peak, limit, SLACK);
        ok = false;
    }
    if (seen.other_errno > 0) {
        fprintf(stderr, "limited-service: %zu allocations failed without ENOMEM\n",
                seen.other_errno);
        ok = false;
    }
    if (seen.enomem == 0) {
        fprintf(stderr, "limited-service: the limit was never reached (the cache held %.1f MiB)\n",
                (double)cached_peak / MIB);
        ok = false;
    }
    if (seen.enomem > 0 && seen.stored_after_failure == 0) {
        fprintf(stderr, "limited-service: nothing could be stored after the first refusal\n");
        ok = false;
    }
    if (seen.damaged > 0 || seen.gave_up > 0) {
        fprintf(stderr, "limited-service: %zu values damaged, %zu fit in no cache\n",
                seen.damaged, seen.gave_up);
        ok = false;
    }

    /* Lifted, the limit holds nothing back: twice its size fits now. */
    lg_set_limit(0);
    errno = 0;
    unsigned char *big = malloc(2 * limit);
    if (big == NULL) {
        fprintf(stderr, "limited-service: malloc(%zu) failed with the limit lifted\n", 2 * limit);
        ok = false;
    } else {
        memset(big, 1, 2 * limit);
        free(big);
    }

    while (oldest != NULL)
        drop(oldest);
    if (seen.damaged > 0) {
        fprintf(stderr, "limited-service: values damaged\n");
        ok = false;
    }
    if (!ok)
        fprintf(stderr, "limited-service: FAILED\n");
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
