/* Allocation functions of an ordinary dynamically linked file: the GOT
 * slots the dynamic linker fills for them (JUMP_SLOT relocations for the
 * PLT, GLOB_DAT for -fno-plt code), and the PLT stubs that jump through
 * those slots (.plt, or .plt.sec when built with IBT, and .plt.got). */
#include "internal.h"

#include <string.h>

#define ENDBR64_LEN 4
static const uint8_t endbr64[ENDBR64_LEN] = { 0xf3, 0x0f, 0x1e, 0xfa };

typedef struct slot_s {
    uint64_t            addr;
    const lgp_wanted_t *wanted;
} slot_t;

typedef struct slots_s {
    slot_t items[256];
    size_t count;
} slots_t;

static const lgp_wanted_t *wanted_named(const lgp_wanted_t *w, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(w[i].name, name) == 0)
            return &w[i];
    return NULL;
}

/* The slots of the wanted functions named by one relocation section. */
static void slots_from(const lgp_elf_t *elf, const Elf64_Shdr *rela, const lgp_wanted_t *w,
                       size_t n, slots_t *slots)
{
    if (rela->sh_entsize != sizeof(Elf64_Rela) || rela->sh_link >= elf->ehdr->e_shnum)
        return;
    const Elf64_Shdr *symtab = &elf->shdrs[rela->sh_link];
    if (symtab->sh_entsize != sizeof(Elf64_Sym) || symtab->sh_link >= elf->ehdr->e_shnum)
        return;
    const Elf64_Shdr *strtab = &elf->shdrs[symtab->sh_link];
    const Elf64_Rela *r = (const Elf64_Rela *)lgp__elf_section_bytes(elf, rela);
    const Elf64_Sym *syms = (const Elf64_Sym *)lgp__elf_section_bytes(elf, symtab);
    const char *strs = (const char *)lgp__elf_section_bytes(elf, strtab);
    if (!r || !syms || !strs || strtab->sh_size == 0 || strs[strtab->sh_size - 1] != '\0')
        return;
    size_t nsyms = symtab->sh_size / sizeof *syms;
    for (size_t i = 0; i < rela->sh_size / sizeof *r; i++) {
        uint32_t type = ELF64_R_TYPE(r[i].r_info), sym = ELF64_R_SYM(r[i].r_info);
        if ((type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) || sym == 0
            || sym >= nsyms || syms[sym].st_name >= strtab->sh_size)
            continue;
        const lgp_wanted_t *found = wanted_named(w, n, strs + syms[sym].st_name);
        if (found && slots->count < sizeof slots->items / sizeof slots->items[0])
            slots->items[slots->count++] = (slot_t){ r[i].r_offset, found };
    }
}

static const slot_t *slot_at(const slots_t *slots, uint64_t addr)
{
    for (size_t i = 0; i < slots->count; i++)
        if (slots->items[i].addr == addr)
            return &slots->items[i];
    return NULL;
}

static int add_target(lgp_targets_t *t, uint64_t addr, bool is_slot, const lgp_wanted_t *w)
{
    lgp_target_t target = {
        .addr = addr, .is_slot = is_slot, .via = w->via, .confidence = 1.0f,
        .spec = w->spec, .name = w->callee,
        .named = w->via == LGP_VIA_WRAPPER,   /* a user's, in another object */
    };
    return lgp__targets_add(t, &target);
}

/* Every `jmp [rip+slot]` in a PLT section is a stub; its entry is the
 * instruction, or the endbr64 (and bnd prefix) before it. */
static int stubs_in(const lgp_elf_t *elf, const Elf64_Shdr *plt, const slots_t *slots,
                    lgp_targets_t *t)
{
    const uint8_t *p = lgp__elf_section_bytes(elf, plt);
    if (!p)
        return 0;
    for (size_t i = 0; i + 6 <= plt->sh_size; i++) {
        if (p[i] != 0xff || p[i + 1] != 0x25)
            continue;
        int32_t disp;
        memcpy(&disp, p + i + 2, 4);
        const slot_t *s = slot_at(slots, plt->sh_addr + i + 6 + (uint64_t)(int64_t)disp);
        if (!s)
            continue;
        size_t entry = i;
        if (entry > 0 && p[entry - 1] == 0xf2)          /* bnd */
            entry--;
        if (entry >= ENDBR64_LEN && memcmp(p + entry - ENDBR64_LEN, endbr64, ENDBR64_LEN) == 0)
            entry -= ENDBR64_LEN;
        if (add_target(t, plt->sh_addr + entry, false, s->wanted) != 0)
            return -1;
    }
    return 0;
}

int lgp__targets_find_plt(lgp_targets_t *t, const lgp_elf_t *elf,
                          const lgp_wanted_t *wanted, size_t count)
{
    slots_t slots = { .count = 0 };
    for (unsigned i = 0; i < elf->ehdr->e_shnum; i++)
        if (elf->shdrs[i].sh_type == SHT_RELA)
            slots_from(elf, &elf->shdrs[i], wanted, count, &slots);
    for (size_t i = 0; i < slots.count; i++)
        if (add_target(t, slots.items[i].addr, true, slots.items[i].wanted) != 0)
            return -1;
    for (unsigned i = 0; i < elf->ehdr->e_shnum; i++) {
        const Elf64_Shdr *sh = &elf->shdrs[i];
        if ((sh->sh_flags & SHF_EXECINSTR)
            && strncmp(lgp__elf_section_name(elf, sh), ".plt", 4) == 0
            && stubs_in(elf, sh, &slots, t) != 0)
            return -1;
    }
    return 0;
}
