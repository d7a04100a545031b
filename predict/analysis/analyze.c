/* lgp_analyze_file: ELF -> DWARF call values -> scan -> table. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

double lgp__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The caller's step at this point, when it gave one (analysis.h). */
#define HOOK(opt, step) ((opt)->hooks && (opt)->hooks->step ? (opt)->hooks->step() : (void)0)

static lgp_evidence_t evidence_of(uint8_t bits)
{
    if (bits & LGP_EV_CONFLICT)
        return LGP_EVIDENCE_CONFLICT;
    if ((bits & LGP_EV_INSN) && (bits & LGP_EV_DWARF))
        return LGP_EVIDENCE_BOTH;
    return bits & LGP_EV_DWARF ? LGP_EVIDENCE_DWARF : LGP_EVIDENCE_INSN;
}

static int by_address(const void *a, const void *b)
{
    const lgp_site_t *x = a, *y = b;
    return (x->address > y->address) - (x->address < y->address);
}

/* The callee as reported: a derived target without a symbol by address. */
static uintptr_t callee_name(lgp_pool_t *pool, const lgp_target_t *t)
{
    char buf[LGP_HEX_TEXT];
    if (t->name)
        return lgp__pool_add(pool, t->name);
    lgp__hex_text(buf, t->addr);
    return lgp__pool_add(pool, buf);
}

/* One entry per call (tail calls define forwarders and have no return
 * address of their own). */
static int build_sites(lgp_table_t *table, const lgp_elf_t *elf, const lgp_targets_t *targets,
                       const lgp_raws_t *raws, const lgp_evidence_src_t *dwarf, lgp_pool_t *pool)
{
    table->sites = lgp__calloc(raws->count ? raws->count : 1, sizeof *table->sites);
    if (!table->sites)
        return -1;
    for (size_t i = 0; i < raws->count; i++) {
        const lgp_raw_t *r = &raws->items[i];
        if (r->tail)
            continue;
        const lgp_target_t *t = &targets->items[r->target];
        lgp_site_t *s = &table->sites[table->count++];
        lgp_spec_t spec = lgp__evaluate(r, t, dwarf);
        uint8_t bits;
        s->address = r->ret;
        s->via = t->via;
        s->function = (const char *)lgp__pool_add(pool, elf->funcs[r->func].name);
        s->callee = (const char *)callee_name(pool, t);
        s->target = t->is_slot ? 0 : t->addr;
        if (r->wrapper) {
            s->wrapper = targets->items[r->wrapper - 1].addr;
            s->frame = r->frame;
        }
        if (lgp__spec_size(&spec, &s->size, &s->confidence, &bits))
            s->evidence = evidence_of(bits);
    }
    if (table->count > 1) /* qsort wants a non-null array even to sort nothing */
        qsort(table->sites, table->count, sizeof *table->sites, by_address);
    return pool->failed ? -1 : 0;
}

static void fix_strings(lgp_table_t *table, lgp_pool_t *pool)
{
    for (size_t i = 0; i < table->count; i++) {
        lgp_site_t *s = &table->sites[i];
        s->function = lgp__pool_fix(pool, s->function);
        s->file = lgp__pool_fix(pool, s->file);
        s->callee = lgp__pool_fix(pool, s->callee);
    }
    table->strings = pool->data;
}

int lgp_analyze_file(const char *path, const lgp_options_t *opt, lgp_table_t **out,
                     char *why, size_t why_size)
{
    double t0 = lgp__now_ms();
    lgp_elf_t elf;
    if (lgp__elf_open(&elf, path, why, why_size) != 0)
        return -1;
    lgp_table_t *table = lgp__calloc(1, sizeof *table);
    lgp_targets_t targets = { 0 };
    lgp_raws_t raws = { 0 };
    lgp_pool_t pool = { 0 };
    lgp_dwarf_t *dwarf = NULL;
    lgp_evidence_src_t values = { 0 };
    lgp_callvalue_t *cv = NULL;
    int rc = -1;
    lgp__copy_text(why, why_size, "out of memory");
    if (!table)
        goto done;

    double d0 = lgp__now_ms();
    /* without .debug_info libdwarf is not even started: its code stays
     * out of the process's memory */
    table->debug_info = lgp__elf_section(&elf, ".debug_info") != NULL;
    lgp__copy_text(table->note, sizeof table->note,
                   table->debug_info ? "DWARF off" : "no .debug_info");
    if (opt->dwarf && table->debug_info) {
        HOOK(opt, before_dwarf);
        if (lgp__dwarf_open(&elf, path, &dwarf, &table->costs.debug_info_bytes,
                            table->note, sizeof table->note) == 0) {
            if (table->costs.debug_info_bytes == 0) {
                lgp__copy_text(table->note, sizeof table->note, "no .debug_info");
                lgp__dwarf_close(dwarf);
                dwarf = NULL;
            } else if (lgp__dwarf_call_values(dwarf, &cv, &values.count) != 0) {
                goto done;
            } else {
                values.values = cv;
                table->dwarf = true;
                lgp__copy_text(table->note, sizeof table->note, "DWARF read");
            }
            if (!opt->lines) {
                /* done with libdwarf: its memory and pages go before Zydis' come */
                lgp__dwarf_close(dwarf);
                dwarf = NULL;
                HOOK(opt, after_dwarf);
            }
        }
    }
    double d1 = lgp__now_ms();

    if (lgp__targets_find(&targets, &elf, opt) != 0)
        goto done;
    if (targets.count == 0) {
        lgp__copy_text(why, why_size, lgp__elf_section(&elf, ".symtab")
                       ? "calls no allocation function (no __wrap_malloc, malloc, malloc@plt ...)"
                       : "no allocation function found: no malloc@plt, and stripped (no .symtab "
                         "to find __wrap_malloc & co. in)");
        goto done;
    }
    HOOK(opt, before_decode);
    if (lgp__scan(&elf, &targets, table->dwarf ? &values : NULL, &raws, &table->costs) != 0
        || build_sites(table, &elf, &targets, &raws, table->dwarf ? &values : NULL, &pool) != 0)
        goto done;
    double d2 = lgp__now_ms();
    if (dwarf && opt->lines
        && (lgp__dwarf_lines(dwarf, table->sites, table->count, &pool) != 0 || pool.failed))
        goto done;
    double d3 = lgp__now_ms();
    table->costs.insn_ms = (d0 - t0) + (d2 - d1);
    table->costs.dwarf_ms = (d1 - d0) + (d3 - d2);
    table->costs.lines_ms = d3 - d2;
    fix_strings(table, &pool);
    pool.data = NULL;
    *out = table;
    table = NULL;
    rc = 0;
done:
    lgp__dwarf_close(dwarf);
    free(cv);
    free(pool.data);
    free(raws.items);
    lgp__targets_free(&targets);
    lgp__elf_close(&elf);
    lgp_table_free(table);
    return rc;
}
