/* Engines: every engine x target this host supports runs the sample functions
 * at two bases and agrees on the results; failures are reported, never hang. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "imago/emu.h"
#include "samples.h"

static const im_engine engines[] = {IM_ENGINE_NATIVE, IM_ENGINE_QEMU, IM_ENGINE_UNICORN};

/* Does this host provide the cell? Native covers the host's own target (and i386
 * on an x86_64 host); qemu covers every target on every host; unicorn every target
 * where this build has it (docs/engines.md). Cells that should exist must open;
 * the others must refuse to. */
static int cell_expected(im_engine e, im_target t)
{
    if (e == IM_ENGINE_NATIVE)
        return t == im_host_target() ||
               (im_host_target() == IM_TARGET_X86_64 && t == IM_TARGET_I386);
    return im_emu_engine_built(e);
}

/* The second load address: high for 64-bit targets, low for 32-bit ones. */
static uint64_t second_base(im_target t)
{
    return im_target_ptr_size(t) == 8 ? 0x7e0000000000ull : 0x20000000u;
}

static void run_cell(im_engine e, im_target t)
{
    im_emu *emu = NULL;
    int err = im_emu_open(e, t, &emu);
    if (!cell_expected(e, t)) {
        CHECK_ERR(err, IM_ERR_ENGINE);
        CHECK(emu == NULL);
        return;
    }
    CHECK_ERR(err, 0);
    if (err) {
        fprintf(stderr, "  cell %s/%s cannot open\n", im_engine_name(e), im_target_name(t));
        return;
    }
    const uint64_t bases[2] = {0, second_base(t)};
    for (int b = 0; b < 2; b++) {
        for (int k = 0; k < SAMPLE_KINDS; k++) {
            for (int via = 0; via < (k == SAMPLE_RELOC ? 2 : 1); via++) {
                im_image *img = sample_image(IM_TARGET_NONE, (enum sample_kind)k, via);
                err = im_emu_load(emu, img, bases[b]);
                im_img_free(img); /* the engine keeps what it needs */
                CHECK_ERR(err, 0);
                if (err) {
                    fprintf(stderr, "  cell %s/%s base 0x%llx\n", im_engine_name(e),
                            im_target_name(t), (unsigned long long)bases[b]);
                    continue;
                }
                CHECK_EQ(im_emu_base(emu), bases[b] ? bases[b] : 0x10000000u);
                const int64_t args[4] = {5, 7, 2, -3};
                int64_t r = 0;
                err = im_emu_call(emu, k == SAMPLE_ARITH ? "main" : NULL, args, 4, &r);
                CHECK_ERR(err, 0);
                int64_t want = k == SAMPLE_RET42 ? 42 : k == SAMPLE_ARITH ? -30 : 1234;
                if (r != want)
                    fprintf(stderr, "  cell %s/%s base 0x%llx sample %d: %lld\n", im_engine_name(e),
                            im_target_name(t), (unsigned long long)bases[b], k, (long long)r);
                CHECK_EQ(r, want);
            }
        }
    }
    /* 32-bit results are sign-extended; arguments may be written unsigned. */
    im_image *img = sample_image(t, SAMPLE_ARITH, 0);
    CHECK_ERR(im_emu_load(emu, img, 0), 0);
    int64_t r = 0;
    const int64_t args[4] = {1, 1, 0, 0xffffffffll}; /* (1+1-0) * 0xffffffff */
    CHECK_ERR(im_emu_call(emu, "main", args, 4, &r), 0);
    CHECK_EQ(r, im_target_ptr_size(t) == 4 ? -2 : 0x1fffffffell);
    const int64_t big[1] = {1ll << 40};
    if (im_target_ptr_size(t) == 4)
        CHECK_ERR(im_emu_call(emu, "main", big, 1, &r), IM_ERR_RANGE);
    CHECK_ERR(im_emu_call(emu, "nope", NULL, 0, &r), IM_ERR_NOSYM);
    im_img_free(img);
    im_emu_close(emu);
}

/* Code that faults (reads address 0) and code that never returns. */
static const uint8_t x64_fault[] = {0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x00, 0xc3};
static const uint8_t i386_fault[] = {0xa1, 0x00, 0x00, 0x00, 0x00, 0xc3};
static const uint8_t x86_loop[] = {0xeb, 0xfe}; /* jmp . */
/* x86_64 (objdump -M intel): lea rax, [rip+0x0]; mov DWORD PTR [rax], eax; ret:
 * writes into its own code */
