/* The runtime linker on this host: TOC calls with lazy binding, host functions, direct
 * calls through veneers, users, move, hot reload (in place, and with threads calling), the
 * quiescent-state retirement, patching, preserve, unresolved imports, the arena's reuse.
 * Modules are hand-assembled x86-64 bytes (the conformance programs cover every target). */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"
#include "imago/emu.h"
#include "imago/link.h"
#include "samples.h"

/* Mappings of this process that are writable and executable at once (never any). */
static int rwx_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char perms[8] = "";
        if (sscanf(line, "%*s %7s", perms) == 1 && perms[1] == 'w' && perms[2] == 'x') {
            fprintf(stderr, "writable and executable: %s", line);
            n++;
        }
    }
    fclose(f);
    return n;
}

#if defined(__x86_64__)

static int64_t host_mul(int64_t a, int64_t b)
{
    return a * b;
}

/* prov: add1(x) = x + k (lea eax, [rdi + k]; ret), get(x) = 42 (mov eax, 42; ret). */
static uint8_t prov_code[2][16] = {
    {0x8d, 0x47, 0x01, 0xc3, 0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3},
    {0x8d, 0x47, 0x02, 0xc3, 0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3, 0x90, 0x90},
};

static void prov_section(im_section *s, int version, im_symbol *syms)
{
    syms[0] = (im_symbol){(char *)"add1", 0, IM_SYM_FUNC};
    syms[1] = (im_symbol){(char *)"get", 4, IM_SYM_FUNC};
    *s = (im_section){IM_TARGET_X86_64, 16, prov_code[version], version ? 12 : 10, syms, 2,
                      NULL, 0, (char *)"prov", NULL, 0, 0};
}

/* user:
 *   f(x) = host_mul(add1(x), 3), both through the TOC:
 *     0: push rbx; 1: call [rip + toc0]; 7: mov edi, eax; 9: mov esi, 3;
 *     14: call [rip + toc1]; 20: pop rbx; 21: ret
 *   g(x) = add1(x), a direct jump:           22: jmp add1
 *   h(x) = host_mul(x, 5), a direct jump to a host function (far: a veneer), imported as
 *   host_mul2 (so host_mul stays lazy until f calls it):
 *     27: mov esi, 5; 32: jmp host_mul2 */
static const uint8_t user_code[] = {
    0x53, 0xff, 0x15, 0, 0, 0, 0, 0x89, 0xc7, 0xbe, 0x03, 0, 0, 0, 0xff, 0x15, 0, 0, 0, 0,
    0x5b, 0xc3, 0xe9, 0, 0, 0, 0, 0xbe, 0x05, 0, 0, 0, 0xe9, 0, 0, 0, 0,
};

static im_symbol user_syms[] = {
    {(char *)"f", 0, IM_SYM_FUNC}, {(char *)"g", 22, IM_SYM_FUNC}, {(char *)"h", 27, IM_SYM_FUNC}};
static im_import user_imports[] = {
    {(char *)"add1", 0, IM_SYM_FUNC},
    {(char *)"host_mul", 1, IM_SYM_FUNC},
    {(char *)"host_mul2", 2, IM_SYM_FUNC}};
static im_reloc user_relocs[] = {
    {3, IM_RELOC_PC32, 0, -4, IM_REF_TOC},
    {16, IM_RELOC_PC32, 1, -4, IM_REF_TOC},
    {23, IM_RELOC_PC32, 0, -4, IM_REF_IMPORT},
    {33, IM_RELOC_PC32, 2, -4, IM_REF_IMPORT},
};

