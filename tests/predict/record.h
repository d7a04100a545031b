/* What the fixture's recording allocator saw (record.c). */
#ifndef LGFX_RECORD_H
#define LGFX_RECORD_H

#include "fixture.h"

#include <stdint.h>

#define LGFX_MAX_RECORDS 8192

typedef struct lgfx_record_s {
    int      site;
    uint64_t size;
    uint64_t ra;        /* link-time return address seen by the allocator */
    uint64_t wrap_ra;   /* link-time return address into the site, for wrappers */
    uint32_t frame;     /* then: how far above ra's slot on the stack wrap_ra's
                           lies (0: not found) */
} lgfx_record_t;

extern lgfx_record_t lgfx_records[LGFX_MAX_RECORDS];
extern size_t        lgfx_record_count;

void lgfx_record_start(void);

#endif
