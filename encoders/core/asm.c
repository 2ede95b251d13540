/* The text assembler: statements in, a finished im_buf out. Parsing uses the generic
 * template matcher of each form; layout picks, for every instruction, the first form (in
 * table order) that encodes with the label addresses of the previous pass, growing only,
 * until nothing changes (so branches relax the way GNU as relaxes them). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imago/asm.h"

#include "core.h"
#include "form.h"

#define MAX_CANDS 16

typedef struct cand {
    int form;
    im_operand ops[IM_MAX_OPS];
} cand;

enum { S_LABEL, S_INSN, S_DATA, S_ALIGN, S_SPACE };

typedef struct stmt {
    int kind;
    int line;
    int label;          /* S_LABEL */
    cand *c;            /* S_INSN */
    int nc, ci;
    unsigned size;      /* S_DATA: bytes; S_ALIGN: alignment; */
    im_operand val;     /* S_DATA */
    size_t count;       /* S_SPACE */
    size_t off;         /* offset in the code, set when emitted */
    uint8_t byte;       /* S_SPACE fill */
    bool lit;           /* S_INSN: a load from the literal pool (ldr rN, =value) */
} stmt;

typedef struct sym {
    char *name;
    int label;
    int def_line, use_line;
    bool global;
    bool phantom; /* only named by rows whose operands did not match: not a real use */
    uint32_t kind;
    /* imports (.import NAME): the line of the directive; NAME@toc: a placeholder label for
     * the address of the import's TOC slot (-1 until used) and the line of its first use.
     * At the end of the source, the label and the placeholder are replaced by the buffer's
     * import and TOC labels (im_buf_import, im_buf_toc). */
    int import_line;
    int toc_ph, toc_line;
} sym;

/* A literal pool entry (ldr rN, =value): its value (IM_OP_IMM, or IM_OP_LABEL: an address
 * that needs a relocation) and the label of its word. Two loads share an entry when GNU as
 * shares it: the same label and addend, or the same constant written with the same
 * signedness (GNU as keeps -0x12345 and 0xfffedcbb apart: a leading minus makes the
 * expression signed). */
typedef struct pool_ent {
    im_operand val;
    bool is_signed;
    int label;
} pool_ent;

typedef struct asmctx {
    im_target t;
    const im_arch *a;
    im_buf *b;
    stmt *st;
    size_t nst, stcap;
    sym *syms;
    size_t nsyms, symcap;
    int line;
    bool intel; /* x86: .intel_syntax noprefix seen */
    int64_t *addr;  /* label addresses during layout */
    size_t nlabels; /* labels made (symbols and literal pool entries) */
    /* ARM: what .arch, .arch_extension and .fpu selected (dir_arm_feature; the rows that
     * name a feature need it: arm_row_allowed); at the start what conformance/harness.py
     * gives GNU as, -march=armv7-a+idiv -mfpu=neon (arm_defaults) */
    int arch, fpu_name; /* indexes in arm_archs and arm_fpus */
    unsigned ext, fpu;
    /* ARM: the literal pool being filled (ldr rN, =value), placed at .ltorg/.pool and at
     * the end of the section */
    pool_ent *pool;
    size_t npool, poolcap;
    /* in a section that holds no code (.note.GNU-stack): statements there are refused */
    const char *other_section;
    /* NAME@toc in the current statement: where each NAME starts (the "@toc" is blanked
     * out, label_cb gives those names their TOC placeholder) */
    const char *tocref[16];
    int ntocref;
    /* labels that are never bound (imports and their TOC slots): resolved at link time */
    bool *extlab;
} asmctx;

/* A label id made for the source: the layout's arrays cover every id up to it. */
static void note_label(asmctx *c, int label)
{
    if (label >= 0 && (size_t)label + 1 > c->nlabels)
        c->nlabels = (size_t)label + 1;
}

static sym *find_sym(asmctx *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->nsyms; i++)
        if (strlen(c->syms[i].name) == len && !memcmp(c->syms[i].name, name, len))
            return &c->syms[i];
    return NULL;
}

static sym *get_sym(asmctx *c, const char *name, size_t len)
{
    sym *s = find_sym(c, name, len);
    if (s) {
        s->phantom = false;
        return s;
    }
    if (im_grow((void **)&c->syms, &c->symcap, c->nsyms + 1, sizeof *c->syms) < 0)
        return NULL;
    int label = im_buf_label(c->b);
    if (label < 0)
        return NULL;
    note_label(c, label);
    char *n = strndup(name, len);
    if (!n)
        return NULL;
    s = &c->syms[c->nsyms++];
    *s = (sym){.name = n, .label = label, .kind = IM_SYM_FUNC, .toc_ph = -1};
    return s;
}

static int label_cb(void *user, const char *name, size_t len)
{
    asmctx *c = user;
    if (!c->b)
        return im_fail(IM_ERR_SYNTAX, "symbol '%.*s' not allowed here", (int)len, name);
    sym *s = get_sym(c, name, len);
    if (!s)
        return im_fail(IM_ERR_NOMEM, "out of memory");
    if (!s->use_line)
        s->use_line = c->line;
    for (int i = 0; i < c->ntocref; i++)
        if (c->tocref[i] == name) { /* NAME@toc: the address of NAME's TOC slot */
            if (s->toc_ph < 0) {
                int ph = im_buf_label(c->b);
                if (ph < 0)
                    return ph;
                note_label(c, ph);
                s->toc_ph = ph;
            }
            if (!s->toc_line)
                s->toc_line = c->line;
            return s->toc_ph;
        }
    return s->label;
}

static int add_stmt(asmctx *c, const stmt *s)
{
    if (c->other_section)
        return im_fail(IM_ERR_SYNTAX,
                       "content in section %s is not supported: an image holds one code "
                       "section per target",
                       c->other_section);
    int rc = im_grow((void **)&c->st, &c->stcap, c->nst + 1, sizeof *c->st);
    if (rc < 0)
        return rc;
    c->st[c->nst] = *s;
    c->st[c->nst].line = c->line;
    c->nst++;
    return 0;
}

static bool sym_start(char ch)
{
    return isalpha((unsigned char)ch) || ch == '_' || ch == '.' || ch == '$';
}
static bool sym_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_' || ch == '.' || ch == '$';
}

/* ---- directives ---- */

static const char *word_end(const char *s)
{
    while (*s && !isspace((unsigned char)*s) && *s != ',')
        s++;
    return s;
}

static int expect_end(const char *s)
{
    im_skip_ws(&s);
    if (*s)
        return im_fail(IM_ERR_SYNTAX, "unexpected '%s'", s);
    return 0;
}

static int parse_const(asmctx *c, const char **p, int64_t *v)
{
    im_operand op;
    im_parse_ctx ctx = {c, label_cb};
    int rc = im_parse_expr(p, &op, &ctx);
    if (rc < 0)
        return rc;
    if (op.type != IM_OP_IMM)
        return im_fail(IM_ERR_SYNTAX, "expected a constant");
    *v = op.imm;
    return 0;
}

static int dir_data(asmctx *c, unsigned size, const char *s)
{
    im_parse_ctx ctx = {c, label_cb};
    for (;;) {
        im_skip_ws(&s);
        stmt st = {.kind = S_DATA, .size = size};
        int rc = im_parse_expr(&s, &st.val, &ctx);
        if (rc < 0)
            return rc;
        if (st.val.type == IM_OP_REL)
            return im_fail(IM_ERR_SYNTAX, "'.'-relative data is not supported");
        if (st.val.type == IM_OP_LABEL) {
            if (size != 4 && size != 8)
                return im_fail(IM_ERR_NO_ENCODING, "an address needs a 4- or 8-byte data word");
            st.val.type = IM_OP_SYM;
        } else {
            int64_t v = st.val.imm;
            if (size < 8) {
                int64_t lo = -(1ll << (8 * size - 1)), hi = (1ll << (8 * size)) - 1;
                if (v < lo || v > hi)
                    return im_fail(IM_ERR_RANGE, "value 0x%llx does not fit %u bytes",
                                   (unsigned long long)v, size);
            }
        }
        if ((rc = add_stmt(c, &st)) < 0)
            return rc;
        im_skip_ws(&s);
        if (*s == ',') {
            s++;
            continue;
        }
        return expect_end(s);
    }
}

static int dir_align(asmctx *c, const char *name, const char *s)
{
    int64_t v = 0;
    im_skip_ws(&s);
    int rc = parse_const(c, &s, &v);
    if (rc < 0)
        return rc;
    im_skip_ws(&s);
    if (*s)
        return im_fail(IM_ERR_SYNTAX, "fill and maximum arguments of %s are not supported", name);
    bool pow2 = !strcmp(name, ".p2align") ||
                (!strcmp(name, ".align") && c->t != IM_TARGET_X86_64 && c->t != IM_TARGET_I386);
    uint64_t align;
    if (pow2) {
        if (v < 0 || v > 16)
            return im_fail(IM_ERR_RANGE, "%s %lld out of range", name, (long long)v);
        align = 1ull << v;
    } else {
        if (v <= 0 || v > 65536 || (v & (v - 1)))
            return im_fail(IM_ERR_RANGE, "%s %lld is not a power of two", name, (long long)v);
        align = (uint64_t)v;
    }
    stmt st = {.kind = S_ALIGN, .size = (unsigned)align};
    return add_stmt(c, &st);
}

