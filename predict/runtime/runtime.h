/* The runtime: the running program's own table.
 *
 * Takes the program itself: its file (/proc/self/exe), its build-id and
 * load bias, the addresses of its allocation entry points and the
 * environment (LGMALLOC_PREDICT, LGMALLOC_ALLOC_FUNCS ...).  Gives a table,
 * published for lgp_self_table (../lgmalloc_predict.h) and handed to the
 * routing (../routing/routing.h), and then the memory the analysis used
 * back.
 *
 * Its files: self.c (the constructor: which table, and the publishing),
 * build_id.c (the program's build-id), embedded.c (the table lgmalloc-scan
 * --embed put in the program), cache.c (the per-user cache), analyse.c
 * (the analysis before main or on a thread; analyse_none.c in a build
 * without it), self_entries.c (the entry points by address), keep.c (a
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
#include "../routing/routing.h"   /* lgp__objects_iterate */

/* ---- the constructor's (self.c) ------------------------------------------ */

extern int lgp__verbose;   /* LGMALLOC_VERBOSE */
bool lgp__env_is(const char *name, const char *value);
uintptr_t lgp__self_bias(void);
/* Publishes a table (bias and origin set) and hands it to the routing. */
void lgp__publish(lgp_table_t *table, const char *stage);
/* With LGMALLOC_VERBOSE: why there is no table, why a source was passed. */
void lgp__report_none(const char *why);
void lgp__report_skipped(const char *source, const char *why);
/* The background analysis starts (false: it cannot be waited for) and ends. */
bool lgp__self_busy(void);
void lgp__self_finish(void);

/* ---- the analysis (analyse.c, or analyse_none.c) ---------------------------- */

/* Before anything else: the analysis' libraries' pages given back. */
void lgp__self_prepare(void);
/* The table from the cache or the analysis (id->size 0: no build-id, no
 * cache). */
void lgp__self_analyse(const lgp_build_id_t *id);

/* ---- the table's other sources (build_id.c, embedded.c, cache.c) ----------- */

/* The running program's build-id, from its loaded notes; false if none. */
bool lgp__self_build_id(lgp_build_id_t *id);
/* The table embedded in the program for build-id id, or NULL and why. */
lgp_table_t *lgp__embedded_table(const lgp_build_id_t *id, char *why, size_t why_size);
/* A table's bytes in a file, from offset on, for lgp_table_read. */
typedef struct lgp_file_part_s { int fd; uint64_t offset; } lgp_file_part_t;
bool lgp__read_file_part(void *part, void *buf, size_t size, uint64_t offset);
/* The cached table for id and key, or NULL and why, and whether a table
 * could be stored there; the table stored. */
lgp_table_t *lgp__cache_load(const lgp_build_id_t *id, uint64_t key, bool *storable, char *why,
                             size_t why_size);
void lgp__cache_store(const lgp_table_t *table, const lgp_build_id_t *id, uint64_t key);

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
