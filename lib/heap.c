/* Heaps: one per thread, reached through local-exec TLS; created on a
 * thread's first allocation and handed on when the thread exits. */
#include "internal.h"

#include <pthread.h>
#include <string.h>

/* Every class's current page in a heap that has no page yet: the head of
 * its list fails malloc's test (lg__block_in_segment) wherever the linker
 * put this page, even below the segment size, where NULL would pass, so
 * the first malloc of each class takes the slow path. */
lg_page_t lg__page_empty = { .free = (lg_block_t *)UINTPTR_MAX };

lg_heap_t lg__heap_empty;

lg_tls lg_heap_t *lg__heap = &lg__heap_empty;
lg_tls lg_page_t *lg__current[LG_CLASSES] = { [0 ... LG_CLASSES - 1] = &lg__page_empty };
lg_tls lg_page_t *lg__direct[LG_DIRECT_MAX / LG_GRANULE + 1] = {
    [0 ... LG_DIRECT_MAX / LG_GRANULE] = &lg__page_empty
};

static pthread_key_t heap_key;
static lg_heap_t *heaps_unused;   /* under lg__lock, linked by next_heap */
static lg_heap_t *heaps_in_use;   /* under lg__lock: heaps bound to a thread */

/* The current page of a class, also under every granule that maps to it.
 * The granules just below the class may have been taken by an exact-fit
 * class since (lg__class_add_exact, from another thread) and still lead to
 * the page that stops being current: they go to their new class's page, or
 * a page retired after this would serve their mallocs from freed slices. */
void lg__set_current(size_t cls, lg_page_t *page)
{
    lg_assert(page == &lg__page_empty || (page->state == LG_PAGE_CURRENT && page->cls == cls));
    lg_page_t *old = lg__current[cls];
    lg__current[cls] = page;
    if (lg__stats_on)
        return; /* every malloc counts, in the generic path */
    size_t lo = lg__class_granule_lo[cls], top = LG_DIRECT_MAX / LG_GRANULE;
    for (size_t g = lo; g <= top && lg__class_of_granule[g] == cls; g++)
        lg__direct[g] = page;
    if (old == &lg__page_empty)
        return;
    for (size_t g = lo <= top ? lo : top + 1; g-- > 0 && lg__direct[g] == old;)
        lg__direct[g] = lg__current[lg__class_of_granule[g]];
}

/* A thread letting go of its heap: no current pages any more. */
static void forget_current(void)
{
    for (size_t cls = 0; cls < LG_CLASSES; cls++)
        lg__current[cls] = &lg__page_empty;
    for (size_t g = 0; g <= LG_DIRECT_MAX / LG_GRANULE; g++)
        lg__direct[g] = &lg__page_empty;
}

/* ---- class queues ----------------------------------------------------- */

void lg__heap_queue_push_front(lg_heap_t *heap, lg_page_t *page)
{
    lg_queue_t *q = &heap->queue[page->cls];
    lg_assert(!page->next && !page->prev && q->first != page);
    page->prev = NULL;
    page->next = q->first;
    if (q->first)
        q->first->prev = page;
    else
        q->last = page;
    q->first = page;
}

void lg__heap_queue_push_back(lg_heap_t *heap, lg_page_t *page)
{
    lg_queue_t *q = &heap->queue[page->cls];
    lg_assert(!page->next && !page->prev && q->first != page);
    page->next = NULL;
    page->prev = q->last;
    if (q->last)
        q->last->next = page;
    else
        q->first = page;
    q->last = page;
}

void lg__heap_queue_remove(lg_heap_t *heap, lg_page_t *page)
{
    lg_queue_t *q = &heap->queue[page->cls];
    lg_assert(page->prev ? page->prev->next == page : q->first == page);
    lg_assert(page->next ? page->next->prev == page : q->last == page);
    if (page->prev)
        page->prev->next = page->next;
    else
        q->first = page->next;
    if (page->next)
        page->next->prev = page->prev;
    else
        q->last = page->prev;
    page->next = page->prev = NULL;
}

