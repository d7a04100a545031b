/* The short path: points the running program's call sites whose
 * size is known with high confidence at lgmalloc's per-class entries
 * (wrap/entries.c) by rewriting the rel32 of their `call __wrap_malloc`. */
#ifndef LGP_PATCH_H
#define LGP_PATCH_H

#include "lgmalloc_predict.h"

/* The least confidence of a site that is patched. */
#define LGP_PATCH_CONFIDENCE 0.9f

/* Patches the sites of table (the running program's: its bias applied),
 * points sites that an earlier table patched and this one no longer
 * qualifies back at malloc, and tells the core how many sites now use an
 * entry.  Safe while other threads run the code it patches.  Idempotent:
 * a second table (with DWARF evidence) repoints only what changed.
 * LGMALLOC_PREDICT_PATCH=0 turns it off.  Returns the number of sites
 * that use an entry afterwards. */
size_t lgp__patch_sites(const lgp_table_t *table);

#endif /* LGP_PATCH_H */
