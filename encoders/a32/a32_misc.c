/* A32 other data processing (misc.tbl): the kinds of kinds_misc.def. */
#include <stdio.h>
#include <string.h>

#include "a32.h"

/* #:lower16:N and #:upper16:N of a constant N (GNU as's movw/movt operators), or of a symbol:
 * an IM_OP_SYM operand (reg 1: lower16, 2: upper16) that the encoder gives the relocation
 * ARM_MOVW_ABS_NC (movw) or ARM_MOVT_ABS (movt). */
static int parse_imm16(const char **p, im_operand *op, const im_parse_ctx *ctx)
{
    const char *s = *p;
    im_skip_ws(&s);
    if (*s == '#')
        s++;
    im_skip_ws(&s);
    int half = -1;
    if (*s == ':') {
        const char *q = s + 1;
        if (im_match_word(&q, "lower16"))
            half = 0;
        else if (im_match_word(&q, "upper16"))
            half = 1;
        if (half < 0 || *q != ':')
            return im_fail(IM_ERR_SYNTAX, "expected #:lower16: or #:upper16:");
        s = q + 1;
        int rc = im_parse_expr(&s, op, ctx);
        if (rc < 0)
            return rc;
        if (op->type == IM_OP_LABEL) {
            op->type = IM_OP_SYM;
            op->reg = (uint8_t)(half + 1);
            *p = s;
            return 0;
        }
        if (op->type != IM_OP_IMM)
            return im_fail(IM_ERR_NO_ENCODING, ":%s16: takes a constant or a symbol",
                           half ? "upper" : "lower");
        op->imm = half ? (int64_t)(((uint64_t)op->imm >> 16) & 0xffff) : op->imm & 0xffff;
        *p = s;
        return 0;
    }
    return a32_parse_imm(p, op);
}

/* lsl #0..31 is 0..31, asr #1..32 is 33..64 (asr #0 is lsl #0, as GNU as reads it). */
static int parse_satsh(const char **p, im_operand *op)
{
    const char *s = *p;
    im_skip_ws(&s);
    bool asr;
    if (im_match_word(&s, "lsl"))
        asr = false;
    else if (im_match_word(&s, "asr"))
        asr = true;
    else
        return im_fail(IM_ERR_NO_ENCODING, "expected lsl or asr");
    im_skip_ws(&s);
    int rc = a32_parse_imm(&s, op);
    if (rc < 0)
        return rc;
    if (op->imm < 0 || op->imm > (asr ? 32 : 31))
        return im_fail(IM_ERR_RANGE, "%s #%lld out of range [%d, %d]", asr ? "asr" : "lsl",
                       (long long)op->imm, asr ? 1 : 0, asr ? 32 : 31);
    if (asr && op->imm)
        op->imm += 32;
    *p = s;
    return 0;
}

