/* The image fuzz target (fuzz/fuzz_image.c), shared by libFuzzer and the replay driver. */
#ifndef IMAGO_FUZZ_IMAGE_H
#define IMAGO_FUZZ_IMAGE_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Which optional parts the target found linked in (1) or missing (0). */
int fuzz_have_relocate_toc(void);
int fuzz_have_linker(void);

#endif
