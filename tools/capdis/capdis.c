/* imago-capdis: capstone's decoding of byte strings, one per line, for the
 * conformance suite's second opinion (conformance/test_disasm.py).
 *
 *   imago-capdis -a TARGET < HEX-LINES
 *
 * Every input line is a hex string (an empty line is an empty string). For each,
 * one output line: the instructions capstone decodes from it at address 0, in
 * order, as `LEN<TAB>MNEMONIC OPERANDS` fields joined by tabs; bytes capstone
 * cannot decode end the line with `LEN<TAB>(bad)` (LEN: the bytes left). x86
 * uses capstone's Intel syntax. Bad input (an unknown target, a line that is not
 * hex) is an error on stderr with the line number, exit status 1.
 */
#include <capstone/capstone.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int open_target(const char *target, csh *h)
{
    cs_arch arch;
    int mode;
    if (strcmp(target, "x86_64") == 0) {
        arch = CS_ARCH_X86;
        mode = CS_MODE_64;
    } else if (strcmp(target, "i386") == 0) {
        arch = CS_ARCH_X86;
        mode = CS_MODE_32;
    } else if (strcmp(target, "arm") == 0) {
        arch = CS_ARCH_ARM;
        mode = CS_MODE_ARM;
    } else if (strcmp(target, "aarch64") == 0) {
        arch = CS_ARCH_ARM64;
        mode = CS_MODE_ARM;
    } else {
        fprintf(stderr, "imago-capdis: unknown target '%s' (x86_64, i386, arm, aarch64)\n", target);
        return -1;
    }
    cs_err err = cs_open(arch, (cs_mode)mode, h);
    if (err != CS_ERR_OK) {
        fprintf(stderr, "imago-capdis: cs_open(%s): %s\n", target, cs_strerror(err));
        return -1;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: imago-capdis -a TARGET < HEX-LINES\n"
               "  decodes each input line (hex bytes) with capstone and prints one line:\n"
               "  LEN<TAB>TEXT for each instruction, tab-separated; LEN<TAB>(bad) for\n"
               "  bytes left undecoded. TARGET: x86_64, i386, arm, aarch64\n");
}

int main(int argc, char **argv)
{
    const char *target = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-a") == 0 && i + 1 < argc) {
            target = argv[++i];
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "imago-capdis: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 1;
        }
    }
    if (!target) {
        usage(stderr);
        return 1;
    }
    csh h;
    if (open_target(target, &h) != 0)
        return 1;

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned long lineno = 0;
    uint8_t *bytes = NULL;
    size_t bcap = 0;
    int status = 0;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (n % 2 != 0) {
            fprintf(stderr, "imago-capdis: stdin line %lu: odd number of hex digits\n", lineno);
            status = 1;
            break;
        }
        size_t len = (size_t)n / 2;
        if (len > bcap) {
            uint8_t *nb = realloc(bytes, len);
            if (!nb) {
                fprintf(stderr, "imago-capdis: out of memory\n");
                status = 1;
                break;
            }
            bytes = nb;
            bcap = len;
        }
        for (size_t i = 0; i < len; i++) {
            int hi = hexval((unsigned char)line[2 * i]);
            int lo = hexval((unsigned char)line[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                fprintf(stderr, "imago-capdis: stdin line %lu, column %zu: not a hex digit\n",
                        lineno, 2 * i + 1 + (hi >= 0));
                status = 1;
                goto out;
            }
            bytes[i] = (uint8_t)(hi << 4 | lo);
        }
        cs_insn *insn = NULL;
        size_t count = len ? cs_disasm(h, bytes, len, 0, 0, &insn) : 0;
        size_t used = 0;
        for (size_t i = 0; i < count; i++) {
            printf("%s%u\t%s%s%s", i ? "\t" : "", (unsigned)insn[i].size, insn[i].mnemonic,
                   insn[i].op_str[0] ? " " : "", insn[i].op_str);
            used += insn[i].size;
        }
        if (count)
            cs_free(insn, count);
        if (used < len)
            printf("%s%zu\t(bad)", count ? "\t" : "", len - used);
        putchar('\n');
    }
out:
    free(line);
    free(bytes);
    cs_close(&h);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "imago-capdis: write error on stdout\n");
        status = 1;
    }
    return status;
}
