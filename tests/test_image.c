/* Image format v2 (and reading v1): round trips with modules, imports, TOC slots and every
 * relocation kind, atomic file writing, and the reader's validation (every malformation gives
 * its named error, says where, and never crashes). */
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
    S_SIZE = 64,
    S_TARGET = 0,
    S_ALIGN = 4,
    S_FLAGS = 8,
    S_CODEOFF = 12,
    S_CODESIZE = 16,
    S_SYMOFF = 20,
    S_NSYMS = 24,
    S_RELOFF = 28,
    S_NRELS = 32,
    S_MODULE = 36,
    S_IMPOFF = 40,
    S_NIMPS = 44,
    S_TOCSLOTS = 48,
    SYM_NAME = 0,
    SYM_OFFSET = 4,
    SYM_KIND = 8,
    IMP_NAME = 0,
    IMP_SLOT = 4,
    IMP_KIND = 8,
    IMP_RESERVED = 12,
    R_SIZE = 24,
    R_OFFSET = 0,
    R_KIND = 4,
    R_SYMBOL = 8,
    R_REF = 12,
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
    return b + im_get32(b + H_SECTOFF) + im_get32(b + H_SECTENT) * i;
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
        a->nsyms != b->nsyms || a->nrelocs != b->nrelocs || a->nimports != b->nimports ||
        a->toc_slots != b->toc_slots || strcmp(a->module, b->module) != 0)
        return 0;
    if (memcmp(a->code, b->code, a->code_size) != 0)
        return 0;
    for (uint32_t i = 0; i < a->nsyms; i++)
        if (strcmp(a->syms[i].name, b->syms[i].name) || a->syms[i].offset != b->syms[i].offset ||
            a->syms[i].kind != b->syms[i].kind)
            return 0;
    for (uint32_t i = 0; i < a->nimports; i++)
        if (strcmp(a->imports[i].name, b->imports[i].name) ||
            a->imports[i].slot != b->imports[i].slot || a->imports[i].kind != b->imports[i].kind)
            return 0;
    for (uint32_t i = 0; i < a->nrelocs; i++)
        if (a->relocs[i].offset != b->relocs[i].offset || a->relocs[i].kind != b->relocs[i].kind ||
            a->relocs[i].symbol != b->relocs[i].symbol || a->relocs[i].ref != b->relocs[i].ref ||
            a->relocs[i].addend != b->relocs[i].addend)
            return 0;
    return 1;
}

/* ---- a multi-module image with imports and every relocation kind ------------------- */

#define NKINDS_X86 5
#define NKINDS_ARM 5
#define NKINDS_A64 12
static uint8_t zero_code[64];
static im_symbol mm_syms[2] = {{(char *)"f", 0, IM_SYM_FUNC}, {(char *)"d", 48, IM_SYM_DATA}};
static im_import mm_imps[3] = {{(char *)"puts", 2, IM_SYM_FUNC},
                               {(char *)"counter", 0, IM_SYM_DATA},
                               {(char *)"g", 1, IM_SYM_FUNC}};
static im_reloc x86_rels[NKINDS_X86] = {
    {.offset = 0, .kind = IM_RELOC_ABS64, .symbol = 1, .ref = IM_REF_LOCAL, .addend = 8},
    {.offset = 8, .kind = IM_RELOC_ABS32, .symbol = -1, .ref = IM_REF_LOCAL, .addend = 48},
    {.offset = 12, .kind = IM_RELOC_ABS32S, .symbol = 1, .ref = IM_REF_LOCAL, .addend = -4},
    {.offset = 16, .kind = IM_RELOC_PC32, .symbol = 0, .ref = IM_REF_TOC, .addend = -4},
    {.offset = 20, .kind = IM_RELOC_PC32, .symbol = 2, .ref = IM_REF_IMPORT, .addend = -4},
};
static im_reloc arm_rels[NKINDS_ARM] = {
    {.offset = 0, .kind = IM_RELOC_ARM_CALL, .symbol = 2, .ref = IM_REF_IMPORT},
    {.offset = 4, .kind = IM_RELOC_ARM_JUMP24, .symbol = 0, .ref = IM_REF_LOCAL},
    {.offset = 8, .kind = IM_RELOC_ARM_MOVW_ABS_NC, .symbol = 1, .ref = IM_REF_TOC},
    {.offset = 12, .kind = IM_RELOC_ARM_MOVT_ABS, .symbol = 1, .ref = IM_REF_TOC},
    {.offset = 16, .kind = IM_RELOC_ABS32, .symbol = 1, .ref = IM_REF_LOCAL},
};
static im_reloc a64_rels[NKINDS_A64] = {
    {.offset = 0, .kind = IM_RELOC_AARCH64_CALL26, .symbol = 0, .ref = IM_REF_IMPORT},
    {.offset = 4, .kind = IM_RELOC_AARCH64_JUMP26, .symbol = 2, .ref = IM_REF_IMPORT},
    {.offset = 8, .kind = IM_RELOC_AARCH64_CONDBR19, .symbol = 0, .ref = IM_REF_LOCAL},
    {.offset = 12, .kind = IM_RELOC_AARCH64_TSTBR14, .symbol = -1, .ref = IM_REF_LOCAL},
    {.offset = 16, .kind = IM_RELOC_AARCH64_ADR_PREL_PG_HI21, .symbol = 1, .ref = IM_REF_TOC},
    {.offset = 20, .kind = IM_RELOC_AARCH64_ADD_ABS_LO12_NC, .symbol = 1, .ref = IM_REF_TOC},
    {.offset = 24, .kind = IM_RELOC_AARCH64_LDST8_ABS_LO12_NC, .symbol = 1},
    {.offset = 28, .kind = IM_RELOC_AARCH64_LDST16_ABS_LO12_NC, .symbol = 1},
    {.offset = 32, .kind = IM_RELOC_AARCH64_LDST32_ABS_LO12_NC, .symbol = 1},
    {.offset = 36, .kind = IM_RELOC_AARCH64_LDST64_ABS_LO12_NC, .symbol = 1},
    {.offset = 40, .kind = IM_RELOC_AARCH64_LDST128_ABS_LO12_NC, .symbol = 1},
    {.offset = 48, .kind = IM_RELOC_ABS64, .symbol = 1, .addend = 16},
};

