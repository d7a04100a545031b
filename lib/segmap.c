/* The maps of which addresses are ours: the window's slice table, and a
 * byte or a bit per 4 MiB unit of the address space.  Zero-filled .bss:
 * only the words for units we use are ever touched. */
#include "internal.h"

struct lg_window_s lg__window;   /* .bss: `invalid` must stay all zeros */
uint8_t   lg__segment_map[LG_UNITS];
uint64_t  lg__huge_map[LG_MAP_WORDS];

void lg__slice_set(lg_segment_t *seg, unsigned i, lg_page_t *page)
{
    seg->slice_page[i] = page;
    uintptr_t offset = (uintptr_t)seg - lg__window_base;
    if (offset < LG_WINDOW_SIZE)
        __atomic_store_n(&lg__window.pages[(offset >> LG_SLICE_SHIFT) + i],
                         (uintptr_t)page - (uintptr_t)&lg__window.invalid, __ATOMIC_RELEASE);
}

void lg__segment_map_set(lg_segment_t *seg, bool on)
{
    __atomic_store_n(&lg__segment_map[(uintptr_t)seg >> LG_SEGMENT_SHIFT], on, __ATOMIC_RELEASE);
}

void lg__map_set(uint64_t *map, void *start, size_t size, bool on)
{
    uintptr_t first = (uintptr_t)start >> LG_SEGMENT_SHIFT;
    uintptr_t last = ((uintptr_t)start + size - 1) >> LG_SEGMENT_SHIFT;
    for (uintptr_t u = first; u <= last; u++) {
        uint64_t bit = (uint64_t)1 << (u & 63);
        if (on)
            __atomic_fetch_or(&map[u >> 6], bit, __ATOMIC_RELEASE);
        else
            __atomic_fetch_and(&map[u >> 6], ~bit, __ATOMIC_RELEASE);
    }
}
