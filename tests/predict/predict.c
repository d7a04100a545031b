/* Call-site prediction, checked against a fixture whose true sizes are
 * known because it records them (gen_fixture.py, record.c).  Which fixture
 * and what share it must resolve come from the environment (meson.build):
 * LGFX_FIXTURE, LGFX_MIN_RESOLVED, LGFX_MIN_WRAPPED, LGFX_SCAN. */
#include "lgmalloc_predict.h"
#include "analysis/internal.h"   /* the ELF reader, tested alone */
#include "records.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The fixture's user-named allocators, as a list and in the environment. */
static const char *const named[] = { "lgfx_pool_alloc", "lgfx_arena_alloc:2", "lgfx_ptr_alloc",
                                     "lgfx_tail_named", "lgfx_tail_asm" };
#define NAMED "lgfx_pool_alloc,lgfx_arena_alloc:2,lgfx_ptr_alloc,lgfx_tail_named,lgfx_tail_asm"

static lgfx_groups_t groups;
static lgp_table_t *table;

static const char *env(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v, "%s is not set (run the tests with meson test)", name);
    return v;
}

static void load(void)
{
    const char *fixture = env("LGFX_FIXTURE");
    cr_assert(lgfx_groups_load(fixture, &groups), "no records from %s", fixture);
    lgp_options_t options = { .dwarf = true, .lines = true, .alloc_functions = named,
                              .alloc_function_count = sizeof named / sizeof named[0] };
    char why[160];
    cr_assert_eq(lgp_analyze_file(fixture, &options, &table, why, sizeof why), 0,
                 "no table: %s", why);
}

static void unload(void)
{
    lgp_table_free(table);
    lgfx_groups_free(&groups);
}

static bool predicts(const lgp_site_t *s)
{
    return s && s->evidence != LGP_EVIDENCE_NONE && s->confidence >= 0.5f;
}

static bool only(const lgfx_group_t *g, char kind)
{
    return g->kinds == LGFX_KIND(kind);
}

/* The share of single-size groups of one kind that the table predicts. */
static double resolved(const lgfx_group_t *gs, size_t n, unsigned kinds, size_t *total)
{
    size_t hit = 0;
    *total = 0;
    for (size_t i = 0; i < n; i++) {
        const lgfx_group_t *g = &gs[i];
        if ((g->kinds & ~kinds) || g->min != g->max)
            continue;
        (*total)++;
        const lgp_site_t *s = lgp_table_find(table, g->ra);
        if (predicts(s) && s->size == g->min)
            hit++;
        else
            cr_log_info("unresolved 0x%llx: size %llu, table %s", (unsigned long long)g->ra,
                        (unsigned long long)g->min, s ? lgp_evidence_name(s->evidence) : "-");
    }
    return *total ? (double)hit / (double)*total : 0.0;
}

TestSuite(prediction, .init = load, .fini = unload);

Test(prediction, finds_every_call_site_the_allocator_meets)
{
    for (size_t i = 0; i < groups.ndirect; i++)
        cr_expect(lgp_table_find(table, groups.direct[i].ra),
                  "return address 0x%llx is in no site", (unsigned long long)groups.direct[i].ra);
}

Test(prediction, resolves_constant_sizes)
{
    size_t total;
    double share = resolved(groups.direct, groups.ndirect, LGFX_KIND('c'), &total);
    double least = atof(env("LGFX_MIN_RESOLVED"));
    cr_log_info("%zu constant sites, %.1f%% resolved", total, 100 * share);
    cr_assert_gt(total, 200);
    cr_assert_geq(share, least, "%.1f%% of %zu constant sites resolved, want %.0f%%",
                  100 * share, total, 100 * least);
}

