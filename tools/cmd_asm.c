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
    fprintf(f,
            "usage: imago asm -a TARGET IN.s [-a TARGET IN.s ...] -o OUT\n"
            "       imago asm --targets T1,T2,... IN.s -o OUT\n"
            "       imago asm [-m MODULE] -a TARGET IN.s ... --add-to IMG [-o OUT]\n"
            "       imago asm -a TARGET --raw IN.s -o OUT\n\n"
            "Assemble GNU-syntax source (the file GNU as reads for the same target) into an\n"
            "imago image: one section per input and target (x86_64, i386, arm, aarch64), in\n"
            "a named module; (module, target) pairs are unique in an image.\n"
            "  -a, --arch TARGET  the target of the inputs that follow (an input given before\n"
            "                     any target takes the next one)\n"
            "  --targets T1,T2    the inputs that follow are assembled once per target\n"
            "                     (targets that share a syntax: x86_64,i386)\n"
            "  -m NAME            the module of the inputs that follow\n"
            "  --module NAME      the module of inputs without -m (default \"main\")\n"
            "  --add-to IMG       add the new sections to the modules of image IMG and write\n"
            "                     the result to OUT (default: IMG itself, replaced atomically)\n"
            "  -o FILE            output file (written whole or not at all)\n"
            "  --raw              write the bare code bytes, linked at address 0 (one input,\n"
            "                     one target)\n"
            "The directives read (.import NAME and NAME@toc for calls between modules, ARM's\n"
            "ldr rN, =value with its literal pools) are described in docs/asm.md.\n"
            "Errors name FILE:LINE and the reason; the exit status is then 1 and no file is\n"
            "written.\n");
}

typedef struct asm_job {
    const char *in;
    im_target t;
    const char *module; /* NULL: the --module default */
} asm_job;

/* A module name: 1..255 bytes, printable, no spaces. */
static int module_name_ok(const char *m)
{
    size_t n = strlen(m);
    if (n == 0 || n > 255)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)m[i] <= ' ' || (unsigned char)m[i] >= 0x7f)
            return 0;
    return 1;
}

/* Parse "T1,T2,..." into ts (at most IM_TARGET_COUNT); the count, or -1 (error printed). */
static int parse_targets(const char *list, im_target *ts)
{
    int n = 0;
    const char *p = list;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char name[32];
        if (len == 0 || len >= sizeof name) {
            tool_error("asm", "bad target list '%s'", list);
            return -1;
        }
        memcpy(name, p, len);
        name[len] = '\0';
        im_target t = im_target_from_name(name);
        if (t == IM_TARGET_NONE) {
            tool_error("asm", "unknown target '%s' (known: x86_64, i386, arm, aarch64)", name);
            return -1;
        }
        for (int i = 0; i < n; i++)
            if (ts[i] == t) {
                tool_error("asm", "target '%s' named twice in '%s'", name, list);
                return -1;
            }
        if (n == IM_TARGET_COUNT) {
            tool_error("asm", "too many targets in '%s'", list);
            return -1;
        }
        ts[n++] = t;
        if (!e)
            return n;
        p = e + 1;
    }
}

static int read_source(const char *in, uint8_t **src, size_t *len)
{
    FILE *f = fopen(in, "rb");
    int rd = f ? tool_read_stream(f, src, len) : -1;
    if (f)
        fclose(f);
    if (rd < 0) {
        tool_error("asm", "%s: %s", in, strerror(errno));
        return -1;
    }
    return 0;
}