static int dir_space(asmctx *c, const char *s)
{
    int64_t n = 0, fill = 0;
    im_skip_ws(&s);
    int rc = parse_const(c, &s, &n);
    if (rc < 0)
        return rc;
    im_skip_ws(&s);
    if (*s == ',') {
        s++;
        im_skip_ws(&s);
        if ((rc = parse_const(c, &s, &fill)) < 0)
            return rc;
    }
    if ((rc = expect_end(s)) < 0)
        return rc;
    if (n < 0 || n > (int64_t)IM_ASM_MAX_CODE)
        return im_fail(IM_ERR_RANGE, "space of %lld bytes (at most %u MiB of code)", (long long)n,
                       IM_ASM_MAX_CODE >> 20);
    if (fill < -128 || fill > 255)
        return im_fail(IM_ERR_RANGE, "fill value out of range");
    stmt st = {.kind = S_SPACE, .count = (size_t)n, .byte = (uint8_t)fill};
    return add_stmt(c, &st);
}

static int sym_arg(asmctx *c, const char **p, sym **out)
{
    const char *s = *p;
    im_skip_ws(&s);
    const char *b = s;
    if (!sym_start(*s))
        return im_fail(IM_ERR_SYNTAX, "expected a symbol name");
    while (sym_char(*s))
        s++;
    sym *y = get_sym(c, b, (size_t)(s - b));
    if (!y)
        return im_fail(IM_ERR_NOMEM, "out of memory");
    *out = y;
    *p = s;
    return 0;
}

/* ---- ARM literal pools ---- */

/* Place the pending literal pool here (.ltorg, .pool, the end of the section), as GNU as
 * places it: nothing when it is empty, else zeros up to a word boundary, then the entries
 * in the order they were first used. */
static int pool_flush(asmctx *c)
{
    if (!c->npool || c->other_section) /* .ltorg in another section flushes that one's pool */
        return 0;
    stmt al = {.kind = S_ALIGN, .size = 4}; /* under 4 bytes of padding: zeros (emit) */
    int rc = add_stmt(c, &al);
    for (size_t i = 0; i < c->npool && rc == 0; i++) {
        stmt lab = {.kind = S_LABEL, .label = c->pool[i].label};
        stmt word = {.kind = S_DATA, .size = 4, .val = c->pool[i].val};
        if (word.val.type == IM_OP_LABEL)
            word.val.type = IM_OP_SYM; /* an address: relocated, as a .word label */
        if ((rc = add_stmt(c, &lab)) == 0)
            rc = add_stmt(c, &word);
    }
    c->npool = 0;
    return rc;
}

/* The label of the pool entry for v (shared with an equal one), made when new. */
static int pool_entry(asmctx *c, const im_operand *v, bool is_signed)
{
    for (size_t i = 0; i < c->npool; i++) {
        const pool_ent *p = &c->pool[i];
        if (p->val.type == v->type && p->val.imm == v->imm &&
            (v->type == IM_OP_LABEL ? p->val.label == v->label : p->is_signed == is_signed))
            return p->label;
    }
    if (im_grow((void **)&c->pool, &c->poolcap, c->npool + 1, sizeof *c->pool) < 0)
        return im_fail(IM_ERR_NOMEM, "out of memory");
    int label = im_buf_label(c->b);
    if (label < 0)
        return label;
    note_label(c, label);
    c->pool[c->npool++] = (pool_ent){*v, is_signed, label};
    return label;
}

/* ---- ARM: .arch, .arch_extension, .fpu ----
 *
 * The names GNU as (2.40) accepts, checked; a name is refused when GNU as does not know it,
 * or when it selects an architecture imago cannot assemble for. What they select is one
 * mask of the IM_A32R_* features (encoders/core/form.h), bit n for feature n, and a row
 * that names a feature (its im_form.req, tools/gentables.py A32_REQUIRES) is
 * refused unless the mask has it. Every table below was read off GNU as: which probe
 * instruction of each feature (form.h) it takes under each name. */

#define RQ(x) (1u << IM_A32R_##x)

/* .arch_extension names that select no IM_A32R_ feature (recorded) */
enum { AE_SIMD = 1u << 24, AE_FP = 1u << 25, AE_COPROC = 1u << 26 };
/* .fpu: d16-d31 exist (arm_d32_check) */
enum { AF_D32 = 1u << 30 };

enum {
    A_V4T = RQ(V4T),
    A_V5T = A_V4T | RQ(V5T),
    A_V5TE = A_V5T | RQ(V5TE),
    A_V6 = A_V5TE | RQ(V6),
    A_V6K = A_V6 | RQ(V6K),
    A_V6T2 = A_V6K | RQ(V6T2), /* GNU as takes the ARMv6K instructions on ARMv6T2 too */
    A_V7 = A_V6T2 | RQ(V7),
    /* the extensions .arch_extension may name, per base architecture */
    AE_ALL_V7A = RQ(IDIV) | RQ(SEC) | RQ(MP) | RQ(VIRT) | AE_SIMD | AE_FP | AE_COPROC,
    AE_V6K = RQ(SEC) | AE_FP | AE_COPROC,
    AE_V5TE = AE_FP | AE_COPROC,
    AE_V4 = AE_COPROC,
};

/* The architectures imago assembles for: their features, the extensions .arch_extension
 * may name there, those the architecture includes, and whether alignment padding in code
 * is `nop` (ARMv6K and later) or `mov r0, r0` (GNU as decides by the architecture in
 * effect at the end of the file). */
static const struct {
    const char *name;
    unsigned have, allowed, ext;
    bool nop;
} arm_archs[] = {
    {"armv7-a", A_V7, AE_ALL_V7A, 0, true},
    {"armv7a", A_V7, AE_ALL_V7A, 0, true},
    {"armv7ve", A_V7, AE_ALL_V7A, RQ(IDIV) | RQ(SEC) | RQ(MP) | RQ(VIRT), true},
    /* earlier ARM-state architectures */
    {"armv4", 0, AE_V4, 0, false},
    {"armv4xm", 0, AE_V4, 0, false},
    {"armv4t", A_V4T, AE_V4, 0, false},
    {"armv4txm", A_V4T, AE_V4, 0, false},
    {"armv5", A_V5T, AE_V4, 0, false},
    {"armv5t", A_V5T, AE_V4, 0, false},
    {"armv5txm", A_V5T, AE_V4, 0, false},
    /* armv5texp lacks ldrd and strd only (imago takes them there) */
    {"armv5texp", A_V5TE, AE_V5TE, 0, false},
    {"armv5te", A_V5TE, AE_V5TE, 0, false},
    {"armv5tej", A_V5TE, AE_V5TE, 0, false},
    {"armv6", A_V6, AE_V5TE, 0, false},
    {"armv6j", A_V6, AE_V5TE, 0, false},
    {"armv6k", A_V6K, AE_V6K, 0, true},
    {"armv6z", A_V6K, AE_V6K, 0, true},
    {"armv6kz", A_V6K, AE_V6K, 0, true},
    {"armv6zk", A_V6K, AE_V6K, 0, true},
    {"armv6t2", A_V6T2, AE_V5TE, 0, false},
    {"armv6zt2", A_V6T2, AE_V5TE, 0, false},
    {"armv6kt2", A_V6T2, AE_V6K, 0, true},
    {"armv6kzt2", A_V6T2, AE_V6K, 0, true},
    {"armv6zkt2", A_V6T2, AE_V6K, 0, true},
};

/* Architectures GNU as knows that imago cannot assemble for: 26-bit, M and R profile,
 * armv7 (the profiles' common part: GNU as takes no ARM instruction there), ARMv8 and
 * later, the XScale families. */
static const char *const arm_archs_other[] = {
    "armv1",     "armv2",     "armv2a",       "armv2s",       "armv3",          "armv3m",
    "armv6-m",   "armv6s-m",  "armv7",        "armv7-r",      "armv7-m",        "armv7e-m",
    "armv8-a",   "armv8.1-a", "armv8.2-a",    "armv8.3-a",    "armv8.4-a",      "armv8.5-a",
    "armv8.6-a", "armv8.7-a", "armv8.8-a",    "armv8-m.base", "armv8-m.main",   "armv8.1-m.main",
    "armv8-r",   "armv9-a",   "armv9.1-a",    "armv9.2-a",    "armv9.3-a",      "xscale",
    "iwmmxt",    "iwmmxt2",
};

static const struct {
    const char *name;
    unsigned ext;
} arm_exts[] = {
    {"idiv", RQ(IDIV)},    {"sec", RQ(SEC)},        {"mp", RQ(MP)},        {"virt", RQ(VIRT)},
    {"simd", AE_SIMD},     {"fp", AE_FP},           {"iwmmxt", AE_COPROC}, {"iwmmxt2", AE_COPROC},
    {"xscale", AE_COPROC}, {"maverick", AE_COPROC},
};

enum {
    F_V2 = RQ(VFP) | RQ(FP16), /* GNU as takes vcvtb/vcvtt with any VFP */
    F_V2D = F_V2 | RQ(VFP_DP),
    F_V3XD = F_V2 | RQ(VFPV3),
    F_V3D16 = F_V2D | RQ(VFPV3) | RQ(VFPV3_DP),
    F_V3 = F_V3D16 | AF_D32,
    F_V4SP = F_V3XD | RQ(VFPV4) | RQ(VFPV4_DP), /* GNU as takes vfma.f64 there */
    F_V4D16 = F_V3D16 | RQ(VFPV4) | RQ(VFPV4_DP),
    F_V4 = F_V4D16 | AF_D32,
    F_NEON = F_V3 | RQ(NEON) | RQ(NEON_FP16),
    F_NEON4 = F_NEON | F_V4 | RQ(NEON_VFPV4),
};

