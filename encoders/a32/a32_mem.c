/* A32 loads and stores (mem.tbl): the kinds of kinds_mem.def and the rules that involve
 * more than one operand (row flags wb, ovl, stx, pcalign). */
#include <stdio.h>

#include "a32.h"

#define LIST_OP(m) ((im_operand){IM_OP_LIST, 0, IM_NOREG, IM_NOREG, 0, -1, (int64_t)(m)})
#define REL_OP(v) ((im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, (int64_t)(v)})

/* An offset: a number with an optional '#'; a leading '-' with the value 0 is `#-0`,
 * which GNU as encodes with U = 0 (scale = 1 marks it). */
static int parse_soff(const char **p, im_operand *op)
{
    const char *s = *p;
    im_skip_ws(&s);
    if (*s == '#')
        s++;
    im_skip_ws(&s);
    bool minus = *s == '-';
    int rc = a32_parse_imm(p, op);
    if (rc < 0)
        return rc;
    op->scale = minus && op->imm == 0;
    return 0;
}

static const char *const shift_names[4] = {"lsl", "lsr", "asr", "ror"};

/* lsl/asl/lsr/asr/ror #n or rrx: type << 8 | n (rrx: 3 << 8; every #0 is no shift, 0) */
static int parse_shift(const char **p, im_operand *op)
{
    const char *s = *p;
    int type = -1;
    if (im_match_word(&s, "rrx")) {
        *p = s;
        *op = im_imm(3 << 8);
        return 0;
    }
    for (int t = 0; t < 4 && type < 0; t++)
        if (im_match_word(&s, shift_names[t]))
            type = t;
    if (type < 0 && im_match_word(&s, "asl"))
        type = 0;
    if (type < 0)
        return im_fail(IM_ERR_NO_ENCODING, "expected a shift (lsl, lsr, asr, ror, rrx)");
    im_operand n;
    int rc = a32_parse_imm(&s, &n);
    if (rc < 0)
        return rc;
    int64_t max = type == 1 || type == 2 ? 32 : 31;
    if (n.imm < 0 || n.imm > max)
        return im_fail(IM_ERR_RANGE, "shift amount %lld out of range [0, %lld]", (long long)n.imm,
                       (long long)max);
    *p = s;
    *op = im_imm(n.imm ? (int64_t)type << 8 | n.imm : 0);
    return 0;
}

/* rN or rN, rN+1 (rpair): the second register is read when the text names one. */
static int parse_pair(const char **p, im_operand *op)
{
    int r = a32_parse_reg(p);
    if (r < 0)
        return im_fail(IM_ERR_NO_ENCODING, "expected a register");
    *op = im_reg((unsigned)r);
    const char *s = *p;
    im_skip_ws(&s);
    if (*s != ',')
        return 0;
    s++;
    im_skip_ws(&s);
    if (!a32_is_reg_name(s))
        return 0;
    int r2 = a32_parse_reg(&s);
    if (r2 != r + 1)
        return im_fail(IM_ERR_NO_ENCODING, "the second register must be r%d", r + 1);
    *p = s;
    return 0;
}

