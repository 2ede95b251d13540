/* Fuzz target over the text assembler (docs/testing.md, "Fuzzing").
 *
 * An input is one byte that picks the target (its low two bits: x86_64, i386, arm, aarch64)
 * followed by the source text, handed to im_asm as exactly those bytes (no NUL after them,
 * so a read past the end is a sanitizer report). im_asm must either fail with a negative
 * error, a detail, a line number >= 0 and *out left NULL, or succeed. Then:
 *   - assembling the same text again gives the same code (no uninitialised byte decides);
 *   - im_buf_to_module makes a section of it (or fails with an error and a detail), whose
 *     code im_section_relocate_toc relocates at a low and a high address (range errors are
 *     fine);
 *   - the image is written, read back and written again, byte for byte the same.
 * Any violation aborts, which libFuzzer and the replay driver report as a crash.
 *
 * Built like fuzz/fuzz_image.c: with clang -fsanitize=fuzzer,address,undefined (make fuzz)
 * and with gcc, ASan+UBSan, into fuzz/replay.c's driver (make test-fuzz-replay). */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imago/asm.h"
#include "imago/img.h"

static const im_target targets[4] = {IM_TARGET_X86_64, IM_TARGET_I386, IM_TARGET_ARM,
                                     IM_TARGET_AARCH64};

const char *fuzz_summary(void)
{
    return "the text assembler of x86_64, i386, arm and aarch64";
}

static void image_round_trip(const im_buf *b)
{
    im_image *img = im_img_new();
    if (!img)
        fuzz_fail("out of memory", 0);
    int err = im_buf_to_module(b, "m", img);
    fuzz_check_error("im_buf_to_module", err);
    if (!err) {
        fuzz_relocate_all(img);
        fuzz_round_trip(img);
    }
    im_img_free(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    im_target t = targets[data[0] & 3];
    size_t len = size - 1;
    char *src = malloc(len ? len : 1); /* exactly the text: ASan sees a read past it */
    if (!src)
        fuzz_fail("out of memory", 0);
    memcpy(src, data + 1, len);
    im_buf *b = (im_buf *)1; /* must be set to NULL on failure */
    int line = -1;
    int err = im_asm(t, src, len, &b, &line);
    if (err) {
        fuzz_check_error("im_asm", err);
        if (b != NULL)
            fuzz_fail("im_asm failed but left *out set", err);
        if (line < 0)
            fuzz_fail("im_asm failed without setting the line", err);
        free(src);
        return 0;
    }
    if (!b)
        fuzz_fail("im_asm succeeded without a buffer", 0);
    im_buf *again = NULL;
    if ((err = im_asm(t, src, len, &again, &line)) != 0)
        fuzz_fail("the same text assembled again fails", err);
    size_t n1 = 0, n2 = 0;
    const uint8_t *c1 = im_buf_code(b, &n1), *c2 = im_buf_code(again, &n2);
    if (n1 != n2 || (n1 && memcmp(c1, c2, n1) != 0))
        fuzz_fail("the same text assembled twice gives different code", 0);
    im_buf_free(again);
    image_round_trip(b);
    im_buf_free(b);
    free(src);
    return 0;
}
