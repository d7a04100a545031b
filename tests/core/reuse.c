/* Which free block malloc hands out: blocks freed in older pages go before
 * a page's fresh blocks, which are memory touched for the first time
 * (lib/page.c, page_find); and which memory a new page takes: a freed
 * large block's, which no other block of its page keeps.  Run in a thread
 * of its own, so its heap holds only what the test put there. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/resource.h>

#include "helpers.h"

TestSuite(reuse, .timeout = 60);

#define BLOCK  1000  /* a 1,024-byte class: 64 blocks to a 64 KiB page */
#define BLOCKS 200   /* three pages full and a fourth begun */
#define FREED  40    /* every other one of the first 80: in the first two pages */

static bool was_freed(void *const *p, const void *q)
{
    for (int i = 0; i < FREED; i++)
        if (p[2 * i + 1] == q)
            return true;
    return false;
}

static void *reuse_after_scattered_frees(void *arg)
{
    size_t *reused = arg;
    void *p[BLOCKS], *q[FREED];
    for (int i = 0; i < BLOCKS; i++) {
        p[i] = malloc(opaque(BLOCK));   /* opaque: no exact-fit class for this site */
        cr_assert_not_null(p[i]);
        memset(p[i], 1, BLOCK);
    }
    for (int i = 0; i < FREED; i++)
        free(p[2 * i + 1]);
    for (int i = 0; i < FREED; i++) {
        q[i] = malloc(opaque(BLOCK));
        cr_assert_not_null(q[i]);
        *reused += was_freed(p, q[i]);
    }
    for (int i = 0; i < FREED; i++) {
        free(q[i]);
        free(p[2 * i]);
    }
    for (int i = 2 * FREED; i < BLOCKS; i++)
        free(p[i]);
    return NULL;
}

Test(reuse, blocks_freed_in_older_pages_go_before_fresh_ones)
{
    size_t reused = 0;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, reuse_after_scattered_frees, &reused), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    /* all but the few fresh blocks the fourth page had carved already (an
     * OS page's worth); extending the fourth page first gave 0-3 */
    cr_assert_geq(reused + lg_page_size() / 1024, FREED, "%zu of %d blocks were ones freed before",
                  reused, FREED);
}

/* Blocks over 64 KiB: a page holds one (lib/classes.c), so a freed one
 * gives its memory back to its segment at once, for blocks of any size;
 * see docs/decisions.md#one-large-block-a-page. */
#define LARGE      (120 << 10)  /* a 128 KiB class: two slices, all of it written */
#define LARGE_N    32
#define OTHER      (90 << 10)   /* another class (96 KiB) */
#define OTHER_N    24           /* as many as are freed: 3 of every 4 */

static long thread_faults(void)
{
    struct rusage ru;
    cr_assert_eq(getrusage(RUSAGE_THREAD, &ru), 0);
    return ru.ru_minflt;
}

static void *reuse_freed_large_blocks(void *arg)
{
    long *faults = arg;
    void *p[LARGE_N], *q[OTHER_N];
    lg_thread_purge_delay(1000);   /* no purge while a busy machine pauses the test */
    for (int i = 0; i < LARGE_N; i++) {
        p[i] = malloc(opaque(LARGE));
        cr_assert_not_null(p[i]);
        memset(p[i], 1, malloc_usable_size(p[i]));
    }
    for (int i = 0; i < LARGE_N; i++)
        if (i % 4 != 0)
            free(p[i]);
    long before = thread_faults();
    for (int i = 0; i < OTHER_N; i++) {
        q[i] = malloc(opaque(OTHER));
        cr_assert_not_null(q[i]);
        memset(q[i], 2, malloc_usable_size(q[i]));
    }
    *faults = thread_faults() - before;
    for (int i = 0; i < OTHER_N; i++)
        free(q[i]);
    for (int i = 0; i < LARGE_N; i += 4)
        free(p[i]);
    return NULL;
}

Test(reuse, a_freed_large_block_leaves_its_memory_to_blocks_of_other_sizes)
{
    long faults = 0;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, reuse_freed_large_blocks, &faults), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    long pages = (long)((size_t)OTHER_N * OTHER / (size_t)sysconf(_SC_PAGESIZE));
    cr_log_info("%ld faults writing %d blocks of %d KiB (%ld pages) where blocks of %d KiB were freed",
                faults, OTHER_N, OTHER >> 10, pages, LARGE >> 10);
    /* pages of four large blocks, each kept by the one left, gave the
     * new blocks fresh memory: a fault a page */
    cr_assert_lt(faults * 10, pages, "%ld faults for %ld pages written", faults, pages);
}
