/* The ELF image: the file mapped read-only, its sections, its symbols and
 * the list of its functions.  Every offset read from the file is checked
 * against its size: lgmalloc-scan reads files it knows nothing of. */
#include "internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static bool in_file(const lgp_elf_t *elf, uint64_t off, uint64_t size)
{
    return off <= elf->map_size && size <= elf->map_size - off;
}

const char *lgp__elf_section_name(const lgp_elf_t *elf, const Elf64_Shdr *sh)
{
    return elf->shstrtab ? elf->shstrtab + sh->sh_name : "";
}

const uint8_t *lgp__elf_section_bytes(const lgp_elf_t *elf, const Elf64_Shdr *sh)
{
    if (sh->sh_type == SHT_NOBITS || !in_file(elf, sh->sh_offset, sh->sh_size))
        return NULL;
    return elf->map + sh->sh_offset;
}

void lgp__elf_drop(const lgp_elf_t *elf, const uint8_t *p, size_t n)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t end = ((uintptr_t)p + n) & ~(page - 1);
    if (p >= elf->map && p + n <= elf->map + elf->map_size && end > start)
        (void)madvise((void *)start, end - start, MADV_DONTNEED); /* best effort */
}

const Elf64_Shdr *lgp__elf_section(const lgp_elf_t *elf, const char *name)
{
    for (unsigned i = 0; i < elf->ehdr->e_shnum; i++)
        if (strcmp(lgp__elf_section_name(elf, &elf->shdrs[i]), name) == 0)
            return &elf->shdrs[i];
    return NULL;
}

/* ---- symbols ------------------------------------------------------------ */

static void symbols_of(const lgp_elf_t *elf, const Elf64_Shdr *symtab,
                       lgp_symbol_fn *fn, void *ctx)
{
    if (symtab->sh_entsize != sizeof(Elf64_Sym) || symtab->sh_link >= elf->ehdr->e_shnum)
        return;
    const Elf64_Shdr *strtab = &elf->shdrs[symtab->sh_link];
    const Elf64_Sym *syms = (const Elf64_Sym *)lgp__elf_section_bytes(elf, symtab);
    const char *strs = (const char *)lgp__elf_section_bytes(elf, strtab);
    if (!syms || !strs || strtab->sh_size == 0 || strs[strtab->sh_size - 1] != '\0')
        return;
    size_t n = symtab->sh_size / sizeof(Elf64_Sym);
    for (size_t i = 1; i < n; i++)
        if (syms[i].st_name < strtab->sh_size)
            fn(ctx, strs + syms[i].st_name, &syms[i]);
}

void lgp__elf_symbols(const lgp_elf_t *elf, lgp_symbol_fn *fn, void *ctx)
{
    for (unsigned i = 0; i < elf->ehdr->e_shnum; i++)
        if (elf->shdrs[i].sh_type == SHT_SYMTAB || elf->shdrs[i].sh_type == SHT_DYNSYM)
            symbols_of(elf, &elf->shdrs[i], fn, ctx);
}

/* ---- functions ---------------------------------------------------------- */

typedef struct func_list_s {
    lgp_func_t *items;
    size_t      count, cap;
    bool        failed;
} func_list_t;

static void func_push(func_list_t *l, uint64_t start, uint64_t end, const char *name)
{
    if (!lgp__grow((void **)&l->items, &l->cap, l->count, sizeof *l->items)) {
        l->failed = true;
        return;
    }
    l->items[l->count++] = (lgp_func_t){ start, end, name };
}

static void collect_function(void *ctx, const char *name, const Elf64_Sym *sym)
{
    if (ELF64_ST_TYPE(sym->st_info) != STT_FUNC || sym->st_shndx == SHN_UNDEF
        || sym->st_value == 0)
        return;
    func_push(ctx, sym->st_value, sym->st_value + sym->st_size, name);
}

static int by_start(const void *a, const void *b)
{
    const lgp_func_t *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if ((x->name != NULL) != (y->name != NULL))      /* named first */
        return x->name ? -1 : 1;
    if (x->end != y->end)                              /* longest first */
        return x->end > y->end ? -1 : 1;
    return 0;
}

