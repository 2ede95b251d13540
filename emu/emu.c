/* Engines: the one interface in front of the backends (native, qemu, unicorn). */
#include "emu_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "imago/link.h"

static const char *const engine_names[] = {
    [IM_ENGINE_NATIVE] = "native",
    [IM_ENGINE_QEMU] = "qemu",
    [IM_ENGINE_UNICORN] = "unicorn",
};

const char *im_engine_name(im_engine e)
{
    if ((unsigned)e >= sizeof engine_names / sizeof engine_names[0])
        return NULL;
    return engine_names[e];
}

im_engine im_engine_from_name(const char *name)
{
    if (!name)
        return IM_ENGINE_NONE;
    for (unsigned i = 1; i < sizeof engine_names / sizeof engine_names[0]; i++)
        if (engine_names[i] && strcmp(engine_names[i], name) == 0)
            return (im_engine)i;
    return IM_ENGINE_NONE;
}

/* ---- runner directory ---------------------------------------------------- */

static char runner_dir[4096];

void im_emu_set_runner_dir(const char *dir)
{
    if (!dir) {
        runner_dir[0] = '\0';
        return;
    }
    snprintf(runner_dir, sizeof runner_dir, "%s", dir);
}

int im_emu_runner_dir(char *buf, size_t size)
{
    const char *env = getenv("IMAGO_RUNNER_DIR");
    const char *dir = runner_dir[0] ? runner_dir : (env && *env) ? env : NULL;
    if (dir) {
        if ((size_t)snprintf(buf, size, "%s", dir) >= size)
            return im_fail(IM_ERR_INVAL, "runner directory name is too long");
        return 0;
    }
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    if (n < 0)
        return im_fail(IM_ERR_SYS, "readlink /proc/self/exe: %s", strerror(errno));
    if ((size_t)n >= size - 1)
        return im_fail(IM_ERR_INVAL, "executable path is too long");
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash)
        return im_fail(IM_ERR_SYS, "/proc/self/exe gives '%s', not a path", buf);
    if (slash == buf)
        slash[1] = '\0';
    else
        *slash = '\0';
    return 0;
}

/* ---- helpers shared by the backends -------------------------------------- */

int im_emu_engine_built(im_engine e)
{
    switch (e) {
    case IM_ENGINE_NATIVE:
    case IM_ENGINE_QEMU: return 1;
    case IM_ENGINE_UNICORN:
#ifdef IMAGO_NO_UNICORN
        return 0;
#else
        return 1;
#endif
    default: return 0;
    }
}

int im_emu_native_supports(im_target t)
{
    im_target host = im_host_target();
    return t == host || (host == IM_TARGET_X86_64 && t == IM_TARGET_I386);
}

unsigned im_emu_timeout_ms(unsigned def)
{
    const char *env = getenv("IMAGO_EMU_TIMEOUT_MS");
    if (!env || !*env)
        return def;
    char *end;
    unsigned long v = strtoul(env, &end, 10);
    if (*end || v == 0 || v > 24ul * 3600 * 1000)
        return def;
    return (unsigned)v;
}

int im_emu_check_args(im_target t, const int64_t *args, size_t nargs)
{
    if (nargs > 4)
        return im_fail(IM_ERR_INVAL, "%zu arguments; at most 4 are passed", nargs);
    if (nargs && !args)
        return im_fail(IM_ERR_INVAL, "%zu arguments but no argument array", nargs);
    if (im_target_ptr_size(t) != 4)
        return 0;
    for (size_t i = 0; i < nargs; i++)
        if (args[i] < INT32_MIN || args[i] > (int64_t)UINT32_MAX)
            return im_fail(IM_ERR_RANGE, "argument %zu (%lld) does not fit a 32-bit %s register", i,
                           (long long)args[i], im_target_name(t));
    return 0;
}

/* ---- the interface -------------------------------------------------------- */

int im_emu_open(im_engine e, im_target t, im_emu **out)
{
    return im_emu_open_ex(e, t, 0, out);
}

