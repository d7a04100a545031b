/* lgmalloc call-site prediction: the one interface between the analysis and
 * everything else (the allocator core, lgmalloc-scan, the tests).
 *
 * The analysis reads an x86-64 ELF file and builds a prediction table: for
 * every call site of an allocation function, the return address the
 * allocator will see at run time, the predicted request size (or none) and a
 * confidence in [0, 1].  Data flows one way: binary -> analysis -> table.
 * Addresses in the table are link-time addresses; subtract the table's
 * `bias` from a run-time return address before looking it up. */
#ifndef LGMALLOC_PREDICT_H
#define LGMALLOC_PREDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* What supports a prediction. */
typedef enum lgp_evidence_e {
    LGP_EVIDENCE_NONE,      /* size unknown */
    LGP_EVIDENCE_INSN,      /* the instructions before the call */
    LGP_EVIDENCE_DWARF,     /* DW_AT_call_value of the call site */
    LGP_EVIDENCE_BOTH,      /* both, and they agree */
    LGP_EVIDENCE_CONFLICT,  /* both, and they disagree: DWARF's value, low confidence */
} lgp_evidence_t;

/* How the allocator meets a site at run time. */
typedef enum lgp_via_e {
    LGP_VIA_DIRECT,     /* calls an allocation function: its return address is seen */
    LGP_VIA_FORWARDER,  /* calls a function that tail-calls one: its return address is seen */
    LGP_VIA_WRAPPER,    /* calls a wrapper (xmalloc): the allocator sees the wrapper's
                           own site; the prediction shapes the size histogram only */
} lgp_via_t;

typedef struct lgp_site_s {
    uint64_t    address;     /* link-time return address of the call */
    uint64_t    size;        /* predicted request size; valid when evidence != NONE */
    const char *function;    /* containing function, or NULL (stripped) */
    const char *file;        /* source file of the call, or NULL (no DWARF, or
                                lines not asked for) */
    const char *callee;      /* "malloc", "calloc", ..., or the wrapper's name */
    uint32_t    line;        /* 0 when unknown */
    float       confidence;  /* 0 when the size is unknown */
    uint8_t     evidence;    /* lgp_evidence_t */
    uint8_t     via;         /* lgp_via_t */
    int32_t     frame;       /* the allocation a wrapper returns: how far above
                                this call's return address (on the stack) the
                                wrapper's own lies; -1 if not known; 0 for any
                                other site */
    uint64_t    wrapper;     /* then: the wrapper's entry (link-time) */
    uint64_t    target;      /* the callee's entry (link-time); 0 through a GOT slot */
} lgp_site_t;

/* Counters and costs of one analysis, for the reports and the benchmark. */
typedef struct lgp_costs_s {
    size_t text_bytes;        /* bytes of executable code scanned */
    size_t debug_info_bytes;  /* bytes of .debug_info read (0: none or DWARF off) */
    size_t functions_decoded; /* functions decoded around a hit */
    size_t tail_calls;        /* tail calls to allocation functions found */
    size_t wrappers;          /* pass-through wrappers and forwarders found */
    size_t prefilter_bytes;   /* bytes the pre-filter read, all rounds together */
    double prefilter_ms;      /* the byte pre-filter alone, all rounds */
    double insn_ms;           /* ELF, pre-filter, decode and resolution */
    double dwarf_ms;          /* call-site values and line table */
    double lines_ms;          /* of which the line table */
} lgp_costs_t;

typedef struct lgp_table_s {
    lgp_site_t *sites;        /* sorted by address */
    size_t      count;
    uintptr_t   bias;         /* load bias (in-process tables; 0 from a file) */
    bool        dwarf;        /* DWARF evidence was merged in */
    bool        debug_info;   /* the file has a .debug_info section */
    char        note[96];     /* why not, when not ("no DWARF (built without -g?)") */
    lgp_costs_t costs;
    char       *strings;      /* owns the names the sites point to */
} lgp_table_t;

/* An allocation entry point known by its address, for a file without
 * symbols: the running program knows where its own __wrap_malloc is. */
typedef struct lgp_entry_s {
    const char *name;        /* "malloc", "calloc", ..., "_Znwm", ... */
    uint64_t    addr;        /* link-time address */
} lgp_entry_t;

typedef struct lgp_options_s {
    bool dwarf;                        /* read DWARF call-site values */
    bool lines;                        /* and file:line from the line table */
    const char *const *alloc_functions;/* the program's own allocation functions: */
    size_t alloc_function_count;       /* "NAME" (size in the first argument) or
                                          "NAME:N" (in the N-th, 1 to 6) */
    const lgp_entry_t *entries;        /* entry points by address (may be NULL) */
    size_t entry_count;
} lgp_options_t;

/* Analyses the ELF file at path.  On success returns 0 and a table to free
 * with lgp_table_free.  On failure returns -1 and a one-line reason in why
 * ("stripped: no .symtab and no .eh_frame_hdr", "not an x86-64 ELF file", ...). */
int lgp_analyze_file(const char *path, const lgp_options_t *options,
                     lgp_table_t **table, char *why, size_t why_size);

void lgp_table_free(lgp_table_t *table);

/* The site whose return address is ret (a run-time address), or NULL. */
const lgp_site_t *lgp_table_find(const lgp_table_t *table, uintptr_t ret);

/* The table of the running program, once published (NULL before, or when
 * there is none: see LGMALLOC_VERBOSE=1 for why).  A published table stays
 * valid for the life of the process; it is replaced once when DWARF evidence
 * arrives from the background thread. */
const lgp_table_t *lgp_self_table(void);

/* Blocks until the analysis of the running program has finished (both its
 * start-up part and its background part), then returns lgp_self_table(). */
const lgp_table_t *lgp_self_wait(void);

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

#endif /* LGMALLOC_PREDICT_H */
