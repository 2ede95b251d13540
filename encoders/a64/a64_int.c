/* AArch64 data processing: the kinds of kinds_int.def (a64.h). */
#include "a64.h"

static const char *const shift_names[4] = {"lsl", "lsr", "asr", "ror"};

static int int_parse(unsigned kind, const char **p, im_operand *op, const im_parse_ctx *ctx)
{
    (void)ctx;
    switch (kind) {
    case AK_shift:
        for (unsigned i = 0; i < 4; i++)
            if (im_match_word(p, shift_names[i])) {
                *op = im_imm(i);
                return 0;
            }
        return im_fail(IM_ERR_NO_ENCODING, "expected a shift");
    case AK_u16:
    case AK_hw32:
    case AK_hw64:
    case AK_movz32:
    case AK_movz64:
    case AK_u12:
    case AK_u12lsl12:
    case AK_u5:
    case AK_u6: return a64_parse_imm(p, op);
    default: return A64_NOT_MINE;
    }
}

static bool int_print(unsigned kind, const im_operand *op, char *buf, size_t n)
{
    switch (kind) {
    case AK_shift: im_appendf(buf, n, "%s", shift_names[op->imm & 3]); return true;
    case AK_u16:
    case AK_movz32:
    case AK_movz64:
    case AK_u12:
    case AK_u12lsl12: im_print_hex(buf, n, op->imm); return true;
    case AK_hw32:
    case AK_hw64:
    case AK_u5:
    case AK_u6: im_appendf(buf, n, "%lld", (long long)op->imm); return true;
    default: return false;
    }
}

/* A value one movz makes: imm16 << (16 * hw); returns hw:imm16 or -1. */
static int64_t movz_field(uint64_t v, unsigned nhw)
{
    for (unsigned hw = 0; hw < nhw; hw++)
        if ((v & ~(0xffffull << (16 * hw))) == 0)
            return (int64_t)(hw << 16 | ((v >> (16 * hw)) & 0xffff));
    return -1;
}

static int int_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out)
{
    unsigned kind = f->kinds[i];
    int64_t v = o->imm;
    int rc = 0;
    switch (kind) {
    case AK_shift:
    case AK_u16:
    case AK_hw32:
    case AK_hw64:
    case AK_movz32:
    case AK_movz64:
    case AK_u12:
    case AK_u12lsl12:
    case AK_u5:
    case AK_u6: break;
    default: return A64_NOT_MINE;
    }
    if (o->type != IM_OP_IMM)
        return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be an immediate", f->id, i + 1);
    switch (kind) {
    case AK_u16: rc = a64_range(f, i, v, 0, 0xffff); *out = (uint32_t)v; break;
    case AK_hw32:
    case AK_hw64:
        if ((rc = a64_range(f, i, v, 0, kind == AK_hw32 ? 16 : 48)) < 0 ||
            (rc = a64_aligned(f, i, v, 16)) < 0)
            return rc;
        *out = (uint32_t)(v / 16);
        break;
    case AK_movz32:
    case AK_movz64: {
        if (kind == AK_movz32 && (rc = a64_range(f, i, v, 0, 0xffffffffll)) < 0)
            return rc;
        int64_t fv = movz_field((uint64_t)v, kind == AK_movz32 ? 2 : 4);
        if (fv < 0)
            return im_fail(IM_ERR_NO_ENCODING,
                           "%s: 0x%llx is not a 16-bit value shifted by a multiple of 16", f->id,
                           (unsigned long long)v);
        *out = (uint32_t)fv;
        break;
    }
    case AK_u12: rc = a64_range(f, i, v, 0, 4095); *out = (uint32_t)v; break;
    case AK_u12lsl12:
        if ((rc = a64_aligned(f, i, v, 4096)) < 0 || (rc = a64_range(f, i, v, 4096, 4095ll << 12)) < 0)
            return rc;
        *out = (uint32_t)(v >> 12);
        break;
    case AK_shift: rc = a64_range(f, i, v, 0, 2); *out = (uint32_t)v; break;
    case AK_u5: rc = a64_range(f, i, v, 0, 31); *out = (uint32_t)v; break;
    case AK_u6: rc = a64_range(f, i, v, 0, 63); *out = (uint32_t)v; break;
    default: break;
    }
    return rc;
}

static size_t int_samples(unsigned kind, im_rng *rng, im_operand *out, size_t max)
{
    size_t k = 0;
#define ADD(v)                                                                                     \
    do {                                                                                           \
        if (k < max)                                                                               \
            out[k++] = im_imm(v);                                                                  \
    } while (0)
    switch (kind) {
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
    default: return A64_NONE;
    }
#undef ADD
}

const a64_area a64_area_int = {
    .name = "int",
    .parse = int_parse,
    .print = int_print,
    .field = int_field,
    .samples = int_samples,
};
