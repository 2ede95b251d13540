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

static int uc_run(im_emu *emu, const char *name, uint32_t off, const int64_t *args, size_t nargs,
                  int64_t *result)
{
    struct uc_priv *p = emu->priv;
    uc_engine *uc = p->uc;
    uint64_t a[4] = {0};
    for (size_t i = 0; i < nargs; i++)
        a[i] = (uint64_t)args[i];
    uint64_t entry = emu->base + off;
    uint64_t top = p->sentinel - 64; /* 16-byte aligned, with room above */
    int err = 0;
    int pc_reg;
    uint8_t buf[20];

    switch (emu->target) {
    case IM_TARGET_X86_64: {
        static const int regs[4] = {UC_X86_REG_RDI, UC_X86_REG_RSI, UC_X86_REG_RDX, UC_X86_REG_RCX};
        uint64_t sp = top - 8; /* entry: rsp + 8 is 16-byte aligned */
        im_put64(buf, p->sentinel);
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
        im_put32(buf, (uint32_t)p->sentinel);
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
            err = wreg32(uc, UC_ARM_REG_LR, (uint32_t)p->sentinel);
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
            err = wreg(uc, UC_ARM64_REG_X30, p->sentinel);
        pc_reg = UC_ARM64_REG_PC;
        break;
    }
    default: return im_fail(IM_ERR_TARGET, "unicorn: unsupported target");
    }
    if (err)
        return err;

    unsigned timeout = im_emu_timeout_ms(IM_EMU_UC_TIMEOUT_MS);
    uc_err e = uc_emu_start(uc, entry, p->sentinel, (uint64_t)timeout * 1000, IM_EMU_UC_MAX_INSNS);
    uint64_t pc = 0;
    if (im_target_ptr_size(emu->target) == 4) {
        uint32_t pc32 = 0;
        uc_reg_read(uc, pc_reg, &pc32);
        pc = pc32;
    } else {
        uc_reg_read(uc, pc_reg, &pc);
    }
    if (e != UC_ERR_OK)
        return im_fail(IM_ERR_ENGINE, "unicorn: %s at pc 0x%llx (calling %s)", uc_strerror(e),
                       (unsigned long long)pc, name);
    if (pc != p->sentinel)
        return im_fail(IM_ERR_ENGINE,
                       "unicorn: %s did not return: stopped at pc 0x%llx (limits: %u ms, %u "
                       "instructions)",
                       name, (unsigned long long)pc, timeout, IM_EMU_UC_MAX_INSNS);

    switch (emu->target) {
    case IM_TARGET_X86_64:
    case IM_TARGET_AARCH64: {
        uint64_t r = 0;
        uc_reg_read(uc, emu->target == IM_TARGET_X86_64 ? UC_X86_REG_RAX : UC_ARM64_REG_X0, &r);
        *result = (int64_t)r;
        break;
    }
    default: {
        uint32_t r = 0;
        uc_reg_read(uc, emu->target == IM_TARGET_I386 ? UC_X86_REG_EAX : UC_ARM_REG_R0, &r);
        *result = (int64_t)(int32_t)r;
        break;
    }
    }
    return 0;
}

/* With a data block: map it read-write (never executable) for the call, copy it in and back. */
static int uc_call(im_emu *emu, const char *name, uint32_t off, const int64_t *args, size_t nargs,
                   const im_emu_data *data, int64_t *result)
{
    if (!data)
        return uc_run(emu, name, off, args, nargs, result);
    struct uc_priv *p = emu->priv;
    uint64_t len = (data->len + p->page - 1) & ~(p->page - 1);
    if (data->addr % p->page)
        return im_fail(IM_ERR_ALIGN, "data block address 0x%llx is not aligned to 0x%llx",
                       (unsigned long long)data->addr, (unsigned long long)p->page);
    if (overlaps(data->addr, len, p->stack, STACK_SIZE + p->page))
        return im_fail(
            IM_ERR_RANGE, "data block 0x%llx..0x%llx overlaps unicorn's stack at 0x%llx..0x%llx",
            (unsigned long long)data->addr, (unsigned long long)(data->addr + len),
            (unsigned long long)p->stack, (unsigned long long)(p->stack + STACK_SIZE + p->page));
    uc_err e = uc_mem_map(p->uc, data->addr, len, UC_PROT_READ | UC_PROT_WRITE);
    if (e != UC_ERR_OK)
        return uc_fail(e, "mapping the data block", data->addr);
    int err = 0;
    uint8_t *back = calloc(1, len);
    if (!back)
        err = im_fail(IM_ERR_NOMEM, "data block copy");
    if (!err) {
        memcpy(back, data->p, data->len); /* the rest of the last page is zero */
        e = uc_mem_write(p->uc, data->addr, back, len);
        if (e != UC_ERR_OK)
            err = uc_fail(e, "writing the data block", data->addr);
    }
    if (!err)
        err = uc_run(emu, name, off, args, nargs, result);
    if (!err) {
        e = uc_mem_read(p->uc, data->addr, back, data->len);
        if (e != UC_ERR_OK)
            err = uc_fail(e, "reading the data block back", data->addr);
        else
            memcpy(data->p, back, data->len);
    }
    free(back);
    uc_mem_unmap(p->uc, data->addr, len);
    return err;
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

#endif /* IMAGO_NO_UNICORN */
