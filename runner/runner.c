/* imago-runner-<target>: load an image's section for this host, call one entry
 * and print one result line. The native and qemu engines drive it
 * (docs/engines.md describes the protocol).
 *
 *   imago-runner-<target> [--base ADDR | --module M] [--entry SYM] [--data ADDR] IMAGE [ARGS...]
 *
 * --module M links every section of IMAGE for this host with the runtime linker (TOCs,
 * lazy binding, imports between modules) and calls SYM of module M; base= is then where the
 * linker placed M's code. An import that resolves to nothing (when loading or at a call):
 * exit status 70.
 * IMAGE may be '-' for standard input. Up to four integer arguments (decimal
 * or 0x hex, optionally negative). With --data, the bytes of file descriptor 3 are
 * mapped read-write at ADDR, ADDR is the first argument (then up to three more) and
 * the block is written back to descriptor 3 after the call. On success prints
 *   result=<signed decimal> base=0x<hex>[ data=0x<hex>]
 * and exits 0; on error prints "imago-runner: <what>: <error>: <detail>" on
 * stderr and exits 1 (2 for usage errors). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imago/img.h"
#include "imago/link.h"
#include "imago/loader.h"

#define MAX_ARGS 4

typedef intptr_t (*entry_fn)(intptr_t, intptr_t, intptr_t, intptr_t);

static void usage(FILE *f)
{
    fprintf(f,
            "usage: imago-runner-%s [--base ADDR | --module M] [--entry SYM] [--data ADDR]\n"
            "                      IMAGE [ARGS...]\n"
            "  IMAGE  image file, or '-' for standard input\n"
            "  --module M   link every module of IMAGE for this host (runtime linker) and call\n"
            "         SYM of module M; an import that resolves to nothing: exit status 70\n"
            "  ARGS   up to %d integer arguments (decimal or 0x hex, may be negative)\n"
            "  --data ADDR  map the bytes of file descriptor 3 read-write at ADDR, pass ADDR\n"
            "         as the first argument, write the block back to descriptor 3 after the\n"
            "         call (e.g. 3<>block.bin)\n"
            "prints: result=<signed decimal> base=0x<hex>[ data=0x<hex>]\n",
            im_target_name(im_host_target()), MAX_ARGS);
}

/* Exit status 1, or 70 for an import that resolves to nothing (the linker's own status when
 * that happens at a call). */
static int fail(const char *what, int err)
{
    fprintf(stderr, "imago-runner: %s: %s: %s\n", what, im_strerror(err), im_detail());
    return err == IM_ERR_UNRESOLVED ? 70 : 1;
}

