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
    fprintf(f, "usage: imago run IMG [--engine native|qemu|unicorn] [--target T] [--module M]\n"
               "                 [--entry SYM] [--base ADDR] [-v] [ARGS...]\n"
               "\n"
               "Load IMG (or '-' for standard input) and call SYM with up to 4 integer ARGS\n"
               "(decimal or 0x hex, may be negative); print the result as a signed decimal.\n"
               "\n"
               "  --module M     the module whose code runs; default: the image's first module\n"
               "  --target T     x86_64, i386, arm or aarch64; default: this host's target if the\n"
               "                 module has a section for it, else (with --engine) its first\n"
               "                 section, else its first section under an emulator: qemu when\n"
               "                 qemu-user and the target's runner are there, else unicorn\n"
               "                 (said on stderr)\n"
               "  --engine E     native (the host CPU), qemu (qemu-user and the target's runner)\n"
               "                 or unicorn; default: native when the host runs the target,\n"
               "                 else qemu\n"
               "A section that imports names (.import) runs through the runtime linker, with\n"
               "every module of the image for its target, on any engine: in the target's\n"
               "runner (native, qemu), in this process (--in-process) or in a unicorn guest;\n"
               "an import that resolves to nothing stops the run with status 70.\n"
               "  --entry SYM    default: 'main', else the first function symbol\n"
               "  --base ADDR    load address (page-aligned); default: the engine's (0x10000000)\n"
               "  --in-process   native engine: call the code inside this process instead of\n"
               "                 the target's runner (faster; a fault in the code is then fatal)\n"
               "  -v             print target=T engine=E base=0x... entry=SYM result=N\n");
}

