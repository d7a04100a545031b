/* Exact-fit classes by use (predict/routing/route.c): a predicted size gets
 * a class of its own once its sites have filled pages with it, found
 * through a wrapper too; a site that runs once makes none.
 *
 * Run with LGMALLOC_PREDICT_SYNC=1 (tests/predict/meson.build): the table is
 * there from main's first malloc. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "lgmalloc.h"
#include "lgmalloc_predict.h"
#include "../../lib/route.h"
#include "../../wrap/entries.h"

void *volatile lgfx_wrap_ra;
#include "call_site.h"
#include "zmalloc_like.h"   /* lgfx_zmalloc: Redis' zmalloc */

#define LIVE 64   /* blocks held: more than a few pages' worth of refills */


/* Sizes their standard class rounds up by over 1/16: each could have a
 * class of its own (1100 in 1280, 2100 in 2560, 900 in 1024). */
LGFX_CALL_SITE(cold_1100, malloc(1100))
LGFX_CALL_SITE(hot_wrapped_2100, lgfx_zmalloc(2100))
LGFX_CALL_SITE(hot_direct_900, malloc(900))

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

/* What the call in function `name` calls now (its rel32, read from the code). */
static uintptr_t callee_now(const char *name)
{
    const lgp_table_t *t = lgp_self_table();
    for (size_t i = 0; i < t->count; i++) {
        const lgp_site_t *s = &t->sites[i];
        if (!s->function || strcmp(s->function, name) != 0)
            continue;
        const uint8_t *call = (const uint8_t *)(uintptr_t)(s->address + t->bias - 5);
        int32_t rel;
        memcpy(&rel, call + 1, sizeof rel);
        cr_assert_eq(call[0], 0xE8, "%s: not a call rel32", name);
        return (uintptr_t)call + 5 + (intptr_t)rel;
    }
    cr_assert_fail("%s: not in the table", name);
    return 0;
}

/* A site on the short path (predict/routing/patch.c) calls its class's
 * entry: when its size gets a class of its own, the site is pointed at
 * that class's entry. */
Test(exact, a_patched_site_is_pointed_at_its_sizes_new_class)
{
    cr_assert_not_null(lgp_self_wait(), "no prediction table");
    uintptr_t before = callee_now("hot_direct_900");
    usable_after_use(hot_direct_900);
    uintptr_t after = callee_now("hot_direct_900");
    uintptr_t entry = (uintptr_t)lg_route_entry(lg_route_class_for(900));
    cr_expect_neq(before, after, "the site still calls %#lx", (unsigned long)before);
    cr_expect_eq(after, entry, "the site calls %#lx, the class's entry is %#lx",
                 (unsigned long)after, (unsigned long)entry);
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

/* Sizes no site predicts: called through a pointer, as sqlite's page cache
 * calls malloc (predict/routing/route.c, "sizes learned at run time"). */
static void *(*volatile by_pointer)(size_t) = malloc;

/* 4104 bytes, sqlite's page of 4096 and its 8-byte header: 5120 without a
 * class of its own. */
Test(exact, a_size_no_site_predicts_gets_a_class_once_it_keeps_filling_pages)
{
    cr_assert_not_null(lgp_self_wait(), "no prediction table");
    void *p[LIVE];
    for (int i = 0; i < LIVE; i++)
        p[i] = by_pointer(4104);
    void *last = by_pointer(4104);
    size_t usable = lg_malloc_usable_size(last);
    free(last);
    for (int i = 0; i < LIVE; i++)
        free(p[i]);
    cr_expect_eq(usable, 4112, "4104 bytes took %zu", usable);
}

Test(exact, sizes_asked_for_once_each_make_no_class)
{
    cr_assert_not_null(lgp_self_wait(), "no prediction table");
    void *p[LIVE];
    for (int i = 0; i < LIVE; i++)
        p[i] = by_pointer(4200 + 16 * (size_t)i);
    lg_predict_stats_t after;
    lg_predict_stats_get(&after);
    for (int i = 0; i < LIVE; i++)
        free(p[i]);
    cr_expect_eq(after.exact_classes, 0, "%zu classes made", after.exact_classes);
}

/* Five sizes spread over the 5,120-byte class, none most of its refills:
 * classes for each would split its pages five ways. */
Test(exact, sizes_spread_over_a_class_make_no_class)
{
    cr_assert_not_null(lgp_self_wait(), "no prediction table");
    enum { SPREAD = 5 };
    void *p[SPREAD * LIVE];
    for (int i = 0; i < SPREAD * LIVE; i++)
        p[i] = by_pointer(4200 + 160 * (size_t)(i % SPREAD));
    lg_predict_stats_t after;
    lg_predict_stats_get(&after);
    for (int i = 0; i < SPREAD * LIVE; i++)
        free(p[i]);
    cr_expect_eq(after.exact_classes, 0, "%zu classes made", after.exact_classes);
}
