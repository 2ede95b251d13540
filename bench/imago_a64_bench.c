/* imago's side of the AArch64 `make bench`: the mix of mix_a64.def through layer 1
 * (im_encode into a flat buffer, branch and literal displacements computed by the caller)
 * and layer 2 (im_buf_emit with labels, one buffer per repetition: new, emit, finish,
 * free), and memcpy of the same bytes as a floor.
 *
 * Forms are looked up by id (im_form_lookup) before anything is timed. A mix line whose
 * row the table does not have, or whose operands the row refuses, is left out of every
 * run and reported on the first output line:
 *   {"name": "imago-a64-missing", "lines": [{"line": i, "id": ..., "text": ..., "why": ...}]}
 * bench/run.py passes those lines to the asmjit program as --skip, so both do the same
 * work. See docs/bench.md. */
#include <imago/enc.h>

#include "bench_a64.h"
#include "bench_imago.h"

#define T IM_TARGET_AARCH64

/* ---- operands ---- */
#define X(r) im_reg(r)
#define W(r) im_reg(r)
#define SP im_reg(31)
#define IMM(v) im_imm((int64_t)(v))
#define COND(c) im_imm(c)
#define BCOND(c) im_cond(c)

static inline im_operand rel_to(int64_t target, int64_t at)
{
    im_operand o = {IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, target - at};
    return o;
}

/* The mix's ids and texts, by line. */
#define ID_I(id, text, ops, call) #id,
#define TEXT_I(id, text, ops, call) text,
#define NO_L(k)
static const char *const ids[BENCH_A64_LINES] = {BENCH_A64_MIX(ID_I, NO_L)};
static const char *const texts[BENCH_A64_LINES] = {BENCH_A64_MIX(TEXT_I, NO_L)};

static int form[BENCH_A64_LINES]; /* the form of each line (valid where !skip) */
static unsigned char skip[BENCH_A64_LINES];

/* ---- probing: which lines imago encodes (a branch or literal target at offset 0) ----
 * The operands are padded to IM_MAX_OPS with IM_OP_NONE, so a line that gives fewer
 * operands than its row has is refused here (the row's kind wants another type) rather than
 * read past its array in the timed loops, which only run the lines probed good. */
#define LBL(k) rel_to(0, 0)
#define PR_I(id, text, ops, call)                                                                  \
    {                                                                                              \
        const im_operand ops_[IM_MAX_OPS] = {BENCH_A64_OPS ops};                                   \
        probe_line(line_++, ops_, why);                                                            \
    }
#define PR_L(k)

static char why[BENCH_A64_LINES][160];

static void probe_line(int line, const im_operand *ops, char (*whys)[160])
{
    uint8_t buf[16];
    if (skip[line])
        return;
    int f = im_form_lookup(T, ids[line]);
    if (f < 0) {
        snprintf(whys[line], sizeof whys[line], "no form %s in the table", ids[line]);
        skip[line] = 2;
        return;
    }
    form[line] = f;
    int n = im_encode(T, f, ops, buf, sizeof buf);
    if (n != 4) {
        snprintf(whys[line], sizeof whys[line], "im_encode(%s): %s: %s", ids[line],
                 n < 0 ? im_strerror(n) : "not 4 bytes", n < 0 ? im_detail() : "");
        skip[line] = 2;
    }
}

static void probe(void)
{
    int line_ = 0;
    BENCH_A64_MIX(PR_I, PR_L)
}
#undef LBL

/* Layer 1: a target operand is the displacement from the instruction to the label, which
 * the caller knows (lab[] holds each label's offset in a copy of the mix). */
#define LBL(k) rel_to(lab[k], (int64_t)(p - copy))

static int failed;

#define L1_I(id, text, ops, call)                                                                  \
    if (!skip[line_]) {                                                                            \
        const im_operand ops_[] = {BENCH_A64_OPS ops};                                             \
        int n_ = im_encode(T, form[line_], ops_, p, (size_t)(end - p));                            \
        if (n_ < 0) {                                                                              \
            failed = n_;                                                                           \
            return NULL;                                                                           \
        }                                                                                          \
        p += n_;                                                                                   \
    }                                                                                              \
    line_++;
