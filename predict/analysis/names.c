/* Lists of function names: the built-in list (-Dextra_alloc_functions) and
 * the comma-separated lists of LGMALLOC_ALLOC_FUNCS and --alloc-funcs, split
 * by lgp_split_names (text.c). */
#include "internal.h"

#ifndef LGP_ALLOC_FUNCS
#define LGP_ALLOC_FUNCS ""   /* from the Meson option extra_alloc_functions */
#endif

const char *lgp_builtin_alloc_functions(void)
{
    return LGP_ALLOC_FUNCS;
}
