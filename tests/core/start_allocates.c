/* lgmalloc's start-up calls into the C library, which may allocate:
 * musl's pthread_atfork does.  That nested malloc must not give the
 * starting thread a second heap.  With two, a forked child took the first
 * one for another thread's and orphaned it, with the pages the program
 * held: every free there went the remote way and nothing was reused.
 *
 * The link wraps pthread_atfork (-Wl,--wrap=pthread_atfork) with one that
 * allocates, as musl's does, so this is tested with any C library.  A
 * plain program, which runs without Criterion too; it exits 0 when the
 * thread has one heap and a forked child reuses what it frees, and names
 * what failed otherwise. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lgmalloc.h"

int __real_pthread_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void));

/* Like musl's: each registration in a block of its own, kept for good. */
struct registration {
    struct registration *next;
    void (*handlers[3])(void);
};
static struct registration *registrations;

int __wrap_pthread_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
    struct registration *r = malloc(sizeof *r);
    if (!r)
        return -1;
    *r = (struct registration){ registrations, { prepare, parent, child } };
    registrations = r;
    return __real_pthread_atfork(prepare, parent, child);
}

static int fail(const char *what)
{
    fprintf(stderr, "start_allocates: %s\n", what);
    return 1;
}

/* In the child: a block the parent allocated and the child frees is the
 * next one of its size, as in any process (a free list is last in, first
 * out), whether it was allocated inside lgmalloc's start-up or after. */
static int child_reuses(void *from_parent)
{
    void *from_start = registrations;
    free(from_start);
    if (malloc(sizeof *registrations) != from_start)
        return 3;
    free(from_parent);
    return malloc(48) == from_parent ? 0 : 4;
}

int main(void)
{
    void *block = malloc(48);
    if (!block)
        return fail("malloc failed");
    if (!registrations)
        return fail("lgmalloc started without calling pthread_atfork: the link does not wrap it");
    lg_stats_t s;
    lg_stats_get(&s);
    if (s.threads_seen != 1 || s.threads_live != 1) {
        fprintf(stderr, "start_allocates: one thread, %zu heaps made and %zu live (want 1 and 1)\n",
                s.threads_seen, s.threads_live);
        return 1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return fail("fork failed");
    if (pid == 0)
        _exit(child_reuses(block));
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return fail("waitpid failed");
    if (!WIFEXITED(status))
        return fail("the child died");
    if (WEXITSTATUS(status) == 3)
        return fail("the child did not reuse a block from lgmalloc's start-up that it freed");
    if (WEXITSTATUS(status) != 0)
        return fail("the child did not reuse a block of the parent's that it freed");
    free(block);
    return 0;
}
