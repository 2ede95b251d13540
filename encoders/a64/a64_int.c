/* AArch64 data processing: the kinds of kinds_int.def (a64.h). */
#include <stdio.h>

#include "a64.h"

static const char *const shift_names[4] = {"lsl", "lsr", "asr", "ror"};
static const char *const ext_names[8] = {"uxtb", "uxth", "uxtw", "uxtx",
                                         "sxtb", "sxth", "sxtw", "sxtx"};

/* ---- bitmask immediates ----
 * A bitmask immediate is an element of e bits (2, 4, ..., 64) repeated to fill the
 * register, the element a run of 1..e-1 ones rotated right by 0..e-1. Its encoding
 * N:immr:imms gives e by N and the leading ones of imms (imms = ~(e*2-1):ones-1 in six
 * bits, N = 1 for e = 64), the rotation in immr. */

static uint64_t ror_e(uint64_t v, unsigned r, unsigned e)
{
    uint64_t m = e == 64 ? ~0ull : (1ull << e) - 1;
    v &= m;
    return r ? ((v >> r) | (v << (e - r))) & m : v;
}

/* The value of N:immr:imms for a register of `size` bits; false if it is not valid. */
static bool bimm_decode(unsigned nimm, unsigned size, uint64_t *out)
{
    unsigned n = nimm >> 12 & 1, immr = nimm >> 6 & 63, imms = nimm & 63;
    unsigned lv = n ? 6 : 0;
    if (!n)
        for (unsigned b = 5; b > 0; b--)
            if (!(imms >> b & 1)) {
                lv = b;
                break;
            }
    if (lv == 0 || (n && size == 32))
        return false;
    unsigned e = 1u << lv, ones = (imms & (e - 1)) + 1;
    if (ones == e)
        return false;
    uint64_t elt = ror_e((1ull << ones) - 1, immr & (e - 1), e), v = 0;
    for (unsigned i = 0; i < size; i += e)
        v |= elt << i;
    *out = v;
    return true;
}

/* N:immr:imms of v (the low `size` bits), or -1. */
static int bimm_encode(uint64_t v, unsigned size)
{
    if (size == 32)
        v = (v & 0xffffffffull) | (v << 32);
    unsigned e = 64;
    while (e > 2) { /* the smallest element that repeats */
        unsigned h = e / 2;
        uint64_t m = (1ull << h) - 1;
        if ((v & m) != ((v >> h) & m))
            break;
        e = h;
    }
    uint64_t m = e == 64 ? ~0ull : (1ull << e) - 1, elt = v & m;
    if (elt == 0 || elt == m)
        return -1;
    /* The element must be a run of ones rotated: its rotation and length in O(1). With bit 0
     * clear, the run is elt >> ctz(elt) placed at bit ctz(elt); with bit 0 set, the zeros
     * are one run (at bit ctz(~elt)) and the ones wrap around from the top. */
    unsigned ones, start;
    if (!(elt & 1)) {
        unsigned tz = (unsigned)__builtin_ctzll(elt);
        uint64_t run = elt >> tz;
        if (run & (run + 1))
            return -1;
        ones = (unsigned)__builtin_ctzll(~run);
        start = tz;
    } else {
        uint64_t inv = ~elt & m;
        unsigned tz = (unsigned)__builtin_ctzll(inv);
        uint64_t zeros = inv >> tz;
        if (zeros & (zeros + 1))
            return -1;
        unsigned nz = (unsigned)__builtin_ctzll(~zeros);
        ones = e - nz;
        start = tz + nz;
    }
    unsigned r = (e - start) & (e - 1); /* ror_e(run of ones, r, e) == elt */
    unsigned imms = ((~(e * 2 - 1)) & 0x3f) | (ones - 1);
    return (int)((e == 64 ? 1u << 12 : 0) | r << 6 | (imms & 0x3f));
}

/* ---- parsing and printing ---- */

