/* x86 (x86_64 and i386): the operand kinds of encoders/x86/kinds.def and the encoder that
 * interprets a row's Intel-notation encoding (prefixes, REX, opcode, ModRM/SIB, immediate).
 * Hand-written code here is per operand kind; instructions are rows of encoders/x86/ tables (.tbl).
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "core.h"
#include "form.h"

enum {
#define KIND(n, c, b) XK_##n,
#include "kinds.def"
#undef KIND
    XK_COUNT
};

static const im_kind x86_kinds[] = {
#define KIND(n, c, b) {#n, IM_KC_##c, b},
#include "kinds.def"
#undef KIND
};

#define K(n) XK_##n
#include "x86_tbl.h"
#undef K

static const char *const r8_names[20] = {"al",   "cl",   "dl",  "bl",   "spl",  "bpl",  "sil",
                                         "dil",  "r8b",  "r9b", "r10b", "r11b", "r12b", "r13b",
                                         "r14b", "r15b", "ah",  "ch",   "dh",   "bh"};
static const char *const r16_names[16] = {"ax",   "cx",   "dx",   "bx",  "sp",   "bp",
                                          "si",   "di",   "r8w",  "r9w", "r10w", "r11w",
                                          "r12w", "r13w", "r14w", "r15w"};
static const char *const r32_names[16] = {"eax",  "ecx",  "edx",  "ebx", "esp",  "ebp",
                                          "esi",  "edi",  "r8d",  "r9d", "r10d", "r11d",
                                          "r12d", "r13d", "r14d", "r15d"};
static const char *const r64_names[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                          "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
static const char *const xmm_names[16] = {"xmm0",  "xmm1",  "xmm2",  "xmm3", "xmm4",  "xmm5",
                                          "xmm6",  "xmm7",  "xmm8",  "xmm9", "xmm10", "xmm11",
                                          "xmm12", "xmm13", "xmm14", "xmm15"};
#define IM_X86_AH 16 /* r8 numbers 16..19: ah, ch, dh, bh */

static bool is64(im_target t)
{
    return t == IM_TARGET_X86_64;
}
static unsigned nregs(im_target t)
{
    return is64(t) ? 16 : 8;
}

/* The register file of a register (or register-or-memory) kind; NULL for the others. */
static const char *const *reg_file(unsigned kind, unsigned *n)
{
    switch (kind) {
    case XK_r8:
    case XK_al:
    case XK_cl:
    case XK_rm8: *n = 20; return r8_names;
    case XK_r16:
    case XK_ax:
    case XK_rm16: *n = 16; return r16_names;
    case XK_r32:
    case XK_r32x:
    case XK_eax:
    case XK_rm32: *n = 16; return r32_names;
    case XK_r64:
    case XK_rax:
    case XK_rm64: *n = 16; return r64_names;
    case XK_xmm:
    case XK_xmm_m32:
    case XK_xmm_m64:
    case XK_xmm_m128: *n = 16; return xmm_names;
    default: *n = 0; return NULL;
    }
}

/* The register numbers each register (or register-or-memory) kind takes: [x86_64?], bit
 * r for register r (r8: 16..19 are ah..bh; r32x: not eax); only the fixed register for
 * al, ax, eax, rax and cl. The encoder's fast check reads it directly; reg_exists and
 * fixed_reg derive from it. */
static const uint32_t x86_kind_regs[XK_COUNT][2] = {
    [XK_r8] = {0xf000fu, 0xfffffu},
    [XK_rm8] = {0xf000fu, 0xfffffu},
    [XK_al] = {1, 1},
    [XK_cl] = {2, 2},
    [XK_r16] = {0xffu, 0xffffu},
    [XK_rm16] = {0xffu, 0xffffu},
    [XK_ax] = {1, 1},
    [XK_r32] = {0xffu, 0xffffu},
    [XK_rm32] = {0xffu, 0xffffu},
    [XK_eax] = {1, 1},
    [XK_r32x] = {0xfeu, 0xfffeu},
    [XK_r64] = {0, 0xffffu},
    [XK_rm64] = {0, 0xffffu},
    [XK_rax] = {0, 1},
    [XK_xmm] = {0xffu, 0xffffu},
    [XK_xmm_m32] = {0xffu, 0xffffu},
    [XK_xmm_m64] = {0xffu, 0xffffu},
    [XK_xmm_m128] = {0xffu, 0xffffu},
};

/* The register the kind fixes (accumulator, cl), or -1: the one register its row takes. */
static int fixed_reg(unsigned kind)
{
    uint32_t m = x86_kind_regs[kind][1];
    return m && !(m & (m - 1)) ? __builtin_ctz(m) : -1;
}

/* Does register number r of this kind's file exist in t's mode? (For a kind that fixes
 * its register, whether r exists at all: the fixed register is checked apart.) */
