/* imago state: the parts every architecture's state check shares (tools/state.h). */
#include "state.h"

#include <errno.h>
#include <stdarg.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

uint64_t st_code_addr(unsigned slot)
{
    return ST_CODE_BASE + ST_CODE_PRO + (uint64_t)slot * ST_CODE_STRIDE;
}

uint64_t st_code_base(unsigned slot)
{
    return ST_CODE_BASE + (((uint64_t)slot * ST_CODE_STRIDE) & ~(uint64_t)4095);
}

uint64_t st_rec_addr(unsigned slot)
{
    return ST_DATA + ST_HDR + (uint64_t)slot * ST_REC;
}

uint64_t st_fnv(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

uint64_t st_rnd_value(im_rng *r, int mode)
{
    static const uint64_t edges[] = {0,
                                     1,
                                     2,
                                     0x7f,
                                     0x80,
                                     0xff,
                                     0x7fff,
                                     0x8000,
                                     0xffff,
                                     0x7fffffff,
                                     0x80000000u,
                                     0xffffffffu,
                                     0x100000000ull,
                                     0x7fffffffffffffffull,
                                     0x8000000000000000ull,
                                     ~0ull,
                                     ~0ull - 1};
    uint64_t x = im_rng_next(r);
    switch (mode) {
    case 0: return x % 17;                                      /* small */
    case 1: return edges[x % (sizeof edges / sizeof edges[0])]; /* edges */
    default: return im_rng_next(r);
    }
}

int st_key_names(const char *key, const im_form *f)
{
    if (!strcmp(key, f->id) || !strcmp(key, f->mnem))
        return 1;
    const char *t = f->tpl;
    if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z')))
        return 0;
    size_t l = strcspn(t, " ");
    return strlen(key) == l && !strncmp(key, t, l);
}

int st_read_rules(const char *cmd, const char *path,
                  int (*line)(void *ctx, char **fields, int nf, const char *path, int ln),
                  void *ctx)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        tool_error(cmd, "%s: %s", path, strerror(errno));
        return 1;
    }
    char buf[512];
    int ln = 0;
    while (fgets(buf, sizeof buf, f)) {
        ln++;
        buf[strcspn(buf, "\r\n")] = '\0';
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = '\0';
        char *fields[3] = {0};
        int nf = 0;
        for (char *s = strtok(buf, "\t"); s && nf < 3; s = strtok(NULL, "\t")) {
            while (*s == ' ')
                s++;
            size_t l = strlen(s);
            while (l && s[l - 1] == ' ')
                s[--l] = '\0';
            if (*s)
                fields[nf++] = s;
        }
        if (nf && line(ctx, fields, nf, path, ln)) {
            fclose(f);
            return 1;
        }
    }
    fclose(f);
    return 0;
}

struct skip_ctx {
    const char *cmd;
    struct st_skips *s;
};

static int skip_line(void *ctx, char **fields, int nf, const char *path, int ln)
{
    struct skip_ctx *k = ctx;
    if (nf < 2 || strlen(fields[0]) >= sizeof k->s->v->key) {
        tool_error(k->cmd, "%s:%d: expected KEY<TAB>REASON", path, ln);
        return 1;
    }
    struct st_skip *nv = realloc(k->s->v, (k->s->n + 1) * sizeof *nv);
    if (!nv)
        abort();
    k->s->v = nv;
    struct st_skip *r = &nv[k->s->n++];
    snprintf(r->key, sizeof r->key, "%s", fields[0]);
    snprintf(r->reason, sizeof r->reason, "%s", fields[1]);
    return 0;
}

int st_read_skips(const char *cmd, const char *path, struct st_skips *out)
{
    struct skip_ctx k = {cmd, out};
    return st_read_rules(cmd, path, skip_line, &k);
}

const char *st_skip_reason(const struct st_skips *s, const im_form *f)
{
    for (size_t i = 0; i < s->n; i++)
        if (st_key_names(s->v[i].key, f))
            return s->v[i].reason;
    return NULL;
}

/* ---- running ---- */

