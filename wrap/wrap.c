/* The __wrap_* entry points: with -Wl,--wrap=malloc,... every call the
 * program makes to the malloc family lands here, and from here in
 * lgmalloc: malloc and free inline their fast paths (lib/fast.h), the
 * others are tail calls, so lgmalloc sees the program's own return
 * address either way (what the prediction keys call sites by).
 *
 * Also here: where pointers lgmalloc does not own go (lib/shim.h), in
 * every link mode; these definitions take the place of the core's weak
 * ones (lib/foreign.c), which abort.  In the pure --wrap link mode
 * (LG_WRAP_ONLY) that is __real_free & co., glibc's functions.  In the
 * default mode the program defines malloc itself (below), so
 * __real_free would be lgmalloc again: there, glibc's exported __libc_*
 * functions take them, referenced weakly so that a fully static link,
 * where libc has no other allocator, does not pull glibc's malloc in.  A
 * C library without them (musl) has no allocator besides the malloc
 * defined here: such a pointer is invalid (docs/linking.md).
 *
 * Under valgrind every call goes to the C library's allocator instead
 * (handover.h), so that valgrind sees one allocator. */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lgmalloc.h"
#include "alloc_functions.h"
#include "handover.h"
#include "../predict/lgmalloc_predict.h"
#define LG_MALLOC_MISS lg__shim_malloc_miss /* asks first whether lgmalloc serves */
#include "../lib/fast.h"
#include "../lib/shim.h"

#define WRAP __attribute__((visibility("default")))

/* ---- the routes, for the wrapped and the defined entry points -------------
 *
 * malloc and free are the fast paths, with no question asked (see
 * handover.h).  The others first ask whether the C library serves every
 * call (under valgrind): a load and a branch.  free, realloc and
 * malloc_usable_size route the C library's blocks by address, through
 * lg__foreign_*, so only what allocates needs to ask.  One route per
 * function of alloc_functions.h, named route_NAME. */

#define HANDOVER_OR(real_call, lg_call) (lg_unlikely(lg__handover()) ? (real_call) : (lg_call))

lg_inline void *route_malloc(size_t size) { return lg__malloc_fast(size); }
lg_inline void route_free(void *p) { lg__free_fast(p); }
lg_inline size_t route_malloc_usable_size(void *p) { return lg_malloc_usable_size(p); }

static inline void *route_realloc(void *p, size_t size)
{
    /* (lgmalloc's own blocks, from the lg_ functions, stay lgmalloc's) */
    return HANDOVER_OR(lg_owns(p) ? lg_realloc(p, size) : lg__real.realloc(p, size),
                       lg_realloc(p, size));
}

static inline void *route_reallocarray(void *p, size_t count, size_t size)
{
    size_t total;
    if (lg_unlikely(lg__handover()) && !__builtin_mul_overflow(count, size, &total))
        return route_realloc(p, total);
    return lg_reallocarray(p, count, size);
}

/* With statistics on, a calloc is counted against its call site here: the
 * core sees only calloc's own malloc.  Reached by a jump from the entry
 * point (the shim is built with -O2, see wrap/meson.build), so its return
 * address is the program's call, and lies below its canonical frame
 * address (x86), as lib/page.c finds it for malloc. */
static lg_noinline void *calloc_counted(size_t count, size_t size)
{
#if defined(__x86_64__) || defined(__i386__)
    const uintptr_t *slot = (const uintptr_t *)__builtin_dwarf_cfa() - 1;
#else
    const uintptr_t *slot = NULL;
#endif
    size_t total;
    if (!__builtin_mul_overflow(count, size, &total))
        lg__route_observe((uintptr_t)__builtin_return_address(0), slot, total);
    return HANDOVER_OR(lg__real.calloc(count, size), lg_calloc(count, size));
}

lg_inline void *route_calloc(size_t count, size_t size)
{
    if (lg_unlikely(lg__stats_on))
        return calloc_counted(count, size);
    return HANDOVER_OR(lg__real.calloc(count, size), lg_calloc(count, size));
}

