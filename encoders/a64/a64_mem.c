/* AArch64 loads and stores, branches and system instructions: the kinds of kinds_mem.def
 * (a64.h). */
#include "a64.h"

static int mem_parse(unsigned kind, const char **p, im_operand *op, const im_parse_ctx *ctx)
{
    switch (kind) {
    case AK_rel26:
    case AK_rel19: return a64_parse_target(p, op, ctx);
    case AK_u12s4:
    case AK_u12s8:
    case AK_s7s4:
    case AK_s7s8: return a64_parse_imm(p, op);
    default: return A64_NOT_MINE;
    }
}

static bool mem_print(unsigned kind, const im_operand *op, char *buf, size_t n)
{
    switch (kind) {
    case AK_rel26:
    case AK_rel19: im_print_target(op, false, buf, n); return true;
    case AK_u12s4:
    case AK_u12s8:
    case AK_s7s4:
    case AK_s7s8: im_appendf(buf, n, "%lld", (long long)op->imm); return true;
    default: return false;
    }
}

static int mem_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out)
{
    unsigned kind = f->kinds[i];
    int64_t v = o->imm;
    int rc = 0;
    switch (kind) {
    case AK_rel26:
    case AK_rel19: {
        if (o->type == IM_OP_LABEL) { /* unresolved: the buffer patches it later */
            *out = 0;
            return 0;
        }
        if (o->type != IM_OP_REL)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a target", f->id, i + 1);
        int64_t lim = kind == AK_rel26 ? (1ll << 27) : (1ll << 20);
        if ((rc = a64_aligned(f, i, v, 4)) < 0 || (rc = a64_range(f, i, v, -lim, lim - 4)) < 0)
            return rc;
        *out = (uint32_t)((uint64_t)v >> 2);
        return 0;
    }
    case AK_u12s4:
    case AK_u12s8:
    case AK_s7s4:
    case AK_s7s8: break;
    default: return A64_NOT_MINE;
    }
    if (o->type != IM_OP_IMM)
        return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be an immediate", f->id, i + 1);
    switch (kind) {
    case AK_u12s4:
    case AK_u12s8: {
        int64_t sc = kind == AK_u12s4 ? 4 : 8;
        if ((rc = a64_aligned(f, i, v, sc)) < 0 || (rc = a64_range(f, i, v, 0, 4095 * sc)) < 0)
            return rc;
        *out = (uint32_t)(v / sc);
        break;
    }
    default: {
        int64_t sc = kind == AK_s7s4 ? 4 : 8;
        if ((rc = a64_aligned(f, i, v, sc)) < 0 || (rc = a64_range(f, i, v, -64 * sc, 63 * sc)) < 0)
            return rc;
        *out = (uint32_t)((uint64_t)(v / sc) & 0x7f);
        break;
    }
    }
    return rc;
}

static size_t mem_samples(unsigned kind, im_rng *rng, im_operand *out, size_t max)
{
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
    default: return A64_NONE;
    }
#undef ADD
#undef ADDREL
}

/* Pair transfers: writeback to a transferred base, one register loaded twice. */
static int mem_check(const im_form *f, const im_operand *ops, const uint32_t *vals)
{
    (void)vals;
    if ((f->flags & IM_FF_WB) && ops[2].reg != 31 &&
        (ops[2].reg == ops[0].reg || ops[2].reg == ops[1].reg))
        return im_fail(IM_ERR_UNPREDICTABLE,
                       "%s: writeback to a base that is also transferred is UNPREDICTABLE", f->id);
    if ((f->flags & IM_FF_LDPAIR) && ops[0].reg == ops[1].reg)
        return im_fail(IM_ERR_UNPREDICTABLE, "%s: loading one register twice is UNPREDICTABLE",
                       f->id);
    return 0;
}

const a64_area a64_area_mem = {
    .name = "mem",
    .parse = mem_parse,
    .print = mem_print,
    .field = mem_field,
    .samples = mem_samples,
    .check = mem_check,
};
