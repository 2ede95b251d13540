/* imago state: per-instruction state checks (docs/testing.md, "State checks").
 *
 * For every form of an x86 target, K random cases: random values in every GPR, random
 * arithmetic flags, a random scratch block, operands drawn from the form's kinds (memory
 * operands made to address the scratch block). Each case is straight-line code built with
 * im_buf: load every GPR and the flags (popf) from the case's record in a data block at a
 * fixed address, the instruction, store every GPR and the flags (pushf). The block is run
 * through im_emu_call_data on the native engine (the ground truth) and on the engine under
 * test, and each case's out-state (GPRs, flags minus those the architecture leaves
 * undefined, branch taken or not, scratch block) is compared. Nothing here is per
 * instruction: forms, kinds and operand samples come from the table (im_arch).
 *
 * Output, one line each (tab-separated):
 *   notrun  FORM  REASON
 *   form    FORM  ENGINE  cases=N  faulted=M
 *   diverge ENGINE  FORM  WHAT  CASE  DETAIL
 *   summary ENGINE  forms=N  cases=N  faulted=N  divergences=N */
#include <errno.h>
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
#include "state.h"

/* The data block, the code addresses and the batches: tools/state.h. */
#define DATA ST_DATA
#define CODE_BASE ST_CODE_BASE
#define CODE_STRIDE ST_CODE_STRIDE
#define HDR ST_HDR
#define REC ST_REC
#define IN_OFF 0u     /* regs[16] (8 bytes each), flags */
#define OUT_OFF 256u  /* regs[16], flags, taken */
#define SCR_OFF 1024u /* the scratch block */
#define SCR_LEN 1024u
#define XIN_OFF 2048u  /* xmm0-15 in (16 bytes each) */
#define XOUT_OFF 2304u /* xmm0-15 out */
#define MX_IN_OFF 2560u
#define MX_OUT_OFF 2564u
#define MXCSR 0x1f80u /* round to nearest, every exception masked, no DAZ/FTZ */
#define WIN_LO 256u   /* pointers and memory operands land in [WIN_LO, WIN_HI) of the scratch */
#define WIN_HI 768u

#define F_CF 0x1u
#define F_PF 0x4u
#define F_AF 0x10u
#define F_ZF 0x40u
#define F_SF 0x80u
#define F_DF 0x400u
#define F_OF 0x800u
#define F_ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)
#define F_COMPARED (F_ARITH | F_DF)

static const char *const CMD = "state";

/* ---- the undefined-flags and not-run data files ---- */

enum cond { C_ALWAYS, C_COUNT_NZ, C_COUNT_GT1, C_COUNT_GE_SIZE, C_COUNT_GT_SIZE, C_BITOFF };

#define F_CASE 0x10000u /* "case": the whole case is out of the check (the chooser redraws) */

struct undef_rule {
    char key[64]; /* mnemonic or form id */
    unsigned flags;
    enum cond cond;
};

/* x86-implicit.tsv: the implicit operands of a form (KEY a glob on the form id). */
struct impl_rule {
    char key[64];
    unsigned si, di; /* rsi/rdi (esi/edi) point into the scratch block: element bytes */
    int cx;          /* rcx (ecx) is a count 0..8 */
    int df;          /* DF clear or set */
    int target;      /* the first operand holds the address of the taken label */
    int ret;         /* the top of the stack holds the address of the taken label */
    int bp;          /* rbp (ebp) points into the scratch block */
    int stack;       /* the stack pointer stays in the scratch block (memory operands) */
    int eq;          /* in half the cases the first 0..8 elements compare equal */
};

#define MAX_COUNT 8u /* the largest rcx of a string operation */

static struct impl_rule *impls;
static size_t nimpls;
static struct undef_rule *undefs;
static size_t nundefs;
static struct st_skips skips;

static unsigned flag_bit(const char *name)
{
    static const struct {
        const char *n;
        unsigned b;
    } names[] = {{"CF", F_CF}, {"PF", F_PF}, {"AF", F_AF}, {"ZF", F_ZF},
                 {"SF", F_SF}, {"OF", F_OF}, {"DF", F_DF}, {"case", F_CASE}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i].n))
            return names[i].b;
    return 0;
}

static void flag_names(unsigned f, char *buf, size_t n)
{
    static const char *const names[] = {"CF", "PF", "AF", "ZF", "SF", "OF", "DF"};
    static const unsigned bits[] = {F_CF, F_PF, F_AF, F_ZF, F_SF, F_OF, F_DF};
    buf[0] = '\0';
    for (int i = 0; i < 7; i++)
        if (f & bits[i])
            im_appendf(buf, n, "%s%s", buf[0] ? "," : "", names[i]);
}

/* Lines "KEY<TAB>FLAGS[<TAB>CONDITION]" (undefined flags) or "KEY<TAB>OPERANDS" (implicit
 * operands); '#' starts a comment (st_read_rules). Returns 0, or 1 after printing what is
 * wrong and where. */
