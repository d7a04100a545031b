/* A thread's nursery: the first blocks of its small classes share OS
 * pages, in short runs of its segment's header slice, and such blocks
 * behave as every other block does: freed by other threads, by the
 * successor of an exited thread, after fork, reallocated, checked.  See
 * docs/decisions.md#thread-nursery. */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "fatal.h"
#include "helpers.h"

TestSuite(nursery, .timeout = 60);

#define SEGMENT ((uintptr_t)4 << 20)
#define SLICE   ((uintptr_t)64 << 10)
#define SIZES   5
#define EACH    20
static const size_t sizes[SIZES] = { 24, 40, 72, 136, 264 };

/* In its segment's header slice, where the nursery is. */
static int in_nursery(const void *p)
{
    return ((uintptr_t)p & (SEGMENT - 1)) < SLICE;
}

static uintptr_t os_page(void)
{
    return (uintptr_t)sysconf(_SC_PAGESIZE);
}

/* Runs f(arg) in a thread of its own, a fresh heap, and returns its result. */
static void *in_thread(void *(*f)(void *), void *arg)
{
    pthread_t t;
    void *r;
    cr_assert_eq(pthread_create(&t, NULL, f, arg), 0);
    cr_assert_eq(pthread_join(t, &r), 0);
    return r;
}

typedef struct {
    void *p[SIZES * EACH];
} held_t;

static void *allocate_held(void *arg)
{
    held_t *h = arg;
    for (int k = 0, n = 0; k < SIZES; k++) {
        for (int i = 0; i < EACH; i++, n++) {
            h->p[n] = malloc(sizes[k]);
            cr_assert_not_null(h->p[n]);
            memset(h->p[n], k + 1, sizes[k]);
        }
    }
    return NULL;
}

static void free_held(held_t *h)
{
    for (int n = 0; n < SIZES * EACH; n++) {
        for (size_t i = 0; i < sizes[n / EACH]; i++)
            cr_assert_eq(((unsigned char *)h->p[n])[i], n / EACH + 1, "block %d changed", n);
        free(h->p[n]);
    }
}

/* Distinct OS pages that hold a byte of the blocks. */
static size_t pages_touched(void *const *p, const size_t *size_of, int n)
{
    uintptr_t page = os_page(), seen[4 * SIZES * EACH];
    size_t count = 0;
    for (int b = 0; b < n; b++) {
        uintptr_t first = (uintptr_t)p[b] & ~(page - 1);
        uintptr_t last = ((uintptr_t)p[b] + size_of[b] - 1) & ~(page - 1);
        for (uintptr_t q = first; q <= last; q += page) {
            size_t i = 0;
            while (i < count && seen[i] != q)
                i++;
            if (i == count && count < sizeof seen / sizeof *seen)
                seen[count++] = q;
        }
    }
    return count;
}

static void *one_of_each(void *arg)
{
    void **p = arg;
    for (int k = 0; k < SIZES; k++) {
        p[k] = malloc(sizes[k]);
        cr_assert_not_null(p[k]);
    }
    return NULL;
}

Test(nursery, a_fresh_threads_first_blocks_of_five_classes_share_an_os_page_or_two)
{
    void *p[SIZES];
    in_thread(one_of_each, p);
    size_t pages = pages_touched(p, sizes, SIZES);
    for (int k = 0; k < SIZES; k++)
        free(p[k]);
    cr_assert_leq(pages, 2, "the first blocks of %d classes lie on %zu OS pages", SIZES, pages);
}

Test(nursery, a_thread_holding_a_few_blocks_of_five_classes_touches_little_more_than_their_bytes)
{
    held_t h;
    in_thread(allocate_held, &h);
    size_t size_of[SIZES * EACH], bytes = 0;
    for (int n = 0; n < SIZES * EACH; n++) {
        size_of[n] = sizes[n / EACH];
        bytes += size_of[n];
        cr_assert(in_nursery(h.p[n]), "block %d (%zu bytes) at %p is not in the nursery", n,
                  size_of[n], h.p[n]);
    }
    size_t pages = pages_touched(h.p, size_of, SIZES * EACH);
    size_t bound = (bytes + os_page() - 1) / os_page() + 1;
    free_held(&h);
    cr_assert_leq(pages, bound, "%zu bytes of blocks lie on %zu OS pages", bytes, pages);
}

static void *check_then_keep(void *arg)
{
    allocate_held(arg);
    held_t *h = arg;
    free(h->p[3]);
    free(h->p[EACH + 5]);
    lg_heap_check();
    h->p[3] = malloc(sizes[0]);
    h->p[EACH + 5] = malloc(sizes[1]);
    memset(h->p[3], 1, sizes[0]);
    memset(h->p[EACH + 5], 2, sizes[1]);
    lg_heap_check();
    return NULL;
}

Test(nursery, blocks_freed_by_another_thread_come_back_to_their_mini_page)
{
    held_t h;
    in_thread(check_then_keep, &h);   /* the thread exits: its segment is abandoned */
    free_held(&h);                    /* freed by the thread that adopts or services it */
    lg_heap_check();
}

