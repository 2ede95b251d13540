/* A32 VFP (vfp.tbl): the kinds of kinds_vfp.def. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "a32.h"

/* ---- registers ---- */

/* s0..s31 / d0..d31 (prefix 's' or 'd'); -1 if none. */
static int parse_vreg(const char **p, char prefix)
{
    const char *s = *p;
    if ((*s | 0x20) != prefix)
        return -1;
    s++;
    unsigned n = 0;
    const char *q = s;
    while (*q >= '0' && *q <= '9' && q - s < 3)
        n = n * 10 + (unsigned)(*q++ - '0');
    if (q == s || n > 31 || (q - s > 1 && *s == '0') || (*q >= '0' && *q <= '9') ||
        *q == '_' || ((*q | 0x20) >= 'a' && (*q | 0x20) <= 'z'))
        return -1;
    *p = q;
    return (int)n;
}

static int expect_vreg(const char **p, char c)
{
    int r = parse_vreg(p, c);
    if (r < 0)
        return im_fail(IM_ERR_NO_ENCODING, "expected a register %c0..%c31", c, c);
    return r;
}

/* "xN, xM": two registers of prefix c, N into *a and M into *b. */
static int parse_two(const char **p, char c, int *a, int *b)
{
    const char *s = *p;
    if ((*a = expect_vreg(&s, c)) < 0)
        return *a;
    im_skip_ws(&s);
    if (*s != ',')
        return im_fail(IM_ERR_SYNTAX, "expected ',' after %c%d", c, *a);
    s++;
    im_skip_ws(&s);
    if ((*b = expect_vreg(&s, c)) < 0)
        return *b;
    *p = s;
    return 0;
}

/* The VFP system registers of vmrs/vmsr, by their number (the reg field). */
static const char *const sysreg_names[16] = {
    [0] = "fpsid", [1] = "fpscr", [6] = "mvfr1", [7] = "mvfr0",
    [8] = "fpexc", [9] = "fpinst", [10] = "fpinst2",
};

/* A contiguous list {xN-xM} / {xN, xN+1, ...} of prefix c: first | count << 8. */
static int parse_vlist(const char **p, char c, int64_t *out)
{
    const char *s = *p;
    if (*s != '{')
        return im_fail(IM_ERR_NO_ENCODING, "expected a register list");
    s++;
    int first = -1, next = -1;
    for (;;) {
        im_skip_ws(&s);
        int lo = expect_vreg(&s, c);
        if (lo < 0)
            return lo;
        im_skip_ws(&s);
        int hi = lo;
        if (*s == '-') {
            s++;
            im_skip_ws(&s);
            if ((hi = expect_vreg(&s, c)) < 0)
                return hi;
            if (hi < lo)
                return im_fail(IM_ERR_NO_ENCODING, "register range not in ascending order");
            im_skip_ws(&s);
        }
        if (first < 0)
            first = lo;
        else if (lo != next)
            return im_fail(IM_ERR_NO_ENCODING, "non-contiguous register list (%c%d after %c%d)",
                           c, lo, c, next - 1);
        next = hi + 1;
        if (*s == ',') {
            s++;
            continue;
        }
        if (*s == '}') {
            s++;
            break;
        }
        return im_fail(IM_ERR_SYNTAX, "expected ',' or '}' in register list");
    }
    *out = first | (int64_t)(next - first) << 8;
    *p = s;
    return 0;
}


/* ---- the kinds ---- */

static im_operand list_op(int64_t v)
{
    return (im_operand){IM_OP_LIST, 0, IM_NOREG, IM_NOREG, 0, -1, v};
}

