/* imago state -a aarch64: per-instruction state checks of the A64 table (docs/testing.md,
 * "State checks"; the x86 check is tools/cmd_state.c, both use tools/state.c).
 *
 * For every form, K random cases: random values in x0-x30, sp (a 16-byte aligned address in
 * the scratch block), NZCV, FPCR (rounding mode, FZ, DN), FPSR, TPIDR_EL0 and v0-v31, a
 * random scratch block, operands drawn from the form's kinds. A memory operand's base (the
 * register right after '[' in the row's template) holds an address in the scratch window
 * with the offset kept inside it; an index register (a register inside the brackets after
 * the base) is small (0..7); a branch target (a REL kind) is a marker in the case's code that
 * records "taken", a literal (a REL kind of a load, ld* or prfm) a random 16-byte word placed
 * in the case's code. Each case is straight-line code at a fixed address: load every
 * register from the case's record (x0 the base, loaded last), the instruction, then spill x0
 * to TPIDR_EL0 (a case whose text names tpidr_el0 keeps a register it does not name as the
 * base instead, and that register's out-value is not compared), store every register, sp,
 * NZCV, FPCR, FPSR and v0-v31. A store-exclusive (--implicit monitor:FORM) runs with the
 * exclusive monitor opened right before it by load-exclusive FORM on its base (even cases:
 * status 0 expected) or closed by clrex (odd cases: status 1, memory untouched), on every
 * engine. Nothing here is per instruction: forms, kinds and samples
 * come from the table (im_arch), the rest from the rule files (--notrun, --implicit,
 * --undefined).
 *
 * There is no ground truth on a host that is not aarch64: the engine under test is compared
 * with a reference engine (--reference; native on an aarch64 host, else qemu).
 *
 * Output, one line each (tab-separated):
 *   reference ENGINE  WHY            (when the reference is not native)
 *   notrun  FORM  REASON
 *   form    FORM  ENGINE  cases=N  faulted=M
 *   diverge ENGINE  FORM  WHAT  CASE  DETAIL
 *   summary ENGINE  forms=N  cases=N  faulted=N  divergences=N */
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cmd.h"
#include "core.h"
#include "form.h"
#include "imago/emu.h"
#include "imago/enc.h"
#include "imago/imago.h"
#include "state.h"

/* The record of a case (ST_REC bytes at st_rec_addr(slot)). */
#define VIN 0u      /* v0-v31 in, 16 bytes each */
#define VOUT 512u   /* v0-v31 out */
#define XIN 1024u   /* x0-x30, then the words below */
#define XOUT 1536u  /* the same, then TAKEN */
#define O_SP 248u   /* from XIN / XOUT */
#define O_NZCV 256u
#define O_FPCR 264u
#define O_FPSR 272u
#define O_TPIDR 280u
#define O_TAKEN 288u
#define SCR_OFF 2048u /* the scratch block */
#define SCR_LEN 1024u
#define WIN_LO 256u /* memory operands land in [WIN_LO, WIN_HI) of the scratch */
#define WIN_HI 768u
#define LIT_LEN 16u /* a literal load's word in the code */

#define FPCR_BITS 0x03c00000u /* DN, FZ, RMode: what the in-state varies */
#define FPSR_BITS 0x0800009fu /* QC, IDC, IXC, UFC, OFC, DZC, IOC */

static const char *const CMD = "state";

static const im_arch *arch;


/* ---- rules ---- */

/* --undefined: what a form leaves UNKNOWN (KEY<TAB>ITEMS: nzcv, fpsr, or case). */
enum { U_NZCV = 1, U_FPSR = 2, U_CASE = 4 };
static const struct st_item undef_items[] = {{"nzcv", U_NZCV}, {"fpsr", U_FPSR}, {"case", U_CASE}};
static struct st_rules undefs = {.cmd = "state", .t = IM_TARGET_AARCH64, .items = undef_items,
                                 .nitems = sizeof undef_items / sizeof undef_items[0]},
                       implicits = {.cmd = "state", .t = IM_TARGET_AARCH64, .implicit = 1};
static struct st_skips skips;


/* ---- cases ---- */

struct acase {
    struct st_case h; /* form, idx, slot, text */
    im_operand ops[IM_MAX_OPS];
    uint64_t x[32]; /* x0-x30, sp */
    uint64_t nzcv, fpcr, fpsr, tpidr;
    uint8_t v[32][16];
    uint8_t scratch[SCR_LEN];
    uint8_t lit[LIT_LEN];
    int label;   /* a REL operand: 1 a branch target (the taken marker), 2 a literal */
    int tgt_reg; /* the register that holds the taken marker's address (--implicit), or -1 */
    int spill;   /* -1: x0 goes through TPIDR_EL0; else the base of the stores (not compared) */
    unsigned undef;
    int mon;      /* the load-exclusive that opens the monitor (--implicit monitor:FORM), or -1 */
    int mon_open; /* 1: it runs right before the instruction; 0: clrex does */
    im_operand mon_ops[IM_MAX_OPS]; /* its operands: the instruction's base, free registers */
};

static int is_gpr(unsigned kind)
{
    const im_kind *k = &arch->kinds[kind];
    return k->cls == IM_KC_REG && (k->name[0] == 'w' || k->name[0] == 'x');
}

static int kind_sp(unsigned kind) /* register 31 is sp (wsp), not the zero register */
{
    const char *n = arch->kinds[kind].name;
    return !strcmp(n, "xsp") || !strcmp(n, "wsp");
}

