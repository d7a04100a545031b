/* Declarations shared between the files of the analysis (analysis.h).
 *
 * Glossary:
 *   target   an address the scan looks for: the entry of an allocation
 *            function (__wrap_malloc, malloc, malloc@plt, _Znwm, ...), the
 *            GOT slot of one (for -fno-plt's `call [rip+slot]`), or a
 *            function found to pass its argument through to one.
 *   spec     how a target's request size follows from its arguments: the
 *            product of one or two factors, each an argument register or a
 *            constant (calloc: rdi * rsi; a forwarder `f(){return malloc(32);}`:
 *            32).
 *   hit      a call or jmp whose displacement reaches a target, found by the
 *            byte pre-filter before anything is decoded.
 *   raw site a hit confirmed on an instruction boundary, with the value of
 *            each size register traced back through the code before it.
 *   forwarder a function that tail-calls a target: the allocator sees its
 *            callers' return addresses.
 *   wrapper  a function that calls a target with its own argument unchanged
 *            (xmalloc): the allocator sees the wrapper's return address. */
#ifndef LGP_ANALYSIS_INTERNAL_H
#define LGP_ANALYSIS_INTERNAL_H

#include "analysis.h"

#include <elf.h>
#include <stdlib.h>

/* The analysis allocates with these (alloc.c), which its scan does not see
 * as calls of allocation functions; it frees with free. */
void *lgp__malloc(size_t size);
void *lgp__calloc(size_t count, size_t size);
void *lgp__realloc(void *p, size_t size);

/* Makes room for one more item in an array that grows by doubling, when
 * `count` has reached `*cap`; false when out of memory (the array stays). */
static inline bool lgp__grow(void **items, size_t *cap, size_t count, size_t size)
{
    if (count < *cap)
        return true;
    size_t n = *cap ? 2 * *cap : 64;
    void *p = lgp__realloc(*items, n * size);
    if (!p)
        return false;
    *items = p;
    *cap = n;
    return true;
}

/* ---- short strings without printf (text.c) ------------------------------ */

/* Copies text into buf, cut to size - 1 bytes and terminated. */
void lgp__copy_text(char *buf, size_t size, const char *text);

#define LGP_HEX_TEXT 19   /* "0x", 16 digits, the terminator */
/* Writes value as "0x" and lowercase hex digits. */
void lgp__hex_text(char buf[LGP_HEX_TEXT], uint64_t value);

/* ---- registers, by their DWARF numbers ---------------------------------- */

enum {
    LGP_RAX = 0, LGP_RDX = 1, LGP_RCX = 2, LGP_RBX = 3, LGP_RSI = 4, LGP_RDI = 5,
    LGP_RBP = 6, LGP_RSP = 7, LGP_R8 = 8, LGP_R9 = 9, LGP_R11 = 11, LGP_R15 = 15,
    LGP_NOREG = 0xff,
};

bool lgp__reg_is_argument(unsigned reg);
bool lgp__reg_is_caller_saved(unsigned reg);

/* ---- the ELF image (elf.c) ---------------------------------------------- */

typedef struct lgp_func_s {
    uint64_t    start, end;
    const char *name;          /* NULL for a start known only from .eh_frame_hdr */
} lgp_func_t;

typedef struct lgp_elf_s {
    const uint8_t    *map;
    size_t            map_size;
    const Elf64_Ehdr *ehdr;
    const Elf64_Shdr *shdrs;
    const char       *shstrtab;
    lgp_func_t       *funcs;   /* sorted by start, not overlapping */
    size_t            func_count;
} lgp_elf_t;

int  lgp__elf_open(lgp_elf_t *elf, const char *path, char *why, size_t why_size);
/* Maps the file and reads its section headers only: no symbols, no
 * function list. */
int  lgp__elf_map(lgp_elf_t *elf, const char *path, char *why, size_t why_size);
void lgp__elf_close(lgp_elf_t *elf);
const Elf64_Shdr *lgp__elf_section(const lgp_elf_t *elf, const char *name);
const char *lgp__elf_section_name(const lgp_elf_t *elf, const Elf64_Shdr *sh);
/* The bytes of a section inside the file, or NULL if they are not there. */
const uint8_t *lgp__elf_section_bytes(const lgp_elf_t *elf, const Elf64_Shdr *sh);
/* Lets the whole pages of [p, p + n), a part of the file's mapping read
 * through, leave the resident set; read again, they come back from the
 * page cache. */
