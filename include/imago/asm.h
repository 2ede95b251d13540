/* imago text assembler: GNU-syntax source (Intel syntax for x86 after
 * `.intel_syntax noprefix`, UAL for arm and aarch64) to a finished im_buf. It reads the
 * files GNU as reads for the same target and, where GNU as chooses among encodings
 * (short or long jumps, imm8 or imm32, accumulator forms), chooses the same. */
#ifndef IMAGO_ASM_H
#define IMAGO_ASM_H

#include "enc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Assemble src (len bytes; NUL not required) for target t. On success *out is a finished
 * buffer with the exported (.globl) symbols. On failure returns a negative IM_ERR_*, sets
 * *line to the source line at fault (0 if none) and im_detail() to the reason. */
int im_asm(im_target t, const char *src, size_t len, im_buf **out, int *line);
/* The most code one source assembles to (.space, alignment and instructions together): more
 * is IM_ERR_RANGE at the statement that crosses it, so hostile text cannot make im_asm
 * allocate without bound. The C encoder API (im_buf) has no such limit. */
#define IM_ASM_MAX_CODE (256u << 20)

/* Modules, imports and the TOC in assembly source (docs/asm.md):
 *   .globl NAME          export NAME (as before)
 *   .import NAME         NAME is imported (another module's export or a host function)
 *   call NAME / bl NAME / b NAME / jmp NAME   a direct branch to an import (relocated when
 *                        linked, through a veneer when it cannot reach)
 *   NAME@toc             the address of NAME's TOC slot, wherever a symbol's address goes:
 *                        x86_64  call QWORD PTR [rip + NAME@toc]
 *                        i386    call DWORD PTR [NAME@toc]
 *                        arm     ldr ip, =NAME@toc   or   movw ip, #:lower16:NAME@toc
 *                                                         movt ip, #:upper16:NAME@toc
 *                        aarch64 adrp x16, NAME@toc ; ldr x16, [x16, #:lo12:NAME@toc]
 * Local addresses take the same relocated forms: movw/movt #:lower16:/#:upper16:label on
 * arm, adrp label / add #:lo12:label / ldr [xN, #:lo12:label] on aarch64. */

#ifdef __cplusplus
}
#endif
#endif