static int match_names(const char **p, const char *const *names, unsigned n, unsigned skip_mask,
                       im_operand *op, const char *what)
{
    for (unsigned i = 0; i < n; i++)
        if (!(skip_mask >> i & 1) && im_match_word(p, names[i])) {
            *op = im_imm(i);
            return 0;
        }
    return im_fail(IM_ERR_NO_ENCODING, "expected %s", what);
}

static int int_parse(unsigned kind, const char **p, im_operand *op, const im_parse_ctx *ctx)
{
    switch (kind) {
    case AK_shift: return match_names(p, shift_names, 4, 0, op, "a shift");
    case AK_lshift: return match_names(p, shift_names, 4, 0, op, "a shift");
    case AK_ext:
    case AK_extw:
    case AK_extx: return match_names(p, ext_names, 8, 0, op, "an extend");
    case AK_condinv: {
        int c = a64_parse_cond(p);
        if (c < 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected a condition");
        *op = im_imm(c);
        return 0;
    }
    case AK_wdup:
    case AK_xdup: {
        int r = a64_parse_greg(p, kind == AK_wdup ? 'w' : 'x', false);
        if (r < 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected a%s register",
                           kind == AK_wdup ? " w" : "n x");
        *op = im_reg((unsigned)r);
        return 0;
    }
    case AK_rel21:
    case AK_page21: return a64_parse_target(p, op, ctx);
    case AK_u16:
    case AK_hw32:
    case AK_hw64:
    case AK_movz32:
    case AK_movz64:
    case AK_movn32:
    case AK_movn64:
    case AK_u12:
    case AK_u12lsl12:
    case AK_n12:
    case AK_n12lsl12:
    case AK_sh12:
    case AK_bimm32:
    case AK_bimm64:
    case AK_u5:
    case AK_u6:
    case AK_ext4:
    case AK_u4:
    case AK_lsl32:
    case AK_lsl64:
    case AK_ilsb32:
    case AK_ilsb64:
    case AK_iw32:
    case AK_iw64:
    case AK_xw32:
    case AK_xw64: return a64_parse_imm(p, op);
    default: return A64_NOT_MINE;
    }
}

static bool int_print(unsigned kind, const im_operand *op, char *buf, size_t n)
{
    switch (kind) {
    case AK_shift:
    case AK_lshift: im_appendf(buf, n, "%s", shift_names[op->imm & 3]); return true;
    case AK_ext:
    case AK_extw:
    case AK_extx: im_appendf(buf, n, "%s", ext_names[op->imm & 7]); return true;
    case AK_condinv: im_appendf(buf, n, "%s", im_arm_cond_names[op->imm & 15]); return true;
    case AK_wdup: im_appendf(buf, n, op->reg == 31 ? "wzr" : "w%u", op->reg); return true;
    case AK_xdup: im_appendf(buf, n, op->reg == 31 ? "xzr" : "x%u", op->reg); return true;
    case AK_rel21: im_print_target(op, false, buf, n); return true;
    case AK_page21: im_print_target(op, true, buf, n); return true;
    case AK_movn32:
    case AK_bimm32:
        if (op->imm >= 0 && op->imm <= 0xffffffffll)
            im_appendf(buf, n, "0x%llx", (unsigned long long)op->imm);
        else
            im_print_hex(buf, n, op->imm);
        return true;
    case AK_movn64:
    case AK_bimm64: im_appendf(buf, n, "0x%llx", (unsigned long long)op->imm); return true;
    case AK_u16:
    case AK_movz32:
    case AK_movz64:
    case AK_u12:
    case AK_u12lsl12:
    case AK_n12:
    case AK_n12lsl12: im_print_hex(buf, n, op->imm); return true;
    case AK_hw32:
    case AK_hw64:
    case AK_sh12:
    case AK_u5:
    case AK_u6:
    case AK_ext4:
    case AK_u4:
    case AK_lsl32:
    case AK_lsl64:
    case AK_ilsb32:
    case AK_ilsb64:
    case AK_iw32:
    case AK_iw64:
    case AK_xw32:
    case AK_xw64: im_appendf(buf, n, "%lld", (long long)op->imm); return true;
    default: return false;
    }
}

/* ---- field values ---- */

/* A value one movz makes: imm16 << (16 * hw); returns hw:imm16 or -1. */
static int64_t movz_field(uint64_t v, unsigned nhw)
{
    for (unsigned hw = 0; hw < nhw; hw++)
        if ((v & ~(0xffffull << (16 * hw))) == 0)
            return (int64_t)(hw << 16 | ((v >> (16 * hw)) & 0xffff));
    return -1;
}

/* A 32-bit immediate as GNU as takes it: -2^31..2^32-1, the low 32 bits. */
static int imm32(const im_form *f, unsigned i, int64_t v, uint64_t *out)
{
    int rc = a64_range(f, i, v, -0x80000000ll, 0xffffffffll);
    *out = (uint64_t)v & 0xffffffffull;
    return rc;
}

int a64_int_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out)
{
    unsigned kind = f->kinds[i];
    int64_t v = o->imm;
    uint64_t u;
    int rc = 0;
    /* ownership by the kind's section (one load, no switch); the register and target kinds
     * first, then one switch over the immediates */
    if (a64_kind_area[kind] != A64_AREA_INT)
        return A64_NOT_MINE;
    if (kind == AK_wdup || kind == AK_xdup) {
        if (o->type != IM_OP_REG || o->reg > 31)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a register", f->id, i + 1);
        *out = (uint32_t)o->reg << 5 | o->reg;
        return 0;
    }
    if (kind == AK_rel21) {
        if (o->type == IM_OP_LABEL) { /* unresolved: the buffer patches it later */
            *out = 0;
            return 0;
        }
        if (o->type != IM_OP_REL)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a target", f->id, i + 1);
        if ((rc = a64_range(f, i, v, -(1ll << 20), (1ll << 20) - 1)) < 0)
            return rc;
        *out = (uint32_t)((uint64_t)v & 0x1fffff);
        return 0;
    }
    if (kind == AK_page21) {
        if (!(f->flags & IM_FF_PAGE)) /* a table error: the buffer would not page it */
            return im_fail(IM_ERR_INVAL, "%s: a page21 operand needs the row flag page", f->id);
        if (o->type == IM_OP_LABEL) { /* unresolved: the buffer patches it later */
            *out = 0;
            return 0;
        }
        if (o->type != IM_OP_REL)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a target", f->id, i + 1);
        /* relative to pc = 0: the target's page is the page distance (the buffer passes
         * page(target) - page(pc), a multiple of 4096) */
        if (v < -(1ll << 32) || v > (1ll << 32) - 1)
            return im_fail(IM_ERR_RANGE,
                           "%s: operand %u: target page %s0x%llx bytes away is out of range "
                           "(-4 GiB .. +4 GiB - 4 KiB)",
                           f->id, i + 1, v < 0 ? "-" : "+",
                           (unsigned long long)(v < 0 ? -(uint64_t)v : (uint64_t)v) & ~0xfffull);
        *out = (uint32_t)(((uint64_t)v >> 12) & 0x1fffff);
        return 0;
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
    case AK_movz64:
    case AK_movn32:
    case AK_movn64: {
        bool w = kind == AK_movz32 || kind == AK_movn32;
        bool inv = kind == AK_movn32 || kind == AK_movn64;
        u = (uint64_t)v;
        if (w && (rc = imm32(f, i, v, &u)) < 0)
            return rc;
        if (inv)
            u = w ? ~u & 0xffffffffull : ~u;
        int64_t fv = movz_field(u, w ? 2 : 4);
        if (fv < 0)
            return im_fail(IM_ERR_NO_ENCODING, "%s: 0x%llx is not %s16-bit value shifted by a "
                           "multiple of 16", f->id, (unsigned long long)v, inv ? "the inverse of a " : "a ");
        *out = (uint32_t)fv;
        break;
    }
    case AK_u12: rc = a64_range(f, i, v, 0, 4095); *out = (uint32_t)v; break;
    case AK_u12lsl12:
        if ((rc = a64_aligned(f, i, v, 4096)) < 0 || (rc = a64_range(f, i, v, 4096, 4095ll << 12)) < 0)
            return rc;
        *out = (uint32_t)(v >> 12);
        break;
    case AK_n12: rc = a64_range(f, i, v, -4095, -1); *out = (uint32_t)-v; break;
    case AK_n12lsl12:
        if ((rc = a64_aligned(f, i, v, 4096)) < 0 ||
            (rc = a64_range(f, i, v, -(4095ll << 12), -4096)) < 0)
            return rc;
        *out = (uint32_t)(-v >> 12);
        break;
    case AK_sh12:
        if (v != 0 && v != 12)
            return im_fail(IM_ERR_RANGE, "%s: operand %u: the shift must be lsl #0 or lsl #12",
                           f->id, i + 1);
        *out = v == 12;
        break;
    case AK_bimm32:
    case AK_bimm64: {
        u = (uint64_t)v;
        if (kind == AK_bimm32 && (rc = imm32(f, i, v, &u)) < 0)
            return rc;
        int e = bimm_encode(u, kind == AK_bimm32 ? 32 : 64);
        if (e < 0)
            return im_fail(IM_ERR_NO_ENCODING, "%s: 0x%llx is not a bitmask immediate", f->id,
                           (unsigned long long)u);
        *out = (uint32_t)e;
        break;
    }
    case AK_shift: rc = a64_range(f, i, v, 0, 2); *out = (uint32_t)v; break;
    case AK_lshift: rc = a64_range(f, i, v, 0, 3); *out = (uint32_t)v; break;
    case AK_ext: rc = a64_range(f, i, v, 0, 7); *out = (uint32_t)v; break;
    case AK_extw:
        if ((v & 3) == 3)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u: %s takes an x register", f->id,
                           i + 1, ext_names[v & 7]);
        rc = a64_range(f, i, v, 0, 7);
        *out = (uint32_t)v;
        break;
    case AK_extx:
        if ((v & 3) != 3)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u: %s takes a w register", f->id,
                           i + 1, ext_names[v & 7]);
        rc = a64_range(f, i, v, 0, 7);
        *out = (uint32_t)v;
        break;
    case AK_condinv:
        if (v < 0 || v > 13)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a condition other than al "
                           "and nv", f->id, i + 1);
        *out = (uint32_t)v ^ 1;
        break;
    case AK_u5: rc = a64_range(f, i, v, 0, 31); *out = (uint32_t)v; break;
    case AK_u6: rc = a64_range(f, i, v, 0, 63); *out = (uint32_t)v; break;
    case AK_ext4: rc = a64_range(f, i, v, 0, 4); *out = (uint32_t)v; break;
    case AK_u4: rc = a64_range(f, i, v, 0, 15); *out = (uint32_t)v; break;
    case AK_lsl32:
    case AK_lsl64: {
        int64_t sz = kind == AK_lsl32 ? 32 : 64;
        if ((rc = a64_range(f, i, v, 0, sz - 1)) < 0)
            return rc;
        *out = (uint32_t)(((sz - v) & (sz - 1)) << 6 | (sz - 1 - v));
        break;
    }
    case AK_ilsb32:
    case AK_ilsb64: {
        int64_t sz = kind == AK_ilsb32 ? 32 : 64;
        if ((rc = a64_range(f, i, v, 0, sz - 1)) < 0)
            return rc;
        *out = (uint32_t)((sz - v) & (sz - 1));
        break;
    }
    case AK_iw32:
    case AK_iw64:
    case AK_xw32:
    case AK_xw64: {
        /* the width follows its lsb: the operand before, in the same operand array */
        int64_t sz = (kind == AK_iw32 || kind == AK_xw32) ? 32 : 64;
        int64_t lsb = i > 0 && o[-1].type == IM_OP_IMM ? o[-1].imm : 0;
        if (lsb < 0 || lsb >= sz)
            lsb = 0; /* the lsb operand reports its own range */
        if ((rc = a64_range(f, i, v, 1, sz - lsb)) < 0)
            return rc;
        *out = (uint32_t)(kind == AK_iw32 || kind == AK_iw64 ? v - 1 : lsb + v - 1);
        break;
    }
    default: break;
    }
    return rc;
}

