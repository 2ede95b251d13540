/* AArch64 FP scalar: the kinds of kinds_fp.def (a64.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "a64.h"


/* ---- the kinds ---- */

static int parse_vd1(const char **p, im_operand *op)
{
    const char *s = *p, *q = s;
    unsigned n = 0;
    if ((*s | 0x20) == 'v') /* only then is there a byte after it (maybe the end) */
        for (q = s + 1; isdigit((unsigned char)*q) && n < 100;)
            n = n * 10 + (unsigned)(*q++ - '0');
    if (q <= s + 1 || n > 31 || (q - s > 2 && s[1] == '0') || q[0] != '.' ||
        (q[1] | 0x20) != 'd' || q[2] != '[' || q[3] != '1' || q[4] != ']')
        return im_fail(IM_ERR_NO_ENCODING,
                       "expected the upper half of a vector register: v0.d[1]..v31.d[1]");
    *p = q + 5;
    *op = im_reg(n);
    return 0;
}

static int fp_parse(unsigned kind, const char **p, im_operand *op, const im_parse_ctx *ctx)
{
    (void)ctx;
    uint64_t b = 0;
    int rc;
    switch (kind) {
    case AK_fp8s:
    case AK_fp8d:
    case AK_fzero:
        if ((rc = im_parse_fp(p, kind == AK_fp8s ? 32 : 64, &b)) < 0)
            return rc;
        *op = im_imm((int64_t)b);
        return 0;
    case AK_nzcv:
    case AK_fbits16:
    case AK_fbits32:
    case AK_fbits64: return a64_parse_imm(p, op);
    case AK_vd1: return parse_vd1(p, op);
    default: return A64_NOT_MINE;
    }
}

static bool fp_print(unsigned kind, const im_operand *op, char *buf, size_t n)
{
    switch (kind) {
    case AK_fp8s:
    case AK_fp8d:
    case AK_fzero: im_print_fp(buf, n, (uint64_t)op->imm); return true;
    case AK_nzcv:
    case AK_fbits16:
    case AK_fbits32:
    case AK_fbits64: im_appendf(buf, n, "%lld", (long long)op->imm); return true;
    case AK_vd1: im_appendf(buf, n, "v%u.d[1]", op->reg); return true;
    default: return false;
    }
}

int a64_fp_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out)
{
    unsigned kind = f->kinds[i];
    int64_t v = o->imm;
    int rc = 0;
    switch (kind) {
    case AK_vd1:
        if (o->type != IM_OP_REG || o->reg > 31)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a vector register", f->id,
                           i + 1);
        *out = o->reg;
        return 0;
    case AK_fp8s:
    case AK_fp8d:
    case AK_fzero:
    case AK_nzcv:
    case AK_fbits16:
    case AK_fbits32:
    case AK_fbits64: break;
    default: return A64_NOT_MINE;
    }
    if (o->type != IM_OP_IMM)
        return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be an immediate", f->id, i + 1);
    switch (kind) {
    case AK_fp8s:
    case AK_fp8d: {
        int e = im_fp8_of((uint64_t)v);
        if (e < 0)
            return im_fail(IM_ERR_RANGE,
                           "%s: operand %u (%g) is no 8-bit FP constant (+-n/16 * 2^r, n 16..31, "
                           "r -3..4)",
                           f->id, i + 1, im_fp_bits_d((uint64_t)v));
        *out = (uint32_t)e;
        return 0;
    }
    case AK_fzero:
        if (v)
            return im_fail(IM_ERR_RANGE, "%s: operand %u must be #0.0", f->id, i + 1);
        *out = 0;
        return 0;
    case AK_nzcv: rc = a64_range(f, i, v, 0, 15); *out = (uint32_t)v; return rc;
    case AK_fbits32:
    case AK_fbits64:
        if ((rc = a64_range(f, i, v, 1, kind == AK_fbits32 ? 32 : 64)) < 0)
            return rc;
        *out = (uint32_t)(64 - v);
        return 0;
    case AK_fbits16:
        if ((rc = a64_range(f, i, v, 1, 16)) < 0)
            return rc;
        *out = (uint32_t)(32 - v);
        return 0;
    default: return A64_NOT_MINE;
    }
}