/* Drops duplicates and starts inside an earlier function from the sorted
 * list, and gives every function without a size the space up to the next. */
static void funcs_normalise(func_list_t *l)
{
    size_t out = 0;
    for (size_t i = 0; i < l->count; i++) {
        lgp_func_t f = l->items[i];
        if (out > 0) {
            lgp_func_t *prev = &l->items[out - 1];
            if (f.start == prev->start || f.start < prev->end)
                continue;
            if (prev->end <= prev->start)
                prev->end = f.start;
        }
        l->items[out++] = f;
    }
    l->count = out;
    if (out > 0 && l->items[out - 1].end <= l->items[out - 1].start)
        l->items[out - 1].end = UINT64_MAX;   /* clipped to its section when decoded */
}

/* Adds the starts from .eh_frame_hdr (sorted already) to the sorted
 * symbols, merging rather than sorting again. */
static void merge_starts(func_list_t *l, const uint64_t *starts, size_t n)
{
    size_t nsyms = l->count;
    for (size_t i = 0; i < n; i++)
        func_push(l, 0, 0, NULL);
    if (l->failed)
        return;
    lgp_func_t *f = l->items;
    size_t out = nsyms + n, a = nsyms, b = n;
    while (b > 0) {
        if (a > 0 && f[a - 1].start > starts[b - 1])
            f[--out] = f[--a];
        else
            f[--out] = (lgp_func_t){ starts[--b], 0, NULL };
    }
}

static int find_functions(lgp_elf_t *elf)
{
    func_list_t l = { 0 };
    lgp__elf_symbols(elf, collect_function, &l);
    if (!l.failed && l.count > 1)
        qsort(l.items, l.count, sizeof *l.items, by_start);
    uint64_t *starts = NULL;
    size_t nstarts = 0;
    if (!l.failed && lgp__elf_ehframe_starts(elf, &starts, &nstarts) == 0) {
        merge_starts(&l, starts, nstarts);
        free(starts);
    }
    if (l.failed) {
        free(l.items);
        return -1;
    }
    funcs_normalise(&l);
    elf->funcs = l.items;
    elf->func_count = l.count;
    return 0;
}

const lgp_func_t *lgp__elf_function_at(const lgp_elf_t *elf, uint64_t addr)
{
    size_t lo = 0, hi = elf->func_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (elf->funcs[mid].start <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const lgp_func_t *f = &elf->funcs[lo - 1];
    return addr < f->end ? f : NULL;
}

/* ---- opening ------------------------------------------------------------ */

static int fail(char *why, size_t why_size, const char *reason)
{
    snprintf(why, why_size, "%s", reason);
    return -1;
}

static int check_header(lgp_elf_t *elf, char *why, size_t why_size)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)elf->map;
    if (elf->map_size < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
        return fail(why, why_size, "not an ELF file");
    if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB
        || eh->e_machine != EM_X86_64)
        return fail(why, why_size, "not an x86-64 ELF file");
    if (eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shnum == 0
        || !in_file(elf, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)))
        return fail(why, why_size, "no section headers");
    elf->ehdr = eh;
    elf->shdrs = (const Elf64_Shdr *)(elf->map + eh->e_shoff);
    if (eh->e_shstrndx < eh->e_shnum) {
        const Elf64_Shdr *sh = &elf->shdrs[eh->e_shstrndx];
        const char *s = (const char *)lgp__elf_section_bytes(elf, sh);
        if (s && sh->sh_size > 0 && s[sh->sh_size - 1] == '\0')
            elf->shstrtab = s;
    }
    for (unsigned i = 0; i < eh->e_shnum; i++)
        if (elf->shstrtab && elf->shdrs[i].sh_name >= elf->shdrs[eh->e_shstrndx].sh_size)
            return fail(why, why_size, "corrupt section names");
    return 0;
}

