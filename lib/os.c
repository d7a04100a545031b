/* The OS layer: mapping, unmapping and purging memory. */
#include "internal.h"

#include <errno.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* The OS page size, read at run time (arm64 kernels use 4, 16 or 64
 * KiB).  A test variant assumes a larger one than the kernel's
 * (LG_PAGE_SIZE_ASSUMED, a multiple of it), to run the core tests as
 * with 64 KiB pages. */
size_t lg__os_page_size(void)
{
#ifdef LG_PAGE_SIZE_ASSUMED
    return LG_PAGE_SIZE_ASSUMED;
#else
    static size_t page;
    if (!page)
        page = (size_t)sysconf(_SC_PAGESIZE);
    return page;
#endif
}

static void *os_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000   /* Linux 4.17; older kernels take it as a hint */
#endif

/* Maps exactly [addr, addr + size) if nothing is there; errno EEXIST
 * when something is, ENOMEM when the address space is short. */
static bool os_map_at(uintptr_t addr, size_t size)
{
    void *p = mmap((void *)addr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        return false;
    if ((uintptr_t)p != addr) {
        munmap(p, size);
        errno = EEXIST;
        return false;
    }
    return true;
}

/* ---- where lgmalloc's memory goes ------------------------------------------ */

/* lgmalloc keeps memory for blocks only where the map of units reaches,
 * below 2^LG_ADDRESS_BITS (fast.h).  Kernels hand out addresses above
 * 2^47 on x86-64 (5-level paging) and above 2^48 on arm64 (52-bit
 * addresses) only to a mapping that asks for them; a mapping put beyond
 * the map all the same (or, in the tests' variant with a narrowed map,
 * every one) is given back and placed anew, at a random place below, as
 * the window is.  See docs/decisions.md#address-width. */
#if UINTPTR_MAX > 0xffffffffu
/* The top of the address space the kernel hands out unasked, as the main
 * thread's stack shows it (its program name is at the stack's top: 2^47
 * on x86-64, 2^39 to 2^48 on arm64 as configured), and no higher than the
 * map reaches. */
static uintptr_t space_top(void)
{
    static uintptr_t top;
    if (!top) {
        uintptr_t stack = (uintptr_t)getauxval(AT_EXECFN);
        if (!stack)
            stack = (uintptr_t)__builtin_frame_address(0);
        unsigned bits = lg__log2(stack) + 1;
        top = (uintptr_t)1 << (bits < LG_ADDRESS_BITS ? bits : LG_ADDRESS_BITS);
    }
    return top;
}
/* The range lgmalloc chooses places in: above the low addresses of
 * executables and their brk heap, below where the kernel maps by itself
 * (downwards from below the stack, and PIE executables near 2/3 of the
 * top). */
#define LG_SPACE_LOW  (space_top() >> 7)
#define LG_SPACE_HIGH (space_top() >> 1)
#else
/* 32 bits: between 1 and 3 GiB, below a 32-bit kernel's 3 GiB limit and
 * above non-PIE executables and their brk heap (a PIE one there is skipped
 * like any taken place).  The map covers all of it. */
#define LG_SPACE_LOW  ((uintptr_t)1 << 30)
#define LG_SPACE_HIGH ((uintptr_t)3 << 30)
#endif

/* Maps `size` bytes aligned to `align` (at least a unit) at a random free
 * place below the map's reach; NULL when none is found.  (On 32 bits the
 * map reaches everywhere.) */
static void *map_below(size_t size, size_t align)
{
#if UINTPTR_MAX > 0xffffffffu
    uintptr_t low = LG_SPACE_LOW, high = space_top();
    if (align < LG_SEGMENT_SIZE)
        align = LG_SEGMENT_SIZE;
    uintptr_t first = (low + align - 1) & ~(uintptr_t)(align - 1);
    if (first < low || first >= high || size > high - first)
        return NULL;
    uintptr_t places = (high - first - size) / align + 1;
    for (int attempt = 0; attempt < 16; attempt++) {
        uintptr_t at = first + (uintptr_t)(lg__random() % places) * align;
        if (os_map_at(at, size)) {
            if (lg__map_cover((void *)at, size))
                return (void *)at;
            munmap((void *)at, size);
            return NULL;
        }
        if (errno != EEXIST)
            return NULL;
    }
#else
    (void)size, (void)align;
#endif
    return NULL;
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
        lg__segcache_clear();
        p = os_map(size + align);
        if (!p) {
            /* short of address space for the slack: the exact size, at
             * an aligned place chosen here */
            if (!(p = map_below(size, align))) {
                errno = ENOMEM;
                return NULL;
            }
            *mapped = size;
            lg__count_add(&lg__counters.reserved, size, NULL);
            return p;
        }
    }
    uint8_t *q = (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
    if (q > p)
        munmap(p, (size_t)(q - p));
    size_t tail = (size_t)(p + size + align - (q + size));
    if (tail)
        munmap(q + size, tail);
    if (!lg__map_cover(q, size)) {
        munmap(q, size);
        q = map_below(size, align);
        if (!q) {
            errno = ENOMEM;
            return NULL;
        }
    }
    *mapped = size;
    lg__count_add(&lg__counters.reserved, size, NULL);
    return q;
}

/* Segments outside the window are carved from regions reserved a few
 * units at a time, up to LG_REGION_SIZE: a thread's first segment then
 * costs no system call, and many threads starting at once do not queue on
 * the kernel's lock of the address space.  Untouched, a region is address
 * space only.  The window grows the same way. */
#define LG_REGION_SIZE  ((size_t)64 << 20)
#define LG_REGION_UNITS (LG_REGION_SIZE >> LG_SEGMENT_SHIFT)

/* ---- the window ---------------------------------------------------------- */

/* Segments go in one window of up to LG_WINDOW_SIZE bytes (types.h), and
 * at most a quarter of the range above, at a random place in that range,
 * where a Linux process has nothing.  Its first units hold its table
 * (lg_window_t, fast.h), mapped a page at a time as the window grows.
 * The window is mapped a region at a time, from one unit up to
 * LG_REGION_SIZE, with MAP_FIXED_NOREPLACE, never over another mapping (a
 * part that is taken is skipped), and stays mapped: a segment given back
 * is purged and its unit reused, so the window lasts while the program's
 * segments fit in it.  A small program then holds one segment's worth of
 * address space, and a short one (RLIMIT_AS) gets its window a unit at a
 * time.  When it cannot be placed or is full, segments go wherever the
 * kernel puts them.  See docs/decisions.md#footprint. */
#define LG_WINDOW_UNITS (LG_WINDOW_SIZE >> LG_SEGMENT_SHIFT)

/* All under lg__lock: units holding a segment or the table (or taken by
 * someone else), the units taken by someone else (written atomically:
 * lg__os_in_window reads them without the lock), the window's size in
 * units, the units of its table, how many units from the base are mapped,
 * and the table's bytes mapped. */
static uint64_t window_used[(LG_WINDOW_UNITS + 63) / 64];
static uint64_t window_skipped[(LG_WINDOW_UNITS + 63) / 64];
static size_t window_units, table_units, window_mapped, table_mapped;
static bool window_unplaceable;

static size_t table_bytes(size_t units)
{
    size_t page = lg__os_page_size();
    return (offsetof(lg_window_t, pages) + units * LG_SLICES * sizeof(uintptr_t) + page - 1) & ~(page - 1);
}

/* Maps the table's pages for `units` units from the base. */
static bool table_grow(size_t units)
{
    size_t need = table_bytes(units);
    if (need <= table_mapped)
        return true;
    if (!os_map_at((uintptr_t)lg__window + table_mapped, need - table_mapped))
        return false;
    lg__count_add(&lg__counters.reserved, need - table_mapped, NULL);
    table_mapped = need;
    return true;
}

static void window_publish(void)
{
    __atomic_store_n(&lg__window->slices, window_mapped * LG_SLICES, __ATOMIC_RELEASE);
}

static bool window_place(bool *short_of_space)
{
    uintptr_t low = LG_SPACE_LOW, high = LG_SPACE_HIGH;
    size_t size = LG_WINDOW_SIZE;
    while (size > LG_SEGMENT_SIZE && size > (high - low) / 4)
        size >>= 1;
    window_units = size >> LG_SEGMENT_SHIFT;
    table_units = (table_bytes(window_units) + LG_SEGMENT_MASK) >> LG_SEGMENT_SHIFT;
    size_t first = table_units + 1;   /* units mapped at first: the table's and one segment */
    if (window_units < first || high - low <= size) {
        window_unplaceable = true;
        return false;
    }
    size_t places = (high - low - size) >> LG_SEGMENT_SHIFT;
    for (int attempt = 0; attempt < 4; attempt++) {
        uintptr_t base = low + ((uintptr_t)(lg__random() % places) << LG_SEGMENT_SHIFT);
        uintptr_t unit = base + (table_units << LG_SEGMENT_SHIFT);
        if (!lg__map_cover((void *)base, size)) {
            *short_of_space = true;
            return false;
        }
        if (os_map_at(base, table_bytes(first))) {
            if (os_map_at(unit, LG_SEGMENT_SIZE)) {
                table_mapped = table_bytes(first);
                window_mapped = first;
                for (size_t u = 0; u < table_units; u++)
                    window_used[u / 64] |= (uint64_t)1 << (u % 64);
                lg__count_add(&lg__counters.reserved, table_mapped + LG_SEGMENT_SIZE, NULL);
                lg_window_t *w = (lg_window_t *)base;
                w->slices = window_mapped * LG_SLICES;
                __atomic_store_n(&lg__window, w, __ATOMIC_RELEASE);
                return true;
            }
            int error = errno;
            munmap((void *)base, table_bytes(first));
            errno = error;
        }
        if (errno == ENOMEM) {
            *short_of_space = true;   /* try again later */
            return false;
        }
        if (errno != EEXIST)
            break;
    }
    window_unplaceable = true;
    return false;
}

/* Maps the next region of the window (or one unit of it when the address
 * space is short); false when the window is full or, setting *short, no
 * address space is left. */
static bool window_grow(bool *short_of_space)
{
    if (window_unplaceable)
        return false;
    if (window_mapped == 0)
        return window_place(short_of_space);
    while (window_mapped < window_units) {
        /* regions double, from one unit */
        size_t units = window_mapped - table_units;
        if (units > LG_REGION_UNITS)
            units = LG_REGION_UNITS;
        if (units > window_units - window_mapped)
            units = window_units - window_mapped;
        if (!table_grow(window_mapped + units) && !table_grow(window_mapped + (units = 1))) {
            if (errno == ENOMEM)
                *short_of_space = true;
            else
                window_units = window_mapped;   /* its table cannot grow: full */
            return false;
        }
        uintptr_t next = (uintptr_t)lg__window + (window_mapped << LG_SEGMENT_SHIFT);
        if (!os_map_at(next, units << LG_SEGMENT_SHIFT)) {
            if (errno == EEXIST) {
                /* taken by someone else: skip it for good */
                for (size_t u = window_mapped; u < window_mapped + units; u++) {
                    window_used[u / 64] |= (uint64_t)1 << (u % 64);
                    __atomic_fetch_or(&window_skipped[u / 64], (uint64_t)1 << (u % 64), __ATOMIC_RELAXED);
                }
                window_mapped += units;
                window_publish();
                continue;
            }
            units = 1;
            if (!os_map_at(next, LG_SEGMENT_SIZE)) {
                *short_of_space = true;
                return false;
            }
        }
        lg__count_add(&lg__counters.reserved, units << LG_SEGMENT_SHIFT, NULL);
        window_mapped += units;
        window_publish();
        return true;
    }
    return false;
}

/* A free unit of the window for a segment, or NULL. */
static void *window_take(bool *short_of_space)
{
    lg__lock();
    void *seg = NULL;
    do {
        for (size_t w = 0; w * 64 < window_mapped; w++) {
            if (~window_used[w] == 0)
                continue;
            size_t unit = w * 64 + (size_t)__builtin_ctzll(~window_used[w]);
            if (unit < window_mapped) {
                window_used[w] |= (uint64_t)1 << (unit % 64);
                seg = (void *)((uintptr_t)lg__window + (unit << LG_SEGMENT_SHIFT));
            }
            break;
        }
    } while (!seg && window_grow(short_of_space));
    lg__unlock();
    return seg;
}

bool lg__os_in_window(const void *seg)
{
    uintptr_t unit = ((uintptr_t)seg - (uintptr_t)__atomic_load_n(&lg__window, __ATOMIC_ACQUIRE))
                   >> LG_SEGMENT_SHIFT;
    return unit < __atomic_load_n(&window_mapped, __ATOMIC_RELAXED)
        && !(__atomic_load_n(&window_skipped[unit / 64], __ATOMIC_RELAXED) >> (unit % 64) & 1);
}

/* ---- segments outside the window ------------------------------------------- */

static uint8_t *region_next, *region_end;   /* under lg__lock */
static size_t region_units;                 /* the last region's */

static void *region_segment(void)
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
        size_t units = __atomic_load_n(&region_units, __ATOMIC_RELAXED);
        units = units == 0 ? 1 : units * 2 > LG_REGION_UNITS ? LG_REGION_UNITS : units * 2;
        size_t size = units << LG_SEGMENT_SHIFT;
        uint8_t *region = lg__os_map_aligned(size, LG_SEGMENT_SIZE, &mapped);
        if (!region)
            return lg__os_map_aligned(LG_SEGMENT_SIZE, LG_SEGMENT_SIZE, &mapped);
        lg__lock();
        bool mine = region_next == region_end;  /* or another thread refilled first */
        if (mine) {
            region_next = region;
            region_end = region + size;
            region_units = units;
        }
        lg__unlock();
        if (!mine)
            lg__os_unmap(region, size);
    }
}

void *lg__os_segment_map(void)
{
    bool short_of_space = false;
    void *seg = window_take(&short_of_space);
    if (!seg && short_of_space) {
        /* RLIMIT_AS: give back what the caches hold and ask once more */
        lg__huge_cache_clear();
        lg__segcache_clear();
        seg = window_take(&short_of_space);
    }
    return seg ? seg : region_segment();
}

void lg__os_segment_unmap(void *seg)
{
    if (!lg__os_in_window(seg)) {
        lg__os_unmap(seg, LG_SEGMENT_SIZE);
        return;
    }
    madvise(seg, LG_SEGMENT_SIZE, MADV_DONTNEED);
    size_t unit = ((uintptr_t)seg - (uintptr_t)lg__window) >> LG_SEGMENT_SHIFT;
    lg__lock();
    window_used[unit / 64] &= ~((uint64_t)1 << (unit % 64));
    lg__unlock();
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

/* In place only, and only where the map of units reaches. */
void *lg__os_remap(void *p, size_t old_size, size_t new_size)
{
    if (!lg__map_cover(p, new_size))
        return NULL;
    void *q = mremap(p, old_size, new_size, 0);
    return q == MAP_FAILED ? NULL : q;
}

uint64_t lg__os_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}
