/* free and what asks where a pointer came from.  The fast path is in
 * fast.h; pointers outside the window's pages come here. */
#include "internal.h"

void lg__free_outside(void *p)
{
    if (lg__in_segment(p)) {
        lg_segment_t *seg = lg__segment_of(p);
        if (((uintptr_t)p & LG_SEGMENT_MASK) < LG_SLICE_SIZE)
            lg__nursery_free(seg, p);
        else
            lg__free_to_page(lg__page_of(seg, p), p);
    } else if (!p)
        return;
    else if (lg__is_huge(p))
        lg__huge_free(p);
    else
        lg__foreign_free(p);
}

void lg__free_not_block(const lg_page_t *page, void *p)
{
    /* in the window but in no page of its table: a huge block or the C
     * library's that the kernel placed there, or one of our segments
     * placed outside the window in a unit the window had to skip (os.c);
     * a segment's own slices in no page name LG_NO_PAGE instead */
    if (page == (const lg_page_t *)lg__window && page != LG_NO_PAGE) {
        lg__free_outside(p);
        return;
    }
    lg__free_invalid(page, p);
}

_Noreturn void lg__free_invalid(const lg_page_t *page, const void *p)
{
    if (page->div_mul == 0)
        lg__fatal("free()/realloc(): invalid pointer %p: inside lgmalloc's memory but in no block "
                  "(freed twice, or never allocated)", p);
    const uint8_t *start = lg__page_start(lg__segment_of(p), page);
    size_t offset = (size_t)((const uint8_t *)p - start) % page->block_size;
    lg__fatal("free()/realloc(): invalid pointer %p: %zu bytes into a block of %zu bytes at %p "
              "(not a pointer malloc returned)", p, offset, page->block_size,
              (const void *)((const uint8_t *)p - offset));
}

_Noreturn void lg__free_double(const void *p)
{
    lg__fatal("free(): double free of %p (the block is free already)", p);
}

void lg_free(void *p)
{
    lg__free_fast(p);
}

size_t lg_malloc_usable_size(const void *p)
{
    if (lg__in_segment(p))
        return lg__block_page(lg__segment_of(p), p)->block_size - LG_CANARY;
    if (!p)
        return 0;
    if (lg__is_huge(p))
        return lg__huge_usable(p);
    return lg__foreign_usable_size((void *)p);
}

int lg_owns(const void *p)
{
    return lg__unit_kind(p) != LG_UNIT_NONE;
}
