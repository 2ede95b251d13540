/* AArch64 loads and stores, branches and system instructions: the kinds of kinds_mem.def
 * (a64.h). */
#include <stdio.h>
#include <string.h>

#include "a64.h"

/* The size a kind's offset or shift is scaled by (1 for the unscaled ones). */
static int64_t kind_scale(unsigned kind)
{
    switch (kind) {
    case AK_u12s2:
    case AK_s9n2: return 2;
    case AK_u12s4:
    case AK_s9n4:
    case AK_s7s4: return 4;
    case AK_u12s8:
    case AK_s9n8:
    case AK_s7s8: return 8;
    case AK_u12s16:
    case AK_s9n16:
    case AK_s7s16: return 16;
    default: return 1;
    }
}

static bool is_u12(unsigned k)
{
    return k >= AK_u12s1 && k <= AK_u12s16;
}

static bool is_s9n(unsigned k)
{
    return k >= AK_s9n1 && k <= AK_s9n16;
}

static bool is_s7(unsigned k)
{
    return k >= AK_s7s4 && k <= AK_s7s16;
}

static bool is_amt(unsigned k)
{
    return k >= AK_amt0 && k <= AK_amt4;
}

/* prfm operations: type pld/pli/pst, target l1..l3, policy keep/strm (imm5 = type:2
 * target:2 policy:1); the other values have no name. */
static bool prfop_name(unsigned v, char *buf, size_t n)
{
    static const char *const type[] = {"pld", "pli", "pst"};
    unsigned t = v >> 3, l = (v >> 1) & 3;
    if (t > 2 || l > 2)
        return false;
    snprintf(buf, n, "%sl%u%s", type[t], l + 1, (v & 1) ? "strm" : "keep");
    return true;
}

/* dmb/dsb options by CRm; NULL where GNU as has no name. */
static const char *const barrier_names[16] = {
    NULL, "oshld", "oshst", "osh", NULL, "nshld", "nshst", "nsh",
    NULL, "ishld", "ishst", "ish", NULL, "ld",    "st",    "sy",
};

/* The system registers known by name: o0:op1:CRn:CRm:op2 (op0 = 2 + o0). */
#define SYSREG(op0, op1, crn, crm, op2)                                                          \
    (((op0) - 2) << 14 | (op1) << 11 | (crn) << 7 | (crm) << 3 | (op2))
static const struct {
    const char *name;
    unsigned v;
} sysregs[] = {
    {"nzcv", SYSREG(3, 3, 4, 2, 0)},
    {"fpcr", SYSREG(3, 3, 4, 4, 0)},
    {"fpsr", SYSREG(3, 3, 4, 4, 1)},
    {"tpidr_el0", SYSREG(3, 3, 13, 0, 2)},
};
#define NSYSREGS (sizeof sysregs / sizeof sysregs[0])

/* A decimal number of at most max, no sign. */
static bool small_number(const char **p, unsigned max, unsigned *out)
{
    const char *s = *p;
    unsigned v = 0;
    if (*s < '0' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++)
        if ((v = v * 10 + (unsigned)(*s - '0')) > max)
            return false;
    *p = s;
    *out = v;
    return true;
}

/* s<op0>_<op1>_c<n>_c<m>_<op2>, op0 2 or 3. */
static int parse_sysreg_generic(const char **p, unsigned *out)
{
    const char *s = *p;
    unsigned op0, op1, crn, crm, op2;
    if ((*s | 0x20) != 's')
        return -1;
    s++;
    if (!small_number(&s, 3, &op0) || op0 < 2 || *s++ != '_' || !small_number(&s, 7, &op1) ||
        *s++ != '_' || (*s++ | 0x20) != 'c' || !small_number(&s, 15, &crn) || *s++ != '_' ||
        (*s++ | 0x20) != 'c' || !small_number(&s, 15, &crm) || *s++ != '_' ||
        !small_number(&s, 7, &op2))
        return -1;
    if (*s == '_' || ((*s | 0x20) >= 'a' && (*s | 0x20) <= 'z') || (*s >= '0' && *s <= '9'))
        return -1;
    *p = s;
    *out = SYSREG(op0, op1, crn, crm, op2);
    return 0;
}