static int vfp_parse(unsigned kind, const char **p, im_operand *op, const im_parse_ctx *ctx)
{
    int a = 0, b = 0, rc;
    uint64_t fb = 0;
    switch (kind) {
    case RK_s:
    case RK_d:
        if ((a = expect_vreg(p, kind == RK_s ? 's' : 'd')) < 0)
            return a;
        *op = im_reg((unsigned)a);
        return 0;
    case RK_sdup:
    case RK_ddup:
    case RK_spair:
        if ((rc = parse_two(p, kind == RK_ddup ? 'd' : 's', &a, &b)) < 0)
            return rc;
        if (kind != RK_spair && a != b)
            return im_fail(IM_ERR_NO_ENCODING, "the two registers must be the same");
        if (kind == RK_spair && b != a + 1)
            return im_fail(IM_ERR_NO_ENCODING, "the two registers must be adjacent (s%d, s%d)", a,
                           a + 1);
        *op = im_reg((unsigned)a);
        return 0;
    case RK_fpsys:
    case RK_fpsysw:
        for (unsigned i = 0; i < 16; i++)
            if (sysreg_names[i] && im_match_word(p, sysreg_names[i])) {
                *op = im_reg(i);
                return 0;
            }
        return im_fail(IM_ERR_NO_ENCODING, "expected a VFP system register (fpscr, fpexc, ...)");
    case RK_slist:
    case RK_dlist: {
        int64_t v = 0;
        if ((rc = parse_vlist(p, kind == RK_slist ? 's' : 'd', &v)) < 0)
            return rc;
        *op = list_op(v);
        return 0;
    }
    case RK_vfp8s:
    case RK_vfp8d:
    case RK_vzero:
        if ((rc = im_parse_fp(p, 32, &fb)) < 0)
            return rc;
        *op = im_imm((int64_t)fb);
        return 0;
    case RK_fbits16:
    case RK_fbits32:
    case RK_voff: return a32_parse_imm(p, op);
    case RK_vlit: return a32_parse_target(p, op, ctx);
    default: return A32_NOT_MINE;
    }
}

static bool vfp_print(unsigned kind, const im_operand *op, char *buf, size_t n)
{
    unsigned first = (unsigned)(op->imm & 0xff), count = (unsigned)(op->imm >> 8 & 0xff);
    char c = kind == RK_slist ? 's' : 'd';
    switch (kind) {
    case RK_s:
    case RK_d: im_appendf(buf, n, "%c%u", kind == RK_s ? 's' : 'd', op->reg); return true;
    case RK_sdup:
    case RK_ddup:
        c = kind == RK_sdup ? 's' : 'd';
        im_appendf(buf, n, "%c%u, %c%u", c, op->reg, c, op->reg);
        return true;
    case RK_spair: im_appendf(buf, n, "s%u, s%u", op->reg, op->reg + 1); return true;
    case RK_fpsys:
    case RK_fpsysw:
        im_appendf(buf, n, "%s", sysreg_names[op->reg & 15] ? sysreg_names[op->reg & 15] : "?");
        return true;
    case RK_slist:
    case RK_dlist:
        if (count <= 1)
            im_appendf(buf, n, "{%c%u}", c, first);
        else
            im_appendf(buf, n, "{%c%u-%c%u}", c, first, c, first + count - 1);
        return true;
    case RK_vfp8s:
    case RK_vfp8d: im_print_fp(buf, n, (uint64_t)op->imm); return true;
    case RK_vzero: im_appendf(buf, n, "0"); return true;
    case RK_fbits16:
    case RK_fbits32:
    case RK_voff: im_appendf(buf, n, "%lld", (long long)op->imm); return true;
    case RK_vlit: im_print_target(op, false, buf, n); return true;
    default: return false;
    }
}

/* U:1 imm8 of a word offset in -1020..1020. */
static int word_off(const im_form *f, unsigned i, int64_t v, uint32_t *out)
{
    if (v % 4)
        return im_fail(IM_ERR_ALIGN, "%s: operand %u offset %lld is not a multiple of 4", f->id,
                       i + 1, (long long)v);
    int rc = a32_range(f, i, v, -1020, 1020);
    *out = v >= 0 ? (1u << 8 | (uint32_t)(v / 4)) : (uint32_t)(-v / 4);
    return rc;
}

