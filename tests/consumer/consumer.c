/* consumer-c: built against lgmalloc as a Meson subproject.  Every block
 * the program allocates, and those libc allocates for it, must be
 * lgmalloc's; exits non-zero naming the first one that is not.
 * Built again as consumer-static (dependency('lgmalloc-static')) and, with
 * CONSUMER_WRAP_ONLY, as consumer-wrap (dependency('lgmalloc-wrap')), where
 * libc's own blocks must stay glibc's. */
#define _GNU_SOURCE
#include <lgmalloc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CONSUMER_NAME
#define CONSUMER_NAME "consumer-c"
#endif

static int failures;

static void expect(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, CONSUMER_NAME ": %s\n", what);
        failures++;
    }
}

int main(void)
{
    int on_stack = 0;
    void *small = malloc(24), *medium = malloc(3000), *large = malloc(5 << 20);
    void *zeroed = calloc(100, 8);
    void *grown = realloc(malloc(16), 200000);
    void *aligned = aligned_alloc(4096, 8192);
    char *copy = strdup("libc's own malloc");

    /* lg_owns must tell lgmalloc's memory from any other. */
    expect(!lg_owns(&on_stack), "lg_owns claims a stack address");
    expect(small && lg_owns(small), "malloc(24) is not lgmalloc's");
    expect(medium && lg_owns(medium), "malloc(3000) is not lgmalloc's");
    expect(large && lg_owns(large), "malloc(5 MiB) is not lgmalloc's");
    expect(zeroed && lg_owns(zeroed), "calloc is not lgmalloc's");
    expect(grown && lg_owns(grown), "realloc is not lgmalloc's");
    expect(aligned && lg_owns(aligned) && ((size_t)aligned & 4095) == 0,
           "aligned_alloc is not lgmalloc's or not aligned");
#ifdef CONSUMER_WRAP_ONLY
    expect(copy && !lg_owns(copy), "strdup (libc's own malloc) is lgmalloc's in wrap mode");
#else
    expect(copy && lg_owns(copy), "strdup (libc's own malloc) is not lgmalloc's");
#endif

    free(small);
    free(medium);
    free(large);
    free(zeroed);
    free(grown);
    free(aligned);
    free(copy);
    if (failures == 0)
        printf(CONSUMER_NAME ": every block is where it belongs\n");
    return failures != 0;
}
