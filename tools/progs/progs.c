/* imago-progs-<target>: the linker programs (conformance/programs/<target>/link/NAME.s), run
 * on the target they are written for (docs/testing.md, "Linked programs").
 *
 * Built for every target like the runners (static, the target's loader, encoder and
 * assembler objects), it runs on its own target: directly (the machine's own target, i386 on
 * x86_64: the "native" engine cell) or under qemu-user (the "qemu" cells). It assembles each
 * source with im_asm, makes modules with im_buf_to_module, loads them into a link space
 * (<imago/link.h>) with two host functions of its own, calls the exports through C function
 * pointers and compares every result with a value computed here in C:
 *
 *   fact      n! iteratively and recursively, n = 0..20 (0..12 on 32-bit targets) and a few
 *             more that wrap at the word size
 *   fib       Fibonacci iteratively (n = 0..100, wrapping) and recursively (n = 0..25)
 *   copy      copy(dst, src, n) over buffers of this program: random lengths and alignments,
 *             the bytes around the destination (guards) and the source unchanged
 *   host      generated code calling host functions through the TOC and directly (a veneer
 *             when far), and a host function calling back into generated code
 *   toc       two modules calling each other (is_even / is_odd mutual recursion): one through
 *             its TOC, the other by a direct call bound at load time
 *   move      modules moved (in the arena, to chosen addresses, near and far from the host
 *             functions), called again; TOC slots and direct calls follow, the old code is not
 *             used (old mappings released)
 *   reload    a provider module reloaded while in use: threads call it through a user
 *             module's TOC while the main thread reloads it many times between two versions;
 *             every result is one of the two versions', and exactly the current one whenever
 *             no reload overlapped the call; after each reload the new version answers
 *   patch     k's immediate and jb's branch target changed in loaded code with
 *             im_lmod_patch, each change seen by the next call; a wrong length refused;
 *             the patches kept by a move
 *   preserve  the space written out (im_link_preserve), serialised, read back and loaded
 *             into a new space: every check above (but threads) passes there too
 *
 * Output: a line per program ("NAME: ok checks=N mismatches=0" or "NAME: FAILED ..."), the
 * first mismatches of a failed program above its line, and a summary line
 *   progs: target=T engine=E programs=10 failed=F checks=N mismatches=M
 * Exit status 0 when everything matched, 1 on a mismatch or a failed step, 2 on bad usage,
 * 77 when the engine asked for cannot run here.
 *
 * IMAGO_FAULT_PROGS=NAME (or 1 = fact) adds 1 to the first expected value of program NAME,
 * so the driver must fail (the self-test of this check).
 *
 * Engines. Every call into generated code, every host function, every buffer the code reads
 * and every read of a TOC slot goes through struct engine: the native one here calls through
 * C function pointers. An --engine unicorn mode would add a second implementation: a link
 * space on an emulator backend (im_link_new_backend over emu/unicorn.c's guest memory),
 * calls that set up the target's argument registers and stack and run to a return trap,
 * host functions as trap addresses registered with im_link_host, buffers mapped into the
 * guest; the reload program would run its single-threaded part only. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "imago/asm.h"
#include "imago/enc.h"
#include "imago/link.h"

/* ---- engines ---------------------------------------------------------------------- */

struct engine {
    const char *name;
    int threads;   /* can run generated code on several threads */
    int callbacks; /* host functions can call back into generated code */
    /* A link space for the target with the host functions registered. */
    int (*space)(struct engine *e, im_target t, im_link **out);
    /* Call generated code of space l at fn with n word arguments (C calling convention). */
    uint64_t (*call)(struct engine *e, im_link *l, uint64_t fn, int n, const uint64_t *args);
    /* A buffer of n bytes the generated code can read and write: *host for this program,
     * *addr for the code; sync copies host -> code (to_code) or back. */
    int (*alloc)(struct engine *e, im_link *l, size_t n, uint8_t **host, uint64_t *addr);
    void (*dealloc)(struct engine *e, uint8_t *host, size_t n);
    int (*sync)(struct engine *e, im_link *l, uint8_t *host, uint64_t addr, size_t n, int to_code);
    /* A word of size bytes of the code's memory (a TOC slot). */
    uint64_t (*load_word)(struct engine *e, im_link *l, uint64_t addr, unsigned size);
    /* Chosen addresses (NULL: the fixed-address moves are not run).
     * Is [addr, addr + n) free address space (a released mapping)? */
    int (*range_free)(struct engine *e, uint64_t addr, size_t n);
    /* Free address space of n bytes near hint (0: anywhere), or 0. */
    uint64_t (*free_range)(struct engine *e, uint64_t hint, size_t n);
};

/* The host functions' logic, shared by every engine (the calls they count are checked). */
static struct engine *g_engine;
static uint64_t g_mask;
static atomic_ulong g_mul3_calls, g_apply_calls, g_apply_outside;
static atomic_uint_least64_t g_cb_lo, g_cb_hi; /* where host_apply's callback must point */

static uint64_t hf_mul3(uint64_t a, uint64_t b, uint64_t c)
{
    atomic_fetch_add(&g_mul3_calls, 1);
    return (a * b * c) & g_mask;
}

/* host_apply(f, x) = f(x) * 2 + x, f being generated code of module "host" (its sq). */
static uint64_t hf_apply(uint64_t f, uint64_t x)
{
    atomic_fetch_add(&g_apply_calls, 1);
    if (f < atomic_load(&g_cb_lo) || f >= atomic_load(&g_cb_hi))
        atomic_fetch_add(&g_apply_outside, 1);
    uint64_t y = g_engine->call(g_engine, NULL, f, 1, &x);
    return (y * 2 + x) & g_mask;
}

/* -- native: this process runs the code -- */
typedef uintptr_t word;
typedef word (*fn0)(void);
typedef word (*fn1)(word);
typedef word (*fn2)(word, word);
typedef word (*fn3)(word, word, word);

static word host_mul3(word a, word b, word c)
{
    return (word)hf_mul3(a, b, c);
}

static word host_apply(word f, word x)
{
    return (word)hf_apply(f, x);
}

static int nat_space(struct engine *e, im_target t, im_link **out)
{
    (void)e;
    int err = im_link_new(t, out);
    if (err)
        return err;
    if ((err = im_link_host(*out, "host_mul3", (uint64_t)(uintptr_t)&host_mul3)) ||
        (err = im_link_host(*out, "host_apply", (uint64_t)(uintptr_t)&host_apply))) {
        im_link_free(*out);
        *out = NULL;
    }
    return err;
}

static uint64_t nat_call(struct engine *e, im_link *l, uint64_t fn, int n, const uint64_t *a)
{
    (void)e;
    (void)l;
    void *p = (void *)(uintptr_t)fn;
    switch (n) {
    case 0: {
        fn0 f;
        memcpy(&f, &p, sizeof f);
        return f();
    }
    case 1: {
        fn1 f;
        memcpy(&f, &p, sizeof f);
        return f((word)a[0]);
    }
    case 2: {
        fn2 f;
        memcpy(&f, &p, sizeof f);
        return f((word)a[0], (word)a[1]);
    }
    default: {
        fn3 f;
        memcpy(&f, &p, sizeof f);
        return f((word)a[0], (word)a[1], (word)a[2]);
    }
    }
}

static int nat_alloc(struct engine *e, im_link *l, size_t n, uint8_t **host, uint64_t *addr)
{
    (void)e;
    (void)l;
    *host = malloc(n);
    *addr = (uint64_t)(uintptr_t)*host;
    return *host ? 0 : IM_ERR_NOMEM;
}

