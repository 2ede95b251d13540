/* The unicorn engine: every target in-process through libunicorn.
 *
 * Memory: the code at base (page-rounded), a 1 MiB stack and, right above the
 * stack, one sentinel page whose address is the return address of the call.
 * Emulation runs from the entry until pc reaches the sentinel (docs/engines.md). */
#include "emu_internal.h"

/* Left out of a build without libunicorn (make sets IMAGO_NO_UNICORN for a host
 * that has none); im_emu_open_ex then refuses the engine. */
#ifndef IMAGO_NO_UNICORN

#include <stdlib.h>
#include <string.h>
#include <unicorn/unicorn.h>

#include "core.h"
#include "../loader/link_internal.h"
#include <stdio.h>

#define STACK_SIZE 0x100000u /* 1 MiB */

/* Where the stack and sentinel page may go: the first that does not overlap the code. */
static const uint64_t stack_regions[] = {0x7fe00000u, 0x3fe00000u, 0xbfe00000u, 0x00100000u};

struct uc_priv {
    uc_engine *uc;
    uint64_t page;
    uint64_t code_start, code_len; /* mapped code pages */
    uint64_t stack, sentinel;      /* stack base (STACK_SIZE bytes) and the sentinel page */
    int mapped_code, mapped_stack, mapped_sentinel;
};

static int uc_fail(uc_err e, const char *what, uint64_t pc)
{
    return im_fail(IM_ERR_ENGINE, "unicorn: %s: %s (pc 0x%llx)", what, uc_strerror(e),
                   (unsigned long long)pc);
}

static int uc_open_target(im_emu *emu)
{
    uc_arch arch;
    int mode;
    switch (emu->target) {
    case IM_TARGET_X86_64:
        arch = UC_ARCH_X86;
        mode = UC_MODE_64;
        break;
    case IM_TARGET_I386:
        arch = UC_ARCH_X86;
        mode = UC_MODE_32;
        break;
    case IM_TARGET_ARM:
        arch = UC_ARCH_ARM;
        mode = UC_MODE_ARM;
        break;
    case IM_TARGET_AARCH64:
        arch = UC_ARCH_ARM64;
        mode = UC_MODE_ARM;
        break;
    default:
        return im_fail(IM_ERR_TARGET, "unicorn: no support for target %s",
                       im_target_name(emu->target) ? im_target_name(emu->target) : "?");
    }
    struct uc_priv *p = calloc(1, sizeof *p);
    if (!p)
        return im_fail(IM_ERR_NOMEM, "engine state");
    uc_err e = uc_open(arch, (uc_mode)mode, &p->uc);
    if (e != UC_ERR_OK) {
        free(p);
        return im_fail(IM_ERR_ENGINE, "unicorn: cannot open %s: %s", im_target_name(emu->target),
                       uc_strerror(e));
    }
    if (emu->target == IM_TARGET_ARM) {
        /* ARMv7-A with VFP/NEON, as the hard-float ABI expects. */
        e = uc_ctl_set_cpu_model(p->uc, UC_CPU_ARM_CORTEX_A15);
        if (e != UC_ERR_OK) {
            uc_close(p->uc);
            free(p);
            return im_fail(IM_ERR_ENGINE, "unicorn: cannot select cortex-a15: %s", uc_strerror(e));
        }
    }
    if (emu->target == IM_TARGET_AARCH64) {
        /* "max", qemu-user's default CPU: the default cortex-a72 (ARMv8.0) has no FEAT_FP16,
         * so the h arithmetic of the table would raise UNDEFINED. */
        e = uc_ctl_set_cpu_model(p->uc, UC_CPU_ARM64_MAX);
        if (e != UC_ERR_OK) {
            uc_close(p->uc);
            free(p);
            return im_fail(IM_ERR_ENGINE, "unicorn: cannot select the max aarch64 CPU: %s",
                           uc_strerror(e));
        }
    }
    size_t page = 0;
    if (uc_query(p->uc, UC_QUERY_PAGE_SIZE, &page) != UC_ERR_OK || page == 0)
        page = 4096;
    p->page = page;
    emu->priv = p;
    return 0;
}

