/* Process-wide statistics, counted on the slow paths only. */
#include "internal.h"

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

static double mib(size_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

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
}