int im_emu_open_ex(im_engine e, im_target t, unsigned flags, im_emu **out)
{
    if (!out)
        return im_fail(IM_ERR_INVAL, "im_emu_open: NULL output");
    *out = NULL;
    if (!im_target_name(t) || t == IM_TARGET_NONE)
        return im_fail(IM_ERR_TARGET, "unknown target %d", (int)t);
    const im_emu_ops *ops;
    switch (e) {
    case IM_ENGINE_NATIVE:
        if (t == im_host_target() && !(flags & IM_EMU_ISOLATED))
            ops = &im_emu_native_ops;
        else if (im_emu_native_supports(t))
            ops = &im_emu_runner_ops;
        else
            return im_fail(IM_ERR_ENGINE, "the native engine cannot run %s code on a %s host",
                           im_target_name(t), im_target_name(im_host_target()));
        break;
    case IM_ENGINE_QEMU: ops = &im_emu_qemu_ops; break;
    case IM_ENGINE_UNICORN:
#ifdef IMAGO_NO_UNICORN
        return im_fail(IM_ERR_ENGINE,
                       "this imago (built for a %s host) has no unicorn engine: no libunicorn was "
                       "found for that host when it was built",
                       im_target_name(im_host_target()));
#else
        ops = &im_emu_unicorn_ops;
        break;
#endif
    default: return im_fail(IM_ERR_ENGINE, "unknown engine %d", (int)e);
    }
    im_emu *emu = calloc(1, sizeof *emu);
    if (!emu)
        return im_fail(IM_ERR_NOMEM, "engine");
    emu->ops = ops;
    emu->engine = e;
    emu->target = t;
    int err = ops->open(emu);
    if (err) {
        free(emu);
        return err;
    }
    *out = emu;
    return 0;
}

static void drop_load(im_emu *emu)
{
    if (emu->link) { /* linked in this process: the backend loaded nothing */
        im_link_free(emu->link);
        emu->link = NULL;
    } else if (emu->img) {
        emu->ops->unload(emu);
    }
    im_img_free(emu->img);
    free(emu->module);
    emu->module = NULL;
    emu->img = NULL;
    emu->sec = NULL;
    emu->base = 0;
}

int im_emu_load(im_emu *emu, const im_image *img, uint64_t base)
{
    if (!emu || !img)
        return im_fail(IM_ERR_INVAL, "im_emu_load: NULL argument");
    const im_section *sec = im_img_section(img, emu->target);
    if (!sec)
        return im_fail(IM_ERR_NOSECTION, "image has no %s section", im_target_name(emu->target));
    drop_load(emu);
    im_image *copy = im_img_new();
    if (!copy)
        return im_fail(IM_ERR_NOMEM, "engine image copy");
    int err = im_img_add_section(copy, sec);
    if (err) {
        im_img_free(copy);
        return err;
    }
    emu->img = copy;
    emu->sec = &copy->sections[0];
    err = emu->ops->load(emu, base);
    if (err) {
        emu->ops->unload(emu);
        im_img_free(emu->img);
        emu->img = NULL;
        emu->sec = NULL;
        emu->base = 0;
    }
    return err;
}

int im_emu_load_linked(im_emu *emu, const im_image *img, const char *module)
{
    if (!emu || !img)
        return im_fail(IM_ERR_INVAL, "im_emu_load_linked: NULL argument");
    const char *tn = im_target_name(emu->target);
    const im_section *sec = module ? im_img_module_section(img, module, emu->target) : NULL;
    for (uint32_t i = 0; i < img->nsections && !module && !sec; i++)
        if (img->sections[i].target == emu->target)
            sec = &img->sections[i];
    if (!sec)
        return module ? im_fail(IM_ERR_NOSECTION, "module '%s' has no %s section", module, tn)
                      : im_fail(IM_ERR_NOSECTION, "image has no %s section", tn);
    drop_load(emu);
    /* A copy holding the target's sections, in the image's order (it sets the load order). */
    im_image *copy = im_img_new();
    int err = copy ? 0 : im_fail(IM_ERR_NOMEM, "engine image copy");
    for (uint32_t i = 0; i < img->nsections && !err; i++)
        if (img->sections[i].target == emu->target)
            err = im_img_add_section(copy, &img->sections[i]);
    const char *name = sec->module && sec->module[0] ? sec->module : IM_DEFAULT_MODULE;
    if (!err && !(emu->module = strdup(name)))
        err = im_fail(IM_ERR_NOMEM, "module name");
    if (err) {
        im_img_free(copy);
        return err;
    }
    emu->img = copy;
    emu->sec = im_img_module_section(copy, name, emu->target);
    if (emu->ops->load_linked) {
        err = emu->ops->load_linked(emu);
    } else {
        err = im_emu_link_new(emu->engine, emu->target, &emu->link);
        if (!err)
            err = im_link_load_image(emu->link, copy);
        im_lmod *m = err ? NULL : im_link_module(emu->link, name);
        if (!err && !m)
            err = im_fail(IM_ERR_NOSECTION, "module '%s' was not loaded", name);
        if (!err)
            emu->base = im_lmod_base(m);
    }
    if (err)
        drop_load(emu);
    return err;
}

