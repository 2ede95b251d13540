/* Image format v1: round trips, atomic file writing, and the reader's
 * validation (every malformation gives its error and never crashes). */
/* 64-bit directory offsets, so readdir works for 32-bit builds under qemu-user too. */
#define _FILE_OFFSET_BITS 64
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core.h"
#include "imago/img.h"
#include "samples.h"

/* Layout constants, from docs/image-format.md. */
enum {
    H_VERSION = 8,
    H_HDRSIZE = 12,
    H_TOTAL = 16,
    H_CHECKSUM = 20,
    H_FLAGS = 24,
    H_NSECT = 28,
    H_SECTOFF = 32,
    H_SECTENT = 36,
    H_STROFF = 40,
    H_STRSIZE = 44,
    S_TARGET = 0,
    S_ALIGN = 4,
    S_FLAGS = 8,
    S_CODEOFF = 12,
    S_CODESIZE = 16,
    S_SYMOFF = 20,
    S_NSYMS = 24,
    S_RELOFF = 28,
    S_NRELS = 32,
    SYM_NAME = 0,
    SYM_OFFSET = 4,
    SYM_KIND = 8,
    R_OFFSET = 0,
    R_KIND = 4,
    R_SYMBOL = 8,
    R_RESERVED = 12,
};

static uint8_t *image_bytes(const im_image *img, size_t *len)
{
    uint8_t *buf = NULL;
    CHECK_ERR(im_img_write(img, &buf, len), 0);
    return buf;
}

static void fix_checksum(uint8_t *b, size_t len)
{
    im_put32(b + H_CHECKSUM, im_img_checksum(b, len));
}

/* Address of section i's table entry. */
static uint8_t *sect(uint8_t *b, uint32_t i)
{
    return b + im_get32(b + H_SECTOFF) + 48 * i;
}

static int read_err(const uint8_t *b, size_t len)
{
    im_image *img = NULL;
    int err = im_img_read(b, len, &img);
    if (err == 0)
        im_img_free(img);
    else if (img)
        err = 999; /* *out must stay NULL on failure */
    return err;
}

static int same_section(const im_section *a, const im_section *b)
{
    if (a->target != b->target || a->align != b->align || a->code_size != b->code_size ||
        a->nsyms != b->nsyms || a->nrelocs != b->nrelocs)
        return 0;
    if (memcmp(a->code, b->code, a->code_size) != 0)
        return 0;
    for (uint32_t i = 0; i < a->nsyms; i++)
        if (strcmp(a->syms[i].name, b->syms[i].name) || a->syms[i].offset != b->syms[i].offset ||
            a->syms[i].kind != b->syms[i].kind)
            return 0;
    for (uint32_t i = 0; i < a->nrelocs; i++)
        if (a->relocs[i].offset != b->relocs[i].offset || a->relocs[i].kind != b->relocs[i].kind ||
            a->relocs[i].symbol != b->relocs[i].symbol ||
            a->relocs[i].addend != b->relocs[i].addend)
            return 0;
    return 1;
}

static void test_checksum(void)
{
    /* Below the header size the checksum is a plain CRC-32. */
    CHECK_EQ(im_img_checksum((const uint8_t *)"123456789", 9), 0xcbf43926u);
}

