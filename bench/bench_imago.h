/* What the imago bench programs share (bench/imago_bench.c: x86-64, bench/imago_a64_bench.c:
 * AArch64): from one marked copy of the mix made with im_buf (its bytes, its labels'
 * offsets), layer 1 must give the same bytes for every copy, then layer 1, layer 2 and the
 * floor (memcpy of the finished bytes) are timed, each printed as a bench_print record. */
#ifndef IMAGO_BENCH_IMAGO_H
#define IMAGO_BENCH_IMAGO_H

#include <imago/enc.h>

#include "bench.h"

typedef struct bench_imago {
    const char *name;  /* record names: NAME-l1, NAME-l2 */
    const char *floor; /* the memcpy record's name */
    im_target t;
    /* One copy of the mix at p by im_encode (lab: each label's offset in a copy); NULL
     * when an instruction does not encode (its error left in im_detail). */
    uint8_t *(*l1_copy)(uint8_t *p, uint8_t *end, const int64_t *lab);
    void (*l2_copy)(im_buf *b);      /* one copy of the mix by im_buf_emit */
    const int *failed;               /* l1_copy's error code when it returned NULL */
} bench_imago;

/* Exit with the buffer's sticky error, if it has one. */
static inline void bench_check_buf(const char *name, im_buf *b)
{
    const char *detail;
    size_t off;
    int rc = im_buf_error(b, &off, &detail);
    if (rc) {
        fprintf(stderr, "%s: error %d (%s) at offset 0x%zx: %s\n", name, rc, im_strerror(rc), off,
                detail);
        exit(1);
    }
}

static inline int bench_imago_run(const bench_imago *bi, const bench_opts *o, const uint8_t *mix,
                                  size_t mixlen, int ninsn, const int64_t *lab, double *t)
{
    char l1[64], l2[64];
    snprintf(l1, sizeof l1, "%s-l1", bi->name);
    snprintf(l2, sizeof l2, "%s-l2", bi->name);
    size_t cap = mixlen * (size_t)o->copies + 64;
    uint8_t *out = malloc(cap), *ref = malloc(cap);
    if (!out || !ref)
        bench_fail(bi->name, "out of memory");
    for (int c = 0; c < o->copies; c++)
        memcpy(ref + (size_t)c * mixlen, mix, mixlen);

    /* Layer 1 must give layer 2's bytes for every copy. */
    uint8_t *p = out;
    for (int c = 0; c < o->copies && p; c++)
        p = bi->l1_copy(p, out + cap, lab);
    if (!p) {
        fprintf(stderr, "%s: im_encode: %s: %s\n", l1, im_strerror(*bi->failed), im_detail());
        return 1;
    }
    if ((size_t)(p - out) != mixlen * (size_t)o->copies ||
        memcmp(out, ref, mixlen * (size_t)o->copies))
        bench_fail(l1, "layer 1 and layer 2 bytes differ");

    long insns = (long)ninsn * o->copies, bytes = (long)mixlen * o->copies;

    for (int r = -2; r < o->reps; r++) {
        double t0 = bench_now();
        uint8_t *q = out;
        for (int c = 0; c < o->copies && q; c++)
            q = bi->l1_copy(q, out + cap, lab);
        double t1 = bench_now();
        if (!q)
            bench_fail(l1, "im_encode failed in the timed loop");
        if (r >= 0)
            t[r] = t1 - t0;
    }
    bench_print(l1, insns, bytes, t, o->reps);

    for (int r = -2; r < o->reps; r++) {
        double t0 = bench_now();
        im_buf *bb = im_buf_new(bi->t);
        if (!bb)
            bench_fail(l2, "im_buf_new failed");
        for (int c = 0; c < o->copies; c++)
            bi->l2_copy(bb);
        im_buf_finish(bb);
        size_t len;
        const uint8_t *code = im_buf_code(bb, &len);
        volatile uint8_t sink = len ? code[len - 1] : 0;
        (void)sink;
        bench_check_buf(l2, bb);
        im_buf_free(bb);
        double t1 = bench_now();
        if (len != (size_t)bytes)
            bench_fail(l2, "wrong length in the timed loop");
        if (r >= 0)
            t[r] = t1 - t0;
    }
    bench_print(l2, insns, bytes, t, o->reps);

    /* The floor: copying the finished bytes. */
    for (int r = -2; r < o->reps; r++) {
        double t0 = bench_now();
        memcpy(out, ref, (size_t)bytes);
        __asm__ volatile("" : : "r"(out) : "memory");
        double t1 = bench_now();
        if (r >= 0)
            t[r] = t1 - t0;
    }
    bench_print(bi->floor, insns, bytes, t, o->reps);
    free(out);
    free(ref);
    return 0;
}

#endif
