/* x86 (x86_64 and i386): the operand kinds of encoders/x86/kinds.def and the encoder that
 * interprets a row's Intel-notation encoding (prefixes, REX, opcode, ModRM/SIB, immediate).
 * Hand-written code here is per operand kind; instructions are rows of encoders/x86/ tables (.tbl). */
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

static const char *const r32_names[16] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
                                          "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"};
static const char *const r64_names[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                          "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"};

static bool is64(im_target t)
{
    return t == IM_TARGET_X86_64;
}
static unsigned nregs(im_target t)
{
    return is64(t) ? 16 : 8;
}

static int parse_reg(const char **p, const char *const *names, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (im_match_word(p, names[i]))
            return (int)i;
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

static unsigned mem_size(unsigned kind)
{
    switch (kind) {
    case XK_rm64:
    case XK_m64: return 8;
    default: return 4;
    }
}

static const char *size_word(unsigned size)
{
    return size == 8 ? "QWORD" : size == 4 ? "DWORD" : size == 2 ? "WORD" : "BYTE";
}

/* [SIZE PTR] [ base + index*scale + disp ] */
static int parse_mem(im_target t, unsigned size, const char **p, im_operand *op)
{
    const char *s = *p;
    static const unsigned sizes[] = {1, 2, 4, 8};
    for (unsigned i = 0; i < 4; i++) {
        const char *q = s;
        if (im_match_word(&q, size_word(sizes[i]))) {
            im_skip_ws(&q);
            if (!im_match_word(&q, "PTR"))
                return im_fail(IM_ERR_SYNTAX, "expected PTR after %s", size_word(sizes[i]));
            if (sizes[i] != size)
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
    const char *q = s;
    static const char *const words[] = {"BYTE", "WORD", "DWORD", "QWORD", "PTR"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (im_match_word(&q, words[i]))
            return true;
    return parse_reg(&q, r32_names, 16) >= 0 || parse_reg(&q, r64_names, 16) >= 0;
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
    int r;
    switch (kind) {
    case XK_r32:
    case XK_eax:
        r = parse_reg(p, r32_names, nregs(t));
        if (r < 0 || (kind == XK_eax && r != 0))
            return im_fail(IM_ERR_NO_ENCODING, "expected %s", kind == XK_eax ? "eax" : "a 32-bit register");
        *op = im_reg((unsigned)r);
        return 0;
    case XK_r64:
    case XK_rax:
        r = is64(t) ? parse_reg(p, r64_names, 16) : -1;
        if (r < 0 || (kind == XK_rax && r != 0))
            return im_fail(IM_ERR_NO_ENCODING, "expected %s", kind == XK_rax ? "rax" : "a 64-bit register");
        *op = im_reg((unsigned)r);
        return 0;
    case XK_rm32:
    case XK_rm64: {
        const char *const *names = kind == XK_rm32 ? r32_names : r64_names;
        if (kind == XK_rm64 && !is64(t))
            return im_fail(IM_ERR_NO_ENCODING, "64-bit operand in 32-bit mode");
        r = parse_reg(p, names, nregs(t));
        if (r >= 0) {
            *op = im_reg((unsigned)r);
            return 0;
        }
        return parse_mem(t, mem_size(kind), p, op);
    }
    case XK_m32:
    case XK_m64:
        return parse_mem(t, mem_size(kind), p, op);
    case XK_moffs32: {
        int rc = parse_mem(t, 4, p, op);
        if (rc < 0)
            return rc;
        if (op->base != IM_NOREG || op->index != IM_NOREG)
            return im_fail(IM_ERR_NO_ENCODING, "moffs takes an address without registers");
        op->type = IM_OP_IMM;
        return 0;
    }
    case XK_imm8s32:
    case XK_imm8s64:
    case XK_imm32:
    case XK_imm32s:
    case XK_imm64:
        return parse_imm(p, op, ctx);
    case XK_cl:
        if (strncmp(*p, "cl", 2) != 0 || isalnum((unsigned char)(*p)[2]) || (*p)[2] == '_')
            return im_fail(IM_ERR_NO_ENCODING, "expected cl");
        *p += 2;
        *op = im_reg(1);
        return 0;
    case XK_one: {
        int rc = parse_imm(p, op, ctx);
        if (rc < 0)
            return rc;
        if (op->type != IM_OP_IMM || op->imm != 1)
            return im_fail(IM_ERR_NO_ENCODING, "expected the constant 1");
        return 0;
    }
    case XK_imm8:
        return parse_imm(p, op, ctx);
    case XK_rel8:
    case XK_rel32: {
        if (is_reg_name(*p))
            return im_fail(IM_ERR_NO_ENCODING, "expected a branch target, not a register");
        return im_parse_target(p, op, ctx);
    }
    default:
        return im_fail(IM_ERR_INVAL, "unknown x86 operand kind %u", kind);
    }
}

static void print_mem(im_target t, unsigned kind, const im_operand *op, char *buf, size_t n)
{
    const char *const *names = is64(t) ? r64_names : r32_names;
    im_appendf(buf, n, "%s PTR [", size_word(mem_size(kind)));
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
    switch (kind) {
    case XK_r32:
    case XK_eax: im_appendf(buf, n, "%s", r32_names[op->reg & 15]); return;
    case XK_r64:
    case XK_rax: im_appendf(buf, n, "%s", r64_names[op->reg & 15]); return;
    case XK_cl: im_appendf(buf, n, "cl"); return;
    case XK_one: im_appendf(buf, n, "1"); return;
    case XK_rm32:
    case XK_rm64:
        if (op->type == IM_OP_REG) {
            im_appendf(buf, n, "%s", (kind == XK_rm32 ? r32_names : r64_names)[op->reg & 15]);
            return;
        }
        print_mem(t, kind, op, buf, n);
        return;
    case XK_m32:
    case XK_m64: print_mem(t, kind, op, buf, n); return;
    case XK_moffs32: {
        im_operand m = im_mem(IM_NOREG, IM_NOREG, 1, op->imm);
        print_mem(t, kind, &m, buf, n);
        return;
    }
    case XK_rel8:
    case XK_rel32: im_print_target(op, true, buf, n); return;
    default:
        if (op->type == IM_OP_SYM)
            im_appendf(buf, n, "OFFSET .L%d%+lld", op->label, (long long)op->imm);
        else
            im_print_hex(buf, n, op->imm);
        return;
    }
}

static bool imm_fits(unsigned kind, int64_t v)
{
    switch (kind) {
    case XK_one: return v == 1;
    case XK_imm8: return v >= 0 && v <= 0xff;
    case XK_imm8s32: return (v >= -128 && v <= 127) || (v >= 0xffffff80ll && v <= 0xffffffffll);
    case XK_imm8s64: return v >= -128 && v <= 127;
    case XK_imm32:
    case XK_moffs32: return v >= -0x80000000ll && v <= 0xffffffffll;
    case XK_imm32s: return v >= -0x80000000ll && v <= 0x7fffffffll;
    default: return true;
    }
}

static int x86_encode(im_target t, const im_form *f, const im_operand *ops, uint8_t *out,
                      size_t *len, im_fixup *fix)
{
    uint8_t buf[16];
    size_t n = 0;
    unsigned rex = (f->pfx & IM_XP_REXW) ? 0x48 : 0;
    const im_operand *reg = NULL, *rm = NULL, *opreg = NULL, *imm = NULL, *rel = NULL;
    int imm_op = -1;
    fix->op = -1;
    fix->offset = fix->size = 0;
    fix->reloc = IM_RELOC_NONE;

    for (unsigned i = 0; i < f->nops; i++) {
        const im_operand *o = &ops[i];
        switch (f->roles[i]) {
        case IM_XR_REG: reg = o; break;
        case IM_XR_RM: rm = o; break;
        case IM_XR_OPREG: opreg = o; break;
        case IM_XR_IMM: imm = o; imm_op = (int)i; break;
        case IM_XR_REL: rel = o; imm_op = (int)i; break;
        default: break;
        }
        unsigned cls = x86_kinds[f->kinds[i]].cls;
        if (cls == IM_KC_REG && o->type != IM_OP_REG)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a register", f->id, i + 1);
        if (o->type == IM_OP_REG && o->reg >= nregs(t))
            return im_fail(IM_ERR_NO_ENCODING, "%s: register %u does not exist on %s", f->id,
                           o->reg, im_target_name(t));
        if ((f->kinds[i] == XK_eax || f->kinds[i] == XK_rax) && o->reg != 0)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be the accumulator", f->id, i + 1);
        if (f->kinds[i] == XK_cl && o->reg != 1)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be cl", f->id, i + 1);
        if (f->kinds[i] == XK_one && (o->type != IM_OP_IMM || o->imm != 1))
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be 1", f->id, i + 1);
        if (cls == IM_KC_MEM && o->type != IM_OP_MEM)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be memory", f->id, i + 1);
        if (cls == IM_KC_RM && o->type != IM_OP_REG && o->type != IM_OP_MEM)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a register or memory", f->id, i + 1);
        if (cls == IM_KC_IMM && o->type != IM_OP_IMM && o->type != IM_OP_SYM)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be an immediate", f->id, i + 1);
        if (cls == IM_KC_REL && o->type != IM_OP_REL && o->type != IM_OP_LABEL)
            return im_fail(IM_ERR_NO_ENCODING, "%s: operand %u must be a branch target", f->id, i + 1);
    }

    if (f->pfx & IM_XP_66)
        buf[n++] = 0x66;
    if (f->pfx & IM_XP_F2)
        buf[n++] = 0xf2;
    if (f->pfx & IM_XP_F3)
        buf[n++] = 0xf3;

    /* ModRM / SIB / displacement, computed before REX so its bits are known */
    uint8_t modrm_bytes[6];
    size_t nm = 0;
    if (f->modrm) {
        unsigned regf = f->modrm == IM_XM_DIGIT ? f->digit : reg->reg;
        if (f->modrm == IM_XM_R && reg->reg & 8)
            rex |= 0x44;
        if (rm->type == IM_OP_REG) {
            if (rm->reg & 8)
                rex |= 0x41;
            modrm_bytes[nm++] = (uint8_t)(0xc0 | (regf & 7) << 3 | (rm->reg & 7));
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
                               index == 4 ? (is64(t) ? "rsp" : "esp") : "this register");
            if (base != IM_NOREG && base != IM_REG_RIP && base >= nregs(t))
                return im_fail(IM_ERR_NO_ENCODING, "%s: bad base register", f->id);
            if (base == IM_REG_RIP && (!is64(t) || index != IM_NOREG))
                return im_fail(IM_ERR_NO_ENCODING, "%s: rip-relative needs x86_64 and no index", f->id);
            bool d8 = d >= -128 && d <= 127;
            bool d32 = is64(t) ? (d >= -0x80000000ll && d <= 0x7fffffffll)
                               : (d >= -0x80000000ll && d <= 0xffffffffll);
            if (!d32)
                return im_fail(IM_ERR_RANGE, "%s: displacement 0x%llx out of range", f->id,
                               (unsigned long long)d);
            unsigned mod, dsize;
            if (base == IM_REG_RIP || base == IM_NOREG) {
                mod = 0;
                dsize = 4;
            } else if (d == 0 && (base & 7) != 5) {
                mod = 0;
                dsize = 0;
            } else if (d8) {
                mod = 1;
                dsize = 1;
            } else {
                mod = 2;
                dsize = 4;
            }
            if (base == IM_REG_RIP) {
                modrm_bytes[nm++] = (uint8_t)((regf & 7) << 3 | 5);
            } else if (index == IM_NOREG && base != IM_NOREG && (base & 7) != 4) {
                modrm_bytes[nm++] = (uint8_t)(mod << 6 | (regf & 7) << 3 | (base & 7));
                if (base & 8)
                    rex |= 0x41;
            } else if (index == IM_NOREG && base == IM_NOREG && !is64(t)) {
                modrm_bytes[nm++] = (uint8_t)((regf & 7) << 3 | 5);
            } else {
                unsigned sb = base == IM_NOREG ? 5 : (base & 7);
                unsigned si = index == IM_NOREG ? 4 : (index & 7);
                modrm_bytes[nm++] = (uint8_t)(mod << 6 | (regf & 7) << 3 | 4);
                modrm_bytes[nm++] = (uint8_t)((index == IM_NOREG ? 0 : scale_bits) << 6 | si << 3 | sb);
                if (base != IM_NOREG && (base & 8))
                    rex |= 0x41;
                if (index != IM_NOREG && (index & 8))
                    rex |= 0x42;
            }
            for (unsigned i = 0; i < dsize; i++)
                modrm_bytes[nm++] = (uint8_t)((uint64_t)d >> (8 * i));
        }
    }
    uint8_t opc_last = f->opc[f->opc_len - 1];
    if (opreg) {
        if (opreg->reg & 8)
            rex |= 0x41;
        opc_last = (uint8_t)(opc_last | (opreg->reg & 7));
    }
    if (rex) {
        if (!is64(t))
            return im_fail(IM_ERR_NO_ENCODING, "%s: needs REX, which i386 lacks", f->id);
        buf[n++] = (uint8_t)(rex | 0x40);
    }
    for (unsigned i = 0; i + 1 < f->opc_len; i++)
        buf[n++] = f->opc[i];
    buf[n++] = opc_last;
    memcpy(buf + n, modrm_bytes, nm);
    n += nm;

    if (f->imm_size) {
        int64_t v;
        if (rel) {
            size_t total = n + f->imm_size;
            v = rel->type == IM_OP_REL ? rel->imm - (int64_t)total : 0;
            int64_t lo = f->imm_size == 1 ? -128 : -0x80000000ll;
            int64_t hi = f->imm_size == 1 ? 127 : 0x7fffffffll;
            if (v < lo || v > hi)
                return im_fail(IM_ERR_RANGE, "%s: branch displacement %lld out of range [%lld, %lld]",
                               f->id, (long long)v, (long long)lo, (long long)hi);
        } else {
            v = imm->imm;
            if (imm->type == IM_OP_SYM) {
                switch (f->kinds[imm_op]) {
                case XK_imm32:
                case XK_moffs32: fix->reloc = IM_RELOC_ABS32; break;
                case XK_imm32s: fix->reloc = IM_RELOC_ABS32S; break;
                case XK_imm64: fix->reloc = IM_RELOC_ABS64; break;
                default:
                    return im_fail(IM_ERR_NO_ENCODING, "%s: an address does not fit an 8-bit immediate",
                                   f->id);
                }
            }
            if (!imm_fits(f->kinds[imm_op], v))
                return im_fail(IM_ERR_RANGE, "%s: immediate 0x%llx out of range", f->id,
                               (unsigned long long)v);
        }
        fix->op = (int8_t)imm_op;
        fix->offset = (uint8_t)n;
        fix->size = f->imm_size;
        for (unsigned i = 0; i < f->imm_size; i++)
            buf[n++] = (uint8_t)((uint64_t)v >> (8 * i));
    }
    memcpy(out, buf, n);
    *len = n;
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
    static const int64_t edges[] = {0, 1, -1, 2, 0x7f, -0x80, 0x80, -0x81, 0xff, 0x100,
                                    0x7fff, -0x8000, 0xffff, 0x10000, 0x7fffffff, -0x80000000ll,
                                    0x80000000ll, 0xffffff80ll, 0xffffffffll, 0x100000000ll,
                                    -0x80000001ll, 0x7fffffffffffffffll, INT64_MIN};
    size_t k = 0;
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        if (imm_fits(kind, edges[i]))
            k = add_imm(out, k, max, edges[i]);
    for (int i = 0; i < 24; i++) {
        uint64_t r = im_rng_next(rng);
        int64_t v;
        switch (kind) {
        case XK_imm8: v = (uint8_t)r; break;
        case XK_imm8s32:
        case XK_imm8s64: v = (int8_t)r; break;
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
    /* every base (none, each register, rip) x every index (none, each but rsp) */
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
            uint64_t r = im_rng_next(rng);
            unsigned scale = index == IM_NOREG ? 1 : 1u << (r & 3);
            int64_t d;
            if ((r >> 8) % 3 == 0)
                d = disps[(r >> 16) % (sizeof disps / sizeof disps[0])];
            else if ((r >> 8) % 3 == 1)
                d = (int8_t)(r >> 24);
            else
                d = (int32_t)(r >> 32);
            if (k < max)
                out[k++] = im_mem(base, index, scale, d);
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
    switch (kind) {
    case XK_r32:
    case XK_r64:
        for (unsigned r = 0; r < nregs(t) && k < max; r++)
            out[k++] = im_reg(r);
        return k;
    case XK_eax:
    case XK_rax: out[k++] = im_reg(0); return k;
    case XK_cl: out[k++] = im_reg(1); return k;
    case XK_rm32:
    case XK_rm64:
        for (unsigned r = 0; r < nregs(t) && k < max; r++)
            out[k++] = im_reg(r);
        return k + mem_samples(t, rng, out + k, max - k);
    case XK_m32:
    case XK_m64: return mem_samples(t, rng, out, max);
    case XK_moffs32: return imm_samples(kind, rng, out, max);
    case XK_rel8:
    case XK_rel32:
        for (int64_t v = -140; v <= 140 && k < max; v += 3)
            out[k++] = (im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, v};
        if (kind == XK_rel32) {
            static const int64_t far[] = {0x7fffff00ll, -0x7fffff00ll, 0x7fffffffll, -0x80000000ll,
                                          0x80000004ll, 0x1000, -0x1000};
            for (size_t i = 0; i < sizeof far / sizeof far[0] && k < max; i++)
                out[k++] = (im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, far[i]};
            for (int i = 0; i < 16 && k < max; i++)
                out[k++] = (im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1,
                                        (int32_t)im_rng_next(rng)};
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
    .kinds = x86_kinds,
    .nkinds = XK_COUNT,
    .comment = "#",
    .parse = x86_parse,
    .print = x86_print,
    .encode = x86_encode,
    .samples = x86_samples,
    .form_ok = x86_form_ok,
    .bad_samples = im_x86_bad_samples,
};
