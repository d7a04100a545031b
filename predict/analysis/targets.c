/* The targets the scan starts from: the allocation functions, found by
 * name as defined functions (__wrap_malloc, or malloc where lgmalloc
 * defines it) and as PLT stubs and GOT slots (an ordinary dynamically
 * linked program), plus the functions the user names. */
#include "internal.h"
#include "../../wrap/alloc_functions.h"

#include <stdlib.h>
#include <string.h>

#define REG(r)  { .kind = LGP_FACTOR_REG, .reg = (r) }
#define ONE(r)      { .factor = { REG(r) }, .count = 1 }

/* The register of argument n (from 1), by the System V ABI; 0 for none. */
#define ARG_REG(n) ((n) == 1 ? LGP_RDI : (n) == 2 ? LGP_RSI : (n) == 3 ? LGP_RDX \
                    : (n) == 4 ? LGP_RCX : (n) == 5 ? LGP_R8 : (n) == 6 ? LGP_R9 : 0)
#define ARG_FACTOR(n) { .kind = (n) ? LGP_FACTOR_REG : LGP_FACTOR_UNKNOWN, .reg = ARG_REG(n) }
/* The size: argument n, times argument m when m is not 0. */
#define SIZE_SPEC(n, m) { .factor = { ARG_FACTOR(n), ARG_FACTOR(m) }, .count = (m) ? 2 : 1 }

#define KNOWN_C(ret, name, params, args, n, m) { #name, #name, SIZE_SPEC(n, m) },
#define KNOWN_CXX(symbol, callee, n, m)        { #symbol, callee, SIZE_SPEC(n, m) },

/* The allocation functions (wrap/alloc_functions.h), and where each takes
 * its request size. */
static const struct {
    const char *name;
    const char *callee;     /* as reported: the C++ operators by their C++ name */
    lgp_spec_t  spec;
} known[] = {
    LG_ALLOC_FUNCTIONS(KNOWN_C, KNOWN_CXX)
};
#define KNOWN_COUNT (sizeof known / sizeof known[0])
_Static_assert(KNOWN_COUNT == LG_ALLOC_FUNCTION_COUNT, "one target per allocation function");

#define WRAP_PREFIX "__wrap_"

bool lgp__reg_is_argument(unsigned reg)
{
    return reg == LGP_RDI || reg == LGP_RSI || reg == LGP_RDX || reg == LGP_RCX
        || reg == LGP_R8 || reg == LGP_R9;
}

bool lgp__reg_is_caller_saved(unsigned reg)
{
    return reg <= LGP_RDI ? reg != LGP_RBX : (reg >= LGP_R8 && reg <= LGP_R11);
}

/* ---- the set ------------------------------------------------------------ */

long lgp__targets_index(const lgp_targets_t *t, uint64_t addr, bool is_slot)
{
    for (size_t i = 0; i < t->count; i++)
        if (t->items[i].addr == addr && t->items[i].is_slot == is_slot)
            return (long)i;
    return -1;
}

bool lgp__targets_has(const lgp_targets_t *t, uint64_t addr, bool is_slot)
{
    return lgp__targets_index(t, addr, is_slot) >= 0;
}

int lgp__targets_add(lgp_targets_t *t, const lgp_target_t *target)
{
    if (lgp__targets_has(t, target->addr, target->is_slot))
        return 0;
    if (!lgp__grow((void **)&t->items, &t->cap, t->count, sizeof *t->items))
        return -1;
    t->items[t->count++] = *target;
    return 0;
}

void lgp__targets_free(lgp_targets_t *t)
{
    free(t->items);
    free(t->names);
    memset(t, 0, sizeof *t);
}

/* ---- by symbol ---------------------------------------------------------- */

typedef struct find_ctx_s {
    lgp_targets_t      *targets;
    const lgp_wanted_t *wanted;   /* the known functions first, then the user's */
    size_t              count;
    bool                failed;
} find_ctx_t;

static void add_entry(find_ctx_t *c, const Elf64_Sym *sym, const lgp_wanted_t *w)
{
    lgp_target_t t = {
        .addr = sym->st_value, .via = w->via, .confidence = 1.0f, .spec = w->spec,
        .name = w->callee, .named = w->via == LGP_VIA_WRAPPER,
    };
    if (lgp__targets_add(c->targets, &t) != 0)
        c->failed = true;
}

