/* libFuzzer harness: the input is a program of allocator calls over a
 * table of 64 live blocks.  Every block is filled, to its whole usable
 * size, with a pattern derived from its address and size
 * (tests/stress/pattern.h), and checked before it is reallocated or freed;
 * realloc must keep the prefix; every result is checked for alignment,
 * usable size and ownership.  Any mismatch aborts, which libFuzzer reports
 * with the input that did it.
 *
 * It calls the lg_ functions directly and is linked with the core alone
 * (the files of lib/, none of wrap/), so libFuzzer's own malloc stays the C library's.
 * No pointer here is foreign: one that reaches the core's seam with the
 * shim is a bug, and the core's own answer there (lib/foreign.c) aborts.
 * Built and run by run.sh.
 *
 * Each operation takes 4 bytes:
 *   op      0 malloc, 1 calloc, 2 realloc, 3 aligned_alloc, 4 posix_memalign,
 *           5 free, 6 usable-size check, 7 memalign, 8 reallocarray,
 *           9 lg_collect (other values: malloc)
 *   slot    the low 6 bits pick the slot; the top 2 bits, when 3, make
 *           the alignment invalid (times 3)
 *   size    2 bytes, little-endian; the top 2 bits scale the low 14:
 *           0: up to 1 KiB, 1: up to 16 KiB, 2: x16 (256 KiB), 3: x64 (1 MiB)
 * The alignment of the aligned calls is 2^(size byte 0 % 23). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lgmalloc.h"
#include "../stress/pattern.h"

#define SLOTS 64

typedef struct {
    unsigned char *p;
    size_t size;    /* asked for */
    size_t usable;  /* filled with the pattern */
} slot_t;

static slot_t slots[SLOTS];

#define FAIL(...)                         \
    do {                                  \
        fprintf(stderr, "fuzz: " __VA_ARGS__); \
        fputc('\n', stderr);              \
        abort();                          \
    } while (0)

/* The words past the size asked for that the fill writes: one per 4 KiB
 * and the last whole one; calls f on each offset until it returns false. */
#define TAIL_STEP 4096
static size_t tail_first(const slot_t *s) { return (s->size + TAIL_STEP - 1) & ~(size_t)(TAIL_STEP - 1); }

static void fill_slot(const slot_t *s)
{
    pattern_fill(s->p, s->size);
    for (size_t at = tail_first(s); at + 8 <= s->usable; at += TAIL_STEP) {
        uint64_t w = pattern_word((uintptr_t)s->p, s->usable, at);
        memcpy(s->p + at, &w, 8);
    }
    if (s->usable >= s->size + 8) {
        uint64_t w = pattern_word((uintptr_t)s->p, s->usable, s->usable - 8);
        memcpy(s->p + s->usable - 8, &w, 8);
    }
}

/* Offset of the first wrong byte or word, or usable when all are right. */
static size_t check_tail(const slot_t *s)
{
    uint64_t got;
    for (size_t at = tail_first(s); at + 8 <= s->usable; at += TAIL_STEP) {
        memcpy(&got, s->p + at, 8);
        if (got != pattern_word((uintptr_t)s->p, s->usable, at))
            return at;
    }
    if (s->usable >= s->size + 8) {
        memcpy(&got, s->p + s->usable - 8, 8);
        if (got != pattern_word((uintptr_t)s->p, s->usable, s->usable - 8))
            return s->usable - 8;
    }
    return s->usable;
}

static void check_slot(const slot_t *s, const char *when)
{
    size_t at = pattern_check(s->p, s->size);
    if (at == s->size)
        at = check_tail(s);
    if (at != s->usable)
        FAIL("block %p (%zu bytes, %zu usable) wrong at byte %zu %s", (void *)s->p, s->size,
             s->usable, at, when);
}

/* A new block: checked, filled to its usable size, put in the slot. */
static void take(slot_t *s, void *p, size_t size, size_t align, const char *what)
{
    if (!p)
        FAIL("%s(%zu, align %zu) gave NULL (errno %d)", what, size, align, errno);
    if ((uintptr_t)p % 16 || (uintptr_t)p % align)
        FAIL("%s(%zu, align %zu) gave %p", what, size, align, p);
    if (!lg_owns(p) || (size && !lg_owns((char *)p + size - 1)))
        FAIL("%s(%zu) gave %p that lgmalloc does not own", what, size, p);
    size_t usable = lg_malloc_usable_size(p);
    if (usable < size)
        FAIL("%s(%zu) gave %p with usable size %zu", what, size, p, usable);
    for (size_t i = 0; i < SLOTS; i++)
        if (slots[i].p == p && &slots[i] != s)
            FAIL("%s(%zu) gave %p, which slot %zu holds", what, size, p, i);
    s->p = p;
    s->size = size;
    s->usable = usable;
    fill_slot(s);
}

