/* AArch64: the operand kinds of encoders/a64/kinds.def. Each kind parses, prints, checks and
 * turns an operand into its field value; the row's slices place the fields (im_arm_place). */
#include <string.h>
#include <strings.h>

#include "core.h"
#include "form.h"

enum {
#define KIND(n, c, b) AK_##n,
#include "kinds.def"
#undef KIND
    AK_COUNT
};

static const im_kind a64_kinds[] = {
#define KIND(n, c, b) {#n, IM_KC_##c, b},
#include "kinds.def"
#undef KIND
};

#define K(n) AK_##n
#include "a64_tbl.h"
#undef K

static const char *const shift_names[4] = {"lsl", "lsr", "asr", "ror"};

/* w0..w30 plus wzr/wsp (31) for the w/wsp kinds; likewise x. */
static int parse_greg(const char **p, char prefix, bool sp)
{
    const char *s = *p;
    if (sp) {
        if (prefix == 'x' ? im_match_word(&s, "sp") : im_match_word(&s, "wsp")) {
            *p = s;
            return 31;
        }
    } else if (prefix == 'x' ? im_match_word(&s, "xzr") : im_match_word(&s, "wzr")) {
        *p = s;
        return 31;
    }
    if (prefix == 'x') {
        if (im_match_word(&s, "lr")) {
            *p = s;
            return 30;
        }
        if (im_match_word(&s, "fp")) {
            *p = s;
            return 29;
        }
    }
    if ((*s | 0x20) != prefix)
        return -1;
    s++;
    uint64_t n;
    const char *q = s;
    if (im_parse_number(&q, &n) < 0 || n > 30 || (q - s > 1 && *s == '0'))
        return -1;
    *p = q;
    return (int)n;
}

static int parse_imm_value(const char **p, im_operand *op)
{
    im_skip_ws(p);
    const char *s = *p;
    if (*s == '#')
        s++;
    int rc = im_parse_expr(&s, op, NULL);
    if (rc < 0)
        return rc;
    *p = s;
    return 0;
}

