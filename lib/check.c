/* Invariants checked at run time: lg_heap_check's walk of the structures
 * (what types.h and the files' comments promise about pages, their free
 * lists and trigger counters, segments and the counts of lg_stats_get),
 * and the report of a broken lg_assert.  Never on a fast path; in every
 * build.  A broken invariant is reported as "lgmalloc: heap check: " and
 * the invariant's rule, then what was found, and aborts. */
#include "internal.h"

#if LG_VALGRIND
/* A free block's link may be marked inaccessible for memcheck: read it
 * without changing what memcheck thinks of it. */
#define read_quietly(b, word) do {                                         \
        VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE((b), sizeof *(b));  \
        (word) = (uintptr_t)(b)->next;                                     \
        VALGRIND_ENABLE_ADDR_ERROR_REPORTING_IN_RANGE((b), sizeof *(b));   \
    } while (0)
#else
#define read_quietly(b, word) ((word) = (uintptr_t)(b)->next)
#endif

_Noreturn void lg__assert_fail(const char *cond, const char *file, int line)
{
    lg__fatal("invariant broken: %s (%s:%d)", cond, file, line);
}

/* What the walk found, to compare with the process-wide counts. */
typedef struct sums_s {
    size_t segments;    /* owned or abandoned (cached ones are not counted) */
    size_t pages, page_bytes;
    size_t minis;       /* mini-pages (not in the counts of pages) */
    size_t committed;   /* headers, pages and resident free slices */
    size_t abandoned;
    size_t unowned_dirty;
} sums_t;

/* Blocks a page may have, for the bitmap of blocks seen on its lists: a
 * class's page holds a few blocks, or one slice of them. */
#define MAX_BLOCKS (4 * LG_SLICE_SIZE / LG_GRANULE)

/* Walks a free list of page (local or remote, `which`): every block lies
 * in the page below its fresh blocks, on a block start, once; the list
 * ends.  Returns its length. */
static size_t check_list(const lg_page_t *page, const uint8_t *start, const lg_block_t *b,
                         const char *which, uint64_t *seen)
{
    size_t n = 0;
    for (; b; n++) {
        lg_check(n < page->capacity, "a free list ends within its page's capacity: the %s list "
                 "of page %p (%u blocks) goes on (a cycle?)", which, (const void *)page, page->capacity);
        const uint8_t *p = (const uint8_t *)b;
        lg_check(p >= start && p < page->bump, "free blocks lie in their page, below its fresh "
                 "ones: %p on the %s list of page %p [%p, %p)", (const void *)b, which,
                 (const void *)page, (const void *)start, (const void *)page->bump);
        lg_check(lg__block_start(page, b), "free blocks are block starts: %p on the %s list of "
                 "page %p (blocks of %zu bytes from %p)", (const void *)b, which,
                 (const void *)page, page->block_size, (const void *)start);
        size_t i = (size_t)(p - start) / page->block_size;
        if (i < MAX_BLOCKS) {
            lg_check(!(seen[i / 64] >> (i % 64) & 1), "a free block is on one free list, once: %p "
                     "again, on the %s list of page %p", (const void *)b, which, (const void *)page);
            seen[i / 64] |= (uint64_t)1 << (i % 64);
        }
        uintptr_t link;
        read_quietly(b, link);
        b = (const lg_block_t *)(link ^ lg__link_mask(page, b));
    }
    return n;
}

/* A page in a segment's slice table.  `heap`: the segment's heap, NULL
 * when no heap owns it. */