lg_inline void *route_aligned_alloc(size_t align, size_t size)
{
    return HANDOVER_OR(lg__real.aligned_alloc(align, size), lg_aligned_alloc(align, size));
}

lg_inline int route_posix_memalign(void **memptr, size_t align, size_t size)
{
    return HANDOVER_OR(lg__real.posix_memalign(memptr, align, size),
                       lg_posix_memalign(memptr, align, size));
}

lg_inline void *route_memalign(size_t align, size_t size)
{
    return HANDOVER_OR(lg__real.memalign(align, size), lg_memalign(align, size));
}

lg_inline void *route_valloc(size_t size)
{
    return HANDOVER_OR(lg__real.valloc(size), lg_valloc(size));
}

lg_inline void *route_pvalloc(size_t size)
{
    return HANDOVER_OR(lg__real.pvalloc(size), lg_pvalloc(size));
}

/* In liblgmalloc-program.a (LG_NO_WRAP_ENTRIES) they are entry.c's
 * forwarders instead, which a shared object may take: see start.c. */
#ifndef LG_NO_WRAP_ENTRIES
#define WRAP_ENTRY(ret, name, params, args, ...) \
    WRAP ret __wrap_##name params { return route_##name args; }
#define WRAP_ENTRY_FREE(name, params, args) \
    WRAP void __wrap_##name params { route_##name args; }
LG_WRAPPED_FUNCTIONS(WRAP_ENTRY, WRAP_ENTRY_FREE)
#endif

/* The analysis (liblgmalloc_predict.a) prints its report at start-up with
 * LGMALLOC_VERBOSE=1.  A program linked without it (a -static build:
 * Debian ships Zydis only as a shared library) says so instead.  The weak
 * reference is only compared with NULL, and pulls nothing in. */
