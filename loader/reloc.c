/* Relocation: one generic switch over the kinds (im_reloc_apply), with small per-target
 * helpers for the fields of x86, A32 and A64 instructions (musl's reloc.h split). The
 * semantics are ELF's: V = S + A is the target value, P the address of the field, and each
 * kind computes what its R_<target>_<name> twin computes, with the same range checks (plus
 * the alignment checks ELF leaves to the linker's discretion).
 *
 * Addend conventions (what the buffer records, encoders/core/buf.c):
 *   x86 PC32      V - P: a rel32 branch or rip-relative field takes A = -4 (or minus the
 *                 bytes after the field), as ELF RELA does.
 *   ARM_CALL/JUMP24  (V - P - 8) >> 2: the pipeline's 8 is applied here, so A = 0 names the
 *                 target itself (RELA style; a REL addend of -8 is not used).
 *   AARCH64_*     V - P (branches), Page(V) - Page(P) (adrp), V & 0xfff (lo12): A = 0. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "imago/img.h"

#include "core.h"
#include "reloc.h"

unsigned im_reloc_field_size(uint32_t kind, im_target t)
{
    switch (kind) {
    case IM_RELOC_ABS32:
        return t == IM_TARGET_X86_64 || t == IM_TARGET_I386 || t == IM_TARGET_ARM ||
                       t == IM_TARGET_AARCH64
                   ? 4
                   : 0;
    case IM_RELOC_ABS64: return im_target_ptr_size(t) == 8 ? 8 : 0;
    case IM_RELOC_ABS32S: return t == IM_TARGET_X86_64 ? 4 : 0;
    case IM_RELOC_PC32: return t == IM_TARGET_X86_64 || t == IM_TARGET_I386 ? 4 : 0;
    case IM_RELOC_ARM_CALL:
    case IM_RELOC_ARM_JUMP24:
    case IM_RELOC_ARM_MOVW_ABS_NC:
    case IM_RELOC_ARM_MOVT_ABS: return t == IM_TARGET_ARM ? 4 : 0;
    case IM_RELOC_AARCH64_CALL26:
    case IM_RELOC_AARCH64_JUMP26:
    case IM_RELOC_AARCH64_CONDBR19:
    case IM_RELOC_AARCH64_TSTBR14:
    case IM_RELOC_AARCH64_ADR_PREL_PG_HI21:
    case IM_RELOC_AARCH64_ADD_ABS_LO12_NC:
    case IM_RELOC_AARCH64_LDST8_ABS_LO12_NC:
    case IM_RELOC_AARCH64_LDST16_ABS_LO12_NC:
    case IM_RELOC_AARCH64_LDST32_ABS_LO12_NC:
    case IM_RELOC_AARCH64_LDST64_ABS_LO12_NC:
    case IM_RELOC_AARCH64_LDST128_ABS_LO12_NC: return t == IM_TARGET_AARCH64 ? 4 : 0;
    default: return 0;
    }
}

static const char *kname(uint32_t kind)
{
    const char *n = im_reloc_name(kind);
    return n ? n : "unknown";
}

/* A signed value that does not fit [lo, hi]. */
static int range_err(uint32_t kind, int64_t x, const char *what, int64_t lo, int64_t hi)
{
    return im_fail(IM_ERR_RELOC_RANGE,
                   "%s: %s %s0x%" PRIx64 " out of range [-0x%" PRIx64 ", 0x%" PRIx64 "]",
                   kname(kind), what, x < 0 ? "-" : "", x < 0 ? -(uint64_t)x : (uint64_t)x,
                   -(uint64_t)lo, (uint64_t)hi);
}

static int align_err(uint32_t kind, int64_t x, const char *what, unsigned align)
{
    return im_fail(IM_ERR_ALIGN, "%s: %s %s0x%" PRIx64 " is not a multiple of %u", kname(kind),
                   what, x < 0 ? "-" : "", x < 0 ? -(uint64_t)x : (uint64_t)x, align);
}

/* An A32/A64 instruction word with the field (mask) replaced. */
static void put_field(uint8_t *p, uint32_t mask, uint32_t bits)
{
    im_put32(p, (im_get32(p) & ~mask) | (bits & mask));
}