int cmd_asm(int argc, char **argv)
{
    const char *out = NULL, *add_to = NULL, *def_module = NULL, *cur_module = NULL;
    int raw = 0, status = 2;
    im_target cur[IM_TARGET_COUNT];
    int ncur = 0;
    asm_job *jobs = calloc((size_t)argc * IM_TARGET_COUNT + 1, sizeof *jobs);
    size_t njobs = 0, pending = 0; /* inputs seen before any target (pending of them) */
    const char **pend = calloc((size_t)argc + 1, sizeof *pend);
    const char **pend_mod = calloc((size_t)argc + 1, sizeof *pend_mod);
    im_image *img = NULL;
    if (!jobs || !pend || !pend_mod) {
        tool_error("asm", "out of memory");
        status = 1;
        goto done;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            asm_usage(stdout);
            status = 0;
            goto done;
        } else if ((!strcmp(a, "-a") || !strcmp(a, "--arch") || !strcmp(a, "--target") ||
                    !strcmp(a, "--targets")) &&
                   i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(a, "--targets") != 0 && strchr(v, ',')) {
                tool_error("asm", "%s takes one target ('%s'); use --targets T1,T2", a, v);
                goto done;
            }
            if ((ncur = parse_targets(v, cur)) < 0)
                goto done;
            for (size_t k = 0; k < pending; k++)
                for (int j = 0; j < ncur; j++)
                    jobs[njobs++] = (asm_job){pend[k], cur[j], pend_mod[k]};
            pending = 0;
        } else if (!strcmp(a, "-o") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(a, "-m") && i + 1 < argc) {
            cur_module = argv[++i];
            if (!module_name_ok(cur_module)) {
                tool_error("asm", "bad module name '%s' (1 to 255 printable characters, no "
                                  "spaces)",
                           cur_module);
                goto done;
            }
        } else if (!strcmp(a, "--module") && i + 1 < argc) {
            def_module = argv[++i];
            if (!module_name_ok(def_module)) {
                tool_error("asm", "bad module name '%s' (1 to 255 printable characters, no "
                                  "spaces)",
                           def_module);
                goto done;
            }
        } else if (!strcmp(a, "--add-to") && i + 1 < argc) {
            add_to = argv[++i];
        } else if (!strcmp(a, "--raw")) {
            raw = 1;
        } else if (a[0] == '-' && a[1]) {
            if (i + 1 >= argc && (!strcmp(a, "-a") || !strcmp(a, "-o") || !strcmp(a, "-m") ||
                                  !strcmp(a, "--module") || !strcmp(a, "--add-to") ||
                                  !strcmp(a, "--targets") || !strcmp(a, "--arch") ||
                                  !strcmp(a, "--target")))
                tool_error("asm", "%s needs a value", a);
            else
                tool_error("asm", "unknown option '%s'", a);
            asm_usage(stderr);
            goto done;
        } else if (ncur == 0) {
            pend_mod[pending] = cur_module;
            pend[pending++] = a;
        } else {
            for (int j = 0; j < ncur; j++)
                jobs[njobs++] = (asm_job){a, cur[j], cur_module};
        }
    }
    if (pending) {
        tool_error("asm", "missing -a TARGET for '%s'", pend[0]);
        asm_usage(stderr);
        goto done;
    }
    if (!njobs) {
        tool_error("asm", "%s", ncur == 0 ? "missing -a TARGET" : "missing input file");
        asm_usage(stderr);
        goto done;
    }
    if (!out && !add_to) {
        tool_error("asm", "missing -o OUT");
        asm_usage(stderr);
        goto done;
    }
    for (size_t k = 0; k < njobs; k++)
        if (!jobs[k].module)
            jobs[k].module = def_module ? def_module : IM_DEFAULT_MODULE;
    if (raw && (njobs != 1 || add_to)) {
        tool_error("asm", "--raw writes the code of one input for one target (%zu given%s)",
                   njobs, add_to ? ", and --add-to" : "");
        goto done;
    }
    /* (module, target) pairs are unique in an image */
    for (size_t k = 0; k < njobs; k++)
        for (size_t j = 0; j < k; j++)
            if (jobs[j].t == jobs[k].t && !strcmp(jobs[j].module, jobs[k].module)) {
                tool_error("asm",
                           "module '%s' gets two %s sections ('%s' and '%s'): give one of them "
                           "another module (-m NAME)",
                           jobs[k].module, im_target_name(jobs[k].t), jobs[j].in, jobs[k].in);
                goto done;
            }
    status = 1;
    if (add_to) {
        int rc = im_img_read_file(add_to, &img);
        if (rc < 0) {
            tool_error("asm", "%s: %s: %s", add_to, im_strerror(rc), im_detail());
            goto done;
        }
        for (size_t k = 0; k < njobs; k++)
            if (im_img_module_section(img, jobs[k].module, jobs[k].t)) {
                tool_error("asm", "%s: module '%s' already has a %s section (from '%s')", add_to,
                           jobs[k].module, im_target_name(jobs[k].t), jobs[k].in);
                goto done;
            }
        if (!out)
            out = add_to;
    } else if (!raw && !(img = im_img_new())) {
        tool_error("asm", "out of memory");
        goto done;
    }
    for (size_t k = 0; k < njobs; k++) {
        uint8_t *src;
        size_t len;
        if (read_source(jobs[k].in, &src, &len) < 0)
            goto done;
        im_buf *b;
        int line;
        int rc = im_asm(jobs[k].t, (const char *)src, len, &b, &line);
        free(src);
        if (rc < 0) {
            const char *tn = njobs > 1 ? im_target_name(jobs[k].t) : NULL;
            if (line)
                fprintf(stderr, "%s:%d: error: %s%s%s\n", jobs[k].in, line, tn ? tn : "",
                        tn ? ": " : "", im_detail());
            else
                fprintf(stderr, "%s: error: %s%s%s\n", jobs[k].in, tn ? tn : "", tn ? ": " : "",
                        im_detail());
            goto done;
        }
        if (raw) {
            /* bare bytes hold no imports: code that has some needs an image */
            im_image *tmp = im_img_new();
            rc = tmp ? im_buf_to_module(b, jobs[k].module, tmp) : IM_ERR_NOMEM;
            if (rc == 0 && tmp->nsections && tmp->sections[0].nimports) {
                fprintf(stderr, "%s: error: --raw: the code imports '%s' (bare bytes have no "
                                "imports: write an image)\n",
                        jobs[k].in, tmp->sections[0].imports[0].name);
                im_img_free(tmp);
                im_buf_free(b);
                goto done;
            }
            im_img_free(tmp);
            size_t n;
            const uint8_t *code = im_buf_code(b, &n);
            if (rc == 0)
                rc = im_write_file_atomic(out, code, n);
        } else {
            rc = im_buf_to_module(b, jobs[k].module, img);
        }
        im_buf_free(b);
        if (rc < 0) {
            tool_error("asm", "%s: %s: %s", raw ? out : jobs[k].in, im_strerror(rc), im_detail());
            goto done;
        }
    }
    if (!raw) {
        int rc = im_img_write_file(img, out);
        if (rc < 0) {
            tool_error("asm", "%s: %s: %s", out, im_strerror(rc), im_detail());
            goto done;
        }
    }
    status = 0;
