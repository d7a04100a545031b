/* The pure --wrap link mode: the program's own calls reach lgmalloc, libc's
 * internal allocations stay in glibc, and free, realloc and
 * malloc_usable_size hand glibc's blocks back to glibc.  In a fully static
 * program (musl-static) the wrap rewrites libc.a's calls too: libc's
 * blocks are lgmalloc's there (docs/linking.md). */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "helpers.h"

/* Whether lg_owns(p) holds for a block the C library allocated: in a
 * static program, which has no dynamic loader (AT_BASE 0). */
static int libc_blocks_are_ours(void)
{
    return getauxval(AT_BASE) == 0;
}

TestSuite(wrap_only, .timeout = 30);

Test(wrap_only, program_malloc_is_lgmalloc)
{
    void *p = malloc(opaque(100));
    cr_assert_not_null(p);
    assert_ours(p);
    free(p);
    p = calloc(opaque(10), opaque(10));
    assert_ours(p);
    p = realloc(p, opaque(100000));
    assert_ours(p);
    free(p);
}

Test(wrap_only, strdup_gives_glibc_memory_that_free_accepts)
{
    char *s = strdup("wrapped");
    cr_assert_not_null(s);
    cr_assert_eq(lg_owns(s) != 0, libc_blocks_are_ours(), "strdup's block %p: lg_owns %d",
                 (void *)s, lg_owns(s));
    cr_assert_geq(malloc_usable_size(s), 8);
    free(s);
}

Test(wrap_only, asprintf_gives_glibc_memory_that_free_accepts)
{
    char *s = NULL;
    cr_assert_eq(asprintf(&s, "%d", 12345), 5);
    cr_assert_eq(lg_owns(s) != 0, libc_blocks_are_ours());
    free(s);
}

Test(wrap_only, open_memstream_buffer_can_be_freed)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    cr_assert_not_null(f);
    for (int i = 0; i < 10000; i++)
        fputs("0123456789", f);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(size, 100000);
    cr_assert_eq(lg_owns(buf) != 0, libc_blocks_are_ours());
    free(buf);
}

Test(wrap_only, getline_buffer_from_null_can_be_freed)
{
    FILE *f = tmpfile();
    cr_assert_not_null(f);
    fputs("a line\n", f);
    rewind(f);
    char *buf = NULL;
    size_t cap = 0;
    cr_assert_eq(getline(&buf, &cap, f), 7);
    fclose(f);
    cr_assert_eq(lg_owns(buf) != 0, libc_blocks_are_ours());
    free(buf);
}

Test(wrap_only, glibc_block_keeps_contents_across_realloc)
{
    char *s = strdup("0123456789abcdef");
    cr_assert_not_null(s);
    s = realloc(s, opaque(1 << 20));
    cr_assert_not_null(s);
    cr_assert_eq(memcmp(s, "0123456789abcdef", 17), 0);
    s[(1 << 20) - 1] = 1;
    free(s);
}
