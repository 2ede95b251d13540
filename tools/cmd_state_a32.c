/* imago state -a arm: per-instruction state checks of the A32 table (docs/testing.md,
 * "A32 state check"; the AArch64 check, tools/cmd_state_a64.c, is its model, both use
 * tools/state.c).
 *
 * For every form, K random cases: random values in r0-r12 and lr, sp (an 8-byte aligned
 * address in the scratch block with room for 16 words either way), NZCV, Q and GE[3:0]
 * (APSR), FPSCR (NZCV, QC, DN, FZ, the rounding mode, the cumulative exception flags) and
 * d0-d31, a random scratch block, operands drawn from the form's kinds. A memory operand's
 * base (the register right after '[' in the row's template; for a register list, the
 * general register before the list) holds an address in the scratch window with the
 * offset kept inside it; an index register (a register inside the brackets after the base)
 * is small, smaller when an immediate after it shifts it; a branch target (a REL kind) is a
 * marker in the case's code that records "taken", a literal (a REL kind of a load: ld*,
 * vld*, pl*) a random 16-byte word placed in the case's code. A conditional form (the row's
 * COND operand, im_form.cond_op) draws its condition from the kind's samples (odd cases: one
 * other than al) and NZCV so that even cases pass it and odd cases fail it; a case that fails its
 * condition must leave every register, APSR, FPSCR and the scratch block as they were, on
 * every engine (diverge WHAT "cond").
 *
 * Each case is straight-line code at a fixed address: load d0-d31, APSR, FPSCR and r0-r14
 * from the case's record (ldm r0, {r0-r14} last), the instruction, then spill r0 to
 * TPIDRURW, store every register, APSR, FPSCR and d0-d31. A store-exclusive (--implicit
 * monitor:FORM) runs with the exclusive monitor opened right before it by load-exclusive
 * FORM on its base (cases 0, 1 of every 4: status 0 expected) or closed by clrex (cases 2,
 * 3: status 1, memory untouched), on every engine. Nothing here is per instruction: forms,
 * kinds and samples come from the table (im_arch), the rest from the rule files (--notrun,
 * --implicit, --undefined).
 *
 * There is no ground truth on a host that is not arm: the engine under test is compared
 * with a reference engine (--reference; native on an arm host, else qemu).
 *
 * Output, one line each (tab-separated):
 *   reference ENGINE  WHY            (when the reference is not native)
 *   notrun  FORM  REASON
 *   cond    FORM  executed=N  skipped=M   (conditional forms: cases by their condition)
 *   form    FORM  ENGINE  cases=N  faulted=M
 *   diverge ENGINE  FORM  WHAT  CASE  DETAIL
 *   summary ENGINE  forms=N  cases=N  faulted=N  divergences=N  executed=N  skipped=N */
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
#define VIN 0u     /* d0-d31 in, 8 bytes each */
#define VOUT 256u  /* d0-d31 out */
#define XIN 512u   /* r0-r14, then the words below */
#define XOUT 640u  /* the same, then TAKEN */
#define O_APSR 60u /* from XIN / XOUT */
#define O_FPSCR 64u
#define O_TAKEN 68u
#define SCR_OFF 2048u /* the scratch block */
#define SCR_LEN 1024u
#define WIN_LO 256u /* memory operands land in [WIN_LO, WIN_HI) of the scratch */
#define WIN_HI 768u
#define LIT_LEN 16u /* a literal load's word in the code */

#define APSR_BITS 0xf80f0000u  /* N Z C V Q, GE[3:0]: what user mode reads and writes */
#define FPSCR_BITS 0xf800009fu /* N Z C V, QC, IDC, IXC, UFC, OFC, DZC, IOC */
#define FPSCR_MODE 0x03c00000u /* DN, FZ, RMode */

static const char *const CMD = "state";
static const im_target T = IM_TARGET_ARM;

static const im_arch *arch;


static int is_gpr(unsigned kind)
{
    const im_kind *k = &arch->kinds[kind];
    return k->cls == IM_KC_REG && k->name[0] == 'r';
}

static int is_list(unsigned kind) /* a register list (general or VFP) */
{
    return arch->kinds[kind].cls == IM_KC_LIST;
}

/* The general register that addresses a register list's memory (ldm r1!, {...}, vldmia r2,
 * {...}): the last general register operand before the first list (a writeback operand may
 * stand between); -1 for none (push, pop, vpush, vpop: sp, which is always in the scratch
 * window with room). */
static int list_base(const im_form *f)
{
    for (unsigned i = 1; i < f->nops; i++)
        if (is_list(f->kinds[i])) {
            for (int j = (int)i - 1; j >= 0; j--)
                if (is_gpr(f->kinds[j]))
                    return j;
            return -1;
        }
    return -1;
}

/* A small index (a multiple of 8, so that doubleword and multiple transfers stay aligned)
 * whose value shifted left by s (0..31; 32 or more: a shift the check cannot read, the
 * index is 0) stays below 128. */
static uint32_t small_index(im_rng *r, unsigned s)
{
    if (s >= 32)
        return 0;
    uint32_t eff = 8 * (uint32_t)(im_rng_next(r) % 16);
    eff &= ~((1u << s) - 1);
    return eff >> s;
}

/* The general registers an operand names: a register, or a general register list (its
 * bitmask, or one register). */
static uint32_t gpr_mask(unsigned kind, const im_operand *o)
{
    const im_kind *k = &arch->kinds[kind];
    if (k->name[0] != 'r' || (k->cls != IM_KC_REG && k->cls != IM_KC_LIST))
        return 0;
    if (o->type == IM_OP_REG)
        return o->reg < 16 ? 1u << o->reg : 0;
    if (o->type == IM_OP_LIST)
        return (uint32_t)o->imm & 0xffff;
    return 0;
}