static const uint8_t x64_selfwrite[] = {0x48, 0x8d, 0x05, 0x00, 0x00, 0x00, 0x00, 0x89, 0x00, 0xc3};

static im_image *code_image(im_target t, const uint8_t *code, uint32_t size)
{
    im_image *img = im_img_new();
    im_symbol sym = {(char *)"main", 0, IM_SYM_FUNC};
    im_section s = {t, 16, (uint8_t *)code, size, &sym, 1, NULL, 0, NULL, NULL, 0, 0};
    CHECK_ERR(im_img_add_section(img, &s), 0);
    return img;
}

static void expect_engine_error(im_engine e, im_target t, im_image *img, const char *detail)
{
    im_emu *emu = NULL;
    /* Isolated: on a host whose own target this is, the faulting code runs in the
     * runner, not in this process. */
    CHECK_ERR(im_emu_open_ex(e, t, IM_EMU_ISOLATED, &emu), 0);
    if (!emu)
        return;
    CHECK_ERR(im_emu_load(emu, img, 0), 0);
    int64_t r = 0;
    CHECK_ERR(im_emu_call(emu, NULL, NULL, 0, &r), IM_ERR_ENGINE);
    CHECK_DETAIL(detail);
    im_emu_close(emu);
}

/* A target the host cannot run natively, for the refusals. */
static im_target foreign_target(void)
{
    im_target h = im_host_target();
    return h == IM_TARGET_X86_64 || h == IM_TARGET_I386 ? IM_TARGET_ARM : IM_TARGET_X86_64;
}

