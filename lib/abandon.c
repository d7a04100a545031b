/* Segments of exited threads: at thread exit the segments that still
 * hold blocks are abandoned (no owner, every page marked so that the first
 * block freed into it is noticed) for other threads to adopt.  A thread
 * that needs a page adopts one before mapping a new segment; a thread
 * that frees into one adopts it if it needed a page lately (remote.c);
 * otherwise the segment is serviced, without a heap, a purge delay later.
 * In a forked child the segments of the threads that do not exist in it
 * are orphaned instead.  The abandoned list is under lg__lock. */
#include "internal.h"

lg_segment_t *lg__abandoned;
size_t lg__orphaned;

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
    lg_assert(!seg->abandoned && atomic_load_explicit(&seg->heap, memory_order_relaxed) == NULL);
    seg->prev = NULL;
    seg->next = lg__abandoned;
    if (lg__abandoned)
        lg__abandoned->prev = seg;
    lg__abandoned = seg;
    seg->abandoned = true;
    if (freed_into || seg->freed_into) /* (set by a free while it was serviced) */
        mark_freed_into(seg);
    /* counted before another thread can take it off the list and count that */
    lg__count_add(&lg__counters.abandoned, 1, NULL);
    lg__unlock();
}

/* Takes seg off the abandoned list, under lg__lock. */
static void abandoned_remove(lg_segment_t *seg)
{
    lg_assert(seg->abandoned && (seg->prev ? seg->prev->next == seg : lg__abandoned == seg));
    if (seg->prev)
        seg->prev->next = seg->next;
    else
        lg__abandoned = seg->next;
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
    lg__unowned_forget(lg__dirty_slices(seg));
    lg__purge_add_adopted(heap, lg__dirty_slices(seg));   /* the caller is heap's thread */
}

/* Puts seg, which no heap owns now, on the abandoned list.  Each page is
 * marked so that the first block freed into it is noticed
 * (lg__segment_freed_into); blocks freed into it before are noticed here. */
static void abandon_pages(lg_segment_t *seg)
{
    bool freed_into = false;
    for (unsigned i = 1; i < LG_SLICES;) {
        lg_page_t *page = seg->slice_page[i];
        if (page == LG_NO_PAGE) {
            i++;
            continue;
        }
        i += page->slices;
        lg__page_mark_full(page);
        page->owner = 0;
        freed_into |= (atomic_load_explicit(&page->xfree, memory_order_relaxed) & ~LG_XFREE_FLAGS) != 0;
    }
    lg_page_t *page;
    lg_for_each_mini(seg, page) {
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
        lg__heap_segment_unlink(heap, seg);
        if (seg->pages_used == 0) {
            lg__segment_release(seg);
            continue;
        }
        lg__unowned_keep_or_purge(seg, 0);
        abandon_pages(seg);
    }
    heap->dirty_slices = 0;
    heap->adopted_slices = 0;
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
        for (unsigned i = 0; i < LG_NURSERY_PAGES; i++)
            seg->nursery.pages[i].owner = LG_OWNER_NONE;
        seg->owner = LG_OWNER_NONE;
        atomic_store_explicit(&seg->heap, NULL, memory_order_release);
        lg__orphaned++;
    }
    heap->segments = NULL;
    heap->dirty_slices = 0;
    heap->adopted_slices = 0;
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

/* Collects the blocks freed into a page of a segment being serviced, and
 * gives the page back if none is in use.  A page whose FULL flag a
 * freeing thread found (NOTIFYING) stays that thread's until it clears
 * the flag under the lock, marking the segment again. */
static void service_page(lg_segment_t *seg, lg_page_t *page)
{
    lg__page_collect(page);
    if (lg__page_used(page) == 0
        && !(atomic_load_explicit(&page->xfree, memory_order_acquire) & LG_XFREE_NOTIFYING)) {
        page->state = LG_PAGE_FREE;
        lg__segment_slices_free(seg, page);
    }
}

/* Collects the blocks freed into an abandoned segment's pages and gives
 * back the pages left with none in use; the segment goes back on the list,
 * its pages marked again, or is released if no page is left.  The caller
 * took it off the list: no heap owns it, no other thread services it. */
