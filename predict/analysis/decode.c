/* One function's code: a linear decode (Zydis minimal mode) that records
 * instruction boundaries and the edges of its direct branches, then a
 * backward trace of one register from a call site over every path that
 * reaches it, with full decoding of only the instructions it walks
 * through. */
#include "internal.h"

#include <Zydis/Zydis.h>
#include <stdlib.h>
#include <string.h>

#define TRACE_LIMIT 2048  /* states visited before giving up */
#define SEEN_FIRST  256   /* the visited set's first size: most traces visit a few states */
#define SEEN_MAX    8192  /* its largest: a power of two > 2 * (TRACE_LIMIT + 1) */

enum {
    INSN_TARGET  = 1,     /* a direct branch of the function lands here */
    INSN_NOFALL  = 2,     /* control never falls through to the next one */
    INSN_PAD     = 4,     /* a nop: alignment padding when nothing reaches it */
    INSN_NORET   = 8,     /* a call or jump to a function that never returns */
    INSN_DIESIDE = 16,    /* a jcc whose taken side never returns (a .cold abort) */
    INSN_JCC     = 32,
    INSN_RET     = 64,
    INSN_CALL    = 128,
    INSN_ASK     = 256,   /* a call or jump to one of the program's functions:
                             whether it returns is decided when first needed */
    INSN_OUT     = 512,   /* a jmp or jcc that leaves the function */
    INSN_FIRST   = 1024,  /* a call or tail call of memcpy & co.: returns rdi */
};

typedef struct insn_s {
    uint32_t off;
    uint8_t  len;
    uint16_t flags;
} insn_t;

typedef struct edge_s {
    uint32_t to;          /* while decoding an offset, then an instruction index */
    uint32_t from;        /* instruction index of the branch */
} edge_t;

/* Where the backward trace stands: the value at the call is reg (extended
 * by ext) plus add, reg as it is when instruction at starts.  reg LGP_SLOT:
 * the value is in the stack slot [rbp + disp] of `size` bytes (unoptimised
 * code keeps arguments and locals there). */
typedef struct state_s {
    uint32_t at;
    uint8_t  reg, ext, size;
    int32_t  disp;
    int64_t  add;
} state_t;

#define LGP_SLOT  16
#define SLOT_DISP (1 << 23)   /* the largest |disp| tracked: the key has 24 bits */

struct lgp_code_s {
    ZydisDecoder   minimal, full;
    uint64_t       start;
    const uint8_t *bytes;
    size_t         size;
    insn_t        *insns;
    size_t         count, cap;
    edge_t        *edges;     /* sorted by `to` */
    size_t         nedges, ecap;
    bool           indirect;
    bool           exits;     /* an indirect jump that may leave the function */
    lgp_noreturn_t *noreturn; /* which callees never return; may be NULL */
    state_t       *stack;     /* the trace's work list, TRACE_LIMIT long */
    uint64_t      *seen;      /* visited states, valid where seen_pass == pass */
    int64_t       *seen_add;  /* and their addends */
    uint32_t      *seen_pass;
    size_t         seen_size; /* a power of two, doubled while at least half full */
    size_t         seen_used; /* states of this pass */
    uint32_t       pass;
};

lgp_code_t *lgp__code_new(void)
{
    lgp_code_t *c = lgp__calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->stack = lgp__malloc(TRACE_LIMIT * sizeof *c->stack);
    c->seen_size = SEEN_FIRST;
    c->seen = lgp__malloc(SEEN_FIRST * sizeof *c->seen);
    c->seen_add = lgp__malloc(SEEN_FIRST * sizeof *c->seen_add);
    c->seen_pass = lgp__calloc(SEEN_FIRST, sizeof *c->seen_pass);
    if (!c->stack || !c->seen || !c->seen_add || !c->seen_pass) {
        lgp__code_free(c);
        return NULL;
    }
    if (!ZYAN_SUCCESS(ZydisDecoderInit(&c->minimal, ZYDIS_MACHINE_MODE_LONG_64,
                                       ZYDIS_STACK_WIDTH_64))
        || !ZYAN_SUCCESS(ZydisDecoderEnableMode(&c->minimal, ZYDIS_DECODER_MODE_MINIMAL,
                                                ZYAN_TRUE))
        || !ZYAN_SUCCESS(ZydisDecoderInit(&c->full, ZYDIS_MACHINE_MODE_LONG_64,
                                          ZYDIS_STACK_WIDTH_64))) {
        lgp__code_free(c);
        return NULL;
    }
    return c;
}

void lgp__code_free(lgp_code_t *code)
{
    if (!code)
        return;
    free(code->insns);
    free(code->edges);
    free(code->stack);
    free(code->seen);
    free(code->seen_add);
    free(code->seen_pass);
    free(code);
}

void lgp__code_set_noreturn(lgp_code_t *code, lgp_noreturn_t *noreturn)
{
    code->noreturn = noreturn;
}

/* ---- the forward decode ------------------------------------------------- */

static bool locate(lgp_code_t *code, const lgp_elf_t *elf, const lgp_func_t *func)
{
    for (unsigned i = 0; i < elf->ehdr->e_shnum; i++) {
        const Elf64_Shdr *sh = &elf->shdrs[i];
        if (!(sh->sh_flags & SHF_EXECINSTR) || func->start < sh->sh_addr
            || func->start >= sh->sh_addr + sh->sh_size)
            continue;
        const uint8_t *p = lgp__elf_section_bytes(elf, sh);
        if (!p)
            return false;
        uint64_t end = func->end < sh->sh_addr + sh->sh_size ? func->end
                                                             : sh->sh_addr + sh->sh_size;
        code->start = func->start;
        code->bytes = p + (func->start - sh->sh_addr);
        code->size = end - func->start;
        return true;
    }
    return false;
}

static uint16_t flags_of(const ZydisDecodedInstruction *in)
{
    switch (in->meta.category) {
    case ZYDIS_CATEGORY_UNCOND_BR:
        return INSN_NOFALL;
    case ZYDIS_CATEGORY_RET:
        return INSN_NOFALL | INSN_RET;
    case ZYDIS_CATEGORY_COND_BR:
        return INSN_JCC;
    case ZYDIS_CATEGORY_CALL:
        return INSN_CALL;
    default:
        break;
    }
    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_UD2: case ZYDIS_MNEMONIC_HLT: case ZYDIS_MNEMONIC_INT3:
        return INSN_NOFALL;
    case ZYDIS_MNEMONIC_NOP:
        return INSN_PAD;
    default:
        return 0;
    }
}

