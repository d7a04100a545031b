/* Declarations shared between the files of the allocator core, and the
 * small inline helpers the fast paths are built from. */
#ifndef LG_INTERNAL_H
#define LG_INTERNAL_H

#include "types.h"
#include "fast.h"
#include "lgmalloc.h"

void lg__map_set(uint64_t *map, void *start, size_t size, bool on);
void lg__segment_map_set(lg_segment_t *seg, bool on);
/* Which page holds slice i of seg: in the segment, and in the window's
 * table when the segment is in the window. */
void lg__slice_set(lg_segment_t *seg, unsigned i, lg_page_t *page);

lg_inline uint8_t *lg__page_start(const lg_segment_t *seg, const lg_page_t *page)
{
    return (uint8_t *)seg + ((size_t)page->first_slice << LG_SLICE_SHIFT);
}

/* ---- size classes (classes.c) ------------------------------------------- */

extern uint8_t  lg__class_of_granule[LG_TABLE_MAX / LG_GRANULE + 1];
extern uint32_t lg__class_size[LG_CLASSES];
extern uint8_t  lg__class_slices[LG_CLASSES];
extern _Atomic unsigned lg__class_count;  /* grows when exact-fit classes are added */
extern unsigned lg__class_std_count;      /* the standard classes come first */
extern uint16_t lg__class_granule_lo[LG_CLASSES]; /* first granule that maps to the class */

lg_inline size_t lg__class_of(size_t size)
{
    return lg__class_of_granule[(size + LG_GRANULE - 1) / LG_GRANULE];
}
size_t lg__class_of_large(size_t size);   /* LG_TABLE_MAX < size <= LG_CLASS_MAX */
void   lg__classes_init(void);
size_t lg__class_add_exact(size_t block);
/* Pages held per class (stats.c), counted as pages come and go. */
void   lg__stats_page(size_t cls, size_t bytes, bool added);
/* Counts a malloc seen by the generic path against its call site. */
void   lg__route_observe(uintptr_t ret, const uintptr_t *slot, size_t size);


/* ---- pages (page.c, secure.c) ------------------------------------------- */

#define LG_EXTEND_BYTES 4096  /* fresh blocks are carved an OS page at a time */
uint64_t lg__random(void);
void     lg__secure_push_fresh(lg_page_t *page, uint8_t *first, size_t n);

/* ---- the OS (os.c) ------------------------------------------------------ */

void *lg__os_map_aligned(size_t size, size_t align, size_t *mapped);
void *lg__os_segment_map(void);   /* LG_SEGMENT_SIZE, aligned to it; in the window if it can */
void  lg__os_segment_unmap(void *seg);
void  lg__os_unmap(void *p, size_t size);
void  lg__os_purge(void *p, size_t size);
void *lg__os_remap(void *p, size_t old_size, size_t new_size);
size_t lg__os_page_size(void);
uint64_t lg__os_now_ms(void);     /* monotonic, coarse (a few ms): cheap enough for slow paths */

/* ---- statistics (stats.c): slow-path counters only ---------------------- */

typedef struct lg_counters_s {
    _Atomic size_t segments, segments_peak, huge_blocks, huge_bytes;
    _Atomic size_t reserved, committed, committed_peak, purged;
    _Atomic size_t pages_in_use, page_bytes, threads_live, threads_seen, abandoned;
} lg_counters_t;
extern lg_counters_t lg__counters;
void lg__count_add(_Atomic size_t *c, size_t n, _Atomic size_t *peak);
void lg__count_sub(_Atomic size_t *c, size_t n);
/* committed: bytes in pages, segment headers and huge blocks, plus free
 * slices not yet purged; what the OS may hold resident for us. */
void lg__count_commit(size_t bytes);
void lg__count_decommit(size_t bytes);

/* ---- the cap on committed memory (limit.c) ------------------------------ */

/* May `bytes` more be committed?  Near the cap this first purges the
 * heap (may be NULL) and the caches; false sets errno to ENOMEM. */
bool lg__limit_allows(lg_heap_t *heap, size_t bytes);
void lg__limit_init(void);

/* ---- per-class statistics (stats.c), with LGMALLOC_STATS only ----------- */

/* Read at start-up; when set, every malloc takes lg__malloc_generic (the
 * threads' lg__direct[] stays empty) and every free of a block of this thread
 * takes lg__free_remote (the heaps' owner ids carry LG_OWNER_COUNTED), and
 * both count. */
extern bool lg__stats_on;
#define LG_OWNER_COUNTED ((uintptr_t)1)
/* The owner of a segment left behind in a fork's child: no thread id (they
 * are aligned), with LG_OWNER_COUNTED or without. */
