/* Tiny functions for every target, as GNU as assembles them, and helpers that
 * build images from them through the C API. Shared by the C unit tests. */
#ifndef IMAGO_TESTS_SAMPLES_H
#define IMAGO_TESTS_SAMPLES_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "imago/asm.h"
#include "imago/enc.h"
#include "imago/img.h"

/* Which sample function. */
enum sample_kind {
    SAMPLE_RET42, /* int f(void) { return 42; } */
    SAMPLE_ARITH, /* f(a, b, c, d) = (a + b - c) * d */
    SAMPLE_RELOC, /* loads a word of its own data through an absolute address: 1234 */
    SAMPLE_KINDS
};

struct sample {
    const uint8_t *code;
    uint32_t size;
    /* SAMPLE_RELOC only: the absolute-address field, its kind, and where data is. */
    uint32_t reloc_offset;
    uint32_t reloc_kind;
    uint32_t data_offset;
};

/* x86_64 `mov eax, 42; ret` (also valid i386 code). */
static const uint8_t x86_ret42[] = {0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3};
/* arm `mov r0, #42; bx lr` */
static const uint8_t arm_ret42[] = {0x2a, 0x00, 0xa0, 0xe3, 0x1e, 0xff, 0x2f, 0xe1};
/* aarch64 `mov w0, #42; ret` */
static const uint8_t a64_ret42[] = {0x40, 0x05, 0x80, 0x52, 0xc0, 0x03, 0x5f, 0xd6};

/* x86_64 (as --64, .intel_syntax noprefix):
 *   lea rax, [rdi+rsi]; sub rax, rdx; imul rax, rcx; ret */
static const uint8_t x64_arith[] = {0x48, 0x8d, 0x04, 0x37, 0x48, 0x29,
                                    0xd0, 0x48, 0x0f, 0xaf, 0xc1, 0xc3};
/* i386 (as --32): mov eax, [esp+4]; add eax, [esp+8]; sub eax, [esp+12];
 *   imul eax, [esp+16]; ret */
static const uint8_t i386_arith[] = {0x8b, 0x44, 0x24, 0x04, 0x03, 0x44, 0x24, 0x08, 0x2b,
                                     0x44, 0x24, 0x0c, 0x0f, 0xaf, 0x44, 0x24, 0x10, 0xc3};
/* arm (as -march=armv7-a): add r0, r0, r1; sub r0, r0, r2; mul r0, r3, r0; bx lr */
static const uint8_t arm_arith[] = {0x01, 0x00, 0x80, 0xe0, 0x02, 0x00, 0x40, 0xe0,
                                    0x93, 0x00, 0x00, 0xe0, 0x1e, 0xff, 0x2f, 0xe1};
/* aarch64: add x0, x0, x1; sub x0, x0, x2; mul x0, x0, x3; ret */
static const uint8_t a64_arith[] = {0x00, 0x00, 0x01, 0x8b, 0x00, 0x00, 0x02, 0xcb,
                                    0x00, 0x7c, 0x03, 0x9b, 0xc0, 0x03, 0x5f, 0xd6};

/* x86_64: f: movabs rax, offset data; mov eax, [rax]; ret; data: .long 1234
 * (R_X86_64_64 at 2 -> ABS64, data at 0xd; the field is zero here) */
static const uint8_t x64_reloc[] = {0x48, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                    0x00, 0x8b, 0x00, 0xc3, 0xd2, 0x04, 0x00, 0x00};
/* x86_64: f: mov eax, offset data; mov eax, [rax]; ret; data: .long 1234
 * (R_X86_64_32 at 1 -> ABS32, zero-extended; data at 8) */
static const uint8_t x64_reloc32[] = {0xb8, 0x00, 0x00, 0x00, 0x00, 0x8b,
                                      0x00, 0xc3, 0xd2, 0x04, 0x00, 0x00};
/* i386: f: mov eax, offset data; mov eax, [eax]; ret; data: .long 1234
 * (R_386_32 at 1 -> ABS32, data at 8; as wrote the REL addend 8 in place, zeroed here) */
static const uint8_t i386_reloc[] = {0xb8, 0x00, 0x00, 0x00, 0x00, 0x8b,
                                     0x00, 0xc3, 0xd2, 0x04, 0x00, 0x00};
/* arm: f: ldr r0, lit; ldr r0, [r0]; bx lr; lit: .word data; data: .word 1234
 * (R_ARM_ABS32 at 0xc -> ABS32, data at 0x10; REL addend zeroed) */
static const uint8_t arm_reloc[] = {0x04, 0x00, 0x9f, 0xe5, 0x00, 0x00, 0x90, 0xe5, 0x1e, 0xff,
                                    0x2f, 0xe1, 0x00, 0x00, 0x00, 0x00, 0xd2, 0x04, 0x00, 0x00};
