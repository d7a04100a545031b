/* The analysis of the running program.  A constructor analyses a small
 * program before main (before_main_by_size); for a larger one it starts a
 * background thread, so start-up waits for nothing (the analysis' time
 * grows with the code and the .debug_info: docs/prediction.md, "Costs").
 * The thread publishes the instruction table as soon as it has it, then a
 * second table with DWARF evidence merged in.
 *
 * Environment:
 *   LGMALLOC_PREDICT=0          no analysis
 *   LGMALLOC_PREDICT_DWARF=0    no DWARF pass
 *   LGMALLOC_PREDICT_SYNC=1     everything before main, no thread (the
 *                               table is there from the first malloc of main);
 *                               0: on the thread; unset: before main in a
 *                               small program (before_main_by_size below)
 *   LGMALLOC_ALLOC_FUNCS=a,b:2  the program's own allocation functions
 *   LGMALLOC_VERBOSE=1          the report on stderr (2: the whole table,
 *                               with file:line: only then is the DWARF
 *                               line table read)
 *
 * The analysis allocates through the program's allocator (its calls are
 * wrapped like the program's); the allocator initialises itself on first
 * use and never calls the analysis, so nothing recurses. */
#include "runtime.h"
#include "../routing/routing.h"

#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#ifndef LGP_HAVE_DWARF
#define LGP_HAVE_DWARF 0
#endif

#define SELF_PATH "/proc/self/exe"

static _Atomic(lgp_table_t *) published;
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  done_cond = PTHREAD_COND_INITIALIZER;
static bool            done = true;   /* false while the thread works */
static int             verbose;

typedef struct job_s {
    lgp_options_t options;
    const char   *names[64];
    char         *buffer;     /* the names, split in place */
    uintptr_t     bias;
    lgp_entry_t   entries[LGP_SELF_ENTRIES];
} job_t;

static bool env_is(const char *name, const char *value)
{
    const char *v = getenv(name);
    return v && strcmp(v, value) == 0;
}

static int first_object(struct dl_phdr_info *info, size_t size, void *bias)
{
    (void)size;
    *(uintptr_t *)bias = (uintptr_t)info->dlpi_addr;
    return 1;   /* the first object is the program */
}

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

static void publish(lgp_table_t *table, const char *stage)
{
    atomic_store_explicit(&published, table, memory_order_release);
    lgp__route(table);
    if (verbose <= 0)
        return;
    fprintf(stderr, "lgmalloc: prediction (%s):\n", stage);
    if (verbose > 1)
        lgp_table_print(stderr, table);
    else
        lgp_table_print_summary(stderr, table);
}

static void report_none(const char *why)
{
    if (verbose > 0)
        fprintf(stderr, "lgmalloc: prediction: no table: %s\n", why);
}

static void finish(void)
{
    pthread_mutex_lock(&done_lock);
    done = true;
    pthread_cond_broadcast(&done_cond);
    pthread_mutex_unlock(&done_lock);
}

/* Runs the analysis; the published table is never freed (the allocator may
 * hold it), a table it replaces is kept too. */
static bool analyse(job_t *job, bool dwarf, bool pending, const char *stage)
{
    char why[160];
    lgp_table_t *table;
    lgp_options_t options = job->options;
    options.dwarf = dwarf;
    options.lines = dwarf && verbose > 1;
    if (lgp_analyze_file(SELF_PATH, &options, &table, why, sizeof why) != 0) {
        report_none(why);
        return false;
    }
    table = lgp__table_keep(table);
    table->bias = job->bias;
    if (pending && table->debug_info)
        lgp__copy_text(table->note, sizeof table->note, "DWARF pending");
    publish(table, stage);
    return true;
}

/* A child forked while the thread works has no thread: nothing to wait for
 * (and the lock may have been copied held). */
static void child_after_fork(void)
{
    (void)pthread_mutex_init(&done_lock, NULL);   /* cannot fail without attributes */
    (void)pthread_cond_init(&done_cond, NULL);
    done = true;
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
    finish();
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
    if (pthread_atfork(NULL, NULL, child_after_fork) != 0 || pthread_attr_init(&attr) != 0)
        return false;
    bool started = false;
    if (pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0
        && sigfillset(&all) == 0 && pthread_sigmask(SIG_SETMASK, &all, &old) == 0) {
        done = false;
        started = pthread_create(&thread, &attr, background, job) == 0;
        if (!started)
            finish();
        (void)pthread_sigmask(SIG_SETMASK, &old, NULL);   /* a valid set a moment ago */
    }
    pthread_attr_destroy(&attr);
    return started;
}

/* The shim's (wrap/handover.h): nonzero when the C library's allocator
 * serves every call (under valgrind), which leaves a prediction no use.
 * Weak: the analysis' own tests link no shim. */
extern int lg__handover_decide(void) __attribute__((weak));

__attribute__((constructor)) static void lgp__self_start(void)
{
    const char *v = getenv("LGMALLOC_VERBOSE");
    verbose = v ? atoi(v) : 0;
    lgp__split_library_ends();
    lgp__release_libraries();   /* what loading them made resident */
    if (env_is("LGMALLOC_PREDICT", "0")) {
        report_none("turned off (LGMALLOC_PREDICT=0)");
        return;
    }
    if (lg__handover_decide && lg__handover_decide()) {
        report_none("the C library's allocator serves every call (under valgrind)");
        return;
    }
    job_t *job = lgp__calloc(1, sizeof *job);
    if (!job || !job_names(job)) {
        free(job);
        report_none("out of memory");
        return;
    }
    dl_iterate_phdr(first_object, &job->bias);
    job->options.entries = job->entries;
    job->options.entry_count = lgp__self_entries(job->bias, job->entries, LGP_SELF_ENTRIES);
    job->options.hooks = &lgp__release_hooks;
    bool dwarf = LGP_HAVE_DWARF && !env_is("LGMALLOC_PREDICT_DWARF", "0");
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
    if (!start_background(job)) {
        report_none("no thread for the analysis");
        job_free(job);
    }
}

const lgp_table_t *lgp_self_table(void)
{
    return atomic_load_explicit(&published, memory_order_acquire);
}

const lgp_table_t *lgp_self_wait(void)
{
    pthread_mutex_lock(&done_lock);
    while (!done)
        pthread_cond_wait(&done_cond, &done_lock);
    pthread_mutex_unlock(&done_lock);
    return lgp_self_table();
}
