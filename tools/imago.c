/* imago: the command-line tool. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "imago/emu.h"

#ifndef IMAGO_VERSION
#define IMAGO_VERSION "0.1.0"
#endif

void tool_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "imago %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Read a whole stream into a malloc'd buffer; 0 or -1 with errno. */
int tool_read_stream(FILE *f, uint8_t **out, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return -1;
    for (;;) {
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                free(buf);
                errno = EIO;
                return -1;
            }
            break;
        }
    }
    *out = buf;
    *len = n;
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    {"asm", cmd_asm, "assemble GNU-syntax source into an image (or raw bytes)"},
    {"run", cmd_run, "load an image and call a symbol on an engine"},
    {"dump", cmd_dump, "print an image's sections, symbols and relocations"},
    {"vectors", cmd_vectors, "print conformance vectors (form, text, hex) for a target"},
    {"state", cmd_state, "per-instruction state checks: every x86 form on an engine vs native, every A64 form on an engine vs a reference"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: imago <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'imago <command> --help' describes each command; 'imago --version' the version.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("imago %s\n", IMAGO_VERSION);
        /* The second line says what this build is: where its code runs, and its engines. */
        printf("host %s, engines", im_target_name(im_host_target()));
        for (im_engine e = IM_ENGINE_NATIVE; e <= IM_ENGINE_UNICORN; e++)
            if (im_emu_engine_built(e))
                printf(" %s", im_engine_name(e));
        printf("\n");
        return 0;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "reloc")) /* hidden: the loader's relocations, for tests */
        return cmd_reloc(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "imago: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