/* A random 128-bit register: random bits, or lanes of FP values worth having. */
static void vec_value(im_rng *r, uint8_t *v)
{
    static const uint32_t f32[] = {0,          0x80000000, 0x3f800000, 0xbf800000, 0x7f800000,
                                   0xff800000, 0x7fc00000, 0x7f800001, 0x00000001, 0x007fffff,
                                   0x4f000000, 0xcf000000, 0x3f000000, 0x40490fdb};
    static const uint64_t f64[] = {0,
                                   0x8000000000000000ull,
                                   0x3ff0000000000000ull,
                                   0xbff0000000000000ull,
                                   0x7ff0000000000000ull,
                                   0xfff0000000000000ull,
                                   0x7ff8000000000000ull,
                                   0x7ff0000000000001ull,
                                   0x0000000000000001ull,
                                   0x43e0000000000000ull,
                                   0xc3e0000000000000ull,
                                   0x3fe0000000000000ull,
                                   0x400921fb54442d18ull};
    unsigned mode = (unsigned)(im_rng_next(r) % 4);
    for (unsigned i = 0; i < 16; i += 8) {
        uint64_t x = im_rng_next(r), y = im_rng_next(r);
        if (mode == 1 && y % 2)
            x = f64[y / 2 % (sizeof f64 / sizeof f64[0])];
        else if (mode == 2) {
            uint32_t lo = (uint32_t)x, hi = (uint32_t)(x >> 32);
            if (y & 1)
                lo = f32[(y >> 8) % (sizeof f32 / sizeof f32[0])];
            if (y & 2)
                hi = f32[(y >> 16) % (sizeof f32 / sizeof f32[0])];
            x = (uint64_t)hi << 32 | lo;
        } else if (mode == 3)
            x = st_rnd_value(r, (int)(y % 3));
        memcpy(v + i, &x, 8);
    }
}

/* The operands of load-exclusive lf that opens the monitor for case c (even idx: open, odd:
 * closed): its base is the instruction's base (ops[base]: the same address, which the
 * chooser made 16-byte aligned in the scratch window), its other registers are registers the
 * instruction does not name (the scaffold restores them after it), any other operand its
 * kind's first sample. Returns 0, or 1 when lf refuses them. */
static int monitor_ops(struct acase *c, int lf, int base, unsigned idx)
{
    static im_operand samples[IM_MAX_SAMPLES];
    const im_form *f = &arch->forms[c->h.form], *l = &arch->forms[lf];
    struct st_mem_shape lms = st_mem_shape(l);
    int used[32] = {0};
    for (unsigned i = 0; i < f->nops; i++)
        if (c->ops[i].type == IM_OP_REG && is_gpr(f->kinds[i]))
            used[c->ops[i].reg] = 1;
    unsigned next = 1;
    for (unsigned i = 0; i < l->nops; i++) {
        if ((int)i == lms.base) {
            c->mon_ops[i] = c->ops[base];
        } else if (is_gpr(l->kinds[i])) {
            while (next < 31 && (used[next] || (int)next == c->spill))
                next++;
            if (next >= 31)
                return 1;
            c->mon_ops[i] = im_reg(next++);
        } else {
            im_rng r = {1};
            if (!arch->samples(IM_TARGET_AARCH64, l->kinds[i], &r, samples, IM_MAX_SAMPLES))
                return 1;
            c->mon_ops[i] = samples[0];
        }
    }
    uint8_t tmp[16];
    if (im_encode(IM_TARGET_AARCH64, lf, c->mon_ops, tmp, sizeof tmp) != 4)
        return 1;
    c->mon = lf;
    c->mon_open = !(idx & 1);
    return 0;
}

/* Draw case idx of form fi (deterministic in seed, form id and idx). Returns 0, or -1 when
 * no case was found (*why: a not-run reason that refused the drawn texts, if any). */
