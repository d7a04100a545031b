/* lg_heap_check: the invariants hold after every kind of work the heap
 * does (churn in one thread, frees from other threads, threads that exit
 * leaving blocks, fork, huge blocks), and a planted corruption of a free
 * list, a trigger counter or a segment's count is found: the check aborts
 * with a message naming the invariant.  Each corruption is planted in a
 * forked child (fatal.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "fatal.h"
#include "../../lib/types.h"

TestSuite(heap_check, .timeout = 60);

static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A size from every range: small classes, large classes, huge blocks. */
static size_t random_size(uint64_t *s)
{
    uint64_t r = next_random(s);
    switch (r % 8) {
    case 0:  return (size_t)(r >> 8) % (4 * MiB) + 600 * 1024;
    case 1:
    case 2:  return (size_t)(r >> 8) % (256 * 1024) + 1;
    default: return (size_t)(r >> 8) % 1024 + 1;
    }
}

#define SLOTS 2000

/* Mallocs, reallocs and frees at random over SLOTS blocks, checking the
 * heap now and then. */
static void churn(void **slot, int rounds, uint64_t seed)
{
    for (int i = 0; i < rounds; i++) {
        size_t k = next_random(&seed) % SLOTS;
        if (slot[k] && next_random(&seed) % 4 == 0) {
            void *q = realloc(slot[k], random_size(&seed));
            cr_assert_not_null(q);
            slot[k] = q;
        } else if (slot[k]) {
            free(slot[k]);
            slot[k] = NULL;
        } else {
            slot[k] = malloc(random_size(&seed));
            cr_assert_not_null(slot[k]);
        }
        if (i % 5000 == 0)
            cr_assert_eq(lg_heap_check(), 0);
    }
}

static void free_all(void **slot, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(slot[i]);
        slot[i] = NULL;
    }
}

Test(heap_check, holds_with_no_heap_yet_and_after_the_first_malloc)
{
    cr_assert_eq(lg_heap_check(), 0);
    free(malloc(opaque(24)));
    cr_assert_eq(lg_heap_check(), 0);
}

Test(heap_check, holds_through_churn_in_one_thread)
{
    static void *slot[SLOTS];
    churn(slot, 60000, 0x9e3779b97f4a7c15u);
    cr_assert_eq(lg_heap_check(), 0);
    free_all(slot, SLOTS);
    cr_assert_eq(lg_heap_check(), 0);
    lg_thread_collect();
    cr_assert_eq(lg_heap_check(), 0);
    lg_collect();
    cr_assert_eq(lg_heap_check(), 0);
}

/* ---- other threads ------------------------------------------------------ */

#define THREADS 4
#define BLOCKS  4000

static void *blocks[THREADS][BLOCKS];
static pthread_barrier_t barrier;

/* Allocates its share, then frees the next thread's: every block is freed
 * by a thread that does not own it.  (A broken invariant aborts the test:
 * no Criterion assertion in a thread.) */
static void *allocate_then_free_anothers(void *arg)
{
    size_t me = (size_t)arg;
    uint64_t seed = me * 7919 + 1;
    for (int i = 0; i < BLOCKS; i++)
        blocks[me][i] = malloc((size_t)(next_random(&seed) % 3000) + 1);
    lg_heap_check();
    pthread_barrier_wait(&barrier);
    free_all(blocks[(me + 1) % THREADS], BLOCKS);
    pthread_barrier_wait(&barrier);
    /* the frees into this thread's pages are collected here */
    void *mine[BLOCKS];
    for (int i = 0; i < BLOCKS; i++)
        mine[i] = malloc((size_t)(next_random(&seed) % 3000) + 1);
    lg_heap_check();
    free_all(mine, BLOCKS);
    lg_heap_check();
    return NULL;
}

Test(heap_check, holds_after_frees_from_other_threads)
{
    pthread_t t[THREADS];
    pthread_barrier_init(&barrier, NULL, THREADS);
    for (size_t i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, allocate_then_free_anothers, (void *)i), 0);
    for (size_t i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&barrier);
    cr_assert_eq(lg_heap_check(), 0);
}

/* Leaves its blocks behind: its segments are abandoned at its exit. */
static void *allocate_and_exit(void *arg)
{
    size_t me = (size_t)arg;
    uint64_t seed = me * 104729 + 3;
    for (int i = 0; i < BLOCKS; i++)
        blocks[me][i] = malloc((size_t)(next_random(&seed) % 20000) + 1);
    return NULL;
}

Test(heap_check, holds_after_threads_exit_and_their_segments_are_adopted)
{
    pthread_t t[THREADS];
    for (size_t i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, allocate_and_exit, (void *)i), 0);
    for (size_t i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(lg_heap_check(), 0);
    /* frees into abandoned segments, some of them emptied */
    for (size_t i = 0; i < THREADS; i++)
        for (size_t j = 0; j < BLOCKS; j += 1 + i)
            free(blocks[i][j]), blocks[i][j] = NULL;
    cr_assert_eq(lg_heap_check(), 0);
    /* new pages: the abandoned segments are adopted first */
    static void *slot[SLOTS];
    churn(slot, 20000, 42);
    cr_assert_eq(lg_heap_check(), 0);
    lg_collect();   /* adopts all that is left */
    cr_assert_eq(lg_heap_check(), 0);
    free_all(slot, SLOTS);
    for (size_t i = 0; i < THREADS; i++)
        free_all(blocks[i], BLOCKS);
    cr_assert_eq(lg_heap_check(), 0);
}

