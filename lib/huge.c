/* Huge blocks: requests above LG_CLASS_MAX, each mapped on its own.
 *
 * The mapping covers whole 4 MiB units, starts on a unit boundary with a
 * header, and the block follows at `offset` (at most one unit in), so the
 * unit of p - 1 holds the header.  Whole units keep a foreign mapping from
 * ever sharing a unit that the huge map marks as ours.  Untouched address
 * space costs no memory.
 *
 * Freed mappings wait a while in a small cache before they are unmapped: a
 * program that frees and allocates large buffers in a loop then reuses
 * memory that is already resident instead of paying a page fault for every
 * 4 KiB of it again.  A block placed in a mapping that held a bigger one
 * has the block's own usable size; what the bigger one left resident past
 * it (its tail) is kept like a cached mapping, a second at most and within
 * the cache's bound, for the mapping's next, bigger block, and then given
 * back (madvise): the resident memory follows what the program holds.  A
 * block that shrinks gives its tail back at once.
 *
 * A cached mapping keeps its units in the huge map and its header, marked
 * free: a second free of its block is reported as a double free rather
 * than handed to the C library.  A block placed where freed blocks
 * started takes an offset none of them had (the header remembers them), so
 * a stale pointer to one of them is reported too instead of freeing the
 * new block. */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define LG_HUGE_LIVE 0x6c676d616c6c6f63ull /* "lgmalloc" */
#define LG_HUGE_FREE 0x6c67667265656421ull /* "lgfreed!": the mapping is cached */
#define LG_HUGE_STEP 64   /* offsets are multiples of it (or of the alignment) */
#define LG_HUGE_PLACES 64 /* offsets below LG_HUGE_STEP * this are remembered */

/* The bounds count the bytes each mapping may have resident (`used`: up
 * to its last block's end), not what is: pages the block never touched
 * count too.  Smaller bounds left the cache full at every other free of a
 * program with a few huge blocks live; measuring what is resident
 * (mincore) cost more than the unmaps it saved; see
 * docs/decisions.md#huge-cache. */
#define LG_HUGE_CACHE_SLOTS 32
#define LG_HUGE_CACHE_BYTES ((size_t)128 << 20)
#define LG_HUGE_CACHE_MS    1000 /* unmapped after a second unused */
#define LG_GATHER_MIN       ((size_t)256 << 10) /* resident bytes worth an mremap */

typedef struct lg_huge_s {
    uint64_t magic;   /* LG_HUGE_LIVE, or LG_HUGE_FREE while cached */
    size_t map_size;  /* bytes mapped from the header, whole units */
    size_t offset;    /* from the header to the block */
    size_t used;      /* bytes from the header to the block's end, page-rounded */
    size_t resident;  /* past this the mapping is not resident and reads as zeros;
                         above `used` while a tail is kept (changed under lg__lock) */
    uint64_t stale;   /* bit k: a block freed from here started at LG_HUGE_STEP * k */
} lg_huge_t;

static size_t units_for(size_t bytes)
{
    return (bytes + LG_SEGMENT_MASK) & ~LG_SEGMENT_MASK;
}

static size_t pages_for(size_t bytes)
{
    size_t page = lg__os_page_size();
    return (bytes + page - 1) & ~(page - 1);
}

static uint64_t stale_bit(size_t offset)
{
    return offset % LG_HUGE_STEP == 0 && offset < LG_HUGE_STEP * LG_HUGE_PLACES
         ? (uint64_t)1 << (offset / LG_HUGE_STEP) : 0;
}

/* The header of the live huge block p; `call` names the function for the
 * message when p is not one. */
static lg_huge_t *header_of(const void *p, const char *call)
{
    lg_huge_t *h = (lg_huge_t *)(((uintptr_t)p - 1) & ~(uintptr_t)LG_SEGMENT_MASK);
    size_t at = (size_t)((const uint8_t *)p - (uint8_t *)h);
    bool live = h->magic == LG_HUGE_LIVE;
    if (lg_likely(live && h->offset == at))
        return h;
    if ((h->magic == LG_HUGE_FREE && h->offset == at)
        || ((live || h->magic == LG_HUGE_FREE) && (h->stale & stale_bit(at))))
        lg__fatal("%s(): %p is free already: a huge block freed before (double free, or use "
                  "after free)%s", call, p, live ? "; its memory holds another block now" : "");
    lg__fatal("%s(): invalid pointer %p (inside a huge block, not its start)", call, p);
}