static const struct {
    const char *name;
    unsigned feat;
} arm_fpus[] = {
    {"softvfp", 0},
    {"softvfp+vfp", F_V2D},
    {"vfp", F_V2D},
    {"vfpv2", F_V2D},
    {"vfp9", F_V2D},
    {"vfp10", F_V2D},
    {"arm1020e", F_V2D},
    {"arm1136jfs", F_V2D},
    {"arm1136jf-s", F_V2D},
    {"vfp10-r0", F_V2},
    {"vfpxd", F_V2},
    {"arm1020t", F_V2},
    {"vfp3", F_V3},
    {"vfpv3", F_V3},
    {"vfpv3-fp16", F_V3},
    {"vfpv3-d16", F_V3D16},
    {"vfpv3-d16-fp16", F_V3D16},
    {"vfpv3xd", F_V3XD},
    {"vfpv3xd-fp16", F_V3XD},
    {"vfpv4", F_V4},
    {"vfpv4-d16", F_V4D16},
    {"fpv4-sp-d16", F_V4SP},
    {"fpv5-d16", F_V4D16},
    {"fpv5-sp-d16", F_V4SP},
    {"fp-armv8", F_V4},
    {"neon", F_NEON},
    {"neon-vfpv3", F_NEON},
    {"neon-fp16", F_NEON},
    {"neon-vfpv4", F_NEON4},
    {"neon-fp-armv8", F_NEON4},
    {"crypto-neon-fp-armv8", F_NEON4},
    /* FPA and Maverick: no VFP */
    {"fpa", 0},
    {"fpa10", 0},
    {"fpa11", 0},
    {"fpe", 0},
    {"fpe2", 0},
    {"fpe3", 0},
    {"arm7500fe", 0},
    {"softfpa", 0},
    {"maverick", 0},
};

static int dir_arm_feature(asmctx *c, const char *dir, const char *arg)
{
    const char *e = word_end(arg);
    int n = (int)(e - arg);
    int rc = expect_end(e);
    if (n == 0)
        return im_fail(IM_ERR_SYNTAX, "%s needs a name", dir);
    if (rc < 0)
        return rc;
    /* GNU as matches the names case-sensitively */
#define IS(s) ((size_t)n == strlen(s) && !strncmp(arg, s, (size_t)n))
    if (!strcmp(dir, ".arch")) {
        for (size_t i = 0; i < sizeof arm_archs / sizeof arm_archs[0]; i++)
            if (IS(arm_archs[i].name)) {
                c->arch = (int)i;
                c->ext = arm_archs[i].ext; /* as in GNU as, .arch drops earlier extensions */
                return 0;
            }
        for (size_t i = 0; i < sizeof arm_archs_other / sizeof arm_archs_other[0]; i++)
            if (IS(arm_archs_other[i]))
                return im_fail(IM_ERR_TARGET,
                               "architecture '%.*s' is not supported: imago assembles A32 for "
                               "ARMv7-A (armv7-a, armv7ve) and earlier ARM-state "
                               "architectures",
                               n, arg);
        return im_fail(IM_ERR_SYNTAX, "unknown architecture '%.*s'", n, arg);
    }
    if (!strcmp(dir, ".arch_extension")) {
        bool no = n > 2 && !strncmp(arg, "no", 2);
        const char *nm = no ? arg + 2 : arg;
        int nn = no ? n - 2 : n;
        for (size_t i = 0; i < sizeof arm_exts / sizeof arm_exts[0]; i++)
            if ((size_t)nn == strlen(arm_exts[i].name) &&
                !strncmp(nm, arm_exts[i].name, (size_t)nn)) {
                if (!(arm_archs[c->arch].allowed & arm_exts[i].ext))
                    return im_fail(IM_ERR_TARGET,
                                   "architecture extension '%.*s' is not allowed for the "
                                   "current base architecture (%s)",
                                   n, arg, arm_archs[c->arch].name);
                if (no)
                    c->ext &= ~arm_exts[i].ext;
                else
                    c->ext |= arm_exts[i].ext;
                return 0;
            }
        return im_fail(IM_ERR_SYNTAX,
                       "unknown architecture extension '%.*s' (known: idiv, sec, mp, virt, "
                       "simd, fp, iwmmxt, iwmmxt2, xscale, maverick, each also with 'no')",
                       n, arg);
    }
    for (size_t i = 0; i < sizeof arm_fpus / sizeof arm_fpus[0]; i++)
        if (IS(arm_fpus[i].name)) {
            c->fpu = arm_fpus[i].feat;
            c->fpu_name = (int)i;
            return 0;
        }
#undef IS
    return im_fail(IM_ERR_SYNTAX, "unknown floating point format '%.*s' in .fpu", n, arg);
}

/* The state before any directive: what conformance/harness.py gives GNU as,
 * -march=armv7-a+idiv -mfpu=neon. */
static void arm_defaults(asmctx *c)
{
    c->arch = 0; /* armv7-a */
    c->ext = RQ(IDIV);
    for (size_t i = 0; i < sizeof arm_fpus / sizeof arm_fpus[0]; i++)
        if (!strcmp(arm_fpus[i].name, "neon")) {
            c->fpu_name = (int)i;
            c->fpu = arm_fpus[i].feat;
        }
}

/* 0 when the row's feature (im_form.req) is selected, else IM_ERR_TARGET with the
 * reason, naming the feature and the directive that selects it, in why. */
static int arm_row_allowed(const asmctx *c, const im_form *f, const char *w, size_t wn,
                           char *why, size_t n)
{
    static const char *const what[IM_A32R_COUNT] = {
        "",
        "ARMv4T",
        "ARMv5T",
        "ARMv5TE",
        "ARMv6",
        "ARMv6K",
        "ARMv6T2",
        "ARMv7",
        "the idiv extension",
        "the sec extension",
        "the mp extension",
        "the virt extension",
        "a VFP unit",
        "double-precision VFP",
        "VFPv3",
        "double-precision VFPv3",
        "VFPv4",
        "double-precision VFPv4",
        "NEON",
        "NEON half-precision conversions",
        "NEON VFPv4 (fused multiply-add)",
        "half-precision conversions",
    };
    static const char *const ext[] = {"idiv", "sec", "mp", "virt"};
    unsigned req = f->req;
    if (c->t != IM_TARGET_ARM || !req)
        return 0;
    if (req >= IM_A32R_COUNT) {
        snprintf(why, n, "%s: unknown feature %u", f->id, req);
        return IM_ERR_INVAL;
    }
    unsigned have = arm_archs[c->arch].have | c->ext | c->fpu;
    if (have & (1u << req))
        return 0;
    if (req < IM_A32R_IDIV)
        snprintf(why, n, "'%.*s' needs %s: the architecture is %s (.arch)", (int)wn, w,
                 what[req], arm_archs[c->arch].name);
    else if (req < IM_A32R_VFP)
        snprintf(why, n, "'%.*s' needs %s (.arch_extension %s; the architecture is %s)", (int)wn,
                 w, what[req], ext[req - IM_A32R_IDIV], arm_archs[c->arch].name);
    else
        snprintf(why, n, "'%.*s' needs %s: the FPU is %s (.fpu)", (int)wn, w, what[req],
                 arm_fpus[c->fpu_name].name);
    return IM_ERR_TARGET;
}

/* GNU as refuses d16-d31 (and q8-q15, which are made of them) in a VFP or NEON instruction
 * (UAL: its mnemonic starts with v) when the FPU has 16 D registers (.fpu vfpv3-d16,
 * vfpv4-d16, vfp, ...): the register names in the operand text are what it checks. */
static int arm_d32_check(const asmctx *c, const char *w, size_t wn, const char *ops)
{
    if (c->t != IM_TARGET_ARM || (c->fpu & AF_D32) || (*w | 0x20) != 'v')
        return 0;
    for (const char *p = ops; *p; p++) {
        char k = (char)(*p | 0x20);
        if ((k != 'd' && k != 'q') || (p > ops && sym_char(p[-1])) ||
            !isdigit((unsigned char)p[1]))
            continue;
        const char *q = p + 1;
        unsigned n = 0;
        while (isdigit((unsigned char)*q) && n < 100)
            n = n * 10 + (unsigned)(*q++ - '0');
        if (sym_char(*q))
            continue; /* a longer name, not a register */
        if ((k == 'd' && n >= 16 && n < 32) || (k == 'q' && n >= 8 && n < 16))
            return im_fail(IM_ERR_NO_ENCODING,
                           "'%.*s': register %.*s out of range for the selected FPU (%s has "
                           "d0-d15 only; .fpu vfpv3, vfpv4 or neon have d0-d31)",
                           (int)wn, w, (int)(q - p), p, arm_fpus[c->fpu_name].name);
    }
    return 0;
}

