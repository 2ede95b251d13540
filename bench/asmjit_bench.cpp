// asmjit's side of `make bench`: the mix of mix.def through asmjit's raw assembler
// (x86::Assembler into a CodeHolder: init, attach, emit with labels, per repetition).
#include <asmjit/x86.h>

#include <vector>

#include "bench.h"
#include "mix.def"

using namespace asmjit;

#define R64(r) x86::gpq(r)
#define R32(r) x86::gpd(r)
#define R8(r) x86::gpb(r)
#define CL x86::cl
#define IMM(v) Imm(int64_t(v))
#define MEMP(ptr, b, i, s, d)                                                                      \
    ((i) == NOIDX ? x86::ptr(x86::gpq(b), int32_t(d))                                              \
                  : x86::ptr(x86::gpq(b), x86::gpq((i) == NOIDX ? 0 : (i)),                        \
                             (s) == 8   ? 3                                                        \
                             : (s) == 4 ? 2                                                        \
                             : (s) == 2 ? 1                                                        \
                                        : 0,                                                       \
                             int32_t(d)))
#define M64(b, i, s, d) MEMP(qword_ptr, b, i, s, d)
#define M32(b, i, s, d) MEMP(dword_ptr, b, i, s, d)
#define M16(b, i, s, d) MEMP(word_ptr, b, i, s, d)
#define M8(b, i, s, d) MEMP(byte_ptr, b, i, s, d)
#define MA(b, i, s, d) MEMP(ptr, b, i, s, d)
// A backward branch in range is short by default; a forward one is rel32.
#define LBL8(k) lab[k]
#define LBL32(k) lab[k]
#define LBLJ32(k) lab[k]
#define LBLCALL(k) lab[k]

#define AJ_I(F, m, ...)                                                                            \
    MARK();                                                                                        \
    err |= a.m(__VA_ARGS__);
#define AJ_I0(F, m)                                                                                \
    MARK();                                                                                        \
    err |= a.m();
#define AJ_L(k) err |= a.bind(lab[k]);

#define MARK()
static Error copy(x86::Assembler &a)
{
    Error err = 0;
    Label lab[BENCH_LABELS];
    for (int k = 0; k < BENCH_LABELS; k++)
        lab[k] = a.newLabel();
    BENCH_MIX(AJ_I, AJ_I0, AJ_L)
    return err;
}
#undef MARK

#define MARK() (offs[n++] = a.offset())
static int copy_marked(x86::Assembler &a, size_t *offs)
{
    Error err = 0;
    int n = 0;
    Label lab[BENCH_LABELS];
    for (int k = 0; k < BENCH_LABELS; k++)
        lab[k] = a.newLabel();
    BENCH_MIX(AJ_I, AJ_I0, AJ_L)
    offs[n] = a.offset();
    if (err)
        bench_fail("asmjit", DebugUtils::errorAsString(err));
    return n;
}
#undef MARK

int main(int argc, char **argv)
{
    bench_opts o = bench_args(argc, argv);
    static double t[BENCH_MAX_REPS];
    Environment env(Arch::kX64);
    size_t offs[BENCH_MAX_INSNS + 1];
    long mixlen;
    int ninsn;
    {
        CodeHolder code;
        code.init(env);
        x86::Assembler a(&code);
        ninsn = copy_marked(a, offs);
        CodeBuffer &buf = code.textSection()->buffer();
        mixlen = long(buf.size());
        if (o.dump)
            bench_dump(o.dump, buf.data(), offs, ninsn);
    }
    long bytes = 0;
    for (int r = -2; r < o.reps; r++) {
        double t0 = bench_now();
        CodeHolder code;
        code.init(env);
        x86::Assembler a(&code);
        Error err = 0;
        for (int c = 0; c < o.copies; c++)
            err |= copy(a);
        CodeBuffer &buf = code.textSection()->buffer();
        bytes = long(buf.size());
        volatile uint8_t sink = buf.data()[bytes - 1];
        (void)sink;
        double t1 = bench_now();
        if (err || bytes != mixlen * o.copies)
            bench_fail("asmjit", err ? DebugUtils::errorAsString(err) : "wrong length");
        if (r >= 0)
            t[r] = t1 - t0;
    }
    bench_print("asmjit", long(ninsn) * o.copies, bytes, t, o.reps);
    return 0;
}