/* Run cases cs[0..n) on emu; results into res[]. 0, or 1 when the batch faulted. */
static int run_batch(im_emu *emu, im_engine e, const struct st_ops *o, struct st_case *const *cs,
                     size_t n, struct st_outcome *res, int *infra)
{
    im_image *img;
    uint64_t addr = ST_DATA + (uint64_t)cs[0]->slot * ST_REC; /* the header, then the records */
    uint64_t base = st_code_base(cs[0]->slot);
    int err = o->build(o, cs, n, addr, base, &img);
    if (err) {
        tool_error(o->cmd, "%s: building the cases of %s: %s: %s", im_target_name(o->t),
                   o->a->forms[cs[0]->form].id, im_strerror(err), im_detail());
        *infra = 1;
        return 1;
    }
    err = im_emu_load(emu, img, base);
    im_img_free(img);
    if (err) {
        tool_error(o->cmd, "%s: loading on %s: %s: %s", im_target_name(o->t), im_engine_name(e),
                   im_strerror(err), im_detail());
        *infra = 1;
        return 1;
    }
    size_t len = ST_HDR + n * ST_REC;
    uint8_t *block = calloc(1, len);
    if (!block)
        abort();
    for (size_t i = 0; i < n; i++)
        o->put(o, cs[i], block + ST_HDR + i * ST_REC);
    int64_t result;
    err = im_emu_call_data(emu, "run", block, len, addr, NULL, 0, &result);
    if (err && err != IM_ERR_ENGINE) {
        tool_error(o->cmd, "%s on %s: %s: %s", im_target_name(o->t), im_engine_name(e),
                   im_strerror(err), im_detail());
        *infra = 1;
        free(block);
        return 1;
    }
    if (err) {
        const char *d = im_detail();
        const char *cmd = strstr(d, " (command:"); /* the message without the command line */
        int dl = cmd ? (int)(cmd - d) : (int)strlen(d);
        for (size_t i = 0; i < n; i++) {
            res[i].faulted = 1;
            snprintf(res[i].detail, sizeof res[i].detail, "%.*s", dl, d);
        }
        free(block);
        return 1;
    }
    const char *drop = getenv("IMAGO_FAULT_STATE_DROP");
    if (drop && *drop && !strcmp(drop, im_engine_name(e)))
        block[ST_HDR + o->drop_off] = 0;
    for (size_t i = 0; i < n; i++) {
        res[i].faulted = 0;
        res[i].detail[0] = '\0';
        memcpy(res[i].rec, block + ST_HDR + i * ST_REC, ST_REC);
    }
    free(block);
    return 0;
}

/* Run cases s..s+m as one batch; when it faults, split it by form, then run each case of a
 * faulting form alone. bat[i] receives the first case of the batch case i finally ran in
 * (its length in blen[i]), so another engine can run the same batches: the same code at the
 * same addresses (a call's return address is a code address). */
static void run_range(im_emu *emu, im_engine e, const struct st_ops *o, struct st_case **cs,
                      size_t s, size_t m, struct st_outcome *res, size_t *bat, size_t *blen,
                      int *infra)
{
    if (!run_batch(emu, e, o, cs + s, m, res + s, infra) || *infra || m == 1) {
        for (size_t i = s; i < s + m; i++) {
            bat[i] = s;
            blen[i] = m;
        }
        return;
    }
    int one_form = cs[s]->form == cs[s + m - 1]->form;
    for (size_t i = s; i < s + m && !*infra;) {
        size_t k = i + 1;
        if (!one_form)
            while (k < s + m && cs[k]->form == cs[i]->form)
                k++;
        run_range(emu, e, o, cs, i, k - i, res, bat, blen, infra);
        i = k;
    }
}

int st_run_all(im_emu *emu, im_engine e, const struct st_ops *o, struct st_case **cs, size_t n,
               struct st_outcome *res, size_t *bat, size_t *blen)
{
    int infra = 0;
    for (size_t start = 0; start < n && !infra; start += ST_CHUNK)
        run_range(emu, e, o, cs, start, n - start < ST_CHUNK ? n - start : ST_CHUNK, res, bat,
                  blen, &infra);
    return infra;
}

