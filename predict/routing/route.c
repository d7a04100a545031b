/* From the prediction table to the allocator (lib/route.h): which sizes
 * get exact-fit classes, which call sites take the short path (patch.c),
 * and what the statistics look up.  Runs each time a table is published.
 *
 * A predicted size gets its exact-fit class by use, not by how many sites
 * name it: the core's sampler sees every refill of a thread's page (about
 * an OS page of blocks, or one larger block), and a predicted size gets
 * its class once LGP_EXACT_REFILLS of them were of that size.  A site run
 * once at start-up makes no class that then serves other sizes
 * (docs/decisions.md#exact-by-use).  Sizes no site predicts may get
 * classes learned from the same refills (below).
 *
 * Each mechanism can be switched off on its own, to measure what it
 * brings: LGMALLOC_PREDICT_EXACT=0, LGMALLOC_PREDICT_LEARN=0,
 * LGMALLOC_PREDICT_PATCH=0;
 * LGMALLOC_PREDICT=0 turns off the analysis.  (Prepared classes, pages
 * made ahead for a new thread, were measured and removed: see
 * docs/decisions.md#prepared-classes.) */
#include "routing.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lgmalloc.h"
#include "../../lib/route.h"

/* Sites below this confidence shape nothing. */
#define LGP_ROUTE_CONFIDENCE 0.8f
#define LGP_ROUTE_SIZES      256   /* distinct sizes considered, most sites first */

typedef struct wanted_s {
    size_t size;
    double sites;
} wanted_t;

static bool routed(const lgp_site_t *site)
{
    return site->evidence != LGP_EVIDENCE_NONE && site->evidence != LGP_EVIDENCE_CONFLICT
        && site->confidence >= LGP_ROUTE_CONFIDENCE && site->size > 0;
}

static bool switched_off(const char *name)
{
    const char *v = getenv(name);
    return v && strcmp(v, "0") == 0;
}

static bool verbose(void)
{
    const char *v = getenv("LGMALLOC_VERBOSE");
    return v && atoi(v) > 0;
}

static int by_sites(const void *a, const void *b)
{
    const wanted_t *x = a, *y = b;
    if (x->sites != y->sites)
        return x->sites < y->sites ? 1 : -1;
    return (x->size > y->size) - (x->size < y->size);
}

/* The distinct predicted sizes, in the table's order. */
static size_t wanted_sizes(const lgp_table_t *table, wanted_t *out, size_t max, size_t *sized)
{
    size_t n = 0;
    *sized = 0;
    for (size_t i = 0; i < table->count; i++) {
        const lgp_site_t *site = &table->sites[i];
        if (!routed(site))
            continue;
        ++*sized;
        size_t j = 0;
        while (j < n && out[j].size != site->size)
            j++;
        if (j == n) {
            if (n == max)
                continue;
            out[n++] = (wanted_t){ .size = site->size };
        }
        out[j].sites += site->confidence;
    }
    return n;
}

/* ---- exact-fit classes by use -------------------------------------------- */

#define LGP_EXACT_REFILLS 8   /* a size's refills before it gets its class */
#define LGP_WATCHED       64  /* sizes watched, most sites first: each refill
                                 looks through them */

/* The predicted sizes that would get a class, and their refills so far.
 * Only added to (a later table's sizes after the earlier's), so the
 * sampler reads them without a lock. */
typedef struct watched_s {
    _Atomic size_t   size;
    _Atomic uint32_t refills;
} watched_t;

static watched_t       watched[LGP_WATCHED];
static _Atomic size_t  watched_count;

static watched_t *watched_find(size_t size)
{
    size_t n = atomic_load_explicit(&watched_count, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (atomic_load_explicit(&watched[i].size, memory_order_relaxed) == size)
            return &watched[i];
    return NULL;
}

/* Called by the publishing thread only. */
static size_t watch(const wanted_t *wanted, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t count = atomic_load_explicit(&watched_count, memory_order_relaxed);
        if (count == LGP_WATCHED)
            break;
        if (watched_find(wanted[i].size) || !lg_route_exact_wanted(wanted[i].size))
            continue;
        atomic_store_explicit(&watched[count].size, wanted[i].size, memory_order_relaxed);
        atomic_store_explicit(&watched_count, count + 1, memory_order_release);
    }
    return atomic_load_explicit(&watched_count, memory_order_relaxed);
}

/* ---- sizes learned at run time -------------------------------------------- */

/* A size no site predicts (it reaches malloc through a function pointer,
 * or is computed: sqlite's page cache asks for its page size plus a
 * header) gets a class of its own once it has made LGP_LEARN_REFILLS
 * refills more than other sizes did in its slot, and at least half of the
 * refills its class had from sizes that class rounds up by over 1/16
 * since then: one size that dominates its class's waste, not one of many
 * spread over it (a class for each would split its pages as many ways).
 * At most LGP_LEARNED classes, leaving the other spare ones to predicted
 * sizes; none once the core has no spare class left.  The slots count like a
 * frequency sketch: a size found in its slot counts up, another size
 * counts it down and takes the slot once it is empty, so sizes asked for
 * once in a while never build up a count.  Races between threads lose
 * counts, never make a wrong class: any class that fits tighter is correct
 * (docs/decisions.md#learned-classes). */
