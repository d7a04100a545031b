/* lgmalloc: a predictive malloc(3) for Linux services.
 *
 * A program takes lgmalloc in by linking liblgmalloc.a with the flags that
 * `pkg-config --static --libs lgmalloc` (or Meson's lgmalloc_dep) hands out:
 * every malloc, free, ... and every C++ new/delete of the program then lands
 * here.  The lg_ functions below are the same allocator, callable directly. */
#ifndef LGMALLOC_H
#define LGMALLOC_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LGMALLOC_VERSION_MAJOR 0
#define LGMALLOC_VERSION_MINOR 1

/* (nothrow: C++ callers, new and delete among them, need no unwinding
 * around these calls, so a call can be a tail call) */
#if defined(__GNUC__)
#define LG_API __attribute__((visibility("default"), nothrow))
#else
#define LG_API
#endif

/* The malloc family, with glibc's semantics. */
LG_API void  *lg_malloc(size_t size);
LG_API void   lg_free(void *p);
LG_API void  *lg_calloc(size_t count, size_t size);
LG_API void  *lg_realloc(void *p, size_t size);
LG_API void  *lg_reallocarray(void *p, size_t count, size_t size);
LG_API void  *lg_aligned_alloc(size_t alignment, size_t size);
LG_API int    lg_posix_memalign(void **memptr, size_t alignment, size_t size);
LG_API void  *lg_memalign(size_t alignment, size_t size);
LG_API void  *lg_valloc(size_t size);
LG_API void  *lg_pvalloc(size_t size);
LG_API size_t lg_malloc_usable_size(const void *p);

/* Nonzero when p lies in memory lgmalloc manages (any address inside a
 * block, not only its start).  Pointers for which this is zero are handed
 * on to the C library's allocator by free, realloc and malloc_usable_size. */
LG_API int lg_owns(const void *p);

/* Returns free memory to the OS now: empty pages of the calling thread's
 * heap, pages of exited threads, and cached segments. */
LG_API void lg_collect(void);
/* Returns the calling thread's free memory to the OS now: the empty pages
 * of its heap and the free slices of its segments; other threads' memory
 * and the caches are left alone.  For a thread about to idle, or to end
 * after a burst (its exit would keep its free slices warm for the next
 * thread, within 1 MiB). */
LG_API void lg_thread_collect(void);
/* How long the calling thread's free memory stays resident, for it to use
 * again, before it goes back to the OS: about `ms` to twice that, checked
 * when the thread allocates or frees pages (10 by default, or
 * LGMALLOC_PURGE_DELAY).  0: back as soon as 256 KiB of it is free.
 * Whatever the delay, a thread keeps at most 8 MiB free and resident.
 * Returns the thread's previous delay. */
LG_API unsigned lg_thread_purge_delay(unsigned ms);

/* Basic statistics, process-wide.  Counters from the slow paths only, so
 * reading them costs the fast path nothing. */
typedef struct lg_stats_s {
    size_t segments;          /* segments mapped now */
    size_t segments_peak;
    size_t huge_blocks;       /* blocks mapped on their own */
    size_t huge_bytes;
    size_t reserved_bytes;    /* address space mapped from the OS */
    size_t committed_bytes;   /* reserved minus what was purged */
    size_t committed_peak;
    size_t purged_bytes;      /* total ever returned with madvise/munmap */
    size_t pages_in_use;      /* pages that hold blocks now */
    size_t page_bytes;        /* the address space of those pages */
    size_t threads_live;      /* heaps bound to a running thread */
    size_t threads_seen;      /* heaps ever created */
    size_t segments_abandoned;/* segments left by exited threads, not yet adopted */
} lg_stats_t;

LG_API void lg_stats_get(lg_stats_t *out);
/* The report LGMALLOC_STATS prints at exit: these counts, the classes'
 * and the prediction's. */
LG_API void lg_stats_print(FILE *out);
/* The same report, written to a file descriptor with write(2) alone: no
 * stdio, no allocation, so a service can answer an admin command with it
 * (a socket, a pipe) while it runs.  It takes lgmalloc's lock for the
 * prediction's counts, so not from a signal handler: LGMALLOC_STATS_SIGNAL
 * gives a report on a signal.  Returns 0, or -1 with errno from write. */
LG_API int lg_stats_print_fd(int fd);

/* Per size class.  Pages held are counted always; requests, live and
 * peak bytes only while statistics are on: LGMALLOC_STATS=1 in the
 * environment at start-up (it also prints all of this at exit).  With them
 * on, every malloc and free takes a counting path, a few nanoseconds. */
typedef struct lg_class_stats_s {
    size_t block_size;        /* bytes of each block of the class */
    size_t requests;          /* allocations served from the class */
    size_t requested_bytes;   /* sum of the sizes asked for */
    size_t wasted_bytes;      /* requests * block_size - requested_bytes */
    size_t live_bytes;        /* blocks in use now, times block_size */
    size_t peak_bytes;        /* the most live_bytes at any time */
    size_t held_bytes;        /* bytes of the pages the class holds now */
    size_t held_peak_bytes;   /* the most it ever held */
    int    exact;             /* an exact-fit class made for a predicted size */
} lg_class_stats_t;

/* Fills out[0..max) with the classes that served a request or hold pages,
 * smallest first, and returns how many there are (which may be more than
 * max). */
LG_API size_t lg_class_stats_get(lg_class_stats_t *out, size_t max);
/* Nonzero when LGMALLOC_STATS turned the counting on. */
LG_API int    lg_stats_enabled(void);

/* What call-site prediction did (all 0 when the program has none). */
typedef struct lg_predict_stats_s {
    size_t sites;             /* allocation call sites found in the program */
    size_t sites_sized;       /* of which a size was predicted with high confidence */
    size_t exact_classes;     /* exact-fit classes added for predicted sizes */
    size_t patched_sites;     /* call sites sent straight to their class's entry */
    size_t exact_requests;    /* allocations served by exact-fit classes (stats on) */
    size_t hits;              /* allocations of the size their site predicts (stats on) */
    size_t misses;            /* allocations at a predicted site of another size (stats on) */
} lg_predict_stats_t;
LG_API void lg_predict_stats_get(lg_predict_stats_t *out);

/* A cap on the memory lgmalloc holds from the OS (committed bytes: pages
 * with blocks, free pages not yet returned, huge blocks).  An allocation
 * that would pass the cap returns what it can to the OS first, then fails:
 * NULL with errno ENOMEM (C++ new: std::bad_alloc).  0 lifts the cap.
 * LGMALLOC_LIMIT=64M (K, M, G suffixes) sets it at start-up.  Returns the
 * previous cap. */
LG_API size_t lg_set_limit(size_t bytes);
LG_API size_t lg_get_limit(void);

/* Checks lgmalloc's invariants, for tests and debugging: walks the
 * calling thread's heap (its pages, their free lists and trigger
 * counters, its segments) and, under lgmalloc's lock, the segments no
 * thread owns and the cache of freed huge mappings; when no other thread
 * has a heap, also compares what it walked with lg_stats_get's counts
 * (then no other thread may allocate or free meanwhile).  Returns 0 when
 * every invariant holds; otherwise prints "lgmalloc: heap check: " and the
 * invariant that does not, and aborts.  Costs a walk of every free block
 * of the heap.  Builds with -Dchecks=enabled (a debug build's default)
 * also check invariants as they go, and this heap walk at thread exit. */
LG_API int lg_heap_check(void);

#ifdef __cplusplus
}
#endif

#endif /* LGMALLOC_H */
