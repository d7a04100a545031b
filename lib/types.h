/* lgmalloc internal types.
 *
 * Glossary, from the outside in:
 *
 *   segment  4 MiB of address space, aligned to 4 MiB, mapped from the OS and
 *            owned by one thread's heap.  Its first 64 KiB slice holds the
 *            segment header (this struct and the page descriptors); the other
 *            63 slices are handed out to pages.  Masking a block pointer with
 *            ~LG_SEGMENT_MASK finds its segment.
 *   slice    64 KiB, the unit in which a segment is divided between pages.
 *   page     one or more consecutive slices that hold blocks of one size
 *            class.  A page has a local free list (only its owner touches
 *            it) and an atomic cross-thread free list (`xfree`) that other
 *            threads push to and the owner collects without a lock.
 *   block    what malloc returns.
 *   class    a block size.  Requests are rounded up to the nearest class;
 *            `lg__class_of` maps a size to its class in one table lookup.
 *   heap     per-thread state: for every class the current page (kept in
 *            TLS) and a queue of pages with room, the segments the thread
 *            owns.  Reached through local-exec TLS (the archive is for
 *            executables), so malloc and free take no lock.
 *   huge     a block too large for a class, mapped on its own in whole
 *            4 MiB units, with a small header at the start of its first
 *            unit; returned with munmap on free.
 *   abandoned a segment whose thread exited; other threads adopt it.
 *   nursery  the rest of a segment's header slice: short runs of blocks,
 *            each a mini-page (an ordinary page descriptor whose blocks
 *            are one run), so the classes a thread uses a little of share
 *            OS pages, next to the header's own.  A class leaves it for
 *            ordinary pages once it proves hot (nursery.c).
 *
 * Which addresses are ours: segments are placed in one window of address
 * space where possible (os.c), whose first unit holds a table with an
 * entry per slice of the window naming the page holding it, so free()
 * finds the page of a pointer, and knows it is ours, with one subtraction
 * and one load.  A map of the address space below 2^LG_ADDRESS_BITS (a
 * byte per 4 MiB unit, in leaves mapped as they are needed) marks every
 * segment and huge block, for the slower paths and for segments placed
 * outside the window; lgmalloc keeps no memory above it (os.c). */
#ifndef LG_TYPES_H
#define LG_TYPES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define lg_likely(x)   __builtin_expect(!!(x), 1)
#define lg_unlikely(x) __builtin_expect(!!(x), 0)
#define lg_noinline    __attribute__((noinline))
#define lg_inline      static inline __attribute__((always_inline))

/* floor(log2(x)) for x > 0, of a size_t or uintptr_t of either width
 * (`long` is 32 bits on 32-bit targets: no __builtin_clzl). */
lg_inline unsigned lg__log2(uint64_t x)
{
    return 63 - (unsigned)__builtin_clzll(x);
}

#define LG_SEGMENT_SHIFT 22
#define LG_SEGMENT_SIZE  ((size_t)1 << LG_SEGMENT_SHIFT)
#define LG_SEGMENT_MASK  (LG_SEGMENT_SIZE - 1)
#define LG_SLICE_SHIFT   16
#define LG_SLICE_SIZE    ((size_t)1 << LG_SLICE_SHIFT)
#define LG_SLICES        (LG_SEGMENT_SIZE / LG_SLICE_SIZE) /* 64, slice 0 is the header */
/* How far the map of units reaches (fast.h).  A kernel hands out
 * addresses above 2^47 (x86-64 with 5-level paging, arm64 with 52-bit
 * addresses) or 2^48 (arm64 with 48-bit addresses) only to a mapping that
 * asks for them: os.c places the rare one it gets there anew, below.  See
 * docs/decisions.md#address-width.  (The tests build a variant with 40
 * bits, so that everything the kernel gives is above it.) */
