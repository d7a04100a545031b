/* DWARF evidence, with libdwarf's 2021 API (Debian's libdwarf-dev):
 *   - call sites (DW_TAG_call_site, DW_TAG_GNU_call_site) and the constant
 *     values their parameters (DW_AT_call_value) hold in argument registers;
 *   - the line table, for the file:line of each site in the report.
 * libdwarf reports every failure through a Dwarf_Error that must be freed;
 * `ok` does that once for all calls. */
#include "internal.h"

#include <libdwarf/dwarf.h>
#include <libdwarf/libdwarf.h>
#include <stdlib.h>
#include <string.h>

struct lgp_dwarf_s {
    Dwarf_Debug dbg;
    int         de_alloc;   /* libdwarf's tracking flag before we opened */
    const lgp_elf_t *elf;   /* the sections read in place, or NULL: libdwarf's reader */
    Dwarf_Obj_Access_Interface access;
    Dwarf_Error err;
    bool        oom;
    lgp_callvalue_t *values;
    size_t      count, cap;
};

static bool ok(lgp_dwarf_t *d, int rc)
{
    if (rc == DW_DLV_ERROR) {
        dwarf_dealloc_error(d->dbg, d->err);
        d->err = NULL;
    }
    return rc == DW_DLV_OK;
}

/* ---- the sections, read in place ---------------------------------------- */

/* libdwarf's own ELF reader copies each section it reads into memory it
 * allocates; given the analysis' mapping of the file it reads them where
 * they are (see docs/decisions.md#dwarf-in-place).  libdwarf only reads them: no relocation
 * is offered (an executable has none for DWARF).  Compressed sections,
 * which this interface cannot mark, still go through libdwarf's reader. */
static int obj_section_info(void *obj, Dwarf_Half i, Dwarf_Obj_Access_Section *out, int *error)
{
    const lgp_elf_t *elf = obj;
    (void)error;
    if (i >= elf->ehdr->e_shnum)
        return DW_DLV_NO_ENTRY;
    const Elf64_Shdr *sh = &elf->shdrs[i];
    *out = (Dwarf_Obj_Access_Section){
        .addr = sh->sh_addr, .type = sh->sh_type, .size = sh->sh_size,
        .name = lgp__elf_section_name(elf, sh), .link = sh->sh_link, .info = sh->sh_info,
        .entrysize = sh->sh_entsize,
    };
    return DW_DLV_OK;
}

static Dwarf_Endianness obj_byte_order(void *obj)
{
    (void)obj;
    return DW_OBJECT_LSB;
}

/* ELF64, as libdwarf's own reader says (the unit headers decide) */
static Dwarf_Small obj_eight(void *obj)
{
    (void)obj;
    return 8;
}

static Dwarf_Unsigned obj_section_count(void *obj)
{
    return ((const lgp_elf_t *)obj)->ehdr->e_shnum;
}

static int obj_load_section(void *obj, Dwarf_Half i, Dwarf_Small **data, int *error)
{
    const lgp_elf_t *elf = obj;
    (void)error;
    const uint8_t *bytes = i < elf->ehdr->e_shnum ? lgp__elf_section_bytes(elf, &elf->shdrs[i]) : NULL;
    if (!bytes)
        return DW_DLV_NO_ENTRY;
    *data = (Dwarf_Small *)(uintptr_t)bytes; /* read only: the mapping is */
    return DW_DLV_OK;
}

static const Dwarf_Obj_Access_Methods in_place = {
    obj_section_info, obj_byte_order, obj_eight, obj_eight, obj_section_count, obj_load_section, NULL,
};

static bool is_debug_section(const lgp_elf_t *elf, const Elf64_Shdr *sh)
{
    const char *name = lgp__elf_section_name(elf, sh);
    return strncmp(name, ".debug_", 7) == 0 || strncmp(name, ".zdebug_", 8) == 0;
}

static bool any_compressed(const lgp_elf_t *elf)
{
    for (unsigned i = 0; i < elf->ehdr->e_shnum; i++)
        if (is_debug_section(elf, &elf->shdrs[i])
            && ((elf->shdrs[i].sh_flags & SHF_COMPRESSED)
                || lgp__elf_section_name(elf, &elf->shdrs[i])[1] == 'z'))
            return true;
    return false;
}

/* ---- opening and closing ------------------------------------------------- */

