/* Where an empty segment goes: a small cache of segments kept mapped for
 * the next heap that needs one, or back to the OS. */
#include "internal.h"

#include <string.h>

lg_segment_t *lg__segcache[LG_SEGMENT_CACHE];
unsigned lg__segcache_count;

static void segment_unmap(lg_segment_t *seg)
{
    lg__os_segment_unmap(seg);
    lg__count_decommit(LG_SLICE_SIZE);
}

/* The most recently cached segment; with warm_slices > 0, the most recent
 * one with a resident run of that many free slices.  NULL if none. */
lg_segment_t *lg__segcache_take(unsigned warm_slices)
{
    lg_segment_t *seg = NULL;
    lg__lock();
    unsigned i = lg__segcache_count;
    while (i > 0 && warm_slices && !lg__segment_has_warm_span(lg__segcache[i - 1], warm_slices))
        i--;
    if (i > 0) {
        seg = lg__segcache[i - 1];
        for (; i < lg__segcache_count; i++)   /* the rest keep their order, oldest first */
            lg__segcache[i - 1] = lg__segcache[i];
        lg__segcache_count--;
        lg__unowned_forget(lg__dirty_slices(seg));
    }
    lg__unlock();
    return seg;
}

void lg__segment_release(lg_segment_t *seg)
{
    lg_assert(seg->pages_used == 0);
    lg__map_set(seg, LG_SEGMENT_SIZE, LG_UNIT_NONE);
    lg__count_sub(&lg__counters.segments, 1);
    lg__unowned_keep_or_purge(seg, 0);
    lg__lock();
    bool keep = lg__segcache_count < LG_SEGMENT_CACHE;
    if (keep)
        lg__segcache[lg__segcache_count++] = seg;
    else
        lg__unowned_forget(lg__dirty_slices(seg));
    lg__unlock();
    if (!keep) {
        lg__purge_segment(seg);
        segment_unmap(seg);
    }
}

void lg__segcache_clear(void)
{
    lg__lock();
    unsigned n = lg__segcache_count;
    lg_segment_t *drop[LG_SEGMENT_CACHE];
    memcpy(drop, lg__segcache, sizeof drop);
    lg__segcache_count = 0;
    for (unsigned i = 0; i < n; i++)
        lg__unowned_forget(lg__dirty_slices(drop[i]));
    lg__unlock();
    for (unsigned i = 0; i < n; i++) {
        lg__purge_segment(drop[i]);
        segment_unmap(drop[i]);
    }
}