static int rule_line(void *ctx, char **fields, int nf, const char *path, int ln)
{
    int undef = *(const int *)ctx;
    if (nf < 2 || strlen(fields[0]) >= 64) {
        tool_error(CMD, "%s:%d: expected KEY<TAB>%s", path, ln,
                   undef == 2   ? "OPERANDS"
                   : undef == 1 ? "FLAGS[<TAB>CONDITION]"
                                : "REASON");
        return 1;
    }
    if (undef == 2) {
        struct impl_rule r = {{0}, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        snprintf(r.key, sizeof r.key, "%s", fields[0]);
        for (char *s = fields[1]; *s;) {
            size_t l = strcspn(s, " ,");
            char tok[16] = "";
            unsigned sz = 0;
            if (l < sizeof tok)
                memcpy(tok, s, l);
            int ok = l < sizeof tok;
            if (ok && (!strncmp(tok, "si:", 3) || !strncmp(tok, "di:", 3))) {
                sz = (unsigned)atoi(tok + 3);
                ok = sz == 1 || sz == 2 || sz == 4 || sz == 8;
                *(tok[0] == 's' ? &r.si : &r.di) = sz;
            } else if (ok && !strcmp(tok, "cx"))
                r.cx = 1;
            else if (ok && !strcmp(tok, "df"))
                r.df = 1;
            else if (ok && !strcmp(tok, "target"))
                r.target = 1;
            else if (ok && !strcmp(tok, "ret"))
                r.ret = 1;
            else if (ok && !strcmp(tok, "bp"))
                r.bp = 1;
            else if (ok && !strcmp(tok, "stack"))
                r.stack = 1;
            else if (ok && !strcmp(tok, "eq"))
                r.eq = 1;
            else
                ok = 0;
            if (!ok) {
                tool_error(CMD,
                           "%s:%d: unknown implicit operand '%.*s' (si:N, di:N with N 1, 2, "
                           "4 or 8; cx, df, target, ret, bp, stack, eq)",
                           path, ln, (int)l, s);
                return 1;
            }
            s += l;
            s += strspn(s, " ,");
        }
        struct impl_rule *nr = realloc(impls, (nimpls + 1) * sizeof *nr);
        if (!nr)
            abort();
        impls = nr;
        impls[nimpls++] = r;
    } else if (undef) {
        struct undef_rule r = {{0}, 0, C_ALWAYS};
        snprintf(r.key, sizeof r.key, "%s", fields[0]);
        for (char *s = fields[1]; *s;) {
            char name[8] = "";
            size_t l = strcspn(s, " ,");
            if (l < sizeof name)
                memcpy(name, s, l);
            if (l >= sizeof name || !flag_bit(name)) {
                tool_error(CMD,
                           "%s:%d: unknown flag in '%s' (flags: CF PF AF ZF SF OF DF, or case)",
                           path, ln, fields[1]);
                return 1;
            }
            r.flags |= flag_bit(name);
            s += l;
            s += strspn(s, " ,");
        }
        if (fields[2]) {
            if (!strcmp(fields[2], "count!=0"))
                r.cond = C_COUNT_NZ;
            else if (!strcmp(fields[2], "count>1"))
                r.cond = C_COUNT_GT1;
            else if (!strcmp(fields[2], "count>=size"))
                r.cond = C_COUNT_GE_SIZE;
            else if (!strcmp(fields[2], "count>size"))
                r.cond = C_COUNT_GT_SIZE;
            else if (!strcmp(fields[2], "bitoffset>scratch"))
                r.cond = C_BITOFF;
            else {
                tool_error(CMD,
                           "%s:%d: unknown condition '%s' (count!=0, count>1, count>=size, "
                           "count>size, bitoffset>scratch)",
                           path, ln, fields[2]);
                return 1;
            }
        }
        if ((r.flags & F_CASE) && r.flags != F_CASE) {
            tool_error(CMD, "%s:%d: 'case' stands alone (the whole case is out)", path, ln);
            return 1;
        }
        if (r.cond == C_BITOFF && r.flags != F_CASE) {
            tool_error(CMD, "%s:%d: bitoffset>scratch goes with 'case'", path, ln);
            return 1;
        }
        struct undef_rule *nr = realloc(undefs, (nundefs + 1) * sizeof *nr);
        if (!nr)
            abort();
        undefs = nr;
        undefs[nundefs++] = r;
    }
    return 0;
}

static int read_rules(const char *path, int undef)
{
    return st_read_rules(CMD, path, rule_line, &undef);
}

/* ---- cases ---- */

struct xcase {
    struct st_case h; /* form, idx, slot, text */
    im_operand ops[IM_MAX_OPS];
    uint64_t regs[16];
    uint64_t flags;
    uint8_t xmm[16][16];
    uint64_t ea; /* the address of the memory operand, if any */
    uint8_t scratch[SCR_LEN];
    int has_rel;
    int tgt; /* the taken label's address goes to: 0 nowhere, 1 reg tgt_reg, 2 the
              * memory operand, 3 the top of the stack (set when the code is built) */
    unsigned tgt_reg;
};

struct tgt {
    im_target t;
    const im_arch *a;
    unsigned nregs, width; /* 16/8 registers, 8/4 bytes */
    uint64_t mask;
};

#define code_addr st_code_addr
#define rec_addr st_rec_addr
#define rnd_value st_rnd_value

/* A random value for a register; ptr: an address in the case's scratch window. */
static uint64_t reg_value(im_rng *r, int casemode, uint64_t scr)
{
    uint64_t x = im_rng_next(r) % 100;
    uint64_t ptr = scr + WIN_LO + im_rng_next(r) % (WIN_HI - WIN_LO);
    switch (casemode) {
    case 0: /* mixed */
        if (x < 25)
            return ptr;
        if (x < 50)
            return rnd_value(r, 0);
        if (x < 65)
            return rnd_value(r, 1);
        return rnd_value(r, 2);
    case 1: /* pointers and small counts (string operations) */
        return x < 50 ? ptr : rnd_value(r, 0);
    default: return x < 10 ? rnd_value(r, 1) : rnd_value(r, 2);
    }
}

static unsigned kind_size(const char *name)
{
    if (!strcmp(name, "rax"))
        return 64;
    if (!strcmp(name, "eax"))
        return 32;
    if (!strcmp(name, "ax"))
        return 16;
    if (!strcmp(name, "al"))
        return 8;
    const char *p = name;
    while (*p && (*p < '0' || *p > '9'))
        p++;
    return (unsigned)atoi(p);
}

/* disp adjusted so that target - disp is a multiple of k (the address stays exact). */
static int64_t fit_disp(uint64_t target, int64_t disp, uint64_t k)
{
    uint64_t r = (target - (uint64_t)disp) % k;
    if (!r)
        return disp;
    return disp < 0 ? disp + (int64_t)r : disp - (int64_t)(k - r);
}

/* A memory operand whose effective address is in the scratch window, a multiple of align:
 * registers keep their random values except the base (or the index, without a base), set to
 * reach it. */
static im_operand mem_operand(const struct tgt *g, struct xcase *c, im_rng *r, uint64_t scr,
                              unsigned align)
{
    uint64_t target = scr + WIN_LO + im_rng_next(r) % (WIN_HI - WIN_LO - 64);
    target -= target % align;
    c->ea = target;
    uint64_t x = im_rng_next(r);
    int64_t disp;
    switch (x % 4) {
    case 0: disp = 0; break;
    case 1: disp = (int8_t)(x >> 8); break;
    case 2: disp = (int64_t)((x >> 16) % 8000) - 4000; break;
    default: disp = (int64_t)(int32_t)(x >> 32); break;
    }
    unsigned shape = (unsigned)((x >> 40) % 16), n = g->nregs;
    if (shape == 0) /* absolute: the block is at a fixed address below 2 GiB */
        return im_mem(IM_NOREG, IM_NOREG, 1, (int64_t)target);
    if (shape == 1 && g->t == IM_TARGET_X86_64) /* rip-relative: emit_case sets the disp */
        return im_mem(IM_REG_RIP, IM_NOREG, 1, (int64_t)target);
    unsigned base = (unsigned)(im_rng_next(r) % n), index = IM_NOREG;
    unsigned scale = 1u << (im_rng_next(r) % 4);
    if (shape >= 8 || shape == 2)
        do
            index = (unsigned)(im_rng_next(r) % n);
        while (index == 4);
    if (shape == 2) { /* index*scale + disp32, no base */
        disp = fit_disp(target, disp, scale);
        c->regs[index] = ((target - (uint64_t)disp) / scale) & g->mask;
        return im_mem(IM_NOREG, index, scale, disp);
    }
    if (index == base) {
        disp = fit_disp(target, disp, scale + 1);
        c->regs[base] = ((target - (uint64_t)disp) / (scale + 1)) & g->mask;
        return im_mem(base, index, scale, disp);
    }
    uint64_t iv = index == IM_NOREG ? 0 : c->regs[index] * scale;
    c->regs[base] = (target - (uint64_t)disp - iv) & g->mask;
    return im_mem(base, index, index == IM_NOREG ? 1 : scale, disp);
}

#define fnv st_fnv
#define key_names st_key_names

/* Fault injection for the self-test: IMAGO_FAULT_STATE_IMPLICIT=1 reads the implicit-operand
 * rules but applies none (string operations and jmp/call/ret get random implicit operands). */
static int fault_implicit;

/* The implicit-operand rule (x86-implicit.tsv) of form f: the first whose glob matches. */
static const struct impl_rule *implicit_for(const im_form *f)
{
    if (fault_implicit)
        return NULL;
    for (size_t i = 0; i < nimpls; i++)
        if (!fnmatch(impls[i].key, f->id, 0))
            return &impls[i];
    return NULL;
}

/* The rules (x86-undefined-flags.tsv) that apply to case c: the union of their flags. */
static unsigned rules_for(const struct tgt *g, const struct xcase *c)
{
    const im_form *f = &g->a->forms[c->h.form];
    unsigned size = f->nops ? kind_size(g->a->kinds[f->kinds[0]].name) : 0;
    int64_t count = -1;
    const im_operand *last = f->nops >= 2 ? &c->ops[f->nops - 1] : NULL;
    if (last) {
        /* a shift or rotate count: imm8 or cl, masked to 6 bits (64-bit operand) or 5 */
        if (last->type == IM_OP_IMM)
            count = last->imm & 0xff;
        else if (last->type == IM_OP_REG)
            count = (int64_t)(c->regs[last->reg] & 0xff);
        if (count >= 0)
            count &= size == 64 ? 63 : 31;
    }
    unsigned u = 0;
    for (size_t i = 0; i < nundefs; i++) {
        const struct undef_rule *r = &undefs[i];
        if (!key_names(r->key, f))
            continue;
        int on = 1;
        switch (r->cond) {
        case C_ALWAYS: break;
        case C_COUNT_NZ: on = count != 0; break;
        case C_COUNT_GT1: on = count > 1; break;
        case C_COUNT_GE_SIZE: on = size && count >= (int64_t)size; break;
        case C_COUNT_GT_SIZE: on = size && count > (int64_t)size; break;
        case C_BITOFF:
            /* bt* m, r: the register is a signed bit offset from the memory operand */
            on = 0;
            if (size && last && last->type == IM_OP_REG && c->ops[0].type == IM_OP_MEM) {
                uint64_t v = c->regs[last->reg];
                int64_t off = size == 64   ? (int64_t)v
                              : size == 32 ? (int64_t)(int32_t)v
                                           : (int64_t)(int16_t)v;
                int64_t bytes = (off >> (size == 64 ? 6 : size == 32 ? 5 : 4)) * (size / 8);
                uint64_t lo = rec_addr(c->h.slot) + SCR_OFF;
                uint64_t at = c->ea + (uint64_t)bytes;
                on = at < lo || at + size / 8 > lo + SCR_LEN;
            }
            break;
        }
        if (on)
            u |= r->flags;
    }
    return u;
}

/* Draw case idx of form fi (deterministic in seed, form id and idx). Returns 0, or -1 when
 * no operands the encoder takes were found. */
static int make_case(const struct tgt *g, int fi, unsigned idx, uint64_t seed, unsigned slot,
                     struct xcase *c)
{
    const im_form *f = &g->a->forms[fi];
    im_rng r = {fnv(f->id) ^ (seed * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)idx << 32 | idx)};
    if (!r.s)
        r.s = 1;
    static im_operand samples[IM_MAX_SAMPLES];
    for (int attempt = 0; attempt < 32; attempt++) {
        memset(c, 0, sizeof *c);
        c->h.form = fi;
        c->h.idx = idx;
        c->h.slot = slot;
        uint64_t scr = rec_addr(slot) + SCR_OFF;
        int mode = (int)(im_rng_next(&r) % 4);
        mode = mode == 3 ? 0 : mode;
        for (unsigned i = 0; i < g->nregs; i++)
            c->regs[i] = reg_value(&r, mode, scr) & g->mask;
        c->regs[4] = (scr + WIN_LO + 128 + im_rng_next(&r) % 256) & ~(uint64_t)7; /* the stack */
        c->flags = 0x202;
        uint64_t fl = im_rng_next(&r);
        static const unsigned bits[] = {F_CF, F_PF, F_AF, F_ZF, F_SF, F_OF};
        for (int i = 0; i < 6; i++)
            if (fl >> i & 1)
                c->flags |= bits[i];
        for (unsigned i = 0; i < SCR_LEN; i += 8) {
            uint64_t v = im_rng_next(&r);
            memcpy(c->scratch + i, &v, 8);
        }
        for (unsigned i = 0; i < g->nregs; i++)
            for (unsigned j = 0; j < 16; j += 8) {
                uint64_t v = im_rng_next(&r);
                memcpy(&c->xmm[i][j], &v, 8);
            }
        const struct impl_rule *ir = implicit_for(f);
        if (ir) {
            /* string operations: rcx 0..8; rsi/rdi with room for 8 elements either way */
            if (ir->cx)
                c->regs[1] = im_rng_next(&r) % (MAX_COUNT + 1);
            if (ir->df && im_rng_next(&r) % 2)
                c->flags |= F_DF;
            unsigned room = MAX_COUNT * 8;
            if (ir->si)
                c->regs[6] = scr + WIN_LO + room + im_rng_next(&r) % (WIN_HI - WIN_LO - 2 * room);
            if (ir->di)
                c->regs[7] = scr + WIN_LO + room + im_rng_next(&r) % (WIN_HI - WIN_LO - 2 * room);
            if (ir->ret)
                c->tgt = 3;
            if (ir->eq && ir->di && im_rng_next(&r) % 2) {
                /* cmps/scas: the first k elements at rdi equal those at rsi (or al/ax/eax/
                 * rax), in the direction DF gives, so repe runs on and repne stops */
                unsigned sz = ir->di, k = (unsigned)(im_rng_next(&r) % (MAX_COUNT + 1));
                for (unsigned j = 0; j < k; j++) {
                    uint64_t step = (c->flags & F_DF) ? -(uint64_t)(j * sz) : j * sz;
                    uint8_t *d = c->scratch + (c->regs[7] + step - scr);
                    if (ir->si)
                        memmove(d, c->scratch + (c->regs[6] + step - scr), sz);
                    else
                        memcpy(d, &c->regs[0], sz);
                }
            }
            if (ir->bp)
                c->regs[5] = (scr + WIN_LO + im_rng_next(&r) % (WIN_HI - WIN_LO)) & ~(uint64_t)7;
        }
        int ok = 1;
        for (unsigned i = 0; i < f->nops && ok; i++) {
            unsigned kind = f->kinds[i];
            const char *kname = g->a->kinds[kind].name;
            size_t ns = g->a->samples(g->t, kind, &r, samples, IM_MAX_SAMPLES);
            size_t nreg = 0, nmem = 0, nother = 0;
            for (size_t s = 0; s < ns; s++) {
                if (samples[s].type == IM_OP_REG)
                    nreg++;
                else if (samples[s].type == IM_OP_MEM)
                    nmem++;
                else
                    nother++;
            }
            unsigned cls = g->a->kinds[kind].cls;
            if (cls == IM_KC_REL) {
                c->ops[i] = im_label(0);
                c->has_rel = 1;
            } else if (!strncmp(kname, "moffs", 5)) { /* an absolute address: the scratch */
                c->ops[i] = im_imm((int64_t)(scr + WIN_LO + im_rng_next(&r) % 256));
            } else if (nmem && (!nreg || im_rng_next(&r) % 2)) {
                /* 16-byte operands are 16-aligned: SSE's aligned forms fault otherwise */
                c->ops[i] = mem_operand(g, c, &r, scr, kind_size(kname) == 128 ? 16 : 1);
            } else if (nreg || nother) {
                size_t pick = im_rng_next(&r) % (nreg + nother), k = 0;
                for (size_t s = 0; s < ns; s++) {
                    if (samples[s].type == IM_OP_MEM)
                        continue;
                    if (k++ == pick) {
                        c->ops[i] = samples[s];
                        break;
                    }
                }
            } else {
                ok = 0;
            }
        }
        /* An explicit stack pointer operand keeps the stack in the scratch block only if the
         * instruction leaves it there; that is for the instruction to show. */
        if (ok && ir && ir->target && f->nops) {
            /* jmp/call through r/m: the operand holds the taken label's address (not the
             * stack pointer: call pushes through it) */
            if (c->ops[0].type == IM_OP_REG && c->ops[0].reg != 4) {
                c->tgt = 1;
                c->tgt_reg = c->ops[0].reg;
            } else if (c->ops[0].type == IM_OP_MEM) {
                c->tgt = 2;
            } else {
                ok = 0;
            }
        }
        if (ok && ir && (ir->target || ir->stack)) {
            /* a memory operand based on the stack pointer moves it: keep it in the block */
            uint64_t sp = c->regs[4];
            if (sp < scr + 16 || sp + 16 > scr + SCR_LEN)
                ok = 0;
        }
        if (ok) {
            uint8_t tmp[16];
            im_operand test[IM_MAX_OPS];
            memcpy(test, c->ops, sizeof test);
            for (unsigned i = 0; i < f->nops; i++)
                if (test[i].type == IM_OP_LABEL)
                    test[i] = (im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, 16};
            if (im_encode(g->t, fi, test, tmp, sizeof tmp) > 0 && !(rules_for(g, c) & F_CASE)) {
                im_print(g->t, fi, test, c->h.text, sizeof c->h.text);
                return 0;
            }
        }
    }
    return -1;
}

