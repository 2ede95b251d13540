/* The generic text side of the table rows: print a form with its operands, match operand
 * text against a form's template, and the layer-1 entry points. Per-kind syntax lives in
 * each architecture's file; here only the template (literals, operands, optional groups). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core.h"
#include "form.h"

const char *const im_arm_cond_names[16] = {"eq", "ne", "cs", "cc", "mi", "pl", "vs", "vc",
                                           "hi", "ls", "ge", "lt", "gt", "le", "al", "nv"};

uint64_t im_rng_next(im_rng *r)
{
    /* splitmix64: deterministic for a given seed on every host */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

const im_arch *im_arch_for(im_target t)
{
    switch (t) {
    case IM_TARGET_X86_64:
    case IM_TARGET_I386: return &im_arch_x86;
    case IM_TARGET_AARCH64: return &im_arch_a64;
    case IM_TARGET_ARM: return &im_arch_a32;
    default: return NULL;
    }
}

void im_skip_ws(const char **p)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
}

bool im_match_word(const char **p, const char *word)
{
    /* the first letter decides most calls (register tables, size keywords) cheaply */
    if (tolower((unsigned char)**p) != tolower((unsigned char)word[0]))
        return false;
    size_t n = strlen(word);
    if (strncasecmp(*p, word, n) != 0)
        return false;
    char c = (*p)[n];
    if (isalnum((unsigned char)c) || c == '_' || c == '.')
        return false;
    *p += n;
    return true;
}

void im_appendf(char *buf, size_t n, const char *fmt, ...)
{
    size_t len = strnlen(buf, n);
    if (len + 1 >= n)
        return;
    if (fmt[0] == '%' && (fmt[1] == 's' || fmt[1] == 'c') && !fmt[2]) {
        /* the printers' most common calls, without vsnprintf */
        va_list aq;
        va_start(aq, fmt);
        char ch[2] = {0, 0};
        const char *str = ch;
        if (fmt[1] == 's')
            str = va_arg(aq, const char *);
        else
            ch[0] = (char)va_arg(aq, int);
        va_end(aq);
        size_t sl = strlen(str);
        if (sl > n - len - 1)
            sl = n - len - 1;
        memcpy(buf + len, str, sl);
        buf[len + sl] = '\0';
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, n - len, fmt, ap);
    va_end(ap);
}

void im_print_hex(char *buf, size_t n, int64_t v)
{
    if (v < 0)
        im_appendf(buf, n, "-0x%llx", (unsigned long long)(0 - (uint64_t)v));
    else
        im_appendf(buf, n, "0x%llx", (unsigned long long)v);
}

static bool is_sym_start(char c)
{
    return isalpha((unsigned char)c) || c == '_' || c == '.' || c == '$';
}
static bool is_sym_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '$';
}

int im_parse_number(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (!isdigit((unsigned char)*s))
        return im_fail(IM_ERR_SYNTAX, "expected a number");
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        if (!isxdigit((unsigned char)*s))
            return im_fail(IM_ERR_SYNTAX, "bad hexadecimal number");
        while (isxdigit((unsigned char)*s)) {
            if (v >> 60)
                return im_fail(IM_ERR_RANGE, "number too large");
            int d = isdigit((unsigned char)*s) ? *s - '0' : (tolower((unsigned char)*s) - 'a' + 10);
            v = v << 4 | (uint64_t)d;
            s++;
        }
    } else {
        while (isdigit((unsigned char)*s)) {
            uint64_t d = (uint64_t)(*s - '0');
            if (v > (UINT64_MAX - d) / 10)
                return im_fail(IM_ERR_RANGE, "number too large");
            v = v * 10 + d;
            s++;
        }
    }
    if (is_sym_char(*s))
        return im_fail(IM_ERR_SYNTAX, "bad number");
    *out = v;
    *p = s;
    return 0;
}

uint32_t im_arm_place(const im_form *f, const uint32_t *vals)
{
    uint32_t w = f->bits;
    for (unsigned i = 0; i < f->nslices; i++) {
        const im_slice *s = &f->slices[i];
        uint32_t m = s->width >= 32 ? 0xffffffffu : ((1u << s->width) - 1u);
        w |= ((vals[s->op] >> s->vlo) & m) << s->pos;
    }
    return w;
}

