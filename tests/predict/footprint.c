/* What the analysis leaves behind once it is done (predict/release.c): its
 * libraries' read-only segments dropped, with the pages the dynamic
 * linker's lookups and the exit read split off into mappings of their
 * own, so that the kernel's fault-around does not map 64 KiB for each; of
 * Zydis (420 KiB of decoder tables) no more resident than its writable
 * data; and the one-page mappings the analysis made merged again.  Run
 * with the analysis before main, on its thread, and off
 * (tests/predict/meson.build). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lgmalloc_predict.h"

typedef struct {
    size_t mappings;
    size_t rss_kib;
} library_t;

static library_t library(const char *name)
{
    library_t lib = { 0, 0 };
    FILE *f = fopen("/proc/self/smaps", "r");
    cr_assert_not_null(f);
    char line[512];
    bool in = false;
    while (fgets(line, sizeof line, f)) {
        size_t kib;
        if (line[strspn(line, "0123456789abcdef")] == '-') {
            in = strstr(line, name) != NULL;
            lib.mappings += in;
        } else if (in && sscanf(line, "Rss: %zu kB", &kib) == 1) {
            lib.rss_kib += kib;
        }
    }
    fclose(f);
    return lib;
}

TestSuite(footprint, .timeout = 60);

/* 4 or 5 mappings as the dynamic linker makes them */
Test(footprint, the_pages_read_at_lookups_and_exit_are_mappings_of_their_own)
{
    lgp_self_wait();
    library_t zydis = library("/libZydis.so");
    cr_assert_geq(zydis.mappings, 8, "libZydis in %zu mappings", zydis.mappings);
}

/* 149 while the analysis runs; each mapping more slows fork() */
Test(footprint, once_the_analysis_is_done_the_page_mappings_are_merged)
{
    lgp_self_wait();
    library_t zydis = library("/libZydis.so");
    cr_assert_leq(zydis.mappings, 16, "libZydis in %zu mappings", zydis.mappings);
}

Test(footprint, the_decoder_holds_little_resident_once_the_analysis_is_done)
{
    lgp_self_wait();
    void *p = malloc(100);   /* and after the program went on a little */
    free(p);
    library_t zydis = library("/libZydis.so");
    /* its writable data 40 KiB; 104 KiB when the lazy binder's lookups
     * faulted in its hash tables 64 KiB at a time */
    cr_assert_leq(zydis.rss_kib, 64, "libZydis holds %zu KiB resident", zydis.rss_kib);
}