done:
    im_img_free(img);
    free(jobs);
    free(pend);
    free(pend_mod);
    return status;
}

/* ---- vectors ---- */

static void vectors_usage(FILE *f)
{
    fprintf(f,
            "usage: imago vectors -a TARGET [--seed N] [--per-form K] [--form ID]\n"
            "                     [--negatives on|off|only|lenient] [--neg-per-form K]\n\n"
            "Print conformance vectors, one per line: form<TAB>text<TAB>hex. Operands are swept\n"
            "from each row's kinds (every register, immediate edges, random values from the\n"
            "seed); a vector is kept when re-reading its text selects the same bytes (the\n"
            "encoding GNU as picks by default). Text that imago cannot re-read is an error.\n"
            "Negatives follow, with an empty hex field: texts made from the rows' domains\n"
            "that the assembler rejects (combinations the encoder refuses, an operand of\n"
            "another kind, a bad operand of the kind, a row of the other x86 mode).\n"
            "  --per-form K      operand combinations tried per form (default 1500)\n"
            "  --negatives MODE  on: after the vectors (the default); off: none; only:\n"
            "                    negatives alone;\n"
            "                    lenient: alone, the rejected texts GNU as accepts by\n"
            "                    truncating a value or reading a name as a symbol\n"
            "  --neg-per-form K  negatives kept per form, at most (default 200)\n");
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* One vector line, form<TAB>text<TAB>hex (stdout is a file or a pipe: fully buffered). */
static void put_vector(const char *id, const char *text, const char *h)
{
    fputs(id, stdout);
    putchar('\t');
    fputs(text, stdout);
    putchar('\t');
    fputs(h, stdout);
    putchar('\n');
}

/* ---- negatives ---- */

enum { NC_COMBO, NC_KIND, NC_OPERAND, NC_MODE, NC_LENIENT, NC_COUNT };
static const char *const nc_names[NC_COUNT] = {"combo", "kind", "operand", "mode", "lenient"};
enum { NEG_OFF, NEG_ON, NEG_ONLY, NEG_LENIENT };

typedef struct kind_samples {
    im_operand *ops;
    size_t n;
    bool used; /* some row valid on the target has an operand of this kind */
} kind_samples;

typedef struct negctx {
    const im_arch *a;
    im_target t;
    int mode;
    long per_form;                     /* negatives kept per form, at most */
    long kept;                         /* of the current form */
    size_t accepted;                   /* bad operands the assembler took (printed as vectors) */
    kind_samples *ks[IM_TARGET_COUNT]; /* per target of this arch: per kind */
    uint64_t *set;                     /* hashes of the texts printed (open addressing) */
    size_t cap, used;
    size_t count[NC_COUNT];
    int bad;
} negctx;

static uint64_t text_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h | 1; /* 0 marks an empty slot */
}

