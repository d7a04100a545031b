/* A build without the analysis (no Zydis or libdwarf: the archive a
 * -static program links): a program gets a table only where
 * lgmalloc-scan --embed put one in it (self.c). */
#include "runtime.h"

void lgp__self_prepare(void)
{
}

void lgp__self_analyse(const lgp_build_id_t *id)
{
    (void)id;
    lgp__report_none("no embedded table, and this build of lgmalloc has no analysis "
                     "(lgmalloc-scan --embed PROGRAM)");
}
