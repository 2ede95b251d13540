/* Relocations: im_reloc_apply on every kind (expected fields derived by hand from the
 * architectures' field layouts: Intel SDM rel32, Arm ARM A32 B/BL imm24 and MOVW/MOVT
 * imm4:imm12, A64 B/BL imm26, B.cond/CBZ imm19 at 23:5, TBZ imm14 at 18:5, ADRP immlo 30:29
 * and immhi 23:5, ADD/LDR imm12 at 21:10; tests/test_reloc_ld.py checks the same code against
 * GNU ld), veneers, im_section_relocate_toc over every reference, and the buffer's imports,
 * TOC slots and relocation records for each target, with the round trip through
 * im_buf_to_module. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../loader/reloc.h"
#include "check.h"
#include "imago/enc.h"
#include "imago/forms.h"
#include "imago/img.h"
#include "imago/link.h"

#define X64 IM_TARGET_X86_64
#define X32 IM_TARGET_I386
#define A64 IM_TARGET_AARCH64
#define A32 IM_TARGET_ARM

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Apply kind to the instruction word w at place for value v: the new word (or the error). */
static int apply_word(im_target t, uint32_t kind, uint32_t w, uint64_t place, uint64_t v,
                      uint32_t *out)
{
    uint8_t p[4];
    put32(p, w);
    int rc = im_reloc_apply(t, kind, p, place, v);
    *out = get32(p);
    if (rc < 0)
        CHECK_EQ(*out, w); /* nothing written on failure */
    return rc;
}

static void test_field_sizes(void)
{
    CHECK_EQ(im_reloc_field_size(IM_RELOC_PC32, X64), 4);
    CHECK_EQ(im_reloc_field_size(IM_RELOC_PC32, X32), 4);
    CHECK_EQ(im_reloc_field_size(IM_RELOC_PC32, A64), 0);
    CHECK_EQ(im_reloc_field_size(IM_RELOC_ABS32, A32), 4);
    CHECK_EQ(im_reloc_field_size(IM_RELOC_ABS64, A32), 0);
    CHECK_EQ(im_reloc_field_size(IM_RELOC_ABS64, A64), 8);
    CHECK_EQ(im_reloc_field_size(IM_RELOC_ABS32S, X32), 0);
    for (uint32_t k = IM_RELOC_ARM_CALL; k <= IM_RELOC_ARM_MOVT_ABS; k++) {
        CHECK_EQ(im_reloc_field_size(k, A32), 4);
        CHECK_EQ(im_reloc_field_size(k, A64), 0);
        CHECK(im_reloc_name(k) != NULL);
    }
    for (uint32_t k = IM_RELOC_AARCH64_CALL26; k <= IM_RELOC_AARCH64_LDST128_ABS_LO12_NC; k++) {
        CHECK_EQ(im_reloc_field_size(k, A64), 4);
        CHECK_EQ(im_reloc_field_size(k, X64), 0);
        CHECK(im_reloc_name(k) != NULL);
    }
    CHECK_EQ(im_reloc_field_size(99, X64), 0);
    uint8_t p[4] = {0};
    CHECK_ERR(im_reloc_apply(X64, IM_RELOC_ARM_CALL, p, 0, 0), IM_ERR_RELOC);
}

static void test_apply_x86(void)
{
    uint8_t p[4] = {0};
    /* call rel32 at 0x1000 (field at 0x1001) to 0x2000: V = S - 4 -> 0x2000 - 0x1005 */
    CHECK_ERR(im_reloc_apply(X64, IM_RELOC_PC32, p, 0x1001, 0x2000 - 4), 0);
    CHECK_EQ(get32(p), 0xffbu);
    CHECK_ERR(im_reloc_apply(X64, IM_RELOC_PC32, p, 0x1000, 0x1000 - 0x80000000ull), 0);
    CHECK_EQ(get32(p), 0x80000000u);
    put32(p, 0x11223344);
    CHECK_ERR(im_reloc_apply(X64, IM_RELOC_PC32, p, 0x1000, 0x80001000ull), IM_ERR_RELOC_RANGE);
    CHECK_DETAIL("PC32: value V - P 0x80000000 out of range [-0x80000000, 0x7fffffff]");
    CHECK_EQ(get32(p), 0x11223344u);
    /* i386: addresses wrap at 4 GiB, every target is in reach */
    CHECK_ERR(im_reloc_apply(X32, IM_RELOC_PC32, p, 0x10, 0xfffffff0u), 0);
    CHECK_EQ(get32(p), 0xffffffe0u);
    CHECK_ERR(im_reloc_apply(X32, IM_RELOC_PC32, p, 0x10, 0x100000000ull), IM_ERR_RELOC_RANGE);
}

static void test_apply_arm(void)
{
    uint32_t w;
    /* bl (0xeb000000) at 0x1000 to 0x2000: imm24 = (0x2000 - 0x1000 - 8) >> 2 = 0x3fe */
    CHECK_ERR(apply_word(A32, IM_RELOC_ARM_CALL, 0xebfffffe, 0x1000, 0x2000, &w), 0);
    CHECK_EQ(w, 0xeb0003feu);
    /* b to itself: -8 >> 2 = 0xfffffe; the condition (ne) is kept */
    CHECK_ERR(apply_word(A32, IM_RELOC_ARM_JUMP24, 0x1a000000, 0x1000, 0x1000, &w), 0);
    CHECK_EQ(w, 0x1afffffeu);
    /* the edges: +32 MiB - 4 and -32 MiB from pc + 8 */
    CHECK_ERR(apply_word(A32, IM_RELOC_ARM_CALL, 0xeb000000, 0x4000000, 0x6000004, &w), 0);
    CHECK_EQ(w, 0xeb7fffffu);
    CHECK_ERR(apply_word(A32, IM_RELOC_ARM_CALL, 0xeb000000, 0x4000000, 0x2000008, &w), 0);
    CHECK_EQ(w, 0xeb800000u);
    CHECK_ERR(apply_word(A32, IM_RELOC_ARM_CALL, 0xeb000000, 0x4000000, 0x6000008, &w),
              IM_ERR_RELOC_RANGE);
    CHECK_DETAIL("ARM_CALL: branch offset V - P - 8 0x2000000 out of range");
    CHECK_ERR(apply_word(A32, IM_RELOC_ARM_CALL, 0xeb000000, 0x1000, 0x2002, &w), IM_ERR_ALIGN);
    CHECK_ERR(apply_word(A32, IM_RELOC_ARM_CALL, 0xeb000000, 0x1000, 0x2001, &w), IM_ERR_RELOC);
    CHECK_DETAIL("Thumb");
    /* movw r3, #0 (0xe3003000) / movt r3, #0 (0xe3403000) of 0x12345678 */
    CHECK_ERR(apply_word(A32, IM_RELOC_ARM_MOVW_ABS_NC, 0xe3003000, 0, 0x12345678, &w), 0);
    CHECK_EQ(w, 0xe3053678u);
    CHECK_ERR(apply_word(A32, IM_RELOC_ARM_MOVT_ABS, 0xe3403000, 0, 0x12345678, &w), 0);
    CHECK_EQ(w, 0xe3413234u);
    CHECK_ERR(apply_word(A32, IM_RELOC_ARM_MOVT_ABS, 0xe3403000, 0, 0x100000000ull, &w),
              IM_ERR_RELOC_RANGE);
}

