/* Layer 2: the assembler buffer. Integer label ids, forward references resolved at finish
 * (by re-encoding the instruction with the final displacement, so every range check of the
 * kind applies), relocation records for absolute addresses, a sticky first error. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "form.h"

typedef struct fixup {
    size_t off;
    int form;
    uint8_t len;
    im_operand ops[IM_MAX_OPS];
} fixup;

typedef struct breloc {
    size_t off;
    uint32_t kind;
    uint8_t size;
    int label;
    int64_t addend;
} breloc;

typedef struct bsym {
    char *name;
    int label;
    uint32_t kind;
} bsym;

struct im_buf {
    im_target t;
    const im_arch *a;
    uint8_t *code;
    size_t len, cap;
    int64_t *labels;
    size_t nlabels, labcap;
    fixup *fix;
    size_t nfix, fixcap;
    breloc *rel;
    size_t nrel, relcap;
    bsym *syms;
    size_t nsyms, symcap;
    int err;
    size_t err_off;
    char detail[512];
    bool finished;
    bool page; /* holds a page-relative instruction: the code needs a 4 KiB-aligned address */
};

static int set_err(im_buf *b, int err)
{
    if (!b->err) {
        b->err = err;
        b->err_off = b->len;
        snprintf(b->detail, sizeof b->detail, "%s", im_detail());
    }
    return err;
}

static int fail(im_buf *b, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(im_buf *b, int err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    im_fail(err, "%s", msg);
    return set_err(b, err);
}

im_buf *im_buf_new(im_target t)
{
    const im_arch *a = im_arch_for(t);
    if (!a) {
        im_fail(IM_ERR_TARGET, "unknown target %d", (int)t);
        return NULL;
    }
    im_buf *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->t = t;
    b->a = a;
    return b;
}

void im_buf_free(im_buf *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nsyms; i++)
        free(b->syms[i].name);
    free(b->syms);
    free(b->code);
    free(b->labels);
    free(b->fix);
    free(b->rel);
    free(b);
}

im_target im_buf_target(const im_buf *b)
{
    return b->t;
}

int im_buf_label(im_buf *b)
{
    if (b->err)
        return b->err;
    if (b->nlabels >= 0x7fffffff ||
        im_grow((void **)&b->labels, &b->labcap, b->nlabels + 1, sizeof *b->labels))
        return fail(b, IM_ERR_NOMEM, "out of memory for labels");
    b->labels[b->nlabels] = -1;
    return (int)b->nlabels++;
}

static bool label_ok(const im_buf *b, int label)
{
    return label >= 0 && (size_t)label < b->nlabels;
}

int im_buf_bind(im_buf *b, int label)
{
    if (b->err)
        return b->err;
    if (!label_ok(b, label))
        return fail(b, IM_ERR_LABEL, "label %d does not exist", label);
    if (b->labels[label] >= 0)
        return fail(b, IM_ERR_LABEL, "label %d bound twice", label);
    b->labels[label] = (int64_t)b->len;
    return 0;
}

int64_t im_buf_label_offset(const im_buf *b, int label)
{
    return label_ok(b, label) ? b->labels[label] : -1;
}

/* Room for n more bytes at the end of the code: where they go, or NULL (sticky error). */
static uint8_t *append(im_buf *b, size_t n)
{
    if (n > SIZE_MAX - b->len || im_grow((void **)&b->code, &b->cap, b->len + n, 1)) {
        fail(b, IM_ERR_NOMEM, "out of memory for code");
        return NULL;
    }
    b->len += n;
    return b->code + b->len - n;
}

/* Resolve label operands at insn offset `at`; *pending is set when one is unbound. The
 * target of a page-relative row (IM_FF_PAGE) becomes the page distance: the code is meant
 * for a 4 KiB-aligned address (the loader maps each section at a page boundary). */
