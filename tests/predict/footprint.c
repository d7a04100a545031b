/* What the analysis leaves behind once it is done (predict/runtime/release.c): its
 * libraries' read-only segments dropped, with the pages the dynamic
 * linker's lookups and the exit read split off into mappings of their
 * own, so that the kernel's fault-around does not map 64 KiB for each; of
 * Zydis (420 KiB of decoder tables) no more resident than its writable
 * data; the one-page mappings the analysis made merged again; and the
 * table it publishes outside the heap (predict/runtime/keep.c).  Run
 * with the analysis before main, on its thread, and off
 * (tests/predict/meson.build). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lgmalloc.h"
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
    /* its writable data 32 KiB; 104 KiB when the lazy binder's lookups
     * faulted in its hash tables 64 KiB at a time, 56 when they brought
     * back the first four pages */
    cr_assert_leq(zydis.rss_kib, 48, "libZydis holds %zu KiB resident", zydis.rss_kib);
}

/* Every lookup of a symbol defined further on reads the first page of
 * each library before (the bloom filter of .gnu.hash): on its own, that
 * page is all such a lookup brings back, not the 4 pages (16 KiB) around it. */
static size_t first_mapping_kib(const char *name)
{
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert_not_null(f);
    char line[512];
    size_t kib = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long from, to, offset;
        if (strstr(line, name) && sscanf(line, "%lx-%lx %*s %lx", &from, &to, &offset) == 3
            && offset == 0)
            kib = (to - from) / 1024;
    }
    fclose(f);
    return kib;
}

Test(footprint, the_page_every_lookup_reads_is_a_mapping_of_its_own)
{
    lgp_self_wait();
    const char *libraries[] = { "/libZydis.so", "/libdwarf.so" };
    for (size_t i = 0; i < sizeof libraries / sizeof libraries[0]; i++) {
        size_t kib = first_mapping_kib(libraries[i]);
        cr_assert_eq(kib, (size_t)sysconf(_SC_PAGESIZE) / 1024, "%s: first mapping %zu KiB",
                     libraries[i], kib);
    }
}

/* The code the dynamic linker runs at exit (each function of a library's
 * DT_FINI_ARRAY) lies in a mapping of at most two pages: libdwarf's is on
 * the page after its long .plt, and in the middle of its code it brought
 * 72 KiB back at every exit. */
static size_t mapping_kib_at(uintptr_t addr)
{
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert_not_null(f);
    char line[512];
    size_t kib = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long from, to;
        if (sscanf(line, "%lx-%lx", &from, &to) == 2 && from <= addr && addr < to)
            kib = (to - from) / 1024;
    }
    fclose(f);
    return kib;
}

static int check_exit_code(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    size_t *checked = arg;
    if (!info->dlpi_name || (!strstr(info->dlpi_name, "/libdwarf.so") && !strstr(info->dlpi_name, "/libZydis.so")))
        return 0;
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type != PT_DYNAMIC)
            continue;
        const ElfW(Dyn) *dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        uintptr_t array = 0, bytes = 0;
        for (; dyn->d_tag != DT_NULL; dyn++) {
            if (dyn->d_tag == DT_FINI_ARRAY)
                array = dyn->d_un.d_ptr < info->dlpi_addr ? info->dlpi_addr + dyn->d_un.d_ptr : dyn->d_un.d_ptr;
            if (dyn->d_tag == DT_FINI_ARRAYSZ)
                bytes = dyn->d_un.d_val;
        }
        for (size_t j = 0; array && j < bytes / sizeof(uintptr_t); j++) {
            uintptr_t fn = ((const uintptr_t *)array)[j];
            size_t kib = mapping_kib_at(fn);
            cr_assert_leq(kib, 2 * (size_t)sysconf(_SC_PAGESIZE) / 1024,
                          "%s: its exit code at %#lx lies in a mapping of %zu KiB",
                          info->dlpi_name, (unsigned long)fn, kib);
            (*checked)++;
        }
    }
    return 0;
}

Test(footprint, the_code_each_library_runs_at_exit_is_a_mapping_of_its_own)
{
    lgp_self_wait();
    size_t checked = 0;
    dl_iterate_phdr(check_exit_code, &checked);
    cr_assert_geq(checked, 2, "found %zu exit functions in libdwarf and libZydis", checked);
}

/* The table lives as long as the program: in pages of its own, not among
 * the blocks the analysis freed in its heap, whose pages it would keep. */
Test(footprint, the_published_table_lies_outside_the_heap)
{
    const lgp_table_t *table = lgp_self_wait();
    if (getenv("LGMALLOC_PREDICT") && strcmp(getenv("LGMALLOC_PREDICT"), "0") == 0) {
        cr_assert_null(table);
        return;
    }
    cr_assert_not_null(table);
    cr_assert_gt(table->count, 0);
    cr_assert(!lg_owns(table) && !lg_owns(table->sites) && !lg_owns(table->strings));
    for (size_t i = 0; i < table->count; i++) {
        const lgp_site_t *s = &table->sites[i];
        cr_assert(s->function && s->function >= table->strings,
                  "site %zu: its function's name is not in the table's strings", i);
        cr_assert(s->callee && s->callee >= table->strings,
                  "site %zu: its callee's name is not in the table's strings", i);
    }
    cr_assert_not_null(lgp_table_find(table, table->sites[0].address + table->bias));
}