/* Parse [-]digits or [-]0xhex into *out; 0 on success. */
static int parse_u64(const char *s, int allow_neg, uint64_t *out, int *neg)
{
    *neg = 0;
    if (*s == '-') {
        if (!allow_neg)
            return -1;
        *neg = 1;
        s++;
    }
    int base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (!*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* An argument must fit intptr_t, or uintptr_t when written unsigned. */
static int parse_arg(const char *s, intptr_t *out)
{
    uint64_t v;
    int neg;
    if (parse_u64(s, 1, &v, &neg))
        return -1;
    if (neg) {
        if (v > (uint64_t)INTPTR_MAX + 1)
            return -1;
        *out = (intptr_t)(0 - (uintptr_t)v);
        return 0;
    }
    if (v > UINTPTR_MAX)
        return -1;
    *out = (intptr_t)(uintptr_t)v;
    return 0;
}

static int read_stdin(uint8_t **out, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return -1;
    for (;;) {
        if (n == cap) {
            uint8_t *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(0, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* The data block: read all of descriptor 3, map it read-write at addr. */
static int data_in(uint64_t addr, uint8_t **block, size_t *len, size_t *maplen)
{
    struct stat st;
    if (fstat(3, &st) != 0) {
        fprintf(stderr,
                "imago-runner: --data: file descriptor 3 is not open (%s); the block "
                "is read from it and written back to it, e.g. 3<>block.bin\n",
                strerror(errno));
        return 1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size <= 0) {
        fprintf(stderr, "imago-runner: --data: descriptor 3 is not a non-empty regular file\n");
        return 1;
    }
    size_t n = (size_t)st.st_size;
    size_t mlen = (n + 4095) & ~(size_t)4095;
    if (addr % 4096 || addr > UINTPTR_MAX || mlen > UINTPTR_MAX - (uintptr_t)addr) {
        fprintf(stderr,
                "imago-runner: --data: 0x%llx is not a page-aligned address for %zu "
                "bytes\n",
                (unsigned long long)addr, n);
        return 2;
    }
    void *want = (void *)(uintptr_t)addr;
    void *p = mmap(want, mlen, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED || p != want) {
        fprintf(stderr, "imago-runner: --data: cannot map %zu bytes at 0x%llx: %s\n", mlen,
                (unsigned long long)addr, p == MAP_FAILED ? strerror(errno) : "range in use");
        if (p != MAP_FAILED)
            munmap(p, mlen);
        return 1;
    }
    for (size_t got = 0; got < n;) {
        ssize_t r = pread(3, (uint8_t *)p + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fprintf(stderr, "imago-runner: --data: reading descriptor 3: %s\n",
                    r < 0 ? strerror(errno) : "short read");
            munmap(p, mlen);
            return 1;
        }
        got += (size_t)r;
    }
    *block = p;
    *len = n;
    *maplen = mlen;
    return 0;
}

static int data_out(const uint8_t *block, size_t len)
{
    for (size_t put = 0; put < len;) {
        ssize_t w = pwrite(3, block + put, len - put, (off_t)put);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "imago-runner: --data: writing descriptor 3: %s\n",
                    w < 0 ? strerror(errno) : "short write");
            return 1;
        }
        put += (size_t)w;
    }
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t base = 0, data_addr = 0;
    int has_data = 0;
    const char *entry = NULL, *module = NULL;
    const char *path = NULL;
    intptr_t args[MAX_ARGS] = {0};
    int nargs = 0;

    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--base") || !strcmp(a, "--entry") || !strcmp(a, "--data") ||
                   !strcmp(a, "--module")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "imago-runner: %s needs a value\n", a);
                usage(stderr);
                return 2;
            }
            const char *v = argv[++i];
            if (a[2] == 'e') {
                entry = v;
            } else if (a[2] == 'm') {
                module = v;
            } else if (a[2] == 'd') {
                int neg;
                if (parse_u64(v, 0, &data_addr, &neg) || data_addr == 0 ||
                    data_addr > UINTPTR_MAX) {
                    fprintf(stderr, "imago-runner: bad --data '%s'\n", v);
                    return 2;
                }
                has_data = 1;
            } else {
                int neg;
                if (parse_u64(v, 0, &base, &neg) || base > UINTPTR_MAX) {
                    fprintf(stderr, "imago-runner: bad --base '%s'\n", v);
                    return 2;
                }
            }
        } else if (!strcmp(a, "--")) {
            i++;
            break;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "imago-runner: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else {
            break;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    if (module && base) {
        fprintf(stderr, "imago-runner: --base and --module: the runtime linker places the "
                        "modules\n");
        return 2;
    }
    path = argv[i++];
    if (has_data) { /* the block's address is the first argument */
        args[0] = (intptr_t)(uintptr_t)data_addr;
        nargs = 1;
    }
    for (; i < argc; i++) {
        if (nargs == MAX_ARGS) {
            fprintf(stderr, "imago-runner: at most %d arguments%s\n", MAX_ARGS - has_data,
                    has_data ? " after the data block" : "");
            return 2;
        }
        if (parse_arg(argv[i], &args[nargs])) {
            fprintf(stderr, "imago-runner: bad argument '%s' (an integer of at most %u bits)\n",
                    argv[i], (unsigned)(sizeof(intptr_t) * 8));
            return 2;
        }
        nargs++;
    }

    im_image *img = NULL;
    int err;
    if (!strcmp(path, "-")) {
        uint8_t *buf;
        size_t len;
        if (read_stdin(&buf, &len)) {
            fprintf(stderr, "imago-runner: reading standard input: %s\n", strerror(errno));
            return 1;
        }
        err = im_img_read(buf, len, &img);
        free(buf);
    } else {
        err = im_img_read_file(path, &img);
    }
    if (err)
        return fail(path, err);

    /* From here on every exit goes through out: what was loaded is released there. */
    int status = 1;
    im_module *m = NULL;
    im_link *link = NULL;
    im_target host = im_host_target();
    const im_section *sec =
        module ? im_img_module_section(img, module, host) : im_img_section(img, host);
    if (module && !sec) {
        fprintf(stderr, "imago-runner: %s: no section: module '%s' has no %s section\n", path,
                module, im_target_name(host));
        goto out;
    }
    if (!entry && sec) {
        entry = im_section_default_entry(sec);
        if (!entry) {
            fprintf(stderr,
                    "imago-runner: %s: symbol not found: the %s section has no 'main' and no "
                    "function symbol\n",
                    path, im_target_name(host));
            goto out;
        }
    }
    void *sym = NULL;
    uintptr_t at = 0;
    if (module) { /* every module of the image for this host, through the runtime linker */
        err = im_link_new(host, &link);
        if (!err)
            err = im_link_load_image(link, img);
        im_lmod *lm = err ? NULL : im_link_module(link, module);
        if (lm) {
            at = (uintptr_t)im_lmod_base(lm);
            sym = (void *)(uintptr_t)im_lmod_symbol(lm, entry);
        }
    } else {
        err = im_load(img, host, (uintptr_t)base, &m);
        if (!err) {
            at = im_module_base(m);
            sym = im_module_symbol(m, entry);
        }
    }
    if (err) {
        status = fail(path, err);
        goto out;
    }
    if (!sym) {
        fprintf(stderr,
                "imago-runner: %s: symbol not found: no symbol '%s' in the %s section%s%s\n", path,
                entry, im_target_name(host), module ? " of module " : "", module ? module : "");
        goto out;
    }
    uint8_t *block = NULL;
    size_t block_len = 0, block_map = 0;
    if (has_data && (status = data_in(data_addr, &block, &block_len, &block_map)) != 0)
        goto out;
    entry_fn f = (entry_fn)(uintptr_t)sym;
    intptr_t result = f(args[0], args[1], args[2], args[3]);
    status = 1;
    if (has_data) {
        if (data_out(block, block_len))
            goto out;
        munmap(block, block_map);
        printf("result=%" PRIdPTR " base=0x%" PRIxPTR " data=0x%" PRIxPTR "\n", result, at,
               (uintptr_t)data_addr);
    } else {
        printf("result=%" PRIdPTR " base=0x%" PRIxPTR "\n", result, at);
    }
    status = fflush(stdout) == 0 ? 0 : 1;
out:
    im_unload(m);
    im_link_free(link);
    im_img_free(img);
    return status;
}