/* make_case as st_draw calls it */
struct draw {
    const struct tgt *g;
    uint64_t seed;
};

static int draw_case(void *ctx, int fi, unsigned k, unsigned slot, struct st_case *c)
{
    const struct draw *d = ctx;
    return make_case(d->g, fi, k, d->seed, slot, (struct xcase *)c);
}

static void put_case(const struct tgt *g, const struct xcase *c, uint8_t *rec)
{
    memset(rec, 0, REC);
    for (unsigned i = 0; i < g->nregs; i++)
        memcpy(rec + IN_OFF + 8 * i, &c->regs[i], 8);
    memcpy(rec + IN_OFF + 128, &c->flags, 8);
    memcpy(rec + SCR_OFF, c->scratch, SCR_LEN);
    memcpy(rec + XIN_OFF, c->xmm, 16 * g->nregs);
    uint32_t mx = MXCSR;
    memcpy(rec + MX_IN_OFF, &mx, 4);
}

/* ---- code ---- */

/* The scaffolding is fixed bytes; with --scaffold each piece is also listed with its
 * assembler text ("scaffold<TAB>HEX<TAB>TEXT", statements separated by " ; "), and
 * conformance/test_state.py assembles the text with GNU as and requires the same bytes. */
static FILE *listing;

/* Fault injection for the self-test: IMAGO_FAULT_STATE_SCAFFOLD=1 makes the xmm store
 * (movdqu [abs32], xmm: 0F 7F) a load's opcode (0F 6F), in the code and in the listing. */
