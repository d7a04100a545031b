/* The analysis of the running program, where it has no embedded table
 * (self.c).  A table cached by an earlier run of the same build (cache.c)
 * is taken instead when there is one.  Otherwise a small program is
 * analysed before main (before_main_by_size); a larger one on a background
 * thread, so start-up waits for nothing (the analysis' time grows with the
 * code and the .debug_info: docs/prediction.md, "Costs").  The thread
 * publishes the instruction table as soon as it has it, then a second
 * table with DWARF evidence merged in.  The last table is cached.
 *
 * Environment:
 *   LGMALLOC_PREDICT_DWARF=0    no DWARF pass
 *   LGMALLOC_PREDICT_SYNC=1     everything before main, no thread (the
 *                               table is there from the first malloc of main);
 *                               0: on the thread; unset: before main in a
 *                               small program (before_main_by_size below)
 *   LGMALLOC_PREDICT_CACHE=0    no cache: neither read nor written
 *   LGMALLOC_ALLOC_FUNCS=a,b:2  the program's own allocation functions */
#include "runtime.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#ifndef LGP_HAVE_DWARF
#define LGP_HAVE_DWARF 0
#endif
#ifndef LGP_VERSION
#define LGP_VERSION ""
#endif

#define SELF_PATH "/proc/self/exe"

typedef struct job_s {
    lgp_options_t  options;
    const char    *names[64];
    char          *buffer;     /* the names, split in place */
    uintptr_t      bias;
    lgp_entry_t    entries[LGP_SELF_ENTRIES];
    lgp_build_id_t id;
    uint64_t       key;        /* of the cache; 0: no cache */
} job_t;

/* The built-in list, then the environment's, split on commas. */
static bool job_names(job_t *job)
{
    const char *env = getenv("LGMALLOC_ALLOC_FUNCS");
    const char *builtin = lgp_builtin_alloc_functions();
    size_t len = strlen(builtin) + (env ? strlen(env) : 0) + 2;
    job->buffer = lgp__malloc(len);
    if (!job->buffer)
        return false;
    size_t at = strlen(builtin);
    memcpy(job->buffer, builtin, at);
    job->buffer[at] = ',';
    lgp__copy_text(job->buffer + at + 1, len - at - 1, env ? env : "");
    job->options.alloc_functions = job->names;
    job->options.alloc_function_count = lgp_split_names(job->buffer, job->names, 0,
        sizeof job->names / sizeof job->names[0]);
    return true;
}

static void job_free(job_t *job)
{
    free(job->buffer);
    free(job);
}

/* ---- the cache's key: what else the table depends on ----------------------- */

static uint64_t fnv(uint64_t h, const void *data, size_t size)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < size; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* The version of lgmalloc (its analysis), the allocation functions and
 * the passes asked for; never 0. */
static uint64_t options_key(const job_t *job, bool dwarf, bool lines)
{
    uint64_t h = fnv(0xcbf29ce484222325ull, LGP_VERSION, sizeof LGP_VERSION);
    for (size_t i = 0; i < job->options.alloc_function_count; i++)
        h = fnv(h, job->names[i], strlen(job->names[i]) + 1);
    uint8_t flags = (uint8_t)(dwarf | lines << 1);
    h = fnv(h, &flags, 1);
    return h ? h : 1;
}

/* ---- the analysis ------------------------------------------------------------ */

/* Runs the analysis; the published table is never freed (the allocator may
 * hold it), a table it replaces is kept too.  The last one is cached. */
static bool analyse(job_t *job, bool dwarf, bool pending, const char *stage)
{
    char why[160];
    lgp_table_t *table;
    lgp_options_t options = job->options;
    options.dwarf = dwarf;
    options.lines = dwarf && lgp__verbose > 1;
    if (lgp_analyze_file(SELF_PATH, &options, &table, why, sizeof why) != 0) {
        lgp__report_none(why);
        return false;
    }
    table = lgp__table_keep(table);
    table->bias = job->bias;
    bool last = !(pending && table->debug_info);
    if (!last)
        lgp__copy_text(table->note, sizeof table->note, "DWARF pending");
    lgp__publish(table, stage);
    if (last && job->key)
        lgp__cache_store(table, &job->id, job->key);
    return true;
}

static void *background(void *arg)
{
    job_t *job = arg;
    bool dwarf = job->options.dwarf;
    if (analyse(job, false, dwarf, "instructions, background thread") && dwarf
        && lgp_self_table()->debug_info) {
        lgp__release_libraries();   /* Zydis' pages, before libdwarf's come */
        analyse(job, true, false, "with DWARF, background thread");
    }
    job_free(job);
    lgp__release_libraries();
    lgp__merge_library_pages();
    lgp__release_heap(false);
    lgp__self_finish();
    return NULL;
}