/* ---- fork --------------------------------------------------------------- */

static void *busy_until_cancelled(void *arg)
{
    (void)arg;
    uint64_t seed = 5;
    void *slot[64] = { 0 };
    for (;;) {
        size_t k = next_random(&seed) % 64;
        free(slot[k]);
        slot[k] = malloc(random_size(&seed) % 70000 + 1);
        pthread_testcancel();
    }
    return NULL;
}

Test(heap_check, holds_in_a_child_after_fork)
{
    static void *slot[SLOTS];
    churn(slot, 10000, 99);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, busy_until_cancelled, NULL), 0);
    for (int round = 0; round < 8; round++) {
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
            alarm(20);
            lg_heap_check();
            free_all(slot, SLOTS);
            churn(slot, 2000, 7);
            lg_heap_check();
            _exit(0);
        }
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the child ended with status %#x", status);
    }
    pthread_cancel(t);
    pthread_join(t, NULL);
    cr_assert_eq(lg_heap_check(), 0);
}

/* ---- huge blocks ---------------------------------------------------------- */

Test(heap_check, holds_with_huge_blocks_live_cached_and_resized)
{
    void *p[12];
    for (int i = 0; i < 12; i++) {
        p[i] = malloc((size_t)(i + 1) * 700 * 1024);
        cr_assert_not_null(p[i]);
        memset(p[i], i, (size_t)(i + 1) * 700 * 1024);
    }
    cr_assert_eq(lg_heap_check(), 0);
    for (int i = 0; i < 12; i += 2)
        free(p[i]);   /* cached */
    cr_assert_eq(lg_heap_check(), 0);
    for (int i = 0; i < 12; i += 2)
        p[i] = malloc((size_t)(12 - i) * 300 * 1024);   /* from the cache, some with a tail */
    cr_assert_eq(lg_heap_check(), 0);
    for (int i = 1; i < 12; i += 2)
        p[i] = realloc(p[i], (size_t)(i + 1) * 1300 * 1024);
    cr_assert_eq(lg_heap_check(), 0);
    for (int i = 0; i < 12; i++)
        free(p[i]);
    cr_assert_eq(lg_heap_check(), 0);
    lg_collect();
    cr_assert_eq(lg_heap_check(), 0);
}

/* ---- planted corruption --------------------------------------------------- */

/* The segment holding p, and the descriptor of its page (types.h).  (The
 * empty asm hides where the address came from: the compiler takes what
 * malloc returns for memory nobody else sees, and would drop a store to
 * it before lg_heap_check.) */
static lg_segment_t *segment_of(void *p)
{
    uintptr_t seg = (uintptr_t)p & ~(uintptr_t)LG_SEGMENT_MASK;
    __asm__ volatile("" : "+r"(seg));
    return (lg_segment_t *)seg;
}

/* A size no nursery serves (lib/nursery.c takes blocks up to 1 KiB), so
 * that page_of finds its page whatever the start-up left in the nursery. */
#define PAGED_SIZE 2000

static lg_page_t *page_of(void *p)
{
    return segment_of(p)->slice_page[((uintptr_t)p >> LG_SLICE_SHIFT) & (LG_SLICES - 1)];
}

/* Two freed blocks of one page: b was freed after a, so b heads the
 * page's local free list and links to a. */
static void two_freed(char **a, char **b)
{
    do {
        *a = malloc(opaque(PAGED_SIZE));
        *b = malloc(opaque(PAGED_SIZE));
    } while (page_of(*a) != page_of(*b));
    free(*a);
    free(*b);
}

static void link_out_of_the_page(void)
{
    char *a, *b;
    two_freed(&a, &b);
    static char elsewhere[64];
    *(void **)b = elsewhere;    /* a write after free */
    lg_heap_check();
}

static void link_into_a_cycle(void)
{
    char *a, *b;
    two_freed(&a, &b);
    *(void **)a = b;            /* b -> a -> b */
    lg_heap_check();
}

static void link_inside_a_block(void)
{
    char *a, *b;
    two_freed(&a, &b);
    *(void **)b = a + 16;
    lg_heap_check();
}

static void trigger_off(void)
{
    char *p = malloc(opaque(PAGED_SIZE));
    page_of(p)->trigger = 0;    /* a current page's runs from LG_HEARTBEAT to 1 */
    lg_heap_check();
}

static void pages_miscounted(void)
{
    char *p = malloc(opaque(48));
    segment_of(p)->pages_used++;
    lg_heap_check();
}

Test(heap_check, finds_a_free_list_led_out_of_its_page)
{
    fatal_t f = run_fatal(link_out_of_the_page);
    assert_stopped(f, "heap check: free blocks lie in their page");
}

Test(heap_check, finds_a_free_list_that_loops)
{
    fatal_t f = run_fatal(link_into_a_cycle);
    assert_stopped(f, "heap check: a free block is on one free list, once");
}

Test(heap_check, finds_a_free_list_link_inside_a_block)
{
    fatal_t f = run_fatal(link_inside_a_block);
    assert_stopped(f, "heap check: free blocks are block starts");
}

Test(heap_check, finds_a_trigger_counter_off_its_rule)
{
    fatal_t f = run_fatal(trigger_off);
    assert_stopped(f, "heap check: a current page's trigger counts down from LG_HEARTBEAT");
}

Test(heap_check, finds_a_segment_that_miscounts_its_pages)
{
    fatal_t f = run_fatal(pages_miscounted);
    assert_stopped(f, "heap check: a segment counts its pages");
}