static int resolve(im_buf *b, size_t at, const im_form *f, const im_operand *in, im_operand *out,
                   bool *pending)
{
    *pending = false;
    bool page = f->flags & IM_FF_PAGE;
    for (unsigned i = 0; i < f->nops; i++) {
        out[i] = in[i];
        if (page && in[i].type == IM_OP_REL) { /* '.'-relative: target = at + imm */
            out[i].imm = im_page_delta((int64_t)at, (int64_t)((uint64_t)at + (uint64_t)in[i].imm));
            continue;
        }
        if (in[i].type != IM_OP_LABEL && in[i].type != IM_OP_SYM)
            continue;
        if (!label_ok(b, in[i].label))
            return fail(b, IM_ERR_LABEL, "%s: operand %u names label %d, which does not exist",
                        f->id, i + 1, in[i].label);
        int64_t lab = b->labels[in[i].label];
        if (lab < 0) {
            *pending = true;
            if (in[i].type == IM_OP_SYM)
                out[i].imm = 0;
            continue;
        }
        if (in[i].type == IM_OP_LABEL) {
            out[i].type = IM_OP_REL;
            out[i].imm = page ? im_page_delta((int64_t)at, lab + in[i].imm)
                              : lab + in[i].imm - (int64_t)at;
        } else {
            out[i].imm = lab + in[i].imm;
        }
    }
    return 0;
}

static int add_reloc(im_buf *b, size_t off, uint32_t kind, uint8_t size, int label, int64_t addend)
{
    if (im_grow((void **)&b->rel, &b->relcap, b->nrel + 1, sizeof *b->rel))
        return fail(b, IM_ERR_NOMEM, "out of memory for relocations");
    b->rel[b->nrel++] = (breloc){off, kind, size, label, addend};
    return 0;
}

/* Room for n more bytes after the code (not yet part of it), or false (sticky error). */
static bool reserve(im_buf *b, size_t n)
{
    if (n > SIZE_MAX - b->len || im_grow((void **)&b->code, &b->cap, b->len + n, 1)) {
        fail(b, IM_ERR_NOMEM, "out of memory for code");
        return false;
    }
    return true;
}

int im_buf_emit(im_buf *b, int form, const im_operand *ops)
{
    if (b->err)
        return b->err;
    if (b->finished)
        return fail(b, IM_ERR_INVAL, "buffer already finished");
    if (form < 0 || (size_t)form >= b->a->nforms)
        return fail(b, IM_ERR_INVAL, "no form %d for %s", form, im_target_name(b->t));
    const im_form *f = &b->a->forms[form];
    if ((f->flags & b->a->mode_flags) && !b->a->form_ok(b->t, f))
        return fail(b, IM_ERR_NO_ENCODING, "%s does not exist on %s", f->id, im_target_name(b->t));
    /* the encoder writes straight after the code (it writes nothing there on failure) */
    if (b->cap - b->len < 16 && !reserve(b, 16))
        return b->err;
    /* operands that name labels are resolved into a copy; the others are used as they are */
    bool labels = f->flags & IM_FF_PAGE;
    for (unsigned i = 0; i < f->nops; i++)
        labels |= ops[i].type == IM_OP_LABEL || ops[i].type == IM_OP_SYM;
    b->page |= labels && (f->flags & IM_FF_PAGE);
    im_operand r[IM_MAX_OPS];
    bool pending = false;
    int rc;
    if (labels && (rc = resolve(b, b->len, f, ops, r, &pending)) < 0)
        return rc;
    size_t len;
    im_fixup fx;
    rc = b->a->encode(b->t, f, labels ? r : ops, b->code + b->len, &len, &fx);
    if (rc < 0)
        return set_err(b, rc);
    if (fx.reloc != IM_RELOC_NONE) {
        const im_operand *o = &ops[fx.op];
        if ((rc = add_reloc(b, b->len + fx.offset, fx.reloc, fx.size, o->label, o->imm)) < 0)
            return rc;
    }
    if (pending) {
        if (im_grow((void **)&b->fix, &b->fixcap, b->nfix + 1, sizeof *b->fix))
            return fail(b, IM_ERR_NOMEM, "out of memory for fixups");
        fixup *x = &b->fix[b->nfix++];
        x->off = b->len;
        x->form = form;
        x->len = (uint8_t)len;
        memcpy(x->ops, ops, sizeof(im_operand) * f->nops);
    }
    b->len += len;
    return 0;
}

