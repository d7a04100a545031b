/* What every stage does with a table (table.h): look a site up, free it. */
#include "table.h"

#include <stdlib.h>
#include <sys/mman.h>

void lgp_table_free(lgp_table_t *table)
{
    if (!table)
        return;
    if (table->mapped) {
        munmap(table, table->mapped);
        return;
    }
    free(table->sites);
    free(table->strings);
    free(table);
}

const lgp_site_t *lgp_table_find(const lgp_table_t *table, uintptr_t ret)
{
    uint64_t addr = (uint64_t)(ret - table->bias);
    size_t lo = 0, hi = table->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (table->sites[mid].address < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < table->count && table->sites[lo].address == addr ? &table->sites[lo] : NULL;
}