/* aarch64: f: ldr x0, lit; ldr w0, [x0]; ret; .p2align 3; lit: .quad data; data: .word 1234
 * (R_AARCH64_ABS64 at 0x10 -> ABS64, data at 0x18) */
static const uint8_t a64_reloc[] = {0x80, 0x00, 0x00, 0x58, 0x00, 0x00, 0x40, 0xb9, 0xc0, 0x03,
                                    0x5f, 0xd6, 0x1f, 0x20, 0x03, 0xd5, 0x00, 0x00, 0x00, 0x00,
                                    0x00, 0x00, 0x00, 0x00, 0xd2, 0x04, 0x00, 0x00};

#define SAMPLE(a) (a), (uint32_t)sizeof(a)

static inline struct sample sample_get(im_target t, enum sample_kind k)
{
    struct sample s = {0};
    switch (t) {
    case IM_TARGET_X86_64:
        if (k == SAMPLE_RET42)
            s = (struct sample){SAMPLE(x86_ret42), 0, 0, 0};
        else if (k == SAMPLE_ARITH)
            s = (struct sample){SAMPLE(x64_arith), 0, 0, 0};
        else
            s = (struct sample){SAMPLE(x64_reloc), 2, IM_RELOC_ABS64, 0xd};
        break;
    case IM_TARGET_I386:
        if (k == SAMPLE_RET42)
            s = (struct sample){SAMPLE(x86_ret42), 0, 0, 0};
        else if (k == SAMPLE_ARITH)
            s = (struct sample){SAMPLE(i386_arith), 0, 0, 0};
        else
            s = (struct sample){SAMPLE(i386_reloc), 1, IM_RELOC_ABS32, 8};
        break;
    case IM_TARGET_ARM:
        if (k == SAMPLE_RET42)
            s = (struct sample){SAMPLE(arm_ret42), 0, 0, 0};
        else if (k == SAMPLE_ARITH)
            s = (struct sample){SAMPLE(arm_arith), 0, 0, 0};
        else
            s = (struct sample){SAMPLE(arm_reloc), 0xc, IM_RELOC_ABS32, 0x10};
        break;
    case IM_TARGET_AARCH64:
        if (k == SAMPLE_RET42)
            s = (struct sample){SAMPLE(a64_ret42), 0, 0, 0};
        else if (k == SAMPLE_ARITH)
            s = (struct sample){SAMPLE(a64_arith), 0, 0, 0};
        else
            s = (struct sample){SAMPLE(a64_reloc), 0x10, IM_RELOC_ABS64, 0x18};
        break;
    default: break;
    }
    return s;
}

/* Add target t's sample k to img: symbol "main" (function at 0) and, for
 * SAMPLE_RELOC, symbol "data" and the relocation. With via_symbol the relocation
 * names "data" with addend 0, otherwise the section start with addend data_offset. */
static inline int sample_add(im_image *img, im_target t, enum sample_kind k, int via_symbol)
{
    struct sample s = sample_get(t, k);
    im_symbol syms[2] = {{(char *)"main", 0, IM_SYM_FUNC}, {(char *)"data", 0, IM_SYM_DATA}};
    im_reloc rel = {0, 0, -1, 0, IM_REF_LOCAL};
    im_section sec = {t, 16, (uint8_t *)s.code, s.size, syms, 1, NULL, 0, NULL, NULL, 0, 0};
    if (k == SAMPLE_RELOC) {
        syms[1].offset = s.data_offset;
        sec.nsyms = 2;
        rel.offset = s.reloc_offset;
        rel.kind = s.reloc_kind;
        rel.symbol = via_symbol ? 1 : -1;
        rel.addend = via_symbol ? 0 : (int64_t)s.data_offset;
        sec.relocs = &rel;
        sec.nrelocs = 1;
    }
    return im_img_add_section(img, &sec);
}

/* An image with target t's sample k (or every target's when t is IM_TARGET_NONE). */
static inline im_image *sample_image(im_target t, enum sample_kind k, int via_symbol)
{
    im_image *img = im_img_new();
    if (!img)
        return NULL;
    for (int i = 1; i < IM_TARGET_COUNT; i++) {
        if (t != IM_TARGET_NONE && (im_target)i != t)
            continue;
        if (sample_add(img, (im_target)i, k, via_symbol) != 0) {
            im_img_free(img);
            return NULL;
        }
    }
    return img;
}

/* Assemble src (imago's assembler) for t and add it to img as module name; a failure is
 * printed with the line. */
static inline int sample_asm_module(im_image *img, im_target t, const char *src, const char *name)
{
    im_buf *b = NULL;
    int line = 0;
    int err = im_asm(t, src, strlen(src), &b, &line);
    if (!err)
        err = im_buf_to_module(b, name, img);
    if (err)
        fprintf(stderr, "  %s: module %s line %d: %s\n", im_target_name(t), name, line,
                im_detail());
    im_buf_free(b);
    return err;
}

#endif