static int overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static int uc_load(im_emu *emu, uint64_t base)
{
    struct uc_priv *p = emu->priv;
    const im_section *sec = emu->sec;
    uint64_t page = p->page;
    uint64_t align = sec->align > page ? sec->align : page;
    if (!base)
        base = IM_EMU_DEFAULT_BASE;
    if (base % align)
        return im_fail(IM_ERR_ALIGN, "load address 0x%llx is not aligned to 0x%llx",
                       (unsigned long long)base, (unsigned long long)align);
    uint64_t len = sec->code_size ? (sec->code_size + page - 1) & ~(page - 1) : page;
    uint64_t limit = im_target_ptr_size(emu->target) == 4 ? (uint64_t)1 << 32 : (uint64_t)1 << 48;
    if (base >= limit || len > limit - base)
        return im_fail(IM_ERR_RANGE, "0x%llx bytes at 0x%llx are outside the %s address space",
                       (unsigned long long)len, (unsigned long long)base,
                       im_target_name(emu->target));

    p->stack = 0;
    for (size_t i = 0; i < sizeof stack_regions / sizeof stack_regions[0]; i++) {
        if (!overlaps(stack_regions[i], STACK_SIZE + page, base, len)) {
            p->stack = stack_regions[i];
            break;
        }
    }
    if (!p->stack)
        return im_fail(IM_ERR_ENGINE, "unicorn: no room for the stack next to code at 0x%llx",
                       (unsigned long long)base);
    p->sentinel = p->stack + STACK_SIZE;

    uint8_t *code = malloc(len);
    if (!code)
        return im_fail(IM_ERR_NOMEM, "relocated code copy");
    memset(code, 0, len);
    if (sec->code_size)
        memcpy(code, sec->code, sec->code_size);
    int err = im_section_relocate(sec, code, base);
    if (err) {
        free(code);
        return err;
    }
    /* Guest memory is never writable and executable either: code is read+exec
     * (uc_mem_write is the host writing, which guest permissions do not limit). */
    uc_err e = uc_mem_map(p->uc, base, len, UC_PROT_READ | UC_PROT_EXEC);
    if (e != UC_ERR_OK) {
        free(code);
        return uc_fail(e, "mapping code", base);
    }
    p->mapped_code = 1;
    p->code_start = base;
    p->code_len = len;
    e = uc_mem_write(p->uc, base, code, len);
    free(code);
    if (e != UC_ERR_OK)
        return uc_fail(e, "writing code", base);
    /* Drop translations of whatever was at these addresses before a reload. */
    e = uc_ctl_remove_cache(p->uc, base, base + len);
    if (e != UC_ERR_OK)
        return uc_fail(e, "flushing the translation cache", base);
    e = uc_mem_map(p->uc, p->stack, STACK_SIZE, UC_PROT_READ | UC_PROT_WRITE);
    if (e != UC_ERR_OK)
        return uc_fail(e, "mapping the stack", p->stack);
    p->mapped_stack = 1;
    e = uc_mem_map(p->uc, p->sentinel, page, UC_PROT_READ | UC_PROT_EXEC);
    if (e != UC_ERR_OK)
        return uc_fail(e, "mapping the return page", p->sentinel);
    p->mapped_sentinel = 1;
    emu->base = base;
    return 0;
}

static void uc_unload(im_emu *emu)
{
    struct uc_priv *p = emu->priv;
    if (p->mapped_code)
        uc_mem_unmap(p->uc, p->code_start, p->code_len);
    if (p->mapped_stack)
        uc_mem_unmap(p->uc, p->stack, STACK_SIZE);
    if (p->mapped_sentinel)
        uc_mem_unmap(p->uc, p->sentinel, p->page);
    p->mapped_code = p->mapped_stack = p->mapped_sentinel = 0;
}

static int wreg(uc_engine *uc, int reg, uint64_t v)
{
    uc_err e = uc_reg_write(uc, reg, &v);
    return e == UC_ERR_OK ? 0 : uc_fail(e, "writing a register", 0);
}

/* Registers are written through 64-bit values; 32-bit registers take the low half
 * (unicorn reads the width of the register from the pointer). */
static int wreg32(uc_engine *uc, int reg, uint32_t v)
{
    uc_err e = uc_reg_write(uc, reg, &v);
    return e == UC_ERR_OK ? 0 : uc_fail(e, "writing a register", 0);
}

/* Call entry with up to 4 integer arguments under t's C calling convention, the stack
 * from top (0: just below the sentinel page), the sentinel page as the return address; run
 * until pc reaches the sentinel. *stopped (if given) is set when the run was stopped before
 * it returned (a limit, or uc_emu_stop). */