/* ---- the heap's segments ---------------------------------------------- */

void lg__heap_segment_link(lg_heap_t *heap, lg_segment_t *seg)
{
    lg_assert(atomic_load_explicit(&seg->heap, memory_order_relaxed) == heap && heap->segments != seg);
    seg->prev = NULL;
    seg->next = heap->segments;
    if (heap->segments)
        heap->segments->prev = seg;
    heap->segments = seg;
}

void lg__heap_segment_unlink(lg_heap_t *heap, lg_segment_t *seg)
{
    lg_assert(seg->prev ? seg->prev->next == seg : heap->segments == seg);
    if (seg->prev)
        seg->prev->next = seg->next;
    else
        heap->segments = seg->next;
    if (seg->next)
        seg->next->prev = seg->prev;
    seg->next = seg->prev = NULL;
}

/* ---- heap structs ------------------------------------------------------- */

/* Heap structs come from the OS a batch at a time and are never unmapped:
 * a thread freeing into a segment may still read a heap pointer from it
 * after that heap's thread exited.  A batch is handed out front to back,
 * so only the structs in use are ever touched. */
#define LG_HEAP_BATCH ((size_t)256 << 10)

static uint8_t *batch_next, *batch_end;   /* under lg__lock */

static lg_heap_t *heap_struct_new(void)
{
    lg__lock();
    lg_heap_t *heap = heaps_unused;
    if (heap) {
        heaps_unused = heap->next_heap;
    } else if ((uintptr_t)batch_end - (uintptr_t)batch_next >= sizeof *heap) {
        heap = (lg_heap_t *)batch_next;
        batch_next += sizeof *heap;
    }
    lg__unlock();
    if (heap)
        return heap;
    size_t mapped;
    uint8_t *batch = lg__os_map_aligned(LG_HEAP_BATCH, lg__os_page_size(), &mapped);
    if (!batch)
        return NULL;
    lg__lock();
    /* what is left of the old batch is dropped: a few KiB of address space */
    batch_next = batch + sizeof *heap;
    batch_end = batch + LG_HEAP_BATCH;
    lg__unlock();
    return (lg_heap_t *)batch;
}

static void in_use_link(lg_heap_t *heap)
{
    heap->prev_heap = NULL;
    heap->next_heap = heaps_in_use;
    if (heaps_in_use)
        heaps_in_use->prev_heap = heap;
    heaps_in_use = heap;
}

/* Off the list of heaps in use and back to the pool, under lg__lock. */
static void heap_struct_release(lg_heap_t *heap)
{
    if (heap->prev_heap)
        heap->prev_heap->next_heap = heap->next_heap;
    else
        heaps_in_use = heap->next_heap;
    if (heap->next_heap)
        heap->next_heap->prev_heap = heap->prev_heap;
    heap->next_heap = heaps_unused;
    heaps_unused = heap;
    lg__count_sub(&lg__counters.threads_live, 1);
}

/* ---- thread start and exit ----------------------------------------------- */

static void heap_thread_exit(void *arg)
{
    lg_heap_t *heap = arg;
    lg_check_heap(heap);
    lg__heap = &lg__heap_empty; /* a later malloc in this thread makes a new heap */
    heap->exiting = true;       /* its free slices go with its segments (abandon.c) */
    lg__heap_close_xpages(heap);
    lg__heap_collect(heap, true);
    lg__segment_abandon_all(heap);
    forget_current();
    lg__lock();
    heap_struct_release(heap);
    lg__unlock();
}

/* In a forked child only the forking thread runs.  The others may have
 * been inside their heaps' slow paths at the fork, so their segments are
 * left behind, never adopted (lg__segment_orphan_all), and their heap
 * structs go back to the pool.  (The child's lock is fresh; no other
 * thread can take it.) */
