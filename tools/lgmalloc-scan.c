/* lgmalloc-scan: what lgmalloc would predict for a program.
 *
 * Runs the call-site analysis lgmalloc runs on itself at start-up on any
 * x86-64 ELF file: a program linked with lgmalloc (calls to __wrap_malloc
 * ...) or an ordinary dynamically linked one (calls to malloc@plt), and
 * prints the prediction table with a summary, or the same as JSON.
 *
 *   lgmalloc-scan [--json] [--no-dwarf] [--alloc-funcs=NAME[:ARG],...] FILE
 *
 * The functions named at build time (-Dextra_alloc_functions) and in
 * LGMALLOC_ALLOC_FUNCS count as allocation functions, as for a program. */
#include "analysis/analysis.h"   /* the analysis alone: nothing of the runtime */

#include <stdlib.h>
#include <string.h>

#define MAX_NAMES 64

typedef struct args_s {
    lgp_options_t options;
    const char   *names[MAX_NAMES];
    char         *lists[2];      /* the built-in and environment lists, split */
    const char   *path;
    bool          json;
} args_t;

static int usage(void)
{
    fprintf(stderr, "usage: lgmalloc-scan [--json] [--no-dwarf] [--alloc-funcs=NAME[:ARG],...] "
            "FILE\n");
    return 2;
}

/* The names every program of this build and environment would use. */
static bool default_names(args_t *a)
{
    const char *env = getenv("LGMALLOC_ALLOC_FUNCS");
    a->lists[0] = strdup(lgp_builtin_alloc_functions());
    a->lists[1] = strdup(env ? env : "");
    if (!a->lists[0] || !a->lists[1])
        return false;
    for (int i = 0; i < 2; i++)
        a->options.alloc_function_count = lgp_split_names(a->lists[i], a->names,
            a->options.alloc_function_count, MAX_NAMES);
    return true;
}

static bool parse(int argc, char **argv, args_t *a)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            a->json = true;
        else if (strcmp(argv[i], "--no-dwarf") == 0)
            a->options.dwarf = a->options.lines = false;
        else if (strncmp(argv[i], "--alloc-funcs=", 14) == 0)
            a->options.alloc_function_count = lgp_split_names(argv[i] + 14, a->names,
                a->options.alloc_function_count, MAX_NAMES);
        else if (argv[i][0] == '-' || a->path)
            return false;
        else
            a->path = argv[i];
    }
    return a->path != NULL;
}

static int scan(const args_t *a)
{
    char why[160];
    lgp_table_t *table;
    if (lgp_analyze_file(a->path, &a->options, &table, why, sizeof why) != 0) {
        fprintf(stderr, "lgmalloc-scan: %s: no table: %s\n", a->path, why);
        return 1;
    }
    if (a->json)
        lgp_table_print_json(stdout, table);
    else
        lgp_table_print(stdout, table);
    lgp_table_free(table);
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    args_t a = { .options = { .dwarf = true, .lines = true } };
    a.options.alloc_functions = a.names;
    int rc;
    if (!default_names(&a)) {
        fprintf(stderr, "lgmalloc-scan: out of memory\n");
        rc = 1;
    } else {
        rc = parse(argc, argv, &a) ? scan(&a) : usage();
    }
    free(a.lists[0]);
    free(a.lists[1]);
    return rc;
}
