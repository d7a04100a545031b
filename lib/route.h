/* What the call-site prediction may tell the allocator core, and the one
 * thing it may ask: the narrow interface between predict/ (which knows the
 * program's call sites) and lib/ (which knows nothing of them).
 *
 * Called from the analysis once its table is published, on any thread,
 * possibly while other threads allocate: each call takes the core's lock
 * and leaves every heap consistent.  Nothing here is needed for
 * correctness: a program whose analysis never reports runs on the
 * standard classes. */
#ifndef LG_ROUTE_H
#define LG_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#define LG_ROUTE_NONE ((size_t)-1)

/* The class that serves size now, or LG_ROUTE_NONE (a huge block). */
size_t lg_route_class_for(size_t size);

/* Adds exact-fit classes for predicted sizes, given most wanted first (the
 * spare classes go to the first).  Sizes their class already fits within
 * 1/16, and sizes past the spare classes, are skipped.  Returns how many
 * classes were added. */
size_t lg_route_add_exact(const size_t *sizes, size_t count);

/* Whether lg_route_add_exact would add a class for size now: it has none
 * of its own, and the class serving it rounds it up by over 1/16. */
int lg_route_exact_wanted(size_t size);

/* The prediction's sampler: with one set, the core calls it each time a
 * thread's current page of a class has run out of blocks (an OS page of
 * fresh blocks, or one larger block, or a page's freed blocks), with the
 * size asked for the next block.  So it sees the sizes that fill pages,
 * which is what an exact-fit class saves memory on, at no cost to the fast
 * paths.  It may call lg_route_add_exact; it must not allocate. */
typedef void (*lg_route_sampler_t)(size_t size);
void lg_route_set_sampler(lg_route_sampler_t sampler);

/* And while one is set (NULL: no more), the core calls it at each
 * heartbeat of a thread's heap, every LG_HEARTBEAT frees into a current
 * page: a program that frees what it allocates, in a steady state,
 * refills no page, and the heartbeats say how much it allocates.  The
 * same rules as the sampler's. */
typedef void (*lg_route_heartbeat_t)(void);
void lg_route_set_heartbeat(lg_route_heartbeat_t heartbeat);


/* The predicted sites, for the statistics: with statistics on, the core
 * asks this function (set once, by the analysis) what a return address
 * predicts, to count hits and misses.  `slot` is where the return address
 * lies on the stack, on x86-64 (NULL elsewhere): the caller's frames are
 * above it.  Returns the predicted size or LG_ROUTE_NONE when the site has
 * no prediction. */
typedef size_t (*lg_route_lookup_t)(uintptr_t return_address, const uintptr_t *slot);
void lg_route_set_lookup(lg_route_lookup_t lookup, size_t sites, size_t sites_sized);

/* Called by the patcher: how many call sites now use an entry of the short
 * path (wrap/entries.h). */
void lg_route_count_patched(size_t sites);

#endif /* LG_ROUTE_H */