/* x86: rel32 (V - P). On i386 addresses wrap at 4 GiB: every target is in reach. */
static int x86_apply(im_target t, uint32_t kind, uint8_t *p, uint64_t place, uint64_t v)
{
    if (kind != IM_RELOC_PC32)
        return im_fail(IM_ERR_RELOC, "%s is not an x86 relocation", kname(kind));
    int64_t x = (int64_t)(v - place);
    if (t == IM_TARGET_I386) {
        if (v > UINT32_MAX || place > UINT32_MAX)
            return im_fail(IM_ERR_RELOC_RANGE,
                           "PC32: value 0x%" PRIx64 " or place 0x%" PRIx64
                           " beyond i386's 4 GiB (range [0, 0xffffffff])",
                           v, place);
        x = (int32_t)(uint32_t)(v - place);
    }
    if (x < INT32_MIN || x > INT32_MAX)
        return range_err(kind, x, "value V - P", INT32_MIN, INT32_MAX);
    im_put32(p, (uint32_t)x);
    return 0;
}

/* A32 (ARMv7-A): b/bl imm24 and movw/movt imm16. Addresses are 32 bits. */
static int a32_apply(uint32_t kind, uint8_t *p, uint64_t place, uint64_t v)
{
    switch (kind) {
    case IM_RELOC_ARM_CALL:
    case IM_RELOC_ARM_JUMP24: {
        if (v > UINT32_MAX || place > UINT32_MAX)
            return im_fail(IM_ERR_RELOC_RANGE,
                           "%s: value 0x%" PRIx64 " or place 0x%" PRIx64
                           " beyond arm's 4 GiB (range [0, 0xffffffff])",
                           kname(kind), v, place);
        if (v & 1)
            return im_fail(IM_ERR_RELOC,
                           "%s: target 0x%" PRIx64 " has bit 0 set: a Thumb function, and imago "
                           "emits no Thumb code (no interworking branch)",
                           kname(kind), v);
        int64_t x = (int32_t)(uint32_t)(v - place - 8);
        if (x & 3)
            return align_err(kind, x, "branch offset V - P - 8", 4);
        if (x < -(1ll << 25) || x > (1ll << 25) - 4)
            return range_err(kind, x, "branch offset V - P - 8", -(1ll << 25), (1ll << 25) - 4);
        put_field(p, 0x00ffffffu, (uint32_t)(x >> 2));
        return 0;
    }
    case IM_RELOC_ARM_MOVW_ABS_NC:
    case IM_RELOC_ARM_MOVT_ABS: {
        if (kind == IM_RELOC_ARM_MOVT_ABS && v > UINT32_MAX)
            return im_fail(IM_ERR_RELOC_RANGE,
                           "%s: value 0x%" PRIx64 " out of range [0, 0xffffffff]", kname(kind),
                           v);
        uint32_t imm = kind == IM_RELOC_ARM_MOVW_ABS_NC ? (uint32_t)v & 0xffff
                                                        : (uint32_t)(v >> 16) & 0xffff;
        /* imm4 in bits 19:16, imm12 in bits 11:0 */
        put_field(p, 0x000f0fffu, (imm >> 12) << 16 | (imm & 0xfff));
        return 0;
    }
    default: return im_fail(IM_ERR_RELOC, "%s is not an arm relocation", kname(kind));
    }
}

/* A64: branches (imm26/19/14 at bit 0 or 5), adrp (immlo:immhi) and the lo12 fields. */
static int a64_branch(uint32_t kind, uint8_t *p, uint64_t place, uint64_t v, unsigned bits,
                      unsigned pos)
{
    int64_t x = (int64_t)(v - place);
    int64_t lim = 1ll << (bits + 1); /* byte range: imm << 2 */
    if (x & 3)
        return align_err(kind, x, "branch offset V - P", 4);
    if (x < -lim || x > lim - 4)
        return range_err(kind, x, "branch offset V - P", -lim, lim - 4);
    uint32_t mask = ((1u << bits) - 1) << pos;
    put_field(p, mask, (uint32_t)((uint64_t)x >> 2) << pos);
    return 0;
}