static int mem_parse(unsigned kind, const char **p, im_operand *op, const im_parse_ctx *ctx)
{
    switch (kind) {
    case RK_rlist:
    case RK_rlist_push:
    case RK_rlist_pop:
    case RK_rlist1: {
        uint32_t m = 0;
        int rc = a32_parse_list(p, &m);
        if (rc < 0)
            return rc;
        if (kind == RK_rlist1) {
            if (m == 0 || (m & (m - 1)))
                return im_fail(IM_ERR_NO_ENCODING, "expected one register");
            *op = im_reg((unsigned)__builtin_ctz(m));
            return 0;
        }
        *op = LIST_OP(m);
        return 0;
    }
    case RK_lit12:
    case RK_lit8: return a32_parse_target(p, op, ctx);
    case RK_soff12:
    case RK_soff8:
    case RK_zoff: return parse_soff(p, op);
    case RK_shift: return parse_shift(p, op);
    case RK_rpair: return parse_pair(p, op);
    case RK_rmu: {
        bool minus = **p == '-';
        if (**p == '-' || **p == '+') {
            (*p)++;
            im_skip_ws(p);
        }
        int r = a32_parse_reg(p);
        if (r < 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected an index register");
        *op = im_reg((unsigned)r);
        op->imm = minus;
        return 0;
    }
    default: return A32_NOT_MINE;
    }
}

static bool mem_print(unsigned kind, const im_operand *op, char *buf, size_t n)
{
    switch (kind) {
    case RK_rlist1: im_appendf(buf, n, "{%s}", a32_reg_names[op->reg & 15]); return true;
    case RK_rlist:
    case RK_rlist_push:
    case RK_rlist_pop: a32_print_list((uint32_t)op->imm, buf, n); return true;
    case RK_lit12:
    case RK_lit8: im_print_target(op, false, buf, n); return true;
    case RK_soff12:
    case RK_soff8:
    case RK_zoff:
        im_appendf(buf, n, op->imm == 0 && op->scale ? "-0" : "%lld", (long long)op->imm);
        return true;
    case RK_shift: {
        unsigned type = (unsigned)(op->imm >> 8) & 3, amt = (unsigned)op->imm & 0xff;
        if (type == 3 && amt == 0)
            im_appendf(buf, n, "rrx");
        else
            im_appendf(buf, n, "%s #%u", shift_names[type], amt);
        return true;
    }
    case RK_rpair:
        im_appendf(buf, n, "%s, %s", a32_reg_names[op->reg & 15],
                   a32_reg_names[(op->reg + 1) & 15]);
        return true;
    case RK_rmu:
        im_appendf(buf, n, "%s%s", op->imm ? "-" : "", a32_reg_names[op->reg & 15]);
        return true;
    default: return false;
    }
}

static int want_reg(const im_form *f, unsigned i, const im_operand *o)
{
    if (o->type != IM_OP_REG || o->reg > 15)
        return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a register", f->id, i + 1);
    return 0;
}

/* A signed offset of at most max: U:1 and the magnitude below it (bits bits). */
static int soff_field(const im_form *f, unsigned i, const im_operand *o, int64_t max,
                      unsigned bits, uint32_t *out)
{
    int64_t v = o->imm;
    if (o->type != IM_OP_IMM)
        return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be an immediate", f->id, i + 1);
    if (v < -max || v > max)
        return im_fail(IM_ERR_RANGE, "%s: offset %lld out of range [-%lld, %lld]", f->id,
                       (long long)v, (long long)max, (long long)max);
    *out = v > 0 || (v == 0 && !o->scale) ? (1u << bits | (uint32_t)v) : (uint32_t)-v;
    return 0;
}

/* A literal target (pc + 8 relative) of at most max: U:1 and the magnitude. */
static int lit_field(const im_form *f, unsigned i, const im_operand *o, int64_t max,
                     unsigned bits, uint32_t *out)
{
    if (o->type == IM_OP_LABEL) { /* re-encoded with the distance once the label is known */
        *out = 1u << bits;
        return 0;
    }
    if (o->type != IM_OP_REL)
        return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a target", f->id, i + 1);
    int64_t d = o->imm - 8; /* the pc reads as the instruction's address + 8 */
    if (d < -max || d > max)
        return im_fail(IM_ERR_RANGE, "%s: literal offset %lld out of range [-%lld, %lld]", f->id,
                       (long long)d, (long long)max, (long long)max);
    *out = d >= 0 ? (1u << bits | (uint32_t)d) : (uint32_t)-d;
    return 0;
}

int a32_mem_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out)
{
    unsigned kind = f->kinds[i];
    int64_t v = o->imm;
    int rc;
    switch (kind) {
    case RK_rlist1:
        if ((rc = want_reg(f, i, o)) < 0)
            return rc;
        if (o->reg == 13) /* str sp, [sp, #-4]! / ldr sp, [sp], #4: writeback of Rt's base */
            return im_fail(IM_ERR_UNPREDICTABLE,
                           "%s: sp alone is UNPREDICTABLE (the base written back)", f->id);
        *out = o->reg;
        return 0;
    case RK_rlist:
    case RK_rlist_push:
    case RK_rlist_pop: {
        uint32_t m = (uint32_t)v;
        if (o->type != IM_OP_LIST || v < 0 || v > 0xffff)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a register list", f->id,
                           i + 1);
        if (m == 0)
            return im_fail(IM_ERR_NO_ENCODING, "%s: the register list is empty", f->id);
        if (kind == RK_rlist_push && m == 1u << 13) { /* {sp}: stmdb, as str is UNPREDICTABLE */
            *out = m;
            return 0;
        }
        if (kind != RK_rlist && !(m & (m - 1)))
            return im_fail(IM_ERR_NO_ENCODING, "%s: one register is %s_one's", f->id, f->mnem);
        /* writeback of sp with sp in the list: pop (ldm) always, push (stmdb) unless sp is
         * the lowest register */
        if (kind == RK_rlist_pop && (m & 1u << 13))
            return im_fail(IM_ERR_UNPREDICTABLE,
                           "%s: sp in the list is UNPREDICTABLE (the base written back)", f->id);
        if (kind == RK_rlist_push && (m & 1u << 13) && (m & 0x1fff))
            return im_fail(IM_ERR_UNPREDICTABLE,
                           "%s: sp in the list above another register is UNPREDICTABLE", f->id);
        *out = m;
        return 0;
    }
    case RK_lit12: return lit_field(f, i, o, 4095, 12, out);
    case RK_lit8: return lit_field(f, i, o, 255, 8, out);
    case RK_soff12: return soff_field(f, i, o, 4095, 12, out);
    case RK_soff8: return soff_field(f, i, o, 255, 8, out);
    case RK_zoff:
        if (o->type != IM_OP_IMM || v != 0 || o->scale)
            return im_fail(IM_ERR_NO_ENCODING, "%s: the offset must be #0", f->id);
        *out = 0;
        return 0;
    case RK_shift: {
        unsigned type = (unsigned)(v >> 8) & 3;
        int64_t amt = v & 0xff;
        bool ok = o->type == IM_OP_IMM && v >= 0 && v < 0x400 &&
                  (type == 0   ? amt <= 31
                   : type == 3 ? amt <= 31
                               : amt >= 1 && amt <= 32);
        if (!ok)
            return im_fail(IM_ERR_NO_ENCODING,
                           "%s: operand %u: not a shift (lsl #0-31, lsr/asr #1-32, ror #1-31, rrx)",
                           f->id, i + 1);
        *out = (uint32_t)(amt & 31) << 2 | type;
        return 0;
    }
    case RK_rpair:
        if ((rc = want_reg(f, i, o)) < 0)
            return rc;
        if (o->reg & 1)
            return im_fail(IM_ERR_NO_ENCODING, "%s: the first register must be even", f->id);
        if (o->reg == 14)
            return im_fail(IM_ERR_NO_ENCODING, "%s: the pair cannot be lr, pc", f->id);
        *out = o->reg;
        return 0;
    case RK_rmu:
        if ((rc = want_reg(f, i, o)) < 0)
            return rc;
        if (o->reg == 15)
            return im_fail(IM_ERR_NO_ENCODING, "%s: the index register cannot be pc", f->id);
        *out = (v ? 0u : 1u << 4) | o->reg;
        return 0;
    default: return A32_NOT_MINE;
    }
}

