/* Huge blocks: requests above LG_CLASS_MAX, each mapped on its own.
 *
 * The mapping covers whole 4 MiB units, starts on a unit boundary with a
 * header, and the block follows at `offset` (at most one unit in), so the
 * unit of p - 1 holds the header.  Whole units keep a foreign mapping from
 * ever sharing a unit that the huge map marks as ours.  Untouched address
 * space costs no memory. */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define LG_HUGE_MAGIC 0x6c676d616c6c6f63ull /* "lgmalloc" */

typedef struct lg_huge_s {
    uint64_t magic;
    size_t map_size;  /* bytes mapped from the header */
    size_t offset;    /* from the header to the block */
} lg_huge_t;

static size_t units_for(size_t bytes)
{
    return (bytes + LG_SEGMENT_MASK) & ~LG_SEGMENT_MASK;
}

static lg_huge_t *header_of(const void *p)
{
    lg_huge_t *h = (lg_huge_t *)(((uintptr_t)p - 1) & ~(uintptr_t)LG_SEGMENT_MASK);
    if (h->magic != LG_HUGE_MAGIC || (uint8_t *)h + h->offset != p)
        lg__fatal("free(): invalid pointer %p (inside a huge block, not its start)", p);
    return h;
}

static void track(lg_huge_t *h, bool on)
{
    lg__map_set(lg__huge_map, h, h->map_size, on);
    if (on) {
        lg__count_add(&lg__counters.huge_blocks, 1, NULL);
        lg__count_add(&lg__counters.huge_bytes, h->map_size, NULL);
        lg__count_commit(h->map_size);
    } else {
        lg__count_sub(&lg__counters.huge_blocks, 1);
        lg__count_sub(&lg__counters.huge_bytes, h->map_size);
        lg__count_decommit(h->map_size);
    }
}

void *lg__huge_alloc(size_t size, size_t align)
{
    size_t offset = align >= LG_SEGMENT_SIZE ? LG_SEGMENT_SIZE
                  : align > sizeof(lg_huge_t) ? align : 64;
    if (size > PTRDIFF_MAX - offset - LG_SEGMENT_SIZE || align > PTRDIFF_MAX / 2) {
        errno = ENOMEM;
        return NULL;
    }
    size_t map_size = units_for(offset + size), mapped;
    uint8_t *base;
    if (align <= LG_SEGMENT_SIZE) {
        base = lg__os_map_aligned(map_size, LG_SEGMENT_SIZE, &mapped);
        if (!base)
            return NULL;
    } else {
        /* the block on an `align` boundary, the header one unit before it */
        uint8_t *q = lg__os_map_aligned(map_size + align - LG_SEGMENT_SIZE, align, &mapped);
        if (!q)
            return NULL;
        base = q + align - LG_SEGMENT_SIZE;
        lg__os_unmap(q, (size_t)(base - q));
    }
    lg_huge_t *h = (lg_huge_t *)base;
    h->magic = LG_HUGE_MAGIC;
    h->map_size = map_size;
    h->offset = offset;
    track(h, true);
    return base + offset;
}

void lg__huge_free(void *p)
{
    lg_huge_t *h = header_of(p);
    track(h, false);
    h->magic = 0;
    lg__os_unmap(h, h->map_size);
}

size_t lg__huge_usable(const void *p)
{
    const lg_huge_t *h = header_of(p);
    return h->map_size - h->offset;
}

/* Grows or shrinks the mapping, moving its pages rather than copying them
 * when it cannot grow in place. */
void *lg__huge_realloc(void *p, size_t size)
{
    lg_huge_t *h = header_of(p);
    size_t offset = h->offset, old_size = h->map_size;
    if (size > PTRDIFF_MAX - offset - LG_SEGMENT_SIZE) {
        errno = ENOMEM;
        return NULL;
    }
    size_t map_size = units_for(offset + size);
    if (map_size == old_size)
        return p;
    track(h, false);
    uint8_t *base = (uint8_t *)h;
    if (map_size < old_size) {
        munmap(base + map_size, old_size - map_size);
    } else if (!lg__os_remap(base, old_size, map_size)) {
        size_t mapped;
        uint8_t *to = lg__os_map_aligned(map_size, LG_SEGMENT_SIZE, &mapped);
        if (!to || mremap(base, old_size, map_size, MREMAP_MAYMOVE | MREMAP_FIXED, to) == MAP_FAILED) {
            if (to)
                lg__os_unmap(to, map_size);
            track(h, true);
            errno = ENOMEM;
            return NULL;
        }
        /* the old range is gone; the new one was counted when mapped */
        lg__count_sub(&lg__counters.reserved, old_size);
        base = to;
        old_size = map_size;
    }
    if (map_size > old_size)
        lg__count_add(&lg__counters.reserved, map_size - old_size, NULL);
    else
        lg__count_sub(&lg__counters.reserved, old_size - map_size);
    h = (lg_huge_t *)base;
    h->map_size = map_size;
    track(h, true);
    return base + offset;
}