static int ucx_run(uc_engine *uc, im_target t, uint64_t entry, uint64_t sentinel, uint64_t top,
                   const char *name, const int64_t *args, size_t nargs, int64_t *result,
                   int *stopped)
{
    uint64_t a[4] = {0};
    for (size_t i = 0; i < nargs && i < 4; i++)
        a[i] = (uint64_t)args[i];
    int nested = top != 0; /* a call from a host function: below the interrupted stack */
    if (!nested)
        top = sentinel - 64; /* 16-byte aligned, with room above */
    int err = 0;
    int pc_reg;
    uint8_t buf[20];

    switch (t) {
    case IM_TARGET_X86_64: {
        static const int regs[4] = {UC_X86_REG_RDI, UC_X86_REG_RSI, UC_X86_REG_RDX, UC_X86_REG_RCX};
        uint64_t sp = top - 8; /* entry: rsp + 8 is 16-byte aligned */
        im_put64(buf, sentinel);
        if (uc_mem_write(uc, sp, buf, 8) != UC_ERR_OK)
            return im_fail(IM_ERR_ENGINE, "unicorn: writing the return address");
        for (int i = 0; i < 4 && !err; i++)
            err = wreg(uc, regs[i], a[i]);
        if (!err)
            err = wreg(uc, UC_X86_REG_RSP, sp);
        pc_reg = UC_X86_REG_RIP;
        break;
    }
    case IM_TARGET_I386: {
        uint32_t sp = (uint32_t)top - 4; /* cdecl: return address, then the arguments */
        im_put32(buf, (uint32_t)sentinel);
        for (int i = 0; i < 4; i++)
            im_put32(buf + 4 + 4 * i, (uint32_t)a[i]);
        if (uc_mem_write(uc, sp, buf, 20) != UC_ERR_OK)
            return im_fail(IM_ERR_ENGINE, "unicorn: writing the stack");
        err = wreg32(uc, UC_X86_REG_ESP, sp);
        pc_reg = UC_X86_REG_EIP;
        break;
    }
    case IM_TARGET_ARM: {
        static const int regs[4] = {UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3};
        /* User mode (CPSR.M = 0b10000, A/I/F clear), as under Linux and qemu-user: unicorn
         * resets to Supervisor mode, where mrs reads another mode and I/F set. First, so
         * that sp and lr below are the User-mode ones. */
        err = wreg32(uc, UC_ARM_REG_CPSR, 0x10u);
        for (int i = 0; i < 4 && !err; i++)
            err = wreg32(uc, regs[i], (uint32_t)a[i]);
        if (!err)
            err = wreg32(uc, UC_ARM_REG_SP, (uint32_t)top);
        if (!err)
            err = wreg32(uc, UC_ARM_REG_LR, (uint32_t)sentinel);
        if (!err) /* enable VFP/NEON */
            err = wreg32(uc, UC_ARM_REG_FPEXC, 0x40000000u);
        pc_reg = UC_ARM_REG_PC;
        break;
    }
    case IM_TARGET_AARCH64: {
        static const int regs[4] = {UC_ARM64_REG_X0, UC_ARM64_REG_X1, UC_ARM64_REG_X2,
                                    UC_ARM64_REG_X3};
        for (int i = 0; i < 4 && !err; i++)
            err = wreg(uc, regs[i], a[i]);
        if (!err)
            err = wreg(uc, UC_ARM64_REG_SP, top);
        if (!err)
            err = wreg(uc, UC_ARM64_REG_X30, sentinel);
        pc_reg = UC_ARM64_REG_PC;
        break;
    }
    default: return im_fail(IM_ERR_TARGET, "unicorn: unsupported target");
    }
    if (err)
        return err;

    /* A nested run (top given: a call from a host function) has no timer of its own: a
     * second timer thread breaks unicorn 2.0.1 (qemu_thread_join fails and it aborts); the
     * outer run's timer stops whichever run is going, and im_emu_uc_link_call then stops the
     * outer one too. It keeps the instruction limit: a count of 0 would delete the outer
     * run's counting hook under it, and the outer run then crashed in freed code. */
    unsigned timeout = im_emu_timeout_ms(IM_EMU_UC_TIMEOUT_MS);
    uc_err e = uc_emu_start(uc, entry, sentinel, nested ? 0 : (uint64_t)timeout * 1000,
                            IM_EMU_UC_MAX_INSNS);
    uint64_t pc = 0;
    if (im_target_ptr_size(t) == 4) {
        uint32_t pc32 = 0;
        uc_reg_read(uc, pc_reg, &pc32);
        pc = pc32;
    } else {
        uc_reg_read(uc, pc_reg, &pc);
    }
    if (e != UC_ERR_OK)
        return im_fail(IM_ERR_ENGINE, "unicorn: %s at pc 0x%llx (calling %s)", uc_strerror(e),
                       (unsigned long long)pc, name);
    if (pc != sentinel && stopped)
        *stopped = 1;
    if (pc != sentinel)
        return im_fail(IM_ERR_ENGINE,
                       "unicorn: %s did not return: stopped at pc 0x%llx (limits: %u ms, %u "
                       "instructions)",
                       name, (unsigned long long)pc, timeout, IM_EMU_UC_MAX_INSNS);

    switch (t) {
    case IM_TARGET_X86_64:
    case IM_TARGET_AARCH64: {
        uint64_t r = 0;
        uc_reg_read(uc, t == IM_TARGET_X86_64 ? UC_X86_REG_RAX : UC_ARM64_REG_X0, &r);
        *result = (int64_t)r;
        break;
    }
    default: {
        uint32_t r = 0;
        uc_reg_read(uc, t == IM_TARGET_I386 ? UC_X86_REG_EAX : UC_ARM_REG_R0, &r);
        *result = (int64_t)(int32_t)r;
        break;
    }
    }
    return 0;
}

/* Run entry (ucx_run) with the data block mapped read-write (never executable) at its
 * address for the call (data NULL: none): copied in before, back after a good run. The stack
 * and sentinel (stack .. stack + STACK_SIZE + page) must stay clear of it. */