int a32_vfp_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out)
{
    unsigned kind = f->kinds[i];
    int64_t v = o->imm;
    int rc;
    switch (kind) {
    case RK_s:
    case RK_d:
    case RK_sdup:
    case RK_ddup:
    case RK_spair:
        if (o->type != IM_OP_REG || o->reg > (kind == RK_spair ? 30u : 31u))
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a register%s", f->id,
                           i + 1, kind == RK_spair ? " pair s0, s1 .. s30, s31" : "");
        *out = o->reg;
        return 0;
    case RK_fpsys:
    case RK_fpsysw:
        if (o->type != IM_OP_REG || o->reg > 15 || !sysreg_names[o->reg])
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a VFP system register",
                           f->id, i + 1);
        if (kind == RK_fpsysw && (o->reg == 6 || o->reg == 7))
            return im_fail(IM_ERR_UNPREDICTABLE, "%s: %s is read-only (UNPREDICTABLE)", f->id,
                           sysreg_names[o->reg]);
        *out = o->reg;
        return 0;
    case RK_slist:
    case RK_dlist: {
        unsigned first = (unsigned)(v & 0xff), count = (unsigned)(v >> 8);
        unsigned maxn = kind == RK_slist ? 32 : 16;
        if (o->type != IM_OP_LIST || v < 0 || first > 31)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a register list", f->id,
                           i + 1);
        if (count < 1 || count > maxn || first + count > 32)
            return im_fail(IM_ERR_NO_ENCODING,
                           "%s: operand %u: a list of 1 to %u registers within %c0..%c31", f->id,
                           i + 1, maxn, kind == RK_slist ? 's' : 'd', kind == RK_slist ? 's' : 'd');
        *out = first | (kind == RK_slist ? count : 2 * count) << 5;
        return 0;
    }
    case RK_vlit:
        if (o->type == IM_OP_LABEL) {
            *out = 1u << 8;
            return 0;
        }
        if (o->type != IM_OP_REL)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a target", f->id, i + 1);
        return word_off(f, i, v - 8, out); /* the pc reads as the instruction's address + 8 */
    case RK_vfp8s:
    case RK_vfp8d:
    case RK_vzero:
    case RK_fbits16:
    case RK_fbits32:
    case RK_voff: break;
    default: return A32_NOT_MINE;
    }
    if (o->type != IM_OP_IMM)
        return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be an immediate", f->id, i + 1);
    switch (kind) {
    case RK_vfp8s:
    case RK_vfp8d: {
        int e = im_fp8_of((uint64_t)v);
        if (e < 0)
            return im_fail(IM_ERR_RANGE,
                           "%s: operand %u (%g) is no VFP constant (+-n/16 * 2^r, n 16..31, "
                           "r -3..4)",
                           f->id, i + 1, im_fp_bits_d((uint64_t)v));
        *out = (uint32_t)e;
        return 0;
    }
    case RK_vzero:
        if (v)
            return im_fail(IM_ERR_RANGE, "%s: operand %u must be #0 (floating-point zero)", f->id,
                           i + 1);
        *out = 0;
        return 0;
    case RK_fbits16:
        rc = a32_range(f, i, v, 0, 16);
        *out = (uint32_t)(16 - v) & 31;
        return rc;
    case RK_fbits32:
        rc = a32_range(f, i, v, 1, 32);
        *out = (uint32_t)(32 - v) & 31;
        return rc;
    case RK_voff: return word_off(f, i, v, out);
    default: return A32_NOT_MINE;
    }
}

