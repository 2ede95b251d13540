/* x86 bad operands for imago vectors' negative candidates (im_arch.bad_samples): operand
 * texts that no valid sample of a kind produces and that no row may encode. They are printed
 * with the kind's own printer from operands no valid sample holds (rsp as an index, rip with
 * an index, a scale of 3, a displacement or immediate out of range), so they read exactly as
 * the valid operands of the kind do. Which of them GNU as rejects and which it accepts by
 * truncating (or by reading a register name it does not know as a symbol) is recorded per
 * sample: docs/testing.md, "Negatives". */
#include <stdint.h>
#include <string.h>

#include "core.h"
#include "form.h"

enum {
#define KIND(n, c, b) XK_##n,
#include "kinds.def"
#undef KIND
    XK_COUNT
};

static bool is64(im_target t)
{
    return t == IM_TARGET_X86_64;
}

static size_t put(im_target t, unsigned kind, const im_operand *op, bool lenient,
                  im_bad_sample *out, size_t k, size_t max)
{
    if (k >= max)
        return k;
    out[k].text[0] = '\0';
    im_arch_x86.print(t, kind, op, out[k].text, sizeof out[k].text);
    out[k].lenient = lenient;
    return k + 1;
}

static size_t bad_mem(im_target t, unsigned kind, im_rng *rng, im_bad_sample *out, size_t max)
{
    size_t k = 0;
    unsigned nr = is64(t) ? 16 : 8;
    /* rsp/esp as an index, with and without a base, every scale (scale 1 only with a base:
     * GNU as may read a lone [rsp*1] as a base) */
    static const unsigned scales[] = {1, 2, 4, 8};
    for (size_t i = 0; i < sizeof scales / sizeof scales[0]; i++) {
        unsigned base = (unsigned)(im_rng_next(rng) % nr);
        int64_t d = (int8_t)im_rng_next(rng);
        im_operand m = im_mem(base, 4, scales[i], d);
        k = put(t, kind, &m, false, out, k, max);
        if (scales[i] > 1) {
            m = im_mem(IM_NOREG, 4, scales[i], (int32_t)im_rng_next(rng));
            k = put(t, kind, &m, false, out, k, max);
        }
    }
    /* scales the SIB byte cannot hold */
    static const unsigned bad_scales[] = {3, 5, 6, 16};
    for (size_t i = 0; i < sizeof bad_scales / sizeof bad_scales[0]; i++) {
        unsigned base = (unsigned)(im_rng_next(rng) % nr);
        unsigned index = (unsigned)(im_rng_next(rng) % nr);
        if (index == 4)
            index = 5;
        im_operand m = im_mem(base, index, bad_scales[i], (int8_t)im_rng_next(rng));
        k = put(t, kind, &m, false, out, k, max);
    }
    /* displacements out of range, with a base register (a bare address is an absolute
     * moffs operand to GNU as's mov on x86_64). x86_64: signed 32 bits, GNU as rejects the
     * rest; i386: GNU as truncates to 32 bits without a word, imago refuses. */
    static const int64_t far64[] = {0x80000000ll, 0xffffffffll, -0x80000001ll, 0x100000000ll,
                                    0x7fffffffffffffffll};
    static const int64_t far32[] = {0x100000000ll, -0x80000001ll, 0x123456789all};
    const int64_t *far = is64(t) ? far64 : far32;
    size_t nfar = is64(t) ? sizeof far64 / sizeof far64[0] : sizeof far32 / sizeof far32[0];
    /* lea's operand (kind m): x86_64 GNU as truncates an out-of-range displacement of a
     * 16- or 32-bit lea, sometimes with a warning, sometimes silently, and refuses it for a
     * 64-bit one; the kind does not say which, so it gets none of these */
    if (kind == XK_m && is64(t))
        nfar = 0;
    for (size_t i = 0; i < nfar; i++) {
        unsigned base = (unsigned)(im_rng_next(rng) % nr);
        im_operand m = im_mem(base, IM_NOREG, 1, far[i]);
        k = put(t, kind, &m, !is64(t), out, k, max);
        unsigned index = (unsigned)(im_rng_next(rng) % nr);
        if (index != 4) {
            m = im_mem(base, index, 1u << (im_rng_next(rng) & 3), far[i]);
            k = put(t, kind, &m, !is64(t), out, k, max);
        }
    }
    /* rip: never with an index; on i386 it does not exist (GNU as reads the name as a
     * symbol, so the text assembles there: lenient) */
    for (unsigned i = 0; i < 4; i++) {
        unsigned index = (unsigned)(im_rng_next(rng) % nr);
        if (index == 4)
            index = 0;
        im_operand m = im_mem(IM_REG_RIP, is64(t) ? index : IM_NOREG, is64(t) ? 1u << i : 1,
                              (int16_t)im_rng_next(rng));
        k = put(t, kind, &m, !is64(t), out, k, max);
    }
    return k;
}