static void test_apply_a64(void)
{
    uint32_t w;
    /* bl (0x94000000) at 0x1000 to 0x2000: imm26 = 0x400 */
    CHECK_ERR(apply_word(A64, IM_RELOC_AARCH64_CALL26, 0x94000000, 0x1000, 0x2000, &w), 0);
    CHECK_EQ(w, 0x94000400u);
    CHECK_ERR(apply_word(A64, IM_RELOC_AARCH64_JUMP26, 0x14000000, 0x8000000, 0, &w), 0);
    CHECK_EQ(w, 0x16000000u); /* -128 MiB */
    CHECK_ERR(apply_word(A64, IM_RELOC_AARCH64_JUMP26, 0x14000000, 0, 0x8000000, &w),
              IM_ERR_RELOC_RANGE);
    CHECK_DETAIL("AARCH64_JUMP26: branch offset V - P 0x8000000 out of range [-0x8000000, "
                 "0x7fffffc]");
    CHECK_ERR(apply_word(A64, IM_RELOC_AARCH64_CALL26, 0x94000000, 0, 6, &w), IM_ERR_ALIGN);
    /* b.ne (0x54000001) +8: imm19 = 2 at bit 5 */
    CHECK_ERR(apply_word(A64, IM_RELOC_AARCH64_CONDBR19, 0x54000001, 0x100, 0x108, &w), 0);
    CHECK_EQ(w, 0x54000041u);
    CHECK_ERR(apply_word(A64, IM_RELOC_AARCH64_CONDBR19, 0x54000001, 0x100000, 0, &w), 0);
    CHECK_EQ(w, 0x54800001u); /* -1 MiB */
    CHECK_ERR(apply_word(A64, IM_RELOC_AARCH64_CONDBR19, 0x54000001, 0, 0x100000, &w),
              IM_ERR_RELOC_RANGE);
    /* tbz x5, #33 (0xb6080005) -4: imm14 = 0x3fff at bit 5 */
    CHECK_ERR(apply_word(A64, IM_RELOC_AARCH64_TSTBR14, 0xb6080005, 0x104, 0x100, &w), 0);
    CHECK_EQ(w, 0xb60fffe5u);
    CHECK_ERR(apply_word(A64, IM_RELOC_AARCH64_TSTBR14, 0xb6080005, 0, 0x8000, &w),
              IM_ERR_RELOC_RANGE);
    /* adrp x7 (0x90000007) at 0x400ffc to 0x12345678: pages 0x12345 - 0x400 = 0x11f45;
     * immlo = 1 (bits 30:29), immhi = 0x47d1 (bits 23:5) */
    CHECK_ERR(
        apply_word(A64, IM_RELOC_AARCH64_ADR_PREL_PG_HI21, 0x90000007, 0x400ffc, 0x12345678, &w),
        0);
    CHECK_EQ(w, 0x90000007u | 1u << 29 | 0x47d1u << 5);
    CHECK_ERR(apply_word(A64, IM_RELOC_AARCH64_ADR_PREL_PG_HI21, 0x90000007, 0, 0x100000000ull, &w),
              IM_ERR_RELOC_RANGE);
    CHECK_DETAIL("page distance");
    /* add x1, x2, #0 (0x91000041) + lo12 0xfff; ldr x1, [x2] (0xf9400041) + lo12 0xff8 */
    CHECK_ERR(apply_word(A64, IM_RELOC_AARCH64_ADD_ABS_LO12_NC, 0x91000041, 0, 0x12345fff, &w), 0);
    CHECK_EQ(w, 0x913ffc41u);
    CHECK_ERR(apply_word(A64, IM_RELOC_AARCH64_LDST64_ABS_LO12_NC, 0xf9400041, 0, 0x1ff8, &w), 0);
    CHECK_EQ(w, 0xf9400041u | 0x1ffu << 10);
    CHECK_ERR(apply_word(A64, IM_RELOC_AARCH64_LDST64_ABS_LO12_NC, 0xf9400041, 0, 0x1ff4, &w),
              IM_ERR_ALIGN);
    CHECK_DETAIL("not a multiple of the access size 8");
    CHECK_ERR(apply_word(A64, IM_RELOC_AARCH64_LDST8_ABS_LO12_NC, 0x39400041, 0, 0x1fff, &w), 0);
    CHECK_EQ(w, 0x39400041u | 0xfffu << 10);
    CHECK_ERR(apply_word(A64, IM_RELOC_AARCH64_LDST128_ABS_LO12_NC, 0x3dc00041, 0, 0x1ff0, &w), 0);
    CHECK_EQ(w, 0x3dc00041u | 0xffu << 10);
    CHECK_ERR(apply_word(A64, IM_RELOC_AARCH64_LDST16_ABS_LO12_NC, 0x79400041, 0, 0x1001, &w),
              IM_ERR_ALIGN);
}