static int directive(asmctx *c, const char *s)
{
    const char *e = word_end(s);
    size_t n = (size_t)(e - s);
    char name[32];
    if (n >= sizeof name)
        return im_fail(IM_ERR_SYNTAX, "unknown directive '%.*s'", (int)n, s);
    for (size_t i = 0; i < n; i++)
        name[i] = (char)tolower((unsigned char)s[i]);
    name[n] = '\0';
    const char *arg = e;
    im_skip_ws(&arg);
    bool x86 = c->t == IM_TARGET_X86_64 || c->t == IM_TARGET_I386;

    static const struct {
        const char *name;
        unsigned size;
        int arch; /* 0 all, 1 x86 only, 2 ARM only */
    } data[] = {{".byte", 1, 0},  {".short", 2, 0}, {".hword", 2, 0}, {".2byte", 2, 0},
                {".value", 2, 1}, {".long", 4, 0},  {".int", 4, 0},   {".4byte", 4, 0},
                {".quad", 8, 0},  {".8byte", 8, 0}, {".xword", 8, 2}, {".dword", 8, 2}};
    for (size_t i = 0; i < sizeof data / sizeof data[0]; i++)
        if (!strcmp(name, data[i].name) && (data[i].arch == 0 || (data[i].arch == 1) == x86))
            return dir_data(c, data[i].size, arg);
    if (!strcmp(name, ".word"))
        return dir_data(c, x86 ? 2 : 4, arg);
    if (!strcmp(name, ".align") || !strcmp(name, ".p2align") || !strcmp(name, ".balign"))
        return dir_align(c, name, arg);
    if (!strcmp(name, ".space") || !strcmp(name, ".skip") || !strcmp(name, ".zero"))
        return dir_space(c, arg);
    if (!strcmp(name, ".text")) {
        c->other_section = NULL;
        return expect_end(arg);
    }
    if (!strcmp(name, ".section")) {
        const char *q = arg;
        if (im_match_word(&q, ".text")) {
            c->other_section = NULL;
            return 0; /* flags after the name are accepted as they are */
        }
        q = arg;
        if (im_match_word(&q, ".note.GNU-stack")) {
            /* the marker gcc ends every file with: an empty section, accepted while it
             * stays empty */
            c->other_section = ".note.GNU-stack";
            return 0;
        }
        return im_fail(IM_ERR_SYNTAX, "section '%.*s' is not supported: an image holds one code section per target",
                       (int)(word_end(arg) - arg), arg);
    }
    if (!strcmp(name, ".data") || !strcmp(name, ".bss") || !strcmp(name, ".rodata"))
        return im_fail(IM_ERR_SYNTAX, "%s is not supported: put data in .text", name);
    if (!strcmp(name, ".globl") || !strcmp(name, ".global")) {
        for (;;) {
            sym *y;
            int rc = sym_arg(c, &arg, &y);
            if (rc < 0)
                return rc;
            y->global = true;
            im_skip_ws(&arg);
            if (*arg != ',')
                return expect_end(arg);
            arg++;
        }
    }
    if (!strcmp(name, ".import")) {
        for (;;) {
            sym *y;
            int rc = sym_arg(c, &arg, &y);
            if (rc < 0)
                return rc;
            if (y->def_line)
                return im_fail(IM_ERR_SYMBOL,
                               "'.import %s': '%s' is defined in this file (line %d); a module "
                               "imports only names it does not define",
                               y->name, y->name, y->def_line);
            if (!y->import_line)
                y->import_line = c->line;
            im_skip_ws(&arg);
            if (*arg != ',')
                return expect_end(arg);
            arg++;
        }
    }
    if (!strcmp(name, ".type")) {
        sym *y;
        int rc = sym_arg(c, &arg, &y);
        if (rc < 0)
            return rc;
        im_skip_ws(&arg);
        if (*arg != ',')
            return im_fail(IM_ERR_SYNTAX, "expected ', @function' or ', @object'");
        arg++;
        im_skip_ws(&arg);
        if (*arg == '@' || *arg == '%' || *arg == '#')
            arg++;
        if (im_match_word(&arg, "function"))
            y->kind = IM_SYM_FUNC;
        else if (im_match_word(&arg, "object"))
            y->kind = IM_SYM_DATA;
        else
            return im_fail(IM_ERR_SYNTAX, "unknown symbol type '%s'", arg);
        return expect_end(arg);
    }
    /* accepted, no effect on the bytes */
    if (c->t == IM_TARGET_ARM &&
        (!strcmp(name, ".arch") || !strcmp(name, ".arch_extension") || !strcmp(name, ".fpu")))
        return dir_arm_feature(c, name, arg);
    static const char *const ignored[] = {".size", ".file", ".ident", ".arch", ".arch_extension",
                                          ".fpu", ".eabi_attribute", ".cpu", ".object_arch",
                                          ".local", ".hidden", ".protected", ".weak_hidden"};
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
        if (!strcmp(name, ignored[i]))
            return 0;
    if (!strncmp(name, ".cfi_", 5))
        return 0;
    if (x86) {
        if (!strcmp(name, ".intel_syntax")) {
            const char *q = arg;
            if (!im_match_word(&q, "noprefix"))
                return im_fail(IM_ERR_SYNTAX, "imago reads '.intel_syntax noprefix' only");
            c->intel = true;
            return expect_end(q);
        }
        if (!strcmp(name, ".att_syntax"))
            return im_fail(IM_ERR_SYNTAX, "AT&T syntax is not supported; use .intel_syntax noprefix");
        if (!strcmp(name, ".code64") || !strcmp(name, ".code32")) {
            bool want64 = name[5] == '6';
            if (want64 != (c->t == IM_TARGET_X86_64))
                return im_fail(IM_ERR_TARGET, "%s in a %s source", name, im_target_name(c->t));
            return expect_end(arg);
        }
    } else if (c->t == IM_TARGET_ARM) {
        if (!strcmp(name, ".syntax")) {
            const char *q = arg;
            if (im_match_word(&q, "unified"))
                return expect_end(q);
            if (im_match_word(&q, "divided"))
                return im_fail(IM_ERR_SYNTAX,
                               "'.syntax divided' is not supported: imago reads unified "
                               "syntax (UAL) only");
            return im_fail(IM_ERR_SYNTAX,
                           "unknown syntax mode '%.*s' (imago reads '.syntax unified')",
                           (int)(word_end(arg) - arg), arg);
        }
        if (!strcmp(name, ".arm"))
            return expect_end(arg);
        if (!strcmp(name, ".ltorg") || !strcmp(name, ".pool")) {
            int rc = expect_end(arg);
            return rc < 0 ? rc : pool_flush(c);
        }
        if (!strcmp(name, ".code")) {
            const char *q = arg;
            int64_t v = 0;
            int rc = parse_const(c, &q, &v);
            if (rc < 0)
                return rc;
            if (v != 32)
                return im_fail(IM_ERR_TARGET, "only ARM state (.code 32) is supported");
            return expect_end(q);
        }
        /* EHABI unwinding directives: they fill .ARM.exidx, never the code */
        static const char *const unwind[] = {".fnstart", ".fnend",        ".cantunwind",
                                             ".save",    ".vsave",        ".setfp",
                                             ".pad",     ".movsp",        ".personality",
                                             ".personalityindex"};
        for (size_t i = 0; i < sizeof unwind / sizeof unwind[0]; i++)
            if (!strcmp(name, unwind[i]))
                return 0;
        if (!strcmp(name, ".handlerdata"))
            return im_fail(IM_ERR_SYNTAX,
                           ".handlerdata is not supported: exception tables (.ARM.extab) "
                           "are another section");
        if (!strcmp(name, ".thumb") || !strcmp(name, ".thumb_func"))
            return im_fail(IM_ERR_TARGET, "Thumb is not supported yet");
    }
    return im_fail(IM_ERR_SYNTAX, "unknown directive '%s'", name);
}

/* ---- instructions ---- */

static bool mnem_match(const im_arch *a, const im_form *f, const char *w, size_t wn, int *cond)
{
    size_t mn = strlen(f->mnem);
    if (f->cond_op == 0xff) {
        *cond = -1;
        return wn == mn && !strncasecmp(w, f->mnem, mn);
    }
    /* the condition sits at the end, or before the mnemonic's '.' suffix (cond_at) */
    size_t at = f->cond_at == 0xff ? mn : f->cond_at, tail = mn - at;
    if (wn < mn || strncasecmp(w, f->mnem, at) ||
        strncasecmp(w + wn - tail, f->mnem + at, tail))
        return false;
    const char *suf = w + at;
    size_t sn = wn - mn;
    bool a32 = a == &im_arch_a32;
    if (sn == 0) {
        *cond = 14;
        return a32;
    }
    if (sn != 2)
        return false;
    for (int i = 0; i < 16; i++)
        if (!strncasecmp(suf, im_arm_cond_names[i], 2) && (i < 15 || !a32)) {
            *cond = i;
            return true;
        }
    if (!strncasecmp(suf, "hs", 2)) {
        *cond = 2;
        return true;
    }
    if (!strncasecmp(suf, "lo", 2)) {
        *cond = 3;
        return true;
    }
    return false;
}