/* term: number | symbol | '.' ; expr: ['-'] term (('+'|'-') term)*  with at most one symbol
 * (or '.') added.  Sets op->type to IM_OP_IMM, IM_OP_REL ('.'-relative: value relative to
 * the instruction) or IM_OP_LABEL (label id + addend). */
int im_parse_expr(const char **p, im_operand *op, const im_parse_ctx *ctx)
{
    const char *s = *p;
    uint64_t acc = 0;
    int nsym = 0, dot = 0;
    int label = -1;
    bool first = true;
    for (;;) {
        im_skip_ws(&s);
        int neg = 0;
        if (*s == '-' || *s == '+') {
            neg = *s == '-';
            s++;
            im_skip_ws(&s);
        } else if (!first) {
            break;
        }
        if (isdigit((unsigned char)*s)) {
            uint64_t v;
            int rc = im_parse_number(&s, &v);
            if (rc < 0)
                return rc;
            acc = neg ? acc - v : acc + v;
        } else if (*s == '.' && !is_sym_char(s[1])) {
            if (neg || nsym)
                return im_fail(IM_ERR_SYNTAX, "unsupported expression with '.'");
            dot = 1;
            nsym++;
            s++;
        } else if (is_sym_start(*s)) {
            const char *b = s;
            while (is_sym_char(*s))
                s++;
            if (neg || nsym)
                return im_fail(IM_ERR_SYNTAX, "unsupported symbol expression");
            if (!ctx || !ctx->label)
                return im_fail(IM_ERR_SYNTAX, "symbol '%.*s' not allowed here", (int)(s - b), b);
            label = ctx->label(ctx->user, b, (size_t)(s - b));
            if (label < 0)
                return label;
            nsym++;
        } else {
            return im_fail(IM_ERR_SYNTAX, first ? "expected an expression" : "expected a term");
        }
        first = false;
    }
    op->imm = (int64_t)acc;
    op->label = label;
    op->type = dot ? IM_OP_REL : (label >= 0 ? IM_OP_LABEL : IM_OP_IMM);
    *p = s;
    return 0;
}

int im_parse_target(const char **p, im_operand *op, const im_parse_ctx *ctx)
{
    int rc = im_parse_expr(p, op, ctx);
    if (rc < 0)
        return rc;
    if (op->type == IM_OP_IMM)
        return im_fail(IM_ERR_NO_ENCODING, "target must be a label or '.'-relative");
    return 0;
}

void im_print_target(const im_operand *op, bool hex, char *buf, size_t n)
{
    if (op->type != IM_OP_REL) {
        im_appendf(buf, n, ".L%d", op->label);
    } else if (hex) {
        im_appendf(buf, n, ".%s", op->imm >= 0 ? "+" : "");
        im_print_hex(buf, n, op->imm);
    } else {
        im_appendf(buf, n, ".%+lld", (long long)op->imm);
    }
}

static void set_default(const im_arch *a, const im_form *f, unsigned i, im_operand *op)
{
    memset(op, 0, sizeof *op);
    op->base = op->index = IM_NOREG;
    op->label = -1;
    if (a->kinds[f->kinds[i]].cls == IM_KC_REG) {
        op->type = IM_OP_REG;
        op->reg = (uint8_t)f->defs[i];
    } else {
        op->type = IM_OP_IMM;
        op->imm = f->defs[i];
    }
}

static bool op_is_default(const im_arch *a, const im_form *f, unsigned i, const im_operand *op)
{
    if (a->kinds[f->kinds[i]].cls == IM_KC_REG)
        return op->type == IM_OP_REG && op->reg == (uint8_t)f->defs[i];
    return op->type == IM_OP_IMM && op->imm == f->defs[i];
}

int im_form_print(const im_arch *a, im_target t, const im_form *f, const im_operand *ops, char *buf,
                  size_t n)
{
    return im_form_print_with(a, t, f, ops, -1, NULL, buf, n);
}

