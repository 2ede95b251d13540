/* ARM (A32): the shared kinds (kinds_core.def: the condition and the general registers) and
 * the architecture, which hands every other kind to its area (a32.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "a32.h"

static const im_kind a32_kinds[] = {
#define KIND(n, c, b) {#n, IM_KC_##c, b},
#include "kinds.def"
#undef KIND
};

#define K(n) RK_##n
#include "a32_tbl.h"
#undef K

static const a32_area *const areas[] = {&a32_area_dp, &a32_area_mem, &a32_area_sys,
                                        &a32_area_vfp, &a32_area_misc};
#define NAREAS (sizeof areas / sizeof areas[0])

const uint8_t a32_kind_area[RK_COUNT] = {
#define KIND(n, c, b) A32_AREA,
#include "kinds.def"
#undef KIND
};

/* ---- shared helpers ---- */

const char *const a32_reg_names[16] = {"r0", "r1", "r2",  "r3",  "r4",  "r5", "r6", "r7",
                                       "r8", "r9", "r10", "r11", "r12", "sp", "lr", "pc"};

int a32_range_fail(const im_form *f, unsigned i, int64_t v, int64_t lo, int64_t hi)
{
    return im_fail(IM_ERR_RANGE, "%s: operand %u value %lld out of range [%lld, %lld]", f->id,
                   i + 1, (long long)v, (long long)lo, (long long)hi);
}

int a32_parse_reg(const char **p)
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
    if (*q == '_' || ((*q | 0x20) >= 'a' && (*q | 0x20) <= 'z'))
        return -1;
    *p = q;
    return (int)n;
}

bool a32_is_reg_name(const char *p)
{
    const char *q = p;
    if (a32_parse_reg(&q) >= 0)
        return true;
    char c = (char)(*p | 0x20);
    if (c != 's' && c != 'd' && c != 'q')
        return false;
    q = p + 1;
    if (*q < '0' || *q > '9')
        return false;
    while (*q >= '0' && *q <= '9')
        q++;
    return !(*q == '_' || ((*q | 0x20) >= 'a' && (*q | 0x20) <= 'z'));
}