#if UINTPTR_MAX > 0xffffffffu
#ifndef LG_ADDRESS_BITS
#define LG_ADDRESS_BITS  48
#endif
#else
#undef LG_ADDRESS_BITS
#define LG_ADDRESS_BITS  32   /* the whole address space: one leaf of 1 KiB */
#endif
/* The largest window of segments: 128 GiB, so its slice table is 16 MiB
 * at most, mapped a page at a time as the window grows (os.c), and is
 * smaller where the address space is (a 39-bit arm64 kernel's).  A
 * program that needs more has its further segments placed anywhere (found
 * through the map of units, a little slower; the tests build a variant
 * with a 16 MiB window to run both).  On 32 bits, where the whole address
 * space is 4 GiB (3 under a 32-bit kernel), 256 MiB. */
#ifndef LG_WINDOW_SHIFT
#if UINTPTR_MAX > 0xffffffffu
#define LG_WINDOW_SHIFT  37
#else
#define LG_WINDOW_SHIFT  28
#endif
#endif
#define LG_WINDOW_SIZE   ((size_t)1 << LG_WINDOW_SHIFT)

#define LG_ALIGN         16   /* every block is aligned to this */
/* Size steps of the class table, and of exact-fit classes.  Not 8: a
 * 56-byte block may hold a long double, which needs 16 (C's max_align_t),
 * and glibc, jemalloc and mimalloc all give 16 for every size from 16. */
#define LG_GRANULE       16
#define LG_DIRECT_MAX    ((size_t)1024)     /* sizes up to here: page straight from the heap */
#define LG_TABLE_MAX     ((size_t)16 << 10) /* sizes up to here: class by table */
#define LG_CLASS_MAX     ((size_t)512 << 10) /* larger requests are huge blocks */
#define LG_CLASSES       80   /* 56 standard ones, and room for exact-fit classes */

/* A page's trigger counter drops at every local free, which takes the slow
 * path only when it reaches zero.  Set as the page changes state:
 *   current page  LG_HEARTBEAT: malloc pops from the current page only,
 *                 and does not count (a page stops being current when it
 *                 has no free block, so its use is known then); zero
 *                 every LG_HEARTBEAT frees into it, the heap's heartbeat
 *                 (its purge tick): a thread that frees and allocates in
 *                 a steady state, making and retiring no page, still
 *                 returns the memory it no longer uses;
 *   queued page   blocks in use: zero means the page became empty;
 *   full page     used + 1 - capacity: zero at the first free, which puts
 *                 the page back in its class queue. */
#define LG_HEARTBEAT     1024

/* A free block.  `key` holds the block's address xor its page's list_key
 * (random, drawn anew each time a page is set up) while the block is free,
 * and 0 once malloc hands it out (every block is at least 16 bytes), so a
 * free that finds it there suspects a double free.  A correct program
 * cannot hold that word at that place: the key is written only into free
 * blocks, is cleared before the block is handed out, and matches only its
 * own address in its own page's life, so stale keys left in memory by
 * earlier pages, or copied anywhere, do not match.  The suspicion is still
 * confirmed before free aborts (doublefree.c). */
typedef struct lg_block_s {
    struct lg_block_s *next;
    uintptr_t key;
} lg_block_t;

typedef struct lg_heap_s lg_heap_t;
typedef struct lg_segment_s lg_segment_t;

typedef enum { LG_PAGE_FREE = 0, LG_PAGE_CURRENT, LG_PAGE_QUEUED, LG_PAGE_FULL } lg_page_state_t;

/* Low bits of a page's xfree head (blocks are 16-aligned, so they are free):
 *   FULL       the page is full and detached from its queue: the thread that
 *              frees into it first must tell the owner (heap->xpages);
 *   NOTIFYING  that thread is doing so, or the page waits in an xpages list:
 *              the owner must not retire the page until it has drained it. */
#define LG_XFREE_FULL      ((uintptr_t)1)
#define LG_XFREE_NOTIFYING ((uintptr_t)2)
#define LG_XFREE_FLAGS     ((uintptr_t)3)

/* Three cache lines.  The first is read by free() in every thread and
 * written only when the page is set up or changes hands; the second is
 * what the owner's malloc and free write; the third what other threads
 * write, with the queue links and the bounds of fresh blocks (slow paths).
 * With the owner's writes on the line other threads read, every remote
 * free of a busy page missed its cache; see
 * docs/decisions.md#page-descriptor-lines.
 *
 * Block starts: p is the start of a block of the page exactly when
 * (p * div_mul - div_base) mod 2^64 < div_limit = div_mul, with div_mul = ceil(2^64 /
 * block_size) and div_base = start of the page * div_mul: Lemire's
 * divisibility test on the offset p - start (< 2^32), its subtraction
 * folded into a constant.  One multiply instead of a division, and a
 * free slice's page (div_mul 0) fails it too. */
