/* The fuzz targets (fuzz/fuzz_image.c, fuzz/fuzz_asm.c), shared by libFuzzer and the replay
 * driver (fuzz/replay.c), which is built once per target, and the checks both targets make
 * (fuzz/fuzz_common.c). */
#ifndef IMAGO_FUZZ_H
#define IMAGO_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "imago/img.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* What the target exercises, for the replay driver's last line. */
const char *fuzz_summary(void);

/* Report a broken rule on stderr and abort (libFuzzer and the replay see a crash). */
void fuzz_fail(const char *what, int err);
/* An error must be negative and come with a detail. */
void fuzz_check_error(const char *what, int err);
/* Is im_section_relocate_toc linked in (else im_section_relocate is used)? */
int fuzz_have_relocate_toc(void);
/* Relocate every section into a scratch copy of its code at a low and a high address, the
 * TOC after the code: errors are allowed (range, unresolved imports), crashes are not. */
void fuzz_relocate_all(const im_image *img);
/* im_img_write must succeed, its bytes read back, and writing those again give the same
 * bytes and section count (the writer's layout is canonical). */
void fuzz_round_trip(const im_image *img);

#endif