/* ---- rules ---- */

/* --undefined: what a form leaves UNKNOWN (KEY<TAB>ITEMS: nzcv, q, ge, fpscr, case, or
 * distinct:I:J, operands I and J naming a common general register is UNPREDICTABLE: such
 * cases are drawn again). */
enum { U_NZCV = 1, U_Q = 2, U_GE = 4, U_FPSCR = 16, U_CASE = 32, U_DISTINCT = 64 };
static const struct st_item undef_items[] = {
    {"nzcv", U_NZCV}, {"q", U_Q}, {"ge", U_GE}, {"fpscr", U_FPSCR}, {"case", U_CASE}};
static struct st_rules undefs = {.cmd = "state", .t = IM_TARGET_ARM, .items = undef_items,
                                 .nitems = sizeof undef_items / sizeof undef_items[0],
                                 .distinct_bit = U_DISTINCT},
                       implicits = {.cmd = "state", .t = IM_TARGET_ARM, .implicit = 1};

/* Whether ops breaks a distinct:I:J rule for form f (two operands share a register). */
static int same_regs(const im_form *f, const im_operand *ops)
{
    for (size_t i = 0; i < undefs.n; i++) {
        const struct st_rule *r = &undefs.v[i];
        if (!r->ndis || !st_rule_names(r, f))
            continue;
        for (unsigned k = 0; k < r->ndis; k++) {
            unsigned a = r->dis[k][0], b = r->dis[k][1];
            if (a < f->nops && b < f->nops &&
                (gpr_mask(f->kinds[a], &ops[a]) & gpr_mask(f->kinds[b], &ops[b])))
                return 1;
        }
    }
    return 0;
}
static struct st_skips skips;


/* ---- conditions ---- */

/* Whether condition c (0..14, the Arm ARM's encoding) holds with NZCV nzcv (bits 3..0). */
static int cond_holds(unsigned c, unsigned nzcv)
{
    int n = nzcv >> 3 & 1, z = nzcv >> 2 & 1, cf = nzcv >> 1 & 1, v = nzcv & 1, r;
    switch (c >> 1) {
    case 0: r = z; break;
    case 1: r = cf; break;
    case 2: r = n; break;
    case 3: r = v; break;
    case 4: r = cf && !z; break;
    case 5: r = n == v; break;
    case 6: r = !z && n == v; break;
    default: return 1; /* al (and 15, which no sample gives) */
    }
    return c & 1 ? !r : r;
}

/* IMAGO_FAULT_STATE_COND=1 (the self-test): the chooser of NZCV picks flags that pass the
 * condition where it means to fail it, and the case is still counted (and checked) as one
 * that fails. */
static int fault_cond;

/* ---- cases ---- */

struct acase {
    struct st_case h; /* form, idx, slot, text */
    im_operand ops[IM_MAX_OPS];
    uint32_t r[15]; /* r0-r14 */
    uint32_t apsr, fpscr;
    uint64_t d[32];
    uint8_t scratch[SCR_LEN];
    uint8_t lit[LIT_LEN];
    int label;   /* a REL operand: 1 a branch target (the taken marker), 2 a literal */
    int tgt_reg; /* the register that holds the taken marker's address (--implicit), or -1 */
    unsigned undef;
    int cond; /* the condition (0..14), or -1: the form has none */
    int pass; /* the instruction runs: its condition passes (or it has none) */
    int mon;  /* the load-exclusive that opens the monitor (--implicit monitor:FORM), or -1 */
    int mon_open; /* 1: it runs right before the instruction; 0: clrex does */
    im_operand mon_ops[IM_MAX_OPS]; /* its operands: the instruction's base, free registers */
};

/* A random 64-bit register: random bits, or FP values worth having. */
static uint64_t d_value(im_rng *r)
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
                                   0x41e0000000000000ull,
                                   0xc1e0000000000000ull,
                                   0x3fe0000000000000ull,
                                   0x400921fb54442d18ull};
    unsigned mode = (unsigned)(im_rng_next(r) % 4);
    uint64_t x = im_rng_next(r), y = im_rng_next(r);
    if (mode == 1)
        x = f64[y % (sizeof f64 / sizeof f64[0])];
    else if (mode == 2) {
        uint32_t lo = (uint32_t)x, hi = (uint32_t)(x >> 32);
        if (y & 1)
            lo = f32[(y >> 8) % (sizeof f32 / sizeof f32[0])];
        if (y & 2)
            hi = f32[(y >> 16) % (sizeof f32 / sizeof f32[0])];
        x = (uint64_t)hi << 32 | lo;
    } else if (mode == 3)
        x = st_rnd_value(r, (int)(y % 3));
    return x;
}

/* The operands of load-exclusive lf for a case whose registers `used` names: its base is
 * base_reg, its other general registers registers outside `used` (the first set from
 * r0 upwards the encoder accepts: ldrexd wants an even, odd pair), any other operand its
 * kind's first sample. Returns 0, or 1 when lf refuses every choice. */