extern __typeof__(lgp_self_table) lgp_self_table __attribute__((weak));

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
#define DEFINE_FUNCTION(ret, name, params, args, ...) \
    DEFINE ret name params { return route_##name args; }
#define DEFINE_FREE(name, params, args) \
    DEFINE void name params { route_##name args; }
LG_WRAPPED_FUNCTIONS(DEFINE_FUNCTION, DEFINE_FREE)

/* glibc's malloc extensions that a program may call: kept consistent with
 * lgmalloc, and defined so a static link never pulls glibc's malloc in
 * (a -static C++ program that called mallinfo2 failed to link: two
 * definitions of malloc).  Each only where the C library declares it
 * (LG_HAVE_*, from meson.build): musl has none of them. */
#ifdef LG_HAVE_MALLOC_TRIM
/* glibc returns 1 when memory was given back to the system, 0 when none
 * could be. */
DEFINE int malloc_trim(size_t pad)
{
    (void)pad;
    lg_stats_t before, after;
    lg_stats_get(&before);
    lg_collect();
    lg_stats_get(&after);
    return after.committed_bytes < before.committed_bytes;
}
#endif

/* glibc's tunables shape glibc's arenas, none of which lgmalloc has: each
 * is accepted and has no effect.  The return value follows glibc (1 for a
 * value glibc takes, 0 for one it refuses), since programs and test suites
 * treat 0 as an error; a parameter glibc does not know it accepts too. */
#ifdef LG_HAVE_MALLOPT
DEFINE int mallopt(int param, int value)
{
    switch (param) {
#ifdef M_MXFAST
    case M_MXFAST:
        return value >= 0 && (size_t)value <= 80 * sizeof(size_t) / 4;
#endif
#ifdef M_MMAP_THRESHOLD
    case M_MMAP_THRESHOLD:
        return value >= 0 && (size_t)value <= (sizeof(long) == 8 ? (size_t)32 << 20 : (size_t)512 << 10);
#endif
    default:
        return 1;
    }
}
#endif

#ifdef LG_HAVE_MALLOC_STATS
DEFINE void malloc_stats(void) { lg_stats_print(stderr); }
#endif

/* What lgmalloc holds from the OS, in glibc's fields: live blocks mapped on
 * their own (hblks, hblkhd), and the rest (arena: segments, and freed
 * huge mappings kept for reuse).  The fast path counts no bytes, so
 * "allocated" (uordblks) is the pages that hold blocks, and "free"
 * (fordblks) the rest of the arena: memory freed and not yet given back,
 * which falls as pages empty, as glibc's does. */
#ifdef LG_HAVE_MALLINFO2
DEFINE struct mallinfo2 mallinfo2(void)
{
    lg_stats_t s;
    lg_stats_get(&s);
    struct mallinfo2 mi = {0};
    mi.arena = s.committed_bytes - s.huge_bytes;
    mi.hblks = s.huge_blocks;
    mi.hblkhd = s.huge_bytes;
    mi.usmblks = s.committed_peak;
    mi.uordblks = s.page_bytes < mi.arena ? s.page_bytes : mi.arena;
    mi.fordblks = mi.arena - mi.uordblks;
    return mi;
}

#ifdef LG_HAVE_MALLINFO
/* The old form, in ints: sizes past 2 GiB are cut to INT_MAX.  (Made from
 * mallinfo2, so only beside it: glibc 2.33 and later.) */
DEFINE struct mallinfo mallinfo(void)
{
    struct mallinfo2 w = mallinfo2();
#define CUT(x) ((x) > INT_MAX ? INT_MAX : (int)(x))
    struct mallinfo mi = {.arena = CUT(w.arena), .hblks = CUT(w.hblks),
                          .hblkhd = CUT(w.hblkhd), .usmblks = CUT(w.usmblks),
                          .uordblks = CUT(w.uordblks), .fordblks = CUT(w.fordblks)};
#undef CUT
    return mi;
}
#endif
#endif

#ifdef LG_HAVE_MALLOC_INFO
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
#endif

/* ---- pointers lgmalloc does not own --------------------------------------- */

/* glibc's allocator, where the C library has one beside lgmalloc
 * (LG_HAVE_LIBC_ALLOCATOR, from meson.build).  Without it (musl) every
 * allocation libc makes for the program reaches the malloc defined here,
 * so a pointer lgmalloc does not own came from no allocator. */
#ifdef LG_HAVE_LIBC_ALLOCATOR
extern void __libc_free(void *p) __attribute__((weak));
extern void *__libc_realloc(void *p, size_t size) __attribute__((weak));
static void (*const libc_free)(void *) = __libc_free;
static void *(*const libc_realloc)(void *, size_t) = __libc_realloc;
#else
static void (*const libc_free)(void *) = NULL;
static void *(*const libc_realloc)(void *, size_t) = NULL;
#endif

/* Handing over (handover.h), the C library's blocks are valgrind's: its
 * free, not glibc's __libc_free, which valgrind does not replace. */
static void foreign_free(void *p)
{
    if (lg__handover()) {
        lg__real.free(p);
        return;
    }
    if (!libc_free)
        lg__fatal("free(): invalid pointer %p (not from lgmalloc, and this program has no other allocator)", p);
    libc_free(p);
}

static void *foreign_realloc(void *p, size_t size)
{
    if (lg__handover())
        return lg__real.realloc(p, size);
    if (!libc_realloc)
        lg__fatal("realloc(): invalid pointer %p (not from lgmalloc, and this program has no other allocator)", p);
    return libc_realloc(p, size);
}

/* glibc exports no usable-size function but malloc_usable_size, which this
 * link mode replaces, so read the size from its chunk header as glibc
 * does: the word before the block holds the chunk size with three flag
 * bits; an mmapped chunk (flag 2) has two words of overhead, others one. */
static size_t foreign_usable_size(void *p)
{
    if (lg__handover())
        return lg__real.malloc_usable_size(p);
    if (!libc_free)
        lg__fatal("malloc_usable_size(): invalid pointer %p (not from lgmalloc, and this program has no other allocator)", p);
    size_t head = ((const size_t *)p)[-1];
    size_t overhead = (head & 2) ? 2 * sizeof(size_t) : sizeof(size_t);
    return (head & ~(size_t)7) - overhead;
}

void (*const lg__foreign_free)(void *) = foreign_free;
void *(*const lg__foreign_realloc)(void *, size_t) = foreign_realloc;
size_t (*const lg__foreign_usable_size)(void *) = foreign_usable_size;

#endif
