/* malloc and the functions built on it: calloc, realloc, the aligned
 * family.  The fast path is in fast.h, the slow path in page.c. */
#include "internal.h"

#include <errno.h>
#include <string.h>

void *lg_malloc(size_t size)
{
    return lg__malloc_fast(size);
}

void *lg_calloc(size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (total > LG_CLASS_MAX)
        return lg__huge_alloc(total, LG_ALIGN, true);
    void *p = lg_malloc(total);
    if (p)
        memset(p, 0, total);
    return p;
}

/* ---- realloc ------------------------------------------------------------ */

static void *realloc_move(void *p, size_t old_usable, size_t size)
{
    void *q = lg_malloc(size);
    if (q) {
        memcpy(q, p, old_usable < size ? old_usable : size);
        lg_free(p);
    }
    return q;
}

void *lg_realloc(void *p, size_t size)
{
    if (!p)
        return lg_malloc(size);
    if (size == 0) {
        lg_free(p); /* glibc frees and returns NULL */
        return NULL;
    }
    if (lg_likely(lg__in_segment(p))) {
        if (size > PTRDIFF_MAX) {
            errno = ENOMEM;
            return NULL;
        }
        lg_page_t *page = lg__block_page(lg__segment_of(p), p);
        if (lg_unlikely(!lg__block_start(page, p)))
            lg__free_invalid(page, p);
        if (lg_unlikely(((lg_block_t *)p)->key == lg__free_key(page, p)) &&
            lg__block_free(page, p) == LG_BLOCK_FREE)
            lg__fatal("realloc(): %p is free already (use after free)", p);
        size_t usable = page->block_size - LG_CANARY;
        /* in place unless it no longer fits or would waste over half */
        if (size <= usable && size >= usable / 2) {
            lg_track_resize(p, usable, size);
            return p;
        }
        return realloc_move(p, usable, size);
    }
    if (lg__is_huge(p)) {
        if (size <= LG_CLASS_MAX)
            return realloc_move(p, lg__huge_usable(p), size);
        return lg__huge_realloc(p, size);
    }
    return lg__foreign_realloc(p, size);
}

void *lg_reallocarray(void *p, size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return lg_realloc(p, total);
}

/* ---- aligned allocation ------------------------------------------------- */

static bool is_power_of_two(size_t x) { return x && !(x & (x - 1)); }

/* `align` is a power of two.  Blocks of a class whose size is a multiple of
 * `align` are all aligned to it (pages start on 64 KiB boundaries), so
 * most aligned requests are ordinary blocks of a suitable class. */
static void *alloc_aligned(size_t align, size_t size)
{
    if (align <= LG_GRANULE)
        return lg_malloc(size);
    if (size > PTRDIFF_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    size_t need = size < align ? align : size;
    if (align <= LG_SLICE_SIZE && need <= LG_CLASS_MAX) {
        /* the standard classes, smallest first: the first multiple of
         * align that fits */
        for (size_t cls = 0; cls < lg__class_std_count; cls++)
            if (lg__class_size[cls] >= need + LG_CANARY && lg__class_size[cls] % align == 0)
                return lg_malloc(lg__class_size[cls] - LG_CANARY);
    }
    return lg__huge_alloc(size, align, false);
}

void *lg_memalign(size_t align, size_t size)
{
    /* glibc: alignments that are not powers of two are rounded up */
    if (align > (SIZE_MAX >> 1) + 1) {   /* above the highest power of two */
        errno = EINVAL;
        return NULL;
    }
    if (!is_power_of_two(align))
        align = align <= 1 ? 1 : (size_t)1 << (lg__log2(align - 1) + 1);
    return alloc_aligned(align, size);
}

void *lg_aligned_alloc(size_t align, size_t size)
{
    if (!is_power_of_two(align)) {
        errno = EINVAL;
        return NULL;
    }
    return alloc_aligned(align, size);
}

int lg_posix_memalign(void **memptr, size_t align, size_t size)
{
    if (!is_power_of_two(align) || align % sizeof(void *) != 0)
        return EINVAL;
    /* A failed allocation leaves errno set, as glibc's does. */
    void *p = alloc_aligned(align, size);
    if (!p)
        return errno;
    *memptr = p;
    return 0;
}

void *lg_valloc(size_t size)
{
    return alloc_aligned(lg__os_page_size(), size);
}

void *lg_pvalloc(size_t size)
{
    size_t page = lg__os_page_size();
    if (size > PTRDIFF_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    size_t rounded = size == 0 ? page : (size + page - 1) & ~(page - 1);
    return alloc_aligned(page, rounded);
}