static int pick_monitor_ops(int lf, unsigned base_reg, uint32_t used, im_operand *out)
{
    static im_operand samples[IM_MAX_SAMPLES];
    const im_form *l = &arch->forms[lf];
    int lb = st_mem_shape(l).base;
    used |= 1u << base_reg | 1u << 13 | 1u << 15;
    for (unsigned start = 0; start < 15; start++) {
        unsigned next = start;
        int ok = 1;
        for (unsigned i = 0; i < l->nops && ok; i++) {
            if ((int)i == lb) {
                out[i] = im_reg(base_reg);
            } else if (is_gpr(l->kinds[i])) {
                while (next < 15 && (used >> next & 1))
                    next++;
                if (next >= 15)
                    ok = 0;
                else
                    out[i] = im_reg(next++);
            } else {
                im_rng r = {1};
                size_t ns = arch->samples(T, l->kinds[i], &r, samples, IM_MAX_SAMPLES);
                if (!ns)
                    return 1;
                out[i] = samples[0];
                if (l->cond_op == i)
                    out[i] = im_cond(14);
            }
        }
        uint8_t tmp[16];
        if (ok && im_encode(T, lf, out, tmp, sizeof tmp) == 4)
            return 0;
    }
    return 1;
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
    int lbase = ms.base < 0 ? list_base(f) : -1; /* ldm/stm/vldm/vstm: the list's base */
    unsigned rb = st_rule_bits(&undefs, f);
    int target = (int)(st_rule_bits(&implicits, f) & ST_U_TARGET);
    int literal = !strncmp(f->mnem, "ld", 2) || !strncmp(f->mnem, "vld", 3) ||
                  !strncmp(f->mnem, "pl", 2);
    int mon = st_rule_monitor(&implicits, f);
    if (mon >= 0 && ms.base < 0)
        return -1; /* refused by cmd_state_a32 */
    /* conditional: the form's COND kind has a condition other than al (an unconditional
     * instruction's condition kind, dmb's say, offers al alone) */
    int conditional = 0;
    if (f->cond_op != 0xff) {
        im_rng cr = {1};
        size_t ns = arch->samples(T, f->kinds[f->cond_op], &cr, samples, IM_MAX_SAMPLES);
        for (size_t k = 0; k < ns && !conditional; k++)
            conditional = samples[k].type == IM_OP_COND && samples[k].imm < 14;
    }
    if (rb & U_CASE)
        return -1;
    /* texts a not-run rule refuses (pc as an operand) take more draws */
    for (int attempt = 0; attempt < (*why ? 4096 : 64); attempt++) {
        memset(c, 0, sizeof *c);
        c->h.form = fi;
        c->h.idx = idx;
        c->h.slot = slot;
        c->tgt_reg = -1;
        c->undef = rb;
        c->mon = -1;
        c->cond = -1;
        uint32_t scr = (uint32_t)(st_rec_addr(slot) + SCR_OFF);
        int mode = (int)(im_rng_next(&r) % 4);
        for (unsigned i = 0; i < 15; i++) {
            uint64_t x = im_rng_next(&r) % 100;
            if (mode == 0 && x < 20)
                c->r[i] = scr + WIN_LO + (uint32_t)(im_rng_next(&r) % (WIN_HI - WIN_LO));
            else if (x < 40)
                c->r[i] = (uint32_t)st_rnd_value(&r, 0);
            else if (x < 60)
                c->r[i] = (uint32_t)st_rnd_value(&r, 1);
            else
                c->r[i] = (uint32_t)st_rnd_value(&r, 2);
        }
        /* sp: 8-byte aligned, 32 words of room either way (push, pop, vpush, vpop) */
        c->r[13] = (scr + WIN_LO + 128 + (uint32_t)(im_rng_next(&r) % (WIN_HI - WIN_LO - 256))) &
                   ~7u;
        c->apsr = (uint32_t)im_rng_next(&r) & APSR_BITS;
        c->fpscr = ((uint32_t)im_rng_next(&r) & FPSCR_BITS) |
                   (im_rng_next(&r) % 2 ? (uint32_t)im_rng_next(&r) & FPSCR_MODE : 0);
        for (unsigned i = 0; i < 32; i++)
            c->d[i] = d_value(&r);
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
            size_t ns = arch->samples(T, kind, &r, samples, IM_MAX_SAMPLES);
            if (!ns)
                ok = 0;
            else
                c->ops[i] = samples[im_rng_next(&r) % ns];
        }
        if (!ok || same_regs(f, c->ops))
            continue;
        /* the condition: even cases pass it, odd cases fail it (al always passes) */
        c->pass = 1;
        if (conditional && c->ops[f->cond_op].type == IM_OP_COND) {
            if ((idx & 1) && c->ops[f->cond_op].imm >= 14) {
                /* an odd case fails its condition: one other than al, if the kind has one */
                size_t ns = arch->samples(T, f->kinds[f->cond_op], &r, samples, IM_MAX_SAMPLES);
                size_t k0 = ns ? (size_t)(im_rng_next(&r) % ns) : 0;
                for (size_t k = 0; k < ns; k++)
                    if (samples[(k0 + k) % ns].type == IM_OP_COND &&
                        samples[(k0 + k) % ns].imm < 14) {
                        c->ops[f->cond_op] = samples[(k0 + k) % ns];
                        break;
                    }
            }
            unsigned cc = (unsigned)c->ops[f->cond_op].imm & 15;
            int want = cc >= 14 || !(idx & 1);
            unsigned nz = (unsigned)(im_rng_next(&r) & 15);
            for (unsigned k = 0; k < 16; k++, nz = (nz + 1) & 15)
                if (cond_holds(cc, nz) == (fault_cond && cc < 14 ? 1 : want))
                    break;
            c->cond = (int)cc;
            c->pass = want;
            c->apsr = (c->apsr & ~0xf0000000u) | nz << 28;
        }
        /* bx/blx: the first register operand holds the taken marker's address (a form of
         * the mnemonic with a REL operand, blx label, branches to the marker itself) */
        if (target && c->label != 1) {
            c->label = 1;
            for (unsigned i = 0; i < f->nops && c->tgt_reg < 0; i++)
                if (is_gpr(f->kinds[i]) && c->ops[i].type == IM_OP_REG)
                    c->tgt_reg = c->ops[i].reg;
            ok = c->tgt_reg >= 0 && c->tgt_reg < 15;
        }
        if (ok && ms.base >= 0) {
            /* the base addresses the scratch window; an index is small; the offset (an
             * immediate inside the brackets, without an index) is kept inside */
            const im_operand *bo = &c->ops[ms.base];
            unsigned br = bo->reg;
            ok = bo->type == IM_OP_REG && br < 15;
            int64_t off = 0;
            int index = -1;
            unsigned shift = 0;
            for (int k = 0; k < ms.nin && ok; k++) {
                const im_operand *o = &c->ops[ms.in[k]];
                if (o->type == IM_OP_REG && is_gpr(f->kinds[ms.in[k]])) {
                    index = o->reg;
                    if (o->reg == br || o->reg >= 15)
                        ok = 0;
                } else if (index >= 0 && o->type == IM_OP_IMM) {
                    /* an immediate after the index: its shift amount (0..31), else a value
                     * the check cannot read as one (the index is 0) */
                    shift = o->imm >= 0 && o->imm < 32 ? (unsigned)o->imm : 32;
                } else if (index >= 0) {
                    shift = 32;
                }
            }
            if (ok && index >= 0)
                c->r[index] = small_index(&r, shift);
            for (int k = 0; k < ms.nin && ok && index < 0 && !ms.npost; k++)
                if (c->ops[ms.in[k]].type == IM_OP_IMM)
                    off += c->ops[ms.in[k]].imm;
            uint32_t at = scr + WIN_LO + (uint32_t)(im_rng_next(&r) % (WIN_HI - WIN_LO - 128) & ~15ull);
            if (ok)
                c->r[br] = at - (uint32_t)off;
            for (int k = 0; k < ms.npost && ok; k++) { /* a post-index register is small too */
                const im_operand *o = &c->ops[ms.post[k]];
                if (o->type == IM_OP_REG && is_gpr(f->kinds[ms.post[k]])) {
                    if (o->reg == br || o->reg >= 15)
                        ok = 0;
                    else
                        c->r[o->reg] = small_index(&r, 0);
                }
            }
        }
        if (ok && lbase >= 0) {
            /* a register list's base: 16 words of room either way in the window */
            const im_operand *bo = &c->ops[lbase];
            ok = bo->type == IM_OP_REG && bo->reg < 15;
            if (ok)
                c->r[bo->reg] = (scr + WIN_LO + 128 +
                                 (uint32_t)(im_rng_next(&r) % (WIN_HI - WIN_LO - 256))) & ~7u;
        }
        if (!ok)
            continue;
        uint8_t tmp[16];
        im_operand test[IM_MAX_OPS];
        memcpy(test, c->ops, sizeof test);
        for (unsigned i = 0; i < f->nops; i++)
            if (test[i].type == IM_OP_LABEL)
                test[i] = (im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, 16};
        if (im_encode(T, fi, test, tmp, sizeof tmp) <= 0)
            continue;
        im_print(T, fi, test, c->h.text, sizeof c->h.text);
        const char *ts = st_text_skip(&skips, c->h.text);
        if (ts) {
            *why = ts;
            continue;
        }
        if (mon >= 0) {
            uint32_t used = 0;
            for (unsigned i = 0; i < f->nops; i++)
                used |= gpr_mask(f->kinds[i], &c->ops[i]);
            if (pick_monitor_ops(mon, c->ops[ms.base].reg, used, c->mon_ops))
                continue;
            c->mon = mon;
            c->mon_open = !(idx >> 1 & 1); /* 0, 1 open; 2, 3 closed: each with cond both ways */
        }
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
    memcpy(rec + VIN, c->d, sizeof c->d);
    for (unsigned i = 0; i < 15; i++)
        im_put32(rec + XIN + 4 * i, c->r[i]);
    im_put32(rec + XIN + O_APSR, c->apsr);
    im_put32(rec + XIN + O_FPSCR, c->fpscr);
    memcpy(rec + SCR_OFF, c->scratch, SCR_LEN);
}

