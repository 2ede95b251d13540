/* Loader and relocation: load at any address and at a fixed one, relocate,
 * range-check, and never leave a mapping writable and executable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core.h"
#include "imago/img.h"
#include "imago/loader.h"
#include "samples.h"

typedef intptr_t (*fn4)(intptr_t, intptr_t, intptr_t, intptr_t);

/* A fixed address far from everything the process maps by itself (and inside
 * ASan's high application memory). */
#define FIXED_HINT ((uintptr_t)0x7e0000000000ull)
#define LOW_HINT ((uintptr_t)0x10000000u)

static intptr_t call(im_module *m, const char *name, intptr_t a, intptr_t b, intptr_t c, intptr_t d)
{
    void *p = im_module_symbol(m, name);
    if (!p)
        return -999999;
    fn4 f = (fn4)(uintptr_t)p;
    return f(a, b, c, d);
}

/* Permissions of the /proc/self/maps line containing addr ("r-xp"), or "" if unmapped. */
static void perms_at(uintptr_t addr, char out[5])
{
    out[0] = '\0';
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perm[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perm) == 3 && addr >= lo && addr < hi) {
            memcpy(out, perm, 5);
            break;
        }
    }
    fclose(f);
}

/* No mapping of the process is writable and executable at once. */
static int no_wx_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return 0;
    char line[512];
    int ok = 1;
    while (fgets(line, sizeof line, f)) {
        char perm[5];
        if (sscanf(line, "%*x-%*x %4s", perm) == 1 && perm[1] == 'w' && perm[2] == 'x') {
            fprintf(stderr, "writable+executable mapping: %s", line);
            ok = 0;
        }
    }
    fclose(f);
    return ok;
}

static void test_load_hosts(void)
{
    im_target host = im_host_target();
    const uintptr_t hints[] = {0, FIXED_HINT, LOW_HINT};
    for (size_t h = 0; h < sizeof hints / sizeof hints[0]; h++) {
        uintptr_t hint = hints[h];
        if (sizeof(void *) == 4 && hint > UINT32_MAX)
            continue;
        for (int k = 0; k < SAMPLE_KINDS; k++) {
            for (int via = 0; via < 2; via++) {
                im_image *img = sample_image(host, (enum sample_kind)k, via);
                im_module *m = NULL;
                CHECK_ERR(im_load(img, host, hint, &m), 0);
                if (!m) {
                    im_img_free(img);
                    continue;
                }
                if (hint)
                    CHECK_EQ(im_module_base(m), hint);
                CHECK(im_module_base(m) % 4096 == 0);
                CHECK_EQ(im_module_size(m), sample_get(host, (enum sample_kind)k).size);
                char perm[5];
                perms_at(im_module_base(m), perm);
                CHECK(strcmp(perm, "r-xp") == 0);
                /* The image may go away once loaded. */
                im_img_free(img);
                intptr_t r = call(m, "main", 5, 7, 2, -3);
                if (k == SAMPLE_RET42)
                    CHECK_EQ(r, 42);
                else if (k == SAMPLE_ARITH)
                    CHECK_EQ(r, -30);
                else
                    CHECK_EQ(r, 1234);
                CHECK(im_module_symbol(m, "nope") == NULL);
                if (k == SAMPLE_RELOC) {
                    struct sample s = sample_get(host, SAMPLE_RELOC);
                    CHECK(im_module_symbol(m, "data") ==
                          (void *)(im_module_base(m) + s.data_offset));
                }
                im_unload(m);
            }
        }
    }
    CHECK(no_wx_mappings());
}

static void test_load_errors(void)
{
    im_target host = im_host_target();
    im_target other = host == IM_TARGET_AARCH64 ? IM_TARGET_ARM : IM_TARGET_AARCH64;
    im_image *img = sample_image(IM_TARGET_NONE, SAMPLE_RET42, 0);
    im_module *m = NULL, *m2 = NULL;

    CHECK_ERR(im_load(img, other, 0, &m), IM_ERR_TARGET);
    CHECK_DETAIL(im_target_name(other));
    CHECK(m == NULL);
    im_image *only_other = sample_image(other, SAMPLE_RET42, 0);
    CHECK_ERR(im_load(only_other, host, 0, &m), IM_ERR_NOSECTION);
    im_img_free(only_other);
    CHECK_ERR(im_load(img, host, LOW_HINT + 12, &m), IM_ERR_ALIGN);

    /* The same fixed range twice: the second load finds it in use. */
    CHECK_ERR(im_load(img, host, LOW_HINT, &m), 0);
    CHECK_ERR(im_load(img, host, LOW_HINT, &m2), IM_ERR_SYS);
    CHECK_DETAIL("in use");
    CHECK(m2 == NULL);
    im_unload(m);
    im_unload(NULL);
    CHECK_ERR(im_load(NULL, host, 0, &m), IM_ERR_INVAL);
    im_img_free(img);

    /* x86_64 ABS32 (zero-extended mov r32, imm32) works low and fails above 4 GiB. */
    if (host == IM_TARGET_X86_64) {
        im_image *i32 = im_img_new();
        im_symbol syms[2] = {{(char *)"main", 0, IM_SYM_FUNC}, {(char *)"data", 8, IM_SYM_DATA}};
        im_reloc rel = {1, IM_RELOC_ABS32, 1, 0, IM_REF_LOCAL};
        im_section s = {
            IM_TARGET_X86_64, 16, (uint8_t *)x64_reloc32, sizeof x64_reloc32, syms, 2, &rel, 1, NULL, NULL, 0, 0};
        CHECK_ERR(im_img_add_section(i32, &s), 0);
        CHECK_ERR(im_load(i32, host, LOW_HINT, &m), 0);
        if (m) {
            CHECK_EQ(call(m, "main", 0, 0, 0, 0), 1234);
            im_unload(m);
        }
        m = NULL;
        CHECK_ERR(im_load(i32, host, FIXED_HINT, &m), IM_ERR_RELOC_RANGE);
        CHECK_DETAIL("relocation 0 (ABS32) at offset 0x1: value 0x7e0000000008");
        CHECK(m == NULL);
        /* Nothing stays mapped after the failure. */
        char perm[5];
        perms_at(FIXED_HINT, perm);
        CHECK_EQ(perm[0], '\0');
        im_img_free(i32);
    }
}

