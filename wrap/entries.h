/* The shim's side of its seam with the routing (predict/routing/patch.c):
 * the short path's entries (entries.c), one per size class, each
 * allocating from its class without computing it.  Call sites whose size
 * is known with high confidence are pointed at these. */
#ifndef LG_ENTRIES_H
#define LG_ENTRIES_H

#include <stddef.h>

typedef void *(*lg_route_entry_t)(size_t size);

/* The entry of class cls; NULL past the classes. */
lg_route_entry_t lg_route_entry(size_t cls);

#endif /* LG_ENTRIES_H */