static int by_to(const void *a, const void *b)
{
    const edge_t *x = a, *y = b;
    return (x->to > y->to) - (x->to < y->to);
}

/* Turns the edges' target offsets into instruction indices.  A branch into
 * the middle of an instruction means code the linear decode does not
 * see: the function is then treated like one with a jump table. */
static void index_edges(lgp_code_t *code)
{
    size_t out = 0;
    for (size_t i = 0; i < code->nedges; i++) {
        long k = lgp__code_index(code, code->start + code->edges[i].to);
        if (k < 0) {
            code->indirect = true;
            continue;
        }
        code->insns[k].flags |= INSN_TARGET;
        code->edges[out++] = (edge_t){ (uint32_t)k, code->edges[i].from };
    }
    code->nedges = out;
    if (code->nedges > 1) /* qsort wants a non-null array even to sort nothing */
        qsort(code->edges, code->nedges, sizeof *code->edges, by_to);
}

/* A call or branch to dest that never returns: the call does not fall
 * through, a jcc's taken side ends there. */
static void mark_noreturn(lgp_code_t *code, insn_t *insn, uint64_t dest, bool is_slot)
{
    if (!(insn->flags & INSN_JCC) && lgp__returns_first(code->noreturn, dest, is_slot)) {
        insn->flags |= INSN_FIRST;
        return;
    }
    if (!is_slot && !lgp__noreturn_named(code->noreturn, dest)) {
        insn->flags |= INSN_ASK;   /* decoding the callee may wait */
        return;
    }
    if (!lgp__noreturn(code->noreturn, dest, is_slot))
        return;
    if (insn->flags & INSN_JCC)
        insn->flags |= INSN_DIESIDE;
    else
        insn->flags |= INSN_NOFALL | INSN_NORET;
}

/* The flags of instruction i, with whether a call returns decided. */
static uint16_t flags_at(lgp_code_t *code, size_t i)
{
    insn_t *p = &code->insns[i];
    ZydisDecodedInstruction in;
    if (p->flags & INSN_ASK) {
        p->flags &= (uint16_t)~INSN_ASK;
        if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&code->minimal, NULL,
                                                        code->bytes + p->off, p->len, &in)))
            return p->flags;
        uint64_t dest = code->start + p->off + p->len + (uint64_t)in.raw.imm[0].value.s;
        if (lgp__noreturn(code->noreturn, dest, false))
            p->flags |= p->flags & INSN_JCC ? INSN_DIESIDE : INSN_NOFALL | INSN_NORET;
    }
    return p->flags;
}

/* `call/jmp [rip+disp32]` (FF 15 / FF 25): the GOT slot it reads. */
static bool rip_slot(const lgp_code_t *code, size_t off, unsigned len, uint64_t *slot)
{
    const uint8_t *p = code->bytes + off;
    if (len != 6 || p[0] != 0xff || (p[1] != 0x15 && p[1] != 0x25))
        return false;
    int32_t d;
    memcpy(&d, p + 2, 4);
    *slot = code->start + off + 6 + (uint64_t)(int64_t)d;
    return true;
}

bool lgp__code_decode(lgp_code_t *code, const lgp_elf_t *elf, const lgp_func_t *func)
{
    code->count = code->nedges = 0;
    code->indirect = code->exits = false;
    if (!locate(code, elf, func))
        return false;
    ZydisDecodedInstruction in;
    for (size_t off = 0; off < code->size; off += in.length) {
        if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&code->minimal, NULL, code->bytes + off,
                                                        code->size - off, &in)))
            break;   /* data or padding: the boundaries before it stand */
        if (!lgp__grow((void **)&code->insns, &code->cap, code->count, sizeof *code->insns))
            return false;
        insn_t *insn = &code->insns[code->count++];
        *insn = (insn_t){ (uint32_t)off, in.length, flags_of(&in) };
        if (in.meta.branch_type == ZYDIS_BRANCH_TYPE_NONE)
            continue;
        bool call = in.meta.category == ZYDIS_CATEGORY_CALL;
        if (!in.raw.imm[0].is_relative) {
            uint64_t slot;
            if (rip_slot(code, off, in.length, &slot))
                mark_noreturn(code, insn, slot, true);
            if (in.meta.category == ZYDIS_CATEGORY_UNCOND_BR && !(insn->flags & INSN_NORET))
                code->indirect = code->exits = true;
            continue;
        }
        int64_t to = (int64_t)(off + in.length) + in.raw.imm[0].value.s;
        bool inside = to >= 0 && (uint64_t)to < code->size;
        if (call || !inside)
            mark_noreturn(code, insn, code->start + (uint64_t)to, false);
        if (!inside) {
            /* a tail call, or a jump to a part of its own elsewhere (.cold) */
            insn->flags |= call ? 0 : INSN_OUT;
            continue;
        }
        if (!lgp__grow((void **)&code->edges, &code->ecap, code->nedges, sizeof *code->edges))
            return false;
        code->edges[code->nedges++] = (edge_t){ (uint32_t)to, (uint32_t)(code->count - 1) };
    }
    index_edges(code);
    return true;
}