static void dump_usage(FILE *f)
{
    fprintf(f, "usage: imago dump [--relocate ADDR] IMG\n"
               "\n"
               "Print IMG's (or standard input's, for '-') format version and sections: module,\n"
               "target, alignment, code bytes, exports, imports (TOC slot, kind, name), TOC\n"
               "slots and relocations (offset, kind, reference, addend); docs/cli.md.\n"
               "  --relocate ADDR  print the code relocated for address ADDR (page-aligned), its\n"
               "                   TOC right after it (at the next 16-byte boundary); a section\n"
               "                   with direct references to imports cannot be\n");
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

/* A section's module name (a reader always sets one; IM_DEFAULT_MODULE otherwise). */
static const char *modname(const im_section *sec)
{
    return sec->module && sec->module[0] ? sec->module : IM_DEFAULT_MODULE;
}

static int host_runs_natively(im_target t)
{
    im_target host = im_host_target();
    return t == host || (host == IM_TARGET_X86_64 && t == IM_TARGET_I386);
}

int cmd_run(int argc, char **argv)
{
    const char *path = NULL, *engine_name = NULL, *target_name = NULL, *entry = NULL;
    const char *base_text = NULL, *module = NULL;
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
            } else if ((v = opt_value("--module", argc, argv, &i, &missing))) {
                module = v;
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
    im_image *one = NULL;
    const im_section *sec = NULL;
    im_target host = im_host_target();
    if (img->nsections == 0) {
        tool_error("run", "%s: %s: the image has no sections", path, im_strerror(IM_ERR_NOSECTION));
        goto out;
    }
    if (!module)
        module = modname(&img->sections[0]);
    {
        const im_section *first = NULL;
        for (uint32_t i = 0; i < img->nsections && !first; i++)
            if (!strcmp(modname(&img->sections[i]), module))
                first = &img->sections[i];
        if (!first) {
            tool_error("run", "%s: %s: the image has no module '%s'", path,
                       im_strerror(IM_ERR_NOSECTION), module);
            goto out;
        }
        if (target != IM_TARGET_NONE) {
            sec = im_img_module_section(img, module, target);
        } else if ((sec = im_img_module_section(img, module, host))) {
            target = host;
        } else {
            sec = first;
            target = first->target;
            if (engine == IM_ENGINE_NONE && !host_runs_natively(target)) {
                /* the host has no section of its own: an emulator runs another one */
                im_emu *probe = NULL;
                if (im_emu_open(IM_ENGINE_QEMU, target, &probe) == 0) {
                    engine = IM_ENGINE_QEMU;
                    im_emu_close(probe);
                } else if (im_emu_engine_built(IM_ENGINE_UNICORN)) {
                    engine = IM_ENGINE_UNICORN;
                } else {
                    engine = IM_ENGINE_QEMU; /* its error says what is missing */
                }
                fprintf(stderr, "imago run: no %s section%s%s; running the %s section under %s\n",
                        im_target_name(host), img->nsections > 1 ? " in module " : "",
                        img->nsections > 1 ? module : "", im_target_name(target),
                        im_engine_name(engine));
            }
        }
    }
    if (!sec) {
        tool_error("run", "%s: %s: module '%s' has no %s section", path,
                   im_strerror(IM_ERR_NOSECTION), module, im_target_name(target));
        goto out;
    }
    if (engine == IM_ENGINE_NONE)
        engine = host_runs_natively(target) ? IM_ENGINE_NATIVE : IM_ENGINE_QEMU;
    if (!entry) {
        entry = im_section_default_entry(sec);
        if (!entry) {
            tool_error("run", "%s: %s: the %s section of module '%s' has no 'main' and no "
                              "function symbol",
                       path, im_strerror(IM_ERR_NOSYM), im_target_name(target), module);
            goto out;
        }
    }

    int64_t result = 0;
    uint64_t at = 0;
    /* A module that imports runs through the runtime linker, with every module of the image
     * for its target: in this process, in a unicorn guest, or in the target's runner. */
    int linked = sec->nimports > 0;
    if (linked && base) {
        tool_error("run", "%s: --base is not supported for a module that imports (the "
                          "runtime linker places every module)",
                   path);
        goto out;
    }
    int err = 0;
    if (!linked) { /* the chosen section alone (im_emu_load takes an image's first section) */
        one = im_img_new();
        err = one ? im_img_add_section(one, sec) : IM_ERR_NOMEM;
    }
    if (!err)
        err = im_emu_open_ex(engine, target, in_process ? 0 : IM_EMU_ISOLATED, &emu);
    if (!err)
        err = linked ? im_emu_load_linked(emu, img, module) : im_emu_load(emu, one, base);
    if (!err)
        err = im_emu_call(emu, entry, args, nargs, &result);
    if (err) {
        tool_error("run", "%s: %s: %s", path, im_strerror(err), im_detail());
        if (err == IM_ERR_UNRESOLVED)
            status = 70; /* as the linker's own exit for an import bound at a call */
        goto out;
    }
    at = im_emu_base(emu);
    if (verbose)
        printf("module=%s target=%s engine=%s%s base=0x%" PRIx64 " entry=%s result=%" PRId64 "\n",
               module, im_target_name(target), im_engine_name(engine), linked ? "+link" : "", at,
               entry, result);
    else
        printf("%" PRId64 "\n", result);
    status = fflush(stdout) == 0 ? 0 : 1;
out:
    im_emu_close(emu);
    im_img_free(one);
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

static const char *ref_name(uint32_t ref)
{
    switch (ref) {
    case IM_REF_LOCAL: return "local";
    case IM_REF_TOC: return "toc";
    case IM_REF_IMPORT: return "import";
    default: return "?";
    }
}

static void print_reloc(const im_section *sec, const im_reloc *r)
{
    const char *kind = im_reloc_name(r->kind);
    char target[320];
    if (r->ref == IM_REF_LOCAL) {
        if (r->symbol < 0)
            snprintf(target, sizeof target, ".text");
        else if ((uint32_t)r->symbol < sec->nsyms)
            snprintf(target, sizeof target, "%s", sec->syms[r->symbol].name);
        else
            snprintf(target, sizeof target, "symbol#%" PRId32, r->symbol);
    } else if (r->symbol >= 0 && (uint32_t)r->symbol < sec->nimports) {
        snprintf(target, sizeof target, "%s:%s", ref_name(r->ref), sec->imports[r->symbol].name);
    } else {
        snprintf(target, sizeof target, "%s:#%" PRId32, ref_name(r->ref), r->symbol);
    }
    uint64_t mag = r->addend < 0 ? 0 - (uint64_t)r->addend : (uint64_t)r->addend;
    printf("    %08x %s %s %c0x%" PRIx64 "\n", r->offset, kind ? kind : "?", target,
           r->addend < 0 ? '-' : '+', mag);
}

static void print_code(const uint8_t *code, uint32_t size)
{
    for (uint32_t off = 0; off < size; off += 16) {
        printf("  %08x ", off);
        for (uint32_t j = off; j < off + 16 && j < size; j++)
            printf(" %02x", code[j]);
        putchar('\n');
    }
}

int cmd_dump(int argc, char **argv)
{
    const char *path = NULL, *reloc_text = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
        int missing = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            dump_usage(stdout);
            return 0;
        }
        if ((v = opt_value("--relocate", argc, argv, &i, &missing))) {
            reloc_text = v;
            continue;
        }
        if (a[0] == '-' && a[1] != '\0') {
            if (missing)
                tool_error("dump", "%s needs a value", a);
            else
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
    uint64_t at = 0;
    if (reloc_text) {
        int64_t v;
        if (parse_int(reloc_text, &v) || reloc_text[0] == '-' || ((uint64_t)v & 4095)) {
            tool_error("dump", "bad --relocate '%s': expected a page-aligned address", reloc_text);
            return 2;
        }
        at = (uint64_t)v;
    }
    im_image *img = NULL;
    if (load_image("dump", path, &img))
        return 1;

    uint32_t nmod = 0;
    for (uint32_t s = 0; s < img->nsections; s++) {
        uint32_t j = 0;
        while (j < s && strcmp(modname(&img->sections[j]), modname(&img->sections[s])))
            j++;
        nmod += j == s;
    }
    printf("image version %u, %u section%s, %u module%s\n", img->version, img->nsections,
           img->nsections == 1 ? "" : "s", nmod, nmod == 1 ? "" : "s");
    int status = 0;
    for (uint32_t s = 0; s < img->nsections; s++) {
        const im_section *sec = &img->sections[s];
        printf("section %u: module %s, target %s, align %u, code %u bytes\n", s, modname(sec),
               im_target_name(sec->target), sec->align, sec->code_size);
        if (reloc_text) {
            uint64_t toc = (at + sec->code_size + 15) & ~(uint64_t)15;
            uint8_t *copy = malloc(sec->code_size ? sec->code_size : 1);
            int err = copy ? 0 : IM_ERR_NOMEM;
            if (copy) {
                memcpy(copy, sec->code, sec->code_size);
                err = im_section_relocate_toc(sec, copy, at, toc);
            }
            if (err) {
                tool_error("dump", "%s: section %u: %s: %s", path, s, im_strerror(err),
                           im_detail());
                status = 1;
            } else {
                printf("  relocated at 0x%" PRIx64 ", toc at 0x%" PRIx64 "\n", at, toc);
                print_code(copy, sec->code_size);
            }
            free(copy);
        } else {
            print_code(sec->code, sec->code_size);
        }
        printf("  exports: %u\n", sec->nsyms);
        for (uint32_t i = 0; i < sec->nsyms; i++)
            printf("    %08x %-4s %s\n", sec->syms[i].offset, sym_kind_name(sec->syms[i].kind),
                   sec->syms[i].name);
        printf("  imports: %u, toc slots: %u\n", sec->nimports, sec->toc_slots);
        for (uint32_t i = 0; i < sec->nimports; i++)
            printf("    slot %u %-4s %s\n", sec->imports[i].slot,
                   sym_kind_name(sec->imports[i].kind), sec->imports[i].name);
        printf("  relocations: %u\n", sec->nrelocs);
        for (uint32_t i = 0; i < sec->nrelocs; i++)
            print_reloc(sec, &sec->relocs[i]);
    }
    im_img_free(img);
    if (fflush(stdout) != 0)
        status = 1;
    return status;
}