/* A call into a module linked in this process (im_emu_load_linked, native or unicorn). */
static int linked_call(im_emu *emu, const char *entry, const int64_t *args, size_t nargs,
                       const im_emu_data *d, int64_t *result)
{
    im_lmod *m = im_link_module(emu->link, emu->module);
    uint64_t at = m ? im_lmod_symbol(m, entry) : 0;
    if (!at)
        return im_fail(IM_ERR_NOSYM, "no symbol '%s' in module '%s'", entry, emu->module);
#ifndef IMAGO_NO_UNICORN
    if (emu->engine == IM_ENGINE_UNICORN)
        return im_emu_uc_link_call(emu->link, at, args, nargs, d, result);
#endif
    return im_emu_native_invoke(at, args, nargs, d, result);
}

/* Check the call and find the entry's offset; *entry may be NULL (the default entry). */
static int call_prepare(im_emu *emu, const char **entry, const int64_t *args, size_t nargs,
                        int64_t *result, uint32_t *off)
{
    if (!emu || !result)
        return im_fail(IM_ERR_INVAL, "im_emu_call: NULL argument");
    if (!emu->sec)
        return im_fail(IM_ERR_INVAL, "im_emu_call: nothing loaded");
    int err = im_emu_check_args(emu->target, args, nargs);
    if (err)
        return err;
    if (!*entry) {
        *entry = im_section_default_entry(emu->sec);
        if (!*entry)
            return im_fail(IM_ERR_NOSYM, "the %s section has no 'main' and no function symbol",
                           im_target_name(emu->target));
    }
    return im_section_find_symbol(emu->sec, *entry, off);
}

int im_emu_call(im_emu *emu, const char *entry, const int64_t *args, size_t nargs, int64_t *result)
{
    uint32_t off;
    int err = call_prepare(emu, &entry, args, nargs, result, &off);
    if (err)
        return err;
    if (emu->link)
        return linked_call(emu, entry, args, nargs, NULL, result);
    return emu->ops->call(emu, entry, off, args, nargs, NULL, result);
}

int im_emu_call_data(im_emu *emu, const char *entry, void *data, size_t len, uint64_t data_addr,
                     const int64_t *args, size_t nargs, int64_t *result)
{
    if (!data || !len)
        return im_fail(IM_ERR_INVAL, "im_emu_call_data: %s",
                       !data ? "NULL data" : "empty data block");
    if (nargs > 3)
        return im_fail(IM_ERR_INVAL, "%zu arguments after the data block; at most 3 are passed",
                       nargs);
    if (nargs && !args)
        return im_fail(IM_ERR_INVAL, "%zu arguments but no argument array", nargs);
    if (len > IM_EMU_DATA_MAX)
        return im_fail(IM_ERR_RANGE, "data block of %zu bytes is larger than %u", len,
                       IM_EMU_DATA_MAX);
    if (!data_addr)
        data_addr = IM_EMU_DATA_ADDR;
    if (data_addr % 4096)
        return im_fail(IM_ERR_ALIGN, "data block address 0x%llx is not aligned to the page size",
                       (unsigned long long)data_addr);
    int64_t full[4];
    full[0] = (int64_t)data_addr;
    for (size_t i = 0; i < nargs; i++)
        full[i + 1] = args[i];
    uint32_t off;
    int err = call_prepare(emu, &entry, full, nargs + 1, result, &off);
    if (err == IM_ERR_RANGE && im_target_ptr_size(emu->target) == 4 && data_addr > UINT32_MAX)
        return im_fail(IM_ERR_RANGE,
                       "data block address 0x%llx is outside the 32-bit %s address space",
                       (unsigned long long)data_addr, im_target_name(emu->target));
    if (err)
        return err;
    uint64_t end = data_addr + len; /* page-rounded end */
    end = (end + 4095) & ~(uint64_t)4095;
    uint64_t limit = im_target_ptr_size(emu->target) == 4 ? (uint64_t)1 << 32 : (uint64_t)1 << 47;
    if (end > limit)
        return im_fail(IM_ERR_RANGE, "data block 0x%llx..0x%llx is outside the %s address space",
                       (unsigned long long)data_addr, (unsigned long long)end,
                       im_target_name(emu->target));
    uint64_t cs = emu->base, ce = emu->base + (emu->sec->code_size ? emu->sec->code_size : 1);
    if (data_addr < ce && cs < end)
        return im_fail(IM_ERR_RANGE,
                       "data block 0x%llx..0x%llx overlaps the code at 0x%llx..0x%llx",
                       (unsigned long long)data_addr, (unsigned long long)end,
                       (unsigned long long)cs, (unsigned long long)ce);
    im_emu_data d = {data, len, data_addr};
    if (emu->link)
        return linked_call(emu, entry, full, nargs + 1, &d, result);
    return emu->ops->call(emu, entry, off, full, nargs + 1, &d, result);
}