long lgp__code_index(const lgp_code_t *code, uint64_t addr)
{
    if (addr < code->start || addr - code->start >= code->size)
        return -1;
    uint32_t off = (uint32_t)(addr - code->start);
    size_t lo = 0, hi = code->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (code->insns[mid].off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < code->count && code->insns[lo].off == off ? (long)lo : -1;
}

unsigned lgp__code_length(const lgp_code_t *code, long index)
{
    return code->insns[index].len;
}

uint32_t lgp__code_offset(const lgp_code_t *code, long index)
{
    return code->insns[index].off;
}

bool lgp__code_has_indirect_jump(const lgp_code_t *code)
{
    return code->indirect;
}

/* ---- the backward trace ------------------------------------------------- */

static unsigned dwarf_reg(ZydisRegister r)
{
    r = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r);
    switch (r) {
    case ZYDIS_REGISTER_RAX: return LGP_RAX;
    case ZYDIS_REGISTER_RDX: return LGP_RDX;
    case ZYDIS_REGISTER_RCX: return LGP_RCX;
    case ZYDIS_REGISTER_RBX: return LGP_RBX;
    case ZYDIS_REGISTER_RSI: return LGP_RSI;
    case ZYDIS_REGISTER_RDI: return LGP_RDI;
    case ZYDIS_REGISTER_RBP: return LGP_RBP;
    case ZYDIS_REGISTER_RSP: return LGP_RSP;
    default:
        if (r >= ZYDIS_REGISTER_R8 && r <= ZYDIS_REGISTER_R15)
            return LGP_R8 + (unsigned)(r - ZYDIS_REGISTER_R8);
        return LGP_NOREG;
    }
}

static bool writes(const ZydisDecodedInstruction *in, const ZydisDecodedOperand *ops,
                   unsigned reg)
{
    for (unsigned i = 0; i < in->operand_count; i++)
        if (ops[i].type == ZYDIS_OPERAND_TYPE_REGISTER
            && (ops[i].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)
            && dwarf_reg(ops[i].reg.value) == reg)
            return true;
    return false;
}

static uint64_t extend(uint64_t v, uint8_t ext)
{
    switch (ext) {
    case LGP_EXT_ZERO32: return (uint32_t)v;
    case LGP_EXT_SIGN32: return (uint64_t)(int64_t)(int32_t)(uint32_t)v;
    default:             return v;
    }
}

/* The outermost extension wins: both kinds keep the low 32 bits. */
static void compose(lgp_value_t *v, uint8_t ext)
{
    if (v->ext == LGP_EXT_NONE)
        v->ext = ext;
}

static lgp_value_t unknown(void)
{
    return (lgp_value_t){ .kind = LGP_FACTOR_UNKNOWN };
}

/* v is reg (extended) plus v.value: a register that holds value. */
static lgp_value_t constant(lgp_value_t v, uint64_t value, unsigned width)
{
    v.kind = LGP_FACTOR_CONST;
    v.value = extend(width == 32 ? (uint32_t)value : value, v.ext) + v.value;
    return v;
}

/* v's register is reg' + d (64 bits): follow reg', d added.  Under an
 * extension the sum would be cut to 32 bits first, which is not followed. */
static lgp_value_t plus(lgp_value_t v, unsigned reg, int64_t d)
{
    if (reg == LGP_NOREG || (v.ext != LGP_EXT_NONE && d != 0))
        return unknown();
    v.reg = (uint8_t)reg;
    v.value += (uint64_t)d;
    return v;
}

/* What the instruction that writes v's register puts there: a constant, or
 * another register to follow (v updated), or unknown. */
static lgp_value_t step(const ZydisDecodedInstruction *in, const ZydisDecodedOperand *ops,
                        lgp_value_t v)
{
    const ZydisDecodedOperand *dst = &ops[0], *src = &ops[1];
    if (in->operand_count_visible != 2 || dst->type != ZYDIS_OPERAND_TYPE_REGISTER
        || dwarf_reg(dst->reg.value) != v.reg || (dst->size != 32 && dst->size != 64))
        return unknown();
    unsigned width = dst->size;
    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_MOV:
        if (src->type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
            return constant(v, src->imm.value.u, width);
        if (src->type != ZYDIS_OPERAND_TYPE_REGISTER || src->size != width
            || dwarf_reg(src->reg.value) == LGP_NOREG)
            return unknown();
        if (width == 32)
            compose(&v, LGP_EXT_ZERO32);
        v.reg = (uint8_t)dwarf_reg(src->reg.value);
        v.kind = LGP_FACTOR_REG;
        return v;
    case ZYDIS_MNEMONIC_MOVSXD:
        if (src->type != ZYDIS_OPERAND_TYPE_REGISTER || width != 64 || src->size != 32)
            return unknown();
        compose(&v, LGP_EXT_SIGN32);
        v.reg = (uint8_t)dwarf_reg(src->reg.value);
        v.kind = LGP_FACTOR_REG;
        return v;
    case ZYDIS_MNEMONIC_XOR:
    case ZYDIS_MNEMONIC_SUB:
        if (src->type == ZYDIS_OPERAND_TYPE_REGISTER && src->reg.value == dst->reg.value)
            return constant(v, 0, width);
        if (in->mnemonic == ZYDIS_MNEMONIC_SUB && src->type == ZYDIS_OPERAND_TYPE_IMMEDIATE
            && width == 64)
            return plus(v, v.reg, -src->imm.value.s);
        return unknown();
    case ZYDIS_MNEMONIC_LEA:
        if (src->mem.base == ZYDIS_REGISTER_NONE && src->mem.index == ZYDIS_REGISTER_NONE)
            return constant(v, (uint64_t)src->mem.disp.value, width);
        if (src->mem.index != ZYDIS_REGISTER_NONE || width != 64 || src->mem.base == ZYDIS_REGISTER_RIP
            || ZydisRegisterGetWidth(ZYDIS_MACHINE_MODE_LONG_64, src->mem.base) != 64)
            return unknown();
        return plus(v, dwarf_reg(src->mem.base), src->mem.disp.value);
    case ZYDIS_MNEMONIC_ADD:
        if (src->type == ZYDIS_OPERAND_TYPE_IMMEDIATE && width == 64)
            return plus(v, v.reg, src->imm.value.s);
        return unknown();
    default:
        return unknown();
    }
}

/* The first of the edges (sorted by target) that land on instruction to. */
static size_t first_edge_to(const lgp_code_t *code, uint32_t to)
{
    size_t lo = 0, hi = code->nedges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (code->edges[mid].to < to)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Decodes instruction i with its operands. */
static bool decode_at(lgp_code_t *code, long i, ZydisDecodedInstruction *in,
                      ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT])
{
    const insn_t *p = &code->insns[i];
    return ZYAN_SUCCESS(ZydisDecoderDecodeFull(&code->full, code->bytes + p->off, p->len, in, ops));
}

/* ---- a zero guard ---------------------------------------------------------- */

