/* lgmalloc-scan: what lgmalloc would predict for a program.
 *
 * Runs the call-site analysis lgmalloc runs on itself at start-up on any
 * x86-64 ELF file: a program linked with lgmalloc (calls to __wrap_malloc
 * ...) or an ordinary dynamically linked one (calls to malloc@plt), and
 * prints the prediction table with a summary, or the same as JSON.
 *
 *   lgmalloc-scan [--json] [--no-dwarf] [--alloc-funcs=NAME[:ARG],...] FILE
 *   lgmalloc-scan --embed [-o OUTPUT] [--no-dwarf] [--alloc-funcs=...] PROGRAM
 *
 * The functions named at build time (-Dextra_alloc_functions) and in
 * LGMALLOC_ALLOC_FUNCS count as allocation functions, as for a program.
 *
 * --embed stores the table in the program itself (in OUTPUT, a copy, with
 * -o), as a note in a section that is not loaded (LGP_NOTE_SECTION),
 * marked with the program's build-id: at start-up lgmalloc then takes it
 * and runs no analysis (docs/linking.md, "Ahead-of-time tables").  The
 * section is written by objcopy ($OBJCOPY, or objcopy on the PATH), which
 * changes no loaded byte of the program. */
#include "analysis/analysis.h"   /* the analysis alone: nothing of the runtime */

#include <elf.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAX_NAMES 64

typedef struct args_s {
    lgp_options_t options;
    const char   *names[MAX_NAMES];
    char         *lists[2];      /* the built-in and environment lists, split */
    const char   *path;
    const char   *output;        /* --embed -o */
    bool          json;
    bool          embed;
} args_t;

static int usage(void)
{
    fprintf(stderr, "usage: lgmalloc-scan [--json] [--no-dwarf] [--alloc-funcs=NAME[:ARG],...] "
            "FILE\n"
            "       lgmalloc-scan --embed [-o OUTPUT] [--no-dwarf] [--alloc-funcs=...] PROGRAM\n");
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
        else if (strcmp(argv[i], "--embed") == 0)
            a->embed = true;
        else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            a->output = argv[++i];
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
    if (a->embed)
        a->options.lines = false;   /* file:line only for a reader */
    return a->path != NULL && (!a->output || a->embed) && !(a->json && a->embed);
}

/* ---- --embed ---------------------------------------------------------------- */

/* The note: its header, the owner's name and the table, each padded to 4
 * bytes. */
static bool write_note(const char *path, const void *table, size_t size)
{
    Elf64_Nhdr n = { .n_namesz = sizeof LGP_NOTE_OWNER, .n_descsz = (Elf64_Word)size,
                     .n_type = LGP_NOTE_TYPE };
    char name[(sizeof LGP_NOTE_OWNER + 3) & ~3u] = LGP_NOTE_OWNER;
    static const char pad[4];
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(&n, sizeof n, 1, f) == 1 && fwrite(name, sizeof name, 1, f) == 1
              && fwrite(table, 1, size, f) == size
              && fwrite(pad, 1, (4 - size % 4) % 4, f) == (4 - size % 4) % 4;
    return fclose(f) == 0 && ok;
}

/* objcopy, replacing any table embedded before. */
static bool run_objcopy(const char *note, const char *program, const char *output)
{
    const char *objcopy = getenv("OBJCOPY");
    char add[4096];
    int n = snprintf(add, sizeof add, "%s=%s", LGP_NOTE_SECTION, note);
    if (n < 0 || (size_t)n >= sizeof add)
        return false;
    char *argv[] = {
        (char *)(objcopy && *objcopy ? objcopy : "objcopy"),
        "--remove-section=" LGP_NOTE_SECTION,
        "--add-section", add,
        (char *)program,
        (char *)output,   /* NULL: in place */
        NULL,
    };
    pid_t pid;
    int status;
    if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0) {
        fprintf(stderr, "lgmalloc-scan: cannot run %s (set OBJCOPY)\n", argv[0]);
        return false;
    }
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int embed(const args_t *a, const lgp_table_t *table)
{
    char why[160];
    lgp_build_id_t id;
    if (lgp_file_build_id(a->path, &id, why, sizeof why) != 0) {
        fprintf(stderr, "lgmalloc-scan: %s: cannot embed: %s\n", a->path, why);
        return 1;
    }
    size_t size;
    void *bytes = lgp_table_encode(table, &id, 0, &size);
    char note[] = "/tmp/lgmalloc-table-XXXXXX";
    int fd = bytes ? mkstemp(note) : -1;
    bool ok = fd >= 0 && close(fd) == 0 && write_note(note, bytes, size)
              && run_objcopy(note, a->path, a->output);
    if (fd >= 0)
        unlink(note);
    free(bytes);
    if (!ok) {
        fprintf(stderr, "lgmalloc-scan: %s: the table could not be embedded\n", a->path);
        return 1;
    }
    char text[2 * LGP_BUILD_ID_MAX + 1];
    lgp_build_id_text(&id, text);
    printf("%s: table of %zu call sites embedded for build-id %s\n",
           a->output ? a->output : a->path, table->count, text);
    return 0;
}

static int scan(const args_t *a)
{
    char why[160];
    lgp_table_t *table;
    if (lgp_analyze_file(a->path, &a->options, &table, why, sizeof why) != 0) {
        fprintf(stderr, "lgmalloc-scan: %s: no table: %s\n", a->path, why);
        return 1;
    }
    if (a->embed) {
        int rc = embed(a, table);
        lgp_table_free(table);
        return rc;
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