static void test_round_trip(void)
{
    im_image *img = sample_image(IM_TARGET_NONE, SAMPLE_RELOC, 1);
    CHECK(img != NULL);
    if (!img)
        return;
    CHECK_EQ(img->nsections, 4);
    size_t len;
    uint8_t *b = image_bytes(img, &len);
    CHECK(b != NULL);
    if (!b) {
        im_img_free(img);
        return;
    }
    CHECK(memcmp(b, "\x7fIMG\r\n\x1a\n", 8) == 0);
    CHECK_EQ(im_get32(b + H_VERSION), 1);
    CHECK_EQ(im_get32(b + H_TOTAL), len);
    CHECK_EQ(im_get32(b + H_CHECKSUM), im_img_checksum(b, len));
    im_image *back = NULL;
    CHECK_ERR(im_img_read(b, len, &back), 0);
    if (back) {
        CHECK_EQ(back->version, 1);
        CHECK_EQ(back->nsections, img->nsections);
        for (uint32_t i = 0; i < img->nsections && i < back->nsections; i++)
            CHECK(same_section(&img->sections[i], &back->sections[i]));
        /* Writing what was read gives the same bytes. */
        size_t len2;
        uint8_t *b2 = image_bytes(back, &len2);
        CHECK(b2 && len2 == len && memcmp(b, b2, len) == 0);
        free(b2);
        const im_section *s = im_img_section(back, IM_TARGET_ARM);
        CHECK(s && s->target == IM_TARGET_ARM);
        uint32_t off = 0;
        CHECK_ERR(im_section_find_symbol(s, "data", &off), 0);
        CHECK_EQ(off, 0x10);
        CHECK_ERR(im_section_find_symbol(s, "nope", &off), IM_ERR_NOSYM);
        CHECK_DETAIL("nope");
        CHECK(s && strcmp(im_section_default_entry(s), "main") == 0);
        im_img_free(back);
    }
    /* Alignment of code in the file: every code offset is 16-aligned. */
    for (uint32_t i = 0; i < 4; i++)
        CHECK_EQ(im_get32(sect(b, i) + S_CODEOFF) % 16, 0);
    free(b);
    im_img_free(img);

    /* An empty image is valid too. */
    im_image *empty = im_img_new();
    b = image_bytes(empty, &len);
    CHECK_EQ(len, 64);
    im_image *e2 = NULL;
    CHECK_ERR(im_img_read(b, len, &e2), 0);
    CHECK(e2 && e2->nsections == 0 && im_img_section(e2, IM_TARGET_X86_64) == NULL);
    im_img_free(e2);
    free(b);
    im_img_free(empty);
}

static void test_building(void)
{
    im_image *img = sample_image(IM_TARGET_X86_64, SAMPLE_RET42, 0);
    CHECK(img != NULL);
    if (!img)
        return;
    /* Second section for the same target. */
    CHECK_ERR(sample_add(img, IM_TARGET_X86_64, SAMPLE_ARITH, 0), IM_ERR_INVAL);
    CHECK_DETAIL("x86_64");

    uint8_t code[8] = {0};
    im_symbol syms[2] = {{(char *)"a", 0, IM_SYM_FUNC}, {(char *)"b", 4, IM_SYM_FUNC}};
    im_reloc rel = {4, IM_RELOC_ABS32, -1, 0, IM_REF_LOCAL};
    im_section s = {IM_TARGET_I386, 4, code, 8, syms, 2, &rel, 1, NULL, NULL, 0, 0};
    im_section bad;

    bad = s;
    bad.target = (im_target)9;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_TARGET);
    bad = s;
    bad.align = 3;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_ALIGN);
    bad = s;
    syms[1].offset = 9;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_SYMBOL);
    CHECK_DETAIL("symbol 1 'b' at offset 0x9 is past the end of code (size 0x8)");
    syms[1].offset = 4;
    syms[1].name = (char *)"a";
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_SYMBOL);
    CHECK_DETAIL("duplicate symbol 'a'");
    syms[1].name = (char *)"b";
    syms[1].kind = 7;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_SYMBOL);
    syms[1].kind = IM_SYM_FUNC;
    rel.offset = 5;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_RELOC);
    CHECK_DETAIL("relocation 0 at offset 0x5 overflows code (size 0x8)");
    rel.offset = 4;
    rel.kind = IM_RELOC_ABS64; /* 64-bit field on a 32-bit target */
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_RELOC);
    rel.kind = 77;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_RELOC);
    rel.kind = IM_RELOC_ABS32;
    rel.symbol = 2;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_RELOC);
    rel.symbol = -2;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_RELOC);
    rel.symbol = 1;
    CHECK_ERR(im_img_add_section(img, &s), 0);
    CHECK_EQ(img->nsections, 2);
    /* The image owns copies: changing the caller's arrays changes nothing. */
    code[0] = 0x90;
    syms[0].name = (char *)"changed";
    const im_section *got = im_img_section(img, IM_TARGET_I386);
    CHECK(got && got->code[0] == 0 && strcmp(got->syms[0].name, "a") == 0);
    CHECK(got && got->relocs[0].symbol == 1);
    im_img_free(img);
    im_img_free(NULL);
}