/* An immediate with '#' (required: a name may stand in its place) or a name from names[]
 * (n of them; NULL entries have none). */
static int parse_named(const char **p, im_operand *op, const char *const *names, unsigned n,
                       const char *what)
{
    im_skip_ws(p);
    for (unsigned i = 0; i < n; i++)
        if (names[i] && im_match_word(p, names[i])) {
            *op = im_imm(i);
            return 0;
        }
    if (**p != '#')
        return im_fail(IM_ERR_NO_ENCODING, "expected %s", what);
    return a64_parse_imm(p, op);
}

static int mem_parse(unsigned kind, const char **p, im_operand *op, const im_parse_ctx *ctx)
{
    switch (kind) {
    case AK_rel26:
    case AK_rel19:
    case AK_rel14: return a64_parse_target(p, op, ctx);
    case AK_idxw:
        im_skip_ws(p);
        if (im_match_word(p, "uxtw")) {
            *op = im_imm(2);
            return 0;
        }
        if (im_match_word(p, "sxtw")) {
            *op = im_imm(6);
            return 0;
        }
        return im_fail(IM_ERR_NO_ENCODING, "expected uxtw or sxtw");
    case AK_prfop: {
        im_skip_ws(p);
        char name[16];
        for (unsigned v = 0; v < 32; v++)
            if (prfop_name(v, name, sizeof name) && im_match_word(p, name)) {
                *op = im_imm(v);
                return 0;
            }
        if (**p != '#')
            return im_fail(IM_ERR_NO_ENCODING, "expected a prefetch operation");
        return a64_parse_imm(p, op);
    }
    case AK_barrier: return parse_named(p, op, barrier_names, 16, "a barrier option");
    case AK_isbopt: {
        static const char *const sy[16] = {[15] = "sy"};
        return parse_named(p, op, sy, 16, "sy or #imm");
    }
    case AK_sysreg: {
        im_skip_ws(p);
        for (size_t i = 0; i < NSYSREGS; i++)
            if (im_match_word(p, sysregs[i].name)) {
                *op = im_imm(sysregs[i].v);
                return 0;
            }
        unsigned v;
        if (parse_sysreg_generic(p, &v) == 0) {
            *op = im_imm(v);
            return 0;
        }
        return im_fail(IM_ERR_NO_ENCODING, "expected a system register");
    }
    case AK_amt0:
    case AK_amt1:
    case AK_amt2:
    case AK_amt3:
    case AK_amt4: {
        /* no sign: the byte forms' -1 stands for the shift left out */
        const char *s = *p;
        im_skip_ws(&s);
        if (*s == '#')
            s++;
        im_skip_ws(&s);
        if (*s == '-' || *s == '+')
            return im_fail(IM_ERR_NO_ENCODING, "expected a shift amount");
        return a64_parse_imm(p, op);
    }
    default:
        if (is_u12(kind) || is_s9n(kind) || is_s7(kind) || kind == AK_s9 || kind == AK_zero ||
            kind == AK_tbw || kind == AK_tbx || kind == AK_crm || kind == AK_imm16)
            return a64_parse_imm(p, op);
        return A64_NOT_MINE;
    }
}