/* true when h was not in the set (and now is) */
static bool set_add(negctx *c, uint64_t h)
{
    if (2 * (c->used + 1) > c->cap) {
        size_t ncap = c->cap ? 2 * c->cap : 1 << 16;
        uint64_t *n = calloc(ncap, sizeof *n);
        if (!n) {
            c->bad = 1;
            return false;
        }
        for (size_t i = 0; i < c->cap; i++)
            if (c->set[i])
                for (size_t j = c->set[i] & (ncap - 1);; j = (j + 1) & (ncap - 1))
                    if (!n[j]) {
                        n[j] = c->set[i];
                        break;
                    }
        free(c->set);
        c->set = n;
        c->cap = ncap;
    }
    for (size_t j = h & (c->cap - 1);; j = (j + 1) & (c->cap - 1)) {
        if (c->set[j] == h)
            return false;
        if (!c->set[j]) {
            c->set[j] = h;
            c->used++;
            return true;
        }
    }
}

/* A candidate: printed as a negative when the assembler (every row) rejects it. */
static void candidate(negctx *c, const im_form *f, const char *text, int cls)
{
    uint8_t code[16];
    size_t len;
    int form;
    int rc = im_asm_one(c->t, text, code, &len, &form);
    /* Whatever the class, a text refused only as UNPREDICTABLE is one GNU as may take
     * with a warning (docs/testing.md, "Negatives"). */
    if (rc == IM_ERR_UNPREDICTABLE)
        cls = NC_LENIENT;
    if ((c->mode == NEG_LENIENT) != (cls == NC_LENIENT))
        return;
    if (!set_add(c, text_hash(text)))
        return;
    if (rc >= 0) {
        /* Another kind's operand may well fit another row: not a negative. A bad operand
         * never may: printed as the vector imago makes of it, which GNU as rejects (or
         * warns about), so the conformance suite reports it. */
        if (cls == NC_OPERAND || cls == NC_LENIENT) {
            char h[40];
            hex(code, len, h);
            put_vector(c->a->forms[form].id, text, h);
            c->accepted++;
        }
        return;
    }
    put_vector(f->id, text, "");
    c->count[cls]++;
    c->kept++;
}

static kind_samples *samples_for(negctx *c, im_target t)
{
    if (c->ks[t])
        return c->ks[t];
    const im_arch *a = c->a;
    kind_samples *ks = calloc(a->nkinds, sizeof *ks);
    im_operand *tmp = malloc(sizeof(im_operand) * IM_MAX_SAMPLES);
    if (!ks || !tmp) {
        free(ks);
        free(tmp);
        return NULL;
    }
    for (size_t fi = 0; fi < a->nforms; fi++)
        if (a->form_ok(t, &a->forms[fi]))
            for (unsigned i = 0; i < a->forms[fi].nops; i++)
                ks[a->forms[fi].kinds[i]].used = true;
    for (unsigned k = 0; k < a->nkinds; k++) {
        im_rng rng = {0x6e6567ull * (k + 1) + (uint64_t)t};
        ks[k].n = a->samples(t, k, &rng, tmp, IM_MAX_SAMPLES);
        ks[k].ops = malloc(sizeof(im_operand) * (ks[k].n ? ks[k].n : 1));
        if (ks[k].ops)
            memcpy(ks[k].ops, tmp, sizeof(im_operand) * ks[k].n);
        else
            ks[k].n = 0;
    }
    free(tmp);
    c->ks[t] = ks;
    return ks;
}

