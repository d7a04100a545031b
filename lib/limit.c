/* The cap on committed memory (lg_set_limit, LGMALLOC_LIMIT).  Checked
 * where the core commits: a new page, a new segment, a huge block.  Threads
 * that commit at the same moment may each pass a check the other's commit
 * would fail, so the cap holds within one page or huge block per thread. */
#include "internal.h"

#include <errno.h>

static _Atomic size_t limit;

size_t lg_set_limit(size_t bytes)
{
    return atomic_exchange_explicit(&limit, bytes, memory_order_relaxed);
}

size_t lg_get_limit(void)
{
    return atomic_load_explicit(&limit, memory_order_relaxed);
}

static bool fits(size_t cap, size_t bytes)
{
    size_t committed = atomic_load_explicit(&lg__counters.committed, memory_order_relaxed);
    return committed <= cap && bytes <= cap - committed;
}

bool lg__limit_allows(lg_heap_t *heap, size_t bytes)
{
    size_t cap = atomic_load_explicit(&limit, memory_order_relaxed);
    if (lg_likely(cap == 0) || fits(cap, bytes))
        return true;
    /* give back what is free before saying no */
    if (heap)
        lg__purge_heap(heap);
    lg__segcache_clear();
    lg__huge_cache_clear();
    if (fits(cap, bytes))
        return true;
    errno = ENOMEM;
    return false;
}

void lg__limit_init(void)
{
    if (lg__options.limit_set)
        lg_set_limit(lg__options.limit);
}