static const im_mnem *mnem_find(const im_arch *a, const char *w, size_t wn)
{
    char low[32];
    if (wn == 0 || wn >= sizeof low)
        return NULL;
    for (size_t i = 0; i < wn; i++)
        low[i] = (char)tolower((unsigned char)w[i]);
    low[wn] = '\0';
    size_t lo = 0, hi = a->nmnems;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(a->mnems[mid].name, low);
        if (cmp == 0)
            return &a->mnems[mid];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The rows whose mnemonic may be the word w (itself, or w less a two-letter condition
 * suffix at its end or before its '.' suffix), in table order; every row when the index cannot hold them. */
static size_t mnem_rows(const im_arch *a, const char *w, size_t wn, uint16_t *out, size_t max)
{
    const im_mnem *m1 = mnem_find(a, w, wn);
    /* less the two letters at the end, or before the first '.' (vaddeq.f32) */
    const char *dot = memchr(w, '.', wn);
    const im_mnem *m2 = NULL;
    if (dot && dot - w > 2 && wn < 32) {
        char less[32];
        size_t at = (size_t)(dot - w) - 2;
        memcpy(less, w, at);
        memcpy(less + at, dot, wn - at - 2);
        m2 = mnem_find(a, less, wn - 2);
    }
    if (!m2 && wn > 2)
        m2 = mnem_find(a, w, wn - 2);
    size_t n1 = m1 ? m1->count : 0, n2 = m2 ? m2->count : 0;
    if (!a->mnems || n1 + n2 > max || a->nforms > 65535) {
        size_t n = 0;
        for (size_t i = 0; i < a->nforms && n < max; i++)
            out[n++] = (uint16_t)i;
        return n;
    }
    const uint16_t *l1 = m1 ? a->mnem_forms + m1->first : NULL;
    const uint16_t *l2 = m2 ? a->mnem_forms + m2->first : NULL;
    size_t i = 0, j = 0, n = 0;
    while (i < n1 || j < n2) {
        if (j >= n2 || (i < n1 && l1[i] < l2[j]))
            out[n++] = l1[i++];
        else
            out[n++] = l2[j++];
    }
    return n;
}

/* Relocated operators of a symbol: aarch64 #:lo12:EXPR (add, and loads/stores with an
 * unsigned offset), arm #:lower16:EXPR (movw) and #:upper16:EXPR (movt). */
enum { RO_NONE, RO_LO12, RO_LOWER16, RO_UPPER16 };
static const char *const ro_names[] = {"", "lo12", "lower16", "upper16"};

typedef struct relop {
    int which;      /* RO_*: RO_NONE when the text has none of a symbol */
    im_operand sym; /* IM_OP_SYM: label + addend */
} relop;

/* Find a relocated operator in ops. Of a symbol: the text goes to buf with the operator and
 * its expression replaced by #0 (the rows' immediate parsers take that), *r says which and
 * of what; of a constant: arm leaves the text to the imm16 parser (which takes
 * #:lower16:N), aarch64 replaces it by the low 12 bits of N. Returns 1 when buf holds the
 * text to match, 0 when ops is to be matched as it is, or a negative error. */
static int reloc_prepass(asmctx *c, const char *ops, char *buf, size_t n, relop *r)
{
    r->which = RO_NONE;
    if (c->t != IM_TARGET_AARCH64 && c->t != IM_TARGET_ARM)
        return 0;
    const char *p = ops, *start = NULL, *expr = NULL;
    int which = RO_NONE;
    for (; *p; p++) {
        if (*p != ':')
            continue;
        for (int w = RO_LO12; w <= RO_UPPER16; w++) {
            size_t wl = strlen(ro_names[w]);
            if ((w == RO_LO12) != (c->t == IM_TARGET_AARCH64) || strncasecmp(p + 1, ro_names[w], wl) ||
                p[1 + wl] != ':')
                continue;
            if (which)
                return im_fail(IM_ERR_SYNTAX, "more than one :%s: or :%s: in one instruction",
                               ro_names[which], ro_names[w]);
            which = w;
            start = p;
            expr = p + 2 + wl;
        }
    }
    if (!which)
        return 0;
    /* the '#' before the operator goes too */
    const char *q = start;
    while (q > ops && (q[-1] == ' ' || q[-1] == '\t'))
        q--;
    if (q > ops && q[-1] == '#')
        start = q - 1;
    const char *e = expr;
    im_operand v;
    im_parse_ctx ctx = {c, label_cb};
    int rc = im_parse_expr(&e, &v, &ctx);
    if (rc < 0)
        return rc;
    char repl[32];
    if (v.type == IM_OP_REL)
        return im_fail(IM_ERR_SYNTAX, ":%s: of a '.'-relative value is not supported",
                       ro_names[which]);
    if (v.type == IM_OP_IMM) {
        if (c->t == IM_TARGET_ARM)
            return 0;
        snprintf(repl, sizeof repl, "#%llu", (unsigned long long)(v.imm & 0xfff));
    } else {
        snprintf(repl, sizeof repl, "#0");
        r->which = which;
        r->sym = im_symref(v.label, v.imm);
    }
    size_t head = (size_t)(start - ops), tail = strlen(e);
    if (head + strlen(repl) + tail + 1 > n)
        return im_fail(IM_ERR_SYNTAX, "operands too long");
    memcpy(buf, ops, head);
    strcpy(buf + head, repl);
    strcat(buf, e);
    return 1;
}

/* The operand of row f that a relocated operator fills: the unsigned 12-bit immediate or
 * offset (aarch64 add, ldr/str), the imm16 of movw (:lower16:) or movt (:upper16:); a
 * negative error when the row has none. */
static int reloc_slot(const asmctx *c, const im_form *f, int which)
{
    static const char *const lo12[] = {"u12", "u12s1", "u12s2", "u12s4", "u12s8", "u12s16"};
    for (unsigned i = 0; i < f->nops; i++) {
        const char *kn = c->a->kinds[f->kinds[i]].name;
        if (which == RO_LO12) {
            for (size_t j = 0; j < sizeof lo12 / sizeof lo12[0]; j++)
                if (!strcmp(kn, lo12[j]))
                    return (int)i;
        } else if (!strcmp(kn, "imm16")) {
            const char *want = which == RO_LOWER16 ? "movw" : "movt";
            if (strcmp(f->mnem, want))
                return im_fail(IM_ERR_NO_ENCODING, ":%s: of a symbol goes with %s, not %s",
                               ro_names[which], want, f->mnem);
            return (int)i;
        }
    }
    return im_fail(IM_ERR_NO_ENCODING,
                   which == RO_LO12
                       ? ":lo12: of a symbol goes in add/sub #imm or a load/store's unsigned "
                         "offset [Xn, #:lo12:SYM]"
                       : ":%s: of a symbol goes in movw/movt",
                   ro_names[which]);
}

/* x86: a symbol in a memory operand is an address the buffer relocates: [rip + SYM]
 * (x86_64) or an absolute [SYM] / [SYM + index*scale] (a 32-bit displacement). */
static int mem_label_check(const asmctx *c, const im_form *f, const im_operand *ops)
{
    if (c->t != IM_TARGET_X86_64 && c->t != IM_TARGET_I386)
        return 0;
    for (unsigned i = 0; i < f->nops; i++)
        if (ops[i].type == IM_OP_MEM && ops[i].label >= 0 && ops[i].base != IM_NOREG &&
            ops[i].base != IM_REG_RIP)
            return im_fail(IM_ERR_NO_ENCODING,
                           "a symbol in a memory operand takes [rip + SYM] (x86_64) or [SYM] "
                           "(no base register)");
    return 0;
}

static int instruction(asmctx *c, const char *s)
{
    const char *e = s;
    while (*e && !isspace((unsigned char)*e))
        e++;
    size_t wn = (size_t)(e - s);
    const char *ops_text = e;
    im_skip_ws(&ops_text);
    cand cands[MAX_CANDS];
    int nc = 0;
    bool known = false;
    int first_err = 0, feat_err = 0, slot_err = 0;
    char first_detail[256] = "", feat_detail[256] = "", slot_detail[256] = "";
    im_parse_ctx ctx = {c, label_cb};
    size_t nsyms0 = c->nsyms;
    char rbuf[1024];
    relop ro;
    int prc = reloc_prepass(c, ops_text, rbuf, sizeof rbuf, &ro);
    if (prc < 0)
        return prc;
    const char *match_text = prc ? rbuf : ops_text;
    /* the rows to try: those of the word's mnemonic and, for a condition suffix, those of
     * the word less its last two letters, merged back into table order */
    uint16_t rows[2048];
    size_t nrows = mnem_rows(c->a, s, wn, rows, sizeof rows / sizeof rows[0]);
    for (size_t ri = 0; ri < nrows && nc < MAX_CANDS; ri++) {
        size_t i = rows[ri];
        const im_form *f = &c->a->forms[i];
        int cond;
        if (!c->a->form_ok(c->t, f) || !mnem_match(c->a, f, s, wn, &cond))
            continue;
        known = true;
        cand *k = &cands[nc];
        memset(k, 0, sizeof *k);
        k->form = (int)i;
        int rc = im_form_match(c->a, c->t, f, match_text, k->ops, &ctx);
        if (rc == 0 && ro.which) {
            im_fail_quiet(0); /* this reason is reported even after another row's */
            int slot = reloc_slot(c, f, ro.which);
            im_fail_quiet(first_err != 0);
            if (slot < 0) {
                /* the text fits the row, the operator does not: that is the reason */
                if (!slot_err) {
                    slot_err = slot;
                    snprintf(slot_detail, sizeof slot_detail, "%s", im_detail());
                }
                continue;
            }
            k->ops[slot] = ro.sym;
        }
        if (rc == 0)
            rc = mem_label_check(c, f, k->ops);
        if (rc == 0) {
            /* the operands fit a row the selected architecture or FPU lacks: that is the
             * reason to give, unless another row takes the text */
            char why[256];
            int fe = arm_row_allowed(c, f, s, wn, why, sizeof why);
            if (fe < 0) {
                if (!feat_err) {
                    feat_err = fe;
                    memcpy(feat_detail, why, sizeof why);
                }
                continue;
            }
        }
        if (rc < 0) {
            if (!first_err) {
                first_err = rc;
                snprintf(first_detail, sizeof first_detail, "%s", im_detail());
                im_fail_quiet(1); /* only the first reason is reported */
            }
            continue;
        }
        if (f->cond_op != 0xff)
            k->ops[f->cond_op] = im_cond((unsigned)cond);
        nc++;
    }
    im_fail_quiet(0);
    /* symbols first named here by a row that did not match are no use of the name */
    for (size_t i = nsyms0; i < c->nsyms; i++) {
        bool used = false;
        for (int k = 0; k < nc && !used; k++)
            for (unsigned j = 0; j < IM_MAX_OPS; j++)
                if ((cands[k].ops[j].type == IM_OP_LABEL || cands[k].ops[j].type == IM_OP_SYM ||
                     cands[k].ops[j].type == IM_OP_MEM) &&
                    cands[k].ops[j].label >= 0 &&
                    (cands[k].ops[j].label == c->syms[i].label ||
                     cands[k].ops[j].label == c->syms[i].toc_ph))
                    used = true;
        c->syms[i].phantom = !used;
    }
    if (!known)
        return im_fail(IM_ERR_UNKNOWN_MNEMONIC, "unknown mnemonic '%.*s'", (int)wn, s);
    if (!nc && feat_err)
        return im_fail(feat_err, "%s", feat_detail);
    if (!nc && slot_err)
        return im_fail(slot_err, "invalid operands for '%.*s': %s", (int)wn, s, slot_detail);
    if (!nc)
        return im_fail(first_err == IM_ERR_SYNTAX ? IM_ERR_SYNTAX : IM_ERR_NO_ENCODING,
                       "invalid operands for '%.*s': %s", (int)wn, s, first_detail);
    int drc = arm_d32_check(c, s, wn, ops_text);
    if (drc < 0)
        return drc;
    stmt st = {.kind = S_INSN, .nc = nc};
    st.c = malloc(sizeof(cand) * (size_t)nc);
    if (!st.c)
        return im_fail(IM_ERR_NOMEM, "out of memory");
    memcpy(st.c, cands, sizeof(cand) * (size_t)nc);
    int rc = add_stmt(c, &st);
    if (rc < 0)
        free(st.c);
    return rc;
}

/* ---- ARM: ldr rN, =value ---- */

static int form_index(const im_arch *a, const char *id)
{
    for (size_t i = 0; i < a->nforms; i++)
        if (!strcmp(a->forms[i].id, id))
            return (int)i;
    return -1;
}

/* One candidate of form `id` for operand text `ops_text` with condition cond, checked by
 * encoding it: 0 when it encodes, 1 when it does not, or a negative error. */
static int lit_cand(asmctx *c, const char *id, const char *ops_text, int cond, cand *k)
{
    int fi = form_index(c->a, id);
    if (fi < 0)
        return im_fail(IM_ERR_INVAL, "the A32 table has no row %s (ldr rN, =value needs it)", id);
    const im_form *f = &c->a->forms[fi];
    memset(k, 0, sizeof *k);
    k->form = fi;
    im_parse_ctx ctx = {c, label_cb};
    int rc = im_form_match(c->a, c->t, f, ops_text, k->ops, &ctx);
    if (rc < 0)
        return rc;
    if (f->cond_op != 0xff)
        k->ops[f->cond_op] = im_cond((unsigned)cond);
    if (f->rel >= 0)
        return 0; /* the literal load: checked in layout, where its pool entry is placed */
    uint8_t tmp[16];
    size_t len;
    im_fixup fx;
    im_fail_quiet(1);
    rc = c->a->encode(c->t, f, k->ops, tmp, &len, &fx);
    im_fail_quiet(0);
    return rc < 0 ? 1 : 0;
}

/* ldr{cond} Rt, =expr, as GNU as reads it: a constant that mov or mvn can make becomes that
 * instruction; anything else (another constant, label+addend) is a word of the literal
 * pool, loaded pc-relative (ldr_lit). Returns 1 when s is not such a statement. */
static int arm_ldr_literal(asmctx *c, const char *s)
{
    const char *e = s;
    while (*e && !isspace((unsigned char)*e))
        e++;
    size_t wn = (size_t)(e - s);
    int li = form_index(c->a, "ldr_lit");
    int cond;
    if (li < 0 || !mnem_match(c->a, &c->a->forms[li], s, wn, &cond))
        return 1;
    const char *comma = strchr(e, ',');
    if (!comma)
        return 1;
    const char *q = comma + 1;
    im_skip_ws(&q);
    if (*q != '=')
        return 1;
    const char *rb = e;
    im_skip_ws(&rb);
    const char *re = comma;
    while (re > rb && isspace((unsigned char)re[-1]))
        re--;
    int rn = (int)(re - rb);
    q++;
    im_skip_ws(&q);
    bool is_signed = *q == '-';
    im_operand v;
    im_parse_ctx ctx = {c, label_cb};
    int rc = im_parse_expr(&q, &v, &ctx);
    if (rc < 0)
        return rc;
    if ((rc = expect_end(q)) < 0)
        return rc;
    if (v.type == IM_OP_REL)
        return im_fail(IM_ERR_SYNTAX, "a '.'-relative literal (ldr rN, =.+N) is not supported");
    char text[128];
    stmt st = {.kind = S_INSN, .nc = 1};
    cand k;
    if (v.type == IM_OP_IMM) {
        if (v.imm < -(1ll << 31) || v.imm > 0xffffffffll)
            return im_fail(IM_ERR_RANGE, "literal 0x%llx does not fit 32 bits",
                           (unsigned long long)v.imm);
        uint32_t w = (uint32_t)v.imm;
        snprintf(text, sizeof text, "%.*s, #0x%x", rn, rb, w);
        rc = lit_cand(c, "mov_imm", text, cond, &k);
        if (rc == 1) {
            snprintf(text, sizeof text, "%.*s, #0x%x", rn, rb, ~w);
            rc = lit_cand(c, "mvn_imm", text, cond, &k);
        }
    } else {
        rc = 1;
    }
    if (rc == 1) {
        snprintf(text, sizeof text, "%.*s, .", rn, rb);
        rc = lit_cand(c, "ldr_lit", text, cond, &k);
    }
    if (rc < 0 && rc != IM_ERR_INVAL && rc != IM_ERR_NOMEM) {
        char why[256];
        snprintf(why, sizeof why, "%s", im_detail());
        return im_fail(rc, "invalid operands for '%.*s': %s", (int)wn, s, why);
    }
    if (rc < 0)
        return rc;
    if (c->a->forms[k.form].rel >= 0) {
        int label = pool_entry(c, &v, is_signed);
        if (label < 0)
            return label;
        im_operand *t = &k.ops[c->a->forms[k.form].rel];
        t->type = IM_OP_LABEL;
        t->label = label;
        t->imm = 0;
        st.lit = true;
    }
    st.c = malloc(sizeof k);
    if (!st.c)
        return im_fail(IM_ERR_NOMEM, "out of memory");
    *st.c = k;
    if ((rc = add_stmt(c, &st)) < 0)
        free(st.c);
    return rc;
}

/* Remove comments: per-target line comment characters and C comments (kept: newlines). */
static char *clean_source(const im_arch *a, const char *src, size_t len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    bool in_c = false, in_line = false;
    size_t clen = strlen(a->comment);
    for (size_t i = 0; i < len; i++) {
        char ch = src[i];
        if (in_c) {
            if (ch == '*' && i + 1 < len && src[i + 1] == '/') {
                in_c = false;
                i++;
                out[o++] = ' ';
            } else if (ch == '\n') {
                out[o++] = '\n';
            }
            continue;
        }
        if (in_line) {
            if (ch == '\n') {
                in_line = false;
                out[o++] = '\n';
            }
            continue;
        }
        if (ch == '/' && i + 1 < len && src[i + 1] == '*') {
            in_c = true;
            i++;
            continue;
        }
        if (i + clen <= len && !memcmp(src + i, a->comment, clen)) {
            /* arm: '@' starts a comment, except in NAME@toc (include/imago/asm.h) */
            bool toc = clen == 1 && ch == '@' && o > 0 && sym_char(out[o - 1]) && i + 3 < len &&
                       !strncasecmp(src + i + 1, "toc", 3) &&
                       (i + 4 == len || !sym_char(src[i + 4]));
            if (!toc) {
                in_line = true;
                continue;
            }
        }
        out[o++] = ch == '\0' ? ' ' : ch;
    }
    out[o] = '\0';
    return out;
}

/* NAME@toc: note where each NAME starts (label_cb gives it the TOC label) and blank the
 * "@toc" out, so the operand parsers read NAME. Another NAME@suffix is an error. */
static int scan_toc(asmctx *c, char *s)
{
    c->ntocref = 0;
    for (char *p = strchr(s, '@'); p; p = strchr(p + 1, '@')) {
        if (p == s || !sym_char(p[-1]))
            continue; /* .type f, @function */
        char *b = p;
        while (b > s && sym_char(b[-1]))
            b--;
        const char *e = p + 1;
        while (sym_char(*e))
            e++;
        if ((size_t)(e - p - 1) != 3 || strncasecmp(p + 1, "toc", 3) || !sym_start(*b) ||
            isdigit((unsigned char)*b))
            return im_fail(IM_ERR_SYNTAX,
                           "'%.*s': unknown symbol suffix (imago knows NAME@toc, the address of "
                           "an import's TOC slot)",
                           (int)(e - b), b);
        if (c->ntocref == (int)(sizeof c->tocref / sizeof c->tocref[0]))
            return im_fail(IM_ERR_SYNTAX, "too many NAME@toc in one statement");
        c->tocref[c->ntocref++] = b;
        memset(p, ' ', 4);
    }
    return 0;
}

static int statement(asmctx *c, char *s)
{
    int trc = scan_toc(c, s);
    if (trc < 0)
        return trc;
    for (;;) {
        im_skip_ws((const char **)&s);
        if (!*s)
            return 0;
        /* labels */
        if (sym_start(*s)) {
            char *e = s;
            while (sym_char(*e))
                e++;
            if (*e == ':') {
                sym *y = get_sym(c, s, (size_t)(e - s));
                if (!y)
                    return im_fail(IM_ERR_NOMEM, "out of memory");
                if (y->def_line)
                    return im_fail(IM_ERR_SYMBOL, "symbol '%s' already defined on line %d", y->name,
                                   y->def_line);
                if (y->import_line)
                    return im_fail(IM_ERR_SYMBOL,
                                   "symbol '%s' is imported (.import on line %d) and cannot be "
                                   "defined here",
                                   y->name, y->import_line);
                y->def_line = c->line;
                stmt st = {.kind = S_LABEL, .label = y->label};
                int rc = add_stmt(c, &st);
                if (rc < 0)
                    return rc;
                s = e + 1;
                continue;
            }
        }
        break;
    }
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    if (*s == '.') {
        const char *q = s + 1;
        if (isalpha((unsigned char)*q) || *q == '_')
            return directive(c, s);
    }
    if (c->t == IM_TARGET_ARM) {
        int rc = arm_ldr_literal(c, s);
        if (rc != 1)
            return rc;
    }
    if ((c->t == IM_TARGET_X86_64 || c->t == IM_TARGET_I386) && !c->intel)
        return im_fail(IM_ERR_SYNTAX,
                       "x86 source must select '.intel_syntax noprefix' first (imago reads Intel syntax, as GNU as does after that directive)");
    return instruction(c, s);
}

/* ---- layout and emission ---- */

static void resolve_ops(const asmctx *c, const cand *k, int64_t at, im_operand *out)
{
    const im_form *f = &c->a->forms[k->form];
    bool page = f->flags & IM_FF_PAGE; /* as the buffer does: the page distance */
    for (unsigned i = 0; i < f->nops; i++) {
        out[i] = k->ops[i];
        bool ext = (k->ops[i].type == IM_OP_LABEL || k->ops[i].type == IM_OP_SYM) && c->extlab &&
                   k->ops[i].label >= 0 && c->extlab[k->ops[i].label];
        if (ext) {
            /* an import or its TOC slot: bound at link time. A branch to it takes the
             * longest form (x86 rel32, as GNU as does for an undefined symbol). */
            bool x86 = c->t == IM_TARGET_X86_64 || c->t == IM_TARGET_I386;
            if (k->ops[i].type == IM_OP_LABEL) {
                out[i].type = IM_OP_REL;
                out[i].imm = x86 && !page ? 0x10000000 : 0;
            } else {
                out[i].imm = k->ops[i].imm;
            }
        } else if (k->ops[i].type == IM_OP_LABEL) {
            int64_t lab = c->addr[k->ops[i].label];
            out[i].type = IM_OP_REL;
            out[i].imm = lab < 0 ? 0
                         : page ? im_page_delta(at, lab + k->ops[i].imm)
                                : lab + k->ops[i].imm - at;
        } else if (page && k->ops[i].type == IM_OP_REL) {
            out[i].imm = im_page_delta(at, (int64_t)((uint64_t)at + (uint64_t)k->ops[i].imm));
        } else if (k->ops[i].type == IM_OP_SYM) {
            int64_t lab = c->addr[k->ops[i].label];
            out[i].imm = (lab < 0 ? 0 : lab) + k->ops[i].imm;
        }
    }
}

static int layout(asmctx *c, int *err_line)
{
    size_t nl = c->nlabels ? c->nlabels : 1;
    c->addr = malloc(sizeof(int64_t) * nl);
    if (!c->addr)
        return im_fail(IM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < nl; i++)
        c->addr[i] = -1;
    for (int pass = 0; pass < 64; pass++) {
        bool changed = false;
        int64_t at = 0;
        for (size_t i = 0; i < c->nst; i++) {
            stmt *s = &c->st[i];
            switch (s->kind) {
            case S_LABEL:
                if (c->addr[s->label] != at)
                    changed = true;
                c->addr[s->label] = at;
                break;
            case S_INSN: {
                int rc = 0;
                size_t len = 0;
                int ci;
                for (ci = s->ci; ci < s->nc; ci++) {
                    im_operand ops[IM_MAX_OPS];
                    uint8_t tmp[16];
                    im_fixup fx;
                    resolve_ops(c, &s->c[ci], at, ops);
                    rc = c->a->encode(c->t, &c->a->forms[s->c[ci].form], ops, tmp, &len, &fx);
                    if (rc == 0)
                        break;
                }
                if (ci == s->nc) {
                    *err_line = s->line;
                    if (s->lit && rc == IM_ERR_RANGE) {
                        const cand *k = &s->c[0];
                        int64_t d = c->addr[k->ops[c->a->forms[k->form].rel].label] - at - 8;
                        return im_fail(IM_ERR_RANGE,
                                       "invalid literal constant: pool needs to be closer "
                                       "(its word is %lld bytes from pc, a load reaches "
                                       "4095): place a .ltorg nearer",
                                       (long long)d);
                    }
                    return rc;
                }
                if (ci != s->ci)
                    changed = true;
                s->ci = ci;
                at += (int64_t)len;
                break;
            }
            case S_DATA: at += s->size; break;
            case S_ALIGN: at += (int64_t)((s->size - (uint64_t)at % s->size) % s->size); break;
            case S_SPACE: at += (int64_t)s->count; break;
            }
            if (at > (int64_t)IM_ASM_MAX_CODE) {
                *err_line = s->line;
                return im_fail(IM_ERR_RANGE, "code larger than %u MiB (IM_ASM_MAX_CODE)",
                               IM_ASM_MAX_CODE >> 20);
            }
        }
        if (!changed)
            return 0;
    }
    return im_fail(IM_ERR_INVAL, "layout did not converge");
}

/* x86 padding in code, as GNU as 2.40 pads (-mtune=generic): the longest NOP of the
 * mode's table first, then the rest the same way. */
static int x86_pad(im_buf *b, bool x64, size_t pad)
{
    static const uint8_t *const n64[] = {
        NULL,
        (const uint8_t *)"\x90",
        (const uint8_t *)"\x66\x90",
        (const uint8_t *)"\x0f\x1f\x00",
        (const uint8_t *)"\x0f\x1f\x40\x00",
        (const uint8_t *)"\x0f\x1f\x44\x00\x00",
        (const uint8_t *)"\x66\x0f\x1f\x44\x00\x00",
        (const uint8_t *)"\x0f\x1f\x80\x00\x00\x00\x00",
        (const uint8_t *)"\x0f\x1f\x84\x00\x00\x00\x00\x00",
        (const uint8_t *)"\x66\x0f\x1f\x84\x00\x00\x00\x00\x00",
        (const uint8_t *)"\x66\x2e\x0f\x1f\x84\x00\x00\x00\x00\x00",
        (const uint8_t *)"\x66\x66\x2e\x0f\x1f\x84\x00\x00\x00\x00\x00",
    };
    static const uint8_t *const n32[] = {
        NULL,
        (const uint8_t *)"\x90",
        (const uint8_t *)"\x66\x90",
        (const uint8_t *)"\x8d\x76\x00",
        (const uint8_t *)"\x8d\x74\x26\x00",
        NULL, /* 5 = 4 + 1 */
        (const uint8_t *)"\x8d\xb6\x00\x00\x00\x00",
        (const uint8_t *)"\x8d\xb4\x26\x00\x00\x00\x00",
    };
    size_t max = x64 ? 11 : 7;
    /* from 8 (x86_64) or 3 (i386) of the longest NOPs on, GNU as jumps over the padding */
    if (pad >= (x64 ? 88 : 21)) {
        uint8_t jmp[5];
        size_t jn;
        if (pad - 2 <= 127) {
            jmp[0] = 0xeb;
            jmp[1] = (uint8_t)(pad - 2);
            jn = 2;
        } else {
            jmp[0] = 0xe9;
            im_put32(jmp + 1, (uint32_t)(pad - 5));
            jn = 5;
        }
        int rc = im_buf_bytes(b, jmp, jn);
        if (rc < 0)
            return rc;
        pad -= jn;
    }
    while (pad) {
        size_t n = pad > max ? max : pad;
        if (!x64 && n == 5)
            n = 4;
        int rc = im_buf_bytes(b, (x64 ? n64 : n32)[n], n);
        if (rc < 0)
            return rc;
        pad -= n;
    }
    return 0;
}

/* A load from the literal pool, its entry's address known: encoded by its row, except that
 * for a word right at pc (offset 0) GNU as sets the U bit clear ("ldr rN, [pc, #-0]"): the
 * sign bit of the literal field (bit 12 of its value, placed by the row's slices) is then
 * cleared. */
static int emit_lit(asmctx *c, const stmt *s)
{
    const cand *k = &s->c[s->ci];
    const im_form *f = &c->a->forms[k->form];
    im_operand ops[IM_MAX_OPS];
    resolve_ops(c, k, (int64_t)s->off, ops);
    uint8_t w[16];
    size_t len;
    im_fixup fx;
    int rc = c->a->encode(c->t, f, ops, w, &len, &fx);
    if (rc < 0)
        return rc;
    if (ops[f->rel].imm == 8 && len == 4) {
        uint32_t word = (uint32_t)w[0] | (uint32_t)w[1] << 8 | (uint32_t)w[2] << 16 |
                        (uint32_t)w[3] << 24;
        for (unsigned i = 0; i < f->nslices; i++) {
            const im_slice *sl = &f->slices[i];
            if (sl->op == f->rel && sl->vlo <= 12 && 12 < sl->vlo + sl->width)
                word &= ~(1u << (sl->pos + 12 - sl->vlo));
        }
        im_put32(w, word);
    }
    return im_buf_bytes(c->b, w, len);
}

static int emit(asmctx *c, int *err_line)
{
    static const uint8_t a64_nop[4] = {0x1f, 0x20, 0x03, 0xd5};
    static const uint8_t a32_nop[4] = {0x00, 0xf0, 0x20, 0xe3};
    static const uint8_t a32_mov_nop[4] = {0x00, 0x00, 0xa0, 0xe1}; /* mov r0, r0 */
    for (size_t i = 0; i < c->nst; i++) {
        stmt *s = &c->st[i];
        int rc = 0;
        *err_line = s->line;
        s->off = im_buf_offset(c->b);
        switch (s->kind) {
        case S_LABEL: rc = im_buf_bind(c->b, s->label); break;
        case S_INSN:
            rc = s->lit ? emit_lit(c, s) : im_buf_emit(c->b, s->c[s->ci].form, s->c[s->ci].ops);
            break;
        case S_DATA:
            if (s->val.type == IM_OP_SYM) {
                rc = im_buf_addr(c->b, s->size, s->val.label, s->val.imm);
            } else {
                uint8_t bytes[8];
                im_put64(bytes, (uint64_t)s->val.imm);
                rc = im_buf_bytes(c->b, bytes, s->size);
            }
            break;
        case S_ALIGN: {
            size_t at = im_buf_offset(c->b);
            size_t pad = (s->size - at % s->size) % s->size;
            const uint8_t *nop = c->t == IM_TARGET_AARCH64 ? a64_nop
                                 : c->t != IM_TARGET_ARM ? NULL
                                 : arm_archs[c->arch].nop ? a32_nop
                                                           : a32_mov_nop; /* before ARMv6K */
            if (!nop) {
                rc = x86_pad(c->b, c->t == IM_TARGET_X86_64, pad);
            } else {
                /* as GNU as pads ARM code sections: zeros up to a word boundary, then NOPs;
                 * on arm only the low 6 bits of the padding's length get NOPs, the rest
                 * zeros (its MAX_MEM_FOR_RS_ALIGN_CODE is 63) */
                size_t nops = c->t == IM_TARGET_ARM && pad > 63 ? pad & 63 : pad;
                rc = im_buf_fill(c->b, nops % 4, 0);
                for (size_t j = nops % 4; j < nops && rc == 0; j += 4)
                    rc = im_buf_bytes(c->b, nop, 4);
                if (rc == 0)
                    rc = im_buf_fill(c->b, pad - nops, 0);
            }
            break;
        }
        case S_SPACE: rc = im_buf_fill(c->b, s->count, s->byte); break;
        }
        if (rc < 0)
            return rc;
    }
    *err_line = 0;
    for (size_t i = 0; i < c->nsyms; i++) {
        sym *y = &c->syms[i];
        if (y->global) {
            int rc = im_buf_export(c->b, y->name, y->label, (im_sym_kind)y->kind);
            if (rc < 0)
                return rc;
        }
    }
    int rc = im_buf_finish(c->b);
    if (rc < 0) {
        size_t off;
        im_buf_error(c->b, &off, NULL);
        /* name the instruction at the failing offset */
        for (size_t i = 0; i < c->nst; i++)
            if (c->st[i].kind == S_INSN && c->st[i].off == off)
                *err_line = c->st[i].line;
    }
    return rc;
}

/* Imports: each imported name gets the buffer's import label (and, used as NAME@toc, its
 * TOC label); the statements' references to the name's own label and to its placeholder are
 * rewritten to those. NAME@toc of a name that is not imported is an error. */
static int finish_imports(asmctx *c, int *line)
{
    size_t n0 = c->nlabels;
    int *map = malloc(sizeof(int) * (n0 ? n0 : 1));
    if (!map)
        return im_fail(IM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n0; i++)
        map[i] = (int)i;
    int rc = 0;
    for (size_t i = 0; i < c->nsyms && rc == 0; i++) {
        sym *y = &c->syms[i];
        if (!y->import_line) {
            if (y->toc_ph >= 0) {
                *line = y->toc_line;
                rc = im_fail(IM_ERR_UNDEF_LABEL,
                             "'%s@toc': '%s' is not imported (NAME@toc is the TOC slot of an "
                             "import: add '.import %s')",
                             y->name, y->name, y->name);
            }
            continue;
        }
        if (y->global) {
            *line = y->import_line;
            rc = im_fail(IM_ERR_SYMBOL, "'%s' is imported (.import) and exported (.globl): a "
                                        "module exports only what it defines",
                         y->name);
            break;
        }
        int il = im_buf_import(c->b, y->name, (im_sym_kind)y->kind);
        if (il < 0) {
            *line = y->import_line;
            rc = il;
            break;
        }
        map[y->label] = il;
        note_label(c, il);
        if (y->toc_ph >= 0) {
            int tl = im_buf_toc(c->b, il);
            if (tl < 0) {
                *line = y->toc_line;
                rc = tl;
                break;
            }
            map[y->toc_ph] = tl;
            note_label(c, tl);
        }
    }
    if (rc == 0 && c->nlabels) {
        c->extlab = calloc(c->nlabels, sizeof *c->extlab);
        if (!c->extlab)
            rc = im_fail(IM_ERR_NOMEM, "out of memory");
    }
    if (rc == 0) {
        for (size_t i = 0; i < c->nsyms; i++) {
            sym *y = &c->syms[i];
            if (y->import_line) {
                c->extlab[map[y->label]] = true;
                if (y->toc_ph >= 0)
                    c->extlab[map[y->toc_ph]] = true;
            }
        }
        for (size_t i = 0; i < c->nst; i++) {
            stmt *st = &c->st[i];
            if (st->kind == S_DATA && st->val.type == IM_OP_SYM && st->val.label >= 0 &&
                (size_t)st->val.label < n0)
                st->val.label = map[st->val.label];
            if (st->kind != S_INSN)
                continue;
            for (int k = 0; k < st->nc; k++)
                for (unsigned j = 0; j < IM_MAX_OPS; j++) {
                    im_operand *o = &st->c[k].ops[j];
                    if ((o->type == IM_OP_LABEL || o->type == IM_OP_SYM || o->type == IM_OP_MEM) &&
                        o->label >= 0 && (size_t)o->label < n0)
                        o->label = map[o->label];
                }
        }
    }
    free(map);
    return rc;
}

int im_asm(im_target t, const char *src, size_t len, im_buf **out, int *line)
{
    asmctx c = {0};
    *out = NULL;
    *line = 0;
    im_clear_detail();
    c.t = t;
    c.a = im_arch_for(t);
    if (!c.a)
        return im_fail(IM_ERR_TARGET, "unknown target %d", (int)t);
    c.b = im_buf_new(t);
    if (!c.b)
        return im_fail(IM_ERR_NOMEM, "out of memory");
    arm_defaults(&c);
    char *text = clean_source(c.a, src, len);
    int rc = text ? 0 : im_fail(IM_ERR_NOMEM, "out of memory");
    char *p = text;
    c.line = 1;
    while (rc == 0 && p && *p) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        /* ';' separates statements on one line */
        char *q = p;
        while (rc == 0) {
            char *semi = strchr(q, ';');
            if (semi)
                *semi = '\0';
            rc = statement(&c, q);
            if (!semi)
                break;
            q = semi + 1;
        }
        if (rc < 0) {
            *line = c.line;
            break;
        }
        if (!nl)
            break;
        p = nl + 1;
        c.line++;
    }
    if (rc == 0 && c.t == IM_TARGET_ARM) {
        /* the pool left at the end of the section (text) goes there */
        c.other_section = NULL;
        rc = pool_flush(&c);
    }
    if (rc == 0)
        rc = finish_imports(&c, line);
    if (rc == 0) {
        for (size_t i = 0; i < c.nsyms; i++) {
            sym *y = &c.syms[i];
            if (!y->def_line && !y->phantom && !y->import_line) {
                *line = y->use_line;
                rc = im_fail(IM_ERR_UNDEF_LABEL,
                             "undefined symbol '%s' (if another module or the host provides "
                             "it, declare it with '.import %s')",
                             y->name, y->name);
                break;
            }
        }
    }
    if (rc == 0)
        rc = layout(&c, line);
    if (rc == 0)
        rc = emit(&c, line);
    free(text);
    free(c.addr);
    free(c.extlab);
    for (size_t i = 0; i < c.nst; i++)
        free(c.st[i].c);
    free(c.st);
    for (size_t i = 0; i < c.nsyms; i++)
        free(c.syms[i].name);
    free(c.syms);
    free(c.pool);
    if (rc < 0) {
        im_buf_free(c.b);
        return rc;
    }
    *out = c.b;
    return 0;
}

