/* The native backend of the runtime linker: executable memory from a pooled arena that is
 * never writable and executable at once.
 *
 * An arena chunk is a memory file mapped twice: read+exec where the code runs, read-write
 * elsewhere where the loader writes it (a dual mapping), followed by plain read-write pages
 * for the modules' TOCs (so code reaches its TOC with a 32-bit pc-relative offset). Blocks
 * are carved out of a chunk first-fit at 64-byte granularity, so loading a small module costs
 * no system call; a chunk that becomes empty is unmapped (the first one is kept for reuse).
 * A module placed at a chosen address gets its own mapping instead, written read-write and
 * then flipped to read+exec (mprotect) around every write.
 *
 * The lazy stubs' entry (im__lazy_entry) is here too: it saves the argument registers,
 * calls im_link_lazy with the import's id and jumps to the address it returns. */
#include "link_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define GRAIN 64u                    /* allocation unit inside a chunk */
#define CHUNK_MIN ((size_t)4 << 20) /* code bytes of a chunk (as many again for data) */


struct chunk {
    int fdm;       /* the memory file (kept for remapping the executable view) */
    uint8_t *x;    /* read+exec view of the code half */
    uint8_t *w;    /* read-write view of the same pages */
    uint8_t *d;    /* the data half (x + size), read-write */
    size_t size;   /* bytes of each half */
    size_t used;   /* bytes handed out (both halves) */
    struct im_freelist fc, fd;
    struct chunk *next;
};

/* A block's handle: its chunk, or its own mapping. */
struct handle {
    struct chunk *c; /* NULL: own mapping */
    size_t coff, doff, clen, dlen;
    uint8_t *map; /* own mapping: base (the code), map_len bytes, the data after the code */
    size_t map_len, code_pages;
};

struct arena {
    /* An instruction fetch that does not see writes through the other view (qemu-user keeps
     * code it translated until the executable page itself is written, remapped or
     * unmapped): every write is followed by remapping the written pages of the executable
     * view (the same file pages: an atomic replacement). Set by the probe below. */
    int remap;
    struct chunk *chunks;
    size_t page;
    size_t mapped;
};

