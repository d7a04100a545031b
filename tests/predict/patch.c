/* The short path (predict/routing/patch.c, wrap/entries.c): call sites whose size
 * is known with high confidence call their class's entry instead of
 * malloc once the analysis has run.
 *
 * The program's sites: malloc(56), malloc(136), malloc(2100) and
 * malloc(9000), each in 8 functions that put 0 to 7 nops before the call,
 * so the call's displacement meets every offset in an 8-byte word: those
 * whose 4 bytes lie in one aligned word are patched, the others are not.
 *
 * Suites (tests/predict/meson.build runs each with its environment):
 *   patch      LGMALLOC_PREDICT_SYNC=1, and again without (background thread)
 *   patch_off  LGMALLOC_PREDICT_SYNC=1 LGMALLOC_PREDICT_PATCH=0
 *   patch_fork without SYNC: forks while the background thread patches
 * all with LGMALLOC_PREDICT_PATCH_AFTER=0 (patched when the table is
 * published), and
 *   patch_deferred  LGMALLOC_PREDICT_SYNC=1 LGMALLOC_PREDICT_PATCH_AFTER=1024:
 *              patched from the slow path of the 1024th page refill or
 *              heap heartbeat (Criterion's own start makes a few hundred) */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lgmalloc.h"
#include "lgmalloc_predict.h"
#include "../../lib/route.h"
#include "../../predict/routing/routing.h"
#include "../../wrap/entries.h"

extern char __wrap_malloc[];

/* ---- the sites -------------------------------------------------------------- */