static void test_veneers(void)
{
    uint8_t v[IM_VENEER_MAX];
    CHECK_EQ(im_veneer_size(X64), 14);
    CHECK_EQ(im_veneer_size(X32), 0);
    CHECK_EQ(im_veneer_size(A32), 8);
    CHECK_EQ(im_veneer_size(A64), 16);
    im_veneer_write(X64, v, 0x1000, 0x1122334455667788ull);
    CHECK(!memcmp(v, "\xff\x25\0\0\0\0\x88\x77\x66\x55\x44\x33\x22\x11", 14));
    im_veneer_write(A32, v, 0x1000, 0x12345678);
    CHECK_EQ(get32(v), 0xe51ff004u); /* ldr pc, [pc, #-4] */
    CHECK_EQ(get32(v + 4), 0x12345678u);
    im_veneer_write(A64, v, 0x1000, 0x1122334455667788ull);
    CHECK_EQ(get32(v), 0x58000050u);     /* ldr x16, #8 */
    CHECK_EQ(get32(v + 4), 0xd61f0200u); /* br x16 */
    CHECK_EQ(get32(v + 8), 0x55667788u);
    CHECK_EQ(get32(v + 12), 0x11223344u);
    const uint8_t code[] = {0xe8, 0, 0, 0, 0, 0xe9, 0, 0, 0, 0, 0x8b, 0x05, 0, 0, 0, 0};
    CHECK(im_reloc_veneerable(X64, IM_RELOC_PC32, code, 1));
    CHECK(im_reloc_veneerable(X64, IM_RELOC_PC32, code, 6));
    CHECK(!im_reloc_veneerable(X64, IM_RELOC_PC32, code, 12)); /* mov eax, [rip + x] */
    CHECK(!im_reloc_veneerable(X64, IM_RELOC_PC32, code, 0));
    CHECK(!im_reloc_veneerable(X32, IM_RELOC_PC32, code, 1));
    CHECK(im_reloc_veneerable(A32, IM_RELOC_ARM_CALL, code, 0));
    CHECK(im_reloc_veneerable(A32, IM_RELOC_ARM_JUMP24, code, 0));
    CHECK(!im_reloc_veneerable(A32, IM_RELOC_ARM_MOVW_ABS_NC, code, 0));
    CHECK(im_reloc_veneerable(A64, IM_RELOC_AARCH64_CALL26, code, 0));
    CHECK(!im_reloc_veneerable(A64, IM_RELOC_AARCH64_CONDBR19, code, 0));
}

static void test_section_refs(void)
{
    /* aarch64: adrp x0 + ldr x1, [x0, #:lo12:] of import 1's TOC slot (slot 3); bl to
     * import 0; an ABS64 of the section's symbol 0 */
    uint8_t code[24];
    put32(code, 0x90000000);
    put32(code + 4, 0xf9400001);
    put32(code + 8, 0x94000000);
    memset(code + 12, 0, 12);
    im_symbol syms[1] = {{(char *)"f", 8, IM_SYM_FUNC}};
    im_import imps[2] = {{(char *)"a", 0, IM_SYM_FUNC}, {(char *)"b", 3, IM_SYM_FUNC}};
    im_reloc rels[4] = {{0, IM_RELOC_AARCH64_ADR_PREL_PG_HI21, 1, 0, IM_REF_TOC},
                        {4, IM_RELOC_AARCH64_LDST64_ABS_LO12_NC, 1, 0, IM_REF_TOC},
                        {16, IM_RELOC_ABS64, 0, 4, IM_REF_LOCAL},
                        {8, IM_RELOC_AARCH64_CALL26, 0, 0, IM_REF_IMPORT}};
    im_section s = {0};
    s.target = A64;
    s.align = 16;
    s.module = (char *)"m";
    s.code = code;
    s.code_size = sizeof code;
    s.syms = syms;
    s.nsyms = 1;
    s.imports = imps;
    s.nimports = 2;
    s.toc_slots = 4;
    s.relocs = rels;
    s.nrelocs = 3;
    uint8_t dst[24];
    memcpy(dst, code, sizeof dst);
    /* code at 0x10000000, TOC at 0x10003000: slot 3 at 0x10003018 */
    CHECK_ERR(im_section_relocate_toc(&s, dst, 0x10000000, 0x10003000), 0);
    CHECK_EQ(get32(dst), 0x90000000u | 3u << 29);     /* 3 pages on: immlo 3, immhi 0 */
    CHECK_EQ(get32(dst + 4), 0xf9400001u | 3u << 10); /* 0x018 >> 3 */
    CHECK_EQ(get32(dst + 16), 0x1000000cu);           /* base + 8 + 4 */
    CHECK_EQ(get32(dst + 20), 0);
    /* no TOC given: the TOC references cannot be resolved */
    CHECK_ERR(im_section_relocate(&s, dst, 0x10000000), IM_ERR_UNRESOLVED);
    CHECK_DETAIL("TOC slot of import 'b'");
    /* a direct reference to an import is the runtime linker's */
    s.nrelocs = 4;
    CHECK_ERR(im_section_relocate_toc(&s, dst, 0x10000000, 0x10003000), IM_ERR_UNRESOLVED);
    CHECK_DETAIL("import 'a'");
    rels[3].symbol = 2;
    CHECK_ERR(im_section_relocate_toc(&s, dst, 0x10000000, 0x10003000), IM_ERR_RELOC);
    CHECK_DETAIL("refers to import 2 (section has 2)");
    /* a range error names the section, the relocation, the kind and the range */
    s.nrelocs = 3;
    CHECK_ERR(im_section_relocate_toc(&s, dst, 0x10000000, 0x210000000ull), IM_ERR_RELOC_RANGE);
    CHECK_DETAIL("aarch64 relocation 0 (AARCH64_ADR_PREL_PG_HI21) at offset 0x0: page distance");
}

/* ---- the buffer ---- */

static const im_reloc *find_reloc(const im_section *s, uint32_t offset)
{
    for (uint32_t i = 0; i < s->nrelocs; i++)
        if (s->relocs[i].offset == offset)
            return &s->relocs[i];
    return NULL;
}

#define CHECK_RELOC(sec, off, k, r, sym, add)                                                      \
    do {                                                                                           \
        const im_reloc *rr_ = find_reloc((sec), (off));                                            \
        CHECK(rr_ != NULL);                                                                        \
        if (rr_) {                                                                                 \
            CHECK_EQ(rr_->kind, (k));                                                              \
            CHECK_EQ(rr_->ref, (r));                                                               \
            CHECK_EQ(rr_->symbol, (sym));                                                          \
            CHECK_EQ(rr_->addend, (add));                                                          \
        }                                                                                          \
    } while (0)

