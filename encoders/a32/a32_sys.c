/* A32 branches and system instructions (branch.tbl): the kinds of kinds_sys.def. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "a32.h"

/* dmb/dsb options by value (NULL: printed as #N); nsh and nshst also read as un, unst. */
static const char *const barrier_names[16] = {
    [2] = "oshst",  [3] = "osh",  [6] = "nshst", [7] = "nsh",
    [10] = "ishst", [11] = "ish", [14] = "st",   [15] = "sy",
};
/* mrs reads APSR as CPSR (the same bits in ARM state); SPSR (R = 1) is left out: reading it
 * in User or System mode is UNPREDICTABLE, and imago's code runs in User mode. */
static const char *const psr_names[2] = {"APSR", "CPSR"};
static const char *const psrmask_names[4] = {NULL, "APSR_g", "APSR_nzcvq", "APSR_nzcvqg"};

/* A name from a list (case-insensitive, whole word): its index, or -1. */
static int match_name(const char **p, const char *const *names, int n)
{
    int best = -1;
    size_t blen = 0;
    for (int i = 0; i < n; i++) {
        const char *q = *p;
        if (names[i] && strlen(names[i]) > blen && im_match_word(&q, names[i])) {
            best = i;
            blen = strlen(names[i]);
        }
    }
    if (best >= 0)
        *p += blen;
    return best;
}