int im_buf_bytes(im_buf *b, const void *data, size_t len)
{
    if (b->err)
        return b->err;
    uint8_t *dst = append(b, len);
    if (!dst)
        return b->err;
    memcpy(dst, data, len);
    return 0;
}

int im_buf_fill(im_buf *b, size_t count, uint8_t byte)
{
    if (b->err)
        return b->err;
    uint8_t *dst = append(b, count);
    if (!dst)
        return b->err;
    memset(dst, byte, count);
    return 0;
}

int im_buf_addr(im_buf *b, unsigned size, int label, int64_t addend)
{
    if (b->err)
        return b->err;
    if (size != 4 && size != 8)
        return fail(b, IM_ERR_INVAL, "an address word is 4 or 8 bytes, not %u", size);
    if (!label_ok(b, label))
        return fail(b, IM_ERR_LABEL, "label %d does not exist", label);
    int rc = add_reloc(b, b->len, size == 8 ? IM_RELOC_ABS64 : IM_RELOC_ABS32, (uint8_t)size, label,
                       addend);
    if (rc < 0)
        return rc;
    return im_buf_fill(b, size, 0);
}

int im_buf_export(im_buf *b, const char *name, int label, im_sym_kind kind)
{
    if (b->err)
        return b->err;
    if (!label_ok(b, label))
        return fail(b, IM_ERR_LABEL, "label %d does not exist", label);
    for (size_t i = 0; i < b->nsyms; i++)
        if (!strcmp(b->syms[i].name, name))
            return fail(b, IM_ERR_SYMBOL, "symbol '%s' exported twice", name);
    if (im_grow((void **)&b->syms, &b->symcap, b->nsyms + 1, sizeof *b->syms))
        return fail(b, IM_ERR_NOMEM, "out of memory");
    char *n = strdup(name);
    if (!n)
        return fail(b, IM_ERR_NOMEM, "out of memory");
    b->syms[b->nsyms++] = (bsym){n, label, (uint32_t)kind};
    return 0;
}

int im_buf_finish(im_buf *b)
{
    if (b->err)
        return b->err;
    for (size_t i = 0; i < b->nfix; i++) {
        fixup *x = &b->fix[i];
        const im_form *f = &b->a->forms[x->form];
        for (unsigned j = 0; j < f->nops; j++)
            if ((x->ops[j].type == IM_OP_LABEL || x->ops[j].type == IM_OP_SYM) &&
                b->labels[x->ops[j].label] < 0) {
                b->err_off = x->off;
                return fail(b, IM_ERR_UNDEF_LABEL,
                            "label %d, used by %s at offset 0x%zx, is never bound", x->ops[j].label,
                            f->id, x->off);
            }
        im_operand r[IM_MAX_OPS];
        bool pending;
        int rc = resolve(b, x->off, f, x->ops, r, &pending);
        if (rc < 0)
            return rc;
        uint8_t tmp[16];
        size_t len;
        im_fixup fx;
        rc = b->a->encode(b->t, f, r, tmp, &len, &fx);
        if (rc < 0) {
            set_err(b, rc);
            b->err_off = x->off;
            return rc;
        }
        if (len != x->len)
            return fail(b, IM_ERR_INVAL, "%s at 0x%zx changed length when resolved", f->id, x->off);
        memcpy(b->code + x->off, tmp, len);
    }
    b->nfix = 0;
    /* write the value each relocated field holds when the code sits at address 0 */
    for (size_t i = 0; i < b->nrel; i++) {
        breloc *r = &b->rel[i];
        int64_t lab = b->labels[r->label];
        if (lab < 0) {
            b->err_off = r->off;
            return fail(b, IM_ERR_UNDEF_LABEL,
                        "label %d, whose address is taken at offset 0x%zx, is never bound",
                        r->label, r->off);
        }
        uint64_t v = (uint64_t)(lab + r->addend);
        if (r->size == 8)
            im_put64(b->code + r->off, v);
        else
            im_put32(b->code + r->off, (uint32_t)v);
    }
    for (size_t i = 0; i < b->nsyms; i++)
        if (b->labels[b->syms[i].label] < 0)
            return fail(b, IM_ERR_UNDEF_LABEL, "exported symbol '%s' is never bound",
                        b->syms[i].name);
    b->finished = true;
    return 0;
}