static int ucx_run_data(uc_engine *uc, im_target t, uint64_t page, uint64_t stack, uint64_t top,
                        uint64_t entry, const char *name, const int64_t *args, size_t nargs,
                        const im_emu_data *data, int64_t *result, int *stopped)
{
    uint64_t sentinel = stack + STACK_SIZE;
    if (!data)
        return ucx_run(uc, t, entry, sentinel, top, name, args, nargs, result, stopped);
    uint64_t len = (data->len + page - 1) & ~(page - 1);
    if (data->addr % page)
        return im_fail(IM_ERR_ALIGN, "data block address 0x%llx is not aligned to 0x%llx",
                       (unsigned long long)data->addr, (unsigned long long)page);
    if (overlaps(data->addr, len, stack, STACK_SIZE + page))
        return im_fail(IM_ERR_RANGE,
                       "data block 0x%llx..0x%llx overlaps unicorn's stack at 0x%llx..0x%llx",
                       (unsigned long long)data->addr, (unsigned long long)(data->addr + len),
                       (unsigned long long)stack, (unsigned long long)(stack + STACK_SIZE + page));
    uc_err e = uc_mem_map(uc, data->addr, len, UC_PROT_READ | UC_PROT_WRITE);
    if (e != UC_ERR_OK)
        return uc_fail(e, "mapping the data block", data->addr);
    int err = 0;
    uint8_t *back = calloc(1, len);
    if (!back)
        err = im_fail(IM_ERR_NOMEM, "data block copy");
    if (!err) {
        memcpy(back, data->p, data->len); /* the rest of the last page is zero */
        e = uc_mem_write(uc, data->addr, back, len);
        if (e != UC_ERR_OK)
            err = uc_fail(e, "writing the data block", data->addr);
    }
    if (!err)
        err = ucx_run(uc, t, entry, sentinel, top, name, args, nargs, result, stopped);
    if (!err) {
        e = uc_mem_read(uc, data->addr, back, data->len);
        if (e != UC_ERR_OK)
            err = uc_fail(e, "reading the data block back", data->addr);
        else
            memcpy(data->p, back, data->len);
    }
    free(back);
    uc_mem_unmap(uc, data->addr, len);
    return err;
}

static int uc_call(im_emu *emu, const char *name, uint32_t off, const int64_t *args, size_t nargs,
                   const im_emu_data *data, int64_t *result)
{
    struct uc_priv *p = emu->priv;
    return ucx_run_data(p->uc, emu->target, p->page, p->stack, 0, emu->base + off, name, args,
                        nargs, data, result, NULL);
}

static void uc_close_engine(im_emu *emu)
{
    struct uc_priv *p = emu->priv;
    if (!p)
        return;
    uc_close(p->uc);
    free(p);
    emu->priv = NULL;
}

const im_emu_ops im_emu_unicorn_ops = {
    .name = "unicorn",
    .open = uc_open_target,
    .load = uc_load,
    .unload = uc_unload,
    .call = uc_call,
    .close = uc_close_engine,
};

/* ---- link spaces in a unicorn guest (im_emu_link_new) ----
 * Guest layout: a trap page (the lazy stubs' entry and one 16-byte trap per host function,
 * hooked), the code arena (read+exec) and, right after it, the data arena (TOCs, read-write),
 * modules placed at chosen addresses mapped where asked, data blocks, and the stack with
 * its sentinel page (as the single-module engine). */

#define UCL_TRAP 0x1f000000u
#define UCL_ARENA 0x20000000u
#define UCL_ARENA_SIZE 0x02000000u /* 32 MiB of code, as much again for data */
#define UCL_DATA 0x60000000u       /* im_emu_link_map blocks */
#define UCL_STACK 0x7fe00000u
#define UCL_MAX_HOSTS 255u

struct ucl_host {
    im_emu_host_fn fn;
    void *ctx;
};

struct ucl_own {
    uint64_t at;
    size_t len;
};

struct ucl {
    uc_engine *uc;
    im_target t;
    uint64_t page;
    struct im_freelist fc, fd;
    struct ucl_host hosts[UCL_MAX_HOSTS];
    unsigned nhosts;
    uint8_t *scratch;
    size_t scratch_cap;
    uint64_t data_next;
    size_t mapped;
    uc_hook hook;
    unsigned depth;  /* calls running: > 0 while a host function runs (it may call in) */
    int abort_outer; /* a nested call was stopped: the calls it ran inside end too */
    int unresolved;  /* a lazy import resolved to nothing: the guest was stopped */
    char why[512];   /* ... and the error's detail */
};

struct ucl_handle {
    int own; /* its own mapping at b->code (code pages, then data pages) */
    size_t coff, doff, clen, dlen, map_len;
};

/* End of the guest range for modules at chosen addresses. */
static uint64_t ucl_limit(const struct ucl *u)
{
    return im_target_ptr_size(u->t) == 4 ? (uint64_t)1 << 32 : (uint64_t)1 << 47;
}

