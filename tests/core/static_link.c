/* A fully static program (-static) served by lgmalloc.  Not a Criterion
 * test (Criterion does not link statically): a plain program that checks a
 * few behaviours and exits non-zero, naming the first that failed.  In a
 * static link lgmalloc is the only allocator, libc's own calls included. */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lgmalloc.h"

static int failures;

static void expect(int ok, const char *behaviour)
{
    printf("%s: %s\n", ok ? "PASS" : "FAIL", behaviour);
    failures += !ok;
}

static void *allocate(void *arg)
{
    (void)arg;
    char *p = malloc(1000);
    if (p != NULL)
        memset(p, 1, 1000);
    return p;
}

int main(void)
{
    char *p = malloc(100);
    expect(p != NULL && lg_owns(p), "malloc is served by lgmalloc");
    free(p);

    char *s = strdup("static");
    expect(s != NULL && lg_owns(s), "strdup inside libc is served by lgmalloc");
    free(s);

    char *line = NULL;
    size_t cap = 0;
    FILE *f = tmpfile();
    expect(f != NULL, "tmpfile works");
    if (f != NULL) {
        for (int i = 0; i < 10000; i++)
            fputs("0123456789", f);
        fputc('\n', f);
        rewind(f);
        ssize_t n = getline(&line, &cap, f);
        expect(n == 100001 && lg_owns(line), "getline grows its buffer in lgmalloc");
        fclose(f);
        free(line);
    }

    pthread_t t;
    void *block = NULL;
    int rc = pthread_create(&t, NULL, allocate, NULL);
    if (rc == 0)
        pthread_join(t, &block);
    expect(rc == 0 && block != NULL && lg_owns(block), "a thread's block outlives it");
    free(block);

    pid_t pid = fork();
    if (pid == 0) {
        void *q = malloc(12345);
        _exit(q != NULL && lg_owns(q) ? 0 : 1);
    }
    int status = 0;
    expect(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
               WEXITSTATUS(status) == 0,
           "a forked child allocates");

    void *big = malloc((size_t)64 << 20);
    expect(big != NULL && lg_owns(big), "a 64 MiB block");
#ifdef LG_HAVE_MALLINFO2
    /* glibc's malloc.o defines these too: a link that pulled it in would
     * fail with two definitions of malloc */
    expect(mallinfo2().hblkhd >= (size_t)64 << 20, "mallinfo2 counts lgmalloc's blocks");
#endif
    free(big);

    printf("%d failed\n", failures);
    return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
