/* imago's side of `make bench`: the mix of mix.def through layer 1 (im_encode into a flat
 * buffer, branch displacements computed by the caller) and layer 2 (im_buf_emit with
 * labels, one buffer per repetition: new, emit, finish, free), and memcpy of the same
 * bytes as a floor. See docs/bench.md. */
#include <imago/enc.h>
#include <imago/forms.h>

#include "bench.h"
#include "bench_imago.h"
#include "mix.def"

/* ---- operands ---- */
#define R64(r) im_reg(r)
#define R32(r) im_reg(r)
#define R8(r) im_reg(r)
#define CL im_reg(1)
#define IMM(v) im_imm(v)
#define MEM(b, i, s, d) im_mem(b, (i) == NOIDX ? IM_NOREG : (unsigned)(i), s, d)
#define M64(b, i, s, d) MEM(b, i, s, d)
#define M32(b, i, s, d) MEM(b, i, s, d)
#define M16(b, i, s, d) MEM(b, i, s, d)
#define M8(b, i, s, d) MEM(b, i, s, d)
#define MA(b, i, s, d) MEM(b, i, s, d)

/* Layer 1: a branch operand is the displacement from the instruction to the label,
 * which the caller knows (lab[] holds each label's offset in a copy of the mix). */
#define LBL8(k) rel_to(lab[k], (int64_t)(p - copy))
#define LBL32(k) LBL8(k)
#define LBLJ32(k) LBL8(k)
#define LBLCALL(k) LBL8(k)

static inline im_operand rel_to(int64_t target, int64_t at)
{
    im_operand o = {IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, target - at};
    return o;
}

static int failed;

#define L1_I(F, m, ...)                                                                            \
    do {                                                                                           \
        MARK();                                                                                    \
        const im_operand ops_[] = {__VA_ARGS__};                                                   \
        int n_ = im_encode(IM_TARGET_X86_64, IM_X86_##F, ops_, p, (size_t)(end - p));              \
        if (n_ < 0) {                                                                              \
            failed = n_;                                                                           \
            return NULL;                                                                           \
        }                                                                                          \
        p += n_;                                                                                   \
    } while (0);
#define L1_I0(F, m)                                                                                \
    do {                                                                                           \
        MARK();                                                                                    \
        int n_ = im_encode(IM_TARGET_X86_64, IM_X86_##F, NULL, p, (size_t)(end - p));              \
        if (n_ < 0) {                                                                              \
            failed = n_;                                                                           \
            return NULL;                                                                           \
        }                                                                                          \
        p += n_;                                                                                   \
    } while (0);
#define L1_L(k)

/* One copy of the mix at p; returns the end, or NULL (failed holds the error). */
#define MARK()
static uint8_t *l1_copy(uint8_t *p, uint8_t *end, const int64_t *lab)
{
    uint8_t *copy = p;
    BENCH_MIX(L1_I, L1_I0, L1_L)
    (void)copy;
    return p;
}
#undef MARK

/* ---- layer 2 ---- */
#undef LBL8
#undef LBL32
#undef LBLJ32
#undef LBLCALL
#define LBL8(k) im_label(lab[k])
#define LBL32(k) LBL8(k)
#define LBLJ32(k) LBL8(k)
#define LBLCALL(k) LBL8(k)

#define L2_I(F, m, ...)                                                                            \
    {                                                                                              \
        MARK();                                                                                    \
        const im_operand ops_[] = {__VA_ARGS__};                                                   \
        im_buf_emit(b, IM_X86_##F, ops_);                                                          \
    }
#define L2_I0(F, m)                                                                                \
    {                                                                                              \
        MARK();                                                                                    \
        im_buf_emit(b, IM_X86_##F, NULL);                                                          \
    }
#define L2_L(k) im_buf_bind(b, lab[k]);

/* One copy of the mix into b; errors are sticky in b and checked at the end. */
#define MARK()
static void l2_copy(im_buf *b)
{
    int lab[BENCH_LABELS];
    for (int k = 0; k < BENCH_LABELS; k++)
        lab[k] = im_buf_label(b);
    BENCH_MIX(L2_I, L2_I0, L2_L)
}
#undef MARK

/* The same, recording where each instruction starts (outside the timed loop). */
#define MARK() (offs[n++] = im_buf_offset(b))
static int l2_copy_marked(im_buf *b, size_t *offs)
{
    int n = 0;
    int lab[BENCH_LABELS];
    for (int k = 0; k < BENCH_LABELS; k++)
        lab[k] = im_buf_label(b);
    BENCH_MIX(L2_I, L2_I0, L2_L)
    offs[n] = im_buf_offset(b);
    return n;
}
#undef MARK

int main(int argc, char **argv)
{
    bench_opts o = bench_args(argc, argv);
    static double t[BENCH_MAX_REPS];

    /* One marked copy: the instruction count and offsets, and the labels' offsets. */
    size_t offs[BENCH_MAX_INSNS + 1];
    im_buf *b = im_buf_new(IM_TARGET_X86_64);
    if (!b)
        bench_fail("imago-l2", "im_buf_new failed");
    int ninsn = l2_copy_marked(b, offs);
    im_buf_finish(b);
    bench_check_buf("imago-l2", b);
    size_t mixlen;
    const uint8_t *mix = im_buf_code(b, &mixlen);
    int64_t lab[BENCH_LABELS];
    for (int k = 0; k < BENCH_LABELS; k++)
        lab[k] = im_buf_label_offset(b, k);

    if (o.dump)
        bench_dump(o.dump, mix, offs, ninsn);
    static const bench_imago bi = {"imago", "memcpy", IM_TARGET_X86_64, l1_copy,
                                   l2_copy, &failed};
    int rc = bench_imago_run(&bi, &o, mix, mixlen, ninsn, lab, t); /* mix is b's code */
    im_buf_free(b);
    return rc;
}
