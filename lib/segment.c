/* Segments: 4 MiB of address space divided into 64 KiB slices.  A heap
 * takes a new one (from the cache of empty ones, or the OS) when none of
 * its own has room, and divides its slices between pages, a span of
 * consecutive slices each.  Empty segments go to segcache.c, their free
 * slices' memory is returned by purge.c, and segments of exited threads
 * are handed on by abandon.c. */
#include "internal.h"

#include <string.h>
#include <sys/mman.h>

/* ---- a new segment -------------------------------------------------------- */

static void guard_segment(lg_segment_t *seg)
{
#if LG_SECURE
    /* the header's last OS page, where the header leaves one (not with
     * 64 KiB pages) */
    size_t page = lg__os_page_size();
    if (sizeof(lg_segment_t) <= LG_SLICE_SIZE - page)
        mprotect((uint8_t *)seg + LG_SLICE_SIZE - page, page, PROT_NONE);
    mprotect((uint8_t *)seg + LG_SEGMENT_SIZE - LG_SLICE_SIZE, LG_SLICE_SIZE, PROT_NONE);
#else
    (void)seg;
#endif
}

/* A page's blocks: capacity blocks of class cls from start, none handed
 * out yet, with the block-start test's constants (types.h) and a fresh
 * key.  The rest of the descriptor is the caller's (zeroed first). */
void lg__page_describe(lg_segment_t *seg, lg_page_t *page, size_t cls, uint8_t *start,
                       size_t capacity)
{
    size_t block = lg__class_size[cls];
    page->block_size = block;
    page->capacity = (uint32_t)capacity;
    page->cls = (uint8_t)cls;
    page->bump = start;
    page->end = start + capacity * block;
    page->list_key = lg__random();
    page->div_mul = UINT64_MAX / block + 1;
    page->div_base = (uintptr_t)start * page->div_mul;
    page->div_limit = page->div_mul;
    page->owner = seg->owner;
}

/* A new segment for heap: a cached one, or one from the OS; with
 * warm_slices > 0, only a cached one with a resident run of that many
 * free slices (NULL if there is none). */