Test(prediction, resolves_constants_passed_to_wrappers)
{
    size_t total;
    double share = resolved(groups.wrapped, groups.nwrapped, LGFX_KIND('w'), &total);
    double least = atof(env("LGFX_MIN_WRAPPED"));
    cr_assert_gt(total, 30);
    cr_assert_geq(share, least, "%.1f%% of %zu wrapped sites resolved, want %.0f%%",
                  100 * share, total, 100 * least);
}

Test(prediction, resolves_constants_passed_to_named_functions)
{
    size_t total;
    double share = resolved(groups.wrapped, groups.nwrapped, LGFX_KIND('n'), &total);
    cr_assert_gt(total, 20);
    cr_assert_geq(share, 0.9, "%.1f%% of %zu named sites resolved", 100 * share, total);
}

Test(prediction, varying_sizes_are_unknown_or_low_confidence)
{
    size_t varying = 0;
    for (size_t i = 0; i < groups.ndirect; i++) {
        const lgfx_group_t *g = &groups.direct[i];
        if (g->min == g->max)
            continue;
        varying++;
        const lgp_site_t *s = lgp_table_find(table, g->ra);
        cr_expect(!predicts(s), "0x%llx sees %llu..%llu, predicted %llu at %.2f",
                  (unsigned long long)g->ra, (unsigned long long)g->min,
                  (unsigned long long)g->max, s ? (unsigned long long)s->size : 0ull,
                  s ? (double)s->confidence : 0.0);
    }
    cr_assert_gt(varying, 40);
}

Test(prediction, runtime_sizes_are_never_predicted)
{
    for (size_t i = 0; i < groups.ndirect; i++) {
        const lgfx_group_t *g = &groups.direct[i];
        if (only(g, 'r'))
            cr_expect(!predicts(lgp_table_find(table, g->ra)), "0x%llx predicted",
                      (unsigned long long)g->ra);
    }
}

static void expect_right(const lgfx_group_t *gs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const lgfx_group_t *g = &gs[i];
        const lgp_site_t *s = lgp_table_find(table, g->ra);
        if (predicts(s))
            cr_expect(s->size == g->min && s->size == g->max,
                      "0x%llx predicted %llu at %.2f (%s), saw %llu..%llu",
                      (unsigned long long)g->ra, (unsigned long long)s->size,
                      (double)s->confidence, lgp_evidence_name(s->evidence),
                      (unsigned long long)g->min, (unsigned long long)g->max);
    }
}

Test(prediction, no_wrong_prediction_at_confidence_one_half)
{
    expect_right(groups.direct, groups.ndirect);
    expect_right(groups.wrapped, groups.nwrapped);
}

/* The sites that call a function of the fixture, by its name. */
static bool calls(const lgp_site_t *s, const char *callee)
{
    return s && s->callee && strcmp(s->callee, callee) == 0;
}

/* A function that allocates a header and a buffer of its argument's size,
 * allocates more than once, returns a status, or rounds the size is no
 * wrapper for its argument: the sites calling it predict nothing. */
Test(prediction, functions_that_allocate_more_or_change_the_size_are_no_wrappers)
{
    size_t n = 0;
    for (size_t i = 0; i < groups.nwrapped; i++) {
        const lgfx_group_t *g = &groups.wrapped[i];
        if (!only(g, 'm'))
            continue;
        n++;
        const lgp_site_t *s = lgp_table_find(table, g->ra);
        cr_expect(!predicts(s), "0x%llx (calls %s) predicted %llu at %.2f, first request %llu",
                  (unsigned long long)g->ra, s && s->callee ? s->callee : "?",
                  (unsigned long long)(s ? s->size : 0), s ? (double)s->confidence : 0.0,
                  (unsigned long long)g->min);
    }
    cr_assert_geq(n, 40);
}

/* A named function that allocates through a pointer (sqlite's
 * sqlite3Malloc) cannot be checked: its sites keep the user's size for the
 * report, below one half. */