int im_form_print_with(const im_arch *a, im_target t, const im_form *f, const im_operand *ops,
                       int which, const char *text, char *buf, size_t n)
{
    if (!n)
        return IM_ERR_INVAL;
    buf[0] = '\0';
    if (f->cond_op == 0xff) {
        im_appendf(buf, n, "%s", f->mnem);
    } else {
        size_t at = f->cond_at == 0xff ? strlen(f->mnem) : f->cond_at;
        im_appendf(buf, n, "%.*s", (int)at, f->mnem);
        if (f->cond_op == which)
            im_appendf(buf, n, "%s", text);
        else
            a->print(t, f->kinds[f->cond_op], &ops[f->cond_op], buf, n);
        im_appendf(buf, n, "%s", f->mnem + at);
    }
    size_t mlen = strlen(buf);
    im_appendf(buf, n, " ");
    bool skip = false;
    for (const char *q = f->tpl; *q; q++) {
        unsigned char c = (unsigned char)*q;
        if (c == IM_TPL_OPT) {
            /* leave the group out when every operand in it holds its default */
            skip = true;
            for (const char *r = q + 1; *r && *r != IM_TPL_END; r++)
                if ((unsigned char)*r <= IM_MAX_OPS &&
                    ((int)*r - 1 == which ||
                     !op_is_default(a, f, (unsigned char)*r - 1u, &ops[(unsigned char)*r - 1u])))
                    skip = false;
        } else if (c == IM_TPL_END) {
            skip = false;
        } else if (skip) {
            continue;
        } else if (c >= 1 && c <= IM_MAX_OPS && (int)c - 1 == which) {
            im_appendf(buf, n, "%s", text);
        } else if (c >= 1 && c <= IM_MAX_OPS) {
            a->print(t, f->kinds[c - 1], &ops[c - 1], buf, n);
        } else {
            im_appendf(buf, n, "%c", c);
        }
    }
    /* one space between the mnemonic and the operands, none when there are none */
    size_t len = strlen(buf);
    size_t lead = mlen + 1;
    while (buf[lead] == ' ')
        lead++;
    if (!buf[lead]) {
        buf[mlen] = '\0';
    } else if (lead > mlen + 1) {
        memmove(buf + mlen + 1, buf + lead, len - lead + 1);
    }
    len = strlen(buf);
    if (len + 1 >= n)
        return im_fail(IM_ERR_INVAL, "text buffer too small");
    return (int)len;
}

/* Match template q against text s; on success *end points after the match. */
static int match_from(const im_arch *a, im_target t, const im_form *f, const char *q, const char *s,
                      im_operand *ops, const im_parse_ctx *ctx, const char **end)
{
    while (*q) {
        unsigned char c = (unsigned char)*q;
        if (c == IM_TPL_OPT) {
            const char *close = strchr(q, IM_TPL_END);
            /* try with the group, then without it */
            const char *e;
            int rc = match_from(a, t, f, q + 1, s, ops, ctx, &e);
            if (rc == 0) {
                *end = e;
                return 0;
            }
            for (const char *r = q + 1; r < close; r++)
                if ((unsigned char)*r <= IM_MAX_OPS)
                    set_default(a, f, (unsigned char)*r - 1u, &ops[(unsigned char)*r - 1u]);
            int rc2 = match_from(a, t, f, close + 1, s, ops, ctx, end);
            return rc2 == 0 ? 0 : rc;
        }
        if (c == IM_TPL_END) {
            q++;
            continue;
        }
        if (c == ' ') {
            im_skip_ws(&s);
            q++;
            continue;
        }
        im_skip_ws(&s);
        if (c >= 1 && c <= IM_MAX_OPS) {
            int rc = a->parse(t, f->kinds[c - 1], &s, &ops[c - 1], ctx);
            if (rc < 0)
                return rc;
            q++;
            continue;
        }
        if (tolower((unsigned char)*s) == tolower(c)) {
            s++;
        } else if (c != '#') { /* '#' before an immediate may be left out, as in GNU as */
            return im_fail(IM_ERR_NO_ENCODING, "expected '%c'", c);
        }
        q++;
    }
    im_skip_ws(&s);
    *end = s;
    return 0;
}