lg_segment_t *lg__segment_new(lg_heap_t *heap, unsigned warm_slices)
{
    lg_segment_t *seg = lg__segcache_take(warm_slices);
    uint64_t dirty = seg ? seg->dirty_mask : 0;
    if (!seg && warm_slices)
        return NULL;
    if (!seg) {
        if (!lg__limit_allows(heap, LG_SLICE_SIZE))
            return NULL;
        seg = lg__os_segment_map();
        if (!seg)
            return NULL;
        lg__count_commit(LG_SLICE_SIZE); /* the header; a cached one still has it */
        guard_segment(seg);
    }
    memset(seg, 0, offsetof(lg_segment_t, nursery_data));   /* the nursery's runs: as used */
    seg->free_mask = LG_ALL_SLICES;
    seg->dirty_mask = dirty;
    lg__purge_add_dirty(heap, lg__dirty_slices(seg));
    for (unsigned i = 0; i < LG_SLICES; i++)
        lg__slice_set(seg, i, LG_NO_PAGE);
    seg->owner = heap->owner;
    atomic_store_explicit(&seg->heap, heap, memory_order_release);
    lg__heap_segment_link(heap, seg);
    lg__map_set(seg, LG_SEGMENT_SIZE, LG_UNIT_SEGMENT);
    lg__count_add(&lg__counters.segments, 1, &lg__counters.segments_peak);
    return seg;
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

bool lg__segment_has_warm_span(const lg_segment_t *seg, unsigned k)
{
    bool warm;
    return find_span(seg, k, &warm) >= 0 && warm;
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
    uint64_t resident = seg->dirty_mask & span;
    unsigned warm = lg__popcount(resident);
    lg_assert((seg->free_mask & span) == span && heap->dirty_slices >= warm);

    /* resident free slices were counted as committed already */
    heap->dirty_slices -= warm;
    lg__count_commit((size_t)(k - warm) << LG_SLICE_SHIFT);
    seg->free_mask &= ~span;
    seg->dirty_mask &= ~span;
    seg->aged_mask &= ~span;
    seg->used_by_owner = true;
    seg->pages_used++;
    memset(page, 0, sizeof *page);
    page->slices = (uint8_t)k;
    page->first_slice = (uint8_t)first;
    lg__page_describe(seg, page, cls, lg__page_start(seg, page), capacity);
    page->resident = resident;
    for (unsigned i = first; i < first + k; i++)
        lg__slice_set(seg, i, page);
    lg__count_add(&lg__counters.pages_in_use, 1, NULL);
    lg__count_add(&lg__counters.page_bytes, (size_t)k << LG_SLICE_SHIFT, NULL);
    lg__stats_page(cls, (size_t)k << LG_SLICE_SHIFT, true);
    return page;
}

lg_page_t *lg__segment_page_alloc(lg_heap_t *heap, size_t cls)
{
    lg__purge_tick(heap);
    heap->paged_ms = lg__os_now_ms();
    unsigned k = lg__class_slices[cls];
    if (!lg__limit_allows(heap, (size_t)k << LG_SLICE_SHIFT))
        return NULL;
    /* a resident run in any segment first, the heap's own, one an exited
     * thread left or an empty one cached: taking the first segment's
     * fresh slices while another's lay resident and free made a program
     * that fills and frees memory over and over hold both, and threads
     * that start as others exit fault in fresh memory while the old is
     * purged; see docs/decisions.md#resident-slices-first */
    for (;;) {
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
        if (lg__segment_adopt_one(heap, k) || lg__segment_new(heap, k))
            continue;
        if (cold)
            return page_init(heap, cold, (unsigned)cold_first, cls);
        if (!lg__segment_adopt_one(heap, 0))
            break;
    }
    lg_segment_t *seg = lg__segment_new(heap, 0);
    return seg ? page_init(heap, seg, 1, cls) : NULL;
}

unsigned lg__segment_slices_free(lg_segment_t *seg, lg_page_t *page)
{
    if (page->first_slice == 0) {
        lg__nursery_page_free(seg, page);
        return 0;
    }
    unsigned k = page->slices, first = page->first_slice;
    uint64_t span = (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << first;
    lg_assert(page->state == LG_PAGE_FREE && (seg->free_mask & span) == 0 && seg->pages_used > 0);
    for (unsigned i = first; i < first + k; i++)
        lg__slice_set(seg, i, LG_NO_PAGE);
    /* resident: the part of the page ever handed out, and the slices that
     * were resident when it was made (a page that handed out less than
     * it took resident left the rest resident unknown to the purge, for
     * good); see docs/decisions.md#page-resident-slices */
    size_t touched = (size_t)(page->bump - lg__page_start(seg, page));
    unsigned used = (unsigned)((touched + LG_SLICE_SIZE - 1) >> LG_SLICE_SHIFT);
    uint64_t resident = (used ? (((uint64_t)1 << used) - 1) << first : 0) | page->resident;
    unsigned dirty = lg__popcount(resident);
    seg->free_mask |= span;
    seg->dirty_mask |= resident;
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
    lg__purge_add_dirty(heap, lg__segment_slices_free(seg, page));
    if (heap->exiting)
        return; /* lg__segment_abandon_all decides */
    /* An empty segment stays while its slices age, for the heap to fill
     * again; unless the heap adopted it and never made a page in it: a
     * thread freeing what exited threads left would hold their segments
     * away from the threads starting meanwhile; see
     * docs/decisions.md#empty-segment-release. */
    if (seg->pages_used == 0 && !seg->used_by_owner) {
        heap->dirty_slices -= lg__dirty_slices(seg);
        lg__heap_segment_unlink(heap, seg);
        lg__segment_release(seg);
        return;
    }
    lg__purge_freed(heap);
}