static size_t ucl_round(size_t v, size_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static int ucl_alloc(void *ctx, size_t code_size, size_t data_size, size_t align, uint64_t at,
                     im_lblock *b)
{
    struct ucl *u = ctx;
    struct ucl_handle *h = calloc(1, sizeof *h);
    if (!h)
        return im_fail(IM_ERR_NOMEM, "block handle");
    if (at) {
        size_t cp = ucl_round(code_size ? code_size : 1, u->page);
        size_t dp = ucl_round(data_size ? data_size : 1, u->page);
        uint64_t limit = ucl_limit(u);
        if (at % (align > u->page ? align : u->page) || at >= limit || cp + dp > limit - at) {
            free(h);
            return im_fail(IM_ERR_ALIGN, "unicorn: cannot place 0x%zx bytes at 0x%llx", cp + dp,
                           (unsigned long long)at);
        }
        uc_err e = uc_mem_map(u->uc, at, cp, UC_PROT_READ | UC_PROT_EXEC);
        if (e == UC_ERR_OK) {
            e = uc_mem_map(u->uc, at + cp, dp, UC_PROT_READ | UC_PROT_WRITE);
            if (e != UC_ERR_OK)
                uc_mem_unmap(u->uc, at, cp);
        }
        if (e != UC_ERR_OK) {
            free(h);
            return im_fail(IM_ERR_SYS, "unicorn: cannot map 0x%zx bytes at 0x%llx: %s", cp + dp,
                           (unsigned long long)at, uc_strerror(e));
        }
        h->own = 1;
        h->clen = cp;
        h->map_len = cp + dp;
        u->mapped += cp + dp;
        b->code = at;
        b->data = at + cp;
    } else {
        h->clen = ucl_round(code_size ? code_size : 1, 64);
        h->dlen = ucl_round(data_size ? data_size : 1, 64);
        if (im_fl_take(&u->fc, UCL_ARENA, h->clen, align > 64 ? align : 64, &h->coff)) {
            free(h);
            return im_fail(IM_ERR_NOMEM, "unicorn: the guest's code arena (0x%x bytes) is full",
                           UCL_ARENA_SIZE);
        }
        if (im_fl_take(&u->fd, UCL_ARENA + UCL_ARENA_SIZE, h->dlen, 64, &h->doff)) {
            im_fl_give(&u->fc, h->coff, h->clen);
            free(h);
            return im_fail(IM_ERR_NOMEM, "unicorn: the guest's data arena is full");
        }
        b->code = UCL_ARENA + h->coff;
        b->data = UCL_ARENA + UCL_ARENA_SIZE + h->doff;
    }
    b->code_size = code_size;
    b->data_size = data_size;
    b->h = h;
    return 0;
}

static void ucl_release(void *ctx, im_lblock *b)
{
    struct ucl *u = ctx;
    struct ucl_handle *h = b->h;
    if (!h)
        return;
    if (h->own) {
        uc_mem_unmap(u->uc, b->code, h->map_len);
        u->mapped -= h->map_len;
    } else {
        /* zero the freed code (a stray jump traps) and drop its translations */
        uint8_t z[256] = {0};
        for (size_t o = 0; o < h->clen; o += sizeof z)
            uc_mem_write(u->uc, b->code + o, z, h->clen - o < sizeof z ? h->clen - o : sizeof z);
        uc_ctl_remove_cache(u->uc, b->code, b->code + h->clen);
        im_fl_give(&u->fc, h->coff, h->clen);
        im_fl_give(&u->fd, h->doff, h->dlen);
    }
    free(h);
    b->h = NULL;
}

static uint8_t *ucl_wbegin(void *ctx, im_lblock *b, size_t off, size_t n)
{
    struct ucl *u = ctx;
    if (n > u->scratch_cap) {
        uint8_t *p = realloc(u->scratch, n);
        if (!p) {
            im_fail(IM_ERR_NOMEM, "unicorn: code copy");
            return NULL;
        }
        u->scratch = p;
        u->scratch_cap = n;
    }
    if (n && uc_mem_read(u->uc, b->code + off, u->scratch, n) != UC_ERR_OK) {
        im_fail(IM_ERR_ENGINE, "unicorn: reading code at 0x%llx",
                (unsigned long long)(b->code + off));
        return NULL;
    }
    return u->scratch;
}

static int ucl_wend(void *ctx, im_lblock *b, size_t off, size_t n)
{
    struct ucl *u = ctx;
    if (!n)
        return 0;
    uc_err e = uc_mem_write(u->uc, b->code + off, u->scratch, n);
    if (e == UC_ERR_OK)
        e = uc_ctl_remove_cache(u->uc, b->code + off, b->code + off + n);
    return e == UC_ERR_OK ? 0 : uc_fail(e, "writing code", b->code + off);
}

static int ucl_read(void *ctx, const im_lblock *b, size_t off, void *dst, size_t n)
{
    struct ucl *u = ctx;
    uc_err e = uc_mem_read(u->uc, b->code + off, dst, n);
    return e == UC_ERR_OK ? 0 : uc_fail(e, "reading code", b->code + off);
}

static void ucl_store(void *ctx, uint64_t addr, uint64_t v, unsigned size)
{
    struct ucl *u = ctx;
    uint8_t buf[8];
    im_put64(buf, v);
    uc_mem_write(u->uc, addr, buf, size);
}

static uint64_t ucl_load(void *ctx, uint64_t addr, unsigned size)
{
    struct ucl *u = ctx;
    uint8_t buf[8] = {0};
    uc_mem_read(u->uc, addr, buf, size);
    return im_get64(buf);
}

static size_t ucl_mapped(void *ctx)
{
    return ((struct ucl *)ctx)->mapped;
}

static void ucl_destroy(void *ctx)
{
    struct ucl *u = ctx;
    uc_close(u->uc);
    free(u->fc.v);
    free(u->fd.v);
    free(u->scratch);
    free(u);
}

static uint64_t rd(uc_engine *uc, int reg)
{
    uint64_t v = 0;
    uc_reg_read(uc, reg, &v);
    return v;
}

static uint32_t rd32(uc_engine *uc, int reg)
{
    uint32_t v = 0;
    uc_reg_read(uc, reg, &v);
    return v;
}

/* The trap page: address UCL_TRAP is the lazy stubs' entry, UCL_TRAP + 16 * (k + 1) host
 * function k. */
static void ucl_set_pc(const struct ucl *u, uint64_t pc)
{
    switch (u->t) {
    case IM_TARGET_X86_64: wreg(u->uc, UC_X86_REG_RIP, pc); break;
    case IM_TARGET_I386: wreg32(u->uc, UC_X86_REG_EIP, (uint32_t)pc); break;
    case IM_TARGET_ARM: wreg32(u->uc, UC_ARM_REG_PC, (uint32_t)pc); break;
    default: wreg(u->uc, UC_ARM64_REG_PC, pc); break;
    }
}

static void ucl_trap(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    (void)size;
    struct ucl *u = user;
    uint64_t k = (address - UCL_TRAP) / 16;
    uint8_t buf[8];
    if (k == 0) { /* lazy: the id in the target's scratch register */
        uint64_t id = 0, to;
        switch (u->t) {
        case IM_TARGET_X86_64: id = rd(uc, UC_X86_REG_R11); break;
        case IM_TARGET_I386: {
            uint32_t sp = rd32(uc, UC_X86_REG_ESP);
            uc_mem_read(uc, sp, buf, 4);
            id = im_get32(buf);
            wreg32(uc, UC_X86_REG_ESP, sp + 4);
            break;
        }
        case IM_TARGET_ARM: id = rd32(uc, UC_ARM_REG_R12); break;
        default: id = rd(uc, UC_ARM64_REG_X16); break;
        }
        to = im_link_lazy_try(id);
        if (!to) { /* nothing exports it: stop, and the call says why */
            u->unresolved = 1;
            snprintf(u->why, sizeof u->why, "%s", im_detail());
            uc_emu_stop(uc);
            return;
        }
        ucl_set_pc(u, to);
        return;
    }
    if (k > u->nhosts) {
        uc_emu_stop(uc);
        return;
    }
    const struct ucl_host *h = &u->hosts[k - 1];
    int64_t a[4] = {0};
    uint8_t st[20];
    switch (u->t) { /* the arguments */
    case IM_TARGET_X86_64: {
        static const int regs[4] = {UC_X86_REG_RDI, UC_X86_REG_RSI, UC_X86_REG_RDX, UC_X86_REG_RCX};
        for (int i = 0; i < 4; i++)
            a[i] = (int64_t)rd(uc, regs[i]);
        break;
    }
    case IM_TARGET_I386:
        uc_mem_read(uc, rd32(uc, UC_X86_REG_ESP), st, 20);
        for (int i = 0; i < 4; i++)
            a[i] = (int32_t)im_get32(st + 4 + 4 * i);
        break;
    case IM_TARGET_ARM: {
        static const int regs[4] = {UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3};
        for (int i = 0; i < 4; i++)
            a[i] = (int32_t)rd32(uc, regs[i]);
        break;
    }
    default: {
        static const int regs[4] = {UC_ARM64_REG_X0, UC_ARM64_REG_X1, UC_ARM64_REG_X2,
                                    UC_ARM64_REG_X3};
        for (int i = 0; i < 4; i++)
            a[i] = (int64_t)rd(uc, regs[i]);
        break;
    }
    }
    /* The function may call back into the guest (im_emu_uc_link_call keeps these registers). */
    int64_t r = h->fn(h->ctx, a);
    if (u->abort_outer) {
        /* a call it made was stopped: end this run at its sentinel, and its call reports it
         * (uc_emu_stop does nothing once a nested run has ended) */
        ucl_set_pc(u, UCL_STACK + STACK_SIZE);
        return;
    }
    switch (u->t) { /* the result, and back to the caller */
    case IM_TARGET_X86_64: {
        uint64_t sp = rd(uc, UC_X86_REG_RSP);
        uc_mem_read(uc, sp, buf, 8);
        wreg(uc, UC_X86_REG_RAX, (uint64_t)r);
        wreg(uc, UC_X86_REG_RSP, sp + 8);
        ucl_set_pc(u, im_get64(buf));
        break;
    }
    case IM_TARGET_I386: {
        uint32_t sp = rd32(uc, UC_X86_REG_ESP);
        uc_mem_read(uc, sp, buf, 4);
        wreg32(uc, UC_X86_REG_EAX, (uint32_t)r);
        wreg32(uc, UC_X86_REG_ESP, sp + 4);
        ucl_set_pc(u, im_get32(buf));
        break;
    }
    case IM_TARGET_ARM:
        wreg32(uc, UC_ARM_REG_R0, (uint32_t)r);
        ucl_set_pc(u, rd32(uc, UC_ARM_REG_LR));
        break;
    default:
        wreg(uc, UC_ARM64_REG_X0, (uint64_t)r);
        ucl_set_pc(u, rd(uc, UC_ARM64_REG_X30));
        break;
    }
}

static struct ucl *ucl_of(struct im_link *l)
{
    const im_link_backend *be = im_link_get_backend(l);
    return be && be->destroy == ucl_destroy ? be->ctx : NULL;
}

int im_emu_uc_link_new(im_target t, struct im_link **out)
{
    im_emu tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.target = t;
    int err = uc_open_target(&tmp);
    if (err)
        return err;
    struct uc_priv *p = tmp.priv;
    struct ucl *u = calloc(1, sizeof *u);
    if (!u) {
        uc_close(p->uc);
        free(p);
        return im_fail(IM_ERR_NOMEM, "unicorn link space");
    }
    u->uc = p->uc;
    u->t = t;
    u->page = p->page;
    free(p);
    uc_err e = uc_mem_map(u->uc, UCL_TRAP, u->page, UC_PROT_READ | UC_PROT_EXEC);
    if (e == UC_ERR_OK)
        e = uc_mem_map(u->uc, UCL_ARENA, UCL_ARENA_SIZE, UC_PROT_READ | UC_PROT_EXEC);
    if (e == UC_ERR_OK)
        e = uc_mem_map(u->uc, UCL_ARENA + UCL_ARENA_SIZE, UCL_ARENA_SIZE,
                       UC_PROT_READ | UC_PROT_WRITE);
    if (e == UC_ERR_OK)
        e = uc_mem_map(u->uc, UCL_STACK, STACK_SIZE, UC_PROT_READ | UC_PROT_WRITE);
    if (e == UC_ERR_OK)
        e = uc_mem_map(u->uc, UCL_STACK + STACK_SIZE, u->page, UC_PROT_READ | UC_PROT_EXEC);
    if (e == UC_ERR_OK)
        e = uc_hook_add(u->uc, &u->hook, UC_HOOK_CODE, (void *)ucl_trap, u, UCL_TRAP,
                        UCL_TRAP + u->page - 1);
    if (e != UC_ERR_OK || im_fl_give(&u->fc, 0, UCL_ARENA_SIZE) ||
        im_fl_give(&u->fd, 0, UCL_ARENA_SIZE)) {
        ucl_destroy(u);
        return e != UC_ERR_OK ? uc_fail(e, "setting up the link space", 0)
                              : im_fail(IM_ERR_NOMEM, "unicorn arena");
    }
    u->mapped = 2 * (size_t)UCL_ARENA_SIZE;
    u->data_next = UCL_DATA;
    /* The trap page is zero-filled: the hook acts on every address of it before any of
     * its bytes runs. */
    im_link_backend be = {u,         ucl_alloc, ucl_release, ucl_wbegin,  ucl_wend, ucl_read,
                          ucl_store, ucl_load,  ucl_mapped,  ucl_destroy, UCL_TRAP};
    err = im_link_new_backend(t, &be, out);
    if (err)
        ucl_destroy(u);
    return err;
}

int im_emu_link_host(struct im_link *l, const char *name, im_emu_host_fn fn, void *ctx)
{
    struct ucl *u = ucl_of(l);
    if (!u || !fn)
        return im_fail(IM_ERR_INVAL, "im_emu_link_host: not a unicorn link space, or no function");
    if (u->nhosts == UCL_MAX_HOSTS || (u->nhosts + 2) * 16 > u->page)
        return im_fail(IM_ERR_TOO_LARGE, "unicorn: at most %u host functions", UCL_MAX_HOSTS);
    u->hosts[u->nhosts] = (struct ucl_host){fn, ctx};
    int err = im_link_host(l, name, UCL_TRAP + 16 * (uint64_t)(u->nhosts + 1));
    if (!err)
        u->nhosts++;
    return err;
}

/* The guest's stack pointer. */
static uint64_t ucl_sp(const struct ucl *u)
{
    switch (u->t) {
    case IM_TARGET_X86_64: return rd(u->uc, UC_X86_REG_RSP);
    case IM_TARGET_I386: return rd32(u->uc, UC_X86_REG_ESP);
    case IM_TARGET_ARM: return rd32(u->uc, UC_ARM_REG_SP);
    default: return rd(u->uc, UC_ARM64_REG_SP);
    }
}

/* Below the stack pointer of the code a nested call interrupts: past x86-64's 128-byte red
 * zone, 16-byte aligned. */
#define UCL_NEST_GAP 256u

int im_emu_uc_link_call(struct im_link *l, uint64_t addr, const int64_t *args, size_t nargs,
                        const im_emu_data *d, int64_t *result)
{
    struct ucl *u = ucl_of(l);
    if (!u || !result || nargs > 4 || (nargs && !args))
        return im_fail(IM_ERR_INVAL, "im_emu_link_call: not a unicorn link space, or bad "
                                     "arguments");
    int err = im_emu_check_args(u->t, args, nargs);
    if (err)
        return err;
    char name[32];
    snprintf(name, sizeof name, "0x%llx", (unsigned long long)addr);
    /* From a host function (a hook of a running call): the interrupted code's registers are
     * kept and given back, and this call's frames go below its stack. */
    uc_context *outer = NULL;
    uint64_t top = 0;
    if (u->depth) {
        uint64_t sp = ucl_sp(u);
        if (sp < UCL_STACK + UCL_NEST_GAP + 4096 || sp > UCL_STACK + STACK_SIZE)
            return im_fail(IM_ERR_RANGE,
                           "unicorn: a call from a host function at depth %u: the stack "
                           "pointer 0x%llx leaves no room on the guest stack",
                           u->depth, (unsigned long long)sp);
        top = (sp - UCL_NEST_GAP) & ~(uint64_t)15;
        uc_err e = uc_context_alloc(u->uc, &outer);
        if (e == UC_ERR_OK)
            e = uc_context_save(u->uc, outer);
        if (e != UC_ERR_OK) {
            if (outer)
                uc_context_free(outer);
            return uc_fail(e, "saving the registers of the interrupted call", 0);
        }
    }
    int outer_unresolved = u->unresolved;
    u->unresolved = 0;
    u->depth++;
    int stopped = 0;
    err = ucx_run_data(u->uc, u->t, u->page, UCL_STACK, top, addr, name, args, nargs, d, result,
                       &stopped);
    u->depth--;
    int unresolved = u->unresolved;
    if (unresolved) /* the trap stopped the guest: that, not where it stopped, is the error */
        err = im_fail(IM_ERR_UNRESOLVED, "%s", u->why);
    u->unresolved = outer_unresolved;
    if (u->abort_outer) { /* a call from a host function inside this one was stopped */
        err = im_fail(IM_ERR_ENGINE,
                      "unicorn: %s did not return: a call from a host function inside it was "
                      "stopped (limits: %u ms, %u instructions)",
                      name, im_emu_timeout_ms(IM_EMU_UC_TIMEOUT_MS), IM_EMU_UC_MAX_INSNS);
        if (!u->depth)
            u->abort_outer = 0;
    }
    if (outer) {
        uc_err e = uc_context_restore(u->uc, outer);
        uc_context_free(outer);
        if (e != UC_ERR_OK && !err)
            err = uc_fail(e, "restoring the registers of the interrupted call", 0);
        /* The outer run's timer (or a limit) stopped this run: the interrupted runs end too
         * once their host functions return (ucl_trap), each call saying it did not return. */
        if (stopped && !unresolved)
            u->abort_outer = 1;
    }
    return err;
}

int im_emu_link_call(struct im_link *l, uint64_t addr, const int64_t *args, size_t nargs,
                     int64_t *result)
{
    return im_emu_uc_link_call(l, addr, args, nargs, NULL, result);
}

int im_emu_link_map(struct im_link *l, size_t len, uint64_t *addr)
{
    struct ucl *u = ucl_of(l);
    if (!u || !addr || !len)
        return im_fail(IM_ERR_INVAL, "im_emu_link_map: not a unicorn link space");
    size_t n = ucl_round(len, u->page);
    if (u->data_next + n > UCL_STACK)
        return im_fail(IM_ERR_NOMEM, "unicorn: no room for 0x%zx bytes of data", len);
    uc_err e = uc_mem_map(u->uc, u->data_next, n, UC_PROT_READ | UC_PROT_WRITE);
    if (e != UC_ERR_OK)
        return uc_fail(e, "mapping data", u->data_next);
    *addr = u->data_next;
    u->data_next += n;
    u->mapped += n;
    return 0;
}

int im_emu_link_write(struct im_link *l, uint64_t addr, const void *src, size_t len)
{
    struct ucl *u = ucl_of(l);
    if (!u)
        return im_fail(IM_ERR_INVAL, "im_emu_link_write: not a unicorn link space");
    uc_err e = uc_mem_write(u->uc, addr, src, len);
    return e == UC_ERR_OK ? 0 : uc_fail(e, "writing guest data", addr);
}

int im_emu_link_range_free(struct im_link *l, uint64_t addr, size_t len)
{
    struct ucl *u = ucl_of(l);
    if (!u || !len || addr >= ucl_limit(u) || len > ucl_limit(u) - addr)
        return 0;
    uc_mem_region *r = NULL;
    uint32_t n = 0;
    if (uc_mem_regions(u->uc, &r, &n) != UC_ERR_OK)
        return 0;
    int free_ = 1;
    for (uint32_t i = 0; i < n && free_; i++) /* r[i].end is the region's last byte */
        if (addr <= r[i].end && r[i].begin < addr + len)
            free_ = 0;
    uc_free(r);
    return free_;
}

int im_emu_link_read(struct im_link *l, uint64_t addr, void *dst, size_t len)
{
    struct ucl *u = ucl_of(l);
    if (!u)
        return im_fail(IM_ERR_INVAL, "im_emu_link_read: not a unicorn link space");
    uc_err e = uc_mem_read(u->uc, addr, dst, len);
    return e == UC_ERR_OK ? 0 : uc_fail(e, "reading guest data", addr);
}

#endif /* IMAGO_NO_UNICORN */
