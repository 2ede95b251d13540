/* Relocation: one generic switch over the kinds, with the per-kind work kept
 * small so per-target helpers (branch ranges, page-relative pairs) slot in as
 * further cases. S = base + symbol offset (base for symbol -1), A = addend. */
#include "imago/img.h"

#include "core.h"
#include "reloc.h"

unsigned im_reloc_field_size(uint32_t kind, im_target t)
{
    switch (kind) {
    case IM_RELOC_ABS32: return 4;
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

static int range_error(const im_section *sec, uint32_t i, const im_reloc *r, uint64_t value,
                       const char *why)
{
    return im_fail(IM_ERR_RELOC_RANGE, "%s relocation %u (%s) at offset 0x%x: value 0x%llx %s",
                   im_target_name(sec->target) ? im_target_name(sec->target) : "?", i,
                   im_reloc_name(r->kind), r->offset, (unsigned long long)value, why);
}

int im_section_relocate(const im_section *sec, uint8_t *dst, uint64_t base)
{
    if (!sec || (!dst && sec->code_size))
        return im_fail(IM_ERR_INVAL, "im_section_relocate: NULL argument");
    for (uint32_t i = 0; i < sec->nrelocs; i++) {
        const im_reloc *r = &sec->relocs[i];
        unsigned size = im_reloc_field_size(r->kind, sec->target);
        if (!size)
            return im_fail(IM_ERR_RELOC,
                           "relocation %u at offset 0x%x: kind %u (%s) is not valid "
                           "for %s",
                           i, r->offset, r->kind,
                           im_reloc_name(r->kind) ? im_reloc_name(r->kind) : "unknown",
                           im_target_name(sec->target) ? im_target_name(sec->target) : "?");
        if ((uint64_t)r->offset + size > sec->code_size)
            return im_fail(IM_ERR_RELOC, "relocation %u at offset 0x%x overflows code (size 0x%x)",
                           i, r->offset, sec->code_size);
        uint64_t s = base;
        if (r->symbol != -1) {
            if (r->symbol < 0 || (uint32_t)r->symbol >= sec->nsyms)
                return im_fail(IM_ERR_RELOC,
                               "relocation %u at offset 0x%x refers to symbol %d (section has %u)",
                               i, r->offset, (int)r->symbol, sec->nsyms);
            s += sec->syms[r->symbol].offset;
        }
        /* Unsigned arithmetic: wraps instead of overflowing; range checks catch it. */
        uint64_t value = s + (uint64_t)r->addend;
        uint8_t *p = dst + r->offset;

        switch (r->kind) {
        case IM_RELOC_ABS32:
            /* Zero-extended on x86_64 (mov r32, imm32), a full word on 32-bit targets. */
            if (value > UINT32_MAX)
                return range_error(sec, i, r, value, "does not fit in 32 bits unsigned");
            im_put32(p, (uint32_t)value);
            break;
        case IM_RELOC_ABS32S:
            /* Sign-extended by the CPU (x86_64 mov r/m64, imm32; disp32 in [abs]). */
            if ((int64_t)value < INT32_MIN || (int64_t)value > INT32_MAX)
                return range_error(sec, i, r, value, "does not fit in 32 bits signed");
            im_put32(p, (uint32_t)value);
            break;
        case IM_RELOC_ABS64: im_put64(p, value); break;
        default:
            return im_fail(IM_ERR_RELOC, "relocation %u at offset 0x%x: unknown kind %u", i,
                           r->offset, r->kind);
        }
    }
    return 0;
}
