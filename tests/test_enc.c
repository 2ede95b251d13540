/* Unit tests of the encoders (layer 1), the assembler buffer (layer 2) and the text
 * assembler. Expected bytes come from GNU as (the source line is given beside each). */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "imago/asm.h"
#include "imago/enc.h"
#include "imago/forms.h"
#include "imago/loader.h"

/* internal: the A64 encoder's self-check (encoders/a64/a64.c) */
int a64_check_imm_ranges(char *msg, size_t n);
int a64_check_areas(char *msg, size_t n);
int a32_check_areas(char *msg, size_t n);

#define X64 IM_TARGET_X86_64
#define X32 IM_TARGET_I386
#define A64 IM_TARGET_AARCH64
#define A32 IM_TARGET_ARM

static int bytes_eq(const uint8_t *a, const char *hex, int len)
{
    char buf[64] = "";
    for (int i = 0; i < len && i < 30; i++)
        sprintf(buf + 2 * i, "%02x", a[i]);
    if (strcmp(buf, hex)) {
        fprintf(stderr, "  bytes %s, expected %s\n", buf, hex);
        return 0;
    }
    return 1;
}

static void test_layer1(void)
{
    uint8_t out[16];
    im_operand ops[IM_MAX_OPS];

    /* mov eax, 42 -> b8 2a 00 00 00 */
    ops[0] = im_reg(0), ops[1] = im_imm(42);
    int n = im_encode(X64, IM_X86_MOV_R32_IMM32, ops, out, sizeof out);
    CHECK_EQ(n, 5);
    CHECK(bytes_eq(out, "b82a000000", n));
    /* add r9, QWORD PTR [r12+rax*8-0x10] -> 4d 03 4c c4 f0 */
    ops[0] = im_reg(9), ops[1] = im_mem(12, 0, 8, -16);
    n = im_encode(X64, IM_X86_ADD_R64_M64, ops, out, sizeof out);
    CHECK(n > 0 && bytes_eq(out, "4d034cc4f0", n));
    /* stp x29, x30, [sp, #-16]! -> fd 7b bf a9 */
    ops[0] = im_reg(29), ops[1] = im_reg(30), ops[2] = im_reg(31), ops[3] = im_imm(-16);
    n = im_encode(A64, IM_A64_STP_X_PRE, ops, out, sizeof out);
    CHECK(n == 4 && bytes_eq(out, "fd7bbfa9", n));
    /* addeq r0, r1, #0xff000000 -> ff 04 81 02 */
    ops[0] = im_cond(0), ops[1] = im_reg(0), ops[2] = im_reg(1), ops[3] = im_imm(0xff000000);
    n = im_encode(A32, IM_A32_ADD_IMM, ops, out, sizeof out);
    CHECK(n == 4 && bytes_eq(out, "ff048102", n));

    /* failures write nothing */
    memset(out, 0xaa, sizeof out);
    ops[0] = im_reg(0), ops[1] = im_imm(200);
    CHECK_ERR(im_encode(X64, IM_X86_ADD_RM32_IMM8, ops, out, sizeof out), IM_ERR_RANGE);
    ops[0] = im_reg(8), ops[1] = im_imm(1);
    CHECK_ERR(im_encode(X32, IM_X86_MOV_R32_IMM32, ops, out, sizeof out), IM_ERR_NO_ENCODING);
    ops[0] = im_reg(0), ops[1] = im_mem(0, 4, 1, 0); /* rsp cannot be an index */
    CHECK_ERR(im_encode(X64, IM_X86_MOV_R32_M32, ops, out, sizeof out), IM_ERR_NO_ENCODING);
    CHECK_DETAIL("index");
    ops[0] = im_reg(0), ops[1] = im_reg(1), ops[2] = im_imm(4); /* ldr x0, [x1, #4]: not /8 */
    CHECK_ERR(im_encode(A64, IM_A64_LDR_X_UOFF, ops, out, sizeof out), IM_ERR_ALIGN);
    ops[0] = im_cond(14), ops[1] = im_reg(0), ops[2] = im_imm(0x101); /* no modified immediate */
    CHECK_ERR(im_encode(A32, IM_A32_MOV_IMM, ops, out, sizeof out), IM_ERR_NO_ENCODING);
    ops[0] = im_reg(0), ops[1] = im_imm(42);
    CHECK_ERR(im_encode(X64, IM_X86_MOV_R32_IMM32, ops, out, 4), IM_ERR_INVAL);
    CHECK_ERR(im_encode(X32, IM_X86_MOV_R64_IMM64, ops, out, sizeof out), IM_ERR_NO_ENCODING);
    CHECK_ERR(im_encode(IM_TARGET_NONE, 0, ops, out, sizeof out), IM_ERR_TARGET);
    int untouched = 1;
    for (size_t i = 0; i < sizeof out; i++)
        untouched &= out[i] == 0xaa;
    CHECK(untouched);

    CHECK_EQ(im_form_lookup(A64, "ret"), IM_A64_RET);
    CHECK_ERR(im_form_lookup(A64, "no_such_form"), IM_ERR_INVAL);
    char text[128];
    ops[0] = im_reg(30);
    CHECK(im_print(A64, IM_A64_RET, ops, text, sizeof text) > 0 && !strcmp(text, "ret"));
}

