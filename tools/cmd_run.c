/* imago run: load an image and call a symbol on an engine.
 * imago dump: print an image's sections, symbols and relocations. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "imago/emu.h"
#include "imago/img.h"

static void run_usage(FILE *f)
{
    fprintf(f, "usage: imago run IMG [--engine native|qemu|unicorn] [--target T] [--entry SYM]\n"
               "                 [--base ADDR] [-v] [ARGS...]\n"
               "\n"
               "Load IMG (or '-' for standard input) and call SYM with up to 4 integer ARGS\n"
               "(decimal or 0x hex, may be negative); print the result as a signed decimal.\n"
               "\n"
               "  --target T     x86_64, i386, arm or aarch64; default: this host's target if the\n"
               "                 image has a section for it, else the image's first section\n"
               "  --engine E     native (the host CPU), qemu (qemu-user and the target's runner)\n"
               "                 or unicorn; default: native when the host runs the target,\n"
               "                 else qemu (unicorn when the target was not chosen and the\n"
               "                 image has no section for the host)\n"
               "  --entry SYM    default: 'main', else the first function symbol\n"
               "  --base ADDR    load address (page-aligned); default: the engine's (0x10000000)\n"
               "  --in-process   native engine: call the code inside this process instead of\n"
               "                 the target's runner (faster; a fault in the code is then fatal)\n"
               "  -v             print target=T engine=E base=0x... entry=SYM result=N\n");
}

static void dump_usage(FILE *f)
{
    fprintf(f, "usage: imago dump IMG\n"
               "\n"
               "Print IMG's (or standard input's, for '-') format version, sections (target,\n"
               "alignment, code bytes), symbols and relocations.\n");
}

static int load_image(const char *cmd, const char *path, im_image **img)
{
    int err;
    if (!strcmp(path, "-")) {
        uint8_t *buf;
        size_t len;
        if (tool_read_stream(stdin, &buf, &len)) {
            tool_error(cmd, "-: %s: reading standard input: %s", im_strerror(IM_ERR_IO),
                       strerror(errno));
            return 1;
        }
        err = im_img_read(buf, len, img);
        free(buf);
    } else {
        err = im_img_read_file(path, img);
    }
    if (err) {
        tool_error(cmd, "%s: %s: %s", path, im_strerror(err), im_detail());
        return 1;
    }
    return 0;
}

/* [-]digits or [-]0xhex into *out; 0 on success. */
static int parse_int(const char *s, int64_t *out)
{
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    int base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (*s < '0' || (*s > '9' && base == 10) ||
        (base == 16 && !((*s >= '0' && *s <= '9') || ((*s | 0x20) >= 'a' && (*s | 0x20) <= 'f'))))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || *end)
        return -1;
    if (neg) {
        if (v > (unsigned long long)INT64_MAX + 1)
            return -1;
        *out = (int64_t)(0 - (uint64_t)v);
    } else {
        *out = (int64_t)(uint64_t)v; /* up to 2^64-1, as the bit pattern */
    }
    return 0;
}

static int looks_negative_number(const char *s)
{
    return s[0] == '-' && s[1] >= '0' && s[1] <= '9';
}

