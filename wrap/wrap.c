/* The __wrap_* entry points: with -Wl,--wrap=malloc,... every call the
 * program makes to the malloc family lands here, and from here in
 * lgmalloc: malloc and free inline their fast paths (lib/fast.h), the
 * others are tail calls, so lgmalloc sees the program's own return
 * address either way (what the prediction keys call sites by).
 *
 * Also here: where pointers lgmalloc does not own go.  In the pure --wrap
 * link mode (LG_WRAP_ONLY) that is __real_free & co., glibc's functions.
 * In the default mode the program defines malloc itself (below), so
 * __real_free would be lgmalloc again: there, glibc's exported __libc_*
 * functions take them, referenced weakly so that a fully static link,
 * where libc has no other allocator, does not pull glibc's malloc in. */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lgmalloc.h"
#include "../lib/fast.h"
#include "../lib/shim.h"

#define WRAP __attribute__((visibility("default")))

/* In liblgmalloc-program.a (LG_NO_WRAP_ENTRIES) they are entry.c's
 * forwarders instead, which a shared object may take: see start.c. */
#ifndef LG_NO_WRAP_ENTRIES
WRAP void *__wrap_malloc(size_t size) { return lg__malloc_fast(size); }
WRAP void __wrap_free(void *p) { lg__free_fast(p); }
WRAP void *__wrap_calloc(size_t count, size_t size) { return lg_calloc(count, size); }
WRAP void *__wrap_realloc(void *p, size_t size) { return lg_realloc(p, size); }
WRAP void *__wrap_reallocarray(void *p, size_t count, size_t size) { return lg_reallocarray(p, count, size); }
WRAP void *__wrap_aligned_alloc(size_t align, size_t size) { return lg_aligned_alloc(align, size); }
WRAP int __wrap_posix_memalign(void **memptr, size_t align, size_t size) { return lg_posix_memalign(memptr, align, size); }
WRAP void *__wrap_memalign(size_t align, size_t size) { return lg_memalign(align, size); }
WRAP void *__wrap_valloc(size_t size) { return lg_valloc(size); }
WRAP void *__wrap_pvalloc(size_t size) { return lg_pvalloc(size); }
WRAP size_t __wrap_malloc_usable_size(void *p) { return lg_malloc_usable_size(p); }
#endif

/* The analysis (liblgmalloc_predict.a) prints its report at start-up with
 * LGMALLOC_VERBOSE=1.  A program linked without it (a -static build:
 * Debian ships Zydis only as a shared library) says so instead.  The weak
 * reference is only compared with NULL, and pulls nothing in. */
extern void lgp_self_table(void) __attribute__((weak));

__attribute__((constructor)) static void report_no_prediction(void)
{
    const char *verbose = getenv("LGMALLOC_VERBOSE");
    if (!lgp_self_table && verbose && atoi(verbose) > 0)
        fputs("lgmalloc: no prediction: this program was linked without liblgmalloc_predict "
              "(a -static build, or lgmalloc built with -Dpredict=disabled)\n", stderr);
}

#ifdef LG_WRAP_ONLY

extern void __real_free(void *p);
extern void *__real_realloc(void *p, size_t size);
extern size_t __real_malloc_usable_size(void *p);

void (*const lg__foreign_free)(void *) = __real_free;
void *(*const lg__foreign_realloc)(void *, size_t) = __real_realloc;
size_t (*const lg__foreign_usable_size)(void *) = __real_malloc_usable_size;

#else /* the default link mode */

/* ---- the malloc family defined in the program ----------------------------
 *
 * With --wrap alone, code inside libc (strdup, getline, asprintf,
 * open_memstream, ...) still calls glibc's malloc, and a buffer from
 * lgmalloc that libc grows with realloc would reach glibc.  Defined here,
 * in the executable, these symbols take the place of glibc's for libc's
 * own calls too (glibc supports replacing malloc this way), and in a fully
 * static program they are the only allocator.  The program's direct calls
 * still go through the __wrap_* entry points.  They live in this file so
 * that the link, which pulls it in for __wrap_malloc, always gets them. */

#define DEFINE WRAP

