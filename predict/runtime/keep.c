/* A published table lives as long as the program.  Made in the heap of
 * the thread that ran the analysis, among the thousands of blocks the
 * analysis freed, its sites and names kept pages of several size classes
 * resident for good, nearly empty (the release of the analysis' heap
 * purges only empty pages).  So it moves to pages of its own (see
 * docs/decisions.md#table-pages). */
#include "runtime.h"

#include <string.h>
#include <sys/mman.h>

/* The names the sites point to lie in one pool: up to the end of the
 * last one. */
static size_t strings_length(const lgp_table_t *table)
{
    size_t length = 0;
    for (size_t i = 0; i < table->count; i++) {
        const char *names[] = { table->sites[i].function, table->sites[i].file,
                                table->sites[i].callee };
        for (size_t k = 0; k < 3; k++) {
            if (!names[k])
                continue;
            size_t end = (size_t)(names[k] - table->strings) + strlen(names[k]) + 1;
            if (end > length)
                length = end;
        }
    }
    return length;
}

static const char *moved(const char *name, const char *from, char *to)
{
    return name ? to + (name - from) : NULL;
}

lgp_table_t *lgp__table_keep(lgp_table_t *table)
{
    size_t sites = table->count * sizeof *table->sites;
    size_t strings = strings_length(table);
    void *p = mmap(NULL, sizeof *table + sites + strings, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return table;   /* it stays in the heap */
    lgp_table_t *kept = p;
    *kept = *table;
    kept->sites = (lgp_site_t *)(kept + 1);
    kept->strings = (char *)kept->sites + sites;
    memcpy(kept->sites, table->sites, sites);
    memcpy(kept->strings, table->strings, strings);
    for (size_t i = 0; i < kept->count; i++) {
        lgp_site_t *s = &kept->sites[i];
        s->function = moved(s->function, table->strings, kept->strings);
        s->file = moved(s->file, table->strings, kept->strings);
        s->callee = moved(s->callee, table->strings, kept->strings);
    }
    lgp_table_free(table);
    return kept;
}