int lgp__dwarf_open(const lgp_elf_t *elf, const char *path, lgp_dwarf_t **out,
                    size_t *info_bytes, char *why, size_t why_size)
{
    lgp_dwarf_t *d = lgp__calloc(1, sizeof *d);
    if (!d) {
        lgp__copy_text(why, why_size, "out of memory");
        return -1;
    }
    /* Every DIE, attribute and string is freed here as soon as it is used:
     * libdwarf's own tracking of them (for dwarf_finish) would cost more
     * than the rest of the pass.  The flag is global; it is put back at
     * close. */
    d->de_alloc = dwarf_set_de_alloc_flag(0);
    int rc;
    if (!any_compressed(elf)) {
        d->elf = elf;
        d->access = (Dwarf_Obj_Access_Interface){ (void *)(uintptr_t)elf, &in_place };
        rc = dwarf_object_init_b(&d->access, NULL, NULL, DW_GROUPNUMBER_ANY, &d->dbg, &d->err);
    } else {
        rc = dwarf_init_path(path, NULL, 0, DW_DLC_READ, DW_GROUPNUMBER_ANY, NULL, NULL,
                             &d->dbg, NULL, 0, NULL, &d->err);
    }
    if (rc != DW_DLV_OK) {
        if (rc == DW_DLV_ERROR)
            dwarf_dealloc_error(NULL, d->err);
        dwarf_set_de_alloc_flag(d->de_alloc);
        free(d);
        snprintf(why, why_size, rc == DW_DLV_NO_ENTRY ? "no DWARF (built without -g?)"
                                                      : "unreadable DWARF");
        return -1;
    }
    Dwarf_Addr addr;
    Dwarf_Unsigned size = 0;
    if (!ok(d, dwarf_get_section_info_by_name(d->dbg, ".debug_info", &addr, &size, &d->err)))
        size = 0;
    *info_bytes = size;
    *out = d;
    return 0;
}

void lgp__dwarf_close(lgp_dwarf_t *d)
{
    if (!d)
        return;
    int rc = d->elf ? dwarf_object_finish(d->dbg, &d->err) : dwarf_finish(d->dbg, &d->err);
    if (rc == DW_DLV_ERROR)
        dwarf_dealloc_error(NULL, d->err);
    dwarf_set_de_alloc_flag(d->de_alloc);
    /* the pages of the file the pass read leave the resident set now, not
     * when the analysis unmaps the file */
    for (unsigned i = 0; d->elf && i < d->elf->ehdr->e_shnum; i++) {
        const Elf64_Shdr *sh = &d->elf->shdrs[i];
        const uint8_t *bytes = lgp__elf_section_bytes(d->elf, sh);
        if (bytes && is_debug_section(d->elf, sh))
            lgp__elf_drop(d->elf, bytes, sh->sh_size);
    }
    free(d->values);
    free(d);
}

/* ---- expressions -------------------------------------------------------- */

static bool uleb(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

static bool sleb(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    unsigned shift = 0;
    while (*p < end && shift < 64) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) {
            if (shift < 64 && (b & 0x40))
                v |= ~(uint64_t)0 << shift;
            *out = v;
            return true;
        }
    }
    return false;
}

/* A constant: one DW_OP_lit*, DW_OP_const* (optionally DW_OP_stack_value). */
static bool expr_constant(const uint8_t *p, size_t len, uint64_t *out)
{
    const uint8_t *end = p + len;
    if (len == 0)
        return false;
    uint8_t op = *p++;
    static const uint8_t widths[] = { 1, 1, 2, 2, 4, 4, 8, 8 };   /* const1u .. const8s */
    if (op >= DW_OP_lit0 && op <= DW_OP_lit31) {
        *out = op - DW_OP_lit0;
    } else if (op >= DW_OP_const1u && op <= DW_OP_const8s) {
        unsigned w = widths[op - DW_OP_const1u];
        bool sign = (op - DW_OP_const1u) & 1;
        if ((size_t)(end - p) < w)
            return false;
        uint64_t v = 0;
        memcpy(&v, p, w);
        if (sign && w < 8 && (v >> (8 * w - 1)) & 1)
            v |= ~(uint64_t)0 << (8 * w);
        *out = v;
        p += w;
    } else if (op == DW_OP_constu) {
        if (!uleb(&p, end, out))
            return false;
    } else if (op == DW_OP_consts) {
        if (!sleb(&p, end, out))
            return false;
    } else {
        return false;
    }
    if (p < end && *p == DW_OP_stack_value)
        p++;
    return p == end;
}

/* A register location: DW_OP_reg* or DW_OP_regx. */
static bool expr_register(const uint8_t *p, size_t len, unsigned *reg)
{
    const uint8_t *end = p + len;
    uint64_t r;
    if (len == 1 && p[0] >= DW_OP_reg0 && p[0] <= DW_OP_reg31) {
        *reg = p[0] - DW_OP_reg0;
        return true;
    }
    if (len > 1 && *p++ == DW_OP_regx && uleb(&p, end, &r) && p == end && r < 16) {
        *reg = (unsigned)r;
        return true;
    }
    return false;
}