static int make_case(int fi, unsigned idx, uint64_t seed, unsigned slot, struct acase *c,
                     const char **why)
{
    const im_form *f = &arch->forms[fi];
    im_rng r = {st_fnv(f->id) ^ (seed * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)idx << 32 | idx)};
    if (!r.s)
        r.s = 1;
    static im_operand samples[IM_MAX_SAMPLES];
    struct st_mem_shape ms = st_mem_shape(f);
    unsigned rb = st_rule_bits(&undefs, f);
    int target = (int)(st_rule_bits(&implicits, f) & ST_U_TARGET);
    int literal = !strncmp(f->mnem, "ld", 2) || !strcmp(f->mnem, "prfm");
    int mon = st_rule_monitor(&implicits, f);
    if (mon >= 0 && ms.base < 0)
        return -1; /* refused by cmd_state_a64 */
    /* texts a not-run rule refuses (most system registers of msr) take more draws */
    for (int attempt = 0; attempt < (*why ? 4096 : 32); attempt++) {
        memset(c, 0, sizeof *c);
        c->h.form = fi;
        c->h.idx = idx;
        c->h.slot = slot;
        c->tgt_reg = -1;
        c->spill = -1;
        c->undef = rb;
        c->mon = -1;
        uint64_t scr = st_rec_addr(slot) + SCR_OFF;
        int mode = (int)(im_rng_next(&r) % 4);
        for (unsigned i = 0; i < 31; i++) {
            uint64_t x = im_rng_next(&r) % 100;
            if (mode == 0 && x < 20)
                c->x[i] = scr + WIN_LO + im_rng_next(&r) % (WIN_HI - WIN_LO);
            else if (x < 40)
                c->x[i] = st_rnd_value(&r, 0);
            else if (x < 60)
                c->x[i] = st_rnd_value(&r, 1);
            else
                c->x[i] = st_rnd_value(&r, 2);
        }
        c->x[31] = (scr + WIN_LO + im_rng_next(&r) % (WIN_HI - WIN_LO)) & ~(uint64_t)15;
        c->nzcv = (im_rng_next(&r) & 15) << 28;
        c->fpcr = im_rng_next(&r) % 2 ? (uint32_t)im_rng_next(&r) & FPCR_BITS : 0;
        c->fpsr = (uint32_t)im_rng_next(&r) & FPSR_BITS;
        c->tpidr = im_rng_next(&r);
        for (unsigned i = 0; i < 32; i++)
            vec_value(&r, c->v[i]);
        for (unsigned i = 0; i < SCR_LEN; i += 8) {
            uint64_t v = im_rng_next(&r);
            memcpy(c->scratch + i, &v, 8);
        }
        for (unsigned i = 0; i < LIT_LEN; i += 8) {
            uint64_t v = im_rng_next(&r);
            memcpy(c->lit + i, &v, 8);
        }
        int ok = 1;
        for (unsigned i = 0; i < f->nops && ok; i++) {
            unsigned kind = f->kinds[i];
            if (arch->kinds[kind].cls == IM_KC_REL) {
                c->ops[i] = im_label(0);
                c->label = literal ? 2 : 1;
                continue;
            }
            size_t ns = arch->samples(IM_TARGET_AARCH64, kind, &r, samples, IM_MAX_SAMPLES);
            if (!ns)
                ok = 0;
            else
                c->ops[i] = samples[im_rng_next(&r) % ns];
        }
        /* br/blr/ret: the first register operand holds the taken marker's address */
        if (ok && target) {
            c->label = 1;
            for (unsigned i = 0; i < f->nops && c->tgt_reg < 0; i++)
                if (is_gpr(f->kinds[i]) && c->ops[i].type == IM_OP_REG)
                    c->tgt_reg = c->ops[i].reg;
            ok = c->tgt_reg >= 0 && c->tgt_reg < 31;
        }
        if (ok && ms.base >= 0) {
            /* the base addresses the scratch window; an index is small; the offset (an
             * immediate inside the brackets, without an index) is kept inside */
            const im_operand *bo = &c->ops[ms.base];
            unsigned br = bo->reg;
            ok = bo->type == IM_OP_REG && (br < 31 || kind_sp(f->kinds[ms.base]));
            int64_t off = 0;
            int index = 0;
            for (int k = 0; k < ms.nin && ok; k++) {
                const im_operand *o = &c->ops[ms.in[k]];
                if (o->type == IM_OP_REG && is_gpr(f->kinds[ms.in[k]])) {
                    index = 1;
                    if (o->reg == br)
                        ok = 0;
                    else if (o->reg < 31)
                        c->x[o->reg] = im_rng_next(&r) % 8;
                }
            }
            for (int k = 0; k < ms.nin && ok && !index && !ms.npost; k++)
                if (c->ops[ms.in[k]].type == IM_OP_IMM)
                    off += c->ops[ms.in[k]].imm;
            uint64_t at = scr + WIN_LO + (im_rng_next(&r) % (WIN_HI - WIN_LO - 128) & ~15ull);
            uint64_t base = at - (uint64_t)off;
            if (br == 31)
                base &= ~(uint64_t)15; /* sp as a base must be 16-byte aligned */
            c->x[br] = base;
            for (int k = 0; k < ms.npost && ok; k++) { /* a post-index register is small too */
                const im_operand *o = &c->ops[ms.post[k]];
                if (o->type == IM_OP_REG && is_gpr(f->kinds[ms.post[k]]) && o->reg < 31)
                    ok = o->reg != br, c->x[o->reg] = im_rng_next(&r) % 64;
            }
        }
        if (!ok)
            continue;
        uint8_t tmp[16];
        im_operand test[IM_MAX_OPS];
        memcpy(test, c->ops, sizeof test);
        for (unsigned i = 0; i < f->nops; i++)
            if (test[i].type == IM_OP_LABEL)
                test[i] = (im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, 16};
        if (im_encode(IM_TARGET_AARCH64, fi, test, tmp, sizeof tmp) <= 0 || (rb & U_CASE))
            continue;
        im_print(IM_TARGET_AARCH64, fi, test, c->h.text, sizeof c->h.text);
        const char *ts = st_text_skip(&skips, c->h.text);
        if (ts) {
            *why = ts;
            continue;
        }
        if (strstr(c->h.text, "tpidr_el0")) {
            /* the spill would overwrite TPIDR_EL0: the base of the stores is a register the
             * instruction does not name */
            int used[32] = {0};
            for (unsigned i = 0; i < f->nops; i++)
                if (c->ops[i].type == IM_OP_REG && is_gpr(f->kinds[i]))
                    used[c->ops[i].reg] = 1;
            for (int k = 1; k < 30 && c->spill < 0; k++)
                if (!used[k])
                    c->spill = k;
        }
        if (mon >= 0 && monitor_ops(c, mon, ms.base, idx))
            continue;
        return 0;
    }
    return -1;
}

/* make_case as st_draw calls it; why keeps the last reason a case was left out */
struct draw {
    uint64_t seed;
    const char *why;
};

static int draw_case(void *ctx, int fi, unsigned k, unsigned slot, struct st_case *c)
{
    struct draw *d = ctx;
    return make_case(fi, k, d->seed, slot, (struct acase *)c, &d->why);
}

static void put_case(const struct st_ops *o, const struct st_case *h, uint8_t *rec)
{
    (void)o;
    const struct acase *c = (const struct acase *)h;
    memset(rec, 0, ST_REC);
    memcpy(rec + VIN, c->v, sizeof c->v);
    for (unsigned i = 0; i < 32; i++)
        im_put64(rec + XIN + 8 * i, c->x[i]);
    im_put64(rec + XIN + O_NZCV, c->nzcv);
    im_put64(rec + XIN + O_FPCR, c->fpcr);
    im_put64(rec + XIN + O_FPSR, c->fpsr);
    im_put64(rec + XIN + O_TPIDR, c->tpidr);
    memcpy(rec + SCR_OFF, c->scratch, SCR_LEN);
}

/* ---- code ---- */

/* The scaffolding is fixed instruction words (st_word, listed with --scaffold). */

