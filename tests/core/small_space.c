/* A program linked with lgmalloc starts and serves a few MiB under an
 * address-space limit of 16 MiB (RLIMIT_AS, `ulimit -v 16384`), as one
 * with glibc's malloc, jemalloc or tcmalloc does: lgmalloc's maps take
 * no .bss to speak of, and its window of segments is mapped a unit at a
 * time (lib/os.c; docs/footprint.md).  A plain program: it runs itself
 * again under the limit, in a child, and checks how the child ended (a
 * program too large for the limit is killed inside execve). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lgmalloc.h"

#define LIMIT ((rlim_t)16 << 20)

typedef struct node_s { struct node_s *next; char bytes[48]; } node_t;

static int fail(const char *what)
{
    printf("FAIL: %s\n", what);
    return 1;
}

/* 3 MiB of small blocks, a huge block grown, libc's own allocations. */
static int serve(void)
{
    node_t *list = NULL;
    for (size_t i = 0; i < (3u << 20) / sizeof(node_t); i++) {
        node_t *n = malloc(sizeof *n);
        if (!n || !lg_owns(n))
            return fail("small blocks under the limit");
        memset(n->bytes, 1, sizeof n->bytes);
        n->next = list;
        list = n;
    }
    char *big = malloc(1u << 20);
    if (!big || !lg_owns(big))
        return fail("a huge block under the limit");
    memset(big, 2, 1u << 20);
    char *bigger = realloc(big, 2u << 20);
    if (!bigger || bigger[(1u << 20) - 1] != 2)
        return fail("a huge block grown under the limit");
    char *s = strdup("under the limit");
    if (!s)
        return fail("strdup under the limit");
    free(s);
    free(bigger);
    while (list) {
        node_t *next = list->next;
        free(list);
        list = next;
    }
    puts("PASS: a few MiB served under a 16 MiB address-space limit");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "limited") == 0)
        return serve();
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit limit = { LIMIT, LIMIT };
        if (setrlimit(RLIMIT_AS, &limit) != 0)
            _exit(2);
        execl("/proc/self/exe", argv[0], "limited", (char *)NULL);
        printf("FAIL: execve under the limit: %s\n", strerror(errno));
        _exit(3);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return fail("fork");
    if (WIFSIGNALED(status)) {
        printf("FAIL: the program under the limit was killed by signal %d\n", WTERMSIG(status));
        return 1;
    }
    return WEXITSTATUS(status);
}