#define GUARD_REACH 32    /* instructions looked at before the cmov */

/* A fresh name for each value a register takes; a 64-bit copy shares it. */
static void guard_names(const ZydisDecodedInstruction *in, const ZydisDecodedOperand *ops,
                        bool call, uint32_t names[16], uint32_t *next)
{
    const ZydisDecodedOperand *dst = &ops[0], *src = &ops[1];
    if (in->mnemonic == ZYDIS_MNEMONIC_MOV && in->operand_count_visible == 2
        && dst->type == ZYDIS_OPERAND_TYPE_REGISTER && src->type == ZYDIS_OPERAND_TYPE_REGISTER
        && dst->size == 64 && src->size == 64 && dwarf_reg(dst->reg.value) < 16
        && dwarf_reg(src->reg.value) < 16) {
        names[dwarf_reg(dst->reg.value)] = names[dwarf_reg(src->reg.value)];
        return;
    }
    for (unsigned i = 0; i < in->operand_count; i++) {
        unsigned r = ops[i].type == ZYDIS_OPERAND_TYPE_REGISTER
                     && (ops[i].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)
                   ? dwarf_reg(ops[i].reg.value) : LGP_NOREG;
        if (r < 16)
            names[r] = (*next)++;
    }
    for (unsigned r = 0; call && r < 16; r++)
        if (lgp__reg_is_caller_saved(r))
            names[r] = (*next)++;
}

/* `test r, r`, then `cmovne d, s` or `cmove d, s` with no branch landing in
 * between: d gets r's value unless it is zero (Redis' zmalloc allocates
 * MALLOC_MIN_SIZE(n), that is n ? n : 8).  Returns the register that holds
 * r's value at the cmov, the side to follow, or LGP_NOREG when the cmov is
 * no such guard.  A zero argument takes the other side; a predicted size
 * of 0 is never routed. */
static unsigned zero_guard(lgp_code_t *code, uint32_t at, const ZydisDecodedInstruction *in,
                           const ZydisDecodedOperand *ops)
{
    const ZydisDecodedOperand *dst = &ops[0], *src = &ops[1];
    if ((in->mnemonic != ZYDIS_MNEMONIC_CMOVNZ && in->mnemonic != ZYDIS_MNEMONIC_CMOVZ)
        || src->type != ZYDIS_OPERAND_TYPE_REGISTER || dst->size != 64 || src->size != 64)
        return LGP_NOREG;
    unsigned kept = dwarf_reg((in->mnemonic == ZYDIS_MNEMONIC_CMOVNZ ? src : dst)->reg.value);
    ZydisDecodedInstruction x;
    ZydisDecodedOperand xo[ZYDIS_MAX_OPERAND_COUNT];
    /* the flags' writer, in the straight line before the cmov */
    long setter = -1, start = -1;
    for (long i = (long)at - 1; i >= 0 && i + GUARD_REACH >= (long)at; i--) {
        const insn_t *p = &code->insns[i];
        if ((code->insns[i + 1].flags & INSN_TARGET) || (p->flags & INSN_NOFALL)
            || !decode_at(code, i, &x, xo))
            return LGP_NOREG;
        if (x.cpu_flags && x.cpu_flags->modified) {
            setter = i;
            break;
        }
    }
    if (setter < 0 || x.mnemonic != ZYDIS_MNEMONIC_TEST || xo[0].type != ZYDIS_OPERAND_TYPE_REGISTER
        || xo[1].type != ZYDIS_OPERAND_TYPE_REGISTER || xo[0].reg.value != xo[1].reg.value
        || xo[0].size != 64)
        return LGP_NOREG;
    unsigned tested = dwarf_reg(xo[0].reg.value);
    /* where the straight line began: the copies made since name the values */
    for (start = setter; start > 0 && start + GUARD_REACH > (long)at; start--)
        if ((code->insns[start].flags & INSN_TARGET) || (code->insns[start - 1].flags & INSN_NOFALL))
            break;
    uint32_t names[16], next = 16, tested_name = 0;
    for (unsigned r = 0; r < 16; r++)
        names[r] = r;
    for (long i = start; i < (long)at; i++) {
        const insn_t *p = &code->insns[i];
        if (i == setter) {
            tested_name = names[tested];
            continue;
        }
        if (!decode_at(code, i, &x, xo))
            return LGP_NOREG;
        guard_names(&x, xo, (p->flags & INSN_CALL) != 0, names, &next);
    }
    return tested < 16 && kept < 16 && names[kept] == tested_name ? kept : LGP_NOREG;
}

/* Whether instruction `at` is `test r, r` on a whole 64-bit register r
 * that holds reg's value: reg itself, or a copy one made of the other in
 * the straight line before it (clang tests the argument and keeps the
 * copy it allocates with). */
static bool tests_value(lgp_code_t *code, long at, unsigned reg)
{
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    if (at < 0 || !decode_at(code, at, &in, ops) || in.mnemonic != ZYDIS_MNEMONIC_TEST
        || ops[0].type != ZYDIS_OPERAND_TYPE_REGISTER || ops[1].type != ZYDIS_OPERAND_TYPE_REGISTER
        || ops[0].reg.value != ops[1].reg.value || ops[0].size != 64)
        return false;
    unsigned tested = dwarf_reg(ops[0].reg.value);
    if (tested == reg)
        return true;
    for (long i = at; i > 0 && at - i < GUARD_REACH; i--) {
        if ((code->insns[i].flags & INSN_TARGET) || (flags_at(code, (size_t)i - 1) & INSN_NOFALL)
            || !decode_at(code, i - 1, &in, ops))
            return false;
        if (!writes(&in, ops, reg) && !writes(&in, ops, tested))
            continue;
        unsigned from = ops[1].type == ZYDIS_OPERAND_TYPE_REGISTER ? dwarf_reg(ops[1].reg.value)
                                                                    : LGP_NOREG;
        unsigned to = dwarf_reg(ops[0].reg.value);
        return in.mnemonic == ZYDIS_MNEMONIC_MOV && in.operand_count_visible == 2
            && ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER && ops[0].size == 64
            && ops[1].size == 64 && ((to == reg && from == tested) || (to == tested && from == reg));
    }
    return false;
}

