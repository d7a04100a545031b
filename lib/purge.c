/* Purging: when the free slices of segments, resident since they were
 * last used, go back to the OS (madvise).  A heap's free slices stay
 * resident while they are reused within its purge delay
 * (lg__options.purge_delay_ms): at each of its purge ticks, a delay
 * apart and taken on its slow paths, those already free at the last tick
 * are purged (all of them when none was freed within the delay).  A
 * program whose working set swings by a few MiB every few milliseconds (a
 * queue that fills and drains) otherwise faults in the same pages at
 * every swing; see docs/decisions.md#purge-delay.  Beyond LG_DIRTY_MAX
 * free resident slices a heap purges them all at once: the bound on what
 * a thread that stops allocating keeps; the free slices of segments it
 * adopted are not counted there, they only age.  With a delay of 0 it
 * purges them whenever LG_PURGE_BATCH are free.
 *
 * Segments no heap owns (cached or abandoned) keep some of theirs too,
 * under a budget of their own (below). */
#include "internal.h"

#define LG_DIRTY_MAX 128     /* 8 MiB */
#define LG_PURGE_BATCH 4     /* 256 KiB: fewer calls to the OS */
#define LG_UNOWNED_SLICES 16 /* free slices kept resident in segments no heap owns (1 MiB) */
#define LG_UNOWNED_MAX 384   /* and up to this (24 MiB) for UNOWNED_DELAY_MS */

/* Resident free slices of the segments no heap owns (cached or abandoned),
 * under lg__lock: up to LG_UNOWNED_SLICES of them are kept, so a thread that
 * starts as another exits finds its pages resident.  Up to LG_UNOWNED_MAX
 * are kept for ten purge delays after they left their heap, also in the
 * heap that adopts their segment meanwhile, then purged at the next purge
 * tick of any heap: threads that hand their blocks to the next generation
 * leave it megabytes at every exit, and purging them sooner made the next
 * one fault them in again; see docs/decisions.md#unowned-slices.
 * unowned_purge_due: when that purge is due, 0 if none is. */
static unsigned unowned_dirty;
static _Atomic(uint64_t) unowned_purge_due;
#define UNOWNED_DELAY_MS (10 * lg__options.purge_delay_ms)

/* Purges the free resident slices of seg in mask. */
static void purge_slices(lg_segment_t *seg, uint64_t mask)
{
    lg_assert((mask & ~seg->dirty_mask) == 0);
    seg->dirty_mask &= ~mask;
    seg->aged_mask &= ~mask;
    while (mask) {
        unsigned first = (unsigned)__builtin_ctzll(mask);
        uint64_t run = mask >> first;
        unsigned len = run == ~(uint64_t)0 ? 64 - first : (unsigned)__builtin_ctzll(~run);
        lg__os_purge((uint8_t *)seg + ((size_t)first << LG_SLICE_SHIFT), (size_t)len << LG_SLICE_SHIFT);
        lg__count_decommit((size_t)len << LG_SLICE_SHIFT);
        mask &= ~(len == 64 ? ~(uint64_t)0 : (((uint64_t)1 << len) - 1) << first);
    }
}

void lg__purge_segment(lg_segment_t *seg)
{
    purge_slices(seg, seg->dirty_mask);
}

/* ---- a heap's free slices ------------------------------------------------ */

void lg__purge_add_dirty(lg_heap_t *heap, unsigned n)
{
    if (n == 0)
        return;
    heap->dirty_slices += n;
    if (heap->purge_delay_ms == 0)
        return;
    heap->dirtied_ms = lg__os_now_ms();
    if (heap->purge_due == 0)
        heap->purge_due = heap->dirtied_ms + heap->purge_delay_ms;
}

/* LG_DIRTY_MAX bounds what the heap's own frees leave; the free slices an
 * adopted segment brings only age: a thread that needs pages adopts an
 * exited thread's segments to reuse their memory, and purging all of it
 * then made the threads that followed fault it in again; see
 * docs/decisions.md#unowned-slices. */
void lg__purge_add_adopted(lg_heap_t *heap, unsigned n)
{
    lg__purge_add_dirty(heap, n);
    heap->adopted_slices += n;
}

/* Purges the heap's free slices, all of them or those aged over a tick
 * (the others age now), and releases its segments left empty and purged.
 * At a tick (now > 0), a segment adopted within UNOWNED_DELAY_MS of
 * leaving its heap keeps its slices until then.
 * Out of line: the purge tick, taken every LG_HEARTBEAT frees, stays as
 * short as it is. */
