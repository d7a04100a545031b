/* Pages: their states (current, queued, full, free) and the moves
 * between them, the slow path of malloc (finding a page with free
 * blocks) and the slow path of free (a page that became empty, or left
 * the full state).  The heap these functions are given is the calling
 * thread's, whose current pages are the thread's lg__current. */
#include "internal.h"

#include <errno.h>

static bool page_has_room(const lg_page_t *page)
{
    return page->free != NULL || page->bump < page->end;
}

/* Puts the next few fresh blocks on the (empty) local free list, touching
 * only as much new memory as needed. */
static bool page_extend(lg_page_t *page)
{
    if (page->bump >= page->end)
        return false;
    size_t size = page->block_size;
    size_t n = lg__extend_bytes() / size;
    size_t left = (size_t)(page->end - page->bump) / size;
    if (n == 0)
        n = 1;
    if (n > left)
        n = left;
    uint8_t *first = page->bump;
    page->bump = first + n * size;
    lg_track_open(first, n * size);
#if LG_SECURE
    lg__secure_push_fresh(page, first, n);
#else
    uint8_t *b = first;
    for (size_t i = 1; i < n; i++, b += size)
        lg__link_set(page, (lg_block_t *)b, (lg_block_t *)(b + size));
    lg__link_set(page, (lg_block_t *)b, page->free);
    page->free = (lg_block_t *)first;
#endif
    return true;
}

/* Moves the blocks other threads freed onto the local list, keeping the
 * flag bits; the trigger of a page that is not current drops by as many.
 * A current page with an empty list (malloc's slow path) takes the list
 * as it is: walking it, block after block just written by other cores,
 * misses the cache at every block; see
 * docs/decisions.md#remote-list-taken-whole. */
void lg__page_collect(lg_page_t *page)
{
    uintptr_t x = atomic_load_explicit(&page->xfree, memory_order_relaxed);
    lg_assert((x & LG_XFREE_FLAGS) != LG_XFREE_FLAGS);
    if ((x & ~LG_XFREE_FLAGS) == 0)
        return;
    while (!atomic_compare_exchange_weak_explicit(&page->xfree, &x, x & LG_XFREE_NOTIFYING,
                                                  memory_order_acquire, memory_order_relaxed))
        ;
    lg_block_t *head = (lg_block_t *)(x & ~LG_XFREE_FLAGS), *tail = head, *next;
    if (page->state == LG_PAGE_CURRENT && page->free == NULL) {
        page->free = head;
        return;
    }
    int32_t n = 1;
    while ((next = lg__link_get(page, tail)) != NULL) {
        tail = next;
        n++;
    }
    lg__link_set(page, tail, page->free);
    page->free = head;
    if (page->state != LG_PAGE_CURRENT)
        page->trigger -= n;
}

/* Blocks on the local free list, walked: slow paths only. */
static size_t page_free_count(const lg_page_t *page)
{
    size_t n = 0;
    for (lg_block_t *b = page->free, *next; b; b = next, n++) {
        lg_track_open(b, sizeof *b);
        next = lg__link_get(page, b);
        lg_track_close(b, sizeof *b);
    }
    return n;
}

/* Every block of the page is free: on its local list or fresh, none on
 * its remote list (for lg_assert). */
static inline bool page_all_free(const lg_page_t *page)
{
    size_t fresh = (size_t)(page->end - page->bump) / page->block_size;
    return (atomic_load_explicit(&page->xfree, memory_order_acquire) & ~LG_XFREE_FLAGS) == 0
        && page_free_count(page) + fresh == page->capacity;
}

size_t lg__page_used(const lg_page_t *page)
{
    switch (page->state) {
    case LG_PAGE_CURRENT: {
        size_t fresh = (size_t)(page->end - page->bump) / page->block_size;
        return page->capacity - fresh - page_free_count(page);
    }
    case LG_PAGE_FULL: return (size_t)(page->trigger + (int32_t)page->capacity - 1);
    default:           return (size_t)page->trigger;
    }
}

/* ---- page states ------------------------------------------------------ */

static void page_make_current(lg_heap_t *heap, lg_page_t *page)
{
    lg_assert(page->state == LG_PAGE_QUEUED || page->state == LG_PAGE_CURRENT);
    page->state = LG_PAGE_CURRENT;
    page->trigger = LG_HEARTBEAT;
    lg__heap_queue_remove(heap, page);
    lg__heap_queue_push_front(heap, page);
    lg__set_current(page->cls, page);
}

/* Takes a page out of its queue; the next malloc of its class finds the
 * next current page on its slow path. */
