/* What the prediction tells the core (route.h): exact-fit classes, and
 * the counts behind lg_predict_stats_get. */
#include "internal.h"
#include "route.h"

/* Sizes within this fraction of their class already: no class of their own. */
#define LG_EXACT_MIN_WASTE 16          /* 1/16: over 6% rounding */

static size_t exact_added, patched, sites_total, sites_sized;
static _Atomic size_t hits, misses;
static _Atomic(lg_route_lookup_t) lookup;
static _Atomic(lg_route_sampler_t) sampler;

size_t lg_route_class_for(size_t size)
{
    lg__process_init();
    size_t need = size + LG_CANARY;
    if (need > LG_CLASS_MAX)
        return LG_ROUTE_NONE;
    return need <= LG_TABLE_MAX ? lg__class_of(need) : lg__class_of_large(need);
}

/* The block of an exact-fit class for size, or 0 when it would get none. */
static size_t exact_block(size_t size)
{
    if (size == 0 || size > LG_TABLE_MAX - LG_CANARY)
        return 0;
    size_t block = (size + LG_CANARY + LG_GRANULE - 1) & ~(size_t)(LG_GRANULE - 1);
    if (block < sizeof(lg_block_t))
        return 0; /* a free block holds two words */
    size_t serving = lg__class_size[lg__class_of(size + LG_CANARY)];
    return (serving - block) * LG_EXACT_MIN_WASTE <= serving ? 0 : block;
}

int lg_route_exact_wanted(size_t size)
{
    lg__process_init();
    return exact_block(size) != 0;
}

size_t lg_route_add_exact(const size_t *sizes, size_t count)
{
    lg__process_init();
    size_t added = 0;
    lg__lock();
    for (size_t i = 0; i < count; i++) {
        size_t block = exact_block(sizes[i]);
        if (block && lg__class_add_exact(block) != LG_CLASSES)
            added++;
    }
    exact_added += added;
    lg__unlock();
    return added;
}

void lg_route_set_lookup(lg_route_lookup_t fn, size_t sites, size_t sized)
{
    lg__lock();
    sites_total = sites;
    sites_sized = sized;
    lg__unlock();
    atomic_store_explicit(&lookup, fn, memory_order_release);
}

void lg_route_set_sampler(lg_route_sampler_t fn)
{
    atomic_store_explicit(&sampler, fn, memory_order_release);
}

void lg__route_refill(size_t size)
{
    lg_route_sampler_t fn = atomic_load_explicit(&sampler, memory_order_acquire);
    if (fn)
        fn(size);
}

_Atomic(lg_route_heartbeat_t) lg__route_heartbeat_fn;

void lg_route_set_heartbeat(lg_route_heartbeat_t fn)
{
    atomic_store_explicit(&lg__route_heartbeat_fn, fn, memory_order_release);
}

void lg_route_count_patched(size_t sites)
{
    lg__lock();
    patched = sites;
    lg__unlock();
}

/* With statistics on: was the size the one the call site predicts? */
void lg__route_observe(uintptr_t ret, const uintptr_t *slot, size_t size)
{
    lg_route_lookup_t fn = atomic_load_explicit(&lookup, memory_order_acquire);
    if (!fn)
        return;
    size_t predicted = fn(ret, slot);
    if (predicted == LG_ROUTE_NONE)
        return;
    atomic_fetch_add_explicit(predicted == size ? &hits : &misses, 1, memory_order_relaxed);
}

void lg_predict_stats_get(lg_predict_stats_t *out)
{
    lg__lock();
    *out = (lg_predict_stats_t){
        .sites = sites_total,
        .sites_sized = sites_sized,
        .exact_classes = exact_added,
        .patched_sites = patched,
        .exact_requests = lg__stats_exact_requests(),
        .hits = atomic_load_explicit(&hits, memory_order_relaxed),
        .misses = atomic_load_explicit(&misses, memory_order_relaxed),
    };
    lg__unlock();
}
