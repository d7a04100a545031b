/* Process-wide statistics, counted on the slow paths only; per size class
 * and for the prediction, counted only with LGMALLOC_STATS set. */
#include "internal.h"
#include "route.h"

#include <stdlib.h>

lg_counters_t lg__counters;

void lg__count_add(_Atomic size_t *c, size_t n, _Atomic size_t *peak)
{
    size_t now = atomic_fetch_add_explicit(c, n, memory_order_relaxed) + n;
    if (!peak)
        return;
    size_t old = atomic_load_explicit(peak, memory_order_relaxed);
    while (old < now && !atomic_compare_exchange_weak_explicit(peak, &old, now,
                                                              memory_order_relaxed, memory_order_relaxed))
        ;
}

void lg__count_sub(_Atomic size_t *c, size_t n)
{
    atomic_fetch_sub_explicit(c, n, memory_order_relaxed);
}

void lg__count_commit(size_t bytes)
{
    lg__count_add(&lg__counters.committed, bytes, &lg__counters.committed_peak);
}

void lg__count_decommit(size_t bytes)
{
    lg__count_sub(&lg__counters.committed, bytes);
}

#define LOAD(x) atomic_load_explicit(&lg__counters.x, memory_order_relaxed)

void lg_stats_get(lg_stats_t *out)
{
    out->segments = LOAD(segments);
    out->segments_peak = LOAD(segments_peak);
    out->huge_blocks = LOAD(huge_blocks);
    out->huge_bytes = LOAD(huge_bytes);
    out->reserved_bytes = LOAD(reserved);
    out->committed_bytes = LOAD(committed);
    out->committed_peak = LOAD(committed_peak);
    out->purged_bytes = LOAD(purged);
    out->pages_in_use = LOAD(pages_in_use);
    out->threads_live = LOAD(threads_live);
    out->threads_seen = LOAD(threads_seen);
    out->segments_abandoned = LOAD(abandoned);
}

/* ---- per class, with LGMALLOC_STATS ---------------------------------------- */

bool lg__stats_on;

typedef struct class_counters_s {
    _Atomic size_t requests, requested, live, peak, held, held_peak;
} class_counters_t;
static class_counters_t per_class[LG_CLASSES];

void lg__stats_malloc(size_t cls, size_t size, uintptr_t ret)
{
    class_counters_t *c = &per_class[cls];
    atomic_fetch_add_explicit(&c->requests, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->requested, size, memory_order_relaxed);
    lg__count_add(&c->live, lg__class_size[cls], &c->peak);
    lg__route_observe(ret, size);
}

void lg__stats_free(const lg_page_t *page)
{
    lg__count_sub(&per_class[page->cls].live, page->block_size);
}

/* Bytes of pages a class holds: counted as pages come and go, all modes. */
void lg__stats_page(size_t cls, size_t bytes, bool added)
{
    if (added)
        lg__count_add(&per_class[cls].held, bytes, &per_class[cls].held_peak);
    else
        lg__count_sub(&per_class[cls].held, bytes);
}

#define CLOAD(c, x) atomic_load_explicit(&(c)->x, memory_order_relaxed)

size_t lg__stats_exact_requests(void)
{
    size_t n = 0;
    for (size_t cls = lg__class_std_count; cls < lg__class_count; cls++)
        n += CLOAD(&per_class[cls], requests);
    return n;
}

size_t lg_class_stats_get(lg_class_stats_t *out, size_t max)
{
    size_t n = 0;
    for (size_t cls = 0; cls < lg__class_count; cls++) {
        const class_counters_t *c = &per_class[cls];
        size_t requests = CLOAD(c, requests), requested = CLOAD(c, requested);
        if (requests == 0 && CLOAD(c, held_peak) == 0)
            continue;
        if (n < max) {
            size_t block = lg__class_size[cls];
            out[n] = (lg_class_stats_t){
                .block_size = block,
                .requests = requests,
                .requested_bytes = requested,
                .wasted_bytes = requests * block - requested,
                .live_bytes = CLOAD(c, live),
                .peak_bytes = CLOAD(c, peak),
                .held_bytes = CLOAD(c, held),
                .held_peak_bytes = CLOAD(c, held_peak),
                .exact = cls >= lg__class_std_count,
            };
        }
        n++;
    }
    return n;
}

int lg_stats_enabled(void)
{
    return lg__stats_on;
}

static double mib(size_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

static void print_classes(FILE *out)
{
    lg_class_stats_t cs[LG_CLASSES];
    size_t n = lg_class_stats_get(cs, LG_CLASSES);
    if (n == 0)
        return;
    fprintf(out, "lgmalloc: %10s %12s %12s %12s %12s %12s\n", "class", "requests",
            "live KiB", "peak KiB", "pages KiB", "wasted KiB");
    for (size_t i = 0; i < n; i++)
        fprintf(out, "lgmalloc: %9zu%s %12zu %12.1f %12.1f %12.1f %12.1f\n", cs[i].block_size,
                cs[i].exact ? "*" : " ", cs[i].requests, cs[i].live_bytes / 1024.0,
                cs[i].peak_bytes / 1024.0, cs[i].held_peak_bytes / 1024.0,
                cs[i].wasted_bytes / 1024.0);
    fputs("lgmalloc: (* exact-fit class made for a predicted size; pages: the most the class held;"
          " wasted: rounding, over all requests)\n", out);
}

static void print_prediction(FILE *out)
{
    lg_predict_stats_t p;
    lg_predict_stats_get(&p);
    if (p.sites == 0)
        return;
    fprintf(out, "lgmalloc: prediction: %zu call sites, %zu with a size; %zu exact-fit classes, "
            "%zu sites on the short path\n",
            p.sites, p.sites_sized, p.exact_classes, p.patched_sites);
    if (lg__stats_on)
        fprintf(out, "lgmalloc: prediction: %zu allocations from exact-fit classes; %zu of the "
                "size their call site predicts, %zu of another size (a wrong prediction)\n",
                p.exact_requests, p.hits, p.misses);
}

static void print_at_exit(void)
{
    lg_stats_print(stderr);
}

/* LGMALLOC_STATS=1: count per class, and print everything at exit. */
void lg__stats_init(void)
{
    const char *env = getenv("LGMALLOC_STATS");
    lg__stats_on = env && *env && *env != '0';
    if (lg__stats_on)
        atexit(print_at_exit);
}

void lg_stats_print(FILE *out)
{
    lg_stats_t s;
    lg_stats_get(&s);
    fprintf(out,
            "lgmalloc: segments %zu (peak %zu), pages in use %zu, huge blocks %zu (%.1f MiB)\n"
            "lgmalloc: reserved %.1f MiB, committed %.1f MiB (peak %.1f MiB), returned to the OS %.1f MiB\n"
            "lgmalloc: threads live %zu, seen %zu; abandoned segments %zu\n",
            s.segments, s.segments_peak, s.pages_in_use, s.huge_blocks, mib(s.huge_bytes),
            mib(s.reserved_bytes), mib(s.committed_bytes), mib(s.committed_peak), mib(s.purged_bytes),
            s.threads_live, s.threads_seen, s.segments_abandoned);
    print_classes(out);
    print_prediction(out);
}
