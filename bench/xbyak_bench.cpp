// xbyak's side of `make bench`: the mix of mix.def through Xbyak::CodeGenerator (one
// generator of fixed size, reset per repetition, labels per copy).
#include <xbyak/xbyak.h>

#include "bench.h"
#include "mix.def"

using Xbyak::CodeGenerator;
using Xbyak::Label;
using Xbyak::Reg32;
using Xbyak::Reg64;

#define R64(r) Reg64(r)
#define R32(r) Reg32(r)
#define R8(r) Xbyak::Reg8(r)
#define CL Xbyak::util::cl
#define IMM(v) (v)
#define MEMP(w, b, i, s, d)                                                                        \
    ((i) == NOIDX ? g.w[Reg64(b) + int32_t(d)]                                                     \
                  : g.w[Reg64(b) + Reg64((i) == NOIDX ? 0 : (i)) * (s) + int32_t(d)])
#define M64(b, i, s, d) MEMP(qword, b, i, s, d)
#define M32(b, i, s, d) MEMP(dword, b, i, s, d)
#define M16(b, i, s, d) MEMP(word, b, i, s, d)
#define M8(b, i, s, d) MEMP(byte, b, i, s, d)
#define MA(b, i, s, d) MEMP(ptr, b, i, s, d)
#define LBL8(k) lab[k], CodeGenerator::T_SHORT
#define LBL32(k) lab[k], CodeGenerator::T_NEAR
#define LBLJ32(k) LBL32(k)
#define LBLCALL(k) lab[k] // always rel32

#define XB_I(F, m, ...)                                                                            \
    MARK();                                                                                        \
    g.m(__VA_ARGS__);
#define XB_I0(F, m)                                                                                \
    MARK();                                                                                        \
    g.m();
#define XB_L(k) g.L(lab[k]);

#define MARK()
static void copy(CodeGenerator &g)
{
    Label lab[BENCH_LABELS];
    BENCH_MIX(XB_I, XB_I0, XB_L)
}
#undef MARK

#define MARK() (offs[n++] = g.getSize())
static int copy_marked(CodeGenerator &g, size_t *offs)
{
    int n = 0;
    Label lab[BENCH_LABELS];
    BENCH_MIX(XB_I, XB_I0, XB_L)
    offs[n] = g.getSize();
    return n;
}
#undef MARK

int main(int argc, char **argv)
{
    bench_opts o = bench_args(argc, argv);
    static double t[BENCH_MAX_REPS];
    size_t offs[BENCH_MAX_INSNS + 1];
    try {
        CodeGenerator g(size_t(o.copies) * 512 + 4096);
        int ninsn = copy_marked(g, offs);
        long mixlen = long(g.getSize());
        if (o.dump)
            bench_dump(o.dump, g.getCode(), offs, ninsn);
        long bytes = 0;
        for (int r = -2; r < o.reps; r++) {
            double t0 = bench_now();
            g.reset();
            for (int c = 0; c < o.copies; c++)
                copy(g);
            bytes = long(g.getSize());
            volatile uint8_t sink = g.getCode()[bytes - 1];
            (void)sink;
            double t1 = bench_now();
            if (bytes != mixlen * o.copies)
                bench_fail("xbyak", "wrong length");
            if (r >= 0)
                t[r] = t1 - t0;
        }
        bench_print("xbyak", long(ninsn) * o.copies, bytes, t, o.reps);
    } catch (const std::exception &e) {
        bench_fail("xbyak", e.what());
    }
    return 0;
}