/* ---- samples ---- */

static size_t int_samples(unsigned kind, im_rng *rng, im_operand *out, size_t max)
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
    case AK_u16:
        ADD(0); ADD(1); ADD(0x7fff); ADD(0x8000); ADD(0xffff);
        for (int i = 0; i < 16; i++)
            ADD((int64_t)(im_rng_next(rng) & 0xffff));
        return k;
    case AK_hw32: ADD(0); ADD(16); return k;
    case AK_hw64: ADD(0); ADD(16); ADD(32); ADD(48); return k;
    case AK_movz32:
    case AK_movz64:
    case AK_movn32:
    case AK_movn64: {
        bool w = kind == AK_movz32 || kind == AK_movn32;
        bool inv = kind == AK_movn32 || kind == AK_movn64;
        unsigned nhw = w ? 2 : 4;
        uint64_t mask = w ? 0xffffffffull : ~0ull;
        for (unsigned hw = 0; hw < nhw; hw++) {
            static const uint64_t e[] = {0, 1, 0x7fff, 0x8000, 0xfffe, 0xffff};
            for (unsigned j = 0; j < 6; j++) {
                uint64_t x = e[j] << (16 * hw);
                ADD((int64_t)(inv ? ~x & mask : x));
            }
            for (int i = 0; i < 6; i++) {
                uint64_t x = (im_rng_next(rng) & 0xffff) << (16 * hw);
                ADD((int64_t)(inv ? ~x & mask : x));
            }
        }
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
    case AK_n12:
        ADD(-1); ADD(-4095);
        for (int i = 0; i < 12; i++)
            ADD(-(int64_t)(1 + im_rng_next(rng) % 4095));
        return k;
    case AK_n12lsl12:
        ADD(-4096); ADD(-(4095ll << 12));
        for (int i = 0; i < 8; i++)
            ADD(-((int64_t)(1 + im_rng_next(rng) % 4095) << 12));
        return k;
    case AK_sh12: ADD(0); ADD(12); return k;
    case AK_bimm32:
    case AK_bimm64: {
        /* every valid one: 1,302 (32-bit) or 5,334 (64-bit) */
        unsigned size = kind == AK_bimm32 ? 32 : 64;
        for (unsigned nimm = 0; nimm < 1u << 13; nimm++) {
            uint64_t v;
            if (bimm_decode(nimm, size, &v))
                ADD((int64_t)v);
        }
        return k;
    }
    case AK_shift: ADD(0); ADD(1); ADD(2); return k;
    case AK_lshift: ADD(0); ADD(1); ADD(2); ADD(3); return k;
    case AK_ext:
        for (int v = 0; v < 8; v++)
            ADD(v);
        return k;
    case AK_extw: ADD(0); ADD(1); ADD(2); ADD(4); ADD(5); ADD(6); return k;
    case AK_extx: ADD(3); ADD(7); return k;
    case AK_ext4:
        for (int v = 0; v <= 4; v++)
            ADD(v);
        return k;
    case AK_u4:
        for (int v = 0; v < 16; v++)
            ADD(v);
        return k;
    case AK_condinv:
        for (int v = 0; v < 14; v++)
            ADD(v);
        return k;
    case AK_wdup:
    case AK_xdup:
        for (unsigned r = 0; r < 32 && k < max; r++)
            out[k++] = im_reg(r);
        return k;
    case AK_u5:
    case AK_lsl32:
    case AK_ilsb32:
        for (int v = 0; v < 32; v++)
            ADD(v);
        return k;
    case AK_u6:
    case AK_lsl64:
    case AK_ilsb64:
        for (int v = 0; v < 64; v++)
            ADD(v);
        return k;
    case AK_iw32:
    case AK_xw32:
        for (int v = 1; v <= 32; v++)
            ADD(v);
        return k;
    case AK_iw64:
    case AK_xw64:
        for (int v = 1; v <= 64; v++)
            ADD(v);
        return k;
    case AK_rel21: {
        int64_t lim = 1ll << 20;
        ADDREL(0); ADDREL(1); ADDREL(-1); ADDREL(3); ADDREL(lim - 1); ADDREL(-lim);
        ADDREL(lim - 2); ADDREL(-lim + 1);
        for (int i = 0; i < 16; i++)
            ADDREL((int64_t)(im_rng_next(rng) % (uint64_t)(2 * lim)) - lim);
        return k;
    }
    case AK_page21: {
        /* the edges of the page range at pc = 0, either side of a page boundary, then
         * random distances (half of them whole pages) */
        int64_t lim = 1ll << 32;
        ADDREL(0); ADDREL(4); ADDREL(-4); ADDREL(0xfff); ADDREL(0x1000); ADDREL(-0x1000);
        ADDREL(-0x1001); ADDREL(lim - 1); ADDREL(lim - 0x1000); ADDREL(lim - 0x1001);
        ADDREL(-lim); ADDREL(-lim + 0xfff); ADDREL(-lim + 0x1000);
        for (int i = 0; i < 12; i++) {
            int64_t v = (int64_t)(im_rng_next(rng) % (uint64_t)(2 * lim)) - lim;
            ADDREL(i & 1 ? v & ~0xfffll : v);
        }
        return k;
    }
    default: return A64_NONE;
    }