/* The same guard compiled as a branch (`if (n == 0) n = 1;`): whether
 * instruction `at`, which writes reg, runs only when reg held zero.  Its
 * straight line must be entered from nothing but the zero side of a
 * `test` of reg's value and a jnz (falling through) or a jz (taken), with
 * reg unchanged on the way.  Returns that jcc, or -1.  The constant
 * written there replaces a zero argument when the jcc's other side
 * carries the tested value on to the call (guard_jcc): the trace then
 * leaves that path out, as zero_guard leaves out the cmov's other side. */
static long zero_side(lgp_code_t *code, uint32_t at, unsigned reg)
{
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    long b = at;    /* where the straight line begins */
    while (!(code->insns[b].flags & INSN_TARGET)) {
        if (b == 0 || (long)at - b >= GUARD_REACH)
            return -1;
        if (flags_at(code, (size_t)b - 1) & (INSN_NOFALL | INSN_JCC))
            break;
        b--;
        if (!decode_at(code, b, &in, ops) || in.meta.category == ZYDIS_CATEGORY_CALL
            || writes(&in, ops, reg))
            return -1;
    }
    long jcc;
    ZydisMnemonic zero;
    if (code->insns[b].flags & INSN_TARGET) {
        /* reached by one branch only, its jz */
        if (b == 0 || !(flags_at(code, (size_t)b - 1) & INSN_NOFALL))
            return -1;
        size_t lo = first_edge_to(code, (uint32_t)b);
        if (lo == code->nedges || code->edges[lo].to != (uint32_t)b
            || (lo + 1 < code->nedges && code->edges[lo + 1].to == (uint32_t)b))
            return -1;
        jcc = code->edges[lo].from;
        zero = ZYDIS_MNEMONIC_JZ;
    } else {
        if (!(flags_at(code, (size_t)b - 1) & INSN_JCC))
            return -1;
        jcc = b - 1;
        zero = ZYDIS_MNEMONIC_JNZ;  /* falls through when zero */
    }
    bool guard = decode_at(code, jcc, &in, ops) && in.mnemonic == zero
              && !(code->insns[jcc].flags & INSN_TARGET) && jcc > 0
              && !(flags_at(code, (size_t)jcc - 1) & INSN_NOFALL)
              && tests_value(code, jcc - 1, reg);
    return guard ? jcc : -1;
}

/* Whether the path into a merge from instruction `pred` is such a zero
 * side: a constant written to reg (by pred, or just before pred's jmp).
 * A merge with it counts no more than zero_guard's cmov. */
static bool zero_entry(lgp_code_t *code, long pred, unsigned reg)
{
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    long w = pred;
    if (flags_at(code, (size_t)pred) & INSN_NOFALL) {
        if ((code->insns[pred].flags & INSN_TARGET) || pred == 0
            || (flags_at(code, (size_t)pred - 1) & INSN_NOFALL))
            return false;
        w = pred - 1;   /* the jmp back from an out-of-line zero side */
    }
    if (reg >= 16 || !decode_at(code, w, &in, ops) || !writes(&in, ops, reg)
        || in.meta.category == ZYDIS_CATEGORY_CALL)
        return false;
    lgp_value_t v = step(&in, ops, (lgp_value_t){ .kind = LGP_FACTOR_REG, .reg = reg });
    return v.kind == LGP_FACTOR_CONST && zero_side(code, (uint32_t)w, reg) >= 0;
}

/* Whether stepping back over jcc `from` to `to` leaves behind only the
 * zero side of a guard on reg: a jnz stepped back from its target, a jz
 * from its fall-through, right after `test reg, reg`. */
static bool guard_jcc(lgp_code_t *code, uint32_t from, uint32_t to, unsigned reg,
                      const ZydisDecodedInstruction *in)
{
    ZydisMnemonic taken = to == from + 1 ? ZYDIS_MNEMONIC_JZ : ZYDIS_MNEMONIC_JNZ;
    return in->mnemonic == taken && !(code->insns[from].flags & INSN_TARGET) && from > 0
        && !(flags_at(code, from - 1) & INSN_NOFALL) && tests_value(code, (long)from - 1, reg);
}

/* ---- over every path ----------------------------------------------------- */

/* Adds (key, add) to the set of the pass; false if it was there. */
static bool seen_put(uint64_t *seen, int64_t *seen_add, uint32_t *seen_pass, size_t size,
                     uint32_t pass, uint64_t key, int64_t add)
{
    uint64_t h = key ^ (uint64_t)add * 0xC2B2AE3D27D4EB4Full;
    for (size_t at = (size_t)((h * 0x9E3779B97F4A7C15ull) >> 40) & (size - 1);;
         at = (at + 1) & (size - 1)) {
        if (seen_pass[at] != pass) {
            seen_pass[at] = pass;
            seen[at] = key;
            seen_add[at] = add;
            return true;
        }
        if (seen[at] == key && seen_add[at] == add)
            return false;
    }
}

/* Doubles the set, keeping the states of this pass; false without memory. */
static bool seen_grow(lgp_code_t *code)
{
    size_t size = code->seen_size * 2;
    uint64_t *seen = lgp__malloc(size * sizeof *seen);
    int64_t *seen_add = lgp__malloc(size * sizeof *seen_add);
    uint32_t *seen_pass = lgp__calloc(size, sizeof *seen_pass);   /* 0: no pass */
    if (!seen || !seen_add || !seen_pass) {
        free(seen);
        free(seen_add);
        free(seen_pass);
        return false;
    }
    for (size_t i = 0; i < code->seen_size; i++)
        if (code->seen_pass[i] == code->pass)
            seen_put(seen, seen_add, seen_pass, size, code->pass, code->seen[i],
                     code->seen_add[i]);
    free(code->seen);
    free(code->seen_add);
    free(code->seen_pass);
    code->seen = seen;
    code->seen_add = seen_add;
    code->seen_pass = seen_pass;
    code->seen_size = size;
    return true;
}

/* Leaves of the trace must all say the same. */
static bool same(const lgp_value_t *a, const lgp_value_t *b)
{
    return a->kind == b->kind && a->reg == b->reg && a->ext == b->ext && a->value == b->value;
}

/* A trace of rax back from the returns (calls): its leaves are the calls
 * whose result it is (LGP_VALUE_CALL, value the instruction index). */