/* A small program is analysed before main.  It waits for the analysis
 * instead of running beside it, and in return has the table from its
 * first malloc and the analysis' memory gone before its own grows (on the
 * thread, what the analysis holds at its peak was still resident while
 * the program built up its own).  The analysis' time grows with the code
 * and the .debug_info: programs with more than these go to the thread
 * (see docs/decisions.md#before-main). */
#define BEFORE_MAIN_CODE  ((uint64_t)128 << 10)
#define BEFORE_MAIN_DEBUG ((uint64_t)64 << 10)

static bool before_main_by_size(bool dwarf)
{
    lgp_elf_t elf;
    char why[160];
    if (lgp__elf_map(&elf, SELF_PATH, why, sizeof why) != 0)
        return false; /* the analysis will say why */
    const Elf64_Shdr *text = lgp__elf_section(&elf, ".text");
    const Elf64_Shdr *debug = dwarf ? lgp__elf_section(&elf, ".debug_info") : NULL;
    bool small = text && text->sh_size <= BEFORE_MAIN_CODE
                 && (!debug || debug->sh_size <= BEFORE_MAIN_DEBUG);
    lgp__elf_close(&elf);
    return small;
}

/* Starts the analysis on a thread that takes no signals; false if no
 * thread could be made. */
static bool start_background(job_t *job)
{
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_t thread;
    if (pthread_attr_init(&attr) != 0)
        return false;
    bool started = false;
    if (pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0
        && sigfillset(&all) == 0 && pthread_sigmask(SIG_SETMASK, &all, &old) == 0) {
        if (lgp__self_busy()) {
            started = pthread_create(&thread, &attr, background, job) == 0;
            if (!started)
                lgp__self_finish();
        }
        (void)pthread_sigmask(SIG_SETMASK, &old, NULL);   /* a valid set a moment ago */
    }
    pthread_attr_destroy(&attr);
    return started;
}

static void wait_to_cache(void)
{
    (void)lgp_self_wait();
}

/* The table an earlier run cached, published; false when there is none
 * to trust.  Where no table could be stored either, the job's key goes:
 * nothing to store, and no reason to wait for the analysis at exit. */
static bool use_cache(job_t *job)
{
    char why[96];
    bool storable;
    lgp_table_t *table = lgp__cache_load(&job->id, job->key, &storable, why, sizeof why);
    if (!table) {
        lgp__report_skipped("cache", why);
        if (!storable)
            job->key = 0;
        return false;
    }
    table->origin = LGP_ORIGIN_CACHE;
    table->bias = job->bias;
    lgp__publish(table, "cached table");
    return true;
}

void lgp__self_prepare(void)
{
    lgp__split_library_ends();
    lgp__release_libraries();   /* what loading them made resident */
}

void lgp__self_analyse(const lgp_build_id_t *id)
{
    job_t *job = lgp__calloc(1, sizeof *job);
    if (!job || !job_names(job)) {
        free(job);
        lgp__report_none("out of memory");
        return;
    }
    bool dwarf = LGP_HAVE_DWARF && !lgp__env_is("LGMALLOC_PREDICT_DWARF", "0");
    job->bias = lgp__self_bias();
    job->id = *id;
    if (id->size && !lgp__env_is("LGMALLOC_PREDICT_CACHE", "0"))
        job->key = options_key(job, dwarf, dwarf && lgp__verbose > 1);
    if (job->key && use_cache(job)) {
        job_free(job);
        return;
    }
    job->options.entries = job->entries;
    job->options.entry_count = lgp__self_entries(job->bias, job->entries, LGP_SELF_ENTRIES);
    job->options.hooks = &lgp__release_hooks;
    const char *sync = getenv("LGMALLOC_PREDICT_SYNC");
    if (sync && *sync ? strcmp(sync, "1") == 0 : before_main_by_size(dwarf)) {
        analyse(job, dwarf, false,
                dwarf ? "with DWARF, before main" : "instructions, before main");
        job_free(job);
        lgp__release_libraries();
        lgp__merge_library_pages();
        lgp__release_heap(true);
        return;
    }
    job->options.dwarf = dwarf;
    /* A program that exits before its thread is done (sed, a test) would
     * pay the thread's start at every run and never cache a table: its
     * first run waits for the analysis at exit instead, once per build
     * (see docs/decisions.md#cache-at-exit). */
    if (job->key)
        (void)atexit(wait_to_cache);   /* without it: analysed again next time */
    if (!start_background(job)) {
        lgp__report_none("no thread for the analysis");
        job_free(job);
    }
}
