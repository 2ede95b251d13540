/* The text assembler: statements in, a finished im_buf out. Parsing uses the generic
 * template matcher of each form; layout picks, for every instruction, the first form (in
 * table order) that encodes with the label addresses of the previous pass, growing only,
 * until nothing changes (so branches relax the way GNU as relaxes them). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imago/asm.h"

#include "core.h"
#include "form.h"

#define MAX_CANDS 16

typedef struct cand {
    int form;
    im_operand ops[IM_MAX_OPS];
} cand;

enum { S_LABEL, S_INSN, S_DATA, S_ALIGN, S_SPACE };

typedef struct stmt {
    int kind;
    int line;
    int label;          /* S_LABEL */
    cand *c;            /* S_INSN */
    int nc, ci;
    unsigned size;      /* S_DATA: bytes; S_ALIGN: alignment; */
    im_operand val;     /* S_DATA */
    size_t count;       /* S_SPACE */
    size_t off;         /* offset in the code, set when emitted */
    uint8_t byte;       /* S_SPACE fill */
} stmt;

typedef struct sym {
    char *name;
    int label;
    int def_line, use_line;
    bool global;
    bool phantom; /* only named by rows whose operands did not match: not a real use */
    uint32_t kind;
} sym;

typedef struct asmctx {
    im_target t;
    const im_arch *a;
    im_buf *b;
    stmt *st;
    size_t nst, stcap;
    sym *syms;
    size_t nsyms, symcap;
    int line;
    bool intel; /* x86: .intel_syntax noprefix seen */
    int64_t *addr; /* label addresses during layout */
} asmctx;

static sym *find_sym(asmctx *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->nsyms; i++)
        if (strlen(c->syms[i].name) == len && !memcmp(c->syms[i].name, name, len))
            return &c->syms[i];
    return NULL;
}

static sym *get_sym(asmctx *c, const char *name, size_t len)
{
    sym *s = find_sym(c, name, len);
    if (s) {
        s->phantom = false;
        return s;
    }
    if (im_grow((void **)&c->syms, &c->symcap, c->nsyms + 1, sizeof *c->syms) < 0)
        return NULL;
    int label = im_buf_label(c->b);
    if (label < 0)
        return NULL;
    char *n = strndup(name, len);
    if (!n)
        return NULL;
    s = &c->syms[c->nsyms++];
    *s = (sym){n, label, 0, 0, false, false, IM_SYM_FUNC};
    return s;
}

static int label_cb(void *user, const char *name, size_t len)
{
    asmctx *c = user;
    if (!c->b)
        return im_fail(IM_ERR_SYNTAX, "symbol '%.*s' not allowed here", (int)len, name);
    sym *s = get_sym(c, name, len);
    if (!s)
        return im_fail(IM_ERR_NOMEM, "out of memory");
    if (!s->use_line)
        s->use_line = c->line;
    return s->label;
}

static int add_stmt(asmctx *c, const stmt *s)
{
    int rc = im_grow((void **)&c->st, &c->stcap, c->nst + 1, sizeof *c->st);
    if (rc < 0)
        return rc;
    c->st[c->nst] = *s;
    c->st[c->nst].line = c->line;
    c->nst++;
    return 0;
}

static bool sym_start(char ch)
{
    return isalpha((unsigned char)ch) || ch == '_' || ch == '.' || ch == '$';
}
static bool sym_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_' || ch == '.' || ch == '$';
}

/* ---- directives ---- */

static const char *word_end(const char *s)
{
    while (*s && !isspace((unsigned char)*s) && *s != ',')
        s++;
    return s;
}

static int expect_end(const char *s)
{
    im_skip_ws(&s);
    if (*s)
        return im_fail(IM_ERR_SYNTAX, "unexpected '%s'", s);
    return 0;
}

static int parse_const(asmctx *c, const char **p, int64_t *v)
{
    im_operand op;
    im_parse_ctx ctx = {c, label_cb};
    int rc = im_parse_expr(p, &op, &ctx);
    if (rc < 0)
        return rc;
    if (op.type != IM_OP_IMM)
        return im_fail(IM_ERR_SYNTAX, "expected a constant");
    *v = op.imm;
    return 0;
}