/* The units of every mapping we hold, live or cached, are marked huge. */
static void mark(uint8_t *base, size_t map_size, bool on)
{
    lg__map_set(base, map_size, on ? LG_UNIT_HUGE : LG_UNIT_NONE);
}

static void count(const lg_huge_t *h, bool on)
{
    if (on) {
        lg__count_add(&lg__counters.huge_blocks, 1, NULL);
        lg__count_add(&lg__counters.huge_bytes, h->used, NULL);
    } else {
        lg__count_sub(&lg__counters.huge_blocks, 1);
        lg__count_sub(&lg__counters.huge_bytes, h->used);
    }
}

static void unmap(uint8_t *base, size_t map_size, size_t used)
{
    mark(base, map_size, false);
    lg__os_unmap(base, map_size);
    lg__count_decommit(used);
}

/* ---- the cache of freed mappings (under lg__lock) ---------------------- */

typedef struct cached_s {
    uint8_t *base;
    size_t map_size, used;
    uint64_t freed_ms;
} cached_t;

static cached_t cache[LG_HUGE_CACHE_SLOTS];
static unsigned cached;
static size_t cached_bytes;
/* No entry was freed before this (UINT64_MAX: none is cached), read
 * without the lock: aging an empty or young cache takes no lock. */
static _Atomic uint64_t oldest_ms = UINT64_MAX;

static void cache_remove(unsigned i)
{
    cached_bytes -= cache[i].used;
    cache[i] = cache[--cached];
}

/* Live blocks whose mapping holds resident pages past their end, counted
 * in cached_bytes, and since when. */
typedef struct tail_s {
    lg_huge_t *h;
    uint64_t since_ms;
} tail_t;

static tail_t tails[LG_HUGE_CACHE_SLOTS];
static unsigned tailed;

static void tail_remove(unsigned i)
{
    cached_bytes -= tails[i].h->resident - tails[i].h->used;
    tails[i] = tails[--tailed];
}

/* Gives a tail back (under the lock: the block's owner may be about to
 * move or free its mapping). */
static void tail_purge(unsigned i)
{
    lg_huge_t *h = tails[i].h;
    size_t extra = h->resident - h->used;
    lg__os_purge((uint8_t *)h + h->used, extra);
    lg__count_decommit(extra);
    tail_remove(i);
    __atomic_store_n(&h->resident, h->used, __ATOMIC_RELAXED); /* (read without the lock) */
}

/* Keeps the resident pages of h's mapping past its block, up to
 * `resident`, if the cache has room for them; or gives them back. */
static void tail_keep(lg_huge_t *h, size_t resident)
{
    uint64_t now = lg__os_now_ms();
    size_t extra = resident - h->used;
    lg__lock();
    bool fits = tailed < LG_HUGE_CACHE_SLOTS && cached_bytes + extra <= LG_HUGE_CACHE_BYTES;
    if (fits) {
        tails[tailed++] = (tail_t){ h, now };
        cached_bytes += extra;
        h->resident = resident;
        if (now < atomic_load_explicit(&oldest_ms, memory_order_relaxed))
            atomic_store_explicit(&oldest_ms, now, memory_order_relaxed);
    }
    lg__unlock();
    if (!fits) {
        lg__os_purge((uint8_t *)h + h->used, extra);
        lg__count_decommit(extra);
    }
}

/* The end of what h's mapping may have resident, its tail (if any) no
 * longer kept apart: the block's owner frees or resizes it.  Only the
 * aging lowers h->resident, so a block without a tail takes no lock. */
static size_t tail_take(lg_huge_t *h)
{
    if (__atomic_load_n(&h->resident, __ATOMIC_RELAXED) == h->used)
        return h->used;
    lg__lock();
    for (unsigned i = 0; i < tailed; i++)
        if (tails[i].h == h) {
            tail_remove(i);
            break;
        }
    size_t resident = h->resident;
    h->resident = h->used;
    lg__unlock();
    return resident;
}

