/* Relocation kinds as the loader sees them (internal, not installed): one generic switch
 * with per-target helpers (loader/reloc.c). */
#ifndef IMAGO_LOADER_RELOC_H
#define IMAGO_LOADER_RELOC_H

#include "imago/img.h"

#include "core.h"

/* Size in bytes of the field a relocation kind patches on target t; 0 if the
 * kind is unknown or not valid for that target. Shared by the image reader
 * (validation) and the relocators. */
unsigned im_reloc_field_size(uint32_t kind, im_target t);

/* Write the value of one relocation of kind into the field at p (field_size bytes of
 * code, the instruction's other bits kept), for a field at address place and a target
 * value v = S + A. Returns 0, or IM_ERR_RELOC_RANGE / IM_ERR_ALIGN with im_detail() saying
 * which value did not fit and why (the caller prefixes where). Nothing is written on
 * failure. */
int im_reloc_apply(im_target t, uint32_t kind, uint8_t *p, uint64_t place, uint64_t v);

/* The common x86_64 kinds inline (ABS64, PC32) for the loaders' fast paths: 1 when the
 * field at p (address place) now holds v = S + A, 0 when the general path must do it
 * (another kind, or a PC32 value out of range, which im_reloc_apply then reports). */
static inline int im_reloc_x86_64_fast(uint32_t kind, uint8_t *p, uint64_t place, uint64_t v)
{
    if (kind == IM_RELOC_ABS64) {
        im_put64(p, v);
        return 1;
    }
    if (kind == IM_RELOC_PC32) {
        int64_t x = (int64_t)(v - place);
        if (x < INT32_MIN || x > INT32_MAX)
            return 0;
        im_put32(p, (uint32_t)x);
        return 1;
    }
    return 0;
}

/* Is kind a branch a veneer can stand in for (a call or jump whose target is any address:
 * x86_64 PC32 on call/jmp rel32, ARM_CALL, ARM_JUMP24, AARCH64_CALL26, AARCH64_JUMP26)?
 * p: the field, to look at the opcode before it on x86. */
int im_reloc_veneerable(im_target t, uint32_t kind, const uint8_t *code, uint32_t offset);

/* Veneers: a few instructions that jump to any address, placed within reach of a branch
 * that cannot reach its target. IM_VENEER_MAX bytes at most, im_veneer_size(t) for t. */
#define IM_VENEER_MAX 16u
unsigned im_veneer_size(im_target t);
/* Write a veneer at dst (its address: at) that jumps to target; it may clobber only the
 * registers the ABI gives to veneers (x86_64 none: jmp [rip]; arm ip via ldr pc;
 * aarch64 x16/x17). */
void im_veneer_write(im_target t, uint8_t *dst, uint64_t at, uint64_t target);

#endif