/* Sections: 0 x86_64 "app", 1 i386 "app", 2 arm "lib", 3 aarch64 "lib", 4 x86_64 "lib"
 * (same target, another module), 5 aarch64 "main" (no module name given). */
static im_image *multi_module_image(void)
{
    im_image *img = im_img_new();
    im_section s = {.align = 16,
                    .code = zero_code,
                    .code_size = sizeof zero_code,
                    .syms = mm_syms,
                    .nsyms = 2,
                    .imports = mm_imps,
                    .nimports = 3,
                    .toc_slots = 3};
    s.target = IM_TARGET_X86_64, s.module = (char *)"app", s.relocs = x86_rels;
    s.nrelocs = NKINDS_X86;
    CHECK_ERR(im_img_add_section(img, &s), 0);
    s.target = IM_TARGET_I386; /* the same kinds but ABS64 and ABS32S */
    s.relocs = x86_rels + 1;
    s.nrelocs = 1;
    CHECK_ERR(im_img_add_section(img, &s), 0);
    s.target = IM_TARGET_ARM, s.module = (char *)"lib", s.align = 4, s.relocs = arm_rels;
    s.nrelocs = NKINDS_ARM;
    CHECK_ERR(im_img_add_section(img, &s), 0);
    s.target = IM_TARGET_AARCH64, s.relocs = a64_rels, s.nrelocs = NKINDS_A64;
    CHECK_ERR(im_img_add_section(img, &s), 0);
    s.target = IM_TARGET_X86_64, s.relocs = x86_rels, s.nrelocs = NKINDS_X86;
    CHECK_ERR(im_img_add_section(img, &s), 0);
    s.target = IM_TARGET_AARCH64, s.module = NULL, s.nimports = 0, s.toc_slots = 0;
    s.relocs = a64_rels + 6, s.nrelocs = NKINDS_A64 - 6;
    CHECK_ERR(im_img_add_section(img, &s), 0);
    return img;
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
    CHECK_EQ(im_get32(b + H_VERSION), 2);
    CHECK_EQ(im_get32(b + H_SECTENT), 64);
    CHECK_EQ(im_get32(b + H_TOTAL), len);
    CHECK_EQ(im_get32(b + H_CHECKSUM), im_img_checksum(b, len));
    im_image *back = NULL;
    CHECK_ERR(im_img_read(b, len, &back), 0);
    if (back) {
        CHECK_EQ(back->version, 2);
        CHECK_EQ(back->nsections, img->nsections);
        for (uint32_t i = 0; i < img->nsections && i < back->nsections; i++) {
            CHECK(same_section(&img->sections[i], &back->sections[i]));
            CHECK(strcmp(back->sections[i].module, IM_DEFAULT_MODULE) == 0);
        }
        /* Writing what was read gives the same bytes. */
        size_t len2;
        uint8_t *b2 = image_bytes(back, &len2);
        CHECK(b2 && len2 == len && memcmp(b, b2, len) == 0);
        free(b2);
        const im_section *s = im_img_section(back, IM_TARGET_ARM);
        CHECK(s && s->target == IM_TARGET_ARM);
        CHECK(s == im_img_module_section(back, "main", IM_TARGET_ARM));
        CHECK(s == im_img_module_section(back, NULL, IM_TARGET_ARM));
        CHECK(im_img_module_section(back, "other", IM_TARGET_ARM) == NULL);
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

static void test_modules_round_trip(void)
{
    im_image *img = multi_module_image();
    CHECK_EQ(img->nsections, 6);
    size_t len;
    uint8_t *b = image_bytes(img, &len);
    if (!b) {
        im_img_free(img);
        return;
    }
    im_image *back = NULL;
    CHECK_ERR(im_img_read(b, len, &back), 0);
    if (back) {
        CHECK_EQ(back->nsections, 6);
        for (uint32_t i = 0; i < 6 && i < back->nsections; i++)
            CHECK(same_section(&img->sections[i], &back->sections[i]));
        /* Every kind of every target, and every ref, survived with its fields. */
        const im_section *a = im_img_module_section(back, "lib", IM_TARGET_AARCH64);
        CHECK(a && a->nrelocs == NKINDS_A64 && a->nimports == 3 && a->toc_slots == 3);
        for (uint32_t i = 0; a && i < NKINDS_A64; i++)
            CHECK(a->relocs[i].kind == a64_rels[i].kind && a->relocs[i].ref == a64_rels[i].ref);
        const im_section *x = im_img_module_section(back, "lib", IM_TARGET_X86_64);
        const im_section *x0 = im_img_module_section(back, "app", IM_TARGET_X86_64);
        CHECK(x && x0 && x != x0 && x == &back->sections[4] && x0 == &back->sections[0]);
        CHECK(im_img_section(back, IM_TARGET_X86_64) == x0); /* the first for the target */
        CHECK(im_img_module_section(back, NULL, IM_TARGET_AARCH64) == &back->sections[5]);
        CHECK(x && strcmp(x->imports[0].name, "puts") == 0 && x->imports[0].slot == 2);
        size_t len2;
        uint8_t *b2 = image_bytes(back, &len2);
        CHECK(b2 && len2 == len && memcmp(b, b2, len) == 0);
        free(b2);
        im_img_free(back);
    }
    /* The layout: 64-byte entries, each table inside the image and aligned. */
    for (uint32_t i = 0; i < 6; i++) {
        uint8_t *e = sect(b, i);
        CHECK_EQ(im_get32(e + S_IMPOFF) % 8, 0);
        CHECK(im_get32(e + S_IMPOFF) + 16ull * im_get32(e + S_NIMPS) <= len);
        CHECK(im_get32(e + S_MODULE) < im_get32(b + H_STRSIZE));
    }
    CHECK_EQ(im_get32(sect(b, 5) + S_TOCSLOTS), 0);
    CHECK_EQ(im_get32(sect(b, 3) + S_TOCSLOTS), 3);
    free(b);
    im_img_free(img);
}

static void test_building(void)
{
    im_image *img = sample_image(IM_TARGET_X86_64, SAMPLE_RET42, 0);
    CHECK(img != NULL);
    if (!img)
        return;
    /* Second section for the same module and target; another module is fine. */
    CHECK_ERR(sample_add(img, IM_TARGET_X86_64, SAMPLE_ARITH, 0), IM_ERR_INVAL);
    CHECK_DETAIL("x86_64 section for module 'main'");

    uint8_t code[8] = {0};
    im_symbol syms[2] = {{(char *)"a", 0, IM_SYM_FUNC}, {(char *)"b", 4, IM_SYM_FUNC}};
    im_import imps[2] = {{(char *)"p", 0, IM_SYM_FUNC}, {(char *)"q", 3, IM_SYM_DATA}};
    im_reloc rel = {.offset = 4, .kind = IM_RELOC_ABS32, .symbol = -1};
    im_section s = {.target = IM_TARGET_I386,
                    .align = 4,
                    .module = (char *)"m",
                    .code = code,
                    .code_size = 8,
                    .syms = syms,
                    .nsyms = 2,
                    .imports = imps,
                    .nimports = 2,
                    .toc_slots = 4,
                    .relocs = &rel,
                    .nrelocs = 1};
    im_section bad;

    bad = s;
    bad.target = (im_target)9;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_TARGET);
    bad = s;
    bad.align = 3;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_ALIGN);
    CHECK_DETAIL("section 1 (i386, module 'm'): alignment 3");
    bad = s;
    syms[1].offset = 9;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_SYMBOL);
    CHECK_DETAIL("symbol 1 'b' at offset 0x9 is past the end of code (size 0x8)");
    syms[1].offset = 4;
    syms[1].name = (char *)"a";
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_SYMBOL);
    CHECK_DETAIL("duplicate symbol 'a'");
    syms[1].name = (char *)"";
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_SYMBOL);
    CHECK_DETAIL("symbol 1 has an empty name");
    {
        /* Names are capped at 4095 bytes. */
        static char long_name[4097];
        memset(long_name, 'n', 4096);
        syms[1].name = long_name;
        CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_TOO_LARGE);
        CHECK_DETAIL("symbol 1 name longer than 4095 bytes");
        long_name[4095] = '\0'; /* 4095 bytes fit */
        im_image *other = im_img_new();
        CHECK_ERR(im_img_add_section(other, &bad), 0);
        im_img_free(other);
        long_name[4095] = 'n';
        imps[0].name = long_name;
        syms[1].name = (char *)"b";
        CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_TOO_LARGE);
        CHECK_DETAIL("import 0 name longer than 4095 bytes");
        imps[0].name = (char *)"p";
        bad.module = long_name;
        CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_TOO_LARGE);
        CHECK_DETAIL("module name longer than 4095 bytes");
        bad.module = s.module;
    }
    syms[1].kind = 7;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_SYMBOL);
    syms[1].kind = IM_SYM_FUNC;

    /* Imports. */
    imps[1].name = (char *)"p";
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_SYMBOL);
    CHECK_DETAIL("duplicate import 'p'");
    imps[1].name = (char *)"a"; /* an import may share a name with an export */
    {
        im_image *other = im_img_new();
        CHECK_ERR(im_img_add_section(other, &bad), 0);
        CHECK(other->nsections == 1 && strcmp(other->sections[0].module, "m") == 0 &&
              other->sections[0].nimports == 2);
        im_img_free(other);
    }
    imps[1].name = (char *)"";
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_SYMBOL);
    CHECK_DETAIL("import 1 has an empty name");
    imps[1].name = (char *)"q";
    imps[1].kind = 0;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_SYMBOL);
    CHECK_DETAIL("import 1 'q' has unknown kind 0");
    imps[1].kind = IM_SYM_DATA;
    imps[1].slot = 4;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_MALFORMED);
    CHECK_DETAIL("import 1 'q' uses TOC slot 4 (section has 4)");
    imps[1].slot = 0;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_MALFORMED);
    CHECK_DETAIL("imports 0 'p' and 1 'q' share TOC slot 0");
    imps[1].slot = 3;
    bad.toc_slots = 65537;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_TOO_LARGE);
    CHECK_DETAIL("65537 TOC slots");
    bad.toc_slots = 4;

    /* Relocations. */
    rel.offset = 5;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_RELOC);
    CHECK_DETAIL("relocation 0 at offset 0x5 overflows code (size 0x8)");
    rel.offset = 4;
    rel.kind = IM_RELOC_ABS64; /* 64-bit field on a 32-bit target */
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_RELOC);
    CHECK_DETAIL("ABS64 is not valid for i386");
    rel.kind = IM_RELOC_ARM_CALL;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_RELOC);
    CHECK_DETAIL("ARM_CALL is not valid for i386");
    rel.kind = 77;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_RELOC);
    CHECK_DETAIL("unknown kind 77");
    rel.kind = IM_RELOC_PC32;
    rel.symbol = 2;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_RELOC);
    CHECK_DETAIL("refers to symbol 2 (section has 2)");
    rel.symbol = -2;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_RELOC);
    rel.ref = IM_REF_TOC;
    rel.symbol = -1; /* -1 is the section start only for IM_REF_LOCAL */
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_RELOC);
    CHECK_DETAIL("(TOC) refers to import -1 (section has 2)");
    rel.ref = IM_REF_IMPORT;
    rel.symbol = 2;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_RELOC);
    CHECK_DETAIL("(import) refers to import 2 (section has 2)");
    rel.ref = 3;
    rel.symbol = 0;
    CHECK_ERR(im_img_add_section(img, &bad), IM_ERR_RELOC);
    CHECK_DETAIL("unknown ref 3");
    rel.ref = IM_REF_IMPORT;
    rel.symbol = 1;
    CHECK_ERR(im_img_add_section(img, &s), 0);
    CHECK_EQ(img->nsections, 2);
    /* The same module for i386 again: refused. */
    CHECK_ERR(im_img_add_section(img, &s), IM_ERR_INVAL);
    CHECK_DETAIL("module 'm'");
    /* The image owns copies: changing the caller's arrays changes nothing. */
    code[0] = 0x90;
    syms[0].name = (char *)"changed";
    imps[0].name = (char *)"changed";
    const im_section *got = im_img_module_section(img, "m", IM_TARGET_I386);
    CHECK(got && got->code[0] == 0 && strcmp(got->syms[0].name, "a") == 0);
    CHECK(got && strcmp(got->imports[0].name, "p") == 0 && got->toc_slots == 4);
    CHECK(got && got->relocs[0].symbol == 1 && got->relocs[0].ref == IM_REF_IMPORT);

    /* The section cap: 256 sections (distinct module names). */
    im_image *many = im_img_new();
    int ok = 1;
    char name[16];
    im_section small = {
        .target = IM_TARGET_ARM, .align = 4, .module = name, .code = code, .code_size = 8};
    for (int i = 0; i < 256 && ok; i++) {
        snprintf(name, sizeof name, "m%d", i);
        ok = im_img_add_section(many, &small) == 0;
    }
    CHECK(ok);
    snprintf(name, sizeof name, "m256");
    CHECK_ERR(im_img_add_section(many, &small), IM_ERR_TOO_LARGE);
    size_t len;
    uint8_t *b = image_bytes(many, &len);
    im_image *back = NULL;
    CHECK_ERR(im_img_read(b, len, &back), 0);
    CHECK(back && back->nsections == 256 && strcmp(back->sections[255].module, "m255") == 0);
    im_img_free(back);
    free(b);
    im_img_free(many);

    /* A writer of a hand-made image: same (module, target) twice, or a wrong version. */
    im_section two[2] = {small, small};
    im_image hand = {.version = IM_IMG_VERSION, .sections = two, .nsections = 2};
    uint8_t *out = NULL;
    CHECK_ERR(im_img_write(&hand, &out, &len), IM_ERR_INVAL);
    CHECK_DETAIL("sections 0 and 1 are both module 'm256' for arm");
    hand.nsections = 1;
    hand.version = 3;
    CHECK_ERR(im_img_write(&hand, &out, &len), IM_ERR_VERSION);
    hand.version = IM_IMG_VERSION;
    CHECK(out == NULL);
    /* A NULL or empty module name is IM_DEFAULT_MODULE (img.h), also for the writer. */
    two[0].module = NULL;
    CHECK_ERR(im_img_write(&hand, &out, &len), 0);
    CHECK_ERR(im_img_read(out, len, &back), 0);
    CHECK(back && strcmp(back->sections[0].module, "main") == 0);
    im_img_free(back);
    free(out);
    two[1].module = (char *)"";
    hand.nsections = 2;
    CHECK_ERR(im_img_write(&hand, &out, &len), IM_ERR_INVAL);
    CHECK_DETAIL("sections 0 and 1 are both module 'main' for arm");
    im_img_free(img);
    im_img_free(NULL);
}

