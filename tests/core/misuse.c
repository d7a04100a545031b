/* Misuse that every build catches on free (lib/fast.h): double frees, from
 * the owning thread and from another, and pointers that are not the start
 * of a block; and on malloc, a free list led out of its page by a write
 * after free (lib/harden.h): each ends the program with a message naming
 * the fault and the address.  Each case runs in a forked child (fatal.h). */
#include <pthread.h>
#include <stdlib.h>

#include "../../lib/types.h"
#include "fatal.h"

static void *volatile sink;

static void double_free_small(void)
{
    char *p = malloc(opaque(40));
    free(p);
    free(p);
}

static void double_free_after_others(void)
{
    char *p = malloc(opaque(100)), *q = malloc(opaque(100));
    free(p);
    free(q);      /* p is no longer the head of the free list */
    sink = malloc(opaque(5000));
    free(p);
}

static void *free_it(void *p)
{
    free(p);
    return NULL;
}

static void double_free_other_thread(void)
{
    char *p = malloc(opaque(64));
    free(p);
    pthread_t t;
    pthread_create(&t, NULL, free_it, p);
    pthread_join(t, NULL);
}

static void interior(void)
{
    char *p = malloc(opaque(200));
    free(p + 48);
}

static void interior_unaligned(void)
{
    char *p = malloc(opaque(24));
    free(p + 3);
}

/* The middle of the last slice of a small block's segment, which a child
 * that has allocated little leaves free.  (1 MiB past the block, as
 * before, was the start of a block never handed out when the runner had
 * allocated less than Criterion's: tests/criterion-lite.) */
static void in_no_block(void)
{
    char *q = malloc(opaque(16));
    uintptr_t segment = (uintptr_t)q & ~(uintptr_t)LG_SEGMENT_MASK;
    free((char *)(segment + LG_SEGMENT_SIZE - LG_SLICE_SIZE / 2));
}

static void realloc_freed(void)
{
    char *p = malloc(opaque(32));
    free(p);
    sink = realloc(p, opaque(40));
}

static void realloc_interior(void)
{
    char *p = malloc(opaque(512));
    sink = realloc(p + 16, opaque(600));
}

/* A write after free puts an address outside lgmalloc's memory in the
 * freed block's link: the malloc that would hand that address out stops. */
static long not_heap[64];

static void write_after_free_link(void)
{
    void **p = malloc(opaque(48));
    free(p);
    *p = &not_heap[8];
    sink = malloc(opaque(48)); /* p again */
    sink = malloc(opaque(48)); /* the address written */
}

static void huge_interior(void)
{
    char *p = malloc(opaque(8 << 20));
    free(p + 4096);
}

Test(misuse, double_free)
{
    assert_stopped(run_fatal(double_free_small), "double free");
}

Test(misuse, double_free_not_at_list_head)
{
    assert_stopped(run_fatal(double_free_after_others), "double free");
}

Test(misuse, double_free_from_another_thread)
{
    skip_under_qemu(QEMU_FORK_THREAD); /* the child frees on a thread */
    assert_stopped(run_fatal(double_free_other_thread), "double free");
}

Test(misuse, free_inside_a_block)
{
    fatal_t f = run_fatal(interior);
    assert_stopped(f, "invalid pointer");
    cr_assert(strstr(f.message, "48 bytes into a block"), "%s", f.message);
}

Test(misuse, free_unaligned_inside_a_block)
{
    assert_stopped(run_fatal(interior_unaligned), "3 bytes into a block");
}

Test(misuse, free_of_memory_in_no_block)
{
    fatal_t f = run_fatal(in_no_block);
    assert_stopped(f, "invalid pointer");
}

Test(misuse, realloc_of_a_freed_block)
{
    assert_stopped(run_fatal(realloc_freed), "free already");
}

Test(misuse, realloc_inside_a_block)
{
    assert_stopped(run_fatal(realloc_interior), "16 bytes into a block");
}

Test(misuse, write_after_free_cannot_steer_malloc)
{
    assert_stopped(run_fatal(write_after_free_link), "write after free");
}

Test(misuse, free_inside_a_huge_block)
{
    assert_stopped(run_fatal(huge_interior), "not its start");
}

/* The checks must not stop correct programs: blocks written right up to
 * their usable size, all sizes, freed in every order. */
Test(misuse, no_false_alarm)
{
    enum { N = 4096 };
    static char *b[N];
    for (int round = 0; round < 4; round++) {
        for (size_t i = 0; i < N; i++) {
            b[i] = malloc(opaque(1 + i * 13 % 3000));
            memset(b[i], 0xa5, lg_malloc_usable_size(b[i]));
        }
        for (size_t i = 0; i < N; i++)
            free(b[(i * 7 + (size_t)round) % N]);
    }
}