static bool reg_exists(im_target t, unsigned kind, unsigned r)
{
    /* the general kind of the same register file, + 1 (0: the kind is general) */
    static const uint8_t file_of_fixed[XK_COUNT] = {
        [XK_al] = XK_r8 + 1,   [XK_cl] = XK_r8 + 1,   [XK_ax] = XK_r16 + 1,
        [XK_eax] = XK_r32 + 1, [XK_rax] = XK_r64 + 1,
    };
    if (file_of_fixed[kind])
        kind = file_of_fixed[kind] - 1u;
    return r < 32 && (x86_kind_regs[kind][is64(t)] >> r & 1u);
}

/* The word at s (letters and digits, as a register name or size keyword is), lower-cased
 * into w; its length, or 0 when it is no such word or too long to be one. A '.' or '_'
 * after it makes it part of a longer symbol (as im_match_word decides). */
static size_t name_word(const char *s, char w[8])
{
    size_t n = 0;
    while (isalnum((unsigned char)s[n])) {
        if (n == 7)
            return 0;
        w[n] = (char)tolower((unsigned char)s[n]);
        n++;
    }
    if (s[n] == '_' || s[n] == '.')
        return 0;
    w[n] = '\0';
    return n;
}

static int parse_reg(const char **p, const char *const *names, unsigned n)
{
    char w[8];
    size_t len = name_word(*p, w);
    if (!len)
        return -1;
    for (unsigned i = 0; i < n; i++)
        if (!strcmp(w, names[i])) {
            *p += len;
            return (int)i;
        }
    return -1;
}

/* Address registers: 64-bit names in 64-bit mode, 32-bit names in 32-bit mode. */
static int parse_areg(im_target t, const char **p)
{
    if (is64(t)) {
        if (im_match_word(p, "rip"))
            return IM_REG_RIP;
        return parse_reg(p, r64_names, 16);
    }
    return parse_reg(p, r32_names, 8);
}

/* The memory operand size of a kind, in bytes; 0 for any size (lea). */
static unsigned mem_size(unsigned kind)
{
    switch (kind) {
    case XK_rm8:
    case XK_m8:
    case XK_moffs8: return 1;
    case XK_rm16:
    case XK_m16:
    case XK_moffs16: return 2;
    case XK_rm64:
    case XK_m64:
    case XK_xmm_m64: return 8;
    case XK_m128:
    case XK_xmm_m128: return 16;
    case XK_m: return 0;
    default: return 4;
    }
}

static const char *size_word(unsigned size)
{
    switch (size) {
    case 16: return "XMMWORD";
    case 8: return "QWORD";
    case 4: return "DWORD";
    case 2: return "WORD";
    default: return "BYTE";
    }
}

/* [SIZE PTR] [ base + index*scale + disp ]; disp may name one symbol (a label id in
 * op->label, added to the displacement: the text assembler's [rip + SYM], [SYM]). */
static int parse_mem(im_target t, unsigned size, const char **p, im_operand *op,
                     const im_parse_ctx *ctx)
{
    const char *s = *p;
    static const unsigned sizes[] = {1, 2, 4, 8, 16};
    for (unsigned i = 0; i < 5; i++) {
        const char *q = s;
        if (im_match_word(&q, size_word(sizes[i]))) {
            im_skip_ws(&q);
            if (!im_match_word(&q, "PTR"))
                return im_fail(IM_ERR_SYNTAX, "expected PTR after %s", size_word(sizes[i]));
            if (size && sizes[i] != size)
                return im_fail(IM_ERR_NO_ENCODING, "operand size %s does not fit this form",
                               size_word(sizes[i]));
            s = q;
            im_skip_ws(&s);
            break;
        }
    }
    if (*s != '[')
        return im_fail(IM_ERR_NO_ENCODING, "expected a memory operand");
    s++;
    im_operand m = im_mem(IM_NOREG, IM_NOREG, 1, 0);
    uint64_t disp = 0;
    bool first = true;
    for (;;) {
        im_skip_ws(&s);
        if (*s == ']') {
            if (first)
                return im_fail(IM_ERR_SYNTAX, "empty memory operand");
            s++;
            break;
        }
        int neg = 0;
        if (*s == '+' || *s == '-') {
            neg = *s == '-';
            s++;
            im_skip_ws(&s);
        } else if (!first) {
            return im_fail(IM_ERR_SYNTAX, "expected '+', '-' or ']' in memory operand");
        }
        first = false;
        int r = parse_areg(t, &s);
        if (r >= 0) {
            if (neg)
                return im_fail(IM_ERR_NO_ENCODING, "a register cannot be subtracted");
            im_skip_ws(&s);
            if (*s == '*') {
                s++;
                im_skip_ws(&s);
                uint64_t sc;
                int rc = im_parse_number(&s, &sc);
                if (rc < 0)
                    return rc;
                if (sc != 1 && sc != 2 && sc != 4 && sc != 8)
                    return im_fail(IM_ERR_NO_ENCODING, "scale must be 1, 2, 4 or 8");
                if (m.index != IM_NOREG || r == IM_REG_RIP)
                    return im_fail(IM_ERR_NO_ENCODING, "more than one index register");
                m.index = (uint8_t)r;
                m.scale = (uint8_t)sc;
            } else if (m.base == IM_NOREG) {
                m.base = (uint8_t)r;
            } else if (m.index == IM_NOREG && r != IM_REG_RIP) {
                m.index = (uint8_t)r;
                m.scale = 1;
            } else {
                return im_fail(IM_ERR_NO_ENCODING, "too many registers in memory operand");
            }
            continue;
        }
        if (isalpha((unsigned char)*s) || *s == '_' || *s == '.' || *s == '$') {
            const char *b = s;
            while (isalnum((unsigned char)*s) || *s == '_' || *s == '.' || *s == '$')
                s++;
            if (neg || m.label >= 0)
                return im_fail(IM_ERR_SYNTAX, "a memory operand may add one symbol ('%.*s')",
                               (int)(s - b), b);
            if (!ctx || !ctx->label)
                return im_fail(IM_ERR_SYNTAX, "symbol '%.*s' not allowed here", (int)(s - b), b);
            int label = ctx->label(ctx->user, b, (size_t)(s - b));
            if (label < 0)
                return label;
            m.label = label;
            continue;
        }
        uint64_t v;
        int rc = im_parse_number(&s, &v);
        if (rc < 0)
            return rc;
        disp = neg ? disp - v : disp + v;
    }
    m.imm = (int64_t)disp;
    *op = m;
    *p = s;
    return 0;
}

