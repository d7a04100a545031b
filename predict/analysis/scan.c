/* The instruction scan.  Each round looks for the targets found by the
 * round before: a byte pre-filter finds every call, jmp and jcc rel32 (and
 * `call/jmp [rip+slot]`) whose displacement reaches one, the functions
 * holding such hits are decoded, and each size register is traced back
 * from the call.  Functions that pass their argument through (wrappers) or
 * tail-call a target (forwarders) become the next round's targets. */
#include "internal.h"

#include <emmintrin.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUNDS 4      /* wrapper of a wrapper of a wrapper */

/* ---- the set of this round's targets ------------------------------------ */

#define BLOOM_BITS 8192   /* one L1-resident bit per hash of a target */

typedef struct tset_s {
    uint64_t *keys;       /* addr << 1 | is_slot, plus one; 0 is empty */
    uint32_t *index;
    size_t    mask;
    uint64_t  bloom[BLOOM_BITS / 64];
} tset_t;

static size_t slot_of(uint64_t key, size_t mask)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static unsigned bloom_bit(uint64_t addr)
{
    return (unsigned)(addr ^ (addr >> 13)) & (BLOOM_BITS - 1);
}

static int tset_build(tset_t *s, const lgp_targets_t *t, unsigned round)
{
    size_t cap = 16;
    while (cap < 2 * t->count)
        cap *= 2;
    s->keys = lgp__calloc(cap, sizeof *s->keys);
    s->index = lgp__malloc(cap * sizeof *s->index);
    s->mask = cap - 1;
    if (!s->keys || !s->index)
        return -1;
    for (size_t i = 0; i < t->count; i++) {
        if (t->items[i].round != round)
            continue;
        uint64_t key = (t->items[i].addr << 1 | t->items[i].is_slot) + 1;
        size_t at = slot_of(key, s->mask);
        while (s->keys[at] != 0)
            at = (at + 1) & s->mask;
        s->keys[at] = key;
        s->index[at] = (uint32_t)i;
        unsigned bit = bloom_bit(t->items[i].addr);
        s->bloom[bit / 64] |= (uint64_t)1 << (bit % 64);
    }
    return 0;
}

static void tset_free(tset_t *s)
{
    free(s->keys);
    free(s->index);
}

static inline long tset_find(const tset_t *s, uint64_t addr, bool is_slot)
{
    unsigned bit = bloom_bit(addr);
    if (!((s->bloom[bit / 64] >> (bit % 64)) & 1))
        return -1;
    uint64_t key = (addr << 1 | is_slot) + 1;
    for (size_t at = slot_of(key, s->mask); s->keys[at] != 0; at = (at + 1) & s->mask)
        if (s->keys[at] == key)
            return s->index[at];
    return -1;
}

/* ---- the pre-filter ----------------------------------------------------- */

typedef struct hit_s {
    uint64_t addr;
    uint32_t target;
    uint8_t  len;
    bool     tail;
} hit_t;

typedef struct hits_s {
    hit_t *items;
    size_t count, cap;
} hits_t;

static int hit_push(hits_t *h, uint64_t addr, long target, uint8_t len, bool tail)
{
    if (!lgp__grow((void **)&h->items, &h->cap, h->count, sizeof *h->items))
        return -1;
    h->items[h->count++] = (hit_t){ addr, (uint32_t)target, len, tail };
    return 0;
}