static bool mem_print(unsigned kind, const im_operand *op, char *buf, size_t n)
{
    unsigned v = (unsigned)op->imm;
    char name[16];
    switch (kind) {
    case AK_rel26:
    case AK_rel19:
    case AK_rel14: im_print_target(op, false, buf, n); return true;
    case AK_idxw: im_appendf(buf, n, "%s", op->imm == 6 ? "sxtw" : "uxtw"); return true;
    case AK_prfop:
        if (op->imm >= 0 && op->imm < 32 && prfop_name(v, name, sizeof name))
            im_appendf(buf, n, "%s", name);
        else
            im_appendf(buf, n, "#%lld", (long long)op->imm);
        return true;
    case AK_barrier:
    case AK_isbopt:
        if (op->imm >= 0 && op->imm < 16 &&
            (kind == AK_barrier ? barrier_names[v] != NULL : v == 15))
            im_appendf(buf, n, "%s", kind == AK_barrier ? barrier_names[v] : "sy");
        else
            im_appendf(buf, n, "#%lld", (long long)op->imm);
        return true;
    case AK_crm: im_appendf(buf, n, "%lld", (long long)op->imm); return true;
    case AK_imm16: im_print_hex(buf, n, op->imm); return true;
    case AK_sysreg:
        for (size_t i = 0; i < NSYSREGS; i++)
            if (sysregs[i].v == v) {
                im_appendf(buf, n, "%s", sysregs[i].name);
                return true;
            }
        im_appendf(buf, n, "s%u_%u_c%u_c%u_%u", 2 + (v >> 14 & 1), v >> 11 & 7, v >> 7 & 15,
                   v >> 3 & 15, v & 7);
        return true;
    default:
        if (is_u12(kind) || is_s9n(kind) || is_s7(kind) || is_amt(kind) || kind == AK_s9 ||
            kind == AK_zero || kind == AK_tbw || kind == AK_tbx) {
            im_appendf(buf, n, "%lld", (long long)op->imm);
            return true;
        }
        return false;
    }
}

int a64_mem_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out)
{
    unsigned kind = f->kinds[i];
    int64_t v = o->imm, sc = kind_scale(kind);
    int rc = 0;
    switch (kind) {
    case AK_rel26:
    case AK_rel19:
    case AK_rel14: {
        if (o->type == IM_OP_LABEL) { /* unresolved: the buffer patches it later */
            *out = 0;
            return 0;
        }
        if (o->type != IM_OP_REL)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a target", f->id, i + 1);
        int64_t lim = kind == AK_rel26 ? (1ll << 27) : kind == AK_rel19 ? (1ll << 20) : (1ll << 15);
        if ((rc = a64_aligned(f, i, v, 4)) < 0 || (rc = a64_range(f, i, v, -lim, lim - 4)) < 0)
            return rc;
        *out = (uint32_t)((uint64_t)v >> 2);
        return 0;
    }
    default: break;
    }
    if (a64_kind_area[kind] != A64_AREA_MEM) /* ownership by the kind's section */
        return A64_NOT_MINE;
    if (o->type != IM_OP_IMM)
        return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be an immediate", f->id, i + 1);
    if (is_u12(kind)) {
        if ((rc = a64_aligned(f, i, v, sc)) < 0 || (rc = a64_range(f, i, v, 0, 4095 * sc)) < 0)
            return rc;
        *out = (uint32_t)(v >> __builtin_ctzll((uint64_t)sc)); /* v / sc: a multiple, >= 0 */
    } else if (is_s9n(kind) && (v < -256 || v > 255)) {
        /* the text's last chance, after the scaled row */
        return im_fail(IM_ERR_RANGE,
                       "%s: operand %u offset %lld is neither a multiple of %lld in [0, %lld] "
                       "nor an unscaled offset in [-256, 255]",
                       f->id, i + 1, (long long)v, (long long)sc, (long long)(4095 * sc));
    } else if (is_s9n(kind) || kind == AK_s9) {
        if ((rc = a64_range(f, i, v, -256, 255)) < 0)
            return rc;
        *out = (uint32_t)((uint64_t)v & 0x1ff);
    } else if (is_s7(kind)) {
        if ((rc = a64_aligned(f, i, v, sc)) < 0 || (rc = a64_range(f, i, v, -64 * sc, 63 * sc)) < 0)
            return rc;
        /* v / sc (v a multiple of the power of two sc), without a division */
        *out = (uint32_t)((uint64_t)v >> __builtin_ctzll((uint64_t)sc) & 0x7f);
    } else if (kind == AK_amt0) {
        if (v != -1 && v != 0)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u: the shift of a byte index is #0",
                           f->id, i + 1);
        *out = v == 0;
    } else if (is_amt(kind)) {
        int64_t log = (int64_t)(kind - AK_amt0);
        if (v != 0 && v != log)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u: the shift must be #0 or #%lld",
                           f->id, i + 1, (long long)log);
        *out = v != 0;
    } else if (kind == AK_zero) {
        if (v != 0)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u: the offset must be #0", f->id,
                           i + 1);
        *out = 0;
    } else if (kind == AK_idxw) {
        if (v != 2 && v != 6)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be uxtw or sxtw", f->id,
                           i + 1);
        *out = (uint32_t)v;
    } else {
        int64_t hi = kind == AK_tbw || kind == AK_prfop ? 31
                     : kind == AK_tbx                   ? 63
                     : kind == AK_imm16                 ? 0xffff
                     : kind == AK_sysreg                ? 0x7fff
                                                        : 15;
        if ((rc = a64_range(f, i, v, 0, hi)) < 0)
            return rc;
        *out = (uint32_t)v;
    }
    return rc;
}