static bool is_reg_name(const char *s)
{
    char w[8];
    if (!name_word(s, w))
        return false;
    static const char *const words[] = {"byte", "word", "dword", "qword", "xmmword", "ptr"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strcmp(w, words[i]))
            return true;
    const char *q = s;
    return parse_reg(&q, r8_names, 20) >= 0 || parse_reg(&q, r16_names, 16) >= 0 ||
           parse_reg(&q, r32_names, 16) >= 0 || parse_reg(&q, r64_names, 16) >= 0 ||
           parse_reg(&q, xmm_names, 16) >= 0;
}

static int parse_imm(const char **p, im_operand *op, const im_parse_ctx *ctx)
{
    const char *s = *p;
    if (is_reg_name(s))
        return im_fail(IM_ERR_NO_ENCODING, "expected an immediate, not a register");
    if (im_match_word(&s, "OFFSET")) {
        im_skip_ws(&s);
        if (im_match_word(&s, "FLAT:"))
            im_skip_ws(&s);
    }
    if (*s == '[')
        return im_fail(IM_ERR_NO_ENCODING, "expected an immediate, not a memory operand");
    int rc = im_parse_expr(&s, op, ctx);
    if (rc < 0)
        return rc;
    if (op->type == IM_OP_REL)
        return im_fail(IM_ERR_NO_ENCODING, "'.' is not an immediate");
    if (op->type == IM_OP_LABEL)
        op->type = IM_OP_SYM;
    *p = s;
    return 0;
}

static int x86_parse(im_target t, unsigned kind, const char **p, im_operand *op,
                     const im_parse_ctx *ctx)
{
    unsigned n;
    const char *const *names = reg_file(kind, &n);
    const im_kind *k = &x86_kinds[kind];
    if (names) {
        const char *q = *p;
        int r = parse_reg(&q, names, n);
        if (r >= 0) {
            if (!reg_exists(t, kind, (unsigned)r))
                return im_fail(IM_ERR_NO_ENCODING, "register %s does not exist on %s", names[r],
                               im_target_name(t));
            int fr = fixed_reg(kind);
            if (fr >= 0 && r != fr)
                return im_fail(IM_ERR_NO_ENCODING, "expected %s", names[fr]);
            *op = im_reg((unsigned)r);
            *p = q;
            return 0;
        }
        if (k->cls == IM_KC_REG)
            return im_fail(IM_ERR_NO_ENCODING, "expected %s",
                           fixed_reg(kind) >= 0 ? names[fixed_reg(kind)]
                                                : "a register of this size");
        if (kind == XK_rm64 && !is64(t))
            return im_fail(IM_ERR_NO_ENCODING, "64-bit operand in 32-bit mode");
        return parse_mem(t, mem_size(kind), p, op, ctx);
    }
    switch (kind) {
    case XK_m8:
    case XK_m16:
    case XK_m32:
    case XK_m64:
    case XK_m128:
    case XK_m: return parse_mem(t, mem_size(kind), p, op, ctx);
    case XK_moffs8:
    case XK_moffs16:
    case XK_moffs32: {
        int rc = parse_mem(t, mem_size(kind), p, op, ctx);
        if (rc < 0)
            return rc;
        if (op->base != IM_NOREG || op->index != IM_NOREG)
            return im_fail(IM_ERR_NO_ENCODING, "moffs takes an address without registers");
        op->type = op->label >= 0 ? IM_OP_SYM : IM_OP_IMM;
        return 0;
    }
    case XK_one: {
        int rc = parse_imm(p, op, ctx);
        if (rc < 0)
            return rc;
        if (op->type != IM_OP_IMM || op->imm != 1)
            return im_fail(IM_ERR_NO_ENCODING, "expected the constant 1");
        return 0;
    }
    case XK_rel8:
    case XK_rel32:
        if (is_reg_name(*p))
            return im_fail(IM_ERR_NO_ENCODING, "expected a branch target, not a register");
        return im_parse_target(p, op, ctx);
    default:
        if (k->cls == IM_KC_IMM)
            return parse_imm(p, op, ctx);
        return im_fail(IM_ERR_INVAL, "unknown x86 operand kind %u", kind);
    }
}