Test(prediction, named_functions_that_cannot_be_checked_predict_nothing)
{
    size_t n = 0;
    for (size_t i = 0; i < groups.nwrapped; i++) {
        const lgfx_group_t *g = &groups.wrapped[i];
        if (!only(g, 'u'))
            continue;
        n++;
        const lgp_site_t *s = lgp_table_find(table, g->ra);
        cr_expect(calls(s, "lgfx_ptr_alloc"), "0x%llx: no site", (unsigned long long)g->ra);
        cr_expect(!predicts(s), "0x%llx predicted %llu at %.2f, true size %llu",
                  (unsigned long long)g->ra, (unsigned long long)(s ? s->size : 0),
                  s ? (double)s->confidence : 0.0, (unsigned long long)g->min);
    }
    cr_assert_eq(n, 8);
}

/* A named function that tail-calls malloc (`jmp malloc`, in assembly and
 * at -O2 in C) with its argument plus 24: the allocator sees its callers'
 * return addresses, which predict the size with the 24. */
Test(prediction, named_functions_that_tail_call_predict_the_size_seen)
{
    size_t n = 0;
    for (size_t i = 0; i < groups.ndirect; i++) {
        const lgfx_group_t *g = &groups.direct[i];
        const lgp_site_t *s = lgp_table_find(table, g->ra);
        if (!calls(s, "lgfx_tail_named") && !calls(s, "lgfx_tail_asm"))
            continue;
        n++;
        cr_expect(predicts(s) && s->size == g->min && g->min == g->max,
                  "0x%llx (calls %s): %llu at %.2f, saw %llu", (unsigned long long)g->ra,
                  s->callee, (unsigned long long)s->size, (double)s->confidence,
                  (unsigned long long)g->min);
    }
    cr_assert_geq(n, 8);
}

/* malloc(n + 16), returning the block or the block past a header: a
 * wrapper whose size is its argument plus 16. */
Test(prediction, resolves_wrappers_that_add_a_constant)
{
    size_t n = 0;
    for (size_t i = 0; i < groups.nwrapped; i++) {
        const lgfx_group_t *g = &groups.wrapped[i];
        const lgp_site_t *s = lgp_table_find(table, g->ra);
        if (!calls(s, "lgfx_header_alloc") && !calls(s, "lgfx_plus_alloc"))
            continue;
        n++;
        cr_expect(predicts(s) && s->size == g->min, "0x%llx (calls %s): %llu at %.2f, saw %llu",
                  (unsigned long long)g->ra, s->callee, (unsigned long long)s->size,
                  (double)s->confidence, (unsigned long long)g->min);
    }
    cr_assert_eq(n, 20, "%zu sites call the wrappers that add a constant", n);
}

/* The sites that call wrapper `a` or `b`, each expected to predict its
 * size at the confidence that routes it (predict/routing/route.c). */
static size_t expect_wrapped_sizes(const char *a, const char *b)
{
    size_t n = 0;
    for (size_t i = 0; i < groups.nwrapped; i++) {
        const lgfx_group_t *g = &groups.wrapped[i];
        const lgp_site_t *s = lgp_table_find(table, g->ra);
        if (!calls(s, a) && !calls(s, b))
            continue;
        n++;
        cr_expect(s->evidence != LGP_EVIDENCE_NONE && s->confidence >= 0.8f && s->size == g->min,
                  "0x%llx (calls %s): %llu at %.2f, saw %llu", (unsigned long long)g->ra,
                  s->callee, (unsigned long long)s->size, (double)s->confidence,
                  (unsigned long long)g->min);
    }
    return n;
}

/* Redis' zmalloc (zmalloc_like.h): a size check that returns NULL, then
 * malloc(n ? n : 8) and a counter, with or without a 16-byte header.  Its
 * callers' constants are their sizes (plus 16). */
Test(prediction, resolves_wrappers_that_guard_zero_and_count)
{
    size_t n = expect_wrapped_sizes("lgfx_zmalloc", "lgfx_zmalloc_header");
    cr_assert_eq(n, 20, "%zu sites call the zmalloc-shaped wrappers", n);
}

