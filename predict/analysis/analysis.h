/* The analysis: binary -> table.
 *
 * Takes an x86-64 ELF file (a path) and options: the program's own
 * allocation functions, entry points known by address, whether to read
 * DWARF, and hooks for the caller's steps between passes.  Gives a
 * prediction table (../table.h), or a one-line reason why there is none.
 *
 * It knows nothing of the process it runs in: it reads a file, allocates
 * with malloc and gives a table.  The running program's own analysis
 * (../runtime/) and lgmalloc-scan (tools/) both call it.
 *
 * Its files, in the order the data flows: elf.c, elf_ehframe.c (the file
 * mapped, its sections, symbols and functions); targets.c, plt.c (the
 * allocation functions looked for); dwarf.c (call-site values from DWARF,
 * or dwarf_none.c); scan.c, decode.c, noreturn.c (the instruction scan);
 * confidence.c (a size and a confidence per site); analyze.c (all of it,
 * into a table); report.c (the table as text and JSON).  And helpers:
 * alloc.c, pool.c, text.c, names.c. */
#ifndef LGP_ANALYSIS_H
#define LGP_ANALYSIS_H

#include "../table.h"

#include <stdio.h>

/* An allocation entry point known by its address, for a file without
 * symbols: the running program knows where its own __wrap_malloc is. */
typedef struct lgp_entry_s {
    const char *name;        /* "malloc", "calloc", ..., "_Znwm", ... */
    uint64_t    addr;        /* link-time address */
} lgp_entry_t;

/* Steps the caller takes at points of the analysis, each a function or
 * NULL (nothing to do): the running program's analysis keeps its
 * libraries' pages small with them (../runtime/release.c).  The analysis
 * calls them and knows no more of them. */
typedef struct lgp_hooks_s {
    void (*before_decode)(void);  /* the first function is about to be decoded */
    void (*before_dwarf)(void);   /* the DWARF is about to be opened */
    void (*after_dwarf)(void);    /* the call-site values are read and the DWARF
                                     closed (not when lines are asked for) */
} lgp_hooks_t;

typedef struct lgp_options_s {
    bool dwarf;                        /* read DWARF call-site values */
    bool lines;                        /* and file:line from the line table */
    const char *const *alloc_functions;/* the program's own allocation functions: */
    size_t alloc_function_count;       /* "NAME" (size in the first argument) or
                                          "NAME:N" (in the N-th, 1 to 6) */
    const lgp_entry_t *entries;        /* entry points by address (may be NULL) */
    size_t entry_count;
    const lgp_hooks_t *hooks;          /* may be NULL */
} lgp_options_t;

/* Analyses the ELF file at path.  On success returns 0 and a table to free
 * with lgp_table_free.  On failure returns -1 and a one-line reason in why
 * ("stripped: no .symtab and no .eh_frame_hdr", "not an x86-64 ELF file", ...). */
int lgp_analyze_file(const char *path, const lgp_options_t *options,
                     lgp_table_t **table, char *why, size_t why_size);

/* The GNU build-id of the ELF file at path: 0, or -1 and a reason. */
int lgp_file_build_id(const char *path, lgp_build_id_t *id, char *why, size_t why_size);

/* The program's own allocation functions named at build time
 * (-Dextra_alloc_functions), comma-separated. */
const char *lgp_builtin_alloc_functions(void);

/* Splits a comma-separated list in place, appending its names to
 * names[count..max); returns the new count. */
size_t lgp_split_names(char *list, const char **names, size_t count, size_t max);

/* Reports: the table as text or as JSON (the format of lgmalloc-scan). */
void lgp_table_print(FILE *out, const lgp_table_t *table);
void lgp_table_print_json(FILE *out, const lgp_table_t *table);
void lgp_table_print_summary(FILE *out, const lgp_table_t *table);

const char *lgp_evidence_name(lgp_evidence_t evidence);

#endif /* LGP_ANALYSIS_H */