static void test_buffer(void)
{
    /* forward and backward labels, x86_64:
     *   top: jmp fwd (rel32: e9 02 00 00 00) ; add eax, ecx ; fwd: jmp top (eb f7) */
    im_buf *b = im_buf_new(X64);
    int top = im_buf_label(b), fwd = im_buf_label(b);
    im_operand ops[IM_MAX_OPS];
    CHECK_ERR(im_buf_bind(b, top), 0);
    ops[0] = im_label(fwd);
    CHECK_ERR(im_buf_emit(b, IM_X86_JMP_REL32, ops), 0);
    ops[0] = im_reg(0), ops[1] = im_reg(1);
    CHECK_ERR(im_buf_emit(b, IM_X86_ADD_RM32_R32, ops), 0);
    CHECK_ERR(im_buf_bind(b, fwd), 0);
    ops[0] = im_label(top);
    CHECK_ERR(im_buf_emit(b, IM_X86_JMP_REL8, ops), 0);
    CHECK_ERR(im_buf_finish(b), 0);
    size_t len;
    const uint8_t *code = im_buf_code(b, &len);
    CHECK(len == 9 && bytes_eq(code, "e90200000001c8ebf7", (int)len));
    CHECK_ERR(im_buf_bind(b, top), IM_ERR_LABEL); /* bound twice: sticky from here on */
    ops[0] = im_reg(0), ops[1] = im_reg(1);
    CHECK_ERR(im_buf_emit(b, IM_X86_ADD_RM32_R32, ops), IM_ERR_LABEL);
    const char *detail;
    CHECK_ERR(im_buf_error(b, NULL, &detail), IM_ERR_LABEL);
    CHECK(strstr(detail, "twice") != NULL);
    im_buf_free(b);

    /* undefined label at finish */
    b = im_buf_new(A64);
    int nowhere = im_buf_label(b);
    ops[0] = im_label(nowhere);
    CHECK_ERR(im_buf_emit(b, IM_A64_B, ops), 0);
    CHECK_ERR(im_buf_finish(b), IM_ERR_UNDEF_LABEL);
    im_buf_free(b);

    /* a forward branch bound out of range: arm b reaches +-32 MiB */
    b = im_buf_new(A32);
    int far = im_buf_label(b);
    ops[0] = im_cond(14), ops[1] = im_label(far);
    CHECK_ERR(im_buf_emit(b, IM_A32_B, ops), 0);
    CHECK_ERR(im_buf_fill(b, 40u << 20, 0), 0);
    CHECK_ERR(im_buf_bind(b, far), 0);
    CHECK_ERR(im_buf_finish(b), IM_ERR_RANGE);
    size_t off;
    CHECK_ERR(im_buf_error(b, &off, NULL), IM_ERR_RANGE);
    CHECK_EQ(off, 0);
    im_buf_free(b);

    /* patching: mov w0, #1 becomes mov w0, #7; a patch that does not encode changes nothing */
    b = im_buf_new(A64);
    ops[0] = im_reg(0), ops[1] = im_imm(1);
    CHECK_ERR(im_buf_emit(b, IM_A64_MOV_MOVZ_W, ops), 0);
    CHECK_ERR(im_buf_finish(b), 0);
    ops[1] = im_imm(7);
    CHECK_ERR(im_buf_patch(b, 0, IM_A64_MOV_MOVZ_W, ops), 0);
    code = im_buf_code(b, &len);
    CHECK(bytes_eq(code, "e0008052", 4)); /* mov w0, #7 */
    ops[1] = im_imm(0x12345);
    CHECK(im_buf_patch(b, 0, IM_A64_MOV_MOVZ_W, ops) < 0);
    CHECK(bytes_eq(code, "e0008052", 4));
    im_buf_free(b);
}

