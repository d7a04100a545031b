/* The window of segments (lib/os.c): small blocks of every thread come
 * from one range of up to 128 GiB between 1/128 and 1/2 of the top of the
 * address space (the main stack's, and no higher than the map of units
 * reaches: between 1 TiB and 64 TiB on x86-64; on 32 bits, 256 MiB
 * between 1 and 3 GiB), and segments given back are reused there rather
 * than the window being used up.  (The variant built without a window
 * runs the other core tests: tests/meson.build.) */
#include <pthread.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/mman.h>

#include "fatal.h"

#if UINTPTR_MAX > 0xffffffffu
#ifndef LG_ADDRESS_BITS
#define LG_ADDRESS_BITS 48
#endif
static uintptr_t top(void)
{
    unsigned bits = 64 - (unsigned)__builtin_clzll((uintptr_t)getauxval(AT_EXECFN));
    return (uintptr_t)1 << (bits < LG_ADDRESS_BITS ? bits : LG_ADDRESS_BITS);
}
#define LOW    (top() >> 7)
#define HIGH   (top() >> 1)
#define WINDOW ((uintptr_t)128 << 30)
#else
#define WINDOW ((uintptr_t)256 << 20)
#define LOW    ((uintptr_t)1 << 30)
#define HIGH   ((uintptr_t)3 << 30)
#endif

static void *thread_block(void *arg)
{
    return malloc((size_t)(uintptr_t)arg);
}

Test(window, small_blocks_of_every_thread_share_one_window)
{
    static const size_t sizes[] = {16, 100, 1000, 9000, 100000, 400000};
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    void *blocks[2 * sizeof sizes / sizeof sizes[0]];
    size_t n = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        pthread_t t;
        blocks[n++] = malloc(opaque(sizes[i]));
        cr_assert_eq(pthread_create(&t, NULL, thread_block, (void *)(uintptr_t)sizes[i]), 0);
        cr_assert_eq(pthread_join(t, &blocks[n++]), 0);
    }
    for (size_t i = 0; i < n; i++) {
        uintptr_t p = (uintptr_t)blocks[i];
        assert_ours(blocks[i]);
        cr_assert(p >= LOW && p < HIGH, "block %p is outside %#lx..%#lx", blocks[i],
                  (unsigned long)LOW, (unsigned long)HIGH);
        lo = p < lo ? p : lo;
        hi = p > hi ? p : hi;
    }
    cr_assert_lt(hi - lo, WINDOW, "blocks span %#lx bytes", (unsigned long)(hi - lo));
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
}

/* 48 MiB of 256 KiB blocks take a dozen segments; freed and collected,
 * they go back, and the next round finds the same units. */
Test(window, segments_given_back_are_reused)
{
    enum { ROUNDS = 12, BLOCKS = 192 };
    static void *blocks[BLOCKS];
    uintptr_t first_hi = 0;
    for (int round = 0; round < ROUNDS; round++) {
        uintptr_t hi = 0;
        for (int i = 0; i < BLOCKS; i++) {
            blocks[i] = malloc(opaque(256 << 10));
            cr_assert_not_null(blocks[i]);
            hi = (uintptr_t)blocks[i] > hi ? (uintptr_t)blocks[i] : hi;
        }
        for (int i = 0; i < BLOCKS; i++)
            free(blocks[i]);
        lg_collect();
        if (round == 0)
            first_hi = hi;
        else
            cr_assert_leq(hi, first_hi, "round %d reached %#lx, the first only %#lx", round,
                          (unsigned long)hi, (unsigned long)first_hi);
    }
}

/* A mapping of someone else's inside the window (the kernel never puts one
 * there by itself, but a program may ask) is not taken for ours: free()
 * hands it to the C library.  Here it is dressed as one of glibc's mmapped
 * chunks (size word with IS_MMAPPED before the pointer), which glibc's
 * free unmaps. */
static void free_foreign_chunk_in_window(void)
{
    void *block = malloc(64);
    uintptr_t inside = ((uintptr_t)block & ~(((uintptr_t)1 << 22) - 1)) + WINDOW / 2;
    uint8_t *other = mmap((void *)inside, 8192, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (other == MAP_FAILED)
        _exit(3);
    if (lg_owns(other + 2 * sizeof(size_t)))
        _exit(4);
    ((size_t *)other)[1] = 8192 | 2;
    free(other + 2 * sizeof(size_t));
    unsigned char resident;
    _exit(mincore(other, 4096, &resident) == 0 ? 5 : 0); /* glibc unmapped it */
}

#ifdef LG_HAVE_LIBC_ALLOCATOR
Test(window, memory_of_others_in_the_window_goes_to_the_c_library)
{
    fatal_t f = run_fatal(free_foreign_chunk_in_window);
    cr_assert_eq(f.signal, 0, "the child died of signal %d: %s", f.signal, f.message);
    cr_assert_eq(f.exit_code, 0, "exit %d: 3 the place was taken, 4 owned, 5 not unmapped", f.exit_code);
}
#else
/* A C library with no allocator besides lgmalloc (musl): nobody allocated
 * it, so freeing it is misuse, stopped (docs/linking.md). */
Test(window, memory_of_others_in_the_window_is_an_invalid_pointer)
{
    fatal_t f = run_fatal(free_foreign_chunk_in_window);
    cr_assert_eq(f.signal, SIGABRT, "the child ended with signal %d, exit %d (3 the place was "
                 "taken, 4 owned): %s", f.signal, f.exit_code, f.message);
    cr_assert_not_null(strstr(f.message, "free(): invalid pointer"), "%s", f.message);
}
#endif
