/* AArch64 Advanced SIMD: the kinds of kinds_simd.def (a64.h): vector elements, register
 * lists, the modified immediates of movi/mvni/orr/bic, and the fixed values of one row (a
 * shift amount, #0, a post-index by the list's size). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "a64.h"

static const char *const arr_names[8] = {"8b", "16b", "4h", "8h", "2s", "4s", "1d", "2d"};
static const char elem_names[] = "bhsd";

/* ---- kind tables ---- */

/* A register-list kind: its length and arrangement (an index of arr_names). */
static bool list_kind(unsigned kind, unsigned *n, unsigned *arr)
{
    if (kind >= AK_l1_8b && kind <= AK_l4_2d) {
        *n = (kind - AK_l1_8b) / 8 + 1;
        *arr = (kind - AK_l1_8b) % 8;
        return true;
    }
    if (kind >= AK_tl1 && kind <= AK_tl4) {
        *n = kind - AK_tl1 + 1;
        *arr = 1; /* 16b */
        return true;
    }
    return false;
}

/* An element kind's size (0 b, 1 h, 2 s, 3 d), or -1. */
static int elem_size(unsigned kind)
{
    switch (kind) {
    case AK_eb: return 0;
    case AK_eh:
    case AK_ehlo: return 1;
    case AK_es: return 2;
    case AK_ed: return 3;
    default: return -1;
    }
}

/* The one value a fixed kind takes, or -1 when the kind is not one. */
static int64_t fixed_value(unsigned kind)
{
    switch (kind) {
    case AK_lsl0:
    case AK_z0: return 0;
    case AK_lsl8:
    case AK_msl8:
    case AK_pi8: return 8;
    case AK_lsl16:
    case AK_msl16:
    case AK_pi16: return 16;
    case AK_lsl24:
    case AK_pi24: return 24;
    case AK_pi32: return 32;
    case AK_pi48: return 48;
    case AK_pi64: return 64;
    default: return -1;
    }
}

/* ---- parsing ---- */

/* v<n> (0..31) at *p, without what follows; -1 if none. */
static int parse_v(const char **p)
{
    const char *s = *p;
    if ((*s | 0x20) != 'v' || !isdigit((unsigned char)s[1]))
        return -1;
    s++;
    unsigned n = 0;
    int digits = 0;
    while (isdigit((unsigned char)*s) && digits < 3) {
        n = n * 10 + (unsigned)(*s++ - '0');
        digits++;
    }
    if (n > 31 || isdigit((unsigned char)*s))
        return -1;
    *p = s;
    return (int)n;
}

/* v<n>.<arrangement>: the register, and the arrangement's index in *arr; -1 if none. */
static int parse_varr(const char **p, unsigned *arr)
{
    const char *s = *p;
    int r = parse_v(&s);
    if (r < 0 || *s != '.')
        return -1;
    s++;
    for (unsigned a = 0; a < 8; a++) {
        size_t n = strlen(arr_names[a]);
        if (!strncasecmp(s, arr_names[a], n) && !isalnum((unsigned char)s[n]) && s[n] != '_') {
            *arr = a;
            *p = s + n;
            return r;
        }
    }
    return -1;
}

static int parse_list(unsigned kind, unsigned want_n, unsigned want_arr, const char **p,
                      im_operand *op)
{
    const char *s = *p;
    const char *an = arr_names[want_arr];
    if (*s != '{')
        return im_fail(IM_ERR_NO_ENCODING, "expected a register list {v<n>.%s, ...}", an);
    s++;
    int first = -1, prev = -1;
    unsigned n = 0;
    for (;;) {
        im_skip_ws(&s);
        unsigned a;
        int r = parse_varr(&s, &a);
        if (r < 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected a vector register v<n>.%s in the list",
                           an);
        if (a != want_arr)
            return im_fail(IM_ERR_NO_ENCODING, "the list's registers must be .%s", an);
        if (n && r != (prev + 1) % 32)
            return im_fail(IM_ERR_NO_ENCODING, "the list's registers must be consecutive");
        if (!n)
            first = r;
        prev = r;
        n++;
        im_skip_ws(&s);
        if (*s == '-' && n == 1) {
            s++;
            im_skip_ws(&s);
            int last = parse_varr(&s, &a);
            if (last < 0)
                return im_fail(IM_ERR_NO_ENCODING, "expected a vector register after '-'");
            if (a != want_arr)
                return im_fail(IM_ERR_NO_ENCODING, "the list's registers must be .%s", an);
            if (last < first)
                return im_fail(IM_ERR_NO_ENCODING, "a register range may not wrap past v31");
            n = (unsigned)(last - first) + 1;
            im_skip_ws(&s);
            if (*s != '}')
                return im_fail(IM_ERR_NO_ENCODING, "expected '}' after a register range");
        }
        if (*s == '}') {
            s++;
            break;
        }
        if (*s != ',' || n >= 4)
            return im_fail(IM_ERR_NO_ENCODING, n >= 4 ? "a list holds at most 4 registers"
                                                      : "expected ',' or '}' in the list");
        s++;
    }
    if (n != want_n)
        return im_fail(IM_ERR_NO_ENCODING, "expected a list of %u register%s", want_n,
                       want_n == 1 ? "" : "s");
    (void)kind;
    *op = im_reg((unsigned)first);
    *p = s;
    return 0;
}

