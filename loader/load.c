/* The loader: mmap read-write, copy, relocate, mprotect read-execute, flush
 * the icache. A mapping is never writable and executable at once. */
#include "imago/loader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000 /* Linux >= 4.17; older kernels treat it as a hint */
#endif

struct im_module_sym {
    char *name;
    uint32_t offset;
};

struct im_module {
    uint8_t *base;
    size_t map_size; /* bytes mapped at base (whole pages) */
    size_t code_size;
    struct im_module_sym *syms;
    uint32_t nsyms;
};

void im_icache_flush(void *start, size_t len)
{
    __builtin___clear_cache((char *)start, (char *)start + len);
}

static void free_module(im_module *m)
{
    for (uint32_t i = 0; i < m->nsyms; i++)
        free(m->syms[i].name);
    free(m->syms);
    free(m);
}

/* Map len bytes (a multiple of the page size) read-write, aligned to align, at
 * hint when it is non-zero. */
static int map_rw(uintptr_t hint, size_t len, size_t align, size_t page, uint8_t **out)
{
    if (hint) {
        void *p = mmap((void *)hint, len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            if (e == EEXIST)
                return im_fail(IM_ERR_SYS, "cannot map 0x%zx bytes at 0x%llx: range is in use", len,
                               (unsigned long long)hint);
            return im_fail(IM_ERR_SYS, "cannot map 0x%zx bytes at 0x%llx: %s", len,
                           (unsigned long long)hint, strerror(e));
        }
        if ((uintptr_t)p != hint) {
            /* A kernel without MAP_FIXED_NOREPLACE took the address as a hint only. */
            munmap(p, len);
            return im_fail(IM_ERR_SYS, "cannot map 0x%zx bytes at 0x%llx: range is in use", len,
                           (unsigned long long)hint);
        }
        *out = p;
        return 0;
    }
    size_t extra = align > page ? align - page : 0;
    if (len + extra < len)
        return im_fail(IM_ERR_NOMEM, "mapping of 0x%zx bytes aligned to 0x%zx", len, align);
    void *p = mmap(NULL, len + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return im_fail(IM_ERR_SYS, "cannot map 0x%zx bytes: %s", len + extra, strerror(errno));
    uintptr_t a = (uintptr_t)p;
    uintptr_t start = (a + align - 1) & ~(uintptr_t)(align - 1);
    if (start > a)
        munmap(p, start - a);
    if (a + extra > start)
        munmap((void *)(start + len), a + extra - start);
    *out = (uint8_t *)start;
    return 0;
}

int im_load(const im_image *img, im_target t, uintptr_t hint, im_module **out)
{
    if (!img || !out)
        return im_fail(IM_ERR_INVAL, "im_load: NULL argument");
    *out = NULL;
    im_target host = im_host_target();
    if (t != host)
        return im_fail(IM_ERR_TARGET, "cannot load %s code natively on a %s host",
                       im_target_name(t) ? im_target_name(t) : "unknown",
                       im_target_name(host) ? im_target_name(host) : "unknown");
    const im_section *sec = im_img_section(img, t);
    if (!sec)
        return im_fail(IM_ERR_NOSECTION, "image has no %s section", im_target_name(t));

    long pg = sysconf(_SC_PAGESIZE);
    size_t page = pg > 0 ? (size_t)pg : 4096;
    size_t align = sec->align > page ? sec->align : page;
    if (hint % align)
        return im_fail(IM_ERR_ALIGN, "load address 0x%llx is not aligned to 0x%zx",
                       (unsigned long long)hint, align);
    size_t code = sec->code_size;
    size_t len = code ? (code + page - 1) & ~(page - 1) : page;
    if (len < code)
        return im_fail(IM_ERR_NOMEM, "code of 0x%zx bytes", code);
    if (hint && hint + len - 1 < hint)
        return im_fail(IM_ERR_RANGE, "0x%zx bytes at 0x%llx wrap the address space", len,
                       (unsigned long long)hint);

    im_module *m = calloc(1, sizeof *m);
    if (!m)
        return im_fail(IM_ERR_NOMEM, "module");
    if (sec->nsyms) {
        m->syms = calloc(sec->nsyms, sizeof *m->syms);
        if (!m->syms) {
            free_module(m);
            return im_fail(IM_ERR_NOMEM, "module symbols");
        }
        for (uint32_t i = 0; i < sec->nsyms; i++) {
            m->syms[i].name = strdup(sec->syms[i].name ? sec->syms[i].name : "");
            m->syms[i].offset = sec->syms[i].offset;
            m->nsyms = i + 1;
            if (!m->syms[i].name) {
                free_module(m);
                return im_fail(IM_ERR_NOMEM, "module symbols");
            }
        }
    }

    uint8_t *base = NULL;
    int err = map_rw(hint, len, align, page, &base);
    if (err) {
        free_module(m);
        return err;
    }
    m->base = base;
    m->map_size = len;
    m->code_size = code;
    if (code)
        memcpy(base, sec->code, code);
    err = im_section_relocate(sec, base, (uint64_t)(uintptr_t)base);
    if (!err && mprotect(base, len, PROT_READ | PROT_EXEC) != 0)
        err = im_fail(IM_ERR_SYS, "mprotect(0x%llx, 0x%zx, read+exec): %s",
                      (unsigned long long)(uintptr_t)base, len, strerror(errno));
    if (err) {
        munmap(base, len);
        free_module(m);
        return err;
    }
    im_icache_flush(base, code ? code : 1);
    *out = m;
    return 0;
}

void *im_module_symbol(const im_module *m, const char *name)
{
    if (!m || !name)
        return NULL;
    for (uint32_t i = 0; i < m->nsyms; i++)
        if (strcmp(m->syms[i].name, name) == 0)
            return m->base + m->syms[i].offset;
    return NULL;
}

uintptr_t im_module_base(const im_module *m)
{
    return m ? (uintptr_t)m->base : 0;
}

size_t im_module_size(const im_module *m)
{
    return m ? m->code_size : 0;
}

void im_unload(im_module *m)
{
    if (!m)
        return;
    munmap(m->base, m->map_size);
    free_module(m);
}
