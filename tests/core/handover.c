/* A thread that starts after others exited takes the memory they left
 * resident instead of faulting in new memory.
 *
 * Two threads free 6 MiB each and exit, keeping a block in each of their
 * segments alive (so the segments are abandoned, not released); then a
 * third allocates 12 MiB.  It adopts their segments and fills their
 * resident free slices: barely a fault.  (12 MiB left by exited threads
 * were over the budget of 8 MiB: the second thread's were purged as it
 * exited, and the third faulted them in again.)  Run with
 * LGMALLOC_PURGE_DELAY=1000 (tests/meson.build), so that no purge delay
 * runs out while the test waits on a busy machine: the budget is what it
 * tests.  Faults are counted with RUSAGE_THREAD, which other threads do
 * not move.
 *
 * And a thread that frees into an exited thread's segments while it has
 * free memory of its own leaves them to the threads that need pages. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "helpers.h"

TestSuite(handover, .timeout = 60);

#define BLOCK  1000
#define LEFT   (6 * MiB)       /* what each exiting thread frees */
#define NEEDED (2 * LEFT)      /* what the next thread allocates */
#define PAGE   4096

static pthread_barrier_t both_filled;

static long thread_faults(void)
{
    struct rusage ru;
    cr_assert_eq(getrusage(RUSAGE_THREAD, &ru), 0);
    return ru.ru_minflt;
}

/* Fills p with n blocks of BLOCK bytes, each written with `byte`. */
static void take_blocks(void **p, size_t n, int byte)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = malloc(BLOCK);
        cr_assert_not_null(p[i]);
        memset(p[i], byte, BLOCK);
    }
}

/* Fills LEFT, waits for the other thread to fill as much (so neither
 * adopts the other's segments), frees all but the first and last blocks,
 * and returns those (the first and last of its segments). */
static void *leave_memory(void *arg)
{
    void **kept = arg;
    size_t n = LEFT / BLOCK;
    void **p = malloc(n * sizeof *p);
    cr_assert_not_null(p);
    take_blocks(p, n, 1);
    pthread_barrier_wait(&both_filled);
    kept[0] = p[0];
    kept[1] = p[n - 1];
    for (size_t i = 1; i < n - 1; i++)
        free(p[i]);
    free(p);
    return NULL;
}

static long faults_taken;

static void *take_memory(void *arg)
{
    size_t n = NEEDED / BLOCK;
    void **p = malloc(n * sizeof *p);
    cr_assert_not_null(p);
    long before = thread_faults();
    take_blocks(p, n, 2);
    faults_taken = thread_faults() - before;
    for (size_t i = 0; i < n; i++)
        free(p[i]);
    free(p);
    return arg;
}

Test(handover, a_new_thread_reuses_the_resident_memory_exited_threads_left)
{
    void *kept[2][2];
    pthread_t t[2];
    pthread_barrier_init(&both_filled, NULL, 2);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, leave_memory, kept[i]), 0);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&both_filled);

    pthread_t taker;
    cr_assert_eq(pthread_create(&taker, NULL, take_memory, NULL), 0);
    cr_assert_eq(pthread_join(taker, NULL), 0);
    long pages = (long)(NEEDED / PAGE);
    cr_log_info("%ld faults allocating %zu MiB after two threads left %zu MiB each (%ld pages)",
                faults_taken, NEEDED / MiB, LEFT / MiB, pages);
    cr_assert_lt(faults_taken * 10, pages,
                 "%ld faults allocating %zu MiB (%ld pages) where exited threads left as much",
                 faults_taken, NEEDED / MiB, pages);
    for (int i = 0; i < 2; i++) {
        free(kept[i][0]);
        free(kept[i][1]);
    }
}

/* A thread holding free memory of its own (HELD) waits while another
 * leaves LEFT free and resident, a few blocks kept in each of its pages,
 * and exits; then it frees some of those blocks just after it needed a
 * page (so it would adopt what it frees into, had it no memory of its
 * own); and while it still runs, a third allocates LEFT.  It takes the
 * memory the exited thread left: barely a fault. */
#define HELD   (2 * MiB)   /* the second thread's own free memory */
#define MARKED 256         /* blocks the first leaves to the second: one in 24 */

