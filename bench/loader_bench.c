/* The loader's side of `make bench` (x86_64 hosts only: the modules are x86-64 code, some
 * of it run). Prints one JSON line per measurement, {"name": ..., "times": [s, ...], ...},
 * each time one repetition (clock_gettime(CLOCK_MONOTONIC)); bench/run.py takes medians.
 *
 *   load-<size>-floor  mmap read-write + memcpy + mprotect read+exec + munmap of the bytes
 *                      (4k: 4 KiB, 128 relocations, 8 imports; 1m: 1 MiB, 100,000
 *                      relocations, 64 imports; the im_load module has no TOC, so its TOC
 *                      calls are rel32 calls)
 *   load-<size>-im_load  im_load + im_unload (own mapping)
 *   load-<size>-link   im_link_load into the arena + im_lmod_unload + im_link_collect
 *   arena-tiny         the same for a 64-byte module with 2 relocations and 1 import
 *   reload-fresh / reload-inplace  im_lmod_reload of a provider a user calls through its TOC
 *   call-toc / call-direct  a loop calling a trivial callee through the TOC / with call rel32
 *
 * Every measurement checks its result before the clock starts (and after the timed
 * repetitions): each relocated field of a loaded module holds the value computed here from
 * its base and TOC, reloaded code returns the new value through the user's TOC, the call
 * loops return their count. See docs/bench.md, "Loader". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <imago/img.h>
#include <imago/link.h>
#include <imago/loader.h>

#if !defined(__x86_64__)
int main(void)
{
    fprintf(stderr, "loader_bench: x86_64 hosts only (its modules are x86-64 code)\n");
    return 3;
}
#else

#define MAX_REPS 1000

static int g_reps = 21;
static int g_quick; /* --quick: tiny modules and counts, for the test that it runs */
/* IMAGO_BENCH_FAULT=loader:reloc:N: the checks expect relocation N of every load-* module
 * one off; loader:call:0: the call loops' checks expect one call more (tests/test_bench.py
 * checks that either stops the run). */
static long g_fault_reloc = -1;
static int g_fault_call;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int err)
{
    if (err)
        fprintf(stderr, "loader_bench: %s: %s: %s\n", what, im_strerror(err), im_detail());
    else
        fprintf(stderr, "loader_bench: %s\n", what);
    exit(1);
}

static void emit(const char *name, const char *extra, const double *t, int n)
{
    printf("{\"name\": \"%s\"%s%s, \"times\": [", name, extra ? ", " : "", extra ? extra : "");
    for (int i = 0; i < n; i++)
        printf("%s%.9g", i ? ", " : "", t[i]);
    printf("]}\n");
    fflush(stdout);
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}
static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* ---- a module with many relocations ----------------------------------------------------
 *
 * Units, laid out in a repeating pattern of 8 and padded with int3 to the size:
 *   movabs rax, imm64       48 b8 imm64       ABS64, LOCAL: the module's start + a target
 *   lea rax, [rip + d32]    48 8d 05 d32      PC32, LOCAL, A = target - 4
 *   call rel32              e8 d32            PC32, LOCAL, A = target - 4
 *   call [rip + slot]       ff 15 d32         PC32, TOC of import k, A = -4 (toc = 1)
 * With toc = 0 (im_load, which has no TOC) the TOC calls are rel32 calls to local targets.
 * The fields are 0 before relocation; targets are unit starts spread over the code. */
enum { U_ABS64, U_LEA, U_CALL, U_TOC };
static const int pattern[8] = {U_ABS64, U_LEA, U_TOC, U_CALL, U_LEA, U_TOC, U_ABS64, U_CALL};

typedef struct relmod {
    im_section sec;
    im_import *imps;
    char (*impnames)[16];
} relmod;

