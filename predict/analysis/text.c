/* Short strings without printf or strtok.  printf's code (vfprintf and its
 * helpers) lies in pages of libc that a program which prints nothing
 * never runs, and strtok_r calls strspn, whose SSE4.2 version shares
 * pages with string functions nothing else calls on an AVX2 machine: one
 * call of each before main made both resident (the kernel maps a file 16
 * pages around each fault), for good (see docs/decisions.md#no-printf). */
#include "internal.h"

#include <string.h>

void lgp__copy_text(char *buf, size_t size, const char *text)
{
    if (size == 0)
        return;
    size_t n = strlen(text);
    if (n >= size)
        n = size - 1;
    memcpy(buf, text, n);
    buf[n] = '\0';
}

void lgp__hex_text(char buf[LGP_HEX_TEXT], uint64_t value)
{
    char digits[16], *first = digits + sizeof digits;
    do {
        *--first = "0123456789abcdef"[value & 15];
        value >>= 4;
    } while (value);
    size_t n = (size_t)(digits + sizeof digits - first);
    buf[0] = '0';
    buf[1] = 'x';
    memcpy(buf + 2, first, n);
    buf[2 + n] = '\0';
}

size_t lgp_split_names(char *list, const char **names, size_t count, size_t max)
{
    char *p = list;
    while (*p && count < max) {
        if (*p == ',') {
            p++;
            continue;
        }
        names[count++] = p;
        while (*p && *p != ',')
            p++;
        if (*p)
            *p++ = '\0';
    }
    return count;
}