static int a64_apply(uint32_t kind, uint8_t *p, uint64_t place, uint64_t v)
{
    switch (kind) {
    case IM_RELOC_AARCH64_CALL26:
    case IM_RELOC_AARCH64_JUMP26: return a64_branch(kind, p, place, v, 26, 0);
    case IM_RELOC_AARCH64_CONDBR19: return a64_branch(kind, p, place, v, 19, 5);
    case IM_RELOC_AARCH64_TSTBR14: return a64_branch(kind, p, place, v, 14, 5);
    case IM_RELOC_AARCH64_ADR_PREL_PG_HI21: {
        int64_t x = (int64_t)((v & ~(uint64_t)0xfff) - (place & ~(uint64_t)0xfff));
        if (x < -(1ll << 32) || x > (1ll << 32) - 4096)
            return range_err(kind, x, "page distance Page(V) - Page(P)", -(1ll << 32),
                             (1ll << 32) - 4096);
        uint32_t imm = (uint32_t)((uint64_t)x >> 12) & 0x1fffff;
        put_field(p, 3u << 29 | 0x7ffffu << 5, (imm & 3) << 29 | (imm >> 2) << 5);
        return 0;
    }
    case IM_RELOC_AARCH64_ADD_ABS_LO12_NC:
    case IM_RELOC_AARCH64_LDST8_ABS_LO12_NC:
    case IM_RELOC_AARCH64_LDST16_ABS_LO12_NC:
    case IM_RELOC_AARCH64_LDST32_ABS_LO12_NC:
    case IM_RELOC_AARCH64_LDST64_ABS_LO12_NC:
    case IM_RELOC_AARCH64_LDST128_ABS_LO12_NC: {
        unsigned shift = kind == IM_RELOC_AARCH64_ADD_ABS_LO12_NC
                             ? 0
                             : kind - IM_RELOC_AARCH64_LDST8_ABS_LO12_NC;
        uint32_t lo = (uint32_t)v & 0xfff;
        if (lo & ((1u << shift) - 1))
            return im_fail(IM_ERR_ALIGN,
                           "%s: value 0x%" PRIx64 ": its low 12 bits 0x%x are not a multiple "
                           "of the access size %u",
                           kname(kind), v, lo, 1u << shift);
        put_field(p, 0xfffu << 10, (lo >> shift) << 10);
        return 0;
    }
    default: return im_fail(IM_ERR_RELOC, "%s is not an aarch64 relocation", kname(kind));
    }
}

int im_reloc_apply(im_target t, uint32_t kind, uint8_t *p, uint64_t place, uint64_t v)
{
    if (!im_reloc_field_size(kind, t))
        return im_fail(IM_ERR_RELOC, "relocation kind %u (%s) is not valid for %s", kind,
                       kname(kind), im_target_name(t) ? im_target_name(t) : "?");
    switch (kind) {
    case IM_RELOC_ABS32:
        /* x86_64 R_X86_64_32 (zero-extended), a full word on 32-bit targets; R_AARCH64_ABS32
         * takes signed values too. */
        if (v > UINT32_MAX && !(t == IM_TARGET_AARCH64 && (int64_t)v >= INT32_MIN))
            return im_fail(IM_ERR_RELOC_RANGE,
                           "ABS32: value 0x%" PRIx64 " does not fit in 32 bits unsigned "
                           "(range [0, 0xffffffff])",
                           v);
        im_put32(p, (uint32_t)v);
        return 0;
    case IM_RELOC_ABS32S:
        /* Sign-extended by the CPU (x86_64 mov r/m64, imm32; disp32 in [abs]). */
        if ((int64_t)v < INT32_MIN || (int64_t)v > INT32_MAX)
            return im_fail(IM_ERR_RELOC_RANGE,
                           "ABS32S: value 0x%" PRIx64 " does not fit in 32 bits signed "
                           "(range [-0x80000000, 0x7fffffff])",
                           v);
        im_put32(p, (uint32_t)v);
        return 0;
    case IM_RELOC_ABS64: im_put64(p, v); return 0;
    default: break;
    }
    switch (t) {
    case IM_TARGET_X86_64:
    case IM_TARGET_I386: return x86_apply(t, kind, p, place, v);
    case IM_TARGET_ARM: return a32_apply(kind, p, place, v);
    case IM_TARGET_AARCH64: return a64_apply(kind, p, place, v);
    default: return im_fail(IM_ERR_TARGET, "unknown target %d", (int)t);
    }
}