uint64_t im_emu_base(const im_emu *emu)
{
    return emu ? emu->base : 0;
}

void im_emu_close(im_emu *emu)
{
    if (!emu)
        return;
    drop_load(emu);
    emu->ops->close(emu);
    free(emu);
}

/* ---- link spaces under an engine ---- */

int im_emu_link_new(im_engine e, im_target t, struct im_link **out)
{
    if (!out)
        return im_fail(IM_ERR_INVAL, "im_emu_link_new: NULL argument");
    *out = NULL;
    switch (e) {
    case IM_ENGINE_NATIVE: return im_link_new(t, out);
    case IM_ENGINE_UNICORN:
#ifdef IMAGO_NO_UNICORN
        return im_fail(IM_ERR_ENGINE, "this build of imago has no unicorn engine");
#else
        return im_emu_uc_link_new(t, out);
#endif
    case IM_ENGINE_QEMU:
        return im_fail(IM_ERR_ENGINE, "a qemu link space is the target's own program under "
                       "qemu-%s (imago-progs-%s), not an in-process space",
                       im_target_name(t) ? im_target_name(t) : "?",
                       im_target_name(t) ? im_target_name(t) : "?");
    default: return im_fail(IM_ERR_ENGINE, "unknown engine %d", (int)e);
    }
}

#ifdef IMAGO_NO_UNICORN
int im_emu_link_host(struct im_link *l, const char *name, im_emu_host_fn fn, void *ctx)
{
    (void)l, (void)name, (void)fn, (void)ctx;
    return im_fail(IM_ERR_ENGINE, "this build of imago has no unicorn engine");
}

int im_emu_link_call(struct im_link *l, uint64_t addr, const int64_t *args, size_t nargs,
                     int64_t *result)
{
    (void)l, (void)addr, (void)args, (void)nargs, (void)result;
    return im_fail(IM_ERR_ENGINE, "this build of imago has no unicorn engine");
}

int im_emu_link_map(struct im_link *l, size_t len, uint64_t *addr)
{
    (void)l, (void)len, (void)addr;
    return im_fail(IM_ERR_ENGINE, "this build of imago has no unicorn engine");
}

int im_emu_link_write(struct im_link *l, uint64_t addr, const void *src, size_t len)
{
    (void)l, (void)addr, (void)src, (void)len;
    return im_fail(IM_ERR_ENGINE, "this build of imago has no unicorn engine");
}

int im_emu_link_read(struct im_link *l, uint64_t addr, void *dst, size_t len)
{
    (void)l, (void)addr, (void)dst, (void)len;
    return im_fail(IM_ERR_ENGINE, "this build of imago has no unicorn engine");
}

int im_emu_link_range_free(struct im_link *l, uint64_t addr, size_t len)
{
    (void)l, (void)addr, (void)len;
    return 0;
}
#endif
