/* The running program's table.  Before main a constructor looks for one,
 * cheapest first:
 *   1. embedded in the program by lgmalloc-scan --embed (embedded.c), made
 *      for this build-id: read, checked and published, nothing analysed;
 *   2. in the per-user cache, from an earlier run of the same build
 *      (cache.c);
 *   3. the analysis of the program itself (analyse.c): before main for a
 *      small program, on a background thread for a larger one, its result
 *      then cached.
 * A build without the analysis (analyse_none.c: the archive a -static
 * program links) stops after 1.
 *
 * Environment:
 *   LGMALLOC_PREDICT=0          no table at all
 *   LGMALLOC_PREDICT_EMBEDDED=0 the embedded table ignored
 *   LGMALLOC_VERBOSE=1          where the table came from, and why not, on
 *                               stderr (2: the whole table)
 * and the analysis' own (analyse.c).
 *
 * The analysis allocates through the program's allocator (its calls are
 * wrapped like the program's); the allocator initialises itself on first
 * use and never calls the analysis, so nothing recurses. */
#include "runtime.h"
#include "../routing/routing.h"

#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic(lgp_table_t *) published;
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  done_cond = PTHREAD_COND_INITIALIZER;
static bool            done = true;   /* false while the thread works */
int                    lgp__verbose;

bool lgp__env_is(const char *name, const char *value)
{
    const char *v = getenv(name);
    return v && strcmp(v, value) == 0;
}

/* ---- the loaded objects, never across a fork -------------------------------- */

/* glibc's fork does not take the lock dl_iterate_phdr holds: a child
 * forked while another thread is inside it waits for ever in its own first
 * call (Criterion's workers did, forked beside the analysis thread).  So
 * lgmalloc's calls hold objects_lock, which a fork takes first while the
 * analysis has a thread.  A fork from a signal handler that interrupted
 * this thread inside one does not take it again. */
static pthread_mutex_t objects_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread __attribute__((tls_model("local-exec"))) bool objects_mine;
static __thread __attribute__((tls_model("local-exec"))) unsigned objects_forks_nested;

int lgp__objects_iterate(int (*fn)(struct dl_phdr_info *, size_t, void *), void *arg)
{
    pthread_mutex_lock(&objects_lock);
    objects_mine = true;
    int r = dl_iterate_phdr(fn, arg);
    objects_mine = false;
    pthread_mutex_unlock(&objects_lock);
    return r;
}

static void objects_fork_prepare(void)
{
    if (objects_mine) {
        objects_forks_nested++;
        return;
    }
    pthread_mutex_lock(&objects_lock);
}

static void objects_fork_release(void)
{
    if (objects_forks_nested) {
        objects_forks_nested--;
        return;
    }
    pthread_mutex_unlock(&objects_lock);
}

static int first_object(struct dl_phdr_info *info, size_t size, void *bias)
{
    (void)size;
    *(uintptr_t *)bias = (uintptr_t)info->dlpi_addr;
    return 1;   /* the first object is the program */
}

uintptr_t lgp__self_bias(void)
{
    uintptr_t bias = 0;
    lgp__objects_iterate(first_object, &bias);
    return bias;
}

void lgp__publish(lgp_table_t *table, const char *stage)
{
    atomic_store_explicit(&published, table, memory_order_release);
    lgp__route(table);
    if (lgp__verbose <= 0)
        return;
    fprintf(stderr, "lgmalloc: prediction (%s):\n", stage);
    if (lgp__verbose > 1)
        lgp_table_print(stderr, table);
    else
        lgp_table_print_summary(stderr, table);
}

void lgp__report_none(const char *why)
{
    if (lgp__verbose > 0)
        fprintf(stderr, "lgmalloc: prediction: no table: %s\n", why);
}

void lgp__report_skipped(const char *source, const char *why)
{
    if (lgp__verbose > 0)
        fprintf(stderr, "lgmalloc: prediction: %s not used: %s\n", source, why);
}

/* ---- the background thread's end, for lgp_self_wait ------------------------ */

/* A child forked while the thread works has no thread: nothing to wait for
 * (and the lock may have been copied held). */
static void child_after_fork(void)
{
    (void)pthread_mutex_init(&done_lock, NULL);   /* cannot fail without attributes */
    (void)pthread_cond_init(&done_cond, NULL);
    done = true;
}

bool lgp__self_busy(void)
{
    if (pthread_atfork(objects_fork_prepare, objects_fork_release, objects_fork_release) != 0
        || pthread_atfork(NULL, NULL, child_after_fork) != 0)
        return false;
    done = false;
    return true;
}

void lgp__self_finish(void)
{
    pthread_mutex_lock(&done_lock);
    done = true;
    pthread_cond_broadcast(&done_cond);
    pthread_mutex_unlock(&done_lock);
}

/* ---- the constructor -------------------------------------------------------- */

/* The shim's (wrap/handover.h): nonzero when the C library's allocator
 * serves every call (under valgrind), which leaves a prediction no use.
 * Weak: the analysis' own tests link no shim. */
extern int lg__handover_decide(void) __attribute__((weak));

static bool use_embedded(const lgp_build_id_t *id)
{
    char why[96];
    if (lgp__env_is("LGMALLOC_PREDICT_EMBEDDED", "0"))
        return false;
    lgp_table_t *table = lgp__embedded_table(id, why, sizeof why);
    if (!table) {
        lgp__report_skipped("embedded table", why);
        return false;
    }
    table->origin = LGP_ORIGIN_EMBEDDED;
    table->bias = lgp__self_bias();
    lgp__publish(table, "embedded table");
    return true;
}

__attribute__((constructor)) static void lgp__self_start(void)
{
    const char *v = getenv("LGMALLOC_VERBOSE");
    lgp__verbose = v ? atoi(v) : 0;
    lgp__self_prepare();
    if (lgp__env_is("LGMALLOC_PREDICT", "0")) {
        lgp__report_none("turned off (LGMALLOC_PREDICT=0)");
        return;
    }
    if (lg__handover_decide && lg__handover_decide()) {
        lgp__report_none("the C library's allocator serves every call (under valgrind)");
        return;
    }
    lgp_build_id_t id;
    if (!lgp__self_build_id(&id))
        lgp__report_skipped("embedded table and cache", "the program has no build-id");
    else if (use_embedded(&id))
        return;
    lgp__self_analyse(&id);
}

const lgp_table_t *lgp_self_table(void)
{
    return atomic_load_explicit(&published, memory_order_acquire);
}

const lgp_table_t *lgp_self_wait(void)
{
    pthread_mutex_lock(&done_lock);
    while (!done)
        pthread_cond_wait(&done_cond, &done_lock);
    pthread_mutex_unlock(&done_lock);
    return lgp_self_table();
}
