/* The reports: the table as text (lgmalloc-scan, LGMALLOC_VERBOSE=2), as
 * JSON (lgmalloc-scan --json, the tests) and the summary.  The JSON holds
 * no timings, so the same binary always gives the same bytes. */
#include "internal.h"

#include <stdlib.h>

#define TOP_SIZES 20
#define RESOLVED  0.5f   /* the confidence from which a prediction counts */

const char *lgp_evidence_name(lgp_evidence_t e)
{
    static const char *const names[] = { "none", "insn", "dwarf", "both", "conflict" };
    return (unsigned)e < sizeof names / sizeof names[0] ? names[e] : "?";
}

static const char *via_name(unsigned via)
{
    static const char *const names[] = { "direct", "forwarder", "wrapper" };
    return via < sizeof names / sizeof names[0] ? names[via] : "?";
}

static bool resolved(const lgp_site_t *s)
{
    return s->evidence != LGP_EVIDENCE_NONE && s->confidence >= RESOLVED;
}

/* ---- summary numbers ---------------------------------------------------- */

typedef struct weight_s {
    uint64_t size;
    size_t   sites;
} weight_t;

typedef struct summary_s {
    size_t    resolved, evidence[5], via[3];
    weight_t *sizes;     /* by number of sites, heaviest first */
    size_t    nsizes;
} summary_t;

static int by_size(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int by_weight(const void *a, const void *b)
{
    const weight_t *x = a, *y = b;
    if (x->sites != y->sites)
        return x->sites < y->sites ? 1 : -1;
    return (x->size > y->size) - (x->size < y->size);
}

/* false when out of memory for the size histogram (the counts stand) */
static bool summarise(const lgp_table_t *t, summary_t *s)
{
    *s = (summary_t){ .resolved = 0 };
    size_t cap = t->count ? t->count : 1;
    uint64_t *sizes = lgp__malloc(cap * sizeof *sizes);
    s->sizes = lgp__malloc(cap * sizeof *s->sizes);
    size_t n = 0;
    for (size_t i = 0; i < t->count; i++) {
        const lgp_site_t *site = &t->sites[i];
        s->evidence[site->evidence < 5 ? site->evidence : 0]++;
        s->via[site->via < 3 ? site->via : 0]++;
        if (resolved(site)) {
            s->resolved++;
            if (sizes)
                sizes[n++] = site->size;
        }
    }
    if (!sizes || !s->sizes) {
        free(sizes);
        free(s->sizes);
        s->sizes = NULL;
        return false;
    }
    if (n > 1) /* qsort wants a non-null array even to sort nothing */
        qsort(sizes, n, sizeof *sizes, by_size);
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && sizes[j] == sizes[i]; j++)
            ;
        s->sizes[s->nsizes++] = (weight_t){ sizes[i], j - i };
    }
    free(sizes);
    if (s->nsizes > 1) /* qsort wants a non-null array even to sort nothing */
        qsort(s->sizes, s->nsizes, sizeof *s->sizes, by_weight);
    if (s->nsizes > TOP_SIZES)
        s->nsizes = TOP_SIZES;
    return true;
}

/* ---- text --------------------------------------------------------------- */

static void print_place(FILE *out, const lgp_site_t *s)
{
    char place[64];
    if (s->file) {
        const char *base = s->file;
        for (const char *p = s->file; *p; p++)
            if (*p == '/')
                base = p + 1;
        snprintf(place, sizeof place, "%s:%u", base, (unsigned)s->line);
    } else {
        snprintf(place, sizeof place, "?");
    }
    fprintf(out, "%-28s", place);
}

void lgp_table_print(FILE *out, const lgp_table_t *t)
{
    fprintf(out, "%-18s %-28s %-28s %-16s %12s %-9s %s\n", "ADDRESS", "FUNCTION", "FILE:LINE",
            "CALLEE", "SIZE", "EVIDENCE", "CONFIDENCE");
    for (size_t i = 0; i < t->count; i++) {
        const lgp_site_t *s = &t->sites[i];
        char size[24];
        if (s->evidence == LGP_EVIDENCE_NONE)
            snprintf(size, sizeof size, "?");
        else
            snprintf(size, sizeof size, "%llu", (unsigned long long)s->size);
        fprintf(out, "0x%016llx %-28.28s ", (unsigned long long)s->address,
                s->function ? s->function : "?");
        print_place(out, s);
        fprintf(out, " %-16.16s %12s %-9s %.2f\n", s->callee, size,
                lgp_evidence_name(s->evidence), (double)s->confidence);
    }
    lgp_table_print_summary(out, t);
}