static int dir_data(asmctx *c, unsigned size, const char *s)
{
    im_parse_ctx ctx = {c, label_cb};
    for (;;) {
        im_skip_ws(&s);
        stmt st = {.kind = S_DATA, .size = size};
        int rc = im_parse_expr(&s, &st.val, &ctx);
        if (rc < 0)
            return rc;
        if (st.val.type == IM_OP_REL)
            return im_fail(IM_ERR_SYNTAX, "'.'-relative data is not supported");
        if (st.val.type == IM_OP_LABEL) {
            if (size != 4 && size != 8)
                return im_fail(IM_ERR_NO_ENCODING, "an address needs a 4- or 8-byte data word");
            st.val.type = IM_OP_SYM;
        } else {
            int64_t v = st.val.imm;
            if (size < 8) {
                int64_t lo = -(1ll << (8 * size - 1)), hi = (1ll << (8 * size)) - 1;
                if (v < lo || v > hi)
                    return im_fail(IM_ERR_RANGE, "value 0x%llx does not fit %u bytes",
                                   (unsigned long long)v, size);
            }
        }
        if ((rc = add_stmt(c, &st)) < 0)
            return rc;
        im_skip_ws(&s);
        if (*s == ',') {
            s++;
            continue;
        }
        return expect_end(s);
    }
}

static int dir_align(asmctx *c, const char *name, const char *s)
{
    int64_t v = 0;
    im_skip_ws(&s);
    int rc = parse_const(c, &s, &v);
    if (rc < 0)
        return rc;
    im_skip_ws(&s);
    if (*s)
        return im_fail(IM_ERR_SYNTAX, "fill and maximum arguments of %s are not supported", name);
    bool pow2 = !strcmp(name, ".p2align") ||
                (!strcmp(name, ".align") && c->t != IM_TARGET_X86_64 && c->t != IM_TARGET_I386);
    uint64_t align;
    if (pow2) {
        if (v < 0 || v > 16)
            return im_fail(IM_ERR_RANGE, "%s %lld out of range", name, (long long)v);
        align = 1ull << v;
    } else {
        if (v <= 0 || v > 65536 || (v & (v - 1)))
            return im_fail(IM_ERR_RANGE, "%s %lld is not a power of two", name, (long long)v);
        align = (uint64_t)v;
    }
    stmt st = {.kind = S_ALIGN, .size = (unsigned)align};
    return add_stmt(c, &st);
}

static int dir_space(asmctx *c, const char *s)
{
    int64_t n = 0, fill = 0;
    im_skip_ws(&s);
    int rc = parse_const(c, &s, &n);
    if (rc < 0)
        return rc;
    im_skip_ws(&s);
    if (*s == ',') {
        s++;
        im_skip_ws(&s);
        if ((rc = parse_const(c, &s, &fill)) < 0)
            return rc;
    }
    if ((rc = expect_end(s)) < 0)
        return rc;
    if (n < 0 || n > (1ll << 30))
        return im_fail(IM_ERR_RANGE, "space of %lld bytes", (long long)n);
    if (fill < -128 || fill > 255)
        return im_fail(IM_ERR_RANGE, "fill value out of range");
    stmt st = {.kind = S_SPACE, .count = (size_t)n, .byte = (uint8_t)fill};
    return add_stmt(c, &st);
}

static int sym_arg(asmctx *c, const char **p, sym **out)
{
    const char *s = *p;
    im_skip_ws(&s);
    const char *b = s;
    if (!sym_start(*s))
        return im_fail(IM_ERR_SYNTAX, "expected a symbol name");
    while (sym_char(*s))
        s++;
    sym *y = get_sym(c, b, (size_t)(s - b));
    if (!y)
        return im_fail(IM_ERR_NOMEM, "out of memory");
    *out = y;
    *p = s;
    return 0;
}

