/* The fast paths of malloc and free, inline, for the core's lg_malloc and
 * lg_free and for the shim's entry points, which include this so that a
 * wrapped call reaches the free list without a further jump.
 *
 * malloc: size to page (one load from the heap for small sizes), pop the
 * page's free list.  free: the pointer's page from the window's slice
 * table, is it a block of that page and not free already, is the page
 * this thread's, push on the page's list; the page's trigger (see
 * LG_HEARTBEAT) says when anything more is due.  Everything else is a
 * call to the slow paths. */
#ifndef LG_FAST_H
#define LG_FAST_H

#include "types.h"
#include "harden.h"

#define lg_tls __thread __attribute__((tls_model("local-exec")))

extern lg_tls lg_heap_t *lg__heap;
/* The thread's current page of each class, and the same pages under each
 * granule of size up to LG_DIRECT_MAX: in TLS rather than in the heap, so
 * malloc reaches its page with one load.  Pages of lg__heap's segments, or
 * lg__page_empty (heap.c). */
extern lg_tls lg_page_t *lg__current[LG_CLASSES];
extern lg_tls lg_page_t *lg__direct[LG_DIRECT_MAX / LG_GRANULE + 1];

void *lg__malloc_generic(size_t size);
void  lg__free_slow(lg_page_t *page);
void  lg__free_remote(lg_segment_t *seg, lg_page_t *page, lg_block_t *block);
/* A pointer outside the window's pages: NULL, a segment outside the
 * window, a huge block, or the C library's. */
void  lg__free_outside(void *p);
/* A pointer that is not a block start of the page the window's table
 * gives: outside our pages after all, or misuse (which aborts). */
void  lg__free_not_block(const lg_page_t *page, void *p);
/* A block whose key is in place: a double free, or (by a chance a correct
 * program cannot arrange) a live block holding that word.  Confirms which
 * before aborting, and frees a live one (doublefree.c).  Reached with a
 * jump: the fast path needs no stack frame. */
void  lg__free_suspect(void *p, lg_page_t *page);
/* Whether a block start of the page is free, as far as the calling thread
 * can know (doublefree.c). */
typedef enum { LG_BLOCK_LIVE, LG_BLOCK_FREE, LG_BLOCK_UNKNOWN } lg_block_state_t;
lg_block_state_t lg__block_free(const lg_page_t *page, const void *p);
/* Never returns (it aborts). */
_Noreturn void lg__free_double(const void *p);

/* ---- thread identity ---------------------------------------------------- */

/* The thread pointer is unique among live threads and costs one load. */
lg_inline uintptr_t lg__thread_id(void)
{
#if defined(__x86_64__)
    uintptr_t tid;
    __asm__("mov %%fs:0, %0" : "=r"(tid));
    return tid;
#else
    return (uintptr_t)__builtin_thread_pointer();
#endif
}

/* ---- which addresses are ours (segmap.c) -------------------------------- */

/* A byte per 4 MiB unit below 2^LG_ADDRESS_BITS, what the unit holds:
 * in leaves of LG_LEAF_UNITS (64 KiB, for 256 GiB of address space), each
 * mapped when a unit in its range is first ours (lg__map_cover), so the
 * map costs memory only where lgmalloc has memory; the leaves' table is
 * 8 KiB of .bss.  Free tests a byte in fewer instructions than a bit. */
#define LG_UNIT_BITS   (LG_ADDRESS_BITS - LG_SEGMENT_SHIFT)
#define LG_LEAF_BITS   (LG_UNIT_BITS < 16 ? LG_UNIT_BITS : 16)
#define LG_LEAF_UNITS  ((uintptr_t)1 << LG_LEAF_BITS)
#define LG_MAP_LEAVES  ((uintptr_t)1 << (LG_UNIT_BITS - LG_LEAF_BITS))
enum { LG_UNIT_NONE = 0, LG_UNIT_SEGMENT = 1, LG_UNIT_HUGE = 2 };
extern uint8_t *lg__unit_map[LG_MAP_LEAVES];

lg_inline unsigned lg__unit_kind(const void *p)
{
    uintptr_t unit = (uintptr_t)p >> LG_SEGMENT_SHIFT;
    if (lg_unlikely(unit >> LG_LEAF_BITS >= LG_MAP_LEAVES))
        return LG_UNIT_NONE;
    const uint8_t *leaf = __atomic_load_n(&lg__unit_map[unit >> LG_LEAF_BITS], __ATOMIC_ACQUIRE);
    if (!leaf)
        return LG_UNIT_NONE;
    return __atomic_load_n(&leaf[unit & (LG_LEAF_UNITS - 1)], __ATOMIC_RELAXED);
}

/* The window of segments (os.c).  Its first unit starts with this: the
 * page that the zeros of slices in no page, or in no segment, name (its
 * block-start test no pointer passes), how many of the window's slices
 * are mapped, and for each of them the page that holds it, as an offset
 * from the window's start.  Until the window is placed, and where it
 * cannot be, lg__window is lg__window_none, with no slices.  So free()
 * reaches all of it from the one address it loads. */
