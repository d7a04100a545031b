/* Shared by the generated call sites (fixture_sites.c), the fixture's main
 * and the recording shim: which site runs now, and what it allocated. */
#ifndef LGFX_FIXTURE_H
#define LGFX_FIXTURE_H

#include <stddef.h>

/* What the site's size depends on. */
#define LGFX_CONST   'c'   /* a constant, at the call or through a forwarder */
#define LGFX_RUNTIME 'r'   /* a value read at run time */
#define LGFX_BRANCH  'b'   /* one of several constants, by a branch */
#define LGFX_WRAPPED 'w'   /* a constant passed to a wrapper (xmalloc) */
#define LGFX_NAMED   'n'   /* a constant passed to a user-named function */
#define LGFX_UNSEEN  'u'   /* passed to a user-named function whose allocation the
                              analysis cannot see (through a pointer) */
#define LGFX_CHANGING 'm'  /* passed to a function that allocates more than once or
                              changes the size: no wrapper for it */

extern volatile int    lgfx_site;      /* the running site, -1 between sites */
extern void *volatile  lgfx_wrap_ra;   /* a wrapper's return address */
extern volatile size_t lgfx_rt;        /* run-time sizes derive from it */
extern volatile int    lgfx_flip;      /* branch-dependent sites test it */

void  lgfx_keep(void *p);              /* frees p, out of the compiler's sight */
void *lgfx_block(void);                /* a fresh block, for realloc */

typedef void lgfx_site_fn(void);
extern lgfx_site_fn *const lgfx_sites[];
extern const char          lgfx_kinds[];
extern const int           lgfx_site_count;

#endif