#define LGP_LEARN_SLOTS   64    /* 2^6: the hash's top 6 bits */
#define LGP_LEARN_REFILLS 16
#define LGP_LEARNED       8
#define LGP_CLASSES_SEEN  128   /* more than the core's classes */

typedef struct learning_s {
    _Atomic size_t   size;
    _Atomic uint32_t count;
    _Atomic uint32_t since;     /* its class's refills when it took the slot */
} learning_t;

_Static_assert(LGP_LEARN_SLOTS == 1 << 6, "the slot is the hash's top 6 bits");
static learning_t       learning[LGP_LEARN_SLOTS];
static _Atomic uint32_t class_refills[LGP_CLASSES_SEEN];   /* by wanted sizes */
static _Atomic size_t   learned;
static bool             learn_on;   /* set before the sampler is */

static void learn(size_t size)
{
    if (atomic_load_explicit(&learned, memory_order_relaxed) >= LGP_LEARNED
        || !lg_route_exact_wanted(size))
        return;
    size_t cls = lg_route_class_for(size);
    if (cls >= LGP_CLASSES_SEEN)
        return;
    uint32_t of_class = atomic_fetch_add_explicit(&class_refills[cls], 1, memory_order_relaxed) + 1;
    /* the top bits of a multiplicative hash depend on every bit of the
     * size (its low bits alone put 1032 and 4104 in one slot) */
    learning_t *slot = &learning[((uint64_t)(size / 16) * 0x9e3779b97f4a7c15u) >> 58];
    size_t held = atomic_load_explicit(&slot->size, memory_order_relaxed);
    uint32_t count = atomic_load_explicit(&slot->count, memory_order_relaxed);
    if (held != size) {
        if (count > 1) {
            atomic_store_explicit(&slot->count, count - 1, memory_order_relaxed);
            return;
        }
        atomic_store_explicit(&slot->size, size, memory_order_relaxed);
        atomic_store_explicit(&slot->count, 1, memory_order_relaxed);
        atomic_store_explicit(&slot->since, of_class - 1, memory_order_relaxed);
        return;
    }
    atomic_store_explicit(&slot->count, ++count, memory_order_relaxed);
    uint32_t shared = of_class - atomic_load_explicit(&slot->since, memory_order_relaxed);
    if (count < LGP_LEARN_REFILLS || 2 * count < shared)
        return;
    if (lg_route_add_exact(&size, 1) > 0) {
        atomic_fetch_add_explicit(&learned, 1, memory_order_relaxed);
        if (verbose())
            fprintf(stderr, "lgmalloc: exact-fit class learned for %zu bytes\n", size);
    } else if (lg_route_exact_wanted(size)) {
        /* (not another thread's class for it: the core has none to spare) */
        atomic_store_explicit(&learned, LGP_LEARNED, memory_order_relaxed);
    }
}

/* A refill of a watched size counts for it, whoever asked.  The size
 * alone says how much it is used, and calloc's and realloc's refills come
 * from inside lgmalloc, where no site is seen.  Other sizes may be
 * learned. */
static void count_use(size_t size)
{
    watched_t *w = watched_find(size);
    if (!w) {
        if (learn_on)
            learn(size);
        return;
    }
    if (atomic_fetch_add_explicit(&w->refills, 1, memory_order_relaxed) + 1 == LGP_EXACT_REFILLS
        && lg_route_add_exact(&size, 1) > 0 && !lg_stats_enabled())
        lgp__patch_repoint(lgp_self_table(), size);
}

/* ---- the short path, once the program has run ----------------------------- */

/* Patching copies each code page it writes (and mprotects it twice): a
 * program that exits after a few milliseconds pays that and never gains
 * from the shorter calls.  So the sites are patched once the program has
 * shown it allocates enough to gain: after patch_after events of the
 * core's sampler, page refills and heap heartbeats (every LG_HEARTBEAT
 * frees) of any thread, from the slow path of the one that makes the
 * last (docs/decisions.md#deferred-patching). */
enum { PATCH_IDLE, PATCH_WAITING, PATCH_RUNNING, PATCH_DONE };

static _Atomic int                        patch_state;
static _Atomic(const lgp_table_t *)       patch_table;     /* the latest published */
static _Atomic size_t                     patch_events;
static size_t                             patch_after;     /* set before WAITING */

static size_t patch_after_env(void)
{
    const char *v = getenv("LGMALLOC_PREDICT_PATCH_AFTER");
    char *end;
    unsigned long long n = v && *v ? strtoull(v, &end, 10) : 0;
    return v && *v && *end == '\0' ? (size_t)n : LGP_PATCH_AFTER;
}