static void page_detach(lg_heap_t *heap, lg_page_t *page)
{
    if (page->state == LG_PAGE_QUEUED || page->state == LG_PAGE_CURRENT)
        lg__heap_queue_remove(heap, page);
    if (lg__current[page->cls] == page)
        lg__set_current(page->cls, &lg__page_empty);
}

/* A page with no free block leaves its queue.  Sets the FULL flag so the
 * first thread that frees into it tells us; returns false when blocks
 * arrived meanwhile and the page is not full after all. */
static bool page_try_make_full(lg_heap_t *heap, lg_page_t *page)
{
    uintptr_t x = 0;
    while (!atomic_compare_exchange_weak_explicit(&page->xfree, &x, x | LG_XFREE_FULL,
                                                  memory_order_acq_rel, memory_order_relaxed)) {
        if (x & ~LG_XFREE_FLAGS) {
            lg__page_collect(page);
            return false;
        }
        if (x & LG_XFREE_NOTIFYING)
            break; /* already on its way to our xpages: the drain decides */
    }
    size_t used = lg__page_used(page);
    lg_assert(used == page->capacity);
    page_detach(heap, page);
    page->state = LG_PAGE_FULL;
    page->trigger = (int32_t)used + 1 - (int32_t)page->capacity;
    return true;
}

void lg__page_retire(lg_heap_t *heap, lg_page_t *page)
{
    if (atomic_load_explicit(&page->xfree, memory_order_acquire) & LG_XFREE_NOTIFYING)
        return; /* a remote free is telling us about it: the drain retires it */
    lg_assert(page_all_free(page));
    page_detach(heap, page);
    page->state = LG_PAGE_FREE;
    lg__segment_page_free(heap, page);
}

/* Gives a page that is not current the state its blocks call for. */
void lg__page_classify(lg_heap_t *heap, lg_page_t *page)
{
    if (page->state == LG_PAGE_CURRENT && lg__current[page->cls] == page)
        return;
    size_t used = lg__page_used(page);
    lg_assert(used <= page->capacity);
    if (used == 0) {
        lg__page_retire(heap, page);
        return;
    }
    if (page_has_room(page)) {
        if (page->state != LG_PAGE_QUEUED && page->state != LG_PAGE_CURRENT)
            lg__heap_queue_push_back(heap, page);
        page->state = LG_PAGE_QUEUED;
        page->trigger = (int32_t)used;
        return;
    }
    if (!page_try_make_full(heap, page))
        lg__page_classify(heap, page); /* blocks arrived: it has room now */
}

/* Asks for a notice at the next remote free, whatever the page's state:
 * set on every page of a segment whose thread exits. */
void lg__page_mark_full(lg_page_t *page)
{
    uintptr_t x = atomic_load_explicit(&page->xfree, memory_order_relaxed);
    while (!(x & (LG_XFREE_FULL | LG_XFREE_NOTIFYING)) &&
           !atomic_compare_exchange_weak_explicit(&page->xfree, &x, x | LG_XFREE_FULL,
                                                  memory_order_acq_rel, memory_order_relaxed))
        ;
}

/* A page of an adopted segment: counted again from its old state, then
 * classified as if it had just been detached. */
void lg__page_adopt(lg_heap_t *heap, lg_page_t *page)
{
    lg__page_collect(page);
    atomic_fetch_and_explicit(&page->xfree, ~LG_XFREE_FULL, memory_order_relaxed);
    size_t used = lg__page_used(page);
    page->next = page->prev = NULL;
    page->state = LG_PAGE_FULL;
    page->trigger = (int32_t)used + 1 - (int32_t)page->capacity;
    lg__page_classify(heap, page);
}

/* ---- the slow path of free -------------------------------------------- */

/* Called when a local free brought a page's trigger to zero. */
void lg__free_slow(lg_page_t *page)
{
    lg_heap_t *heap = lg__heap;
    if (page->state == LG_PAGE_CURRENT) {
        page->trigger = LG_HEARTBEAT;
        lg__purge_tick(heap);
        lg__route_heartbeat();
    } else if (page->state == LG_PAGE_FULL) {
        /* first free into a full page: back into its queue */
        page->state = LG_PAGE_QUEUED;
        page->trigger = (int32_t)page->capacity - 1;
        lg__heap_queue_push_back(heap, page);
        if (page->trigger == 0)
            lg__page_retire(heap, page);
    } else {
        lg_assert(page->state == LG_PAGE_QUEUED);
        lg__page_retire(heap, page); /* a queued page became empty */
    }
}

/* ---- the slow path of malloc ------------------------------------------ */

/* Makes page current in place of old, which, if it is still current,
 * goes back to its queue as its blocks call for. */
static void page_switch(lg_heap_t *heap, lg_page_t *old, lg_page_t *page)
{
    page_make_current(heap, page);
    if (old != page && old != &lg__page_empty && old->state == LG_PAGE_CURRENT)
        lg__page_classify(heap, old);
}