static void relmod_build(relmod *m, const char *name, uint32_t size, uint32_t nrel, int toc,
                         uint32_t nimports)
{
    memset(m, 0, sizeof *m);
    uint8_t *code = malloc(size);
    im_reloc *rel = calloc(nrel, sizeof *rel);
    if (!code || !rel)
        die("out of memory", 0);
    memset(code, 0xcc, size);
    uint32_t off = 0, n = 0;
    while (n < nrel) {
        int u = pattern[n % 8];
        if (u == U_TOC && !toc)
            u = U_CALL;
        unsigned len = u == U_ABS64 ? 10 : u == U_LEA ? 7 : u == U_CALL ? 5 : 6;
        if (off + len > size)
            die("module too small for its relocations", 0);
        /* a target: somewhere in the first size - 16 bytes, spread by a multiplier */
        int64_t target = (int64_t)(((uint64_t)n * 2654435761u) % (size - 16));
        im_reloc *r = &rel[n];
        r->symbol = -1;
        r->ref = IM_REF_LOCAL;
        switch (u) {
        case U_ABS64:
            code[off] = 0x48, code[off + 1] = 0xb8;
            memset(code + off + 2, 0, 8);
            r->offset = off + 2, r->kind = IM_RELOC_ABS64, r->addend = target;
            break;
        case U_LEA:
            code[off] = 0x48, code[off + 1] = 0x8d, code[off + 2] = 0x05;
            put32(code + off + 3, 0);
            r->offset = off + 3, r->kind = IM_RELOC_PC32, r->addend = target - 4;
            break;
        case U_CALL:
            code[off] = 0xe8;
            put32(code + off + 1, 0);
            r->offset = off + 1, r->kind = IM_RELOC_PC32, r->addend = target - 4;
            break;
        default:
            code[off] = 0xff, code[off + 1] = 0x15;
            put32(code + off + 2, 0);
            r->offset = off + 2, r->kind = IM_RELOC_PC32, r->addend = -4;
            r->ref = IM_REF_TOC, r->symbol = (int32_t)(n % nimports);
            break;
        }
        off += len;
        n++;
    }
    m->sec.target = IM_TARGET_X86_64;
    m->sec.align = 16;
    m->sec.code = code;
    m->sec.code_size = size;
    m->sec.relocs = rel;
    m->sec.nrelocs = nrel;
    m->sec.module = strdup(name);
    if (toc) {
        m->imps = calloc(nimports, sizeof *m->imps);
        m->impnames = calloc(nimports, sizeof *m->impnames);
        if (!m->imps || !m->impnames)
            die("out of memory", 0);
        for (uint32_t i = 0; i < nimports; i++) {
            snprintf(m->impnames[i], sizeof m->impnames[i], "ext%u", i);
            m->imps[i].name = m->impnames[i];
            m->imps[i].slot = i;
            m->imps[i].kind = IM_SYM_FUNC;
        }
        m->sec.imports = m->imps;
        m->sec.nimports = nimports;
        m->sec.toc_slots = nimports;
    }
}

static void relmod_free(relmod *m)
{
    free(m->sec.code);
    free(m->sec.relocs);
    free(m->sec.module);
    free(m->imps);
    free(m->impnames);
}

/* Every relocated field of m's code as loaded at base (its TOC at toc) holds its value, and
 * every other byte is the section's. */
static void relmod_verify(const relmod *m, const uint8_t *code, uint64_t base, uint64_t toc,
                          const char *what)
{
    const im_section *s = &m->sec;
    uint8_t *mark = calloc(s->code_size, 1);
    if (!mark)
        die("out of memory", 0);
    for (uint32_t i = 0; i < s->nrelocs; i++) {
        const im_reloc *r = &s->relocs[i];
        const uint8_t *p = code + r->offset;
        int ok;
        uint64_t off_by = (long)i == g_fault_reloc;
        if (r->kind == IM_RELOC_ABS64) {
            ok = get64(p) == base + (uint64_t)r->addend + off_by;
            memset(mark + r->offset, 1, 8);
        } else {
            uint64_t S = r->ref == IM_REF_TOC ? toc + 8u * (uint64_t)r->symbol : base;
            int64_t want = (int64_t)(S + (uint64_t)r->addend - (base + r->offset) + off_by);
            ok = (int32_t)get32(p) == want;
            memset(mark + r->offset, 1, 4);
        }
        if (!ok) {
            fprintf(stderr, "loader_bench: %s: relocation %u at offset 0x%x has the wrong value\n",
                    what, i, r->offset);
            exit(1);
        }
    }
    for (uint32_t i = 0; i < s->code_size; i++)
        if (!mark[i] && code[i] != s->code[i]) {
            fprintf(stderr, "loader_bench: %s: byte 0x%x changed by the load\n", what, i);
            exit(1);
        }
    free(mark);
}