/* Unmaps the entries freed before `before`, and gives back the tails kept
 * since before it (all of them for UINT64_MAX). */
static void cache_expire(uint64_t before)
{
    if (atomic_load_explicit(&oldest_ms, memory_order_relaxed) >= before)
        return;
    cached_t drop[LG_HUGE_CACHE_SLOTS];
    unsigned n = 0;
    uint64_t oldest = UINT64_MAX;
    lg__lock();
    for (unsigned i = 0; i < tailed;) {
        if (tails[i].since_ms < before) {
            tail_purge(i);
        } else {
            oldest = tails[i].since_ms < oldest ? tails[i].since_ms : oldest;
            i++;
        }
    }
    for (unsigned i = 0; i < cached;) {
        if (cache[i].freed_ms < before) {
            drop[n++] = cache[i];
            cache_remove(i);
        } else {
            oldest = cache[i].freed_ms < oldest ? cache[i].freed_ms : oldest;
            i++;
        }
    }
    atomic_store_explicit(&oldest_ms, oldest, memory_order_relaxed);
    lg__unlock();
    for (unsigned i = 0; i < n; i++)
        unmap(drop[i].base, drop[i].map_size, drop[i].used);
}

/* Keeps a freed mapping for reuse; false when it does not fit. */
static bool cache_put(uint8_t *base, size_t map_size, size_t used)
{
    uint64_t now = lg__os_now_ms();
    cache_expire(now - LG_HUGE_CACHE_MS);
    lg__lock();
    bool fits = cached < LG_HUGE_CACHE_SLOTS && cached_bytes + used <= LG_HUGE_CACHE_BYTES;
    if (fits) {
        cache[cached++] = (cached_t){ base, map_size, used, now };
        cached_bytes += used;
        /* (entries taken since leave it low: the next aging corrects it) */
        if (now < atomic_load_explicit(&oldest_ms, memory_order_relaxed))
            atomic_store_explicit(&oldest_ms, now, memory_order_relaxed);
    }
    lg__unlock();
    return fits;
}

/* Moves a mapping of whole units to `to` (mapped, of new_size, its rest
 * left as it is): in one mremap, or else unit by unit, as a mapping made
 * of gathered pieces is several areas for the kernel and mremap moves
 * one at a time (their borders are on units); a unit that does not move
 * is copied. */
static void move_mapping(uint8_t *base, size_t old_size, uint8_t *to, size_t new_size)
{
    if (mremap(base, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, to) != MAP_FAILED)
        return;
    for (size_t at = 0; at < old_size; at += LG_SEGMENT_SIZE)
        if (mremap(base + at, LG_SEGMENT_SIZE, LG_SEGMENT_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED,
                   to + at) == MAP_FAILED) {
            memcpy(to + at, base + at, LG_SEGMENT_SIZE);
            munmap(base + at, LG_SEGMENT_SIZE);
        }
}

/* Grows a mapping of whole units to new_size: in place if the address
 * space after it is free, or else moved, pages and all (mremap moves them:
 * no copy, no page fault), to a new place on a unit boundary.  NULL when
 * neither works; the mapping is then as it was. */
static uint8_t *grow_mapping(uint8_t *base, size_t old_size, size_t new_size)
{
    if (lg__os_remap(base, old_size, new_size)) {
        lg__count_add(&lg__counters.reserved, new_size - old_size, NULL);
        return base;
    }
    size_t mapped;
    uint8_t *to = lg__os_map_aligned(new_size, LG_SEGMENT_SIZE, &mapped);
    if (!to)
        return NULL;
    mark(base, old_size, false); /* (before: the old range is free once moved) */
    move_mapping(base, old_size, to, new_size);
    lg__count_sub(&lg__counters.reserved, old_size); /* the old range is gone */
    return to;
}

