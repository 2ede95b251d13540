/* Fuzz target over the image reader and the loader (docs/testing.md, "Fuzzing").
 *
 * For every input: im_img_read must either fail with a negative error, a non-empty
 * detail and *out left NULL, or succeed. For an image it accepts:
 *   - every section is relocated into a scratch copy of its code (im_section_relocate_toc,
 *     at a low and a high address): errors are allowed (range, unresolved imports), crashes
 *     and sanitizer reports are not;
 *   - host-target sections are loaded into a runtime-linker space (im_link_new/im_link_load)
 *     when the linker is linked in;
 *   - im_img_write of what was read must succeed, the result must read back, and writing
 *     that again must give the same bytes (the writer's layout is canonical).
 * Any violation aborts, which libFuzzer and the replay driver report as a crash.
 *
 * Built twice: with clang -fsanitize=fuzzer,address,undefined (make fuzz) and with gcc,
 * ASan+UBSan, into fuzz/replay.c's driver (make test-fuzz-replay). The optional functions
 * are weak references, resolved when their object files are linked in (the Makefile links
 * object files, not the archive, so a definition present in the build is always found). */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imago/img.h"
#include "imago/link.h"

#pragma weak im_link_new
#pragma weak im_link_load
#pragma weak im_link_free

static int fuzz_have_linker(void)
{
    return im_link_new != NULL && im_link_load != NULL && im_link_free != NULL;
}

const char *fuzz_summary(void)
{
    static char s[160];
    snprintf(s, sizeof s, "the image reader; relocation: %s; runtime linker: %s",
             fuzz_have_relocate_toc() ? "im_section_relocate_toc" : "im_section_relocate",
             fuzz_have_linker() ? "loaded host sections" : "not built yet, skipped");
    return s;
}

static void link_host_sections(const im_image *img)
{
    /* The runtime linker (loader/link.c) is weakly referenced like the relocator: a build
     * without it skips this, and the replay driver says so. */
    if (!fuzz_have_linker())
        return;
    im_link *l = NULL;
    int err = im_link_new(im_host_target(), &l);
    fuzz_check_error("im_link_new", err);
    if (err)
        return;
    for (uint32_t i = 0; i < img->nsections; i++) {
        const im_section *s = &img->sections[i];
        if (s->target != im_host_target())
            continue;
        im_lmod *m = NULL;
        err = im_link_load(l, s, 0, &m);
        fuzz_check_error("im_link_load", err);
    }
    im_link_free(l);
}

static void one_input(const uint8_t *data, size_t size)
{
    im_image *img = (im_image *)1; /* must be set to NULL on failure */
    int err = im_img_read(data, size, &img);
    if (err) {
        fuzz_check_error("im_img_read", err);
        if (img != NULL)
            fuzz_fail("im_img_read failed but left *out set", err);
        return;
    }
    if (!img)
        fuzz_fail("im_img_read succeeded without an image", 0);

    fuzz_relocate_all(img);
    link_host_sections(img);
    fuzz_round_trip(img);
    im_img_free(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The input as it is: the size and checksum checks see it. */
    one_input(data, size);
    /* Then a copy with total_size and the checksum repaired, so that mutations reach the
     * structural checks behind them (a random change almost never keeps the CRC right). */
    if (size >= 64 && size <= UINT32_MAX && memcmp(data, "\x7fIMG", 4) == 0) {
        uint8_t *copy = malloc(size);
        if (!copy)
            fuzz_fail("out of memory", 0);
        memcpy(copy, data, size);
        uint32_t total = (uint32_t)size;
        for (int i = 0; i < 4; i++)
            copy[16 + i] = (uint8_t)(total >> (8 * i));
        uint32_t crc = im_img_checksum(copy, size);
        for (int i = 0; i < 4; i++)
            copy[20 + i] = (uint8_t)(crc >> (8 * i));
        one_input(copy, size);
        free(copy);
    }
    return 0;
}