/* Names of the files in dir, other than . and .., as a count. */
static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void test_files(void)
{
    char dir[] = "/tmp/imago-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], bad[300];
    snprintf(path, sizeof path, "%s/a.img", dir);
    snprintf(bad, sizeof bad, "%s/missing/a.img", dir);

    im_image *img = sample_image(IM_TARGET_NONE, SAMPLE_ARITH, 0);
    CHECK_ERR(im_img_write_file(img, path), 0);
    CHECK_EQ(count_files(dir), 1); /* no temporary left behind */
    im_image *back = NULL;
    CHECK_ERR(im_img_read_file(path, &back), 0);
    CHECK(back && back->nsections == 4);
    im_img_free(back);

    /* Overwriting replaces the file in one step. */
    im_image *img2 = sample_image(IM_TARGET_ARM, SAMPLE_RET42, 0);
    CHECK_ERR(im_img_write_file(img2, path), 0);
    CHECK_EQ(count_files(dir), 1);
    CHECK_ERR(im_img_read_file(path, &back), 0);
    CHECK(back && back->nsections == 1 && back->sections[0].target == IM_TARGET_ARM);
    im_img_free(back);

    /* A directory that does not exist: an error and no file. */
    CHECK_ERR(im_img_write_file(img, bad), IM_ERR_IO);
    CHECK_DETAIL("missing");
    CHECK_EQ(count_files(dir), 1);

    /* An invalid image is not written at all, and the old file stays. */
    img2->sections[0].align = 6;
    CHECK_ERR(im_img_write_file(img2, path), IM_ERR_ALIGN);
    CHECK_EQ(count_files(dir), 1);
    CHECK_ERR(im_img_read_file(path, &back), 0);
    im_img_free(back);

    CHECK_ERR(im_img_read_file(bad, &back), IM_ERR_IO);
    CHECK(back == NULL);
    CHECK_ERR(im_img_read_file(dir, &back), IM_ERR_IO);

    unlink(path);
    rmdir(dir);
    im_img_free(img);
    im_img_free(img2);
}

