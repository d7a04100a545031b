/* The run-time check of the sites that call a wrapper (predict/routing/route.c):
 * with LGMALLOC_STATS=1, the allocation a wrapper returns is compared with
 * the size its caller's site predicts, found on the stack above the
 * allocator, and counted as a hit or a miss like a direct site's; and a
 * calloc's, directly or through a wrapper.
 *
 * Run with LGMALLOC_STATS=1 LGMALLOC_PREDICT_SYNC=1
 * LGMALLOC_ALLOC_FUNCS=doubling_alloc,header_named,tail_named,tail_doubling
 * (tests/predict/meson.build). */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "lgmalloc.h"
#include "lgmalloc_predict.h"

void *volatile lgfx_wrap_ra;
#include "call_site.h"
#include "zmalloc_like.h"   /* lgfx_zmalloc, lgfx_zmalloc_header: Redis' zmalloc */

#define CALLS 1000

volatile int wrapped_count;

/* Wrappers the analysis finds: the size, and the size plus 16. */
__attribute__((noinline)) void *wrapped_alloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        abort();
    wrapped_count++;
    return p;
}

__attribute__((noinline)) void *wrapped_plus(size_t n)
{
    void *p = malloc(n + 16);
    wrapped_count++;
    return p;
}

/* Named by the user as taking its size in its argument, and wrong about
 * it: it asks for twice as much. */
__attribute__((noinline)) void *doubling_alloc(size_t n)
{
    void *p = malloc(2 * n);
    wrapped_count++;
    return p;
}

/* Named by the user, and seen to add a header of 32 bytes. */
__attribute__((noinline)) void *header_named(size_t n)
{
    void *p = malloc(n + 32);
    wrapped_count++;
    return p;
}

/* Named by the user, and tail-calling malloc (assembly, so at every
 * optimisation level): the allocator sees the caller's return address.
 * One asks for 32 more than its argument, the other for twice it. */
void *tail_named(size_t n);
void *tail_doubling(size_t n);
__asm__(".text\n"
        ".globl tail_named\n.type tail_named, @function\n"
        "tail_named:\n\t.cfi_startproc\n\tleaq 32(%rdi), %rdi\n\tjmp malloc\n\t.cfi_endproc\n"
        ".size tail_named, .-tail_named\n"
        ".globl tail_doubling\n.type tail_doubling, @function\n"
        "tail_doubling:\n\t.cfi_startproc\n\taddq %rdi, %rdi\n\tjmp malloc\n\t.cfi_endproc\n"
        ".size tail_doubling, .-tail_doubling\n");


/* A wrapper of calloc, as xzalloc. */
__attribute__((noinline)) void *wrapped_calloc(size_t n)
{
    void *p = calloc(1, n);
    if (!p)
        abort();
    wrapped_count++;
    return p;
}

LGFX_CALL_SITE(site_wrapped, wrapped_alloc(136))
LGFX_CALL_SITE(site_calloc, calloc(17, 8))
LGFX_CALL_SITE(site_wrapped_calloc, wrapped_calloc(104))
LGFX_CALL_SITE(site_plus, wrapped_plus(100))
LGFX_CALL_SITE(site_doubling, doubling_alloc(200))
LGFX_CALL_SITE(site_header_named, header_named(100))
LGFX_CALL_SITE(site_tail_named, tail_named(100))
LGFX_CALL_SITE(site_tail_doubling, tail_doubling(200))
LGFX_CALL_SITE(site_zmalloc, lgfx_zmalloc(136))
LGFX_CALL_SITE(site_zmalloc_header, lgfx_zmalloc_header(120))

static void free_past_header(void *p)
{
    free((char *)p - 16);
}

static lg_predict_stats_t run_freeing(void *(*site)(void), void (*release)(void *))
{
    cr_assert(lg_stats_enabled(), "run with LGMALLOC_STATS=1");
    cr_assert_not_null(lgp_self_wait(), "no prediction table");
    lg_predict_stats_t before, after;
    lg_predict_stats_get(&before);
    for (int i = 0; i < CALLS; i++)
        release(site());
    lg_predict_stats_get(&after);
    return (lg_predict_stats_t){ .hits = after.hits - before.hits,
                                 .misses = after.misses - before.misses };
}

static lg_predict_stats_t run(void *(*site)(void))
{
    return run_freeing(site, free);
}

Test(wrapped, allocations_through_a_wrapper_are_checked_against_its_callers_site)
{
    lg_predict_stats_t d = run(site_wrapped);
    cr_expect_geq(d.hits, CALLS, "%zu hits, %zu misses", d.hits, d.misses);
    cr_expect_eq(d.misses, 0, "%zu misses", d.misses);
}

Test(wrapped, calloc_sites_are_checked_against_their_prediction)
{
    lg_predict_stats_t d = run(site_calloc);
    cr_expect_geq(d.hits, CALLS, "%zu hits, %zu misses", d.hits, d.misses);
    cr_expect_eq(d.misses, 0, "%zu misses", d.misses);
}

Test(wrapped, allocations_through_a_calloc_wrapper_are_checked_at_their_callers_site)
{
    lg_predict_stats_t d = run(site_wrapped_calloc);
    cr_expect_geq(d.hits, CALLS, "%zu hits, %zu misses", d.hits, d.misses);
    cr_expect_eq(d.misses, 0, "%zu misses", d.misses);
}

Test(wrapped, a_wrapper_that_adds_a_constant_is_checked_with_it)
{
    lg_predict_stats_t d = run(site_plus);
    cr_expect_geq(d.hits, CALLS, "%zu hits, %zu misses", d.hits, d.misses);
    cr_expect_eq(d.misses, 0, "%zu misses", d.misses);
}

Test(wrapped, a_named_function_that_changes_the_size_counts_misses)
{
    lg_predict_stats_t d = run(site_doubling);
    cr_expect_geq(d.misses, CALLS, "%zu hits, %zu misses", d.hits, d.misses);
}

Test(wrapped, a_named_function_seen_to_add_a_constant_predicts_it)
{
    lg_predict_stats_t d = run(site_header_named);
    cr_expect_geq(d.hits, CALLS, "%zu hits, %zu misses", d.hits, d.misses);
    cr_expect_eq(d.misses, 0, "%zu misses", d.misses);
}

Test(wrapped, a_named_function_that_tail_calls_is_checked_at_its_callers_site)
{
    lg_predict_stats_t d = run(site_tail_named);
    cr_expect_geq(d.hits, CALLS, "%zu hits, %zu misses", d.hits, d.misses);
    cr_expect_eq(d.misses, 0, "%zu misses", d.misses);
}

Test(wrapped, a_named_function_that_tail_calls_with_another_size_counts_misses)
{
    lg_predict_stats_t d = run(site_tail_doubling);
    cr_expect_geq(d.misses, CALLS, "%zu hits, %zu misses", d.hits, d.misses);
}

Test(wrapped, allocations_through_a_zmalloc_shaped_wrapper_are_checked_at_their_callers_site)
{
    lg_predict_stats_t d = run(site_zmalloc);
    cr_expect_geq(d.hits, CALLS, "%zu hits, %zu misses", d.hits, d.misses);
    cr_expect_eq(d.misses, 0, "%zu misses", d.misses);
}

Test(wrapped, a_zmalloc_shaped_wrapper_with_a_header_is_checked_with_it)
{
    lg_predict_stats_t d = run_freeing(site_zmalloc_header, free_past_header);
    cr_expect_geq(d.hits, CALLS, "%zu hits, %zu misses", d.hits, d.misses);
    cr_expect_eq(d.misses, 0, "%zu misses", d.misses);
}