#define LGP_VALUE_CALL 3

#define ZERO_SIDES 4      /* zero sides of guards a trace keeps aside */

typedef struct trace_s {
    lgp_code_t *code;
    lgp_value_t result;
    bool        have, failed, branch, calls;
    size_t      depth, visited;
    /* The constants of zero sides (zero_side), each with its jcc, kept
     * aside; the jccs whose other side carried the tested value on
     * (guard_jcc).  A zero side whose jcc is not among them is a path like
     * any other: its constant is a leaf after all (settle). */
    struct { long jcc; lgp_value_t value; } zero[ZERO_SIDES];
    long        guarded[ZERO_SIDES];
    size_t      nzero, nguarded;
} trace_t;

static void leaf(trace_t *t, lgp_value_t v)
{
    if (t->calls && v.kind == LGP_FACTOR_CONST && v.value == 0)
        return;       /* returns NULL: no allocation */
    if (v.kind == LGP_FACTOR_UNKNOWN || (t->have && !same(&t->result, &v)))
        t->failed = true;
    t->result = v;
    t->have = true;
}

static void keep_zero_side(trace_t *t, long jcc, lgp_value_t v)
{
    if (t->nzero == ZERO_SIDES) {
        t->failed = true;
        return;
    }
    t->zero[t->nzero].jcc = jcc;
    t->zero[t->nzero++].value = v;
}

static void note_guarded(trace_t *t, long jcc)
{
    for (size_t i = 0; i < t->nguarded; i++)
        if (t->guarded[i] == jcc)
            return;
    if (t->nguarded == ZERO_SIDES) {
        t->failed = true;
        return;
    }
    t->guarded[t->nguarded++] = jcc;
}

/* At the end of a trace: the zero sides whose guard it never crossed on
 * the tested value's side are leaves. */
static void settle(trace_t *t)
{
    for (size_t i = 0; i < t->nzero; i++) {
        bool guarded = false;
        for (size_t k = 0; k < t->nguarded; k++)
            guarded |= t->guarded[k] == t->zero[i].jcc;
        if (!guarded)
            leaf(t, t->zero[i].value);
    }
}

static void push(trace_t *t, state_t s)
{
    lgp_code_t *code = t->code;
    if (2 * (code->seen_used + 1) > code->seen_size && code->seen_size < SEEN_MAX
        && !seen_grow(code)) {
        t->failed = true;
        return;
    }
    uint64_t key = (uint64_t)s.at << 32 | (uint64_t)s.reg << 27 | (uint64_t)s.ext << 25
                 | (uint64_t)(s.size == 8) << 24 | ((uint32_t)s.disp & 0xffffff);
    if (!seen_put(code->seen, code->seen_add, code->seen_pass, code->seen_size, code->pass,
                  key, s.add))
        return;                 /* a cycle adds no value that is not on another path */
    code->seen_used++;
    if (t->visited++ == TRACE_LIMIT) {
        t->failed = true;
        return;
    }
    code->stack[t->depth++] = s;
}

/* `mov r, [rbp + disp]` loading the register s follows: a slot to follow. */
static bool loads_slot(const ZydisDecodedInstruction *in, const ZydisDecodedOperand *ops,
                       state_t s, state_t *slot)
{
    const ZydisDecodedOperand *dst = &ops[0], *src = &ops[1];
    if (in->mnemonic != ZYDIS_MNEMONIC_MOV || in->operand_count_visible != 2
        || dst->type != ZYDIS_OPERAND_TYPE_REGISTER || src->type != ZYDIS_OPERAND_TYPE_MEMORY
        || (dst->size != 32 && dst->size != 64) || src->size != dst->size
        || src->mem.base != ZYDIS_REGISTER_RBP || src->mem.index != ZYDIS_REGISTER_NONE
        || src->mem.disp.value <= -SLOT_DISP || src->mem.disp.value >= SLOT_DISP)
        return false;
    lgp_value_t v = { .ext = s.ext };
    if (dst->size == 32)
        compose(&v, LGP_EXT_ZERO32);
    *slot = (state_t){ s.at, LGP_SLOT, v.ext, (uint8_t)(dst->size / 8),
                       (int32_t)src->mem.disp.value, s.add };
    return true;
}

/* Steps back over an instruction while the value is in a stack slot: a
 * `mov` into exactly that slot gives it; a write that may reach it (an
 * overlapping one, one through a pointer, a call, a new rbp) loses it.
 * Writes to globals (rip-relative, absolute) cannot reach the stack. */
static void step_back_slot(trace_t *t, uint32_t from, state_t s,
                           const ZydisDecodedInstruction *in, const ZydisDecodedOperand *ops)
{
    if (in->meta.category == ZYDIS_CATEGORY_CALL || writes(in, ops, LGP_RBP)) {
        t->failed = true;
        return;
    }
    for (unsigned i = 0; i < in->operand_count; i++) {
        const ZydisDecodedOperand *op = &ops[i];
        if (op->type != ZYDIS_OPERAND_TYPE_MEMORY || !(op->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)
            || op->mem.base == ZYDIS_REGISTER_RIP
            || (op->mem.base == ZYDIS_REGISTER_NONE && op->mem.index == ZYDIS_REGISTER_NONE))
            continue;
        int64_t d = op->mem.disp.value, size = op->size / 8;
        if (op->mem.base != ZYDIS_REGISTER_RBP || op->mem.index != ZYDIS_REGISTER_NONE) {
            t->failed = true;               /* may point into the frame */
            return;
        }
        if (d + size <= s.disp || d >= (int64_t)s.disp + s.size)
            continue;                       /* another slot */
        const ZydisDecodedOperand *src = &ops[1];
        lgp_value_t v = { .kind = LGP_FACTOR_REG, .ext = s.ext, .value = (uint64_t)s.add };
        if (i != 0 || d != s.disp || size != s.size || in->mnemonic != ZYDIS_MNEMONIC_MOV
            || in->operand_count_visible != 2) {
            t->failed = true;
        } else if (src->type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
            leaf(t, constant(v, src->imm.value.u, 8u * s.size));
        } else if (src->type == ZYDIS_OPERAND_TYPE_REGISTER && src->size == 8u * s.size
                   && dwarf_reg(src->reg.value) != LGP_NOREG) {
            push(t, (state_t){ from, (uint8_t)dwarf_reg(src->reg.value), s.ext, 0, 0, s.add });
        } else {
            t->failed = true;
        }
        return;
    }
    s.at = from;
    push(t, s);
}