static void test_buf_imports(void)
{
    im_buf *b = im_buf_new(X64);
    int f = im_buf_import(b, "f", IM_SYM_FUNC);
    int g = im_buf_import(b, "g", IM_SYM_DATA);
    CHECK(f >= 0 && g >= 0 && f != g);
    CHECK_EQ(im_buf_import(b, "f", IM_SYM_FUNC), f);
    int tf = im_buf_toc(b, f);
    CHECK(tf >= 0 && tf != f);
    CHECK_EQ(im_buf_toc(b, f), tf);
    CHECK_EQ(im_buf_label_offset(b, f), -1);
    im_buf_free(b);

    /* an import cannot be bound, exported or imported with another kind; a TOC label of a
     * non-import is refused (each error is sticky: a fresh buffer per case) */
    b = im_buf_new(X64);
    f = im_buf_import(b, "f", IM_SYM_FUNC);
    CHECK_ERR(im_buf_bind(b, f), IM_ERR_LABEL);
    CHECK_DETAIL("import 'f'");
    im_buf_free(b);
    b = im_buf_new(X64);
    f = im_buf_import(b, "f", IM_SYM_FUNC);
    CHECK_ERR(im_buf_import(b, "f", IM_SYM_DATA), IM_ERR_SYMBOL);
    im_buf_free(b);
    b = im_buf_new(X64);
    int l = im_buf_label(b);
    CHECK_ERR(im_buf_toc(b, l), IM_ERR_LABEL);
    im_buf_free(b);
    b = im_buf_new(X64);
    f = im_buf_import(b, "f", IM_SYM_FUNC);
    CHECK_ERR(im_buf_export(b, "f", f, IM_SYM_FUNC), IM_ERR_LABEL);
    im_buf_free(b);
    b = im_buf_new(X64);
    CHECK_ERR(im_buf_import(b, "", IM_SYM_FUNC), IM_ERR_INVAL);
    im_buf_free(b);
}

/* Finish b and append it to a new image as module "mod": the image (NULL on failure). */
static im_image *finish(im_buf *b)
{
    CHECK_ERR(im_buf_finish(b), 0);
    im_image *img = im_img_new();
    CHECK_ERR(im_buf_to_module(b, "mod", img), 0);
    CHECK_EQ(img->nsections, 1);
    if (img->nsections != 1) {
        im_img_free(img);
        return NULL;
    }
    return img;
}

static void test_buf_x86_64(void)
{
    im_buf *b = im_buf_new(X64);
    int f = im_buf_import(b, "f", IM_SYM_FUNC);
    int g = im_buf_import(b, "g", IM_SYM_DATA);
    int tg = im_buf_toc(b, g);
    int loc = im_buf_label(b);
    im_operand ops[IM_MAX_OPS];
    ops[0] = im_label(f);
    CHECK_ERR(im_buf_emit(b, IM_X86_CALL_REL32, ops), 0); /* 0: e8 rel32 */
    CHECK_ERR(im_buf_emit(b, IM_X86_JMP_REL32, ops), 0);  /* 5: e9 rel32 */
    /* 10: mov rax, [rip + g@toc + 8] = 48 8b 05 disp32 */
    ops[0] = im_reg(0);
    ops[1] = im_mem(IM_REG_RIP, IM_NOREG, 0, 8);
    ops[1].label = tg;
    CHECK_ERR(im_buf_emit(b, IM_X86_MOV_R64_M64, ops), 0);
    /* 17: mov eax, [rip + loc] (loc bound at 29 below): disp = 29 - 23 */
    ops[1] = im_mem(IM_REG_RIP, IM_NOREG, 0, 0);
    ops[1].label = loc;
    CHECK_ERR(im_buf_emit(b, IM_X86_MOV_R32_M32, ops), 0);
    /* 23: movabs rax, OFFSET g@toc: 48 b8 imm64 (field at 25) -- 33 */
    ops[1] = im_symref(tg, 0);
    CHECK_ERR(im_buf_emit(b, IM_X86_MOV_R64_IMM64, ops), 0);
    CHECK_ERR(im_buf_bind(b, loc), 0);
    CHECK_ERR(im_buf_addr(b, 8, g, 16), 0); /* 33: .quad g + 16 */
    size_t len;
    const uint8_t *code = im_buf_code(b, &len);
    CHECK_EQ(len, 41);
    im_image *img = finish(b);
    if (img) {
        const im_section *s = &img->sections[0];
        CHECK(!strcmp(s->module, "mod"));
        CHECK_EQ(s->nimports, 2);
        CHECK_EQ(s->toc_slots, 2);
        if (s->nimports == 2) {
            CHECK(!strcmp(s->imports[0].name, "f"));
            CHECK_EQ(s->imports[0].slot, 0);
            CHECK_EQ(s->imports[0].kind, IM_SYM_FUNC);
            CHECK(!strcmp(s->imports[1].name, "g"));
            CHECK_EQ(s->imports[1].slot, 1);
            CHECK_EQ(s->imports[1].kind, IM_SYM_DATA);
        }
        CHECK_EQ(s->nrelocs, 5);
        CHECK_RELOC(s, 1, IM_RELOC_PC32, IM_REF_IMPORT, 0, -4);
        CHECK_RELOC(s, 6, IM_RELOC_PC32, IM_REF_IMPORT, 0, -4);
        CHECK_RELOC(s, 13, IM_RELOC_PC32, IM_REF_TOC, 1, 4);
        CHECK_RELOC(s, 25, IM_RELOC_ABS64, IM_REF_TOC, 1, 0);
        CHECK_RELOC(s, 33, IM_RELOC_ABS64, IM_REF_IMPORT, 1, 16);
        CHECK(find_reloc(s, 19) == NULL); /* the local rip-relative operand is resolved */
        code = s->code;
        CHECK_EQ(code[0], 0xe8);
        CHECK_EQ(get32(code + 1), 0);
        CHECK_EQ(code[10], 0x48);
        CHECK_EQ(code[12], 0x05);
        CHECK_EQ(code[17], 0x8b);
        CHECK_EQ(get32(code + 19), 10); /* loc (33) - the instruction's end (23) */
        /* the image format keeps all of it */
        uint8_t *data = NULL;
        size_t n = 0;
        im_image *back = NULL;
        CHECK_ERR(im_img_write(img, &data, &n), 0);
        CHECK_ERR(im_img_read(data, n, &back), 0);
        if (back) {
            const im_section *r = &back->sections[0];
            CHECK(!strcmp(r->module, "mod"));
            CHECK_EQ(r->nimports, 2);
            CHECK_EQ(r->toc_slots, 2);
            if (r->nimports == 2)
                CHECK(!strcmp(r->imports[1].name, "g"));
            CHECK_EQ(r->nrelocs, 5);
            CHECK_RELOC(r, 13, IM_RELOC_PC32, IM_REF_TOC, 1, 4);
            CHECK_RELOC(r, 33, IM_RELOC_ABS64, IM_REF_IMPORT, 1, 16);
            im_img_free(back);
        }
        free(data);
        im_img_free(img);
    }
    im_buf_free(b);

    /* a rel8 branch or a branch to a TOC slot has no relocation */
    b = im_buf_new(X64);
    f = im_buf_import(b, "f", IM_SYM_FUNC);
    ops[0] = im_label(f);
    CHECK_ERR(im_buf_emit(b, IM_X86_JMP_REL8, ops), IM_ERR_NO_ENCODING);
    CHECK_DETAIL("import 'f'");
    im_buf_free(b);
    b = im_buf_new(X64);
    f = im_buf_import(b, "f", IM_SYM_FUNC);
    ops[0] = im_label(im_buf_toc(b, f));
    CHECK_ERR(im_buf_emit(b, IM_X86_CALL_REL32, ops), IM_ERR_NO_ENCODING);
    CHECK_DETAIL("TOC slot");
    im_buf_free(b);
}

