/* Memory that libc allocates for the program.  In the default link mode
 * lgmalloc defines the malloc family in the program, so libc's own calls
 * (strdup, asprintf, getline, open_memstream) land in lgmalloc too; a block
 * from glibc's allocator itself (__libc_malloc) must still be accepted. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);

TestSuite(foreign, .timeout = 30);

Test(foreign, strdup_gives_lgmalloc_memory)
{
    char *s = strdup("predictive");
    cr_assert_not_null(s);
    assert_ours(s);
    cr_assert_str_eq(s, "predictive");
    free(s);
}

Test(foreign, asprintf_gives_lgmalloc_memory)
{
    char *s = NULL;
    int n = asprintf(&s, "%s-%d", "block", 42);
    cr_assert_eq(n, 8);
    assert_ours(s);
    cr_assert_str_eq(s, "block-42");
    free(s);
}

/* A long line, so that getline has to grow the buffer several times. */
static FILE *long_line_file(size_t len)
{
    FILE *f = tmpfile();
    cr_assert_not_null(f);
    for (size_t i = 0; i < len; i++)
        fputc('a' + (int)(i % 26), f);
    fputc('\n', f);
    rewind(f);
    return f;
}

Test(foreign, getline_grows_a_malloced_buffer_in_lgmalloc)
{
    size_t cap = 4, len = 300000;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    FILE *f = long_line_file(len);
    ssize_t n = getline(&buf, &cap, f);
    fclose(f);
    cr_assert_eq(n, (ssize_t)len + 1);
    cr_assert_geq(cap, len + 2);
    assert_ours(buf);
    assert_ours(buf + len);
    for (size_t i = 0; i < len; i++)
        cr_assert_eq(buf[i], 'a' + (int)(i % 26), "byte %zu", i);
    free(buf);
}

Test(foreign, getline_allocates_a_null_buffer_in_lgmalloc)
{
    char *buf = NULL;
    size_t cap = 0;
    FILE *f = long_line_file(100);
    cr_assert_eq(getline(&buf, &cap, f), 101);
    fclose(f);
    assert_ours(buf);
    free(buf);
}

Test(foreign, open_memstream_buffer_is_lgmalloc_memory)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    cr_assert_not_null(f);
    for (int i = 0; i < 100000; i++)
        fprintf(f, "%05d\n", i);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(size, 600000);
    assert_ours(buf);
    cr_assert_eq(strncmp(buf + 6 * 99999, "99999\n", 6), 0);
    free(buf);
}

Test(foreign, realpath_result_is_lgmalloc_memory)
{
    char *p = realpath("/", NULL);
    cr_assert_not_null(p);
    assert_ours(p);
    cr_assert_str_eq(p, "/");
    free(p);
}

Test(foreign, glibc_block_is_not_ours_and_free_accepts_it)
{
    char *p = __libc_malloc(100);
    cr_assert_not_null(p);
    cr_assert_not(lg_owns(p), "lg_owns claims glibc's block %p", (void *)p);
    memset(p, 1, 100);
    free(p);
}

Test(foreign, glibc_block_usable_size_is_glibcs)
{
    char *p = __libc_malloc(100);
    cr_assert_not_null(p);
    cr_assert_geq(malloc_usable_size(p), 100);
    free(p);
}

Test(foreign, glibc_block_keeps_contents_across_realloc)
{
    static const size_t sizes[] = { 50, 5000, 300000, 10 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        unsigned char *p = __libc_calloc(1, 100);
        cr_assert_not_null(p);
        fill(p, 100, 7);
        size_t n = sizes[i];
        p = realloc(p, n);
        cr_assert_not_null(p, "realloc of a glibc block to %zu", n);
        size_t keep = n < 100 ? n : 100;
        cr_assert_eq(check(p, keep, 7), keep, "realloc of a glibc block to %zu lost data", n);
        memset(p, 2, n);
        free(p);
    }
}

Test(foreign, glibc_block_realloc_to_zero_frees_it)
{
    void *p = __libc_malloc(100);
    cr_assert_not_null(p);
    cr_assert_null(realloc(p, 0));
}