static void test_relocate(void)
{
    uint8_t code[16];
    im_symbol syms[1] = {{(char *)"x", 4, IM_SYM_DATA}};
    im_reloc rels[2] = {{0, IM_RELOC_ABS32, 0, -4, IM_REF_LOCAL}, {8, IM_RELOC_ABS64, -1, 0x10, IM_REF_LOCAL}};
    im_section s = {IM_TARGET_X86_64, 16, code, sizeof code, syms, 1, rels, 2, NULL, NULL, 0, 0};

    memset(code, 0xaa, sizeof code);
    CHECK_ERR(im_section_relocate(&s, code, 0x1000), 0);
    CHECK_EQ(im_get32(code), 0x1000);          /* base + 4 - 4 */
    CHECK_EQ(im_get32(code + 4), 0xaaaaaaaau); /* untouched */
    CHECK_EQ(im_get64(code + 8), 0x1010);      /* base + 0x10 */

    /* ABS32 must fit 32 bits unsigned. */
    CHECK_ERR(im_section_relocate(&s, code, 0xfffffffcull), 0);
    CHECK_EQ(im_get32(code), 0xfffffffcu);
    CHECK_ERR(im_section_relocate(&s, code, 0x100000000ull), IM_ERR_RELOC_RANGE);
    CHECK_DETAIL("x86_64 relocation 0 (ABS32) at offset 0x0: value 0x100000000");
    rels[0].addend = -0x2000; /* below zero */
    CHECK_ERR(im_section_relocate(&s, code, 0x1000), IM_ERR_RELOC_RANGE);
    rels[0].addend = -4;
    CHECK_ERR(im_section_relocate(&s, code, 0x7e0000000000ull), IM_ERR_RELOC_RANGE);

    /* A hand-built section is checked too. */
    rels[1].offset = 9;
    CHECK_ERR(im_section_relocate(&s, code, 0x1000), IM_ERR_RELOC);
    CHECK_DETAIL("relocation 1 at offset 0x9 overflows code (size 0x10)");
    rels[1].offset = 8;
    rels[1].symbol = 1;
    CHECK_ERR(im_section_relocate(&s, code, 0x1000), IM_ERR_RELOC);
    rels[1].symbol = -1;
    rels[1].kind = 50;
    CHECK_ERR(im_section_relocate(&s, code, 0x1000), IM_ERR_RELOC);
    rels[1].kind = IM_RELOC_ABS64;
    s.target = IM_TARGET_ARM; /* no 64-bit fields on a 32-bit target */
    CHECK_ERR(im_section_relocate(&s, code, 0x1000), IM_ERR_RELOC);
    s.nrelocs = 1;
    CHECK_ERR(im_section_relocate(&s, code, 0x1000), 0);

    /* ABS32S (x86_64 only): the value must fit 32 bits signed. */
    im_reloc r32s = {0, IM_RELOC_ABS32S, -1, 0, IM_REF_LOCAL};
    im_section t = {IM_TARGET_X86_64, 16, code, sizeof code, NULL, 0, &r32s, 1, NULL, NULL, 0, 0};
    CHECK_ERR(im_section_relocate(&t, code, 0x7ffff000u), 0);
    CHECK_EQ(im_get32(code), 0x7ffff000u);
    r32s.addend = -0x80000000ll; /* 0 - 2^31 */
    CHECK_ERR(im_section_relocate(&t, code, 0), 0);
    CHECK_EQ(im_get32(code), 0x80000000u);
    r32s.addend = 0;
    CHECK_ERR(im_section_relocate(&t, code, 0x80000000u), IM_ERR_RELOC_RANGE);
    CHECK_DETAIL("32 bits signed");
    t.target = IM_TARGET_I386;
    CHECK_ERR(im_section_relocate(&t, code, 0x1000), IM_ERR_RELOC);
}

int main(void)
{
    test_relocate();
    test_load_hosts();
    test_load_errors();
    return check_done();
}
