/* What both fuzz targets check the same way (fuzz/fuzz.h): errors, relocation of every
 * section, and the image round trip. Linked into each target and its replay driver.
 *
 * im_section_relocate_toc is a weak reference: a build whose loader predates it (the image
 * target links only what it names) falls back to im_section_relocate. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma weak im_section_relocate_toc

void fuzz_fail(const char *what, int err)
{
    fprintf(stderr, "fuzz: %s (error %d: %s; detail: %s)\n", what, err, im_strerror(err),
            im_detail());
    abort();
}

void fuzz_check_error(const char *what, int err)
{
    if (err > 0 || (err < 0 && im_detail()[0] == '\0'))
        fuzz_fail(what, err);
}

int fuzz_have_relocate_toc(void)
{
    return im_section_relocate_toc != NULL;
}

void fuzz_relocate_all(const im_image *img)
{
    static const uint64_t bases[] = {0x10000u, 0x7ffff0000000ull};
    for (uint32_t i = 0; i < img->nsections; i++) {
        const im_section *s = &img->sections[i];
        uint8_t *scratch = malloc(s->code_size ? s->code_size : 1);
        if (!scratch)
            fuzz_fail("out of memory", 0);
        for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++) {
            if (s->code_size)
                memcpy(scratch, s->code, s->code_size);
            uint64_t base = bases[b];
            /* The TOC right after the code, page-aligned. */
            uint64_t toc = (base + s->code_size + 0xfffu) & ~(uint64_t)0xfffu;
            int err = fuzz_have_relocate_toc() ? im_section_relocate_toc(s, scratch, base, toc)
                                               : im_section_relocate(s, scratch, base);
            fuzz_check_error("relocation", err);
        }
        free(scratch);
    }
}

void fuzz_round_trip(const im_image *img)
{
    uint8_t *b1 = NULL, *b2 = NULL;
    size_t n1 = 0, n2 = 0;
    im_image *back = NULL;
    int err;
    if ((err = im_img_write(img, &b1, &n1)) != 0)
        fuzz_fail("im_img_write of an accepted image", err);
    if ((err = im_img_read(b1, n1, &back)) != 0)
        fuzz_fail("reading back what im_img_write wrote", err);
    if ((err = im_img_write(back, &b2, &n2)) != 0)
        fuzz_fail("im_img_write of the re-read image", err);
    if (n1 != n2 || memcmp(b1, b2, n1) != 0)
        fuzz_fail("round trip: writing the re-read image gives different bytes", 0);
    if (back->nsections != img->nsections)
        fuzz_fail("round trip: section count differs", 0);
    free(b1);
    free(b2);
    im_img_free(back);
}