/* ---- load + relocate + make executable: floor, im_load, im_link_load ------------------- */

static size_t g_page;

static void floor_once(const im_section *s, int check)
{
    size_t len = (s->code_size + g_page - 1) & ~(g_page - 1);
    uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap", 0);
    memcpy(p, s->code, s->code_size);
    if (mprotect(p, len, PROT_READ | PROT_EXEC) != 0)
        die("mprotect", 0);
    if (check && memcmp(p, s->code, s->code_size))
        die("floor: copy differs", 0);
    munmap(p, len);
}

static void im_load_once(const im_image *img, const relmod *m, int check)
{
    im_module *mod;
    int err = im_load(img, IM_TARGET_X86_64, 0, &mod);
    if (err)
        die("im_load", err);
    if (check)
        relmod_verify(m, (const uint8_t *)im_module_base(mod), im_module_base(mod), 0, "im_load");
    im_unload(mod);
}

static void link_once(im_link *l, const relmod *m, int check)
{
    im_lmod *mod;
    int err = im_link_load(l, &m->sec, 0, &mod);
    if (err)
        die("im_link_load", err);
    if (check)
        relmod_verify(m, (const uint8_t *)(uintptr_t)im_lmod_base(mod), im_lmod_base(mod),
                      im_lmod_toc(mod), "im_link_load");
    if ((err = im_lmod_unload(mod)))
        die("im_lmod_unload", err);
    im_link_collect(l);
}

/* One module size: the three ways, interleaved repetition by repetition (so a slow moment
 * of the machine hits all three alike); inner loads per repetition. */
static void bench_load(const char *tag, uint32_t size, uint32_t nrel, int inner)
{
    relmod plain, linked;
    relmod_build(&plain, "plain", size, nrel, 0, 1);
    relmod_build(&linked, tag, size, nrel, 1, size >= (64u << 10) ? 64 : 8);
    im_image *img = im_img_new();
    if (!img)
        die("im_img_new", 0);
    int err = im_img_add_section(img, &plain.sec);
    if (err)
        die("im_img_add_section", err);
    im_link *l;
    if ((err = im_link_new(IM_TARGET_X86_64, &l)))
        die("im_link_new", err);
    /* warm-up and checks */
    for (int i = 0; i < 2; i++) {
        floor_once(&plain.sec, 1);
        im_load_once(img, &plain, 1);
        link_once(l, &linked, 1);
    }
    double tf[MAX_REPS], ti[MAX_REPS], tl[MAX_REPS];
    for (int r = 0; r < g_reps; r++) {
        double t0 = now();
        for (int k = 0; k < inner; k++)
            floor_once(&plain.sec, 0);
        double t1 = now();
        for (int k = 0; k < inner; k++)
            im_load_once(img, &plain, 0);
        double t2 = now();
        for (int k = 0; k < inner; k++)
            link_once(l, &linked, 0);
        double t3 = now();
        tf[r] = (t1 - t0) / inner, ti[r] = (t2 - t1) / inner, tl[r] = (t3 - t2) / inner;
    }
    im_load_once(img, &plain, 1);
    link_once(l, &linked, 1);
    char extra[200], name[64];
    snprintf(extra, sizeof extra, "\"code_bytes\": %u, \"relocs\": %u, \"inner\": %d", size, nrel,
             inner);
    snprintf(name, sizeof name, "load-%s-floor", tag);
    emit(name, extra, tf, g_reps);
    snprintf(name, sizeof name, "load-%s-im_load", tag);
    emit(name, extra, ti, g_reps);
    snprintf(name, sizeof name, "load-%s-link", tag);
    emit(name, extra, tl, g_reps);
    im_link_free(l);
    im_img_free(img);
    relmod_free(&plain);
    relmod_free(&linked);
}