/* ---- code ---- */

/* The scaffolding is fixed instruction words (st_word, listed with --scaffold). */

/* Fault injection for the self-test: IMAGO_FAULT_STATE_SCAFFOLD=1 gives the stores of the d
 * registers (vstmia) a load's word, in the code and in the listing (whose text still says
 * vstmia). */
static int fault_scaffold;
/* IMAGO_FAULT_STATE_MONITOR=1 (the self-test): the monitor is never opened (clrex instead of
 * the load-exclusive), so every store-exclusive fails. */
static int fault_monitor;


static void movw(im_buf *b, unsigned rd, unsigned v) /* movw rd, #v (16 bits) */
{
    st_word(b, 0xe3000000u | (v >> 12 & 15) << 16 | rd << 12 | (v & 0xfff), "movw r%u, #0x%x", rd,
        v & 0xffff);
}

static void mov32(im_buf *b, unsigned rd, uint32_t v) /* movw, movt: any value */
{
    movw(b, rd, v & 0xffff);
    unsigned hi = v >> 16;
    st_word(b, 0xe3400000u | (hi >> 12 & 15) << 16 | rd << 12 | (hi & 0xfff), "movt r%u, #0x%x", rd, hi);
}

static const char *rname_of(unsigned r)
{
    static const char *const n[16] = {"r0", "r1", "r2",  "r3",  "r4", "r5", "r6", "r7",
                                      "r8", "r9", "r10", "r11", "r12", "sp", "lr", "pc"};
    return n[r & 15];
}

static void ldst(im_buf *b, int load, unsigned t, unsigned n, unsigned off) /* ldr/str rt, [rn, #off] */
{
    st_word(b, (load ? 0xe5900000u : 0xe5800000u) | n << 16 | t << 12 | off, "%s %s, [%s, #%u]",
        load ? "ldr" : "str", rname_of(t), rname_of(n), off);
}