#undef ADD
#undef ADDREL
}

/* ---- bad operands: texts no sample of the kind makes, which GNU as rejects ---- */

/* A random 32/64-bit value that is not a bitmask immediate. */
static uint64_t not_bimm(im_rng *rng, unsigned size)
{
    for (;;) {
        uint64_t v = im_rng_next(rng);
        if (size == 32)
            v &= 0xffffffffull;
        if (bimm_encode(v, size) < 0)
            return v;
    }
}

static size_t int_bad_samples(unsigned kind, im_rng *rng, im_bad_sample *out, size_t max)
{
    size_t k = 0;
#define BAD(...)                                                                                   \
    do {                                                                                           \
        if (k < max) {                                                                             \
            out[k].lenient = false;                                                                \
            snprintf(out[k].text, sizeof out[k].text, __VA_ARGS__);                                \
            k++;                                                                                   \
        }                                                                                          \
    } while (0)
    switch (kind) {
    case AK_u16: BAD("0x10000"); BAD("0x12345"); return k;
    case AK_hw32: BAD("8"); BAD("32"); BAD("48"); return k;
    case AK_hw64: BAD("8"); BAD("24"); BAD("64"); return k;
    case AK_movz32:
    case AK_movn32:
        BAD("0x12345"); BAD("0x10001"); BAD("0x100000000"); BAD("0x%llx", (unsigned long long)(
            (im_rng_next(rng) & 0x7fff) << 8 | 0x10001));
        return k;
    case AK_movz64:
    case AK_movn64:
        BAD("0x12345"); BAD("0x100010000"); BAD("0x1234000000005678");
        BAD("0x%llx", (unsigned long long)((im_rng_next(rng) | 0x1000100010001ull) & 0x7fff7fff7fff7fffull));
        return k;
    case AK_u12: BAD("4096"); BAD("0x1001"); BAD("0x%llx", (unsigned long long)(0x1001 + (im_rng_next(rng) % 0xffff000))); return k;
    case AK_u12lsl12: BAD("0x1000001"); BAD("0x1001"); BAD("0x1000000"); return k;
    case AK_n12: BAD("-0x1001"); BAD("-0x1000001"); return k;
    case AK_n12lsl12: BAD("-0x1000000"); BAD("-0x1001"); return k;
    case AK_sh12: BAD("1"); BAD("16"); BAD("24"); return k;
    case AK_bimm32:
        BAD("0"); BAD("0xffffffff"); BAD("-1"); BAD("0x100000000");
        for (int i = 0; i < 28; i++)
            BAD("0x%llx", (unsigned long long)not_bimm(rng, 32));
        return k;
    case AK_bimm64:
        BAD("0"); BAD("0xffffffffffffffff"); BAD("-1");
        for (int i = 0; i < 28; i++)
            BAD("0x%llx", (unsigned long long)not_bimm(rng, 64));
        return k;
    case AK_shift: BAD("ror"); BAD("msl"); return k;
    case AK_lshift: BAD("msl"); BAD("uxtw"); return k;
    case AK_u5: BAD("32"); BAD("63"); BAD("%d", 33 + (int)(im_rng_next(rng) % 200)); return k;
    case AK_u6: BAD("64"); BAD("%d", 65 + (int)(im_rng_next(rng) % 200)); return k;
    case AK_ext4: BAD("5"); BAD("7"); BAD("%d", 8 + (int)(im_rng_next(rng) % 60)); return k;
    case AK_u4: BAD("16"); BAD("%d", 17 + (int)(im_rng_next(rng) % 200)); return k;
    case AK_condinv: BAD("al"); BAD("nv"); return k;
    case AK_lsl32: BAD("32"); BAD("%d", 33 + (int)(im_rng_next(rng) % 100)); return k;
    case AK_lsl64: BAD("64"); BAD("%d", 65 + (int)(im_rng_next(rng) % 100)); return k;
    case AK_ilsb32: BAD("32"); BAD("%d", 33 + (int)(im_rng_next(rng) % 100)); return k;
    case AK_ilsb64: BAD("64"); BAD("%d", 65 + (int)(im_rng_next(rng) % 100)); return k;
    case AK_iw32:
    case AK_xw32: BAD("0"); BAD("33"); return k;
    case AK_iw64:
    case AK_xw64: BAD("0"); BAD("65"); return k;
    case AK_rel21: /* adr: beyond +-1 MiB ("pc-relative address offset out of range") */
        BAD(".+0x100000"); BAD(".-0x100001");
        BAD(".+0x%llx", (unsigned long long)(0x100000 + im_rng_next(rng) % 0x1000000));
        BAD(".-0x%llx", (unsigned long long)(0x100001 + im_rng_next(rng) % 0x1000000));
        return k;
    case AK_page21:
        /* beyond the page range (GNU as leaves the relocation, ld refuses it: the harness
         * links the page-relative negatives); an immediate */
        BAD(".+0x100000000"); BAD(".-0x100000001"); BAD(".-0x100001000"); BAD(".+0x123456789");
        BAD(".-0x%llx", (unsigned long long)((1ull << 32) + 1 + im_rng_next(rng) % (1ull << 40)));
        BAD("#0x1000");
        /* GNU as reads a register name or a number as a symbol's address (an undefined
         * symbol, an absolute one): it accepts what imago refuses */
        for (int j = 0; j < 2 && k < max; j++) {
            snprintf(out[k].text, sizeof out[k].text, "%s", j ? "0x1000" : "x1");
            out[k++].lenient = true;
        }
        return k;
    default: return A64_NONE;
    }
#undef BAD
}

/* Rows flagged spext: lsl names the extended form only next to sp. */
static int int_check(const im_form *f, const im_operand *ops, const uint32_t *vals)
{
    (void)vals;
    if (!(f->flags & A64_FF_SPEXT))
        return 0;
    for (unsigned i = 0; i < f->nops; i++)
        if ((f->kinds[i] == AK_wsp || f->kinds[i] == AK_xsp) && ops[i].reg == 31)
            return 0;
    return im_fail(IM_ERR_NO_ENCODING, "%s: lsl names an extended register only with sp as Rd or Rn",
                   f->id);
}

const a64_area a64_area_int = {
    .name = "int",
    .parse = int_parse,
    .print = int_print,
    .field = a64_int_field,
    .samples = int_samples,
    .bad_samples = int_bad_samples,
    .check = int_check,
    .check_flags = A64_FF_SPEXT,
};
