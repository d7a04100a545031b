/* The core's side of its seam with the shim (wrap/): the shim tells the
 * core where pointers it does not own go, and may report fatal errors the
 * way the core does.  Nothing else of the core is visible to the shim but
 * the public lgmalloc.h.  The core links without the shim too. */
#ifndef LG_SHIM_H
#define LG_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The allocator that owns what lgmalloc does not: defined by the shim
 * (wrap/wrap.c); without it, by the core (foreign.c, weak), whose
 * functions abort. */
extern void   (*const lg__foreign_free)(void *p);
extern void  *(*const lg__foreign_realloc)(void *p, size_t size);
extern size_t (*const lg__foreign_usable_size)(void *p);

/* With LGMALLOC_STATS the core counts each malloc against the prediction
 * of its call site (lib/route.c).  A calloc's malloc is lgmalloc's own
 * call: the shim's calloc counts its caller's site itself, ret and slot
 * as lib/route.h's lookup takes them. */
extern bool lg__stats_on;
void lg__route_observe(uintptr_t ret, const uintptr_t *slot, size_t size);

/* Prints "lgmalloc: <message>" to stderr and aborts. */
_Noreturn void lg__fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* LG_SHIM_H */