int st_run_like(im_emu *emu, im_engine e, const struct st_ops *o, struct st_case **cs, size_t n,
                const size_t *bat, const size_t *blen, struct st_outcome *res)
{
    int infra = 0;
    size_t *b2 = calloc(n ? n : 1, sizeof *b2), *l2 = calloc(n ? n : 1, sizeof *l2);
    for (size_t i = 0; i < n && !infra; i += blen[i]) {
        if (bat[i] != i || !blen[i])
            abort(); /* batches are contiguous runs that start where the previous ended */
        run_range(emu, e, o, cs, i, blen[i], res, b2, l2, &infra);
    }
    free(b2);
    free(l2);
    return infra;
}

static int opt_error(void (*usage)(FILE *f), const char *fmt, const char *arg)
{
    fprintf(stderr, "imago state: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    usage(stderr);
    return 2;
}

int st_parse_opts(int argc, char **argv, struct st_opts *o, void (*usage)(FILE *f),
                  int allow_reference, int *exit_status)
{
    memset(o, 0, sizeof *o);
    o->cases = 16;
    o->shard_i = o->shard_n = 1;
    o->seed = 1;
    *exit_status = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--scaffold")) {
            o->scaffold = 1;
            continue;
        }
        if (i + 1 >= argc)
            return *exit_status = opt_error(usage, "%s needs a value", a);
        const char *v = argv[++i];
        char *end;
        if (!strcmp(a, "-a") || !strcmp(a, "--target"))
            o->target = v;
        else if (!strcmp(a, "--engine") || !strcmp(a, "-e"))
            o->engine = v;
        else if (allow_reference && !strcmp(a, "--reference"))
            o->reference = v;
        else if (!strcmp(a, "--undefined"))
            o->undefined = v;
        else if (!strcmp(a, "--notrun"))
            o->notrun = v;
        else if (!strcmp(a, "--implicit"))
            o->implicit = v;
        else if (!strcmp(a, "--form")) {
            if (o->nonly == sizeof o->only / sizeof o->only[0])
                return *exit_status = opt_error(usage, "at most 64 --form options%s", "");
            o->only[o->nonly++] = v;
        } else if (!strcmp(a, "--cases")) {
            unsigned long k = strtoul(v, &end, 10);
            if (*end || k == 0 || k > 1000)
                return *exit_status = opt_error(usage, "bad --cases '%s' (1..1000)", v);
            o->cases = (unsigned)k;
        } else if (!strcmp(a, "--seed")) {
            o->seed = strtoull(v, &end, 0);
            if (*end || !*v)
                return *exit_status = opt_error(usage, "bad --seed '%s'", v);
        } else if (!strcmp(a, "--shard")) {
            if (sscanf(v, "%u/%u", &o->shard_i, &o->shard_n) != 2 || o->shard_n == 0 ||
                o->shard_i == 0 || o->shard_i > o->shard_n)
                return *exit_status = opt_error(usage, "bad --shard '%s' (I/N, 1 <= I <= N)", v);
        } else
            return *exit_status = opt_error(usage, "unknown option '%s'", a);
    }
    return 0;
}

int st_image(im_buf *b, int entry, im_image **out)
{
    im_buf_export(b, "run", entry, IM_SYM_FUNC);
    int err = im_buf_finish(b);
    im_image *img = err ? NULL : im_img_new();
    if (!err && !img)
        err = IM_ERR_NOMEM;
    if (!err)
        err = im_buf_to_image(b, img);
    im_buf_free(b);
    if (err) {
        im_img_free(img);
        return err;
    }
    *out = img;
    return 0;
}

int st_chosen(const struct st_opts *o, const im_form *f, unsigned *ordinal)
{
    if (o->nonly) {
        for (size_t i = 0; i < o->nonly; i++)
            if (!strcmp(o->only[i], f->id))
                return 1;
        return 0;
    }
    return (*ordinal)++ % o->shard_n == o->shard_i - 1;
}

