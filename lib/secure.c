/* The secure build's slow parts (harden.h): random keys, fresh blocks in
 * random order; and the reports of the corruption the checks find. */
#include "internal.h"

/* A per-thread xorshift generator, seeded from the process's seed and the
 * thread: unpredictable from outside, cheap inside. */
static __thread uint64_t rng;

uint64_t lg__random(void)
{
    if (lg_unlikely(rng == 0))
        rng = (lg__seed ^ (lg__thread_id() * 0x9e3779b97f4a7c15u)) | 1;
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

#if LG_SECURE
/* Puts n fresh blocks from `first` on the page's free list in random
 * order, so their addresses cannot be predicted from the order of
 * allocation. */
void lg__secure_push_fresh(lg_page_t *page, uint8_t *first, size_t n)
{
    size_t size = page->block_size;
    lg_block_t *head = page->free;
    /* Fisher-Yates over indices, drawn one at a time from the rest */
    uint16_t order[LG_PAGE_MAX / 16];
    for (size_t i = 0; i < n; i++)
        order[i] = (uint16_t)i;
    for (size_t i = n; i > 0; i--) {
        size_t j = lg__random() % i;
        lg_block_t *b = (lg_block_t *)(first + order[j] * size);
        order[j] = order[i - 1];
        lg__link_set(page, b, head);
        head = b;
    }
    page->free = head;
}
#endif

_Noreturn void lg__corrupt_link(const void *block, const void *next)
{
    lg__fatal("heap corruption: the free block at %p links to %p, outside its page "
              "(a write after free?)", block, next);
}

_Noreturn void lg__corrupt_head(const lg_page_t *page, const void *head)
{
    lg__fatal("heap corruption: a free block of the %zu-byte page at %p links to %p, outside "
              "its segment (a write after free?)", page->block_size, (const void *)page, head);
}

void lg__corrupt_canary(const void *block, size_t block_size)
{
    lg__fatal("heap overflow: the block at %p (%zu usable bytes) was written past its end",
              block, block_size - LG_CANARY);
}