/* Finds or makes a page of this class with a free block and makes it the
 * current page.  Blocks smaller than an OS page: freed blocks first, in
 * any page of the queue, fresh ones only when there are none, for fresh
 * blocks are memory touched for the first time, an OS page at a time.
 * Extending the current page first, a program that frees and allocates at
 * the same pace kept its fresh blocks coming while as many freed ones
 * waited in the pages before it, and touched the whole of every page.  A
 * larger block costs only the pages the program writes, and the first
 * page with room serves it, fresh or not: taking freed ones first made a
 * program that writes the ends of its blocks hold more.  See
 * docs/decisions.md#freed-blocks-first. */
static lg_page_t *page_find(lg_heap_t *heap, size_t cls)
{
    lg__heap_drain_xpages(heap);
    lg_page_t *current = lg__current[cls];
    if (current != &lg__page_empty && (lg__page_collect(current), current->free))
        return current;
    if (current != &lg__page_empty && lg__nursery_grow(heap, current)) {
        page_extend(current);
        return current;
    }
    lg_page_t *fresh = NULL, *page = heap->queue[cls].first;
    while (page) {
        lg_page_t *next = page->next;
        lg__page_collect(page);
        if (lg_unlikely(lg__nursery_passed(heap, page)) && page_has_room(page)) {
            if (page == current) {
                lg__set_current(cls, &lg__page_empty);
                lg__page_classify(heap, page);
                current = &lg__page_empty;
            }
            page = next;
            continue;
        }
        if (page->free || (page->block_size > lg__extend_bytes() && page_extend(page))) {
            page_switch(heap, current, page);
            return page;
        }
        if (page->bump < page->end) {
            if (!fresh)
                fresh = page;
        } else if (!page_try_make_full(heap, page)) {
            continue; /* blocks arrived: it has free ones now */
        }
        page = next;
    }
    if (fresh) {
        page_extend(fresh);
        page_switch(heap, current, fresh);
        return fresh;
    }
    page = lg__nursery_page_alloc(heap, cls);
    if (!page)
        page = lg__segment_page_alloc(heap, cls);
    if (!page)
        return NULL;
    /* adoption may have queued pages of this class: any of them will do */
    if (heap->queue[cls].first)
        lg__heap_queue_push_back(heap, page);
    else
        lg__heap_queue_push_front(heap, page);
    page->state = LG_PAGE_QUEUED;
    page->trigger = 0;
    page = heap->queue[cls].first;
    lg__page_collect(page);
    if (!page->free)
        page_extend(page);
    page_make_current(heap, page);
    return page;
}

/* Where this function's return address lies: the word below its canonical
 * frame address, where the call pushed it (x86).  Reached by a jump from
 * the entry points, the generic path returns straight to the program, so
 * the word is the program's call site and the frames above are its own. */
#if defined(__x86_64__) || defined(__i386__)
#define LG_RETURN_SLOT() ((const uintptr_t *)__builtin_dwarf_cfa() - 1)
#else
#define LG_RETURN_SLOT() ((const uintptr_t *)NULL)
#endif

void *lg__malloc_generic(size_t size)
{
    lg_heap_t *heap = lg__heap;
    if (lg_unlikely(heap == &lg__heap_empty)) {
        heap = lg__heap_init_thread();
        if (!heap) {
            errno = ENOMEM;
            return NULL;
        }
    }
    size_t need = size + LG_CANARY;
    if (need > LG_CLASS_MAX || need < size)
        return lg__huge_alloc(size, LG_ALIGN, false);
    size_t cls = need <= LG_TABLE_MAX ? lg__class_of(need) : lg__class_of_large(need);
    lg_page_t *page = lg__current[cls];
    /* Only a page that ran out of blocks is a refill for the sampler, not
     * a class with no current page (a thread's first block of it, or its
     * page went back empty): a program that takes and frees one block at a
     * time would count one at each take. */
    bool ran_out = !page->free;
    if (lg_unlikely(ran_out || page == &lg__page_empty)) {
        page = page_find(heap, cls);
        if (!page) {
            errno = ENOMEM;
            return NULL;
        }
    }
    lg_assert(page->free != NULL && lg__current[cls] == page);
    lg_block_t *block = page->free;
    if (lg_unlikely(!lg__block_in_segment(page, block)))
        lg__corrupt_head(page, block);
    block = lg__page_pop(page, block, size);
    if (lg_unlikely(lg__stats_on))
        lg__stats_malloc(cls, size, (uintptr_t)__builtin_return_address(0), LG_RETURN_SLOT());
    if (lg_unlikely(ran_out))
        lg__route_refill(size);
    return block;
}