long st_draw(struct st_cases *cs, size_t size, unsigned cases, int fi, st_make_fn make,
             void *ctx, const char *cmd)
{
    long made = 0;
    for (unsigned k = 0; k < cases; k++) {
        if (cs->n >= ST_MAX_CASES) {
            tool_error(cmd, "more than %u cases: use fewer --cases or --shard", ST_MAX_CASES);
            return -1;
        }
        if (cs->n == cs->cap) {
            size_t cap = cs->cap ? 2 * cs->cap : 1024;
            struct st_case **v = realloc(cs->v, cap * sizeof *v);
            if (!v) {
                tool_error(cmd, "out of memory");
                return -1;
            }
            cs->v = v;
            cs->cap = cap;
        }
        struct st_case *c = malloc(size);
        if (!c || make(ctx, fi, k, (unsigned)cs->n, c)) {
            free(c);
            continue;
        }
        cs->v[cs->n++] = c;
        made++;
    }
    return made;
}

void st_cases_free(struct st_cases *cs)
{
    for (size_t i = 0; i < cs->n; i++)
        free(cs->v[i]);
    free(cs->v);
    cs->v = NULL;
    cs->n = cs->cap = 0;
}

const char *st_text_skip(const struct st_skips *s, const char *text)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strncmp(s->v[i].key, "allow:", 6) && !fnmatch(s->v[i].key + 6, text, 0))
            return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (!strncmp(s->v[i].key, "text:", 5) && !fnmatch(s->v[i].key + 5, text, 0))
            return s->v[i].reason;
    return NULL;
}

struct st_mem_shape st_mem_shape(const im_form *f)
{
    struct st_mem_shape m = {-1, {0}, 0, {0}, 0};
    int depth = 0;
    for (const char *p = f->tpl; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '[') {
            depth = 1;
            if ((unsigned char)p[1] >= 1 && (unsigned char)p[1] <= IM_MAX_OPS && m.base < 0)
                m.base = p[1] - 1, p++;
        } else if (ch == ']') {
            depth = 2;
        } else if (ch >= 1 && ch <= IM_MAX_OPS) {
            if (depth == 1)
                m.in[m.nin++] = ch - 1;
            else if (depth == 2 && m.base >= 0)
                m.post[m.npost++] = ch - 1;
        }
    }
    return m;
}

/* One item of a rule line (s, l bytes) into r: 0, or 1 after saying what is wrong. */
static int rule_item(const struct st_rules *rs, struct st_rule *r, const char *s, size_t l,
                     const char *path, int ln)
{
    unsigned b = 0;
    if (rs->implicit && l > 8 && !strncmp(s, "monitor:", 8)) {
        char id[64];
        snprintf(id, sizeof id, "%.*s", (int)(l - 8 < 63 ? l - 8 : 63), s + 8);
        r->mon = im_form_lookup(rs->t, id);
        if (r->mon < 0 || st_mem_shape(&im_arch_for(rs->t)->forms[r->mon]).base < 0) {
            tool_error(rs->cmd, "%s:%d: monitor:%s: %s", path, ln, id,
                       r->mon < 0 ? "no such form of the target" : "not a load with a base register");
            return 1;
        }
        b = ST_U_MONITOR;
    } else if (!rs->implicit && rs->distinct_bit && l > 9 && !strncmp(s, "distinct:", 9)) {
        unsigned i, j;
        char tail, item[32];
        snprintf(item, sizeof item, "%.*s", (int)(l < 31 ? l : 31), s);
        if (sscanf(item + 9, "%u:%u%c", &i, &j, &tail) != 2 || i >= IM_MAX_OPS ||
            j >= IM_MAX_OPS || i == j || r->ndis == ST_MAX_DISTINCT) {
            tool_error(rs->cmd, "%s:%d: bad item '%s' (distinct:I:J, operand indexes 0..%d)",
                       path, ln, item, IM_MAX_OPS - 1);
            return 1;
        }
        r->dis[r->ndis][0] = (unsigned char)i;
        r->dis[r->ndis++][1] = (unsigned char)j;
        b = rs->distinct_bit;
    } else if (rs->implicit) {
        b = l == 6 && !strncmp(s, "target", 6) ? ST_U_TARGET : 0;
    } else {
        for (size_t i = 0; i < rs->nitems; i++)
            if (strlen(rs->items[i].name) == l && !strncmp(s, rs->items[i].name, l))
                b = rs->items[i].bit;
    }
    if (!b) {
        char names[160] = "";
        if (rs->implicit)
            snprintf(names, sizeof names, "target, monitor:FORM");
        for (size_t i = 0; !rs->implicit && i < rs->nitems; i++)
            im_appendf(names, sizeof names, "%s%s", i ? ", " : "", rs->items[i].name);
        if (!rs->implicit && rs->distinct_bit)
            im_appendf(names, sizeof names, ", distinct:I:J");
        tool_error(rs->cmd, "%s:%d: unknown item '%.*s' (%s)", path, ln, (int)l, s, names);
        return 1;
    }
    r->bits |= b;
    return 0;
}