static size_t mem_samples(unsigned kind, im_rng *rng, im_operand *out, size_t max)
{
    size_t k = 0;
    int64_t sc = kind_scale(kind);
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
    if (is_u12(kind)) {
        ADD(0); ADD(sc); ADD(4095 * sc); ADD(4094 * sc); ADD(2048 * sc);
        for (int i = 0; i < 12; i++)
            ADD((int64_t)(im_rng_next(rng) % 4096) * sc);
        return k;
    }
    if (is_s9n(kind)) {
        /* negative, and (scaled sizes) misaligned positive: what the scaled row refuses */
        ADD(-1); ADD(-256); ADD(-sc);
        for (int i = 0; i < 8; i++)
            ADD(-1 - (int64_t)(im_rng_next(rng) % 256));
        if (sc > 1) {
            ADD(1); ADD(255); ADD(sc + 1); ADD(sc - 1);
            for (int i = 0; i < 8; i++) {
                int64_t v = 1 + (int64_t)(im_rng_next(rng) % 255);
                ADD(v % sc ? v : v + 1);
            }
        }
        return k;
    }
    if (kind == AK_s9) {
        ADD(0); ADD(1); ADD(-1); ADD(-256); ADD(255); ADD(8); ADD(-16);
        for (int i = 0; i < 12; i++)
            ADD((int64_t)(im_rng_next(rng) % 512) - 256);
        return k;
    }
    if (is_s7(kind)) {
        ADD(0); ADD(sc); ADD(-sc); ADD(-64 * sc); ADD(63 * sc);
        for (int i = 0; i < 12; i++)
            ADD(((int64_t)(im_rng_next(rng) % 128) - 64) * sc);
        return k;
    }
    if (kind == AK_amt0) {
        ADD(-1); ADD(0);
        return k;
    }
    if (is_amt(kind)) {
        ADD(0); ADD((int64_t)(kind - AK_amt0));
        return k;
    }
    switch (kind) {
    case AK_rel26:
    case AK_rel19:
    case AK_rel14: {
        int64_t lim = kind == AK_rel26 ? (1ll << 27) : kind == AK_rel19 ? (1ll << 20) : (1ll << 15);
        ADDREL(0); ADDREL(4); ADDREL(-4); ADDREL(lim - 4); ADDREL(-lim); ADDREL(lim - 8);
        ADDREL(-lim + 4);
        for (int i = 0; i < 16; i++)
            ADDREL((int64_t)(im_rng_next(rng) % (uint64_t)(lim / 2)) * 4 - lim);
        return k;
    }
    case AK_idxw: ADD(2); ADD(6); return k;
    case AK_zero: ADD(0); return k;
    case AK_tbw:
    case AK_prfop:
        for (int v = 0; v < 32; v++)
            ADD(v);
        return k;
    case AK_tbx:
        for (int v = 0; v < 64; v++)
            ADD(v);
        return k;
    case AK_barrier:
    case AK_isbopt:
    case AK_crm:
        for (int v = 0; v < 16; v++)
            ADD(v);
        return k;
    case AK_imm16:
        ADD(0); ADD(1); ADD(0x7fff); ADD(0x8000); ADD(0xffff);
        for (int i = 0; i < 12; i++)
            ADD((int64_t)(im_rng_next(rng) & 0xffff));
        return k;
    case AK_sysreg:
        for (size_t i = 0; i < NSYSREGS; i++)
            ADD(sysregs[i].v);
        /* the generic spelling, in the IMPLEMENTATION DEFINED space op0=3, CRn=15 (op1 7
         * left out: capstone names s3_7_c15_c2_0), which objdump prints back as is */
        for (int i = 0; i < 12; i++) {
            uint64_t r = im_rng_next(rng);
            ADD(SYSREG(3, (unsigned)(r % 7), 15, (unsigned)(r >> 8 & 15), (unsigned)(r >> 16 & 7)));
        }
        return k;
    default: return A64_NONE;
    }
#undef ADD
#undef ADDREL
}