typedef struct lg_page_s {
    size_t      block_size;      /* full width: the class entries compare a size with it */
    uint64_t    div_mul;         /* block-start test, above */
    uint64_t    div_base;
    uint64_t    div_limit;       /* div_mul again: free() compares with memory, one instruction less */
    uintptr_t   owner;           /* the segment's owner, copied here for free() */
    uint32_t    capacity;
    uint8_t     cls;
    uint8_t     state;           /* lg_page_state_t */
    uint8_t     slices;          /* span length (0: a mini-page of the nursery) */
    uint8_t     first_slice;     /* (0: a mini-page) */
    uintptr_t   list_key;        /* random: free-block keys (lg_block_t); secure links and canaries */
    _Alignas(64) lg_block_t *free; /* local free list, owner only */
    int32_t     trigger;         /* see LG_HEARTBEAT */
    _Alignas(64) _Atomic(uintptr_t) xfree;  /* blocks freed by other threads | flags */
    struct lg_page_s *_Atomic xnext;        /* heap's list of pages with remote frees */
    struct lg_page_s *next, *prev;          /* class queue */
    uint8_t    *bump;            /* fresh blocks not yet on a free list */
    uint8_t    *end;             /* end of the last whole block */
    uint64_t    resident;        /* slices of its segment that were resident when it was made */
} lg_page_t;

_Static_assert(offsetof(lg_page_t, list_key) + sizeof(uintptr_t) <= 64,
               "what free() reads is in the page descriptor's first cache line");
_Static_assert(offsetof(lg_page_t, free) == 64 && offsetof(lg_page_t, trigger) < 128,
               "what the owner writes is in the second");
_Static_assert(offsetof(lg_page_t, xfree) == 128 && sizeof(lg_page_t) == 192,
               "what other threads write is in the third, and the last");
_Static_assert(sizeof(lg_block_t) <= LG_ALIGN && LG_XFREE_FLAGS < LG_ALIGN,
               "a free block holds its link and key; xfree's flags are bits no block address has");
_Static_assert(LG_SLICES == 64, "a segment's slices are the bits of a uint64_t (free_mask, ...)");
_Static_assert(LG_CLASSES <= 256 && LG_SLICES <= 255, "a page's cls and slices are bytes");
_Static_assert(LG_SEGMENT_SIZE <= ((uint64_t)1 << 32), "the block-start test needs offsets below 2^32");

/* A segment's nursery: LG_NURSERY_PAGES descriptors and LG_NURSERY_SIZE
 * bytes of runs, in granules from the start of `data` (runs[i] is
 * [lo, hi)).  Runs are carved from the bottom up (`top`); a descriptor
 * not live keeps its run for the next mini-page that fits in it.  Owner
 * only, like the heap's queues; frees from other threads read `runs` to
 * find the mini-page of a block, and a run never moves while a block of
 * it is live.  See docs/decisions.md#thread-nursery. */
#define LG_NURSERY_PAGES 12
#define LG_NURSERY_SIZE  ((size_t)32 << 10)

typedef struct lg_nursery_s {
    uint16_t top;                         /* granules taken by runs */
    uint16_t live;                        /* descriptors that are mini-pages in use */
    uint16_t trips[LG_NURSERY_PAGES];     /* slow-path trips of each mini-page (nursery.c) */
    struct { uint16_t lo, hi; } runs[LG_NURSERY_PAGES];
    _Alignas(64) lg_page_t pages[LG_NURSERY_PAGES];
} lg_nursery_t;

_Static_assert(LG_NURSERY_PAGES <= 16 && LG_NURSERY_SIZE / LG_GRANULE <= UINT16_MAX,
               "a nursery's live mask and granule offsets are 16 bits");

/* heap->xpages of a heap whose thread exits: remote frees no longer go
 * there. */