/* Random valid operands of f on target t; false when a kind has no samples. */
static bool random_ops(const im_form *f, const kind_samples *ks, im_rng *rng, im_operand *ops)
{
    for (unsigned i = 0; i < f->nops; i++) {
        const kind_samples *s = &ks[f->kinds[i]];
        if (!s->n)
            return false;
        ops[i] = s->ops[im_rng_next(rng) % s->n];
    }
    return true;
}

static bool wide(im_target t)
{
    return t == IM_TARGET_X86_64 || t == IM_TARGET_AARCH64;
}

/* One round of candidates for f: a few of each class. */
/* How many of the register operands are printed, on t2, as names target t does not know.
 * GNU as for t reads such a name as a symbol (a memory operand): one of them next to a
 * register is a valid instruction (`xchg eax, r8d` is xchg with memory), two are not. */
static int foreign_regs(const im_arch *a, im_target t, im_target t2, const im_form *f,
                        const im_operand *ops)
{
    int n = 0;
    for (unsigned i = 0; i < f->nops; i++) {
        if (ops[i].type != IM_OP_REG)
            continue;
        char name[64] = "";
        a->print(t2, f->kinds[i], &ops[i], name, sizeof name);
        const char *p = name;
        im_operand o;
        if (a->parse(t, f->kinds[i], &p, &o, NULL) < 0)
            n++;
    }
    return n;
}