static size_t mem_bad_samples(unsigned kind, im_rng *rng, im_bad_sample *out, size_t max)
{
    size_t k = 0;
    int64_t sc = kind_scale(kind);
#define BAD(...)                                                                                   \
    do {                                                                                           \
        if (k < max) {                                                                             \
            snprintf(out[k].text, sizeof out[k].text, __VA_ARGS__);                                \
            out[k++].lenient = false;                                                              \
        }                                                                                          \
    } while (0)
    if (is_u12(kind) || is_s9n(kind)) {
        /* beyond both the scaled range and the unscaled one GNU as falls back to: too
         * large, misaligned above 255, negative below -256 */
        BAD("#%lld", (long long)(4096 * sc));
        BAD("#%lld", (long long)(4096 * sc + sc));
        BAD("#%lld", (long long)(65536 * sc));
        BAD("#-257");
        BAD("#%lld", (long long)(-sc * 4096));
        BAD("#-%llu", (unsigned long long)(257 + im_rng_next(rng) % 100000));
        if (sc > 1) {
            BAD("#257");
            BAD("#%lld", (long long)(4095 * sc + 1));
            for (int i = 0; i < 4; i++) {
                int64_t v = 256 + (int64_t)(im_rng_next(rng) % (uint64_t)(4095 * sc - 256));
                BAD("#%lld", (long long)(v % sc ? v : v + 1));
            }
        }
        return k;
    }
    if (kind == AK_s9) {
        BAD("#256"); BAD("#-257"); BAD("#4096"); BAD("#-4096");
        BAD("#%llu", (unsigned long long)(256 + im_rng_next(rng) % 100000));
        BAD("#-%llu", (unsigned long long)(257 + im_rng_next(rng) % 100000));
        return k;
    }
    if (is_s7(kind)) {
        BAD("#%lld", (long long)(64 * sc)); BAD("#%lld", (long long)(-65 * sc));
        BAD("#%lld", (long long)(sc / 2)); BAD("#%lld", (long long)(-sc - 1));
        BAD("#%lld", (long long)(63 * sc + 1)); BAD("#1"); BAD("#-3");
        for (int i = 0; i < 3; i++) {
            int64_t v = ((int64_t)(im_rng_next(rng) % 128) - 64) * sc + 1 +
                        (int64_t)(im_rng_next(rng) % (uint64_t)(sc - 1));
            BAD("#%lld", (long long)v);
        }
        return k;
    }
    if (is_amt(kind)) {
        int64_t log = (int64_t)(kind - AK_amt0);
        for (int64_t v = 1; v <= 5; v++)
            if (v != log)
                BAD("#%lld", (long long)v);
        BAD("#12");
        return k;
    }
    switch (kind) {
    case AK_idxw: BAD("uxtx"); BAD("uxtb"); BAD("uxth"); BAD("sxtb"); BAD("sxth"); BAD("lsr");
        return k;
    case AK_zero: BAD("#8"); BAD("#1"); BAD("#-8"); BAD("#4"); return k;
    case AK_tbw: BAD("#32"); BAD("#-1"); BAD("#40"); return k;
    case AK_tbx: BAD("#64"); BAD("#-1"); BAD("#100"); return k;
    case AK_prfop: BAD("#32"); BAD("#-1"); BAD("pldl4keep"); BAD("plil1"); BAD("pstl2stream");
        BAD("pld"); return k;
    case AK_barrier: BAD("#16"); BAD("#-1"); BAD("oshsy"); BAD("nshldst"); BAD("ishh"); return k;
    case AK_isbopt: BAD("#16"); BAD("#-1"); BAD("ish"); BAD("ld"); return k;
    case AK_crm: BAD("#16"); BAD("#-1"); BAD("#255"); return k;
    case AK_imm16: BAD("#65536"); BAD("#-1"); BAD("#0x12345"); return k;
    case AK_sysreg: BAD("s3_8_c0_c0_0"); BAD("s3_0_c16_c0_0"); BAD("s3_0_c0_c0_8");
        BAD("nzcv_el0"); BAD("fpcrx"); BAD("tpidr_el4"); return k;
    case AK_rel26:
    case AK_rel19:
    case AK_rel14: {
        /* one word past either edge, further out, and not a multiple of 4 (GNU as: "branch
         * out of range", "pc-relative load offset out of range", "... not word aligned") */
        int64_t lim = kind == AK_rel26 ? 1ll << 27 : kind == AK_rel19 ? 1ll << 20 : 1ll << 15;
        BAD(".+0x%llx", (unsigned long long)lim);
        BAD(".-0x%llx", (unsigned long long)(lim + 4));
        BAD(".+0x%llx", (unsigned long long)(lim + 4 * (int64_t)(im_rng_next(rng) % 100000)));
        BAD(".-0x%llx", (unsigned long long)(lim + 4 + 4 * (int64_t)(im_rng_next(rng) % 100000)));
        BAD(".+%d", 1 + 4 * (int)(im_rng_next(rng) % 1000));
        BAD(".-%d", 2 + 4 * (int)(im_rng_next(rng) % 1000));
        return k;
    }
    default: return A64_NONE;
    }
#undef BAD
}

