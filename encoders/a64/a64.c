/* AArch64: the shared kinds (kinds_core.def: general, SIMD&FP and vector registers,
 * conditions) and the architecture, which hands every other kind to its area (a64.h). */
#include <string.h>
#include <strings.h>

#include "a64.h"

static const im_kind a64_kinds[] = {
#define KIND(n, c, b) {#n, IM_KC_##c, b},
#include "kinds.def"
#undef KIND
};

#define K(n) AK_##n
#include "a64_tbl.h"
#undef K

static const a64_area *const areas[] = {&a64_area_int, &a64_area_mem, &a64_area_fp,
                                        &a64_area_simd};

const uint8_t a64_kind_area[AK_COUNT] = {
#define KIND(n, c, b) A64_AREA,
#include "kinds.def"
#undef KIND
};
#define NAREAS (sizeof areas / sizeof areas[0])

/* ---- shared helpers ---- */

int a64_range_fail(const im_form *f, unsigned i, int64_t v, int64_t lo, int64_t hi)
{
    return im_fail(IM_ERR_RANGE, "%s: operand %u value %lld out of range [%lld, %lld]", f->id,
                   i + 1, (long long)v, (long long)lo, (long long)hi);
}

int a64_aligned_fail(const im_form *f, unsigned i, int64_t v, int64_t scale)
{
    return im_fail(IM_ERR_ALIGN, "%s: operand %u value %lld is not a multiple of %lld", f->id,
                   i + 1, (long long)v, (long long)scale);
}

int a64_parse_greg(const char **p, char prefix, bool sp)
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

/* b0..b31 and the like (prefix one of bhsdqv); -1 if none. For 'v' the arrangement that
 * follows is the caller's. */
static int parse_vreg(const char **p, char prefix)
{
    const char *s = *p;
    if ((*s | 0x20) != prefix)
        return -1;
    s++;
    /* digits by hand: im_parse_number refuses the '.' of v0.8b as part of a number */
    uint64_t n = 0;
    const char *q = s;
    while (*q >= '0' && *q <= '9' && q - s < 3)
        n = n * 10 + (uint64_t)(*q++ - '0');
    if (q == s || n > 31 || (q - s > 1 && *s == '0') || (*q >= '0' && *q <= '9'))
        return -1;
    if (prefix != 'v' && (*q == '_' || ((*q | 0x20) >= 'a' && (*q | 0x20) <= 'z')))
        return -1;
    *p = q;
    return (int)n;
}

bool a64_is_reg_name(const char *p)
{
    const char *q = p;
    for (int sp = 0; sp < 2; sp++)
        if (a64_parse_greg(&q, 'w', sp) >= 0 || a64_parse_greg(&q, 'x', sp) >= 0)
            return true;
    for (const char *c = "bhsdqv"; *c; c++) {
        q = p;
        if (parse_vreg(&q, *c) >= 0)
            return true;
    }
    return false;
}

int a64_parse_cond(const char **p)
{
    for (int i = 0; i < 16; i++)
        if (im_match_word(p, im_arm_cond_names[i]))
            return i;
    if (im_match_word(p, "hs"))
        return 2;
    if (im_match_word(p, "lo"))
        return 3;
    return -1;
}

int a64_parse_imm(const char **p, im_operand *op)
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

int a64_parse_target(const char **p, im_operand *op, const im_parse_ctx *ctx)
{
    if (a64_is_reg_name(*p))
        return im_fail(IM_ERR_NO_ENCODING, "expected a target, not a register");
    return im_parse_target(p, op, ctx);
}

/* ---- the shared kinds ---- */

static const char *const varr[] = {"8b", "16b", "4h", "8h", "2s", "4s", "1d", "2d"};
static const char fpreg_prefix[] = "bhsdq";