static void test_buf_i386(void)
{
    im_buf *b = im_buf_new(X32);
    int f = im_buf_import(b, "f", IM_SYM_FUNC);
    int tf = im_buf_toc(b, f);
    im_operand ops[IM_MAX_OPS];
    ops[0] = im_label(f);
    CHECK_ERR(im_buf_emit(b, IM_X86_CALL_REL32, ops), 0); /* 0: e8 rel32 */
    ops[0] = im_reg(0);                                   /* 5: mov eax, [f@toc] = 8b 05 */
    ops[1] = im_mem(IM_NOREG, IM_NOREG, 0, 0);
    ops[1].label = tf;
    CHECK_ERR(im_buf_emit(b, IM_X86_MOV_R32_M32, ops), 0);
    im_image *img = finish(b);
    if (img) {
        const im_section *s = &img->sections[0];
        CHECK_EQ(s->nrelocs, 2);
        CHECK_RELOC(s, 1, IM_RELOC_PC32, IM_REF_IMPORT, 0, -4);
        CHECK_RELOC(s, 7, IM_RELOC_ABS32, IM_REF_TOC, 0, 0);
        im_img_free(img);
    }
    im_buf_free(b);
}

static void test_buf_arm(void)
{
    im_buf *b = im_buf_new(A32);
    int f = im_buf_import(b, "f", IM_SYM_FUNC);
    int tf = im_buf_toc(b, f);
    int loc = im_buf_label(b);
    im_operand ops[IM_MAX_OPS];
    ops[0] = im_cond(14);
    ops[1] = im_label(f);
    CHECK_ERR(im_buf_emit(b, IM_A32_BL, ops), 0); /* 0: bl f */
    CHECK_ERR(im_buf_emit(b, IM_A32_B, ops), 0);  /* 4: b f */
    ops[0] = im_cond(1);
    CHECK_ERR(im_buf_emit(b, IM_A32_BL, ops), 0); /* 8: blne f: JUMP24 */
    ops[0] = im_cond(14);
    ops[1] = im_reg(3);
    ops[2] = im_symref(tf, 0);
    CHECK_ERR(im_buf_emit(b, IM_A32_MOVW, ops), 0); /* 12: movw r3, #:lower16:f@toc */
    CHECK_ERR(im_buf_emit(b, IM_A32_MOVT, ops), 0); /* 16: movt r3, #:upper16:f@toc */
    ops[2] = im_symref(loc, 4);
    CHECK_ERR(im_buf_emit(b, IM_A32_MOVW, ops), 0); /* 20: movw r3, #:lower16:loc+4 */
    CHECK_ERR(im_buf_bind(b, loc), 0);              /* 24 */
    im_image *img = finish(b);
    if (img) {
        const im_section *s = &img->sections[0];
        CHECK_EQ(s->nrelocs, 6);
        CHECK_RELOC(s, 0, IM_RELOC_ARM_CALL, IM_REF_IMPORT, 0, 0);
        CHECK_RELOC(s, 4, IM_RELOC_ARM_JUMP24, IM_REF_IMPORT, 0, 0);
        CHECK_RELOC(s, 8, IM_RELOC_ARM_JUMP24, IM_REF_IMPORT, 0, 0);
        CHECK_RELOC(s, 12, IM_RELOC_ARM_MOVW_ABS_NC, IM_REF_TOC, 0, 0);
        CHECK_RELOC(s, 16, IM_RELOC_ARM_MOVT_ABS, IM_REF_TOC, 0, 0);
        CHECK_RELOC(s, 20, IM_RELOC_ARM_MOVW_ABS_NC, IM_REF_LOCAL, -1, 28);
        CHECK_EQ(get32(s->code), 0xeb000000u);
        CHECK_EQ(get32(s->code + 8), 0x1b000000u);
        CHECK_EQ(get32(s->code + 12), 0xe3003000u);
        CHECK_EQ(get32(s->code + 20), 0xe300301cu); /* as at address 0: 28 */
        im_img_free(img);
    }
    im_buf_free(b);
    /* movw takes the lower half, movt the upper */
    b = im_buf_new(A32);
    loc = im_buf_label(b);
    ops[0] = im_cond(14);
    ops[1] = im_reg(3);
    ops[2] = im_symref(loc, 0);
    ops[2].reg = 2; /* #:upper16: */
    CHECK_ERR(im_buf_emit(b, IM_A32_MOVW, ops), IM_ERR_NO_ENCODING);
    im_buf_free(b);
    /* blx to an import would need a Thumb target */
    b = im_buf_new(A32);
    f = im_buf_import(b, "f", IM_SYM_FUNC);
    ops[0] = im_cond(14);
    ops[1] = im_label(f);
    CHECK_ERR(im_buf_emit(b, IM_A32_BLX_LBL, ops), IM_ERR_NO_ENCODING);
    CHECK_DETAIL("import 'f'");
    im_buf_free(b);
}