static void check_page(const lg_segment_t *seg, const lg_page_t *page, const lg_heap_t *heap)
{
    const void *pg = page;
    lg_check(page->state == LG_PAGE_CURRENT || page->state == LG_PAGE_QUEUED
             || page->state == LG_PAGE_FULL, "a page in a segment's slice table is in use: page %p "
             "has state %u", pg, page->state);
    size_t cls = page->cls, block = page->block_size;
    bool mini = page->first_slice == 0;
    lg_check(cls < lg__class_count && block == lg__class_size[cls]
             && page->slices == (mini ? 0 : lg__class_slices[cls]), "a page has its class's "
             "block size and length (a mini-page none): page %p, class %zu, %zu bytes, %u slices",
             pg, cls, block, page->slices);
    const uint8_t *start = lg__page_start(seg, page);
    size_t capacity = ((size_t)page->slices << LG_SLICE_SHIFT) / block;
    if (mini) {
        unsigned i = (unsigned)(page - seg->nursery.pages);
        capacity = (size_t)(seg->nursery.runs[i].hi - seg->nursery.runs[i].lo) * LG_GRANULE / block;
    }
    lg_check(page->capacity == capacity || (LG_VALGRIND && page->capacity == capacity - 1),
             "a page holds as many blocks as fit (a mini-page, in its run): page %p, capacity "
             "%u of %zu", pg, page->capacity, capacity);
    lg_check(page->end == start + (size_t)page->capacity * block && page->bump >= start
             && page->bump <= page->end && (size_t)(page->bump - start) % block == 0,
             "a page's fresh blocks lie between bump and end: page %p [%p, %p), bump %p, end %p",
             pg, (const void *)start, (const void *)(start + ((size_t)page->slices << LG_SLICE_SHIFT)),
             (const void *)page->bump, (const void *)page->end);
    lg_check(page->div_mul == UINT64_MAX / block + 1 && page->div_limit == page->div_mul
             && page->div_base == (uintptr_t)start * page->div_mul,
             "a page's block-start test is its block size's: page %p", pg);
    lg_check(page->owner == seg->owner, "a page's owner is its segment's: page %p has %#lx, the "
             "segment %#lx", pg, (unsigned long)page->owner, (unsigned long)seg->owner);

    uintptr_t x = atomic_load_explicit(&page->xfree, memory_order_acquire);
    uintptr_t flags = x & LG_XFREE_FLAGS;
    lg_check(flags != LG_XFREE_FLAGS, "a page's xfree is FULL or NOTIFYING, never both: page %p", pg);
    uint64_t seen[MAX_BLOCKS / 64] = { 0 };
    size_t local = check_list(page, start, page->free, "local", seen);
    size_t remote = check_list(page, start, (const lg_block_t *)(x & ~LG_XFREE_FLAGS), "remote", seen);
    size_t fresh = (size_t)(page->end - page->bump) / block;
    lg_check(local + remote + fresh <= page->capacity, "a page's free blocks are at most its "
             "capacity: page %p, %zu local + %zu remote + %zu fresh of %u", pg, local, remote,
             fresh, page->capacity);

    /* the trigger counter's rules (types.h, LG_HEARTBEAT) */
    int32_t trigger = page->trigger;
    switch (page->state) {
    case LG_PAGE_CURRENT:
        lg_check(trigger >= 1 && trigger <= LG_HEARTBEAT, "a current page's trigger counts "
                 "down from LG_HEARTBEAT: page %p has %d", pg, trigger);
        lg_check(!heap || heap != lg__heap || lg__current[cls] == page, "a page in the current "
                 "state is its class's current page: page %p, class %zu", pg, cls);
        break;
    case LG_PAGE_QUEUED:
        lg_check((size_t)trigger == page->capacity - fresh - local, "a queued page's trigger "
                 "counts its blocks in use: page %p has %d, %zu in use (remote frees count)",
                 pg, trigger, page->capacity - fresh - local);
        break;
    case LG_PAGE_FULL:
        /* (an adopted page with no block in use waits as full, fresh
         * blocks and all, for the drain to retire it when a remote free's
         * notice of it is on its way: lg__page_adopt) */
        lg_check((size_t)(1 - trigger) == local + fresh
                 && (fresh == 0 || (flags & LG_XFREE_NOTIFYING)), "a full page's trigger is 1 "
                 "less its free blocks (zero at the first free), and it has fresh blocks only "
                 "while a notice of it is on its way to its owner: page %p, %zu fresh, %zu "
                 "local, trigger %d, flags %#lx", pg, fresh, local, trigger, (unsigned long)flags);
        break;
    }
    if (heap) {
        lg_check(page->state != LG_PAGE_FULL || flags != 0, "a full page is flagged, so the "
                 "first remote free into it tells its owner: page %p", pg);
    } else {
        lg_check(flags != 0 || seg->freed_into, "a page of an abandoned segment is flagged, or "
                 "the segment is marked freed into: page %p", pg);
    }
}

