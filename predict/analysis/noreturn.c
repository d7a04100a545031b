/* Which calls never return, and which return their first argument
 * (memcpy, memset ...: xmemdup's `return memcpy(malloc(n), p, n)`).
 *
 * Never returning: the C library's (abort, exit, __assert_fail,
 * __stack_chk_fail, ...) by name, as defined functions, PLT stubs or GOT
 * slots, and the program's own functions that have no `ret` and leave
 * only for such calls (gnulib's xalloc_die, a `.cold` part that calls
 * abort).  The code after such a call is not reached from it: a failure
 * path that aborts neither merges into the code after it nor lowers the
 * confidence of what that code computes. */
#include "internal.h"

#include <Zydis/Zydis.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {
    "abort", "exit", "_exit", "_Exit", "quick_exit", "__assert_fail",
    "__assert_perror_fail", "__assert", "__stack_chk_fail", "__fortify_fail", "__chk_fail",
    "err", "errx", "verr", "verrx", "longjmp", "_longjmp", "siglongjmp", "__longjmp_chk",
    "pthread_exit", "__cxa_throw", "__cxa_rethrow", "_Unwind_Resume",
    "_ZSt17__throw_bad_allocv", "_ZSt20__throw_length_errorPKc",
    "_ZSt24__throw_out_of_range_fmtPKcz", "_ZSt19__throw_logic_errorPKc",
};
#define NAME_COUNT (sizeof names / sizeof names[0])

static const char *const first_names[] = {
    "memcpy", "memmove", "memset", "strcpy", "strcat", "strncpy",
    "__memcpy_chk", "__memmove_chk", "__memset_chk", "__strcpy_chk",
};
#define FIRST_COUNT (sizeof first_names / sizeof first_names[0])
#define CACHE_FIRST 256   /* the program's functions asked about: first size, a power of two */

enum { RETURNS = 1, NEVER };

struct lgp_noreturn_s {
    const lgp_elf_t *elf;
    lgp_targets_t    known;             /* by name: entries, stubs, slots */
    lgp_targets_t    first;             /* those that return their first argument */
    ZydisDecoder     decoder;
    uint64_t        *addr;              /* the functions checked, by start; 0 empty */
    uint8_t         *state;
    size_t           size, used;        /* doubled while at least half full */
};

static void find_symbol(void *ctx, const char *name, const Elf64_Sym *sym)
{
    lgp_noreturn_t *nr = ctx;
    if (ELF64_ST_TYPE(sym->st_info) != STT_FUNC || sym->st_shndx == SHN_UNDEF
        || sym->st_value == 0)
        return;
    lgp_target_t t = { .addr = sym->st_value };
    for (size_t i = 0; i < NAME_COUNT; i++)
        if (strcmp(name, names[i]) == 0)
            lgp__targets_add(&nr->known, &t);
    for (size_t i = 0; i < FIRST_COUNT; i++)
        if (strcmp(name, first_names[i]) == 0)
            lgp__targets_add(&nr->first, &t);
}

lgp_noreturn_t *lgp__noreturn_new(const lgp_elf_t *elf)
{
    lgp_noreturn_t *nr = lgp__calloc(1, sizeof *nr);
    lgp_wanted_t *wanted = lgp__calloc(NAME_COUNT + FIRST_COUNT, sizeof *wanted);
    if (nr) {
        nr->size = CACHE_FIRST;
        nr->addr = lgp__calloc(CACHE_FIRST, sizeof *nr->addr);
        nr->state = lgp__calloc(CACHE_FIRST, sizeof *nr->state);
    }
    if (!nr || !wanted || !nr->addr || !nr->state
        || !ZYAN_SUCCESS(ZydisDecoderInit(&nr->decoder, ZYDIS_MACHINE_MODE_LONG_64,
                                          ZYDIS_STACK_WIDTH_64))
        || !ZYAN_SUCCESS(ZydisDecoderEnableMode(&nr->decoder, ZYDIS_DECODER_MODE_MINIMAL,
                                                ZYAN_TRUE))) {
        free(wanted);
        lgp__noreturn_free(nr);
        return NULL;
    }
    nr->elf = elf;
    for (size_t i = 0; i < NAME_COUNT; i++)
        wanted[i] = (lgp_wanted_t){ .name = names[i], .callee = names[i] };
    lgp__elf_symbols(elf, find_symbol, nr);
    lgp__targets_find_plt(&nr->known, elf, wanted, NAME_COUNT);
    for (size_t i = 0; i < FIRST_COUNT; i++)
        wanted[i] = (lgp_wanted_t){ .name = first_names[i], .callee = first_names[i] };
    lgp__targets_find_plt(&nr->first, elf, wanted, FIRST_COUNT);
    free(wanted);
    return nr;
}