static void release(slot_t *s)
{
    if (!s->p)
        return;
    check_slot(s, "before free");
    lg_free(s->p);
    s->p = NULL;
}

static void realloc_slot(slot_t *s, size_t size, int array)
{
    slot_t old = *s;
    if (old.p)
        check_slot(&old, "before realloc");
    void *q = array ? lg_reallocarray(old.p, size ? 2 : 0, size / 2 + (size & 1))
                    : lg_realloc(old.p, size);
    size_t asked = array ? (size ? 2 * (size / 2 + (size & 1)) : 0) : size;
    if (asked == 0 && old.p) { /* frees and gives NULL, as glibc */
        if (q)
            FAIL("realloc(%p, 0) gave %p", (void *)old.p, q);
        s->p = NULL;
        return;
    }
    if (!q)
        FAIL("realloc(%p, %zu) gave NULL", (void *)old.p, asked);
    if (old.p) {
        size_t keep = old.size < asked ? old.size : asked;
        size_t at = pattern_check_as(q, keep, (uintptr_t)old.p, old.size);
        if (at != keep)
            FAIL("realloc(%p of %zu, %zu) = %p lost byte %zu", (void *)old.p, old.size, asked, q, at);
    }
    s->p = NULL;
    take(s, q, asked, 16, "realloc");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i + 4 <= len; i += 4) {
        unsigned op = data[i], sel = data[i + 1];
        unsigned raw = data[i + 2] | (unsigned)data[i + 3] << 8;
        size_t size = raw & 0x3fff;
        switch (raw >> 14) {
        case 0: size &= 0x3ff; break;
        case 1: break;
        case 2: size <<= 4; break;
        default: size <<= 6; break;
        }
        size_t align = (size_t)1 << (data[i + 2] % 23);
        int bad_align = (sel >> 6) == 3 && align > 1;
        if (bad_align)
            align *= 3;
        slot_t *s = &slots[sel % SLOTS];
        switch (op) {
        case 1: {
            release(s);
            unsigned char *z = (sel & 1) ? lg_calloc(size, 1) : lg_calloc(1, size);
            for (size_t j = 0; z && j < size; j += 8) {
                uint64_t w = 0;
                memcpy(&w, z + j, size - j < 8 ? size - j : 8);
                if (w)
                    FAIL("calloc(%zu) = %p: not zero at byte %zu", size, (void *)z, j);
            }
            take(s, z, size, 16, "calloc");
            break;
        }
        case 2:
            realloc_slot(s, size, 0);
            break;
        case 8:
            realloc_slot(s, size, 1);
            break;
        case 3: {
            release(s);
            errno = 0;
            void *p = lg_aligned_alloc(align, size);
            if (bad_align) {
                if (p || errno != EINVAL)
                    FAIL("aligned_alloc(%zu, %zu) gave %p, errno %d", align, size, p, errno);
                break;
            }
            take(s, p, size, align, "aligned_alloc");
            break;
        }
        case 4: {
            release(s);
            void *p = NULL;
            int rc = lg_posix_memalign(&p, align, size);
            if (bad_align || align < sizeof(void *)) {
                if (rc != EINVAL || p)
                    FAIL("posix_memalign(%zu, %zu) returned %d, %p", align, size, rc, p);
                break;
            }
            if (rc != 0)
                FAIL("posix_memalign(%zu, %zu) returned %d", align, size, rc);
            take(s, p, size, align, "posix_memalign");
            break;
        }
        case 7: {
            release(s);
            size_t want = align;
            while (want & (want - 1)) /* memalign rounds up to a power of two */
                want += want & -want;
            take(s, lg_memalign(align, size), size, want, "memalign");
            break;
        }
        case 5:
            release(s);
            break;
        case 6:
            if (s->p) {
                check_slot(s, "at a usable-size check");
                if (lg_malloc_usable_size(s->p) != s->usable)
                    FAIL("usable size of %p changed from %zu to %zu", (void *)s->p, s->usable,
                         lg_malloc_usable_size(s->p));
            }
            break;
        case 9:
            lg_collect();
            break;
        default:
            release(s);
            take(s, lg_malloc(size), size, 16, "malloc");
            break;
        }
    }
    for (size_t i = 0; i < SLOTS; i++)
        release(&slots[i]);
    return 0;
}