static size_t round_up(size_t v, size_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static void flush(void *p, size_t n)
{
    if (n)
        __builtin___clear_cache((char *)p, (char *)p + n);
}

/* The host's trapping instruction over n bytes: int3 on x86, udf on arm (0xe7f000f0) and
 * aarch64 (udf #0, zero). */
static void fill_trap(uint8_t *p, size_t n)
{
#if defined(__x86_64__) || defined(__i386__)
    memset(p, 0xcc, n);
#elif defined(__arm__)
    for (size_t i = 0; i + 4 <= n; i += 4)
        im_put32(p + i, 0xe7f000f0u);
#else
    memset(p, 0, n);
#endif
}

/* ---- free lists ---- */

/* First fit of len bytes whose address (base + offset) is aligned to align. */
int im_fl_take(struct im_freelist *f, uintptr_t base, size_t len, size_t align, size_t *off)
{
    for (size_t i = 0; i < f->n; i++) {
        struct im_extent *e = &f->v[i];
        size_t start = (size_t)(round_up(base + e->off, align) - base);
        if (start < e->off || start - e->off > e->len || e->len - (start - e->off) < len)
            continue;
        size_t end = start + len, eend = e->off + e->len;
        if (start == e->off && end == eend) {
            memmove(e, e + 1, (f->n - i - 1) * sizeof *e);
            f->n--;
        } else if (start == e->off) {
            e->off = end;
            e->len = eend - end;
        } else if (end == eend) {
            e->len = start - e->off;
        } else {
            if (im_grow((void **)&f->v, &f->cap, f->n + 1, sizeof *f->v))
                return -1;
            e = &f->v[i];
            memmove(e + 2, e + 1, (f->n - i - 1) * sizeof *e);
            f->n++;
            e[1].off = end;
            e[1].len = eend - end;
            e->len = start - e->off;
        }
        *off = start;
        return 0;
    }
    return -1;
}

int im_fl_give(struct im_freelist *f, size_t off, size_t len)
{
    size_t i = 0;
    while (i < f->n && f->v[i].off < off)
        i++;
    int join_prev = i > 0 && f->v[i - 1].off + f->v[i - 1].len == off;
    int join_next = i < f->n && off + len == f->v[i].off;
    if (join_prev && join_next) {
        f->v[i - 1].len += len + f->v[i].len;
        memmove(&f->v[i], &f->v[i + 1], (f->n - i - 1) * sizeof *f->v);
        f->n--;
    } else if (join_prev) {
        f->v[i - 1].len += len;
    } else if (join_next) {
        f->v[i].off = off;
        f->v[i].len += len;
    } else {
        if (im_grow((void **)&f->v, &f->cap, f->n + 1, sizeof *f->v))
            return IM_ERR_NOMEM;
        memmove(&f->v[i + 1], &f->v[i], (f->n - i) * sizeof *f->v);
        f->v[i].off = off;
        f->v[i].len = len;
        f->n++;
    }
    return 0;
}

/* ---- chunks ---- */

static void chunk_unmap(struct arena *a, struct chunk *c)
{
    munmap(c->x, 2 * c->size);
    munmap(c->w, c->size);
    close(c->fdm);
    a->mapped -= 3 * c->size;
    free(c->fc.v);
    free(c->fd.v);
    free(c);
}

static int chunk_new(struct arena *a, size_t need, struct chunk **out)
{
    size_t size = CHUNK_MIN;
    while (size < need) {
        if (size > ((size_t)1 << 30))
            return im_fail(IM_ERR_TOO_LARGE, "a block of 0x%zx bytes is larger than an arena chunk",
                           need);
        size *= 2;
    }
    int fd = memfd_create("imago-code", MFD_CLOEXEC);
    if (fd < 0)
        return im_fail(IM_ERR_SYS, "memfd_create for the code arena: %s", strerror(errno));
    if (ftruncate(fd, (off_t)size) != 0) {
        int e = errno;
        close(fd);
        return im_fail(IM_ERR_SYS, "sizing the code arena to 0x%zx bytes: %s", size, strerror(e));
    }
    /* Reserve both halves together so the data half follows the code half. */
    uint8_t *r = mmap(NULL, 2 * size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint8_t *w = r == MAP_FAILED ? MAP_FAILED
                                 : mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    uint8_t *x = w == MAP_FAILED ? MAP_FAILED
                                 : mmap(r, size, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED,
                                        fd, 0);
    int e = errno;
    if (x == MAP_FAILED || mprotect(r + size, size, PROT_READ | PROT_WRITE) != 0) {
        if (x != MAP_FAILED)
            e = errno;
        close(fd);
        if (r != MAP_FAILED)
            munmap(r, 2 * size);
        if (w != MAP_FAILED)
            munmap(w, size);
        return im_fail(IM_ERR_SYS, "mapping a code arena of 0x%zx bytes: %s", size, strerror(e));
    }
    struct chunk *c = calloc(1, sizeof *c);
    if (!c || im_fl_give(&c->fc, 0, size) || im_fl_give(&c->fd, 0, size)) {
        if (c) {
            free(c->fc.v);
            free(c->fd.v);
        }
        free(c);
        munmap(r, 2 * size);
        munmap(w, size);
        close(fd);
        return im_fail(IM_ERR_NOMEM, "arena chunk");
    }
    c->fdm = fd;
    c->x = x;
    c->w = w;
    c->d = r + size;
    c->size = size;
    c->next = a->chunks;
    a->chunks = c;
    a->mapped += 3 * size;
    *out = c;
    return 0;
}

/* ---- the backend ---- */

static int own_alloc(struct arena *a, size_t code_size, size_t data_size, size_t align,
                     uint64_t at, im_lblock *b)
{
    size_t cp = round_up(code_size ? code_size : 1, a->page);
    size_t len = cp + round_up(data_size ? data_size : 1, a->page);
    if (at % (align > a->page ? align : a->page))
        return im_fail(IM_ERR_ALIGN, "load address 0x%llx is not aligned to 0x%zx",
                       (unsigned long long)at, align > a->page ? align : a->page);
    if (at + len - 1 < at || at > UINTPTR_MAX - len)
        return im_fail(IM_ERR_RANGE, "0x%zx bytes at 0x%llx wrap the address space", len,
                       (unsigned long long)at);
    void *p = mmap((void *)(uintptr_t)at, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        return im_fail(IM_ERR_SYS, "cannot map 0x%zx bytes at 0x%llx: %s", len,
                       (unsigned long long)at,
                       errno == EEXIST ? "range is in use" : strerror(errno));
    if ((uintptr_t)p != at) { /* a kernel without MAP_FIXED_NOREPLACE took a hint */
        munmap(p, len);
        return im_fail(IM_ERR_SYS, "cannot map 0x%zx bytes at 0x%llx: range is in use", len,
                       (unsigned long long)at);
    }
    if (mprotect(p, cp, PROT_READ | PROT_EXEC) != 0) {
        int e = errno;
        munmap(p, len);
        return im_fail(IM_ERR_SYS, "mprotect read+exec: %s", strerror(e));
    }
    struct handle *h = calloc(1, sizeof *h);
    if (!h) {
        munmap(p, len);
        return im_fail(IM_ERR_NOMEM, "block handle");
    }
    h->map = p;
    h->map_len = len;
    h->code_pages = cp;
    a->mapped += len;
    b->code = at;
    b->code_size = code_size;
    b->data = at + cp;
    b->data_size = data_size;
    b->h = h;
    return 0;
}

static int ar_alloc(void *ctx, size_t code_size, size_t data_size, size_t align, uint64_t at,
                    im_lblock *b)
{
    struct arena *a = ctx;
    if (at)
        return own_alloc(a, code_size, data_size, align, at, b);
    size_t clen = round_up(code_size ? code_size : 1, GRAIN);
    size_t dlen = round_up(data_size ? data_size : 1, GRAIN);
    size_t al = align > GRAIN ? align : GRAIN;
    for (int pass = 0; pass < 2; pass++) {
        for (struct chunk *c = a->chunks; c; c = c->next) {
            size_t coff, doff;
            if (im_fl_take(&c->fc, (uintptr_t)c->x, clen, al, &coff))
                continue;
            if (im_fl_take(&c->fd, (uintptr_t)c->d, dlen, GRAIN, &doff)) {
                im_fl_give(&c->fc, coff, clen);
                continue;
            }
            struct handle *h = calloc(1, sizeof *h);
            if (!h) {
                im_fl_give(&c->fc, coff, clen);
                im_fl_give(&c->fd, doff, dlen);
                return im_fail(IM_ERR_NOMEM, "block handle");
            }
            h->c = c;
            h->coff = coff;
            h->doff = doff;
            h->clen = clen;
            h->dlen = dlen;
            c->used += clen + dlen;
            b->code = (uint64_t)(uintptr_t)(c->x + coff);
            b->code_size = code_size;
            b->data = (uint64_t)(uintptr_t)(c->d + doff);
            b->data_size = data_size;
            b->h = h;
            return 0;
        }
        if (pass == 0) {
            struct chunk *c;
            int err = chunk_new(a, (clen > dlen ? clen : dlen) + al, &c);
            if (err)
                return err;
        }
    }
    return im_fail(IM_ERR_NOMEM, "no room in a fresh arena chunk");
}

static void ar_release(void *ctx, im_lblock *b)
{
    struct arena *a = ctx;
    struct handle *h = b->h;
    if (!h)
        return;
    if (!h->c) {
        munmap(h->map, h->map_len);
        a->mapped -= h->map_len;
    } else {
        struct chunk *c = h->c;
        /* Fill the freed code with the host's trap so a stray jump into it faults instead of
         * running stale code. */
        fill_trap(c->w + h->coff, h->clen);
        flush(c->x + h->coff, h->clen);
        im_fl_give(&c->fc, h->coff, h->clen);
        im_fl_give(&c->fd, h->doff, h->dlen);
        c->used -= h->clen + h->dlen;
        if (!c->used && !(a->chunks == c && !c->next)) {
            struct chunk **pp = &a->chunks;
            while (*pp != c)
                pp = &(*pp)->next;
            *pp = c->next;
            chunk_unmap(a, c);
        }
    }
    free(h);
    b->h = NULL;
}

static uint8_t *ar_wbegin(void *ctx, im_lblock *b, size_t off, size_t n)
{
    (void)ctx;
    (void)n;
    struct handle *h = b->h;
    if (h->c)
        return h->c->w + h->coff + off;
    if (mprotect(h->map, h->code_pages, PROT_READ | PROT_WRITE) != 0) {
        im_fail(IM_ERR_SYS, "mprotect read-write: %s", strerror(errno));
        return NULL;
    }
    return h->map + off;
}

static int ar_wend(void *ctx, im_lblock *b, size_t off, size_t n)
{
    struct arena *a = ctx;
    struct handle *h = b->h;
    if (h->c && a->remap && n) {
        struct chunk *c = h->c;
        size_t start = (h->coff + off) & ~(a->page - 1);
        size_t end = round_up(h->coff + off + n, a->page);
        if (mmap(c->x + start, end - start, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED,
                 c->fdm, (off_t)start) == MAP_FAILED)
            return im_fail(IM_ERR_SYS, "remapping written code: %s", strerror(errno));
    }
    if (!h->c && mprotect(h->map, h->code_pages, PROT_READ | PROT_EXEC) != 0)
        return im_fail(IM_ERR_SYS, "mprotect read+exec: %s", strerror(errno));
    flush((void *)(uintptr_t)(b->code + off), n);
    return 0;
}

static int ar_read(void *ctx, const im_lblock *b, size_t off, void *dst, size_t n)
{
    (void)ctx;
    memcpy(dst, (const void *)(uintptr_t)(b->code + off), n);
    return 0;
}

static void ar_store(void *ctx, uint64_t addr, uint64_t v, unsigned size)
{
    (void)ctx;
    if (size == 8)
        __atomic_store_n((uint64_t *)(uintptr_t)addr, v, __ATOMIC_RELEASE);
    else
        __atomic_store_n((uint32_t *)(uintptr_t)addr, (uint32_t)v, __ATOMIC_RELEASE);
}

static uint64_t ar_load(void *ctx, uint64_t addr, unsigned size)
{
    (void)ctx;
    if (size == 8)
        return __atomic_load_n((uint64_t *)(uintptr_t)addr, __ATOMIC_ACQUIRE);
    return __atomic_load_n((uint32_t *)(uintptr_t)addr, __ATOMIC_ACQUIRE);
}

static size_t ar_mapped(void *ctx)
{
    return ((struct arena *)ctx)->mapped;
}

static void ar_destroy(void *ctx)
{
    struct arena *a = ctx;
    while (a->chunks) {
        struct chunk *c = a->chunks;
        a->chunks = c->next;
        chunk_unmap(a, c);
    }
    free(a);
}

/* ---- the lazy stubs' entry, for the host's architecture ---- */

#if defined(__x86_64__)
/* r11 = id; the return address on the stack; arguments in rdi rsi rdx rcx r8 r9, xmm0-7, al. */
__asm__(".text\n"
        ".p2align 4\n"
        ".globl im__lazy_entry\n"
        ".hidden im__lazy_entry\n"
        ".type im__lazy_entry, @function\n"
        "im__lazy_entry:\n"
        "  push %rdi\n  push %rsi\n  push %rdx\n  push %rcx\n  push %r8\n  push %r9\n"
        "  push %rax\n"
        "  sub $128, %rsp\n"
        "  movdqu %xmm0, 0(%rsp)\n  movdqu %xmm1, 16(%rsp)\n  movdqu %xmm2, 32(%rsp)\n"
        "  movdqu %xmm3, 48(%rsp)\n  movdqu %xmm4, 64(%rsp)\n  movdqu %xmm5, 80(%rsp)\n"
        "  movdqu %xmm6, 96(%rsp)\n  movdqu %xmm7, 112(%rsp)\n"
        "  mov %r11, %rdi\n"
        "  call im_link_lazy\n"
        "  mov %rax, %r11\n"
        "  movdqu 0(%rsp), %xmm0\n  movdqu 16(%rsp), %xmm1\n  movdqu 32(%rsp), %xmm2\n"
        "  movdqu 48(%rsp), %xmm3\n  movdqu 64(%rsp), %xmm4\n  movdqu 80(%rsp), %xmm5\n"
        "  movdqu 96(%rsp), %xmm6\n  movdqu 112(%rsp), %xmm7\n"
        "  add $128, %rsp\n"
        "  pop %rax\n  pop %r9\n  pop %r8\n  pop %rcx\n  pop %rdx\n  pop %rsi\n  pop %rdi\n"
        "  jmp *%r11\n"
        ".size im__lazy_entry, .-im__lazy_entry\n");
#elif defined(__i386__)
/* [esp] = id, [esp+4] = the return address, the arguments above it (cdecl). */
__asm__(".text\n"
        ".p2align 4\n"
        ".globl im__lazy_entry\n"
        ".hidden im__lazy_entry\n"
        ".type im__lazy_entry, @function\n"
        "im__lazy_entry:\n"
        "  push %eax\n  push %ecx\n  push %edx\n  push %ebx\n"
        "  mov %esp, %ebx\n"
        "  and $-16, %esp\n"
        "  sub $8, %esp\n"
        "  push $0\n"
        "  push 16(%ebx)\n"
        "  call im_link_lazy\n"
        "  mov %ebx, %esp\n"
        "  mov %eax, 16(%esp)\n"
        "  pop %ebx\n  pop %edx\n  pop %ecx\n  pop %eax\n"
        "  ret\n"
        ".size im__lazy_entry, .-im__lazy_entry\n");
#elif defined(__arm__)
/* ip = id, lr = the return address, arguments in r0-r3 and d0-d7 (AAPCS-VFP). */
__asm__(".text\n"
        ".p2align 2\n"
        ".syntax unified\n"
        ".arm\n"
        ".globl im__lazy_entry\n"
        ".hidden im__lazy_entry\n"
        ".type im__lazy_entry, %function\n"
        "im__lazy_entry:\n"
        "  push {r0-r3, ip, lr}\n"
        "  vpush {d0-d7}\n"
        "  mov r0, ip\n"
        "  mov r1, #0\n"
        "  bl im_link_lazy\n"
        "  mov ip, r0\n"
        "  vpop {d0-d7}\n"
        "  pop {r0-r3}\n"
        "  add sp, sp, #4\n"
        "  pop {lr}\n"
        "  bx ip\n"
        ".size im__lazy_entry, .-im__lazy_entry\n"
#if defined(__thumb__)
        ".thumb\n"
#endif
);
#elif defined(__aarch64__)
/* x16 = id, x30 = the return address, arguments in x0-x7, q0-q7, x8 (indirect result). */
__asm__(".text\n"
        ".p2align 2\n"
        ".globl im__lazy_entry\n"
        ".hidden im__lazy_entry\n"
        ".type im__lazy_entry, %function\n"
        "im__lazy_entry:\n"
        "  stp x29, x30, [sp, #-224]!\n"
        "  mov x29, sp\n"
        "  stp x0, x1, [sp, #16]\n  stp x2, x3, [sp, #32]\n"
        "  stp x4, x5, [sp, #48]\n  stp x6, x7, [sp, #64]\n"
        "  stp q0, q1, [sp, #80]\n  stp q2, q3, [sp, #112]\n"
        "  stp q4, q5, [sp, #144]\n  stp q6, q7, [sp, #176]\n"
        "  str x8, [sp, #208]\n"
        "  mov x0, x16\n"
        "  bl im_link_lazy\n"
        "  mov x16, x0\n"
        "  ldp x0, x1, [sp, #16]\n  ldp x2, x3, [sp, #32]\n"
        "  ldp x4, x5, [sp, #48]\n  ldp x6, x7, [sp, #64]\n"
        "  ldp q0, q1, [sp, #80]\n  ldp q2, q3, [sp, #112]\n"
        "  ldp q4, q5, [sp, #144]\n  ldp q6, q7, [sp, #176]\n"
        "  ldr x8, [sp, #208]\n"
        "  ldp x29, x30, [sp], #224\n"
        "  br x16\n"
        ".size im__lazy_entry, .-im__lazy_entry\n");
#else
#error "imago: no lazy-stub entry for this host"
#endif

void im__lazy_entry(void);

/* Does instruction fetch see a write through the read-write view? Run a two-instruction
 * function returning 1, rewrite it through the other view to return 2, flush, run it again.
 * 1 the second time: an emulator that keeps its translation (the arena then remaps). */
static void probe_code(uint8_t *w, int v)
{
#if defined(__x86_64__) || defined(__i386__)
    w[0] = 0xb8; /* mov eax, v; ret */
    im_put32(w + 1, (uint32_t)v);
    w[5] = 0xc3;
#elif defined(__aarch64__)
    im_put32(w, 0x52800000u | ((uint32_t)v << 5)); /* mov w0, #v; ret */
    im_put32(w + 4, 0xd65f03c0u);
#else
    im_put32(w, 0xe3a00000u | (uint32_t)v); /* mov r0, #v; bx lr */
    im_put32(w + 4, 0xe12fff1eu);
#endif
}

static int probe_remap(struct arena *a)
{
    struct chunk *c;
    int err = chunk_new(a, GRAIN, &c);
    if (err)
        return err;
    int (*f)(void);
    void *fp = c->x;
    memcpy(&f, &fp, sizeof f);
    probe_code(c->w, 1);
    flush(c->x, 16);
    int first = f();
    probe_code(c->w, 2);
    flush(c->x, 16);
    int second = f();
    fill_trap(c->w, 16);
    flush(c->x, 16);
    a->remap = first == 1 && second == 1;
    /* the probed page is remapped so nothing stale is left at the chunk's start */
    if (mmap(c->x, a->page, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED, c->fdm, 0) ==
        MAP_FAILED)
        return im_fail(IM_ERR_SYS, "remapping the probed code: %s", strerror(errno));
    if (first != 1 || (second != 1 && second != 2))
        return im_fail(IM_ERR_SYS, "the arena's probe returned %d then %d (expected 1, then 2)",
                       first, second);
    return 0;
}

int im_arena_remaps(const im_link_backend *be)
{
    return be && be->destroy == ar_destroy ? ((struct arena *)be->ctx)->remap : 0;
}

int im_arena_backend(im_link_backend *be)
{
    struct arena *a = calloc(1, sizeof *a);
    if (!a)
        return im_fail(IM_ERR_NOMEM, "arena");
    long pg = sysconf(_SC_PAGESIZE);
    a->page = pg > 0 ? (size_t)pg : 4096;
    int err = probe_remap(a);
    if (err) {
        ar_destroy(a);
        return err;
    }
    memset(be, 0, sizeof *be);
    be->ctx = a;
    be->alloc = ar_alloc;
    be->release = ar_release;
    be->wbegin = ar_wbegin;
    be->wend = ar_wend;
    be->read = ar_read;
    be->store = ar_store;
    be->load = ar_load;
    be->mapped = ar_mapped;
    be->destroy = ar_destroy;
    be->lazy_entry = (uint64_t)(uintptr_t)&im__lazy_entry;
    return 0;
}
