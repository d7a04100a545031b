/* Exact-fit classes added while the program runs (what the analysis does
 * from its thread, lg_route_add_exact): a class takes granules from the
 * larger class that served them, while this thread's fast path may still
 * lead those granules to the larger class's current page. */
#include <stdlib.h>

#include "../../lib/route.h"
#include "helpers.h"

/* Through a variable: no prediction for it, the test adds the class. */
static volatile size_t size = 900;

Test(exact_class, a_split_class_whose_page_is_retired_serves_from_live_pages)
{
    enum { N = 200 };
    void *p[N];
    size_t before = lg_route_class_for(size);
    /* the larger class's page is current, and leads the fast path of 900 */
    for (int i = 0; i < N; i++)
        cr_assert_not_null(p[i] = malloc(size));
    for (int i = 0; i < N; i++)
        free(p[i]);
    cr_assert_eq(lg_route_add_exact((const size_t[]){ size }, 1), 1);
    cr_assert_neq(lg_route_class_for(size), before);
    /* the emptied page is retired: its slices are free */
    lg_collect();
    for (int i = 0; i < N; i++) {
        p[i] = malloc(size);
        cr_assert(lg_owns(p[i]));
        cr_assert_geq(lg_malloc_usable_size(p[i]), size);
    }
    for (int i = 0; i < N; i++)
        free(p[i]); /* from a retired page, this aborts: "in no block" */
    cr_assert_lt(lg_malloc_usable_size(p[0] = malloc(size)), 1024, "the exact class serves it");
    free(p[0]);
}
