/* Declarations shared between the files of the allocator core: a helper
 * several of them use, then one section per file, in the order of
 * lib/meson.build's list (by name), each opening with what its file does.
 * The nouns are in types.h; the fast paths, and what the shim also sees,
 * in fast.h; the seams with the shim and the prediction in shim.h and
 * route.h. */
#ifndef LG_INTERNAL_H
#define LG_INTERNAL_H

#include "types.h"
#include "fast.h"
#include "lgmalloc.h"

/* Bits set in x.  Not __builtin_popcountll: without -mpopcnt that calls
 * libgcc's __popcountdi2, and a program linked with lgmalloc then loaded
 * libgcc_s.so for it; see docs/decisions.md#popcount. */
static inline unsigned lg__popcount(uint64_t x)
{
    x -= (x >> 1) & 0x5555555555555555ull;
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/* ---- abandoned segments (abandon.c) ---- */

/* Segments of exited threads: left for other threads to adopt, serviced
 * meanwhile; in a fork's child, orphaned. */

extern lg_segment_t *lg__abandoned;  /* the abandoned list, newest first (under lg__lock) */
extern size_t lg__orphaned;          /* segments left behind in a fork's child */
void       lg__segment_abandon_all(lg_heap_t *heap);   /* at thread exit */
void       lg__segment_orphan_all(lg_heap_t *heap);    /* in a fork's child */
/* The most recently abandoned segment, or with warm_slices > 0 one that
 * has a resident run of that many free slices; false if none was found. */
bool       lg__segment_adopt_one(lg_heap_t *heap, unsigned warm_slices);
bool       lg__segment_claim(lg_heap_t *heap, lg_segment_t *seg);
void       lg__segment_adopt(lg_heap_t *heap, lg_segment_t *seg);
lg_heap_t *lg__segment_freed_into(lg_segment_t *seg, lg_page_t *page, lg_heap_t *closed);
void       lg__segment_service(void);   /* abandoned segments freed into, if due */

/* ---- malloc and its family (alloc.c) ---- */

/* malloc, calloc, realloc and the aligned family: the lg_ functions of
 * lgmalloc.h (the fast path is in fast.h). */

/* ---- invariants (check.c) ---- */

/* lg_heap_check, and what reports a broken invariant.
 *
 * lg_assert(cond): an invariant the code relies on, checked with
 * -Dchecks=enabled (a debug build's default), compiled away otherwise;
 * never on a fast path.  lg_check_heap(heap): lg_heap_check's walk of a
 * heap, where the core calls it in such a build.  lg_check(cond, ...): a
 * check of lg_heap_check's, in every build; the message names the
 * invariant. */
#ifndef LG_CHECKS
#define LG_CHECKS 0
#endif
#if LG_CHECKS
#define lg_assert(cond) \
    ((void)(lg_likely(cond) || (lg__assert_fail(#cond, __FILE__, __LINE__), 0)))
#define lg_check_heap(heap) lg__check_heap(heap)
#else
#define lg_assert(cond)     ((void)sizeof(!(cond)))
#define lg_check_heap(heap) ((void)(heap))
#endif
#define lg_check(cond, ...) \
    ((void)(lg_likely(cond) || (lg__fatal("heap check: " __VA_ARGS__), 0)))
_Noreturn void lg__assert_fail(const char *cond, const char *file, int line);
void lg__check_heap(const lg_heap_t *heap);   /* the calling thread's */

/* ---- size classes (classes.c) ---- */

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

/* ---- double frees (doublefree.c) ---- */

/* Is a block whose key is in place free?  (lg__free_suspect,
 * lg__block_free: fast.h) */


/* ---- free (free.c) ---- */

/* free and what asks where a pointer came from.  (lg__free_outside,
 * lg__free_not_block, lg__free_double: fast.h) */

/* Aborts with a message saying what p is, for a free or realloc of a
 * pointer in one of our segments that is not a block of its page. */
_Noreturn void lg__free_invalid(const lg_page_t *page, const void *p);

/* ---- heaps and threads (heap.c) ---- */

/* A heap per thread: its class queues and segment list, thread start and
 * exit, fork.  (The thread's lg__heap, lg__current, lg__direct: fast.h) */

extern lg_heap_t lg__heap_empty;
extern lg_page_t lg__page_empty;   /* the current page of every class of an empty heap */
lg_heap_t *lg__heap_init_thread(void);
void       lg__heap_process_init(void);
void       lg__heap_after_fork(void);
void       lg__set_current(size_t cls, lg_page_t *page);   /* of the calling thread */
void       lg__heap_queue_push_front(lg_heap_t *heap, lg_page_t *page);
void       lg__heap_queue_push_back(lg_heap_t *heap, lg_page_t *page);
void       lg__heap_queue_remove(lg_heap_t *heap, lg_page_t *page);
void       lg__heap_segment_link(lg_heap_t *heap, lg_segment_t *seg);
void       lg__heap_segment_unlink(lg_heap_t *heap, lg_segment_t *seg);
/* Returns the heap's empty pages to its segments (and empty segments to
 * the cache or the OS): `all` also retires current pages that are empty.
 * Free slices are left to the purge ticks, or to lg__purge_heap. */
void       lg__heap_collect(lg_heap_t *heap, bool all);
/* Under lg__lock: no heap but this one (or none) is bound to a thread. */
bool       lg__heap_alone(const lg_heap_t *heap);

/* ---- huge blocks (huge.c) ---- */

/* Blocks too large for a class, mapped on their own, and a cache of the
 * freed mappings. */

/* A huge block's header is at the start of the 4 MiB unit that holds the
 * byte before the block, so p - 1 finds it for any alignment.  True also
 * for a freed block whose mapping is cached: lg__huge_free reports it. */
lg_inline bool lg__is_huge(const void *p)
{
    return lg__unit_kind((const uint8_t *)p - 1) == LG_UNIT_HUGE;
}
void  *lg__huge_alloc(size_t size, size_t align, bool zero);
void   lg__huge_cache_clear(void);
void   lg__huge_cache_age(uint64_t now_ms); /* unmaps what waited over a second */
void   lg__huge_free(void *p);
void  *lg__huge_realloc(void *p, size_t size);
size_t lg__huge_usable(const void *p);
/* Checks the cache of freed mappings, under lg__lock; returns the bytes
 * it holds committed (mappings and tails). */
size_t lg__huge_check(void);

/* ---- process (init.c) ---- */

/* Process start-up, the global lock, fork, fatal errors (lg__fatal:
 * shim.h). */

void lg__process_init(void);
extern uintptr_t lg__seed;   /* random, per process */
void lg__lock(void);     /* the one global lock, for slow paths only */
void lg__unlock(void);

/* ---- the cap on committed memory (limit.c) ---- */

/* May `bytes` more be committed?  Near the cap this first purges the
 * heap (may be NULL) and the caches; false sets errno to ENOMEM. */
bool lg__limit_allows(lg_heap_t *heap, size_t bytes);
void lg__limit_init(void);   /* LGMALLOC_LIMIT, from lg__options */

/* ---- the nursery (nursery.c) ---- */

/* Mini-pages: the first blocks of a thread's small classes, in short runs
 * of a segment's header slice (types.h).  A mini-page is an ordinary page
 * descriptor in every state and list; it has first_slice 0 and no slice
 * of its own, and its segment counts it in pages_used. */

/* A new mini-page of the class in one of the heap's segments (a new or
 * adopted one if it has none), or NULL: the class is too large or hot,
 * or the nurseries are full. */
lg_page_t *lg__nursery_page_alloc(lg_heap_t *heap, size_t cls);
/* The current page, a mini-page with no block left: grows its run in
 * place if it can (the caller then extends the page). */
bool       lg__nursery_grow(lg_heap_t *heap, lg_page_t *page);
/* A mini-page of a class that left the nursery: passed by as the slow
 * path looks for a page, left to empty. */
bool       lg__nursery_passed(const lg_heap_t *heap, const lg_page_t *page);
/* Bookkeeping of a mini-page given back (state LG_PAGE_FREE). */
void       lg__nursery_page_free(lg_segment_t *seg, lg_page_t *page);
/* The live mini-page whose run holds p, or LG_NO_PAGE. */
lg_page_t *lg__nursery_page_of(const lg_segment_t *seg, const void *p);
/* free() of a pointer in a segment's header slice. */
void       lg__nursery_free(lg_segment_t *seg, void *p);

/* The page a pointer into a segment lies in: its slice's, or a
 * mini-page. */
lg_inline lg_page_t *lg__block_page(const lg_segment_t *seg, const void *p)
{
    if (lg_unlikely(((uintptr_t)p & LG_SEGMENT_MASK) < LG_SLICE_SIZE))
        return lg__nursery_page_of(seg, p);
    return lg__page_of(seg, p);
}

/* A loop over the live mini-pages of seg, from a copy of the live mask
 * taken first: its body may give them back, and with the last one the
 * segment. */
#define lg_for_each_mini(seg, page)                                              \
    for (unsigned lg__live = (seg)->nursery.live, lg__i;                        \
         lg__live && (lg__i = (unsigned)__builtin_ctz(lg__live), (page) = &(seg)->nursery.pages[lg__i], 1); \
         lg__live &= lg__live - 1)

/* ---- the environment (options.c) ---- */

/* Every environment variable the core reads, read once at start-up. */

typedef struct lg_options_s {
    unsigned    purge_delay_ms;  /* LGMALLOC_PURGE_DELAY: a new heap's purge delay */
    bool        limit_set;       /* LGMALLOC_LIMIT: */
    size_t      limit;           /*   the cap on committed bytes */
    bool        stats;           /* LGMALLOC_STATS: count per class, report at exit */
    const char *stats_path;      /*   to append the report to, or NULL: stderr */
    int         stats_signal;    /* LGMALLOC_STATS_SIGNAL: report on it too, 0: none */
} lg_options_t;
extern lg_options_t lg__options;
void lg__options_init(void);

/* ---- the OS (os.c) ---- */

/* Mapping, unmapping and purging memory, the window of segments, the
 * clock.  (The window's base, lg__window_base: fast.h) */

void *lg__os_map_aligned(size_t size, size_t align, size_t *mapped);
void *lg__os_segment_map(void);   /* LG_SEGMENT_SIZE, aligned to it; in the window if it can */
void  lg__os_segment_unmap(void *seg);
void  lg__os_unmap(void *p, size_t size);
void  lg__os_purge(void *p, size_t size);
void *lg__os_remap(void *p, size_t old_size, size_t new_size);
size_t lg__os_page_size(void);   /* read at run time */
/* Whether a segment is one of the window's units (not one placed outside
 * it in a unit the window skipped). */
bool  lg__os_in_window(const void *seg);
uint64_t lg__os_now_ms(void);     /* monotonic, coarse (a few ms): cheap enough for slow paths */

/* ---- pages (page.c) ---- */

/* Page states and the moves between them; the slow paths of malloc and
 * free.  (lg__malloc_generic, lg__free_slow: fast.h) */

/* Fresh blocks are carved an OS page at a time (lg__os_page_size), up to
 * LG_PAGE_MAX, the largest page an arm64 or ppc64 kernel uses. */
#define LG_PAGE_MAX ((size_t)64 << 10)
lg_inline size_t lg__extend_bytes(void)
{
    size_t page = lg__os_page_size();
    return page < LG_PAGE_MAX ? page : LG_PAGE_MAX;
}

lg_inline uint8_t *lg__page_start(const lg_segment_t *seg, const lg_page_t *page)
{
    if (lg_unlikely(page->first_slice == 0))
        return lg__nursery_start(seg, page);
    return (uint8_t *)seg + ((size_t)page->first_slice << LG_SLICE_SHIFT);
}
void   lg__page_collect(lg_page_t *page);   /* takes the blocks other threads freed */
void   lg__page_retire(lg_heap_t *heap, lg_page_t *page);
void   lg__page_classify(lg_heap_t *heap, lg_page_t *page);
void   lg__page_adopt(lg_heap_t *heap, lg_page_t *page);
void   lg__page_mark_full(lg_page_t *page);
size_t lg__page_used(const lg_page_t *page);   /* blocks not free (remote frees count as used) */

/* ---- purging (purge.c) ---- */

/* When the free slices of segments go back to the OS. */

#define LG_PURGE_DELAY_MS 10   /* a heap's purge delay unless LGMALLOC_PURGE_DELAY says */

lg_inline unsigned lg__dirty_slices(const lg_segment_t *seg)
{
    return lg__popcount(seg->dirty_mask);
}
void     lg__purge_segment(lg_segment_t *seg);   /* every free resident slice of it */
/* Counts n more free resident slices in the heap and starts its purge
 * ticks if they were stopped. */
void     lg__purge_add_dirty(lg_heap_t *heap, unsigned n);
/* The same for the free slices of a segment the heap adopts. */
void     lg__purge_add_adopted(lg_heap_t *heap, unsigned n);
void     lg__purge_heap(lg_heap_t *heap);        /* every free slice of the heap, now */
void     lg__purge_freed(lg_heap_t *heap);       /* a page's slices were freed */
void     lg__purge_tick(lg_heap_t *heap);        /* the heap's purge tick, if due */
unsigned lg__purge_set_delay(lg_heap_t *heap, unsigned ms); /* the old delay */
/* A segment that no heap owns keeps its resident free slices if the
 * budget of those allows, or is purged.  `counted`: how many of them the
 * budget counts already (none for one leaving its heap). */
void     lg__unowned_keep_or_purge(lg_segment_t *seg, unsigned counted);
/* Under lg__lock: `slices` no longer count against that budget (their
 * segment is taken, or purged by the caller). */
void     lg__unowned_forget(unsigned slices);
unsigned lg__unowned_dirty(void);   /* under lg__lock: what the budget counts */

/* ---- remote frees (remote.c) ---- */

/* Frees from threads that do not own the page.  (lg__free_remote: fast.h) */

void lg__heap_drain_xpages(lg_heap_t *heap);   /* the full pages freed into */
void lg__heap_close_xpages(lg_heap_t *heap);   /* the same, at thread exit */

/* ---- what the prediction tells the core (route.c) ---- */

/* Exact-fit classes and the counts of predictions (route.h). */

/* Counts a malloc seen by the generic path against its call site. */
void lg__route_observe(uintptr_t ret, const uintptr_t *slot, size_t size);
/* A thread's current page of a class ran out of blocks: tells the
 * prediction's sampler, if it set one, the size asked for. */
void lg__route_refill(size_t size);
/* Every LG_HEARTBEAT frees into a current page: tells the prediction,
 * while it asks (one load when it does not). */
extern _Atomic(void (*)(void)) lg__route_heartbeat_fn;
static inline void lg__route_heartbeat(void)
{
    void (*fn)(void) = atomic_load_explicit(&lg__route_heartbeat_fn, memory_order_acquire);
    if (lg_unlikely(fn != NULL))
        fn();
}

/* ---- the secure build (secure.c) ---- */

/* Random keys and block order; reports of the corruption the checks
 * find (lg__corrupt_link, lg__corrupt_canary: harden.h). */

uint64_t lg__random(void);
void     lg__secure_push_fresh(lg_page_t *page, uint8_t *first, size_t n);

/* ---- the segment cache (segcache.c) ---- */

/* Empty segments: kept mapped for reuse, or unmapped. */

#define LG_SEGMENT_CACHE 16  /* empty segments kept mapped for reuse (their free slices: purge.c) */
extern lg_segment_t *lg__segcache[LG_SEGMENT_CACHE];   /* under lg__lock */
extern unsigned lg__segcache_count;
lg_segment_t *lg__segcache_take(unsigned warm_slices); /* or NULL */
void          lg__segment_release(lg_segment_t *seg);   /* an empty one: cached or unmapped */
void          lg__segcache_clear(void);

/* ---- which addresses are ours (segmap.c) ---- */

/* The map of units and the window's slice table (declared in fast.h),
 * written here. */

/* Maps the leaves of the map of units that [start, start + size) needs;
 * false when it reaches past 2^LG_ADDRESS_BITS, or no memory is left for
 * a leaf.  os.c asks it for every mapping that will hold blocks. */
bool lg__map_cover(const void *start, size_t size);
/* Marks the units of a covered range as LG_UNIT_SEGMENT, _HUGE or _NONE. */
void lg__map_set(const void *start, size_t size, unsigned kind);
/* Which page holds slice i of seg: in the segment, and in the window's
 * table when the segment is in the window. */
void lg__slice_set(lg_segment_t *seg, unsigned i, lg_page_t *page);

/* ---- segments (segment.c) ---- */

/* A heap's new segments, and the spans of slices of their pages. */

/* The slices a page may take: slice 0 is the header; secure builds keep
 * the last slice inaccessible, and the last OS page of the header's:
 * guards around the pages. */
#define LG_ALL_SLICES (~(uint64_t)1 & (LG_SECURE ? ~((uint64_t)1 << 63) : ~(uint64_t)0))
lg_page_t *lg__segment_page_alloc(lg_heap_t *heap, size_t cls);
/* An empty segment of the heap's: a cached one or a new one; with
 * warm_slices > 0 only a cached one with a resident run of that many free
 * slices.  NULL if none. */
lg_segment_t *lg__segment_new(lg_heap_t *heap, unsigned warm_slices);
/* Fills in a zeroed page descriptor's blocks: capacity blocks of class cls
 * from start (ordinary pages and the nursery's mini-pages alike). */
void lg__page_describe(lg_segment_t *seg, lg_page_t *page, size_t cls, uint8_t *start,
                       size_t capacity);
void       lg__segment_page_free(lg_heap_t *heap, lg_page_t *page);
/* Gives the slices of a page with no block in use back to its segment;
 * returns how many of them are dirty (touched, so resident).  (A
 * mini-page: back to its nursery; none.) */
unsigned   lg__segment_slices_free(lg_segment_t *seg, lg_page_t *page);
/* Has seg a run of k free slices that are all resident? */
bool       lg__segment_has_warm_span(const lg_segment_t *seg, unsigned k);

/* ---- statistics (stats.c) ---- */

/* Counted on the slow paths only. */

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
/* With LGMALLOC_STATS (lg__stats_on, read at start-up) every malloc takes
 * lg__malloc_generic (the threads' lg__direct[] stays empty) and every
 * free of a block of this thread takes lg__free_remote (the heaps' owner
 * ids carry LG_OWNER_COUNTED), and both count per class. */
extern bool lg__stats_on;
void   lg__stats_init(void);
void   lg__stats_malloc(size_t cls, size_t size, uintptr_t ret, const uintptr_t *slot);
void   lg__stats_free(const lg_page_t *page);
void   lg__stats_page(size_t cls, size_t bytes, bool added);   /* pages held per class, always */
size_t lg__stats_exact_requests(void);   /* allocations from exact-fit classes */

#include "shim.h"

#endif /* LG_INTERNAL_H */