/* A segment's nursery: its runs lie below its top, apart, and its live
 * mini-pages are pages like the others.  Returns how many of them belong
 * in a class queue. */
static size_t check_nursery(const lg_segment_t *seg, const lg_heap_t *heap)
{
    const lg_nursery_t *n = &seg->nursery;
    lg_check(n->top <= LG_NURSERY_SIZE / LG_GRANULE && n->live < 1u << LG_NURSERY_PAGES,
             "a nursery's top and live mask are in range: segment %p", (const void *)seg);
    for (unsigned i = 0; i < LG_NURSERY_PAGES; i++) {
        const lg_page_t *page = &n->pages[i];
        bool live = n->live >> i & 1;
        lg_check(n->runs[i].lo <= n->runs[i].hi && n->runs[i].hi <= n->top
                 && (n->runs[i].lo < n->runs[i].hi || !live)
                 && (!live || (uintptr_t)lg__nursery_start(seg, page) % (page->block_size & -page->block_size) == 0),
                 "a nursery's runs lie below its top, a live mini-page's not empty and aligned "
                 "as its blocks' size is (alloc.c): segment %p, run %u", (const void *)seg, i);
        for (unsigned j = 0; j < i; j++)
            lg_check(n->runs[j].hi <= n->runs[i].lo || n->runs[i].hi <= n->runs[j].lo,
                     "a nursery's runs do not overlap: segment %p, runs %u and %u",
                     (const void *)seg, j, i);
    }
    size_t queued = 0;
    const lg_page_t *page;
    lg_for_each_mini(seg, page) {
        check_page(seg, page, heap);
        queued += page->state != LG_PAGE_FULL;
    }
    return queued;
}

/* The pages of a segment and its slice accounting; adds them to sums.
 * Returns how many of its pages belong in a class queue. */
static size_t check_segment(const lg_segment_t *seg, const lg_heap_t *heap, sums_t *sums)
{
    const void *sg = seg;
    const lg_page_t *invalid = LG_NO_PAGE;
    uint64_t in_pages = 0;
    size_t pages = 0, queued = 0, page_slices = 0;
    lg_check(seg->slice_page[0] == invalid, "slice 0 of a segment is its header: segment %p", sg);
    for (unsigned i = 1; i < LG_SLICES;) {
        const lg_page_t *page = seg->slice_page[i];
        if (page == invalid) {
            i++;
            continue;
        }
        lg_check(page == &seg->pages[i] && page->first_slice == i && page->slices >= 1
                 && i + page->slices <= LG_SLICES, "a page's descriptor is at its first slice: "
                 "slice %u of segment %p names %p", i, sg, (const void *)page);
        for (unsigned j = i; j < i + page->slices; j++)
            lg_check(seg->slice_page[j] == page, "every slice of a page names it: slice %u of "
                     "segment %p", j, sg);
        check_page(seg, page, heap);
        in_pages |= (page->slices == 64 ? ~(uint64_t)0 : (((uint64_t)1 << page->slices) - 1)) << i;
        pages++;
        page_slices += page->slices;
        queued += page->state != LG_PAGE_FULL;
        i += page->slices;
    }
    queued += check_nursery(seg, heap);
    size_t minis = lg__popcount(seg->nursery.live);
    lg_check(seg->pages_used == pages + minis, "a segment counts its pages (and mini-pages): segment %p "
             "says %u, has %zu", sg, seg->pages_used, pages + minis);
    lg_check(seg->free_mask == (LG_ALL_SLICES & ~in_pages), "a segment's free slices are those "
             "in no page: segment %p", sg);
    lg_check((seg->dirty_mask & ~seg->free_mask) == 0 && (seg->aged_mask & ~seg->dirty_mask) == 0,
             "resident (dirty) slices are free ones, aged ones dirty: segment %p", sg);
    const lg_window_t *w = __atomic_load_n(&lg__window, __ATOMIC_ACQUIRE);
    uintptr_t slice = ((uintptr_t)seg - (uintptr_t)w) >> LG_SLICE_SHIFT;
    if (lg__os_in_window(seg)) {
        for (unsigned i = 0; i < LG_SLICES; i++)
            lg_check(lg__window_page(w, slice + i) == (seg->slice_page[i] == invalid
                                                       ? &w->invalid : seg->slice_page[i]),
                     "the window's table names the page of every slice: slice %u of segment %p",
                     i, sg);
    }
    sums->pages += pages;
    sums->minis += minis;
    sums->page_bytes += page_slices << LG_SLICE_SHIFT;
    sums->committed += (1 + page_slices + lg__dirty_slices(seg)) << LG_SLICE_SHIFT;
    return queued;
}