int im_form_match(const im_arch *a, im_target t, const im_form *f, const char *text,
                  im_operand *ops, const im_parse_ctx *ctx)
{
    const char *end;
    int rc = match_from(a, t, f, f->tpl, text, ops, ctx, &end);
    if (rc < 0)
        return rc;
    if (*end)
        return im_fail(IM_ERR_NO_ENCODING, "unexpected '%s'", end);
    return 0;
}

/* ---- layer 1 ---- */

static const im_form *form_at(im_target t, int form, const im_arch **ap)
{
    const im_arch *a = im_arch_for(t);
    *ap = a;
    if (!a || form < 0 || (size_t)form >= a->nforms)
        return NULL;
    return &a->forms[form];
}

int im_form_count(im_target t)
{
    const im_arch *a = im_arch_for(t);
    return a ? (int)a->nforms : IM_ERR_TARGET;
}

int im_form_lookup(im_target t, const char *id)
{
    const im_arch *a = im_arch_for(t);
    if (!a)
        return im_fail(IM_ERR_TARGET, "unknown target %d", (int)t);
    for (size_t i = 0; i < a->nforms; i++)
        if (!strcmp(a->forms[i].id, id))
            return (int)i;
    return im_fail(IM_ERR_INVAL, "no form '%s' for %s", id, im_target_name(t));
}

const char *im_form_id(im_target t, int form)
{
    const im_arch *a;
    const im_form *f = form_at(t, form, &a);
    return f ? f->id : NULL;
}

int im_form_valid(im_target t, int form)
{
    const im_arch *a;
    const im_form *f = form_at(t, form, &a);
    return f && a->form_ok(t, f);
}

int im_encode(im_target t, int form, const im_operand *ops, uint8_t *out, size_t cap)
{
    const im_arch *a;
    const im_form *f = form_at(t, form, &a);
    if (!f)
        return im_fail(a ? IM_ERR_INVAL : IM_ERR_TARGET, "no form %d for target %d", form, (int)t);
    if ((f->flags & a->mode_flags) && !a->form_ok(t, f))
        return im_fail(IM_ERR_NO_ENCODING, "%s does not exist on %s", f->id, im_target_name(t));
    for (unsigned i = 0; i < f->nops; i++)
        if (ops[i].type == IM_OP_LABEL || ops[i].type == IM_OP_SYM)
            return im_fail(IM_ERR_INVAL, "%s: operand %u is a label; use an im_buf", f->id, i + 1);
    size_t len = 0;
    im_fixup fix;
    /* The encoders write their bytes, at most 16, only once the instruction has encoded:
     * with room for 16 they write straight into out (the common case, no second copy). */
    if (cap >= 16) {
        int rc = a->encode(t, f, ops, out, &len, &fix);
        return rc < 0 ? rc : (int)len;
    }
    uint8_t tmp[16];
    int rc = a->encode(t, f, ops, tmp, &len, &fix);
    if (rc < 0)
        return rc;
    if (len > cap)
        return im_fail(IM_ERR_INVAL, "output buffer too small (%zu < %zu)", cap, len);
    memcpy(out, tmp, len);
    return (int)len;
}

int im_print(im_target t, int form, const im_operand *ops, char *buf, size_t n)
{
    const im_arch *a;
    const im_form *f = form_at(t, form, &a);
    if (!f)
        return im_fail(IM_ERR_INVAL, "no form %d", form);
    return im_form_print(a, t, f, ops, buf, n);
}

int im_arm_check_areas(const im_arm_area *const *areas, size_t n, uint16_t checked, char *msg,
                       size_t len)
{
    int bad = 0;
    uint16_t all = 0;
    if (len)
        msg[0] = '\0';
    for (size_t a = 0; a < n; a++) {
        all |= areas[a]->check_flags;
        if (areas[a]->check && !areas[a]->check_flags && !bad++ && len)
            im_appendf(msg, len, "area %s has a check but no check_flags: it never runs",
                       areas[a]->name);
    }
    if (all != checked && !bad++ && len)
        im_appendf(msg, len, "the areas' check_flags (0x%x) are not the checked flags (0x%x)",
                   all, (unsigned)checked);
    return bad;
}
