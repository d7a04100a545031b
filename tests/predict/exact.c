/* Exact-fit classes by use (predict/routing/route.c): a predicted size gets
 * a class of its own once its sites have filled pages with it, found
 * through a wrapper too; a site that runs once makes none.
 *
 * Run with LGMALLOC_PREDICT_SYNC=1 (tests/predict/meson.build): the table is
 * there from main's first malloc. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "lgmalloc.h"
#include "lgmalloc_predict.h"

void *volatile lgfx_wrap_ra;
#include "zmalloc_like.h"   /* lgfx_zmalloc: Redis' zmalloc */

#define LIVE 64   /* blocks held: more than a few pages' worth of refills */

/* A call, not a tail call: the site is the call itself. */
#define SITE(name, call)                                                \
    __attribute__((noinline)) static void *name(void)                   \
    {                                                                   \
        void *p = call;                                                 \
        __asm__ volatile("" : : "r"(p) : "memory");                     \
        return p;                                                       \
    }

/* Sizes their standard class rounds up by over 1/16: each could have a
 * class of its own (1100 in 1280, 2100 in 2560, 900 in 1024). */
SITE(cold_1100, malloc(1100))
SITE(hot_wrapped_2100, lgfx_zmalloc(2100))
SITE(hot_direct_900, malloc(900))

static size_t usable_after_use(void *(*site)(void))
{
    cr_assert_not_null(lgp_self_wait(), "no prediction table");
    void *p[LIVE];
    for (int i = 0; i < LIVE; i++)
        p[i] = site();
    void *last = site();
    size_t usable = lg_malloc_usable_size(last);
    free(last);
    for (int i = 0; i < LIVE; i++)
        free(p[i]);
    return usable;
}

Test(exact, a_size_its_sites_fill_pages_with_through_a_wrapper_gets_its_class)
{
    size_t usable = usable_after_use(hot_wrapped_2100);
    cr_expect_eq(usable, 2112, "2100 bytes through the wrapper took %zu", usable);
}

Test(exact, a_size_its_direct_sites_fill_pages_with_gets_its_class)
{
    size_t usable = usable_after_use(hot_direct_900);
    cr_expect_eq(usable, 912, "900 bytes took %zu", usable);
}

Test(exact, a_site_that_runs_once_makes_no_class)
{
    cr_assert_not_null(lgp_self_wait(), "no prediction table");
    lg_predict_stats_t before;
    lg_predict_stats_get(&before);
    void *p = cold_1100();
    size_t usable = lg_malloc_usable_size(p);
    free(p);
    cr_expect_eq(usable, 1280, "1100 bytes from a cold site took %zu", usable);
    cr_expect_eq(before.exact_classes, 0, "%zu classes before any use", before.exact_classes);
}