static void print_mem(im_target t, unsigned kind, const im_operand *op, char *buf, size_t n)
{
    const char *const *names = is64(t) ? r64_names : r32_names;
    if (mem_size(kind))
        im_appendf(buf, n, "%s PTR ", size_word(mem_size(kind)));
    im_appendf(buf, n, "[");
    bool any = false;
    if (op->base == IM_REG_RIP) {
        im_appendf(buf, n, "rip");
        any = true;
    } else if (op->base != IM_NOREG) {
        im_appendf(buf, n, "%s", names[op->base & 15]);
        any = true;
    }
    if (op->index != IM_NOREG) {
        im_appendf(buf, n, "%s%s*%u", any ? "+" : "", names[op->index & 15], op->scale);
        any = true;
    }
    if (op->imm || !any) {
        if (any && op->imm >= 0)
            im_appendf(buf, n, "+");
        im_print_hex(buf, n, op->imm);
    }
    im_appendf(buf, n, "]");
}

static void x86_print(im_target t, unsigned kind, const im_operand *op, char *buf, size_t n)
{
    unsigned nr;
    const char *const *names = reg_file(kind, &nr);
    if (names && op->type == IM_OP_REG) {
        im_appendf(buf, n, "%s", op->reg < nr ? names[op->reg] : "?");
        return;
    }
    switch (kind) {
    case XK_one: im_appendf(buf, n, "1"); return;
    case XK_moffs8:
    case XK_moffs16:
    case XK_moffs32: {
        im_operand m = im_mem(IM_NOREG, IM_NOREG, 1, op->imm);
        print_mem(t, kind, &m, buf, n);
        return;
    }
    case XK_rel8:
    case XK_rel32: im_print_target(op, true, buf, n); return;
    default:
        if (op->type == IM_OP_MEM) {
            print_mem(t, kind, op, buf, n);
        } else if (op->type == IM_OP_SYM) {
            im_appendf(buf, n, "OFFSET .L%d%+lld", op->label, (long long)op->imm);
        } else {
            im_print_hex(buf, n, op->imm);
        }
        return;
    }
}

static inline bool imm_fits(unsigned kind, int64_t v)
{
    switch (kind) {
    case XK_one: return v == 1;
    case XK_imm8:
    case XK_imm8b: return v >= -128 && v <= 0xff;
    case XK_imm8s16: return (v >= -128 && v <= 127) || (v >= 0xff80 && v <= 0xffff);
    case XK_imm16: return v >= -0x8000 && v <= 0xffff;
    case XK_imm8s32: return (v >= -128 && v <= 127) || (v >= 0xffffff80ll && v <= 0xffffffffll);
    case XK_imm8s64: return v >= -128 && v <= 127;
    case XK_imm32:
    case XK_moffs8:
    case XK_moffs16:
    case XK_moffs32: return v >= -0x80000000ll && v <= 0xffffffffll;
    case XK_imm32s: return v >= -0x80000000ll && v <= 0x7fffffffll;
    default: return true;
    }
}

/* The kinds whose registers are 8-bit (where spl..dil need a REX prefix and ah..bh forbid one). */
static const bool x86_is_r8[XK_COUNT] = {
    [XK_r8] = true, [XK_al] = true, [XK_cl] = true, [XK_rm8] = true};

/* The operand types each kind takes (bit IM_OP_*), straight from kinds.def: one lookup
 * per operand, without going through the kind's class. */
#define XT(x) (1u << IM_OP_##x)
#define XC_REG XT(REG)
#define XC_IMM (XT(IMM) | XT(SYM))
#define XC_MEM XT(MEM)
#define XC_REL (XT(REL) | XT(LABEL))
#define XC_RM (XT(REG) | XT(MEM))
static const uint16_t x86_kind_types[XK_COUNT] = {
#define KIND(n, c, b) [XK_##n] = XC_##c,
#include "kinds.def"
#undef KIND
};
#undef XC_REG
#undef XC_IMM
#undef XC_MEM
#undef XC_REL
#undef XC_RM
#undef XT

/* A register operand's number in the encoding (0..15) and what it asks of a REX prefix:
 * spl/bpl/sil/dil need one, ah/ch/dh/bh cannot have one. */
static inline unsigned enc_reg(unsigned kind, const im_operand *o, bool *need_rex, bool *no_rex)
{
    if (x86_is_r8[kind]) {
        if (o->reg >= IM_X86_AH) {
            *no_rex = true;
            return o->reg - IM_X86_AH + 4u;
        }
        if (o->reg >= 4 && o->reg < 8)
            *need_rex = true;
    }
    return o->reg & 15u;
}

/* The operand checks with their messages: the slow path, taken once the fast checks in
 * x86_encode have found something wrong. */
