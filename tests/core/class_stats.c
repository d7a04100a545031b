/* Per-class and prediction statistics, counted with LGMALLOC_STATS=1 (set
 * for this program by tests/meson.build, with LGMALLOC_PREDICT_SYNC=1 so
 * that the table is there before main). */
#include <pthread.h>
#include <stdlib.h>

#include "helpers.h"

TestSuite(class_stats, .timeout = 30);

/* The class serving block_size, or a zeroed one when it served nothing. */
static lg_class_stats_t class_of(size_t block_size)
{
    lg_class_stats_t cs[128] = { 0 };
    size_t n = lg_class_stats_get(cs, 128);
    for (size_t i = 0; i < n && i < 128; i++)
        if (cs[i].block_size == block_size)
            return cs[i];
    return (lg_class_stats_t){ .block_size = block_size };
}

Test(class_stats, are_on)
{
    cr_assert(lg_stats_enabled());
}

Test(class_stats, count_requests_waste_and_live_bytes)
{
    enum { N = 1000 };
    static void *p[N];
    lg_class_stats_t before = class_of(112);
    for (int i = 0; i < N; i++)
        p[i] = malloc(opaque(100));
    lg_class_stats_t during = class_of(112);
    cr_assert_eq(during.requests - before.requests, N);
    cr_assert_eq(during.requested_bytes - before.requested_bytes, (size_t)N * 100);
    cr_assert_eq(during.wasted_bytes - before.wasted_bytes, (size_t)N * 12);
    cr_assert_eq(during.live_bytes - before.live_bytes, (size_t)N * 112);
    cr_assert_geq(during.peak_bytes, during.live_bytes);
    cr_assert_geq(during.held_bytes, during.live_bytes);
    for (int i = 0; i < N; i++)
        free(p[i]);
    cr_assert_eq(class_of(112).live_bytes, before.live_bytes);
}

static void *free_all(void *arg)
{
    void **p = arg;
    for (int i = 0; i < 500; i++)
        free(p[i]);
    return NULL;
}

Test(class_stats, count_frees_from_other_threads)
{
    static void *p[500];
    lg_class_stats_t before = class_of(224);
    for (int i = 0; i < 500; i++)
        p[i] = malloc(opaque(200));
    cr_assert_eq(class_of(224).live_bytes - before.live_bytes, (size_t)500 * 224);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, free_all, p), 0);
    pthread_join(t, NULL);
    cr_assert_eq(class_of(224).live_bytes, before.live_bytes);
}

#if LG_TEST_PREDICT /* built with the call-site analysis */

/* A literal size at its own call site: predicted, and given an exact class
 * once it has filled a few pages (2100 bytes would take 2560 in the
 * standard classes). */
__attribute__((noinline)) static void *predicted_2100(void)
{
    return malloc(2100);
}

Test(class_stats, prediction_makes_an_exact_class_and_counts_its_hits)
{
    enum { USE = 64 };
    void *used[USE];
    for (int i = 0; i < USE; i++)
        used[i] = predicted_2100();
    lg_predict_stats_t before;
    lg_predict_stats_get(&before);
    cr_assert_gt(before.sites, 0);
    cr_assert_gt(before.sites_sized, 0);
    cr_assert_gt(before.exact_classes, 0);
    void *p[10];
    for (int i = 0; i < 10; i++) {
        p[i] = predicted_2100();
        cr_assert_eq(lg_malloc_usable_size(p[i]), 2112, "2100 bytes took %zu",
                     lg_malloc_usable_size(p[i]));
    }
    lg_predict_stats_t after;
    lg_predict_stats_get(&after);
    cr_assert_geq(after.hits - before.hits, 10);
    cr_assert_eq(after.misses, before.misses);
    cr_assert_geq(after.exact_requests - before.exact_requests, 10);
    lg_class_stats_t exact = class_of(2112);
    cr_assert(exact.exact);
    cr_assert_geq(exact.requests, 10);
    for (int i = 0; i < 10; i++)
        free(p[i]);
    for (int i = 0; i < USE; i++)
        free(used[i]);
}

#endif
