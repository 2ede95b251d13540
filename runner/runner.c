/* imago-runner-<target>: load an image's section for this host, call one entry
 * and print one result line. The native and qemu engines drive it
 * (docs/engines.md describes the protocol).
 *
 *   imago-runner-<target> [--base ADDR] [--entry SYM] IMAGE [ARGS...]
 *
 * IMAGE may be '-' for standard input. Up to four integer arguments (decimal
 * or 0x hex, optionally negative). On success prints
 *   result=<signed decimal> base=0x<hex>
 * and exits 0; on error prints "imago-runner: <what>: <error>: <detail>" on
 * stderr and exits 1 (2 for usage errors). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imago/img.h"
#include "imago/loader.h"

#define MAX_ARGS 4

typedef intptr_t (*entry_fn)(intptr_t, intptr_t, intptr_t, intptr_t);

static void usage(FILE *f)
{
    fprintf(f,
            "usage: imago-runner-%s [--base ADDR] [--entry SYM] IMAGE [ARGS...]\n"
            "  IMAGE  image file, or '-' for standard input\n"
            "  ARGS   up to %d integer arguments (decimal or 0x hex, may be negative)\n"
            "prints: result=<signed decimal> base=0x<hex>\n",
            im_target_name(im_host_target()), MAX_ARGS);
}

static int fail(const char *what, int err)
{
    fprintf(stderr, "imago-runner: %s: %s: %s\n", what, im_strerror(err), im_detail());
    return 1;
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

int main(int argc, char **argv)
{
    uint64_t base = 0;
    const char *entry = NULL;
    const char *path = NULL;
    intptr_t args[MAX_ARGS] = {0};
    int nargs = 0;

    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--base") || !strcmp(a, "--entry")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "imago-runner: %s needs a value\n", a);
                usage(stderr);
                return 2;
            }
            const char *v = argv[++i];
            if (a[2] == 'e') {
                entry = v;
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
    path = argv[i++];
    for (; i < argc; i++) {
        if (nargs == MAX_ARGS) {
            fprintf(stderr, "imago-runner: at most %d arguments\n", MAX_ARGS);
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

    im_target host = im_host_target();
    const im_section *sec = im_img_section(img, host);
    if (!entry && sec) {
        entry = im_section_default_entry(sec);
        if (!entry) {
            fprintf(stderr,
                    "imago-runner: %s: symbol not found: the %s section has no 'main' and no "
                    "function symbol\n",
                    path, im_target_name(host));
            im_img_free(img);
            return 1;
        }
    }
    im_module *m;
    err = im_load(img, host, (uintptr_t)base, &m);
    if (err) {
        im_img_free(img);
        return fail(path, err);
    }
    void *sym = im_module_symbol(m, entry);
    if (!sym) {
        fprintf(stderr, "imago-runner: %s: symbol not found: no symbol '%s' in the %s section\n",
                path, entry, im_target_name(host));
        im_unload(m);
        im_img_free(img);
        return 1;
    }
    entry_fn f = (entry_fn)(uintptr_t)sym;
    intptr_t result = f(args[0], args[1], args[2], args[3]);
    printf("result=%" PRIdPTR " base=0x%" PRIxPTR "\n", result, im_module_base(m));
    im_unload(m);
    im_img_free(img);
    return fflush(stdout) == 0 ? 0 : 1;
}