int st_rule_line(void *ctx, char **fields, int nf, const char *path, int ln)
{
    struct st_rules *rs = ctx;
    if (nf < 2 || strlen(fields[0]) >= 64) {
        tool_error(rs->cmd, "%s:%d: expected KEY<TAB>%s", path, ln,
                   rs->implicit ? "target" : "ITEMS");
        return 1;
    }
    struct st_rule r = {{0}, 0, -1, {{0}}, 0};
    snprintf(r.key, sizeof r.key, "%s", fields[0]);
    for (char *s = fields[1]; *s;) {
        size_t l = strcspn(s, " ,");
        if (rule_item(rs, &r, s, l, path, ln))
            return 1;
        s += l;
        s += strspn(s, " ,");
    }
    struct st_rule *nv = realloc(rs->v, (rs->n + 1) * sizeof *nv);
    if (!nv)
        abort();
    rs->v = nv;
    rs->v[rs->n++] = r;
    return 0;
}

int st_rule_names(const struct st_rule *r, const im_form *f)
{
    return !fnmatch(r->key, f->id, 0) || st_key_names(r->key, f);
}

unsigned st_rule_bits(const struct st_rules *rs, const im_form *f)
{
    unsigned b = 0;
    for (size_t i = 0; i < rs->n; i++)
        if (st_rule_names(&rs->v[i], f))
            b |= rs->v[i].bits;
    return b;
}

int st_rule_monitor(const struct st_rules *rs, const im_form *f)
{
    int m = -1;
    for (size_t i = 0; i < rs->n; i++)
        if (rs->v[i].mon >= 0 && st_rule_names(&rs->v[i], f))
            m = rs->v[i].mon;
    return m;
}

FILE *st_listing;

void st_word(im_buf *b, uint32_t w, const char *fmt, ...)
{
    uint8_t x[4];
    im_put32(x, w);
    im_buf_bytes(b, x, 4);
    if (!st_listing)
        return;
    fprintf(st_listing, "scaffold\t%02x%02x%02x%02x\t", x[0], x[1], x[2], x[3]);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(st_listing, fmt, ap);
    va_end(ap);
    fputc('\n', st_listing);
}

int st_build_code(const struct st_ops *o, const struct st_code *k, struct st_case *const *cs,
                  size_t n, uint64_t saved, uint64_t base, im_image **out)
{
    im_buf *b = im_buf_new(o->t);
    if (!b)
        return IM_ERR_NOMEM;
    int entry = im_buf_label(b);
    im_buf_bind(b, entry);
    k->prologue(b);
    for (size_t i = 0; i < n; i++) {
        k->to(b, (size_t)(st_code_addr(cs[i]->slot) - base));
        int err = k->emit(b, cs[i], base);
        if (!err && im_buf_offset(b) > st_code_addr(cs[i]->slot + 1) - base - 4) {
            tool_error(o->cmd, "%s: the code of a case of %s is longer than %u bytes",
                       im_target_name(o->t), o->a->forms[cs[i]->form].id, ST_CODE_STRIDE - 4);
            err = IM_ERR_RANGE;
        }
        if (err) {
            im_buf_free(b);
            return err;
        }
    }
    k->to(b, (size_t)(st_code_addr(cs[n - 1]->slot + 1) - base));
    k->epilogue(b, saved);
    return st_image(b, entry, out);
}

void st_form_line(struct st_tally *t, const char *id, const char *engine, unsigned total,
                  unsigned faulted)
{
    printf("form\t%s\t%s\tcases=%u\tfaulted=%u\n", id, engine, total - faulted, faulted);
    t->forms += faulted < total;
    t->cases += total - faulted;
    t->faulted += faulted;
}
