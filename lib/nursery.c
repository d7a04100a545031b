/* The nursery: the first blocks of each small class a thread uses come
 * from short runs in its segment's header slice, one mini-page each, so
 * that classes a thread uses a little of share OS pages instead of taking
 * one each.  A run grows in place while it is the nursery's last; a class
 * that proves hot (its runs reach LG_NURSERY_CLASS_MAX bytes, or its
 * mini-pages take LG_NURSERY_TRIPS trips through the slow paths) leaves
 * the nursery for ordinary pages, whose frees take the fast path: the
 * window's table names no page for the header slice, so every free of a
 * nursery block reaches lg__free_outside, which finds its mini-page here.
 * See docs/decisions.md#thread-nursery. */
#include "internal.h"

#include <string.h>

/* A run is carved, or grown, by at least this many bytes of blocks. */
#define LG_NURSERY_STEP      256
/* Blocks larger than this never come from the nursery. */
#define LG_NURSERY_BLOCK_MAX 1024
/* Bytes of runs a class may hold in one nursery. */
#define LG_NURSERY_CLASS_MAX (LG_NURSERY_SIZE / 4)
/* Slow-path trips (local frees, refills) a mini-page may take. */
#define LG_NURSERY_TRIPS     64
/* Valgrind: a run that ends where the next begins would hold, in end and
 * bump, a pointer to the next run's first block (see page_init). */
#define LG_NURSERY_ON        (!LG_VALGRIND)

_Static_assert(offsetof(lg_segment_t, nursery_data) % LG_NURSERY_BLOCK_MAX == 0,
               "the nursery is aligned as its largest blocks' size is (run_take)");

static unsigned mini_index(const lg_segment_t *seg, const lg_page_t *page)
{
    return (unsigned)(page - seg->nursery.pages);
}

static size_t step_bytes(size_t block)
{
    size_t n = LG_NURSERY_STEP / block;
    return (n ? n : 1) * block;
}

static bool class_hot(const lg_heap_t *heap, size_t cls)
{
    return heap->nursery_hot[cls / 64] >> (cls % 64) & 1;
}

static void class_make_hot(lg_heap_t *heap, size_t cls)
{
    heap->nursery_hot[cls / 64] |= (uint64_t)1 << (cls % 64);
}

bool lg__nursery_passed(const lg_heap_t *heap, const lg_page_t *page)
{
    return page->first_slice == 0 && class_hot(heap, page->cls);
}

/* Bytes of runs that live mini-pages of a class hold in seg's nursery. */
static size_t class_bytes(const lg_segment_t *seg, size_t cls)
{
    const lg_nursery_t *n = &seg->nursery;
    size_t bytes = 0;
    for (unsigned live = n->live; live; live &= live - 1) {
        unsigned i = (unsigned)__builtin_ctz(live);
        if (n->pages[i].cls == cls)
            bytes += (size_t)(n->runs[i].hi - n->runs[i].lo) * LG_GRANULE;
    }
    return bytes;
}

/* A descriptor with a run of at least `bytes` of blocks of `block` bytes:
 * a free one's old run, or a new run at the top; -1 if there is none.  A
 * run starts aligned as its blocks' size is, as a page's first block is
 * (the aligned allocations rely on it, alloc.c). */
static int run_take(lg_nursery_t *n, size_t block, size_t bytes)
{
    unsigned want = (unsigned)(bytes / LG_GRANULE), blank = LG_NURSERY_PAGES;
    unsigned align = (unsigned)((block & -block) / LG_GRANULE);
    for (unsigned i = 0; i < LG_NURSERY_PAGES; i++) {
        if (n->live >> i & 1)
            continue;
        if ((unsigned)(n->runs[i].hi - n->runs[i].lo) >= want && n->runs[i].lo % align == 0)
            return (int)i;
        if (n->runs[i].hi == n->runs[i].lo && blank == LG_NURSERY_PAGES)
            blank = i;
    }
    unsigned lo = (n->top + align - 1) / align * align;
    if (blank == LG_NURSERY_PAGES || lo + want > LG_NURSERY_SIZE / LG_GRANULE)
        return -1;
    n->runs[blank].lo = (uint16_t)lo;
    n->runs[blank].hi = (uint16_t)(lo + want);
    n->top = n->runs[blank].hi;
    return (int)blank;
}

static lg_page_t *mini_init(lg_heap_t *heap, lg_segment_t *seg, unsigned i, size_t cls)
{
    lg_nursery_t *n = &seg->nursery;
    lg_page_t *page = &n->pages[i];
    size_t block = lg__class_size[cls];
    size_t capacity = (size_t)(n->runs[i].hi - n->runs[i].lo) * LG_GRANULE / block;
    memset(page, 0, sizeof *page);
    lg__page_describe(seg, page, cls, lg__nursery_start(seg, page), capacity);
    n->trips[i] = 0;
    __atomic_store_n(&n->live, (uint16_t)(n->live | 1u << i), __ATOMIC_RELEASE);
    seg->pages_used++;
    seg->used_by_owner = true;
    heap->paged_ms = lg__os_now_ms();
    return page;
}

