/* The strings a table owns (function, file and callee names), each stored
 * once: sites repeat the same few names thousands of times. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* The last few strings added, to catch the common run of one name. */
#define RECENT 8

uintptr_t lgp__pool_add(lgp_pool_t *pool, const char *s)
{
    if (!s)
        return LGP_POOL_NONE;
    size_t len = strlen(s) + 1;
    /* Names repeat in runs (one function's sites, one unit's file): look
     * back through the last few. */
    size_t back = 0;
    for (size_t at = pool->size; at > 0 && back < RECENT; back++) {
        size_t start = at - 1;
        while (start > 0 && pool->data[start - 1] != '\0')
            start--;
        if (at - start == len && memcmp(pool->data + start, s, len) == 0)
            return start + 1;
        at = start;
    }
    if (pool->size + len > pool->cap) {
        size_t cap = pool->cap ? pool->cap : 4096;
        while (cap < pool->size + len)
            cap *= 2;
        char *data = lgp__realloc(pool->data, cap);
        if (!data) {
            pool->failed = true;
            return LGP_POOL_NONE;
        }
        pool->data = data;
        pool->cap = cap;
    }
    memcpy(pool->data + pool->size, s, len);
    pool->size += len;
    return pool->size - len + 1;
}

const char *lgp__pool_fix(const lgp_pool_t *pool, const char *offset)
{
    uintptr_t at = (uintptr_t)offset;
    return at == LGP_POOL_NONE ? NULL : pool->data + at - 1;
}