static int directive(asmctx *c, const char *s)
{
    const char *e = word_end(s);
    size_t n = (size_t)(e - s);
    char name[32];
    if (n >= sizeof name)
        return im_fail(IM_ERR_SYNTAX, "unknown directive '%.*s'", (int)n, s);
    for (size_t i = 0; i < n; i++)
        name[i] = (char)tolower((unsigned char)s[i]);
    name[n] = '\0';
    const char *arg = e;
    im_skip_ws(&arg);
    bool x86 = c->t == IM_TARGET_X86_64 || c->t == IM_TARGET_I386;

    static const struct {
        const char *name;
        unsigned size;
        int arch; /* 0 all, 1 x86 only, 2 ARM only */
    } data[] = {{".byte", 1, 0},  {".short", 2, 0}, {".hword", 2, 0}, {".2byte", 2, 0},
                {".value", 2, 1}, {".long", 4, 0},  {".int", 4, 0},   {".4byte", 4, 0},
                {".quad", 8, 0},  {".8byte", 8, 0}, {".xword", 8, 2}, {".dword", 8, 2}};
    for (size_t i = 0; i < sizeof data / sizeof data[0]; i++)
        if (!strcmp(name, data[i].name) && (data[i].arch == 0 || (data[i].arch == 1) == x86))
            return dir_data(c, data[i].size, arg);
    if (!strcmp(name, ".word"))
        return dir_data(c, x86 ? 2 : 4, arg);
    if (!strcmp(name, ".align") || !strcmp(name, ".p2align") || !strcmp(name, ".balign"))
        return dir_align(c, name, arg);
    if (!strcmp(name, ".space") || !strcmp(name, ".skip") || !strcmp(name, ".zero"))
        return dir_space(c, arg);
    if (!strcmp(name, ".text"))
        return expect_end(arg);
    if (!strcmp(name, ".section")) {
        const char *q = arg;
        if (im_match_word(&q, ".text"))
            return 0; /* flags after the name are accepted as they are */
        return im_fail(IM_ERR_SYNTAX, "section '%.*s' is not supported: an image holds one code section per target",
                       (int)(word_end(arg) - arg), arg);
    }
    if (!strcmp(name, ".data") || !strcmp(name, ".bss") || !strcmp(name, ".rodata"))
        return im_fail(IM_ERR_SYNTAX, "%s is not supported: put data in .text", name);
    if (!strcmp(name, ".globl") || !strcmp(name, ".global")) {
        for (;;) {
            sym *y;
            int rc = sym_arg(c, &arg, &y);
            if (rc < 0)
                return rc;
            y->global = true;
            im_skip_ws(&arg);
            if (*arg != ',')
                return expect_end(arg);
            arg++;
        }
    }
    if (!strcmp(name, ".type")) {
        sym *y;
        int rc = sym_arg(c, &arg, &y);
        if (rc < 0)
            return rc;
        im_skip_ws(&arg);
        if (*arg != ',')
            return im_fail(IM_ERR_SYNTAX, "expected ', @function' or ', @object'");
        arg++;
        im_skip_ws(&arg);
        if (*arg == '@' || *arg == '%' || *arg == '#')
            arg++;
        if (im_match_word(&arg, "function"))
            y->kind = IM_SYM_FUNC;
        else if (im_match_word(&arg, "object"))
            y->kind = IM_SYM_DATA;
        else
            return im_fail(IM_ERR_SYNTAX, "unknown symbol type '%s'", arg);
        return expect_end(arg);
    }
    /* accepted, no effect on the bytes */
    static const char *const ignored[] = {".size", ".file", ".ident", ".arch", ".arch_extension",
                                          ".fpu", ".eabi_attribute", ".cpu", ".object_arch",
                                          ".local", ".hidden", ".protected", ".weak_hidden"};
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
        if (!strcmp(name, ignored[i]))
            return 0;
    if (!strncmp(name, ".cfi_", 5))
        return 0;
    if (x86) {
        if (!strcmp(name, ".intel_syntax")) {
            const char *q = arg;
            if (!im_match_word(&q, "noprefix"))
                return im_fail(IM_ERR_SYNTAX, "imago reads '.intel_syntax noprefix' only");
            c->intel = true;
            return expect_end(q);
        }
        if (!strcmp(name, ".att_syntax"))
            return im_fail(IM_ERR_SYNTAX, "AT&T syntax is not supported; use .intel_syntax noprefix");
        if (!strcmp(name, ".code64") || !strcmp(name, ".code32")) {
            bool want64 = name[5] == '6';
            if (want64 != (c->t == IM_TARGET_X86_64))
                return im_fail(IM_ERR_TARGET, "%s in a %s source", name, im_target_name(c->t));
            return expect_end(arg);
        }
    } else if (c->t == IM_TARGET_ARM) {
        if (!strcmp(name, ".syntax")) {
            const char *q = arg;
            if (!im_match_word(&q, "unified"))
                return im_fail(IM_ERR_SYNTAX, "imago reads '.syntax unified' only");
            return expect_end(q);
        }
        if (!strcmp(name, ".arm"))
            return expect_end(arg);
        if (!strcmp(name, ".code")) {
            const char *q = arg;
            int64_t v = 0;
            int rc = parse_const(c, &q, &v);
            if (rc < 0)
                return rc;
            if (v != 32)
                return im_fail(IM_ERR_TARGET, "only ARM state (.code 32) is supported");
            return expect_end(q);
        }
        if (!strcmp(name, ".thumb") || !strcmp(name, ".thumb_func"))
            return im_fail(IM_ERR_TARGET, "Thumb is not supported yet");
    }
    return im_fail(IM_ERR_SYNTAX, "unknown directive '%s'", name);
}

