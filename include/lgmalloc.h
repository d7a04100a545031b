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

#if defined(__GNUC__)
#define LG_API __attribute__((visibility("default")))
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
    size_t threads_live;      /* heaps bound to a running thread */
    size_t threads_seen;      /* heaps ever created */
    size_t segments_abandoned;/* segments left by exited threads, not yet adopted */
} lg_stats_t;

LG_API void lg_stats_get(lg_stats_t *out);
LG_API void lg_stats_print(FILE *out);

#ifdef __cplusplus
}
#endif

#endif /* LGMALLOC_H */