/* Fault injection for the self-test: IMAGO_FAULT_STATE_SCAFFOLD=1 gives the loads and stores
 * of the v registers (ldp/stp q) a load's word, in the code and in the listing (whose text
 * still says stp). */
static int fault_scaffold;
/* IMAGO_FAULT_STATE_MONITOR=1 (the self-test): the monitor is never opened (clrex instead of
 * the load-exclusive), so every store-exclusive fails. */
static int fault_monitor;


static void mov32(im_buf *b, unsigned rd, uint64_t v) /* movz, movk: a 32-bit address */
{
    st_word(b, 0xd2800000u | (uint32_t)(v & 0xffff) << 5 | rd, "movz x%u, #0x%x", rd,
        (unsigned)(v & 0xffff));
    st_word(b, 0xf2a00000u | (uint32_t)(v >> 16 & 0xffff) << 5 | rd, "movk x%u, #0x%x, lsl #16", rd,
        (unsigned)(v >> 16 & 0xffff));
}

static void mov64(im_buf *b, unsigned rd, uint64_t v) /* movz, movk x3: any value */
{
    st_word(b, 0xd2800000u | (uint32_t)(v & 0xffff) << 5 | rd, "movz x%u, #0x%x", rd,
        (unsigned)(v & 0xffff));
    for (unsigned hw = 1; hw < 4; hw++)
        st_word(b, 0xf2800000u | hw << 21 | (uint32_t)(v >> 16 * hw & 0xffff) << 5 | rd,
            "movk x%u, #0x%x, lsl #%u", rd, (unsigned)(v >> 16 * hw & 0xffff), 16 * hw);
}

/* ldp/stp of x registers (q: of q registers) at [xn, #off]. */
static void pair(im_buf *b, int load, int q, unsigned t1, unsigned t2, unsigned n, int off)
{
    unsigned sc = q ? 16 : 8;
    uint32_t w = (q ? 0xad000000u : 0xa9000000u) | (load || (q && fault_scaffold) ? 1u << 22 : 0) |
                 ((uint32_t)(off / (int)sc) & 0x7f) << 15 | t2 << 10 | n << 5 | t1;
    st_word(b, w, "%s %c%u, %c%u, [x%u, #%d]", load ? "ldp" : "stp", q ? 'q' : 'x', t1, q ? 'q' : 'x',
        t2, n, off);
}

static void ldst(im_buf *b, int load, unsigned t, unsigned n, unsigned off) /* ldr/str x */
{
    st_word(b, (load ? 0xf9400000u : 0xf9000000u) | (off / 8) << 10 | n << 5 | t, "%s x%u, [x%u, #%u]",
        load ? "ldr" : "str", t, n, off);
}

enum { SR_NZCV, SR_FPCR, SR_FPSR, SR_TPIDR };
static void sysreg(im_buf *b, int write, unsigned sr, unsigned t)
{
    static const uint32_t enc[] = {0x4200, 0x4400, 0x4420, 0xd040};
    static const char *const names[] = {"nzcv", "fpcr", "fpsr", "tpidr_el0"};
    if (write)
        st_word(b, 0xd51b0000u | enc[sr] | t, "msr %s, x%u", names[sr], t);
    else
        st_word(b, 0xd53b0000u | enc[sr] | t, "mrs x%u, %s", t, names[sr]);
}

static void mov_sp(im_buf *b, int to_sp, unsigned r) /* mov sp, xr / mov xr, sp */
{
    if (to_sp)
        st_word(b, 0x9100001fu | r << 5, "mov sp, x%u", r);
    else
        st_word(b, 0x910003e0u | r, "mov x%u, sp", r);
}

static void branch(im_buf *b, int64_t n) /* b .+n */
{
    st_word(b, 0x14000000u | ((uint32_t)(n / 4) & 0x3ffffff), "b .%+" PRId64, n);
}

/* b to offset to (at or after the current one), then udf #0 words up to it. */
static void b_to(im_buf *b, size_t to)
{
    size_t at = im_buf_offset(b);
    if (at == to) /* the prologue ends where the first case starts */
        return;
    branch(b, (int64_t)to - (int64_t)at);
    static const uint8_t pad[4] = {0};
    while (im_buf_offset(b) < to)
        im_buf_bytes(b, pad, 4);
}

/* Callee-saved x19-x30 and d8-d15, sp, TPIDR_EL0 and FPCR to the header page (x0). */
#define H_SP 160u
#define H_TPIDR 168u
#define H_FPCR 176u
static void prologue(im_buf *b)
{
    for (unsigned r = 19; r < 31; r += 2)
        pair(b, 0, 0, r, r + 1, 0, (int)(r - 19) * 8);
    for (unsigned r = 8; r < 16; r += 2)
        st_word(b, 0x6d000000u | ((r - 8) + 12) << 15 | (r + 1) << 10 | r, "stp d%u, d%u, [x0, #%u]", r,
            r + 1, (r - 8 + 12) * 8);
    mov_sp(b, 0, 1);
    ldst(b, 0, 1, 0, H_SP);
    sysreg(b, 0, SR_TPIDR, 1);
    ldst(b, 0, 1, 0, H_TPIDR);
    sysreg(b, 0, SR_FPCR, 1);
    ldst(b, 0, 1, 0, H_FPCR);
}

static void epilogue(im_buf *b, uint64_t saved)
{
    mov32(b, 0, saved);
    ldst(b, 1, 1, 0, H_SP);
    mov_sp(b, 1, 1);
    ldst(b, 1, 1, 0, H_TPIDR);
    sysreg(b, 1, SR_TPIDR, 1);
    ldst(b, 1, 1, 0, H_FPCR);
    sysreg(b, 1, SR_FPCR, 1);
    for (unsigned r = 8; r < 16; r += 2)
        st_word(b, 0x6d400000u | ((r - 8) + 12) << 15 | (r + 1) << 10 | r, "ldp d%u, d%u, [x0, #%u]", r,
            r + 1, (r - 8 + 12) * 8);
    for (unsigned r = 19; r < 31; r += 2)
        pair(b, 1, 0, r, r + 1, 0, (int)(r - 19) * 8);
    st_word(b, 0xd2800000u, "movz x0, #0x0");
    st_word(b, 0xd65f03c0u, "ret");
}

