/* Which free block malloc hands out: blocks freed in older pages go before
 * a page's fresh blocks, which are memory touched for the first time
 * (lib/page.c, page_find).  Run in a thread of its own, so its heap holds
 * only what the test put there. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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