/* ---- small modules in an existing space ------------------------------------------------ */

/* A 64-byte module: lea rax, [rip + 0x20] (PC32 local); call [rip + f@toc]; ret; and a
 * movabs of its own start (ABS64). Loaded and unloaded over and over; nothing runs. */
static void bench_tiny(int inner)
{
    uint8_t code[64];
    memset(code, 0xcc, sizeof code);
    static const uint8_t body[] = {0x48, 0x8d, 0x05, 0, 0, 0, 0, /* lea rax,[rip+d] */
                                   0xff, 0x15, 0,    0, 0, 0,    /* call [rip+f@toc] */
                                   0x48, 0xb8, 0,    0, 0, 0, 0, 0, 0, 0, 0xc3}; /* movabs; ret */
    memcpy(code, body, sizeof body);
    im_reloc rel[3] = {
        {3, IM_RELOC_PC32, -1, 0x20 - 4, IM_REF_LOCAL},
        {9, IM_RELOC_PC32, 0, -4, IM_REF_TOC},
        {15, IM_RELOC_ABS64, -1, 0, IM_REF_LOCAL},
    };
    im_import imp = {"f", 0, IM_SYM_FUNC};
    relmod m;
    memset(&m, 0, sizeof m);
    m.sec =
        (im_section){IM_TARGET_X86_64, 16, code, sizeof code, NULL, 0, rel, 3, "tiny", &imp, 1, 1};
    im_link *l;
    int err = im_link_new(IM_TARGET_X86_64, &l);
    if (err)
        die("im_link_new", err);
    /* the space holds a few other modules already */
    relmod other[4];
    for (int i = 0; i < 4; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "other%d", i);
        relmod_build(&other[i], nm, 4096, 128, 1, 8);
        if ((err = im_link_load(l, &other[i].sec, 0, NULL)))
            die("im_link_load", err);
    }
    for (int i = 0; i < 100; i++)
        link_once(l, &m, i == 0);
    double t[MAX_REPS];
    for (int r = 0; r < g_reps; r++) {
        double t0 = now();
        for (int k = 0; k < inner; k++)
            link_once(l, &m, 0);
        t[r] = (now() - t0) / inner;
    }
    link_once(l, &m, 1);
    char extra[120];
    snprintf(extra, sizeof extra, "\"code_bytes\": 64, \"relocs\": 3, \"inner\": %d", inner);
    emit("arena-tiny", extra, t, g_reps);
    im_link_free(l);
    for (int i = 0; i < 4; i++)
        relmod_free(&other[i]);
}

/* ---- hot reload ------------------------------------------------------------------------ */

/* provider "prov": f: mov eax, imm32; ret   (exports f) */
static void prov_section(im_section *s, uint8_t *code, uint32_t value, im_symbol *sym)
{
    code[0] = 0xb8;
    put32(code + 1, value);
    code[5] = 0xc3;
    memset(code + 6, 0xcc, 10);
    *sym = (im_symbol){"f", 0, IM_SYM_FUNC};
    *s = (im_section){IM_TARGET_X86_64, 16, code, 16, sym, 1, NULL, 0, "prov", NULL, 0, 0};
}

/* user "user": entry: sub rsp, 8; call [rip + f@toc]; add rsp, 8; ret */
static const uint8_t user_code[] = {0x48, 0x83, 0xec, 0x08, 0xff, 0x15, 0,   0,
                                    0,    0,    0x48, 0x83, 0xc4, 0x08, 0xc3};

