/* ARM (A32): the operand kinds of encoders/a32/kinds.def. Each kind parses, prints, checks and
 * turns an operand into its field value; the row's slices place the fields (im_arm_place). */
#include <string.h>
#include <strings.h>

#include "core.h"
#include "form.h"

enum {
#define KIND(n, c, b) RK_##n,
#include "kinds.def"
#undef KIND
    RK_COUNT
};

static const im_kind a32_kinds[] = {
#define KIND(n, c, b) {#n, IM_KC_##c, b},
#include "kinds.def"
#undef KIND
};

#define K(n) RK_##n
#include "a32_tbl.h"
#undef K

static const char *const reg_names[16] = {"r0", "r1", "r2",  "r3",  "r4",  "r5", "r6", "r7",
                                          "r8", "r9", "r10", "r11", "r12", "sp", "lr", "pc"};

static int parse_reg(const char **p)
{
    static const struct {
        const char *name;
        int reg;
    } alias[] = {{"sp", 13}, {"lr", 14}, {"pc", 15}, {"fp", 11}, {"ip", 12}, {"sl", 10},
                 {"sb", 9}};
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (im_match_word(p, alias[i].name))
            return alias[i].reg;
    const char *s = *p;
    if ((*s | 0x20) != 'r')
        return -1;
    s++;
    uint64_t n;
    const char *q = s;
    if (im_parse_number(&q, &n) < 0 || n > 15 || (q - s > 1 && *s == '0'))
        return -1;
    *p = q;
    return (int)n;
}