static void test_errors(void)
{
    im_emu *emu = NULL;
    im_target foreign = foreign_target();
    CHECK_ERR(im_emu_open(IM_ENGINE_NATIVE, foreign, &emu), IM_ERR_ENGINE);
    CHECK_DETAIL(im_target_name(foreign));
    CHECK_ERR(im_emu_open(IM_ENGINE_NONE, IM_TARGET_ARM, &emu), IM_ERR_ENGINE);
    CHECK_ERR(im_emu_open(IM_ENGINE_QEMU, IM_TARGET_NONE, &emu), IM_ERR_TARGET);
    CHECK(emu == NULL);
    CHECK(im_emu_engine_built(IM_ENGINE_NATIVE) && im_emu_engine_built(IM_ENGINE_QEMU));
    CHECK(!im_emu_engine_built(IM_ENGINE_NONE));
    if (!im_emu_engine_built(IM_ENGINE_UNICORN)) {
        /* A build without libunicorn says so rather than failing later. */
        CHECK_ERR(im_emu_open(IM_ENGINE_UNICORN, IM_TARGET_ARM, &emu), IM_ERR_ENGINE);
        CHECK_DETAIL("no unicorn engine");
    }

    /* Names. */
    CHECK(strcmp(im_engine_name(IM_ENGINE_UNICORN), "unicorn") == 0);
    CHECK_EQ(im_engine_from_name("qemu"), IM_ENGINE_QEMU);
    CHECK_EQ(im_engine_from_name("bochs"), IM_ENGINE_NONE);
    CHECK(im_engine_name((im_engine)42) == NULL);

    /* No runner in the runner directory. */
    im_emu_set_runner_dir("/nonexistent-imago");
    CHECK_ERR(im_emu_open(IM_ENGINE_QEMU, IM_TARGET_ARM, &emu), IM_ERR_ENGINE);
    CHECK_DETAIL("/nonexistent-imago/imago-runner-arm");
    im_emu_set_runner_dir(NULL);

    /* A section the image lacks; an unaligned or out-of-range base. */
    im_image *arm_only = sample_image(IM_TARGET_ARM, SAMPLE_RET42, 0);
    for (size_t i = 0; i < sizeof engines / sizeof engines[0]; i++) {
        if (!cell_expected(engines[i], IM_TARGET_I386))
            continue;
        CHECK_ERR(im_emu_open(engines[i], IM_TARGET_I386, &emu), 0);
        if (!emu)
            continue;
        CHECK_ERR(im_emu_load(emu, arm_only, 0), IM_ERR_NOSECTION);
        int64_t r;
        CHECK_ERR(im_emu_call(emu, NULL, NULL, 0, &r), IM_ERR_INVAL); /* nothing loaded */
        im_image *i386 = sample_image(IM_TARGET_I386, SAMPLE_RET42, 0);
        CHECK_ERR(im_emu_load(emu, i386, 0x10000010), IM_ERR_ALIGN);
        CHECK_ERR(im_emu_load(emu, i386, 0x100000000ull), IM_ERR_RANGE);
        im_img_free(i386);
        im_emu_close(emu);
        emu = NULL;
    }
    im_img_free(arm_only);

    /* Faults: the runner dies of a signal; unicorn stops with an error. */
    int native_i386 = cell_expected(IM_ENGINE_NATIVE, IM_TARGET_I386);
    int uc = im_emu_engine_built(IM_ENGINE_UNICORN);
    im_image *f64 = code_image(IM_TARGET_X86_64, x64_fault, sizeof x64_fault);
    im_image *f32 = code_image(IM_TARGET_I386, i386_fault, sizeof i386_fault);
    expect_engine_error(IM_ENGINE_QEMU, IM_TARGET_X86_64, f64, "killed by signal 11");
    expect_engine_error(IM_ENGINE_QEMU, IM_TARGET_X86_64, f64, "qemu-x86_64 ");
    if (native_i386)
        expect_engine_error(IM_ENGINE_NATIVE, IM_TARGET_I386, f32, "killed by signal 11");
    if (uc) {
        expect_engine_error(IM_ENGINE_UNICORN, IM_TARGET_X86_64, f64, "pc 0x10000000");
        expect_engine_error(IM_ENGINE_UNICORN, IM_TARGET_I386, f32, "unicorn: ");
    }
    im_img_free(f64);
    im_img_free(f32);

    /* Loaded code is never writable, on any engine. */
    im_image *w64 = code_image(IM_TARGET_X86_64, x64_selfwrite, sizeof x64_selfwrite);
    expect_engine_error(IM_ENGINE_QEMU, IM_TARGET_X86_64, w64, "killed by signal 11");
    if (uc)
        expect_engine_error(IM_ENGINE_UNICORN, IM_TARGET_X86_64, w64, "WRITE_PROT");
    im_img_free(w64);

    /* Code that never returns is stopped by the time limit. */
    setenv("IMAGO_EMU_TIMEOUT_MS", "1000", 1);
    im_image *l64 = code_image(IM_TARGET_X86_64, x86_loop, sizeof x86_loop);
    im_image *l32 = code_image(IM_TARGET_I386, x86_loop, sizeof x86_loop);
    expect_engine_error(IM_ENGINE_QEMU, IM_TARGET_X86_64, l64, "timed out after 1000 ms");
    if (native_i386)
        expect_engine_error(IM_ENGINE_NATIVE, IM_TARGET_I386, l32, "timed out");
    if (uc)
        expect_engine_error(IM_ENGINE_UNICORN, IM_TARGET_X86_64, l64, "did not return");
    unsetenv("IMAGO_EMU_TIMEOUT_MS");
    im_img_free(l64);
    im_img_free(l32);

    /* The native launcher must name a program. */
    im_target host = im_host_target();
    setenv("IMAGO_NATIVE_LAUNCHER", "no-such-launcher-%t", 1);
    CHECK_ERR(im_emu_open_ex(IM_ENGINE_NATIVE, host, IM_EMU_ISOLATED, &emu), IM_ERR_ENGINE);
    CHECK_DETAIL("IMAGO_NATIVE_LAUNCHER='no-such-launcher-%t'");
    unsetenv("IMAGO_NATIVE_LAUNCHER");
}

/* f(p, a): x = p[1]; p[0] += a; p[1249] = x; return x (32-bit words), as GNU as assembles it. */
static const uint8_t x64_data[] = {0x8b, 0x47, 0x04, 0x01, 0x37, 0x89,
                                   0x87, 0x84, 0x13, 0x00, 0x00, 0xc3};
static const uint8_t i386_data[] = {0x8b, 0x4c, 0x24, 0x04, 0x8b, 0x54, 0x24, 0x08, 0x8b, 0x41,
                                    0x04, 0x01, 0x11, 0x89, 0x81, 0x84, 0x13, 0x00, 0x00, 0xc3};
static const uint8_t arm_data[] = {0x04, 0x20, 0x90, 0xe5, 0x00, 0x30, 0x90, 0xe5, 0x01, 0x30, 0x83,
                                   0xe0, 0x00, 0x30, 0x80, 0xe5, 0x4e, 0x3d, 0x80, 0xe2, 0x04, 0x20,
                                   0x83, 0xe5, 0x02, 0x00, 0xa0, 0xe1, 0x1e, 0xff, 0x2f, 0xe1};