/* The calling thread's heap: its segments, its class queues, its current
 * pages and the pages waiting on its xpages list. */
static void check_heap(const lg_heap_t *heap, sums_t *sums)
{
    const void *hp = heap;
    size_t dirty = 0, queued = 0, pages = sums->pages + sums->minis;
    const lg_segment_t *prev = NULL;
    for (const lg_segment_t *seg = heap->segments; seg; prev = seg, seg = seg->next) {
        lg_check(seg->prev == prev, "a heap's segment list is linked both ways: segment %p", (const void *)seg);
        lg_check(atomic_load_explicit(&seg->heap, memory_order_relaxed) == heap
                 && seg->owner == heap->owner && !seg->abandoned && lg__in_segment(seg),
                 "a heap's segments are its own, and ours: segment %p in heap %p", (const void *)seg, hp);
        queued += check_segment(seg, heap, sums);
        dirty += lg__dirty_slices(seg);
        sums->segments++;
    }
    pages = sums->pages + sums->minis - pages;
    lg_check(heap->dirty_slices == dirty, "a heap counts the free resident slices of its "
             "segments: heap %p says %zu, has %zu", hp, heap->dirty_slices, dirty);

    size_t in_queues = 0;
    for (size_t cls = 0; cls < LG_CLASSES; cls++) {
        const lg_queue_t *q = &heap->queue[cls];
        const lg_page_t *before = NULL;
        for (const lg_page_t *page = q->first; page; before = page, page = page->next) {
            lg_check(in_queues++ < pages, "a class queue ends: heap %p, class %zu", hp, cls);
            lg_check(page->prev == before && page->cls == cls
                     && (page->state == LG_PAGE_QUEUED || page->state == LG_PAGE_CURRENT)
                     && atomic_load_explicit(&lg__segment_of(page)->heap, memory_order_relaxed) == heap,
                     "a class queue holds the heap's queued and current pages of its class, "
                     "linked both ways: page %p, class %zu", (const void *)page, cls);
        }
        lg_check(q->last == before, "a class queue's last page is its tail: heap %p, class %zu", hp, cls);
    }
    lg_check(in_queues == queued, "every queued and current page is in its class queue: heap "
             "%p, %zu of %zu", hp, in_queues, queued);

    if (heap == lg__heap) {
        for (size_t cls = 0; cls < LG_CLASSES; cls++) {
            const lg_page_t *page = lg__current[cls];
            lg_check(page == &lg__page_empty || (page->state == LG_PAGE_CURRENT && page->cls == cls
                     && atomic_load_explicit(&lg__segment_of(page)->heap, memory_order_relaxed) == heap),
                     "a thread's current page of a class is a current page of its heap: class "
                     "%zu, page %p", cls, (const void *)page);
        }
        for (size_t g = 0; g <= LG_DIRECT_MAX / LG_GRANULE; g++) {
            const lg_page_t *page = lg__direct[g];
            lg_check(page == &lg__page_empty || (!lg__stats_on && lg__current[page->cls] == page
                     && page->block_size >= g * LG_GRANULE), "malloc's page for a size is a "
                     "current page whose blocks fit it: %zu bytes, page %p", g * LG_GRANULE,
                     (const void *)page);
        }
    }

    const lg_page_t *page = atomic_load_explicit(&heap->xpages, memory_order_acquire);
    for (size_t n = 0; page && page != LG_XPAGES_CLOSED; n++) {
        lg_check(n < ((size_t)1 << 24), "a heap's xpages list ends: heap %p", hp);
        lg_check(atomic_load_explicit(&page->xfree, memory_order_relaxed) & LG_XFREE_NOTIFYING,
                 "a page on a heap's xpages list is flagged NOTIFYING: page %p", (const void *)page);
        page = atomic_load_explicit(&page->xnext, memory_order_relaxed);
    }
}