static lg_noinline void heap_purge(lg_heap_t *heap, bool all, uint64_t now)
{
    lg_segment_t *seg = heap->segments, *next;
    for (; seg; seg = next) {
        next = seg->next;
        if (now != 0 && now < seg->left_ms + UNOWNED_DELAY_MS)
            continue;
        uint64_t purge = all ? seg->dirty_mask : seg->aged_mask;
        lg_assert(heap->dirty_slices >= lg__popcount(purge));
        heap->dirty_slices -= lg__popcount(purge);
        purge_slices(seg, purge);
        seg->aged_mask = seg->dirty_mask;
        if (seg->pages_used == 0 && seg->dirty_mask == 0) {
            lg__heap_segment_unlink(heap, seg);
            lg__segment_release(seg);
        }
    }
    if (heap->adopted_slices > heap->dirty_slices)
        heap->adopted_slices = heap->dirty_slices;
    heap->purge_due = heap->dirty_slices ? now + heap->purge_delay_ms : 0;
}

void lg__purge_heap(lg_heap_t *heap)
{
    heap_purge(heap, true, 0);
}

void lg__purge_freed(lg_heap_t *heap)
{
    if (heap->dirty_slices > LG_DIRTY_MAX + heap->adopted_slices
        || (heap->purge_delay_ms == 0 && heap->dirty_slices >= LG_PURGE_BATCH))
        lg__purge_heap(heap);
    else
        lg__purge_tick(heap);
}

unsigned lg__purge_set_delay(lg_heap_t *heap, unsigned ms)
{
    unsigned old = heap->purge_delay_ms;
    heap->purge_delay_ms = ms;
    heap->purge_due = ms && heap->dirty_slices ? lg__os_now_ms() + ms : 0;
    return old;
}

/* ---- the free slices of segments no heap owns -------------------------- */

void lg__unowned_keep_or_purge(lg_segment_t *seg, unsigned counted)
{
    unsigned dirty = lg__dirty_slices(seg);
    unsigned max = lg__options.purge_delay_ms ? LG_UNOWNED_MAX : LG_UNOWNED_SLICES;
    uint64_t now = dirty > counted ? lg__os_now_ms() : 0;
    lg__lock();
    lg_assert(unowned_dirty >= counted);
    unowned_dirty -= counted;
    bool warm = unowned_dirty + dirty <= max;
    if (warm) {
        unowned_dirty += dirty;
        if (dirty > counted)
            seg->left_ms = now;
        if (unowned_dirty > LG_UNOWNED_SLICES
            && atomic_load_explicit(&unowned_purge_due, memory_order_relaxed) == 0)
            atomic_store_explicit(&unowned_purge_due, now + UNOWNED_DELAY_MS, memory_order_relaxed);
    }
    lg__unlock();
    if (!warm)
        lg__purge_segment(seg);
}

void lg__unowned_forget(unsigned slices)
{
    lg_assert(unowned_dirty >= slices);
    unowned_dirty -= slices;
}

unsigned lg__unowned_dirty(void)
{
    return unowned_dirty;
}

/* Purges, under lg__lock, the resident free slices of seg if it left its
 * heap a purge delay ago; otherwise moves *next to when it will have. */
static void unowned_purge_aged(lg_segment_t *seg, uint64_t now, uint64_t *next)
{
    if (seg->dirty_mask == 0 || unowned_dirty <= LG_UNOWNED_SLICES)
        return;
    uint64_t due = seg->left_ms + UNOWNED_DELAY_MS;
    if (now >= due) {
        unowned_dirty -= lg__dirty_slices(seg);
        lg__purge_segment(seg);
    } else if (*next == 0 || due < *next) {
        *next = due;
    }
}

/* The resident free slices of segments no heap owns, beyond
 * LG_UNOWNED_SLICES, once they stayed so a purge delay: oldest first (the
 * cache from its bottom, then the abandoned list from its tail). */
static void unowned_age(uint64_t now)
{
    uint64_t due = atomic_load_explicit(&unowned_purge_due, memory_order_relaxed);
    if (due == 0 || now < due)
        return;
    lg__lock();
    uint64_t next = 0;
    for (unsigned i = 0; i < lg__segcache_count; i++)
        unowned_purge_aged(lg__segcache[i], now, &next);
    lg_segment_t *seg = lg__abandoned;
    while (seg && seg->next)
        seg = seg->next;
    for (; seg; seg = seg->prev)
        unowned_purge_aged(seg, now, &next);
    if (unowned_dirty <= LG_UNOWNED_SLICES)
        next = 0;
    else if (next == 0)
        next = now + UNOWNED_DELAY_MS;
    atomic_store_explicit(&unowned_purge_due, next, memory_order_relaxed);
    lg__unlock();
}

/* ---- the purge tick ------------------------------------------------------ */

/* On the heap's slow paths that make or retire a page, and every
 * LG_HEARTBEAT frees into a current page (see
 * docs/decisions.md#heartbeat).  Huge mappings cached for reuse age here
 * too, so that a program that stops freeing huge blocks does not keep
 * them. */
void lg__purge_tick(lg_heap_t *heap)
{
    uint64_t now = lg__os_now_ms();
    lg__huge_cache_age(now);
    unowned_age(now);
    lg__segment_service();
    if (heap->purge_due != 0 && now >= heap->purge_due)
        heap_purge(heap, now >= heap->dirtied_ms + heap->purge_delay_ms, now);
}