static const uint8_t a64_data[] = {0x02, 0x04, 0x40, 0xb9, 0x03, 0x00, 0x40, 0xb9, 0x63, 0x00,
                                   0x01, 0x0b, 0x03, 0x00, 0x00, 0xb9, 0x02, 0x84, 0x13, 0xb9,
                                   0xe0, 0x03, 0x02, 0x2a, 0xc0, 0x03, 0x5f, 0xd6};

#define DATA_LEN 5000 /* not a whole number of pages */

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void fill_block(uint8_t *b)
{
    for (size_t i = 0; i < DATA_LEN; i++)
        b[i] = (uint8_t)(i * 7 + 3);
    memcpy(b, "\x64\0\0\0\x07\0\0\0", 8); /* p[0] = 100, p[1] = 7 */
}

/* The cell's engine (flags: 0 or IM_EMU_ISOLATED), or NULL where the host has none. */
static im_emu *open_cell(im_engine e, im_target t, unsigned flags)
{
    if (!cell_expected(e, t))
        return NULL;
    im_emu *emu = NULL;
    CHECK_ERR(im_emu_open_ex(e, t, flags, &emu), 0);
    return emu;
}

/* im_emu_call_data on one cell (flags: 0 or IM_EMU_ISOLATED): the block goes in, comes back
 * changed as the code changed it, at the address asked for; errors leave it alone. */
static void run_data_cell(im_engine e, im_target t, unsigned flags)
{
    im_emu *emu = open_cell(e, t, flags);
    if (!emu)
        return;
    const uint8_t *code = t == IM_TARGET_X86_64 ? x64_data
                          : t == IM_TARGET_I386 ? i386_data
                          : t == IM_TARGET_ARM  ? arm_data
                                                : a64_data;
    size_t size = t == IM_TARGET_X86_64 ? sizeof x64_data
                  : t == IM_TARGET_I386 ? sizeof i386_data
                  : t == IM_TARGET_ARM  ? sizeof arm_data
                                        : sizeof a64_data;
    im_image *img = code_image(t, code, size);
    CHECK_ERR(im_emu_load(emu, img, 0), 0);
    static uint8_t block[DATA_LEN], want[DATA_LEN];
    const uint64_t addrs[2] = {0, 0x30000000u};
    for (int i = 0; i < 2; i++) {
        fill_block(block);
        memcpy(want, block, DATA_LEN);
        want[0] = 105;                     /* p[0] += 5 */
        memcpy(want + 4996, block + 4, 4); /* p[1249] = p[1] */
        int64_t r = 0, a = 5;
        int err = im_emu_call_data(emu, NULL, block, DATA_LEN, addrs[i], &a, 1, &r);
        CHECK_ERR(err, 0);
        CHECK_EQ(r, 7);
        CHECK(memcmp(block, want, DATA_LEN) == 0);
        if (err || memcmp(block, want, DATA_LEN) != 0)
            fprintf(stderr, "  data cell %s/%s%s: p[0]=%u p[1249]=%u\n", im_engine_name(e),
                    im_target_name(t), flags ? " (isolated)" : "", get32(block),
                    get32(block + 4996));
    }
    /* The first argument is the block's address: (p + 0 - 0) * 1 with the arith sample. */
    im_image *arith = sample_image(t, SAMPLE_ARITH, 0);
    CHECK_ERR(im_emu_load(emu, arith, 0), 0);
    const int64_t args[3] = {0, 0, 1};
    int64_t r = 0;
    CHECK_ERR(im_emu_call_data(emu, "main", block, 16, 0, args, 3, &r), 0);
    CHECK_EQ(r, IM_EMU_DATA_ADDR);
    CHECK_ERR(im_emu_call_data(emu, "main", block, 16, 0x30000000u, args, 3, &r), 0);
    CHECK_EQ(r, 0x30000000);

    /* Bad calls: nothing runs and the block is untouched. */
    fill_block(block);
    memcpy(want, block, DATA_LEN);
    CHECK_ERR(im_emu_call_data(emu, "main", NULL, 16, 0, NULL, 0, &r), IM_ERR_INVAL);
    CHECK_ERR(im_emu_call_data(emu, "main", block, 0, 0, NULL, 0, &r), IM_ERR_INVAL);
    const int64_t four[4] = {1, 2, 3, 4};
    CHECK_ERR(im_emu_call_data(emu, "main", block, 16, 0, four, 4, &r), IM_ERR_INVAL);
    CHECK_ERR(im_emu_call_data(emu, "main", block, 16, 0x30000010u, NULL, 0, &r), IM_ERR_ALIGN);
    CHECK_ERR(im_emu_call_data(emu, "main", block, (size_t)IM_EMU_DATA_MAX + 1, 0, NULL, 0, &r),
              IM_ERR_RANGE);
    CHECK_ERR(im_emu_call_data(emu, "main", block, 16, im_emu_base(emu), NULL, 0, &r),
              IM_ERR_RANGE);
    CHECK_DETAIL("overlaps the code");
    if (im_target_ptr_size(t) == 4) {
        CHECK_ERR(im_emu_call_data(emu, "main", block, 16, 0x100000000ull, NULL, 0, &r),
                  IM_ERR_RANGE);
        CHECK_ERR(im_emu_call_data(emu, "main", block, 8192, 0xfffff000u, NULL, 0, &r),
                  IM_ERR_RANGE);
    }
    if (e == IM_ENGINE_UNICORN) { /* unicorn's stack sits at 0x7fe00000 for code at the default */
        CHECK_ERR(im_emu_call_data(emu, "main", block, 16, 0x7fe00000u, NULL, 0, &r), IM_ERR_RANGE);
        CHECK_DETAIL("stack");
    }
    CHECK_ERR(im_emu_call_data(emu, "nope", block, 16, 0, NULL, 0, &r), IM_ERR_NOSYM);
    CHECK(memcmp(block, want, DATA_LEN) == 0);
    im_img_free(arith);
    im_img_free(img);
    im_emu_close(emu);
}