/* v<n>.<b|h|s|d>[i]: reg n, imm i (checked by the field). */
static int parse_elem(unsigned kind, const char **p, im_operand *op)
{
    char want = elem_names[elem_size(kind)];
    const char *s = *p;
    int r = parse_v(&s);
    if (r < 0 || *s != '.' || (s[1] | 0x20) != want)
        return im_fail(IM_ERR_NO_ENCODING, "expected a vector element v<n>.%c[i]", want);
    s += 2;
    im_skip_ws(&s);
    if (*s != '[')
        return im_fail(IM_ERR_NO_ENCODING, "expected '[' and an element index");
    s++;
    im_skip_ws(&s);
    uint64_t ix;
    if (im_parse_number(&s, &ix) < 0)
        return im_fail(IM_ERR_NO_ENCODING, "expected an element index");
    if (ix > 255)
        ix = 255; /* out of range whatever the size: the field says so */
    im_skip_ws(&s);
    if (*s != ']')
        return im_fail(IM_ERR_NO_ENCODING, "expected ']' after the element index");
    *op = im_reg((unsigned)r);
    op->imm = (int64_t)ix;
    *p = s + 1;
    return 0;
}

static int simd_parse(unsigned kind, const char **p, im_operand *op, const im_parse_ctx *ctx)
{
    (void)ctx;
    unsigned n, arr;
    if (list_kind(kind, &n, &arr))
        return parse_list(kind, n, arr, p, op);
    if (elem_size(kind) >= 0)
        return parse_elem(kind, p, op);
    if (fixed_value(kind) >= 0)
        return a64_parse_imm(p, op);
    switch (kind) {
    case AK_vmov8b:
    case AK_vmov16b: {
        unsigned want = kind == AK_vmov8b ? 0 : 1, a;
        const char *s = *p;
        int r = parse_varr(&s, &a);
        if (r < 0 || a != want)
            return im_fail(IM_ERR_NO_ENCODING, "expected a vector register v<n>.%s",
                           arr_names[want]);
        *op = im_reg((unsigned)r);
        *p = s;
        return 0;
    }
    case AK_xpost: {
        int r = a64_parse_greg(p, 'x', false);
        if (r < 0 || r == 31)
            return im_fail(IM_ERR_NO_ENCODING, "expected a post-index register x0..x30");
        *op = im_reg((unsigned)r);
        return 0;
    }
    case AK_imm8:
    case AK_mask64:
    case AK_ext8b:
    case AK_ext16b: return a64_parse_imm(p, op);
    default: return A64_NOT_MINE;
    }
}

/* ---- printing ---- */

static bool simd_print(unsigned kind, const im_operand *op, char *buf, size_t n)
{
    unsigned ln, arr;
    if (list_kind(kind, &ln, &arr)) {
        im_appendf(buf, n, "{");
        for (unsigned i = 0; i < ln; i++)
            im_appendf(buf, n, "%sv%u.%s", i ? ", " : "", (op->reg + i) % 32, arr_names[arr]);
        im_appendf(buf, n, "}");
        return true;
    }
    int es = elem_size(kind);
    if (es >= 0) {
        im_appendf(buf, n, "v%u.%c[%lld]", op->reg, elem_names[es], (long long)op->imm);
        return true;
    }
    if (fixed_value(kind) >= 0) {
        im_appendf(buf, n, "%lld", (long long)op->imm);
        return true;
    }
    switch (kind) {
    case AK_vmov8b:
    case AK_vmov16b:
        im_appendf(buf, n, "v%u.%s", op->reg, kind == AK_vmov8b ? "8b" : "16b");
        return true;
    case AK_xpost: im_appendf(buf, n, "x%u", op->reg); return true;
    case AK_imm8: im_print_hex(buf, n, op->imm); return true;
    case AK_mask64: im_appendf(buf, n, "0x%llx", (unsigned long long)op->imm); return true;
    case AK_ext8b:
    case AK_ext16b: im_appendf(buf, n, "%lld", (long long)op->imm); return true;
    default: return false;
    }
}