static int a64_parse(im_target t, unsigned kind, const char **p, im_operand *op,
                     const im_parse_ctx *ctx)
{
    (void)t;
    int r;
    switch (kind) {
    case AK_w:
    case AK_wsp:
    case AK_x:
    case AK_xsp:
        r = parse_greg(p, (kind == AK_w || kind == AK_wsp) ? 'w' : 'x',
                       kind == AK_wsp || kind == AK_xsp);
        if (r < 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected a%s register",
                           (kind == AK_w || kind == AK_wsp) ? " w" : "n x");
        *op = im_reg((unsigned)r);
        return 0;
    case AK_shift:
        for (unsigned i = 0; i < 4; i++)
            if (im_match_word(p, shift_names[i])) {
                *op = im_imm(i);
                return 0;
            }
        return im_fail(IM_ERR_NO_ENCODING, "expected a shift");
    case AK_rel26:
    case AK_rel19: {
        const char *q = *p;
        if (parse_greg(&q, 'w', false) >= 0 || parse_greg(&q, 'x', false) >= 0 ||
            parse_greg(&q, 'w', true) >= 0 || parse_greg(&q, 'x', true) >= 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected a target, not a register");
        return im_parse_target(p, op, ctx);
    }
    default: {
        int rc = parse_imm_value(p, op);
        if (rc < 0)
            return rc;
        if (op->type != IM_OP_IMM)
            return im_fail(IM_ERR_NO_ENCODING, "expected a number");
        return 0;
    }
    }
}

static void a64_print(im_target t, unsigned kind, const im_operand *op, char *buf, size_t n)
{
    (void)t;
    switch (kind) {
    case AK_w: im_appendf(buf, n, op->reg == 31 ? "wzr" : "w%u", op->reg); return;
    case AK_wsp: im_appendf(buf, n, op->reg == 31 ? "wsp" : "w%u", op->reg); return;
    case AK_x: im_appendf(buf, n, op->reg == 31 ? "xzr" : "x%u", op->reg); return;
    case AK_xsp: im_appendf(buf, n, op->reg == 31 ? "sp" : "x%u", op->reg); return;
    case AK_shift: im_appendf(buf, n, "%s", shift_names[op->imm & 3]); return;
    case AK_rel26:
    case AK_rel19: im_print_target(op, false, buf, n); return;
    case AK_u16:
    case AK_movz32:
    case AK_movz64:
    case AK_u12:
    case AK_u12lsl12: im_print_hex(buf, n, op->imm); return;
    default: im_appendf(buf, n, "%lld", (long long)op->imm); return;
    }
}

static int range(const im_form *f, unsigned i, int64_t v, int64_t lo, int64_t hi)
{
    if (v < lo || v > hi)
        return im_fail(IM_ERR_RANGE, "%s: operand %u value %lld out of range [%lld, %lld]", f->id,
                       i + 1, (long long)v, (long long)lo, (long long)hi);
    return 0;
}

static int aligned(const im_form *f, unsigned i, int64_t v, int64_t scale)
{
    if (v % scale)
        return im_fail(IM_ERR_ALIGN, "%s: operand %u value %lld is not a multiple of %lld", f->id,
                       i + 1, (long long)v, (long long)scale);
    return 0;
}

/* A value one movz makes: imm16 << (16 * hw); returns hw:imm16 or -1. */
static int64_t movz_field(uint64_t v, unsigned nhw)
{
    for (unsigned hw = 0; hw < nhw; hw++)
        if ((v & ~(0xffffull << (16 * hw))) == 0)
            return (int64_t)(hw << 16 | ((v >> (16 * hw)) & 0xffff));
    return -1;
}

static int field_value(const im_form *f, unsigned i, const im_operand *o, uint32_t *out)
{
    unsigned kind = f->kinds[i];
    int64_t v = o->imm;
    int rc = 0;
    switch (kind) {
    case AK_w:
    case AK_x:
    case AK_wsp:
    case AK_xsp:
        if (o->type != IM_OP_REG || o->reg > 31)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a register", f->id, i + 1);
        *out = o->reg;
        return 0;
    case AK_rel26:
    case AK_rel19: {
        if (o->type == IM_OP_LABEL) { /* unresolved: the buffer patches it later */
            *out = 0;
            return 0;
        }
        if (o->type != IM_OP_REL)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a target", f->id, i + 1);
        int64_t lim = kind == AK_rel26 ? (1ll << 27) : (1ll << 20);
        if ((rc = aligned(f, i, v, 4)) < 0 || (rc = range(f, i, v, -lim, lim - 4)) < 0)
            return rc;
        *out = (uint32_t)((uint64_t)v >> 2);
        return 0;
    }
    default: break;
    }
    if (o->type != IM_OP_IMM)
        return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be an immediate", f->id, i + 1);
    switch (kind) {
    case AK_u16: rc = range(f, i, v, 0, 0xffff); *out = (uint32_t)v; break;
    case AK_hw32:
    case AK_hw64:
        if ((rc = range(f, i, v, 0, kind == AK_hw32 ? 16 : 48)) < 0 || (rc = aligned(f, i, v, 16)) < 0)
            return rc;
        *out = (uint32_t)(v / 16);
        break;
    case AK_movz32:
    case AK_movz64: {
        if (kind == AK_movz32 && (rc = range(f, i, v, 0, 0xffffffffll)) < 0)
            return rc;
        int64_t fv = movz_field((uint64_t)v, kind == AK_movz32 ? 2 : 4);
        if (fv < 0)
            return im_fail(IM_ERR_NO_ENCODING, "%s: 0x%llx is not a 16-bit value shifted by a multiple of 16",
                           f->id, (unsigned long long)v);
        *out = (uint32_t)fv;
        break;
    }
    case AK_u12: rc = range(f, i, v, 0, 4095); *out = (uint32_t)v; break;
    case AK_u12lsl12:
        if ((rc = aligned(f, i, v, 4096)) < 0 || (rc = range(f, i, v, 4096, 4095ll << 12)) < 0)
            return rc;
        *out = (uint32_t)(v >> 12);
        break;
    case AK_shift: rc = range(f, i, v, 0, 2); *out = (uint32_t)v; break;
    case AK_u5: rc = range(f, i, v, 0, 31); *out = (uint32_t)v; break;
    case AK_u6: rc = range(f, i, v, 0, 63); *out = (uint32_t)v; break;
    case AK_u12s4:
    case AK_u12s8: {
        int64_t sc = kind == AK_u12s4 ? 4 : 8;
        if ((rc = aligned(f, i, v, sc)) < 0 || (rc = range(f, i, v, 0, 4095 * sc)) < 0)
            return rc;
        *out = (uint32_t)(v / sc);
        break;
    }
    case AK_s7s4:
    case AK_s7s8: {
        int64_t sc = kind == AK_s7s4 ? 4 : 8;
        if ((rc = aligned(f, i, v, sc)) < 0 || (rc = range(f, i, v, -64 * sc, 63 * sc)) < 0)
            return rc;
        *out = (uint32_t)((uint64_t)(v / sc) & 0x7f);
        break;
    }
    default: return im_fail(IM_ERR_INVAL, "%s: unknown kind %u", f->id, kind);
    }
    return rc;
}

static int a64_encode(im_target t, const im_form *f, const im_operand *ops, uint8_t *out,
                      size_t *len, im_fixup *fix)
{
    (void)t;
    uint32_t vals[IM_MAX_OPS];
    int rc = im_arm_fields(a64_kinds, f, ops, field_value, vals, fix);
    if (rc < 0)
        return rc;
    if ((f->flags & IM_FF_WB) && ops[2].reg != 31 && (ops[2].reg == ops[0].reg || ops[2].reg == ops[1].reg))
        return im_fail(IM_ERR_NO_ENCODING, "%s: writeback to a base that is also transferred is UNPREDICTABLE",
                       f->id);
    if ((f->flags & IM_FF_LDPAIR) && ops[0].reg == ops[1].reg)
        return im_fail(IM_ERR_NO_ENCODING, "%s: loading one register twice is UNPREDICTABLE", f->id);
    im_put32(out, im_arm_place(f, vals));
    *len = 4;
    return 0;
}

static size_t a64_samples(im_target t, unsigned kind, im_rng *rng, im_operand *out, size_t max)
{
    (void)t;
    size_t k = 0;
#define ADD(v)                                                                                     \
    do {                                                                                           \
        if (k < max)                                                                               \
            out[k++] = im_imm(v);                                                                  \
    } while (0)
#define ADDREL(v)                                                                                  \
    do {                                                                                           \
        if (k < max)                                                                               \
            out[k++] = (im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, (v)};                 \
    } while (0)
    switch (kind) {
    case AK_w:
    case AK_x:
    case AK_wsp:
    case AK_xsp:
        for (unsigned r = 0; r < 32 && k < max; r++)
            out[k++] = im_reg(r);
        return k;
    case AK_u16:
        ADD(0); ADD(1); ADD(0x7fff); ADD(0x8000); ADD(0xffff);
        for (int i = 0; i < 16; i++)
            ADD((int64_t)(im_rng_next(rng) & 0xffff));
        return k;
    case AK_hw32: ADD(0); ADD(16); return k;
    case AK_hw64: ADD(0); ADD(16); ADD(32); ADD(48); return k;
    case AK_movz32:
    case AK_movz64: {
        unsigned nhw = kind == AK_movz32 ? 2 : 4;
        for (unsigned hw = 0; hw < nhw; hw++) {
            static const uint64_t e[] = {1, 0x7fff, 0x8000, 0xffff};
            for (unsigned j = 0; j < 4; j++)
                ADD((int64_t)(e[j] << (16 * hw)));
            for (int i = 0; i < 6; i++)
                ADD((int64_t)((im_rng_next(rng) & 0xffff) << (16 * hw)));
        }
        ADD(0);
        return k;
    }
    case AK_u12:
        ADD(0); ADD(1); ADD(4095);
        for (int i = 0; i < 12; i++)
            ADD((int64_t)(im_rng_next(rng) % 4096));
        return k;
    case AK_u12lsl12:
        ADD(4096); ADD(4095ll << 12);
        for (int i = 0; i < 12; i++)
            ADD((int64_t)(1 + im_rng_next(rng) % 4095) << 12);
        return k;
    case AK_shift: ADD(0); ADD(1); ADD(2); return k;
    case AK_u5:
        for (int v = 0; v < 32; v++)
            ADD(v);
        return k;
    case AK_u6:
        for (int v = 0; v < 64; v++)
            ADD(v);
        return k;
    case AK_u12s4:
    case AK_u12s8: {
        int64_t sc = kind == AK_u12s4 ? 4 : 8;
        ADD(0); ADD(sc); ADD(4095 * sc); ADD(2048 * sc);
        for (int i = 0; i < 12; i++)
            ADD((int64_t)(im_rng_next(rng) % 4096) * sc);
        return k;
    }
    case AK_s7s4:
    case AK_s7s8: {
        int64_t sc = kind == AK_s7s4 ? 4 : 8;
        ADD(0); ADD(sc); ADD(-sc); ADD(-64 * sc); ADD(63 * sc);
        for (int i = 0; i < 12; i++)
            ADD(((int64_t)(im_rng_next(rng) % 128) - 64) * sc);
        return k;
    }
    case AK_rel26:
    case AK_rel19: {
        int64_t lim = kind == AK_rel26 ? (1ll << 27) : (1ll << 20);
        ADDREL(0); ADDREL(4); ADDREL(-4); ADDREL(lim - 4); ADDREL(-lim);
        for (int i = 0; i < 16; i++)
            ADDREL((int64_t)(im_rng_next(rng) % (uint64_t)(lim / 2)) * 4 - lim);
        return k;
    }
    default: return 0;
    }
#undef ADD
#undef ADDREL
}

static bool a64_form_ok(im_target t, const im_form *f)
{
    (void)f;
    return t == IM_TARGET_AARCH64;
}

const im_arch im_arch_a64 = {
    .name = "aarch64",
    .forms = im_a64_forms,
    .nforms = sizeof im_a64_forms / sizeof im_a64_forms[0],
    .mnems = im_a64_mnems,
    .nmnems = sizeof im_a64_mnems / sizeof im_a64_mnems[0],
    .mnem_forms = im_a64_mnem_forms,
    .kinds = a64_kinds,
    .nkinds = AK_COUNT,
    .comment = "//",
    .parse = a64_parse,
    .print = a64_print,
    .encode = a64_encode,
    .samples = a64_samples,
    .form_ok = a64_form_ok,
};