/* ---- version 1 ---------------------------------------------------------------------- */

/* A version 1 image of one x86_64 section (docs/image-format.md, "Version 1"): the sample
 * `movabs rax, data; mov eax, [rax]; ret; data: .long 1234` with its ABS64 relocation. */
static uint8_t *v1_image(size_t *len)
{
    struct sample sm = sample_get(IM_TARGET_X86_64, SAMPLE_RELOC);
    uint32_t code_off = 64 + 48, sym_off = (code_off + sm.size + 7) & ~7u;
    uint32_t rel_off = sym_off + 2 * 16, str_off = rel_off + 24;
    static const char strings[] = "main\0data";
    uint32_t total = str_off + sizeof strings;
    uint8_t *b = calloc(1, total);
    memcpy(b, "\x7fIMG\r\n\x1a\n", 8);
    im_put32(b + H_VERSION, 1);
    im_put32(b + H_HDRSIZE, 64);
    im_put32(b + H_TOTAL, total);
    im_put32(b + H_NSECT, 1);
    im_put32(b + H_SECTOFF, 64);
    im_put32(b + H_SECTENT, 48);
    im_put32(b + H_STROFF, str_off);
    im_put32(b + H_STRSIZE, sizeof strings);
    uint8_t *e = b + 64;
    im_put32(e + S_TARGET, IM_TARGET_X86_64);
    im_put32(e + S_ALIGN, 16);
    im_put32(e + S_CODEOFF, code_off);
    im_put32(e + S_CODESIZE, sm.size);
    im_put32(e + S_SYMOFF, sym_off);
    im_put32(e + S_NSYMS, 2);
    im_put32(e + S_RELOFF, rel_off);
    im_put32(e + S_NRELS, 1);
    memcpy(b + code_off, sm.code, sm.size);
    im_put32(b + sym_off + SYM_NAME, 0);
    im_put32(b + sym_off + SYM_KIND, IM_SYM_FUNC);
    im_put32(b + sym_off + 16 + SYM_NAME, 5);
    im_put32(b + sym_off + 16 + SYM_OFFSET, sm.data_offset);
    im_put32(b + sym_off + 16 + SYM_KIND, IM_SYM_DATA);
    im_put32(b + rel_off + R_OFFSET, sm.reloc_offset);
    im_put32(b + rel_off + R_KIND, IM_RELOC_ABS64);
    im_put32(b + rel_off + R_SYMBOL, 1);
    memcpy(b + str_off, strings, sizeof strings);
    fix_checksum(b, total);
    *len = total;
    return b;
}