static void negatives_round(negctx *c, const im_form *f, im_rng *rng)
{
    const im_arch *a = c->a;
    im_target t = c->t;
    im_operand ops[IM_MAX_OPS];
    char text[256], sub[128];
    if (!a->form_ok(t, f)) {
        /* (d) a row of the 64-bit mode, as that mode prints it, on the 32-bit one. Only
         * rows of two operands or more: GNU as for i386 reads an x86_64 register name as a
         * symbol, so a lone `push rax` is a memory operand there, while two of them are
         * memory to memory or of no size. Not the other way: x86_64 GNU as reads the
         * i386-only rows' absolute addresses (`mov eax, DWORD PTR [0xffffffff]`) as its
         * 64-bit moffs form. */
        for (im_target t2 = 1; t2 < IM_TARGET_COUNT; t2++) {
            if (t2 == t || im_arch_for(t2) != a || !a->form_ok(t2, f) || !wide(t2) || wide(t) ||
                f->nops < 2)
                continue;
            kind_samples *ks2 = samples_for(c, t2);
            for (int k = 0; ks2 && k < 4; k++)
                if (random_ops(f, ks2, rng, ops) && foreign_regs(a, t, t2, f, ops) >= 2 &&
                    im_form_print(a, t2, f, ops, text, sizeof text) >= 0)
                    candidate(c, f, text, NC_MODE);
        }
        return;
    }
    kind_samples *ks = samples_for(c, t);
    if (!ks || !random_ops(f, ks, rng, ops))
        return;
    /* (a) combinations of valid samples that the encoder refuses */
    for (int k = 0; k < 4; k++) {
        uint8_t code[16];
        size_t len;
        im_fixup fx;
        if (random_ops(f, ks, rng, ops) && a->encode(t, f, ops, code, &len, &fx) < 0 &&
            im_form_print(a, t, f, ops, text, sizeof text) >= 0)
            candidate(c, f, text, NC_COMBO);
    }
    for (unsigned i = 0; i < f->nops; i++) {
        unsigned k1 = f->kinds[i], c1 = a->kinds[k1].cls;
        /* a condition has only (c): A32's unconditional rows (kind nocond) name the
         * conditions GNU as refuses on them */
        bool cond = c1 == IM_KC_COND || i == f->cond_op;
        /* (b) an operand of another kind of this target, printed as that kind, where x86
         * (and GNU as) has no instruction of any shape: memory for a non-memory operand of
         * a row whose other operand is memory (memory to memory), and a register of another
         * class for a register where another operand is a register too (a size mismatch).
         * Register classes only (kinds with more than one register: a fixed register such
         * as cl picks another instruction), and only kinds some row of this target uses
         * (i386 reads x86_64 register names as symbols). Immediates out of range are (c). */
        for (unsigned k2 = 0; k2 < a->nkinds && c1 != IM_KC_REL && !cond; k2++) {
            unsigned c2 = a->kinds[k2].cls;
            bool mem2 = c2 == IM_KC_MEM || c2 == IM_KC_RM;
            bool reg2 = c2 == IM_KC_REG && ks[k2].n > 1;
            if (k2 == k1 || !ks[k2].used || !ks[k2].n || (!mem2 && !reg2))
                continue;
            if (reg2 && (ks[k1].n < 2 || (c1 != IM_KC_REG && c1 != IM_KC_RM)))
                continue;
            /* GNU as reads movd/movq between general registers as mov (an AT&T suffix
             * taken in Intel syntax) and movd with a 64-bit register as movq, and refuses
             * other mixes: no register substitutions in those rows */
            if (reg2 && (!strcmp(f->mnem, "movd") || !strcmp(f->mnem, "movq")))
                continue;
            for (int j = 0; j < 2; j++) {
                const im_operand *s2 = &ks[k2].ops[im_rng_next(rng) % ks[k2].n];
                if (mem2 && s2->type != IM_OP_MEM)
                    continue;
                bool other = false;
                for (int tries = 0; tries < 8 && !other; tries++) {
                    if (!random_ops(f, ks, rng, ops))
                        return;
                    if (ops[i].type == IM_OP_MEM)
                        continue;
                    for (unsigned o = 0; o < f->nops; o++)
                        if (o != i && (mem2 ? ops[o].type == IM_OP_MEM
                                            : ops[o].type == IM_OP_REG && ks[f->kinds[o]].n > 1))
                            other = true;
                }
                if (!other)
                    break;
                /* a slot where an immediate fits too: GNU as may read the name as a
                 * symbol (im_arch.imm_text) */
                uint8_t code[16];
                size_t len;
                int form, rc;
                if (reg2 && a->imm_text &&
                    im_form_print_with(a, t, f, ops, (int)i, a->imm_text, text, sizeof text) >= 0 &&
                    ((rc = im_asm_one(t, text, code, &len, &form)) >= 0 ||
                     rc == IM_ERR_UNPREDICTABLE))
                    break;
                sub[0] = '\0';
                a->print(t, k2, s2, sub, sizeof sub);
                if (im_form_print_with(a, t, f, ops, (int)i, sub, text, sizeof text) >= 0)
                    candidate(c, f, text, NC_KIND);
            }
        }
        /* (c) operands the kind never produces (a target kind's too: adrp's page range) */
        if (!a->bad_samples)
            continue;
        im_bad_sample bad[64];
        memset(bad, 0, sizeof bad); /* a kind that sets no lenient flag means not lenient */
        size_t nb = a->bad_samples(t, k1, rng, bad, sizeof bad / sizeof bad[0]);
        for (size_t j = 0; j < nb; j++) {
            if (!random_ops(f, ks, rng, ops))
                return;
            if (im_form_print_with(a, t, f, ops, (int)i, bad[j].text, text, sizeof text) >= 0)
                candidate(c, f, text, bad[j].lenient ? NC_LENIENT : NC_OPERAND);
        }
    }
}

/* Rounds until the form has per_form negatives, or four rounds in a row add none. */
static void negatives_of(negctx *c, const im_form *f, im_rng *rng)
{
    c->kept = 0;
    for (int idle = 0, r = 0; r < 256 && idle < 4 && c->kept < c->per_form; r++) {
        long before = c->kept;
        negatives_round(c, f, rng);
        idle = c->kept == before ? idle + 1 : 0;
    }
}

