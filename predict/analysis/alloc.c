/* The analysis' own allocations, through pointers the compiler cannot see
 * through, so that the scan finds none of its calls: the analysis runs
 * once, before the program's calls matter, and its sizes would take
 * exact-fit classes from the program's; and decoding its own functions
 * would take much of the time before the first table (see
 * docs/decisions.md#analysis-own-allocations). */
#include "internal.h"

#include <stdlib.h>

static void *(*volatile malloc_fn)(size_t) = malloc;
static void *(*volatile calloc_fn)(size_t, size_t) = calloc;
static void *(*volatile realloc_fn)(void *, size_t) = realloc;

void *lgp__malloc(size_t size)
{
    return malloc_fn(size);
}

void *lgp__calloc(size_t count, size_t size)
{
    return calloc_fn(count, size);
}

void *lgp__realloc(void *p, size_t size)
{
    return realloc_fn(p, size);
}