static void test_buf_a64(void)
{
    im_buf *b = im_buf_new(A64);
    int f = im_buf_import(b, "f", IM_SYM_FUNC);
    int tf = im_buf_toc(b, f);
    im_operand ops[IM_MAX_OPS];
    ops[0] = im_label(f);
    CHECK_ERR(im_buf_emit(b, IM_A64_BL, ops), 0); /* 0 */
    CHECK_ERR(im_buf_emit(b, IM_A64_B, ops), 0);  /* 4 */
    ops[0] = im_cond(1);
    ops[1] = im_label(f);
    CHECK_ERR(im_buf_emit(b, IM_A64_B_COND, ops), 0); /* 8: b.ne */
    ops[0] = im_reg(3);
    CHECK_ERR(im_buf_emit(b, IM_A64_CBZ_X, ops), 0); /* 12 */
    ops[1] = im_imm(33);
    ops[2] = im_label(f);
    CHECK_ERR(im_buf_emit(b, IM_A64_TBNZ_X, ops), 0); /* 16 */
    ops[0] = im_reg(0);
    ops[1] = im_label(tf);
    CHECK_ERR(im_buf_emit(b, IM_A64_ADRP, ops), 0); /* 20: adrp x0, f@toc */
    ops[0] = im_reg(1);
    ops[1] = im_reg(0);
    ops[2] = im_symref(tf, 0);
    CHECK_ERR(im_buf_emit(b, IM_A64_LDR_X_UOFF, ops), 0); /* 24: ldr x1, [x0, #:lo12:f@toc] */
    ops[0] = im_reg(0);
    ops[3] = im_imm(0);
    CHECK_ERR(im_buf_emit(b, IM_A64_ADD_X_IMM, ops), 0); /* 28: add x0, x0, #:lo12:f@toc */
    ops[0] = im_reg(1);
    CHECK_ERR(im_buf_emit(b, IM_A64_LDRB_UOFF, ops), 0);  /* 32 */
    CHECK_ERR(im_buf_emit(b, IM_A64_LDRH_UOFF, ops), 0);  /* 36 */
    CHECK_ERR(im_buf_emit(b, IM_A64_STR_W_UOFF, ops), 0); /* 40 */
    CHECK_ERR(im_buf_emit(b, IM_A64_LDR_Q_UOFF, ops), 0); /* 44 */
    im_image *img = finish(b);
    if (img) {
        const im_section *s = &img->sections[0];
        CHECK_EQ(s->align, 16); /* no page-relative instruction resolved here */
        CHECK_EQ(s->nrelocs, 12);
        CHECK_RELOC(s, 0, IM_RELOC_AARCH64_CALL26, IM_REF_IMPORT, 0, 0);
        CHECK_RELOC(s, 4, IM_RELOC_AARCH64_JUMP26, IM_REF_IMPORT, 0, 0);
        CHECK_RELOC(s, 8, IM_RELOC_AARCH64_CONDBR19, IM_REF_IMPORT, 0, 0);
        CHECK_RELOC(s, 12, IM_RELOC_AARCH64_CONDBR19, IM_REF_IMPORT, 0, 0);
        CHECK_RELOC(s, 16, IM_RELOC_AARCH64_TSTBR14, IM_REF_IMPORT, 0, 0);
        CHECK_RELOC(s, 20, IM_RELOC_AARCH64_ADR_PREL_PG_HI21, IM_REF_TOC, 0, 0);
        CHECK_RELOC(s, 24, IM_RELOC_AARCH64_LDST64_ABS_LO12_NC, IM_REF_TOC, 0, 0);
        CHECK_RELOC(s, 28, IM_RELOC_AARCH64_ADD_ABS_LO12_NC, IM_REF_TOC, 0, 0);
        CHECK_RELOC(s, 32, IM_RELOC_AARCH64_LDST8_ABS_LO12_NC, IM_REF_TOC, 0, 0);
        CHECK_RELOC(s, 36, IM_RELOC_AARCH64_LDST16_ABS_LO12_NC, IM_REF_TOC, 0, 0);
        CHECK_RELOC(s, 40, IM_RELOC_AARCH64_LDST32_ABS_LO12_NC, IM_REF_TOC, 0, 0);
        CHECK_RELOC(s, 44, IM_RELOC_AARCH64_LDST128_ABS_LO12_NC, IM_REF_TOC, 0, 0);
        CHECK_EQ(get32(s->code), 0x94000000u);
        CHECK_EQ(get32(s->code + 16), 0xb7080003u);
        CHECK_EQ(get32(s->code + 20), 0x90000000u);
        CHECK_EQ(get32(s->code + 24), 0xf9400001u);
        /* relocated at 0x40000000 with the TOC at 0x40001010: adrp one page on, lo12 0x10 */
        uint8_t dst[48];
        memcpy(dst, s->code, sizeof dst);
        im_section t = *s;
        im_reloc toc[12];
        t.relocs = toc;
        t.nrelocs = 0;
        for (uint32_t i = 0; i < s->nrelocs; i++)
            if (s->relocs[i].ref == IM_REF_TOC)
                toc[t.nrelocs++] = s->relocs[i];
        CHECK_EQ(t.nrelocs, 7);
        CHECK_ERR(im_section_relocate_toc(&t, dst, 0x40000000, 0x40001010), 0);
        CHECK_EQ(get32(dst + 20), 0x90000000u | 1u << 29);
        CHECK_EQ(get32(dst + 24), 0xf9400001u | 2u << 10);
        CHECK_EQ(get32(dst + 28), 0x91000000u | 0x10u << 10);
        im_img_free(img);
    }
    im_buf_free(b);
    /* adrp to a local label keeps its page distance resolved (4 KiB alignment) */
    b = im_buf_new(A64);
    int loc = im_buf_label(b);
    ops[0] = im_reg(0);
    ops[1] = im_label(loc);
    CHECK_ERR(im_buf_emit(b, IM_A64_ADRP, ops), 0);
    CHECK_ERR(im_buf_bind(b, loc), 0);
    img = finish(b);
    if (img) {
        CHECK_EQ(img->sections[0].nrelocs, 0);
        CHECK_EQ(img->sections[0].align, 4096);
        im_img_free(img);
    }
    im_buf_free(b);
    /* adr and ldr (literal) of an import have no relocation here; a lo12 in a field
     * that takes no address is refused */
    b = im_buf_new(A64);
    f = im_buf_import(b, "f", IM_SYM_FUNC);
    ops[0] = im_reg(0);
    ops[1] = im_label(f);
    CHECK_ERR(im_buf_emit(b, IM_A64_ADR, ops), IM_ERR_NO_ENCODING);
    im_buf_free(b);
    b = im_buf_new(A64);
    f = im_buf_import(b, "f", IM_SYM_FUNC);
    ops[0] = im_reg(0);
    ops[1] = im_label(f);
    CHECK_ERR(im_buf_emit(b, IM_A64_LDR_X_LIT, ops), IM_ERR_NO_ENCODING);
    im_buf_free(b);
}