#define LG_XPAGES_CLOSED ((lg_page_t *)1)

struct lg_segment_s {
    /* Thread id of the owning thread, 0 when abandoned, and a copy in each
     * of its pages.  Written only by a thread taking or leaving the
     * segment; free() reads the page's copy without ordering on purpose
     * (an atomic load would not fold into the compare): a thread can only
     * ever read its own id there if it wrote it itself. */
    uintptr_t owner;
    lg_heap_t *_Atomic heap;          /* owning heap, NULL when abandoned */
    lg_segment_t *next, *prev;        /* heap's segment list, or the abandoned list */
    uint64_t free_mask;               /* slices not in a page */
    uint64_t dirty_mask;              /* free slices whose memory may be resident */
    uint64_t aged_mask;               /* those of them free since the heap's last purge tick */
    uint64_t left_ms;                 /* when its free slices last changed while no heap owned it */
    uint32_t pages_used;              /* pages and mini-pages in use */
    bool     abandoned;               /* on the abandoned list (under lg__lock) */
    bool     used_by_owner;           /* its heap made a page in it since taking it */
    bool     freed_into;              /* abandoned, and a block was freed into it since (under lg__lock) */
    lg_page_t *slice_page[LG_SLICES]; /* slice index -> page holding it */
    /* the nursery's blocks follow its descriptors, in the OS page that
     * the header's first fields share (and those after it); aligned for
     * its largest blocks (nursery.c), on 32-bit targets too */
    lg_nursery_t nursery;
    _Alignas(1024) uint8_t nursery_data[LG_NURSERY_SIZE];
    lg_page_t pages[LG_SLICES];       /* descriptors, indexed by first slice */
};

_Static_assert(sizeof(lg_segment_t) <= LG_SLICE_SIZE - ((size_t)16 << 10),
               "the segment header fits in slice 0, and leaves a secure build's guard page "
               "(16 KiB OS pages) after it");

/* The first block of a mini-page (one of seg's nursery descriptors). */
lg_inline uint8_t *lg__nursery_start(const lg_segment_t *seg, const lg_page_t *page)
{
    size_t i = (size_t)(page - seg->nursery.pages);
    return (uint8_t *)seg->nursery_data + (size_t)seg->nursery.runs[i].lo * LG_GRANULE;
}

/* An owner's low bits (thread ids are aligned): LG_OWNER_COUNTED on a
 * heap's id while LGMALLOC_STATS counts (stats.c), so that its own frees
 * take the counting path; LG_OWNER_NONE, no thread, for a segment left
 * behind in a fork's child (abandon.c), with LG_OWNER_COUNTED or without. */
#define LG_OWNER_COUNTED ((uintptr_t)1)
#define LG_OWNER_NONE    ((uintptr_t)2)

typedef struct lg_queue_s { lg_page_t *first, *last; } lg_queue_t;

/* A thread's heap.  Its current pages, the ones malloc pops from, are in
 * the thread's TLS (fast.h). */
struct lg_heap_s {
    uintptr_t  owner;                 /* thread id */
    lg_queue_t queue[LG_CLASSES];     /* pages with (possibly) free blocks; current first */
    lg_page_t *_Atomic xpages;        /* full pages that got remote frees (MPSC stack) */
    lg_segment_t *segments;           /* segments owned, doubly linked */
    size_t     dirty_slices;          /* free slices not yet purged, over all segments */
    size_t     adopted_slices;        /* of them, at most those its adopted segments brought */
    uint64_t   purge_due;             /* next purge tick (lg__os_now_ms), 0 when none is due */
    uint64_t   dirtied_ms;            /* when free slices were last added */
    uint64_t   paged_ms;              /* when it last needed a new page */
    unsigned   purge_delay_ms;        /* lg_thread_purge_delay */
    bool       exiting;               /* its thread is exiting: the segments decide on purging */
    uint64_t   nursery_hot[(LG_CLASSES + 63) / 64]; /* classes that left the nursery (nursery.c) */
    lg_heap_t *next_heap, *prev_heap; /* the heaps in use, or the pool of unused ones */
};

#endif /* LG_TYPES_H */