/* ---- fields ---- */

static int need_reg(const im_form *f, unsigned i, const im_operand *o)
{
    if (o->type != IM_OP_REG || o->reg > 31)
        return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a register", f->id, i + 1);
    return 0;
}

int a64_simd_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out)
{
    unsigned kind = f->kinds[i];
    unsigned ln, arr;
    int rc;
    if (list_kind(kind, &ln, &arr)) {
        if ((rc = need_reg(f, i, o)) < 0)
            return rc;
        *out = o->reg;
        return 0;
    }
    int es = elem_size(kind);
    if (es >= 0) {
        if ((rc = need_reg(f, i, o)) < 0)
            return rc;
        int64_t top = (16 >> es) - 1;
        if (o->imm < 0 || o->imm > top)
            return im_fail(IM_ERR_RANGE, "%s: element index %lld of v%u.%c out of range [0, %lld]",
                           f->id, (long long)o->imm, o->reg, elem_names[es], (long long)top);
        if (kind == AK_ehlo) {
            if (o->reg > 15)
                return im_fail(IM_ERR_NO_ENCODING, "%s: a 16-bit element of v0..v15 only, not v%u",
                               f->id, o->reg);
            *out = (uint32_t)o->imm << 4 | o->reg;
            return 0;
        }
        *out = (uint32_t)o->imm << 5 | o->reg;
        return 0;
    }
    int64_t fv = fixed_value(kind);
    switch (kind) {
    case AK_vmov8b:
    case AK_vmov16b:
        if ((rc = need_reg(f, i, o)) < 0)
            return rc;
        *out = (uint32_t)o->reg << 5 | o->reg;
        return 0;
    case AK_xpost:
        if ((rc = need_reg(f, i, o)) < 0)
            return rc;
        if (o->reg == 31)
            return im_fail(IM_ERR_NO_ENCODING, "%s: the post-index register may not be xzr",
                           f->id);
        *out = o->reg;
        return 0;
    case AK_imm8:
    case AK_mask64:
    case AK_ext8b:
    case AK_ext16b: break;
    default:
        if (fv < 0)
            return A64_NOT_MINE;
        break;
    }
    if (o->type != IM_OP_IMM)
        return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be an immediate", f->id, i + 1);
    int64_t v = o->imm;
    switch (kind) {
    case AK_imm8:
        if ((rc = a64_range(f, i, v, -128, 255)) < 0)
            return rc;
        *out = (uint32_t)v & 0xff;
        return 0;
    case AK_mask64: {
        uint64_t u = (uint64_t)v;
        uint32_t m = 0;
        for (unsigned b = 0; b < 8; b++) {
            unsigned byte = (unsigned)(u >> (8 * b)) & 0xff;
            if (byte != 0 && byte != 0xff)
                return im_fail(IM_ERR_NO_ENCODING,
                               "%s: 0x%llx is not a 64-bit value of bytes 0x00 and 0xff", f->id,
                               (unsigned long long)u);
            m |= (byte ? 1u : 0u) << b;
        }
        *out = m;
        return 0;
    }
    case AK_ext8b:
    case AK_ext16b:
        if ((rc = a64_range(f, i, v, 0, kind == AK_ext8b ? 7 : 15)) < 0)
            return rc;
        *out = (uint32_t)v;
        return 0;
    default:
        if (v != fv)
            return im_fail(IM_ERR_RANGE, "%s: operand %u must be %lld, not %lld", f->id, i + 1,
                           (long long)fv, (long long)v);
        *out = 0;
        return 0;
    }
}

/* ---- samples ---- */