static size_t fp_samples(unsigned kind, im_rng *rng, im_operand *out, size_t max)
{
    (void)rng;
    size_t k = 0;
    switch (kind) {
    case AK_fp8s:
    case AK_fp8d: /* every one of the 256 */
        for (unsigned v = 0; v < 256 && k < max; v++)
            out[k++] = im_imm((int64_t)im_fp8_bits(v));
        return k;
    case AK_fzero: out[k++] = im_imm(0); return k;
    case AK_nzcv:
        for (int v = 0; v < 16 && k < max; v++)
            out[k++] = im_imm(v);
        return k;
    case AK_fbits16:
    case AK_fbits32:
    case AK_fbits64:
        for (int v = 1; v <= (kind == AK_fbits16 ? 16 : kind == AK_fbits32 ? 32 : 64) && k < max;
             v++)
            out[k++] = im_imm(v);
        return k;
    case AK_vd1:
        for (unsigned r = 0; r < 32 && k < max; r++)
            out[k++] = im_reg(r);
        return k;
    default: return A64_NONE;
    }
}

/* The rows write the `#` before these operands (`#{imm:fp8s}`), so a bad sample is the
 * operand's text without it: `##1.0` would be refused for its syntax, not its value. */
static size_t fp_bad_samples(unsigned kind, im_rng *rng, im_bad_sample *out, size_t max)
{
    size_t k = 0;
#define BAD(...)                                                                                   \
    do {                                                                                           \
        if (k < max) {                                                                             \
            snprintf(out[k].text, sizeof out[k].text, __VA_ARGS__);                                \
            out[k++].lenient = false;                                                              \
        }                                                                                          \
    } while (0)
    switch (kind) {
    case AK_fp8s:
    case AK_fp8d: {
        /* zero (no 8-bit form), out of the exponent range, a fraction of 5 bits or more */
        static const char *const fixed[] = {"0.0",  "-0.0",    "0",          "32.0",
                                            "-32",  "0.0625",  "0.12109375", "0.1",
                                            "33.0", "1.03125", "-1.0e10",    "1.0000001",
                                            "65536.5"};
        for (size_t j = 0; j < sizeof fixed / sizeof fixed[0]; j++)
            BAD("%s", fixed[j]);
        BAD("%s", kind == AK_fp8s ? "0x3f800001" : "0x3ff0000000000001");
        BAD("%s", kind == AK_fp8s ? "0x7f800000" : "0x3f800000"); /* inf; 1.0f's bits in 64 */
        for (int j = 0; j < 8; j++) {
            uint64_t r = im_rng_next(rng);
            double m = (double)(16 + (r & 15)) + (double)(1 + ((r >> 4) % 15)) / 16.0;
            int e = -3 + (int)((r >> 8) % 8);
            double v = m / 16.0;
            for (int s = 0; s < e; s++)
                v *= 2;
            for (int s = 0; s > e; s--)
                v /= 2;
            BAD("%s%.12g", (r >> 12) & 1 ? "-" : "", v); /* between two 8-bit values */
            int far = (r >> 13) & 1 ? 5 + (int)((r >> 16) % 6) : -4 - (int)((r >> 16) % 6);
            v = (double)(16 + ((r >> 20) & 15)) / 16.0;
            for (int s = 0; s < far; s++)
                v *= 2;
            for (int s = 0; s > far; s--)
                v /= 2;
            BAD("%s%.12g", (r >> 24) & 1 ? "-" : "", v); /* out of the exponent range */
        }
        return k;
    }
    case AK_fzero:
        BAD("1.0"); BAD("-0.0"); BAD("0.5"); BAD("1"); BAD("0x1"); BAD("0x80000000");
        BAD("-1.0"); BAD("2.0e0");
        return k;
    case AK_nzcv:
        BAD("16"); BAD("17"); BAD("31"); BAD("0x10"); BAD("255");
        return k;
    case AK_fbits16:
    case AK_fbits32:
    case AK_fbits64: {
        int hi = kind == AK_fbits16 ? 16 : kind == AK_fbits32 ? 32 : 64;
        BAD("0"); BAD("%d", hi + 1); BAD("%d", hi + 2); BAD("128"); BAD("-1");
        BAD("%d", hi + 1 + (int)(im_rng_next(rng) % 30));
        return k;
    }
    case AK_vd1:
        BAD("v%u.d[0]", (unsigned)(im_rng_next(rng) % 32));
        BAD("v%u.d[2]", (unsigned)(im_rng_next(rng) % 32));
        BAD("v%u.s[1]", (unsigned)(im_rng_next(rng) % 32));
        BAD("v%u.2d", (unsigned)(im_rng_next(rng) % 32));
        BAD("v32.d[1]");
        return k;
    default: return A64_NONE;
    }
#undef BAD
}

const a64_area a64_area_fp = {
    .name = "fp",
    .parse = fp_parse,
    .print = fp_print,
    .field = a64_fp_field,
    .samples = fp_samples,
    .bad_samples = fp_bad_samples,
};