static void bench_reload(int inner)
{
    im_link *l;
    int err = im_link_new(IM_TARGET_X86_64, &l);
    if (err)
        die("im_link_new", err);
    uint8_t pc[2][16];
    im_symbol psym[2];
    im_section ps[2];
    prov_section(&ps[0], pc[0], 1111, &psym[0]);
    prov_section(&ps[1], pc[1], 2222, &psym[1]);
    im_lmod *prov, *user;
    if ((err = im_link_load(l, &ps[0], 0, &prov)))
        die("im_link_load prov", err);
    uint8_t uc[sizeof user_code];
    memcpy(uc, user_code, sizeof uc);
    im_symbol usym = {"entry", 0, IM_SYM_FUNC};
    im_import uimp = {"f", 0, IM_SYM_FUNC};
    im_reloc urel = {6, IM_RELOC_PC32, 0, -4, IM_REF_TOC};
    im_section us = {IM_TARGET_X86_64, 16, uc, sizeof uc, &usym, 1, &urel, 1, "user", &uimp, 1, 1};
    if ((err = im_link_load(l, &us, 0, &user)))
        die("im_link_load user", err);
    int (*entry)(void) = (int (*)(void))(uintptr_t)im_lmod_symbol(user, "entry");
    if (entry() != 1111)
        die("user module: wrong result before the reload", 0);
    if (im_lmod_users(prov) != 1)
        die("provider: not bound to its user after the first call", 0);

    /* fresh address: a registered thread (this one) may be in the old code */
    for (int mode = 0; mode < 2; mode++) {
        int fresh = mode == 0;
        if (fresh && (err = im_link_thread_enter(l)))
            die("im_link_thread_enter", err);
        int v = 0;
        double t[MAX_REPS];
        for (int r = -2; r < g_reps; r++) {
            double total = 0;
            for (int k = 0; k < inner; k++) {
                v ^= 1;
                int in_place = -1;
                uint64_t before = im_lmod_base(prov);
                double t0 = now();
                err = im_lmod_reload(prov, &ps[v], &in_place);
                total += now() - t0;
                if (err)
                    die("im_lmod_reload", err);
                if (in_place != !fresh || (fresh && im_lmod_base(prov) == before) ||
                    (!fresh && im_lmod_base(prov) != before))
                    die(fresh ? "reload was not at a fresh address" : "reload was not in place", 0);
                if (fresh)
                    im_link_quiescent(l);
                if ((r < 0 || k == inner - 1) && entry() != (v ? 2222 : 1111))
                    die("user module: wrong result after a reload", 0);
            }
            if (r >= 0)
                t[r] = total / inner;
        }
        if (fresh)
            im_link_thread_leave(l);
        char extra[64];
        snprintf(extra, sizeof extra, "\"inner\": %d", inner);
        emit(fresh ? "reload-fresh" : "reload-inplace", extra, t, g_reps);
    }
    im_link_free(l);
}

/* ---- TOC call vs direct call ----------------------------------------------------------- */

/* callee "g": lea eax, [rdi + 1]; ret.
 * caller: loop(n): push rbx; mov ebx, edi; xor eax, eax;
 *                  .L: mov edi, eax; call <g>; dec ebx; jnz .L; pop rbx; ret
 * with <g> either call [rip + g@toc] (ff 15, PC32 TOC) or call rel32 (e8, PC32 IMPORT: bound
 * at load, checked to reach g itself, not a veneer). Returns n. */