/* On a fault in a file mapping the kernel maps up to 16 pages around it,
 * within the mapping: reading the ELF header mapped the start of the code
 * too, and reading the symbols, .eh_frame_hdr and the DWARF of a small
 * program the whole file, its code twice resident (the program's own
 * mapping and this one; see docs/decisions.md#file-mapping-parts).  So
 * the header page, what lies before .text (.dynsym, the PLT), .text (read
 * by the instruction scan, in order: with read-ahead), what the program
 * loads after it (.eh_frame_hdr) and the rest (symbols, DWARF, section
 * headers) are mappings of their own: neighbours differ in their advice,
 * or the kernel would merge them. */
static void advise_part(const lgp_elf_t *elf, uintptr_t from, uintptr_t to, int advice)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    from &= ~(page - 1);
    to = to < elf->map_size ? (to + page - 1) & ~(page - 1) : elf->map_size;
    from = from < page ? page : from;
    if (to > from)
        (void)madvise((void *)(elf->map + from), to - from, advice);
}

static void split_before_reading(const lgp_elf_t *elf)
{
    advise_part(elf, 0, elf->map_size, MADV_RANDOM);
}

static void split_parts(const lgp_elf_t *elf)
{
    uint64_t rest = elf->ehdr->e_shoff;   /* the first byte not loaded */
    for (unsigned i = 0; i < elf->ehdr->e_shnum; i++) {
        const Elf64_Shdr *sh = &elf->shdrs[i];
        if (!(sh->sh_flags & SHF_ALLOC) && sh->sh_type != SHT_NOBITS && sh->sh_size
            && sh->sh_offset < rest)
            rest = sh->sh_offset;
    }
    advise_part(elf, rest, elf->map_size, MADV_NORMAL);
    const Elf64_Shdr *text = lgp__elf_section(elf, ".text");
    if (text && lgp__elf_section_bytes(elf, text) && text->sh_offset + text->sh_size <= rest)
        advise_part(elf, text->sh_offset, text->sh_offset + text->sh_size, MADV_SEQUENTIAL);
}

int lgp__elf_map(lgp_elf_t *elf, const char *path, char *why, size_t why_size)
{
    memset(elf, 0, sizeof *elf);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_size, "cannot open %s: %m", path);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        close(fd);
        snprintf(why, why_size, "%s is not a readable regular file", path);
        return -1;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        snprintf(why, why_size, "cannot map %s: %m", path);
        return -1;
    }
    elf->map = map;
    elf->map_size = (size_t)st.st_size;
    split_before_reading(elf);
    if (check_header(elf, why, why_size) != 0) {
        lgp__elf_close(elf);
        return -1;
    }
    split_parts(elf);
    return 0;
}

int lgp__elf_open(lgp_elf_t *elf, const char *path, char *why, size_t why_size)
{
    if (lgp__elf_map(elf, path, why, why_size) != 0)
        return -1;
    if (find_functions(elf) != 0) {
        fail(why, why_size, "out of memory reading symbols");
        goto fail;
    }
    if (elf->func_count == 0) {
        fail(why, why_size, "stripped: no function symbols and no .eh_frame_hdr");
        goto fail;
    }
    return 0;
fail:
    lgp__elf_close(elf);
    return -1;
}

void lgp__elf_close(lgp_elf_t *elf)
{
    free(elf->funcs);
    if (elf->map)
        munmap((void *)elf->map, elf->map_size);
    memset(elf, 0, sizeof *elf);
}

/* ---- the build-id ------------------------------------------------------- */

int lgp_file_build_id(const char *path, lgp_build_id_t *id, char *why, size_t why_size)
{
    lgp_elf_t elf;
    if (lgp__elf_map(&elf, path, why, why_size) != 0)
        return -1;
    bool found = false;
    for (unsigned i = 0; i < elf.ehdr->e_shnum && !found; i++) {
        const uint8_t *notes = elf.shdrs[i].sh_type == SHT_NOTE
                             ? lgp__elf_section_bytes(&elf, &elf.shdrs[i]) : NULL;
        found = notes && lgp_build_id_from_notes(notes, elf.shdrs[i].sh_size, id);
    }
    lgp__elf_close(&elf);
    if (!found)
        fail(why, why_size, "no GNU build-id of at most 32 bytes (link with -Wl,--build-id)");
    return found ? 0 : -1;
}