static size_t mem_samples(unsigned kind, im_rng *rng, im_operand *out, size_t max)
{
    size_t k = 0;
#define PUT(x)                                                                                     \
    do {                                                                                           \
        if (k < max)                                                                               \
            out[k++] = (x);                                                                        \
    } while (0)
    switch (kind) {
    case RK_rlist1:
        for (unsigned r = 0; r < 16; r++)
            if (r != 13)
                PUT(im_reg(r));
        return k;
    case RK_soff12:
    case RK_soff8: {
        int64_t m = kind == RK_soff12 ? 4095 : 255;
        const int64_t e[] = {0, 1, -1, 4, -4, m, -m, m - 1, -(m - 1), (m + 1) / 2, -(m + 1) / 2};
        for (size_t j = 0; j < sizeof e / sizeof e[0]; j++)
            PUT(im_imm(e[j]));
        im_operand z = im_imm(0);
        z.scale = 1; /* #-0 */
        PUT(z);
        for (int j = 0; j < 12; j++)
            PUT(im_imm((int64_t)(im_rng_next(rng) % (uint64_t)(2 * m + 1)) - m));
        return k;
    }
    case RK_zoff: PUT(im_imm(0)); return k;
    case RK_lit12:
    case RK_lit8: {
        int64_t m = kind == RK_lit12 ? 4095 : 255;
        const int64_t lo = -m + 8, hi = m + 8;
        const int64_t e[] = {lo, hi, lo + 1, hi - 1, 0, 8, 4, -4, 12};
        for (size_t j = 0; j < sizeof e / sizeof e[0]; j++)
            PUT(REL_OP(e[j]));
        for (int j = 0; j < 16; j++)
            PUT(REL_OP(lo + (int64_t)(im_rng_next(rng) % (uint64_t)(hi - lo + 1))));
        return k;
    }
    case RK_shift:
        for (int64_t t = 0; t < 4; t++) {
            int64_t lo = t == 0 ? 0 : 1, hi = t == 1 || t == 2 ? 32 : 31;
            for (int64_t a = lo; a <= hi; a++)
                PUT(im_imm(a ? t << 8 | a : 0));
        }
        PUT(im_imm(3 << 8)); /* rrx */
        return k;
    case RK_rpair:
        for (unsigned r = 0; r < 14; r += 2)
            PUT(im_reg(r));
        return k;
    case RK_rmu:
        for (unsigned r = 0; r < 15; r++)
            for (int s = 0; s < 2; s++) {
                im_operand o = im_reg(r);
                o.imm = s;
                PUT(o);
            }
        return k;
    case RK_rlist: {
        for (unsigned r = 0; r < 16; r++)
            PUT(LIST_OP(1u << r));
        static const uint32_t e[] = {0xffff, 0x7fff, 0x5fff, 0x4010, 0x8010, 0x0003, 0x1fff,
                                     0xc000, 0xa000, 0x6000, 0x00f0, 0x4ff0, 0x8ff0};
        for (size_t j = 0; j < sizeof e / sizeof e[0]; j++)
            PUT(LIST_OP(e[j]));
        for (int j = 0; j < 24; j++) {
            uint32_t m = (uint32_t)im_rng_next(rng) & 0xffff;
            if (m)
                PUT(LIST_OP(m));
        }
        return k;
    }
    case RK_rlist_push:
    case RK_rlist_pop: {
        /* push: sp only as the lowest register; pop: no sp */
        bool push = kind == RK_rlist_push;
        static const uint32_t e[] = {0x4010, 0x0003, 0x1fff, 0x5fff, 0xdfff, 0x8010, 0x4ff0,
                                     0xc000, 0x8001, 0x2000, 0x6000, 0xa000, 0xe000};
        for (size_t j = 0; j < sizeof e / sizeof e[0]; j++) {
            uint32_t m = e[j];
            bool sp_ok = push && !(m & 0x1fff);
            if ((m & 1u << 13) && !sp_ok)
                continue;
            if (__builtin_popcount(m) >= 2 || (push && m == 1u << 13))
                PUT(LIST_OP(m));
        }
        for (int j = 0; j < 24; j++) {
            uint32_t m = (uint32_t)im_rng_next(rng) & 0xdfff;
            if (__builtin_popcount(m) >= 2)
                PUT(LIST_OP(m));
        }
        return k;
    }
    default: return A32_NONE;
    }
#undef PUT
}

