/* Shared by the AArch64 benchmark programs (imago_a64_bench.c, asmjit_a64_bench.cpp): the
 * options of bench.h plus --skip I,J,... (mix lines left out, by index in mix_a64.def: the
 * lines imago has no row for yet, so both libraries do the same work), and the dump of one
 * copy with each instruction named by its mix line. See docs/bench.md. */
#ifndef IMAGO_BENCH_A64_H
#define IMAGO_BENCH_A64_H

#include "bench.h"
#include "mix_a64.def"

/* The number of instructions in the mix. */
#define BA_COUNT_I(id, text, ops, call) +1
#define BA_COUNT_L(k)
enum { BENCH_A64_LINES = 0 BENCH_A64_MIX(BA_COUNT_I, BA_COUNT_L) };

typedef struct bench_a64_opts {
    bench_opts o;
    unsigned char skip[BENCH_A64_LINES];
} bench_a64_opts;

/* bench.h's options and --skip LIST (comma-separated line indices; "-" for none). */
static inline bench_a64_opts bench_a64_args(int argc, char **argv)
{
    bench_a64_opts a;
    memset(&a, 0, sizeof a);
    char *rest[64];
    int n = 0;
    for (int i = 0; i < argc && n < 63; i++) {
        if (i > 0 && i + 1 < argc && !strcmp(argv[i], "--skip")) {
            const char *s = argv[++i];
            while (*s && strcmp(s, "-")) {
                char *e;
                long k = strtol(s, &e, 10);
                if (e == s || k < 0 || k >= BENCH_A64_LINES || (*e && *e != ',')) {
                    fprintf(stderr, "%s: --skip takes line indices 0..%d separated by commas\n",
                            argv[0], BENCH_A64_LINES - 1);
                    exit(2);
                }
                a.skip[k] = 1;
                s = *e ? e + 1 : e;
            }
        } else {
            rest[n++] = argv[i];
        }
    }
    rest[n] = NULL;
    a.o = bench_args(n, rest);
    return a;
}

/* One copy: line[i] is the mix line of instruction i, offs[i] where it starts. */
static inline void bench_a64_dump(const char *path, const uint8_t *code, const size_t *offs,
                                  const int *line, int n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    for (int i = 0; i < n; i++) {
        fprintf(f, "%d\t%zu\t", line[i], offs[i]);
        for (size_t j = offs[i]; j < offs[i + 1]; j++)
            fprintf(f, "%02x", code[j]);
        fprintf(f, "\n");
    }
    if (fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

#endif