static int misc_parse(unsigned kind, const char **p, im_operand *op, const im_parse_ctx *ctx)
{
    switch (kind) {
    case RK_imm16: return parse_imm16(p, op, ctx);
    case RK_rdhi: {
        int r = a32_parse_reg(p);
        if (r < 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected a register");
        *op = im_reg((unsigned)r);
        return 0;
    }
    case RK_satsh: return parse_satsh(p, op);
    case RK_rot8:
    case RK_lsb5:
    case RK_bfw:
    case RK_bfmsb:
    case RK_usat5:
    case RK_ssat5:
    case RK_usat4:
    case RK_ssat4:
    case RK_sh5:
    case RK_asr32: return a32_parse_imm(p, op);
    default: return A32_NOT_MINE;
    }
}

static bool misc_print(unsigned kind, const im_operand *op, char *buf, size_t n)
{
    switch (kind) {
    case RK_rdhi: im_appendf(buf, n, "%s", a32_reg_names[op->reg & 15]); return true;
    case RK_imm16:
        if (op->type != IM_OP_SYM)
            return false;
        im_appendf(buf, n, ":%s16:.L%d", op->reg == 2 ? "upper" : "lower", op->label);
        if (op->imm)
            im_appendf(buf, n, "%+lld", (long long)op->imm);
        return true;
    case RK_satsh:
        if (op->imm > 32)
            im_appendf(buf, n, "asr #%lld", (long long)(op->imm - 32));
        else
            im_appendf(buf, n, "lsl #%lld", (long long)op->imm);
        return true;
    default: return false; /* the immediates print as decimal numbers (a32_print's default) */
    }
}

static int want_imm(const im_form *f, unsigned i, const im_operand *o)
{
    if (o->type != IM_OP_IMM)
        return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be an immediate", f->id, i + 1);
    return 0;
}

/* A bit field's width (operand i), after its lsb (operand i-1, already checked). */
static int bf_width(const im_form *f, unsigned i, const im_operand *o)
{
    int rc = want_imm(f, i, o);
    if (rc < 0 || (rc = a32_range(f, i, o->imm, 1, 32)) < 0)
        return rc;
    int64_t lsb = o[-1].imm;
    if (lsb + o->imm > 32)
        return im_fail(IM_ERR_NO_ENCODING,
                       "%s: bit field lsb %lld width %lld extends past the end of the register",
                       f->id, (long long)lsb, (long long)o->imm);
    return 0;
}

int a32_misc_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out)
{
    unsigned kind = f->kinds[i];
    int rc;
    switch (kind) {
    case RK_rdhi:
        if (!(f->flags & A32_FF_UNPRED)) /* the check that refuses RdHi = RdLo would not run */
            return im_fail(IM_ERR_INVAL, "%s: table error: kind rdhi needs the unpred flag",
                           f->id);
        if (o->type != IM_OP_REG || o->reg > 15)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a register", f->id, i + 1);
        if (o->reg == 15)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u cannot be pc", f->id, i + 1);
        *out = o->reg; /* RdHi = RdLo: refused by misc_check */
        return 0;
    case RK_imm16:
    case RK_rot8:
    case RK_lsb5:
    case RK_usat5:
    case RK_ssat5:
    case RK_usat4:
    case RK_ssat4:
    case RK_sh5:
    case RK_asr32:
    case RK_satsh: {
        static const struct {
            unsigned kind;
            int64_t lo, hi;
        } range[] = {{RK_imm16, 0, 65535}, {RK_rot8, 0, 24},  {RK_lsb5, 0, 31},
                     {RK_usat5, 0, 31},    {RK_ssat5, 1, 32}, {RK_usat4, 0, 15},
                     {RK_ssat4, 1, 16},    {RK_satsh, 0, 64}, {RK_sh5, 0, 31},
                     {RK_asr32, 1, 32}};
        if ((rc = want_imm(f, i, o)) < 0)
            return rc;
        size_t r = 0;
        while (range[r].kind != kind)
            r++;
        if ((rc = a32_range(f, i, o->imm, range[r].lo, range[r].hi)) < 0)
            return rc;
        uint32_t v = (uint32_t)o->imm;
        switch (kind) {
        case RK_rot8:
            if (v & 7)
                return im_fail(IM_ERR_NO_ENCODING, "%s: rotation %u is not 0, 8, 16 or 24",
                               f->id, v);
            v /= 8;
            break;
        case RK_ssat5:
        case RK_ssat4: v -= 1; break;
        case RK_asr32: v &= 31; break;
        case RK_satsh:
            if (v == 32) /* asr #0 has no encoding of its own: the parser reads it as lsl #0 */
                return im_fail(IM_ERR_NO_ENCODING, "%s: shift value 32 (asr #0) is not valid",
                               f->id);
            v = v > 32 ? 32 | ((v - 32) & 31) : v;
            break;
        default: break;
        }
        *out = v;
        return 0;
    }
    case RK_bfw:
    case RK_bfmsb:
        if ((rc = bf_width(f, i, o)) < 0)
            return rc;
        *out = (uint32_t)(kind == RK_bfw ? o->imm - 1 : o[-1].imm + o->imm - 1);
        return 0;
    default: return A32_NOT_MINE;
    }
}