/* Under lg__lock: the segments no heap owns, abandoned or cached. */
static void check_unowned(sums_t *sums)
{
    const lg_segment_t *prev = NULL;
    for (const lg_segment_t *seg = lg__abandoned; seg; prev = seg, seg = seg->next) {
        lg_check(seg->prev == prev && seg->abandoned && seg->owner == 0
                 && atomic_load_explicit(&seg->heap, memory_order_relaxed) == NULL
                 && lg__in_segment(seg), "the abandoned list holds segments no heap owns, linked "
                 "both ways: segment %p", (const void *)seg);
        lg_check(seg->pages_used > 0, "an abandoned segment holds blocks: segment %p", (const void *)seg);
        check_segment(seg, NULL, sums);
        sums->unowned_dirty += lg__dirty_slices(seg);
        sums->segments++;
        sums->abandoned++;
    }
    for (unsigned i = 0; i < lg__segcache_count; i++) {
        const lg_segment_t *seg = lg__segcache[i];
        lg_check(seg->pages_used == 0 && !lg__in_segment(seg), "a cached segment is empty and "
                 "no longer in the map of segments: segment %p", (const void *)seg);
        check_segment(seg, NULL, sums);
        sums->unowned_dirty += lg__dirty_slices(seg);
    }
    lg_check(lg__unowned_dirty() >= sums->unowned_dirty, "the budget of unowned resident slices "
             "counts theirs: %u counted, %zu found", lg__unowned_dirty(), sums->unowned_dirty);
}

/* Under lg__lock, when no other thread has a heap: what the walk found
 * is what the process-wide counts say. */
static void check_totals(const sums_t *s, size_t huge_cached)
{
#define COUNT(x) atomic_load_explicit(&lg__counters.x, memory_order_relaxed)
    lg_check(COUNT(segments) == s->segments && COUNT(abandoned) == s->abandoned,
             "the counts of segments are those of the heaps and the abandoned list: %zu and %zu "
             "counted, %zu and %zu found", COUNT(segments), COUNT(abandoned), s->segments, s->abandoned);
    lg_check(COUNT(pages_in_use) == s->pages && COUNT(page_bytes) == s->page_bytes,
             "the counts of pages are those of the segments: %zu pages of %zu bytes counted, %zu "
             "of %zu found", COUNT(pages_in_use), COUNT(page_bytes), s->pages, s->page_bytes);
    size_t committed = s->committed + COUNT(huge_bytes) + huge_cached;
    lg_check(COUNT(committed) == committed, "committed bytes are the segments' headers, pages "
             "and resident free slices, and the huge blocks': %zu counted, %zu found",
             COUNT(committed), committed);
    lg_check(lg__unowned_dirty() == s->unowned_dirty, "the budget of unowned resident slices "
             "counts exactly theirs: %u counted, %zu found", lg__unowned_dirty(), s->unowned_dirty);
#undef COUNT
}

void lg__check_heap(const lg_heap_t *heap)
{
    sums_t sums = { 0 };
    check_heap(heap, &sums);
}

int lg_heap_check(void)
{
    sums_t sums = { 0 };
    const lg_heap_t *heap = lg__heap;
    lg__lock();
    if (heap != &lg__heap_empty)
        check_heap(heap, &sums);
    check_unowned(&sums);
    size_t huge_cached = lg__huge_check();
    if (lg__heap_alone(heap) && lg__orphaned == 0)
        check_totals(&sums, huge_cached);
    lg__unlock();
    return 0;
}
