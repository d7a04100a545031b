/* Random sequences of every call of the malloc family, checked against a
 * model: each live block carries a pattern that must survive everything the
 * allocator does with the other blocks. */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

TestSuite(mixed, .timeout = 60);

#define SLOTS 2048

typedef struct {
    unsigned char *p;
    size_t size;
    size_t align;
    unsigned seed;
} slot_t;

typedef struct {
    unsigned rng;
    unsigned seed;
    slot_t slot[SLOTS];
    size_t errors;
    char first_error[160];
} model_t;

static unsigned next(model_t *m)
{
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 17;
    m->rng ^= m->rng << 5;
    return m->rng;
}

static void report(model_t *m, const char *what, const slot_t *s)
{
    if (m->errors++ == 0)
        snprintf(m->first_error, sizeof m->first_error, "%s: block %p of %zu bytes (align %zu)",
                 what, (void *)s->p, s->size, s->align);
}

/* Sizes mostly small, some medium, a few huge. */
static size_t random_size(model_t *m)
{
    unsigned r = next(m) % 1000;
    if (r < 800)
        return next(m) % 512;
    if (r < 990)
        return next(m) % 65536;
    if (r < 998)
        return next(m) % (600 << 10);
    return next(m) % (6 * MiB);
}

static size_t check_len(const slot_t *s)
{
    return s->size < 256 ? s->size : 256;
}

static void set_block(model_t *m, slot_t *s, unsigned char *p, size_t size, size_t align)
{
    s->p = p;
    s->size = size;
    s->align = align;
    s->seed = m->seed++;
    fill(p, check_len(s), s->seed);
    if (size > 256)
        p[size - 1] = (unsigned char)s->seed;
}

static void verify(model_t *m, const slot_t *s)
{
    size_t n = check_len(s);
    if (check(s->p, n, s->seed) != n || (s->size > 256 && s->p[s->size - 1] != (unsigned char)s->seed))
        report(m, "contents changed", s);
    if (!is_aligned(s->p, s->align) || !lg_owns(s->p))
        report(m, "misaligned or not lgmalloc's", s);
    if (malloc_usable_size(s->p) < s->size)
        report(m, "usable size below the request", s);
}

static void step(model_t *m)
{
    slot_t *s = &m->slot[next(m) % SLOTS];
    if (s->p != NULL) {
        verify(m, s);
        if (next(m) % 4 == 0) {
            /* realloc: the kept prefix must survive */
            size_t size = random_size(m) + 1;
            unsigned char *q = realloc(s->p, size);
            if (q == NULL) {
                report(m, "realloc failed", s);
                return;
            }
            size_t keep = check_len(s) < size ? check_len(s) : size;
            if (check(q, keep, s->seed) != keep)
                report(m, "realloc lost contents", s);
            set_block(m, s, q, size, 16);
        } else {
            free(s->p);
            s->p = NULL;
        }
        return;
    }
    size_t size = random_size(m);
    size_t align = 16;
    unsigned char *p;
    switch (next(m) % 8) {
    case 0:
        p = calloc(1, size);
        if (p != NULL && size > 0 && (p[0] != 0 || p[size - 1] != 0))
            report(m, "calloc memory not zeroed", &(slot_t){ p, size, 16, 0 });
        break;
    case 1:
        align = (size_t)1 << (next(m) % 17);
        p = aligned_alloc(align, size);
        break;
    case 2:
        align = (size_t)1 << (3 + next(m) % 14);
        if (posix_memalign((void **)&p, align, size) != 0)
            p = NULL;
        break;
    default:
        p = malloc(size);
        break;
    }
    if (align < 16)
        align = 16;
    if (p == NULL) {
        report(m, "allocation failed", &(slot_t){ NULL, size, align, 0 });
        return;
    }
    set_block(m, s, p, size, align);
}

static void run(model_t *m, long steps)
{
    for (long i = 0; i < steps; i++)
        step(m);
    for (int i = 0; i < SLOTS; i++) {
        if (m->slot[i].p != NULL) {
            verify(m, &m->slot[i]);
            free(m->slot[i].p);
            m->slot[i].p = NULL;
        }
    }
}

Test(mixed, random_calls_keep_every_block_intact)
{
    static model_t m = { .rng = 2463534242u };
    run(&m, 300000);
    cr_assert_eq(m.errors, 0, "%zu errors, the first: %s", m.errors, m.first_error);
}

/* ---- the same in several threads, which also trade blocks ---------------- */

#define THREADS 4

static model_t models[THREADS];
static pthread_mutex_t trade_lock = PTHREAD_MUTEX_INITIALIZER;
static slot_t trade[64];

static void *run_thread(void *arg)
{
    model_t *m = arg;
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 10000; i++)
            step(m);
        /* Swap a few blocks with the trade table: they are freed, grown or
         * checked by other threads from now on. */
        pthread_mutex_lock(&trade_lock);
        for (int i = 0; i < 16; i++) {
            unsigned k = next(m) % 64;
            slot_t *s = &m->slot[next(m) % SLOTS];
            slot_t tmp = trade[k];
            trade[k] = *s;
            *s = tmp;
        }
        pthread_mutex_unlock(&trade_lock);
        if (round % 5 == 4)
            lg_collect();
    }
    run(m, 0);
    return NULL;
}

Test(mixed, random_calls_in_threads_that_trade_blocks_keep_them_intact)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        models[i].rng = 88172645u + (unsigned)i * 7919u;
        models[i].seed = (unsigned)i << 24;
        cr_assert_eq(pthread_create(&t[i], NULL, run_thread, &models[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(models[i].errors, 0, "thread %d: %zu errors, the first: %s", i,
                     models[i].errors, models[i].first_error);
    model_t m = { .rng = 1 };
    for (int i = 0; i < 64; i++) {
        if (trade[i].p != NULL) {
            verify(&m, &trade[i]);
            free(trade[i].p);
        }
    }
    cr_assert_eq(m.errors, 0, "a traded block: %s", m.first_error);
}