static size_t vfp_samples(unsigned kind, im_rng *rng, im_operand *out, size_t max)
{
    (void)rng;
    size_t k = 0;
    switch (kind) {
    case RK_s:
    case RK_d:
    case RK_sdup:
    case RK_ddup:
        for (unsigned r = 0; r < 32 && k < max; r++)
            out[k++] = im_reg(r);
        return k;
    case RK_spair:
        for (unsigned r = 0; r < 31 && k < max; r++)
            out[k++] = im_reg(r);
        return k;
    case RK_fpsys:
    case RK_fpsysw:
        for (unsigned r = 0; r < 16 && k < max; r++)
            if (sysreg_names[r] && (kind == RK_fpsys || (r != 6 && r != 7)))
                out[k++] = im_reg(r);
        return k;
    case RK_slist:
    case RK_dlist: /* every list */
        for (unsigned first = 0; first < 32; first++)
            for (unsigned c = 1; c <= (kind == RK_slist ? 32u : 16u) && first + c <= 32 && k < max;
                 c++)
                out[k++] = list_op(first | (int64_t)c << 8);
        return k;
    case RK_vfp8s:
    case RK_vfp8d: /* every one of the 256 */
        for (unsigned v = 0; v < 256 && k < max; v++)
            out[k++] = im_imm((int64_t)im_fp8_bits(v));
        return k;
    case RK_vzero: out[k++] = im_imm(0); return k;
    case RK_fbits16:
    case RK_fbits32:
        for (int v = kind == RK_fbits16 ? 0 : 1; v <= (kind == RK_fbits16 ? 16 : 32) && k < max;
             v++)
            out[k++] = im_imm(v);
        return k;
    case RK_voff: /* every offset, the edges first */
    case RK_vlit: {
        int64_t base = kind == RK_vlit ? 8 : 0;
        static const int e[] = {0, 1020, -1020, 4, -4, 1016, -1016};
        for (size_t j = 0; j < sizeof e / sizeof e[0] && k < max; j++)
            out[k++] = kind == RK_vlit ? (im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1,
                                                      base + e[j]}
                                       : im_imm(e[j]);
        for (int v = -1012; v <= 1012 && k < max; v += 4) {
            if (v == 0 || v == 4 || v == -4)
                continue;
            out[k++] = kind == RK_vlit
                           ? (im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, base + v}
                           : im_imm(v);
        }
        return k;
    }
    default: return A32_NONE;
    }
}

/* Texts no valid sample produces, each refused by GNU as (checked by the conformance
 * suite's negatives); pc where GNU as takes it though it is UNPREDICTABLE is lenient. The
 * rows write the '#' before immediates, so a bad immediate is the text after it. */
