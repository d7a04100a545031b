/* Cross-thread frees: a block freed by a thread that does not own its
 * page goes onto the page's atomic list (xfree) with one CAS; the owner
 * collects the list on its slow paths (lg__page_collect).  A full page is
 * off its queue, so the first such free into it tells the owner, through
 * the heap's list of such pages (xpages), or, when the segment has no
 * owner, the abandoned segments' service (abandon.c).  The flags in the
 * low bits of xfree (types.h) order these steps. */
#include "internal.h"

/* A thread that needed a new page within this adopts the abandoned
 * segments it frees into. */
#define LG_ADOPT_WINDOW_MS 10

/* Pushes page on the heap's list of full pages freed into; false if the
 * heap's thread is exiting (the list is closed). */
static bool heap_push_xpage(lg_heap_t *heap, lg_page_t *page)
{
    lg_assert(atomic_load_explicit(&page->xfree, memory_order_relaxed) & LG_XFREE_NOTIFYING);
    lg_page_t *head = atomic_load_explicit(&heap->xpages, memory_order_relaxed);
    do {
        if (head == LG_XPAGES_CLOSED)
            return false;
        atomic_store_explicit(&page->xnext, head, memory_order_relaxed);
    } while (!atomic_compare_exchange_weak_explicit(&heap->xpages, &head, page,
                                                    memory_order_release, memory_order_relaxed));
    return true;
}

/* Tells the segment's owner that a full page got a block.  A segment with
 * no owner (its thread exited) is adopted by the thread freeing into it if
 * that thread needed a new page within a purge delay and has little free
 * memory of its own (lg__segment_claim): it will use the memory.  Any
 * other thread leaves it marked for a service (abandon.c):
 * a thread that only freed adopted every segment it freed into and held
 * them, its pages gathering the blocks that other threads freed into
 * them, for good; see docs/decisions.md#abandoned-segments-serviced. */
static void page_notify_owner(lg_segment_t *seg, lg_page_t *page)
{
    lg_assert(atomic_load_explicit(&page->xfree, memory_order_relaxed) & LG_XFREE_NOTIFYING);
    lg_heap_t *owner = atomic_load_explicit(&seg->heap, memory_order_acquire);
    if (!owner) {
        lg_heap_t *heap = lg__heap;
        if (heap != &lg__heap_empty && lg__os_now_ms() < heap->paged_ms + LG_ADOPT_WINDOW_MS
            && lg__segment_claim(heap, seg)) {
            atomic_fetch_and_explicit(&page->xfree, ~LG_XFREE_NOTIFYING, memory_order_release);
            lg__segment_adopt(heap, seg);
            return;
        }
        owner = atomic_load_explicit(&seg->heap, memory_order_acquire);
    }
    while (!owner || !heap_push_xpage(owner, page)) {
        /* no owner, or an exiting one: settled under the lock */
        owner = lg__segment_freed_into(seg, page, owner);
        if (!owner) {
            lg__segment_service();
            return;
        }
    }
}

void lg__free_remote(lg_segment_t *seg, lg_page_t *page, lg_block_t *block)
{
    if (lg_unlikely(lg__stats_on)) {
        lg__stats_free(page);
        if (seg->owner == (lg__thread_id() | LG_OWNER_COUNTED)) {
            lg__free_local(page, block); /* a local free, sent here to be counted */
            return;
        }
    }
    uintptr_t x = atomic_load_explicit(&page->xfree, memory_order_relaxed), next;
    do {
        lg__link_set(page, block, (lg_block_t *)(x & ~LG_XFREE_FLAGS));
        next = (uintptr_t)block | (x & LG_XFREE_NOTIFYING) | ((x & LG_XFREE_FULL) << 1);
    } while (!atomic_compare_exchange_weak_explicit(&page->xfree, &x, next,
                                                    memory_order_acq_rel, memory_order_relaxed));
    lg_assert((x & LG_XFREE_FLAGS) != LG_XFREE_FLAGS);
    if (x & LG_XFREE_FULL)
        page_notify_owner(seg, page);
}

/* Processes the full pages other threads freed into.  At thread exit the
 * list is closed, so late frees leave the page to the adopter instead. */
static void heap_drain(lg_heap_t *heap, lg_page_t *list_end)
{
    lg_page_t *page = atomic_exchange_explicit(&heap->xpages, list_end, memory_order_acquire);
    while (page && page != LG_XPAGES_CLOSED) {
        lg_page_t *next = atomic_load_explicit(&page->xnext, memory_order_relaxed);
        lg_segment_t *seg = lg__segment_of(page);
        if (lg_unlikely(atomic_load_explicit(&seg->heap, memory_order_acquire) != heap)) {
            page_notify_owner(seg, page); /* stale notice from before an adoption: pass it on */
        } else {
            lg_assert(atomic_load_explicit(&page->xfree, memory_order_relaxed) & LG_XFREE_NOTIFYING);
            atomic_fetch_and_explicit(&page->xfree, ~LG_XFREE_NOTIFYING, memory_order_acq_rel);
            lg__page_collect(page);
            lg__page_classify(heap, page);
        }
        page = next;
    }
}

void lg__heap_drain_xpages(lg_heap_t *heap)
{
    lg_page_t *head = atomic_load_explicit(&heap->xpages, memory_order_relaxed);
    if (head && head != LG_XPAGES_CLOSED) /* closed stays closed */
        heap_drain(heap, NULL);
}

void lg__heap_close_xpages(lg_heap_t *heap)
{
    heap_drain(heap, LG_XPAGES_CLOSED);
}

