/* The running program's own allocation entry points, by address: the
 * __wrap_* functions the shim defines and the C++ operators lgmalloc
 * defines in the program (wrap/alloc_functions.h).  With them a stripped
 * program (no .symtab) still gets a table.  The references are weak, so
 * nothing here makes the linker pull an object in; one that stays
 * undefined reads as NULL. */
#include "runtime.h"

#define WEAK_C(ret, name, ...)  extern char __wrap_##name[] __attribute__((weak));
#define WEAK_CXX(symbol, ...)   extern char symbol[] __attribute__((weak));
LG_ALLOC_FUNCTIONS(WEAK_C, WEAK_CXX)

#define ENTRY_C(ret, name, ...) { #name, __wrap_##name },
#define ENTRY_CXX(symbol, ...)  { #symbol, symbol },

size_t lgp__self_entries(uintptr_t bias, lgp_entry_t *out, size_t max)
{
    const struct { const char *name; const char *addr; } entries[] = {
        LG_ALLOC_FUNCTIONS(ENTRY_C, ENTRY_CXX)
    };
    _Static_assert(sizeof entries / sizeof entries[0] == LGP_SELF_ENTRIES,
                   "one entry point per allocation function");
    size_t n = 0;
    for (size_t i = 0; i < sizeof entries / sizeof entries[0] && n < max; i++)
        if (entries[i].addr)   /* outside the program's code: dropped by the analysis */
            out[n++] = (lgp_entry_t){ entries[i].name, (uint64_t)((uintptr_t)entries[i].addr - bias) };
    return n;
}
