/* Double frees: is a block whose key is in place (lg_block_t, fast.h)
 * really free?  Asked before free or realloc aborts, so that no correct
 * program is ever stopped: the key makes the question rare, this answers it.
 *
 * A block is free when it is on its page's local free list, on the list of
 * blocks other threads freed into the page (xfree), or fresh (bump .. end).
 *
 * The page's owner walks both lists and knows: only it takes blocks off
 * them.  Another thread cannot know: the owner pops and pushes the local
 * list without atomics, so a walk from outside may follow a link that the
 * program has just overwritten in a block malloc handed it.  That thread
 * walks them anyway, reading only block starts of the page (its memory is
 * mapped) and at most the page's capacity of them, and takes what it finds:
 *   found, or fresh   a double free: reported.  A correct program gets here
 *                     only if a live block holds its own key, which it
 *                     cannot arrange (lg_block_t), and the walk then strays
 *                     onto it as well;
 *   not found         unknown: the block is left alone, neither freed nor
 *                     reported.  Freeing it would corrupt the owner's list if
 *                     it is on it after all; aborting would stop a correct
 *                     program.  A double free racing with its page's owner
 *                     goes unreported; a live block holding its own key
 *                     stays allocated. */
#include "internal.h"

/* Is p on the list that starts at b? */
static bool list_holds(const lg_page_t *page, const lg_block_t *b, const void *p)
{
    uintptr_t start = (uintptr_t)lg__page_start(lg__segment_of(p), page);
    uintptr_t span = (uintptr_t)__atomic_load_n(&page->end, __ATOMIC_RELAXED) - start;
    for (uint32_t n = 0; b && n <= page->capacity; n++) {
        if ((uintptr_t)b - start >= span || !lg__block_start(page, b))
            return false; /* a link the program wrote, or corruption */
        if (b == p)
            return true;
        lg_track_open(b, sizeof *b);
        uintptr_t next = __atomic_load_n((const uintptr_t *)&b->next, __ATOMIC_RELAXED);
        lg_track_close(b, sizeof *b);
        b = (const lg_block_t *)(next ^ lg__link_mask(page, b));
    }
    return false;
}

lg_block_state_t lg__block_free(const lg_page_t *page, const void *p)
{
    if ((const uint8_t *)p >= __atomic_load_n(&page->bump, __ATOMIC_RELAXED))
        return LG_BLOCK_FREE; /* never handed out */
    const lg_block_t *local = __atomic_load_n(&page->free, __ATOMIC_RELAXED);
    uintptr_t remote = atomic_load_explicit(&page->xfree, memory_order_acquire) & ~LG_XFREE_FLAGS;
    if (list_holds(page, local, p) || list_holds(page, (const lg_block_t *)remote, p))
        return LG_BLOCK_FREE;
    bool owner = (page->owner & ~LG_OWNER_COUNTED) == lg__thread_id();
    return owner ? LG_BLOCK_LIVE : LG_BLOCK_UNKNOWN;
}

void lg__free_suspect(void *p, lg_page_t *page)
{
    switch (lg__block_free(page, p)) {
    case LG_BLOCK_FREE:
        lg__free_double(p);
    case LG_BLOCK_LIVE:
        lg__free_push(page, p, lg__free_key(page, p));
        return;
    case LG_BLOCK_UNKNOWN:
        return; /* left alone, above */
    }
}