int im_reloc_veneerable(im_target t, uint32_t kind, const uint8_t *code, uint32_t offset)
{
    switch (t) {
    case IM_TARGET_X86_64:
        /* call rel32 (E8) or jmp rel32 (E9): the field follows the opcode byte */
        return kind == IM_RELOC_PC32 && code && offset >= 1 &&
               (code[offset - 1] == 0xe8 || code[offset - 1] == 0xe9);
    case IM_TARGET_ARM: return kind == IM_RELOC_ARM_CALL || kind == IM_RELOC_ARM_JUMP24;
    case IM_TARGET_AARCH64:
        return kind == IM_RELOC_AARCH64_CALL26 || kind == IM_RELOC_AARCH64_JUMP26;
    default: return 0; /* i386: rel32 reaches every address */
    }
}

unsigned im_veneer_size(im_target t)
{
    switch (t) {
    case IM_TARGET_X86_64: return 14; /* jmp [rip+0]; .quad target */
    case IM_TARGET_ARM: return 8;     /* ldr pc, [pc, #-4]; .word target */
    case IM_TARGET_AARCH64: return 16; /* ldr x16, #8; br x16; .quad target */
    default: return 0;
    }
}

void im_veneer_write(im_target t, uint8_t *dst, uint64_t at, uint64_t target)
{
    (void)at; /* every veneer here is position-independent */
    switch (t) {
    case IM_TARGET_X86_64:
        dst[0] = 0xff; /* jmp QWORD PTR [rip+0] */
        dst[1] = 0x25;
        im_put32(dst + 2, 0);
        im_put64(dst + 6, target);
        break;
    case IM_TARGET_ARM:
        im_put32(dst, 0xe51ff004u); /* ldr pc, [pc, #-4] */
        im_put32(dst + 4, (uint32_t)target);
        break;
    case IM_TARGET_AARCH64:
        im_put32(dst, 0x58000050u);     /* ldr x16, #8 */
        im_put32(dst + 4, 0xd61f0200u); /* br x16 */
        im_put64(dst + 8, target);
        break;
    default: break;
    }
}

/* S of relocation i: the section's base or a symbol, a TOC slot; IMPORT is refused. */
static int reloc_s(const im_section *sec, uint32_t i, const im_reloc *r, uint64_t base,
                   uint64_t toc, bool have_toc, uint64_t *s)
{
#define tn (im_target_name(sec->target) ? im_target_name(sec->target) : "?") /* errors only */
    switch (r->ref) {
    case IM_REF_LOCAL:
        *s = base;
        if (r->symbol != -1) {
            if (r->symbol < 0 || (uint32_t)r->symbol >= sec->nsyms)
                return im_fail(IM_ERR_RELOC,
                               "relocation %u at offset 0x%x refers to symbol %d (section has %u)",
                               i, r->offset, (int)r->symbol, sec->nsyms);
            *s += sec->syms[r->symbol].offset;
        }
        return 0;
    case IM_REF_TOC:
    case IM_REF_IMPORT: {
        if (r->symbol < 0 || (uint32_t)r->symbol >= sec->nimports)
            return im_fail(IM_ERR_RELOC,
                           "relocation %u at offset 0x%x refers to import %d (section has %u)", i,
                           r->offset, (int)r->symbol, sec->nimports);
        const im_import *im = &sec->imports[r->symbol];
        if (r->ref == IM_REF_IMPORT)
            return im_fail(IM_ERR_UNRESOLVED,
                           "%s relocation %u (%s) at offset 0x%x binds import '%s' directly: "
                           "only the runtime linker (im_link_load) resolves imports",
                           tn, i, kname(r->kind), r->offset, im->name ? im->name : "?");
        if (!have_toc)
            return im_fail(IM_ERR_UNRESOLVED,
                           "%s relocation %u (%s) at offset 0x%x refers to the TOC slot of "
                           "import '%s': the module needs a TOC (im_section_relocate_toc, or "
                           "the runtime linker)",
                           tn, i, kname(r->kind), r->offset, im->name ? im->name : "?");
        *s = toc + (uint64_t)im->slot * im_target_ptr_size(sec->target);
        return 0;
    }
    default:
        return im_fail(IM_ERR_RELOC, "relocation %u at offset 0x%x: unknown reference kind %u", i,
                       r->offset, r->ref);
    }
#undef tn
}

