/* lgmalloc-predict-cost: what the call-site analysis costs.
 *
 *   lgmalloc-predict-cost FILE...
 *       the instruction pass (MB/s of code) and the DWARF pass (ms per MB
 *       of .debug_info) on each file, best of 5 runs, CPU and wall time
 *   lgmalloc-predict-cost --startup PROGRAM [ARG...]
 *       PROGRAM's run time (best of 20) with prediction off, on a background
 *       thread (the default), and before main with and without DWARF: the
 *       start-up delay the analysis adds
 *
 * A benchmark to run by hand (docs/prediction.md, "Costs"), not a test:
 * on a loaded machine compare the CPU times. */
#include "lgmalloc_predict.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#define RUNS 5
#define STARTUP_RUNS 40

extern char **environ;

static double now_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

typedef struct best_s {
    double cpu, wall;
    lgp_costs_t costs;
} best_t;

static int measure(const char *path, bool dwarf, best_t *best)
{
    lgp_options_t options = { .dwarf = dwarf, .lines = dwarf };
    best->cpu = best->wall = 1e300;
    for (int i = 0; i < RUNS; i++) {
        char why[160];
        lgp_table_t *table;
        double c0 = now_ms(CLOCK_PROCESS_CPUTIME_ID), w0 = now_ms(CLOCK_MONOTONIC);
        if (lgp_analyze_file(path, &options, &table, why, sizeof why) != 0) {
            fprintf(stderr, "%s: no table: %s\n", path, why);
            return -1;
        }
        double cpu = now_ms(CLOCK_PROCESS_CPUTIME_ID) - c0, wall = now_ms(CLOCK_MONOTONIC) - w0;
        if (cpu < best->cpu) {
            best->cpu = cpu;
            best->costs = table->costs;
        }
        if (wall < best->wall)
            best->wall = wall;
        lgp_table_free(table);
    }
    return 0;
}

static int cost_of(const char *path)
{
    best_t insn, all;
    if (measure(path, false, &insn) != 0 || measure(path, true, &all) != 0)
        return 1;
    double text_mb = (double)insn.costs.text_bytes / 1e6;
    double info_mb = (double)all.costs.debug_info_bytes / 1e6;
    printf("%s\n", path);
    printf("  instructions: %7.2f MB of code, %8.2f ms CPU (%7.1f MB/s, %.2f ms/MB), "
           "%8.2f ms wall; %zu functions decoded\n", text_mb, insn.cpu, text_mb / insn.cpu * 1e3,
           insn.cpu / text_mb, insn.wall, insn.costs.functions_decoded);
    printf("  pre-filter:   %7.2f MB read in %8.2f ms wall (%7.1f MB/s)\n",
           (double)insn.costs.prefilter_bytes / 1e6, insn.costs.prefilter_ms,
           (double)insn.costs.prefilter_bytes / 1e3 / insn.costs.prefilter_ms);
    if (info_mb > 0) {
        double dwarf_cpu = all.cpu - insn.cpu;
        printf("  DWARF:        %7.2f MB of .debug_info, %8.2f ms CPU (%.1f ms/MB), "
               "%8.2f ms wall for both passes\n", info_mb, dwarf_cpu, dwarf_cpu / info_mb,
               all.wall);
        printf("                of which call-site values %.2f ms wall (%.1f ms/MB), "
               "line table %.2f ms wall\n", all.costs.dwarf_ms - all.costs.lines_ms,
               (all.costs.dwarf_ms - all.costs.lines_ms) / info_mb, all.costs.lines_ms);
    } else {
        printf("  DWARF:        none\n");
    }
    return 0;
}

/* ---- start-up ------------------------------------------------------------ */

/* PROGRAM's run time, its output thrown away; -1 if it fails. */
static double run_ms(char **argv, char **env)
{
    posix_spawn_file_actions_t actions;
    pid_t pid;
    int status;
    if (posix_spawn_file_actions_init(&actions) != 0)
        return -1;
    double t0 = now_ms(CLOCK_MONOTONIC), ms = -1;
    if (posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0) == 0
        && posix_spawn(&pid, argv[0], &actions, NULL, argv, env) == 0
        && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        ms = now_ms(CLOCK_MONOTONIC) - t0;
    posix_spawn_file_actions_destroy(&actions);
    return ms;
}

/* environ plus the given settings */
static char **with(const char *a, const char *b)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 3, sizeof *env);
    if (!env)
        return NULL;
    memcpy(env, environ, n * sizeof *env);
    env[n] = (char *)a;
    env[n + 1] = (char *)b;
    return env;
}

static int startup(char **argv)
{
    static const struct { const char *name, *a, *b; } modes[] = {
        { "prediction off (LGMALLOC_PREDICT=0)", "LGMALLOC_PREDICT=0", NULL },
        { "background thread (default)", "LGMALLOC_PREDICT=1", NULL },
        { "before main, instructions only", "LGMALLOC_PREDICT_SYNC=1", "LGMALLOC_PREDICT_DWARF=0" },
        { "before main, with DWARF", "LGMALLOC_PREDICT_SYNC=1", NULL },
    };
    printf("%s: run time, best of %d\n", argv[0], STARTUP_RUNS);
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        char **env = with(modes[m].a, modes[m].b);
        if (!env)
            return 1;
        double best = 1e300;
        for (int i = 0; i < STARTUP_RUNS; i++) {
            double ms = run_ms(argv, env);
            if (ms < 0) {
                fprintf(stderr, "%s failed\n", argv[0]);
                free(env);
                return 1;
            }
            best = ms < best ? ms : best;
        }
        printf("  %-40s %8.2f ms\n", modes[m].name, best);
        free(env);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: lgmalloc-predict-cost FILE... | --startup PROGRAM [ARG...]\n");
        return 2;
    }
    if (strcmp(argv[1], "--startup") == 0)
        return argc > 2 ? startup(argv + 2) : 2;
    int rc = 0;
    for (int i = 1; i < argc; i++)
        rc |= cost_of(argv[i]);
    return rc;
}
