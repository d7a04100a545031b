/* The checks and annotations that a build may add around blocks, each
 * compiled to nothing unless asked for:
 *
 *   LG_SECURE   (-Dsecure=true, only when asked: see
 *               docs/decisions.md#secure-explicit)
 *     - free-list links stored encoded with a per-page random key and the
 *       block's address, and checked to point into their page when decoded:
 *       a use-after-free write cannot steer malloc to an address of its
 *       choosing (the release build checks only that a link malloc
 *       takes stays in its segment, lg__block_in_segment);
 *     - a canary in the last 8 bytes of every block, written by malloc and
 *       checked by free: an overflow past the usable size is reported;
 *     - fresh blocks handed out in random order, guard pages around each
 *       segment's pages and after huge blocks (segment.c, huge.c).
 *   LG_VALGRIND (-Dvalgrind=true)
 *     memcheck client requests, so valgrind sees lgmalloc's blocks as heap
 *     blocks: leaks, use after free and uninitialised reads are reported
 *     in the program that uses lgmalloc.
 *
 * The double-free and block-start checks are always on (fast.h).
 *
 * Links and canaries are encoded with a tweak (LG_LINK_TWEAK,
 * LG_CANARY_TWEAK) so that neither ever equals a free block's key
 * (block ^ list_key, fast.h): a popped block keeps its link word, a 16-byte
 * block has its canary in the key's place, and a program may copy either
 * into a key's place. */
#ifndef LG_HARDEN_H
#define LG_HARDEN_H

#include "types.h"

#ifndef LG_SECURE
#define LG_SECURE 0
#endif
#ifndef LG_VALGRIND
#define LG_VALGRIND 0
#endif

#if LG_VALGRIND
#include <valgrind/memcheck.h>
/* lgmalloc's own words in a free block: usable while it works on them */
#define lg_track_open(p, n)        VALGRIND_MAKE_MEM_DEFINED((p), (n))
#define lg_track_close(p, n)       VALGRIND_MAKE_MEM_NOACCESS((p), (n))
#define lg_track_malloc(p, n, z)   VALGRIND_MALLOCLIKE_BLOCK((p), (n), 0, (z))
#define lg_track_free(p)           VALGRIND_FREELIKE_BLOCK((p), 0)
#define lg_track_resize(p, o, n)   VALGRIND_RESIZEINPLACE_BLOCK((p), (o), (n), 0)
#else
#define lg_track_open(p, n)        ((void)0)
#define lg_track_close(p, n)       ((void)0)
#define lg_track_malloc(p, n, z)   ((void)0)
#define lg_track_free(p)           ((void)0)
#define lg_track_resize(p, o, n)   ((void)0)
#endif

#define LG_CANARY (LG_SECURE ? sizeof(uintptr_t) : 0) /* bytes of a block kept for it */

_Noreturn void lg__corrupt_link(const void *block, const void *next);
/* The same, found at the head of a page's list (lg__block_in_segment). */
_Noreturn void lg__corrupt_head(const lg_page_t *page, const void *head);
void lg__corrupt_canary(const void *block, size_t block_size);

/* Low bits a block address never has (blocks are 16-aligned). */
#define LG_LINK_TWEAK   ((uintptr_t)8)
#define LG_CANARY_TWEAK ((uintptr_t)4)
_Static_assert(LG_LINK_TWEAK < LG_ALIGN && LG_CANARY_TWEAK < LG_ALIGN
               && LG_LINK_TWEAK != LG_CANARY_TWEAK, "tweaks are low bits no block address has");

lg_inline uintptr_t lg__link_mask(const lg_page_t *page, const lg_block_t *block)
{
#if LG_SECURE
    return page->list_key ^ (uintptr_t)block ^ LG_LINK_TWEAK;
#else
    (void)page, (void)block;
    return 0;
#endif
}

lg_inline void lg__link_set(const lg_page_t *page, lg_block_t *block, lg_block_t *next)
{
    block->next = (lg_block_t *)((uintptr_t)next ^ lg__link_mask(page, block));
}

/* The next block in a list of this page's blocks. */
lg_inline lg_block_t *lg__link_get(const lg_page_t *page, const lg_block_t *block)
{
    lg_block_t *next = (lg_block_t *)((uintptr_t)block->next ^ lg__link_mask(page, block));
#if LG_SECURE
    const lg_segment_t *seg = (const lg_segment_t *)((uintptr_t)block & ~(uintptr_t)LG_SEGMENT_MASK);
    uintptr_t first = page->first_slice ? (uintptr_t)seg + ((uintptr_t)page->first_slice << LG_SLICE_SHIFT)
                                        : (uintptr_t)lg__nursery_start(seg, page);
    if (next && (uintptr_t)next - first >= (uintptr_t)page->end - first)
        lg__corrupt_link(block, next);
#endif
    return next;
}

/* Whether a block malloc is about to pop lies in its page's segment (the
 * page's descriptor is in the segment's header).  One test answers two
 * questions on the fast path: NULL, the end of the list, fails it, and so
 * does a link a write after free pointed elsewhere, so the release build
 * refuses such a link before malloc hands its address out.  The slow path
 * that a failed test leads to reports a non-NULL block (lg__corrupt_head,
 * page.c).  The secure build checks each link as it is decoded, more
 * closely (lg__link_get).  See docs/decisions.md#malloc-link-check. */
lg_inline bool lg__block_in_segment(const lg_page_t *page, const lg_block_t *block)
{
    return ((uintptr_t)block ^ (uintptr_t)page) < LG_SEGMENT_SIZE;
}

/* Where a secure build keeps a block's canary: its last word. */
lg_inline uintptr_t *lg__canary(const lg_page_t *page, lg_block_t *block)
{
    return (uintptr_t *)((uint8_t *)block + page->block_size - LG_CANARY);
}

lg_inline uintptr_t lg__canary_value(const lg_page_t *page, const lg_block_t *block)
{
    return page->list_key ^ (uintptr_t)block ^ LG_CANARY_TWEAK;
}

/* A block leaves a free list for the program: not free any more, its
 * canary set, and (valgrind) a heap block of `size` bytes. */
lg_inline void lg__block_out(const lg_page_t *page, lg_block_t *block, size_t size)
{
    block->key = 0;
#if LG_VALGRIND
    block->next = NULL; /* or memcheck would count the next free block as reachable from it */
#endif
#if LG_SECURE
    *lg__canary(page, block) = lg__canary_value(page, block);
#else
    (void)page;
#endif
    lg_track_malloc(block, size, 0);
    (void)size;
}

/* A block comes back from the program: its canary intact?  (Valgrind: the
 * block is free; lgmalloc may use its first words.) */
lg_inline void lg__block_in(const lg_page_t *page, lg_block_t *block)
{
#if LG_SECURE
    uintptr_t *canary = lg__canary(page, block);
    lg_track_open(canary, sizeof *canary);
    if (*canary != lg__canary_value(page, block))
        lg__corrupt_canary(block, page->block_size);
#else
    (void)page;
#endif
    lg_track_free(block);
    lg_track_open(block, sizeof *block);
    (void)block;
}

#endif /* LG_HARDEN_H */
