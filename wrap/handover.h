/* Handing every call to the C library's allocator, under valgrind.
 *
 * memcheck (and helgrind, drd, massif, dhat) replaces the C library's
 * malloc: libc's own calls (getline's realloc, strdup, open_memstream)
 * reach valgrind's allocator whatever the program defines.  Were the
 * program's calls lgmalloc's, each allocator would be handed the other's
 * blocks.  So when the shim finds such a tool, it hands every call of the
 * malloc family and of new/delete to the C library's functions, which
 * valgrind replaces: valgrind sees one allocator.  LGMALLOC_VALGRIND=0
 * never hands over, =1 always does (see handover.c).
 *
 * Decided once, on the first call that asks; the fast paths of malloc and
 * free never ask: malloc asks on its way to the slow path (a thread's
 * first call always gets there), free routes by address. */
#ifndef LG_HANDOVER_H
#define LG_HANDOVER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { LG_HANDOVER_UNDECIDED, LG_HANDOVER_NO, LG_HANDOVER_YES };
extern int lg__handover_state;
int lg__handover_decide(void);

/* Nonzero when the C library's allocator serves every call. */
static inline int lg__handover(void)
{
    int state = __atomic_load_n(&lg__handover_state, __ATOMIC_ACQUIRE);
    if (__builtin_expect(state == LG_HANDOVER_NO, 1))
        return 0;
    return state == LG_HANDOVER_YES || lg__handover_decide();
}

/* The C library's functions (those valgrind replaces), and libstdc++'s
 * operators (NULL where the program has no libstdc++ to take them):
 * set before the state says LG_HANDOVER_YES. */
typedef struct lg_real_s {
    void  *(*malloc)(size_t size);
    void   (*free)(void *p);
    void  *(*calloc)(size_t count, size_t size);
    void  *(*realloc)(void *p, size_t size);
    void  *(*memalign)(size_t align, size_t size);
    void  *(*aligned_alloc)(size_t align, size_t size);
    int    (*posix_memalign)(void **memptr, size_t align, size_t size);
    void  *(*valloc)(size_t size);
    void  *(*pvalloc)(size_t size);
    size_t (*malloc_usable_size)(void *p);
    /* operator new, new[], delete, delete[]; then their aligned forms
     * (std::align_val_t is passed as a size_t) */
    void  *(*new_one)(size_t size);
    void  *(*new_array)(size_t size);
    void   (*delete_one)(void *p);
    void   (*delete_array)(void *p);
    void  *(*new_one_aligned)(size_t size, size_t align);
    void  *(*new_array_aligned)(size_t size, size_t align);
    void   (*delete_one_aligned)(void *p, size_t align);
    void   (*delete_array_aligned)(void *p, size_t align);
} lg_real_t;
extern lg_real_t lg__real;

/* Where the shim's malloc goes when its fast path cannot serve (lib/fast.h's
 * LG_MALLOC_MISS): the C library's malloc when handing over, else the
 * core's slow path, by a tail call either way. */
void *lg__shim_malloc_miss(size_t size);

#ifdef __cplusplus
}
#endif

#endif /* LG_HANDOVER_H */
