/* A32 data processing (dp.tbl): the kinds of kinds_dp.def. docs/a32-dp.md describes the rows
 * and GNU as's choices they follow. */
#include <stdio.h>

#include "a32.h"

static const char *const shift_names[4] = {"lsl", "lsr", "asr", "ror"};

/* A shift name (asl is lsl, as GNU as reads it): its type 0..3, or -1. */
static int parse_shift_name(const char **p)
{
    im_skip_ws(p);
    if (im_match_word(p, "asl"))
        return 0;
    for (int t = 0; t < 4; t++)
        if (im_match_word(p, shift_names[t]))
            return t;
    return -1;
}

/* The 7-bit imm5:type field of a shift by n of type t, where n is GNU as's range (lsl 0..31,
 * lsr/asr 0..32, ror 0..31; a shift by 0 is lsl #0, which GNU as writes for lsr/asr/ror #0
 * too); -1 out of range. */
static int shift_field(int t, int64_t n)
{
    int64_t max = t == 1 || t == 2 ? 32 : 31;
    if (n < 0 || n > max)
        return -1;
    if (n == 0)
        return 0;
    return (int)((n & 31) << 2 | t);
}

static int dp_parse(unsigned kind, const char **p, im_operand *op, const im_parse_ctx *ctx)
{
    (void)ctx;
    switch (kind) {
    case RK_modimm:
    case RK_modimm_plain:
    case RK_modimm_inv:
    case RK_modimm_neg:
    case RK_imm16w:
    case RK_lslimm:
    case RK_lsrimm:
    case RK_asrimm:
    case RK_rorimm: return a32_parse_imm(p, op);
    case RK_shimm: {
        /* lsl/lsr/asr/ror #n or rrx; the value is the field (imm5:type) */
        const char *s = *p;
        im_skip_ws(&s);
        if (im_match_word(&s, "rrx")) {
            *op = im_imm(3);
            *p = s;
            return 0;
        }
        int t = parse_shift_name(&s);
        if (t < 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected a shift (lsl, lsr, asr, ror, rrx)");
        im_skip_ws(&s);
        if (*s != '#' && (*s < '0' || *s > '9') && *s != '-')
            return im_fail(IM_ERR_NO_ENCODING, "expected '#' and a shift amount");
        im_operand n;
        int rc = a32_parse_imm(&s, &n);
        if (rc < 0)
            return rc;
        int fv = shift_field(t, n.imm);
        if (fv < 0)
            return im_fail(IM_ERR_RANGE, "%s #%lld: shift amount out of range", shift_names[t],
                           (long long)n.imm);
        *op = im_imm(fv);
        *p = s;
        return 0;
    }
    case RK_rsreg: {
        /* lsl/lsr/asr/ror rS; the value is type << 4 | s */
        const char *s = *p;
        int t = parse_shift_name(&s);
        if (t < 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected a shift (lsl, lsr, asr, ror)");
        im_skip_ws(&s);
        int r = a32_parse_reg(&s);
        if (r < 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected a shift register");
        *op = im_imm(t << 4 | r);
        *p = s;
        return 0;
    }
    default: return A32_NOT_MINE;
    }
}

static bool dp_print(unsigned kind, const im_operand *op, char *buf, size_t n)
{
    switch (kind) {
    case RK_modimm:
    case RK_modimm_plain:
    case RK_modimm_inv:
    case RK_modimm_neg: im_print_hex(buf, n, op->imm); return true;
    case RK_lslimm:
    case RK_lsrimm:
    case RK_asrimm:
    case RK_rorimm: im_appendf(buf, n, "%lld", (long long)op->imm); return true;
    case RK_shimm: {
        unsigned t = (unsigned)op->imm & 3, a = ((unsigned)op->imm >> 2) & 31;
        if (t == 3 && a == 0)
            im_appendf(buf, n, "rrx");
        else
            im_appendf(buf, n, "%s #%u", shift_names[t], a == 0 && t ? 32 : a);
        return true;
    }
    case RK_rsreg:
        im_appendf(buf, n, "%s %s", shift_names[(op->imm >> 4) & 3], a32_reg_names[op->imm & 15]);
        return true;
    default: return false;
    }
}

/* The encoding GNU as picks: the smallest even rotation that brings the value into 8 bits. */
static int modimm_field(uint32_t v)
{
    for (unsigned rot = 0; rot < 16; rot++) {
        uint32_t r = rot ? (v << (2 * rot)) | (v >> (32 - 2 * rot)) : v;
        if (r <= 0xff)
            return (int)(rot << 8 | r);
    }
    return -1;
}

static uint32_t modimm_value(uint32_t rot, uint32_t imm8)
{
    return rot ? (imm8 >> (2 * rot)) | (imm8 << (32 - 2 * rot)) : imm8;
}

int a32_dp_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out)
{
    unsigned kind = f->kinds[i];
    int64_t v = o->imm;
    switch (kind) {
    case RK_modimm:
    case RK_modimm_plain:
    case RK_modimm_inv:
    case RK_modimm_neg: {
        if (o->type != IM_OP_IMM)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be an immediate", f->id,
                           i + 1);
        /* a 32-bit value, unsigned or signed (#-1 is 0xffffffff, as GNU as reads it) */
        if (v < -0x80000000ll || v > 0xffffffffll)
            return im_fail(IM_ERR_RANGE, "%s: immediate %lld out of range", f->id, (long long)v);
        uint32_t u = (uint32_t)v;
        uint32_t e = kind == RK_modimm_inv ? ~u : kind == RK_modimm_neg ? 0u - u : u;
        int fv = modimm_field(e);
        if (fv < 0)
            return im_fail(IM_ERR_NO_ENCODING, "%s: 0x%x%s is not an 8-bit value rotated by an "
                           "even amount", f->id, e,
                           kind == RK_modimm_inv   ? " (the inverse)"
                           : kind == RK_modimm_neg ? " (the negation)"
                                                   : "");
        *out = (uint32_t)fv;
        return 0;
    }
    case RK_imm16w:
        if (o->type != IM_OP_IMM)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be an immediate", f->id,
                           i + 1);
        if (v < 0 || v > 0xffff)
            return a32_range_fail(f, i, v, 0, 0xffff);
        *out = (uint32_t)v;
        return 0;
    case RK_shimm:
        if (o->type != IM_OP_IMM || v < 0 || v > 127)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a shift (imm5:type)",
                           f->id, i + 1);
        *out = (uint32_t)v;
        return 0;
    case RK_lslimm:
    case RK_lsrimm:
    case RK_asrimm:
    case RK_rorimm: {
        int t = (int)(kind - RK_lslimm);
        if (o->type != IM_OP_IMM)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be an immediate", f->id,
                           i + 1);
        int fv = shift_field(t, v);
        if (fv < 0)
            return a32_range_fail(f, i, v, 0, t == 1 || t == 2 ? 32 : 31);
        *out = (uint32_t)fv;
        return 0;
    }
    case RK_rsreg:
        if (o->type != IM_OP_IMM || v < 0 || v > 63)
            return im_fail(IM_ERR_NO_ENCODING,
                           "%s: operand %u must be a shift by a register (type << 4 | reg)", f->id,
                           i + 1);
        if ((v & 15) == 15 && !(f->flags & A32_FF_PCU))
            return im_fail(IM_ERR_UNPREDICTABLE, "%s: operand %u cannot shift by pc (UNPREDICTABLE)",
                           f->id, i + 1);
        /* Rs:4 0 type:2 1 */
        *out = (uint32_t)((v & 15) << 4 | (v >> 4) << 1 | 1);
        return 0;
    default: return A32_NOT_MINE;
    }
}