/* No cached mapping is large enough: the most resident one, grown with
 * its pages (in place, or moved to a new unit boundary); and where other
 * cached mappings hold enough resident memory to pay for a move
 * (LG_GATHER_MIN), a new range of map_size bytes takes the pages of as
 * many as fit, most resident first, moved there one after the other
 * (mremap moves page tables: no copy, no page fault); the rest is fresh.
 * Growing the most resident one alone left most blocks of a program of
 * many huge blocks in fresh pages, each a fault.  Pieces holding little
 * are not worth their mremap, which holds the process's mapping lock
 * against every page fault; see docs/decisions.md#huge-gather.  *used: up
 * to the end of the last resident part, what may not read as zero,
 * committed.  NULL when the cache is empty or there is no address space. */
static uint8_t *cache_gather(size_t map_size, size_t *used)
{
    cached_t take[LG_HUGE_CACHE_SLOTS];
    unsigned n = 0;
    size_t room = map_size;
    lg__lock();
    for (;;) {
        unsigned best = cached;
        for (unsigned i = 0; i < cached; i++)
            if (cache[i].map_size <= room && (n == 0 || cache[i].used >= LG_GATHER_MIN)
                && (best == cached || cache[i].used > cache[best].used))
                best = i;
        if (best == cached)
            break;
        room -= cache[best].map_size;
        take[n++] = cache[best];
        cache_remove(best);
    }
    lg__unlock();
    if (n == 0)
        return NULL;
    if (n == 1) {
        uint8_t *grown = grow_mapping(take[0].base, take[0].map_size, map_size);
        if (!grown)
            unmap(take[0].base, take[0].map_size, take[0].used);
        *used = take[0].used;
        return grown;
    }
    size_t mapped;
    uint8_t *base = lg__os_map_aligned(map_size, LG_SEGMENT_SIZE, &mapped);
    size_t at = 0, end = 0, moved_used = 0;
    for (unsigned i = 0; i < n; i++) {
        if (!base) {
            unmap(take[i].base, take[i].map_size, take[i].used);
            continue;
        }
        mark(take[i].base, take[i].map_size, false);
        move_mapping(take[i].base, take[i].map_size, base + at, take[i].map_size);
        lg__count_sub(&lg__counters.reserved, take[i].map_size); /* its old range is gone */
        end = at + take[i].used;
        moved_used += take[i].used;
        at += take[i].map_size;
    }
    if (!base)
        return NULL;
    lg__count_commit(end - moved_used);   /* the fresh pages between them */
    *used = end;
    return base;
}

/* Better for a block that needs `want` resident bytes of map_size: a
 * mapping that has them resident (the fewest to spare: they are the
 * block's tail), or else the most; then the smaller. */
static bool fits_better(const cached_t *a, const cached_t *b, size_t map_size, size_t want)
{
    size_t ra = a->used < map_size ? a->used : map_size;
    size_t rb = b->used < map_size ? b->used : map_size;
    if ((ra >= want) != (rb >= want))
        return ra >= want;
    if (ra != rb)
        return ra >= want ? ra < rb : ra > rb;
    return a->map_size < b->map_size;
}

/* A cached mapping for map_size bytes: of those large enough the one that
 * fits `want` best, cut to size, its rest cached again; or else several
 * gathered.  NULL when the cache is empty. */
static uint8_t *cache_take(size_t map_size, size_t want, size_t *used)
{
    cached_t hit = { 0 };
    lg__lock();
    unsigned fit = cached;
    for (unsigned i = 0; i < cached; i++)
        if (cache[i].map_size >= map_size
            && (fit == cached || fits_better(&cache[i], &cache[fit], map_size, want)))
            fit = i;
    if (fit < cached) {
        hit = cache[fit];
        cache_remove(fit);
    }
    lg__unlock();
    if (!hit.base)
        return cache_gather(map_size, used);
    if (hit.map_size > map_size) {
        size_t tail_used = hit.used > map_size ? hit.used - map_size : 0;
        if (!cache_put(hit.base + map_size, hit.map_size - map_size, tail_used))
            unmap(hit.base + map_size, hit.map_size - map_size, tail_used);
        hit.used -= tail_used;
    }
    *used = hit.used;
    return hit.base;
}

