// asmjit's side of the AArch64 `make bench`: the mix of mix_a64.def through asmjit's raw
// a64::Assembler into a CodeHolder (init, attach, emit with labels, per repetition),
// leaving out the lines given with --skip (the ones imago cannot encode yet).
#include <asmjit/arm/a64assembler.h>

#include "bench_a64.h"

using namespace asmjit;
using namespace asmjit::a64;

#define AJ_I(id, text, ops, call)                                                                  \
    if (!skip[line_]) {                                                                            \
        MARK();                                                                                    \
        err |= a.call;                                                                             \
    }                                                                                              \
    line_++;
#define AJ_L(k) err |= a.bind(lab[k]);

#define MARK()
static Error copy(a64::Assembler &a, const unsigned char *skip)
{
    Error err = 0;
    int line_ = 0;
    Label lab[BENCH_A64_LABELS];
    for (int k = 0; k < BENCH_A64_LABELS; k++)
        lab[k] = a.newLabel();
    BENCH_A64_MIX(AJ_I, AJ_L)
    return err;
}
#undef MARK

#define MARK() (offs[n] = a.offset(), line[n] = line_, n++)
static int copy_marked(a64::Assembler &a, const unsigned char *skip, size_t *offs, int *line)
{
    Error err = 0;
    int n = 0, line_ = 0;
    Label lab[BENCH_A64_LABELS];
    for (int k = 0; k < BENCH_A64_LABELS; k++)
        lab[k] = a.newLabel();
    BENCH_A64_MIX(AJ_I, AJ_L)
    offs[n] = a.offset();
    if (err)
        bench_fail("asmjit-a64", DebugUtils::errorAsString(err));
    return n;
}
#undef MARK

int main(int argc, char **argv)
{
    bench_a64_opts ao = bench_a64_args(argc, argv);
    bench_opts o = ao.o;
    static double t[BENCH_MAX_REPS];
    Environment env(Arch::kAArch64);
    size_t offs[BENCH_MAX_INSNS + 1];
    int line[BENCH_MAX_INSNS];
    long mixlen;
    int ninsn;
    {
        CodeHolder code;
        code.init(env);
        a64::Assembler a(&code);
        ninsn = copy_marked(a, ao.skip, offs, line);
        CodeBuffer &buf = code.textSection()->buffer();
        mixlen = long(buf.size());
        if (o.dump)
            bench_a64_dump(o.dump, buf.data(), offs, line, ninsn);
    }
    long bytes = 0;
    for (int r = -2; r < o.reps; r++) {
        double t0 = bench_now();
        CodeHolder code;
        code.init(env);
        a64::Assembler a(&code);
        Error err = 0;
        for (int c = 0; c < o.copies; c++)
            err |= copy(a, ao.skip);
        CodeBuffer &buf = code.textSection()->buffer();
        bytes = long(buf.size());
        volatile uint8_t sink = bytes ? buf.data()[bytes - 1] : 0;
        (void)sink;
        double t1 = bench_now();
        if (err || bytes != mixlen * o.copies)
            bench_fail("asmjit-a64", err ? DebugUtils::errorAsString(err) : "wrong length");
        if (r >= 0)
            t[r] = t1 - t0;
    }
    bench_print("asmjit-a64", long(ninsn) * o.copies, bytes, t, o.reps);
    return 0;
}
