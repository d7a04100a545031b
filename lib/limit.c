/* The cap on committed memory (lg_set_limit, LGMALLOC_LIMIT).  Checked
 * where the core commits: a new page, a new segment, a huge block.  Threads
 * that commit at the same moment may each pass a check the other's commit
 * would fail, so the cap holds within one page or huge block per thread. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        lg__segment_purge(heap);
    lg__segment_cache_clear();
    lg__huge_cache_clear();
    if (fits(cap, bytes))
        return true;
    errno = ENOMEM;
    return false;
}

/* "64M", "512k", "1G", "64MiB", "64MB" or plain bytes; false when it does
 * not parse. */
static bool parse_size(const char *s, size_t *bytes)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (end == s || errno)
        return false;
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: break;
    }
    if (shift && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
        end += strlen(end);
    if (*end != '\0' || n > (SIZE_MAX >> shift))
        return false;
    *bytes = (size_t)n << shift;
    return true;
}

void lg__limit_init(void)
{
    const char *env = getenv("LGMALLOC_LIMIT");
    size_t bytes;
    if (!env || !*env)
        return;
    if (parse_size(env, &bytes))
        lg_set_limit(bytes);
    else
        fprintf(stderr, "lgmalloc: LGMALLOC_LIMIT=%s is not a size (like 64M or 1G): no limit set\n", env);
}