/* Load the in-state of the record at rec: x0 is the base, loaded last. */
static void load_state(im_buf *b, uint64_t rec)
{
    mov32(b, 0, rec + XIN);
    for (unsigned i = 0; i < 32; i += 2)
        pair(b, 1, 1, i, i + 1, 0, (int)VIN - (int)XIN + 16 * (int)i);
    static const unsigned srs[] = {SR_NZCV, SR_FPCR, SR_FPSR, SR_TPIDR};
    static const unsigned offs[] = {O_NZCV, O_FPCR, O_FPSR, O_TPIDR};
    for (unsigned i = 0; i < 4; i++) {
        ldst(b, 1, 1, 0, offs[i]);
        sysreg(b, 1, srs[i], 1);
    }
    ldst(b, 1, 1, 0, O_SP);
    mov_sp(b, 1, 1);
    for (unsigned i = 1; i < 31; i += 2)
        pair(b, 1, 0, i, i + 1, 0, (int)i * 8);
    ldst(b, 1, 0, 0, 0);
}

/* After the instruction, one path: x0 to TPIDR_EL0 (spill < 0), the base register (x0, or
 * the spill register) to the out-record, the flag register stored and set to taken. */
static void path_head(im_buf *b, uint64_t rec, int spill, unsigned base, unsigned flag, int taken)
{
    if (spill < 0)
        sysreg(b, 1, SR_TPIDR, 0);
    mov32(b, base, rec + XOUT);
    ldst(b, 0, flag, base, flag * 8);
    st_word(b, 0xd2800000u | (uint32_t)taken << 5 | flag, "movz x%u, #0x%x", flag, (unsigned)taken);
}

static void store_state(im_buf *b, int spill, unsigned base, unsigned flag)
{
    ldst(b, 0, flag, base, O_TAKEN);
    for (unsigned i = 0; i < 31;) {
        if (i == base || i == flag || (i == 0 && spill < 0)) {
            i++;
            continue;
        }
        if (i + 1 < 31 && i + 1 != base && i + 1 != flag) {
            pair(b, 0, 0, i, i + 1, base, (int)i * 8);
            i += 2;
        } else {
            ldst(b, 0, i, base, i * 8);
            i++;
        }
    }
    sysreg(b, 0, SR_TPIDR, flag); /* x0 (spilled), or TPIDR_EL0 itself */
    ldst(b, 0, flag, base, spill < 0 ? 0 : O_TPIDR);
    mov_sp(b, 0, flag);
    ldst(b, 0, flag, base, O_SP);
    static const unsigned srs[] = {SR_NZCV, SR_FPCR, SR_FPSR};
    static const unsigned offs[] = {O_NZCV, O_FPCR, O_FPSR};
    for (unsigned i = 0; i < 3; i++) {
        sysreg(b, 0, srs[i], flag);
        ldst(b, 0, flag, base, offs[i]);
    }
    for (unsigned i = 0; i < 32; i += 2)
        pair(b, 0, 1, i, i + 1, base, (int)VOUT - (int)XOUT + 16 * (int)i);
}

/* Right before the instruction, the exclusive monitor: open (load-exclusive lf with ops, then
 * the registers it wrote back to their in-values x[] with movz/movk, no memory access in
 * between) or closed (clrex). */
static int monitor_code(im_buf *b, int lf, const im_operand *ops, int open, const uint64_t *x)
{
    if (!open) {
        st_word(b, 0xd5033f5fu, "clrex");
        return 0;
    }
    uint8_t w[4];
    char text[96];
    if (im_encode(IM_TARGET_AARCH64, lf, ops, w, sizeof w) != 4 ||
        im_print(IM_TARGET_AARCH64, lf, ops, text, sizeof text) < 0)
        return IM_ERR_NO_ENCODING;
    st_word(b, im_get32(w), "%s", text);
    const im_form *l = &arch->forms[lf];
    int base = st_mem_shape(l).base;
    for (unsigned i = 0; i < l->nops; i++)
        if ((int)i != base && ops[i].type == IM_OP_REG && is_gpr(l->kinds[i]))
            mov64(b, ops[i].reg, x[ops[i].reg]);
    return 0;
}

/* One case: load, the instruction (and a literal's word), the store paths, store. */
static int emit_case(im_buf *b, struct acase *c, uint64_t base)
{
    uint64_t rec = st_rec_addr(c->h.slot);
    const im_form *f = &arch->forms[c->h.form];
    load_state(b, rec);
    if (c->mon >= 0) {
        int err = monitor_code(b, c->mon, c->mon_ops, c->mon_open && !fault_monitor, c->x);
        if (err)
            return err;
    }
    im_operand ops[IM_MAX_OPS];
    memcpy(ops, c->ops, sizeof ops);
    int lab = c->label ? im_buf_label(b) : -1;
    for (unsigned i = 0; i < f->nops; i++)
        if (ops[i].type == IM_OP_LABEL)
            ops[i].label = lab;
    int err = im_buf_emit(b, c->h.form, ops);
    if (err)
        return err;
    if (c->label == 2) {
        branch(b, 4 + LIT_LEN);
        im_buf_bind(b, lab);
        im_buf_bytes(b, c->lit, LIT_LEN);
    }
    unsigned sb = c->spill < 0 ? 0 : (unsigned)c->spill, flag = sb == 0 ? 1 : 0;
    path_head(b, rec, c->spill, sb, flag, 0);
    if (c->label == 1) {
        size_t head = c->spill < 0 ? 5 : 4; /* instructions of a path head */
        branch(b, 4 * (int64_t)(head + 1));
        uint64_t at = base + im_buf_offset(b);
        im_buf_bind(b, lab);
        if (c->tgt_reg >= 0)
            c->x[c->tgt_reg] = at; /* written to the record after the code is built */
        path_head(b, rec, c->spill, sb, flag, 1);
    }
    store_state(b, c->spill, sb, flag);
    return 0;
}