int im_buf_error(const im_buf *b, size_t *offset, const char **detail)
{
    if (offset)
        *offset = b->err_off;
    if (detail)
        *detail = b->detail;
    return b->err;
}

size_t im_buf_offset(const im_buf *b)
{
    return b->len;
}

const uint8_t *im_buf_code(const im_buf *b, size_t *len)
{
    if (len)
        *len = b->len;
    return b->code;
}

int im_buf_patch(im_buf *b, size_t offset, int form, const im_operand *ops)
{
    if (b->err)
        return b->err;
    if (form < 0 || (size_t)form >= b->a->nforms)
        return fail(b, IM_ERR_INVAL, "no form %d", form);
    const im_form *f = &b->a->forms[form];
    im_operand r[IM_MAX_OPS];
    bool pending;
    int rc = resolve(b, offset, f, ops, r, &pending);
    if (rc < 0)
        return rc;
    if (pending)
        return fail(b, IM_ERR_UNDEF_LABEL, "patch at 0x%zx names an unbound label", offset);
    uint8_t tmp[16];
    size_t len;
    im_fixup fx;
    if ((rc = b->a->encode(b->t, f, r, tmp, &len, &fx)) < 0)
        return rc; /* a rejected patch leaves the buffer as it was and is not sticky */
    if (offset > b->len || len > b->len - offset)
        return im_fail(IM_ERR_RANGE, "patch at 0x%zx runs past the end of the code", offset);
    memcpy(b->code + offset, tmp, len);
    return 0;
}

int im_buf_to_image(const im_buf *b, im_image *img)
{
    if (b->err)
        return im_fail(b->err, "%s", b->detail);
    if (!b->finished)
        return im_fail(IM_ERR_INVAL, "im_buf_finish was not called");
    if (b->len > 0xffffffffu)
        return im_fail(IM_ERR_RANGE, "code too large");
    im_section s = {0};
    s.target = b->t;
    s.align = b->page ? 4096 : 16; /* adrp: page(target) - page(pc) holds at 4 KiB */
    s.code = b->code;
    s.code_size = (uint32_t)b->len;
    im_symbol *syms = calloc(b->nsyms ? b->nsyms : 1, sizeof *syms);
    im_reloc *rels = calloc(b->nrel ? b->nrel : 1, sizeof *rels);
    if (!syms || !rels) {
        free(syms);
        free(rels);
        return im_fail(IM_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < b->nsyms; i++) {
        syms[i].name = b->syms[i].name;
        syms[i].offset = (uint32_t)b->labels[b->syms[i].label];
        syms[i].kind = b->syms[i].kind;
    }
    for (size_t i = 0; i < b->nrel; i++) {
        rels[i].offset = (uint32_t)b->rel[i].off;
        rels[i].kind = b->rel[i].kind;
        rels[i].symbol = -1;
        rels[i].addend = b->labels[b->rel[i].label] + b->rel[i].addend;
    }
    s.syms = syms;
    s.nsyms = (uint32_t)b->nsyms;
    s.relocs = rels;
    s.nrelocs = (uint32_t)b->nrel;
    int rc = im_img_add_section(img, &s);
    free(syms);
    free(rels);
    return rc;
}