/* The known functions also as __wrap_NAME; the user's by their name only. */
static void find_symbol(void *ctx, const char *name, const Elf64_Sym *sym)
{
    find_ctx_t *c = ctx;
    if (ELF64_ST_TYPE(sym->st_info) != STT_FUNC || sym->st_shndx == SHN_UNDEF
        || sym->st_value == 0)
        return;
    const char *base = strncmp(name, WRAP_PREFIX, strlen(WRAP_PREFIX)) == 0
                     ? name + strlen(WRAP_PREFIX) : name;
    for (size_t i = 0; i < c->count; i++) {
        const char *want = c->wanted[i].name;
        const char *have = i < KNOWN_COUNT ? base : name;
        if (have[0] == want[0] && strcmp(have, want) == 0)
            add_entry(c, sym, &c->wanted[i]);
    }
}

/* A user's "NAME" (size in the first argument) or "NAME:N" (in the N-th,
 * 1 to 6), its name copied to *store. */
static lgp_wanted_t user_function(const char *spec, char **store)
{
    static const uint8_t args[] = { LGP_RDI, LGP_RSI, LGP_RDX, LGP_RCX, LGP_R8, LGP_R9 };
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    unsigned arg = 1;
    if (colon && colon[1] >= '1' && colon[1] <= '6' && colon[2] == '\0')
        arg = (unsigned)(colon[1] - '0');
    else if (colon)
        len = strlen(spec);      /* not an argument number: no function has that name */
    char *name = *store;
    memcpy(name, spec, len);
    name[len] = '\0';
    *store += len + 1;
    lgp_spec_t size = ONE(args[arg - 1]);
    return (lgp_wanted_t){ name, name, size, LGP_VIA_WRAPPER };
}

static bool in_code(const lgp_elf_t *elf, uint64_t addr)
{
    for (unsigned i = 0; i < elf->ehdr->e_shnum; i++) {
        const Elf64_Shdr *sh = &elf->shdrs[i];
        if ((sh->sh_flags & SHF_EXECINSTR) && addr >= sh->sh_addr
            && addr - sh->sh_addr < sh->sh_size)
            return true;
    }
    return false;
}

/* Entry points given by address: those of a known name that lie in this
 * file's code (an address elsewhere is another object's function). */
static int find_entries(lgp_targets_t *t, const lgp_elf_t *elf, const lgp_options_t *opt)
{
    for (size_t e = 0; e < opt->entry_count; e++) {
        const lgp_entry_t *entry = &opt->entries[e];
        for (size_t i = 0; i < KNOWN_COUNT; i++) {
            if (strcmp(entry->name, known[i].name) != 0 || !in_code(elf, entry->addr))
                continue;
            lgp_target_t target = {
                .addr = entry->addr, .via = LGP_VIA_DIRECT, .confidence = 1.0f,
                .spec = known[i].spec, .name = known[i].callee,
            };
            if (lgp__targets_add(t, &target) != 0)
                return -1;
        }
    }
    return 0;
}

int lgp__targets_find(lgp_targets_t *t, const lgp_elf_t *elf, const lgp_options_t *opt)
{
    size_t n = KNOWN_COUNT + opt->alloc_function_count, chars = 0;
    for (size_t i = 0; i < opt->alloc_function_count; i++)
        chars += strlen(opt->alloc_functions[i]) + 1;
    lgp_wanted_t *wanted = lgp__malloc(n * sizeof *wanted);
    char *store = t->names = lgp__malloc(chars ? chars : 1);
    int rc = -1;
    if (wanted && t->names) {
        for (size_t i = 0; i < KNOWN_COUNT; i++)
            wanted[i] = (lgp_wanted_t){ known[i].name, known[i].callee, known[i].spec,
                                        LGP_VIA_DIRECT };
        for (size_t i = 0; i < opt->alloc_function_count; i++)
            wanted[KNOWN_COUNT + i] = user_function(opt->alloc_functions[i], &store);
        find_ctx_t c = { .targets = t, .wanted = wanted, .count = n };
        lgp__elf_symbols(elf, find_symbol, &c);
        if (!c.failed && find_entries(t, elf, opt) == 0)
            rc = lgp__targets_find_plt(t, elf, wanted, n);
    }
    free(wanted);
    return rc;
}