size_t lg__huge_check(void)
{
    size_t bytes = 0;
    uint64_t oldest = atomic_load_explicit(&oldest_ms, memory_order_relaxed);
    lg_check(cached <= LG_HUGE_CACHE_SLOTS && tailed <= LG_HUGE_CACHE_SLOTS,
             "the huge cache holds at most %u mappings and tails: %u and %u",
             LG_HUGE_CACHE_SLOTS, cached, tailed);
    for (unsigned i = 0; i < cached; i++) {
        const cached_t *c = &cache[i];
        lg_check(((uintptr_t)c->base & LG_SEGMENT_MASK) == 0 && c->map_size
                 && (c->map_size & LG_SEGMENT_MASK) == 0 && c->used <= c->map_size
                 && lg__unit_kind(c->base) == LG_UNIT_HUGE
                 && lg__unit_kind(c->base + c->map_size - 1) == LG_UNIT_HUGE,
                 "a cached huge mapping is whole units, in the huge map, resident within it: "
                 "%p, %zu bytes, %zu used", (void *)c->base, c->map_size, c->used);
        lg_check(c->freed_ms >= oldest, "the huge cache's oldest time is no later than any "
                 "entry's: %p", (void *)c->base);
        bytes += c->used;
    }
    for (unsigned i = 0; i < tailed; i++) {
        const lg_huge_t *h = tails[i].h;
        lg_check(h->magic == LG_HUGE_LIVE && h->used < h->resident && h->resident <= h->map_size,
                 "a huge block's kept tail lies past its end, in its mapping: block at %p",
                 (const void *)((const uint8_t *)h + h->offset));
        lg_check(tails[i].since_ms >= oldest, "the huge cache's oldest time is no later than any "
                 "tail's: block at %p", (const void *)((const uint8_t *)h + h->offset));
        bytes += h->resident - h->used;
    }
    lg_check(bytes == cached_bytes && bytes <= LG_HUGE_CACHE_BYTES, "the huge cache counts "
             "the bytes of its mappings and tails: %zu counted, %zu found", cached_bytes, bytes);
    return bytes;
}

void lg__huge_cache_clear(void)
{
    cache_expire(UINT64_MAX);
}

void lg__huge_cache_age(uint64_t now_ms)
{
    cache_expire(now_ms - LG_HUGE_CACHE_MS);
}

/* Secure builds: the page after a huge block's last page is inaccessible,
 * so a linear overflow faults at once.  (A block that ends its mapping
 * has unmapped space or another mapping's header after it.) */
static void guard(lg_huge_t *h, bool on)
{
#if LG_SECURE
    if (h->used < h->map_size)
        mprotect((uint8_t *)h + h->used, lg__os_page_size(), on ? PROT_NONE : PROT_READ | PROT_WRITE);
#else
    (void)h, (void)on;
#endif
}

/* ---- allocation ---------------------------------------------------------- */

/* The block's offset from its header: the first multiple of `step` that no
 * block freed from this place had (`stale`, which gains that block), so
 * that a stale pointer to one of them finds no live block there.  When
 * every place in the first LG_HUGE_STEP * LG_HUGE_PLACES bytes was taken,
 * the record starts again from `last`, the block freed last. */
static size_t place(size_t step, size_t size, size_t map_size, size_t last, uint64_t *stale)
{
    for (int round = 0; round < 2; round++) {
        for (size_t at = step; at < LG_HUGE_STEP * LG_HUGE_PLACES && at + size <= map_size; at += step)
            if (!(*stale & stale_bit(at)))
                return at;
        *stale = stale_bit(last);
    }
    return step;
}

/* `zero`: the block must read as zeros (calloc).  A fresh mapping does;
 * one from the cache is cleared. */
