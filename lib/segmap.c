/* The maps of which addresses are ours: the window's slice table, and a
 * byte per 4 MiB unit of the address space below 2^LG_ADDRESS_BITS, in
 * leaves mapped on demand.  Only the words for units we use are ever
 * touched. */
#include "internal.h"

#include <sys/mman.h>

lg_window_t lg__window_none;            /* .bss: `invalid` must stay all zeros */
lg_window_t *lg__window = &lg__window_none;
uint8_t *lg__unit_map[LG_MAP_LEAVES];

void lg__slice_set(lg_segment_t *seg, unsigned i, lg_page_t *page)
{
    seg->slice_page[i] = page;
    lg_window_t *w = __atomic_load_n(&lg__window, __ATOMIC_ACQUIRE);
    uintptr_t slice = ((uintptr_t)seg - (uintptr_t)w) >> LG_SLICE_SHIFT;
    if (slice < __atomic_load_n(&w->slices, __ATOMIC_ACQUIRE))
        __atomic_store_n(&w->pages[slice + i], page == LG_NO_PAGE ? 0 : (uintptr_t)page - (uintptr_t)w,
                         __ATOMIC_RELEASE);
}

bool lg__map_cover(const void *start, size_t size)
{
    uintptr_t first = (uintptr_t)start >> LG_SEGMENT_SHIFT;
    uintptr_t last = ((uintptr_t)start + size - 1) >> LG_SEGMENT_SHIFT;
    if (size == 0 || (uintptr_t)start + size - 1 < (uintptr_t)start || last >> LG_LEAF_BITS >= LG_MAP_LEAVES)
        return false;
    for (uintptr_t l = first >> LG_LEAF_BITS; l <= last >> LG_LEAF_BITS; l++) {
        if (__atomic_load_n(&lg__unit_map[l], __ATOMIC_ACQUIRE))
            continue;
        /* no lock: the callers may hold lg__lock; a thread that loses the
         * race gives its leaf back */
        uint8_t *leaf = mmap(NULL, LG_LEAF_UNITS, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (leaf == MAP_FAILED)
            return false;
        uint8_t *none = NULL;
        if (!__atomic_compare_exchange_n(&lg__unit_map[l], &none, leaf, false,
                                         __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            munmap(leaf, LG_LEAF_UNITS);
    }
    return true;
}

void lg__map_set(const void *start, size_t size, unsigned kind)
{
    uintptr_t first = (uintptr_t)start >> LG_SEGMENT_SHIFT;
    uintptr_t last = ((uintptr_t)start + size - 1) >> LG_SEGMENT_SHIFT;
    for (uintptr_t u = first; u <= last; u++) {
        uint8_t *leaf = __atomic_load_n(&lg__unit_map[u >> LG_LEAF_BITS], __ATOMIC_ACQUIRE);
        lg_assert(leaf != NULL);
        __atomic_store_n(&leaf[u & (LG_LEAF_UNITS - 1)], (uint8_t)kind, __ATOMIC_RELEASE);
    }
}