/* The common x86_64 relocations (ABS64 and PC32 against the section or a TOC slot) done
 * inline: 1 when r was applied, 0 when it needs the general path (another kind or ref, or
 * anything out of bounds or range, which the general path then reports). The section's
 * fields are copied into f first (a local the stores into dst cannot alias, so they are not
 * read again per relocation). */
struct fast_sec {
    const im_symbol *syms;
    const im_import *imports;
    uint32_t nsyms, nimports, code_size;
    bool have_toc;
    uint64_t base, toc;
};

static inline int fast_x86_64(const struct fast_sec *f, const im_reloc *r, uint8_t *dst)
{
    uint64_t s;
    if (r->ref == IM_REF_LOCAL) {
        if (r->symbol == -1)
            s = f->base;
        else if (r->symbol >= 0 && (uint32_t)r->symbol < f->nsyms)
            s = f->base + f->syms[r->symbol].offset;
        else
            return 0;
    } else if (r->ref == IM_REF_TOC && f->have_toc && r->symbol >= 0 &&
               (uint32_t)r->symbol < f->nimports) {
        s = f->toc + (uint64_t)f->imports[r->symbol].slot * 8u;
    } else {
        return 0;
    }
    unsigned size = r->kind == IM_RELOC_ABS64 ? 8 : 4;
    if ((uint64_t)r->offset + size > f->code_size)
        return 0;
    return im_reloc_x86_64_fast(r->kind, dst + r->offset, f->base + r->offset,
                                s + (uint64_t)r->addend);
}

static int relocate(const im_section *sec, uint8_t *dst, uint64_t base, uint64_t toc,
                    bool have_toc)
{
    if (!sec || (!dst && sec->code_size))
        return im_fail(IM_ERR_INVAL, "im_section_relocate: NULL argument");
    const char *tn = im_target_name(sec->target) ? im_target_name(sec->target) : "?";
    const bool x64 = sec->target == IM_TARGET_X86_64;
    const struct fast_sec f = {sec->syms, sec->imports, sec->nsyms, sec->nimports,
                               sec->code_size, have_toc, base, toc};
    const im_reloc *relocs = sec->relocs;
    const uint32_t nrelocs = sec->nrelocs;
    for (uint32_t i = 0; i < nrelocs; i++) {
        const im_reloc *r = &relocs[i];
        if (x64 && fast_x86_64(&f, r, dst))
            continue;
        unsigned size = im_reloc_field_size(r->kind, sec->target);
        if (!size)
            return im_fail(IM_ERR_RELOC,
                           "relocation %u at offset 0x%x: kind %u (%s) is not valid for %s", i,
                           r->offset, r->kind, kname(r->kind), tn);
        if ((uint64_t)r->offset + size > sec->code_size)
            return im_fail(IM_ERR_RELOC, "relocation %u at offset 0x%x overflows code (size 0x%x)",
                           i, r->offset, sec->code_size);
        uint64_t s = 0;
        int rc = reloc_s(sec, i, r, base, toc, have_toc, &s);
        if (rc < 0)
            return rc;
        /* Unsigned arithmetic: wraps instead of overflowing; range checks catch it. */
        uint64_t v = s + (uint64_t)r->addend;
        rc = im_reloc_apply(sec->target, r->kind, dst + r->offset, base + r->offset, v);
        if (rc < 0) {
            /* im_reloc_apply's detail starts with the kind, which the prefix names */
            char why[400];
            const char *d = im_detail();
            size_t kl = strlen(kname(r->kind));
            if (!strncmp(d, kname(r->kind), kl) && d[kl] == ':' && d[kl + 1] == ' ')
                d += kl + 2;
            snprintf(why, sizeof why, "%s", d);
            return im_fail(rc, "%s relocation %u (%s) at offset 0x%x: %s", tn, i, kname(r->kind),
                           r->offset, why);
        }
    }
    return 0;
}

int im_section_relocate(const im_section *sec, uint8_t *dst, uint64_t base)
{
    return relocate(sec, dst, base, 0, false);
}

int im_section_relocate_toc(const im_section *sec, uint8_t *dst, uint64_t base, uint64_t toc)
{
    return relocate(sec, dst, base, toc, true);
}