static void service_segment(lg_segment_t *seg)
{
    lg_assert(!seg->abandoned && atomic_load_explicit(&seg->heap, memory_order_relaxed) == NULL);
    unsigned counted = lg__dirty_slices(seg);
    lg_page_t *page;
    lg_for_each_mini(seg, page)
        service_page(seg, page);
    /* count, do not look: a page given back leaves the slice table */
    for (unsigned i = 1, left = seg->pages_used - lg__popcount(seg->nursery.live); left > 0; left--) {
        while (seg->slice_page[i] == LG_NO_PAGE)
            i++;
        page = seg->slice_page[i];
        i += page->slices;
        service_page(seg, page);
    }
    if (seg->pages_used == 0) {
        lg__lock();
        lg__unowned_forget(counted);
        lg__unlock();
        lg__segment_release(seg);
        return;
    }
    lg__unowned_keep_or_purge(seg, counted);
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
 * good; see docs/decisions.md#abandoned-segments-serviced. */
void lg__segment_service(void)
{
    uint64_t due = atomic_load_explicit(&service_due, memory_order_relaxed);
    if (due == 0 || lg__os_now_ms() < due)
        return;
    lg_segment_t *list = NULL;
    lg__lock();
    if (atomic_load_explicit(&service_due, memory_order_relaxed) == due) {
        atomic_store_explicit(&service_due, 0, memory_order_relaxed);
        for (lg_segment_t *seg = lg__abandoned, *next; seg; seg = next) {
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
    lg_assert(atomic_load_explicit(&seg->heap, memory_order_relaxed) == heap && !seg->abandoned);
    lg__heap_segment_link(heap, seg);
    /* retiring the last page releases the segment: count, do not look
     * (the mini-pages first, from a copy of their mask) */
    unsigned left = seg->pages_used - lg__popcount(seg->nursery.live);
    lg_page_t *page;
    lg_for_each_mini(seg, page) {
        page->owner = seg->owner;
        lg__page_adopt(heap, page);
    }
    for (unsigned i = 1; left > 0; left--) {
        while (seg->slice_page[i] == LG_NO_PAGE)
            i++;
        page = seg->slice_page[i];
        i += page->slices;
        page->owner = seg->owner;
        lg__page_adopt(heap, page);
    }
}

/* Abandoned segments looked at for a resident run of free slices. */
#define LG_ADOPT_SCAN 8

/* Adopts the most recently abandoned segment; with warm_slices > 0, the
 * most recent of the first few that have a resident run of that many
 * free slices.  False when there is none. */
bool lg__segment_adopt_one(lg_heap_t *heap, unsigned warm_slices)
{
    /* under one lock: once it is let go, another thread may adopt the
     * segment, empty it and unmap it */
    lg__lock();
    lg_segment_t *seg = lg__abandoned;
    for (unsigned i = 1; warm_slices && seg && !lg__segment_has_warm_span(seg, warm_slices); i++)
        seg = i < LG_ADOPT_SCAN ? seg->next : NULL;
    if (seg)
        abandoned_unlink(seg, heap);
    lg__unlock();
    if (!seg)
        return false;
    lg__segment_adopt(heap, seg);
    return true;
}

/* A heap holding this many free resident slices of its own does not
 * claim the segments it frees into (512 KiB). */
#define LG_CLAIM_DIRTY_MAX 8

/* Claims seg for heap, the calling thread's, if it is still abandoned
 * (then the caller adopts it) and heap is short of free resident memory;
 * false otherwise.  A thread that frees into an exited thread's segment
 * while it has free memory of its own would keep the segment's free
 * slices from the threads that need pages (adopt_one), which faulted in
 * fresh memory meanwhile; see docs/decisions.md#adopt-on-need.  The caller
 * must know seg is still mapped: it holds a NOTIFYING page of it. */
bool lg__segment_claim(lg_heap_t *heap, lg_segment_t *seg)
{
    if (heap->dirty_slices >= LG_CLAIM_DIRTY_MAX)
        return false;
    lg__lock();
    bool mine = seg->abandoned;
    if (mine)
        abandoned_unlink(seg, heap);
    lg__unlock();
    return mine;
}
