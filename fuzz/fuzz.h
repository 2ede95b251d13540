/* The fuzz targets (fuzz/fuzz_image.c, fuzz/fuzz_asm.c), shared by libFuzzer and the replay
 * driver (fuzz/replay.c), which is built once per target. */
#ifndef IMAGO_FUZZ_H
#define IMAGO_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* What the target exercises, for the replay driver's last line. */
const char *fuzz_summary(void);

#endif
