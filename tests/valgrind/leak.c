/* A program with planted memory errors, for tests/valgrind/check.sh: with
 * lgmalloc built with -Dvalgrind=true, memcheck must see lgmalloc's blocks
 * as it sees glibc's.
 *
 *   leak          leaks one block of 4242 bytes from leak_4242()
 *   leak uaf      also reads a byte of a block after freeing it
 *   leak clean    leaks nothing and makes no error */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lgmalloc.h>

/* Keeps the compiler from proving the block dead or the read undefined. */
static void *volatile sink;

__attribute__((noinline)) static void leak_4242(void)
{
    char *p = malloc(4242);
    if (!p)
        exit(2);
    memset(p, 0x42, 4242);
    sink = p;
    sink = NULL; /* the last pointer to it is gone: definitely lost */
}

__attribute__((noinline)) static int use_after_free(void)
{
    char *p = malloc(64);
    if (!p)
        exit(2);
    memset(p, 7, 64);
    sink = p;
    free(p);
    return ((volatile char *)sink)[10]; /* the planted invalid read */
}

int main(int argc, char **argv)
{
    int clean = argc > 1 && strcmp(argv[1], "clean") == 0;
    int uaf = argc > 1 && strcmp(argv[1], "uaf") == 0;
    /* ordinary traffic around the planted errors, all freed */
    void *p[100];
    for (int i = 0; i < 100; i++) {
        p[i] = malloc((size_t)(i * 37 % 2000) + 1);
        if (!p[i])
            return 2;
        memset(p[i], i, (size_t)(i * 37 % 2000) + 1);
    }
    for (int i = 0; i < 100; i++)
        free(p[i]);
    char *big = calloc(1, 6 << 20);
    if (!big)
        return 2;
    big = realloc(big, 7 << 20);
    free(big);
    if (!clean)
        leak_4242();
    if (uaf)
        printf("read after free: %d\n", use_after_free());
    /* under valgrind too the blocks must be lgmalloc's, not valgrind's */
    void *q = malloc(10);
    printf("served by lgmalloc: %s\n", lg_owns(q) ? "yes" : "no");
    free(q);
    return 0;
}
