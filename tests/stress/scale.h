/* How long a stress program runs: its argument (seconds or rounds) times
 * LGMALLOC_STRESS_SCALE when that is set (tools/cross-test sets 0.5 for
 * the targets it runs under qemu-user, several times slower than native). */
#ifndef LG_TEST_STRESS_SCALE_H
#define LG_TEST_STRESS_SCALE_H

#include <stdlib.h>

static inline double stress_scaled(double n)
{
    const char *s = getenv("LGMALLOC_STRESS_SCALE");
    double f = s ? atof(s) : 1;
    return f > 0 ? n * f : n;
}

#endif
