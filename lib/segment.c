/* Segments: 4 MiB of address space divided into 64 KiB slices, the spans
 * of slices that pages occupy, purging free slices, and the hand-over of
 * segments from exited threads to live ones. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* A heap's free slices stay resident while they are reused within its
 * purge delay (LG_PURGE_DELAY_MS unless set otherwise): at each of its
 * purge ticks, a delay apart and taken on its slow paths, those already
 * free at the last tick are purged (all of them when none was freed
 * within the delay).  A program whose working set swings by a few MiB
 * every few milliseconds (a queue that fills and drains) otherwise faults
 * in the same pages at every swing: xmalloc with 2 pairs took up to
 * 220,000 faults purging at 256 KiB, where mimalloc takes 2,700.  Beyond
 * LG_DIRTY_MAX free resident slices a heap purges them all at once: the
 * bound on what a thread that stops allocating keeps.  With a delay of 0
 * it purges them whenever LG_PURGE_BATCH are free. */
#define LG_PURGE_DELAY_MS 10
#define LG_DIRTY_MAX 128     /* 8 MiB */
#define LG_PURGE_BATCH 4     /* 256 KiB: fewer calls to the OS */
#define LG_UNOWNED_SLICES 16 /* free slices kept resident in segments no heap owns (1 MiB) */
#define LG_UNOWNED_MAX LG_DIRTY_MAX /* and up to this for UNOWNED_DELAY_MS */
#define LG_SEGMENT_CACHE 4   /* empty segments kept mapped for reuse */
/* Slice 0 is the header.  Secure builds keep the last slice inaccessible,
 * and the last OS page of the header's: guards around the pages. */
#define LG_ALL_SLICES (~(uint64_t)1 & (LG_SECURE ? ~((uint64_t)1 << 63) : ~(uint64_t)0))

unsigned lg__purge_delay_ms = LG_PURGE_DELAY_MS; /* a new heap's; LGMALLOC_PURGE_DELAY */

void lg__purge_init(void)
{
    const char *env = getenv("LGMALLOC_PURGE_DELAY");
    char *end;
    if (!env || !*env)
        return;
    errno = 0;
    unsigned long ms = strtoul(env, &end, 10);
    if (*end == '\0' && !errno && ms <= 60000 && env[0] != '-')
        lg__purge_delay_ms = (unsigned)ms;
    else
        fprintf(stderr, "lgmalloc: LGMALLOC_PURGE_DELAY=%s is not a number of milliseconds "
                        "(0 to 60000): the delay stays %u ms\n", env, lg__purge_delay_ms);
}

static lg_segment_t *abandoned;          /* under lg__lock */
static lg_segment_t *cache[LG_SEGMENT_CACHE];
static unsigned cached;                  /* under lg__lock */
/* Resident free slices of the segments no heap owns (cached or abandoned),
 * under lg__lock: up to LG_UNOWNED_SLICES of them are kept, so a thread that
 * starts as another exits finds its pages resident (docs/design.md,
 * "Returning memory", has what purging at every exit cost).  Up to
 * LG_UNOWNED_MAX are kept for as long as a heap keeps its own (two purge
 * delays), then purged at the next purge tick of any heap: threads that
 * hand their blocks to the next generation leave it megabytes at every
 * exit, and purging them at once made the next one fault them in again.
 * unowned_purge_due: when that purge is due, 0 if none is. */
static unsigned unowned_dirty;
static _Atomic(uint64_t) unowned_purge_due;
#define UNOWNED_DELAY_MS (2 * lg__purge_delay_ms)
static void unowned_age(uint64_t now);

/* ---- the heap's list of segments -------------------------------------- */

static void heap_link(lg_heap_t *heap, lg_segment_t *seg)
{
    seg->prev = NULL;
    seg->next = heap->segments;
    if (heap->segments)
        heap->segments->prev = seg;
    heap->segments = seg;
}

