// Zydis' side of `make bench`: the mix of mix.def through ZydisEncoderEncodeInstruction
// (one request per instruction, filled in place as a JIT would). Zydis has no labels or
// buffer: like imago's layer 1, the caller advances the pointer and knows the targets.
#include <Zydis/Zydis.h>

#include "bench.h"
#include "mix.def"

static ZydisMnemonic zm[BENCH_MAX_INSNS];

static ZydisEncoderOperand reg(ZydisRegister r)
{
    ZydisEncoderOperand o;
    memset(&o, 0, sizeof o);
    o.type = ZYDIS_OPERAND_TYPE_REGISTER;
    o.reg.value = r;
    return o;
}
static ZydisEncoderOperand imm(int64_t v)
{
    ZydisEncoderOperand o;
    memset(&o, 0, sizeof o);
    o.type = ZYDIS_OPERAND_TYPE_IMMEDIATE;
    o.imm.s = v;
    return o;
}
static ZydisEncoderOperand mem(int b, int i, int s, int64_t d, int size)
{
    ZydisEncoderOperand o;
    memset(&o, 0, sizeof o);
    o.type = ZYDIS_OPERAND_TYPE_MEMORY;
    o.mem.base = ZydisRegister(ZYDIS_REGISTER_RAX + b);
    o.mem.index = i == NOIDX ? ZYDIS_REGISTER_NONE : ZydisRegister(ZYDIS_REGISTER_RAX + i);
    o.mem.scale = ZyanU8(i == NOIDX ? 0 : s);
    o.mem.displacement = d;
    o.mem.size = ZyanU16(size);
    return o;
}

#define R64(r) reg(ZydisRegister(ZYDIS_REGISTER_RAX + (r)))
#define R32(r) reg(ZydisRegister(ZYDIS_REGISTER_EAX + (r)))
// Zydis numbers the byte registers al..bl, ah..bh, spl..dil, r8b..r15b
#define R8(r)                                                                                      \
    reg(ZydisRegister((r) < 4   ? ZYDIS_REGISTER_AL + (r)                                          \
                      : (r) < 8 ? ZYDIS_REGISTER_SPL + (r)-4                                       \
                                : ZYDIS_REGISTER_R8B + (r)-8))
#define CL reg(ZYDIS_REGISTER_CL)
#define IMM(v) imm(int64_t(v))
#define M64(b, i, s, d) mem(b, i, s, d, 8)
#define M32(b, i, s, d) mem(b, i, s, d, 4)
#define M16(b, i, s, d) mem(b, i, s, d, 2)
#define M8(b, i, s, d) mem(b, i, s, d, 1)
#define MA(b, i, s, d) mem(b, i, s, d, 8)
// A relative operand is the displacement from the end of the instruction: the caller
// knows the label's offset and the branch's length (2 short, 5 near jmp and call, 6 near jcc).
#define LBL8(k) imm(lab[k] - ((p - copy) + 2))
#define LBL32(k) (req.branch_type = ZYDIS_BRANCH_TYPE_NEAR, imm(lab[k] - ((p - copy) + 5)))
#define LBLJ32(k) (req.branch_type = ZYDIS_BRANCH_TYPE_NEAR, imm(lab[k] - ((p - copy) + 6)))
#define LBLCALL(k) LBL32(k)

static int failed; // 1 + the index of the instruction Zydis refused

#define ZY_I(F, m, ...)                                                                            \
    {                                                                                              \
        MARK();                                                                                    \
        ZydisEncoderRequest req;                                                                   \
        memset(&req, 0, sizeof req);                                                               \
        const ZydisEncoderOperand ops[] = {__VA_ARGS__};                                           \
        req.machine_mode = ZYDIS_MACHINE_MODE_LONG_64;                                             \
        req.mnemonic = zm[k++];                                                                    \
        req.operand_count = ZyanU8(sizeof ops / sizeof ops[0]);                                    \
        memcpy(req.operands, ops, sizeof(ZydisEncoderOperand) * req.operand_count);                \
        ZyanUSize len = ZyanUSize(end - p);                                                        \
        if (ZYAN_FAILED(ZydisEncoderEncodeInstruction(&req, p, &len))) {                           \
            failed = k;                                                                            \
            return NULL;                                                                           \
        }                                                                                          \
        p += len;                                                                                  \
    }