typedef struct {
    pthread_barrier_t allocated, freed;
    held_t h;
} handoff_t;

static void *allocate_wait_reuse(void *arg)
{
    handoff_t *s = arg;
    allocate_held(&s->h);
    pthread_barrier_wait(&s->allocated);
    pthread_barrier_wait(&s->freed);   /* the main thread freed them all */
    allocate_held(&s->h);
    lg_heap_check();
    free_held(&s->h);
    lg_heap_check();
    return NULL;
}

Test(nursery, blocks_freed_by_another_thread_while_the_owner_lives_are_reused)
{
    handoff_t s;
    pthread_t t;
    pthread_barrier_init(&s.allocated, NULL, 2);
    pthread_barrier_init(&s.freed, NULL, 2);
    cr_assert_eq(pthread_create(&t, NULL, allocate_wait_reuse, &s), 0);
    pthread_barrier_wait(&s.allocated);
    int outside = 0;
    for (int n = 0; n < SIZES * EACH; n++)
        outside += !in_nursery(s.h.p[n]);
    free_held(&s.h);
    pthread_barrier_wait(&s.freed);
    cr_assert_eq(pthread_join(t, NULL), 0);
    lg_heap_check();
    cr_assert_eq(outside, 0, "%d of the blocks were not in the nursery", outside);
}

static void *realloc_in_nursery(void *arg)
{
    (void)arg;
    char *p = malloc(40);
    cr_assert(in_nursery(p));
    cr_assert_geq(malloc_usable_size(p), 40);
    cr_assert_lt(malloc_usable_size(p), 64);
    memset(p, 7, 40);
    cr_assert_eq(realloc(p, 36), p, "a block that still fits stays");
    char *q = realloc(p, 300);
    cr_assert_not_null(q);
    for (int i = 0; i < 40; i++)
        cr_assert_eq(q[i], 7);
    cr_assert_geq(malloc_usable_size(q), 300);
    char *r = realloc(q, 30);
    cr_assert_not_null(r);
    for (int i = 0; i < 30; i++)
        cr_assert_eq(r[i], 7);
    free(r);
    void *a = memalign(64, 64);
    cr_assert(is_aligned(a, 64), "%p", a);
    free(a);
    lg_heap_check();
    return NULL;
}

Test(nursery, nursery_blocks_have_their_usable_size_and_reallocate)
{
    in_thread(realloc_in_nursery, NULL);
}

static void *free_and_allocate_many(void *arg)
{
    void **last = arg;
    for (int i = 0; i < 1000; i++)
        free(malloc(40));
    *last = malloc(40);
    lg_heap_check();
    return NULL;
}

Test(nursery, a_class_that_proves_hot_leaves_the_nursery)
{
    void *last;
    in_thread(free_and_allocate_many, &last);
    cr_assert(!in_nursery(last), "%p: a class freed and allocated a thousand times is still "
              "served from the nursery, whose frees take the slow path", last);
    free(last);
}

static void *double_free_in_thread(void *arg)
{
    (void)arg;
    void *p = malloc(40);
    void *keep = malloc(40);   /* the mini-page stays in use */
    cr_assert(in_nursery(p));
    free(p);
    free(p);
    free(keep);
    return NULL;
}

static void double_free_of_a_nursery_block(void)
{
    in_thread(double_free_in_thread, NULL);
}

Test(nursery, a_double_free_of_a_nursery_block_stops_the_program)
{
    skip_under_qemu(QEMU_FORK_THREAD); /* the child frees on a thread of its own */
    fatal_t f = run_fatal(double_free_of_a_nursery_block);
    assert_stopped(f, "double free");
}

static void *allocate_then_wait(void *arg)
{
    handoff_t *s = arg;
    allocate_held(&s->h);
    pthread_barrier_wait(&s->allocated);
    pthread_barrier_wait(&s->freed);
    return NULL;
}

static void *mine_after_fork(void *arg)
{
    held_t *h = arg;
    allocate_held(h);
    free_held(h);
    return NULL;
}

Test(nursery, after_fork_the_child_frees_nursery_blocks_of_threads_it_lacks)
{
    handoff_t s;
    pthread_t t;
    pthread_barrier_init(&s.allocated, NULL, 2);
    pthread_barrier_init(&s.freed, NULL, 2);
    cr_assert_eq(pthread_create(&t, NULL, allocate_then_wait, &s), 0);
    pthread_barrier_wait(&s.allocated);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        free_held(&s.h);   /* the owner is not in the child: its pages are orphaned */
        held_t mine;
        mine_after_fork(&mine);   /* (on this thread: qemu-user cannot start one here) */
        lg_heap_check();
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child ended with status %#x", status);
    pthread_barrier_wait(&s.freed);
    cr_assert_eq(pthread_join(t, NULL), 0);
    free_held(&s.h);
    lg_heap_check();
}