void lgp__noreturn_free(lgp_noreturn_t *nr)
{
    if (!nr)
        return;
    lgp__targets_free(&nr->known);
    lgp__targets_free(&nr->first);
    free(nr->addr);
    free(nr->state);
    free(nr);
}

/* A function of the program that has no `ret`, no indirect jump and no
 * branch out of itself but to a known one never returns. */
static bool seen_not_to_return(lgp_noreturn_t *nr, const lgp_func_t *f)
{
    for (unsigned i = 0; i < nr->elf->ehdr->e_shnum; i++) {
        const Elf64_Shdr *sh = &nr->elf->shdrs[i];
        if (!(sh->sh_flags & SHF_EXECINSTR) || f->start < sh->sh_addr
            || f->end > sh->sh_addr + sh->sh_size)
            continue;
        const uint8_t *p = lgp__elf_section_bytes(nr->elf, sh);
        if (!p)
            return false;
        p += f->start - sh->sh_addr;
        size_t size = f->end - f->start;
        ZydisDecodedInstruction in;
        for (size_t off = 0; off < size; off += in.length) {
            if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&nr->decoder, NULL, p + off,
                                                            size - off, &in)))
                return false;
            if (in.meta.category == ZYDIS_CATEGORY_RET)
                return false;
            if (in.meta.category != ZYDIS_CATEGORY_UNCOND_BR
                && in.meta.category != ZYDIS_CATEGORY_COND_BR)
                continue;
            if (!in.raw.imm[0].is_relative)
                return false;
            int64_t to = (int64_t)(off + in.length) + in.raw.imm[0].value.s;
            if ((to < 0 || (uint64_t)to >= size)
                && !lgp__targets_has(&nr->known, f->start + (uint64_t)to, false))
                return false;
        }
        return size > 0;
    }
    return false;
}

/* Where addr is in the cache, or the empty entry where it goes. */
static size_t slot_of(const uint64_t *addrs, size_t size, uint64_t addr)
{
    size_t at = (size_t)((addr * 0x9E3779B97F4A7C15ull) >> 40) & (size - 1);
    while (addrs[at] != 0 && addrs[at] != addr)
        at = (at + 1) & (size - 1);
    return at;
}

static bool grow(lgp_noreturn_t *nr)
{
    size_t size = 2 * nr->size;
    uint64_t *addr = lgp__calloc(size, sizeof *addr);
    uint8_t *state = lgp__calloc(size, sizeof *state);
    if (!addr || !state) {
        free(addr);
        free(state);
        return false;
    }
    for (size_t i = 0; i < nr->size; i++) {
        if (nr->addr[i] == 0)
            continue;
        size_t at = slot_of(addr, size, nr->addr[i]);
        addr[at] = nr->addr[i];
        state[at] = nr->state[i];
    }
    free(nr->addr);
    free(nr->state);
    nr->addr = addr;
    nr->state = state;
    nr->size = size;
    return true;
}

bool lgp__returns_first(lgp_noreturn_t *nr, uint64_t addr, bool is_slot)
{
    return nr && lgp__targets_has(&nr->first, addr, is_slot);
}

bool lgp__noreturn_named(lgp_noreturn_t *nr, uint64_t addr)
{
    return nr && lgp__targets_has(&nr->known, addr, false);
}

bool lgp__noreturn(lgp_noreturn_t *nr, uint64_t addr, bool is_slot)
{
    if (!nr)
        return false;
    if (lgp__targets_has(&nr->known, addr, is_slot))
        return true;
    if (is_slot)
        return false;
    const lgp_func_t *f = lgp__elf_function_at(nr->elf, addr);
    if (!f || f->start != addr)
        return false;
    size_t at = slot_of(nr->addr, nr->size, addr);
    if (nr->addr[at] == addr)
        return nr->state[at] == NEVER;
    bool never = seen_not_to_return(nr, f);
    if (2 * (nr->used + 1) > nr->size && !grow(nr))
        return never;       /* not kept: asked again, decoded again */
    at = slot_of(nr->addr, nr->size, addr);
    nr->addr[at] = addr;
    nr->state[at] = never ? NEVER : RETURNS;
    nr->used++;
    return never;
}