/* Operand texts GNU as refuses (im_form_print_with puts them where the operand goes: a
 * row's literal '#' stays in front of an offset). */
static size_t mem_bad_samples(unsigned kind, im_rng *rng, im_bad_sample *out, size_t max)
{
    size_t k = 0;
#define BAD(...) a32_bad(out, &k, max, false, __VA_ARGS__)
    switch (kind) {
    case RK_soff12:
    case RK_soff8: {
        long long m = kind == RK_soff12 ? 4095 : 255;
        BAD("%lld", m + 1);
        BAD("-%lld", m + 1);
        BAD("%lld", 2 * m + 2);
        BAD("-%llu", (unsigned long long)(m + 1 + im_rng_next(rng) % 100000));
        BAD("%llu", (unsigned long long)(m + 1 + im_rng_next(rng) % 100000));
        BAD("0x80000000");
        BAD("-0x80000000");
        return k;
    }
    case RK_zoff:
        BAD("4");
        BAD("-4");
        BAD("-0");
        BAD("4095");
        BAD("%llu", (unsigned long long)(1 + im_rng_next(rng) % 255));
        return k;
    case RK_lit12:
    case RK_lit8: {
        long long m = kind == RK_lit12 ? 4095 : 255;
        BAD(".+%lld", m + 9);
        BAD(".-%lld", m - 7);
        BAD(".+%llu", (unsigned long long)(m + 9 + im_rng_next(rng) % 100000));
        BAD(".-%llu", (unsigned long long)(m - 7 + im_rng_next(rng) % 100000));
        return k;
    }
    case RK_shift:
        BAD("lsl #32");
        BAD("lsr #33");
        BAD("asr #33");
        BAD("ror #32");
        BAD("lsl #-1");
        BAD("rrx #1");
        BAD("lsl #%llu", (unsigned long long)(33 + im_rng_next(rng) % 1000));
        return k;
    case RK_rpair:
        for (int j = 0; j < 3; j++) {
            unsigned r = (unsigned)(im_rng_next(rng) % 7) * 2 + 1; /* odd: r1..r13 */
            BAD("%s, %s", a32_reg_names[r], a32_reg_names[r + 1]);
            BAD("%s", a32_reg_names[r]);
            unsigned e = r - 1; /* even, with a second register that does not follow */
            BAD("%s, %s", a32_reg_names[e], a32_reg_names[(e + 2 + j) & 15]);
        }
        BAD("lr, pc");
        BAD("lr");
        return k;
    case RK_rmu:
        BAD("pc");
        BAD("-pc");
        BAD("+pc");
        return k;
    case RK_rlist:
    case RK_rlist_push:
    case RK_rlist_pop:
    case RK_rlist1:
        BAD("{}");
        BAD("{r16}");
        BAD("{r3-r1}");
        BAD("{s0}");
        return k;
    default: return A32_NONE;
    }
#undef BAD
}