/* adrp: page(target) - page(pc) in 4 KiB pages. im_encode reads '.'-relative at pc = 0;
 * the buffer uses each instruction's offset, the code placed at a 4 KiB-aligned address.
 * Expected bytes: GNU as + ld -Ttext=0, each adrp at the start of a page. */
static void test_adrp(void)
{
    uint8_t out[16];
    im_operand ops[IM_MAX_OPS];
    ops[0] = im_reg(0), ops[1] = (im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, 0x1000};
    CHECK_EQ(im_encode(A64, IM_A64_ADRP, ops, out, sizeof out), 4);
    CHECK(bytes_eq(out, "000000b0", 4)); /* adrp x0, .+0x1000 */
    ops[1].imm = 0xfff;
    CHECK_EQ(im_encode(A64, IM_A64_ADRP, ops, out, sizeof out), 4);
    CHECK(bytes_eq(out, "00000090", 4)); /* adrp x0, .+0xfff: the same page */
    ops[1].imm = -1;
    CHECK_EQ(im_encode(A64, IM_A64_ADRP, ops, out, sizeof out), 4);
    CHECK(bytes_eq(out, "e0fffff0", 4)); /* adrp x0, .-1 */
    ops[0] = im_reg(30), ops[1].imm = 0xffffffffll;
    CHECK_EQ(im_encode(A64, IM_A64_ADRP, ops, out, sizeof out), 4);
    CHECK(bytes_eq(out, "feff7ff0", 4)); /* adrp x30, .+0xffffffff */
    ops[0] = im_reg(31), ops[1].imm = -0x100000000ll;
    CHECK_EQ(im_encode(A64, IM_A64_ADRP, ops, out, sizeof out), 4);
    CHECK(bytes_eq(out, "1f008090", 4)); /* adrp xzr, .-0x100000000 */
    ops[1].imm = 0x100000000ll;
    CHECK_ERR(im_encode(A64, IM_A64_ADRP, ops, out, sizeof out), IM_ERR_RANGE);
    CHECK_DETAIL("out of range");
    ops[1].imm = -0x100000001ll;
    CHECK_ERR(im_encode(A64, IM_A64_ADRP, ops, out, sizeof out), IM_ERR_RANGE);
    ops[1] = im_reg(1); /* a register instead of a target */
    CHECK_ERR(im_encode(A64, IM_A64_ADRP, ops, out, sizeof out), IM_ERR_NO_ENCODING);
    ops[1] = im_imm(0x1000); /* a plain number is not a target */
    CHECK_ERR(im_encode(A64, IM_A64_ADRP, ops, out, sizeof out), IM_ERR_NO_ENCODING);

    /* in a buffer: the page of the instruction's offset counts, not only the distance
     *   0x000: adrp x0, fwd (0x1000: one page)   0xffc: adrp x1, fwd (4 bytes, one page)
     *   0x1000: fwd: adrp x2, .-4 (page 0: -1)   0x1004: adrp x3, .+0x7fc (0x1800: 0) */
    im_buf *b = im_buf_new(A64);
    int fwd = im_buf_label(b);
    ops[0] = im_reg(0), ops[1] = im_label(fwd);
    CHECK_ERR(im_buf_emit(b, IM_A64_ADRP, ops), 0);
    CHECK_ERR(im_buf_fill(b, 0xff8, 0), 0);
    ops[0] = im_reg(1);
    CHECK_ERR(im_buf_emit(b, IM_A64_ADRP, ops), 0);
    CHECK_ERR(im_buf_bind(b, fwd), 0);
    ops[0] = im_reg(2), ops[1] = (im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, -4};
    CHECK_ERR(im_buf_emit(b, IM_A64_ADRP, ops), 0);
    ops[0] = im_reg(3), ops[1].imm = 0x7fc;
    CHECK_ERR(im_buf_emit(b, IM_A64_ADRP, ops), 0);
    CHECK_ERR(im_buf_finish(b), 0);
    size_t len;
    const uint8_t *code = im_buf_code(b, &len);
    CHECK_EQ(len, 0x1008);
    CHECK(bytes_eq(code, "000000b0", 4));
    CHECK(bytes_eq(code + 0xffc, "010000b0", 4));
    CHECK(bytes_eq(code + 0x1000, "e2fffff0", 4));
    CHECK(bytes_eq(code + 0x1004, "03000090", 4));
    /* a patch at 0xffc to the label's page + 0x1000 (two pages from 0xffc's) */
    ops[0] = im_reg(1), ops[1] = im_label(fwd);
    ops[1].imm = 0x1000;
    CHECK_ERR(im_buf_patch(b, 0xffc, IM_A64_ADRP, ops), 0);
    CHECK(bytes_eq(code + 0xffc, "010000d0", 4));
    /* the image asks for a 4 KiB-aligned address */
    im_image *img = im_img_new();
    CHECK_ERR(im_buf_to_image(b, img), 0);
    const im_section *sec = im_img_section(img, A64);
    CHECK(sec && sec->align == 4096);
    im_img_free(img);
    im_buf_free(b);

    /* out of range from the instruction's page: at 0x800, .+0xfffff800 is 4 GiB pages away */
    b = im_buf_new(A64);
    CHECK_ERR(im_buf_fill(b, 0x800, 0), 0);
    ops[0] = im_reg(0), ops[1] = (im_operand){IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, 0xfffff800};
    CHECK_ERR(im_buf_emit(b, IM_A64_ADRP, ops), IM_ERR_RANGE);
    im_buf_free(b);
    b = im_buf_new(A64);
    CHECK_ERR(im_buf_fill(b, 0x800, 0), 0);
    ops[1].imm = 0xfffff7ff; /* the last byte of the farthest page */
    CHECK_ERR(im_buf_emit(b, IM_A64_ADRP, ops), 0);
    CHECK_ERR(im_buf_finish(b), 0);
    CHECK(bytes_eq(im_buf_code(b, &len) + 0x800, "e0ff7ff0", 4));
    im_buf_free(b);

    /* the text assembler: the same page arithmetic; an undefined symbol is an error (an
     * image relocation for adrp does not exist yet) */
    const char *src = "adrp x0, top\n.space 0xffc\ntop: adrp x1, top\n";
    im_buf *ab = NULL;
    int line = 0;
    CHECK_ERR(im_asm(A64, src, strlen(src), &ab, &line), 0);
    if (ab) {
        code = im_buf_code(ab, &len);
        CHECK(bytes_eq(code, "000000b0", 4) && bytes_eq(code + 0x1000, "01000090", 4));
        im_buf_free(ab);
    }
    src = "adrp x0, nowhere\n";
    ab = NULL;
    CHECK_ERR(im_asm(A64, src, strlen(src), &ab, &line), IM_ERR_UNDEF_LABEL);
    CHECK(ab == NULL);
}