#define L1_L(k)

/* One copy of the mix at p; returns the end, or NULL (failed holds the error). */
static uint8_t *l1_copy(uint8_t *p, uint8_t *end, const int64_t *lab)
{
    uint8_t *copy = p;
    int line_ = 0;
    BENCH_A64_MIX(L1_I, L1_L)
    (void)copy;
    return p;
}
#undef LBL

/* ---- layer 2 ---- */
#define LBL(k) im_label(lab[k])

#define L2_I(id, text, ops, call)                                                                  \
    if (!skip[line_]) {                                                                            \
        MARK();                                                                                    \
        const im_operand ops_[] = {BENCH_A64_OPS ops};                                             \
        im_buf_emit(b, form[line_], ops_);                                                         \
    }                                                                                              \
    line_++;
#define L2_L(k) im_buf_bind(b, lab[k]);

/* One copy of the mix into b; errors are sticky in b and checked at the end. */
#define MARK()
static void l2_copy(im_buf *b)
{
    int line_ = 0;
    int lab[BENCH_A64_LABELS];
    for (int k = 0; k < BENCH_A64_LABELS; k++)
        lab[k] = im_buf_label(b);
    BENCH_A64_MIX(L2_I, L2_L)
}
#undef MARK

/* The same, recording where each instruction starts and its mix line (untimed). */
#define MARK() (offs[n] = im_buf_offset(b), line[n] = line_, n++)
static int l2_copy_marked(im_buf *b, size_t *offs, int *line)
{
    int n = 0, line_ = 0;
    int lab[BENCH_A64_LABELS];
    for (int k = 0; k < BENCH_A64_LABELS; k++)
        lab[k] = im_buf_label(b);
    BENCH_A64_MIX(L2_I, L2_L)
    offs[n] = im_buf_offset(b);
    return n;
}
#undef MARK

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

int main(int argc, char **argv)
{
    bench_a64_opts ao = bench_a64_args(argc, argv);
    bench_opts o = ao.o;
    static double t[BENCH_MAX_REPS];

    memcpy(skip, ao.skip, sizeof skip);
    probe();
    printf("{\"name\": \"imago-a64-missing\", \"lines\": [");
    int nmiss = 0;
    for (int i = 0; i < BENCH_A64_LINES; i++) {
        if (skip[i] != 2)
            continue;
        printf("%s{\"line\": %d, \"id\": ", nmiss++ ? ", " : "", i);
        json_str(ids[i]);
        printf(", \"text\": ");
        json_str(texts[i]);
        printf(", \"why\": ");
        json_str(why[i]);
        printf("}");
    }
    printf("]}\n");
    fflush(stdout);

    /* One marked copy: the instruction count and offsets, and the labels' offsets. */
    size_t offs[BENCH_MAX_INSNS + 1];
    int line[BENCH_MAX_INSNS];
    im_buf *b = im_buf_new(T);
    if (!b)
        bench_fail("imago-a64-l2", "im_buf_new failed");
    int ninsn = l2_copy_marked(b, offs, line);
    im_buf_finish(b);
    bench_check_buf("imago-a64-l2", b);
    size_t mixlen;
    const uint8_t *mix = im_buf_code(b, &mixlen);
    int64_t lab[BENCH_A64_LABELS];
    for (int k = 0; k < BENCH_A64_LABELS; k++)
        lab[k] = im_buf_label_offset(b, k);

    if (o.dump)
        bench_a64_dump(o.dump, mix, offs, line, ninsn);
    static const bench_imago bi = {"imago-a64", "memcpy-a64", T, l1_copy,
                                   l2_copy, &failed};
    int rc = bench_imago_run(&bi, &o, mix, mixlen, ninsn, lab, t); /* mix is b's code */
    im_buf_free(b);
    return rc;
}