static bool is_lit(unsigned kind)
{
    return kind == RK_lit12 || kind == RK_lit8;
}

/* The rules between operands, by row flag (operand 0 is the condition):
 * - pcalign: pc as the data register (1) and the base (2, or a literal): the offset (the
 *   last operand) must be a multiple of 4 (GNU as rejects the rest);
 * - wb (writeback): single transfers, the base (2) may not be the data register (1, both
 *   registers of a pair); ldm/stm (base 1, list 2): a load may not have the base in the
 *   list, a store only as the lowest register. UNPREDICTABLE: GNU as warns;
 * - ovl (ldrd, register offset): the index (3) may not be a loaded register
 *   (UNPREDICTABLE: GNU as warns);
 * - stx (store exclusive): the status register (1) may not be a stored register (2) or
 *   the base (3): GNU as rejects it. */
static int mem_check(const im_form *f, const im_operand *ops, const uint32_t *vals)
{
    (void)vals;
    if ((f->flags & IM_FF_PCALIGN) && ops[1].reg == 15) {
        const im_operand *last = &ops[f->nops - 1];
        bool lit = is_lit(f->kinds[2]);
        bool pc_base = lit || ops[2].reg == 15;
        int64_t off = lit ? last->imm - 8 : last->imm;
        if (pc_base && last->type != IM_OP_LABEL && (off & 3))
            return im_fail(
                IM_ERR_ALIGN,
                "%s: with pc as data register and base, the offset must be a multiple of 4",
                f->id);
    }
    if (f->flags & IM_FF_WB) {
        if (f->kinds[2] == RK_rlist) {
            unsigned n = ops[1].reg;
            uint32_t m = (uint32_t)ops[2].imm;
            bool load = f->bits & 1u << 20;
            if ((m & 1u << n) && (load || (m & ((1u << n) - 1))))
                return im_fail(IM_ERR_UNPREDICTABLE,
                               load ? "%s: writeback with the base in the list is UNPREDICTABLE"
                                    : "%s: writeback with the base in the list, not its lowest "
                                      "register, is UNPREDICTABLE",
                               f->id);
        } else {
            unsigned t = ops[1].reg, n = ops[2].reg;
            if (n == t || (f->kinds[1] == RK_rpair && n == t + 1))
                return im_fail(IM_ERR_UNPREDICTABLE,
                               "%s: writeback to a base that is the data register is UNPREDICTABLE",
                               f->id);
        }
    }
    if ((f->flags & A32_FF_OVL) && (ops[3].reg == ops[1].reg || ops[3].reg == ops[1].reg + 1))
        return im_fail(IM_ERR_UNPREDICTABLE,
                       "%s: an index register that is loaded is UNPREDICTABLE", f->id);
    if (f->flags & A32_FF_STX) {
        unsigned d = ops[1].reg, t = ops[2].reg, n = ops[3].reg;
        if (d == t || d == n || (f->kinds[2] == RK_rpair && d == t + 1))
            return im_fail(IM_ERR_NO_ENCODING,
                           "%s: the status register may not be a stored register or the base",
                           f->id);
    }
    return 0;
}

const a32_area a32_area_mem = {
    .name = "mem",
    .parse = mem_parse,
    .print = mem_print,
    .field = a32_mem_field,
    .samples = mem_samples,
    .bad_samples = mem_bad_samples,
    .check = mem_check,
    .check_flags = IM_FF_PCALIGN | IM_FF_WB | A32_FF_OVL | A32_FF_STX,
};