static int core_parse(unsigned kind, const char **p, im_operand *op)
{
    int r;
    switch (kind) {
    case AK_w:
    case AK_wsp:
    case AK_x:
    case AK_xsp:
        r = a64_parse_greg(p, (kind == AK_w || kind == AK_wsp) ? 'w' : 'x',
                           kind == AK_wsp || kind == AK_xsp);
        if (r < 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected a%s register",
                           (kind == AK_w || kind == AK_wsp) ? " w" : "n x");
        *op = im_reg((unsigned)r);
        return 0;
    case AK_b:
    case AK_h:
    case AK_s:
    case AK_d:
    case AK_q: {
        char c = fpreg_prefix[kind - AK_b];
        r = parse_vreg(p, c);
        if (r < 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected a %c register", c);
        *op = im_reg((unsigned)r);
        return 0;
    }
    case AK_v8b:
    case AK_v16b:
    case AK_v4h:
    case AK_v8h:
    case AK_v2s:
    case AK_v4s:
    case AK_v1d:
    case AK_v2d: {
        const char *s = *p, *arr = varr[kind - AK_v8b];
        size_t an = strlen(arr);
        r = parse_vreg(&s, 'v');
        if (r < 0 || *s != '.' || strncasecmp(s + 1, arr, an) ||
            ((s[1 + an] | 0x20) >= 'a' && (s[1 + an] | 0x20) <= 'z') ||
            (s[1 + an] >= '0' && s[1 + an] <= '9'))
            return im_fail(IM_ERR_NO_ENCODING, "expected a vector register v0.%s..v31.%s", arr,
                           arr);
        *p = s + 1 + an;
        *op = im_reg((unsigned)r);
        return 0;
    }
    case AK_cond:
    case AK_bcond:
        if ((r = a64_parse_cond(p)) < 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected a condition");
        *op = kind == AK_cond ? im_imm(r) : im_cond((unsigned)r);
        return 0;
    default: return A64_NOT_MINE;
    }
}

static bool core_print(unsigned kind, const im_operand *op, char *buf, size_t n)
{
    switch (kind) {
    case AK_w: im_appendf(buf, n, op->reg == 31 ? "wzr" : "w%u", op->reg); return true;
    case AK_wsp: im_appendf(buf, n, op->reg == 31 ? "wsp" : "w%u", op->reg); return true;
    case AK_x: im_appendf(buf, n, op->reg == 31 ? "xzr" : "x%u", op->reg); return true;
    case AK_xsp: im_appendf(buf, n, op->reg == 31 ? "sp" : "x%u", op->reg); return true;
    case AK_b:
    case AK_h:
    case AK_s:
    case AK_d:
    case AK_q: im_appendf(buf, n, "%c%u", fpreg_prefix[kind - AK_b], op->reg); return true;
    case AK_v8b:
    case AK_v16b:
    case AK_v4h:
    case AK_v8h:
    case AK_v2s:
    case AK_v4s:
    case AK_v1d:
    case AK_v2d: im_appendf(buf, n, "v%u.%s", op->reg, varr[kind - AK_v8b]); return true;
    case AK_cond:
    case AK_bcond: im_appendf(buf, n, "%s", im_arm_cond_names[op->imm & 15]); return true;
    default: return false;
    }
}

static int core_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out)
{
    unsigned kind = f->kinds[i];
    switch (kind) {
    case AK_w:
    case AK_x:
    case AK_wsp:
    case AK_xsp:
    case AK_b:
    case AK_h:
    case AK_s:
    case AK_d:
    case AK_q:
    case AK_v8b:
    case AK_v16b:
    case AK_v4h:
    case AK_v8h:
    case AK_v2s:
    case AK_v4s:
    case AK_v1d:
    case AK_v2d:
        if (o->type != IM_OP_REG || o->reg > 31)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a register", f->id, i + 1);
        *out = o->reg;
        return 0;
    case AK_cond:
        if (o->type != IM_OP_IMM || o->imm < 0 || o->imm > 15)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a condition", f->id, i + 1);
        *out = (uint32_t)o->imm;
        return 0;
    case AK_bcond:
        if (o->type != IM_OP_COND || o->imm < 0 || o->imm > 15)
            return im_fail(IM_ERR_NO_ENCODING, "%s: bad condition", f->id);
        *out = (uint32_t)o->imm;
        return 0;
    default: return A64_NOT_MINE;
    }
}

static size_t core_samples(unsigned kind, im_operand *out, size_t max)
{
    size_t k = 0;
    switch (kind) {
    case AK_cond:
    case AK_bcond:
        for (unsigned c = 0; c < 16 && k < max; c++)
            out[k++] = kind == AK_cond ? im_imm(c) : im_cond(c);
        return k;
    default:
        if (kind > AK_v2d)
            return A64_NONE;
        for (unsigned r = 0; r < 32 && k < max; r++)
            out[k++] = im_reg(r);
        return k;
    }
}

/* ---- the architecture ---- */

static int a64_parse(im_target t, unsigned kind, const char **p, im_operand *op,
                     const im_parse_ctx *ctx)
{
    (void)t;
    unsigned area = a64_kind_area[kind];
    int rc = area ? areas[area - 1]->parse(kind, p, op, ctx) : core_parse(kind, p, op);
    if (rc == A64_NOT_MINE)
        return im_fail(IM_ERR_INVAL, "aarch64: no area parses kind %u", kind);
    return rc;
}

static void a64_print(im_target t, unsigned kind, const im_operand *op, char *buf, size_t n)
{
    (void)t;
    unsigned area = a64_kind_area[kind];
    if (!(area ? areas[area - 1]->print(kind, op, buf, n) : core_print(kind, op, buf, n)))
        im_appendf(buf, n, "%lld", (long long)op->imm);
}

/* Each kind's field function: kinds.def's section number (A64_AREA) names its area. */
#define FIELD_0 core_field
#define FIELD_1 a64_int_field
#define FIELD_2 a64_mem_field
#define FIELD_3 a64_fp_field
#define FIELD_4 a64_simd_field
#define FIELD_OF_(a) FIELD_##a
#define FIELD_OF(a) FIELD_OF_(a)
static const im_arm_field_fn kind_field[AK_COUNT] = {
#define KIND(n, c, b) FIELD_OF(A64_AREA),
#include "kinds.def"
#undef KIND
};

/* Each kind's field mask: a row that places an operand whole places these bits of it. */
static const uint32_t kind_mask[AK_COUNT] = {
#define KIND(n, c, b) (uint32_t)((1ull << (b)) - 1),
#include "kinds.def"
#undef KIND
};

/* The kinds whose field value is a range check and a shift (A64_IMM, A64_IMMX in
 * kinds.def) or one of two values (A64_PAIR). */
typedef struct imm_range {
    uint8_t type, shift, pair, x; /* type 0: none; pair: lo -> 0, hi -> 1; x: xor */
    int64_t lo, hi;
} imm_range;
static const imm_range imm_ranges[AK_COUNT] = {
#define KIND(n, c, b)
#define A64_IMM(n, type, lo, hi, shift) [AK_##n] = {IM_OP_##type, shift, 0, 0, lo, hi},
#define A64_IMMX(n, type, lo, hi, shift, x) [AK_##n] = {IM_OP_##type, shift, 0, x, lo, hi},
#define A64_PAIR(n, type, v0, v1) [AK_##n] = {IM_OP_##type, 0, 1, 0, v0, v1},
#include "kinds.def"
#undef A64_PAIR
#undef A64_IMMX
#undef A64_IMM
#undef KIND
};

/* The inline field value of an operand of type r->type with value v, when v is one the
 * kind's line covers (false: the field function decides, errors included). */
static inline bool imm_fast(const imm_range *r, int64_t v, unsigned k, uint32_t *out)
{
    if (r->pair) {
        if (v != r->lo && v != r->hi)
            return false;
        *out = v == r->hi;
        return true;
    }
    if (v < r->lo || v > r->hi || (v & ((1 << r->shift) - 1)))
        return false;
    *out = ((uint32_t)((uint64_t)v >> r->shift) ^ r->x) & kind_mask[k];
    return true;
}

/* An address's low 12 bits in an immediate field (GNU as's #:lo12:sym): the relocation
 * kind of the field, ADD_ABS_LO12_NC for add's u12, LDSTn_ABS_LO12_NC for an unsigned
 * offset scaled by n/8 bytes; other fields take no address. */
static int lo12_reloc(const im_form *f, unsigned i, unsigned k, im_fixup *fix)
{
    uint8_t r;
    switch (k) {
    case AK_u12:
        r = strcmp(f->mnem, "add") ? IM_RELOC_NONE : IM_RELOC_AARCH64_ADD_ABS_LO12_NC;
        break;
    case AK_u12s1: r = IM_RELOC_AARCH64_LDST8_ABS_LO12_NC; break;
    case AK_u12s2: r = IM_RELOC_AARCH64_LDST16_ABS_LO12_NC; break;
    case AK_u12s4: r = IM_RELOC_AARCH64_LDST32_ABS_LO12_NC; break;
    case AK_u12s8: r = IM_RELOC_AARCH64_LDST64_ABS_LO12_NC; break;
    case AK_u12s16: r = IM_RELOC_AARCH64_LDST128_ABS_LO12_NC; break;
    default: r = IM_RELOC_NONE; break;
    }
    if (r == IM_RELOC_NONE)
        return im_fail(IM_ERR_NO_ENCODING,
                       "%s: operand %u cannot hold an address (only add's and an unsigned "
                       "load/store offset's #:lo12:)",
                       f->id, i + 1);
    fix->op = (int8_t)i;
    fix->offset = 0;
    fix->size = 4;
    fix->reloc = r;
    return 0;
}

/* The encoder's hot path: every operand's field value (a register of the shared kinds and
 * a plain immediate in range inline, any other operand by its kind's field function),
 * placed as it comes when the row places each operand whole (im_form.whole, .pos), else by
 * the row's slices at the end; an area's check only for rows with a flag it looks at. */
static int a64_encode(im_target t, const im_form *f, const im_operand *ops, uint8_t *out,
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
        if (k <= AK_v2d) { /* the shared register kinds */
            if (o->type != IM_OP_REG || o->reg > 31)
                return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a register", f->id,
                               i + 1);
            vals[i] = o->reg;
        } else if (imm_ranges[k].type && o->type == imm_ranges[k].type &&
                   imm_fast(&imm_ranges[k], o->imm, k, &vals[i])) {
            /* a plain immediate in range (A64_IMM, A64_IMMX, A64_PAIR), without the call */
        } else if (o->type == IM_OP_SYM) {
            /* #:lo12:sym of add and of the unsigned-offset loads and stores: the relocation
             * of the access size (the buffer writes it; the field starts at 0) */
            int rc = lo12_reloc(f, i, k, fix);
            if (rc < 0)
                return rc;
            vals[i] = 0;
        } else {
            int rc = kind_field[k](f, i, o, &vals[i]);
            if (rc < 0)
                return rc;
            if (rc == A64_NOT_MINE)
                return im_fail(IM_ERR_INVAL, "%s: unknown kind %u", f->id, k);
        }
        w |= (vals[i] & kind_mask[k]) << f->pos[i];
    }
    if (f->flags & A64_FF_CHECKED) {
        for (size_t a = 0; a < NAREAS; a++) {
            int rc;
            if ((f->flags & areas[a]->check_flags) && (rc = areas[a]->check(f, ops, vals)) < 0)
                return rc;
        }
    }
    if (!f->whole)
        w = im_arm_place(f, vals);
    im_put32(out, w);
    *len = 4;
    return 0;
}