static size_t dp_samples(unsigned kind, im_rng *rng, im_operand *out, size_t max)
{
    size_t k = 0;
    switch (kind) {
    case RK_modimm:
    case RK_modimm_plain:
    case RK_modimm_inv:
    case RK_modimm_neg:
        /* every value of the 4096 imm8/rotation encodings (of the value, its inverse or its
         * negation): 3073 values, each once, in the encoding GNU as picks (the smallest
         * rotation; 0x10 is never 0x40 rotated by 2) */
        for (uint32_t rot = 0; rot < 16; rot++)
            for (uint32_t imm = 0; imm < 256 && k < max; imm++) {
                uint32_t v = modimm_value(rot, imm);
                if (modimm_field(v) != (int)(rot << 8 | imm))
                    continue;
                v = kind == RK_modimm_inv ? ~v : kind == RK_modimm_neg ? 0u - v : v;
                out[k++] = im_imm(v);
            }
        return k;
    case RK_imm16w: {
        /* the edges and random values that neither mov nor mvn encodes (the others are
         * mov_imm's and mov_inv's) */
        static const uint32_t e[] = {0x101, 0x102, 0x1234, 0x8001, 0xfff1, 0xffff, 0x3ff, 0x7fff};
        for (size_t j = 0; j < sizeof e / sizeof e[0] && k < max; j++)
            out[k++] = im_imm(e[j]);
        while (k < 40 && k < max) {
            uint32_t v = (uint32_t)im_rng_next(rng) & 0xffff;
            if (modimm_field(v) < 0 && modimm_field(~v) < 0)
                out[k++] = im_imm(v);
        }
        return k;
    }
    case RK_shimm:
        for (unsigned v = 0; v < 128 && k < max; v++)
            out[k++] = im_imm(v);
        return k;
    case RK_lslimm:
    case RK_lsrimm:
    case RK_asrimm:
    case RK_rorimm: {
        unsigned t = kind - RK_lslimm, hi = t == 1 || t == 2 ? 32 : 31;
        for (unsigned v = 1; v <= hi && k < max; v++)
            out[k++] = im_imm(v);
        return k;
    }
    case RK_rsreg:
        for (unsigned r = 0; r < 15; r++)
            for (unsigned ty = 0; ty < 4 && k < max; ty++)
                out[k++] = im_imm(ty << 4 | r);
        return k;
    default: return A32_NONE;
    }
}