/* The bytes of an attribute holding an expression, exprloc or block. */
static bool attr_expr(lgp_dwarf_t *d, Dwarf_Die die, Dwarf_Half name,
                      bool (*read)(const uint8_t *, size_t, void *), void *out)
{
    Dwarf_Attribute attr;
    if (!ok(d, dwarf_attr(die, name, &attr, &d->err)))
        return false;
    Dwarf_Half form;
    bool found = false;
    if (ok(d, dwarf_whatform(attr, &form, &d->err))) {
        if (form == DW_FORM_exprloc) {
            Dwarf_Unsigned len;
            Dwarf_Ptr ptr;
            if (ok(d, dwarf_formexprloc(attr, &len, &ptr, &d->err)))
                found = read(ptr, len, out);
        } else {
            Dwarf_Block *block;
            if (ok(d, dwarf_formblock(attr, &block, &d->err))) {
                found = read(block->bl_data, block->bl_len, out);
                dwarf_dealloc(d->dbg, block, DW_DLA_BLOCK);
            }
        }
    }
    dwarf_dealloc_attribute(attr);
    return found;
}

static bool read_constant(const uint8_t *p, size_t len, void *out)
{
    return expr_constant(p, len, out);
}

static bool read_register(const uint8_t *p, size_t len, void *out)
{
    return expr_register(p, len, out);
}

static bool attr_addr(lgp_dwarf_t *d, Dwarf_Die die, Dwarf_Half name, Dwarf_Addr *out)
{
    Dwarf_Attribute attr;
    if (!ok(d, dwarf_attr(die, name, &attr, &d->err)))
        return false;
    bool found = ok(d, dwarf_formaddr(attr, out, &d->err));
    dwarf_dealloc_attribute(attr);
    return found;
}

/* ---- call sites --------------------------------------------------------- */

static void push_value(lgp_dwarf_t *d, uint64_t ret, unsigned reg, uint64_t value)
{
    if (!lgp__grow((void **)&d->values, &d->cap, d->count, sizeof *d->values)) {
        d->oom = true;
        return;
    }
    d->values[d->count++] = (lgp_callvalue_t){ ret, value, (uint8_t)reg };
}

static void call_site(lgp_dwarf_t *d, Dwarf_Die site)
{
    Dwarf_Addr ret;
    if (!attr_addr(d, site, DW_AT_call_return_pc, &ret) && !attr_addr(d, site, DW_AT_low_pc, &ret))
        return;
    Dwarf_Die param;
    if (!ok(d, dwarf_child(site, &param, &d->err)))
        return;
    while (param) {
        Dwarf_Half tag;
        unsigned reg;
        uint64_t value;
        if (ok(d, dwarf_tag(param, &tag, &d->err))
            && (tag == DW_TAG_call_site_parameter || tag == DW_TAG_GNU_call_site_parameter)
            && attr_expr(d, param, DW_AT_location, read_register, &reg)
            && lgp__reg_is_argument(reg)
            && (attr_expr(d, param, DW_AT_call_value, read_constant, &value)
                || attr_expr(d, param, DW_AT_GNU_call_site_value, read_constant, &value)))
            push_value(d, ret, reg, value);
        Dwarf_Die next = NULL;
        if (!ok(d, dwarf_siblingof_b(d->dbg, param, true, &next, &d->err)))
            next = NULL;
        dwarf_dealloc_die(param);
        param = next;
    }
}

/* Only the DIEs that can hold call sites are entered. */
static bool holds_code(Dwarf_Half tag)
{
    switch (tag) {
    case DW_TAG_compile_unit: case DW_TAG_partial_unit: case DW_TAG_subprogram:
    case DW_TAG_lexical_block: case DW_TAG_inlined_subroutine: case DW_TAG_namespace:
    case DW_TAG_module:
        return true;
    default:
        return false;
    }
}

static void walk(lgp_dwarf_t *d, Dwarf_Die die)
{
    while (die) {
        Dwarf_Half tag;
        if (ok(d, dwarf_tag(die, &tag, &d->err))) {
            if (tag == DW_TAG_call_site || tag == DW_TAG_GNU_call_site) {
                call_site(d, die);
            } else if (holds_code(tag)) {
                Dwarf_Die child;
                if (ok(d, dwarf_child(die, &child, &d->err)))
                    walk(d, child);
            }
        }
        Dwarf_Die next = NULL;
        if (!ok(d, dwarf_siblingof_b(d->dbg, die, true, &next, &d->err)))
            next = NULL;
        dwarf_dealloc_die(die);
        die = next;
    }
}