/* The instruction a direct jmp inside the function lands on, or -1. */
static long jump_target(lgp_code_t *code, size_t i)
{
    const insn_t *p = &code->insns[i];
    ZydisDecodedInstruction in;
    if ((p->flags & INSN_OUT)
        || !ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&code->minimal, NULL, code->bytes + p->off,
                                                        p->len, &in))
        || in.meta.category != ZYDIS_CATEGORY_UNCOND_BR || !in.raw.imm[0].is_relative)
        return -1;
    return lgp__code_index(code, code->start + p->off + p->len + (uint64_t)in.raw.imm[0].value.s);
}

/* Whether the path from instruction i on reaches a call that never returns,
 * or the function's return, with no branch on the way: a failure path that
 * aborts or gives up (zmalloc's size check calls its handler and returns
 * NULL), which never comes back to the call traced. */
static bool dies(lgp_code_t *code, long i)
{
    for (int n = 0; i >= 0 && (size_t)i < code->count && n < 64; i++, n++) {
        uint16_t f = flags_at(code, (size_t)i);
        if (f & (INSN_NORET | INSN_RET))
            return true;
        if ((f & INSN_NOFALL) && (i = jump_target(code, (size_t)i)) >= 0) {
            i--;    /* on at the jmp's target */
            continue;
        }
        if ((f & INSN_NOFALL) || ((f & INSN_JCC) && !(f & INSN_DIESIDE)))
            return false;
    }
    return false;
}

/* The jcc `from`, stepped back over towards `to`: its other side dies. */
static bool other_side_dies(lgp_code_t *code, uint32_t from, uint32_t to,
                            const ZydisDecodedInstruction *in)
{
    if (to != from + 1)
        return dies(code, (long)from + 1);
    if (flags_at(code, from) & INSN_DIESIDE)
        return true;
    if (!in->raw.imm[0].is_relative)
        return false;
    uint64_t dest = code->start + code->insns[from].off + in->length
                  + (uint64_t)in->raw.imm[0].value.s;
    return dies(code, lgp__code_index(code, dest));
}

/* Steps back over instruction `from` into state s, which holds when the
 * instruction after it (or its branch target) starts. */
static void step_back(trace_t *t, uint32_t from, state_t s)
{
    lgp_code_t *code = t->code;
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    const insn_t *p = &code->insns[from];
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&code->full, code->bytes + p->off, p->len, &in,
                                             ops))) {
        t->failed = true;
        return;
    }
    if (in.meta.category == ZYDIS_CATEGORY_COND_BR) {
        if (guard_jcc(code, from, s.at, s.reg, &in))
            note_guarded(t, from);
        else if (!other_side_dies(code, from, s.at, &in))
            t->branch = true;
    }
    if (s.reg == LGP_SLOT) {
        step_back_slot(t, from, s, &in, ops);
        return;
    }
    lgp_value_t v = { .kind = LGP_FACTOR_REG, .reg = s.reg, .ext = s.ext,
                      .value = (uint64_t)s.add };
    state_t slot;
    if (in.meta.category == ZYDIS_CATEGORY_CALL) {
        if (t->calls && s.reg == LGP_RAX && (p->flags & INSN_FIRST)) {
            push(t, (state_t){ from, LGP_RDI, s.ext, 0, 0, s.add });   /* memcpy's dst */
            return;
        }
        if (t->calls && s.reg == LGP_RAX && s.ext == LGP_EXT_NONE) {
            /* the result of this call (a constant added: past a header) */
            leaf(t, (lgp_value_t){ .kind = LGP_VALUE_CALL, .value = from });
            return;
        }
        if (lgp__reg_is_caller_saved(s.reg))
            t->failed = true;
    } else if (writes(&in, ops, s.reg)) {
        unsigned kept = zero_guard(code, from, &in, ops);
        if (kept != LGP_NOREG) {
            push(t, (state_t){ from, (uint8_t)kept, s.ext, 0, 0, s.add });
            return;
        }
        if (loads_slot(&in, ops, s, &slot)) {
            slot.at = from;
            push(t, slot);
            return;
        }
        v = step(&in, ops, v);
        long jcc = v.kind == LGP_FACTOR_CONST ? zero_side(code, from, s.reg) : -1;
        if (jcc >= 0) {
            keep_zero_side(t, jcc, v);
            return;
        }
        if (v.kind != LGP_FACTOR_REG) {
            leaf(t, v);
            return;
        }
    }
    push(t, (state_t){ from, v.reg, v.ext, 0, 0, (int64_t)v.value });
}

/* The predecessors of state s: the instruction before (unless it never
 * falls through) and every branch that lands on it; at the function's
 * entry, its caller. */
static void expand(trace_t *t, state_t s)
{
    lgp_code_t *code = t->code;
    bool entered = false;
    if (s.at == 0) {
        leaf(t, s.reg != LGP_SLOT && lgp__reg_is_argument(s.reg)
                ? (lgp_value_t){ .kind = LGP_FACTOR_REG, .reg = s.reg, .ext = s.ext,
                                 .value = (uint64_t)s.add }
                : unknown());
        entered = true;
    } else if (!(flags_at(code, s.at - 1) & INSN_NOFALL)) {
        step_back(t, s.at - 1, s);
        entered = true;
    }
    if (code->insns[s.at].flags & INSN_TARGET) {
        size_t lo = first_edge_to(code, s.at), n = 0;
        size_t paths = entered && !(s.at > 0 && zero_entry(code, (long)s.at - 1, s.reg));
        for (; lo + n < code->nedges && code->edges[lo + n].to == s.at; n++)
            paths += !zero_entry(code, code->edges[lo + n].from, s.reg);
        /* where paths merge (a jcc's own side is judged at the jcc) */
        if (paths > 1)
            t->branch = true;
        for (size_t k = lo; k < lo + n && !t->failed; k++) {
            step_back(t, code->edges[k].from, s);
            entered = true;
        }
    }
    /* Nothing we know reaches it: padding between blocks adds no value;
     * anything else is reached by a jump we cannot see. */
    if (!entered && !(code->insns[s.at].flags & INSN_PAD))
        t->failed = true;
}