/* The same wrapper with `if (n == 0) n = 8;` compiled as a branch, the
 * constant on the side a jnz falls through to or a jz takes: the path with
 * the constant is the zero argument's, and its callers' constants are
 * their sizes. */
Test(prediction, resolves_wrappers_that_guard_zero_with_a_branch)
{
    size_t n = expect_wrapped_sizes("lgfx_zmalloc_jnz", "lgfx_zmalloc_jz");
    cr_assert_eq(n, 20, "%zu sites call the wrappers with a branch for a guard", n);
}

/* A zero test whose zero side is the only path to the call (lazy_alloc.h):
 * its constant is the size, not a guard's stand-in for a zero argument. */
Test(prediction, a_constant_on_the_only_side_of_a_zero_test_is_the_size)
{
    size_t n = 0;
    for (size_t i = 0; i < table->count; i++) {
        const lgp_site_t *s = &table->sites[i];
        if (!s->function || strcmp(s->function, "lgfx_lazy_alloc") != 0)
            continue;
        n++;
        cr_expect(s->evidence != LGP_EVIDENCE_NONE && s->size == 24 && s->confidence >= 0.8f,
                  "0x%llx: %llu at %.2f", (unsigned long long)s->address,
                  (unsigned long long)s->size, (double)s->confidence);
    }
    cr_assert_eq(n, 1, "%zu sites in lgfx_lazy_alloc", n);
}

/* The allocation a wrapper returns knows where the wrapper's return
 * address lies above its own on the stack (the run-time check reads it
 * there): as the recording allocator found it. */
Test(prediction, a_wrappers_allocation_knows_where_its_callers_return_address_is)
{
    size_t n = 0;
    for (size_t i = 0; i < groups.ndirect; i++) {
        const lgfx_group_t *g = &groups.direct[i];
        const lgp_site_t *s = lgp_table_find(table, g->ra);
        if (!s || s->frame == 0 || g->frame == 0)
            continue;       /* no wrapper, or one the fixture does not mark */
        n++;
        cr_expect(s->frame == -1 || (uint32_t)s->frame == g->frame,
                  "0x%llx in %s: frame %d, the stack says %u", (unsigned long long)g->ra,
                  s->function ? s->function : "?", s->frame, g->frame);
        cr_expect_neq(s->frame, -1, "0x%llx in %s: frame unknown", (unsigned long long)g->ra,
                      s->function ? s->function : "?");
    }
    cr_assert_geq(n, 6, "%zu wrappers' allocations", n);
}

/* The same wrapper with abort() on its failure paths: its sites get the
 * confidence of the one without. */
Test(prediction, abort_on_a_failure_path_does_not_lower_confidence)
{
    float plain = 2.0f, aborting = 2.0f;
    for (size_t i = 0; i < table->count; i++) {
        const lgp_site_t *s = &table->sites[i];
        if (calls(s, "lgfx_guard_plain") && s->confidence < plain)
            plain = s->confidence;
        if (calls(s, "lgfx_guard_abort") && s->confidence < aborting)
            aborting = s->confidence;
    }
    cr_assert(plain <= 1.0f && aborting <= 1.0f, "no site calls the guard wrappers");
    cr_expect_geq(aborting, plain, "with abort(): %.2f, without: %.2f", (double)aborting,
                  (double)plain);
}

/* The analysis allocates through pointers it cannot see through
 * (predict/alloc.c): its own calls, linked into every program, are no
 * sites of the program's table. */
Test(prediction, finds_no_call_site_in_the_analysis_itself)
{
    size_t own = 0;
    for (size_t i = 0; i < table->count; i++) {
        const char *f = table->sites[i].function;
        if (f && strncmp(f, "lgp", 3) == 0) {
            cr_log_error("a site in %s", f);
            own++;
        }
    }
    cr_expect_eq(own, 0, "%zu of %zu sites in the analysis' own functions", own, table->count);
}

