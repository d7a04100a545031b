/* The test side of the fixture: runs it, and groups what its allocator saw
 * by the return address the allocator met (or, for wrapped sites, by the
 * return address into the site). */
#ifndef LGFX_RECORDS_H
#define LGFX_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lgfx_group_s {
    uint64_t ra;
    uint64_t min, max;    /* request sizes seen there */
    unsigned kinds;       /* bit (kind - 'a') for each kind of site seen */
    uint32_t frame;       /* direct: where the wrapper's return address lay
                             above this one's on the stack (0: not seen) */
} lgfx_group_t;

typedef struct lgfx_groups_s {
    lgfx_group_t *direct;    /* by the allocator's return address */
    size_t        ndirect;
    lgfx_group_t *wrapped;   /* by the return address into the site */
    size_t        nwrapped;
} lgfx_groups_t;

#define LGFX_KIND(c) (1u << ((c) - 'a'))

/* Runs `fixture --record`; false (with a message) when it fails. */
bool lgfx_groups_load(const char *fixture, lgfx_groups_t *g);
void lgfx_groups_free(lgfx_groups_t *g);

/* Runs a shell command, returns its standard output (NULL on failure). */
char *lgfx_run(const char *command);

#endif