/* Calls fn with the root DIE of every compilation unit. */
static void each_unit(lgp_dwarf_t *d, void (*fn)(lgp_dwarf_t *, Dwarf_Die, void *), void *ctx)
{
    for (;;) {
        Dwarf_Unsigned length, abbrev_type_offset, next;
        Dwarf_Half version, address_size, length_size, extension_size, unit_type;
        Dwarf_Off abbrev;
        Dwarf_Sig8 signature;
        if (!ok(d, dwarf_next_cu_header_d(d->dbg, true, &length, &version, &abbrev,
                                          &address_size, &length_size, &extension_size,
                                          &signature, &abbrev_type_offset, &next, &unit_type,
                                          &d->err)))
            return;
        Dwarf_Die unit;
        if (ok(d, dwarf_siblingof_b(d->dbg, NULL, true, &unit, &d->err)))
            fn(d, unit, ctx);
    }
}

static void unit_values(lgp_dwarf_t *d, Dwarf_Die unit, void *ctx)
{
    (void)ctx;
    walk(d, unit);
}

static int by_ret_reg(const void *a, const void *b)
{
    const lgp_callvalue_t *x = a, *y = b;
    if (x->ret != y->ret)
        return x->ret < y->ret ? -1 : 1;
    return (x->reg > y->reg) - (x->reg < y->reg);
}

int lgp__dwarf_call_values(lgp_dwarf_t *d, lgp_callvalue_t **values, size_t *count)
{
    each_unit(d, unit_values, NULL);
    if (d->count > 1) /* qsort wants a non-null array even to sort nothing */
        qsort(d->values, d->count, sizeof *d->values, by_ret_reg);
    /* the values are the caller's now: it reads them after closing d */
    *values = d->values;
    *count = d->count;
    d->values = NULL;
    return d->oom ? -1 : 0;
}

/* ---- lines -------------------------------------------------------------- */

typedef struct lines_ctx_s {
    lgp_site_t *sites;
    size_t      count;
    lgp_pool_t *pool;
} lines_ctx_t;

/* The first site whose call (address - 1) is at or after addr. */
static size_t first_site(const lines_ctx_t *c, uint64_t addr)
{
    size_t lo = 0, hi = c->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->sites[mid].address - 1 < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void name_sites(lgp_dwarf_t *d, lines_ctx_t *c, Dwarf_Line row, uint64_t from,
                       uint64_t to)
{
    Dwarf_Unsigned line;
    char *file = NULL;
    uintptr_t name = 0;
    for (size_t i = first_site(c, from); i < c->count && c->sites[i].address - 1 < to; i++) {
        if (!file) {
            if (!ok(d, dwarf_lineno(row, &line, &d->err))
                || !ok(d, dwarf_linesrc(row, &file, &d->err)))
                return;
            name = lgp__pool_add(c->pool, file);
        }
        c->sites[i].file = (const char *)name;
        c->sites[i].line = (uint32_t)line;
    }
    if (file)
        dwarf_dealloc(d->dbg, file, DW_DLA_STRING);
}

static void unit_lines(lgp_dwarf_t *d, Dwarf_Die unit, void *ctx)
{
    Dwarf_Unsigned version;
    Dwarf_Small tables;
    Dwarf_Line_Context lc;
    Dwarf_Line *rows;
    Dwarf_Signed n;
    if (ok(d, dwarf_srclines_b(unit, &version, &tables, &lc, &d->err))) {
        if (ok(d, dwarf_srclines_from_linecontext(lc, &rows, &n, &d->err))) {
            for (Dwarf_Signed i = 0; i + 1 < n; i++) {
                Dwarf_Addr from, to;
                Dwarf_Bool end;
                if (ok(d, dwarf_lineendsequence(rows[i], &end, &d->err)) && !end
                    && ok(d, dwarf_lineaddr(rows[i], &from, &d->err))
                    && ok(d, dwarf_lineaddr(rows[i + 1], &to, &d->err)) && from < to)
                    name_sites(d, ctx, rows[i], from, to);
            }
        }
        dwarf_srclines_dealloc_b(lc);
    }
    dwarf_dealloc_die(unit);
}

int lgp__dwarf_lines(lgp_dwarf_t *d, lgp_site_t *sites, size_t count, lgp_pool_t *pool)
{
    lines_ctx_t c = { sites, count, pool };
    each_unit(d, unit_lines, &c);
    return 0;
}