Test(prediction, self_table_equals_lgmalloc_scan_json)
{
    const char *scan = getenv("LGFX_SCAN");
    if (!scan)
        cr_skip_test("lgmalloc-scan not built (-Dtools=false)");
    const char *fixture = env("LGFX_FIXTURE");
    char cmd[4096];
    /* LGMALLOC_VERBOSE=2 shows file:line, so the program reads the lines */
    snprintf(cmd, sizeof cmd, "LGMALLOC_VERBOSE=2 LGMALLOC_PREDICT_SYNC=1 "
             "LGMALLOC_ALLOC_FUNCS=%s '%s' --table 2>/dev/null", NAMED, fixture);
    char *self = lgfx_run(cmd);
    snprintf(cmd, sizeof cmd, "LGMALLOC_ALLOC_FUNCS= '%s' --json --alloc-funcs=%s '%s'", scan,
             NAMED, fixture);
    char *scanned = lgfx_run(cmd);
    cr_assert(self && scanned);
    cr_expect_str_eq(self, scanned);
    free(self);
    free(scanned);
}

Test(prediction, background_table_equals_table_before_main)
{
    const char *fixture = env("LGFX_FIXTURE");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "LGMALLOC_PREDICT_SYNC=1 '%s' --table", fixture);
    char *before = lgfx_run(cmd);
    snprintf(cmd, sizeof cmd, "LGMALLOC_PREDICT_SYNC=0 '%s' --table", fixture);
    char *background = lgfx_run(cmd);
    cr_assert(before && background);
    cr_expect_str_eq(before, background);
    free(before);
    free(background);
}

/* Where the analysis runs when LGMALLOC_PREDICT_SYNC does not say: before
 * main in a small program (the fixture: 60 KiB of code), on a thread in
 * one with more code than 128 KiB; the variable still decides.  (Both
 * programs wait for the thread with --table.) */
static bool analysed_before_main(const char *settings, const char *program)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "env -u LGMALLOC_PREDICT_SYNC %s LGMALLOC_VERBOSE=1 '%s' --table 2>&1 >/dev/null",
             settings, program);
    char *report = lgfx_run(cmd);
    cr_assert_not_null(report, "%s failed", cmd);
    bool before = strstr(report, "before main)") != NULL;
    bool thread = strstr(report, "background thread)") != NULL;
    cr_assert(before != thread, "%s reported:\n%s", cmd, report);
    free(report);
    return before;
}

Test(prediction, a_small_program_is_analysed_before_main_a_larger_one_on_a_thread)
{
    const char *fixture = env("LGFX_FIXTURE"), *padded = env("LGFX_PADDED");
#if !LGFX_LARGE_BUILD
    /* a sanitizer's checks, or lgmalloc built without optimisation and
     * with its debug information, make the fixture no small program */
    cr_expect(analysed_before_main("", fixture));
#endif
    cr_expect(!analysed_before_main("", padded));
    cr_expect(analysed_before_main("LGMALLOC_PREDICT_SYNC=1", padded));
    cr_expect(!analysed_before_main("LGMALLOC_PREDICT_SYNC=0", fixture));
}

static size_t count_sites(const char *json)
{
    size_t n = 0;
    for (const char *p = json; (p = strstr(p, "\"address\"")); p++)
        n++;
    return n;
}

/* A stripped program knows its own __wrap_* addresses and finds its
 * function starts in .eh_frame_hdr: it still finds every site. */
