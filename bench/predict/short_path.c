/* Instructions per malloc at a constant-size call site: the short path
 * (a call site patched to its class's entry, predict/patch.c) against the
 * ordinary path (the same binary with LGMALLOC_PREDICT_PATCH=0), and
 * against mimalloc (the same loops built with -DSHORT_PATH_PLAIN).
 *
 * Each loop_* function calls malloc from one call site of one literal
 * size: `malloc` (8 calls, the blocks then freed outside the loop, 125,000
 * times) or `pair` (malloc then free, 1,000,000 times).  callgrind counts
 * only the loops; the same loops without the calls are subtracted, so the
 * figure is the call as its caller pays for it: loading the size, the
 * call, the allocator.  A site is patched only
 * when its call's displacement lies in one aligned 8-byte word, so each
 * loop comes in 8 copies that put 0-7 nops before the call, and the run
 * picks a copy whose site qualifies (and says whether it reaches an entry).
 *
 * Build (from the repository root, with lgmalloc built in BUILD):
 *   BUILD=build
 *   W=-Wl,--wrap=malloc,--wrap=free,--wrap=calloc,--wrap=realloc,--wrap=reallocarray,--wrap=aligned_alloc,--wrap=posix_memalign,--wrap=memalign,--wrap=valloc,--wrap=pvalloc,--wrap=malloc_usable_size
 *   cc -O2 -fno-builtin -Iinclude -Ipredict bench/predict/short_path.c -o short_path $W \
 *      -Wl,--whole-archive $BUILD/predict/liblgmalloc_predict.a -Wl,--no-whole-archive \
 *      $BUILD/wrap/liblgmalloc.a -lZydis -ldwarf -lelf -lz -lpthread
 *   cc -O2 -fno-builtin -DSHORT_PATH_PLAIN bench/predict/short_path.c -o short_path_mi -lmimalloc
 * Run (MODE is malloc or pair, SIZE one of 136, 2100, 9000):
 *   CG="valgrind --tool=callgrind --toggle-collect=loop_* --callgrind-out-file=/dev/null"
 *   LGMALLOC_PREDICT_SYNC=1 $CG ./short_path MODE SIZE             # patched
 *   LGMALLOC_PREDICT_SYNC=1 LGMALLOC_PREDICT_PATCH=0 $CG ./short_path MODE SIZE
 *   $CG ./short_path_mi MODE SIZE
 *   $CG ./short_path MODE 0                                        # the empty loop
 * and read "Collected : N" from valgrind's summary: (N - N_empty) / n,
 * with n printed by the program. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SHORT_PATH_PLAIN
#include "lgmalloc_predict.h"
#endif

#define N_CALLS  1000000   /* mallocs measured */
#define BATCH    8         /* malloc loop: blocks taken, then freed outside the loop */
#define N_WARM   1000

static void *batch[BATCH];
static void *warm[N_WARM];

#define OPAQUE(p) __asm__ volatile("" : : "r"(p) : "memory")
#define PAD(pad) __asm__ volatile(".rept " #pad "\n\tnop\n\t.endr")

#define LOOPS(size, pad)                                                  \
    __attribute__((noinline)) static void loop_malloc_##size##_##pad(size_t n) \
    {                                                                     \
        for (size_t i = 0; i < n; i++) {                                  \
            PAD(pad);                                                     \
            batch[i] = malloc(size);                                      \
        }                                                                 \
    }                                                                     \
    __attribute__((noinline)) static void loop_pair_##size##_##pad(size_t n) \
    {                                                                     \
        for (size_t i = 0; i < n; i++) {                                  \
            PAD(pad);                                                     \
            void *p = malloc(size);                                       \
            OPAQUE(p);                                                    \
            free(p);                                                      \
        }                                                                 \
    }
#define LOOPS8(size) LOOPS(size, 0) LOOPS(size, 1) LOOPS(size, 2) LOOPS(size, 3) \
                     LOOPS(size, 4) LOOPS(size, 5) LOOPS(size, 6) LOOPS(size, 7)

LOOPS8(136)
LOOPS8(2100)
LOOPS8(9000)