static void *marked[MARKED];
static int freed_step;     /* the second thread frees one marked block in this many */
static pthread_barrier_t holding, left, freed_marked, taken;

static void *leave_marked(void *arg)
{
    (void)arg;
    size_t n = LEFT / BLOCK, step = n / MARKED;
    void **p = malloc(n * sizeof *p);
    cr_assert_not_null(p);
    take_blocks(p, n, 1);
    for (size_t i = 0; i < n; i++) {
        if (i % step == 0 && i / step < MARKED)
            marked[i / step] = p[i];
        else
            free(p[i]);
    }
    free(p);
    return NULL;
}

static void *free_marked(void *arg)
{
    (void)arg;
    size_t n = HELD / BLOCK;
    void **p = malloc(n * sizeof *p);
    cr_assert_not_null(p);
    take_blocks(p, n, 3);
    for (size_t i = 0; i < n; i++)
        free(p[i]);
    free(p);
    pthread_barrier_wait(&holding);
    pthread_barrier_wait(&left);
    void *fresh = malloc(opaque(3000));   /* a new page: it needed one just now */
    cr_assert_not_null(fresh);
    for (int i = 0; i < MARKED; i += freed_step)
        free(marked[i]);
    free(fresh);
    pthread_barrier_wait(&freed_marked);
    pthread_barrier_wait(&taken);          /* its heap outlives the third's allocations */
    return NULL;
}

static void *take_left(void *arg)
{
    long *faults = arg;
    size_t n = LEFT / BLOCK;
    void **p = malloc(n * sizeof *p);
    cr_assert_not_null(p);
    long before = thread_faults();
    take_blocks(p, n, 2);
    *faults = thread_faults() - before;
    for (size_t i = 0; i < n; i++)
        free(p[i]);
    free(p);
    return NULL;
}

/* The faults of the third thread. */
static long leave_free_take(int step)
{
    pthread_t leaver, freer, taker;
    long faults = 0;
    freed_step = step;
    pthread_barrier_init(&holding, NULL, 2);
    pthread_barrier_init(&left, NULL, 2);
    pthread_barrier_init(&freed_marked, NULL, 2);
    pthread_barrier_init(&taken, NULL, 2);
    cr_assert_eq(pthread_create(&freer, NULL, free_marked, NULL), 0);
    pthread_barrier_wait(&holding);
    cr_assert_eq(pthread_create(&leaver, NULL, leave_marked, NULL), 0);
    cr_assert_eq(pthread_join(leaver, NULL), 0);
    pthread_barrier_wait(&left);
    pthread_barrier_wait(&freed_marked);
    cr_assert_eq(pthread_create(&taker, NULL, take_left, &faults), 0);
    cr_assert_eq(pthread_join(taker, NULL), 0);
    pthread_barrier_wait(&taken);
    cr_assert_eq(pthread_join(freer, NULL), 0);
    pthread_barrier_destroy(&holding);
    pthread_barrier_destroy(&left);
    pthread_barrier_destroy(&freed_marked);
    pthread_barrier_destroy(&taken);
    for (int i = 0; i < MARKED; i++)
        if (i % step != 0)
            free(marked[i]);
    return faults;
}

/* The second thread frees half the marked blocks: most pages keep one.
 * (It adopted the segments and kept them, and the third faulted in fresh
 * memory.) */
Test(handover, a_thread_with_free_memory_leaves_exited_threads_segments_to_those_that_need_pages)
{
    long faults = leave_free_take(2), pages = (long)(LEFT / PAGE);
    cr_assert_lt(faults * 10, pages, "%ld faults allocating %zu MiB (%ld pages) after an exited "
                 "thread left as much, freed into by a thread with memory of its own",
                 faults, LEFT / MiB, pages);
}

/* The second thread frees them all: the segments, empty, are cached as
 * the third adopts them, and it fills both before any fresh slice.  (It
 * took the fresh slices of the cached segment it had, while the other
 * lay resident in the cache.) */
Test(handover, a_new_page_takes_a_cached_segments_resident_slices_before_fresh_ones)
{
    long faults = leave_free_take(1), pages = (long)(LEFT / PAGE);
    cr_assert_lt(faults * 10, pages, "%ld faults allocating %zu MiB (%ld pages) after an exited "
                 "thread left as much", faults, LEFT / MiB, pages);
}
