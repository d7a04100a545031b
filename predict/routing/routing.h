/* The routing: table -> the allocator's heaps.
 *
 * Takes a published table (../table.h) of the running program, its bias
 * applied.  Gives the allocator core what the table predicts, through its
 * seams: exact-fit classes for the sizes most sites ask for and the
 * statistics' lookup of a return address (lib/route.h, route.c); and the
 * short path, the call sites of a size known with high confidence
 * rewritten to call their class's entry (wrap/entries.h, patch.c).
 *
 * Runs each time a table is published (../runtime/self.c). */
#ifndef LGP_ROUTING_H
#define LGP_ROUTING_H

#include "../lgmalloc_predict.h"

/* What a published table does to the allocator: exact-fit classes, the
 * statistics' lookup, the short path (route.c). */
void lgp__route(const lgp_table_t *table);

/* ---- the short path (patch.c) ---------------------------------------------- */

/* The least confidence of a site that is patched. */
#define LGP_PATCH_CONFIDENCE 0.9f

/* Reads LGMALLOC_PREDICT_PATCH, registers the fork handler and notes the
 * program's code segments, once; from a thread that may ask the dynamic
 * linker (the publishing one).  False: the short path is off. */
bool lgp__patch_ready(void);

/* Patches the sites of table (the running program's: its bias applied),
 * points sites that an earlier table patched and this one no longer
 * qualifies back at malloc, and tells the core how many sites now use an
 * entry.  Safe while other threads run the code it patches.  Idempotent:
 * a second table (with DWARF evidence) repoints only what changed.
 * LGMALLOC_PREDICT_PATCH=0 turns it off.  Returns the number of sites
 * that use an entry afterwards. */
size_t lgp__patch_sites(const lgp_table_t *table);

/* The same from the allocator's slow path, once lgp__patch_ready said
 * yes: allocates nothing, asks the dynamic linker nothing, and waits for
 * no lock.  False when it found one taken: part or none of it is done,
 * and it is to be called again later. */
bool lgp__patch_sites_try(const lgp_table_t *table);

/* The sites are patched once the program has shown it runs long enough
 * to gain from it: after this many page refills and heap heartbeats
 * (lib/route.h's sampler), LGMALLOC_PREDICT_PATCH_AFTER (0: when the
 * table is published).  See docs/decisions.md#deferred-patching. */
#define LGP_PATCH_AFTER 128

/* Points the patched sites of size at its class's entry, once the class
 * serving it has changed (an exact-fit class made by use, route.c).  Called
 * from the allocator's slow path: allocates nothing, asks the dynamic
 * linker nothing, and waits for no lock (a site it cannot repoint keeps
 * the entry it has, which still serves the size).  Returns how many sites
 * it repointed. */
size_t lgp__patch_repoint(const lgp_table_t *table, size_t size);

/* dl_iterate_phdr, never while a fork copies the process (runtime/self.c):
 * every call of lgmalloc's goes through it. */
struct dl_phdr_info;
int lgp__objects_iterate(int (*fn)(struct dl_phdr_info *, size_t, void *), void *arg);

#endif /* LGP_ROUTING_H */