/* --opt VALUE or --opt=VALUE; advances *i past the value. NULL when a is not opt. */
static const char *opt_value(const char *opt, int argc, char **argv, int *i, int *missing)
{
    const char *a = argv[*i];
    size_t n = strlen(opt);
    if (strncmp(a, opt, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

static int host_runs_natively(im_target t)
{
    im_target host = im_host_target();
    return t == host || (host == IM_TARGET_X86_64 && t == IM_TARGET_I386);
}

int cmd_run(int argc, char **argv)
{
    const char *path = NULL, *engine_name = NULL, *target_name = NULL, *entry = NULL;
    const char *base_text = NULL;
    int verbose = 0, only_positional = 0, in_process = 0;
    int64_t args[4];
    size_t nargs = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
        int missing = 0;
        if (!only_positional && a[0] == '-' && a[1] != '\0' && !looks_negative_number(a)) {
            if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
                run_usage(stdout);
                return 0;
            } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
                verbose = 1;
            } else if (!strcmp(a, "--in-process")) {
                in_process = 1;
            } else if (!strcmp(a, "--")) {
                only_positional = 1;
            } else if ((v = opt_value("--engine", argc, argv, &i, &missing))) {
                engine_name = v;
            } else if ((v = opt_value("--target", argc, argv, &i, &missing))) {
                target_name = v;
            } else if ((v = opt_value("--entry", argc, argv, &i, &missing))) {
                entry = v;
            } else if ((v = opt_value("--base", argc, argv, &i, &missing))) {
                base_text = v;
            } else {
                if (missing)
                    tool_error("run", "%s needs a value", a);
                else
                    tool_error("run", "unknown option '%s'", a);
                run_usage(stderr);
                return 2;
            }
            continue;
        }
        if (!path) {
            path = a;
            continue;
        }
        if (nargs == 4) {
            tool_error("run", "at most 4 arguments, got '%s' as a fifth", a);
            return 2;
        }
        if (parse_int(a, &args[nargs])) {
            tool_error("run", "bad argument '%s': expected an integer (decimal or 0x hex)", a);
            return 2;
        }
        nargs++;
    }
    if (!path) {
        tool_error("run", "no image given");
        run_usage(stderr);
        return 2;
    }
    /* An unknown engine or target is an error about this run (exit 1), not a usage error. */
    im_engine engine = IM_ENGINE_NONE;
    if (engine_name && (engine = im_engine_from_name(engine_name)) == IM_ENGINE_NONE) {
        tool_error("run", "%s: %s: unknown engine '%s' (native, qemu or unicorn)", path,
                   im_strerror(IM_ERR_ENGINE), engine_name);
        return 1;
    }
    im_target target = IM_TARGET_NONE;
    if (target_name && (target = im_target_from_name(target_name)) == IM_TARGET_NONE) {
        tool_error("run", "%s: %s: unknown target '%s' (x86_64, i386, arm or aarch64)", path,
                   im_strerror(IM_ERR_TARGET), target_name);
        return 1;
    }
    uint64_t base = 0;
    if (base_text) {
        int64_t b;
        if (parse_int(base_text, &b) || base_text[0] == '-') {
            tool_error("run", "bad --base '%s': expected an address (decimal or 0x hex)",
                       base_text);
            return 2;
        }
        base = (uint64_t)b;
    }

    im_image *img = NULL;
    if (load_image("run", path, &img))
        return 1;

    int status = 1;
    im_emu *emu = NULL;
    const im_section *sec;
    if (target == IM_TARGET_NONE) {
        im_target host = im_host_target();
        if (im_img_section(img, host)) {
            target = host;
        } else if (img->nsections > 0) {
            target = img->sections[0].target;
            if (engine == IM_ENGINE_NONE) {
                engine = IM_ENGINE_UNICORN;
                fprintf(stderr,
                        "imago run: %s has no %s section; running its %s section on "
                        "unicorn\n",
                        path, im_target_name(host), im_target_name(target));
            }
        } else {
            tool_error("run", "%s: %s: the image has no sections", path,
                       im_strerror(IM_ERR_NOSECTION));
            goto out;
        }
    }
    sec = im_img_section(img, target);
    if (!sec) {
        tool_error("run", "%s: %s: image has no %s section", path, im_strerror(IM_ERR_NOSECTION),
                   im_target_name(target));
        goto out;
    }
    if (engine == IM_ENGINE_NONE)
        engine = host_runs_natively(target) ? IM_ENGINE_NATIVE : IM_ENGINE_QEMU;
    if (!entry) {
        entry = im_section_default_entry(sec);
        if (!entry) {
            tool_error("run", "%s: %s: the %s section has no 'main' and no function symbol", path,
                       im_strerror(IM_ERR_NOSYM), im_target_name(target));
            goto out;
        }
    }

    int err = im_emu_open_ex(engine, target, in_process ? 0 : IM_EMU_ISOLATED, &emu);
    if (!err)
        err = im_emu_load(emu, img, base);
    int64_t result = 0;
    if (!err)
        err = im_emu_call(emu, entry, args, nargs, &result);
    if (err) {
        tool_error("run", "%s: %s: %s", path, im_strerror(err), im_detail());
        goto out;
    }
    if (verbose)
        printf("target=%s engine=%s base=0x%" PRIx64 " entry=%s result=%" PRId64 "\n",
               im_target_name(target), im_engine_name(engine), im_emu_base(emu), entry, result);
    else
        printf("%" PRId64 "\n", result);
    status = fflush(stdout) == 0 ? 0 : 1;
out:
    im_emu_close(emu);
    im_img_free(img);
    return status;
}

static const char *sym_kind_name(uint32_t kind)
{
    switch (kind) {
    case IM_SYM_FUNC: return "func";
    case IM_SYM_DATA: return "data";
    default: return "?";
    }
}

int cmd_dump(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            dump_usage(stdout);
            return 0;
        }
        if (a[0] == '-' && a[1] != '\0') {
            tool_error("dump", "unknown option '%s'", a);
            dump_usage(stderr);
            return 2;
        }
        if (path) {
            tool_error("dump", "one image at a time ('%s' and '%s')", path, a);
            return 2;
        }
        path = a;
    }
    if (!path) {
        tool_error("dump", "no image given");
        dump_usage(stderr);
        return 2;
    }
    im_image *img = NULL;
    if (load_image("dump", path, &img))
        return 1;

    printf("image version %u, %u section%s\n", img->version, img->nsections,
           img->nsections == 1 ? "" : "s");
    for (uint32_t s = 0; s < img->nsections; s++) {
        const im_section *sec = &img->sections[s];
        printf("section %u: target %s, align %u, code %u bytes\n", s, im_target_name(sec->target),
               sec->align, sec->code_size);
        for (uint32_t off = 0; off < sec->code_size; off += 16) {
            printf("  %08x ", off);
            for (uint32_t j = off; j < off + 16 && j < sec->code_size; j++)
                printf(" %02x", sec->code[j]);
            putchar('\n');
        }
        printf("  symbols: %u\n", sec->nsyms);
        for (uint32_t i = 0; i < sec->nsyms; i++)
            printf("    %08x %-4s %s\n", sec->syms[i].offset, sym_kind_name(sec->syms[i].kind),
                   sec->syms[i].name);
        printf("  relocations: %u\n", sec->nrelocs);
        for (uint32_t i = 0; i < sec->nrelocs; i++) {
            const im_reloc *r = &sec->relocs[i];
            const char *sym = r->symbol < 0 ? ".text" : sec->syms[r->symbol].name;
            uint64_t mag = r->addend < 0 ? 0 - (uint64_t)r->addend : (uint64_t)r->addend;
            printf("    %08x %-5s %s %c0x%" PRIx64 "\n", r->offset, im_reloc_name(r->kind), sym,
                   r->addend < 0 ? '-' : '+', mag);
        }
    }
    im_img_free(img);
    return fflush(stdout) == 0 ? 0 : 1;
}