static int fault_scaffold;

static void scaf(im_buf *b, const uint8_t *p, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void scaf(im_buf *b, const uint8_t *p, size_t n, const char *fmt, ...)
{
    im_buf_bytes(b, p, n);
    if (!listing)
        return;
    fputs("scaffold\t", listing);
    for (size_t i = 0; i < n; i++)
        fprintf(listing, "%02x", p[i]);
    fputc('\t', listing);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(listing, fmt, ap);
    va_end(ap);
    fputc('\n', listing);
}

static void put32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static const char *const reg64[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                      "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
static const char *const reg32[8] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"};

/* mov reg, [abs32] (load=1) or mov [abs32], reg: x86_64 REX.W 8B/89 with SIB base-less
 * disp32; i386 8B/89 with mod 00 rm 101, or A1/A3 (moffs32) for eax, as GNU as has it. */
static void mov_abs(im_buf *b, const struct tgt *g, unsigned reg, uint64_t addr, int load)
{
    uint8_t x[9];
    size_t n = 0;
    int x64 = g->t == IM_TARGET_X86_64;
    if (x64) {
        x[n++] = (uint8_t)(0x48 | (reg & 8 ? 4 : 0));
        x[n++] = load ? 0x8b : 0x89;
        x[n++] = (uint8_t)((reg & 7) << 3 | 4);
        x[n++] = 0x25;
    } else if (reg == 0) {
        x[n++] = load ? 0xa1 : 0xa3;
    } else {
        x[n++] = load ? 0x8b : 0x89;
        x[n++] = (uint8_t)((reg & 7) << 3 | 5);
    }
    put32le(x + n, (uint32_t)addr);
    n += 4;
    const char *r = x64 ? reg64[reg] : reg32[reg], *sz = x64 ? "QWORD" : "DWORD";
    if (load)
        scaf(b, x, n, "mov %s, %s PTR ds:0x%" PRIx64, r, sz, addr);
    else
        scaf(b, x, n, "mov %s PTR ds:0x%" PRIx64 ", %s", sz, addr, r);
}

/* movdqu xmmN, [abs32] (load=1) or movdqu [abs32], xmmN: F3 [REX.R] 0F 6F/7F. */
static void xmm_abs(im_buf *b, const struct tgt *g, unsigned reg, uint64_t addr, int load)
{
    uint8_t x[10];
    size_t n = 0;
    x[n++] = 0xf3;
    if (reg & 8)
        x[n++] = 0x44;
    x[n++] = 0x0f;
    x[n++] = load || fault_scaffold ? 0x6f : 0x7f;
    if (g->t == IM_TARGET_X86_64) {
        x[n++] = (uint8_t)((reg & 7) << 3 | 4);
        x[n++] = 0x25;
    } else {
        x[n++] = (uint8_t)((reg & 7) << 3 | 5);
    }
    put32le(x + n, (uint32_t)addr);
    n += 4;
    if (load)
        scaf(b, x, n, "movdqu xmm%u, XMMWORD PTR ds:0x%" PRIx64, reg, addr);
    else
        scaf(b, x, n, "movdqu XMMWORD PTR ds:0x%" PRIx64 ", xmm%u", addr, reg);
}

/* ldmxcsr [abs32] (load=1) or stmxcsr [abs32]: 0F AE /2, /3. */
static void mxcsr_abs(im_buf *b, const struct tgt *g, uint64_t addr, int load)
{
    uint8_t x[8];
    size_t n = 0;
    unsigned op = load ? 2 : 3;
    x[n++] = 0x0f;
    x[n++] = 0xae;
    if (g->t == IM_TARGET_X86_64) {
        x[n++] = (uint8_t)(op << 3 | 4);
        x[n++] = 0x25;
    } else {
        x[n++] = (uint8_t)(op << 3 | 5);
    }
    put32le(x + n, (uint32_t)addr);
    n += 4;
    scaf(b, x, n, "%s DWORD PTR ds:0x%" PRIx64, load ? "ldmxcsr" : "stmxcsr", addr);
}

static void mov_esp_imm(im_buf *b, uint64_t v) /* mov esp, imm32 (zero-extends on x86_64) */
{
    uint8_t x[5] = {0xbc};
    put32le(x + 1, (uint32_t)v);
    scaf(b, x, 5, "mov esp, 0x%" PRIx64, v);
}

static void popf_pushf(im_buf *b, int push)
{
    uint8_t x = push ? 0x9c : 0x9d;
    scaf(b, &x, 1, push ? "pushf" : "popf");
}

/* The branch marker: jmp over it (not taken), the taken label, mov dword [addr], 1. */
static void marker(im_buf *b, const struct tgt *g, int label, uint64_t addr)
{
    int x64 = g->t == IM_TARGET_X86_64;
    uint8_t j[2] = {0xeb, (uint8_t)(x64 ? 11 : 10)};
    scaf(b, j, 2, "jmp .+%u", 2u + j[1]);
    if (label >= 0)
        im_buf_bind(b, label);
    uint8_t m[11];
    size_t n = 0;
    m[n++] = 0xc7;
    if (x64) {
        m[n++] = 0x04;
        m[n++] = 0x25;
    } else {
        m[n++] = 0x05;
    }
    put32le(m + n, (uint32_t)addr);
    n += 4;
    put32le(m + n, 1);
    n += 4;
    scaf(b, m, n, "mov DWORD PTR ds:0x%" PRIx64 ", 1", addr);
}

/* jmp to offset to (jmp .+N: EB rel8 when it fits, else E9 rel32, as GNU as relaxes it),
 * then int3 up to it. */
static void jmp_to(im_buf *b, size_t to)
{
    size_t at = im_buf_offset(b);
    int64_t n = (int64_t)to - (int64_t)at;
    uint8_t x[5];
    if (n - 2 >= -128 && n - 2 <= 127) {
        x[0] = 0xeb;
        x[1] = (uint8_t)(n - 2);
        scaf(b, x, 2, "jmp .%+" PRId64, n);
    } else {
        x[0] = 0xe9;
        put32le(x + 1, (uint32_t)(n - 5));
        scaf(b, x, 5, "jmp .%+" PRId64, n);
    }
    static const uint8_t pad = 0xcc;
    while (im_buf_offset(b) < to)
        im_buf_bytes(b, &pad, 1);
}

static void prologue(im_buf *b, const struct tgt *g)
{
    if (g->t == IM_TARGET_X86_64) {
        static const uint8_t pro[] = {0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57};
        scaf(b, pro, sizeof pro, "push rbx ; push rbp ; push r12 ; push r13 ; push r14 ; push r15");
    } else {
        static const uint8_t pro[] = {0x53, 0x55, 0x56, 0x57};
        scaf(b, pro, sizeof pro, "push ebx ; push ebp ; push esi ; push edi");
    }
}

static void epilogue(im_buf *b, const struct tgt *g)
{
    if (g->t == IM_TARGET_X86_64) {
        static const uint8_t epi[] = {0xfc, 0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d,
                                      0x41, 0x5c, 0x5d, 0x5b, 0x31, 0xc0, 0xc3};
        scaf(b, epi, sizeof epi,
             "cld ; pop r15 ; pop r14 ; pop r13 ; pop r12 ; pop rbp ; pop rbx ; xor eax, eax ; "
             "ret");
    } else {
        static const uint8_t epi[] = {0xfc, 0x5f, 0x5e, 0x5d, 0x5b, 0x31, 0xc0, 0xc3};
        scaf(b, epi, sizeof epi,
             "cld ; pop edi ; pop esi ; pop ebp ; pop ebx ; xor eax, eax ; ret");
    }
}

/* One case at slot: load, the instruction, store. Returns 0 or the encoder's error. */
static int emit_case(im_buf *b, const struct tgt *g, struct xcase *c, uint64_t base)
{
    uint64_t rec = rec_addr(c->h.slot);
    im_operand ops[IM_MAX_OPS];
    memcpy(ops, c->ops, sizeof ops);
    mov_esp_imm(b, rec + IN_OFF + 128);
    popf_pushf(b, 0);
    mxcsr_abs(b, g, rec + MX_IN_OFF, 1);
    for (unsigned i = 0; i < g->nregs; i++)
        xmm_abs(b, g, i, rec + XIN_OFF + 16 * i, 1);
    for (unsigned i = 0; i < g->nregs; i++)
        mov_abs(b, g, i, rec + IN_OFF + 8 * i, 1);
    int taken = c->tgt ? im_buf_label(b) : -1;
    const im_form *f = &g->a->forms[c->h.form];
    for (unsigned i = 0; i < f->nops; i++)
        if (ops[i].type == IM_OP_LABEL) {
            if (taken < 0)
                taken = im_buf_label(b);
            ops[i].label = taken;
        }
    /* rip-relative operands: the displacement from the end of the instruction */
    for (unsigned i = 0; i < f->nops; i++)
        if (ops[i].type == IM_OP_MEM && ops[i].base == IM_REG_RIP) {
            uint8_t tmp[16];
            im_operand t2[IM_MAX_OPS];
            memcpy(t2, ops, sizeof t2);
            t2[i].imm = 0;
            for (unsigned j = 0; j < f->nops; j++)
                if (t2[j].type == IM_OP_LABEL)
                    t2[j] = (im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, 16};
            int len = im_encode(g->t, c->h.form, t2, tmp, sizeof tmp);
            if (len < 0)
                return len;
            ops[i].imm -= (int64_t)(base + im_buf_offset(b) + (size_t)len);
        }
    int err = im_buf_emit(b, c->h.form, ops);
    if (err)
        return err;
    if (c->tgt) {
        /* the taken label follows the marker's 2-byte jmp; its address goes into the
         * in-state (register, memory operand or stack top), which put_case writes after the
         * code is built: the same code address on every engine (same batches, same base) */
        uint64_t at = (base + im_buf_offset(b) + 2) & g->mask;
        uint64_t scr = rec_addr(c->h.slot) + SCR_OFF;
        uint64_t where = c->tgt == 2 ? c->ea : c->regs[4];
        if (c->tgt == 1)
            c->regs[c->tgt_reg] = at;
        else if (where >= scr && where + g->width <= scr + SCR_LEN)
            memcpy(c->scratch + (where - scr), &at, g->width);
    }
    if (taken >= 0)
        marker(b, g, taken, rec + OUT_OFF + 136);
    for (unsigned i = 0; i < g->nregs; i++)
        mov_abs(b, g, i, rec + OUT_OFF + 8 * i, 0);
    for (unsigned i = 0; i < g->nregs; i++)
        xmm_abs(b, g, i, rec + XOUT_OFF + 16 * i, 0);
    mxcsr_abs(b, g, rec + MX_OUT_OFF, 0);
    mov_esp_imm(b, rec + OUT_OFF + 128 + (g->t == IM_TARGET_X86_64 ? 8 : 4));
    popf_pushf(b, 1);
    return 0;
}

/* --scaffold: every piece of scaffolding the cases use, at a record's addresses. */
static int list_scaffold(const struct tgt *g)
{
    im_buf *b = im_buf_new(g->t);
    if (!b)
        return 1;
    listing = stdout;
    uint64_t rec = rec_addr(3);
    prologue(b, g);
    mov_esp_imm(b, rec + IN_OFF + 128);
    popf_pushf(b, 0);
    popf_pushf(b, 1);
    mxcsr_abs(b, g, rec + MX_IN_OFF, 1);
    mxcsr_abs(b, g, rec + MX_OUT_OFF, 0);
    for (unsigned i = 0; i < g->nregs; i++) {
        mov_abs(b, g, i, rec + IN_OFF + 8 * i, 1);
        mov_abs(b, g, i, rec + OUT_OFF + 8 * i, 0);
        xmm_abs(b, g, i, rec + XIN_OFF + 16 * i, 1);
        xmm_abs(b, g, i, rec + XOUT_OFF + 16 * i, 0);
    }
    marker(b, g, -1, rec + OUT_OFF + 136);
    jmp_to(b, im_buf_offset(b) + 100);
    jmp_to(b, im_buf_offset(b) + 700);
    epilogue(b, g);
    listing = NULL;
    im_buf_free(b);
    return fflush(stdout) != 0;
}

/* The image of cases[0..n) at slots 0..n): entry "run". */
static int build_image(const struct tgt *g, struct xcase *const *cs, size_t n, uint64_t saved,
                       uint64_t base, im_image **out)
{
    im_buf *b = im_buf_new(g->t);
    if (!b)
        return IM_ERR_NOMEM;
    int entry = im_buf_label(b);
    im_buf_bind(b, entry);
    prologue(b, g);
    mov_abs(b, g, 4, saved, 0);
    for (size_t i = 0; i < n; i++) {
        jmp_to(b, (size_t)(code_addr(cs[i]->h.slot) - base));
        int err = emit_case(b, g, cs[i], base);
        if (!err && im_buf_offset(b) > code_addr(cs[i]->h.slot + 1) - base - 5) {
            tool_error(CMD, "%s: the code of a case of %s is longer than %u bytes",
                       im_target_name(g->t), g->a->forms[cs[i]->h.form].id, CODE_STRIDE - 5);
            err = IM_ERR_RANGE;
        }
        if (err) {
            im_buf_free(b);
            return err;
        }
    }
    jmp_to(b, (size_t)(code_addr(cs[n - 1]->h.slot + 1) - base));
    mov_abs(b, g, 4, saved, 1);
    epilogue(b, g);
    return st_image(b, entry, out);
}

/* ---- running (tools/state.c) ---- */

static int build_cases(const struct st_ops *o, struct st_case *const *cs, size_t n, uint64_t saved,
                       uint64_t base, im_image **out)
{
    struct tgt g = {o->t, o->a, o->t == IM_TARGET_X86_64 ? 16u : 8u,
                    o->t == IM_TARGET_X86_64 ? 8u : 4u,
                    o->t == IM_TARGET_X86_64 ? ~0ull : 0xffffffffull};
    return build_image(&g, (struct xcase *const *)cs, n, saved, base, out);
}

static void put_rec(const struct st_ops *o, const struct st_case *c, uint8_t *rec)
{
    struct tgt g = {o->t, o->a, o->t == IM_TARGET_X86_64 ? 16u : 8u, 0, 0};
    put_case(&g, (const struct xcase *)c, rec);
}

/* ---- comparing ---- */

/* "rax=0x.. rcx=0x.. ... flags=0x.." of the in-state, for a reproducer. */
static void in_state(const struct tgt *g, const struct xcase *c, char *buf, size_t n)
{
    buf[0] = '\0';
    for (unsigned i = 0; i < g->nregs; i++)
        im_appendf(buf, n, "%s=0x%" PRIx64 " ", g->nregs == 16 ? reg64[i] : reg32[i], c->regs[i]);
    im_appendf(buf, n, "flags=0x%" PRIx64, c->flags);
}

static void diverge(const char *engine, const struct tgt *g, const struct xcase *c,
                    const char *what, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void diverge(const char *engine, const struct tgt *g, const struct xcase *c,
                    const char *what, const char *fmt, ...)
{
    char msg[512], st[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    in_state(g, c, st, sizeof st);
    printf("diverge\t%s\t%s\t%s\t%u\t%s; insn '%s'; in: %s (scratch at 0x%" PRIx64 ")\n", engine,
           g->a->forms[c->h.form].id, what, c->h.idx, msg, c->h.text, st, rec_addr(c->h.slot) + SCR_OFF);
}

/* Compare one case; returns the number of differences reported. */
static unsigned compare(const char *engine, const struct tgt *g, const struct xcase *c,
                        const struct st_outcome *nat, const struct st_outcome *eng)
{
    unsigned d = 0;
    if (nat->faulted || eng->faulted) {
        if (nat->faulted && !eng->faulted) {
            diverge(engine, g, c, "nofault", "native faulted (%s), %s did not", nat->detail,
                    engine);
            d++;
        } else if (!nat->faulted && eng->faulted) {
            diverge(engine, g, c, "fault", "%s faulted (%s), native did not", engine, eng->detail);
            d++;
        }
        return d;
    }
    for (unsigned i = 0; i < g->nregs; i++) {
        uint64_t a = im_get64(nat->rec + OUT_OFF + 8 * i) & g->mask;
        uint64_t b = im_get64(eng->rec + OUT_OFF + 8 * i) & g->mask;
        if (a != b) {
            char name[8];
            snprintf(name, sizeof name, "reg:%s", g->nregs == 16 ? reg64[i] : reg32[i]);
            diverge(engine, g, c, name, "native 0x%" PRIx64 ", %s 0x%" PRIx64, a, engine, b);
            d++;
        }
    }
    for (unsigned i = 0; i < g->nregs; i++) {
        const uint8_t *xa = nat->rec + XOUT_OFF + 16 * i, *xb = eng->rec + XOUT_OFF + 16 * i;
        if (memcmp(xa, xb, 16)) {
            char name[16];
            snprintf(name, sizeof name, "xmm:%u", i);
            diverge(engine, g, c, name,
                    "native 0x%016" PRIx64 "%016" PRIx64 ", %s 0x%016" PRIx64 "%016" PRIx64,
                    im_get64(xa + 8), im_get64(xa), engine, im_get64(xb + 8), im_get64(xb));
            d++;
        }
    }
    uint32_t ma, mb;
    memcpy(&ma, nat->rec + MX_OUT_OFF, 4);
    memcpy(&mb, eng->rec + MX_OUT_OFF, 4);
    if (ma != mb) {
        diverge(engine, g, c, "mxcsr", "native 0x%x, %s 0x%x", ma, engine, mb);
        d++;
    }
    unsigned undef = rules_for(g, c);
    unsigned fa = (unsigned)im_get64(nat->rec + OUT_OFF + 128) & F_COMPARED & ~undef;
    unsigned fb = (unsigned)im_get64(eng->rec + OUT_OFF + 128) & F_COMPARED & ~undef;
    for (unsigned bit = 1; bit <= F_OF; bit <<= 1) {
        if ((fa ^ fb) & bit) {
            char name[16], fn[8];
            flag_names(bit, fn, sizeof fn);
            snprintf(name, sizeof name, "flag:%s", fn);
            diverge(engine, g, c, name, "native %s=%u, %s %s=%u", fn, !!(fa & bit), engine, fn,
                    !!(fb & bit));
            d++;
        }
    }
    if (im_get64(nat->rec + OUT_OFF + 136) != im_get64(eng->rec + OUT_OFF + 136)) {
        diverge(engine, g, c, "taken", "native taken=%" PRIu64 ", %s taken=%" PRIu64,
                im_get64(nat->rec + OUT_OFF + 136), engine, im_get64(eng->rec + OUT_OFF + 136));
        d++;
    }
    if (memcmp(nat->rec + SCR_OFF, eng->rec + SCR_OFF, SCR_LEN)) {
        unsigned k = 0;
        while (nat->rec[SCR_OFF + k] == eng->rec[SCR_OFF + k])
            k++;
        unsigned e = SCR_LEN;
        while (nat->rec[SCR_OFF + e - 1] == eng->rec[SCR_OFF + e - 1])
            e--;
        char hn[80] = "", he[80] = "";
        for (unsigned i = k; i < e && i < k + 16; i++) {
            im_appendf(hn, sizeof hn, "%02x", nat->rec[SCR_OFF + i]);
            im_appendf(he, sizeof he, "%02x", eng->rec[SCR_OFF + i]);
        }
        diverge(engine, g, c, "mem", "scratch bytes %u..%u differ: native %s, %s %s", k, e - 1, hn,
                engine, he);
        d++;
    }
    return d;
}

/* ---- the command ---- */

static void usage(FILE *f)
{
    fprintf(f, "usage: imago state -a TARGET [--engine E] [--cases K] [--seed N] [--form ID]...\n"
               "                   [--shard I/N] [--undefined FILE] [--notrun FILE]\n"
               "                   [--implicit FILE]\n"
               "       imago state -a TARGET --scaffold\n"
               "Per-instruction state checks: K random cases of every form of an x86 TARGET\n"
               "(x86_64, i386) run on the native engine and on engine E (default native); every\n"
               "GPR, xmm register, MXCSR, the flags (minus those FILE of --undefined lists as\n"
               "undefined; its 'case' rules keep cases out), the branch taken or not and the\n"
               "scratch block must agree. --notrun lists forms not run\n"
               "(KEY<TAB>REASON); --implicit gives the implicit operands of forms (rsi, rdi,\n"
               "rcx, DF of string operations; the target of jmp/call through r/m and of ret).\n"
               "--shard I/N checks every N-th form from the I-th (1-based).\n"
               "--scaffold lists the fixed code around each instruction with its assembler text.\n"
               "Prints notrun/form/diverge/summary lines (docs/testing.md); exit 0 when the\n"
               "check ran, whatever it found; 1 on an error; 2 on a usage error.\n");
}

int cmd_state(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i++) /* AArch64 and A32 have their own checks */
        if (!strcmp(argv[i], "-a") || !strcmp(argv[i], "--target")) {
            im_target at = im_target_from_name(argv[i + 1]);
            if (at == IM_TARGET_AARCH64)
                return cmd_state_a64(argc, argv); /* cmd_state_a64.c */
            if (at == IM_TARGET_ARM)
                return cmd_state_a32(argc, argv); /* cmd_state_a32.c */
        }
    struct st_opts o;
    int ostatus;
    if (st_parse_opts(argc, argv, &o, usage, 0, &ostatus))
        return ostatus;
    const char *tname = o.target, *ename = o.engine ? o.engine : "native";
    const char *undef_path = o.undefined, *skip_path = o.notrun, *impl_path = o.implicit;
    int scaffold = o.scaffold;
    const char *const *only = o.only;
    size_t nonly = o.nonly;
    if (!tname) {
        fprintf(stderr, "imago state: -a TARGET is required\n");
        usage(stderr);
        return 2;
    }
    im_target t = im_target_from_name(tname);
    if (t != IM_TARGET_X86_64 && t != IM_TARGET_I386) {
        tool_error(CMD, "no state checks for target '%s' (they exist for x86_64, i386, arm and aarch64)", tname);
        return 1;
    }
    fault_scaffold = getenv("IMAGO_FAULT_STATE_SCAFFOLD") && *getenv("IMAGO_FAULT_STATE_SCAFFOLD");
    if (scaffold) {
        struct tgt sg = {t, im_arch_for(t), t == IM_TARGET_X86_64 ? 16u : 8u,
                         t == IM_TARGET_X86_64 ? 8u : 4u,
                         t == IM_TARGET_X86_64 ? ~0ull : 0xffffffffull};
        return list_scaffold(&sg);
    }
    im_engine e = im_engine_from_name(ename);
    if (e == IM_ENGINE_NONE) {
        tool_error(CMD, "unknown engine '%s' (native, qemu, unicorn)", ename);
        return 1;
    }
    if ((undef_path && read_rules(undef_path, 1)) || (skip_path && st_read_skips(CMD, skip_path, &skips)) ||
        (impl_path && read_rules(impl_path, 2)))
        return 1;
    fault_implicit = getenv("IMAGO_FAULT_STATE_IMPLICIT") && *getenv("IMAGO_FAULT_STATE_IMPLICIT");
    /* A faulting case kills a runner: no core files. */
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore);

    struct tgt g = {t, im_arch_for(t), t == IM_TARGET_X86_64 ? 16u : 8u,
                    t == IM_TARGET_X86_64 ? 8u : 4u, t == IM_TARGET_X86_64 ? ~0ull : 0xffffffffull};
    for (size_t i = 0; i < nonly; i++)
        if (im_form_lookup(t, only[i]) < 0 || !im_form_valid(t, im_form_lookup(t, only[i]))) {
            tool_error(CMD, "no form '%s' for %s", only[i], tname);
            return 1;
        }

    /* The cases of the chosen forms. */
    struct st_cases list = {0};
    struct draw d = {&g, o.seed};
    unsigned ordinal = 0;
    for (size_t fi = 0; fi < g.a->nforms; fi++) {
        const im_form *f = &g.a->forms[fi];
        if (!im_form_valid(t, (int)fi) || !st_chosen(&o, f, &ordinal))
            continue;
        const char *reason = st_skip_reason(&skips, f);
        if (reason) {
            printf("notrun\t%s\t%s\n", f->id, reason);
            continue;
        }
        long made = st_draw(&list, sizeof(struct xcase), o.cases, (int)fi, draw_case, &d, CMD);
        if (made < 0) {
            st_cases_free(&list);
            return 1;
        }
        if (!made)
            printf("notrun\t%s\tno operands the encoder accepts were drawn for its kinds\n", f->id);
    }
    size_t n = list.n;
    struct xcase **cs = (struct xcase **)list.v;

    int status = 0;
    struct st_outcome *nat = calloc(n ? n : 1, sizeof *nat);
    struct st_outcome *eng = e == IM_ENGINE_NATIVE ? NULL : calloc(n ? n : 1, sizeof *eng);
    im_emu *ne = NULL, *ee = NULL;
    size_t *bat = NULL, *blen = NULL;
    int err = im_emu_open_ex(IM_ENGINE_NATIVE, t, IM_EMU_ISOLATED, &ne);
    if (err) {
        tool_error(CMD, "native %s: %s: %s", tname, im_strerror(err), im_detail());
        status = 1;
        goto out;
    }
    if (e != IM_ENGINE_NATIVE) {
        err = im_emu_open_ex(e, t, IM_EMU_ISOLATED, &ee);
        if (err) {
            tool_error(CMD, "%s %s: %s: %s", ename, tname, im_strerror(err), im_detail());
            status = 1;
            goto out;
        }
    }
    bat = calloc(n ? n : 1, sizeof *bat);
    blen = calloc(n ? n : 1, sizeof *blen);
    struct st_ops ops = {t, g.a, build_cases, put_rec, OUT_OFF, CMD};
    if (st_run_all(ne, IM_ENGINE_NATIVE, &ops, list.v, n, nat, bat, blen) ||
        (ee && st_run_like(ee, e, &ops, list.v, n, bat, blen, eng))) {
        status = 1;
        goto out;
    }
    struct st_tally tn = {0}, te = {0};
    for (size_t i = 0; i < n;) {
        size_t k = i;
        unsigned nf = 0, ef = 0;
        while (k < n && cs[k]->h.form == cs[i]->h.form) {
            nf += (unsigned)nat[k].faulted;
            if (ee) {
                ef += (unsigned)eng[k].faulted;
                /* each slot's pointer values were moved by the same delta in both runs: the
                 * batch layout of an engine may differ from native's, so compare as slot 0 */
                te.diverge += compare(ename, &g, cs[k], &nat[k], &eng[k]);
            }
            k++;
        }
        unsigned total = (unsigned)(k - i);
        const char *id = g.a->forms[cs[i]->h.form].id;
        if (nf == total) {
            const char *why = strstr(nat[i].detail, "killed by signal"); /* not the path */
            printf("notrun\t%s\tevery case faults natively (%s); every engine must fault too\n", id,
                   why ? why : nat[i].detail);
        }
        st_form_line(&tn, id, "native", total, nf);
        if (ee) {
            st_form_line(&te, id, ename, total, ef);
        }
        i = k;
    }
    printf("summary\tnative\tforms=%u\tcases=%u\tfaulted=%u\tdivergences=0\n", tn.forms, tn.cases,
           tn.faulted);
    if (ee)
        printf("summary\t%s\tforms=%u\tcases=%u\tfaulted=%u\tdivergences=%u\n", ename, te.forms,
               te.cases, te.faulted, te.diverge);
out:
    im_emu_close(ne);
    im_emu_close(ee);
    st_cases_free(&list);
    free(bat);
    free(blen);
    free(nat);
    free(eng);
    free(undefs);
    free(skips.v);
    free(impls);
    undefs = NULL;
    skips.v = NULL;
    impls = NULL;
    nundefs = skips.n = nimpls = 0;
    return fflush(stdout) == 0 ? status : 1;
}