typedef struct lg_window_s {
    lg_page_t invalid;
    uintptr_t slices;
    uintptr_t pages[];
} lg_window_t;
extern lg_window_t *lg__window;
extern lg_window_t lg__window_none;
/* The page a segment's slices in no page name (there is one such page
 * in each window: see lg__free_not_block). */
#define LG_NO_PAGE (&lg__window_none.invalid)

lg_inline lg_page_t *lg__window_page(const lg_window_t *w, uintptr_t slice)
{
    return (lg_page_t *)((uintptr_t)w + w->pages[slice]);
}

lg_inline bool lg__in_segment(const void *p)
{
    return lg__unit_kind(p) == LG_UNIT_SEGMENT;
}

lg_inline lg_segment_t *lg__segment_of(const void *p)
{
    return (lg_segment_t *)((uintptr_t)p & ~(uintptr_t)LG_SEGMENT_MASK);
}

lg_inline lg_page_t *lg__page_of(const lg_segment_t *seg, const void *p)
{
    return seg->slice_page[((uintptr_t)p >> LG_SLICE_SHIFT) & (LG_SLICES - 1)];
}

/* ---- the fast paths ------------------------------------------------------ */

/* Where a malloc that the fast path cannot serve goes, by a tail call: the
 * core's slow path, or for the shim's entry points a function that first
 * asks whether lgmalloc serves at all (wrap/handover.h).  The fast path
 * itself is the same either way. */
#ifndef LG_MALLOC_MISS
#define LG_MALLOC_MISS lg__malloc_generic
#endif

/* Pops the first block of a page's free list for the program.  (Not
 * counted: the page is the current one, see LG_HEARTBEAT.) */
lg_inline lg_block_t *lg__page_pop(lg_page_t *page, lg_block_t *block, size_t size)
{
    lg_track_open(block, sizeof *block);
    lg_block_t *next = lg__link_get(page, block);
    page->free = next;
    lg__block_out(page, block, size);
    return block;
}

lg_inline void *lg__malloc_fast(size_t size)
{
    if (lg_likely(size <= LG_DIRECT_MAX - LG_CANARY)) {
        lg_page_t *page = lg__direct[(size + LG_CANARY + LG_GRANULE - 1) / LG_GRANULE];
        lg_block_t *block = page->free;
        if (lg_likely(lg__block_in_segment(page, block)))
            return lg__page_pop(page, block, size);
    }
    return LG_MALLOC_MISS(size);
}

lg_inline void lg__free_local(lg_page_t *page, lg_block_t *block)
{
    lg__link_set(page, block, page->free);
    page->free = block;
    lg_track_close(block, sizeof *block); /* (a remote free cannot: the owner may pop it at once) */
    if (lg_unlikely(--page->trigger == 0))
        lg__free_slow(page);
}

/* The short path of a call site whose size was predicted: the class is
 * known, so no size-to-class step.  The size is still checked against the
 * block size (an empty heap's page has block size 0), so a wrong
 * prediction costs time, never a misplaced block. */
lg_inline void *lg__malloc_class_fast(size_t cls, size_t size)
{
    lg_page_t *page = lg__current[cls];
    /* (secure: an empty heap's page has no room for the canary either) */
    if (lg_likely(size <= page->block_size - LG_CANARY && (!LG_SECURE || page->block_size))) {
        lg_block_t *block = page->free;
        if (lg_likely(lg__block_in_segment(page, block)))
            return lg__page_pop(page, block, size);
    }
    return LG_MALLOC_MISS(size);
}

/* Misuse caught on every free: a pointer that is not a block start of its
 * page (or lies in no page), and a block that is free already. */
lg_inline bool lg__block_start(const lg_page_t *page, const void *p)
{
    return (uintptr_t)p * page->div_mul - page->div_base < page->div_limit;
}

/* The key of a free block of this page (see lg_block_t). */
lg_inline uintptr_t lg__free_key(const lg_page_t *page, const lg_block_t *block)
{
    return (uintptr_t)block ^ page->list_key;
}

/* A block start of the page that is not free: onto a free list. */
lg_inline void lg__free_push(lg_page_t *page, lg_block_t *block, uintptr_t key)
{
    lg__block_in(page, block);
    block->key = key;
    if (lg_likely(page->owner == lg__thread_id())) {
        lg__free_local(page, block);
        return;
    }
    lg__free_remote(lg__segment_of(block), page, block);
}

lg_inline void lg__free_to_page(lg_page_t *page, void *p)
{
    lg_block_t *block = p;
    if (lg_unlikely(!lg__block_start(page, p))) {
        lg__free_not_block(page, p);
        return;
    }
    lg_track_open(block, sizeof *block);
    uintptr_t key = lg__free_key(page, block);
    if (lg_unlikely(block->key == key)) {
        lg__free_suspect(p, page);
        return;
    }
    lg__free_push(page, block, key);
}

lg_inline void lg__free_fast(void *p)
{
    const lg_window_t *w = lg__window;
    uintptr_t slice = ((uintptr_t)p - (uintptr_t)w) >> LG_SLICE_SHIFT;
    if (lg_likely(slice < w->slices)) {
        lg__free_to_page(lg__window_page(w, slice), p);
        return;
    }
    lg__free_outside(p);
}

#endif /* LG_FAST_H */