int im_asm_one(im_target t, const char *text, uint8_t *out, size_t *len, int *form)
{
    asmctx c = {0};
    c.t = t;
    c.a = im_arch_for(t);
    c.intel = true;
    arm_defaults(&c);
    if (!c.a)
        return im_fail(IM_ERR_TARGET, "unknown target %d", (int)t);
    char line[512];
    snprintf(line, sizeof line, "%s", text);
    int rc = instruction(&c, line);
    if (rc < 0)
        return rc;
    stmt *s = &c.st[0];
    rc = IM_ERR_NO_ENCODING;
    /* When every row refuses, a row that refused only as UNPREDICTABLE names the error:
     * the text is an instruction (GNU as takes it, warning or not), not a bad operand. */
    char unpred[256] = "";
    for (int ci = 0; ci < s->nc; ci++) {
        im_fixup fx;
        rc = c.a->encode(t, &c.a->forms[s->c[ci].form], s->c[ci].ops, out, len, &fx);
        if (rc == 0) {
            *form = s->c[ci].form;
            break;
        }
        if (rc == IM_ERR_UNPREDICTABLE && !unpred[0])
            snprintf(unpred, sizeof unpred, "%s", im_detail());
    }
    if (rc < 0 && unpred[0])
        rc = im_fail(IM_ERR_UNPREDICTABLE, "%s", unpred);
    free(s->c);
    free(c.st);
    return rc;
}