/* The areas' checks run only for the rows with their check_flags, and only when the row
 * has a flag of A64_FF_CHECKED: every area with a check must name its flags, and together
 * they must be A64_FF_CHECKED. Returns the number of faults (the first described in msg);
 * tests/test_enc.c runs it. */
int a64_check_areas(char *msg, size_t n)
{
    return im_arm_check_areas(areas, NAREAS, A64_FF_CHECKED, msg, n);
}

/* The A64_IMM, A64_IMMX and A64_PAIR lines restate what their kinds' field functions do;
 * this checks that they agree: for every such kind, in the first row that has it, values
 * at and around the edges and the shift's multiples, each taken by the fast path only where
 * the field function gives the same field value. Returns the number of disagreements (one
 * line each into msg, the first kept). tests/test_enc.c runs it. */
int a64_check_imm_ranges(char *msg, size_t n)
{
    int bad = 0;
    if (n)
        msg[0] = '\0';
    for (unsigned k = 0; k < AK_COUNT; k++) {
        const imm_range *r = &imm_ranges[k];
        if (!r->type)
            continue;
        const im_form *f = NULL;
        unsigned at = 0;
        for (size_t fi = 0; fi < sizeof im_a64_forms / sizeof im_a64_forms[0] && !f; fi++)
            for (unsigned i = 0; i < im_a64_forms[fi].nops; i++)
                if (im_a64_forms[fi].kinds[i] == k) {
                    f = &im_a64_forms[fi];
                    at = i;
                    break;
                }
        if (!f)
            continue;
        int64_t step = (int64_t)1 << r->shift;
        const int64_t vals[] = {r->lo, r->lo + step, r->hi, r->hi - step, 0, step, -step,
                                r->lo - step, r->hi + step, r->lo + 1, r->hi - 1,
                                (r->lo + r->hi) / 2};
        for (size_t j = 0; j < sizeof vals / sizeof vals[0]; j++) {
            im_operand ops[IM_MAX_OPS] = {{0}};
            ops[at] = im_imm(vals[j]);
            ops[at].type = r->type;
            int64_t v = vals[j];
            uint32_t fast = 0;
            if (!imm_fast(r, v, k, &fast))
                continue; /* not the fast path's: the field function alone decides */
            uint32_t got = 0;
            int rc = kind_field[k](f, at, &ops[at], &got);
            if (rc != 0 || (got & kind_mask[k]) != fast) {
                if (!bad++ && n)
                    im_appendf(msg, n, "kind %s (row %s) value %lld: field function %s 0x%x, "
                               "A64_IMM 0x%x", a64_kinds[k].name, f->id, (long long)v,
                               rc ? "refuses it," : "gives", got, fast);
            }
        }
    }
    return bad;
}

static size_t a64_samples(im_target t, unsigned kind, im_rng *rng, im_operand *out, size_t max)
{
    (void)t;
    unsigned area = a64_kind_area[kind];
    size_t k = area ? areas[area - 1]->samples(kind, rng, out, max) : core_samples(kind, out, max);
    return k == A64_NONE ? 0 : k;
}

static size_t a64_bad_samples(im_target t, unsigned kind, im_rng *rng, im_bad_sample *out,
                              size_t max)
{
    (void)t;
    unsigned area = a64_kind_area[kind];
    size_t k = area && areas[area - 1]->bad_samples
                   ? areas[area - 1]->bad_samples(kind, rng, out, max)
                   : A64_NONE;
    return k == A64_NONE ? 0 : k;
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
    .bad_samples = a64_bad_samples,
};
