/* The OS layer: mapping, unmapping and purging memory. */
#include "internal.h"

#include <errno.h>
#include <sys/mman.h>
#include <time.h>
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
        lg__segcache_clear();
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
 * starting at once do not queue on the kernel's lock of the address space.
 * Untouched, a region is address space only. */
#define LG_REGION_SIZE  ((size_t)64 << 20)
#define LG_REGION_UNITS (LG_REGION_SIZE >> LG_SEGMENT_SHIFT)

/* ---- the window ---------------------------------------------------------- */

/* Segments go in one window of LG_WINDOW_SIZE bytes (types.h) at a random
 * place between 1 TiB and 64 TiB, where a Linux process has nothing: the
 * kernel maps downwards from below the stack (near 128 TiB), and executables
 * and their heap sit near 85 TiB (PIE) or at 4 MiB.  It is mapped a region
 * at a time with MAP_FIXED_NOREPLACE, never over another mapping (a part
 * that is taken is skipped), and stays mapped: a segment given back is
 * purged and its unit reused, so the window lasts while the program's
 * segments fit in it.  When it cannot be placed or is full, segments go
 * wherever the kernel puts them. */
#define LG_WINDOW_UNITS (LG_WINDOW_SIZE >> LG_SEGMENT_SHIFT)
#if UINTPTR_MAX > 0xffffffffu
#define LG_WINDOW_LOW   ((uintptr_t)1 << 40)
#define LG_WINDOW_HIGH  ((uintptr_t)1 << 46)
/* Until placed, a base that puts no pointer of the program in the window:
 * a non-canonical address. */
#define LG_WINDOW_UNPLACED ((uintptr_t)1 << 63)
#else
/* 32 bits: between 1 and 3 GiB, below a 32-bit kernel's 3 GiB limit and
 * above non-PIE executables and their brk heap (a PIE one there is skipped
 * like any taken place).  Every address may be mapped, so the base until
 * placed is 0, the low end the kernel reaches last; in_window() knows from
 * window_mapped that no segment is in the window then. */
#define LG_WINDOW_LOW   ((uintptr_t)1 << 30)
#define LG_WINDOW_HIGH  ((uintptr_t)3 << 30)
#define LG_WINDOW_UNPLACED ((uintptr_t)0)
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000   /* Linux 4.17; older kernels take it as a hint */
#endif

uintptr_t lg__window_base = LG_WINDOW_UNPLACED;
/* All under lg__lock: units holding a segment (or taken by someone else),
 * and how many units from the base are mapped. */
static uint64_t window_used[(LG_WINDOW_UNITS + 63) / 64];
static size_t window_mapped;
static bool window_unplaceable;

/* Maps exactly [addr, addr + size) if nothing is there. */
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
    lg__count_add(&lg__counters.reserved, size, NULL);
    return true;
}

#define FIRST_UNITS (LG_REGION_UNITS < LG_WINDOW_UNITS ? LG_REGION_UNITS : LG_WINDOW_UNITS)

static bool window_place(bool *short_of_space)
{
    size_t places = (LG_WINDOW_HIGH - LG_WINDOW_LOW - LG_WINDOW_SIZE) >> LG_SEGMENT_SHIFT;
    for (int attempt = 0; attempt < 4; attempt++) {
        uintptr_t base = LG_WINDOW_LOW + ((uintptr_t)(lg__random() % places) << LG_SEGMENT_SHIFT);
        if (os_map_at(base, FIRST_UNITS << LG_SEGMENT_SHIFT)) {
            window_mapped = FIRST_UNITS;
            __atomic_store_n(&lg__window_base, base, __ATOMIC_RELEASE);
            return true;
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
    while (window_mapped < LG_WINDOW_UNITS) {
        size_t units = LG_WINDOW_UNITS - window_mapped;
        if (units > LG_REGION_UNITS)
            units = LG_REGION_UNITS;
        uintptr_t next = lg__window_base + (window_mapped << LG_SEGMENT_SHIFT);
        if (!os_map_at(next, units << LG_SEGMENT_SHIFT)) {
            if (errno == EEXIST) {
                /* taken by someone else: skip it for good */
                for (size_t u = window_mapped; u < window_mapped + units; u++)
                    window_used[u / 64] |= (uint64_t)1 << (u % 64);
                window_mapped += units;
                continue;
            }
            units = 1;
            if (!os_map_at(next, LG_SEGMENT_SIZE)) {
                *short_of_space = true;
                return false;
            }
        }
        window_mapped += units;
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
                seg = (void *)(lg__window_base + (unit << LG_SEGMENT_SHIFT));
            }
            break;
        }
    } while (!seg && window_grow(short_of_space));
    lg__unlock();
    return seg;
}

/* Its mapped part only: so, before it is placed, nothing. */
static bool in_window(const void *p)
{
    size_t mapped = __atomic_load_n(&window_mapped, __ATOMIC_RELAXED);
    return (uintptr_t)p - lg__window_base < (mapped << LG_SEGMENT_SHIFT);
}

/* ---- segments outside the window ------------------------------------------- */

static uint8_t *region_next, *region_end;   /* under lg__lock */

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
    if (!in_window(seg)) {
        lg__os_unmap(seg, LG_SEGMENT_SIZE);
        return;
    }
    madvise(seg, LG_SEGMENT_SIZE, MADV_DONTNEED);
    size_t unit = ((uintptr_t)seg - lg__window_base) >> LG_SEGMENT_SHIFT;
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

void *lg__os_remap(void *p, size_t old_size, size_t new_size)
{
    void *q = mremap(p, old_size, new_size, 0);
    return q == MAP_FAILED ? NULL : q;
}

uint64_t lg__os_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}