/* im_lmod_patch on this host's loaded code (x86_64: the host the C tests run natively). */
#if defined(__x86_64__)
typedef int (*fn0)(void);

static int call0(const im_lmod *m, const char *name)
{
    uint64_t a = im_lmod_symbol(m, name);
    if (!a)
        return -999999;
    fn0 f;
    memcpy(&f, &(void *){(void *)(uintptr_t)a}, sizeof f);
    return f();
}

static void test_patch(void)
{
    /* f: mov eax, 1; ret   g: jmp f   h: mov eax, 5; ret */
    static uint8_t code[] = {0xb8, 1,    0,    0, 0, 0xc3, 0xe9, 0xf5, 0xff,
                             0xff, 0xff, 0xb8, 5, 0, 0,    0,    0xc3};
    im_symbol syms[3] = {{(char *)"f", 0, IM_SYM_FUNC},
                         {(char *)"g", 6, IM_SYM_FUNC},
                         {(char *)"h", 11, IM_SYM_FUNC}};
    im_section s = {0};
    s.target = X64;
    s.align = 16;
    s.module = (char *)"p";
    s.code = code;
    s.code_size = sizeof code;
    s.syms = syms;
    s.nsyms = 3;
    im_link *l;
    im_lmod *m = NULL;
    CHECK_ERR(im_link_new(X64, &l), 0);
    CHECK_ERR(im_link_load(l, &s, 0, &m), 0);
    if (!m) {
        im_link_free(l);
        return;
    }
    CHECK_EQ(call0(m, "f"), 1);
    CHECK_EQ(call0(m, "g"), 1);
    im_operand ops[IM_MAX_OPS] = {im_reg(0), im_imm(7)};
    CHECK_ERR(im_lmod_patch(m, 0, 5, IM_X86_MOV_R32_IMM32, ops), 0);
    CHECK_EQ(call0(m, "f"), 7);
    /* a 10-byte encoding where the instruction has 5: refused, nothing written */
    ops[1] = im_imm(0x100000000ll);
    CHECK_ERR(im_lmod_patch(m, 0, 5, IM_X86_MOV_R64_IMM64, ops), IM_ERR_INVAL);
    CHECK_DETAIL("encodes in 10 bytes");
    CHECK_EQ(call0(m, "f"), 7);
    /* g: jmp h (IM_OP_REL: relative to g), the length taken from the encoding */
    ops[0] = (im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, 11 - 6};
    CHECK_ERR(im_lmod_patch(m, 6, 0, IM_X86_JMP_REL32, ops), 0);
    CHECK_EQ(call0(m, "g"), 5);
    uint8_t back[5];
    CHECK_ERR(im_lmod_read(m, 6, back, 5), 0);
    CHECK(!memcmp(back, "\xe9\x00\x00\x00\x00", 5)); /* h is right after g */
    /* labels have no meaning in loaded code; offsets past the code are refused */
    ops[0] = im_label(0);
    CHECK_ERR(im_lmod_patch(m, 6, 5, IM_X86_JMP_REL32, ops), IM_ERR_INVAL);
    ops[0] = im_reg(0);
    ops[1] = im_imm(1);
    CHECK_ERR(im_lmod_patch(m, sizeof code, 5, IM_X86_MOV_R32_IMM32, ops), IM_ERR_RANGE);
    CHECK_ERR(im_lmod_patch(m, 14, 5, IM_X86_MOV_R32_IMM32, ops), IM_ERR_RANGE);
    CHECK_EQ(call0(m, "h"), 5);
    im_link_free(l);
}
#endif

#if defined(__x86_64__) || defined(__aarch64__)
static int64_t host_add1(int64_t x)
{
    return x + 1;
}

typedef int64_t (*fn1)(int64_t);

static int64_t call1(const im_lmod *m, const char *name, int64_t x)
{
    uint64_t a = im_lmod_symbol(m, name);
    if (!a)
        return -999999;
    fn1 f;
    memcpy(&f, &(void *){(void *)(uintptr_t)a}, sizeof f);
    return f(x);
}

/* What the buffer emits for imports, loaded by the runtime linker on this host: f(x), a
 * direct call (IMPORT: bound at load, through a veneer when out of reach); g(x), a call
 * through the TOC slot (lazy); h(), the slot's address. */