static void multi(im_buf *b, int load, unsigned n, unsigned lo, unsigned hi) /* ldm/stm rn, {lo-hi} */
{
    uint32_t list = ((1u << (hi + 1)) - 1) & ~((1u << lo) - 1);
    st_word(b, (load ? 0xe8900000u : 0xe8800000u) | n << 16 | list, "%s %s, {%s-%s}",
        load ? "ldm" : "stm", rname_of(n), rname_of(lo), rname_of(hi));
}

/* vldmia/vstmia rn[!], {d<first>-d<first+count-1>} */
static void vmulti(im_buf *b, int load, unsigned n, int wb, unsigned first, unsigned count)
{
    uint32_t w = 0xec800b00u | (load || fault_scaffold ? 1u << 20 : 0) | (wb ? 1u << 21 : 0) |
                 (first >> 4 & 1) << 22 | n << 16 | (first & 15) << 12 | 2 * count;
    st_word(b, w, "%s %s%s, {d%u-d%u}", load ? "vldmia" : "vstmia", rname_of(n), wb ? "!" : "", first,
        first + count - 1);
}

static void tpidr(im_buf *b, int write, unsigned t) /* mcr/mrc p15, 0, rt, c13, c0, 2 */
{
    st_word(b, (write ? 0xee0d0f50u : 0xee1d0f50u) | t << 12, "%s p15, 0, %s, c13, c0, 2",
        write ? "mcr" : "mrc", rname_of(t));
}

static void fpscr_rw(im_buf *b, int write, unsigned t) /* vmsr fpscr, rt / vmrs rt, fpscr */
{
    if (write)
        st_word(b, 0xeee10a10u | t << 12, "vmsr fpscr, %s", rname_of(t));
    else
        st_word(b, 0xeef10a10u | t << 12, "vmrs %s, fpscr", rname_of(t));
}

static void apsr_rw(im_buf *b, int write, unsigned t) /* msr APSR_nzcvqg, rt / mrs rt, APSR */
{
    if (write)
        st_word(b, 0xe12cf000u | t, "msr APSR_nzcvqg, %s", rname_of(t));
    else
        st_word(b, 0xe10f0000u | t << 12, "mrs %s, APSR", rname_of(t));
}

static void add_imm(im_buf *b, unsigned d, unsigned n, unsigned imm) /* imm < 256 */
{
    st_word(b, 0xe2800000u | n << 16 | d << 12 | imm, "add %s, %s, #%u", rname_of(d), rname_of(n), imm);
}

static void branch(im_buf *b, int64_t n) /* b .+n */
{
    st_word(b, 0xea000000u | ((uint32_t)((n - 8) / 4) & 0xffffff), "b .%+" PRId64, n);
}

/* b to offset to (at or after the current one), then zero words up to it. */
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

/* The header page (r0): r4-r11, sp, lr, FPSCR, TPIDRURW, d8-d15 (AAPCS callee-saved). */
#define H_SP 32u
#define H_LR 36u
#define H_FPSCR 40u
#define H_TPIDR 44u
#define H_D8 64u
static void prologue(im_buf *b)
{
    multi(b, 0, 0, 4, 11);
    ldst(b, 0, 13, 0, H_SP);
    ldst(b, 0, 14, 0, H_LR);
    fpscr_rw(b, 0, 1);
    ldst(b, 0, 1, 0, H_FPSCR);
    tpidr(b, 0, 1);
    ldst(b, 0, 1, 0, H_TPIDR);
    add_imm(b, 1, 0, H_D8);
    vmulti(b, 0, 1, 0, 8, 8);
}

static void epilogue(im_buf *b, uint64_t saved)
{
    mov32(b, 0, (uint32_t)saved);
    add_imm(b, 1, 0, H_D8);
    vmulti(b, 1, 1, 0, 8, 8);
    ldst(b, 1, 1, 0, H_TPIDR);
    tpidr(b, 1, 1);
    ldst(b, 1, 1, 0, H_FPSCR);
    fpscr_rw(b, 1, 1);
    ldst(b, 1, 13, 0, H_SP);
    ldst(b, 1, 14, 0, H_LR);
    multi(b, 1, 0, 4, 11);
    st_word(b, 0xe3a00000u, "mov r0, #0");
    st_word(b, 0xe12fff1eu, "bx lr");
}

/* Load the in-state of the record at rec: r0-r14 last (ldm r0, {r0-r14}). */
static void load_state(im_buf *b, uint64_t rec)
{
    mov32(b, 0, (uint32_t)(rec + VIN));
    vmulti(b, 1, 0, 1, 0, 16);
    vmulti(b, 1, 0, 0, 16, 16);
    mov32(b, 0, (uint32_t)(rec + XIN));
    ldst(b, 1, 1, 0, O_APSR);
    apsr_rw(b, 1, 1);
    ldst(b, 1, 1, 0, O_FPSCR);
    fpscr_rw(b, 1, 1);
    multi(b, 1, 0, 0, 14);
}

/* After the instruction, one path: r0 to TPIDRURW, r0 the out-record, r1 stored there and
 * set to taken. No instruction here writes the flags. */
#define HEAD_LEN 5u /* instructions */
static void path_head(im_buf *b, uint64_t rec, int taken)
{
    tpidr(b, 1, 0);
    mov32(b, 0, (uint32_t)(rec + XOUT));
    ldst(b, 0, 1, 0, 4);
    movw(b, 1, (unsigned)taken);
}

static void store_state(im_buf *b, uint64_t rec)
{
    ldst(b, 0, 1, 0, O_TAKEN);
    apsr_rw(b, 0, 1);
    ldst(b, 0, 1, 0, O_APSR);
    fpscr_rw(b, 0, 1);
    ldst(b, 0, 1, 0, O_FPSCR);
    tpidr(b, 0, 1); /* r0, spilled */
    ldst(b, 0, 1, 0, 0);
    add_imm(b, 1, 0, 8);
    multi(b, 0, 1, 2, 14);
    mov32(b, 0, (uint32_t)(rec + VOUT));
    vmulti(b, 0, 0, 1, 0, 16);
    vmulti(b, 0, 0, 0, 16, 16);
}

