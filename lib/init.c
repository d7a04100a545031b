/* Process start-up, the global lock, fork, and fatal errors. */
#include "internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The one lock: the abandoned list, the segment cache and the pool of heap
 * structs.  Never taken on the malloc or free fast paths. */
static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;

void lg__lock(void) { pthread_mutex_lock(&global_lock); }
void lg__unlock(void) { pthread_mutex_unlock(&global_lock); }

/* fork(): hold the lock across it so the child never inherits it taken.
 * The child keeps the forking thread's heap (the thread id is unchanged);
 * the heaps of threads that do not exist in the child stay as they were,
 * and blocks the child frees into them wait on their remote lists. */
static void fork_prepare(void) { lg__lock(); }
static void fork_parent(void) { lg__unlock(); }
static void fork_child(void) { pthread_mutex_init(&global_lock, NULL); }

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void process_init_once(void)
{
    lg__classes_init();
    lg__heap_process_init();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void lg__process_init(void)
{
    pthread_once(&once, process_init_once);
}

/* Reports heap corruption or misuse and aborts, so a core dump and a stack
 * trace show where.  Formats into a stack buffer: the heap may be broken. */
void lg__fatal(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof msg - 2)
        n = sizeof msg - 2;
    msg[n++] = '\n';
    static const char prefix[] = "lgmalloc: ";
    ssize_t r = write(STDERR_FILENO, prefix, sizeof prefix - 1);
    r = write(STDERR_FILENO, msg, (size_t)n);
    (void)r;
    abort();
}