static void test_malformed(void)
{
    im_image *img = sample_image(IM_TARGET_NONE, SAMPLE_RELOC, 1);
    size_t len;
    uint8_t *orig = image_bytes(img, &len);
    im_img_free(img);
    if (!orig)
        return;
    uint8_t *b = malloc(len + 16);
    CHECK(b != NULL);
    if (!b) {
        free(orig);
        return;
    }
#define RESET() memcpy(b, orig, len)

    /* Truncation at every length: always an error, TRUNCATED below the size. */
    int trunc_ok = 1;
    for (size_t n = 0; n < len; n++) {
        uint8_t *t = malloc(n ? n : 1); /* exact-size copies, so ASan sees overreads */
        memcpy(t, orig, n);
        if (read_err(t, n) != IM_ERR_TRUNCATED)
            trunc_ok = 0;
        free(t);
    }
    CHECK(trunc_ok);
    RESET();
    CHECK_ERR(read_err(b, 10), IM_ERR_TRUNCATED);
    CHECK_DETAIL("shorter than the 64-byte header");

    /* Trailing bytes. */
    RESET();
    b[len] = 0;
    CHECK_ERR(read_err(b, len + 1), IM_ERR_MALFORMED);

    /* Flip every bit pattern of every byte: checksum (or magic/version/size) error. */
    int flip_ok = 1;
    for (size_t i = 0; i < len; i++) {
        RESET();
        b[i] ^= 0xff;
        int err = read_err(b, len);
        if (err >= 0 || err == 999)
            flip_ok = 0;
    }
    CHECK(flip_ok);
    /* Flip with a repaired checksum: the structural checks see it. Success or an
     * error, never a crash (ASan) nor a half-built image. */
    int fuzz_ok = 1, fuzz_errors = 0;
    for (size_t i = 0; i < len; i++) {
        if (i >= H_CHECKSUM && i < H_CHECKSUM + 4)
            continue;
        for (int bit = 0; bit < 8; bit++) {
            RESET();
            b[i] ^= (uint8_t)(1u << bit);
            fix_checksum(b, len);
            int err = read_err(b, len);
            if (err == 999 || err > 0)
                fuzz_ok = 0;
            if (err < 0)
                fuzz_errors++;
        }
    }
    CHECK(fuzz_ok);
    CHECK(fuzz_errors > 0);

    RESET();
    b[0] = 'X';
    CHECK_ERR(read_err(b, len), IM_ERR_MAGIC);
    RESET();
    im_put32(b + H_VERSION, 2);
    CHECK_ERR(read_err(b, len), IM_ERR_VERSION);
    CHECK_DETAIL("version 2");
    RESET();
    b[len - 1] ^= 1;
    CHECK_ERR(read_err(b, len), IM_ERR_CHECKSUM);
    RESET();
    im_put32(b + H_TOTAL, (uint32_t)len + 4);
    CHECK_ERR(read_err(b, len), IM_ERR_TRUNCATED);

#define MUTATE(stmt, want, detail)                                                                 \
    do {                                                                                           \
        RESET();                                                                                   \
        stmt;                                                                                      \
        fix_checksum(b, len);                                                                      \
        CHECK_ERR(read_err(b, len), want);                                                         \
        CHECK_DETAIL(detail);                                                                      \
    } while (0)

    MUTATE(im_put32(b + H_HDRSIZE, 128), IM_ERR_MALFORMED, "header size 128");
    MUTATE(im_put32(b + H_FLAGS, 1), IM_ERR_MALFORMED, "flags");
    MUTATE(b[60] = 1, IM_ERR_MALFORMED, "reserved");
    MUTATE(im_put32(b + H_SECTENT, 40), IM_ERR_MALFORMED, "entry size 40");
    MUTATE(im_put32(b + H_NSECT, 0x7fffffff), IM_ERR_MALFORMED, "section table");
    MUTATE(im_put32(b + H_SECTOFF, 0xfffffff8u), IM_ERR_MALFORMED, "section table");
    MUTATE(im_put32(b + H_SECTOFF, 68), IM_ERR_ALIGN, "not 8-byte aligned");
    MUTATE(im_put32(b + H_STRSIZE, 0xffffffffu), IM_ERR_MALFORMED, "string table");
    MUTATE(im_put32(sect(b, 1) + S_TARGET, 9), IM_ERR_TARGET, "section 1: unknown target 9");
    MUTATE(im_put32(sect(b, 1) + S_TARGET, IM_TARGET_X86_64), IM_ERR_MALFORMED,
           "sections 0 and 1 are both for x86_64");
    MUTATE(im_put32(sect(b, 2) + S_ALIGN, 12), IM_ERR_ALIGN, "section 2 (arm): alignment 12");
    MUTATE(im_put32(sect(b, 0) + S_FLAGS, 2), IM_ERR_MALFORMED, "section 0: unknown flags");
    MUTATE(sect(b, 0)[40] = 1, IM_ERR_MALFORMED, "section 0: reserved");
    MUTATE(im_put32(sect(b, 0) + S_CODESIZE, 0xfffffff0u), IM_ERR_MALFORMED, "section 0: code at");
    MUTATE(im_put32(sect(b, 0) + S_CODEOFF, im_get32(sect(b, 0) + S_CODEOFF) + 8), IM_ERR_ALIGN,
           "code offset");
    MUTATE(im_put32(sect(b, 0) + S_NSYMS, 0x10000000u), IM_ERR_MALFORMED,
           "section 0: symbol table");
    MUTATE(im_put32(sect(b, 0) + S_SYMOFF, 0xfffffff8u), IM_ERR_MALFORMED,
           "section 0: symbol table");
    MUTATE(im_put32(sect(b, 3) + S_NRELS, 0x10000000u), IM_ERR_MALFORMED,
           "section 3: relocation table");
    MUTATE(im_put32(sect(b, 3) + S_RELOFF, im_get32(sect(b, 3) + S_RELOFF) + 4), IM_ERR_ALIGN,
           "section 3: relocation table offset");

    /* Symbols (section 0 is x86_64: "main" at 0, "data" at 0xd, code 0x11 bytes). */
    uint8_t *sym0 = b + im_get32(sect(orig, 0) + S_SYMOFF);
    uint32_t strsize = im_get32(orig + H_STRSIZE);
    uint32_t stroff = im_get32(orig + H_STROFF);
    MUTATE(im_put32(sym0 + 16 + SYM_NAME, strsize), IM_ERR_SYMBOL,
           "section 0: symbol 1 name at string offset");
    MUTATE(b[stroff + strsize - 1] = 'x', IM_ERR_SYMBOL, "not NUL-terminated");
    MUTATE(im_put32(sym0 + 16 + SYM_OFFSET, 0x12), IM_ERR_SYMBOL,
           "symbol 1 'data' at offset 0x12 is past the end of code (size 0x11)");
    MUTATE(im_put32(sym0 + SYM_KIND, 3), IM_ERR_SYMBOL, "unknown kind 3");
    MUTATE(b[stroff + im_get32(sym0 + 16 + SYM_NAME)] = 0, IM_ERR_SYMBOL, "empty name");
    MUTATE(memcpy(b + stroff + im_get32(sym0 + 16 + SYM_NAME), "main", 4), IM_ERR_SYMBOL,
           "duplicate symbol 'main'");
    MUTATE(b[im_get32(sect(b, 0) + S_SYMOFF) + 12] = 1, IM_ERR_MALFORMED, "symbol 0 reserved");

    /* Relocations (section 0: ABS64 at 2, code 0x11 bytes). */
    uint8_t *rel0 = b + im_get32(sect(orig, 0) + S_RELOFF);
    MUTATE(im_put32(rel0 + R_OFFSET, 0x20), IM_ERR_RELOC,
           "section 0 (x86_64): relocation 0 at offset 0x20 overflows code (size 0x11)");
    MUTATE(im_put32(rel0 + R_OFFSET, 0xa), IM_ERR_RELOC, "offset 0xa overflows code");
    MUTATE(im_put32(rel0 + R_OFFSET, 0xfffffffcu), IM_ERR_RELOC, "overflows code");
    MUTATE(im_put32(rel0 + R_KIND, 99), IM_ERR_RELOC, "unknown kind 99");
    MUTATE(im_put32(rel0 + R_SYMBOL, 2), IM_ERR_RELOC, "refers to symbol 2 (section has 2)");
    MUTATE(im_put32(rel0 + R_SYMBOL, 0xfffffffe), IM_ERR_RELOC, "refers to symbol -2");
    MUTATE(im_put32(rel0 + R_RESERVED, 1), IM_ERR_MALFORMED, "relocation 0 reserved");
    /* ABS64 in the i386 section (section 1). */
    uint8_t *rel1 = b + im_get32(sect(orig, 1) + S_RELOFF);
    MUTATE(im_put32(rel1 + R_KIND, IM_RELOC_ABS64), IM_ERR_RELOC, "ABS64 is not valid for i386");

    /* Bad arguments. */
    im_image *out = NULL;
    CHECK_ERR(im_img_read(NULL, 4, &out), IM_ERR_INVAL);
    CHECK_ERR(im_img_read(orig, len, NULL), IM_ERR_INVAL);
    free(b);
    free(orig);
}

int main(void)
{
    test_checksum();
    test_round_trip();
    test_building();
    test_files();
    test_malformed();
    return check_done();
}