static bool any_encoding(uint32_t v)
{
    return modimm_field(v) >= 0 || modimm_field(~v) >= 0 || modimm_field(0u - v) >= 0 ||
           v <= 0xffff;
}

static size_t dp_bad_samples(unsigned kind, im_rng *rng, im_bad_sample *out, size_t max)
{
    size_t k = 0;
#define BAD(...) a32_bad(out, &k, max, false, __VA_ARGS__)
    switch (kind) {
    case RK_modimm:
    case RK_modimm_plain:
    case RK_modimm_inv:
    case RK_modimm_neg:
    case RK_imm16w: {
        /* values that no row of any operation encodes (not the value, its inverse or its
         * negation rotated, nor movw's 16 bits): GNU as says "invalid constant". An odd
         * rotation, nine significant bits, and random ones; some written negative. */
        static const uint32_t e[] = {0x1fe00, 0x7f80000, 0x10100, 0x12345678, 0xff0000ff};
        for (size_t j = 0; j < sizeof e / sizeof e[0]; j++)
            if (!any_encoding(e[j]))
                BAD("0x%x", e[j]);
        if (kind == RK_modimm_plain) {
            /* values that only their inverse or negation encodes: orr/eor/rsb/rsc/tst/teq
             * have no partner to take them (GNU as: invalid constant) */
            BAD("0xffffff00"); /* ~: 0xff, -: 0x100 */
            BAD("0xfffff00f"); /* ~: 0xff0 */
            BAD("-0xff0");     /* -: 0xff0 */
            BAD("-1");
        }
        for (int j = 0, n = 0; j < 64 && n < 6; j++) {
            uint32_t v = (uint32_t)im_rng_next(rng);
            if (!any_encoding(v)) {
                n++;
                if (n & 1)
                    BAD("0x%x", v);
                else
                    BAD("-0x%x", 0u - v);
            }
        }
        return k;
    }
    case RK_shimm:
        BAD("lsl #32");
        BAD("lsr #33");
        BAD("asr #33");
        BAD("ror #32");
        BAD("lsl #-1");
        BAD("rrx #1");
        return k;
    case RK_lslimm:
        BAD("32");
        BAD("-1");
        return k;
    case RK_lsrimm:
    case RK_asrimm:
        BAD("33");
        BAD("-1");
        return k;
    case RK_rorimm:
        BAD("32");
        return k;
    case RK_rsreg:
        a32_bad(out, &k, max, true, "lsr pc"); /* UNPREDICTABLE: GNU as takes it */
        BAD("rrx r2");
        return k;
    default: return A32_NONE;
    }
#undef BAD
}

/* add without S, with pc as Rn (operand 2): GNU as reads the immediate as a signed constant
 * and makes a negative one (2^31 and above) a sub of its negation (the next row, add_neg).
 * Rows with pcu: a shift by pc (rsreg) is UNPREDICTABLE. */
static int dp_check(const im_form *f, const im_operand *ops, const uint32_t *vals)
{
    (void)vals;
    if ((f->flags & IM_FF_PCIMM) && ops[2].reg == 15 &&
        (uint32_t)ops[f->nops - 1].imm >= 0x80000000u)
        return im_fail(IM_ERR_NO_ENCODING,
                       "%s: with pc as the base, the immediate must be below 2^31", f->id);
    if (f->flags & A32_FF_PCU)
        for (unsigned i = 0; i < f->nops; i++)
            if (f->kinds[i] == RK_rsreg && (ops[i].imm & 15) == 15)
                return im_fail(IM_ERR_UNPREDICTABLE, "%s: operand %u cannot be pc (UNPREDICTABLE)",
                               f->id, i + 1);
    return 0;
}

const a32_area a32_area_dp = {
    .name = "dp",
    .parse = dp_parse,
    .print = dp_print,
    .field = a32_dp_field,
    .samples = dp_samples,
    .bad_samples = dp_bad_samples,
    .check = dp_check,
    .check_flags = IM_FF_PCIMM | A32_FF_PCU,
};
