/* The short path: one malloc entry point per size class, which
 * allocates from its class without computing it.  At start-up the analysis
 * points the call sites whose size it knows with high confidence at these
 * (predict/routing/patch.c rewrites the call's rel32 displacement).
 *
 * Each entry is the class fast path of lib/fast.h: the current page of its
 * class, the size checked against that page's block size, a pop; anything
 * else (an empty page, a size the class does not hold, a thread with no
 * heap yet) is a tail call to the generic path with the size it was given.
 * So a wrong prediction costs time, never a misplaced block, and the
 * generic path still sees the program's return address.  Compiled, an
 * entry has no frame (objdump -d wrap/entries.c.o; see
 * docs/decisions.md#short-path). */
#include "entries.h"
#include "handover.h"
#define LG_MALLOC_MISS lg__shim_malloc_miss /* asks first whether lgmalloc serves */
#include "../lib/fast.h"

/* One entry per class: LG_ENTRIES_80 expands `X` for 0..79. */
#define LG_ENTRIES_10(X, t) X(t##0) X(t##1) X(t##2) X(t##3) X(t##4) \
                            X(t##5) X(t##6) X(t##7) X(t##8) X(t##9)
#define LG_ENTRIES_80(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) \
    LG_ENTRIES_10(X, 1) LG_ENTRIES_10(X, 2) LG_ENTRIES_10(X, 3) \
    LG_ENTRIES_10(X, 4) LG_ENTRIES_10(X, 5) LG_ENTRIES_10(X, 6) LG_ENTRIES_10(X, 7)

_Static_assert(LG_CLASSES == 80, "LG_ENTRIES_80 makes one entry per class: keep them equal");

/* Named lg__entry_N, so a profile or a disassembly shows which class a
 * patched call site reaches. */
#define LG_ENTRY_DEFINE(n) \
    static void *lg__entry_##n(size_t size) { return lg__malloc_class_fast(n, size); }
#define LG_ENTRY_ADDRESS(n) lg__entry_##n,

LG_ENTRIES_80(LG_ENTRY_DEFINE)

static const lg_route_entry_t entries[LG_CLASSES] = { LG_ENTRIES_80(LG_ENTRY_ADDRESS) };

lg_route_entry_t lg_route_entry(size_t cls)
{
    return cls < LG_CLASSES ? entries[cls] : NULL;
}