static int emit_one(im_buf *b, struct st_case *c, uint64_t base)
{
    return emit_case(b, (struct acase *)c, base);
}

/* The image of cases[0..n) at their slots: entry "run". */
static int build_image(const struct st_ops *o, struct st_case *const *cs, size_t n, uint64_t saved,
                       uint64_t base, im_image **out)
{
    static const struct st_code code = {prologue, b_to, emit_one, epilogue};
    return st_build_code(o, &code, cs, n, saved, base, out);
}

/* --scaffold: every piece of scaffolding the cases use, at a record's addresses. */
static int list_scaffold(void)
{
    im_buf *b = im_buf_new(IM_TARGET_AARCH64);
    if (!b)
        return 1;
    st_listing = stdout;
    uint64_t rec = st_rec_addr(3);
    prologue(b);
    load_state(b, rec);
    path_head(b, rec, -1, 0, 1, 0);
    branch(b, 24);
    path_head(b, rec, -1, 0, 1, 1);
    store_state(b, -1, 0, 1);
    path_head(b, rec, 5, 5, 0, 1);
    store_state(b, 5, 5, 0);
    branch(b, 4 + LIT_LEN);
    b_to(b, im_buf_offset(b) + 64);
    /* the monitor: closed, and open by each load-exclusive a monitor:FORM rule names (base
     * x5, registers from x1; sp as the base too) */
    monitor_code(b, -1, NULL, 0, NULL);
    for (size_t i = 0; i < implicits.n; i++) {
        int lf = implicits.v[i].mon, done = 0;
        for (size_t k = 0; k < i; k++)
            done |= implicits.v[k].mon == lf;
        if (lf < 0 || done)
            continue;
        const im_form *l = &arch->forms[lf];
        int lb = st_mem_shape(l).base;
        for (unsigned sp = 0; sp < 2; sp++) {
            im_operand ops[IM_MAX_OPS];
            uint64_t x[32];
            unsigned next = 1;
            for (unsigned k = 0; k < 32; k++)
                x[k] = 0x0123456789abcdefull * (k + 1);
            for (unsigned k = 0; k < l->nops; k++) {
                static im_operand s[IM_MAX_SAMPLES];
                im_rng r = {1};
                if ((int)k == lb)
                    ops[k] = im_reg(sp ? 31 : 5);
                else if (is_gpr(l->kinds[k]))
                    ops[k] = im_reg(next++);
                else if (arch->samples(IM_TARGET_AARCH64, l->kinds[k], &r, s, IM_MAX_SAMPLES))
                    ops[k] = s[0];
            }
            if (monitor_code(b, lf, ops, 1, x)) {
                tool_error(CMD, "aarch64: monitor:%s: the encoder refuses it", l->id);
                im_buf_free(b);
                return 1;
            }
        }
    }
    epilogue(b, st_rec_addr(0) - ST_HDR);
    st_listing = NULL;
    im_buf_free(b);
    return fflush(stdout) != 0;
}

/* ---- comparing ---- */

static const char *ename, *rname; /* the engine under test, the reference */

static void diverge(const char *eng, const struct acase *c, const char *what, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));
static void diverge(const char *eng, const struct acase *c, const char *what, const char *fmt,
                    ...)
{
    char msg[512], st[1400] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (unsigned i = 0; i < 31; i++)
        im_appendf(st, sizeof st, "x%u=0x%" PRIx64 " ", i, c->x[i]);
    im_appendf(st, sizeof st, "sp=0x%" PRIx64 " nzcv=0x%" PRIx64 " fpcr=0x%" PRIx64
                              " fpsr=0x%" PRIx64,
               c->x[31], c->nzcv, c->fpcr, c->fpsr);
    printf("diverge\t%s\t%s\t%s\t%u\t%s; insn '%s'; in: %s (scratch at 0x%" PRIx64 ")\n", eng,
           arch->forms[c->h.form].id, what, c->h.idx, msg, c->h.text, st,
           st_rec_addr(c->h.slot) + SCR_OFF);
}

/* A store-exclusive (--implicit monitor:FORM) on one engine: with the monitor open its first
 * operand (the status register, unless it is wzr) must read 0, with it closed 1 and the
 * scratch block must be as it was. Returns the number of differences reported. */
static unsigned monitor_check(const char *eng, const struct acase *c, const struct st_outcome *o)
{
    if (c->mon < 0 || o->faulted)
        return 0;
    unsigned d = 0;
    const im_form *f = &arch->forms[c->h.form];
    if (f->nops && c->ops[0].type == IM_OP_REG && is_gpr(f->kinds[0]) && c->ops[0].reg < 31) {
        uint64_t st = im_get64(o->rec + XOUT + 8 * c->ops[0].reg), want = c->mon_open ? 0 : 1;
        if (st != want) {
            diverge(eng, c, "monitor", "monitor %s: status x%u is 0x%" PRIx64 ", not %" PRIu64,
                    c->mon_open ? "open" : "closed", c->ops[0].reg, st, want);
            d++;
        }
    }
    if (!c->mon_open && memcmp(o->rec + SCR_OFF, c->scratch, SCR_LEN)) {
        diverge(eng, c, "monitor", "monitor closed: the scratch block was written");
        d++;
    }
    return d;
}

