/* The running program's own allocation entry points, by address: the
 * __wrap_* functions the shim defines and the C++ operators lgmalloc
 * defines in the program.  With them a stripped program (no .symtab) still
 * gets a table.  The references are weak, so nothing here makes the
 * linker pull an object in; one that stays undefined reads as NULL. */
#include "internal.h"

#define WEAK(sym) extern char sym[] __attribute__((weak))
WEAK(__wrap_malloc);
WEAK(__wrap_calloc);
WEAK(__wrap_realloc);
WEAK(__wrap_reallocarray);
WEAK(__wrap_aligned_alloc);
WEAK(__wrap_posix_memalign);
WEAK(__wrap_memalign);
WEAK(__wrap_valloc);
WEAK(__wrap_pvalloc);
WEAK(_Znwm);
WEAK(_Znam);
WEAK(_ZnwmRKSt9nothrow_t);
WEAK(_ZnamRKSt9nothrow_t);
WEAK(_ZnwmSt11align_val_t);
WEAK(_ZnamSt11align_val_t);
WEAK(_ZnwmSt11align_val_tRKSt9nothrow_t);
WEAK(_ZnamSt11align_val_tRKSt9nothrow_t);

size_t lgp__self_entries(uintptr_t bias, lgp_entry_t *out, size_t max)
{
    const struct { const char *name; const char *addr; } entries[] = {
        { "malloc", __wrap_malloc },
        { "calloc", __wrap_calloc },
        { "realloc", __wrap_realloc },
        { "reallocarray", __wrap_reallocarray },
        { "aligned_alloc", __wrap_aligned_alloc },
        { "posix_memalign", __wrap_posix_memalign },
        { "memalign", __wrap_memalign },
        { "valloc", __wrap_valloc },
        { "pvalloc", __wrap_pvalloc },
        { "_Znwm", _Znwm },
        { "_Znam", _Znam },
        { "_ZnwmRKSt9nothrow_t", _ZnwmRKSt9nothrow_t },
        { "_ZnamRKSt9nothrow_t", _ZnamRKSt9nothrow_t },
        { "_ZnwmSt11align_val_t", _ZnwmSt11align_val_t },
        { "_ZnamSt11align_val_t", _ZnamSt11align_val_t },
        { "_ZnwmSt11align_val_tRKSt9nothrow_t", _ZnwmSt11align_val_tRKSt9nothrow_t },
        { "_ZnamSt11align_val_tRKSt9nothrow_t", _ZnamSt11align_val_tRKSt9nothrow_t },
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof entries / sizeof entries[0] && n < max; i++)
        if (entries[i].addr)   /* outside the program's code: dropped by the analysis */
            out[n++] = (lgp_entry_t){ entries[i].name, (uint64_t)((uintptr_t)entries[i].addr - bias) };
    return n;
}