void lgp_table_print_summary(FILE *out, const lgp_table_t *t)
{
    summary_t s;
    bool sizes = summarise(t, &s);
    fprintf(out, "sites: %zu (direct %zu, via forwarders %zu, via wrappers %zu)\n", t->count,
            s.via[LGP_VIA_DIRECT], s.via[LGP_VIA_FORWARDER], s.via[LGP_VIA_WRAPPER]);
    fprintf(out, "resolved at confidence >= %.1f: %zu (%.1f%%)\n", (double)RESOLVED, s.resolved,
            t->count ? 100.0 * (double)s.resolved / (double)t->count : 0.0);
    fprintf(out, "evidence: insn %zu, dwarf %zu, both %zu, conflict %zu, none %zu\n",
            s.evidence[LGP_EVIDENCE_INSN], s.evidence[LGP_EVIDENCE_DWARF],
            s.evidence[LGP_EVIDENCE_BOTH], s.evidence[LGP_EVIDENCE_CONFLICT],
            s.evidence[LGP_EVIDENCE_NONE]);
    fprintf(out, "tail calls %zu, wrappers and forwarders %zu; %s\n", t->costs.tail_calls,
            t->costs.wrappers, t->note);
    if (sizes) {
        fprintf(out, "sizes by weight:");
        for (size_t i = 0; i < s.nsizes; i++)
            fprintf(out, " %llu x%zu", (unsigned long long)s.sizes[i].size, s.sizes[i].sites);
        fprintf(out, "\n");
        free(s.sizes);
    }
    fprintf(out, "cost: %.2f MB of code in %.2f ms, %.2f MB of .debug_info in %.2f ms\n",
            (double)t->costs.text_bytes / 1e6, t->costs.insn_ms,
            (double)t->costs.debug_info_bytes / 1e6, t->costs.dwarf_ms);
}

/* ---- JSON --------------------------------------------------------------- */

static void json_string(FILE *out, const char *s)
{
    if (!s) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void json_site(FILE *out, const lgp_site_t *s)
{
    fprintf(out, "{\"address\":\"0x%llx\",\"function\":", (unsigned long long)s->address);
    json_string(out, s->function);
    fputs(",\"file\":", out);
    json_string(out, s->file);
    if (s->line)
        fprintf(out, ",\"line\":%u", (unsigned)s->line);
    else
        fputs(",\"line\":null", out);
    fputs(",\"callee\":", out);
    json_string(out, s->callee);
    if (s->evidence == LGP_EVIDENCE_NONE)
        fputs(",\"size\":null", out);
    else
        fprintf(out, ",\"size\":%llu", (unsigned long long)s->size);
    fprintf(out, ",\"confidence\":%.2f,\"evidence\":\"%s\"}", (double)s->confidence,
            lgp_evidence_name(s->evidence));
}

void lgp_table_print_json(FILE *out, const lgp_table_t *t)
{
    fputs("{\"sites\":[", out);
    for (size_t i = 0; i < t->count; i++) {
        fputs(i ? ",\n" : "\n", out);
        json_site(out, &t->sites[i]);
    }
    summary_t s;
    bool sizes = summarise(t, &s);
    fprintf(out, "],\n\"summary\":{\"sites\":%zu,\"resolved\":%zu,", t->count, s.resolved);
    fprintf(out, "\"evidence\":{\"insn\":%zu,\"dwarf\":%zu,\"both\":%zu,\"conflict\":%zu,"
            "\"none\":%zu},", s.evidence[LGP_EVIDENCE_INSN], s.evidence[LGP_EVIDENCE_DWARF],
            s.evidence[LGP_EVIDENCE_BOTH], s.evidence[LGP_EVIDENCE_CONFLICT],
            s.evidence[LGP_EVIDENCE_NONE]);
    fprintf(out, "\"via\":{\"%s\":%zu,\"%s\":%zu,\"%s\":%zu},", via_name(LGP_VIA_DIRECT),
            s.via[LGP_VIA_DIRECT], via_name(LGP_VIA_FORWARDER), s.via[LGP_VIA_FORWARDER],
            via_name(LGP_VIA_WRAPPER), s.via[LGP_VIA_WRAPPER]);
    fprintf(out, "\"tail_calls\":%zu,\"wrappers\":%zu,\"dwarf\":%s,\"sizes\":[",
            t->costs.tail_calls, t->costs.wrappers, t->dwarf ? "true" : "false");
    for (size_t i = 0; sizes && i < s.nsizes; i++)
        fprintf(out, "%s{\"size\":%llu,\"sites\":%zu}", i ? "," : "",
                (unsigned long long)s.sizes[i].size, s.sizes[i].sites);
    fputs("]}}\n", out);
    if (sizes)
        free(s.sizes);
}