/* Compare one case; returns the number of differences reported. */
static unsigned compare(const struct acase *c, const struct st_outcome *ref,
                        const struct st_outcome *eng)
{
    unsigned d = 0;
    if (ref->faulted || eng->faulted) {
        if (ref->faulted != eng->faulted) {
            const struct st_outcome *x = ref->faulted ? ref : eng;
            diverge(ename, c, ref->faulted ? "nofault" : "fault", "%s faulted (%s), %s did not",
                    ref->faulted ? rname : ename, x->detail, ref->faulted ? ename : rname);
            d++;
        }
        return d;
    }
    static const struct {
        const char *name;
        unsigned off, undef;
    } words[] = {{"sp", XOUT + O_SP, 0},           {"nzcv", XOUT + O_NZCV, U_NZCV},
                 {"fpcr", XOUT + O_FPCR, 0},       {"fpsr", XOUT + O_FPSR, U_FPSR},
                 {"tpidr_el0", XOUT + O_TPIDR, 0}, {"taken", XOUT + O_TAKEN, 0}};
    for (unsigned i = 0; i < 31 + sizeof words / sizeof words[0]; i++) {
        char name[24];
        unsigned off;
        if (i < 31) {
            if ((int)i == c->spill)
                continue; /* the base of the stores */
            snprintf(name, sizeof name, "reg:x%u", i);
            off = XOUT + 8 * i;
        } else {
            unsigned w = i - 31;
            if ((c->undef & words[w].undef) || (w == 4 && c->spill < 0))
                continue;
            snprintf(name, sizeof name, "%s%s", w == 5 ? "" : "reg:", words[w].name);
            off = words[w].off;
        }
        uint64_t a = im_get64(ref->rec + off), b = im_get64(eng->rec + off);
        if (a != b) {
            diverge(ename, c, name, "%s 0x%" PRIx64 ", %s 0x%" PRIx64, rname, a, ename, b);
            d++;
        }
    }
    for (unsigned i = 0; i < 32; i++) {
        const uint8_t *va = ref->rec + VOUT + 16 * i, *vb = eng->rec + VOUT + 16 * i;
        if (memcmp(va, vb, 16)) {
            char name[16];
            snprintf(name, sizeof name, "reg:v%u", i);
            diverge(ename, c, name, "%s 0x%016" PRIx64 "%016" PRIx64 ", %s 0x%016" PRIx64 "%016" PRIx64,
                    rname, im_get64(va + 8), im_get64(va), ename, im_get64(vb + 8), im_get64(vb));
            d++;
        }
    }
    const uint8_t *sa = ref->rec + SCR_OFF, *sb = eng->rec + SCR_OFF;
    if (memcmp(sa, sb, SCR_LEN)) {
        unsigned k = 0, e = SCR_LEN;
        while (sa[k] == sb[k])
            k++;
        while (sa[e - 1] == sb[e - 1])
            e--;
        char ha[40] = "", hb[40] = "";
        for (unsigned i = k; i < e && i < k + 16; i++) {
            im_appendf(ha, sizeof ha, "%02x", sa[i]);
            im_appendf(hb, sizeof hb, "%02x", sb[i]);
        }
        diverge(ename, c, "mem", "scratch bytes %u..%u differ: %s %s, %s %s", k, e - 1, rname, ha, ename,
                hb);
        d++;
    }
    return d;
}