typedef intptr_t (*fn0)(void);

static void test_image_roundtrip(void)
{
    /* main: movabs rax, OFFSET value ; mov eax, DWORD PTR [rax] ; ret ; value: .long 1234567 */
    im_buf *b = im_buf_new(X64);
    int mainl = im_buf_label(b), value = im_buf_label(b);
    im_operand ops[IM_MAX_OPS];
    CHECK_ERR(im_buf_bind(b, mainl), 0);
    ops[0] = im_reg(0), ops[1] = im_symref(value, 0);
    CHECK_ERR(im_buf_emit(b, IM_X86_MOVABS_R64_IMM64, ops), 0);
    ops[0] = im_reg(0), ops[1] = im_mem(0, IM_NOREG, 1, 0);
    CHECK_ERR(im_buf_emit(b, IM_X86_MOV_R32_M32, ops), 0);
    CHECK_ERR(im_buf_emit(b, IM_X86_RET, ops), 0);
    CHECK_ERR(im_buf_bind(b, value), 0);
    uint8_t word[4] = {0x87, 0xd6, 0x12, 0x00};
    CHECK_ERR(im_buf_bytes(b, word, 4), 0);
    CHECK_ERR(im_buf_export(b, "main", mainl, IM_SYM_FUNC), 0);
    CHECK_ERR(im_buf_finish(b), 0);
    im_image *img = im_img_new();
    CHECK_ERR(im_buf_to_image(b, img), 0);
    im_buf_free(b);
    const im_section *s = im_img_section(img, X64);
    CHECK(s && s->nrelocs == 1 && s->relocs[0].kind == IM_RELOC_ABS64 && s->relocs[0].addend == 13);
#if defined(__x86_64__)
    uintptr_t bases[2] = {0, (uintptr_t)0x7e5500000000ull};
    for (int i = 0; i < 2; i++) {
        im_module *m;
        CHECK_ERR(im_load(img, X64, bases[i], &m), 0);
        if (m) {
            fn0 f = (fn0)im_module_symbol(m, "main");
            CHECK(f != NULL);
            if (f)
                CHECK_EQ(f(), 1234567);
            im_unload(m);
        }
    }
#endif
    im_img_free(img);
}

