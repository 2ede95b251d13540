/* imago asm and imago vectors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imago/asm.h"
#include "imago/img.h"

#include "cmd.h"
#include "core.h"
#include "form.h"

static void asm_usage(FILE *f)
{
    fprintf(f, "usage: imago asm -a TARGET [--raw] IN.s -o OUT\n\n"
               "Assemble GNU-syntax source (the file GNU as reads for the same target) into an\n"
               "imago image holding one section for TARGET (x86_64, i386, arm, aarch64).\n"
               "  -a, --arch TARGET  target architecture\n"
               "  -o FILE            output file (written whole or not at all)\n"
               "  --raw              write the bare code bytes, linked at address 0\n"
               "Errors name FILE:LINE and the reason; the exit status is then 1.\n");
}

int cmd_asm(int argc, char **argv)
{
    const char *target = NULL, *in = NULL, *out = NULL;
    int raw = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            asm_usage(stdout);
            return 0;
        } else if ((!strcmp(argv[i], "-a") || !strcmp(argv[i], "--arch") || !strcmp(argv[i], "--target")) && i + 1 < argc) {
            target = argv[++i];
        } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--raw")) {
            raw = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            tool_error("asm", "unknown option '%s'", argv[i]);
            asm_usage(stderr);
            return 2;
        } else if (!in) {
            in = argv[i];
        } else {
            tool_error("asm", "more than one input file ('%s', '%s')", in, argv[i]);
            return 2;
        }
    }
    if (!target || !in || !out) {
        tool_error("asm", "%s", !target ? "missing -a TARGET" : !in ? "missing input file" : "missing -o OUT");
        asm_usage(stderr);
        return 2;
    }
    im_target t = im_target_from_name(target);
    if (t == IM_TARGET_NONE) {
        tool_error("asm", "unknown target '%s' (known: x86_64, i386, arm, aarch64)", target);
        return 2;
    }
    uint8_t *src;
    size_t len;
    FILE *f = fopen(in, "rb");
    int rd = f ? tool_read_stream(f, &src, &len) : -1;
    if (f)
        fclose(f);
    if (rd < 0) {
        tool_error("asm", "%s: %s", in, strerror(errno));
        return 1;
    }
    im_buf *b;
    int line;
    int rc = im_asm(t, (const char *)src, len, &b, &line);
    free(src);
    if (rc < 0) {
        if (line)
            fprintf(stderr, "%s:%d: error: %s\n", in, line, im_detail());
        else
            fprintf(stderr, "%s: error: %s\n", in, im_detail());
        return 1;
    }
    if (raw) {
        size_t n;
        const uint8_t *code = im_buf_code(b, &n);
        rc = im_write_file_atomic(out, code, n);
        if (rc < 0)
            tool_error("asm", "%s: %s: %s", out, im_strerror(rc), im_detail());
    } else {
        im_image *img = im_img_new();
        rc = img ? im_buf_to_image(b, img) : IM_ERR_NOMEM;
        if (rc == 0)
            rc = im_img_write_file(img, out);
        if (rc < 0)
            tool_error("asm", "%s: %s: %s", out, im_strerror(rc), im_detail());
        im_img_free(img);
    }
    im_buf_free(b);
    return rc < 0 ? 1 : 0;
}

/* ---- vectors ---- */

static void vectors_usage(FILE *f)
{
    fprintf(f, "usage: imago vectors -a TARGET [--seed N] [--per-form K] [--form ID]\n\n"
               "Print conformance vectors, one per line: form<TAB>text<TAB>hex. Operands are swept\n"
               "from each row's kinds (every register, immediate edges, random values from the\n"
               "seed); a vector is kept when re-reading its text selects the same bytes (the\n"
               "encoding GNU as picks by default). Text that imago cannot re-read is an error.\n"
               "  --per-form K  operand combinations tried per form (default 1500)\n");
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
    out[2 * n] = '\0';
}

