/* Process start-up, the global lock, fork, and fatal errors. */
#include "internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

/* The one lock: the abandoned list, the segment cache and the pool of heap
 * structs.  Never taken on the malloc or free fast paths. */
static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;

/* Set while this thread holds the lock or waits for it, from before it
 * asks to after it let go: a fork from a signal handler that interrupted
 * it must not take the lock again (fork_prepare). */
static lg_tls bool lock_mine;
/* Forks begun by fork_prepare in this thread that skipped the lock,
 * innermost last: their parent and child handlers must skip it too. */
static lg_tls unsigned forks_nested;

void lg__lock(void)
{
    lock_mine = true;
    pthread_mutex_lock(&global_lock);
}

void lg__unlock(void)
{
    pthread_mutex_unlock(&global_lock);
    lock_mine = false;
}

/* fork(): hold the lock across it so the child never inherits it taken.
 * The child keeps the forking thread's heap (the thread id is unchanged);
 * the heaps of the threads that do not exist in the child are abandoned.
 *
 * glibc makes fork async-signal-safe in a single-threaded process: a
 * signal handler may fork while its thread is inside malloc holding the
 * lock, or inside another fork between its prepare and parent handlers.
 * Taking the lock then would wait for ever on this thread itself.  Such a
 * fork leaves the lock alone: the parent goes back to the interrupted code,
 * which lets go of it, and the child may only call async-signal-safe
 * functions (malloc is not one), as after any fork in a signal handler. */
static void fork_prepare(void)
{
    if (lock_mine) {
        forks_nested++;
        return;
    }
    lg__lock();
}

static void fork_parent(void)
{
    if (forks_nested) {
        forks_nested--;
        return;
    }
    lg__unlock();
}

static void fork_child(void)
{
    if (forks_nested) {
        forks_nested--;
        return;
    }
    pthread_mutex_init(&global_lock, NULL);
    lock_mine = false;
    lg__heap_after_fork();
}

uintptr_t lg__seed;

/* What lg__random and the window's place start from: the kernel's
 * AT_RANDOM bytes, which cost no system call. */
static uintptr_t seed_new(void)
{
    uintptr_t key = 0;
    const void *random = (const void *)getauxval(AT_RANDOM);
    if (random)
        memcpy(&key, (const uint8_t *)random + 8, sizeof key);
    key ^= (uintptr_t)&key * 0x9e3779b97f4a7c15u; /* the stack address, if there is no AT_RANDOM */
    return key;
}

/* Process start-up, on the first allocation of any thread.  Registering
 * the fork handlers may allocate (musl's pthread_atfork does): that
 * recursive call finds the classes and the thread key ready, and goes on
 * while `initializing` is its own; the heap it makes is the thread's one
 * (lg__heap_init_thread). */
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool initialized;
static _Atomic(uintptr_t) initializing;

void lg__process_init(void)
{
    if (lg_likely(atomic_load_explicit(&initialized, memory_order_acquire)))
        return;
    if (atomic_load_explicit(&initializing, memory_order_relaxed) == lg__thread_id())
        return;
    pthread_mutex_lock(&init_lock);
    if (!atomic_load_explicit(&initialized, memory_order_relaxed)) {
        atomic_store_explicit(&initializing, lg__thread_id(), memory_order_relaxed);
        lg__seed = seed_new();
        lg__options_init();
        lg__stats_init();
        lg__limit_init();
        lg__classes_init();
        lg__heap_process_init();
        pthread_atfork(fork_prepare, fork_parent, fork_child);
        atomic_store_explicit(&initialized, true, memory_order_release);
        atomic_store_explicit(&initializing, 0, memory_order_relaxed);
    }
    pthread_mutex_unlock(&init_lock);
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
    static const char hint[] =
        "lgmalloc: the program misused the heap there; the core dump or a debugger shows where.\n"
        "lgmalloc: to find the first bad write: build lgmalloc with -Dsecure=true, or run under\n"
        "lgmalloc: valgrind with lgmalloc built -Dvalgrind=true\n";
    ssize_t r = write(STDERR_FILENO, prefix, sizeof prefix - 1);
    r = write(STDERR_FILENO, msg, (size_t)n);
    r = write(STDERR_FILENO, hint, sizeof hint - 1);
    (void)r;
    abort();
}