static void bench_call(long n)
{
    im_link *l;
    int err = im_link_new(IM_TARGET_X86_64, &l);
    if (err)
        die("im_link_new", err);
    uint8_t gc[16] = {0x8d, 0x47, 0x01, 0xc3};
    memset(gc + 4, 0xcc, 12);
    im_symbol gsym = {"g", 0, IM_SYM_FUNC};
    im_section gs = {IM_TARGET_X86_64, 16, gc, 16, &gsym, 1, NULL, 0, "callee", NULL, 0, 0};
    im_lmod *callee;
    if ((err = im_link_load(l, &gs, 0, &callee)))
        die("im_link_load callee", err);
    uint64_t g = im_lmod_symbol(callee, "g");

    long (*fn[2])(long);
    uint8_t cc[2][32];
    for (int d = 0; d < 2; d++) {
        uint8_t *c = cc[d];
        memset(c, 0xcc, 32);
        unsigned o = 0;
        const uint8_t head[] = {0x53, 0x89, 0xfb, 0x31, 0xc0}; /* push rbx; mov ebx,edi; xor */
        memcpy(c, head, sizeof head);
        o = sizeof head;
        unsigned loop = o;
        c[o++] = 0x89, c[o++] = 0xc7; /* mov edi, eax */
        unsigned field;
        if (d == 0) {
            c[o++] = 0xff, c[o++] = 0x15; /* call [rip + d32] */
        } else {
            c[o++] = 0xe8; /* call rel32 */
        }
        field = o;
        put32(c + o, 0);
        o += 4;
        c[o++] = 0xff, c[o++] = 0xcb; /* dec ebx */
        c[o++] = 0x75;                /* jnz .L */
        c[o] = (uint8_t)(int8_t)(loop - (o + 1));
        o++;
        c[o++] = 0x5b, c[o++] = 0xc3; /* pop rbx; ret */
        im_symbol sym = {"loop", 0, IM_SYM_FUNC};
        im_import imp = {"g", 0, IM_SYM_FUNC};
        im_reloc rel = {field, IM_RELOC_PC32, 0, -4, d == 0 ? IM_REF_TOC : IM_REF_IMPORT};
        im_section s = {IM_TARGET_X86_64,
                        16,
                        c,
                        32,
                        &sym,
                        1,
                        &rel,
                        1,
                        d == 0 ? "caller_toc" : "caller_direct",
                        &imp,
                        1,
                        1};
        im_lmod *m;
        if ((err = im_link_load(l, &s, 0, &m)))
            die("im_link_load caller", err);
        fn[d] = (long (*)(long))(uintptr_t)im_lmod_symbol(m, "loop");
        uint8_t back[32];
        if ((err = im_lmod_read(m, 0, back, 32)))
            die("im_lmod_read", err);
        uint64_t p = im_lmod_base(m) + field;
        uint64_t to = p + 4 + (uint64_t)(int64_t)(int32_t)get32(back + field);
        if (d == 1 && to != g)
            die("the direct call does not reach g itself (a veneer?)", 0);
        if (d == 0 && to != im_lmod_toc(m))
            die("the TOC call does not read the module's TOC slot", 0);
    }
    for (int d = 0; d < 2; d++)
        for (int i = 0; i < 3; i++)
            if (fn[d](n) != n + g_fault_call)
                die(d ? "direct call loop: wrong result" : "TOC call loop: wrong result", 0);
    double t[2][MAX_REPS];
    for (int r = 0; r < g_reps; r++)
        for (int d = 0; d < 2; d++) {
            double t0 = now();
            long got = fn[d](n);
            t[d][r] = now() - t0;
            if (got != n)
                die("call loop: wrong result", 0);
        }
    char extra[64];
    snprintf(extra, sizeof extra, "\"calls\": %ld", n);
    emit("call-toc", extra, t[0], g_reps);
    emit("call-direct", extra, t[1], g_reps);
    im_link_free(l);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--reps"))
            g_reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick"))
            g_quick = 1;
        else {
            fprintf(stderr, "usage: %s [--reps N] [--quick]\n", argv[0]);
            return 2;
        }
    }
    if (g_reps < 1 || g_reps > MAX_REPS) {
        fprintf(stderr, "%s: --reps must be 1..%d\n", argv[0], MAX_REPS);
        return 2;
    }
    const char *fault = getenv("IMAGO_BENCH_FAULT");
    if (fault && !strncmp(fault, "loader:reloc:", 13))
        g_fault_reloc = atol(fault + 13);
    else if (fault && !strcmp(fault, "loader:call:0"))
        g_fault_call = 1;
    long pg = sysconf(_SC_PAGESIZE);
    g_page = pg > 0 ? (size_t)pg : 4096;
    if (g_quick) {
        bench_load("4k", 4096, 128, 2);
        bench_load("1m", 64 << 10, 6250, 1);
        bench_tiny(10);
        bench_reload(4);
        bench_call(1000);
    } else {
        bench_load("4k", 4096, 128, 200);
        bench_load("1m", 1 << 20, 100000, 3);
        bench_tiny(10000);
        bench_reload(200);
        bench_call(10000000);
    }
    return 0;
}
#endif