/* ---- instructions ---- */

static bool mnem_match(const im_arch *a, const im_form *f, const char *w, size_t wn, int *cond)
{
    size_t mn = strlen(f->mnem);
    if (f->cond_op == 0xff) {
        *cond = -1;
        return wn == mn && !strncasecmp(w, f->mnem, mn);
    }
    if (wn < mn || strncasecmp(w, f->mnem, mn))
        return false;
    const char *suf = w + mn;
    size_t sn = wn - mn;
    bool a32 = a == &im_arch_a32;
    if (sn == 0) {
        *cond = 14;
        return a32;
    }
    if (sn != 2)
        return false;
    for (int i = 0; i < 16; i++)
        if (!strncasecmp(suf, im_arm_cond_names[i], 2) && (i < 15 || !a32)) {
            *cond = i;
            return true;
        }
    if (!strncasecmp(suf, "hs", 2)) {
        *cond = 2;
        return true;
    }
    if (!strncasecmp(suf, "lo", 2)) {
        *cond = 3;
        return true;
    }
    return false;
}

static const im_mnem *mnem_find(const im_arch *a, const char *w, size_t wn)
{
    char low[32];
    if (wn == 0 || wn >= sizeof low)
        return NULL;
    for (size_t i = 0; i < wn; i++)
        low[i] = (char)tolower((unsigned char)w[i]);
    low[wn] = '\0';
    size_t lo = 0, hi = a->nmnems;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(a->mnems[mid].name, low);
        if (cmp == 0)
            return &a->mnems[mid];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The rows whose mnemonic may be the word w (itself, or w less a two-letter condition
 * suffix), in table order; every row when the index cannot hold them. */
static size_t mnem_rows(const im_arch *a, const char *w, size_t wn, uint16_t *out, size_t max)
{
    const im_mnem *m1 = mnem_find(a, w, wn);
    const im_mnem *m2 = wn > 2 ? mnem_find(a, w, wn - 2) : NULL;
    size_t n1 = m1 ? m1->count : 0, n2 = m2 ? m2->count : 0;
    if (!a->mnems || n1 + n2 > max || a->nforms > 65535) {
        size_t n = 0;
        for (size_t i = 0; i < a->nforms && n < max; i++)
            out[n++] = (uint16_t)i;
        return n;
    }
    const uint16_t *l1 = m1 ? a->mnem_forms + m1->first : NULL;
    const uint16_t *l2 = m2 ? a->mnem_forms + m2->first : NULL;
    size_t i = 0, j = 0, n = 0;
    while (i < n1 || j < n2) {
        if (j >= n2 || (i < n1 && l1[i] < l2[j]))
            out[n++] = l1[i++];
        else
            out[n++] = l2[j++];
    }
    return n;
}

static int instruction(asmctx *c, const char *s)
{
    const char *e = s;
    while (*e && !isspace((unsigned char)*e))
        e++;
    size_t wn = (size_t)(e - s);
    const char *ops_text = e;
    im_skip_ws(&ops_text);
    cand cands[MAX_CANDS];
    int nc = 0;
    bool known = false;
    int first_err = 0;
    char first_detail[256] = "";
    im_parse_ctx ctx = {c, label_cb};
    size_t nsyms0 = c->nsyms;
    /* the rows to try: those of the word's mnemonic and, for a condition suffix, those of
     * the word less its last two letters, merged back into table order */
    uint16_t rows[2048];
    size_t nrows = mnem_rows(c->a, s, wn, rows, sizeof rows / sizeof rows[0]);
    for (size_t ri = 0; ri < nrows && nc < MAX_CANDS; ri++) {
        size_t i = rows[ri];
        const im_form *f = &c->a->forms[i];
        int cond;
        if (!c->a->form_ok(c->t, f) || !mnem_match(c->a, f, s, wn, &cond))
            continue;
        known = true;
        cand *k = &cands[nc];
        memset(k, 0, sizeof *k);
        k->form = (int)i;
        int rc = im_form_match(c->a, c->t, f, ops_text, k->ops, &ctx);
        if (rc < 0) {
            if (!first_err) {
                first_err = rc;
                snprintf(first_detail, sizeof first_detail, "%s", im_detail());
                im_fail_quiet(1); /* only the first reason is reported */
            }
            continue;
        }
        if (f->cond_op != 0xff)
            k->ops[f->cond_op] = im_cond((unsigned)cond);
        nc++;
    }
    im_fail_quiet(0);
    /* symbols first named here by a row that did not match are no use of the name */
    for (size_t i = nsyms0; i < c->nsyms; i++) {
        bool used = false;
        for (int k = 0; k < nc && !used; k++)
            for (unsigned j = 0; j < IM_MAX_OPS; j++)
                if ((cands[k].ops[j].type == IM_OP_LABEL || cands[k].ops[j].type == IM_OP_SYM) &&
                    cands[k].ops[j].label == c->syms[i].label)
                    used = true;
        c->syms[i].phantom = !used;
    }
    if (!known)
        return im_fail(IM_ERR_UNKNOWN_MNEMONIC, "unknown mnemonic '%.*s'", (int)wn, s);
    if (!nc)
        return im_fail(first_err == IM_ERR_SYNTAX ? IM_ERR_SYNTAX : IM_ERR_NO_ENCODING,
                       "invalid operands for '%.*s': %s", (int)wn, s, first_detail);
    stmt st = {.kind = S_INSN, .nc = nc};
    st.c = malloc(sizeof(cand) * (size_t)nc);
    if (!st.c)
        return im_fail(IM_ERR_NOMEM, "out of memory");
    memcpy(st.c, cands, sizeof(cand) * (size_t)nc);
    int rc = add_stmt(c, &st);
    if (rc < 0)
        free(st.c);
    return rc;
}

/* Remove comments: per-target line comment characters and C comments (kept: newlines). */
static char *clean_source(const im_arch *a, const char *src, size_t len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    bool in_c = false, in_line = false;
    size_t clen = strlen(a->comment);
    for (size_t i = 0; i < len; i++) {
        char ch = src[i];
        if (in_c) {
            if (ch == '*' && i + 1 < len && src[i + 1] == '/') {
                in_c = false;
                i++;
                out[o++] = ' ';
            } else if (ch == '\n') {
                out[o++] = '\n';
            }
            continue;
        }
        if (in_line) {
            if (ch == '\n') {
                in_line = false;
                out[o++] = '\n';
            }
            continue;
        }
        if (ch == '/' && i + 1 < len && src[i + 1] == '*') {
            in_c = true;
            i++;
            continue;
        }
        if (i + clen <= len && !memcmp(src + i, a->comment, clen)) {
            in_line = true;
            continue;
        }
        out[o++] = ch == '\0' ? ' ' : ch;
    }
    out[o] = '\0';
    return out;
}

static int statement(asmctx *c, char *s)
{
    for (;;) {
        im_skip_ws((const char **)&s);
        if (!*s)
            return 0;
        /* labels */
        if (sym_start(*s)) {
            char *e = s;
            while (sym_char(*e))
                e++;
            if (*e == ':') {
                sym *y = get_sym(c, s, (size_t)(e - s));
                if (!y)
                    return im_fail(IM_ERR_NOMEM, "out of memory");
                if (y->def_line)
                    return im_fail(IM_ERR_SYMBOL, "symbol '%s' already defined on line %d", y->name,
                                   y->def_line);
                y->def_line = c->line;
                stmt st = {.kind = S_LABEL, .label = y->label};
                int rc = add_stmt(c, &st);
                if (rc < 0)
                    return rc;
                s = e + 1;
                continue;
            }
        }
        break;
    }
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    if (*s == '.') {
        const char *q = s + 1;
        if (isalpha((unsigned char)*q) || *q == '_')
            return directive(c, s);
    }
    if ((c->t == IM_TARGET_X86_64 || c->t == IM_TARGET_I386) && !c->intel)
        return im_fail(IM_ERR_SYNTAX,
                       "x86 source must select '.intel_syntax noprefix' first (imago reads Intel syntax, as GNU as does after that directive)");
    return instruction(c, s);
}

/* ---- layout and emission ---- */

static void resolve_ops(const asmctx *c, const cand *k, int64_t at, im_operand *out)
{
    const im_form *f = &c->a->forms[k->form];
    bool page = f->flags & IM_FF_PAGE; /* as the buffer does: the page distance */
    for (unsigned i = 0; i < f->nops; i++) {
        out[i] = k->ops[i];
        if (k->ops[i].type == IM_OP_LABEL) {
            int64_t lab = c->addr[k->ops[i].label];
            out[i].type = IM_OP_REL;
            out[i].imm = lab < 0 ? 0
                         : page ? im_page_delta(at, lab + k->ops[i].imm)
                                : lab + k->ops[i].imm - at;
        } else if (page && k->ops[i].type == IM_OP_REL) {
            out[i].imm = im_page_delta(at, (int64_t)((uint64_t)at + (uint64_t)k->ops[i].imm));
        } else if (k->ops[i].type == IM_OP_SYM) {
            int64_t lab = c->addr[k->ops[i].label];
            out[i].imm = (lab < 0 ? 0 : lab) + k->ops[i].imm;
        }
    }
}

static int layout(asmctx *c, int *err_line)
{
    size_t nl = c->nsyms ? c->nsyms : 1;
    c->addr = malloc(sizeof(int64_t) * nl);
    if (!c->addr)
        return im_fail(IM_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < nl; i++)
        c->addr[i] = -1;
    for (int pass = 0; pass < 64; pass++) {
        bool changed = false;
        int64_t at = 0;
        for (size_t i = 0; i < c->nst; i++) {
            stmt *s = &c->st[i];
            switch (s->kind) {
            case S_LABEL:
                if (c->addr[s->label] != at)
                    changed = true;
                c->addr[s->label] = at;
                break;
            case S_INSN: {
                int rc = 0;
                size_t len = 0;
                int ci;
                for (ci = s->ci; ci < s->nc; ci++) {
                    im_operand ops[IM_MAX_OPS];
                    uint8_t tmp[16];
                    im_fixup fx;
                    resolve_ops(c, &s->c[ci], at, ops);
                    rc = c->a->encode(c->t, &c->a->forms[s->c[ci].form], ops, tmp, &len, &fx);
                    if (rc == 0)
                        break;
                }
                if (ci == s->nc) {
                    *err_line = s->line;
                    return rc;
                }
                if (ci != s->ci)
                    changed = true;
                s->ci = ci;
                at += (int64_t)len;
                break;
            }
            case S_DATA: at += s->size; break;
            case S_ALIGN: at += (int64_t)((s->size - (uint64_t)at % s->size) % s->size); break;
            case S_SPACE: at += (int64_t)s->count; break;
            }
            if (at > 0x7fffffff) {
                *err_line = s->line;
                return im_fail(IM_ERR_RANGE, "code larger than 2 GiB");
            }
        }
        if (!changed)
            return 0;
    }
    return im_fail(IM_ERR_INVAL, "layout did not converge");
}

/* x86 padding in code, as GNU as 2.40 pads (-mtune=generic): the longest NOP of the
 * mode's table first, then the rest the same way. */
static int x86_pad(im_buf *b, bool x64, size_t pad)
{
    static const uint8_t *const n64[] = {
        NULL,
        (const uint8_t *)"\x90",
        (const uint8_t *)"\x66\x90",
        (const uint8_t *)"\x0f\x1f\x00",
        (const uint8_t *)"\x0f\x1f\x40\x00",
        (const uint8_t *)"\x0f\x1f\x44\x00\x00",
        (const uint8_t *)"\x66\x0f\x1f\x44\x00\x00",
        (const uint8_t *)"\x0f\x1f\x80\x00\x00\x00\x00",
        (const uint8_t *)"\x0f\x1f\x84\x00\x00\x00\x00\x00",
        (const uint8_t *)"\x66\x0f\x1f\x84\x00\x00\x00\x00\x00",
        (const uint8_t *)"\x66\x2e\x0f\x1f\x84\x00\x00\x00\x00\x00",
        (const uint8_t *)"\x66\x66\x2e\x0f\x1f\x84\x00\x00\x00\x00\x00",
    };
    static const uint8_t *const n32[] = {
        NULL,
        (const uint8_t *)"\x90",
        (const uint8_t *)"\x66\x90",
        (const uint8_t *)"\x8d\x76\x00",
        (const uint8_t *)"\x8d\x74\x26\x00",
        NULL, /* 5 = 4 + 1 */
        (const uint8_t *)"\x8d\xb6\x00\x00\x00\x00",
        (const uint8_t *)"\x8d\xb4\x26\x00\x00\x00\x00",
    };
    size_t max = x64 ? 11 : 7;
    /* from 8 (x86_64) or 3 (i386) of the longest NOPs on, GNU as jumps over the padding */
    if (pad >= (x64 ? 88 : 21)) {
        uint8_t jmp[5];
        size_t jn;
        if (pad - 2 <= 127) {
            jmp[0] = 0xeb;
            jmp[1] = (uint8_t)(pad - 2);
            jn = 2;
        } else {
            jmp[0] = 0xe9;
            im_put32(jmp + 1, (uint32_t)(pad - 5));
            jn = 5;
        }
        int rc = im_buf_bytes(b, jmp, jn);
        if (rc < 0)
            return rc;
        pad -= jn;
    }
    while (pad) {
        size_t n = pad > max ? max : pad;
        if (!x64 && n == 5)
            n = 4;
        int rc = im_buf_bytes(b, (x64 ? n64 : n32)[n], n);
        if (rc < 0)
            return rc;
        pad -= n;
    }
    return 0;
}

static int emit(asmctx *c, int *err_line)
{
    static const uint8_t a64_nop[4] = {0x1f, 0x20, 0x03, 0xd5};
    static const uint8_t a32_nop[4] = {0x00, 0xf0, 0x20, 0xe3};
    for (size_t i = 0; i < c->nst; i++) {
        stmt *s = &c->st[i];
        int rc = 0;
        *err_line = s->line;
        s->off = im_buf_offset(c->b);
        switch (s->kind) {
        case S_LABEL: rc = im_buf_bind(c->b, s->label); break;
        case S_INSN: rc = im_buf_emit(c->b, s->c[s->ci].form, s->c[s->ci].ops); break;
        case S_DATA:
            if (s->val.type == IM_OP_SYM) {
                rc = im_buf_addr(c->b, s->size, s->val.label, s->val.imm);
            } else {
                uint8_t bytes[8];
                im_put64(bytes, (uint64_t)s->val.imm);
                rc = im_buf_bytes(c->b, bytes, s->size);
            }
            break;
        case S_ALIGN: {
            size_t at = im_buf_offset(c->b);
            size_t pad = (s->size - at % s->size) % s->size;
            const uint8_t *nop = c->t == IM_TARGET_AARCH64 ? a64_nop : c->t == IM_TARGET_ARM ? a32_nop : NULL;
            if (!nop) {
                rc = x86_pad(c->b, c->t == IM_TARGET_X86_64, pad);
            } else {
                /* as GNU as pads ARM code sections: zeros up to a word boundary, then NOPs;
                 * on arm only the low 6 bits of the padding's length get NOPs, the rest
                 * zeros (its MAX_MEM_FOR_RS_ALIGN_CODE is 63) */
                size_t nops = c->t == IM_TARGET_ARM && pad > 63 ? pad & 63 : pad;
                rc = im_buf_fill(c->b, nops % 4, 0);
                for (size_t j = nops % 4; j < nops && rc == 0; j += 4)
                    rc = im_buf_bytes(c->b, nop, 4);
                if (rc == 0)
                    rc = im_buf_fill(c->b, pad - nops, 0);
            }
            break;
        }
        case S_SPACE: rc = im_buf_fill(c->b, s->count, s->byte); break;
        }
        if (rc < 0)
            return rc;
    }
    *err_line = 0;
    for (size_t i = 0; i < c->nsyms; i++) {
        sym *y = &c->syms[i];
        if (y->global) {
            int rc = im_buf_export(c->b, y->name, y->label, (im_sym_kind)y->kind);
            if (rc < 0)
                return rc;
        }
    }
    int rc = im_buf_finish(c->b);
    if (rc < 0) {
        size_t off;
        im_buf_error(c->b, &off, NULL);
        /* name the instruction at the failing offset */
        for (size_t i = 0; i < c->nst; i++)
            if (c->st[i].kind == S_INSN && c->st[i].off == off)
                *err_line = c->st[i].line;
    }
    return rc;
}

int im_asm(im_target t, const char *src, size_t len, im_buf **out, int *line)
{
    asmctx c = {0};
    *out = NULL;
    *line = 0;
    im_clear_detail();
    c.t = t;
    c.a = im_arch_for(t);
    if (!c.a)
        return im_fail(IM_ERR_TARGET, "unknown target %d", (int)t);
    c.b = im_buf_new(t);
    if (!c.b)
        return im_fail(IM_ERR_NOMEM, "out of memory");
    char *text = clean_source(c.a, src, len);
    int rc = text ? 0 : im_fail(IM_ERR_NOMEM, "out of memory");
    char *p = text;
    c.line = 1;
    while (rc == 0 && p && *p) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        /* ';' separates statements on one line */
        char *q = p;
        while (rc == 0) {
            char *semi = strchr(q, ';');
            if (semi)
                *semi = '\0';
            rc = statement(&c, q);
            if (!semi)
                break;
            q = semi + 1;
        }
        if (rc < 0) {
            *line = c.line;
            break;
        }
        if (!nl)
            break;
        p = nl + 1;
        c.line++;
    }
    if (rc == 0) {
        for (size_t i = 0; i < c.nsyms; i++) {
            sym *y = &c.syms[i];
            if (!y->def_line && !y->phantom) {
                *line = y->use_line;
                rc = im_fail(IM_ERR_UNDEF_LABEL, "undefined symbol '%s'", y->name);
                break;
            }
        }
    }
    if (rc == 0)
        rc = layout(&c, line);
    if (rc == 0)
        rc = emit(&c, line);
    free(text);
    free(c.addr);
    for (size_t i = 0; i < c.nst; i++)
        free(c.st[i].c);
    free(c.st);
    for (size_t i = 0; i < c.nsyms; i++)
        free(c.syms[i].name);
    free(c.syms);
    if (rc < 0) {
        im_buf_free(c.b);
        return rc;
    }
    *out = c.b;
    return 0;
}

int im_asm_one(im_target t, const char *text, uint8_t *out, size_t *len, int *form)
{
    asmctx c = {0};
    c.t = t;
    c.a = im_arch_for(t);
    c.intel = true;
    if (!c.a)
        return im_fail(IM_ERR_TARGET, "unknown target %d", (int)t);
    char line[512];
    snprintf(line, sizeof line, "%s", text);
    int rc = instruction(&c, line);
    if (rc < 0)
        return rc;
    stmt *s = &c.st[0];
    rc = IM_ERR_NO_ENCODING;
    for (int ci = 0; ci < s->nc; ci++) {
        im_fixup fx;
        rc = c.a->encode(t, &c.a->forms[s->c[ci].form], s->c[ci].ops, out, len, &fx);
        if (rc == 0) {
            *form = s->c[ci].form;
            break;
        }
    }
    free(s->c);
    free(c.st);
    return rc;
}