static size_t simd_samples(unsigned kind, im_rng *rng, im_operand *out, size_t max)
{
    (void)rng;
    size_t k = 0;
    unsigned ln, arr;
    if (list_kind(kind, &ln, &arr)) {
        for (unsigned r = 0; r < 32 && k < max; r++)
            out[k++] = im_reg(r);
        return k;
    }
    int es = elem_size(kind);
    if (es >= 0) {
        for (unsigned ix = 0; ix < (16u >> es); ix++)
            for (unsigned r = 0; r < (kind == AK_ehlo ? 16u : 32u) && k < max; r++) {
                out[k] = im_reg(r);
                out[k++].imm = ix;
            }
        return k;
    }
    int64_t fv = fixed_value(kind);
    if (fv >= 0) {
        out[k++] = im_imm(fv);
        return k;
    }
    switch (kind) {
    case AK_vmov8b:
    case AK_vmov16b:
        for (unsigned r = 0; r < 32 && k < max; r++)
            out[k++] = im_reg(r);
        return k;
    case AK_xpost:
        for (unsigned r = 0; r < 31 && k < max; r++)
            out[k++] = im_reg(r);
        return k;
    case AK_imm8:
        for (int v = 0; v < 256 && k < max; v++)
            out[k++] = im_imm(v);
        return k;
    case AK_mask64:
        for (unsigned m = 0; m < 256 && k < max; m++) {
            uint64_t v = 0;
            for (unsigned b = 0; b < 8; b++)
                if (m >> b & 1)
                    v |= 0xffull << (8 * b);
            out[k++] = im_imm((int64_t)v);
        }
        return k;
    case AK_ext8b:
    case AK_ext16b:
        for (int v = 0; v < (kind == AK_ext8b ? 8 : 16) && k < max; v++)
            out[k++] = im_imm(v);
        return k;
    default: return A64_NONE;
    }
}

/* ---- bad operands (imago vectors' negatives) ---- */

#define BAD(...)                                                                                   \
    do {                                                                                           \
        if (k < max) {                                                                             \
            snprintf(out[k].text, sizeof out[k].text, __VA_ARGS__);                                \
            out[k++].lenient = false;                                                              \
        }                                                                                          \
    } while (0)

/* Lists no row takes: not consecutive, mixed arrangements, five registers, a range that
 * wraps; for tbl/tbx tables also the right length of another arrangement. */
static size_t bad_lists(unsigned n, unsigned arr, bool tbl, im_rng *rng, im_bad_sample *out,
                        size_t max)
{
    size_t k = 0;
    const char *an = arr_names[arr];
    unsigned r = (unsigned)(im_rng_next(rng) % 32);
    unsigned m = n < 2 ? 2 : n;
    /* a gap after the first register */
    char t[80];
    for (int v = 0; v < 2; v++) {
        t[0] = '\0';
        unsigned gap = 2 + (unsigned)v;
        im_appendf(t, sizeof t, "{v%u.%s", r, an);
        for (unsigned i = 1; i < m; i++)
            im_appendf(t, sizeof t, ", v%u.%s", (r + gap + i - 1) % 32, an);
        im_appendf(t, sizeof t, "}");
        BAD("%s", t);
        r = (unsigned)(im_rng_next(rng) % 32);
    }
    /* the same register twice, a descending pair */
    BAD("{v%u.%s, v%u.%s}", r, an, r, an);
    BAD("{v%u.%s, v%u.%s}", (r + 1) % 32, an, r, an);
    /* the last register of another arrangement */
    t[0] = '\0';
    im_appendf(t, sizeof t, "{");
    for (unsigned i = 0; i < m; i++)
        im_appendf(t, sizeof t, "%sv%u.%s", i ? ", " : "", (r + i) % 32,
                   i == m - 1 ? arr_names[(arr + 1 + (unsigned)(im_rng_next(rng) % 7)) % 8] : an);
    im_appendf(t, sizeof t, "}");
    BAD("%s", t);
    /* five registers, as a list and as a range */
    r = (unsigned)(im_rng_next(rng) % 27);
    BAD("{v%u.%s, v%u.%s, v%u.%s, v%u.%s, v%u.%s}", r, an, r + 1, an, r + 2, an, r + 3, an, r + 4,
        an);
    BAD("{v%u.%s-v%u.%s}", r, an, r + 4, an);
    /* a range that wraps past v31 */
    BAD("{v%u.%s-v%u.%s}", 32 - (n < 2 ? 1 : n - 1), an, 0u, an);
    /* an empty list */
    BAD("{}");
    if (tbl)
        for (unsigned a = 0; a < 8; a++) {
            if (a == 1)
                continue;
            r = (unsigned)(im_rng_next(rng) % 32);
            t[0] = '\0';
            im_appendf(t, sizeof t, "{");
            for (unsigned i = 0; i < n; i++)
                im_appendf(t, sizeof t, "%sv%u.%s", i ? ", " : "", (r + i) % 32, arr_names[a]);
            im_appendf(t, sizeof t, "}");
            BAD("%s", t);
        }
    return k;
}