static void test_v1(void)
{
    size_t len;
    uint8_t *b = v1_image(&len);
    im_image *img = NULL;
    CHECK_ERR(im_img_read(b, len, &img), 0);
    if (img) {
        CHECK_EQ(img->version, 1);
        CHECK_EQ(img->nsections, 1);
        const im_section *s = im_img_module_section(img, "main", IM_TARGET_X86_64);
        CHECK(s && s->nimports == 0 && s->toc_slots == 0 && s->nsyms == 2 && s->nrelocs == 1);
        CHECK(s && s->relocs[0].ref == IM_REF_LOCAL && s->relocs[0].symbol == 1);
        /* Written back: version 2, and it reads back the same. */
        size_t n2;
        uint8_t *b2 = image_bytes(img, &n2);
        CHECK(b2 && im_get32(b2 + H_VERSION) == 2);
        im_image *v2 = NULL;
        CHECK_ERR(im_img_read(b2, n2, &v2), 0);
        CHECK(v2 && v2->version == 2 && s && same_section(s, &v2->sections[0]));
        im_img_free(v2);
        free(b2);
        im_img_free(img);
    }
    uint8_t *m = malloc(len);
#define MUTATE_V1(stmt, want, detail)                                                              \
    do {                                                                                           \
        memcpy(m, b, len);                                                                         \
        stmt;                                                                                      \
        fix_checksum(m, len);                                                                      \
        CHECK_ERR(read_err(m, len), want);                                                         \
        CHECK_DETAIL(detail);                                                                      \
    } while (0)
    uint32_t rel_off = im_get32(b + 64 + S_RELOFF);
    MUTATE_V1(im_put32(m + rel_off + R_REF, 1), IM_ERR_MALFORMED,
              "relocation 0 reserved field is not zero");
    MUTATE_V1(im_put32(m + H_SECTENT, 64), IM_ERR_MALFORMED, "version 1 requires 48");
    MUTATE_V1(im_put32(m + H_NSECT, 5), IM_ERR_TOO_LARGE, "version 1 allows at most 4");
    MUTATE_V1(m[64 + 40] = 1, IM_ERR_MALFORMED, "section 0: reserved bytes 36..47");
    MUTATE_V1(im_put32(m + H_VERSION, 3), IM_ERR_VERSION, "image version 3");
    free(m);
    free(b);
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
    im_image *img = multi_module_image();
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
    CHECK_ERR(read_err(b, len - 1), IM_ERR_TRUNCATED);
    CHECK_DETAIL("only");

    /* Trailing bytes. */
    RESET();
    b[len] = 0;
    CHECK_ERR(read_err(b, len + 1), IM_ERR_MALFORMED);

    /* Flip every byte: checksum (or magic/version/size) error. */
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
    im_put32(b + H_VERSION, 3);
    CHECK_ERR(read_err(b, len), IM_ERR_VERSION);
    CHECK_DETAIL("version 3");
    RESET();
    b[len - 1] ^= 1;
    CHECK_ERR(read_err(b, len), IM_ERR_CHECKSUM);
    CHECK_DETAIL("stored checksum");
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

    /* The header. */
    MUTATE(im_put32(b + H_HDRSIZE, 128), IM_ERR_MALFORMED, "header size 128");
    MUTATE(im_put32(b + H_FLAGS, 1), IM_ERR_MALFORMED, "flags");
    MUTATE(b[60] = 1, IM_ERR_MALFORMED, "reserved");
    MUTATE(im_put32(b + H_SECTENT, 48), IM_ERR_MALFORMED, "entry size 48; version 2 requires 64");
    /* Oversize: counts beyond the caps, tables longer than the file. */
    MUTATE(im_put32(b + H_NSECT, 257), IM_ERR_TOO_LARGE,
           "257 sections; version 2 allows at most 256");
    MUTATE(im_put32(b + H_NSECT, 100), IM_ERR_TOO_LARGE,
           "section table at 0x40 declares 100 entries");
    MUTATE(im_put32(b + H_STRSIZE, 0xffffffffu), IM_ERR_TOO_LARGE, "string table at");
    /* Out of range offsets. */
    MUTATE(im_put32(b + H_SECTOFF, 0xfffffff8u), IM_ERR_MALFORMED,
           "section table offset 0xfffffff8 is outside the image");
    MUTATE(im_put32(b + H_STROFF, (uint32_t)len + 1), IM_ERR_MALFORMED, "string table offset");
    MUTATE(im_put32(b + H_SECTOFF, 68), IM_ERR_ALIGN, "not 8-byte aligned");

    /* Section entries. */
    MUTATE(im_put32(sect(b, 1) + S_TARGET, 9), IM_ERR_TARGET, "section 1: unknown target 9");
    MUTATE(im_put32(sect(b, 2) + S_ALIGN, 12), IM_ERR_ALIGN,
           "section 2 (arm, module 'lib'): alignment 12");
    MUTATE(im_put32(sect(b, 0) + S_FLAGS, 2), IM_ERR_MALFORMED, "section 0: unknown flags");
    MUTATE(sect(b, 0)[56] = 1, IM_ERR_MALFORMED, "section 0: reserved bytes 52..63");
    MUTATE(im_put32(sect(b, 0) + S_TOCSLOTS, 65537), IM_ERR_TOO_LARGE,
           "section 0: 65537 TOC slots");
    MUTATE(im_put32(sect(b, 0) + S_CODESIZE, 0xfffffff0u), IM_ERR_TOO_LARGE, "section 0: code at");
    MUTATE(im_put32(sect(b, 0) + S_CODEOFF, im_get32(sect(b, 0) + S_CODEOFF) + 8), IM_ERR_ALIGN,
           "section 0: code offset");
    MUTATE(im_put32(sect(b, 0) + S_CODEOFF, 0xfffffff0u), IM_ERR_MALFORMED,
           "section 0: code offset 0xfffffff0 is outside the image");
    MUTATE(im_put32(sect(b, 0) + S_NSYMS, 0x10000000u), IM_ERR_TOO_LARGE,
           "section 0: symbol table at");
    MUTATE(im_put32(sect(b, 0) + S_SYMOFF, 0xfffffff8u), IM_ERR_MALFORMED,
           "section 0: symbol table offset");
    MUTATE(im_put32(sect(b, 4) + S_NIMPS, 0x10000000u), IM_ERR_TOO_LARGE,
           "section 4: import table at");
    MUTATE(im_put32(sect(b, 4) + S_IMPOFF, im_get32(sect(b, 4) + S_IMPOFF) + 4), IM_ERR_ALIGN,
           "section 4: import table offset");
    MUTATE(im_put32(sect(b, 3) + S_NRELS, 0x10000000u), IM_ERR_TOO_LARGE,
           "section 3: relocation table at");
    MUTATE(im_put32(sect(b, 3) + S_RELOFF, im_get32(sect(b, 3) + S_RELOFF) + 4), IM_ERR_ALIGN,
           "section 3: relocation table offset");

    /* Overlapping parts (each still inside the file and aligned). */
    MUTATE(im_put32(b + H_STROFF, 8), IM_ERR_OVERLAP, "header [0x0, 0x40) overlaps string table");
    MUTATE(im_put32(sect(b, 1) + S_CODEOFF, im_get32(sect(b, 0) + S_CODEOFF)), IM_ERR_OVERLAP,
           "section 0 code");
    MUTATE(im_put32(sect(b, 0) + S_IMPOFF, im_get32(sect(b, 0) + S_SYMOFF)), IM_ERR_OVERLAP,
           "section 0 symbol table");
    MUTATE(im_put32(sect(b, 0) + S_IMPOFF, im_get32(sect(b, 0) + S_SYMOFF)), IM_ERR_OVERLAP,
           "overlaps section 0 import table");
    MUTATE(im_put32(sect(b, 5) + S_RELOFF, im_get32(sect(b, 4) + S_RELOFF)), IM_ERR_OVERLAP,
           "relocation table");
    MUTATE(im_put32(b + H_STROFF, im_get32(sect(b, 3) + S_RELOFF)), IM_ERR_OVERLAP, "string table");
    MUTATE(im_put32(sect(b, 2) + S_CODEOFF, 64), IM_ERR_OVERLAP,
           "section 2 code [0x40, 0x80) overlaps section table [0x40, 0x1c0)");
    /* An empty part overlaps nothing: the sixth section without imports points anywhere. */
    MUTATE(im_put32(sect(b, 5) + S_IMPOFF, 64), 0, "");

    /* Strings and records of section 0 (x86_64 "app": f at 0, d at 48; imports puts@2,
     * counter@0, g@1; code 64 bytes). */
    uint32_t strsize = im_get32(orig + H_STRSIZE);
    uint32_t stroff = im_get32(orig + H_STROFF);
    uint8_t *sym0 = b + im_get32(sect(orig, 0) + S_SYMOFF);
    uint8_t *imp0 = b + im_get32(sect(orig, 0) + S_IMPOFF);
    uint8_t *rel0 = b + im_get32(sect(orig, 0) + S_RELOFF);
    MUTATE(im_put32(sect(b, 0) + S_MODULE, strsize), IM_ERR_MALFORMED,
           "section 0 (x86_64): module name at string offset");
    MUTATE(b[stroff + im_get32(sect(b, 0) + S_MODULE)] = 0, IM_ERR_MALFORMED,
           "section 0 (x86_64): empty module name");
    MUTATE(memcpy(b + stroff + im_get32(sect(b, 4) + S_MODULE), "app", 3), IM_ERR_MALFORMED,
           "sections 0 and 4 are both module 'app' for x86_64");
    MUTATE(im_put32(sym0 + 16 + SYM_NAME, strsize), IM_ERR_SYMBOL,
           "section 0 (x86_64, module 'app'): symbol 1 name at string offset");
    MUTATE(b[stroff + strsize - 1] = 'x', IM_ERR_SYMBOL, "not NUL-terminated");
    MUTATE(im_put32(sym0 + 16 + SYM_OFFSET, 0x41), IM_ERR_SYMBOL,
           "symbol 1 'd' at offset 0x41 is past the end of code (size 0x40)");
    MUTATE(im_put32(sym0 + SYM_KIND, 3), IM_ERR_SYMBOL, "unknown kind 3");
    MUTATE(b[stroff + im_get32(sym0 + 16 + SYM_NAME)] = 0, IM_ERR_SYMBOL, "empty name");
    MUTATE(im_put32(sym0 + 16 + SYM_NAME, im_get32(sym0 + SYM_NAME)), IM_ERR_SYMBOL,
           "duplicate symbol 'f'");
    MUTATE(sym0[12] = 1, IM_ERR_MALFORMED, "symbol 0 reserved");
    MUTATE(im_put32(imp0 + 16 + IMP_NAME, strsize + 10), IM_ERR_SYMBOL,
           "section 0 (x86_64, module 'app'): import 1 name at string offset");
    MUTATE(im_put32(imp0 + 16 + IMP_NAME, im_get32(imp0 + IMP_NAME)), IM_ERR_SYMBOL,
           "duplicate import 'puts'");
    MUTATE(im_put32(imp0 + 32 + IMP_SLOT, 3), IM_ERR_MALFORMED,
           "import 2 'g' uses TOC slot 3 (section has 3)");
    MUTATE(im_put32(imp0 + 32 + IMP_SLOT, 2), IM_ERR_MALFORMED,
           "imports 0 'puts' and 2 'g' share TOC slot 2");
    MUTATE(im_put32(imp0 + IMP_KIND, 5), IM_ERR_SYMBOL, "import 0 'puts' has unknown kind 5");
    MUTATE(im_put32(imp0 + 16 + IMP_RESERVED, 1), IM_ERR_MALFORMED,
           "import 1 reserved field is not zero");

    /* Relocations (section 0: ABS64 at 0, ABS32 at 8, ABS32S at 12, PC32 TOC at 16, PC32
     * import at 20). */
    MUTATE(im_put32(rel0 + R_OFFSET, 0x3c), IM_ERR_RELOC,
           "section 0 (x86_64, module 'app'): relocation 0 at offset 0x3c overflows code (size "
           "0x40)");
    MUTATE(im_put32(rel0 + R_OFFSET, 0xfffffffcu), IM_ERR_RELOC, "overflows code");
    MUTATE(im_put32(rel0 + R_KIND, 99), IM_ERR_RELOC,
           "relocation 0 at offset 0x0 has unknown kind 99");
    MUTATE(im_put32(rel0 + R_KIND, 5), IM_ERR_RELOC, "unknown kind 5");
    MUTATE(im_put32(rel0 + R_KIND, IM_RELOC_AARCH64_CALL26), IM_ERR_RELOC,
           "AARCH64_CALL26 is not valid for x86_64");
    MUTATE(im_put32(rel0 + R_SYMBOL, 2), IM_ERR_RELOC, "refers to symbol 2 (section has 2)");
    MUTATE(im_put32(rel0 + R_SYMBOL, 0xfffffffe), IM_ERR_RELOC, "refers to symbol -2");
    MUTATE(im_put32(rel0 + R_REF, 3), IM_ERR_RELOC, "relocation 0 at offset 0x0 has unknown ref 3");
    MUTATE(im_put32(rel0 + 3 * R_SIZE + R_SYMBOL, 3), IM_ERR_RELOC,
           "relocation 3 at offset 0x10 (TOC) refers to import 3 (section has 3)");
    MUTATE(im_put32(rel0 + 4 * R_SIZE + R_SYMBOL, 0xffffffffu), IM_ERR_RELOC,
           "relocation 4 at offset 0x14 (import) refers to import -1");
    /* A LOCAL reference may name symbol -1; a TOC one may not. */
    MUTATE(im_put32(rel0 + R_SYMBOL, 0xffffffffu), 0, "");
    /* ABS64 in the i386 section (section 1); PC32 on arm (section 2). */
    uint8_t *rel1 = b + im_get32(sect(orig, 1) + S_RELOFF);
    MUTATE(im_put32(rel1 + R_KIND, IM_RELOC_ABS64), IM_ERR_RELOC, "ABS64 is not valid for i386");
    uint8_t *rel2 = b + im_get32(sect(orig, 2) + S_RELOFF);
    MUTATE(im_put32(rel2 + R_KIND, IM_RELOC_PC32), IM_ERR_RELOC, "PC32 is not valid for arm");
    MUTATE(im_put32(rel2 + R_KIND, IM_RELOC_AARCH64_ADD_ABS_LO12_NC), IM_ERR_RELOC,
           "AARCH64_ADD_ABS_LO12_NC is not valid for arm");

    /* A name longer than 4095 bytes: the search for its NUL stops there. */
    {
        static char long_name[4096];
        memset(long_name, 'n', 4095);
        im_symbol ls[2] = {{long_name, 0, IM_SYM_FUNC}, {(char *)"z", 0, IM_SYM_FUNC}};
        im_section one = {.target = IM_TARGET_X86_64,
                          .align = 1,
                          .code = zero_code,
                          .code_size = 4,
                          .syms = ls,
                          .nsyms = 2};
        im_image *li = im_img_new();
        CHECK_ERR(im_img_add_section(li, &one), 0);
        size_t ln;
        uint8_t *lb = image_bytes(li, &ln);
        im_img_free(li);
        CHECK_ERR(read_err(lb, ln), 0);
        uint32_t nul = im_get32(lb + H_STROFF) + 5 + 4095; /* "main\0", the name */
        CHECK_EQ(lb[nul], 0);
        lb[nul] = 'x'; /* the name now runs into "z" */
        fix_checksum(lb, ln);
        CHECK_ERR(read_err(lb, ln), IM_ERR_TOO_LARGE);
        CHECK_DETAIL("section 0 (x86_64, module 'main'): symbol 0 name at string offset 0x5 is "
                     "longer than 4095 bytes");
        free(lb);
    }

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
    test_modules_round_trip();
    test_building();
    test_v1();
    test_files();
    test_malformed();
    return check_done();
}