static int negatives(const im_arch *a, im_target t, int mode, const char *only,
                     unsigned long long seed, long per_form)
{
    negctx c = {0};
    c.a = a;
    c.t = t;
    c.mode = mode;
    c.per_form = per_form;
    for (size_t fi = 0; fi < a->nforms; fi++) {
        const im_form *f = &a->forms[fi];
        if (only && strcmp(only, f->id))
            continue;
        im_rng rng = {(seed * 0x100000001b3ull + fi) ^ 0x6e65676174697665ull};
        negatives_of(&c, f, &rng);
    }
    size_t total = 0;
    printf("# negatives");
    for (int i = 0; i < NC_COUNT; i++) {
        total += c.count[i];
        printf(" %s=%zu", nc_names[i], c.count[i]);
    }
    printf(" total=%zu bad-operands-accepted=%zu\n", total, c.accepted);
    for (int t2 = 0; t2 < IM_TARGET_COUNT; t2++) {
        if (!c.ks[t2])
            continue;
        for (unsigned k = 0; k < a->nkinds; k++)
            free(c.ks[t2][k].ops);
        free(c.ks[t2]);
    }
    free(c.set);
    if (c.bad)
        tool_error("vectors", "out of memory");
    return c.bad;
}

int cmd_vectors(int argc, char **argv)
{
    const char *target = NULL, *only = NULL;
    unsigned long long seed = 1;
    long per_form = 1500, neg_per_form = 200;
    int neg = -1;
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
        } else if (!strcmp(argv[i], "--neg-per-form") && i + 1 < argc) {
            neg_per_form = strtol(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--negatives") && i + 1 < argc) {
            const char *m = argv[++i];
            neg = !strcmp(m, "on")        ? NEG_ON
                  : !strcmp(m, "off")     ? NEG_OFF
                  : !strcmp(m, "only")    ? NEG_ONLY
                  : !strcmp(m, "lenient") ? NEG_LENIENT
                                          : -2;
            if (neg == -2) {
                tool_error("vectors", "--negatives takes on, off, only or lenient, not '%s'", m);
                return 2;
            }
        } else {
            tool_error("vectors", "unknown argument '%s'", argv[i]);
            vectors_usage(stderr);
            return 2;
        }
    }
    im_target t = target ? im_target_from_name(target) : IM_TARGET_NONE;
    if (t == IM_TARGET_NONE) {
        tool_error("vectors", target ? "unknown target '%s'" : "missing -a TARGET%s",
                   target ? target : "");
        return 2;
    }
    if (per_form < 1)
        per_form = 1;
    if (neg_per_form < 1)
        neg_per_form = 1;
    const im_arch *a = im_arch_for(t);
    if (neg < 0) /* every target describes its bad operands (im_arch.bad_samples) */
        neg = a->bad_samples ? NEG_ON : NEG_OFF;
    if (neg == NEG_ONLY || neg == NEG_LENIENT) {
        printf("# imago vectors target=%s seed=%llu negatives=%s\n", im_target_name(t), seed,
               neg == NEG_ONLY ? "only" : "lenient");
        int rc = negatives(a, t, neg == NEG_ONLY ? NEG_ON : NEG_LENIENT, only, seed, neg_per_form);
        return fflush(stdout) != 0 ? 1 : rc;
    }
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
                tool_error("vectors", "form %s: kind %s has no samples", f->id,
                           a->kinds[f->kinds[i]].name);
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
            put_vector(f->id, text, h);
            kept++;
        }
        total += kept;
        if (!kept) {
            tool_error("vectors",
                       "form %s: no vector (every sample rejected or re-read as another form)",
                       f->id);
            bad = 1;
        }
    }
    printf("# forms=%zu vectors=%zu\n", nforms, total);
    for (unsigned i = 0; i < IM_MAX_OPS; i++)
        free(samples[i]);
    if (neg == NEG_ON && negatives(a, t, NEG_ON, only, seed, neg_per_form))
        bad = 1;
    if (fflush(stdout) != 0)
        bad = 1;
    return bad;
}