/* Called by the publishing thread: patches now when the program has run
 * long enough already (or LGMALLOC_PREDICT_PATCH_AFTER=0), else leaves
 * the latest table to the sampler. */
static bool patch_or_defer(const lgp_table_t *table)
{
    if (!lgp__patch_ready())
        return false;
    atomic_store(&patch_table, table);
    int state = atomic_load(&patch_state);
    if (state == PATCH_IDLE) {
        patch_after = patch_after_env();
        if (patch_after > 0) {
            atomic_store(&patch_state, PATCH_WAITING);
            if (verbose())
                fprintf(stderr, "lgmalloc: short path: deferred for %zu refills and heartbeats\n",
                        patch_after);
            return true;
        }
        atomic_store(&patch_state, PATCH_DONE);
    } else if (state == PATCH_WAITING) {
        return true;   /* the sampler takes the latest table */
    }
    lgp__patch_sites(table);   /* after the sampler's pass, if one runs */
    return false;
}

/* A refill or a heartbeat: the one that reaches patch_after patches. */
static void count_event(void)
{
    if (atomic_load_explicit(&patch_state, memory_order_acquire) != PATCH_WAITING
        || atomic_fetch_add_explicit(&patch_events, 1, memory_order_relaxed) + 1 < patch_after)
        return;
    int waiting = PATCH_WAITING;
    if (!atomic_compare_exchange_strong(&patch_state, &waiting, PATCH_RUNNING))
        return;
    bool done = lgp__patch_sites_try(atomic_load(&patch_table));
    atomic_store(&patch_state, done ? PATCH_DONE : PATCH_WAITING);
    if (done)
        lg_route_set_heartbeat(NULL);
}

/* The core's sampler (lib/route.h). */
static void sample(size_t size)
{
    count_event();
    count_use(size);
}

/* ---- the statistics' lookup --------------------------------------------- */

#define LGP_WRAP_DEPTH  4    /* a wrapper of a wrapper ... */

/* The site that called the wrapper whose allocation pushed its return
 * address at `slot`: the wrapper's own return address lies `frame` bytes
 * above (the analysis followed the stack pointer there).  It must be a
 * call of that wrapper, or the frame is not the one the analysis saw. */
static const lgp_site_t *wrapper_caller(const lgp_table_t *t, const lgp_site_t *site,
                                        const uintptr_t *slot)
{
    for (int depth = 0; depth < LGP_WRAP_DEPTH && site->frame > 0; depth++) {
        slot += site->frame / (int32_t)sizeof *slot;
        const lgp_site_t *caller = lgp_table_find(t, *slot);
        if (!caller || caller->target != site->wrapper)
            return NULL;
        if (routed(caller) || caller->frame == 0)
            return caller;
        site = caller;      /* the wrapper's call of another wrapper */
    }
    return NULL;
}

/* For the statistics: the size a return address predicts.  A site that
 * calls a wrapper is checked through the wrapper's allocation: `slot`, where
 * the core found the return address on the stack, starts the walk up the
 * wrappers' frames. */
static size_t lookup(uintptr_t ret, const uintptr_t *slot)
{
    const lgp_table_t *t = lgp_self_table();
    const lgp_site_t *site = lgp_table_find(t, ret);
    if (site && site->frame > 0 && slot && *slot == ret) {
        const lgp_site_t *caller = wrapper_caller(t, site, slot);
        if (caller && routed(caller))
            return (size_t)caller->size;
    }
    if (site && site->via == LGP_VIA_WRAPPER)
        site = NULL;        /* the allocator never sees it: a wrapper's callers */
    return site && routed(site) ? (size_t)site->size : LG_ROUTE_NONE;
}

void lgp__route(const lgp_table_t *table)
{
    wanted_t wanted[LGP_ROUTE_SIZES];
    size_t sized, n = wanted_sizes(table, wanted, LGP_ROUTE_SIZES, &sized);
    if (n > LGP_WATCHED)   /* which ones are watched: the most wanted */
        qsort(wanted, n, sizeof *wanted, by_sites);
    lg_route_set_lookup(lookup, table->count, sized);
    bool exact = !switched_off("LGMALLOC_PREDICT_EXACT");
    bool watching = exact && watch(wanted, n) > 0;
    learn_on = exact && !switched_off("LGMALLOC_PREDICT_LEARN");
    bool deferred = false;
    /* with statistics on every malloc must reach the counting path */
    if (!lg_stats_enabled()) {
        /* set first: a pass a heartbeat runs meanwhile clears it once done */
        lg_route_set_heartbeat(count_event);
        deferred = patch_or_defer(table);
        if (!deferred)
            lg_route_set_heartbeat(NULL);
    }
    if (watching || deferred || learn_on)
        lg_route_set_sampler(sample);
}