lgp_value_t lgp__code_trace(lgp_code_t *code, long index, unsigned reg)
{
    trace_t t = { .code = code };
    code->pass++;
    code->seen_used = 0;
    push(&t, (state_t){ (uint32_t)index, (uint8_t)reg, LGP_EXT_NONE, 0, 0, 0 });
    while (t.depth > 0 && !t.failed)
        expand(&t, code->stack[--t.depth]);
    settle(&t);
    if (t.failed || !t.have)
        return unknown();
    t.result.branch = t.branch;
    return t.result;
}

long lgp__code_returned_call(lgp_code_t *code)
{
    if (code->exits || code->indirect)
        return -1;
    for (size_t i = 0; i < code->count; i++)
        if ((flags_at(code, i) & INSN_OUT)
            && !(code->insns[i].flags & (INSN_NORET | INSN_DIESIDE | INSN_FIRST)))
            return -1;      /* a tail call: what it returns is another's */
    trace_t t = { .code = code, .calls = true };
    code->pass++;
    code->seen_used = 0;
    for (size_t i = 0; i < code->count && !t.failed; i++)
        if (code->insns[i].flags & INSN_RET)
            push(&t, (state_t){ (uint32_t)i, LGP_RAX, LGP_EXT_NONE, 0, 0, 0 });
        else if ((code->insns[i].flags & (INSN_FIRST | INSN_OUT)) == (INSN_FIRST | INSN_OUT))
            push(&t, (state_t){ (uint32_t)i, LGP_RDI, LGP_EXT_NONE, 0, 0, 0 });
    while (t.depth > 0 && !t.failed)
        expand(&t, code->stack[--t.depth]);
    settle(&t);
    if (t.failed || !t.have || t.result.kind != LGP_VALUE_CALL)
        return -1;
    return (long)t.result.value;
}

/* ---- the stack frame ----------------------------------------------------- */

#define SP_UNSET  INT32_MIN
#define SP_POISON (INT32_MIN + 1)

/* How instruction i moves rsp down (push +8, pop -8, sub rsp, imm ...);
 * SP_POISON for a write to rsp that is not followed (leave, and rsp, -16). */
static int32_t sp_effect(lgp_code_t *code, size_t i)
{
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    const insn_t *p = &code->insns[i];
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&code->full, code->bytes + p->off, p->len, &in,
                                             ops)))
        return SP_POISON;
    const ZydisDecodedOperand *dst = &ops[0], *src = &ops[1];
    bool to_rsp = in.operand_count_visible == 2 && dst->type == ZYDIS_OPERAND_TYPE_REGISTER
               && dst->reg.value == ZYDIS_REGISTER_RSP;
    switch (in.mnemonic) {
    case ZYDIS_MNEMONIC_PUSH: case ZYDIS_MNEMONIC_PUSHFQ:
        return 8;
    case ZYDIS_MNEMONIC_POP: case ZYDIS_MNEMONIC_POPFQ:
        return -8;
    case ZYDIS_MNEMONIC_CALL:
        return 0;
    case ZYDIS_MNEMONIC_SUB: case ZYDIS_MNEMONIC_ADD:
        if (to_rsp && src->type == ZYDIS_OPERAND_TYPE_IMMEDIATE
            && src->imm.value.s > -(1 << 24) && src->imm.value.s < (1 << 24))
            return (int32_t)(in.mnemonic == ZYDIS_MNEMONIC_SUB ? src->imm.value.s
                                                              : -src->imm.value.s);
        break;
    case ZYDIS_MNEMONIC_LEA:
        if (to_rsp && src->mem.base == ZYDIS_REGISTER_RSP
            && src->mem.index == ZYDIS_REGISTER_NONE
            && src->mem.disp.value > -(1 << 24) && src->mem.disp.value < (1 << 24))
            return (int32_t)-src->mem.disp.value;
        break;
    default:
        break;
    }
    return writes(&in, ops, LGP_RSP) ? SP_POISON : 0;
}

static bool sp_merge(int32_t *d, size_t to, int32_t value)
{
    int32_t v = d[to] == SP_UNSET || d[to] == value ? value : SP_POISON;
    if (v == d[to])
        return false;
    d[to] = v;
    return true;
}

long lgp__code_frame(lgp_code_t *code, long index)
{
    int32_t *d = lgp__malloc(code->count * sizeof *d);
    int32_t *effect = lgp__malloc(code->count * sizeof *effect);
    long frame = -1;
    if (!d || !effect || index < 0 || (size_t)index >= code->count)
        goto done;
    for (size_t i = 0; i < code->count; i++) {
        d[i] = SP_UNSET;
        effect[i] = sp_effect(code, i);
        flags_at(code, i);
    }
    d[0] = 0;
    bool changed = true;
    for (int pass = 0; changed && pass < 32; pass++) {
        changed = false;
        for (size_t i = 0; i < code->count; i++) {
            if (d[i] == SP_UNSET || (code->insns[i].flags & INSN_NOFALL) || i + 1 == code->count)
                continue;
            int32_t out = d[i] == SP_POISON || effect[i] == SP_POISON ? SP_POISON
                        : d[i] + effect[i];
            changed |= sp_merge(d, i + 1, out);
        }
        for (size_t e = 0; e < code->nedges; e++) {
            const edge_t *edge = &code->edges[e];
            if (d[edge->from] == SP_UNSET || (code->insns[edge->from].flags & INSN_CALL))
                continue;
            int32_t out = d[edge->from] == SP_POISON || effect[edge->from] == SP_POISON
                        ? SP_POISON : d[edge->from] + effect[edge->from];
            changed |= sp_merge(d, edge->to, out);
        }
    }
    /* the wrapper's return address lies this far above the call's */
    if (!changed && d[index] != SP_UNSET && d[index] != SP_POISON && d[index] >= 0
        && d[index] % 8 == 0)
        frame = (long)d[index] + 8;
done:
    free(d);
    free(effect);
    return frame;
}