static size_t vfp_bad_samples(unsigned kind, im_rng *rng, im_bad_sample *out, size_t max)
{
    size_t k = 0;
#define BAD(len, ...) a32_bad(out, &k, max, len, __VA_ARGS__)
    uint64_t r = im_rng_next(rng);
    switch (kind) {
    case RK_s: BAD(false, "s32"); return k;
    case RK_d: BAD(false, "d32"); return k;
    case RK_sdup:
    case RK_ddup: {
        char c = kind == RK_sdup ? 's' : 'd';
        unsigned a = (unsigned)(r & 31), b = (unsigned)((r >> 5) % 31);
        b += b >= a; /* any other register */
        BAD(false, "%c%u, %c%u", c, a, c, b);
        BAD(false, "%c0, %c1", c, c);
        BAD(false, "%c31, %c0", c, c);
        return k;
    }
    case RK_spair: {
        unsigned a = (unsigned)(r & 31), b = (unsigned)((r >> 5) % 31);
        b += b >= a + 1; /* not a + 1 */
        if (b > 31)
            b = 0;
        BAD(false, "s%u, s%u", a, b);
        BAD(false, "s31, s0");
        BAD(false, "s0, s2");
        BAD(false, "s1, s0");
        BAD(false, "s0, s0");
        return k;
    }
    case RK_fpsys:
    case RK_fpsysw:
        BAD(false, "mvfr2");
        BAD(false, "apsr");
        BAD(false, "cpsr");
        if (kind == RK_fpsysw) {
            BAD(true, "mvfr0");
            BAD(true, "mvfr1");
        }
        return k;
    case RK_slist:
    case RK_dlist: {
        char c = kind == RK_slist ? 's' : 'd';
        unsigned a = (unsigned)(r & 31), b = (unsigned)((r >> 5) & 31);
        if (b == a)
            b = (a + 1) & 31;
        BAD(false, "{}");
        BAD(false, "{%c31, %c0}", c, c);           /* wraps */
        BAD(false, "{%c31-%c0}", c, c);            /* descending */
        BAD(false, "{%c%u, %c%u}", c, a < 30 ? a : a - 5, c, a < 30 ? a + 2 : a); /* a gap */
        BAD(false, "{%c0, %c2}", c, c);
        /* descending but contiguous: GNU as warns (not in ascending order) and takes it */
        BAD(true, "{%c1, %c0}", c, c);
        BAD(true, "{%c%u, %c%u}", c, (b | 1), c, (b | 1) - 1);
        BAD(false, "{%c0-%c32}", c, c);
        if (kind == RK_dlist) { /* more than 16 */
            unsigned first = (unsigned)(r >> 10) % 15, last = first + 16 + (unsigned)(r >> 14) % (15 - first + 1);
            BAD(false, "{d%u-d%u}", first, last > 31 ? 31 : last);
            BAD(false, "{d0-d16}");
            BAD(false, "{d15-d31}");
            BAD(false, "{d0-d31}");
        }
        return k;
    }
    case RK_vfp8s:
    case RK_vfp8d: {
        static const char *const fixed[] = {"0.0",  "-0.0", "0",       "32.0",    "-32",
                                            "0.0625", "0.1", "33.0",   "1.03125", "-1.0e10",
                                            "1.0000001", "65536.5", "0x7f800000", "0x3f800001",
                                            "0x3ff0000000000000", "0.12109375"};
        for (size_t j = 0; j < sizeof fixed / sizeof fixed[0]; j++)
            BAD(false, "%s", fixed[j]);
        for (int j = 0; j < 6; j++) { /* n/16 * 2^e with a fifth fraction bit */
            uint64_t x = im_rng_next(rng);
            double v = (16.0 + (double)(x & 15) + 0.5) / 16.0;
            int e = -3 + (int)((x >> 4) % 8);
            for (int s = 0; s < e; s++)
                v *= 2;
            for (int s = 0; s > e; s--)
                v /= 2;
            BAD(false, "%s%.9g", (x >> 8) & 1 ? "-" : "", v);
        }
        return k;
    }
    case RK_vzero:
        BAD(false, "1");
        BAD(false, "-0.0");
        BAD(false, "0.5");
        BAD(false, "1.0");
        return k;
    case RK_fbits16:
        BAD(false, "17");
        BAD(false, "-1");
        BAD(false, "%u", 17 + (unsigned)(r % 100));
        return k;
    case RK_fbits32:
        BAD(false, "0");
        BAD(false, "33");
        BAD(false, "-1");
        BAD(false, "%u", 33 + (unsigned)(r % 100));
        return k;
    case RK_voff: {
        static const int fixed[] = {1024, -1024, 2, -2, 1021, 1022, 1023, -1021, 1019, 4096};
        for (size_t j = 0; j < sizeof fixed / sizeof fixed[0]; j++)
            BAD(false, "%d", fixed[j]);
        int v = (int)(r % 2041) - 1020;
        BAD(false, "%d", (v & ~3) + 1 + (int)((r >> 12) % 3)); /* misaligned */
        BAD(false, "%d", 1024 + 4 * (int)((r >> 16) % 1000));
        return k;
    }
    case RK_vlit: {
        /* distance from pc+8: one word past either edge, further out, misaligned */
        static const int fixed[] = {1024, -1024, 2, -2, 1022, 4096, -4096};
        for (size_t j = 0; j < sizeof fixed / sizeof fixed[0]; j++) {
            int t = fixed[j] + 8;
            BAD(false, ".%c%d", t < 0 ? '-' : '+', t < 0 ? -t : t);
        }
        return k;
    }
    default: return A32_NONE;
    }
#undef BAD
}

/* rtdiff: the two core registers a move writes (operands 1 and 2) must differ. */
static int vfp_check(const im_form *f, const im_operand *ops, const uint32_t *vals)
{
    (void)ops;
    if ((f->flags & A32_FF_RTDIFF) && vals[1] == vals[2])
        return im_fail(IM_ERR_UNPREDICTABLE,
                       "%s: the two core registers must differ (UNPREDICTABLE)", f->id);
    return 0;
}

const a32_area a32_area_vfp = {
    .name = "vfp",
    .parse = vfp_parse,
    .print = vfp_print,
    .field = a32_vfp_field,
    .samples = vfp_samples,
    .bad_samples = vfp_bad_samples,
    .check = vfp_check,
    .check_flags = A32_FF_RTDIFF,
};