#define SITE(size, pad)                                                        \
    __attribute__((noinline, aligned(32))) static void *site_##size##_##pad(void) \
    {                                                                          \
        __asm__ volatile(".rept " #pad "\n\tnop\n\t.endr");                    \
        void *p = malloc(size);                                                \
        __asm__ volatile("" : : "r"(p) : "memory"); /* a call, not a tail call */ \
        return p;                                                              \
    }
#define SITES(size) SITE(size, 0) SITE(size, 1) SITE(size, 2) SITE(size, 3) \
                    SITE(size, 4) SITE(size, 5) SITE(size, 6) SITE(size, 7)
#define SITE_ROW(size, pad) { #size "_" #pad, site_##size##_##pad, size }
#define SITE_ROWS(size) SITE_ROW(size, 0), SITE_ROW(size, 1), SITE_ROW(size, 2), \
    SITE_ROW(size, 3), SITE_ROW(size, 4), SITE_ROW(size, 5), SITE_ROW(size, 6), \
    SITE_ROW(size, 7)

SITES(56)
SITES(136)
SITES(2100)
SITES(9000)

typedef struct site_fn_s {
    const char *name;      /* after "site_" */
    void *(*fn)(void);
    size_t size;
} site_fn_t;

static const site_fn_t sites[] = { SITE_ROWS(56), SITE_ROWS(136), SITE_ROWS(2100), SITE_ROWS(9000) };
#define SITE_COUNT (sizeof sites / sizeof sites[0])

/* ---- reading the code ------------------------------------------------------- */

/* The run-time address of the site's call instruction, from the table. */
static uintptr_t call_of(const lgp_table_t *table, const site_fn_t *s)
{
    char name[64];
    snprintf(name, sizeof name, "site_%s", s->name);
    for (size_t i = 0; i < table->count; i++) {
        const lgp_site_t *site = &table->sites[i];
        if (site->function && strcmp(site->function, name) == 0) {
            cr_assert_eq(site->size, s->size, "%s: predicted %zu", name, (size_t)site->size);
            cr_assert_geq(site->confidence, LGP_PATCH_CONFIDENCE, "%s: confidence %f",
                          name, site->confidence);
            return (uintptr_t)site->address + table->bias - 5;
        }
    }
    cr_assert_fail("%s: not in the prediction table", name);
    return 0;
}

static uintptr_t target_of(uintptr_t call)
{
    const uint8_t *code = (const uint8_t *)call;
    cr_assert_eq(code[0], 0xE8, "not a call rel32 at %#lx", (unsigned long)call);
    int32_t rel;
    memcpy(&rel, code + 1, sizeof rel);
    return call + 5 + (intptr_t)rel;
}

static bool displacement_aligned(uintptr_t call) { return ((call + 1) & 7) <= 4; }

static uintptr_t entry_for(size_t size)
{
    size_t cls = lg_route_class_for(size);
    cr_assert_neq(cls, LG_ROUTE_NONE);
    lg_route_entry_t entry = lg_route_entry(cls);
    cr_assert_not_null(entry);
    return (uintptr_t)entry;
}

/* The permissions ("r-xp") of the mapping holding addr. */
static void perms_of(uintptr_t addr, char perms[5])
{
    FILE *maps = fopen("/proc/self/maps", "r");
    cr_assert_not_null(maps);
    char line[512];
    perms[0] = '\0';
    while (fgets(line, sizeof line, maps)) {
        unsigned long lo, hi;
        char p[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 && addr >= lo && addr < hi) {
            memcpy(perms, p, 5);
            break;
        }
    }
    fclose(maps);
}

static const lgp_table_t *table(void)
{
    const lgp_table_t *t = lgp_self_wait();
    cr_assert_not_null(t, "no prediction table (LGMALLOC_VERBOSE=1 says why)");
    return t;
}

/* ---- patched --------------------------------------------------------------- */

TestSuite(patch, .timeout = 60);

/* Every site whose displacement lies in one aligned word calls its
 * class's entry, the others malloc. */
static void expect_aligned_sites_patched(const lgp_table_t *t)
{
    size_t patched[4] = { 0 };
    for (size_t i = 0; i < SITE_COUNT; i++) {
        uintptr_t call = call_of(t, &sites[i]);
        uintptr_t target = target_of(call);
        if (displacement_aligned(call)) {
            cr_expect_eq(target, entry_for(sites[i].size), "site_%s: calls %#lx",
                         sites[i].name, (unsigned long)target);
            patched[i / 8] += target == entry_for(sites[i].size);
        } else {
            cr_expect_eq(target, (uintptr_t)__wrap_malloc,
                         "site_%s: displacement across a word, yet patched", sites[i].name);
        }
    }
    for (size_t k = 0; k < 4; k++)   /* 5 of the 8 offsets in a word qualify */
        cr_expect_eq(patched[k], 5, "size %zu: %zu sites patched", sites[8 * k].size, patched[k]);
}

Test(patch, sites_with_an_aligned_displacement_call_their_class_entry)
{
    expect_aligned_sites_patched(table());
}

Test(patch, blocks_from_patched_sites_have_their_size_and_keep_their_contents)
{
    enum { ROUNDS = 200 };
    static void *blocks[ROUNDS][SITE_COUNT];
    for (size_t r = 0; r < ROUNDS; r++)
        for (size_t i = 0; i < SITE_COUNT; i++) {
            void *p = sites[i].fn();
            cr_assert_not_null(p);
            cr_assert(lg_owns(p), "site_%s: block not lgmalloc's", sites[i].name);
            cr_assert_geq(lg_malloc_usable_size(p), sites[i].size);
            memset(p, (int)(r * SITE_COUNT + i) & 0xff, sites[i].size);
            blocks[r][i] = p;
        }
    for (size_t r = 0; r < ROUNDS; r++)
        for (size_t i = 0; i < SITE_COUNT; i++) {
            const uint8_t *p = blocks[r][i];
            uint8_t want = (uint8_t)(r * SITE_COUNT + i);
            cr_assert(p[0] == want && p[sites[i].size - 1] == want,
                      "site_%s round %zu: block overwritten", sites[i].name, r);
        }
    for (size_t r = 0; r < ROUNDS; r++)
        for (size_t i = 0; i < SITE_COUNT; i++)
            free(blocks[r][i]);
}

Test(patch, an_entry_given_a_size_its_class_cannot_hold_falls_back)
{
    lg_route_entry_t entry = lg_route_entry(lg_route_class_for(56));
    void *small = entry(56);   /* the class's page is current now */
    size_t sizes[] = { 57, 200, 5000, 100000, (size_t)8 << 20 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = entry(sizes[i]);
        cr_assert_not_null(p);
        cr_assert(lg_owns(p));
        cr_expect_geq(lg_malloc_usable_size(p), sizes[i], "entry(%zu)", sizes[i]);
        memset(p, 0x5a, sizes[i]);
        free(p);
    }
    free(small);
}

static void *first_malloc_of_a_thread(void *arg)
{
    (void)arg;
    lg_route_entry_t entry = lg_route_entry(lg_route_class_for(136));
    void *p = entry(136);   /* no heap yet: the generic path makes one */
    bool ok = p && lg_owns(p) && lg_malloc_usable_size(p) >= 136;
    free(p);
    return (void *)(uintptr_t)ok;
}

Test(patch, an_entry_serves_the_first_malloc_of_a_new_thread)
{
    pthread_t thread;
    void *ok;
    cr_assert_eq(pthread_create(&thread, NULL, first_malloc_of_a_thread, NULL), 0);
    cr_assert_eq(pthread_join(thread, &ok), 0);
    cr_assert(ok);
}

Test(patch, the_patched_text_is_read_and_execute_again)
{
    const lgp_table_t *t = table();
    for (size_t i = 0; i < SITE_COUNT; i++) {
        char perms[5];
        perms_of(call_of(t, &sites[i]), perms);
        cr_expect_str_eq(perms, "r-xp", "site_%s", sites[i].name);
    }
}

Test(patch, patching_again_changes_nothing)
{
    const lgp_table_t *t = table();
    uintptr_t before[SITE_COUNT];
    for (size_t i = 0; i < SITE_COUNT; i++)
        before[i] = target_of(call_of(t, &sites[i]));
    size_t using_entry = lgp__patch_sites(t);
    cr_expect_geq(using_entry, 20);
    cr_expect_eq(lgp__patch_sites(t), using_entry);
    for (size_t i = 0; i < SITE_COUNT; i++)
        cr_expect_eq(target_of(call_of(t, &sites[i])), before[i], "site_%s", sites[i].name);
}

Test(patch, a_forked_child_runs_the_patched_sites)
{
    const lgp_table_t *t = table();
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        bool ok = true;
        for (size_t i = 0; i < SITE_COUNT; i++) {
            char perms[5];
            void *p = sites[i].fn();
            ok = ok && p && lg_owns(p) && lg_malloc_usable_size(p) >= sites[i].size;
            free(p);
            perms_of(call_of(t, &sites[i]), perms);
            ok = ok && strcmp(perms, "r-xp") == 0;
        }
        _exit(ok ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- LGMALLOC_PREDICT_PATCH=0 --------------------------------------------- */

Test(patch_off, leaves_every_call_at_malloc)
{
    const lgp_table_t *t = table();
    for (size_t i = 0; i < SITE_COUNT; i++) {
        cr_expect_eq(target_of(call_of(t, &sites[i])), (uintptr_t)__wrap_malloc,
                     "site_%s", sites[i].name);
        void *p = sites[i].fn();
        cr_expect_geq(lg_malloc_usable_size(p), sites[i].size);
        free(p);
    }
    cr_expect_eq(lgp__patch_sites(t), 0);
}

/* ---- fork while the background thread patches ------------------------------ */

/* Every child, forked at any moment of the patching, finds the program's
 * code pages executable and not writable: fork waits for a page that is
 * being patched to be put back. */
static bool text_is_read_execute(void)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps)
        return false;
    char line[512];
    bool ok = true;
    while (fgets(line, sizeof line, maps)) {
        char perms[5];
        if (sscanf(line, "%*x-%*x %4s", perms) == 1 && perms[1] == 'w' && perms[2] == 'x')
            ok = false;
    }
    fclose(maps);
    return ok;
}

/* Forks a child that checks text_is_read_execute and reports it. */
static bool child_sees_read_execute_text(void)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(text_is_read_execute() ? 0 : 1);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

Test(patch_fork, children_forked_during_patching_see_no_writable_code, .timeout = 120)
{
    uintptr_t probe = 0;
    size_t forks = 0, bad = 0;
    const lgp_table_t *t = NULL;
    /* Until the table is there and the last aligned site is patched. */
    for (int done = 0; done < 20 && forks < 20000; forks++) {
        if (!t && (t = lgp_self_table()) != NULL)
            for (size_t i = SITE_COUNT; i-- > 0 && !probe;)
                if (displacement_aligned(call_of(t, &sites[i])))
                    probe = call_of(t, &sites[i]);
        if (probe && target_of(probe) != (uintptr_t)__wrap_malloc)
            done++;
        bad += !child_sees_read_execute_text();
    }
    cr_expect_eq(bad, 0, "%zu of %zu children saw writable code", bad, forks);
    cr_expect(text_is_read_execute());
}

/* ---- once the program has run (LGMALLOC_PREDICT_PATCH_AFTER=1024) --------- */

/* Allocates 8 blocks per page asked for through the sites, 512 live at a
 * time, and frees them: sizes up to 9000, so more refills than pages. */
static void fill_pages(size_t pages)
{
    enum { LIVE = 512 };
    static void *blocks[LIVE];
    for (size_t round = 0; round * LIVE < pages * 8; round++) {
        for (size_t i = 0; i < LIVE; i++)
            blocks[i] = sites[i % SITE_COUNT].fn();
        for (size_t i = 0; i < LIVE; i++)
            free(blocks[i]);
    }
}

static size_t sites_at_malloc(const lgp_table_t *t)
{
    size_t n = 0;
    for (size_t i = 0; i < SITE_COUNT; i++)
        n += target_of(call_of(t, &sites[i])) == (uintptr_t)__wrap_malloc;
    return n;
}

TestSuite(patch_deferred, .timeout = 60);

Test(patch_deferred, a_short_run_leaves_every_call_at_malloc)
{
    const lgp_table_t *t = table();
    for (size_t i = 0; i < SITE_COUNT; i++)
        free(sites[i].fn());   /* a refill of each of four classes */
    cr_expect_eq(sites_at_malloc(t), SITE_COUNT, "patched before the program ran");
}

Test(patch_deferred, sites_are_patched_once_the_program_has_refilled_pages)
{
    const lgp_table_t *t = table();
    fill_pages(4096);
    expect_aligned_sites_patched(t);
    lg_predict_stats_t stats;
    lg_predict_stats_get(&stats);
    cr_expect_eq(stats.patched_sites, 20);
}

/* Malloc and free in turn at one site refill no page: the heartbeat,
 * every 1,024 frees into the current page, counts instead. */
Test(patch_deferred, a_steady_state_is_patched_by_its_heartbeats)
{
    const lgp_table_t *t = table();
    const site_fn_t *s = &sites[8];   /* malloc(136) */
    for (size_t i = 0; i < (size_t)2048 * 1024; i++)
        free(s->fn());
    expect_aligned_sites_patched(t);
}

static void *fill_on_a_thread(void *arg)
{
    fill_pages((size_t)(uintptr_t)arg);
    return NULL;
}

Test(patch_deferred, the_thread_that_refills_patches)
{
    const lgp_table_t *t = table();
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, fill_on_a_thread, (void *)(uintptr_t)4096), 0);
    cr_assert_eq(pthread_join(thread, NULL), 0);
    expect_aligned_sites_patched(t);
}

/* Children forked at any moment while another thread's allocations
 * patch find the program's code executable and not writable. */
Test(patch_deferred, children_forked_while_a_thread_patches_see_no_writable_code,
     .timeout = 120)
{
    const lgp_table_t *t = table();
    uintptr_t probe = 0;
    for (size_t i = SITE_COUNT; i-- > 0 && !probe;)
        if (displacement_aligned(call_of(t, &sites[i])))
            probe = call_of(t, &sites[i]);
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, fill_on_a_thread, (void *)(uintptr_t)4096), 0);
    size_t forks = 0, bad = 0;
    for (int done = 0; done < 20 && forks < 20000; forks++) {
        if (target_of(probe) != (uintptr_t)__wrap_malloc)
            done++;
        bad += !child_sees_read_execute_text();
    }
    cr_assert_eq(pthread_join(thread, NULL), 0);
    cr_expect_eq(bad, 0, "%zu of %zu children saw writable code", bad, forks);
    cr_expect_neq(target_of(probe), (uintptr_t)__wrap_malloc, "never patched");
    cr_expect(text_is_read_execute());
}