static int sys_parse(unsigned kind, const char **p, im_operand *op, const im_parse_ctx *ctx)
{
    switch (kind) {
    case RK_rel24:
    case RK_rel24h: return a32_parse_target(p, op, ctx);
    case RK_imm24:
    case RK_imm16s:
    case RK_imm4: return a32_parse_imm(p, op);
    case RK_barrier:
    case RK_isbopt: {
        if (**p == '#')
            return a32_parse_imm(p, op);
        static const char *const alias[] = {"un", "unst"}; /* GNU's other names of nsh, nshst */
        int v = kind == RK_barrier       ? match_name(p, barrier_names, 16)
                : im_match_word(p, "sy") ? 15
                                         : -1;
        if (v < 0 && kind == RK_barrier) {
            int a = match_name(p, alias, 2);
            v = a < 0 ? -1 : 7 - a;
        }
        if (v < 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected a barrier option");
        *op = im_imm(v);
        return 0;
    }
    case RK_psr: {
        int v = match_name(p, psr_names, 2);
        if (v < 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected APSR or CPSR");
        *op = im_imm(v);
        return 0;
    }
    case RK_psrmask: {
        int v = match_name(p, psrmask_names, 4);
        if (v < 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected APSR_nzcvq, APSR_g or APSR_nzcvqg");
        *op = im_imm(v);
        return 0;
    }
    case RK_endian: {
        static const char *const e[] = {"le", "be"};
        int v = match_name(p, e, 2);
        if (v < 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected le or be");
        *op = im_imm(v);
        return 0;
    }
    default: return A32_NOT_MINE;
    }
}

static bool sys_print(unsigned kind, const im_operand *op, char *buf, size_t n)
{
    int64_t v = op->imm;
    switch (kind) {
    case RK_rel24:
    case RK_rel24h: im_print_target(op, false, buf, n); return true;
    case RK_nocond: return true; /* al: nothing */
    case RK_imm24:
    case RK_imm16s:
        im_appendf(buf, n, "#");
        im_print_hex(buf, n, v);
        return true;
    case RK_imm4: im_appendf(buf, n, "#%lld", (long long)v); return true;
    case RK_barrier:
    case RK_isbopt:
        if (v >= 0 && v < 16 && barrier_names[v] && (kind == RK_barrier || v == 15))
            im_appendf(buf, n, "%s", barrier_names[v]);
        else
            im_appendf(buf, n, "#%lld", (long long)v);
        return true;
    case RK_psr: im_appendf(buf, n, "%s", psr_names[v == 1]); return true;
    case RK_psrmask: im_appendf(buf, n, "%s", psrmask_names[v > 0 && v < 4 ? v : 2]); return true;
    case RK_endian: im_appendf(buf, n, "%s", v ? "be" : "le"); return true;
    default: return false;
    }
}

/* A pc+8 relative branch target: the offset, a multiple of align, within [-lim, lim - align]. */
static int branch_offset(const im_form *f, unsigned i, const im_operand *o, int64_t align,
                         int64_t lim, int64_t *d)
{
    if (o->type != IM_OP_REL)
        return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a target", f->id, i + 1);
    *d = o->imm - 8; /* the pc reads as the instruction's address + 8 */
    if (*d % align)
        return im_fail(IM_ERR_ALIGN, "%s: branch offset %lld is not a multiple of %lld", f->id,
                       (long long)*d, (long long)align);
    if (*d < -lim || *d > lim - align)
        return im_fail(IM_ERR_RANGE, "%s: branch offset %lld out of range (+-32 MiB)", f->id,
                       (long long)*d);
    return 0;
}

int a32_sys_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out)
{
    int64_t v = o->imm;
    unsigned kind = f->kinds[i];
    switch (kind) {
    case RK_rel24:
    case RK_rel24h: {
        if (o->type == IM_OP_LABEL) {
            *out = 0;
            return 0;
        }
        int64_t d = 0;
        int rc = branch_offset(f, i, o, kind == RK_rel24 ? 4 : 2, 1ll << 25, &d);
        if (rc < 0)
            return rc;
        /* rel24: imm24 = offset / 4; rel24h: imm24:H = offset / 2 */
        *out = (uint32_t)((uint64_t)d >> (kind == RK_rel24 ? 2 : 1)) &
               (kind == RK_rel24 ? 0xffffffu : 0x1ffffffu);
        return 0;
    }
    case RK_nocond:
        if (o->type != IM_OP_COND || v != 14)
            return im_fail(IM_ERR_NO_ENCODING, "%s: the instruction cannot be conditional", f->id);
        *out = 0;
        return 0;
    case RK_imm24:
    case RK_imm16s:
    case RK_imm4:
    case RK_barrier:
    case RK_isbopt: {
        if (o->type != IM_OP_IMM)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be an immediate", f->id, i + 1);
        int64_t hi = kind == RK_imm24 ? 0xffffff : kind == RK_imm16s ? 0xffff : 15;
        int rc = a32_range(f, i, v, 0, hi);
        if (rc < 0)
            return rc;
        *out = (uint32_t)v;
        return 0;
    }
    case RK_psr:
    case RK_psrmask:
    case RK_endian: {
        int64_t lo = kind == RK_psrmask ? 1 : 0, hi = kind == RK_psrmask ? 3 : 1;
        if (o->type != IM_OP_IMM || v < lo || v > hi)
            return im_fail(IM_ERR_NO_ENCODING, "%s: bad operand %u", f->id, i + 1);
        *out = kind == RK_psr ? 0 : (uint32_t)v; /* psr: R = 0 (APSR and CPSR alike) */
        return 0;
    }
    default: return A32_NOT_MINE;
    }
}

static size_t sys_samples(unsigned kind, im_rng *rng, im_operand *out, size_t max)
{
    size_t k = 0;
#define ADD(o)                                                                                     \
    do {                                                                                           \
        if (k < max)                                                                               \
            out[k++] = (o);                                                                        \
    } while (0)
    switch (kind) {
    case RK_rel24:
    case RK_rel24h: {
        /* text offsets (pc+8 relative): both edges, one step inside them, near, random */
        int64_t step = kind == RK_rel24 ? 4 : 2;
        const int64_t lo = -(1ll << 25) + 8, hi = (1ll << 25) - step + 8;
        const int64_t e[] = {lo, hi, lo + step, hi - step, 0, 8, 4, -4, 12, 8 + step};
        for (size_t i = 0; i < sizeof e / sizeof e[0]; i++)
            ADD(((im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, e[i]}));
        /* blx has no condition to multiply its targets: more of them */
        for (int i = 0, n = kind == RK_rel24 ? 96 : 400; i < n; i++) {
            int64_t v = lo + (int64_t)(im_rng_next(rng) % (uint64_t)(hi - lo)) / step * step;
            ADD(((im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, v}));
        }
        return k;
    }
    case RK_nocond: ADD(im_cond(14)); return k;
    case RK_imm24:
    case RK_imm16s: {
        int64_t hi = kind == RK_imm24 ? 0xffffff : 0xffff;
        const int64_t e[] = {0, 1, hi, hi - 1, 0x80, 0xff, 0x100, 0xf00f & hi, 0x123456 & hi};
        for (size_t i = 0; i < sizeof e / sizeof e[0]; i++)
            ADD(im_imm(e[i]));
        for (int b = 0; b < (kind == RK_imm24 ? 24 : 16); b++) /* every bit alone */
            ADD(im_imm(1ll << b));
        /* svc has a condition to multiply its values; bkpt and udf do not */
        for (int i = 0, n = kind == RK_imm24 ? 64 : 400; i < n; i++)
            ADD(im_imm((int64_t)(im_rng_next(rng) % (uint64_t)(hi + 1))));
        return k;
    }
    case RK_imm4:
    case RK_barrier:
    case RK_isbopt:
        for (int v = 0; v < 16; v++)
            ADD(im_imm(v));
        return k;
    case RK_psr:
        ADD(im_imm(0));
        ADD(im_imm(1));
        return k;
    case RK_psrmask:
        for (int v = 1; v < 4; v++)
            ADD(im_imm(v));
        return k;
    case RK_endian:
        ADD(im_imm(0));
        ADD(im_imm(1));
        return k;
    default: return A32_NONE;
    }
#undef ADD
}

static size_t sys_bad_samples(unsigned kind, im_rng *rng, im_bad_sample *out, size_t max)
{
    size_t k = 0;
#define BADL(len, ...) a32_bad(out, &k, max, len, __VA_ARGS__)
#define BAD(...) BADL(false, __VA_ARGS__)
    switch (kind) {
    case RK_rel24:
    case RK_rel24h: {
        /* one step past either edge, further out, misaligned (GNU as: "branch out of
         * range", "misaligned branch destination"); text offsets are pc+8 relative */
        int64_t step = kind == RK_rel24 ? 4 : 2, lim = 1ll << 25;
        BAD(".+0x%llx", (unsigned long long)(lim + 8));
        BAD(".-0x%llx", (unsigned long long)(lim - 8 + step));
        BAD(".+0x%llx",
            (unsigned long long)(lim + 8 + step * (int64_t)(im_rng_next(rng) % 100000)));
        BAD(".-0x%llx", (unsigned long long)(lim + step * (int64_t)(im_rng_next(rng) % 100000)));
        BAD(".+%d", 1 + 4 * (int)(im_rng_next(rng) % 1000));
        BAD(".-%d", 3 + 4 * (int)(im_rng_next(rng) % 1000));
        if (kind == RK_rel24)
            BAD(".+%d", 2 + 4 * (int)(im_rng_next(rng) % 1000));
        return k;
    }
    case RK_nocond:
        for (unsigned c = 0; c < 14; c++)
            BAD("%s", im_arm_cond_names[c]);
        return k;
    case RK_imm24:
        BAD("#0x1000000");
        BAD("#-1");
        BAD("#0xffffffff");
        BAD("#0x%llx", (unsigned long long)(0x1000000 + im_rng_next(rng) % 0xff000000u));
        return k;
    case RK_imm16s:
        BAD("#0x10000");
        BAD("#-1");
        BAD("#0x%llx", (unsigned long long)(0x10000 + im_rng_next(rng) % 0xfff0000u));
        return k;
    case RK_barrier:
        BAD("#16");
        BAD("#-1");
        BAD("ld");
        BAD("ishld");
        BAD("oshld");
        BAD("nshld");
        BAD("#255");
        return k;
    case RK_imm4:
        BAD("#16");
        BAD("#-1");
        BAD("#255");
        return k;
    case RK_isbopt:
        BAD("#16");
        BAD("#-1");
        BAD("ish");
        BAD("st");
        BAD("osh");
        return k;
    case RK_psr:
        BAD("APSR_nzcvq");
        BAD("FPSCR");
        return k;
    case RK_psrmask:
        BAD("APSR_c");
        BAD("FPSCR");
        BAD("APSR_x");
        return k;
    default: return A32_NONE;
    }
#undef BAD
#undef BADL
}

const a32_area a32_area_sys = {
    .name = "sys",
    .parse = sys_parse,
    .print = sys_print,
    .field = a32_sys_field,
    .samples = sys_samples,
    .bad_samples = sys_bad_samples,
};