#define ZY_I0(F, m)                                                                                \
    {                                                                                              \
        MARK();                                                                                    \
        ZydisEncoderRequest req;                                                                   \
        memset(&req, 0, sizeof req);                                                               \
        req.machine_mode = ZYDIS_MACHINE_MODE_LONG_64;                                             \
        req.mnemonic = zm[k++];                                                                    \
        ZyanUSize len = ZyanUSize(end - p);                                                        \
        if (ZYAN_FAILED(ZydisEncoderEncodeInstruction(&req, p, &len))) {                           \
            failed = k;                                                                            \
            return NULL;                                                                           \
        }                                                                                          \
        p += len;                                                                                  \
    }
#define ZY_L(k)

#define MARK()
static uint8_t *copy(uint8_t *p, uint8_t *end, const int64_t *lab)
{
    uint8_t *copy = p;
    int k = 0;
    BENCH_MIX(ZY_I, ZY_I0, ZY_L)
    return p;
}
#undef MARK

#define MARK() (offs[n++] = size_t(p - copy))
static uint8_t *copy_marked(uint8_t *p, uint8_t *end, const int64_t *lab, size_t *offs, int *count)
{
    uint8_t *copy = p;
    int k = 0, n = 0;
    BENCH_MIX(ZY_I, ZY_I0, ZY_L)
    offs[n] = size_t(p - copy);
    *count = n;
    return p;
}
#undef MARK

// Labels as bound by a copy: L(k) records the offset reached there.
#define LB_I(F, m, ...) n++;
#define LB_I0(F, m) n++;
#define LB_L(k) lab[k] = int64_t(offs[n]);

// mnem as written in mix.def, less a trailing '_' (and_, or_, xor_, not_).
static void lookup(int *k, const char *name)
{
    char want[32];
    snprintf(want, sizeof want, "%s", name);
    size_t n = strlen(want);
    if (n && want[n - 1] == '_')
        want[n - 1] = 0;
    for (int m = 0; m <= ZYDIS_MNEMONIC_MAX_VALUE; m++) {
        const char *s = ZydisMnemonicGetString(ZydisMnemonic(m));
        if (s && !strcmp(s, want)) {
            zm[(*k)++] = ZydisMnemonic(m);
            return;
        }
    }
    fprintf(stderr, "zydis: no mnemonic '%s'\n", want);
    exit(1);
}
#define MN_I(F, m, ...) lookup(&k, #m);
#define MN_I0(F, m) lookup(&k, #m);
#define MN_L(k)

int main(int argc, char **argv)
{
    bench_opts o = bench_args(argc, argv);
    static double t[BENCH_MAX_REPS];
    int k = 0;
    BENCH_MIX(MN_I, MN_I0, MN_L)

    // Passes over one copy until the labels' offsets stop changing (a short branch's
    // length depends on its target).
    size_t offs[BENCH_MAX_INSNS + 1];
    int64_t lab[BENCH_LABELS] = {0};
    int ninsn = 0;
    size_t cap = size_t(o.copies) * 1024 + 64;
    uint8_t *out = (uint8_t *)malloc(cap);
    if (!out)
        bench_fail("zydis", "out of memory");
    for (int pass = 0;; pass++) {
        int64_t prev[BENCH_LABELS];
        memcpy(prev, lab, sizeof lab);
        if (!copy_marked(out, out + cap, lab, offs, &ninsn)) {
            fprintf(stderr, "zydis: the encoder refused instruction %d (%s) of the mix\n",
                    failed - 1, ZydisMnemonicGetString(zm[failed - 1]));
            return 1;
        }
        int n = 0;
        BENCH_MIX(LB_I, LB_I0, LB_L)
        (void)n;
        if (pass > 0 && !memcmp(prev, lab, sizeof lab))
            break;
        if (pass == 10)
            bench_fail("zydis", "the labels' offsets do not settle");
    }
    long mixlen = long(offs[ninsn]);
    if (o.dump)
        bench_dump(o.dump, out, offs, ninsn);

    for (int r = -2; r < o.reps; r++) {
        double t0 = bench_now();
        uint8_t *p = out;
        for (int c = 0; c < o.copies && p; c++)
            p = copy(p, out + cap, lab);
        double t1 = bench_now();
        if (!p || p - out != mixlen * o.copies)
            bench_fail("zydis", failed ? "encode failed in the timed loop" : "wrong length");
        if (r >= 0)
            t[r] = t1 - t0;
    }
    bench_print("zydis", long(ninsn) * o.copies, mixlen * o.copies, t, o.reps);
    free(out);
    return 0;
}
