/* The OS layer: mapping, unmapping and purging memory. */
#include "internal.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

size_t lg__os_page_size(void)
{
    static size_t page;
    if (!page)
        page = (size_t)sysconf(_SC_PAGESIZE);
    return page;
}

static void *os_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Maps `size` bytes at an address that is a multiple of `align`, by mapping
 * more and trimming both ends.  On success *mapped is the size kept. */
void *lg__os_map_aligned(size_t size, size_t align, size_t *mapped)
{
    if (size > PTRDIFF_MAX - align) {
        errno = ENOMEM;
        return NULL;
    }
    uint8_t *p = os_map(size + align);
    if (!p) {
        /* out of address space (RLIMIT_AS) or memory: give back what the
         * caches hold and ask once more */
        lg__huge_cache_clear();
        lg__segment_cache_clear();
        p = os_map(size + align);
        if (!p)
            return NULL;
    }
    uint8_t *q = (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
    if (q > p)
        munmap(p, (size_t)(q - p));
    size_t tail = (size_t)(p + size + align - (q + size));
    if (tail)
        munmap(q + size, tail);
    *mapped = size;
    lg__count_add(&lg__counters.reserved, size, NULL);
    return q;
}

/* Segments are carved from regions reserved LG_REGION_SIZE at a time: a
 * thread's first segment then costs no system call, and many threads
 * starting at once do not queue on the kernel's lock of the address space
 * (an mmap and two munmaps each).  Untouched, a region is address space
 * only.  When not even a region can be had (RLIMIT_AS), one segment is. */
#define LG_REGION_SIZE ((size_t)64 << 20)

static uint8_t *region_next, *region_end;   /* under lg__lock */

void *lg__os_segment_map(void)
{
    size_t mapped;
    for (;;) {
        lg__lock();
        uint8_t *seg = NULL;
        if (region_next < region_end) {
            seg = region_next;
            region_next += LG_SEGMENT_SIZE;
        }
        lg__unlock();
        if (seg)
            return seg;
        uint8_t *region = lg__os_map_aligned(LG_REGION_SIZE, LG_SEGMENT_SIZE, &mapped);
        if (!region)
            return lg__os_map_aligned(LG_SEGMENT_SIZE, LG_SEGMENT_SIZE, &mapped);
        lg__lock();
        bool mine = region_next == region_end;  /* or another thread refilled first */
        if (mine) {
            region_next = region;
            region_end = region + LG_REGION_SIZE;
        }
        lg__unlock();
        if (!mine)
            lg__os_unmap(region, LG_REGION_SIZE);
    }
}

void lg__os_unmap(void *p, size_t size)
{
    munmap(p, size);
    lg__count_sub(&lg__counters.reserved, size);
}

/* Gives the memory back but keeps the range: reads see zeros afterwards. */
void lg__os_purge(void *p, size_t size)
{
    madvise(p, size, MADV_DONTNEED);
    lg__count_add(&lg__counters.purged, size, NULL);
}

void *lg__os_remap(void *p, size_t old_size, size_t new_size)
{
    void *q = mremap(p, old_size, new_size, 0);
    return q == MAP_FAILED ? NULL : q;
}