static int x86_operand_error(im_target t, const im_form *f, const im_operand *ops)
{
    for (unsigned i = 0; i < f->nops; i++) {
        const im_operand *o = &ops[i];
        unsigned kind = f->kinds[i];
        unsigned cls = x86_kinds[kind].cls;
        if (cls == IM_KC_REG && o->type != IM_OP_REG)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a register", f->id, i + 1);
        if (o->type == IM_OP_REG && (cls == IM_KC_REG || cls == IM_KC_RM) &&
            !reg_exists(t, kind, o->reg))
            return im_fail(IM_ERR_NO_ENCODING, "%s: register %u does not exist on %s", f->id,
                           o->reg, im_target_name(t));
        if (fixed_reg(kind) >= 0 && o->reg != fixed_reg(kind))
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be %s", f->id, i + 1,
                           x86_kinds[kind].name);
        if (kind == XK_one && (o->type != IM_OP_IMM || o->imm != 1))
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be 1", f->id, i + 1);
        if (cls == IM_KC_MEM && o->type != IM_OP_MEM)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be memory", f->id, i + 1);
        if (cls == IM_KC_RM && o->type != IM_OP_REG && o->type != IM_OP_MEM)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a register or memory", f->id,
                           i + 1);
        if (cls == IM_KC_IMM && o->type != IM_OP_IMM && o->type != IM_OP_SYM)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be an immediate", f->id, i + 1);
        if (cls == IM_KC_REL && o->type != IM_OP_REL && o->type != IM_OP_LABEL)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a branch target", f->id,
                           i + 1);
    }
    return im_fail(IM_ERR_NO_ENCODING, "%s: invalid operands", f->id);
}