static void nat_dealloc(struct engine *e, uint8_t *host, size_t n)
{
    (void)e;
    (void)n;
    free(host);
}

static int nat_sync(struct engine *e, im_link *l, uint8_t *host, uint64_t addr, size_t n,
                    int to_code)
{
    (void)e, (void)l, (void)host, (void)addr, (void)n, (void)to_code;
    return 0; /* the same memory */
}

static uint64_t nat_load_word(struct engine *e, im_link *l, uint64_t addr, unsigned size)
{
    (void)e;
    (void)l;
    (void)size;
    word w;
    memcpy(&w, (const void *)(uintptr_t)addr, sizeof w);
    return w;
}

/* Free when a mapping asked for exactly there (a hint, never MAP_FIXED) lands there. */
static int nat_range_free(struct engine *e, uint64_t addr, size_t n)
{
    (void)e;
    if (addr > UINTPTR_MAX)
        return 0;
    void *p = mmap((void *)(uintptr_t)addr, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    munmap(p, n);
    return (uint64_t)(uintptr_t)p == addr;
}

static uint64_t nat_free_range(struct engine *e, uint64_t hint, size_t n)
{
    if (hint > UINTPTR_MAX)
        return 0;
    void *p = mmap((void *)(uintptr_t)hint, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    munmap(p, n);
    uint64_t a = (uint64_t)(uintptr_t)p;
    if (hint && a != hint && !nat_range_free(e, hint, n))
        return a; /* the hint was taken: somewhere else */
    return hint ? hint : a;
}

static struct engine native_engine = {
    "native",      1,           1,        nat_space,     nat_call,
    nat_alloc,     nat_dealloc, nat_sync, nat_load_word, nat_range_free,
    nat_free_range};

#ifdef IMAGO_PROGS_UNICORN
/* -- unicorn: the code runs in a unicorn guest of any target (<imago/emu.h>); built into
 * the machine's own imago-progs only. Host functions run in a hook; host_apply calls back
 * into the guest (a nested im_emu_link_call); chosen addresses are free guest ranges; one
 * thread. -- */
#include "imago/emu.h"

static im_link *g_uc_link; /* the space host_apply calls back into */

static int64_t uc_mul3(void *ctx, const int64_t *a)
{
    (void)ctx;
    return (int64_t)hf_mul3((uint64_t)a[0] & g_mask, (uint64_t)a[1] & g_mask,
                            (uint64_t)a[2] & g_mask);
}

static int64_t uc_apply(void *ctx, const int64_t *a)
{
    (void)ctx;
    return (int64_t)hf_apply((uint64_t)a[0] & g_mask, (uint64_t)a[1] & g_mask);
}

static int uc_space(struct engine *e, im_target t, im_link **out)
{
    (void)e;
    int err = im_emu_link_new(IM_ENGINE_UNICORN, t, out);
    if (err)
        return err;
    if ((err = im_emu_link_host(*out, "host_mul3", uc_mul3, NULL)) ||
        (err = im_emu_link_host(*out, "host_apply", uc_apply, NULL))) {
        im_link_free(*out);
        *out = NULL;
    }
    g_uc_link = *out;
    return err;
}

static uint64_t uc_call(struct engine *e, im_link *l, uint64_t fn, int n, const uint64_t *a)
{
    (void)e;
    int64_t args[4] = {0, 0, 0, 0}, r = 0;
    for (int i = 0; i < n && i < 4; i++)
        args[i] = (int64_t)a[i];
    int err = im_emu_link_call(l ? l : g_uc_link, fn, args, (size_t)n, &r);
    if (err) {
        fprintf(stderr, "imago-progs: unicorn call of 0x%" PRIx64 " failed: %s: %s\n", fn,
                im_strerror(err), im_detail());
        return 0xdeadbeefdeadbeefull; /* a value no check expects */
    }
    return (uint64_t)r;
}

static int uc_alloc(struct engine *e, im_link *l, size_t n, uint8_t **host, uint64_t *addr)
{
    (void)e;
    *host = malloc(n);
    if (!*host)
        return IM_ERR_NOMEM;
    int err = im_emu_link_map(l, n, addr);
    if (err) {
        free(*host);
        *host = NULL;
    }
    return err;
}

static int uc_sync(struct engine *e, im_link *l, uint8_t *host, uint64_t addr, size_t n,
                   int to_code)
{
    (void)e;
    return to_code ? im_emu_link_write(l, addr, host, n) : im_emu_link_read(l, addr, host, n);
}

static uint64_t uc_load_word(struct engine *e, im_link *l, uint64_t addr, unsigned size)
{
    (void)e;
    uint8_t b[8] = {0};
    if (im_emu_link_read(l, addr, b, size))
        return 0xdeadbeefdeadbeefull;
    uint64_t v = 0;
    for (unsigned i = size; i-- > 0;)
        v = v << 8 | b[i];
    return v;
}

/* Chosen addresses in the guest: free when no guest mapping overlaps. */
static int uc_range_free(struct engine *e, uint64_t addr, size_t n)
{
    (void)e;
    return im_emu_link_range_free(g_uc_link, addr, n);
}

/* The hint if free, else the first free range from 0x30000000 up, 1 MiB apart. */
static uint64_t uc_free_range(struct engine *e, uint64_t hint, size_t n)
{
    if (hint && uc_range_free(e, hint, n))
        return hint;
    for (uint64_t a = 0x30000000u; a + n <= 0xf0000000u; a += 1u << 20)
        if (uc_range_free(e, a, n))
            return a;
    return 0;
}

static struct engine unicorn_engine = {
    "unicorn",     0,           1,       uc_space,     uc_call,
    uc_alloc,      nat_dealloc, uc_sync, uc_load_word, uc_range_free,
    uc_free_range};
#endif

/* ---- the run: checks and counts ------------------------------------------------- */

struct mod {
    const char *file;
    const char *name;
    im_image *img;
    const im_section *sec; /* img's only section */
};

enum { NMODS = 10 };

struct ctx {
    struct engine *e;
    im_target t;
    unsigned ptr; /* bytes per word: 4 or 8 */
    uint64_t mask;
    const char *dir;
    im_link *l;
    im_link *cur;     /* the space the checks call into */
    const char *prog; /* the program running */
    unsigned long checks, bad;
    unsigned long total_checks, total_bad;
    int programs, failed_programs;
    const char *fault; /* IMAGO_FAULT_PROGS: the program whose first check is off by one */
    int fault_done;
    unsigned reloads, nthreads;
    uint64_t rng;
    int prov_version; /* the version of module "prov" loaded now: 0 = A, 1 = B */
    struct mod mods[NMODS];
};

static const char *const mod_files[NMODS][2] = {
    {"fact.s", "fact"},   {"fib.s", "fib"},     {"copy.s", "copy"},
    {"host.s", "host"},   {"even.s", "even"},   {"odd.s", "odd"},
    {"prov_a.s", "prov"}, {"prov_b.s", "prov"}, {"user.s", "user"},
    {"patch.s", "patch"},
};

static uint64_t rnd(struct ctx *c)
{
    uint64_t x = c->rng; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return c->rng = x;
}

static void vnote(struct ctx *c, const char *fmt, va_list ap)
{
    if (c->bad > 12)
        return;
    printf("  %s: ", c->prog);
    if (c->bad == 12) {
        printf("(more mismatches not shown)\n");
        return;
    }
    vprintf(fmt, ap);
}

/* A step that failed (not a value): counted as a mismatch. */
static void fail(struct ctx *c, const char *fmt, ...)
{
    va_list ap;
    c->checks++;
    va_start(ap, fmt);
    vnote(c, fmt, ap);
    va_end(ap);
    printf("\n");
    c->bad++;
}

static void fail_err(struct ctx *c, int err, const char *fmt, ...)
{
    va_list ap;
    c->checks++;
    va_start(ap, fmt);
    vnote(c, fmt, ap);
    va_end(ap);
    if (c->bad < 12)
        printf(": %s: %s\n", im_strerror(err), im_detail());
    c->bad++;
}

/* got == want (both cut to the word size); what names the call. */
static int check(struct ctx *c, uint64_t got, uint64_t want, const char *fmt, ...)
{
    c->checks++;
    got &= c->mask;
    want &= c->mask;
    if (c->fault && !c->fault_done && !strcmp(c->fault, c->prog)) {
        want = (want + 1) & c->mask;
        c->fault_done = 1;
    }
    if (got == want)
        return 1;
    va_list ap;
    va_start(ap, fmt);
    vnote(c, fmt, ap);
    va_end(ap);
    if (c->bad < 12)
        printf(" = 0x%" PRIx64 " (%" PRIu64 "), expected 0x%" PRIx64 " (%" PRIu64 ")\n", got, got,
               want, want);
    c->bad++;
    return 0;
}

static int check_true(struct ctx *c, int cond, const char *fmt, ...)
{
    c->checks++;
    if (c->fault && !c->fault_done && !strcmp(c->fault, c->prog)) {
        cond = !cond;
        c->fault_done = 1;
    }
    if (cond)
        return 1;
    va_list ap;
    va_start(ap, fmt);
    vnote(c, fmt, ap);
    va_end(ap);
    if (c->bad < 12)
        printf("\n");
    c->bad++;
    return 0;
}

static uint64_t call(struct ctx *c, uint64_t fn, int n, uint64_t a0, uint64_t a1, uint64_t a2)
{
    uint64_t a[3] = {a0 & c->mask, a1 & c->mask, a2 & c->mask};
    return c->e->call(c->e, c->cur, fn, n, a) & c->mask;
}

/* ---- modules ---- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *p = malloc(cap);
    while (p) {
        n += fread(p + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *q = realloc(p, cap *= 2);
        if (!q) {
            free(p);
            p = NULL;
        } else {
            p = q;
        }
    }
    if (p && ferror(f)) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = n;
    return p;
}

/* Assemble every source into its own image (one module each). */
static void build_all(struct ctx *c)
{
    for (int i = 0; i < NMODS; i++) {
        struct mod *m = &c->mods[i];
        m->file = mod_files[i][0];
        m->name = mod_files[i][1];
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", c->dir, m->file);
        size_t len;
        char *src = read_file(path, &len);
        if (!src) {
            fail(c, "cannot read %s: %s", path, strerror(errno));
            continue;
        }
        im_buf *b = NULL;
        int line = 0;
        int err = im_asm(c->t, src, len, &b, &line);
        free(src);
        if (err) {
            fail_err(c, err, "%s:%d: imago asm -a %s", path, line, im_target_name(c->t));
            continue;
        }
        m->img = im_img_new();
        if (!m->img) {
            im_buf_free(b);
            fail(c, "%s: out of memory", path);
            continue;
        }
        err = im_buf_to_module(b, m->name, m->img);
        im_buf_free(b);
        if (err || m->img->nsections != 1) {
            fail_err(c, err, "%s: im_buf_to_module(\"%s\")", path, m->name);
            im_img_free(m->img);
            m->img = NULL;
            continue;
        }
        m->sec = &m->img->sections[0];
        check_true(c, m->sec->target == c->t && m->sec->module && !strcmp(m->sec->module, m->name),
                   "%s: im_buf_to_module made a section of module '%s', target %s", path,
                   m->sec->module ? m->sec->module : "(none)", im_target_name(m->sec->target));
    }
}

static const struct mod *mod_of(struct ctx *c, const char *file)
{
    for (int i = 0; i < NMODS; i++)
        if (!strcmp(c->mods[i].file, file))
            return c->mods[i].sec ? &c->mods[i] : NULL;
    return NULL;
}

static im_lmod *load(struct ctx *c, const char *file)
{
    const struct mod *m = mod_of(c, file);
    if (!m) {
        fail(c, "%s/%s did not assemble: nothing to load", c->dir, file);
        return NULL;
    }
    im_lmod *lm = NULL;
    int err = im_link_load(c->l, m->sec, 0, &lm);
    if (err) {
        fail_err(c, err, "loading module '%s' (%s)", m->name, file);
        return NULL;
    }
    return lm;
}

static uint64_t sym(struct ctx *c, im_link *l, const char *module, const char *name)
{
    im_lmod *m = im_link_module(l, module);
    if (!m) {
        fail(c, "module '%s' is not loaded", module);
        return 0;
    }
    uint64_t a = im_lmod_symbol(m, name);
    if (!a)
        fail(c, "module '%s' exports no '%s' (%s)", module, name, im_detail());
    return a;
}

/* The TOC slot of import name of module (the slot number from the section it was built
 * from); 0 when there is none. */
static uint64_t slot_of(struct ctx *c, im_lmod *m, const im_section *sec, const char *name)
{
    for (uint32_t i = 0; i < sec->nimports; i++)
        if (!strcmp(sec->imports[i].name, name))
            return im_lmod_toc(m) + (uint64_t)sec->imports[i].slot * c->ptr;
    return 0;
}

/* After a call through it, module's TOC slot for name holds what name resolves to now. */
static void check_slot(struct ctx *c, im_link *l, const char *module, const char *file,
                       const char *name)
{
    im_lmod *m = im_link_module(l, module);
    const struct mod *src = mod_of(c, file);
    if (!m || !src)
        return;
    uint64_t slot = slot_of(c, m, src->sec, name);
    if (!slot) {
        fail(c, "module '%s' has no import '%s'", module, name);
        return;
    }
    check(c, c->e->load_word(c->e, l, slot, c->ptr), im_link_resolve(l, name),
          "module '%s': TOC slot of '%s' at 0x%" PRIx64 " (what '%s' resolves to)", module, name,
          slot, name);
}

/* ---- the programs' checks (on any space: the main one, or preserve's) ---- */

static void check_fact(struct ctx *c, im_link *l)
{
    c->cur = l;
    uint64_t fi = sym(c, l, "fact", "fact_iter"), fr = sym(c, l, "fact", "fact_rec");
    if (!fi || !fr)
        return;
    unsigned top = c->ptr == 8 ? 20 : 12;
    uint64_t f = 1;
    for (unsigned n = 0; n <= top + 6; n++) { /* past top: wrapping at the word size */
        if (n > 1)
            f = (f * n) & c->mask;
        check(c, call(c, fi, 1, n, 0, 0), f, "fact_iter(%u)", n);
        check(c, call(c, fr, 1, n, 0, 0), f, "fact_rec(%u)", n);
    }
}

static void check_fib(struct ctx *c, im_link *l)
{
    c->cur = l;
    uint64_t fi = sym(c, l, "fib", "fib_iter"), fr = sym(c, l, "fib", "fib_rec");
    if (!fi || !fr)
        return;
    uint64_t a = 0, b = 1;
    for (unsigned n = 0; n <= 100; n++) {
        check(c, call(c, fi, 1, n, 0, 0), a, "fib_iter(%u)", n);
        if (n <= 25)
            check(c, call(c, fr, 1, n, 0, 0), a, "fib_rec(%u)", n);
        uint64_t s = (a + b) & c->mask;
        a = b;
        b = s;
    }
}

static void check_copy(struct ctx *c, im_link *l)
{
    c->cur = l;
    uint64_t cp = sym(c, l, "copy", "copy");
    if (!cp)
        return;
    enum { CAP = 1024, GUARD = 32 };
    uint8_t *src, *dst, *want = malloc(CAP);
    uint64_t srca, dsta;
    if (!want || c->e->alloc(c->e, l, CAP, &src, &srca)) {
        free(want);
        fail(c, "no memory for the buffers");
        return;
    }
    if (c->e->alloc(c->e, l, CAP, &dst, &dsta)) {
        c->e->dealloc(c->e, src, CAP);
        free(want);
        fail(c, "no memory for the buffers");
        return;
    }
    for (int it = 0; it < 1500; it++) {
        size_t n = (it & 3) ? rnd(c) % 40 : rnd(c) % (CAP - 2 * GUARD - 16);
        size_t so = GUARD + rnd(c) % 16, doff = GUARD + rnd(c) % 16;
        for (size_t i = 0; i < CAP; i++)
            src[i] = (uint8_t)rnd(c);
        memset(dst, 0xa5, CAP);
        memcpy(want, dst, CAP);
        memcpy(want + doff, src + so, n);
        uint8_t *keep = malloc(CAP);
        if (!keep) {
            fail(c, "no memory");
            break;
        }
        memcpy(keep, src, CAP);
        if (c->e->sync(c->e, l, src, srca, CAP, 1) || c->e->sync(c->e, l, dst, dsta, CAP, 1)) {
            fail(c, "cannot write the buffers for the code");
            free(keep);
            break;
        }
        uint64_t r = call(c, cp, 3, dsta + doff, srca + so, n);
        if (c->e->sync(c->e, l, src, srca, CAP, 0) || c->e->sync(c->e, l, dst, dsta, CAP, 0)) {
            fail(c, "cannot read the buffers back");
            free(keep);
            break;
        }
        check(c, r, dsta + doff, "copy(dst+%zu, src+%zu, %zu) returned", doff, so, n);
        size_t first = CAP;
        for (size_t i = 0; i < CAP && first == CAP; i++)
            if (dst[i] != want[i])
                first = i;
        check_true(c, first == CAP,
                   "copy(dst+%zu, src+%zu, %zu): destination byte %zu is 0x%02x, expected "
                   "0x%02x (%s)",
                   doff, so, n, first, first < CAP ? dst[first] : 0, first < CAP ? want[first] : 0,
                   first < doff || first >= doff + n ? "a guard byte" : "a copied byte");
        check_true(c, !memcmp(keep, src, CAP), "copy(dst+%zu, src+%zu, %zu) changed the source",
                   doff, so, n);
        free(keep);
    }
    c->e->dealloc(c->e, src, CAP);
    c->e->dealloc(c->e, dst, CAP);
    free(want);
}

static void check_host(struct ctx *c, im_link *l)
{
    c->cur = l;
    uint64_t mt = sym(c, l, "host", "mul3_toc"), md = sym(c, l, "host", "mul3_direct");
    uint64_t ap = sym(c, l, "host", "apply_sq");
    im_lmod *hm = im_link_module(l, "host");
    if (!mt || !md || !ap || !hm)
        return;
    atomic_store(&g_cb_lo, im_lmod_base(hm));
    atomic_store(&g_cb_hi, im_lmod_base(hm) + im_lmod_size(hm));
    unsigned long m0 = atomic_load(&g_mul3_calls), a0 = atomic_load(&g_apply_calls);
    unsigned long o0 = atomic_load(&g_apply_outside);
    enum { N = 300 };
    int cb = c->e->callbacks;
    for (int i = 0; i < N; i++) {
        uint64_t a = i < 20 ? (uint64_t)i : rnd(c), b = i < 20 ? 3 : rnd(c) % 1000,
                 d = i < 20 ? 7 : rnd(c);
        uint64_t p = (a * b * d) & c->mask;
        check(c, call(c, mt, 3, a, b, d), p + 1, "mul3_toc(%" PRIu64 ", %" PRIu64 ", %" PRIu64 ")",
              a & c->mask, b & c->mask, d & c->mask);
        check(c, call(c, md, 3, a, b, d), p + 2,
              "mul3_direct(%" PRIu64 ", %" PRIu64 ", %" PRIu64 ")", a & c->mask, b & c->mask,
              d & c->mask);
        uint64_t x = i < 20 ? (uint64_t)i : rnd(c) & c->mask;
        if (cb)
            check(c, call(c, ap, 1, x, 0, 0), ((x * x) * 2 + x + 3) & c->mask,
                  "apply_sq(%" PRIu64 ")", x);
    }
    check(c, atomic_load(&g_mul3_calls) - m0, 2 * N, "calls of host_mul3");
    check(c, atomic_load(&g_apply_calls) - a0, cb ? N : 0, "calls of host_apply");
    check(c, atomic_load(&g_apply_outside) - o0, 0,
          "host_apply callbacks outside module 'host' [0x%" PRIx64 ", 0x%" PRIx64 ")",
          im_lmod_base(hm), im_lmod_base(hm) + im_lmod_size(hm));
}

static void check_toc(struct ctx *c, im_link *l)
{
    c->cur = l;
    uint64_t ev = sym(c, l, "even", "is_even"), od = sym(c, l, "odd", "is_odd");
    if (!ev || !od)
        return;
    for (int i = 0; i < 300; i++) {
        uint64_t n = i < 260 ? (uint64_t)i : rnd(c) % 4000;
        check(c, call(c, ev, 1, n, 0, 0), !(n & 1), "is_even(%" PRIu64 ")", n);
        check(c, call(c, od, 1, n, 0, 0), n & 1, "is_odd(%" PRIu64 ")", n);
    }
}

/* prov version v: val(x), konst() */
static uint64_t prov_val(struct ctx *c, int v, uint64_t x)
{
    return (v ? 5 * x + 2 : 3 * x + 1) & c->mask;
}

static uint64_t prov_konst(int v)
{
    return v ? 2222 : 1111;
}

/* The user module's three calls against prov version v. */
static void check_user(struct ctx *c, im_link *l, int v, int n)
{
    c->cur = l;
    uint64_t uv = sym(c, l, "user", "use_val"), uk = sym(c, l, "user", "use_konst");
    uint64_t ud = sym(c, l, "user", "use_direct");
    if (!uv || !uk || !ud)
        return;
    for (int i = 0; i < n; i++) {
        uint64_t x = i < 8 ? (uint64_t)i : rnd(c) & 0xffffff;
        check(c, call(c, uv, 1, x, 0, 0), prov_val(c, v, x) + 7,
              "use_val(%" PRIu64 ") with prov version %c", x, "AB"[v]);
        check(c, call(c, ud, 1, x, 0, 0), prov_val(c, v, x),
              "use_direct(%" PRIu64 ") with prov version %c", x, "AB"[v]);
    }
    check(c, call(c, uk, 0, 0, 0, 0), prov_konst(v), "use_konst() with prov version %c", "AB"[v]);
}

/* ---- move ---- */

static const char *const moved[] = {"fact", "host", "even", "odd"};
static int g_trace; /* IMAGO_PROGS_TRACE=1: each move on stderr (a crash's last step) */

static void check_moved_all(struct ctx *c)
{
    check_fact(c, c->l);
    check_host(c, c->l);
    check_toc(c, c->l);
    check_slot(c, c->l, "even", "even.s", "is_odd");
    check_slot(c, c->l, "host", "host.s", "host_mul3");
    if (c->e->callbacks)
        check_slot(c, c->l, "host", "host.s", "host_apply");
}

/* Move module name to addr (0: the arena) and check where it went. */
static int move_one(struct ctx *c, const char *name, uint64_t addr)
{
    im_lmod *m = im_link_module(c->l, name);
    if (!m) {
        fail(c, "module '%s' is not loaded", name);
        return 0;
    }
    uint64_t old = im_lmod_base(m);
    uint32_t size = im_lmod_size(m);
    const char *first = NULL;
    uint64_t first_off = 0;
    for (int i = 0; i < NMODS; i++)
        if (c->mods[i].sec && !strcmp(c->mods[i].name, name) && c->mods[i].sec->nsyms) {
            first = c->mods[i].sec->syms[0].name;
            first_off = c->mods[i].sec->syms[0].offset;
            break;
        }
    if (g_trace)
        fprintf(stderr, "imago-progs: move '%s' from 0x%" PRIx64 " (%u bytes) to 0x%" PRIx64 "\n",
                name, old, size, addr);
    int err = im_lmod_move(m, addr);
    if (g_trace)
        fprintf(stderr, "imago-progs:   -> %d, at 0x%" PRIx64 "\n", err, im_lmod_base(m));
    if (err) {
        fail_err(c, err, "moving module '%s' from 0x%" PRIx64 " to 0x%" PRIx64, name, old, addr);
        return 0;
    }
    uint64_t now = im_lmod_base(m);
    if (addr)
        check(c, now, addr, "module '%s' moved to 0x%" PRIx64 ": its base", name, addr);
    check_true(c, now + size <= old || now >= old + size,
               "module '%s' moved from 0x%" PRIx64 " to 0x%" PRIx64 ": the ranges overlap", name,
               old, now);
    if (first)
        check(c, im_lmod_symbol(m, first), now + first_off, "module '%s': '%s' after the move",
              name, first);
    /* No TOC slot of any module points into the old code any more. */
    for (int i = 0; i < NMODS; i++) {
        const struct mod *src = &c->mods[i];
        im_lmod *u = src->sec ? im_link_module(c->l, src->name) : NULL;
        if (!u || (i == 6 && c->prov_version) || (i == 7 && !c->prov_version))
            continue;
        for (uint32_t k = 0; k < src->sec->nimports; k++) {
            uint64_t s = im_lmod_toc(u) + (uint64_t)src->sec->imports[k].slot * c->ptr;
            uint64_t v = c->e->load_word(c->e, c->l, s, c->ptr);
            check_true(c, v < old || v >= old + size,
                       "after moving '%s' away from 0x%" PRIx64 ": module '%s' TOC slot of '%s' "
                       "still holds 0x%" PRIx64,
                       name, old, src->name, src->sec->imports[k].name, v);
        }
    }
    return 1;
}

static void prog_move(struct ctx *c)
{
    /* 1. in the arena, each module in turn */
    for (size_t i = 0; i < sizeof moved / sizeof *moved; i++)
        move_one(c, moved[i], 0);
    im_link_collect(c->l);
    check_moved_all(c);

    if (!c->e->free_range || !c->e->range_free) {
        printf("  move: engine %s: no chosen addresses (the moves in the arena only)\n",
               c->e->name);
        return;
    }
    /* 2. to chosen addresses (own mappings); then away again: the old mapping is released */
    size_t span = 1u << 20;
    uint64_t base = c->e->free_range(c->e, 0, 4 * span);
    if (!check_true(c, base != 0, "no free address range for the fixed-address moves"))
        return;
    base = (base + 0xffff) & ~(uint64_t)0xffff;
    uint64_t at_even = base, at_odd = base + span;
    if (move_one(c, "even", at_even) && move_one(c, "odd", at_odd)) {
        check_moved_all(c);
        move_one(c, "even", 0);
        im_link_collect(c->l);
        check_true(c, c->e->range_free(c->e, at_even, 4096),
                   "module 'even' moved away from 0x%" PRIx64 ": that mapping was not released",
                   at_even);
        check_moved_all(c);
    }

    /* 3. near the host functions (direct calls without veneers) and back: where direct
     * branches reach, the linker binds them without a veneer; then far again, with one.
     * 32-bit: a mapping within 16 MiB of host_mul3 when one is free (arm bl: +-32 MiB). */
    uint64_t h = im_link_resolve(c->l, "host_mul3"); /* &host_mul3, or its trap (unicorn) */
    uint64_t near = 0;
    for (uint64_t d = 1u << 20; d <= (16u << 20) && !near; d += 1u << 20) {
        uint64_t a = ((h & ~(uint64_t)0xfffff) + d);
        if (a <= c->mask && c->e->range_free(c->e, a, span))
            near = a;
    }
    if (near) {
        if (move_one(c, "host", near)) {
            check_host(c, c->l);
            move_one(c, "host", 0);
            im_link_collect(c->l);
            check_true(c, c->e->range_free(c->e, near, 4096),
                       "module 'host' moved away from 0x%" PRIx64 ": mapping not released", near);
            check_host(c, c->l);
        }
    } else {
        printf("  move: no free range within 16 MiB of the host functions (0x%" PRIx64
               "): near move not run\n",
               h);
    }
    /* 4. 64-bit: far above (beyond +-4 GiB of the arena and the host functions) */
    if (c->ptr == 8) {
        uint64_t far = 0;
        static const uint64_t cands[] = {0x7e0000000000ull, 0x3e0000000000ull, 0x1e0000000000ull,
                                         0x0e0000000000ull};
        for (size_t i = 0; i < sizeof cands / sizeof *cands && !far; i++)
            if (c->e->range_free(c->e, cands[i], 2 * span))
                far = cands[i];
        if (check_true(c, far != 0, "no free far address range for the far moves") &&
            move_one(c, "host", far) && move_one(c, "odd", far + span)) {
            check_moved_all(c);
            move_one(c, "host", 0);
            move_one(c, "odd", 0);
            im_link_collect(c->l);
            check_moved_all(c);
        }
    }
}

/* ---- reload ---- */

struct caller {
    struct ctx *c;
    uint64_t use_val, use_konst;
    atomic_int *stop;
    atomic_ulong *seq; /* even: stable after seq/2 reloads; odd: a reload in progress */
    int v0;            /* prov's version before the first reload */
    atomic_ulong calls;
    unsigned long exact, bad, entered;
    uint64_t bad_x, bad_got;
    unsigned long bad_s1, bad_s2;
    char bad_what[16];
};

static void *caller_main(void *p)
{
    struct caller *k = p;
    struct ctx *c = k->c;
    if (im_link_thread_enter(c->l))
        return NULL;
    k->entered = 1;
    uint64_t x = (uint64_t)(uintptr_t)p & 0xfff;
    while (!atomic_load(k->stop)) {
        x = (x * 5 + 3) & 0xffff;
        unsigned long s1 = atomic_load(k->seq);
        uint64_t a[1] = {x};
        uint64_t r = c->e->call(c->e, c->l, k->use_val, 1, a) & c->mask;
        uint64_t kk = c->e->call(c->e, c->l, k->use_konst, 0, a) & c->mask;
        unsigned long s2 = atomic_load(k->seq);
        im_link_quiescent(c->l);
        int bad = 0;
        const char *what = "use_val";
        if (s1 == s2 && !(s1 & 1)) { /* no reload overlapped: exactly the current version */
            int v = (int)((k->v0 + s1 / 2) & 1);
            if (r != ((prov_val(c, v, x) + 7) & c->mask))
                bad = 1;
            else if (kk != prov_konst(v))
                bad = 1, what = "use_konst";
            k->exact++;
        } else if (r != ((prov_val(c, 0, x) + 7) & c->mask) &&
                   r != ((prov_val(c, 1, x) + 7) & c->mask)) {
            bad = 1;
        } else if (kk != prov_konst(0) && kk != prov_konst(1)) {
            bad = 1, what = "use_konst";
        }
        if (bad && !k->bad++) {
            k->bad_x = x;
            k->bad_got = !strcmp(what, "use_val") ? r : kk;
            k->bad_s1 = s1;
            k->bad_s2 = s2;
            snprintf(k->bad_what, sizeof k->bad_what, "%s", what);
        }
        atomic_fetch_add(&k->calls, 1);
    }
    im_link_thread_leave(c->l);
    return NULL;
}

static int reload_to(struct ctx *c, im_lmod *prov, int v, int *in_place)
{
    const struct mod *m = mod_of(c, v ? "prov_b.s" : "prov_a.s");
    if (!m) {
        fail(c, "prov_%c.s did not assemble", "ab"[v]);
        return 0;
    }
    int err = im_lmod_reload(prov, m->sec, in_place);
    if (err) {
        fail_err(c, err, "reloading module 'prov' with version %c", "AB"[v]);
        return 0;
    }
    c->prov_version = v;
    return 1;
}

static void prog_reload(struct ctx *c)
{
    im_lmod *prov = im_link_module(c->l, "prov");
    if (!prov)
        return;
    check_user(c, c->l, c->prov_version, 40);
    check_slot(c, c->l, "user", "user.s", "val");
    check_slot(c, c->l, "user", "user.s", "konst");

    /* 1. no threads: reloads in place when the new code fits */
    int in_place_seen = 0, fresh_seen = 0;
    uint32_t gen0 = im_lmod_generation(prov);
    for (int i = 0; i < 12; i++) {
        int in_place = -1;
        if (!reload_to(c, prov, !c->prov_version, &in_place))
            return;
        in_place_seen += in_place == 1;
        fresh_seen += in_place == 0;
        check_user(c, c->l, c->prov_version, 10);
        check_slot(c, c->l, "user", "user.s", "val");
        if (c->prov_version)
            check_slot(c, c->l, "prov", "prov_b.s", "host_mul3");
    }
    check(c, im_lmod_generation(prov) - gen0, 12, "generations of 'prov' after 12 reloads");
    check(c, (uint64_t)(in_place_seen + fresh_seen), 12,
          "reloads that said in place (%d) or not (%d)", in_place_seen, fresh_seen);
    check_true(c, in_place_seen > 0,
               "no reload was in place with no thread registered (B -> A fits B's block)");
    check_true(c, fresh_seen > 0, "no reload moved the code (A -> B does not fit A's block)");

    /* 2. threads calling through user's TOC while prov is reloaded */
    if (!c->e->threads || !c->nthreads) {
        printf("  reload: engine %s runs no threads: the threaded part not run\n", c->e->name);
        return;
    }
    uint64_t uv = sym(c, c->l, "user", "use_val"), uk = sym(c, c->l, "user", "use_konst");
    if (!uv || !uk)
        return;
    atomic_int stop = 0;
    atomic_ulong seq = 0;
    unsigned nt = c->nthreads;
    struct caller *k = calloc(nt, sizeof *k);
    pthread_t *th = calloc(nt, sizeof *th);
    if (!k || !th) {
        free(k);
        free(th);
        fail(c, "out of memory");
        return;
    }
    unsigned started = 0;
    for (unsigned i = 0; i < nt; i++) {
        k[i].c = c;
        k[i].use_val = uv;
        k[i].use_konst = uk;
        k[i].stop = &stop;
        k[i].seq = &seq;
        k[i].v0 = c->prov_version;
        atomic_init(&k[i].calls, 0);
        if (pthread_create(&th[i], NULL, caller_main, &k[i])) {
            fail(c, "pthread_create: %s", strerror(errno));
            break;
        }
        started++;
    }
    gen0 = im_lmod_generation(prov);
    int in_place_threads = 0, timeouts = 0;
    unsigned done = 0;
    for (unsigned i = 0; i < c->reloads && started == nt; i++) {
        /* every caller has made a call since the last reload (or started) */
        unsigned long before[64];
        for (unsigned t = 0; t < nt && t < 64; t++)
            before[t] = atomic_load(&k[t].calls);
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (unsigned t = 0; t < nt && t < 64; t++) {
            while (atomic_load(&k[t].calls) < before[t] + 2) {
                struct timespec t1;
                clock_gettime(CLOCK_MONOTONIC, &t1);
                if (t1.tv_sec - t0.tv_sec > 10) {
                    timeouts++;
                    break;
                }
                sched_yield();
            }
        }
        if (timeouts)
            break;
        atomic_fetch_add(&seq, 1); /* odd: reloading */
        int in_place = -1;
        int ok = reload_to(c, prov, !c->prov_version, &in_place);
        atomic_fetch_add(&seq, 1); /* even: stable */
        if (!ok)
            break;
        done++;
        in_place_threads += in_place == 1;
        /* the new version answers from here on */
        check_user(c, c->l, c->prov_version, 2);
    }
    atomic_store(&stop, 1);
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    check(c, timeouts, 0, "caller threads that made no call within 10 s");
    check(c, done, c->reloads, "reloads done under %u calling threads", nt);
    check(c, im_lmod_generation(prov) - gen0, done, "generations of 'prov'");
    check(c, (uint64_t)in_place_threads, 0,
          "reloads in place while registered threads were calling");
    unsigned long calls = 0, exact = 0;
    for (unsigned i = 0; i < started; i++) {
        unsigned long n = atomic_load(&k[i].calls);
        calls += n;
        exact += k[i].exact;
        check_true(c, k[i].entered == 1, "caller thread %u: im_link_thread_enter failed", i);
        c->checks += n ? n - 1 : 0; /* each call is a check; one counted below */
        if (k[i].bad)
            fail(c,
                 "caller thread %u: %lu of %lu results wrong; the first: %s(%" PRIu64
                 ") = 0x%" PRIx64 " with the reload count at %lu before the call and %lu after "
                 "(even and equal: exactly version %c expected; else A's or B's)",
                 i, k[i].bad, n, k[i].bad_what, k[i].bad_x, k[i].bad_got, k[i].bad_s1, k[i].bad_s2,
                 "AB"[(k[i].v0 + k[i].bad_s1 / 2) & 1]);
        else
            check_true(c, 1, "caller thread %u", i);
    }
    check_true(c, exact > 0, "no caller's call fell between two reloads (no exact check)");
    check(c, im_link_collect(c->l), 0, "bytes of retired code left after the callers left");
    printf("  reload: %u reloads under %u threads, %lu calls by them (%lu checked exactly, "
           "the rest one of the two versions), %d in place before\n",
           done, nt, calls, exact, in_place_seen);
    free(k);
    free(th);
}

/* ---- preserve ---- */

/* ---- patch ---- */

/* Patch one instruction of module patch at symbol at: form id with ops, len bytes (the
 * instruction there). */
static int patch_at(struct ctx *c, im_lmod *m, uint64_t at, size_t len, const char *id,
                    const im_operand *ops)
{
    int form = im_form_lookup(c->t, id);
    if (form < 0) {
        fail(c, "no form %s for %s", id, im_target_name(c->t));
        return form;
    }
    return im_lmod_patch(m, (uint32_t)(at - im_lmod_base(m)), len, form, ops);
}

/* The operands of an unconditional branch at `at` to `to` (arm: the condition first). */
static void branch_ops(const struct ctx *c, uint64_t at, uint64_t to, im_operand ops[2])
{
    im_operand rel = {IM_OP_REL, 0, IM_NOREG, IM_NOREG, 0, -1, (int64_t)(to - at)};
    if (c->t == IM_TARGET_ARM)
        ops[0] = im_cond(14), ops[1] = rel;
    else
        ops[0] = rel, ops[1] = im_imm(0);
}

/* k's immediate and jb's branch target changed in loaded code through the assembler's patch
 * API (the write through the arena's other view or the page flip, then the icache flush);
 * each change is seen by the next call, a wrong-length patch is refused and changes nothing,
 * and the patches survive a move. */
static void prog_patch(struct ctx *c)
{
    im_lmod *m = load(c, "patch.s");
    if (!m)
        return;
    uint64_t k = sym(c, c->l, "patch", "k"), jb = sym(c, c->l, "patch", "jb");
    uint64_t t1 = sym(c, c->l, "patch", "t1"), t2 = sym(c, c->l, "patch", "t2");
    if (!k || !jb || !t1 || !t2)
        return;
    c->cur = c->l;
    int x86 = c->t == IM_TARGET_X86_64 || c->t == IM_TARGET_I386;
    const char *mov = x86 ? "mov_r32_imm32" : c->t == IM_TARGET_ARM ? "movw" : "movz_w";
    const char *jmp = x86 ? "jmp_rel8" : "b";
    size_t mov_len = x86 ? 5 : 4, jmp_len = x86 ? 2 : 4;
    check(c, call(c, k, 0, 0, 0, 0), 1000, "k() before patching");
    check(c, call(c, jb, 0, 0, 0, 0), 1, "jb() before patching (to t1)");
    static const unsigned vals[] = {1001, 4242, 65535, 7, 31337};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        im_operand ops[3];
        if (c->t == IM_TARGET_ARM) {
            ops[0] = im_cond(14), ops[1] = im_reg(0), ops[2] = im_imm(vals[i]);
        } else {
            ops[0] = im_reg(0), ops[1] = im_imm(vals[i]), ops[2] = im_imm(0);
        }
        int err = patch_at(c, m, k, mov_len, mov, ops);
        if (err)
            fail_err(c, err, "patching k's immediate to %u", vals[i]);
        else
            check(c, call(c, k, 0, 0, 0, 0), vals[i], "k() after patching its immediate");
    }
    for (int round = 0; round < 4; round++) {
        im_operand ops[2];
        branch_ops(c, jb, round & 1 ? t1 : t2, ops);
        int err = patch_at(c, m, jb, jmp_len, jmp, ops);
        if (err)
            fail_err(c, err, "patching jb's branch to %s", round & 1 ? "t1" : "t2");
        else
            check(c, call(c, jb, 0, 0, 0, 0), round & 1 ? 1 : 2, "jb() after its branch went to %s",
                  round & 1 ? "t1" : "t2");
    }
    /* a patch of the wrong length is refused, and the code is unchanged */
    {
        im_operand ops[2];
        branch_ops(c, jb, t2, ops);
        int err = patch_at(c, m, jb, jmp_len + 4, jmp, ops);
        check_true(c, err < 0, "a patch of %zu bytes over a %zu-byte branch was accepted",
                   jmp_len + 4, jmp_len);
        check(c, call(c, jb, 0, 0, 0, 0), 1, "jb() after a refused patch");
    }
    /* patches move with the code */
    int err = im_lmod_move(m, 0);
    if (err) {
        fail_err(c, err, "moving module 'patch'");
        return;
    }
    k = sym(c, c->l, "patch", "k");
    jb = sym(c, c->l, "patch", "jb");
    check(c, call(c, k, 0, 0, 0, 0), 31337, "k() after a move (patched immediate kept)");
    check(c, call(c, jb, 0, 0, 0, 0), 1, "jb() after a move");
    check(c, im_lmod_unload(m), 0, "unloading module 'patch'");
}

static void prog_preserve(struct ctx *c)
{
    im_image *img = NULL;
    int err = im_link_preserve(c->l, &img);
    if (err) {
        fail_err(c, err, "im_link_preserve");
        return;
    }
    im_link_stats st;
    im_link_get_stats(c->l, &st);
    check(c, img->nsections, st.modules, "sections of the preserved image");
    uint8_t *bytes = NULL;
    size_t len = 0;
    err = im_img_write(img, &bytes, &len);
    im_img_free(img);
    if (err) {
        fail_err(c, err, "im_img_write of the preserved image");
        return;
    }
    im_image *back = NULL;
    err = im_img_read(bytes, len, &back);
    free(bytes);
    if (err) {
        fail_err(c, err, "im_img_read of the preserved image (%zu bytes)", len);
        return;
    }
    im_link *l2 = NULL;
    err = c->e->space(c->e, c->t, &l2);
    if (err) {
        im_img_free(back);
        fail_err(c, err, "a new link space");
        return;
    }
    err = im_link_load_image(l2, back);
    if (err) {
        fail_err(c, err, "loading the preserved image into a new space");
    } else {
        check_fact(c, l2);
        check_fib(c, l2);
        check_copy(c, l2);
        check_host(c, l2);
        check_toc(c, l2);
        check_user(c, l2, c->prov_version, 40);
        im_lmod *m = im_link_module(l2, "prov");
        check(c, m ? im_lmod_generation(m) : 99, 0, "generation of 'prov' in the new space");
    }
    im_link_free(l2);
    im_img_free(back);
}

/* ---- main ---- */

/* The watchdog (--timeout): a program that hangs (a branch into stale code can loop) ends the
 * run with its name instead of holding the suite. */
static const char *volatile g_prog = "start";

static void on_alarm(int sig)
{
    (void)sig;
    static const char a[] = "imago-progs: timed out in program '", b[] = "'\n";
    const char *p = g_prog;
    ssize_t r = write(2, a, sizeof a - 1);
    r += write(2, p, strlen(p));
    r += write(2, b, sizeof b - 1);
    (void)r;
    _exit(1);
}

static void begin(struct ctx *c, const char *name)
{
    c->prog = name;
    g_prog = name;
    printf("%s: ...\n", name);
    fflush(stdout);
    c->checks = c->bad = 0;
}

static void end(struct ctx *c)
{
    if (!c->checks)
        fail(c, "no check ran");
    c->programs++;
    c->total_checks += c->checks;
    c->total_bad += c->bad;
    if (c->bad)
        c->failed_programs++;
    printf("%s: %s checks=%lu mismatches=%lu\n", c->prog, c->bad ? "FAILED" : "ok", c->checks,
           c->bad);
    fflush(stdout);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: imago-progs[-%s] [--engine native|qemu|unicorn] [--target T] "
            "[--reloads N] [--threads N] [--seed N] [--timeout S] [DIR]\n"
            "  Runs the linker programs of DIR (default conformance/programs/<target>/link) "
            "and checks\n"
            "  every result against C (docs/testing.md, \"Linked programs\").\n"
            "  --engine: native runs the code here; qemu is the same when this program runs "
            "under\n"
            "  qemu-user; unicorn (the machine's build/bin/imago-progs only) runs target T's "
            "code\n"
            "  in a unicorn guest (exit 77 where it is not built).\n"
            "  --timeout S: end the run after S seconds (default 600; 0: never), naming "
            "the program.\n",
            im_target_name(im_host_target()));
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (!*s || *end || errno || v > max)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    static struct ctx cx;
    struct ctx *c = &cx;
    c->t = im_host_target();
    c->ptr = sizeof(void *);
    c->mask = c->ptr == 8 ? UINT64_MAX : UINT32_MAX;
    c->reloads = 200;
    c->nthreads = 2;
    c->rng = 0x9e3779b97f4a7c15ull;
    const char *engine = "native";
    const char *target = NULL;
    unsigned timeout = 600;
    char defdir[256];
    snprintf(defdir, sizeof defdir, "conformance/programs/%s/link", im_target_name(c->t));
    c->dir = defdir;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        unsigned long v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--engine") && i + 1 < argc) {
            engine = argv[++i];
        } else if (!strcmp(a, "--target") && i + 1 < argc) {
            target = argv[++i];
        } else if (!strcmp(a, "--reloads") && i + 1 < argc) {
            if (parse_uint(argv[++i], 100000, &v)) {
                fprintf(stderr, "imago-progs: --reloads '%s': a number 0..100000\n", argv[i]);
                return 2;
            }
            c->reloads = (unsigned)v;
        } else if (!strcmp(a, "--threads") && i + 1 < argc) {
            if (parse_uint(argv[++i], 64, &v)) {
                fprintf(stderr, "imago-progs: --threads '%s': a number 0..64\n", argv[i]);
                return 2;
            }
            c->nthreads = (unsigned)v;
        } else if (!strcmp(a, "--timeout") && i + 1 < argc) {
            if (parse_uint(argv[++i], 86400, &v)) {
                fprintf(stderr, "imago-progs: --timeout '%s': seconds 0..86400\n", argv[i]);
                return 2;
            }
            timeout = (unsigned)v;
        } else if (!strcmp(a, "--seed") && i + 1 < argc) {
            if (parse_uint(argv[++i], ULONG_MAX, &v) || !v) {
                fprintf(stderr, "imago-progs: --seed '%s': a non-zero number\n", argv[i]);
                return 2;
            }
            c->rng = v;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "imago-progs: unknown option '%s' (or its value is missing)\n", a);
            usage(stderr);
            return 2;
        } else {
            c->dir = a;
        }
    }
    if (!strcmp(engine, "native") || !strcmp(engine, "qemu")) {
        /* qemu: this very program runs under qemu-user; the code is called the same way */
        c->e = &native_engine;
    } else if (!strcmp(engine, "unicorn")) {
#ifdef IMAGO_PROGS_UNICORN
        c->e = &unicorn_engine;
#else
        fprintf(stderr, "imago-progs: engine unicorn: this build has none (the machine's own "
                        "build/bin/imago-progs runs every target under unicorn)\n");
        return 77;
#endif
    } else {
        fprintf(stderr, "imago-progs: unknown engine '%s' (native, qemu, unicorn)\n", engine);
        return 2;
    }
    if (target) {
        im_target t = im_target_from_name(target);
        if (t == IM_TARGET_NONE) {
            fprintf(stderr, "imago-progs: unknown target '%s'\n", target);
            return 2;
        }
        if (c->e == &native_engine && t != c->t) {
            fprintf(stderr,
                    "imago-progs: --target %s: the native engine runs %s code only "
                    "(use imago-progs-%s)\n",
                    target, im_target_name(c->t), target);
            return 2;
        }
        c->t = t;
        c->ptr = t == IM_TARGET_X86_64 || t == IM_TARGET_AARCH64 ? 8 : 4;
        c->mask = c->ptr == 8 ? UINT64_MAX : UINT32_MAX;
        if (c->dir == defdir)
            snprintf(defdir, sizeof defdir, "conformance/programs/%s/link", target);
    }
    g_engine = c->e;
    g_trace = getenv("IMAGO_PROGS_TRACE") && *getenv("IMAGO_PROGS_TRACE") == '1';
    g_mask = c->mask;
    const char *fault = getenv("IMAGO_FAULT_PROGS");
    if (fault && *fault && strcmp(fault, "0")) {
        c->fault = !strcmp(fault, "1") ? "fact" : fault;
        fprintf(stderr,
                "imago-progs: FAULT INJECTION: IMAGO_FAULT_PROGS=%s (the first expected "
                "value of program '%s' is off by one)\n",
                fault, c->fault);
    }
    uint64_t seed = c->rng;
    printf("imago-progs: target=%s engine=%s dir=%s seed=0x%" PRIx64 " reloads=%u threads=%u\n",
           im_target_name(c->t), engine, c->dir, seed, c->reloads, c->nthreads);
    fflush(stdout);

    if (timeout) {
        signal(SIGALRM, on_alarm);
        alarm(timeout);
    }
    int err = c->e->space(c->e, c->t, &c->l);
    if (err) {
        fprintf(stderr, "imago-progs: cannot make a link space for %s: %s: %s\n",
                im_target_name(c->t), im_strerror(err), im_detail());
        return 1;
    }

    begin(c, "assemble");
    build_all(c);
    end(c);

    begin(c, "fact");
    if (load(c, "fact.s"))
        check_fact(c, c->l);
    end(c);

    begin(c, "fib");
    if (load(c, "fib.s"))
        check_fib(c, c->l);
    end(c);

    begin(c, "copy");
    if (load(c, "copy.s"))
        check_copy(c, c->l);
    end(c);

    begin(c, "host");
    if (load(c, "host.s")) {
        check_host(c, c->l);
        check_slot(c, c->l, "host", "host.s", "host_mul3");
        if (c->e->callbacks)
            check_slot(c, c->l, "host", "host.s", "host_apply");
    }
    end(c);

    begin(c, "toc");
    /* even first: odd's direct call to is_even is bound when odd loads */
    if (load(c, "even.s") && load(c, "odd.s")) {
        im_lmod *ev = im_link_module(c->l, "even"), *od = im_link_module(c->l, "odd");
        check(c, im_lmod_users(ev), 1, "users of module 'even'");
        check(c, im_lmod_users(od), 0, "users of module 'odd' before a call");
        check_toc(c, c->l);
        check_slot(c, c->l, "even", "even.s", "is_odd");
        check(c, im_lmod_users(od), 1, "users of module 'odd' after calls");
        check(c, im_lmod_unload(ev), IM_ERR_BUSY, "unloading 'even' while 'odd' uses it");
    }
    end(c);

    begin(c, "move");
    prog_move(c);
    end(c);

    begin(c, "reload");
    c->prov_version = 0;
    if (load(c, "prov_a.s") && load(c, "user.s"))
        prog_reload(c);
    end(c);

    begin(c, "patch");
    prog_patch(c);
    end(c);

    begin(c, "preserve");
    prog_preserve(c);
    end(c);

    im_link_free(c->l);
    for (int i = 0; i < NMODS; i++)
        im_img_free(c->mods[i].img);
    if (c->fault && !c->fault_done)
        fprintf(stderr, "imago-progs: IMAGO_FAULT_PROGS=%s: no program of that name ran a check\n",
                c->fault);
    printf("progs: target=%s engine=%s programs=%d failed=%d checks=%lu mismatches=%lu\n",
           im_target_name(c->t), engine, c->programs, c->failed_programs, c->total_checks,
           c->total_bad);
    return c->total_bad || (c->fault && !c->fault_done) ? 1 : 0;
}