/* ---- the command ---- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: imago state -a aarch64 [--engine E] [--reference R] [--cases K] [--seed N]\n"
            "                   [--form ID]... [--shard I/N] [--notrun FILE] [--implicit FILE]\n"
            "                   [--undefined FILE]\n"
            "       imago state -a aarch64 --scaffold [--implicit FILE]\n"
            "Per-instruction state checks: K random cases of every A64 form run on the reference\n"
            "R (default: native on an aarch64 host, else qemu) and on engine E (default: R);\n"
            "x0-x30, sp, NZCV, FPCR, FPSR, v0-v31, the branch taken or not and the scratch\n"
            "block must agree. --notrun lists forms not run (KEY<TAB>REASON; KEY text:GLOB\n"
            "draws again the cases whose text matches), --implicit the forms whose first\n"
            "register holds the branch target (KEY<TAB>target) and the store-exclusives whose\n"
            "monitor the scaffold opens with load-exclusive FORM or closes with clrex, case by\n"
            "case (KEY<TAB>monitor:FORM), --undefined what a form leaves UNKNOWN\n"
            "(KEY<TAB>nzcv/fpsr/case). --shard I/N checks every N-th form from the I-th.\n"
            "Prints reference/notrun/form/diverge/summary lines (docs/testing.md); exit 0 when\n"
            "the check ran, whatever it found; 1 on an error; 2 on a usage error.\n");
}


static int open_engine(im_engine e, im_emu **out)
{
    if (e == IM_ENGINE_NATIVE && im_host_target() != IM_TARGET_AARCH64)
    {
        tool_error(CMD,
                   "no native aarch64 engine on this %s host: compare the engines with each "
                   "other (--engine unicorn --reference qemu)",
                   im_target_name(im_host_target()));
        return 1;
    }
    int err = im_emu_open_ex(e, IM_TARGET_AARCH64, IM_EMU_ISOLATED, out);
    if (err) {
        tool_error(CMD, "%s aarch64: %s: %s", im_engine_name(e), im_strerror(err), im_detail());
        return 1;
    }
    return 0;
}

int cmd_state_a64(int argc, char **argv)
{
    struct st_opts o;
    int ostatus;
    if (st_parse_opts(argc, argv, &o, usage, 1, &ostatus))
        return ostatus;
    const char *undef_path = o.undefined, *skip_path = o.notrun, *impl_path = o.implicit,
               *eopt = o.engine, *ropt = o.reference;
    int scaffold = o.scaffold;
    const char *const *only = o.only;
    size_t nonly = o.nonly;
    arch = im_arch_for(IM_TARGET_AARCH64);
    fault_scaffold = getenv("IMAGO_FAULT_STATE_SCAFFOLD") && *getenv("IMAGO_FAULT_STATE_SCAFFOLD");
    fault_monitor = getenv("IMAGO_FAULT_STATE_MONITOR") && *getenv("IMAGO_FAULT_STATE_MONITOR");
    if (scaffold) {
        int st = (o.implicit && st_read_rules(CMD, o.implicit, st_rule_line, &implicits)) ||
                 list_scaffold();
        free(implicits.v);
        implicits.v = NULL;
        implicits.n = 0;
        return st;
    }
    int native = im_host_target() == IM_TARGET_AARCH64;
    rname = ropt ? ropt : native ? "native" : "qemu";
    ename = eopt ? eopt : rname;
    im_engine re = im_engine_from_name(rname), e = im_engine_from_name(ename);
    if (re == IM_ENGINE_NONE || e == IM_ENGINE_NONE) {
        tool_error(CMD, "unknown engine '%s' (native, qemu, unicorn)",
                   re == IM_ENGINE_NONE ? rname : ename);
        return 1;
    }
    if ((undef_path && st_read_rules(CMD, undef_path, st_rule_line, &undefs)) ||
        (skip_path && st_read_skips(CMD, skip_path, &skips)) ||
        (impl_path && st_read_rules(CMD, impl_path, st_rule_line, &implicits)))
        return 1;
    for (size_t i = 0; i < nonly; i++)
        if (im_form_lookup(IM_TARGET_AARCH64, only[i]) < 0) {
            tool_error(CMD, "no form '%s' for aarch64", only[i]);
            return 1;
        }
    struct rlimit nocore = {0, 0}; /* a faulting case kills a runner: no core files */
    setrlimit(RLIMIT_CORE, &nocore);
    if (re != IM_ENGINE_NATIVE)
        printf("reference\t%s\t%s\n", rname,
               native ? "chosen with --reference"
                      : "no native aarch64 engine on this host: the engines are compared with "
                        "each other");

    struct st_cases list = {0};
    unsigned ordinal = 0;
    for (size_t fi = 0; fi < arch->nforms; fi++) {
        const im_form *f = &arch->forms[fi];
        if (!st_chosen(&o, f, &ordinal))
            continue;
        const char *reason = st_skip_reason(&skips, f);
        if (reason) {
            printf("notrun\t%s\t%s\n", f->id, reason);
            continue;
        }
        if (st_rule_monitor(&implicits, f) >= 0 && st_mem_shape(f).base < 0) {
            tool_error(CMD, "%s: a monitor:FORM line names form %s, which has no base register",
                       impl_path, f->id);
            st_cases_free(&list);
            return 1;
        }
        struct draw d = {o.seed, NULL};
        long made = st_draw(&list, sizeof(struct acase), o.cases, (int)fi, draw_case, &d, CMD);
        if (made < 0) {
            st_cases_free(&list);
            return 1;
        }
        if (!made)
            printf("notrun\t%s\t%s\n", f->id,
                   d.why ? d.why : "no operands the encoder accepts were drawn for its kinds");
    }
    size_t n = list.n;
    struct acase **cs = (struct acase **)list.v;

    int status = 0, two = e != re;
    struct st_outcome *ref = calloc(n ? n : 1, sizeof *ref);
    struct st_outcome *eng = two ? calloc(n ? n : 1, sizeof *eng) : NULL;
    size_t *bat = calloc(n ? n : 1, sizeof *bat), *blen = calloc(n ? n : 1, sizeof *blen);
    im_emu *rm = NULL, *em = NULL;
    struct st_ops ops = {IM_TARGET_AARCH64, arch, build_image, put_case, XOUT, CMD};
    if (open_engine(re, &rm) || (two && open_engine(e, &em)) ||
        st_run_all(rm, re, &ops, list.v, n, ref, bat, blen) ||
        (two && st_run_like(em, e, &ops, list.v, n, bat, blen, eng))) {
        status = 1;
        goto out;
    }
    struct st_tally tr = {0}, te = {0};
    for (size_t i = 0; i < n;) {
        size_t k = i;
        unsigned rf = 0, ef = 0;
        for (; k < n && cs[k]->h.form == cs[i]->h.form; k++) {
            rf += (unsigned)ref[k].faulted;
            if (two) {
                ef += (unsigned)eng[k].faulted;
                te.diverge += compare(cs[k], &ref[k], &eng[k]);
                te.diverge += monitor_check(ename, cs[k], &eng[k]);
            }
            tr.diverge += monitor_check(rname, cs[k], &ref[k]);
        }
        unsigned total = (unsigned)(k - i);
        const char *id = arch->forms[cs[i]->h.form].id;
        if (rf == total)
            printf("notrun\t%s\tevery case faults on %s (%s); every engine must fault too\n", id,
                   rname, ref[i].detail);
        st_form_line(&tr, id, rname, total, rf);
        if (two) {
            st_form_line(&te, id, ename, total, ef);
        }
        i = k;
    }
    printf("summary\t%s\tforms=%u\tcases=%u\tfaulted=%u\tdivergences=%u\n", rname, tr.forms,
           tr.cases, tr.faulted, tr.diverge);
    if (two)
        printf("summary\t%s\tforms=%u\tcases=%u\tfaulted=%u\tdivergences=%u\n", ename, te.forms,
               te.cases, te.faulted, te.diverge);
out:
    im_emu_close(rm);
    im_emu_close(em);
    st_cases_free(&list);
    free(bat);
    free(blen);
    free(ref);
    free(eng);
    free(undefs.v);
    free(implicits.v);
    free(skips.v);
    undefs.v = implicits.v = NULL;
    skips.v = NULL;
    undefs.n = implicits.n = skips.n = 0;
    return fflush(stdout) == 0 ? status : 1;
}
