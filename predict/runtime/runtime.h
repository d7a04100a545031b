/* The runtime: the running program's own analysis.
 *
 * Takes the program itself: its file (/proc/self/exe), its load bias, the
 * addresses of its allocation entry points and the environment
 * (LGMALLOC_PREDICT, LGMALLOC_ALLOC_FUNCS ...).  Gives a table, published
 * for lgp_self_table (../lgmalloc_predict.h) and handed to the routing
 * (../routing/routing.h), and then the memory the analysis used back.
 *
 * Its files: self.c (the constructor: before main or on a thread, and the
 * publishing), self_entries.c (the entry points by address), keep.c (a
 * published table moved to pages of its own), release.c (the analysis'
 * libraries' pages and heap given back).
 *
 * It drives the analysis (../analysis/) and uses its helpers: the ELF
 * reader, the allocation and text functions. */
#ifndef LGP_RUNTIME_H
#define LGP_RUNTIME_H

#include "../lgmalloc_predict.h"
#include "../analysis/internal.h"
#include "../../wrap/alloc_functions.h"

/* ---- the table kept (keep.c) --------------------------------------------- */

/* Moves a table to be published out of the heap, into pages of its own
 * that are never freed; the table itself if that fails. */
lgp_table_t *lgp__table_keep(lgp_table_t *table);

/* ---- the entry points (self_entries.c) ------------------------------------- */

/* The program's allocation entry points, as link-time addresses; returns
 * how many.  At most LGP_SELF_ENTRIES: one per allocation function. */
#define LGP_SELF_ENTRIES LG_ALLOC_FUNCTION_COUNT
size_t lgp__self_entries(uintptr_t bias, lgp_entry_t *out, size_t max);

/* ---- memory given back (release.c) ---------------------------------------- */

/* Splits the analysis' libraries' read-only segments into smaller
 * mappings: at start-up the pages the dynamic linker and the exit read;
 * every page of Zydis before the first scan, of the DWARF libraries
 * before the first DWARF pass (lgp__release_hooks), merged again at the
 * end.  And drops their resident pages: all of them once a pass is over,
 * the DWARF ones once the call-site values are read. */
void lgp__split_library_ends(void);
void lgp__merge_library_pages(void);   /* once the analysis is done */
void lgp__release_libraries(void);
/* The steps above that fall inside a pass, for the analysis' options. */
extern const lgp_hooks_t lgp__release_hooks;
/* And the free memory the analysis left in the allocator, once it is done:
 * all of it before main, its thread's on its thread. */
void lgp__release_heap(bool before_main);

#endif /* LGP_RUNTIME_H */