/* The loops without the calls. */
__attribute__((noinline)) static void loop_malloc_0_0(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        void *p;
        __asm__ volatile("" : "=r"(p));
        batch[i] = p;
    }
}

__attribute__((noinline)) static void loop_pair_0_0(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        void *p;
        __asm__ volatile("" : "=r"(p));
        OPAQUE(p);
    }
}

typedef void loop_fn(size_t n);
typedef struct loop_s { const char *name; size_t size; loop_fn *malloc_loop, *pair_loop; } loop_t;

#define ROW(size, pad) { "loop_" #size "_" #pad, size, loop_malloc_##size##_##pad, loop_pair_##size##_##pad }
#define ROWS8(size) ROW(size, 0), ROW(size, 1), ROW(size, 2), ROW(size, 3), \
                    ROW(size, 4), ROW(size, 5), ROW(size, 6), ROW(size, 7)
static const loop_t loops[] = { ROW(0, 0), ROWS8(136), ROWS8(2100), ROWS8(9000) };

#ifndef SHORT_PATH_PLAIN
extern char __wrap_malloc[];

/* The call of the copy's malloc site, from the prediction table; 0 when
 * the table does not have it. */
static uintptr_t site_call(const lgp_table_t *table, const char *mode, const loop_t *loop)
{
    char name[64];
    snprintf(name, sizeof name, "loop_%s_%s", mode, loop->name + 5);
    for (size_t i = 0; table && i < table->count; i++)
        if (table->sites[i].function && strcmp(table->sites[i].function, name) == 0)
            return (uintptr_t)table->sites[i].address + table->bias - 5;
    return 0;
}

/* The first copy whose site can be patched, and what its call reaches. */
static const loop_t *pick(const char *mode, size_t size, const char **reaches)
{
    const lgp_table_t *table = lgp_self_wait();
    const loop_t *first = NULL;
    for (size_t i = 0; i < sizeof loops / sizeof loops[0]; i++) {
        if (loops[i].size != size)
            continue;
        if (!first)
            first = &loops[i];
        uintptr_t call = site_call(table, mode, &loops[i]);
        if (!call || ((call + 1) & 7) > 4)
            continue;
        int32_t rel;
        memcpy(&rel, (const void *)(call + 1), sizeof rel);
        *reaches = call + 5 + (intptr_t)rel == (uintptr_t)__wrap_malloc ? "malloc" : "a class entry";
        return &loops[i];
    }
    *reaches = "malloc (no copy qualifies)";
    return first;
}
#else
static const loop_t *pick(const char *mode, size_t size, const char **reaches)
{
    (void)mode;
    *reaches = "malloc";
    for (size_t i = 0; i < sizeof loops / sizeof loops[0]; i++)
        if (loops[i].size == size)
            return &loops[i];
    return NULL;
}
#endif

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "malloc") != 0 && strcmp(argv[1], "pair") != 0)) {
        fprintf(stderr, "usage: %s malloc|pair SIZE (136, 2100, 9000; 0: the empty loop)\n", argv[0]);
        return 2;
    }
    bool pair = strcmp(argv[1], "pair") == 0;
    size_t size = strtoul(argv[2], NULL, 10);
    const char *reaches = "nothing";
    const loop_t *loop = size ? pick(argv[1], size, &reaches) : &loops[0];
    if (!loop) {
        fprintf(stderr, "no loop for size %zu\n", size);
        return 2;
    }
    /* Warm: the heap and its pages. */
    for (size_t i = 0; i < N_WARM; i++)
        warm[i] = malloc(size ? size : 1);
    for (size_t i = 0; i < N_WARM; i++)
        free(warm[i]);
    size_t n = N_CALLS;
    if (pair) {
        loop->pair_loop(n);
    } else {
        for (size_t r = 0; r < n / BATCH; r++) {
            loop->malloc_loop(BATCH);
            for (size_t i = 0; size && i < BATCH; i++)
                free(batch[i]);
        }
    }
    printf("%s %s: n=%zu, the call reaches %s\n", argv[1], loop->name, n, reaches);
    return 0;
}