lg_page_t *lg__nursery_page_alloc(lg_heap_t *heap, size_t cls)
{
    size_t block = lg__class_size[cls];
    if (!LG_NURSERY_ON || block > LG_NURSERY_BLOCK_MAX || class_hot(heap, cls))
        return NULL;
    size_t bytes = step_bytes(block);
    if (!heap->segments && !lg__segment_adopt_one(heap, 0) && !lg__segment_new(heap, 0))
        return NULL;
    for (lg_segment_t *seg = heap->segments; seg; seg = seg->next) {
        if (class_bytes(seg, cls) + bytes > LG_NURSERY_CLASS_MAX) {
            class_make_hot(heap, cls);
            return NULL;
        }
        int i = run_take(&seg->nursery, block, bytes);
        if (i >= 0)
            return mini_init(heap, seg, (unsigned)i, cls);
    }
    return NULL;
}

/* A trip of a mini-page through a slow path; true when its class is (now)
 * hot. */
static bool trip(lg_heap_t *heap, lg_segment_t *seg, lg_page_t *page)
{
    unsigned i = mini_index(seg, page);
    if (class_hot(heap, page->cls))
        return true;
    if (++seg->nursery.trips[i] < LG_NURSERY_TRIPS)
        return false;
    class_make_hot(heap, page->cls);
    return true;
}

bool lg__nursery_grow(lg_heap_t *heap, lg_page_t *page)
{
    if (page->first_slice != 0 || page->bump < page->end)
        return false;
    lg_segment_t *seg = lg__segment_of(page);
    if (trip(heap, seg, page))
        return false;
    lg_nursery_t *n = &seg->nursery;
    unsigned i = mini_index(seg, page);
    size_t bytes = step_bytes(page->block_size);
    size_t end = (size_t)(page->end - seg->nursery_data) + bytes;
    if (n->runs[i].hi != n->top || end > LG_NURSERY_SIZE)
        return false;
    if (class_bytes(seg, page->cls) + bytes > LG_NURSERY_CLASS_MAX) {
        class_make_hot(heap, page->cls);
        return false;
    }
    n->runs[i].hi = n->top = (uint16_t)(end / LG_GRANULE);
    __atomic_store_n(&page->end, page->end + bytes, __ATOMIC_RELAXED);
    page->capacity += (uint32_t)(bytes / page->block_size);
    return true;
}

void lg__nursery_page_free(lg_segment_t *seg, lg_page_t *page)
{
    lg_nursery_t *n = &seg->nursery;
    unsigned i = mini_index(seg, page);
    lg_assert(page->state == LG_PAGE_FREE && (n->live >> i & 1) && seg->pages_used > 0);
    __atomic_store_n(&n->live, (uint16_t)(n->live & ~(1u << i)), __ATOMIC_RELAXED);
    seg->pages_used--;
    /* free runs at the top go back to it */
    for (bool shrunk = true; shrunk;) {
        shrunk = false;
        for (unsigned j = 0; j < LG_NURSERY_PAGES; j++) {
            if (!(n->live >> j & 1) && n->runs[j].hi == n->top && n->runs[j].lo < n->top) {
                n->top = n->runs[j].lo;
                n->runs[j].lo = n->runs[j].hi = 0;
                shrunk = true;
            }
        }
    }
}

lg_page_t *lg__nursery_page_of(const lg_segment_t *seg, const void *p)
{
    uintptr_t off = (uintptr_t)p - (uintptr_t)seg->nursery_data;
    if (off >= LG_NURSERY_SIZE)
        return LG_NO_PAGE;
    const lg_nursery_t *n = &seg->nursery;
    uintptr_t g = off / LG_GRANULE;
    for (unsigned live = __atomic_load_n(&n->live, __ATOMIC_ACQUIRE); live; live &= live - 1) {
        unsigned i = (unsigned)__builtin_ctz(live);
        if (g >= n->runs[i].lo && g < n->runs[i].hi)
            return (lg_page_t *)&n->pages[i];
    }
    return LG_NO_PAGE;
}

void lg__nursery_free(lg_segment_t *seg, void *p)
{
    lg_page_t *page = lg__nursery_page_of(seg, p);
    lg_heap_t *heap = lg__heap;
    /* a class whose blocks keep coming back here leaves the nursery: its
     * mini-page stops being current, so its next malloc takes a page */
    if (page->owner == lg__thread_id() && trip(heap, seg, page) && lg__current[page->cls] == page) {
        lg__set_current(page->cls, &lg__page_empty);
        lg__page_classify(heap, page);
    }
    lg__free_to_page(page, p);
}