static im_section user_section(const char *name)
{
    return (im_section){IM_TARGET_X86_64, 16, (uint8_t *)user_code, sizeof user_code,
                        user_syms, 3, user_relocs, 4, (char *)name, user_imports, 3, 3};
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

/* ---- threads calling while the provider is reloaded ---- */

struct caller {
    im_link *l;
    const im_lmod *user;
    volatile int *stop;
    volatile long calls;
    long bad;
};

static void *caller_main(void *p)
{
    struct caller *c = p;
    if (im_link_thread_enter(c->l))
        return NULL;
    for (int64_t x = 0; !*c->stop; x = (x + 7) % 1000) {
        int64_t r = call1(c->user, "f", x);
        if (r != (x + 1) * 3 && r != (x + 2) * 3)
            c->bad++;
        c->calls++;
        im_link_quiescent(c->l);
    }
    im_link_thread_leave(c->l);
    return NULL;
}

static void test_threads(void)
{
    im_link *l;
    CHECK_ERR(im_link_new(IM_TARGET_X86_64, &l), 0);
    CHECK_ERR(im_link_host(l, "host_mul", (uint64_t)(uintptr_t)&host_mul), 0);
    CHECK_ERR(im_link_host(l, "host_mul2", (uint64_t)(uintptr_t)&host_mul), 0);
    im_symbol ps[2];
    im_section p0, p1, u = user_section("user");
    prov_section(&p0, 0, ps);
    im_lmod *prov, *user;
    CHECK_ERR(im_link_load(l, &p0, 0, &prov), 0);
    CHECK_ERR(im_link_load(l, &u, 0, &user), 0);
    volatile int stop = 0;
    struct caller c[2] = {{l, user, &stop, 0, 0}, {l, user, &stop, 0, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, caller_main, &c[i]);
    int reloads = 0, in_place_count = 0, fails = 0;
    while (!c[0].calls || !c[1].calls) /* both callers running */
        sched_yield();
    for (int i = 0; i < 400; i++) {
        im_symbol s2[2];
        prov_section(&p1, (i + 1) & 1, s2);
        int in_place = -1;
        if (im_lmod_reload(prov, &p1, &in_place))
            fails++;
        reloads++;
        in_place_count += in_place == 1;
        /* after the reload returns, a new call sees the new code */
        int64_t want = ((i + 1) & 1) ? (10 + 2) * 3 : (10 + 1) * 3;
        if (call1(user, "f", 10) != want)
            fails++;
    }
    stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(fails, 0);
    CHECK_EQ(c[0].bad + c[1].bad, 0);
    CHECK(c[0].calls > 0 && c[1].calls > 0);
    CHECK_EQ(in_place_count, 0); /* threads registered: never in place */
    CHECK_EQ(im_lmod_generation(prov), 400);
    CHECK_EQ(im_link_collect(l), 0); /* every thread left: all old code freed */
    printf("threads: %ld + %ld calls during %d reloads, 0 wrong\n", c[0].calls, c[1].calls,
           reloads);
    im_link_free(l);
}

static void test_basic(void)
{
    im_link *l;
    CHECK_ERR(im_link_new(IM_TARGET_AARCH64, &l), IM_ERR_TARGET);
    CHECK_ERR(im_link_new(IM_TARGET_X86_64, &l), 0);
    CHECK_ERR(im_link_host(l, "host_mul", (uint64_t)(uintptr_t)&host_mul), 0);
    CHECK_ERR(im_link_host(l, "host_mul2", (uint64_t)(uintptr_t)&host_mul), 0);
    im_symbol ps[2];
    im_section p0, u = user_section("user");
    prov_section(&p0, 0, ps);

    /* the user's direct jump to add1 needs prov first */
    im_lmod *user = NULL, *prov = NULL;
    CHECK_ERR(im_link_load(l, &u, 0, &user), IM_ERR_UNRESOLVED);
    CHECK_DETAIL("add1");
    CHECK_ERR(im_link_load(l, &p0, 0, &prov), 0);
    CHECK_ERR(im_link_load(l, &p0, 0, NULL), IM_ERR_INVAL); /* the name is taken */
    CHECK_ERR(im_link_load(l, &u, 0, &user), 0);
    CHECK(im_link_module(l, "user") == user);

    im_link_stats st;
    im_link_get_stats(l, &st);
    CHECK_EQ(st.lazy_resolutions, 0);
    CHECK_EQ(call1(user, "f", 4), 15);
    im_link_get_stats(l, &st);
    CHECK_EQ(st.lazy_resolutions, 1); /* host_mul: add1 was bound by the direct jump */
    CHECK_EQ(call1(user, "f", 5), 18);
    im_link_get_stats(l, &st);
    CHECK_EQ(st.lazy_resolutions, 1); /* bound once */
    CHECK_EQ(call1(user, "g", 4), 5);
    CHECK_EQ(call1(user, "h", 7), 35); /* through a veneer: host code is far from the arena */
    CHECK_EQ(im_lmod_users(prov), 1);
    CHECK_EQ(im_lmod_users(user), 0);
    CHECK_ERR(im_lmod_unload(prov), IM_ERR_BUSY);

    /* move the user, then the provider: references into and out of each re-applied */
    uint64_t ub = im_lmod_base(user);
    CHECK_ERR(im_lmod_move(user, 0), 0);
    CHECK(im_lmod_base(user) != ub);
    CHECK_EQ(call1(user, "f", 4), 15);
    CHECK_EQ(call1(user, "g", 4), 5);
    CHECK_EQ(call1(user, "h", 2), 10);
    uint64_t pb = im_lmod_base(prov);
    CHECK_ERR(im_lmod_move(prov, 0), 0);
    CHECK(im_lmod_base(prov) != pb);
    CHECK_EQ(call1(user, "f", 4), 15);
    CHECK_EQ(call1(user, "g", 4), 5);

    /* hot reload, in place (no threads): the user sees the new add1 */
    im_symbol s1[2];
    im_section p1;
    prov_section(&p1, 1, s1);
    int in_place = -1;
    CHECK_ERR(im_lmod_reload(prov, &p1, &in_place), 0);
    CHECK_EQ(in_place, 1);
    CHECK_EQ(call1(user, "f", 4), 18);
    CHECK_EQ(call1(user, "g", 4), 6);
    CHECK_EQ(im_lmod_generation(prov), 1);

    /* patch get's immediate: 42 -> 43 */
    uint8_t b[5];
    CHECK_ERR(im_lmod_read(prov, 4, b, 5), 0);
    CHECK_EQ(b[0], 0xb8);
    b[1] = 43;
    CHECK_ERR(im_lmod_write(prov, 4, b, 5), 0);
    CHECK_EQ(call1(prov, "get", 0), 43);
    CHECK_ERR(im_lmod_write(prov, 10, b, 5), IM_ERR_RANGE);

    /* preserve: the patched set loads and runs the same in a new space */
    im_image *img = NULL;
    CHECK_ERR(im_link_preserve(l, &img), 0);
    if (img) {
        im_link *l2;
        CHECK_ERR(im_link_new(IM_TARGET_X86_64, &l2), 0);
        CHECK_ERR(im_link_host(l2, "host_mul", (uint64_t)(uintptr_t)&host_mul), 0);
        CHECK_ERR(im_link_host(l2, "host_mul2", (uint64_t)(uintptr_t)&host_mul), 0);
        CHECK_ERR(im_link_load_image(l2, img), 0);
        im_lmod *u2 = im_link_module(l2, "user"), *p2 = im_link_module(l2, "prov");
        CHECK(u2 && p2);
        if (u2 && p2) {
            CHECK_EQ(call1(u2, "f", 4), 18);
            CHECK_EQ(call1(u2, "h", 3), 15);
            CHECK_EQ(call1(p2, "get", 0), 43);
        }
        im_link_free(l2);
        im_img_free(img);
    }

    /* an image listing the user before its provider: the user waits for it */
    {
        im_image *two = im_img_new();
        im_section ufirst = user_section("user"), pl;
        im_symbol s3[2];
        prov_section(&pl, 0, s3);
        CHECK_ERR(im_img_add_section(two, &ufirst), 0);
        CHECK_ERR(im_img_add_section(two, &pl), 0);
        im_link *l3;
        CHECK_ERR(im_link_new(IM_TARGET_X86_64, &l3), 0);
        CHECK_ERR(im_link_host(l3, "host_mul", (uint64_t)(uintptr_t)&host_mul), 0);
        CHECK_ERR(im_link_load_image(l3, two), IM_ERR_UNRESOLVED); /* host_mul2 missing */
        CHECK_EQ(im_link_module(l3, "prov") == NULL, 1);            /* nothing stays */
        CHECK_ERR(im_link_host(l3, "host_mul2", (uint64_t)(uintptr_t)&host_mul), 0);
        CHECK_ERR(im_link_load_image(l3, two), 0);
        im_lmod *u3 = im_link_module(l3, "user");
        CHECK(u3 != NULL);
        if (u3)
            CHECK_EQ(call1(u3, "g", 1), 2);
        im_link_free(l3);
        im_img_free(two);
    }

    /* a reload that fails leaves the module as it was */
    {
        uint8_t c3[] = {0x8d, 0x47, 0x05, 0xc3, 0xe9, 0, 0, 0, 0};
        im_import i3 = {(char *)"nope", 0, IM_SYM_FUNC};
        im_reloc r3 = {5, IM_RELOC_PC32, 0, -4, IM_REF_IMPORT};
        im_symbol s3 = {(char *)"add1", 0, IM_SYM_FUNC};
        im_section p3 = {IM_TARGET_X86_64, 16, c3, sizeof c3, &s3, 1, &r3, 1, (char *)"prov",
                         &i3, 1, 1};
        uint32_t gen = im_lmod_generation(prov);
        CHECK_ERR(im_lmod_reload(prov, &p3, NULL), IM_ERR_UNRESOLVED);
        CHECK_EQ(im_lmod_generation(prov), gen);
        CHECK_EQ(call1(user, "f", 4), 18);
        CHECK_EQ(call1(prov, "get", 0), 43);
    }

    /* unresolved: directly at load, through the TOC by im_link_check */
    im_import bad_imp = {(char *)"nope", 0, IM_SYM_FUNC};
    im_reloc bad_rel = {1, IM_RELOC_PC32, 0, -4, IM_REF_TOC};
    uint8_t bad_code[] = {0xff, 0x25, 0, 0, 0, 0};
    im_symbol bad_sym = {(char *)"bad", 0, IM_SYM_FUNC};
    im_section bad = {IM_TARGET_X86_64, 16, bad_code, sizeof bad_code, &bad_sym, 1, &bad_rel, 1,
                      (char *)"bad", &bad_imp, 1, 1};
    CHECK_ERR(im_link_check(l), 0);
    im_lmod *bm;
    CHECK_ERR(im_link_load(l, &bad, 0, &bm), 0);
    CHECK_ERR(im_link_check(l), IM_ERR_UNRESOLVED);
    CHECK_DETAIL("'nope'");
    CHECK_ERR(im_lmod_unload(bm), 0);
    bad_rel.ref = IM_REF_IMPORT;
    bad_code[1] = 0xe9;
    CHECK_ERR(im_link_load(l, &bad, 0, &bm), IM_ERR_UNRESOLVED);

    /* unload in order: the user first */
    CHECK_ERR(im_lmod_unload(user), 0);
    CHECK_EQ(im_lmod_users(prov), 0);
    CHECK_ERR(im_lmod_unload(prov), 0);
    im_link_get_stats(l, &st);
    CHECK_EQ(st.modules, 0);
    CHECK_EQ(st.retired_bytes, 0);
    im_link_free(l);
}

/* A module at a chosen address (its own mapping, flipped read-write/read+exec), moved to
 * another chosen address and to the arena. */
/* A free, 64 KiB-aligned address (the sanitizers reserve much of the address space). */
static uint64_t free_address(void)
{
    void *p = mmap(NULL, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    munmap(p, 1 << 20);
    return ((uint64_t)(uintptr_t)p + 0xffff) & ~(uint64_t)0xffff;
}

static void test_fixed(void)
{
    im_link *l;
    CHECK_ERR(im_link_new(IM_TARGET_X86_64, &l), 0);
    im_symbol ps[2];
    im_section p0;
    prov_section(&p0, 0, ps);
    im_lmod *m;
    uint64_t at = free_address();
    CHECK_ERR(im_link_load(l, &p0, at, &m), 0);
    CHECK_EQ(im_lmod_base(m), at);
    CHECK_EQ(call1(m, "add1", 1), 2);
    p0.module = (char *)"prov2";
    CHECK_ERR(im_link_load(l, &p0, at + 1, NULL), IM_ERR_ALIGN);
    CHECK_ERR(im_link_load(l, &p0, at, NULL), IM_ERR_SYS); /* taken */
    p0.module = (char *)"prov";
    uint64_t to = free_address();
    CHECK_ERR(im_lmod_move(m, to), 0);
    CHECK_EQ(im_lmod_base(m), to);
    CHECK_EQ(call1(m, "add1", 5), 6);
    uint8_t b[5] = {0xb8, 7, 0, 0, 0};
    CHECK_ERR(im_lmod_write(m, 4, b, 5), 0);
    CHECK_EQ(call1(m, "get", 0), 7);
    CHECK_ERR(im_lmod_move(m, 0), 0);
    CHECK_EQ(call1(m, "get", 0), 7); /* a move keeps patches */
    im_link_free(l);
}

/* The arena reuses what unloads give back: many loads and unloads stay in one chunk. */
static void test_reuse(void)
{
    im_link *l;
    CHECK_ERR(im_link_new(IM_TARGET_X86_64, &l), 0);
    im_symbol ps[2];
    im_section p0;
    prov_section(&p0, 0, ps);
    size_t first = 0;
    int bad = 0;
    for (int i = 0; i < 2000; i++) {
        im_lmod *m;
        if (im_link_load(l, &p0, 0, &m) || call1(m, "add1", i) != i + 1 || im_lmod_unload(m))
            bad++;
        im_link_stats st;
        im_link_get_stats(l, &st);
        if (i == 0)
            first = st.arena_bytes;
        else if (st.arena_bytes != first)
            bad++;
    }
    CHECK_EQ(bad, 0);
    im_link_free(l);
}

static void test_native(void)
{
    im_link *l;
    CHECK_ERR(im_link_new(IM_TARGET_X86_64, &l), 0);
    im_symbol ps[2];
    im_section p0;
    prov_section(&p0, 0, ps);
    CHECK_ERR(im_link_load(l, &p0, 0, NULL), 0); /* in the arena */
    p0.module = (char *)"prov_fixed";
    CHECK_ERR(im_link_load(l, &p0, free_address(), NULL), 0); /* its own mapping */
    CHECK_EQ(rwx_mappings(), 0); /* the arena's views: read+exec and read-write, apart */
    im_link_free(l);
    test_basic();
    test_fixed();
    test_reuse();
    test_threads();
}

#else

static void test_native(void)
{
    printf("test_link: the hand-assembled native modules are x86-64; on this host the "
           "conformance programs (imago-progs) cover the native linker\n");
}

#endif

/* ---- every target in a unicorn link space, from assembly text ---- */

struct uc_src {
    im_target t;
    const char *user, *prov[2];
};

static const struct uc_src uc_srcs[] = {
    {IM_TARGET_X86_64,
     ".intel_syntax noprefix\n.globl f\n.import hmul\n.import add1\nf:\n push rbx\n"
     " call add1\n mov rdi, rax\n mov esi, 3\n call QWORD PTR [rip + hmul@toc]\n pop rbx\n"
     " ret\n",
     {".intel_syntax noprefix\n.globl add1\nadd1:\n lea rax, [rdi + 1]\n ret\n",
      ".intel_syntax noprefix\n.globl add1\nadd1:\n lea rax, [rdi + 2]\n ret\n nop\n"}},
    {IM_TARGET_I386,
     ".intel_syntax noprefix\n.globl f\n.import hmul\n.import add1\nf:\n"
     " push DWORD PTR [esp + 4]\n call add1\n add esp, 4\n push 3\n push eax\n"
     " call DWORD PTR [hmul@toc]\n add esp, 8\n ret\n",
     {".intel_syntax noprefix\n.globl add1\nadd1:\n mov eax, DWORD PTR [esp + 4]\n"
      " add eax, 1\n ret\n",
      ".intel_syntax noprefix\n.globl add1\nadd1:\n mov eax, DWORD PTR [esp + 4]\n"
      " add eax, 2\n ret\n"}},
    {IM_TARGET_ARM,
     ".syntax unified\n.arm\n.globl f\n.import hmul\n.import add1\nf:\n push {r4, lr}\n"
     " bl add1\n mov r1, #3\n ldr ip, =hmul@toc\n ldr ip, [ip]\n blx ip\n pop {r4, pc}\n",
     {".syntax unified\n.arm\n.globl add1\nadd1:\n add r0, r0, #1\n bx lr\n",
      ".syntax unified\n.arm\n.globl add1\nadd1:\n add r0, r0, #2\n bx lr\n"}},
    {IM_TARGET_AARCH64,
     ".globl f\n.import hmul\n.import add1\nf:\n stp x29, x30, [sp, #-16]!\n bl add1\n"
     " mov x1, #3\n adrp x16, hmul@toc\n ldr x16, [x16, #:lo12:hmul@toc]\n blr x16\n"
     " ldp x29, x30, [sp], #16\n ret\n",
     {".globl add1\nadd1:\n add x0, x0, #1\n ret\n",
      ".globl add1\nadd1:\n add x0, x0, #2\n ret\n"}},
};

static int64_t uc_hmul(void *ctx, const int64_t *a)
{
    ++*(int *)ctx;
    return a[0] * a[1];
}

static int64_t uc_call_f(im_link *l, int64_t x)
{
    im_lmod *u = im_link_module(l, "user");
    uint64_t a = u ? im_lmod_symbol(u, "f") : 0;
    int64_t r = -999999;
    if (!a || im_emu_link_call(l, a, &x, 1, &r))
        return -999999;
    return r;
}

/* Host functions calling back into the guest (nested calls). g(x) = x ? hnest(x) + 1 : 1000,
 * and hnest(x) = 2 * g(x - 1) through im_emu_link_call: g(3) runs three calls deep. spin
 * loops for ever; hspin(x) calls it, then returns x + 1 (a timer must stop both runs). */
static const char *const uc_nest_src[IM_TARGET_COUNT] = {
    [IM_TARGET_X86_64] =
        ".intel_syntax noprefix\n.import hnest\n.import hspin\n.globl g\ng:\n test rdi, rdi\n"
        " je base\n sub rsp, 8\n call QWORD PTR [rip + hnest@toc]\n add rsp, 8\n add rax, 1\n"
        " ret\nbase:\n mov eax, 1000\n ret\n.globl spin\nspin:\n jmp spin\n"
        ".globl h\nh:\n sub rsp, 8\n call QWORD PTR [rip + hspin@toc]\n add rsp, 8\n ret\n",
    [IM_TARGET_I386] =
        ".intel_syntax noprefix\n.import hnest\n.import hspin\n.globl g\ng:\n"
        " mov eax, [esp + 4]\n test eax, eax\n je base\n push eax\n"
        " call DWORD PTR [hnest@toc]\n add esp, 4\n add eax, 1\n ret\nbase:\n mov eax, 1000\n"
        " ret\n.globl spin\nspin:\n jmp spin\n.globl h\nh:\n push DWORD PTR [esp + 4]\n"
        " call DWORD PTR [hspin@toc]\n add esp, 4\n ret\n",
    [IM_TARGET_ARM] =
        ".syntax unified\n.arm\n.import hnest\n.import hspin\n.globl g\ng:\n cmp r0, #0\n"
        " beq base\n push {r4, lr}\n ldr ip, =hnest@toc\n ldr ip, [ip]\n blx ip\n"
        " add r0, r0, #1\n pop {r4, pc}\nbase:\n mov r0, #1000\n bx lr\n.globl spin\nspin:\n"
        " b spin\n.globl h\nh:\n push {r4, lr}\n ldr ip, =hspin@toc\n ldr ip, [ip]\n blx ip\n"
        " pop {r4, pc}\n",
    [IM_TARGET_AARCH64] =
        ".import hnest\n.import hspin\n.globl g\ng:\n cbz x0, base\n"
        " stp x29, x30, [sp, #-16]!\n adrp x16, hnest@toc\n ldr x16, [x16, #:lo12:hnest@toc]\n"
        " blr x16\n add x0, x0, #1\n ldp x29, x30, [sp], #16\n ret\nbase:\n mov x0, #1000\n"
        " ret\n.globl spin\nspin:\n b spin\n.globl h\nh:\n stp x29, x30, [sp, #-16]!\n"
        " adrp x16, hspin@toc\n ldr x16, [x16, #:lo12:hspin@toc]\n blr x16\n"
        " ldp x29, x30, [sp], #16\n ret\n",
};

struct uc_nest {
    im_link *l;
    uint64_t g, spin;
    unsigned depth, max_depth;
    int spin_err; /* what the call of spin gave hspin */
};

static int64_t uc_hnest(void *ctx, const int64_t *a)
{
    struct uc_nest *n = ctx;
    if (++n->depth > n->max_depth)
        n->max_depth = n->depth;
    int64_t x = a[0] - 1, r = -1;
    int err = im_emu_link_call(n->l, n->g, &x, 1, &r);
    n->depth--;
    return err ? -1000000 : 2 * r;
}

static int64_t uc_hspin(void *ctx, const int64_t *a)
{
    struct uc_nest *n = ctx;
    int64_t r = 0;
    n->spin_err = im_emu_link_call(n->l, n->spin, NULL, 0, &r);
    return a[0] + 1;
}

static void test_unicorn_nested(im_target t)
{
    im_image *img = im_img_new();
    im_link *l = NULL;
    struct uc_nest n = {0};
    CHECK_ERR(sample_asm_module(img, t, uc_nest_src[t], "nest"), 0);
    CHECK_ERR(im_emu_link_new(IM_ENGINE_UNICORN, t, &l), 0);
    if (!l || !img) {
        im_img_free(img);
        return;
    }
    n.l = l;
    CHECK_ERR(im_emu_link_host(l, "hnest", uc_hnest, &n), 0);
    CHECK_ERR(im_emu_link_host(l, "hspin", uc_hspin, &n), 0);
    CHECK_ERR(im_link_load_image(l, img), 0);
    im_lmod *m = im_link_module(l, "nest");
    n.g = m ? im_lmod_symbol(m, "g") : 0;
    n.spin = m ? im_lmod_symbol(m, "spin") : 0;
    uint64_t h = m ? im_lmod_symbol(m, "h") : 0;
    CHECK(n.g && n.spin && h);
    const int64_t want[5] = {1000, 2001, 4003, 8007, 16015};
    for (int64_t x = 0; x < 5 && n.g; x++) {
        int64_t r = 0;
        CHECK_ERR(im_emu_link_call(l, n.g, &x, 1, &r), 0);
        CHECK_EQ(r, want[x]);
    }
    CHECK_EQ(n.max_depth, 4);
    CHECK_EQ(n.depth, 0);
    /* a callee that never returns: the outer call's timer stops it and the caller */
    setenv("IMAGO_EMU_TIMEOUT_MS", "300", 1);
    int64_t x = 5, r = 0;
    if (h) {
        CHECK_ERR(im_emu_link_call(l, h, &x, 1, &r), IM_ERR_ENGINE);
        CHECK_DETAIL("did not return");
        CHECK_ERR(n.spin_err, IM_ERR_ENGINE);
    }
    unsetenv("IMAGO_EMU_TIMEOUT_MS");
    /* and the space goes on */
    x = 3;
    CHECK_ERR(im_emu_link_call(l, n.g, &x, 1, &r), 0);
    CHECK_EQ(r, 8007);
    printf("test_link: unicorn %s: host functions calling back (4 deep), a callee that never "
           "returns stopped\n", im_target_name(t));
    im_link_free(l);
    im_img_free(img);
}

static void test_unicorn(void)
{
    if (!im_emu_engine_built(IM_ENGINE_UNICORN)) {
        printf("test_link: unicorn link spaces not run: this build has no unicorn\n");
        return;
    }
    for (size_t i = 0; i < sizeof uc_srcs / sizeof uc_srcs[0]; i++) {
        const struct uc_src *s = &uc_srcs[i];
        im_image *img = im_img_new(), *img2 = im_img_new();
        CHECK_ERR(sample_asm_module(img, s->t, s->prov[0], "prov"), 0);
        CHECK_ERR(sample_asm_module(img, s->t, s->user, "user"), 0);
        CHECK_ERR(sample_asm_module(img2, s->t, s->prov[1], "prov"), 0);
        im_link *l = NULL;
        int calls = 0;
        CHECK_ERR(im_emu_link_new(IM_ENGINE_UNICORN, s->t, &l), 0);
        if (!l) {
            im_img_free(img);
            im_img_free(img2);
            continue;
        }
        CHECK_ERR(im_emu_link_host(l, "hmul", uc_hmul, &calls), 0);
        CHECK_ERR(im_link_load_image(l, img), 0);
        CHECK_EQ(uc_call_f(l, 4), 15);
        CHECK_EQ(uc_call_f(l, 5), 18);
        CHECK_EQ(calls, 2);
        im_link_stats st;
        im_link_get_stats(l, &st);
        CHECK_EQ(st.lazy_resolutions, 1);
        /* move both modules: into a chosen guest address and within the arena */
        im_lmod *u = im_link_module(l, "user"), *p = im_link_module(l, "prov");
        CHECK(im_emu_link_range_free(l, 0x50000000u, 4096));
        CHECK_ERR(im_lmod_move(u, 0x50000000u), 0);
        CHECK_EQ(im_lmod_base(u), 0x50000000u);
        CHECK(!im_emu_link_range_free(l, 0x50000000u, 4096));    /* the module's own pages */
        CHECK(!im_emu_link_range_free(l, 0x4ffff000u, 0x2000));  /* overlapping them */
        CHECK(!im_emu_link_range_free(l, 0x20000000u, 64));      /* the code arena */
        CHECK(im_emu_link_range_free(l, 0x58000000u, 1u << 20)); /* nothing there */
        CHECK(!im_emu_link_range_free(l, 0x58000000u, 0));
        CHECK_EQ(im_emu_link_range_free(l, 0xfffff000u, 0x2000), im_target_ptr_size(s->t) == 8);
        CHECK_EQ(uc_call_f(l, 4), 15);
        CHECK_ERR(im_lmod_move(p, 0), 0);
        CHECK_EQ(uc_call_f(l, 4), 15);
        /* reload the provider: the user sees the new code */
        int in_place = -1;
        CHECK_ERR(im_lmod_reload(p, &img2->sections[0], &in_place), 0);
        CHECK_EQ(uc_call_f(l, 4), 18);
        /* preserve, and run the preserved set in a new space */
        im_image *pres = NULL;
        CHECK_ERR(im_link_preserve(l, &pres), 0);
        im_link *l2 = NULL;
        CHECK_ERR(im_emu_link_new(IM_ENGINE_UNICORN, s->t, &l2), 0);
        if (pres && l2) {
            CHECK_ERR(im_emu_link_host(l2, "hmul", uc_hmul, &calls), 0);
            CHECK_ERR(im_link_load_image(l2, pres), 0);
            CHECK_EQ(uc_call_f(l2, 6), 24);
        }
        printf("test_link: unicorn %s: TOC call, direct import, host function, move, reload, "
               "preserve\n", im_target_name(s->t));
        test_unicorn_nested(s->t);
        im_link_free(l2);
        im_img_free(pres);
        im_link_free(l);
        im_img_free(img);
        im_img_free(img2);
    }
}

int main(void)
{
    test_native();
    CHECK_EQ(rwx_mappings(), 0);
    test_unicorn();
    return check_done();
}