void lg__heap_after_fork(void)
{
    lg_heap_t *heap = heaps_in_use;
    while (heap) {
        lg_heap_t *next = heap->next_heap;
        if (heap != lg__heap) {
            /* pages waiting on its remote list: nobody will drain them */
            lg_page_t *page = atomic_exchange_explicit(&heap->xpages, NULL, memory_order_relaxed);
            for (; page && page != LG_XPAGES_CLOSED; page = atomic_load_explicit(&page->xnext, memory_order_relaxed))
                atomic_fetch_and_explicit(&page->xfree, ~LG_XFREE_NOTIFYING, memory_order_relaxed);
            lg__segment_orphan_all(heap);
            heap_struct_release(heap);
        }
        heap = next;
    }
}

bool lg__heap_alone(const lg_heap_t *heap)
{
    return !heaps_in_use || (heaps_in_use == heap && !heap->next_heap);
}

void lg__heap_process_init(void)
{
    pthread_key_create(&heap_key, heap_thread_exit);
}

/* A thread's one heap.  Starting the process may allocate (musl's
 * pthread_atfork does): that nested malloc already made this thread its
 * heap, which stays the only one.  A second heap of the same thread would
 * look like another thread's to a forked child, which orphans it with the
 * pages the program holds.  Nothing after the check allocates before
 * lg__heap is set. */
lg_heap_t *lg__heap_init_thread(void)
{
    lg__process_init();
    if (lg__heap != &lg__heap_empty)
        return lg__heap;
    lg_heap_t *heap = heap_struct_new();
    if (!heap)
        return NULL;
    memcpy(heap, &lg__heap_empty, sizeof *heap);
    heap->owner = lg__thread_id() | (lg__stats_on ? LG_OWNER_COUNTED : 0);
    heap->purge_delay_ms = lg__options.purge_delay_ms;
    lg__lock();
    in_use_link(heap);
    /* counted with the link: a fork's child releases the heaps it finds */
    lg__count_add(&lg__counters.threads_live, 1, NULL);
    lg__count_add(&lg__counters.threads_seen, 1, NULL);
    lg__unlock();
    /* set before pthread_setspecific, which may itself allocate */
    lg_assert(lg__heap == &lg__heap_empty);
    lg__heap = heap;
    pthread_setspecific(heap_key, heap);
    return heap;
}

/* ---- collecting ----------------------------------------------------------- */

/* Returns the heap's empty pages to its segments (and empty segments to
 * the cache or the OS): `all` also retires current pages that are empty.
 * Free slices are left to the purge ticks, or to lg__purge_heap. */
void lg__heap_collect(lg_heap_t *heap, bool all)
{
    lg__heap_drain_xpages(heap);
    for (size_t cls = 0; cls < lg__class_count; cls++) {
        lg_page_t *page = heap->queue[cls].first;
        while (page) {
            lg_page_t *next = page->next;
            lg__page_collect(page);
            /* (a page a remote free's notice is on its way for is the
             * drain's to retire: lg__page_retire would leave it alone,
             * and a current one in the queued state) */
            if ((all || page->state != LG_PAGE_CURRENT) && lg__page_used(page) == 0
                && !(atomic_load_explicit(&page->xfree, memory_order_acquire) & LG_XFREE_NOTIFYING)) {
                page->state = LG_PAGE_QUEUED;
                page->trigger = 0;
                lg__page_retire(heap, page);
            }
            page = next;
        }
    }
}

void lg_thread_collect(void)
{
    lg_heap_t *heap = lg__heap;
    if (heap == &lg__heap_empty)
        return;
    lg__heap_collect(heap, true);
    lg__purge_heap(heap);
    lg_check_heap(heap);
}

unsigned lg_thread_purge_delay(unsigned ms)
{
    lg_heap_t *heap = lg__heap;
    if (heap == &lg__heap_empty && (heap = lg__heap_init_thread()) == NULL)
        return lg__options.purge_delay_ms;
    return lg__purge_set_delay(heap, ms);
}

void lg_collect(void)
{
    lg_heap_t *heap = lg__heap;
    if (heap != &lg__heap_empty) {
        while (lg__segment_adopt_one(heap, 0))
            ;
    }
    lg_thread_collect();
    lg__segcache_clear();
    lg__huge_cache_clear();
}