static size_t simd_bad_samples(unsigned kind, im_rng *rng, im_bad_sample *out, size_t max)
{
    size_t k = 0;
    unsigned ln, arr;
    if (list_kind(kind, &ln, &arr))
        return bad_lists(ln, arr, kind >= AK_tl1 && kind <= AK_tl4, rng, out, max);
    int es = elem_size(kind);
    if (es >= 0) {
        /* element indexes out of range */
        unsigned top = 16u >> es;
        static const unsigned extra[] = {0, 1, 3, 8, 15, 16, 31, 100};
        for (size_t j = 0; j < sizeof extra / sizeof extra[0]; j++) {
            if (extra[j] < top && j)
                continue;
            unsigned ix = top + extra[j];
            BAD("v%u.%c[%u]", (unsigned)(im_rng_next(rng) % 32), elem_names[es], ix);
        }
        BAD("v%u.%c[-1]", (unsigned)(im_rng_next(rng) % 32), elem_names[es]);
        if (kind == AK_ehlo) /* registers above v15 */
            for (unsigned r = 16; r < 32; r += 5)
                BAD("v%u.h[%u]", r, (unsigned)(im_rng_next(rng) % 8));
        return k;
    }
    int64_t fv = fixed_value(kind);
    switch (kind) {
    case AK_lsl0:
    case AK_lsl8:
    case AK_lsl16:
    case AK_lsl24:
    case AK_msl8:
    case AK_msl16: {
        /* amounts no row shifts by (lsl 0/8/16/24, msl 8/16 all exist somewhere) */
        static const int bad[] = {1, 4, 7, 12, 20, 32, 40, 64};
        bool msl = kind == AK_msl8 || kind == AK_msl16;
        for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++)
            BAD("%d", bad[j]);
        if (msl)
            BAD("0");
        if (msl)
            BAD("24");
        return k;
    }
    case AK_z0: BAD("1"); BAD("-1"); BAD("0x10"); return k;
    case AK_pi8:
    case AK_pi16:
    case AK_pi24:
    case AK_pi32:
    case AK_pi48:
    case AK_pi64: {
        static const int sizes[] = {0, 1, 4, 8, 12, 16, 24, 32, 48, 64, 128};
        for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++)
            if (sizes[j] != fv)
                BAD("%d", sizes[j]);
        BAD("%lld", (long long)-fv);
        return k;
    }
    case AK_xpost: BAD("xzr"); BAD("sp"); BAD("w%u", (unsigned)(im_rng_next(rng) % 31)); return k;
    case AK_imm8:
        BAD("256"); BAD("0x100"); BAD("-129"); BAD("0x1ff"); BAD("0xffff"); BAD("-256");
        BAD("0x%x", 0x100 + (unsigned)(im_rng_next(rng) % 0xff00));
        return k;
    case AK_mask64:
        BAD("0x1"); BAD("0x7f"); BAD("0xfe"); BAD("0xff00ff00ff00ff01");
        BAD("0x8000000000000000"); BAD("0xff00ff00ff00f0ff");
        for (int j = 0; j < 4; j++) {
            uint64_t v = im_rng_next(rng) | 0x0101010101010101ull;
            BAD("0x%llx", (unsigned long long)(v & 0x7f7f7f7f7f7f7f7full));
        }
        return k;
    case AK_ext8b: BAD("8"); BAD("15"); BAD("16"); BAD("-1"); return k;
    case AK_ext16b: BAD("16"); BAD("31"); BAD("-1"); BAD("0x100"); return k;
    default: return A64_NONE;
    }
}

#undef BAD

const a64_area a64_area_simd = {
    .name = "simd",
    .parse = simd_parse,
    .print = simd_print,
    .field = a64_simd_field,
    .samples = simd_samples,
    .bad_samples = simd_bad_samples,
};