static void test_asm(void)
{
    static const char ok[] = ".intel_syntax noprefix\n.globl f\nf: mov eax, 42\n mov ecx, 5\n"
                             " jmp end\n add eax, ecx\nend: ret\n";
    im_buf *b;
    int line;
    CHECK_ERR(im_asm(X64, ok, sizeof ok - 1, &b, &line), 0);
    if (b) {
        size_t len;
        const uint8_t *code = im_buf_code(b, &len);
        /* GNU as: b8 2a 00 00 00 b9 05 00 00 00 eb 02 01 c8 c3 */
        CHECK(len == 15 && bytes_eq(code, "b82a000000b905000000eb0201c8c3", (int)len));
        im_buf_free(b);
    }
    static const struct {
        im_target t;
        const char *src;
        int err, line;
        const char *detail;
    } bad[] = {
        {X64, ".intel_syntax noprefix\nnop\nfrob eax\n", IM_ERR_UNKNOWN_MNEMONIC, 3, "frob"},
        {X64, ".intel_syntax noprefix\nmov eax, rbx\n", IM_ERR_NO_ENCODING, 2, "mov"},
        {X64, "mov eax, 1\n", IM_ERR_SYNTAX, 1, "intel_syntax"},
        {A64, "b nowhere\n", IM_ERR_UNDEF_LABEL, 1, "nowhere"},
        {A64, "ldr x0, [x1, #259]\n", IM_ERR_RANGE, 1, "multiple of 8"},
        {A32, "b far\n.space 0x2000004\nfar: bx lr\n", IM_ERR_RANGE, 1, "range"},
        {A32, "x: bx lr\nx: bx lr\n", IM_ERR_SYMBOL, 2, "already"},
        {A32, ".data\n", IM_ERR_SYNTAX, 1, ".data"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = NULL;
        CHECK_ERR(im_asm(bad[i].t, bad[i].src, strlen(bad[i].src), &b, &line), bad[i].err);
        CHECK_EQ(line, bad[i].line);
        CHECK_DETAIL(bad[i].detail);
        CHECK(b == NULL);
    }
}

/* Every A64_IMM line (a kind encoded inline as a range check and a shift) agrees with its
 * kind's field function. */
static void test_a64_imm_ranges(void)
{
    char msg[256];
    int bad = a64_check_imm_ranges(msg, sizeof msg);
    if (bad)
        fprintf(stderr, "A64_IMM: %d disagreements; first: %s\n", bad, msg);
    CHECK_EQ(bad, 0);
    bad = a64_check_areas(msg, sizeof msg);
    if (bad)
        fprintf(stderr, "A64 area checks: %s\n", msg);
    CHECK_EQ(bad, 0);
    bad = a32_check_areas(msg, sizeof msg);
    if (bad)
        fprintf(stderr, "A32 area checks: %s\n", msg);
    CHECK_EQ(bad, 0);
}

int main(void)
{
    test_layer1();
    test_a64_imm_ranges();
    test_buffer();
    test_adrp();
    test_image_roundtrip();
    test_asm();
    return check_done();
}