/* ---- im_emu_load_linked: modules through the runtime linker on every engine ---- */

/* [lib, app, a module calling an import nothing exports] per target. lib: add3(x) = x + 3.
 * app: main(x) = 2 * add3(x) and poke(p, x): p[0] = add3(x), returned; both call add3 through
 * the TOC. lost: main calls 'nothere' through the TOC. */
static const char *const linked_src[IM_TARGET_COUNT][3] = {
    [IM_TARGET_X86_64] =
        {".intel_syntax noprefix\n.globl add3\nadd3:\n  lea rax, [rdi + 3]\n  ret\n",
         ".intel_syntax noprefix\n.import add3\n.globl main\nmain:\n  sub rsp, 8\n"
         "  call QWORD PTR [rip + add3@toc]\n  add rsp, 8\n  add rax, rax\n  ret\n"
         ".globl poke\npoke:\n  push rdi\n  mov rdi, rsi\n  call QWORD PTR [rip + add3@toc]\n"
         "  pop rdi\n  mov [rdi], eax\n  ret\n",
         ".intel_syntax noprefix\n.import nothere\n.globl main\nmain:\n  sub rsp, 8\n"
         "  call QWORD PTR [rip + nothere@toc]\n  add rsp, 8\n  ret\n"},
    [IM_TARGET_I386] =
        {".intel_syntax noprefix\n.globl add3\nadd3:\n  mov eax, [esp + 4]\n  add eax, 3\n"
         "  ret\n",
         ".intel_syntax noprefix\n.import add3\n.globl main\nmain:\n  push DWORD PTR [esp + 4]\n"
         "  call DWORD PTR [add3@toc]\n  add esp, 4\n  add eax, eax\n  ret\n"
         ".globl poke\npoke:\n  push DWORD PTR [esp + 8]\n  call DWORD PTR [add3@toc]\n"
         "  add esp, 4\n  mov ecx, [esp + 4]\n  mov [ecx], eax\n  ret\n",
         ".intel_syntax noprefix\n.import nothere\n.globl main\nmain:\n"
         "  call DWORD PTR [nothere@toc]\n  ret\n"},
    [IM_TARGET_ARM] =
        {".syntax unified\n.globl add3\nadd3:\n  add r0, r0, #3\n  bx lr\n",
         ".syntax unified\n.import add3\n.globl main\nmain:\n  push {r4, lr}\n"
         "  ldr ip, =add3@toc\n  ldr ip, [ip]\n  blx ip\n  add r0, r0, r0\n  pop {r4, pc}\n"
         ".globl poke\npoke:\n  push {r0, lr}\n  mov r0, r1\n  ldr ip, =add3@toc\n"
         "  ldr ip, [ip]\n  blx ip\n  pop {r1, lr}\n  str r0, [r1]\n  bx lr\n",
         ".syntax unified\n.import nothere\n.globl main\nmain:\n  push {r4, lr}\n"
         "  ldr ip, =nothere@toc\n  ldr ip, [ip]\n  blx ip\n  pop {r4, pc}\n"},
    [IM_TARGET_AARCH64] =
        {".globl add3\nadd3:\n  add x0, x0, #3\n  ret\n",
         ".import add3\n.globl main\nmain:\n  stp x29, x30, [sp, #-16]!\n"
         "  adrp x16, add3@toc\n  ldr x16, [x16, #:lo12:add3@toc]\n  blr x16\n"
         "  add x0, x0, x0\n  ldp x29, x30, [sp], #16\n  ret\n"
         ".globl poke\npoke:\n  stp x0, x30, [sp, #-16]!\n  mov x0, x1\n"
         "  adrp x16, add3@toc\n  ldr x16, [x16, #:lo12:add3@toc]\n  blr x16\n"
         "  ldp x1, x30, [sp], #16\n  str w0, [x1]\n  ret\n",
         ".import nothere\n.globl main\nmain:\n  stp x29, x30, [sp, #-16]!\n"
         "  adrp x16, nothere@toc\n  ldr x16, [x16, #:lo12:nothere@toc]\n  blr x16\n"
         "  ldp x29, x30, [sp], #16\n  ret\n"},
};

