/* The confidence rules (docs/prediction.md, "Confidence"): how the two
 * kinds of evidence for one size argument combine, and how arguments and
 * pass-through hops combine into the confidence of a site. */
#include "internal.h"

#include <stdlib.h>

#define CONF_BOTH          0.99f  /* instructions and DWARF agree */
#define CONF_INSN          0.90f  /* straight-line code from the write to the call */
#define CONF_INSN_BRANCH   0.80f  /* ... past a conditional branch (still sound) */
#define CONF_INSN_TABLE    0.40f  /* the function has jump tables: an edge may be unseen */
#define CONF_DWARF         0.90f  /* the compiler's own DW_AT_call_value */
#define CONF_CONFLICT      0.30f  /* both, disagreeing: DWARF's value */
#define CONF_PASS          0.95f  /* one pass-through hop, straight line */
#define CONF_PASS_BRANCH   0.85f  /* one pass-through hop past a conditional branch */

static uint64_t extend(uint64_t v, uint8_t ext)
{
    switch (ext) {
    case LGP_EXT_ZERO32: return (uint32_t)v;
    case LGP_EXT_SIGN32: return (uint64_t)(int64_t)(int32_t)(uint32_t)v;
    default:             return v;
    }
}

static bool dwarf_value(const lgp_evidence_src_t *src, uint64_t ret, unsigned reg,
                        uint64_t *value)
{
    if (!src)
        return false;
    size_t lo = 0, hi = src->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const lgp_callvalue_t *v = &src->values[mid];
        if (v->ret < ret || (v->ret == ret && v->reg < reg))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == src->count || src->values[lo].ret != ret || src->values[lo].reg != reg)
        return false;
    *value = src->values[lo].value;
    return true;
}

static lgp_factor_t constant(uint64_t value, float confidence, uint8_t evidence)
{
    return (lgp_factor_t){ .kind = LGP_FACTOR_CONST, .value = value,
                           .confidence = confidence, .evidence = evidence };
}

/* One register argument: what the instructions say, what DWARF says.  The
 * target may add a constant to it (a wrapper's `malloc(n + 16)`). */
static lgp_factor_t merge(const lgp_factor_t *want, const lgp_value_t *insn, bool jump_table,
                          bool has_dwarf, uint64_t dwarf)
{
    uint64_t add = want->value;
    uint8_t ext = want->ext != LGP_EXT_NONE ? want->ext : insn->ext;
    if (has_dwarf)
        dwarf = extend(dwarf, want->ext) + add;
    if (insn->kind == LGP_FACTOR_CONST) {
        uint64_t v = extend(insn->value, want->ext) + add;
        if (has_dwarf && v == dwarf)
            return constant(v, CONF_BOTH, LGP_EV_INSN | LGP_EV_DWARF);
        if (has_dwarf)
            return constant(dwarf, CONF_CONFLICT, LGP_EV_INSN | LGP_EV_DWARF | LGP_EV_CONFLICT);
        return constant(v, jump_table ? CONF_INSN_TABLE
                           : insn->branch ? CONF_INSN_BRANCH : CONF_INSN, LGP_EV_INSN);
    }
    if (has_dwarf)
        return constant(dwarf, CONF_DWARF, LGP_EV_DWARF);
    /* an argument plus a constant, under the target's extension, would be
     * cut to 32 bits first: not followed */
    if (insn->kind == LGP_FACTOR_REG && !jump_table
        && (want->ext == LGP_EXT_NONE || insn->value == 0))
        return (lgp_factor_t){ .kind = LGP_FACTOR_REG, .reg = insn->reg, .ext = ext,
                               .value = insn->value + add,
                               .confidence = insn->branch ? CONF_PASS_BRANCH : CONF_PASS };
    return (lgp_factor_t){ .kind = LGP_FACTOR_UNKNOWN };
}

lgp_spec_t lgp__evaluate(const lgp_raw_t *raw, const lgp_target_t *target,
                         const lgp_evidence_src_t *dwarf)
{
    lgp_spec_t out = target->spec;
    for (unsigned i = 0; i < out.count; i++) {
        const lgp_factor_t *want = &target->spec.factor[i];
        if (want->kind != LGP_FACTOR_REG)
            continue;                 /* a constant of a forwarder, or unknown */
        uint64_t d = 0;
        bool has_dwarf = dwarf_value(dwarf, raw->ret, want->reg, &d);
        out.factor[i] = merge(want, &raw->arg[i], raw->jump_table, has_dwarf, d);
        out.factor[i].confidence *= target->confidence;
    }
    return out;
}

bool lgp__spec_size(const lgp_spec_t *spec, uint64_t *size, float *confidence,
                    uint8_t *evidence)
{
    uint64_t s = 1;
    float c = 1.0f;
    uint8_t e = 0;
    for (unsigned i = 0; i < spec->count; i++) {
        const lgp_factor_t *f = &spec->factor[i];
        if (f->kind != LGP_FACTOR_CONST || __builtin_mul_overflow(s, f->value, &s))
            return false;
        if (f->confidence < c)
            c = f->confidence;
        e |= f->evidence;
    }
    *size = s;
    *confidence = c;
    *evidence = e;
    return true;
}
