/* Where pointers lgmalloc does not own go when no shim is linked (the core
 * alone, as the fuzz harness links it): nowhere, since there is no other
 * allocator to own them.  Weak: the shim's definitions (wrap/wrap.c, in
 * every link mode) take their place wherever it is linked. */
#include "shim.h"

static void unowned_free(void *p)
{
    lg__fatal("free of a pointer lgmalloc does not own (%p; no shim is linked)", p);
}

static void *unowned_realloc(void *p, size_t size)
{
    lg__fatal("realloc of a pointer lgmalloc does not own (%p to %zu bytes; no shim is linked)",
              p, size);
}

static size_t unowned_usable_size(void *p)
{
    lg__fatal("malloc_usable_size of a pointer lgmalloc does not own (%p; no shim is linked)", p);
}

__attribute__((weak)) void (*const lg__foreign_free)(void *) = unowned_free;
__attribute__((weak)) void *(*const lg__foreign_realloc)(void *, size_t) = unowned_realloc;
__attribute__((weak)) size_t (*const lg__foreign_usable_size)(void *) = unowned_usable_size;
