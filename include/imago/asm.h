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

#ifdef __cplusplus
}
#endif
#endif
