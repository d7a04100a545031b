#include "records.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

char *lgfx_run(const char *command)
{
    FILE *p = popen(command, "r");
    if (!p)
        return NULL;
    size_t size = 0, cap = 65536;
    char *out = malloc(cap);
    size_t n;
    while (out && (n = fread(out + size, 1, cap - size - 1, p)) > 0) {
        size += n;
        if (cap - size - 1 == 0) {
            char *bigger = realloc(out, cap * 2);
            if (!bigger) {
                free(out);
                out = NULL;
                break;
            }
            out = bigger;
            cap *= 2;
        }
    }
    if (pclose(p) != 0 || !out) {
        free(out);
        return NULL;
    }
    out[size] = '\0';
    return out;
}

static bool add(lgfx_group_t **groups, size_t *n, uint64_t ra, uint64_t size, char kind,
                uint32_t frame)
{
    for (size_t i = 0; i < *n; i++) {
        lgfx_group_t *g = &(*groups)[i];
        if (g->ra == ra) {
            g->min = size < g->min ? size : g->min;
            g->max = size > g->max ? size : g->max;
            g->kinds |= LGFX_KIND(kind);
            if (g->frame == 0)
                g->frame = frame;
            return true;
        }
    }
    lgfx_group_t *more = realloc(*groups, (*n + 1) * sizeof *more);
    if (!more)
        return false;
    more[*n] = (lgfx_group_t){ ra, size, size, LGFX_KIND(kind), frame };
    *groups = more;
    (*n)++;
    return true;
}

bool lgfx_groups_load(const char *fixture, lgfx_groups_t *g)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "env -u MALLOC_PERTURB_ LGMALLOC_PREDICT=0 '%s' --record",
             fixture);
    char *out = lgfx_run(cmd);
    *g = (lgfx_groups_t){ 0 };
    if (!out) {
        fprintf(stderr, "cannot run %s\n", cmd);
        return false;
    }
    bool ok = true;
    int site, used;
    char kind;
    uint64_t ra, size, wrap;
    uint32_t frame;
    for (const char *p = out;
         ok && sscanf(p, "%d %c %" SCNx64 " %" SCNu64 " %" SCNx64 " %" SCNu32 "%n", &site, &kind,
                      &ra, &size, &wrap, &frame, &used) == 6;
         p += used) {
        ok = add(&g->direct, &g->ndirect, ra, size, kind, frame);
        if (ok && wrap)
            ok = add(&g->wrapped, &g->nwrapped, wrap, size, kind, 0);
    }
    free(out);
    return ok && g->ndirect > 0;
}

void lgfx_groups_free(lgfx_groups_t *g)
{
    free(g->direct);
    free(g->wrapped);
}