DEFINE void *malloc(size_t size) { return lg__malloc_fast(size); }
DEFINE void free(void *p) { lg__free_fast(p); }
DEFINE void *calloc(size_t count, size_t size) { return lg_calloc(count, size); }
DEFINE void *realloc(void *p, size_t size) { return lg_realloc(p, size); }
DEFINE void *reallocarray(void *p, size_t count, size_t size) { return lg_reallocarray(p, count, size); }
DEFINE void *aligned_alloc(size_t align, size_t size) { return lg_aligned_alloc(align, size); }
DEFINE int posix_memalign(void **memptr, size_t align, size_t size) { return lg_posix_memalign(memptr, align, size); }
DEFINE void *memalign(size_t align, size_t size) { return lg_memalign(align, size); }
DEFINE void *valloc(size_t size) { return lg_valloc(size); }
DEFINE void *pvalloc(size_t size) { return lg_pvalloc(size); }
DEFINE size_t malloc_usable_size(void *p) { return lg_malloc_usable_size(p); }

/* glibc's malloc extensions that a program may call: kept consistent with
 * lgmalloc, and defined so a static link never pulls glibc's malloc in
 * (a -static C++ program that called mallinfo2 failed to link: two
 * definitions of malloc). */
DEFINE int malloc_trim(size_t pad)
{
    (void)pad;
    lg_collect();
    return 1;
}

DEFINE int mallopt(int param, int value)
{
    (void)param;
    (void)value;
    return 0; /* no glibc tunables apply: report the option as not set */
}

DEFINE void malloc_stats(void) { lg_stats_print(stderr); }

/* What lgmalloc holds from the OS, in glibc's fields: live blocks mapped on
 * their own (hblks, hblkhd), and the rest (arena: segments, and freed
 * huge mappings kept for reuse).  The fast path counts no bytes, so
 * "allocated" (uordblks) is all of it and "free" (fordblks) nothing: an
 * upper bound that grows and shrinks with use. */
DEFINE struct mallinfo2 mallinfo2(void)
{
    lg_stats_t s;
    lg_stats_get(&s);
    struct mallinfo2 mi = {0};
    mi.arena = s.committed_bytes - s.huge_bytes;
    mi.hblks = s.huge_blocks;
    mi.hblkhd = s.huge_bytes;
    mi.usmblks = s.committed_peak;
    mi.uordblks = s.committed_bytes;
    return mi;
}

/* The old form, in ints: sizes past 2 GiB are cut to INT_MAX. */
DEFINE struct mallinfo mallinfo(void)
{
    struct mallinfo2 w = mallinfo2();
#define CUT(x) ((x) > INT_MAX ? INT_MAX : (int)(x))
    struct mallinfo mi = {.arena = CUT(w.arena), .hblks = CUT(w.hblks),
                          .hblkhd = CUT(w.hblkhd), .usmblks = CUT(w.usmblks),
                          .uordblks = CUT(w.uordblks)};
#undef CUT
    return mi;
}

DEFINE int malloc_info(int options, FILE *out)
{
    if (options != 0 || out == NULL) {
        errno = EINVAL;
        return -1;
    }
    lg_stats_t s;
    lg_stats_get(&s);
    fprintf(out, "<malloc version=\"lgmalloc-1\">\n"
                 "<system type=\"current\" size=\"%zu\"/>\n"
                 "<system type=\"max\" size=\"%zu\"/>\n"
                 "<aspace type=\"total\" size=\"%zu\"/>\n"
                 "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n"
                 "</malloc>\n",
            s.committed_bytes, s.committed_peak, s.reserved_bytes, s.huge_blocks,
            s.huge_bytes);
    return 0;
}

/* ---- pointers lgmalloc does not own --------------------------------------- */

extern void __libc_free(void *p) __attribute__((weak));
extern void *__libc_realloc(void *p, size_t size) __attribute__((weak));

static void foreign_free(void *p)
{
    if (!__libc_free)
        lg__fatal("free(): invalid pointer %p (not from lgmalloc, and this program has no other allocator)", p);
    __libc_free(p);
}

static void *foreign_realloc(void *p, size_t size)
{
    if (!__libc_realloc)
        lg__fatal("realloc(): invalid pointer %p (not from lgmalloc, and this program has no other allocator)", p);
    return __libc_realloc(p, size);
}

/* glibc exports no usable-size function but malloc_usable_size, which this
 * link mode replaces, so read the size from its chunk header as glibc
 * does: the word before the block holds the chunk size with three flag
 * bits; an mmapped chunk (flag 2) has two words of overhead, others one. */
static size_t foreign_usable_size(void *p)
{
    if (!__libc_free)
        return 0;
    size_t head = ((const size_t *)p)[-1];
    size_t overhead = (head & 2) ? 2 * sizeof(size_t) : sizeof(size_t);
    return (head & ~(size_t)7) - overhead;
}

void (*const lg__foreign_free)(void *) = foreign_free;
void *(*const lg__foreign_realloc)(void *, size_t) = foreign_realloc;
size_t (*const lg__foreign_usable_size)(void *) = foreign_usable_size;

#endif