/* Immediates out of a kind's range. GNU as truncates a value beyond 32 bits given to a
 * 32-bit operand's immediate (with a warning on x86_64, silently on i386): lenient. Where
 * the immediate is narrower than the operand (shift counts, imm8/imm32 sign-extended to 64
 * bits) it finds no form and rejects the text (x86_64; i386 GNU as truncates any value to
 * 32 bits first). */
static size_t bad_imm(im_target t, unsigned kind, im_bad_sample *out, size_t max)
{
    static const int64_t wide[] = {0x100000000ll, 0x123456789abll, 0x7fffffffffffffffll,
                                   -0x80000001ll, INT64_MIN};
    static const int64_t over8[] = {0x100, 0x1ff, 0x1000, -0x81, -0x100};
    static const int64_t over32s[] = {0x80000000ll, 0xfffffffell, 0xffffffffll};
    size_t k = 0;
    im_operand o;
    switch (kind) {
    case XK_imm8b:
        /* an 8-bit operand's immediate: GNU as truncates with a warning (on i386 values
         * beyond 32 bits silently): lenient */
        for (size_t i = 0; i < sizeof over8 / sizeof over8[0]; i++)
            o = im_imm(over8[i]), k = put(t, kind, &o, true, out, k, max);
        for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++)
            o = im_imm(wide[i]), k = put(t, kind, &o, true, out, k, max);
        return k;
    case XK_imm8:
        /* a count or selector: GNU as finds no form for a value beyond a byte. On i386 it
         * first truncates values beyond 32 bits, and then accepts some (shl) and rejects
         * others (pshufd): those are left out. */
        for (size_t i = 0; i < sizeof over8 / sizeof over8[0]; i++)
            o = im_imm(over8[i]), k = put(t, kind, &o, false, out, k, max);
        for (size_t i = 0; i < sizeof wide / sizeof wide[0] && is64(t); i++)
            o = im_imm(wide[i]), k = put(t, kind, &o, false, out, k, max);
        return k;
    case XK_imm8s32:
    case XK_imm32:
    case XK_moffs32:
        for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++)
            o = im_imm(wide[i]), k = put(t, kind, &o, true, out, k, max);
        return k;
    case XK_imm8s64:
    case XK_imm32s:
        for (size_t i = 0; i < sizeof over32s / sizeof over32s[0]; i++)
            o = im_imm(over32s[i]), k = put(t, kind, &o, false, out, k, max);
        for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++)
            o = im_imm(wide[i]), k = put(t, kind, &o, false, out, k, max);
        return k;
    default: return 0; /* imm64, the constant 1, kinds not described here */
    }
}

size_t im_x86_bad_samples(im_target t, unsigned kind, im_rng *rng, im_bad_sample *out, size_t max)
{
    if (kind >= XK_COUNT)
        return 0;
    switch (im_arch_x86.kinds[kind].cls) {
    case IM_KC_MEM:
    case IM_KC_RM: return bad_mem(t, kind, rng, out, max);
    case IM_KC_IMM: return bad_imm(t, kind, out, max);
    default: return 0;
    }
}