static im_buf *link_module(void)
{
    im_operand ops[IM_MAX_OPS];
#if defined(__x86_64__)
    im_buf *b = im_buf_new(X64);
    int add1 = im_buf_import(b, "host_add1", IM_SYM_FUNC);
    int slot = im_buf_toc(b, add1);
    int f = im_buf_label(b), g = im_buf_label(b), h = im_buf_label(b);
    /* f: push rbx; call host_add1; pop rbx; ret */
    CHECK_ERR(im_buf_bind(b, f), 0);
    ops[0] = im_reg(3);
    CHECK_ERR(im_buf_emit(b, IM_X86_PUSH_R64, ops), 0);
    ops[0] = im_label(add1);
    CHECK_ERR(im_buf_emit(b, IM_X86_CALL_REL32, ops), 0);
    ops[0] = im_reg(3);
    CHECK_ERR(im_buf_emit(b, IM_X86_POP_R64, ops), 0);
    CHECK_ERR(im_buf_emit(b, IM_X86_RET, ops), 0);
    /* g: push rbx; call QWORD PTR [rip + host_add1@toc]; pop rbx; ret */
    CHECK_ERR(im_buf_bind(b, g), 0);
    ops[0] = im_reg(3);
    CHECK_ERR(im_buf_emit(b, IM_X86_PUSH_R64, ops), 0);
    ops[0] = im_mem(IM_REG_RIP, IM_NOREG, 0, 0);
    ops[0].label = slot;
    CHECK_ERR(im_buf_emit(b, IM_X86_CALL_RM64, ops), 0);
    ops[0] = im_reg(3);
    CHECK_ERR(im_buf_emit(b, IM_X86_POP_R64, ops), 0);
    CHECK_ERR(im_buf_emit(b, IM_X86_RET, ops), 0);
    /* h: movabs rax, OFFSET host_add1@toc; ret */
    CHECK_ERR(im_buf_bind(b, h), 0);
    ops[0] = im_reg(0);
    ops[1] = im_symref(slot, 0);
    CHECK_ERR(im_buf_emit(b, IM_X86_MOV_R64_IMM64, ops), 0);
    CHECK_ERR(im_buf_emit(b, IM_X86_RET, ops), 0);
#else
    im_buf *b = im_buf_new(A64);
    int add1 = im_buf_import(b, "host_add1", IM_SYM_FUNC);
    int slot = im_buf_toc(b, add1);
    int f = im_buf_label(b), g = im_buf_label(b), h = im_buf_label(b);
    im_operand push[4] = {im_reg(29), im_reg(30), im_reg(31), im_imm(-16)};
    im_operand pop[4] = {im_reg(29), im_reg(30), im_reg(31), im_imm(16)};
    im_operand lr[1] = {im_reg(30)};
    /* f: stp x29, x30, [sp, #-16]!; bl host_add1; ldp x29, x30, [sp], #16; ret */
    CHECK_ERR(im_buf_bind(b, f), 0);
    CHECK_ERR(im_buf_emit(b, IM_A64_STP_X_PRE, push), 0);
    ops[0] = im_label(add1);
    CHECK_ERR(im_buf_emit(b, IM_A64_BL, ops), 0);
    CHECK_ERR(im_buf_emit(b, IM_A64_LDP_X_POST, pop), 0);
    CHECK_ERR(im_buf_emit(b, IM_A64_RET, lr), 0);
    /* g: stp; adrp x16, host_add1@toc; ldr x16, [x16, #:lo12:host_add1@toc]; blr x16; ldp;
     * ret */
    CHECK_ERR(im_buf_bind(b, g), 0);
    CHECK_ERR(im_buf_emit(b, IM_A64_STP_X_PRE, push), 0);
    ops[0] = im_reg(16);
    ops[1] = im_label(slot);
    CHECK_ERR(im_buf_emit(b, IM_A64_ADRP, ops), 0);
    ops[1] = im_reg(16);
    ops[2] = im_symref(slot, 0);
    CHECK_ERR(im_buf_emit(b, IM_A64_LDR_X_UOFF, ops), 0);
    CHECK_ERR(im_buf_emit(b, IM_A64_BLR, ops), 0);
    CHECK_ERR(im_buf_emit(b, IM_A64_LDP_X_POST, pop), 0);
    CHECK_ERR(im_buf_emit(b, IM_A64_RET, lr), 0);
    /* h: adrp x0, host_add1@toc; add x0, x0, #:lo12:host_add1@toc; ret */
    CHECK_ERR(im_buf_bind(b, h), 0);
    ops[0] = im_reg(0);
    ops[1] = im_label(slot);
    CHECK_ERR(im_buf_emit(b, IM_A64_ADRP, ops), 0);
    ops[1] = im_reg(0);
    ops[2] = im_symref(slot, 0);
    ops[3] = im_imm(0);
    CHECK_ERR(im_buf_emit(b, IM_A64_ADD_X_IMM, ops), 0);
    CHECK_ERR(im_buf_emit(b, IM_A64_RET, lr), 0);
#endif
    CHECK_ERR(im_buf_export(b, "f", f, IM_SYM_FUNC), 0);
    CHECK_ERR(im_buf_export(b, "g", g, IM_SYM_FUNC), 0);
    CHECK_ERR(im_buf_export(b, "h", h, IM_SYM_FUNC), 0);
    return b;
}

static void test_buf_link(void)
{
    im_buf *b = link_module();
    im_image *img = finish(b);
    im_buf_free(b);
    if (!img)
        return;
    im_link *l;
    im_lmod *m = NULL;
    CHECK_ERR(im_link_new(im_host_target(), &l), 0);
    CHECK_ERR(im_link_host(l, "host_add1", (uint64_t)(uintptr_t)&host_add1), 0);
    CHECK_ERR(im_link_load(l, &img->sections[0], 0, &m), 0);
    if (m) {
        CHECK_EQ(call1(m, "f", 41), 42);
        CHECK_EQ(call1(m, "g", 9), 10);
        CHECK_EQ(call1(m, "g", 99), 100); /* the slot, resolved */
        CHECK_EQ((uint64_t)call1(m, "h", 0), im_lmod_toc(m));
    }
    im_link_free(l);
    im_img_free(img);
}
#endif

int main(void)
{
    test_field_sizes();
    test_apply_x86();
    test_apply_arm();
    test_apply_a64();
    test_veneers();
    test_section_refs();
    test_buf_imports();
    test_buf_x86_64();
    test_buf_i386();
    test_buf_arm();
    test_buf_a64();
#if defined(__x86_64__)
    test_patch();
#endif
#if defined(__x86_64__) || defined(__aarch64__)
    test_buf_link();
#endif
    return check_done();
}