void *lg__huge_alloc(size_t size, size_t align, bool zero)
{
    size_t step = align >= LG_SEGMENT_SIZE ? LG_SEGMENT_SIZE
                : align > LG_HUGE_STEP ? align : LG_HUGE_STEP;
    if (size > PTRDIFF_MAX - step - LG_SEGMENT_SIZE || align > PTRDIFF_MAX / 2) {
        errno = ENOMEM;
        return NULL;
    }
    size_t map_size = units_for(step + size), mapped, resident = 0, last = 0;
    uint64_t stale = 0;
    if (!lg__limit_allows(NULL, pages_for(step + size)))
        return NULL;
    uint8_t *base = align <= LG_SEGMENT_SIZE ? cache_take(map_size, pages_for(step + size), &resident) : NULL;
    if (base) {
        const lg_huge_t *old = (const lg_huge_t *)base;
        if (resident && old->magic == LG_HUGE_FREE) {
            stale = old->stale;
            last = old->offset;
        }
    } else if (align <= LG_SEGMENT_SIZE) {
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
    size_t offset = place(step, size, map_size, last, &stale);
    size_t used = pages_for(offset + size);
    /* past what was resident the mapping reads as zeros */
    if (zero && resident > offset)
        memset(base + offset, 0, (resident < used ? resident : used) - offset);
    if (used > resident)
        lg__count_commit(used - resident);
    lg_huge_t *h = (lg_huge_t *)base;
    *h = (lg_huge_t){ LG_HUGE_LIVE, map_size, offset, used, used, stale };
    if (resident > used)
        tail_keep(h, resident);
    mark(base, map_size, true);
    count(h, true);
    guard(h, true);
    lg_track_malloc(base + offset, size, zero);
    return base + offset;
}

void lg__huge_free(void *p)
{
    lg_huge_t *h = header_of(p, "free");
    lg_track_free(p);
    guard(h, false);
    count(h, false);
    size_t resident = tail_take(h);
    h->stale |= stale_bit(h->offset);
    h->magic = LG_HUGE_FREE;
    if (!cache_put((uint8_t *)h, h->map_size, resident))
        unmap((uint8_t *)h, h->map_size, resident);
}

/* Up to the end of the block's last page: what follows is not the
 * block's (a tail kept for the mapping's next block, or untouched pages
 * that writes would make resident unseen). */
size_t lg__huge_usable(const void *p)
{
    const lg_huge_t *h = header_of(p, "malloc_usable_size");
    return h->used - h->offset;
}

/* Grows or shrinks the mapping, moving its pages rather than copying them
 * when it cannot grow in place; the pages past a shrunk block go back. */
static void *huge_resize(lg_huge_t *h, size_t size)
{
    size_t offset = h->offset, old_size = h->map_size;
    if (size > PTRDIFF_MAX - offset - LG_SEGMENT_SIZE) {
        errno = ENOMEM;
        return NULL;
    }
    size_t map_size = units_for(offset + size), used = pages_for(offset + size);
    if (used > h->resident && !lg__limit_allows(NULL, used - h->resident))
        return NULL;
    size_t old_used = tail_take(h); /* what may be resident: the tail serves the growth */
    uint8_t *base = (uint8_t *)h;
    count(h, false);
    if (map_size > old_size) {
        if (!(base = grow_mapping(base, old_size, map_size))) {
            count(h, true);
            if (old_used > h->used)
                tail_keep(h, old_used);
            errno = ENOMEM;
            return NULL;
        }
        mark(base, map_size, true);
    } else {
        size_t kept = old_used < map_size ? old_used : map_size;
        if (used < kept)
            lg__os_purge(base + used, kept - used);
        if (map_size < old_size) {
            mark(base + map_size, old_size - map_size, false);
            munmap(base + map_size, old_size - map_size);
            lg__count_sub(&lg__counters.reserved, old_size - map_size);
        }
    }
    h = (lg_huge_t *)base;
    h->map_size = map_size;
    h->used = h->resident = used;
    if (used > old_used)
        lg__count_commit(used - old_used);
    else
        lg__count_decommit(old_used - used);
    count(h, true);
    return base + offset;
}

void *lg__huge_realloc(void *p, size_t size)
{
    lg_huge_t *h = header_of(p, "realloc");
    size_t old_size = h->used - h->offset;
    guard(h, false);
    void *q = huge_resize(h, size);
    guard(header_of(q ? q : p, "realloc"), true);
    if (q) {
        lg_track_free(p);
        lg_track_malloc(q, size, 0);
        lg_track_open(q, old_size < size ? old_size : size); /* the contents moved along */
    }
    (void)old_size;
    return q;
}