void lgp__elf_drop(const lgp_elf_t *elf, const uint8_t *p, size_t n);
const lgp_func_t *lgp__elf_function_at(const lgp_elf_t *elf, uint64_t addr);
/* Calls fn for every defined or undefined symbol of .symtab and .dynsym. */
typedef void lgp_symbol_fn(void *ctx, const char *name, const Elf64_Sym *sym);
void lgp__elf_symbols(const lgp_elf_t *elf, lgp_symbol_fn *fn, void *ctx);
/* Function starts from .eh_frame_hdr (elf_ehframe.c). */
int  lgp__elf_ehframe_starts(const lgp_elf_t *elf, uint64_t **starts, size_t *count);

/* ---- targets (targets.c, plt.c) ----------------------------------------- */

enum { LGP_FACTOR_UNKNOWN, LGP_FACTOR_CONST, LGP_FACTOR_REG };
enum { LGP_EXT_NONE, LGP_EXT_ZERO32, LGP_EXT_SIGN32 };
enum { LGP_EV_INSN = 1, LGP_EV_DWARF = 2, LGP_EV_CONFLICT = 4 };

typedef struct lgp_factor_s {
    uint8_t  kind;       /* LGP_FACTOR_* */
    uint8_t  reg;        /* LGP_FACTOR_REG: the argument register */
    uint8_t  ext;        /* LGP_EXT_*: applied to that register's value */
    uint8_t  evidence;   /* LGP_FACTOR_CONST: LGP_EV_* bits */
    float    confidence; /* LGP_FACTOR_CONST: of the value */
    uint64_t value;      /* LGP_FACTOR_CONST: the value; _REG: a constant added */
} lgp_factor_t;

typedef struct lgp_spec_s {
    lgp_factor_t factor[2];
    uint8_t      count;
} lgp_spec_t;

typedef struct lgp_target_s {
    uint64_t    addr;       /* entry point, or GOT slot when is_slot */
    bool        is_slot;
    uint8_t     via;        /* lgp_via_t of the sites that call it */
    uint8_t     round;      /* the scan round that looks for it */
    float       confidence; /* that its spec holds: 1 for real entry points */
    lgp_spec_t  spec;
    const char *name;       /* callee name in the report */
    bool        named;      /* a function the user named, defined in the file */
    bool        checked;    /* named: the allocation it returns was looked for */
} lgp_target_t;

typedef struct lgp_targets_s {
    lgp_target_t *items;
    size_t        count, cap;
    char         *names;    /* the user's function names, parsed */
} lgp_targets_t;

int  lgp__targets_add(lgp_targets_t *t, const lgp_target_t *target);
bool lgp__targets_has(const lgp_targets_t *t, uint64_t addr, bool is_slot);
long lgp__targets_index(const lgp_targets_t *t, uint64_t addr, bool is_slot); /* or -1 */
void lgp__targets_free(lgp_targets_t *t);
/* The entry points of the allocation functions and of the user's own. */
int  lgp__targets_find(lgp_targets_t *t, const lgp_elf_t *elf, const lgp_options_t *opt);
/* A function looked for by name. */
typedef struct lgp_wanted_s {
    const char *name;       /* the symbol */
    const char *callee;     /* as reported */
    lgp_spec_t  spec;
    uint8_t     via;
} lgp_wanted_t;
/* Their PLT stubs and GOT slots in a dynamically linked file. */
int  lgp__targets_find_plt(lgp_targets_t *t, const lgp_elf_t *elf,
                           const lgp_wanted_t *wanted, size_t count);

/* ---- the code (decode.c) ------------------------------------------------ */

typedef struct lgp_value_s {
    uint8_t  kind;       /* LGP_FACTOR_UNKNOWN, _CONST, or _REG: entry value of reg */
    uint8_t  reg;
    uint8_t  ext;
    bool     branch;     /* the trace passed a conditional branch */
    uint64_t value;      /* _CONST: the value; _REG: a constant added to the
                            (extended) register, as in malloc(n + 16) */
} lgp_value_t;

/* Which calls never return (noreturn.c): abort, exit, __assert_fail ... by
 * name, and the program's functions seen to have no way back. */
typedef struct lgp_noreturn_s lgp_noreturn_t;
lgp_noreturn_t *lgp__noreturn_new(const lgp_elf_t *elf);
void lgp__noreturn_free(lgp_noreturn_t *nr);
bool lgp__noreturn(lgp_noreturn_t *nr, uint64_t addr, bool is_slot);
bool lgp__noreturn_named(lgp_noreturn_t *nr, uint64_t addr);   /* by name only */
bool lgp__returns_first(lgp_noreturn_t *nr, uint64_t addr, bool is_slot); /* memcpy ... */

typedef struct lgp_code_s lgp_code_t;   /* one function, decoded */

