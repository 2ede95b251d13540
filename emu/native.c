/* The native engine, in-process: target == host. im_load then a direct call. */
#include "emu_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "core.h"
#include "imago/loader.h"

typedef intptr_t (*entry_fn)(intptr_t, intptr_t, intptr_t, intptr_t);

/* Tries at the default base before the engine gives up on finding a free range. */
#define DEFAULT_BASE_TRIES 64
#define DEFAULT_BASE_STEP 0x1000000u /* 16 MiB */

static int native_open(im_emu *emu)
{
    if (emu->target != im_host_target())
        return im_fail(IM_ERR_ENGINE, "the in-process native engine runs only %s code",
                       im_target_name(im_host_target()));
    return 0;
}

static int native_load(im_emu *emu, uint64_t base)
{
    im_module *m = NULL;
    int err;
    if (base > UINTPTR_MAX)
        return im_fail(IM_ERR_RANGE, "base 0x%llx is outside the %s address space",
                       (unsigned long long)base, im_target_name(emu->target));
    if (base) {
        err = im_load(emu->img, emu->target, (uintptr_t)base, &m);
    } else {
        /* The default base, or the next free range above it (another module may be there). */
        uint64_t step = DEFAULT_BASE_STEP;
        uint64_t size = emu->sec->code_size;
        while (step < size)
            step *= 2;
        err = IM_ERR_SYS;
        for (int i = 0; i < DEFAULT_BASE_TRIES && err == IM_ERR_SYS; i++) {
            uint64_t b = IM_EMU_DEFAULT_BASE + (uint64_t)i * step;
            if (b > UINTPTR_MAX)
                break;
            err = im_load(emu->img, emu->target, (uintptr_t)b, &m);
        }
    }
    if (err)
        return err;
    emu->priv = m;
    emu->base = im_module_base(m);
    return 0;
}

static void native_unload(im_emu *emu)
{
    im_unload(emu->priv);
    emu->priv = NULL;
}

/* Map the data block read-write at its address (never replacing a mapping) and copy it in. */
int im_emu_map_data(const im_emu_data *d, void **mapped, size_t *maplen)
{
    size_t page = 4096;
    size_t n = (d->len + page - 1) & ~(page - 1);
    if (d->addr > UINTPTR_MAX || n > UINTPTR_MAX - (uintptr_t)d->addr)
        return im_fail(IM_ERR_RANGE, "data block address 0x%llx is outside this address space",
                       (unsigned long long)d->addr);
    void *want = (void *)(uintptr_t)d->addr;
    void *p = mmap(want, n, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        return im_fail(IM_ERR_ENGINE, "cannot map the data block at 0x%llx (%zu bytes): %s",
                       (unsigned long long)d->addr, n, strerror(errno));
    if (p != want) { /* a kernel older than MAP_FIXED_NOREPLACE treats it as a hint */
        munmap(p, n);
        return im_fail(IM_ERR_ENGINE, "cannot map the data block at 0x%llx: range in use",
                       (unsigned long long)d->addr);
    }
    memcpy(p, d->p, d->len);
    *mapped = p;
    *maplen = n;
    return 0;
}

int im_emu_native_invoke(uint64_t addr, const int64_t *args, size_t nargs, const im_emu_data *d,
                         int64_t *result)
{
    void *block = NULL;
    size_t blen = 0;
    if (d) {
        int err = im_emu_map_data(d, &block, &blen);
        if (err)
            return err;
    }
    intptr_t a[4] = {0};
    for (size_t i = 0; i < nargs && i < 4; i++)
        a[i] = (intptr_t)args[i];
    entry_fn f;
    uintptr_t at = (uintptr_t)addr;
    memcpy(&f, &at, sizeof f);
    *result = (int64_t)f(a[0], a[1], a[2], a[3]);
    if (d) {
        memcpy(d->p, block, d->len);
        munmap(block, blen);
    }
    return 0;
}

static int native_call(im_emu *emu, const char *name, uint32_t off, const int64_t *args,
                       size_t nargs, const im_emu_data *data, int64_t *result)
{
    im_module *m = emu->priv;
    void *p = im_module_symbol(m, name);
    if (!p)
        return im_fail(IM_ERR_NOSYM, "no symbol '%s' in the loaded module", name);
    (void)off;
    return im_emu_native_invoke((uint64_t)(uintptr_t)p, args, nargs, data, result);
}

static void native_close(im_emu *emu)
{
    (void)emu;
}

const im_emu_ops im_emu_native_ops = {
    .name = "native",
    .open = native_open,
    .load = native_load,
    .unload = native_unload,
    .call = native_call,
    .close = native_close,
};