/* One cell (flags: 0 or IM_EMU_ISOLATED): the app module calls into lib through its TOC,
 * with and without a data block; the other target's sections of the image stay out. */
static void run_linked_cell(im_engine e, im_target t, unsigned flags)
{
    im_emu *emu = open_cell(e, t, flags);
    if (!emu)
        return;
    /* in this process natively, an import unresolved at a call runs the linker's handler */
    int handler_exits = e == IM_ENGINE_NATIVE && t == im_host_target() && !flags;
    im_target other = t == IM_TARGET_AARCH64 ? IM_TARGET_X86_64 : IM_TARGET_AARCH64;
    im_image *img = im_img_new(), *lost = im_img_new();
    CHECK(img && lost);
    if (!img || !lost ||
        sample_asm_module(img, other, linked_src[other][0], "lib") || /* not this target's */
        sample_asm_module(img, t, linked_src[t][1], "app") ||
        sample_asm_module(img, t, linked_src[t][0], "lib") ||
        sample_asm_module(lost, t, linked_src[t][2], "lost")) {
        CHECK(0);
        goto out;
    }
    int64_t r = 0;
    const int64_t ten = 10;
    CHECK_ERR(im_emu_load_linked(emu, img, "app"), 0);
    CHECK_ERR(im_emu_call(emu, NULL, &ten, 1, &r), 0);
    CHECK_EQ(r, 26);
    CHECK(im_emu_base(emu) != 0);
    uint8_t block[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const int64_t x = 39;
    CHECK_ERR(im_emu_call_data(emu, "poke", block, sizeof block, 0, &x, 1, &r), 0);
    CHECK_EQ(r, 42);
    CHECK(get32(block) == 42 && block[4] == 5 && block[7] == 8);
    CHECK_ERR(im_emu_call(emu, "nope", NULL, 0, &r), IM_ERR_NOSYM);
    /* NULL: the image's first module of the target (app) */
    CHECK_ERR(im_emu_load_linked(emu, img, NULL), 0);
    CHECK_ERR(im_emu_call(emu, "main", &ten, 1, &r), 0);
    CHECK_EQ(r, 26);
    /* no such module: refused before anything changes, as im_emu_load without a section */
    CHECK_ERR(im_emu_load_linked(emu, img, "zzz"), IM_ERR_NOSECTION);
    r = 0;
    CHECK_ERR(im_emu_call(emu, "main", &ten, 1, &r), 0);
    CHECK_EQ(r, 26);
    if (!handler_exits) {
        CHECK_ERR(im_emu_load_linked(emu, lost, NULL), 0);
        CHECK_ERR(im_emu_call(emu, NULL, NULL, 0, &r), IM_ERR_UNRESOLVED);
        CHECK_DETAIL("'nothere'");
    }
    /* back to a plain load on the same engine */
    im_image *arith = sample_image(t, SAMPLE_ARITH, 0);
    CHECK_ERR(im_emu_load(emu, arith, 0), 0);
    const int64_t args[4] = {5, 7, 2, -3};
    CHECK_ERR(im_emu_call(emu, "main", args, 4, &r), 0);
    CHECK_EQ(im_emu_base(emu), 0x10000000u);
    im_img_free(arith);
out:
    im_img_free(img);
    im_img_free(lost);
    im_emu_close(emu);
}

/* Faulting code leaves the block as it was; a range in use is refused. */
static void test_data_errors(void)
{
    static uint8_t block[DATA_LEN], want[DATA_LEN];
    fill_block(block);
    memcpy(want, block, DATA_LEN);
    im_image *f64 = code_image(IM_TARGET_X86_64, x64_fault, sizeof x64_fault);
    const im_engine es[2] = {IM_ENGINE_QEMU, IM_ENGINE_UNICORN};
    for (int i = 0; i < 2; i++) {
        im_emu *emu = NULL;
        if (!im_emu_engine_built(es[i]))
            continue;
        CHECK_ERR(im_emu_open(es[i], IM_TARGET_X86_64, &emu), 0);
        if (!emu)
            continue;
        CHECK_ERR(im_emu_load(emu, f64, 0), 0);
        int64_t r = 0;
        CHECK_ERR(im_emu_call_data(emu, NULL, block, DATA_LEN, 0, NULL, 0, &r), IM_ERR_ENGINE);
        CHECK(memcmp(block, want, DATA_LEN) == 0);
        /* The engine is still usable: the data mapping was undone. */
        im_image *img = code_image(IM_TARGET_X86_64, x64_data, sizeof x64_data);
        CHECK_ERR(im_emu_load(emu, img, 0), 0);
        int64_t a = 5;
        CHECK_ERR(im_emu_call_data(emu, NULL, block, DATA_LEN, 0, &a, 1, &r), 0);
        CHECK_EQ(block[0], 105);
        memcpy(block, want, DATA_LEN);
        im_img_free(img);
        im_emu_close(emu);
    }
    im_img_free(f64);
    /* In-process native: the address is taken by another mapping. */
    if (im_host_target() == IM_TARGET_X86_64) {
        im_emu *emu = NULL;
        CHECK_ERR(im_emu_open(IM_ENGINE_NATIVE, IM_TARGET_X86_64, &emu), 0);
        im_image *img = code_image(IM_TARGET_X86_64, x64_data, sizeof x64_data);
        CHECK_ERR(im_emu_load(emu, img, 0), 0);
        int64_t r = 0, a = 1;
        /* The module's own pages are a mapping at the base; one page past the code is free,
         * so map a block over the code's page range through a second load instead. */
        im_emu *other = NULL;
        CHECK_ERR(im_emu_open(IM_ENGINE_NATIVE, IM_TARGET_X86_64, &other), 0);
        CHECK_ERR(im_emu_load(other, img, 0x30000000u), 0);
        CHECK_ERR(im_emu_call_data(emu, NULL, block, DATA_LEN, 0x30000000u, &a, 1, &r),
                  IM_ERR_ENGINE);
        CHECK_DETAIL("0x30000000");
        CHECK(memcmp(block, want, DATA_LEN) == 0);
        im_emu_close(other);
        im_img_free(img);
        im_emu_close(emu);
    }
}

int main(void)
{
    for (size_t i = 0; i < sizeof engines / sizeof engines[0]; i++)
        for (int t = 1; t < IM_TARGET_COUNT; t++)
            run_cell(engines[i], (im_target)t);
    for (size_t i = 0; i < sizeof engines / sizeof engines[0]; i++)
        for (int t = 1; t < IM_TARGET_COUNT; t++) {
            run_data_cell(engines[i], (im_target)t, 0);
            if (engines[i] == IM_ENGINE_NATIVE && (im_target)t == im_host_target())
                run_data_cell(engines[i], (im_target)t, IM_EMU_ISOLATED);
        }
    for (size_t i = 0; i < sizeof engines / sizeof engines[0]; i++)
        for (int t = 1; t < IM_TARGET_COUNT; t++) {
            run_linked_cell(engines[i], (im_target)t, 0);
            if (engines[i] == IM_ENGINE_NATIVE && (im_target)t == im_host_target())
                run_linked_cell(engines[i], (im_target)t, IM_EMU_ISOLATED);
        }
    test_data_errors();
    test_errors();
    return check_done();
}