lgp_code_t *lgp__code_new(void);
void lgp__code_free(lgp_code_t *code);
/* Calls to functions that never return end their path (NULL: none known). */
void lgp__code_set_noreturn(lgp_code_t *code, lgp_noreturn_t *noreturn);
/* Decodes the function func; false if its bytes are not in the file. */
bool lgp__code_decode(lgp_code_t *code, const lgp_elf_t *elf, const lgp_func_t *func);
/* Index of the instruction at addr, or -1 when addr is not a boundary. */
long lgp__code_index(const lgp_code_t *code, uint64_t addr);
unsigned lgp__code_length(const lgp_code_t *code, long index);
uint32_t lgp__code_offset(const lgp_code_t *code, long index);   /* from the start */
bool lgp__code_has_indirect_jump(const lgp_code_t *code);
/* The value register reg holds when instruction index starts, the same on
 * every path that reaches it, or unknown. */
lgp_value_t lgp__code_trace(lgp_code_t *code, long index, unsigned reg);
/* The call whose result the function returns on every path that returns
 * a pointer (NULL aside), as an instruction index; -1 when there is none
 * or the function may leave by a tail call or an indirect jump. */
long lgp__code_returned_call(lgp_code_t *code);
/* How far above the return address pushed by the call at index the
 * function's own return address lies, the same on every path; -1 if the
 * stack pointer is not followed there. */
long lgp__code_frame(lgp_code_t *code, long index);

/* ---- DWARF (dwarf.c, or dwarf_none.c when built without it) ------------- */

typedef struct lgp_callvalue_s {
    uint64_t ret;
    uint64_t value;
    uint8_t  reg;
} lgp_callvalue_t;

typedef struct lgp_dwarf_s lgp_dwarf_t;

/* Opens the DWARF of elf (mapped from path); -1 with why when there is none. */
int  lgp__dwarf_open(const lgp_elf_t *elf, const char *path, lgp_dwarf_t **dwarf,
                     size_t *info_bytes, char *why, size_t why_size);
void lgp__dwarf_close(lgp_dwarf_t *dwarf);
/* Every constant argument value of every call site, sorted by (ret, reg),
 * in an array the caller frees (it outlives lgp__dwarf_close). */
int  lgp__dwarf_call_values(lgp_dwarf_t *dwarf, lgp_callvalue_t **values, size_t *count);
/* Fills file and line of the sites (sorted by address), from the line table;
 * names are interned in pool. */
typedef struct lgp_pool_s lgp_pool_t;
int  lgp__dwarf_lines(lgp_dwarf_t *dwarf, lgp_site_t *sites, size_t count, lgp_pool_t *pool);

/* ---- strings (pool.c) --------------------------------------------------- */

/* Sites hold offsets into the pool while it grows; lgp__pool_fix turns them
 * into pointers once it is done. */
struct lgp_pool_s {
    char  *data;
    size_t size, cap;
    bool   failed;      /* an add ran out of memory */
};
#define LGP_POOL_NONE ((uintptr_t)0)
uintptr_t lgp__pool_add(lgp_pool_t *pool, const char *s); /* 0 on failure or s NULL */
const char *lgp__pool_fix(const lgp_pool_t *pool, const char *offset);

/* ---- the scan (scan.c) -------------------------------------------------- */

typedef struct lgp_raw_s {
    uint64_t    ret;
    uint32_t    target;
    uint32_t    func;          /* index into elf->funcs, or UINT32_MAX */
    bool        tail;
    bool        jump_table;    /* the function has indirect jumps */
    lgp_value_t arg[2];        /* for the target's register factors */
    uint32_t    wrapper;       /* the allocation a wrapper returns: the wrapper's
                                  target index plus one; 0 for any other */
    int32_t     frame;         /* then: its return address' distance, or -1 */
} lgp_raw_t;

typedef struct lgp_raws_s {
    lgp_raw_t *items;
    size_t     count, cap;
} lgp_raws_t;

typedef struct lgp_evidence_src_s {
    const lgp_callvalue_t *values;
    size_t                 count;
} lgp_evidence_src_t;

/* Finds the sites of every target, adding forwarders and wrappers as new
 * targets, round by round. */
int lgp__scan(const lgp_elf_t *elf, lgp_targets_t *targets, const lgp_evidence_src_t *dwarf,
              lgp_raws_t *raws, lgp_costs_t *costs);

/* ---- confidence (confidence.c) ------------------------------------------ */

/* The size of a raw site as a spec over its function's arguments, with the
 * rules of docs/prediction.md. */
lgp_spec_t lgp__evaluate(const lgp_raw_t *raw, const lgp_target_t *target,
                         const lgp_evidence_src_t *dwarf);
/* Collapses an all-constant spec into a size; false if it is not one. */
bool lgp__spec_size(const lgp_spec_t *spec, uint64_t *size, float *confidence, uint8_t *evidence);

/* ---- timing ------------------------------------------------------------- */

double lgp__now_ms(void);

#endif /* LGP_ANALYSIS_INTERNAL_H */
