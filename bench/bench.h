/* Shared by the benchmark programs (C and C++): options, the clock, and the output.
 *
 * Every program takes [--reps N] [--copies C] [--dump FILE]. A repetition encodes the
 * mix (mix.def) C times; each repetition is timed with clock_gettime(CLOCK_MONOTONIC).
 * The program prints one JSON line per variant it measures:
 *   {"name": ..., "insns": per repetition, "bytes": per repetition, "times": [s, ...]}
 * and with --dump writes one copy of the mix as `index<TAB>offset<TAB>hex` lines (taken
 * outside the timed loop), for bench/run.py's check that the libraries do the same work. */
#ifndef IMAGO_BENCH_H
#define IMAGO_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_MAX_REPS 1000
#define BENCH_MAX_INSNS 256

typedef struct bench_opts {
    int reps;
    int copies;
    const char *dump;
} bench_opts;

static inline void bench_usage(const char *prog)
{
    fprintf(stderr, "usage: %s [--reps N] [--copies C] [--dump FILE]\n", prog);
    exit(2);
}

static inline bench_opts bench_args(int argc, char **argv)
{
    bench_opts o = {21, 200, NULL};
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--reps"))
            o.reps = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--copies"))
            o.copies = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--dump"))
            o.dump = argv[++i];
        else
            bench_usage(argv[0]);
    }
    if (o.reps < 1 || o.reps > BENCH_MAX_REPS || o.copies < 1 || o.copies > 100000) {
        fprintf(stderr, "%s: --reps must be 1..%d and --copies 1..100000\n", argv[0],
                BENCH_MAX_REPS);
        exit(2);
    }
    return o;
}

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void bench_print(const char *name, long insns, long bytes, const double *t, int n)
{
    printf("{\"name\": \"%s\", \"insns\": %ld, \"bytes\": %ld, \"times\": [", name, insns, bytes);
    for (int i = 0; i < n; i++)
        printf("%s%.9g", i ? ", " : "", t[i]);
    printf("]}\n");
    fflush(stdout);
}

/* One copy of the mix: offs[i] is where instruction i starts, offs[n] the end. */
static inline void bench_dump(const char *path, const uint8_t *code, const size_t *offs, int n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    for (int i = 0; i < n; i++) {
        fprintf(f, "%d\t%zu\t", i, offs[i]);
        for (size_t j = offs[i]; j < offs[i + 1]; j++)
            fprintf(f, "%02x", code[j]);
        fprintf(f, "\n");
    }
    if (fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static inline void bench_fail(const char *name, const char *what)
{
    fprintf(stderr, "%s: %s\n", name, what);
    exit(1);
}

#endif