Test(prediction, stripped_program_finds_its_sites_in_itself)
{
    const char *scan = getenv("LGFX_SCAN");
    if (!scan)
        cr_skip_test("lgmalloc-scan not built (-Dtools=false)");
    char path[] = "/tmp/lgfx-stripped-XXXXXX", cmd[4096];
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "strip -s -o '%s' '%s' && chmod +x '%s'", path,
             env("LGFX_FIXTURE"), path);
    if (system(cmd) != 0) {
        unlink(path);
        cr_skip_test("no strip(1)");
    }
    snprintf(cmd, sizeof cmd, "LGMALLOC_PREDICT_SYNC=1 '%s' --table", path);
    char *self = lgfx_run(cmd);
    unlink(path);
    snprintf(cmd, sizeof cmd, "LGMALLOC_ALLOC_FUNCS= '%s' --json '%s'", scan, env("LGFX_FIXTURE"));
    char *full = lgfx_run(cmd);
    cr_assert(self && full);
    cr_expect_eq(count_sites(self), count_sites(full));
    cr_expect_gt(count_sites(self), 300);
    free(self);
    free(full);
}

Test(prediction, is_off_with_lgmalloc_predict_0_and_says_so)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "LGMALLOC_PREDICT=0 LGMALLOC_VERBOSE=1 '%s' --table 2>&1 || true",
             env("LGFX_FIXTURE"));
    char *out = lgfx_run(cmd);
    cr_assert(out);
    cr_expect(strstr(out, "no table: turned off (LGMALLOC_PREDICT=0)"), "%s", out);
    cr_expect(strstr(out, "fixture: no table"), "%s", out);
    free(out);
}

/* libdwarf reads the sections where the analysis mapped the file
 * (predict/dwarf.c); compressed ones, which that way cannot mark, go
 * through libdwarf's own reader: a copy of the fixture with its DWARF
 * compressed gives the same table, DWARF evidence included.  (Lines: where
 * the copy has one it is the same; Debian's libdwarf finds none in gcc's
 * compressed DWARF 5 line table, with its own reader only as before.) */
Test(prediction, compressed_dwarf_gives_the_same_table)
{
    char path[] = "/tmp/lgfx-gz-XXXXXX", cmd[4096], why[160];
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "objcopy --compress-debug-sections=zlib '%s' '%s'",
             env("LGFX_FIXTURE"), path);
    if (system(cmd) != 0) {
        unlink(path);
        cr_skip_test("no objcopy(1) with zlib");
    }
    lgp_options_t options = { .dwarf = true, .lines = true, .alloc_functions = named,
                              .alloc_function_count = sizeof named / sizeof named[0] };
    lgp_table_t *gz = NULL;
    int rc = lgp_analyze_file(path, &options, &gz, why, sizeof why);
    unlink(path);
    cr_assert_eq(rc, 0, "%s", why);
    cr_assert(table->dwarf, "the fixture's own DWARF was not read: %s", table->note);
    cr_assert(gz->dwarf, "the compressed DWARF was not read: %s", gz->note);
    cr_assert_eq(gz->count, table->count);
    size_t both = 0, lines = 0;
    for (size_t i = 0; i < table->count; i++) {
        const lgp_site_t *a = &table->sites[i], *b = &gz->sites[i];
        cr_assert(a->address == b->address && a->evidence == b->evidence && a->size == b->size
                  && a->confidence == b->confidence && (b->line == 0 || a->line == b->line),
                  "site %#lx: evidence %u size %lu line %u, compressed %u %lu %u",
                  (unsigned long)a->address, a->evidence, (unsigned long)a->size, a->line,
                  b->evidence, (unsigned long)b->size, b->line);
        both += a->evidence == LGP_EVIDENCE_BOTH;
        lines += b->line != 0;
    }
    cr_log_info("%zu sites, %zu confirmed by DWARF in both, %zu with a line in the compressed copy",
                table->count, both, lines);
    lgp_table_free(gz);
}

/* The analysis maps the program's file: reading its symbols, .eh_frame_hdr
 * and DWARF must not bring its code in as well (the kernel maps up to 16
 * pages around each fault, within a mapping: predict/elf.c splits the
 * file's mapping so that its code is a mapping of its own). */