/* {r0, r4-r6, lr} */
static int parse_list(const char **p, uint32_t *mask)
{
    const char *s = *p;
    if (*s != '{')
        return im_fail(IM_ERR_NO_ENCODING, "expected a register list");
    s++;
    uint32_t m = 0;
    for (;;) {
        im_skip_ws(&s);
        int r = parse_reg(&s);
        if (r < 0)
            return im_fail(IM_ERR_SYNTAX, "expected a register in the list");
        im_skip_ws(&s);
        int hi = r;
        if (*s == '-') {
            s++;
            im_skip_ws(&s);
            hi = parse_reg(&s);
            if (hi < r)
                return im_fail(IM_ERR_SYNTAX, "bad register range");
            im_skip_ws(&s);
        }
        for (int i = r; i <= hi; i++) {
            if (m & (1u << i))
                return im_fail(IM_ERR_NO_ENCODING, "register listed twice");
            m |= 1u << i;
        }
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
    *mask = m;
    *p = s;
    return 0;
}

static int a32_parse(im_target t, unsigned kind, const char **p, im_operand *op,
                     const im_parse_ctx *ctx)
{
    (void)t;
    switch (kind) {
    case RK_r: {
        int r = parse_reg(p);
        if (r < 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected a register");
        *op = im_reg((unsigned)r);
        return 0;
    }
    case RK_rlist_push:
    case RK_rlist_pop:
    case RK_rlist1_push: {
        uint32_t m = 0;
        int rc = parse_list(p, &m);
        if (rc < 0)
            return rc;
        if (kind == RK_rlist1_push) {
            if (m == 0 || (m & (m - 1)) || (kind == RK_rlist1_push && m == 1u << 13))
                return im_fail(IM_ERR_NO_ENCODING, "expected one register%s",
                               kind == RK_rlist1_push ? " other than sp" : "");
            *op = im_reg((unsigned)__builtin_ctz(m));
            return 0;
        }
        *op = (im_operand){IM_OP_LIST, 0, IM_NOREG, IM_NOREG, 0, -1, m};
        return 0;
    }
    case RK_rel24:
    case RK_lit12: {
        const char *q = *p;
        if (parse_reg(&q) >= 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected a target, not a register");
        return im_parse_target(p, op, ctx);
    }
    default: {
        const char *s = *p;
        if (*s == '#')
            s++;
        int rc = im_parse_expr(&s, op, NULL);
        if (rc < 0)
            return rc;
        if (op->type != IM_OP_IMM)
            return im_fail(IM_ERR_NO_ENCODING, "expected a number");
        *p = s;
        return 0;
    }
    }
}

static void a32_print(im_target t, unsigned kind, const im_operand *op, char *buf, size_t n)
{
    (void)t;
    switch (kind) {
    case RK_cond:
        if (op->imm != 14)
            im_appendf(buf, n, "%s", im_arm_cond_names[op->imm & 15]);
        return;
    case RK_r: im_appendf(buf, n, "%s", reg_names[op->reg & 15]); return;
    case RK_rlist1_push: im_appendf(buf, n, "{%s}", reg_names[op->reg & 15]); return;
    case RK_rlist_push:
    case RK_rlist_pop: {
        im_appendf(buf, n, "{");
        bool first = true;
        for (unsigned i = 0; i < 16; i++)
            if ((uint64_t)op->imm & (1u << i)) {
                im_appendf(buf, n, "%s%s", first ? "" : ", ", reg_names[i]);
                first = false;
            }
        im_appendf(buf, n, "}");
        return;
    }
    case RK_rel24:
    case RK_lit12: im_print_target(op, false, buf, n); return;
    case RK_modimm: im_print_hex(buf, n, op->imm); return;
    default: im_appendf(buf, n, "%lld", (long long)op->imm); return;
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

static int field_value(const im_form *f, unsigned i, const im_operand *o, uint32_t *out)
{
    unsigned kind = f->kinds[i];
    int64_t v = o->imm;
    switch (kind) {
    case RK_cond:
        if (o->type != IM_OP_COND || v < 0 || v > 14)
            return im_fail(IM_ERR_NO_ENCODING, "%s: bad condition", f->id);
        *out = (uint32_t)v;
        return 0;
    case RK_r:
    case RK_rlist1_push:
        if (o->type != IM_OP_REG || o->reg > 15 || (kind == RK_rlist1_push && o->reg == 13))
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a register", f->id, i + 1);
        *out = o->reg;
        return 0;
    case RK_rlist_push:
    case RK_rlist_pop: {
        uint32_t m = (uint32_t)v;
        if (o->type != IM_OP_LIST || v < 0 || v > 0xffff)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a register list", f->id, i + 1);
        if (m == 1u << 13 && kind == RK_rlist_push) { /* {sp} alone: str sp, [sp, #-4]! is unpredictable */
            *out = m;
            return 0;
        }
        if (__builtin_popcount(m) < 2)
            return im_fail(IM_ERR_NO_ENCODING, "%s: needs two or more registers", f->id);
        if (m & (1u << 13))
            return im_fail(IM_ERR_NO_ENCODING, "%s: sp cannot be in the list", f->id);
        if (kind == RK_rlist_push && (m & (1u << 15)))
            return im_fail(IM_ERR_NO_ENCODING, "%s: pc cannot be pushed", f->id);
        *out = m;
        return 0;
    }
    case RK_rel24:
    case RK_lit12: {
        if (o->type == IM_OP_LABEL) {
            *out = kind == RK_lit12 ? 1u << 12 : 0;
            return 0;
        }
        if (o->type != IM_OP_REL)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a target", f->id, i + 1);
        int64_t d = v - 8; /* the pc reads as the instruction's address + 8 */
        if (kind == RK_rel24) {
            if (d % 4)
                return im_fail(IM_ERR_ALIGN, "%s: branch offset %lld is not a multiple of 4",
                               f->id, (long long)d);
            if (d < -(1ll << 25) || d > (1ll << 25) - 4)
                return im_fail(IM_ERR_RANGE, "%s: branch offset %lld out of range (+-32 MiB)",
                               f->id, (long long)d);
            *out = (uint32_t)((uint64_t)d >> 2) & 0xffffff;
        } else {
            if (d < -4095 || d > 4095)
                return im_fail(IM_ERR_RANGE, "%s: literal offset %lld out of range [-4095, 4095]",
                               f->id, (long long)d);
            *out = d >= 0 ? (1u << 12 | (uint32_t)d) : (uint32_t)-d;
        }
        return 0;
    }
    default: break;
    }
    if (o->type != IM_OP_IMM)
        return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be an immediate", f->id, i + 1);
    switch (kind) {
    case RK_modimm: {
        if (v < 0 || v > 0xffffffffll)
            return im_fail(IM_ERR_RANGE, "%s: immediate %lld out of range", f->id, (long long)v);
        int fv = modimm_field((uint32_t)v);
        if (fv < 0)
            return im_fail(IM_ERR_NO_ENCODING,
                           "%s: 0x%llx is not an 8-bit value rotated by an even amount", f->id,
                           (unsigned long long)v);
        *out = (uint32_t)fv;
        return 0;
    }
    case RK_soff12:
        if (v < -4095 || v > 4095)
            return im_fail(IM_ERR_RANGE, "%s: offset %lld out of range [-4095, 4095]", f->id,
                           (long long)v);
        *out = v >= 0 ? (1u << 12 | (uint32_t)v) : (uint32_t)-v;
        return 0;
    default: return im_fail(IM_ERR_INVAL, "%s: unknown kind %u", f->id, kind);
    }
}

static int a32_encode(im_target t, const im_form *f, const im_operand *ops, uint8_t *out,
                      size_t *len, im_fixup *fix)
{
    (void)t;
    uint32_t vals[IM_MAX_OPS];
    int rc = im_arm_fields(a32_kinds, f, ops, field_value, vals, fix);
    if (rc < 0)
        return rc;
    if ((f->flags & IM_FF_PCIMM) && ops[2].reg == 15 && ops[f->nops - 1].imm > 0x7fffffff)
        return im_fail(IM_ERR_NO_ENCODING, "%s: with pc as the base, the immediate must be below 2^31",
                       f->id);
    if ((f->flags & IM_FF_PCALIGN) && ops[1].reg == 15) {
        const im_operand *last = &ops[f->nops - 1];
        bool pc_base = f->kinds[2] == RK_lit12 || ops[2].reg == 15;
        int64_t off = f->kinds[2] == RK_lit12 ? last->imm - 8 : last->imm;
        if (pc_base && last->type != IM_OP_LABEL && (off & 3))
            return im_fail(IM_ERR_ALIGN, "%s: with pc as data register and base, the offset must be a multiple of 4",
                           f->id);
    }
    im_put32(out, im_arm_place(f, vals));
    *len = 4;
    return 0;
}

static size_t a32_samples(im_target t, unsigned kind, im_rng *rng, im_operand *out, size_t max)
{
    (void)t;
    size_t k = 0;
    switch (kind) {
    case RK_cond:
        for (unsigned c = 0; c < 15 && k < max; c++)
            out[k++] = im_cond(c);
        return k;
    case RK_r:
    case RK_rlist1_push:
        for (unsigned r = 0; r < 16 && k < max; r++)
            if (kind != RK_rlist1_push || r != 13)
                out[k++] = im_reg(r);
        return k;
    case RK_modimm:
        /* every one of the 4096 imm8/rotation encodings */
        for (uint32_t rot = 0; rot < 16; rot++)
            for (uint32_t imm = 0; imm < 256 && k < max; imm++) {
                uint32_t v = rot ? (imm >> (2 * rot)) | (imm << (32 - 2 * rot)) : imm;
                out[k++] = im_imm(v);
            }
        return k;
    case RK_soff12: {
        static const int64_t e[] = {0, 1, -1, 4, -4, 4095, -4095, 2048, -2048};
        for (size_t i = 0; i < sizeof e / sizeof e[0] && k < max; i++)
            out[k++] = im_imm(e[i]);
        for (int i = 0; i < 12 && k < max; i++)
            out[k++] = im_imm((int64_t)(im_rng_next(rng) % 8191) - 4095);
        return k;
    }
    case RK_rel24:
    case RK_lit12: {
        int64_t lo = kind == RK_rel24 ? -(1ll << 25) + 8 : -4095 + 8;
        int64_t hi = kind == RK_rel24 ? (1ll << 25) - 4 + 8 : 4095 + 8;
        int64_t e[] = {lo, hi, 0, 8, 4, -4, 12};
        for (size_t i = 0; i < sizeof e / sizeof e[0] && k < max; i++)
            out[k++] = (im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, e[i]};
        for (int i = 0; i < 16 && k < max; i++) {
            int64_t v = lo + (int64_t)(im_rng_next(rng) % (uint64_t)(hi - lo));
            if (kind == RK_rel24)
                v &= ~(int64_t)3;
            out[k++] = (im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, v};
        }
        return k;
    }
    case RK_rlist_push:
    case RK_rlist_pop: {
        uint32_t allowed = kind == RK_rlist_push ? 0x5fff : 0xdfff;
        uint32_t e[] = {0x4010, 0x0003, 0x1fff, allowed, 0x8010 & allowed, 0x4ff0, 0x2000};
        for (size_t i = 0; i < sizeof e / sizeof e[0] && k < max; i++)
            if (__builtin_popcount(e[i] & allowed) >= 2 || (e[i] == 0x2000 && kind == RK_rlist_push))
                out[k++] = (im_operand){IM_OP_LIST, 0, IM_NOREG, IM_NOREG, 0, -1, e[i]};
        for (int i = 0; i < 24 && k < max; i++) {
            uint32_t m = (uint32_t)im_rng_next(rng) & allowed;
            if (__builtin_popcount(m) >= 2)
                out[k++] = (im_operand){IM_OP_LIST, 0, IM_NOREG, IM_NOREG, 0, -1, m};
        }
        return k;
    }
    default: return 0;
    }
}

static bool a32_form_ok(im_target t, const im_form *f)
{
    (void)f;
    return t == IM_TARGET_ARM;
}

const im_arch im_arch_a32 = {
    .name = "arm",
    .forms = im_a32_forms,
    .nforms = sizeof im_a32_forms / sizeof im_a32_forms[0],
    .mnems = im_a32_mnems,
    .nmnems = sizeof im_a32_mnems / sizeof im_a32_mnems[0],
    .mnem_forms = im_a32_mnem_forms,
    .kinds = a32_kinds,
    .nkinds = RK_COUNT,
    .comment = "@",
    .parse = a32_parse,
    .print = a32_print,
    .encode = a32_encode,
    .samples = a32_samples,
    .form_ok = a32_form_ok,
};