static int32_t rel32(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The candidate at p[i], if its displacement reaches a target. */
static inline int candidate(const uint8_t *p, size_t i, uint64_t base, const tset_t *s,
                            bool rel_only, hits_t *h)
{
    uint8_t b = p[i];
    uint64_t at = base + i;
    long t = -1;
    uint8_t len = 5;
    bool tail = b != 0xe8;
    if (b == 0xe8 || b == 0xe9) {
        t = tset_find(s, at + 5 + (uint64_t)(int64_t)rel32(p + i + 1), false);
    } else if (rel_only) {
        return 0;
    } else if (b == 0x0f && (p[i + 1] & 0xf0) == 0x80) {
        len = 6;
        t = tset_find(s, at + 6 + (uint64_t)(int64_t)rel32(p + i + 2), false);
    } else if (b == 0xff && (p[i + 1] == 0x15 || p[i + 1] == 0x25)) {
        len = 6;
        tail = p[i + 1] == 0x25;
        t = tset_find(s, at + 6 + (uint64_t)(int64_t)rel32(p + i + 2), true);
    }
    return t >= 0 ? hit_push(h, at, t, len, tail) : 0;
}

/* E8 call, E9 jmp, 0F 8x jcc (rel32); FF 15 call, FF 25 jmp ([rip+disp32]).
 * SSE2 finds the opening bytes 16 at a time, so the loop branches once per
 * candidate rather than once per byte.  rel_only: only E8 and E9 (the
 * wrappers of later rounds are never reached through a GOT slot). */
static int prefilter(const uint8_t *p, size_t n, uint64_t base, const tset_t *s,
                     bool rel_only, hits_t *h)
{
    if (n < 6)
        return 0;
    size_t last = n - 6;    /* the last offset with room for a displacement */
    const __m128i e8 = _mm_set1_epi8((char)0xe8), e9 = _mm_set1_epi8((char)0xe9);
    const __m128i x0f = _mm_set1_epi8(0x0f), xff = _mm_set1_epi8((char)0xff);
    const __m128i x15 = _mm_set1_epi8(0x15), x25 = _mm_set1_epi8(0x25);
    const __m128i xf0 = _mm_set1_epi8((char)0xf0), x80 = _mm_set1_epi8((char)0x80);
    size_t i = 0;
    for (; i + 17 <= last + 1; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i m = _mm_or_si128(_mm_cmpeq_epi8(v, e8), _mm_cmpeq_epi8(v, e9));
        if (!rel_only) {
            /* 0F and FF are common bytes: only with the right second byte */
            __m128i next = _mm_loadu_si128((const __m128i *)(p + i + 1));
            __m128i jcc = _mm_and_si128(_mm_cmpeq_epi8(v, x0f),
                                        _mm_cmpeq_epi8(_mm_and_si128(next, xf0), x80));
            __m128i rip = _mm_and_si128(_mm_cmpeq_epi8(v, xff),
                                        _mm_or_si128(_mm_cmpeq_epi8(next, x15),
                                                     _mm_cmpeq_epi8(next, x25)));
            m = _mm_or_si128(m, _mm_or_si128(jcc, rip));
        }
        for (unsigned bits = (unsigned)_mm_movemask_epi8(m); bits; bits &= bits - 1)
            if (candidate(p, i + (unsigned)__builtin_ctz(bits), base, s, rel_only, h) != 0)
                return -1;
    }
    for (; i <= last; i++)
        if (candidate(p, i, base, s, rel_only, h) != 0)
            return -1;
    return 0;
}

/* The code is read a chunk at a time, each chunk dropped from the resident
 * set once read: a program would otherwise hold all of its code a second
 * time while the pass runs.  (The functions decoded afterwards come back
 * from the page cache; see docs/decisions.md#prefilter-chunks.) */
#define PREFILTER_CHUNK ((size_t)1 << 20)

static int prefilter_all(const lgp_elf_t *elf, const tset_t *s, bool rel_only, hits_t *h,
                         size_t *bytes)
{
    *bytes = 0;
    for (unsigned i = 0; i < elf->ehdr->e_shnum; i++) {
        const Elf64_Shdr *sh = &elf->shdrs[i];
        if (!(sh->sh_flags & SHF_EXECINSTR)
            || strncmp(lgp__elf_section_name(elf, sh), ".plt", 4) == 0)
            continue;     /* the stubs are targets, not sites */
        const uint8_t *p = lgp__elf_section_bytes(elf, sh);
        if (!p)
            continue;
        for (size_t off = 0; off < sh->sh_size; off += PREFILTER_CHUNK) {
            /* 5 bytes more: a call at the chunk's last offset has its
             * displacement in the next */
            size_t n = sh->sh_size - off < PREFILTER_CHUNK + 5 ? sh->sh_size - off
                                                                : PREFILTER_CHUNK + 5;
            if (prefilter(p + off, n, sh->sh_addr + off, s, rel_only, h) != 0)
                return -1;
            lgp__elf_drop(elf, p + off, n < PREFILTER_CHUNK ? n : PREFILTER_CHUNK);
        }
        *bytes += sh->sh_size;
    }
    return 0;
}

/* ---- from hits to raw sites --------------------------------------------- */

static int by_addr(const void *a, const void *b)
{
    const hit_t *x = a, *y = b;
    return (x->addr > y->addr) - (x->addr < y->addr);
}

static int raw_push(lgp_raws_t *r, const lgp_raw_t *raw)
{
    if (!lgp__grow((void **)&r->items, &r->cap, r->count, sizeof *r->items))
        return -1;
    r->items[r->count++] = *raw;
    return 0;
}

static int confirm_hits(const lgp_elf_t *elf, const lgp_targets_t *targets, hits_t *h,
                        lgp_code_t *code, lgp_raws_t *raws, lgp_costs_t *costs)
{
    if (h->count > 1) /* qsort wants a non-null array even to sort nothing */
        qsort(h->items, h->count, sizeof *h->items, by_addr);
    const lgp_func_t *decoded = NULL;
    bool usable = false;
    for (size_t i = 0; i < h->count; i++) {
        const hit_t *hit = &h->items[i];
        const lgp_func_t *f = lgp__elf_function_at(elf, hit->addr);
        if (!f)
            continue;
        if (f != decoded) {
            decoded = f;
            usable = lgp__code_decode(code, elf, f);
            costs->functions_decoded++;
        }
        long k = usable ? lgp__code_index(code, hit->addr) : -1;
        if (k < 0 || lgp__code_length(code, k) != hit->len)
            continue;     /* the bytes lie inside another instruction */
        const lgp_target_t *t = &targets->items[hit->target];
        lgp_raw_t raw = {
            .ret = hit->addr + hit->len, .target = hit->target,
            .func = (uint32_t)(f - elf->funcs), .tail = hit->tail,
            .jump_table = lgp__code_has_indirect_jump(code),
        };
        for (unsigned a = 0; a < t->spec.count; a++)
            if (t->spec.factor[a].kind == LGP_FACTOR_REG)
                raw.arg[a] = lgp__code_trace(code, k, t->spec.factor[a].reg);
        costs->tail_calls += hit->tail;
        if (raw_push(raws, &raw) != 0)
            return -1;
    }
    return 0;
}

/* ---- wrappers and forwarders -------------------------------------------- */

static bool same_spec(const lgp_spec_t *a, const lgp_spec_t *b)
{
    if (a->count != b->count)
        return false;
    for (unsigned i = 0; i < a->count; i++) {
        const lgp_factor_t *x = &a->factor[i], *y = &b->factor[i];
        if (x->kind != y->kind || (x->kind == LGP_FACTOR_REG && (x->reg != y->reg || x->ext != y->ext))
            || x->value != y->value)
            return false;
    }
    return true;
}

static bool passes_through(const lgp_spec_t *s)
{
    bool reg = false;
    for (unsigned i = 0; i < s->count; i++) {
        if (s->factor[i].kind == LGP_FACTOR_UNKNOWN)
            return false;
        reg |= s->factor[i].kind == LGP_FACTOR_REG;
    }
    return reg;
}

/* How far a derived target's spec can be trusted: its weakest hop. */
static float spec_confidence(const lgp_spec_t *s)
{
    float c = 1.0f;
    for (unsigned i = 0; i < s->count; i++)
        if (s->factor[i].kind == LGP_FACTOR_REG && s->factor[i].confidence < c)
            c = s->factor[i].confidence;
    return c;
}

/* The site of the one allocation a function returns (every path that
 * returns a pointer returns that call's result), when its size passes the
 * function's arguments through, possibly plus a constant; NULL if none.
 * A function that allocates a header and a buffer of its argument's size
 * returns the header: it is no wrapper for that size. */
static lgp_raw_t *returned_allocation(const lgp_elf_t *elf, const lgp_targets_t *targets,
                                      lgp_raw_t *from, lgp_raw_t *to,
                                      const lgp_evidence_src_t *dwarf, lgp_code_t *code,
                                      bool any_size, int32_t *frame)
{
    const lgp_func_t *f = &elf->funcs[from->func];
    bool any = any_size;
    for (const lgp_raw_t *r = from; r < to && !any; r++) {
        lgp_spec_t s = lgp__evaluate(r, &targets->items[r->target], dwarf);
        any = !r->tail && passes_through(&s);
    }
    if (!any)
        return NULL;        /* most functions: no call passes an argument through */
    if (!lgp__code_decode(code, elf, f))
        return NULL;
    long k = lgp__code_returned_call(code);
    if (k < 0)
        return NULL;
    uint64_t ret = f->start + (uint64_t)lgp__code_offset(code, k) + lgp__code_length(code, k);
    for (lgp_raw_t *r = from; r < to; r++) {
        if (r->tail || r->ret != ret)
            continue;
        lgp_spec_t s = lgp__evaluate(r, &targets->items[r->target], dwarf);
        if (!any_size && !passes_through(&s))
            return NULL;
        long d = lgp__code_frame(code, k);
        *frame = d >= 0 && d < INT32_MAX ? (int32_t)d : -1;
        return r;
    }
    return NULL;
}

/* A named function seen to allocate its argument plus a constant (a
 * header): its callers' sizes get the constant too.  True when the size
 * seen is the user's argument (plus that constant): the analysis then
 * follows the size itself. */
static bool named_constant(lgp_target_t *t, lgp_spec_t seen)
{
    lgp_factor_t *f = &t->spec.factor[0];
    if (t->spec.count == 1 && seen.count == 1 && seen.factor[0].kind == LGP_FACTOR_REG
        && seen.factor[0].reg == f->reg && seen.factor[0].ext == LGP_EXT_NONE) {
        f->value = seen.factor[0].value;
        return true;
    }
    return false;
}

/* The callers of a named function the analysis cannot check (it allocates
 * through a pointer, as sqlite's sqlite3Malloc, or lies in another object)
 * keep the user's size for the report only: below the confidence that
 * counts as a prediction. */
#define NAMED_UNCHECKED 0.45f

static void named_checked(lgp_target_t *t)
{
    t->checked = true;
    t->confidence = 1.0f;
}

/* A named function whose allocations are all tail calls (`jmp malloc`) of
 * functions the allocator sees directly: the allocator sees its callers'
 * return addresses, so its call sites are checked like a forwarder's. */
static void named_tail(lgp_targets_t *targets, lgp_target_t *t, const lgp_raw_t *from,
                       const lgp_raw_t *to, const lgp_evidence_src_t *dwarf)
{
    bool same = true;
    lgp_spec_t seen = { .count = 0 };
    for (const lgp_raw_t *r = from; r < to; r++) {
        const lgp_target_t *callee = &targets->items[r->target];
        if (!r->tail || callee->via == LGP_VIA_WRAPPER)
            return;
        lgp_spec_t s = lgp__evaluate(r, callee, dwarf);
        same &= seen.count == 0 || same_spec(&seen, &s);
        seen = s;
    }
    if (same)
        named_constant(t, seen);
    t->via = LGP_VIA_FORWARDER;
    named_checked(t);
}

/* A function the user named keeps the size the user gave, at full
 * confidence only where that size is checked: at run time through the
 * allocation it returns (its frame known), or through its tail calls;
 * or by the analysis, which sees the allocation it returns take the
 * user's argument (plus a constant). */
static void named_check(const lgp_elf_t *elf, lgp_targets_t *targets, long known,
                        lgp_raw_t *from, lgp_raw_t *to, const lgp_evidence_src_t *dwarf,
                        lgp_code_t *code)
{
    lgp_target_t *t = &targets->items[known];
    bool tail = false;
    for (const lgp_raw_t *r = from; r < to; r++)
        tail |= r->tail;
    if (tail) {
        named_tail(targets, t, from, to, dwarf);
        return;
    }
    int32_t frame = -1;
    lgp_raw_t *r = returned_allocation(elf, targets, from, to, dwarf, code, true, &frame);
    if (!r)
        return;
    r->wrapper = (uint32_t)known + 1;
    r->frame = frame;
    bool seen = named_constant(t, lgp__evaluate(r, &targets->items[r->target], dwarf));
    if (seen || frame > 0)
        named_checked(t);
}

/* One function's raw sites [from, to): a forwarder if it tail-calls a
 * target (the spec of its tail calls, unknown where they differ), else a
 * wrapper if the allocation it returns passes its arguments through. */
static int derive(const lgp_elf_t *elf, lgp_targets_t *targets, lgp_raw_t *from,
                  lgp_raw_t *to, const lgp_evidence_src_t *dwarf, unsigned round,
                  lgp_code_t *code, lgp_costs_t *costs)
{
    const lgp_func_t *f = &elf->funcs[from->func];
    long known = lgp__targets_index(targets, f->start, false);
    if (known >= 0) {
        if (targets->items[known].named && !targets->items[known].checked)
            named_check(elf, targets, known, from, to, dwarf, code);
        return 0;
    }
    lgp_spec_t spec = { .count = 0 };
    uint8_t via = LGP_VIA_WRAPPER;
    bool tail = false, conflict = false;
    for (const lgp_raw_t *r = from; r < to; r++)
        tail |= r->tail;
    lgp_raw_t *returned = NULL;
    int32_t frame = -1;
    if (!tail) {
        returned = returned_allocation(elf, targets, from, to, dwarf, code, false, &frame);
        if (!returned)
            return 0;
        from = returned;
        to = returned + 1;
    }
    for (const lgp_raw_t *r = from; r < to; r++) {
        if (r->tail != tail)
            continue;
        const lgp_target_t *t = &targets->items[r->target];
        lgp_spec_t s = lgp__evaluate(r, t, dwarf);
        if (!tail && !passes_through(&s))
            continue;
        if (tail)
            via = t->via == LGP_VIA_DIRECT ? LGP_VIA_FORWARDER : t->via;
        conflict |= spec.count != 0 && !same_spec(&spec, &s);
        spec = s;
    }
    if (spec.count == 0)
        return 0;
    if (conflict) {
        if (!tail)
            return 0;
        spec = (lgp_spec_t){ .factor = { { .kind = LGP_FACTOR_UNKNOWN } }, .count = 1 };
    }
    lgp_target_t derived = {
        .addr = f->start, .via = via, .round = (uint8_t)round,
        .confidence = spec_confidence(&spec), .spec = spec, .name = f->name,
    };
    costs->wrappers++;
    if (returned) {
        returned->wrapper = (uint32_t)targets->count + 1;
        returned->frame = frame;
    }
    return lgp__targets_add(targets, &derived);
}

/* The named functions first: what their callers predict, and what the
 * functions found to pass through to them inherit, depends on whether
 * they are checked. */
static int derive_all(const lgp_elf_t *elf, lgp_targets_t *targets, lgp_raws_t *raws,
                      size_t first, const lgp_evidence_src_t *dwarf, unsigned round,
                      lgp_code_t *code, lgp_costs_t *costs)
{
    for (int named = 1; named >= 0; named--) {
        for (size_t i = first, j; i < raws->count; i = j) {
            for (j = i + 1; j < raws->count && raws->items[j].func == raws->items[i].func; j++)
                ;
            const lgp_func_t *f = &elf->funcs[raws->items[i].func];
            long known = lgp__targets_index(targets, f->start, false);
            if ((known >= 0 && targets->items[known].named) != named)
                continue;
            if (derive(elf, targets, &raws->items[i], &raws->items[j], dwarf, round, code,
                       costs) != 0)
                return -1;
        }
        for (size_t i = 0; named && i < targets->count; i++)
            if (targets->items[i].named && !targets->items[i].checked)
                targets->items[i].confidence = NAMED_UNCHECKED;
    }
    return 0;
}

int lgp__scan(const lgp_elf_t *elf, lgp_targets_t *targets, const lgp_evidence_src_t *dwarf,
              lgp_raws_t *raws, lgp_costs_t *costs)
{
    lgp_code_t *code = lgp__code_new();
    if (!code)
        return -1;
    /* without it (out of memory) aborting paths merge as before */
    lgp_noreturn_t *noreturn = lgp__noreturn_new(elf);
    lgp__code_set_noreturn(code, noreturn);
    int rc = 0;
    for (unsigned round = 0; round < MAX_ROUNDS && rc == 0; round++) {
        bool any = false;
        for (size_t i = 0; i < targets->count; i++)
            any |= targets->items[i].round == round;
        if (!any)
            break;
        tset_t set = { 0 };
        hits_t hits = { 0 };
        size_t bytes = 0, first = raws->count;
        rc = tset_build(&set, targets, round);
        double t0 = lgp__now_ms();
        if (rc == 0)
            rc = prefilter_all(elf, &set, round > 0, &hits, &bytes);
        costs->prefilter_ms += lgp__now_ms() - t0;
        costs->prefilter_bytes += bytes;
        if (rc == 0)
            rc = confirm_hits(elf, targets, &hits, code, raws, costs);
        if (rc == 0 && round + 1 < MAX_ROUNDS)
            rc = derive_all(elf, targets, raws, first, dwarf, round + 1, code, costs);
        if (round == 0)
            costs->text_bytes = bytes;
        tset_free(&set);
        free(hits.items);
    }
    lgp__code_free(code);
    lgp__noreturn_free(noreturn);
    return rc;
}