static size_t resident_kib_at(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    cr_assert_not_null(f);
    char line[512];
    bool in = false;
    size_t kib = 0, rss;
    while (fgets(line, sizeof line, f)) {
        unsigned long from, to;
        if (sscanf(line, "%lx-%lx ", &from, &to) == 2 && strchr(line, '-') < strchr(line, ' '))
            in = from <= (uintptr_t)p && (uintptr_t)p < to;
        else if (in && sscanf(line, "Rss: %zu kB", &rss) == 1)
            kib = rss;
    }
    fclose(f);
    return kib;
}

Test(prediction, reading_symbols_and_dwarf_brings_no_code_in)
{
    lgp_elf_t elf;
    char why[160];
    cr_assert_eq(lgp__elf_open(&elf, env("LGFX_FIXTURE"), why, sizeof why), 0, "%s", why);
    const char *read[] = { ".debug_info", ".debug_abbrev", ".debug_str", ".symtab", ".strtab" };
    volatile uint8_t sum = 0;
    for (size_t i = 0; i < sizeof read / sizeof read[0]; i++) {
        const Elf64_Shdr *sh = lgp__elf_section(&elf, read[i]);
        const uint8_t *bytes = sh ? lgp__elf_section_bytes(&elf, sh) : NULL;
        for (size_t j = 0; bytes && j < sh->sh_size; j += 512)
            sum += bytes[j];
    }
    const Elf64_Shdr *text = lgp__elf_section(&elf, ".text");
    cr_assert_not_null(text);
    const uint8_t *code = lgp__elf_section_bytes(&elf, text);
    size_t kib = resident_kib_at(code + text->sh_size / 2);
    lgp__elf_close(&elf);
    cr_assert_eq(kib, 0, "%zu KiB of the code's mapping came in with the symbols and DWARF", kib);
}

/* ---- files without a table ---------------------------------------------- */

static int analyze(const char *path, char *why, size_t size)
{
    lgp_options_t options = { .dwarf = true, .lines = true };
    lgp_table_t *t = NULL;
    int rc = lgp_analyze_file(path, &options, &t, why, size);
    lgp_table_free(t);
    return rc;
}

Test(no_table, for_a_missing_file)
{
    char why[160];
    cr_assert_eq(analyze("/nonexistent/program", why, sizeof why), -1);
    cr_assert(strstr(why, "cannot open"), "%s", why);
}

Test(no_table, for_a_file_that_is_not_elf)
{
    char path[] = "/tmp/lgfx-notelf-XXXXXX", why[160];
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "#!/bin/sh\nexit 0\n", 17), 17);
    close(fd);
    int rc = analyze(path, why, sizeof why);
    unlink(path);
    cr_assert_eq(rc, -1);
    cr_assert(strstr(why, "not an ELF"), "%s", why);
}

/* Without .symtab the entry points are found only through the PLT (here
 * the recording allocator's calls to the C library, which make its
 * __wrap_* forwarders); function starts come from .eh_frame_hdr. */
Test(prediction, no_wrong_prediction_in_a_stripped_program)
{
    char path[] = "/tmp/lgfx-stripped-XXXXXX", cmd[4096], why[160];
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "strip -s -o '%s' '%s'", path, env("LGFX_FIXTURE"));
    if (system(cmd) != 0) {
        unlink(path);
        cr_skip_test("no strip(1)");
    }
    lgp_options_t options = { .dwarf = true, .lines = true };
    lgp_table_t *stripped = NULL;
    int rc = lgp_analyze_file(path, &options, &stripped, why, sizeof why);
    unlink(path);
    cr_assert_eq(rc, 0, "%s", why);
    lgp_table_t *full = table;
    table = stripped;
    expect_right(groups.direct, groups.ndirect);
    expect_right(groups.wrapped, groups.nwrapped);
    table = full;
    lgp_table_free(stripped);
}
