/* instructions: the loops that bench/run counts with callgrind
 * (--toggle-collect='loop_*'), each beside the same loop without the
 * allocator's calls, to be subtracted:
 *
 *   loop_one    malloc(32) + free, one size: every free empties the block
 *   loop_mixed  free + malloc of eight rotating sizes over 64 live blocks
 *   loop_const  malloc(136) with a literal size (a predictable call site)
 *   loop_var    malloc(size) of the same 136 bytes, size unknown to the compiler
 *
 * Each loop is first run outside the counted functions, so heaps and pages
 * are warm.  Build with -fno-builtin so no call is elided. */
#include <stdio.h>
#include <stdlib.h>

#define N 200000
#define LIVE 64

static const size_t mixed[8] = {16, 40, 64, 100, 128, 200, 320, 640};
static void *live[LIVE];
static volatile size_t var_size = 136;

/* Hides a value from the compiler, for the empty loops. */
#define OPAQUE(x) __asm__ volatile("" : "+r"(x) : : "memory")

#define BODY_ONE(n, mal, fre)                                                 \
    for (long i = 0; i < (n); i++) {                                          \
        void *p = mal(32);                                                    \
        OPAQUE(p);                                                            \
        fre(p);                                                               \
    }

#define BODY_MIXED(n, mal, fre)                                               \
    for (long i = 0; i < (n); i++) {                                          \
        void **slot = &live[i & (LIVE - 1)];                                  \
        fre(*slot);                                                           \
        *slot = mal(mixed[i & 7]);                                            \
    }

#define BODY_FILL(mal, size)                                                  \
    for (int i = 0; i < LIVE; i++)                                            \
        live[i] = mal(size);

static inline void *no_malloc(size_t size)
{
    void *p = (void *)size;
    OPAQUE(p);
    return p;
}

static inline void no_free(void *p)
{
    OPAQUE(p);
}

#define LOOP(name) __attribute__((noinline)) void name(void)

LOOP(loop_one) { BODY_ONE(N, malloc, free) }
LOOP(loop_one_empty) { BODY_ONE(N, no_malloc, no_free) }
LOOP(loop_mixed) { BODY_MIXED(N, malloc, free) }
LOOP(loop_mixed_empty) { BODY_MIXED(N, no_malloc, no_free) }
LOOP(loop_const) { BODY_FILL(malloc, 136) }
LOOP(loop_var) { BODY_FILL(malloc, var_size) }
LOOP(loop_fill_empty) { BODY_FILL(no_malloc, var_size) }

static void free_live(void)
{
    for (int i = 0; i < LIVE; i++) {
        free(live[i]);
        live[i] = NULL;
    }
}

int main(void)
{
    BODY_ONE(N, malloc, free)
    loop_one();
    loop_one_empty();

    BODY_MIXED(N, malloc, free)
    loop_mixed();
    free_live();
    loop_mixed_empty();

    /* Fill and free LIVE blocks of 136 bytes many times: each round's
     * mallocs find the blocks the last round freed. */
    BODY_FILL(malloc, 136)
    free_live();
    for (int r = 0; r < N / LIVE; r++) {
        loop_const();
        free_live();
        loop_var();
        free_live();
        loop_fill_empty();
    }
    printf("instructions: pairs=%d fills=%d\n", N, N / LIVE * LIVE);
    return 0;
}
