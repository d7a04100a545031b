/* The prediction fixture's main.
 *
 *   fixture --record   runs every site three times (three run-time sizes,
 *                      three branch choices) and prints what the allocator
 *                      saw: "SITE KIND RA SIZE WRAP_RA FRAME" per allocation
 *   fixture --table    prints the table the program built for itself, as
 *                      lgmalloc-scan --json does (run it with
 *                      LGMALLOC_PREDICT_SYNC=1 or it waits for the thread) */
#include "lgmalloc_predict.h"
#include "record.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

volatile int    lgfx_site = -1;
void *volatile  lgfx_wrap_ra;
volatile size_t lgfx_rt;
volatile int    lgfx_flip;

void lgfx_keep(void *p)
{
    free(p);
}

void *lgfx_block(void)
{
    return malloc(1);
}

static int record(void)
{
    static const size_t rt[] = { 3, 5, 7 };
    lgfx_record_start();
    for (int pass = 0; pass < 3; pass++) {
        lgfx_rt = rt[pass];
        lgfx_flip = pass;
        for (int i = 0; i < lgfx_site_count; i++)
            lgfx_sites[i]();
    }
    for (size_t i = 0; i < lgfx_record_count; i++) {
        const lgfx_record_t *r = &lgfx_records[i];
        printf("%d %c %" PRIx64 " %" PRIu64 " %" PRIx64 " %" PRIu32 "\n", r->site,
               lgfx_kinds[r->site], r->ra, r->size, r->wrap_ra, r->frame);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

static int table(void)
{
    const lgp_table_t *t = lgp_self_wait();
    if (!t) {
        fprintf(stderr, "fixture: no table\n");
        return 1;
    }
    lgp_table_print_json(stdout, t);
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--record") == 0) {
        lgp_self_wait();    /* no analysis allocates while sites record */
        return record();
    }
    if (argc == 2 && strcmp(argv[1], "--table") == 0)
        return table();
    fprintf(stderr, "usage: %s --record | --table\n", argv[0]);
    return 2;
}
