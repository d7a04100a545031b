/* Lists of function names: the built-in list (-Dextra_alloc_functions) and
 * the comma-separated lists of LGMALLOC_ALLOC_FUNCS and --alloc-funcs. */
#include "internal.h"

#include <string.h>

#ifndef LGP_ALLOC_FUNCS
#define LGP_ALLOC_FUNCS ""   /* from the Meson option extra_alloc_functions */
#endif

const char *lgp_builtin_alloc_functions(void)
{
    return LGP_ALLOC_FUNCS;
}

size_t lgp_split_names(char *list, const char **names, size_t count, size_t max)
{
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok && count < max;
         tok = strtok_r(NULL, ",", &save))
        names[count++] = tok;
    return count;
}