int cmd_vectors(int argc, char **argv)
{
    const char *target = NULL, *only = NULL;
    unsigned long long seed = 1;
    long per_form = 1500;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            vectors_usage(stdout);
            return 0;
        } else if ((!strcmp(argv[i], "-a") || !strcmp(argv[i], "--arch")) && i + 1 < argc) {
            target = argv[++i];
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--per-form") && i + 1 < argc) {
            per_form = strtol(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--form") && i + 1 < argc) {
            only = argv[++i];
        } else {
            tool_error("vectors", "unknown argument '%s'", argv[i]);
            vectors_usage(stderr);
            return 2;
        }
    }
    im_target t = target ? im_target_from_name(target) : IM_TARGET_NONE;
    if (t == IM_TARGET_NONE) {
        tool_error("vectors", target ? "unknown target '%s'" : "missing -a TARGET%s", target ? target : "");
        return 2;
    }
    if (per_form < 1)
        per_form = 1;
    const im_arch *a = im_arch_for(t);
    im_operand *samples[IM_MAX_OPS];
    size_t nsamp[IM_MAX_OPS];
    for (unsigned i = 0; i < IM_MAX_OPS; i++)
        samples[i] = malloc(sizeof(im_operand) * IM_MAX_SAMPLES);
    int bad = 0;
    size_t total = 0, nforms = 0;
    printf("# imago vectors target=%s seed=%llu per-form=%ld\n", im_target_name(t), seed, per_form);
    for (size_t fi = 0; fi < a->nforms; fi++) {
        const im_form *f = &a->forms[fi];
        if (!a->form_ok(t, f) || (only && strcmp(only, f->id)))
            continue;
        nforms++;
        im_rng rng = {seed * 0x100000001b3ull + fi};
        size_t combos = 1;
        for (unsigned i = 0; i < f->nops; i++) {
            nsamp[i] = a->samples(t, f->kinds[i], &rng, samples[i], IM_MAX_SAMPLES);
            if (!nsamp[i]) {
                tool_error("vectors", "form %s: kind %s has no samples", f->id, a->kinds[f->kinds[i]].name);
                bad = 1;
                break;
            }
            combos = combos > (size_t)per_form ? combos : combos * nsamp[i];
        }
        size_t kept = 0;
        bool full = combos <= (size_t)per_form;
        size_t n = full ? combos : (size_t)per_form;
        size_t sweep = 0; /* in sampled mode: first every sample of every operand once */
        for (unsigned i = 0; i < f->nops; i++)
            sweep += nsamp[i];
        if (!full && n < sweep)
            n = sweep;
        for (size_t k = 0; k < n; k++) {
            im_operand ops[IM_MAX_OPS];
            size_t idx = k, s = k;
            for (unsigned i = 0; i < f->nops; i++) {
                size_t j;
                if (full) {
                    j = idx % nsamp[i];
                    idx /= nsamp[i];
                } else if (s < sweep && s < nsamp[i]) {
                    j = s;
                    s = sweep; /* the other operands: random */
                } else {
                    if (s < sweep)
                        s -= nsamp[i];
                    j = (size_t)(im_rng_next(&rng) % nsamp[i]);
                }
                ops[i] = samples[i][j];
            }
            uint8_t code[16], code2[16];
            size_t len, len2;
            im_fixup fx;
            if (a->encode(t, f, ops, code, &len, &fx) < 0)
                continue;
            char text[256];
            if (im_form_print(a, t, f, ops, text, sizeof text) < 0)
                continue;
            int form2;
            if (im_asm_one(t, text, code2, &len2, &form2) < 0) {
                tool_error("vectors", "form %s: cannot re-read '%s': %s", f->id, text, im_detail());
                bad = 1;
                continue;
            }
            if (len2 != len || memcmp(code, code2, len))
                continue; /* the text selects another form by default: not this form's vector */
            char h[40];
            hex(code, len, h);
            printf("%s\t%s\t%s\n", f->id, text, h);
            kept++;
        }
        total += kept;
        if (!kept) {
            tool_error("vectors", "form %s: no vector (every sample rejected or re-read as another form)", f->id);
            bad = 1;
        }
    }
    printf("# forms=%zu vectors=%zu\n", nforms, total);
    for (unsigned i = 0; i < IM_MAX_OPS; i++)
        free(samples[i]);
    if (fflush(stdout) != 0)
        bad = 1;
    return bad;
}
