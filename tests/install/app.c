/* A program built from an installed lgmalloc with nothing but its
 * pkg-config flags.  Exits non-zero, naming the first allocation that did
 * not come from lgmalloc.  Arguments say what else to expect:
 *   wrap      the pure --wrap mode: libc's own allocations (strdup) stay glibc's
 *   predict   the prediction archive was linked in (its constructor with it) */
#define _GNU_SOURCE
#include <lgmalloc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

/* Defined only when liblgmalloc_predict.a was linked in: a weak
 * reference pulls no member out of an archive, so it stays NULL when the
 * archive was merely searched (or not named at all). */
extern void lgp_self_table(void) __attribute__((weak));

static void expect(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "app: %s\n", what);
        failures++;
    }
}

int main(int argc, char **argv)
{
    int wrap_only = 0, predict = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "wrap") == 0)
            wrap_only = 1;
        else if (strcmp(argv[i], "predict") == 0)
            predict = 1;
    }
    void *m = malloc(100), *c = calloc(10, 10), *a = aligned_alloc(256, 512);
    void *r = realloc(malloc(10), 1 << 20);
    char *s = strdup("libc allocates this one");
    expect(lg_owns(m), "malloc is not lgmalloc's");
    expect(lg_owns(c), "calloc is not lgmalloc's");
    expect(lg_owns(a) && ((size_t)a & 255) == 0, "aligned_alloc is not lgmalloc's or not aligned");
    expect(lg_owns(r), "realloc is not lgmalloc's");
    if (wrap_only)
        expect(!lg_owns(s), "strdup is lgmalloc's in the pure --wrap mode");
    else
        expect(lg_owns(s), "strdup (libc's own malloc) is not lgmalloc's");
    if (predict)
        expect(lgp_self_table != NULL, "the prediction is not linked in");
    free(m);
    free(c);
    free(a);
    free(r);
    free(s);
    return failures != 0;
}
