/* The fixture's allocator: the --wrap entry points record the return
 * address and request size of every allocation a site makes, then hand it
 * to the C library.  These records are what the tests compare the
 * prediction table with. */
#include "record.h"

#include <link.h>
#include <malloc.h>
#include <stdlib.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__real_reallocarray(void *p, size_t n, size_t m);
void *__real_aligned_alloc(size_t a, size_t n);
int   __real_posix_memalign(void **p, size_t a, size_t n);
void *__real_memalign(size_t a, size_t n);
void *__real_valloc(size_t n);
void *__real_pvalloc(size_t n);
void  __real_free(void *p);
size_t __real_malloc_usable_size(void *p);

lgfx_record_t lgfx_records[LGFX_MAX_RECORDS];
size_t        lgfx_record_count;
static uintptr_t bias;

static int first_object(struct dl_phdr_info *info, size_t size, void *out)
{
    (void)size;
    *(uintptr_t *)out = (uintptr_t)info->dlpi_addr;
    return 1;
}

void lgfx_record_start(void)
{
    dl_iterate_phdr(first_object, &bias);
    lgfx_record_count = 0;
}

/* Where the wrapper's return address lies above the slot of the return
 * address the allocator sees: what the analysis computes as a wrapper's
 * frame.  The first word above that holds it. */
static uint32_t frame_of(const uintptr_t *slot, void *ra, void *wrap)
{
    if (!wrap || wrap == ra || *slot != (uintptr_t)ra)
        return 0;          /* a tail call: the wrapper's return address is ra */
    for (uint32_t k = 1; k < 64; k++)
        if (slot[k] == (uintptr_t)wrap)
            return k * (uint32_t)sizeof *slot;
    return 0;
}

/* Only the first allocation after a site starts is the site's.  slot:
 * where ra lies on the stack. */
static void record(void *ra, const uintptr_t *slot, size_t size)
{
    if (lgfx_site < 0 || lgfx_record_count == LGFX_MAX_RECORDS)
        return;
    void *wrap = lgfx_wrap_ra;
    lgfx_records[lgfx_record_count++] = (lgfx_record_t){
        .site = lgfx_site, .size = size,
        .ra = (uint64_t)((uintptr_t)ra - bias),
        .wrap_ra = wrap ? (uint64_t)((uintptr_t)wrap - bias) : 0,
        .frame = frame_of(slot, ra, wrap),
    };
    lgfx_site = -1;
    lgfx_wrap_ra = NULL;
}

/* the return address, and its slot: just above the frame pointer */
#define RA __builtin_return_address(0), (const uintptr_t *)__builtin_frame_address(0) + 1

void *__wrap_malloc(size_t n) { record(RA, n); return __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) { record(RA, n * m); return __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n) { record(RA, n); return __real_realloc(p, n); }
void *__wrap_reallocarray(void *p, size_t n, size_t m)
{
    record(RA, n * m);
    return __real_reallocarray(p, n, m);
}
void *__wrap_aligned_alloc(size_t a, size_t n) { record(RA, n); return __real_aligned_alloc(a, n); }
int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
    record(RA, n);
    return __real_posix_memalign(p, a, n);
}
void *__wrap_memalign(size_t a, size_t n) { record(RA, n); return __real_memalign(a, n); }
void *__wrap_valloc(size_t n) { record(RA, n); return __real_valloc(n); }
void *__wrap_pvalloc(size_t n) { record(RA, n); return __real_pvalloc(n); }
void __wrap_free(void *p) { __real_free(p); }
size_t __wrap_malloc_usable_size(void *p) { return __real_malloc_usable_size(p); }
