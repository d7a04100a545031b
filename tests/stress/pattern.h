/* The pattern the stress programs write into every block: derived from the
 * block's address and size, so a block that lands on top of another, or is
 * handed out twice, or keeps bytes of a previous life, shows up as a
 * mismatch.  Written and checked 8 bytes at a time where it can be. */
#ifndef LG_STRESS_PATTERN_H
#define LG_STRESS_PATTERN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t pattern_next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The word at byte offset i (a multiple of 8) of a block that was written
 * at `origin` with `size` bytes. */
static inline uint64_t pattern_word(uintptr_t origin, size_t size, size_t i)
{
    uint64_t x = ((uint64_t)origin ^ ((uint64_t)size << 40)) * 0x9e3779b97f4a7c15ull;
    return (x ^ (x >> 29)) + (uint64_t)i * 0x0101010101010101ull;
}

static inline void pattern_fill(void *p, size_t size)
{
    unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        uint64_t w = pattern_word((uintptr_t)p, size, i);
        memcpy(b + i, &w, 8);
    }
    if (i < size) {
        uint64_t w = pattern_word((uintptr_t)p, size, i);
        memcpy(b + i, &w, size - i);
    }
}

/* Checks the first `n` bytes at p against the pattern a block of `size`
 * bytes got when it was written at `origin` (realloc moves blocks: the
 * prefix keeps the pattern of where it was written).  Returns the offset
 * of the first wrong byte, or n when all are right. */
static inline size_t pattern_check_as(const void *p, size_t n, uintptr_t origin, size_t size)
{
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = pattern_word(origin, size, i), got;
        memcpy(&got, b + i, 8);
        if (got != w)
            break;
    }
    for (; i < n; i++) { /* the tail, or the word that differed: which byte */
        uint64_t w = pattern_word(origin, size, i & ~(size_t)7);
        if (b[i] != ((const unsigned char *)&w)[i & 7])
            return i;
    }
    return n;
}

static inline size_t pattern_check(const void *p, size_t size)
{
    return pattern_check_as(p, size, (uintptr_t)p, size);
}

#endif
