/* The prediction table: what the analysis (analysis/) gives and the
 * routing (routing/) takes, in the one format every stage shares.
 *
 * For every call site of an allocation function: the return address the
 * allocator will see at run time, the predicted request size (or none) and
 * a confidence in [0, 1].  Addresses are link-time addresses; subtract the
 * table's `bias` from a run-time return address before looking it up
 * (lgp_table_find does). */
#ifndef LGP_TABLE_H
#define LGP_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* One entry of the table: one call site. */
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

/* Where a published table came from. */
typedef enum lgp_origin_e {
    LGP_ORIGIN_ANALYSIS,    /* the analysis, run now */
    LGP_ORIGIN_EMBEDDED,    /* the program's own note (lgmalloc-scan --embed) */
    LGP_ORIGIN_CACHE,       /* the per-user cache, from an earlier run */
} lgp_origin_t;

typedef struct lgp_table_s {
    lgp_site_t *sites;        /* sorted by address */
    size_t      count;
    uintptr_t   bias;         /* load bias (in-process tables; 0 from a file) */
    bool        dwarf;        /* DWARF evidence was merged in */
    bool        debug_info;   /* the file has a .debug_info section */
    char        note[96];     /* why not, when not ("no DWARF (built without -g?)") */
    lgp_costs_t costs;
    char       *strings;      /* owns the names the sites point to */
    uint8_t     origin;       /* lgp_origin_t */
    size_t      mapped;       /* read from bytes (table_file.c): the table, its
                                 sites and names are one mapping of this size */
} lgp_table_t;

/* (table.c) */
void lgp_table_free(lgp_table_t *table);

/* The site whose return address is ret (a run-time address), or NULL. */
const lgp_site_t *lgp_table_find(const lgp_table_t *table, uintptr_t ret);

/* ---- the table as bytes (table_file.c) ------------------------------------
 *
 * The form a table is embedded in a program (lgmalloc-scan --embed) and
 * cached in: a header with the program's build-id, fixed-size site records,
 * then the names.  Little-endian x86-64 only, as the analysis.  Every field
 * read back is checked: a file may have been planted (docs/prediction.md,
 * "Ahead-of-time tables"). */

#define LGP_BUILD_ID_MAX 32

/* A program's GNU build-id (.note.gnu.build-id): what ties a table to the
 * code it describes. */
typedef struct lgp_build_id_s {
    uint32_t size;           /* 0: none, or longer than LGP_BUILD_ID_MAX */
    uint8_t  bytes[LGP_BUILD_ID_MAX];
} lgp_build_id_t;

/* The note an embedded table lies in: owner "lgmalloc", this type, in the
 * non-allocated section LGP_NOTE_SECTION. */
#define LGP_NOTE_OWNER   "lgmalloc"
#define LGP_NOTE_TYPE    0x4c47u
#define LGP_NOTE_SECTION ".note.lgmalloc.table"

/* The table as bytes, with the build-id it describes and a key of the
 * options that made it (0 where none apply); NULL when out of memory.
 * Free with free(). */
void *lgp_table_encode(const lgp_table_t *table, const lgp_build_id_t *id, uint64_t key,
                       size_t *size);

/* The table in bytes, when they are well formed, made for the build-id id
 * and with the key; NULL, and a reason in why, otherwise.  The table is one
 * fresh mapping (lgp_table_free unmaps it). */
lgp_table_t *lgp_table_decode(const void *bytes, size_t size, const lgp_build_id_t *id,
                              uint64_t key, char *why, size_t why_size);

/* Finds the GNU build-id among the notes of a PT_NOTE segment or SHT_NOTE
 * section; false when there is none (or it is longer than we keep). */
bool lgp_build_id_from_notes(const void *notes, size_t size, lgp_build_id_t *id);

/* The same, read piece by piece from a file (or anything): `read` fills
 * buf with size bytes from offset, false when it cannot.  size: of the
 * whole table. */
typedef bool lgp_table_reader_t(void *source, void *buf, size_t size, uint64_t offset);
lgp_table_t *lgp_table_read(lgp_table_reader_t *read, void *source, uint64_t size,
                            const lgp_build_id_t *id, uint64_t key, char *why, size_t why_size);

/* The build-id as lowercase hex: 2 * size + 1 bytes. */
void lgp_build_id_text(const lgp_build_id_t *id, char text[2 * LGP_BUILD_ID_MAX + 1]);

#endif /* LGP_TABLE_H */