int a32_parse_imm(const char **p, im_operand *op)
{
    im_skip_ws(p);
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

int a32_parse_target(const char **p, im_operand *op, const im_parse_ctx *ctx)
{
    if (a32_is_reg_name(*p))
        return im_fail(IM_ERR_NO_ENCODING, "expected a target, not a register");
    return im_parse_target(p, op, ctx);
}

int a32_parse_list(const char **p, uint32_t *mask)
{
    const char *s = *p;
    if (*s != '{')
        return im_fail(IM_ERR_NO_ENCODING, "expected a register list");
    s++;
    uint32_t m = 0;
    for (;;) {
        im_skip_ws(&s);
        int r = a32_parse_reg(&s);
        if (r < 0)
            return im_fail(IM_ERR_SYNTAX, "expected a register in the list");
        im_skip_ws(&s);
        int hi = r;
        if (*s == '-') {
            s++;
            im_skip_ws(&s);
            hi = a32_parse_reg(&s);
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

void a32_print_list(uint32_t mask, char *buf, size_t n)
{
    im_appendf(buf, n, "{");
    bool first = true;
    for (unsigned i = 0; i < 16; i++)
        if (mask & (1u << i)) {
            im_appendf(buf, n, "%s%s", first ? "" : ", ", a32_reg_names[i]);
            first = false;
        }
    im_appendf(buf, n, "}");
}

void a32_bad(im_bad_sample *out, size_t *k, size_t max, bool lenient, const char *fmt, ...)
{
    if (*k >= max)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out[*k].text, sizeof out[*k].text, fmt, ap);
    va_end(ap);
    out[(*k)++].lenient = lenient;
}

/* ---- the shared kinds ---- */

static int core_parse(unsigned kind, const char **p, im_operand *op)
{
    switch (kind) {
    case RK_r:
    case RK_rnopc:
    case RK_rnopcu: {
        int r = a32_parse_reg(p);
        if (r < 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected a register");
        *op = im_reg((unsigned)r);
        return 0;
    }
    default: return A32_NOT_MINE;
    }
}

static bool core_print(unsigned kind, const im_operand *op, char *buf, size_t n)
{
    switch (kind) {
    case RK_cond:
        if (op->imm != 14)
            im_appendf(buf, n, "%s", im_arm_cond_names[op->imm & 15]);
        return true;
    case RK_r:
    case RK_rnopc:
    case RK_rnopcu: im_appendf(buf, n, "%s", a32_reg_names[op->reg & 15]); return true;
    default: return false;
    }
}

static int core_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out)
{
    switch (f->kinds[i]) {
    case RK_cond:
        if (o->type != IM_OP_COND || o->imm < 0 || o->imm > 14)
            return im_fail(IM_ERR_NO_ENCODING, "%s: bad condition", f->id);
        *out = (uint32_t)o->imm;
        return 0;
    case RK_r:
    case RK_rnopc:
    case RK_rnopcu: /* pc: refused by a32_encode once every field is valid */
        if (o->type != IM_OP_REG || o->reg > 15)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a register", f->id, i + 1);
        if (f->kinds[i] == RK_rnopc && o->reg == 15)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u cannot be pc", f->id, i + 1);
        *out = o->reg;
        return 0;
    default: return A32_NOT_MINE;
    }
}

static size_t core_samples(unsigned kind, im_operand *out, size_t max)
{
    size_t k = 0;
    switch (kind) {
    case RK_cond:
        for (unsigned c = 0; c < 15 && k < max; c++)
            out[k++] = im_cond(c);
        return k;
    case RK_r:
    case RK_rnopc:
    case RK_rnopcu:
        for (unsigned r = 0; r < (kind == RK_r ? 16u : 15u) && k < max; r++)
            out[k++] = im_reg(r);
        return k;
    default: return A32_NONE;
    }
}

static size_t core_bad_samples(unsigned kind, im_bad_sample *out, size_t max)
{
    size_t k = 0;
    switch (kind) {
    case RK_rnopc:
    case RK_rnopcu: /* rnopcu's are lenient: refused as UNPREDICTABLE (a32_encode) */
        a32_bad(out, &k, max, false, "pc");
        a32_bad(out, &k, max, false, "r15");
        return k;
    default: return A32_NONE;
    }
}

/* ---- the architecture ---- */

static int a32_parse(im_target t, unsigned kind, const char **p, im_operand *op,
                     const im_parse_ctx *ctx)
{
    (void)t;
    unsigned area = a32_kind_area[kind];
    int rc = area ? areas[area - 1]->parse(kind, p, op, ctx) : core_parse(kind, p, op);
    if (rc == A32_NOT_MINE)
        return im_fail(IM_ERR_INVAL, "arm: no area parses kind %u", kind);
    return rc;
}

static void a32_print(im_target t, unsigned kind, const im_operand *op, char *buf, size_t n)
{
    (void)t;
    unsigned area = a32_kind_area[kind];
    if (!(area ? areas[area - 1]->print(kind, op, buf, n) : core_print(kind, op, buf, n)))
        im_appendf(buf, n, "%lld", (long long)op->imm);
}

/* Each kind's field function: kinds.def's section number (A32_AREA) names its area. */
#define FIELD_0 core_field
#define FIELD_1 a32_dp_field
#define FIELD_2 a32_mem_field
#define FIELD_3 a32_sys_field
#define FIELD_4 a32_vfp_field
#define FIELD_5 a32_misc_field
#define FIELD_OF_(a) FIELD_##a
#define FIELD_OF(a) FIELD_OF_(a)
static const im_arm_field_fn kind_field[RK_COUNT] = {
#define KIND(n, c, b) FIELD_OF(A32_AREA),
#include "kinds.def"
#undef KIND
};

/* Each kind's field mask: a row that places an operand whole places these bits of it. */
static const uint32_t kind_mask[RK_COUNT] = {
#define KIND(n, c, b) (uint32_t)((1ull << (b)) - 1),
#include "kinds.def"
#undef KIND
};

/* Every operand's field value (a general register inline, any other operand by its kind's
 * field function), placed as it comes when the row places each operand whole
 * (im_form.whole, .pos), else by the row's slices at the end; an area's check only for rows
 * with a flag it looks at. */
static int a32_encode(im_target t, const im_form *f, const im_operand *ops, uint8_t *out,
                      size_t *len, im_fixup *fix)
{
    (void)t;
    uint32_t vals[IM_MAX_OPS];
    uint32_t w = f->bits;
    fix->op = f->rel;
    fix->offset = 0;
    fix->size = 4;
    fix->reloc = IM_RELOC_NONE;
    for (unsigned i = 0; i < f->nops; i++) {
        unsigned k = f->kinds[i];
        const im_operand *o = &ops[i];
        if (k == RK_r && o->type == IM_OP_REG && o->reg <= 15) {
            vals[i] = o->reg;
        } else if (o->type == IM_OP_SYM && k == RK_imm16) {
            /* movw/movt of an address (#:lower16:sym, #:upper16:sym): the relocation fills
             * the field. reg says which half the text named: 0 none (the instruction
             * decides), 1 lower16, 2 upper16. */
            bool movt = !strcmp(f->mnem, "movt");
            if (strcmp(f->mnem, "movw") && !movt)
                return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u cannot hold an address", f->id,
                               i + 1);
            if (o->reg == (movt ? 1 : 2))
                return im_fail(
                    IM_ERR_NO_ENCODING, "%s: %s takes the %s half of an address (#:%s16:)", f->id,
                    movt ? "movt" : "movw", movt ? "upper" : "lower", movt ? "upper" : "lower");
            fix->op = (int8_t)i;
            fix->reloc = movt ? IM_RELOC_ARM_MOVT_ABS : IM_RELOC_ARM_MOVW_ABS_NC;
            vals[i] = 0;
        } else {
            int rc = kind_field[k](f, i, o, &vals[i]);
            if (rc < 0)
                return rc;
            if (rc == A32_NOT_MINE)
                return im_fail(IM_ERR_INVAL, "%s: unknown kind %u", f->id, k);
        }
        w |= (vals[i] & kind_mask[k]) << f->pos[i];
    }
    if (f->flags & A32_FF_CHECKED) {
        for (size_t a = 0; a < NAREAS; a++) {
            int rc;
            if ((f->flags & areas[a]->check_flags) && (rc = areas[a]->check(f, ops, vals)) < 0)
                return rc;
        }
    }
    for (unsigned i = 0; i < f->nops; i++)
        if (f->kinds[i] == RK_rnopcu && vals[i] == 15)
            return im_fail(IM_ERR_UNPREDICTABLE, "%s: operand %u cannot be pc (UNPREDICTABLE)",
                           f->id, i + 1);
    if (!f->whole)
        w = im_arm_place(f, vals);
    im_put32(out, w);
    *len = 4;
    return 0;
}

int a32_check_areas(char *msg, size_t n)
{
    return im_arm_check_areas(areas, NAREAS, A32_FF_CHECKED, msg, n);
}

static size_t a32_samples(im_target t, unsigned kind, im_rng *rng, im_operand *out, size_t max)
{
    (void)t;
    unsigned area = a32_kind_area[kind];
    size_t k = area ? areas[area - 1]->samples(kind, rng, out, max) : core_samples(kind, out, max);
    return k == A32_NONE ? 0 : k;
}

static size_t a32_bad_samples(im_target t, unsigned kind, im_rng *rng, im_bad_sample *out,
                              size_t max)
{
    (void)t;
    unsigned area = a32_kind_area[kind];
    size_t k = !area ? core_bad_samples(kind, out, max)
               : areas[area - 1]->bad_samples ? areas[area - 1]->bad_samples(kind, rng, out, max)
                                              : A32_NONE;
    return k == A32_NONE ? 0 : k;
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
    .bad_samples = a32_bad_samples,
    .imm_text = "#0",
};
