/* Built without libdwarf (-Ddwarf=disabled or not found): no DWARF evidence. */
#include "internal.h"

int lgp__dwarf_open(const lgp_elf_t *elf, const char *path, lgp_dwarf_t **dwarf,
                    size_t *info_bytes, char *why, size_t why_size)
{
    (void)elf, (void)path;
    *dwarf = NULL;
    *info_bytes = 0;
    lgp__copy_text(why, why_size, "built without libdwarf");
    return -1;
}

void lgp__dwarf_close(lgp_dwarf_t *dwarf)
{
    (void)dwarf;
}

int lgp__dwarf_call_values(lgp_dwarf_t *dwarf, lgp_callvalue_t **values, size_t *count)
{
    (void)dwarf;
    *values = NULL;
    *count = 0;
    return 0;
}

int lgp__dwarf_lines(lgp_dwarf_t *dwarf, lgp_site_t *sites, size_t count, lgp_pool_t *pool)
{
    (void)dwarf, (void)sites, (void)count, (void)pool;
    return 0;
}
