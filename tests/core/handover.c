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
 * not move. */
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

/* Fills LEFT, waits for the other thread to fill as much (so neither
 * adopts the other's segments), frees all but the first and last blocks,
 * and returns those (the first and last of its segments). */
static void *leave_memory(void *arg)
{
    void **kept = arg;
    size_t n = LEFT / BLOCK;
    void **p = malloc(n * sizeof *p);
    cr_assert_not_null(p);
    for (size_t i = 0; i < n; i++) {
        p[i] = malloc(BLOCK);
        cr_assert_not_null(p[i]);
        memset(p[i], 1, BLOCK);
    }
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
    for (size_t i = 0; i < n; i++) {
        p[i] = malloc(BLOCK);
        cr_assert_not_null(p[i]);
        memset(p[i], 2, BLOCK);
    }
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