#define LG_OWNER_NONE    ((uintptr_t)2)
void lg__stats_init(void);
void lg__stats_malloc(size_t cls, size_t size, uintptr_t ret, const uintptr_t *slot);
void lg__stats_free(const lg_page_t *page);
size_t lg__stats_exact_requests(void);   /* allocations from exact-fit classes */

/* Bits set in x.  Not __builtin_popcountll: without -mpopcnt that calls
 * libgcc's __popcountdi2, and a program linked with lgmalloc then loaded
 * libgcc_s.so for it: 92 KiB more resident in every process. */
static inline unsigned lg__popcount(uint64_t x)
{
    x -= (x >> 1) & 0x5555555555555555ull;
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/* ---- segments (segment.c) ----------------------------------------------- */

lg_page_t *lg__segment_page_alloc(lg_heap_t *heap, size_t cls);
void       lg__segment_page_free(lg_heap_t *heap, lg_page_t *page);
extern unsigned lg__purge_delay_ms;                 /* a new heap's purge delay */
void       lg__purge_init(void);                    /* LGMALLOC_PURGE_DELAY */
void       lg__segment_purge(lg_heap_t *heap);      /* every free slice, now */
void       lg__segment_tick(lg_heap_t *heap);       /* the purge tick, if due */
unsigned   lg__segment_set_purge_delay(lg_heap_t *heap, unsigned ms); /* the old delay */
void       lg__segment_abandon_all(lg_heap_t *heap);
void       lg__segment_orphan_all(lg_heap_t *heap);
bool       lg__segment_adopt_one(lg_heap_t *heap);
bool       lg__segment_claim(lg_heap_t *heap, lg_segment_t *seg);
lg_heap_t *lg__segment_freed_into(lg_segment_t *seg, lg_page_t *page, lg_heap_t *closed);
void       lg__segment_service(void);   /* abandoned segments freed into, if due */
void       lg__segment_adopt(lg_heap_t *heap, lg_segment_t *seg);
void       lg__segment_release(lg_segment_t *seg);
void       lg__segment_cache_clear(void);

/* ---- pages (page.c) ----------------------------------------------------- */

void  lg__page_collect(lg_page_t *page);
void  lg__page_retire(lg_heap_t *heap, lg_page_t *page);
void  lg__page_classify(lg_heap_t *heap, lg_page_t *page);
void  lg__page_adopt(lg_heap_t *heap, lg_page_t *page);
void  lg__page_mark_full(lg_page_t *page);
void  lg__heap_drain_xpages(lg_heap_t *heap);
void  lg__heap_close_xpages(lg_heap_t *heap);
#define LG_XPAGES_CLOSED ((lg_page_t *)1) /* heap->xpages of a heap whose thread exits */
void  lg__heap_collect(lg_heap_t *heap, bool all);

size_t lg__page_used(const lg_page_t *page);   /* blocks not free (remote frees count as used) */

/* Aborts with a message saying what p is, for a free or realloc of a
 * pointer in one of our segments that is not a block of its page. */
_Noreturn void lg__free_invalid(const lg_page_t *page, const void *p);

/* ---- heaps and threads (heap.c) ----------------------------------------- */

extern lg_heap_t lg__heap_empty;
extern lg_page_t lg__page_empty;   /* the current page of every class of an empty heap */
lg_heap_t *lg__heap_init_thread(void);
void       lg__heap_process_init(void);
void       lg__heap_after_fork(void);
void       lg__set_current(size_t cls, lg_page_t *page);   /* of the calling thread */
void       lg__heap_queue_push_front(lg_heap_t *heap, lg_page_t *page);
void       lg__heap_queue_push_back(lg_heap_t *heap, lg_page_t *page);
void       lg__heap_queue_remove(lg_heap_t *heap, lg_page_t *page);

/* ---- huge blocks (huge.c) ----------------------------------------------- */

/* A huge block's header is at the start of the 4 MiB unit that holds the
 * byte before the block, so p - 1 finds it for any alignment.  True also
 * for a freed block whose mapping is cached: lg__huge_free reports it. */
lg_inline bool lg__is_huge(const void *p)
{
    return lg__map_test(lg__huge_map, (const uint8_t *)p - 1);
}
void  *lg__huge_alloc(size_t size, size_t align, bool zero);
void   lg__huge_cache_clear(void);
void   lg__huge_cache_age(uint64_t now_ms); /* unmaps what waited over a second */
void   lg__huge_free(void *p);
void  *lg__huge_realloc(void *p, size_t size);
size_t lg__huge_usable(const void *p);

/* ---- process (init.c) --------------------------------------------------- */

void lg__process_init(void);
extern uintptr_t lg__seed;   /* random, per process */
void lg__lock(void);     /* the one global lock, for slow paths only */
void lg__unlock(void);

#include "shim.h"

#endif /* LG_INTERNAL_H */