static size_t misc_samples(unsigned kind, im_rng *rng, im_operand *out, size_t max)
{
    size_t k = 0;
    switch (kind) {
    case RK_imm16: {
        static const int64_t e[] = {0, 1, 0xff, 0x100, 0xfff, 0x1000, 0x7fff, 0x8000, 0xffff};
        for (size_t j = 0; j < sizeof e / sizeof e[0] && k < max; j++)
            out[k++] = im_imm(e[j]);
        for (int j = 0; j < 40 && k < max; j++)
            out[k++] = im_imm((int64_t)(im_rng_next(rng) & 0xffff));
        return k;
    }
    case RK_rdhi:
        for (unsigned r = 0; r < 15 && k < max; r++)
            out[k++] = im_reg(r);
        return k;
    case RK_rot8:
        for (int r = 0; r < 32 && k < max; r += 8)
            out[k++] = im_imm(r);
        return k;
    case RK_lsb5:
    case RK_usat5:
    case RK_sh5:
        for (int v = 0; v < 32 && k < max; v++)
            out[k++] = im_imm(v);
        return k;
    case RK_ssat5:
    case RK_asr32:
        for (int v = 1; v <= 32 && k < max; v++)
            out[k++] = im_imm(v);
        return k;
    case RK_usat4:
        for (int v = 0; v < 16 && k < max; v++)
            out[k++] = im_imm(v);
        return k;
    case RK_ssat4:
        for (int v = 1; v <= 16 && k < max; v++)
            out[k++] = im_imm(v);
        return k;
    case RK_bfw:
    case RK_bfmsb:
        /* every width, then more small ones: a width fits a random lsb with odds
         * (33 - width) / 32, so the sweep keeps most of its draws */
        for (int v = 1; v <= 32 && k < max; v++)
            out[k++] = im_imm(v);
        for (int j = 0; j < 32 && k < max; j++)
            out[k++] = im_imm(1 + (int64_t)(im_rng_next(rng) % 12));
        return k;
    case RK_satsh:
        for (int v = 0; v <= 64 && k < max; v++)
            if (v != 32)
                out[k++] = im_imm(v);
        return k;
    default: return A32_NONE;
    }
}

static size_t misc_bad_samples(unsigned kind, im_rng *rng, im_bad_sample *out, size_t max)
{
    static const struct {
        unsigned kind;
        const char *texts;
    } bad[] = {
        {RK_imm16, "#65536 #-1 #0x10000 #0x12345 #-65535 #4294967295"},
        {RK_rdhi, "pc"},
        {RK_rot8, "#4 #32 #1 #7 #-8 #12 #25 #31"},
        {RK_lsb5, "#32 #-1 #33 #64"},
        {RK_bfw, "#0 #33 #-1 #64"},
        {RK_bfmsb, "#0 #33 #-1 #64"},
        {RK_usat5, "#32 #-1 #33"},
        {RK_ssat5, "#0 #33 #-1"},
        {RK_usat4, "#16 #-1 #17 #32"},
        {RK_ssat4, "#0 #17 #-1 #32"},
        {RK_sh5, "#32 #-1 #33"},
        {RK_asr32, "#33 #-1 #64"},
        {RK_satsh, "lsl #32 asr #33 lsl #-1 asr #-1 ror #1 lsr #1 ror #8 lsr #32 rrx"},
    };
    (void)rng;
    size_t k = 0;
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        if (bad[b].kind != kind)
            continue;
        const char *s = bad[b].texts;
        while (*s && k < max) {
            /* items are separated by spaces, except "lsl #32": a word and its amount */
            const char *e = strchr(s, ' ');
            if (kind == RK_satsh && e && e[1] == '#')
                e = strchr(e + 1, ' ');
            size_t len = e ? (size_t)(e - s) : strlen(s);
            snprintf(out[k].text, sizeof out[0].text, "%.*s", (int)len, s);
            out[k++].lenient = false;
            s += len;
            while (*s == ' ')
                s++;
        }
        return k;
    }
    return A32_NONE;
}

/* Rows with the unpred flag: RdHi the same as RdLo (the operand before it) is
 * UNPREDICTABLE; GNU as takes it with a warning. */
static int misc_check(const im_form *f, const im_operand *ops, const uint32_t *vals)
{
    for (unsigned i = 0; i < f->nops; i++) {
        if (f->kinds[i] == RK_rdhi && i > 0 && ops[i - 1].type == IM_OP_REG &&
            vals[i] == vals[i - 1])
            return im_fail(IM_ERR_UNPREDICTABLE,
                           "%s: RdLo and RdHi must be different registers (UNPREDICTABLE)",
                           f->id);
    }
    return 0;
}

const a32_area a32_area_misc = {
    .name = "misc",
    .parse = misc_parse,
    .print = misc_print,
    .field = a32_misc_field,
    .samples = misc_samples,
    .bad_samples = misc_bad_samples,
    .check = misc_check,
    .check_flags = A32_FF_UNPRED,
};