/* Little-endian stores of 2, 4 and 8 bytes (gcc merges the byte stores into one). */
static inline void put16(uint8_t *p, uint64_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void put32(uint8_t *p, uint64_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static inline void put64(uint8_t *p, uint64_t v)
{
    put32(p, v);
    put32(p + 4, v >> 32);
}

/* The encoder runs in two phases: every check first (operands, ModRM/SIB, REX, the
 * immediate or branch displacement), with the instruction's length known at the end of
 * it; then the bytes go straight into out, in order, none beyond the length. */
static int x86_encode(im_target t, const im_form *f, const im_operand *ops, uint8_t *out,
                      size_t *len, im_fixup *fix)
{
    const bool x64 = is64(t);
    unsigned rex = (f->pfx & IM_XP_REXW) ? 8u : 0u; /* W R X B */
    bool need_rex = false, no_rex = false;
    /* the operand index of each role (IM_XR_*), -1 when the row has none */
    int8_t at[8];
    memset(at, -1, sizeof at);
    fix->op = -1;
    fix->offset = fix->size = 0;
    fix->reloc = IM_RELOC_NONE;

    const unsigned nops = f->nops;
    for (unsigned i = 0; i < nops; i++) {
        const im_operand *o = &ops[i];
        unsigned kind = f->kinds[i];
        at[f->roles[i] & 7] = (int8_t)i;
        bool ok = o->type < 16 && (x86_kind_types[kind] >> o->type & 1u);
        if (o->type == IM_OP_REG)
            ok = ok && o->reg < 32 && (x86_kind_regs[kind][x64] >> o->reg & 1u);
        else if (kind == XK_one)
            ok = ok && o->type == IM_OP_IMM && o->imm == 1;
        if (__builtin_expect(!ok, 0))
            return x86_operand_error(t, f, ops);
    }
    const int imm_op = at[IM_XR_IMM] >= 0 ? at[IM_XR_IMM] : at[IM_XR_REL];

    /* ModRM / SIB / displacement, computed first so the REX/VEX bits are known */
    unsigned modrm = 0, sib = 0, nmod = 0, dsize = 0;
    uint64_t disp = 0;
    if (f->modrm) {
        const int rm_op = at[IM_XR_RM];
        const im_operand *rm = &ops[rm_op];
        unsigned regf = f->digit;
        if (f->modrm == IM_XM_R) {
            const int reg_op = at[IM_XR_REG];
            regf = enc_reg(f->kinds[reg_op], &ops[reg_op], &need_rex, &no_rex);
            rex |= (regf & 8) >> 1;
        }
        regf = (regf & 7) << 3;
        nmod = 1;
        if (rm->type == IM_OP_REG) {
            unsigned r = enc_reg(f->kinds[rm_op], rm, &need_rex, &no_rex);
            rex |= (r & 8) >> 3;
            modrm = 0xc0 | regf | (r & 7);
        } else {
            unsigned base = rm->base, index = rm->index;
            int64_t d = rm->imm;
            unsigned scale_bits;
            switch (rm->scale) {
            case 0:
            case 1: scale_bits = 0; break;
            case 2: scale_bits = 1; break;
            case 4: scale_bits = 2; break;
            case 8: scale_bits = 3; break;
            default: return im_fail(IM_ERR_NO_ENCODING, "%s: scale %u", f->id, rm->scale);
            }
            if (index != IM_NOREG && (index == 4 || index >= nregs(t)))
                return im_fail(IM_ERR_NO_ENCODING, "%s: %s cannot be an index register", f->id,
                               index == 4 ? (x64 ? "rsp" : "esp") : "this register");
            if (base != IM_NOREG && base != IM_REG_RIP && base >= nregs(t))
                return im_fail(IM_ERR_NO_ENCODING, "%s: bad base register", f->id);
            if (base == IM_REG_RIP && (!x64 || index != IM_NOREG))
                return im_fail(IM_ERR_NO_ENCODING, "%s: rip-relative needs x86_64 and no index",
                               f->id);
            bool d32 = x64 ? (d >= -0x80000000ll && d <= 0x7fffffffll)
                           : (d >= -0x80000000ll && d <= 0xffffffffll);
            if (!d32)
                return im_fail(IM_ERR_RANGE, "%s: displacement 0x%llx out of range", f->id,
                               (unsigned long long)d);
            disp = (uint64_t)d;
            unsigned mod;
            if (base == IM_REG_RIP || base == IM_NOREG) {
                mod = 0;
                dsize = 4;
            } else if (d == 0 && (base & 7) != 5) {
                mod = 0;
                dsize = 0;
            } else if (d >= -128 && d <= 127) {
                mod = 1;
                dsize = 1;
            } else {
                mod = 2;
                dsize = 4;
            }
            if (base == IM_REG_RIP) {
                modrm = regf | 5;
            } else if (index == IM_NOREG && base != IM_NOREG && (base & 7) != 4) {
                modrm = mod << 6 | regf | (base & 7);
                rex |= (base & 8) >> 3;
            } else if (index == IM_NOREG && base == IM_NOREG && !x64) {
                modrm = regf | 5;
            } else {
                unsigned sb = base == IM_NOREG ? 5 : (base & 7);
                unsigned si = index == IM_NOREG ? 4 : (index & 7);
                modrm = mod << 6 | regf | 4;
                sib = (index == IM_NOREG ? 0 : scale_bits) << 6 | si << 3 | sb;
                nmod = 2;
                if (base != IM_NOREG)
                    rex |= (base & 8) >> 3;
                if (index != IM_NOREG)
                    rex |= (index & 8) >> 2;
            }
        }
    }
    const unsigned opc_len = f->opc_len;
    unsigned opc_last = f->opc[opc_len - 1];
    if (at[IM_XR_OPREG] >= 0) {
        const int opreg_op = at[IM_XR_OPREG];
        unsigned r = enc_reg(f->kinds[opreg_op], &ops[opreg_op], &need_rex, &no_rex);
        rex |= (r & 8) >> 3;
        opc_last |= r & 7;
    }

    /* the prefix bytes: legacy prefixes, then a VEX prefix or a REX byte */
    const unsigned pfx = f->pfx;
    const unsigned legacy = pfx & (IM_XP_67 | IM_XP_66 | IM_XP_F2 | IM_XP_F3 | IM_XP_F0);
    unsigned npfx = 0;
    if (__builtin_expect(legacy != 0, 0))
        npfx = (legacy & 1) + (legacy >> 1 & 1) + (legacy >> 2 & 1) + (legacy >> 4 & 1) +
               (legacy >> 5 & 1);
    unsigned vex0 = 0, vex1 = 0, vex2 = 0, nvex = 0;
    if (f->vex) {
        unsigned v = at[IM_XR_VVVV] >= 0 ? ops[at[IM_XR_VVVV]].reg & 15u : 0u;
        unsigned map = f->vex & 3u, pp = (f->vex >> 2) & 3u;
        unsigned w = (f->vex & IM_XV_W) ? 1u : 0u, l = (f->vex & IM_XV_L) ? 1u : 0u;
        if (!x64 && (rex & 7))
            return im_fail(IM_ERR_NO_ENCODING, "%s: registers 8-15 need x86_64", f->id);
        if (map == 1 && !w && !(rex & 3)) {
            nvex = 2;
            vex0 = 0xc5;
            vex1 = (rex & 4 ? 0 : 0x80) | (~v & 15u) << 3 | l << 2 | pp;
        } else {
            nvex = 3;
            vex0 = 0xc4;
            vex1 = (rex & 4 ? 0 : 0x80) | (rex & 2 ? 0 : 0x40) | (rex & 1 ? 0 : 0x20) | map;
            vex2 = w << 7 | (~v & 15u) << 3 | l << 2 | pp;
        }
    } else if (rex || need_rex) {
        if (!x64)
            return im_fail(IM_ERR_NO_ENCODING, "%s: needs REX, which i386 lacks", f->id);
        if (no_rex)
            return im_fail(IM_ERR_NO_ENCODING,
                           "%s: ah, ch, dh and bh cannot be used with an "
                           "operand that needs a REX prefix",
                           f->id);
        nvex = 1;
        vex0 = 0x40 | rex;
    }
    const unsigned head = npfx + nvex + opc_len + nmod + dsize; /* bytes before the immediate */
    const unsigned imm_size = f->imm_size;

    uint64_t v = 0;
    if (imm_size) {
        const im_operand *io = &ops[imm_op];
        if (f->roles[imm_op] == IM_XR_REL) {
            int64_t rv = io->type == IM_OP_REL ? io->imm - (int64_t)(head + imm_size) : 0;
            /* i386 addresses wrap at 4 GiB: every target is in reach of a rel32 */
            if (!x64 && imm_size == 4)
                rv = (int32_t)(uint32_t)(uint64_t)rv;
            int64_t lo = imm_size == 1 ? -128 : -0x80000000ll;
            int64_t hi = imm_size == 1 ? 127 : 0x7fffffffll;
            if (rv < lo || rv > hi)
                return im_fail(IM_ERR_RANGE,
                               "%s: branch displacement %lld out of range [%lld, %lld]", f->id,
                               (long long)rv, (long long)lo, (long long)hi);
            v = (uint64_t)rv;
        } else {
            if (io->type == IM_OP_SYM) {
                switch (f->kinds[imm_op]) {
                case XK_imm32:
                case XK_moffs8:
                case XK_moffs16:
                case XK_moffs32: fix->reloc = IM_RELOC_ABS32; break;
                case XK_imm32s: fix->reloc = IM_RELOC_ABS32S; break;
                case XK_imm64: fix->reloc = IM_RELOC_ABS64; break;
                default:
                    return im_fail(IM_ERR_NO_ENCODING,
                                   "%s: an address does not fit a %u-byte immediate", f->id,
                                   imm_size);
                }
            }
            if (!imm_fits(f->kinds[imm_op], io->imm)) {
                fix->reloc = IM_RELOC_NONE;
                return im_fail(IM_ERR_RANGE, "%s: immediate 0x%llx out of range", f->id,
                               (unsigned long long)io->imm);
            }
            v = (uint64_t)io->imm;
        }
        fix->op = (int8_t)imm_op;
        fix->offset = (uint8_t)head;
        fix->size = (uint8_t)imm_size;
    }

    /* every check has passed: the bytes, in order */
    uint8_t *p = out;
    if (__builtin_expect(legacy != 0, 0)) {
        if (pfx & IM_XP_67)
            *p++ = 0x67;
        if (pfx & IM_XP_66)
            *p++ = 0x66;
        if (pfx & IM_XP_F2)
            *p++ = 0xf2;
        if (pfx & IM_XP_F3)
            *p++ = 0xf3;
        if (pfx & IM_XP_F0)
            *p++ = 0xf0;
    }
    if (nvex) {
        p[0] = (uint8_t)vex0;
        if (nvex > 1) {
            p[1] = (uint8_t)vex1;
            if (nvex > 2)
                p[2] = (uint8_t)vex2;
        }
        p += nvex;
    }
    if (opc_len > 1) {
        p[0] = f->opc[0];
        if (opc_len > 2)
            p[1] = f->opc[1];
    }
    p[opc_len - 1] = (uint8_t)opc_last;
    p += opc_len;
    if (nmod) {
        p[0] = (uint8_t)modrm;
        if (nmod > 1)
            p[1] = (uint8_t)sib;
        p += nmod;
        if (dsize == 1)
            *p++ = (uint8_t)disp;
        else if (dsize == 4) {
            put32(p, disp);
            p += 4;
        }
    }
    switch (imm_size) {
    case 1: *p = (uint8_t)v; break;
    case 2: put16(p, v); break;
    case 4: put32(p, v); break;
    case 8: put64(p, v); break;
    default: break;
    }
    *len = head + imm_size;
    return 0;
}

/* ---- samples for conformance vectors ---- */

static size_t add_imm(im_operand *out, size_t k, size_t max, int64_t v)
{
    if (k < max)
        out[k++] = im_imm(v);
    return k;
}

static size_t imm_samples(unsigned kind, im_rng *rng, im_operand *out, size_t max)
{
    static const int64_t edges[] = {0,
                                    1,
                                    -1,
                                    2,
                                    0x7f,
                                    -0x80,
                                    0x80,
                                    -0x81,
                                    0xff,
                                    0x100,
                                    0x7fff,
                                    -0x8000,
                                    0xffff,
                                    0x10000,
                                    0x7fffffff,
                                    -0x80000000ll,
                                    0x80000000ll,
                                    0xffffff80ll,
                                    0xffffffffll,
                                    0x100000000ll,
                                    -0x80000001ll,
                                    0x7fffffffffffffffll,
                                    INT64_MIN};
    size_t k = 0;
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        if (imm_fits(kind, edges[i]))
            k = add_imm(out, k, max, edges[i]);
    for (int i = 0; i < 24; i++) {
        uint64_t r = im_rng_next(rng);
        int64_t v;
        switch (kind) {
        case XK_imm8:
        case XK_imm8b: v = (r >> 8) & 1 ? (int64_t)(uint8_t)r : (int64_t)(int8_t)r; break;
        case XK_imm8s16:
        case XK_imm8s32:
        case XK_imm8s64: v = (int8_t)r; break;
        case XK_imm16: v = (r >> 16) & 1 ? (int64_t)(uint16_t)r : (int64_t)(int16_t)r; break;
        case XK_imm64: v = (int64_t)r; break;
        default: v = (int32_t)r; break;
        }
        if (imm_fits(kind, v))
            k = add_imm(out, k, max, v);
    }
    return k;
}

static size_t mem_samples(im_target t, im_rng *rng, im_operand *out, size_t max)
{
    static const int64_t disps[] = {0, 1, -1, 0x7f, -0x80, 0x80, -0x81, 0x7fffffff, -0x80000000ll};
    size_t k = 0;
    unsigned nr = nregs(t);
    /* every base (none, each register, rip) x every index (none, each but rsp); on i386
     * also x every scale x every displacement class (none or an edge, disp8, disp32): the
     * full product; on x86_64 (four times the pairs) one random scale and class per pair */
    for (int b = -2; b < (int)nr; b++) {
        unsigned base = b == -2 ? IM_NOREG : b == -1 ? IM_REG_RIP : (unsigned)b;
        if (base == IM_REG_RIP && !is64(t))
            continue;
        for (int x = -1; x < (int)nr; x++) {
            if (x == 4)
                continue;
            unsigned index = x < 0 ? IM_NOREG : (unsigned)x;
            if (base == IM_REG_RIP && index != IM_NOREG)
                continue;
            unsigned nvar = is64(t) ? 1 : index == IM_NOREG ? 3 : 12;
            for (unsigned v = 0; v < nvar; v++) {
                uint64_t r = im_rng_next(rng);
                unsigned scale, cls;
                if (is64(t)) {
                    scale = index == IM_NOREG ? 1 : 1u << (r & 3);
                    cls = (unsigned)((r >> 8) % 3);
                } else {
                    scale = 1u << (v / 3);
                    cls = v % 3;
                }
                int64_t d;
                if (cls == 0)
                    d = disps[(r >> 16) % (sizeof disps / sizeof disps[0])];
                else if (cls == 1)
                    d = (int8_t)(r >> 24);
                else
                    d = (int32_t)(r >> 32);
                if (k < max)
                    out[k++] = im_mem(base, index, scale, d);
            }
        }
    }
    /* displacement edges on a few bases, including rbp/r13 and rsp/r12 */
    static const unsigned bases[] = {0, 4, 5, 12, 13};
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++)
        for (size_t j = 0; j < sizeof disps / sizeof disps[0]; j++)
            if (bases[i] < nr && k < max)
                out[k++] = im_mem(bases[i], IM_NOREG, 1, disps[j]);
    return k;
}

static size_t x86_samples(im_target t, unsigned kind, im_rng *rng, im_operand *out, size_t max)
{
    size_t k = 0;
    unsigned nr;
    const char *const *names = reg_file(kind, &nr);
    if (fixed_reg(kind) >= 0) {
        out[k++] = im_reg((unsigned)fixed_reg(kind));
        return k;
    }
    if (names) {
        for (unsigned r = 0; r < nr && k < max; r++)
            if (reg_exists(t, kind, r))
                out[k++] = im_reg(r);
        if (x86_kinds[kind].cls == IM_KC_RM)
            k += mem_samples(t, rng, out + k, max - k);
        return k;
    }
    switch (kind) {
    case XK_m8:
    case XK_m16:
    case XK_m32:
    case XK_m64:
    case XK_m128:
    case XK_m: return mem_samples(t, rng, out, max);
    case XK_rel8:
    case XK_rel32:
        for (int64_t v = -140; v <= 140 && k < max; v += 3)
            out[k++] = (im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, v};
        if (kind == XK_rel32) {
            static const int64_t far[] = {0x7fffff00ll, -0x7fffff00ll, 0x7fffffffll, -0x80000000ll,
                                          0x80000004ll, 0x1000,        -0x1000};
            for (size_t i = 0; i < sizeof far / sizeof far[0] && k < max; i++)
                out[k++] = (im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, far[i]};
            for (int i = 0; i < 16 && k < max; i++)
                out[k++] = (im_operand){
                    IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, (int32_t)im_rng_next(rng)};
        }
        return k;
    default: return imm_samples(kind, rng, out, max);
    }
}

static bool x86_form_ok(im_target t, const im_form *f)
{
    if (f->flags & IM_FF_X64)
        return t == IM_TARGET_X86_64;
    if (f->flags & IM_FF_X32)
        return t == IM_TARGET_I386;
    return t == IM_TARGET_X86_64 || t == IM_TARGET_I386;
}

const im_arch im_arch_x86 = {
    .name = "x86",
    .forms = im_x86_forms,
    .nforms = sizeof im_x86_forms / sizeof im_x86_forms[0],
    .mnems = im_x86_mnems,
    .nmnems = sizeof im_x86_mnems / sizeof im_x86_mnems[0],
    .mnem_forms = im_x86_mnem_forms,
    .kinds = x86_kinds,
    .nkinds = XK_COUNT,
    .comment = "#",
    .parse = x86_parse,
    .print = x86_print,
    .encode = x86_encode,
    .samples = x86_samples,
    .form_ok = x86_form_ok,
    .mode_flags = IM_FF_X64 | IM_FF_X32,
    .bad_samples = im_x86_bad_samples,
};