static void heap_unlink(lg_heap_t *heap, lg_segment_t *seg)
{
    if (seg->prev)
        seg->prev->next = seg->next;
    else
        heap->segments = seg->next;
    if (seg->next)
        seg->next->prev = seg->prev;
    seg->next = seg->prev = NULL;
}

static void take_ownership(lg_heap_t *heap, lg_segment_t *seg)
{
    seg->owner = heap->owner;
    atomic_store_explicit(&seg->heap, heap, memory_order_release);
    heap_link(heap, seg);
}

/* ---- purging ---------------------------------------------------------- */

static unsigned dirty_count(const lg_segment_t *seg)
{
    return lg__popcount(seg->dirty_mask);
}

/* Purges the free resident slices of seg in mask. */
static void purge_slices(lg_segment_t *seg, uint64_t mask)
{
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

static void purge_segment(lg_segment_t *seg)
{
    purge_slices(seg, seg->dirty_mask);
}

/* Counts n more free resident slices in the heap and starts its purge
 * ticks if they were stopped. */
static void heap_add_dirty(lg_heap_t *heap, unsigned n)
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

/* Purges the heap's free slices, all of them or those aged over a tick
 * (the others age now), and releases its segments left empty and purged. */
static void heap_purge(lg_heap_t *heap, bool all, uint64_t now)
{
    lg_segment_t *seg = heap->segments, *next;
    for (; seg; seg = next) {
        next = seg->next;
        uint64_t purge = all ? seg->dirty_mask : seg->aged_mask;
        heap->dirty_slices -= lg__popcount(purge);
        purge_slices(seg, purge);
        seg->aged_mask = seg->dirty_mask;
        if (seg->pages_used == 0 && seg->dirty_mask == 0) {
            heap_unlink(heap, seg);
            lg__segment_release(seg);
        }
    }
    heap->purge_due = heap->dirty_slices ? now + heap->purge_delay_ms : 0;
}

void lg__segment_purge(lg_heap_t *heap)
{
    heap_purge(heap, true, 0);
}

unsigned lg__segment_set_purge_delay(lg_heap_t *heap, unsigned ms)
{
    unsigned old = heap->purge_delay_ms;
    heap->purge_delay_ms = ms;
    heap->purge_due = ms && heap->dirty_slices ? lg__os_now_ms() + ms : 0;
    return old;
}

/* The heap's purge tick, if one is due: on its slow paths that make or
 * retire a page, and every LG_HEARTBEAT frees into a current page.  Huge
 * mappings cached for reuse age here too, so that a program that stops
 * freeing huge blocks does not keep them. */
void lg__segment_tick(lg_heap_t *heap)
{
    uint64_t now = lg__os_now_ms();
    lg__huge_cache_age(now);
    unowned_age(now);
    lg__segment_service();
    if (heap->purge_due != 0 && now >= heap->purge_due)
        heap_purge(heap, now >= heap->dirtied_ms + heap->purge_delay_ms, now);
}

/* ---- mapping and releasing ---------------------------------------------- */

static void guard_segment(lg_segment_t *seg)
{
#if LG_SECURE
    size_t page = lg__os_page_size();
    _Static_assert(sizeof(lg_segment_t) <= LG_SLICE_SIZE - 4096, "the header's guard page");
    mprotect((uint8_t *)seg + LG_SLICE_SIZE - page, page, PROT_NONE);
    mprotect((uint8_t *)seg + LG_SEGMENT_SIZE - LG_SLICE_SIZE, LG_SLICE_SIZE, PROT_NONE);
#else
    (void)seg;
#endif
}

static lg_segment_t *segment_new(lg_heap_t *heap)
{
    lg_segment_t *seg = NULL;
    uint64_t dirty = 0;
    lg__lock();
    if (cached) {
        seg = cache[--cached];
        dirty = seg->dirty_mask;
        unowned_dirty -= dirty_count(seg);
    }
    lg__unlock();
    if (!seg) {
        if (!lg__limit_allows(heap, LG_SLICE_SIZE))
            return NULL;
        seg = lg__os_segment_map();
        if (!seg)
            return NULL;
        lg__count_commit(LG_SLICE_SIZE); /* the header; a cached one still has it */
        guard_segment(seg);
    }
    memset(seg, 0, offsetof(lg_segment_t, pages));
    seg->free_mask = LG_ALL_SLICES;
    seg->dirty_mask = dirty;
    heap_add_dirty(heap, dirty_count(seg));
    for (unsigned i = 0; i < LG_SLICES; i++)
        lg__slice_set(seg, i, &lg__window.invalid);
    take_ownership(heap, seg);
    lg__segment_map_set(seg, true);
    lg__count_add(&lg__counters.segments, 1, &lg__counters.segments_peak);
    return seg;
}

static void segment_unmap(lg_segment_t *seg)
{
    lg__os_segment_unmap(seg);
    lg__count_decommit(LG_SLICE_SIZE);
}

/* A segment that no heap owns keeps its resident free slices if the
 * budget of unowned_dirty allows, or is purged.  `counted`: how many of
 * them unowned_dirty counts already (none for one leaving its heap). */
static void unowned_warm_or_purged(lg_segment_t *seg, unsigned counted)
{
    unsigned dirty = dirty_count(seg);
    unsigned max = lg__purge_delay_ms ? LG_UNOWNED_MAX : LG_UNOWNED_SLICES;
    uint64_t now = dirty > counted ? lg__os_now_ms() : 0;
    lg__lock();
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
        purge_segment(seg);
}

static void leave_heap_warm_or_purged(lg_segment_t *seg)
{
    unowned_warm_or_purged(seg, 0);
}

/* Purges, under lg__lock, the resident free slices of seg if it left its
 * heap a purge delay ago; otherwise moves *next to when it will have. */
static void unowned_purge_aged(lg_segment_t *seg, uint64_t now, uint64_t *next)
{
    if (seg->dirty_mask == 0 || unowned_dirty <= LG_UNOWNED_SLICES)
        return;
    uint64_t due = seg->left_ms + UNOWNED_DELAY_MS;
    if (now >= due) {
        unowned_dirty -= dirty_count(seg);
        purge_segment(seg);
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
    for (unsigned i = 0; i < cached; i++)
        unowned_purge_aged(cache[i], now, &next);
    lg_segment_t *seg = abandoned;
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

/* An empty segment goes to the cache, or back to the OS. */
void lg__segment_release(lg_segment_t *seg)
{
    lg__segment_map_set(seg, false);
    lg__count_sub(&lg__counters.segments, 1);
    leave_heap_warm_or_purged(seg);
    lg__lock();
    bool keep = cached < LG_SEGMENT_CACHE;
    if (keep)
        cache[cached++] = seg;
    else
        unowned_dirty -= dirty_count(seg);
    lg__unlock();
    if (!keep) {
        purge_segment(seg);
        segment_unmap(seg);
    }
}

void lg__segment_cache_clear(void)
{
    lg__lock();
    unsigned n = cached;
    lg_segment_t *drop[LG_SEGMENT_CACHE];
    memcpy(drop, cache, sizeof drop);
    cached = 0;
    for (unsigned i = 0; i < n; i++)
        unowned_dirty -= dirty_count(drop[i]);
    lg__unlock();
    for (unsigned i = 0; i < n; i++) {
        purge_segment(drop[i]);
        segment_unmap(drop[i]);
    }
}

/* ---- spans of slices ---------------------------------------------------- */

/* Start of a run of k free slices, preferring resident (dirty) ones so a
 * reused page costs no page faults; -1 if there is none.  *warm: whether
 * the run is resident. */
static int find_span(const lg_segment_t *seg, unsigned k, bool *warm)
{
    uint64_t starts = seg->free_mask, resident = seg->dirty_mask;
    for (unsigned i = 1; i < k && starts; i++) {
        starts &= seg->free_mask >> i;
        resident &= seg->dirty_mask >> i;
    }
    resident &= starts;
    *warm = resident != 0;
    return starts ? __builtin_ctzll(resident ? resident : starts) : -1;
}

static lg_page_t *page_init(lg_heap_t *heap, lg_segment_t *seg, unsigned first, size_t cls)
{
    unsigned k = lg__class_slices[cls];
    uint64_t span = (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << first;
    lg_page_t *page = &seg->pages[first];
    size_t block = lg__class_size[cls];
    size_t capacity = ((size_t)k << LG_SLICE_SHIFT) / block;
    /* valgrind: a page that ends where the next begins would hold, in end
     * and bump, a pointer to the next page's first block, and memcheck
     * would call that block reachable however it leaked */
    if (LG_VALGRIND && capacity * block == (size_t)k << LG_SLICE_SHIFT)
        capacity--;
    unsigned warm = lg__popcount(seg->dirty_mask & span);

    /* resident free slices were counted as committed already */
    heap->dirty_slices -= warm;
    lg__count_commit((size_t)(k - warm) << LG_SLICE_SHIFT);
    seg->free_mask &= ~span;
    seg->dirty_mask &= ~span;
    seg->aged_mask &= ~span;
    seg->used_by_owner = true;
    seg->pages_used++;
    memset(page, 0, sizeof *page);
    page->block_size = block;
    page->capacity = (uint32_t)capacity;
    page->cls = (uint8_t)cls;
    page->slices = (uint8_t)k;
    page->first_slice = (uint8_t)first;
    page->bump = lg__page_start(seg, page);
    page->end = page->bump + capacity * block;
    page->list_key = lg__random();
    page->div_mul = UINT64_MAX / block + 1;
    page->div_base = (uintptr_t)page->bump * page->div_mul;
    page->div_limit = page->div_mul;
    page->owner = seg->owner;
    for (unsigned i = first; i < first + k; i++)
        lg__slice_set(seg, i, page);
    lg__count_add(&lg__counters.pages_in_use, 1, NULL);
    lg__count_add(&lg__counters.page_bytes, (size_t)k << LG_SLICE_SHIFT, NULL);
    lg__stats_page(cls, (size_t)k << LG_SLICE_SHIFT, true);
    return page;
}

lg_page_t *lg__segment_page_alloc(lg_heap_t *heap, size_t cls)
{
    lg__segment_tick(heap);
    heap->paged_ms = lg__os_now_ms();
    unsigned k = lg__class_slices[cls];
    if (!lg__limit_allows(heap, (size_t)k << LG_SLICE_SHIFT))
        return NULL;
    /* a resident run in any segment first: taking the first segment's
     * fresh slices while another's lay resident and free made a program
     * that fills and frees 4 MiB over and over hold 8 */
    do {
        lg_segment_t *cold = NULL;
        int cold_first = -1;
        for (lg_segment_t *seg = heap->segments; seg; seg = seg->next) {
            bool warm;
            int first = find_span(seg, k, &warm);
            if (first >= 0 && warm)
                return page_init(heap, seg, (unsigned)first, cls);
            if (first >= 0 && !cold) {
                cold = seg;
                cold_first = first;
            }
        }
        if (cold)
            return page_init(heap, cold, (unsigned)cold_first, cls);
    } while (lg__segment_adopt_one(heap));
    lg_segment_t *seg = segment_new(heap);
    return seg ? page_init(heap, seg, 1, cls) : NULL;
}

/* Gives the slices of a page with no block in use back to its segment;
 * returns how many of them are dirty (touched, so resident). */
static unsigned page_slices_free(lg_segment_t *seg, lg_page_t *page)
{
    unsigned k = page->slices, first = page->first_slice;
    uint64_t span = (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << first;
    for (unsigned i = first; i < first + k; i++)
        lg__slice_set(seg, i, &lg__window.invalid);
    /* only the part of the page ever handed out is resident */
    size_t touched = (size_t)(page->bump - lg__page_start(seg, page));
    unsigned dirty = (unsigned)((touched + LG_SLICE_SIZE - 1) >> LG_SLICE_SHIFT);
    seg->free_mask |= span;
    seg->dirty_mask |= dirty ? (((uint64_t)1 << dirty) - 1) << first : 0;
    lg__count_decommit((size_t)(k - dirty) << LG_SLICE_SHIFT);
    seg->pages_used--;
    lg__count_sub(&lg__counters.pages_in_use, 1);
    lg__count_sub(&lg__counters.page_bytes, (size_t)k << LG_SLICE_SHIFT);
    lg__stats_page(page->cls, (size_t)k << LG_SLICE_SHIFT, false);
    return dirty;
}

void lg__segment_page_free(lg_heap_t *heap, lg_page_t *page)
{
    lg_segment_t *seg = lg__segment_of(page);
    heap_add_dirty(heap, page_slices_free(seg, page));
    if (heap->exiting)
        return; /* lg__segment_abandon_all decides */
    /* An empty segment stays while its slices age, for the heap to fill
     * again; unless the heap adopted it and never made a page in it: a
     * thread freeing what exited threads left would hold their segments
     * away from the threads starting meanwhile (20,000 short-lived
     * threads: 137,000 faults instead of 350). */
    if (seg->pages_used == 0 && !seg->used_by_owner) {
        heap->dirty_slices -= dirty_count(seg);
        heap_unlink(heap, seg);
        lg__segment_release(seg);
        return;
    }
    if (heap->dirty_slices > LG_DIRTY_MAX
        || (heap->purge_delay_ms == 0 && heap->dirty_slices >= LG_PURGE_BATCH))
        lg__segment_purge(heap);
    else
        lg__segment_tick(heap);
}

/* ---- abandoning, servicing and adopting ---------------------------------- */

/* When the abandoned segments that blocks were freed into are serviced
 * (lg__segment_service), 0 if none was; written under lg__lock. */
static _Atomic(uint64_t) service_due;

/* Under lg__lock: seg, which no heap owns, got a block since it was last
 * looked at. */
static void mark_freed_into(lg_segment_t *seg)
{
    seg->freed_into = true;
    if (atomic_load_explicit(&service_due, memory_order_relaxed) == 0)
        atomic_store_explicit(&service_due, lg__os_now_ms() + LG_PURGE_DELAY_MS,
                              memory_order_relaxed);
}

static void abandoned_push(lg_segment_t *seg, bool freed_into)
{
    lg__lock();
    seg->prev = NULL;
    seg->next = abandoned;
    if (abandoned)
        abandoned->prev = seg;
    abandoned = seg;
    seg->abandoned = true;
    if (freed_into || seg->freed_into) /* (set by a free while it was serviced) */
        mark_freed_into(seg);
    lg__unlock();
    lg__count_add(&lg__counters.abandoned, 1, NULL);
}

/* Takes seg off the abandoned list, under lg__lock. */
static void abandoned_remove(lg_segment_t *seg)
{
    if (seg->prev)
        seg->prev->next = seg->next;
    else
        abandoned = seg->next;
    if (seg->next)
        seg->next->prev = seg->prev;
    seg->next = seg->prev = NULL;
    seg->abandoned = false;
    seg->freed_into = false;
    lg__count_sub(&lg__counters.abandoned, 1);
}

/* Takes seg off the abandoned list and gives it to heap, under lg__lock:
 * a thread that then finds it gone from the list finds its new owner. */
static void abandoned_unlink(lg_segment_t *seg, lg_heap_t *heap)
{
    abandoned_remove(seg);
    seg->used_by_owner = false;
    seg->owner = heap->owner;
    atomic_store_explicit(&seg->heap, heap, memory_order_release);
    unowned_dirty -= dirty_count(seg);
    heap_add_dirty(heap, dirty_count(seg));   /* the caller is heap's thread */
}

/* Puts seg, which no heap owns now, on the abandoned list.  Each page is
 * marked so that the first block freed into it is noticed
 * (lg__segment_freed_into); blocks freed into it before are noticed here. */
static void abandon_pages(lg_segment_t *seg)
{
    bool freed_into = false;
    for (unsigned i = 1; i < LG_SLICES;) {
        lg_page_t *page = seg->slice_page[i];
        if (page == &lg__window.invalid) {
            i++;
            continue;
        }
        i += page->slices;
        lg__page_mark_full(page);
        page->owner = 0;
        freed_into |= (atomic_load_explicit(&page->xfree, memory_order_relaxed) & ~LG_XFREE_FLAGS) != 0;
    }
    seg->owner = 0;
    atomic_store_explicit(&seg->heap, NULL, memory_order_release);
    abandoned_push(seg, freed_into);
}

/* At thread exit: every segment still holding blocks is left for other
 * threads to adopt; empty ones are released. */
void lg__segment_abandon_all(lg_heap_t *heap)
{
    lg_segment_t *seg;
    while ((seg = heap->segments) != NULL) {
        heap_unlink(heap, seg);
        if (seg->pages_used == 0) {
            lg__segment_release(seg);
            continue;
        }
        leave_heap_warm_or_purged(seg);
        abandon_pages(seg);
    }
    heap->dirty_slices = 0;
}

/* In a child after fork: the segments of a thread that does not exist in
 * it.  That thread may have been anywhere in its own heap's slow path at
 * the fork (a page half made, a segment half linked): nothing in them can
 * be trusted but the mappings, so they are never adopted, only left
 * behind for the child's life.  No thread of the child may take their
 * pages for its own (glibc hands the dead threads' stacks, so their thread
 * ids, to the child's new threads), so every page descriptor is given an
 * owner no thread has, whether the page is in use or not; blocks freed
 * into them go to their remote lists, which are atomic. */
void lg__segment_orphan_all(lg_heap_t *heap)
{
    for (lg_segment_t *seg = heap->segments; seg; seg = seg->next) {
        for (unsigned i = 0; i < LG_SLICES; i++)
            seg->pages[i].owner = LG_OWNER_NONE;
        seg->owner = LG_OWNER_NONE;
        atomic_store_explicit(&seg->heap, NULL, memory_order_release);
    }
    heap->segments = NULL;
    heap->dirty_slices = 0;
}

/* A block was freed into a page of seg whose owner could not be told: it
 * had none, or `closed`, whose thread is exiting.  Under the lock, so that
 * a thread servicing the segment sees either the mark or the page's
 * NOTIFYING flag: a segment with no owner is marked for a service, and the
 * page's flag cleared, after which the caller must not touch the page.
 * Returns the segment's live owner if it was adopted meanwhile: the caller
 * tells it instead, the flag still set. */
lg_heap_t *lg__segment_freed_into(lg_segment_t *seg, lg_page_t *page, lg_heap_t *closed)
{
    lg__lock();
    lg_heap_t *owner = atomic_load_explicit(&seg->heap, memory_order_relaxed);
    if (owner && owner != closed) {
        lg__unlock();
        return owner;
    }
    if (!owner)
        mark_freed_into(seg);
    /* an exiting owner abandons the segment later and sees the block then */
    atomic_fetch_and_explicit(&page->xfree, ~LG_XFREE_NOTIFYING, memory_order_release);
    lg__unlock();
    return NULL;
}

/* Collects the blocks freed into an abandoned segment's pages and gives
 * back the pages left with none in use; the segment goes back on the list,
 * its pages marked again, or is released if no page is left.  The caller
 * took it off the list: no heap owns it, no other thread services it. */
static void service_segment(lg_segment_t *seg)
{
    unsigned counted = dirty_count(seg);
    /* count, do not look: a page given back leaves the slice table */
    for (unsigned i = 1, left = seg->pages_used; left > 0; left--) {
        while (seg->slice_page[i] == &lg__window.invalid)
            i++;
        lg_page_t *page = seg->slice_page[i];
        i += page->slices;
        lg__page_collect(page);
        /* a page whose FULL flag a freeing thread found (NOTIFYING) stays
         * that thread's until it clears the flag under the lock, marking
         * the segment again */
        if (lg__page_used(page) == 0
            && !(atomic_load_explicit(&page->xfree, memory_order_acquire) & LG_XFREE_NOTIFYING)) {
            page->state = LG_PAGE_FREE;
            page_slices_free(seg, page);
        }
    }
    if (seg->pages_used == 0) {
        lg__lock();
        unowned_dirty -= counted;
        lg__unlock();
        lg__segment_release(seg);
        return;
    }
    unowned_warm_or_purged(seg, counted);
    abandon_pages(seg);
}

/* An abandoned segment keeps the memory of the blocks freed into it after
 * its thread exited until a thread that needs memory adopts it; where
 * threads come and go and free what earlier ones left, or a thread only
 * frees, that can be long.  So a purge delay after the first such free,
 * the first thread to pass here (on a slow path, or freeing into an
 * abandoned page) services every segment freed into since.  No heap takes
 * them: a thread that only freed adopted every segment it freed into and
 * held them, its pages gathering what other threads freed into them, for
 * good (the main thread of a program whose workers hand blocks to later
 * workers held hundreds of megabytes). */
void lg__segment_service(void)
{
    uint64_t due = atomic_load_explicit(&service_due, memory_order_relaxed);
    if (due == 0 || lg__os_now_ms() < due)
        return;
    lg_segment_t *list = NULL;
    lg__lock();
    if (atomic_load_explicit(&service_due, memory_order_relaxed) == due) {
        atomic_store_explicit(&service_due, 0, memory_order_relaxed);
        for (lg_segment_t *seg = abandoned, *next; seg; seg = next) {
            next = seg->next;
            if (seg->freed_into) {
                abandoned_remove(seg);
                seg->next = list;
                list = seg;
            }
        }
    }
    lg__unlock();
    while (list) {
        lg_segment_t *seg = list;
        list = seg->next;
        seg->next = NULL;
        service_segment(seg);
    }
}

/* Makes a segment taken off the abandoned list the heap's: its pages are
 * counted again and join the heap's queues; empty ones are retired (and
 * the segment released if all are). */
void lg__segment_adopt(lg_heap_t *heap, lg_segment_t *seg)
{
    heap_link(heap, seg);
    /* retiring the last page releases the segment: count, do not look */
    for (unsigned i = 1, left = seg->pages_used; left > 0; left--) {
        while (seg->slice_page[i] == &lg__window.invalid)
            i++;
        lg_page_t *page = seg->slice_page[i];
        i += page->slices;
        page->owner = seg->owner;
        lg__page_adopt(heap, page);
    }
}

/* Adopts the most recently abandoned segment; false when there is none. */
bool lg__segment_adopt_one(lg_heap_t *heap)
{
    /* under one lock: once it is let go, another thread may adopt the
     * segment, empty it and unmap it */
    lg__lock();
    lg_segment_t *seg = abandoned;
    if (seg)
        abandoned_unlink(seg, heap);
    lg__unlock();
    if (!seg)
        return false;
    lg__segment_adopt(heap, seg);
    return true;
}

/* Claims seg for heap if it is still abandoned (then the caller adopts
 * it); false when another thread claimed it first.  The caller must know
 * seg is still mapped: it holds a NOTIFYING page of it. */
bool lg__segment_claim(lg_heap_t *heap, lg_segment_t *seg)
{
    lg__lock();
    bool mine = seg->abandoned;
    if (mine)
        abandoned_unlink(seg, heap);
    lg__unlock();
    return mine;
}