/* Right before the instruction, the exclusive monitor: open (load-exclusive lf with ops, then
 * r0-r12 and lr but the base back to their in-values r[] with movw/movt, no memory access in
 * between) or closed (clrex). */
static int monitor_code(im_buf *b, int lf, const im_operand *ops, int open, const uint32_t *r)
{
    if (!open) {
        st_word(b, 0xf57ff01fu, "clrex");
        return 0;
    }
    uint8_t w[4];
    char text[96];
    if (im_encode(T, lf, ops, w, sizeof w) != 4 || im_print(T, lf, ops, text, sizeof text) < 0)
        return IM_ERR_NO_ENCODING;
    st_word(b, im_get32(w), "%s", text);
    /* every register but the base and sp back: a load-exclusive may write registers it
     * does not name (ldrexd: Rt and Rt+1) */
    const im_form *l = &arch->forms[lf];
    unsigned base = ops[st_mem_shape(l).base].reg;
    for (unsigned i = 0; i < 15; i++)
        if (i != base && i != 13)
            mov32(b, i, r[i]);
    return 0;
}

/* One case: load, the instruction (and a literal's word), the store paths, store. */
static int emit_case(im_buf *b, struct acase *c, uint64_t base)
{
    uint64_t rec = st_rec_addr(c->h.slot);
    const im_form *f = &arch->forms[c->h.form];
    load_state(b, rec);
    if (c->mon >= 0) {
        int err = monitor_code(b, c->mon, c->mon_ops, c->mon_open && !fault_monitor, c->r);
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
    path_head(b, rec, 0);
    if (c->label == 1) {
        branch(b, 4 * (int64_t)(HEAD_LEN + 1));
        uint64_t at = base + im_buf_offset(b);
        im_buf_bind(b, lab);
        if (c->tgt_reg >= 0)
            c->r[c->tgt_reg] = (uint32_t)at; /* written to the record after the code is built */
        path_head(b, rec, 1);
    }
    store_state(b, rec);
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
    im_buf *b = im_buf_new(T);
    if (!b)
        return 1;
    st_listing = stdout;
    uint64_t rec = st_rec_addr(3);
    prologue(b);
    load_state(b, rec);
    path_head(b, rec, 0);
    branch(b, 4 * (HEAD_LEN + 1));
    path_head(b, rec, 1);
    store_state(b, rec);
    branch(b, 4 + LIT_LEN);
    b_to(b, im_buf_offset(b) + 64);
    /* the monitor: closed, and open by each load-exclusive a monitor:FORM rule names (base
     * r5, registers from r0) */
    monitor_code(b, -1, NULL, 0, NULL);
    for (size_t i = 0; i < implicits.n; i++) {
        int lf = implicits.v[i].mon, done = 0;
        for (size_t k = 0; k < i; k++)
            done |= implicits.v[k].mon == lf;
        if (lf < 0 || done)
            continue;
        im_operand ops[IM_MAX_OPS];
        uint32_t r[15];
        for (unsigned k = 0; k < 15; k++)
            r[k] = 0x01234567u * (k + 1);
        if (pick_monitor_ops(lf, 5, 0, ops) || monitor_code(b, lf, ops, 1, r)) {
            tool_error(CMD, "arm: monitor:%s: the encoder refuses it", arch->forms[lf].id);
            im_buf_free(b);
            return 1;
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
    char msg[512], st[700] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (unsigned i = 0; i < 15; i++)
        im_appendf(st, sizeof st, "%s=0x%" PRIx32 " ", rname_of(i), c->r[i]);
    im_appendf(st, sizeof st, "apsr=0x%08" PRIx32 " fpscr=0x%08" PRIx32, c->apsr, c->fpscr);
    printf("diverge\t%s\t%s\t%s\t%u\t%s; insn '%s'; in: %s (scratch at 0x%" PRIx64 ")\n", eng,
           arch->forms[c->h.form].id, what, c->h.idx, msg, c->h.text, st,
           st_rec_addr(c->h.slot) + SCR_OFF);
}

static uint32_t apsr_mask(const struct acase *c)
{
    uint32_t m = APSR_BITS;
    if (c->undef & U_NZCV)
        m &= ~0xf0000000u;
    if (c->undef & U_Q)
        m &= ~0x08000000u;
    if (c->undef & U_GE)
        m &= ~0x000f0000u;
    return m;
}

/* A store-exclusive (--implicit monitor:FORM) that ran on one engine: with the monitor open
 * its first general register operand (the status) must read 0, with it closed 1 and the scratch
 * block must be as it was. Returns the number of differences reported. */
static unsigned monitor_check(const char *eng, const struct acase *c, const struct st_outcome *o)
{
    if (c->mon < 0 || o->faulted || !c->pass)
        return 0;
    unsigned d = 0;
    const im_form *f = &arch->forms[c->h.form];
    int sr = -1; /* the status: the first general register operand (after the condition) */
    for (unsigned i = 0; i < f->nops && sr < 0; i++)
        if (c->ops[i].type == IM_OP_REG && is_gpr(f->kinds[i]))
            sr = c->ops[i].reg;
    if (sr >= 0 && sr < 15) {
        uint32_t st = im_get32(o->rec + XOUT + 4 * (unsigned)sr), want = c->mon_open ? 0 : 1;
        if (st != want) {
            diverge(eng, c, "monitor", "monitor %s: status %s is 0x%" PRIx32 ", not %" PRIu32,
                    c->mon_open ? "open" : "closed", rname_of((unsigned)sr), st, want);
            d++;
        }
    }
    if (!c->mon_open && memcmp(o->rec + SCR_OFF, c->scratch, SCR_LEN)) {
        diverge(eng, c, "monitor", "monitor closed: the scratch block was written");
        d++;
    }
    return d;
}

/* A case whose condition fails, on one engine: everything must be as it was (the branch not
 * taken). Returns the number of differences reported (at most one). */
static unsigned cond_check(const char *eng, const struct acase *c, const struct st_outcome *o)
{
    if (c->pass || o->faulted)
        return 0;
    char what[200] = "";
    for (unsigned i = 0; i < 15; i++) {
        uint32_t v = im_get32(o->rec + XOUT + 4 * i);
        if (v != c->r[i])
            im_appendf(what, sizeof what, " %s=0x%" PRIx32, rname_of(i), v);
    }
    uint32_t m = apsr_mask(c), a = im_get32(o->rec + XOUT + O_APSR);
    if ((a & m) != (c->apsr & m))
        im_appendf(what, sizeof what, " apsr=0x%08" PRIx32, a & m);
    uint32_t fp = im_get32(o->rec + XOUT + O_FPSCR);
    if (!(c->undef & U_FPSCR) && fp != c->fpscr)
        im_appendf(what, sizeof what, " fpscr=0x%08" PRIx32, fp);
    if (im_get32(o->rec + XOUT + O_TAKEN))
        im_appendf(what, sizeof what, " taken");
    for (unsigned i = 0; i < 32; i++)
        if (im_get64(o->rec + VOUT + 8 * i) != c->d[i])
            im_appendf(what, sizeof what, " d%u", i);
    if (memcmp(o->rec + SCR_OFF, c->scratch, SCR_LEN))
        im_appendf(what, sizeof what, " mem");
    if (!what[0])
        return 0;
    diverge(eng, c, "cond", "condition %s fails (in-NZCV 0x%x) but the instruction ran:%s",
            im_arm_cond_names[c->cond], c->apsr >> 28, what);
    return 1;
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
    for (unsigned i = 0; i < 18; i++) {
        char name[24];
        unsigned off;
        uint32_t mask = ~0u;
        if (i < 15) {
            snprintf(name, sizeof name, "reg:%s", rname_of(i));
            off = XOUT + 4 * i;
        } else if (i == 15) {
            snprintf(name, sizeof name, "reg:apsr");
            off = XOUT + O_APSR;
            mask = apsr_mask(c);
        } else if (i == 16) {
            if (c->undef & U_FPSCR)
                continue;
            snprintf(name, sizeof name, "reg:fpscr");
            off = XOUT + O_FPSCR;
        } else {
            snprintf(name, sizeof name, "taken");
            off = XOUT + O_TAKEN;
        }
        uint32_t a = im_get32(ref->rec + off) & mask, b = im_get32(eng->rec + off) & mask;
        if (a != b) {
            diverge(ename, c, name, "%s 0x%" PRIx32 ", %s 0x%" PRIx32, rname, a, ename, b);
            d++;
        }
    }
    for (unsigned i = 0; i < 32; i++) {
        uint64_t va = im_get64(ref->rec + VOUT + 8 * i), vb = im_get64(eng->rec + VOUT + 8 * i);
        if (va != vb) {
            char name[16];
            snprintf(name, sizeof name, "reg:d%u", i);
            diverge(ename, c, name, "%s 0x%016" PRIx64 ", %s 0x%016" PRIx64, rname, va, ename, vb);
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
        diverge(ename, c, "mem", "scratch bytes %u..%u differ: %s %s, %s %s", k, e - 1, rname, ha,
                ename, hb);
        d++;
    }
    return d;
}

/* ---- the command ---- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: imago state -a arm [--engine E] [--reference R] [--cases K] [--seed N]\n"
            "                   [--form ID]... [--shard I/N] [--notrun FILE] [--implicit FILE]\n"
            "                   [--undefined FILE]\n"
            "       imago state -a arm --scaffold [--implicit FILE]\n"
            "Per-instruction state checks: K random cases of every A32 form run on the reference\n"
            "R (default: native on an arm host, else qemu) and on engine E (default: R);\n"
            "r0-r14, APSR (NZCV, Q, GE), FPSCR, d0-d31, the branch taken or not and the scratch\n"
            "block must agree. A conditional form's even cases pass their condition, its odd\n"
            "cases fail it (and must change nothing). --notrun lists forms not run\n"
            "(KEY<TAB>REASON; KEY text:GLOB draws again the cases whose text matches),\n"
            "--implicit the forms whose first register holds the branch target (KEY<TAB>target)\n"
            "and the store-exclusives whose monitor the scaffold opens with load-exclusive FORM\n"
            "or closes with clrex (KEY<TAB>monitor:FORM), --undefined what a form leaves\n"
            "UNKNOWN (KEY<TAB>nzcv/q/ge/fpscr/case). --shard I/N checks every N-th form from\n"
            "the I-th. Prints reference/notrun/cond/form/diverge/summary lines\n"
            "(docs/testing.md); exit 0 when the check ran, whatever it found; 1 on an error;\n"
            "2 on a usage error.\n");
}

static int open_engine(im_engine e, im_emu **out)
{
    if (e == IM_ENGINE_NATIVE && im_host_target() != T) {
        tool_error(CMD,
                   "no native arm engine on this %s host: compare the engines with each "
                   "other (--engine unicorn --reference qemu)",
                   im_target_name(im_host_target()));
        return 1;
    }
    int err = im_emu_open_ex(e, T, IM_EMU_ISOLATED, out);
    if (err) {
        tool_error(CMD, "%s arm: %s: %s", im_engine_name(e), im_strerror(err), im_detail());
        return 1;
    }
    return 0;
}

int cmd_state_a32(int argc, char **argv)
{
    struct st_opts o;
    int ostatus;
    if (st_parse_opts(argc, argv, &o, usage, 1, &ostatus))
        return ostatus;
    arch = im_arch_for(T);
    fault_scaffold = getenv("IMAGO_FAULT_STATE_SCAFFOLD") && *getenv("IMAGO_FAULT_STATE_SCAFFOLD");
    fault_monitor = getenv("IMAGO_FAULT_STATE_MONITOR") && *getenv("IMAGO_FAULT_STATE_MONITOR");
    fault_cond = getenv("IMAGO_FAULT_STATE_COND") && *getenv("IMAGO_FAULT_STATE_COND");
    if (o.scaffold) {
        int st = (o.implicit && st_read_rules(CMD, o.implicit, st_rule_line, &implicits)) ||
                 list_scaffold();
        free(implicits.v);
        implicits.v = NULL;
        implicits.n = 0;
        return st;
    }
    int native = im_host_target() == T;
    rname = o.reference ? o.reference : native ? "native" : "qemu";
    ename = o.engine ? o.engine : rname;
    im_engine re = im_engine_from_name(rname), e = im_engine_from_name(ename);
    if (re == IM_ENGINE_NONE || e == IM_ENGINE_NONE) {
        tool_error(CMD, "unknown engine '%s' (native, qemu, unicorn)",
                   re == IM_ENGINE_NONE ? rname : ename);
        return 1;
    }
    if ((o.undefined && st_read_rules(CMD, o.undefined, st_rule_line, &undefs)) ||
        (o.notrun && st_read_skips(CMD, o.notrun, &skips)) ||
        (o.implicit && st_read_rules(CMD, o.implicit, st_rule_line, &implicits)))
        return 1;
    for (size_t i = 0; i < o.nonly; i++)
        if (im_form_lookup(T, o.only[i]) < 0) {
            tool_error(CMD, "no form '%s' for arm", o.only[i]);
            return 1;
        }
    struct rlimit nocore = {0, 0}; /* a faulting case kills a runner: no core files */
    setrlimit(RLIMIT_CORE, &nocore);
    if (re != IM_ENGINE_NATIVE)
        printf("reference\t%s\t%s\n", rname,
               native ? "chosen with --reference"
                      : "no native arm engine on this host: the engines are compared with "
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
                       o.implicit, f->id);
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
                   d.why                          ? d.why
                   : (st_rule_bits(&undefs, f) & U_CASE) ? "every case is UNPREDICTABLE (--undefined case)"
                                                  : "no operands the encoder accepts were drawn for its kinds");
    }
    size_t n = list.n;
    struct acase **cs = (struct acase **)list.v;

    int status = 0, two = e != re;
    struct st_outcome *ref = calloc(n ? n : 1, sizeof *ref);
    struct st_outcome *eng = two ? calloc(n ? n : 1, sizeof *eng) : NULL;
    size_t *bat = calloc(n ? n : 1, sizeof *bat), *blen = calloc(n ? n : 1, sizeof *blen);
    im_emu *rm = NULL, *em = NULL;
    struct st_ops ops = {T, arch, build_image, put_case, XOUT, CMD};
    if (open_engine(re, &rm) || (two && open_engine(e, &em)) ||
        st_run_all(rm, re, &ops, list.v, n, ref, bat, blen) ||
        (two && st_run_like(em, e, &ops, list.v, n, bat, blen, eng))) {
        status = 1;
        goto out;
    }
    struct st_tally tr = {0}, te = {0};
    for (size_t i = 0; i < n;) {
        size_t k = i;
        unsigned rf = 0, ef = 0, cx = 0, cy = 0;
        int conditional = 0;
        for (; k < n && cs[k]->h.form == cs[i]->h.form; k++) {
            const struct acase *c = cs[k];
            conditional |= c->cond >= 0;
            rf += (unsigned)ref[k].faulted;
            if (!ref[k].faulted) {
                tr.executed += (unsigned)c->pass;
                tr.skipped += (unsigned)!c->pass;
            }
            cx += (unsigned)c->pass;
            cy += (unsigned)!c->pass;
            if (two) {
                ef += (unsigned)eng[k].faulted;
                if (!eng[k].faulted) {
                    te.executed += (unsigned)c->pass;
                    te.skipped += (unsigned)!c->pass;
                }
                te.diverge += compare(c, &ref[k], &eng[k]);
                te.diverge += monitor_check(ename, c, &eng[k]);
                te.diverge += cond_check(ename, c, &eng[k]);
            }
            tr.diverge += monitor_check(rname, c, &ref[k]);
            tr.diverge += cond_check(rname, c, &ref[k]);
        }
        unsigned total = (unsigned)(k - i);
        const char *id = arch->forms[cs[i]->h.form].id;
        if (rf == total)
            printf("notrun\t%s\tevery case faults on %s (%s); every engine must fault too\n", id,
                   rname, ref[i].detail);
        if (conditional)
            printf("cond\t%s\texecuted=%u\tskipped=%u\n", id, cx, cy);
        st_form_line(&tr, id, rname, total, rf);
        if (two) {
            st_form_line(&te, id, ename, total, ef);
        }
        i = k;
    }
    printf("summary\t%s\tforms=%u\tcases=%u\tfaulted=%u\tdivergences=%u\texecuted=%u\tskipped=%u\n",
           rname, tr.forms, tr.cases, tr.faulted, tr.diverge, tr.executed, tr.skipped);
    if (two)
        printf("summary\t%s\tforms=%u\tcases=%u\tfaulted=%u\tdivergences=%u\texecuted=%u\t"
               "skipped=%u\n",
               ename, te.forms, te.cases, te.faulted, te.diverge, te.executed, te.skipped);
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