static bool general_reg_kind(unsigned k)
{
    return k == AK_w || k == AK_x;
}

/* Store exclusive: st(l)xr{b,h}, st(l)xp. */
/* What GNU as warns about as unpredictable (it compares register numbers). */
static int mem_check(const im_form *f, const im_operand *ops, const uint32_t *vals)
{
    (void)vals;
    if (f->flags & IM_FF_WB) {
        /* writeback to a base (the first sp-capable operand) that is also a general
         * transfer register; the base sp is no general register */
        unsigned b = 0;
        while (b < f->nops && f->kinds[b] != AK_xsp)
            b++;
        for (unsigned j = 0; b < f->nops && ops[b].reg != 31 && j < b; j++)
            if (general_reg_kind(f->kinds[j]) && ops[j].reg == ops[b].reg)
                return im_fail(IM_ERR_UNPREDICTABLE,
                               "%s: writeback to a base that is also transferred is UNPREDICTABLE",
                               f->id);
    }
    if ((f->flags & IM_FF_LDPAIR) && ops[0].reg == ops[1].reg)
        return im_fail(IM_ERR_UNPREDICTABLE, "%s: loading one register twice is UNPREDICTABLE",
                       f->id);
    if (f->flags & A64_FF_STX)
        for (unsigned j = 1; j < f->nops; j++)
            if (ops[j].type == IM_OP_REG && ops[j].reg == ops[0].reg)
                return im_fail(IM_ERR_UNPREDICTABLE,
                               "%s: the status register is also the %s register: UNPREDICTABLE",
                               f->id, f->kinds[j] == AK_xsp ? "base" : "transfer");
    return 0;
}

const a64_area a64_area_mem = {
    .name = "mem",
    .parse = mem_parse,
    .print = mem_print,
    .field = a64_mem_field,
    .samples = mem_samples,
    .bad_samples = mem_bad_samples,
    .check = mem_check,
    .check_flags = IM_FF_WB | IM_FF_LDPAIR | A64_FF_STX,
};
