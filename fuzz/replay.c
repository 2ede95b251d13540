/* Replay driver: runs a fuzz target (fuzz/fuzz_image.c or fuzz/fuzz_asm.c, linked in) on
 * every file of the directories (or files) named on the command line, without libFuzzer.
 * Built with gcc and ASan+UBSan by `make test-fuzz-replay`, once per target; a crash or
 * sanitizer report fails the run.
 * Files whose names start with '.' or "README" are skipped. */
#define _FILE_OFFSET_BITS 64
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int read_whole(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t r; buf && (r = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    int bad = ferror(f) || !buf;
    fclose(f);
    if (bad) {
        free(buf);
        return -1;
    }
    /* An exact-size copy, so ASan sees any read past the end. */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, n);
    free(buf);
    *out = exact;
    *len = n;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs one file; returns 1 if it was run, 0 if skipped, -1 on an I/O error. */
static int run_file(const char *path)
{
    uint8_t *data;
    size_t len;
    if (read_whole(path, &data, &len) != 0) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        return -1;
    }
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    return 1;
}

int main(int argc, char **argv)
{
    int files = 0, errors = 0;
    for (int a = 1; a < argc; a++) {
        struct stat st;
        if (stat(argv[a], &st) != 0) {
            fprintf(stderr, "replay: %s: no such file or directory\n", argv[a]);
            errors++;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            int r = run_file(argv[a]);
            files += r > 0;
            errors += r < 0;
            continue;
        }
        DIR *d = opendir(argv[a]);
        if (!d) {
            fprintf(stderr, "replay: cannot open %s\n", argv[a]);
            errors++;
            continue;
        }
        char **names = NULL;
        size_t n = 0;
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0)
                continue;
            char **nn = realloc(names, (n + 1) * sizeof *nn);
            if (!nn || !(nn[n] = strdup(e->d_name))) {
                fprintf(stderr, "replay: out of memory\n");
                return 2;
            }
            names = nn;
            n++;
        }
        closedir(d);
        if (n)
            qsort(names, n, sizeof *names, cmp_names);
        for (size_t i = 0; i < n; i++) {
            size_t plen = strlen(argv[a]) + strlen(names[i]) + 2;
            char *path = malloc(plen);
            if (!path)
                return 2;
            snprintf(path, plen, "%s/%s", argv[a], names[i]);
            int r = run_file(path);
            files += r > 0;
            errors += r < 0;
            free(path);
            free(names[i]);
        }
        free(names);
    }
    printf("replay: %d inputs, no crash (%s)\n", files, fuzz_summary());
    return errors ? 1 : 0;
}
