/* Layer 2: the assembler buffer. Integer label ids, forward references resolved at finish
 * (by re-encoding the instruction with the final displacement, so every range check of the
 * kind applies), relocation records for absolute addresses, a sticky first error.
 *
 * Imports: an import label (im_buf_import) and the label of its TOC slot (im_buf_toc) are
 * never bound; every use of one becomes a relocation (encoders/core/buf.c records it with
 * the label, im_buf_to_module turns the label into IM_REF_IMPORT / IM_REF_TOC and the
 * import's index). Branches to an import: x86 call/jmp/jcc rel32 -> PC32 (A = -4: the
 * field's end, ELF RELA style), arm b/bl -> ARM_JUMP24/ARM_CALL (A = 0: im_reloc_apply
 * subtracts the 8 of the pipeline itself), aarch64 bl -> CALL26, b -> JUMP26, b.cond/cbz/
 * cbnz -> CONDBR19, tbz/tbnz -> TSTBR14, adrp -> ADR_PREL_PG_HI21 (A = 0). Symbol operands
 * (IM_OP_SYM, im_buf_addr) take the kind the encoder names (ABS32/ABS32S/ABS64, arm
 * MOVW_ABS_NC/MOVT_ABS, aarch64 ADD_ABS_LO12_NC/LDSTn_ABS_LO12_NC); an x86 memory operand
 * naming a label (label >= 0) is rip-relative (PC32, resolved here for a local label) or
 * absolute (ABS32 on i386, ABS32S on x86_64). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../loader/reloc.h"
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

/* An import: its label, and the label of its TOC slot (-1 until im_buf_toc asks). */
typedef struct bimport {
    char *name;
    int label, toc;
    uint32_t kind;
} bimport;

/* What a label stands for (im_buf.ext): a place in the code, an import, an import's slot. */
enum { EXT_LOCAL = 0, EXT_IMPORT = 1, EXT_TOC = 2 };
#define EXT(kind, i) ((int32_t)((uint32_t)(i) << 2 | (kind)))
#define EXT_KIND(e) ((e)&3)
#define EXT_INDEX(e) ((uint32_t)(e) >> 2)

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
    int32_t *ext; /* per label: EXT_LOCAL, or EXT(EXT_IMPORT / EXT_TOC, import index) */
    size_t extcap;
    bimport *imps;
    size_t nimps, impcap;
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
    for (size_t i = 0; i < b->nimps; i++)
        free(b->imps[i].name);
    free(b->imps);
    free(b->ext);
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
        im_grow((void **)&b->labels, &b->labcap, b->nlabels + 1, sizeof *b->labels) ||
        im_grow((void **)&b->ext, &b->extcap, b->nlabels + 1, sizeof *b->ext))
        return fail(b, IM_ERR_NOMEM, "out of memory for labels");
    b->labels[b->nlabels] = -1;
    b->ext[b->nlabels] = EXT_LOCAL;
    return (int)b->nlabels++;
}

static bool label_ok(const im_buf *b, int label)
{
    return label >= 0 && (size_t)label < b->nlabels;
}

/* An import's or a TOC slot's label (never bound, always a relocation). */
static bool label_ext(const im_buf *b, int label)
{
    return label_ok(b, label) && b->ext[label] != EXT_LOCAL;
}

static const char *ext_name(const im_buf *b, int label)
{
    return b->imps[EXT_INDEX(b->ext[label])].name;
}

int im_buf_import(im_buf *b, const char *name, im_sym_kind kind)
{
    if (b->err)
        return b->err;
    if (!name || !*name)
        return fail(b, IM_ERR_INVAL, "an import needs a name");
    if (kind != IM_SYM_FUNC && kind != IM_SYM_DATA)
        return fail(b, IM_ERR_INVAL, "import '%s': kind %d is neither function nor data", name,
                    (int)kind);
    for (size_t i = 0; i < b->nimps; i++)
        if (!strcmp(b->imps[i].name, name)) {
            if (b->imps[i].kind != (uint32_t)kind)
                return fail(b, IM_ERR_SYMBOL, "import '%s' imported as %s and as %s", name,
                            b->imps[i].kind == IM_SYM_FUNC ? "function" : "data",
                            kind == IM_SYM_FUNC ? "function" : "data");
            return b->imps[i].label;
        }
    if (b->nimps >= 0x3fffffff ||
        im_grow((void **)&b->imps, &b->impcap, b->nimps + 1, sizeof *b->imps))
        return fail(b, IM_ERR_NOMEM, "out of memory for imports");
    char *n = strdup(name);
    if (!n)
        return fail(b, IM_ERR_NOMEM, "out of memory");
    int label = im_buf_label(b);
    if (label < 0) {
        free(n);
        return label;
    }
    b->ext[label] = EXT(EXT_IMPORT, b->nimps);
    b->imps[b->nimps++] = (bimport){n, label, -1, (uint32_t)kind};
    return label;
}

int im_buf_toc(im_buf *b, int import_label)
{
    if (b->err)
        return b->err;
    if (!label_ok(b, import_label) || EXT_KIND(b->ext[import_label]) != EXT_IMPORT)
        return fail(b, IM_ERR_LABEL, "im_buf_toc: label %d is not an import (im_buf_import)",
                    import_label);
    bimport *im = &b->imps[EXT_INDEX(b->ext[import_label])];
    if (im->toc >= 0)
        return im->toc;
    int label = im_buf_label(b);
    if (label < 0)
        return label;
    b->ext[label] = EXT(EXT_TOC, EXT_INDEX(b->ext[import_label]));
    im = &b->imps[EXT_INDEX(b->ext[import_label])];
    im->toc = label;
    return label;
}

int im_buf_bind(im_buf *b, int label)
{
    if (b->err)
        return b->err;
    if (!label_ok(b, label))
        return fail(b, IM_ERR_LABEL, "label %d does not exist", label);
    if (b->labels[label] >= 0)
        return fail(b, IM_ERR_LABEL, "label %d bound twice", label);
    if (b->ext[label] != EXT_LOCAL)
        return fail(b, IM_ERR_LABEL, "label %d stands for %s '%s': it cannot be bound", label,
                    EXT_KIND(b->ext[label]) == EXT_IMPORT ? "import" : "the TOC slot of import",
                    ext_name(b, label));
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
    static uint8_t nothing; /* n == 0 before any code: not NULL, and nothing is written */
    if (n == 0)
        return b->code ? b->code + b->len : &nothing;
    if (n > SIZE_MAX - b->len || im_grow((void **)&b->code, &b->cap, b->len + n, 1)) {
        fail(b, IM_ERR_NOMEM, "out of memory for code");
        return NULL;
    }
    b->len += n;
    return b->code + b->len - n;
}

/* Resolve label operands at insn offset `at`; *pending is set when one is unbound. The
 * target of a page-relative row (IM_FF_PAGE) becomes the page distance: the code is meant
 * for a 4 KiB-aligned address (the loader maps each section at a page boundary). Operands
 * naming an import or a TOC slot are never pending: a branch keeps its label (the encoders
 * write a zero field), a symbol becomes 0, and the caller records the relocation. An x86
 * memory operand naming a label gets displacement 0 here; mem_labels() fills it in. */
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
        bool mem = in[i].type == IM_OP_MEM && in[i].label >= 0 && b->a == &im_arch_x86;
        if (in[i].type != IM_OP_LABEL && in[i].type != IM_OP_SYM && !mem)
            continue;
        if (!label_ok(b, in[i].label))
            return fail(b, IM_ERR_LABEL, "%s: operand %u names label %d, which does not exist",
                        f->id, i + 1, in[i].label);
        if (mem) {
            out[i].label = -1;
            out[i].imm = 0;
            if (!label_ext(b, in[i].label) && b->labels[in[i].label] < 0)
                *pending = true;
            continue;
        }
        if (label_ext(b, in[i].label)) {
            if (in[i].type == IM_OP_SYM)
                out[i].imm = 0;
            continue;
        }
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

/* The relocation of a branch (or adrp) whose target is an import or a TOC slot: its kind
 * and addend (see the head of the file), or an error naming why there is none. */
static int branch_reloc(im_buf *b, const im_form *f, const im_operand *ops, unsigned op,
                        const im_fixup *fx, size_t len, uint32_t *kind, int64_t *addend)
{
    int label = ops[op].label;
    bool toc = EXT_KIND(b->ext[label]) == EXT_TOC;
    const char *what = toc ? "the TOC slot of import" : "import";
    const char *kn = b->a->kinds[f->kinds[op]].name;
    *addend = ops[op].imm;
    *kind = IM_RELOC_NONE;
    if (b->a == &im_arch_x86) {
        if (!toc && fx->op == (int8_t)op && fx->size == 4) {
            *kind = IM_RELOC_PC32; /* the field's end is where the displacement starts from */
            *addend = ops[op].imm - (int64_t)(len - fx->offset);
        }
    } else if (b->a == &im_arch_a64) {
        if (!strcmp(kn, "page21"))
            *kind = IM_RELOC_AARCH64_ADR_PREL_PG_HI21;
        else if (toc)
            ; /* a branch into data */
        else if (!strcmp(kn, "rel26"))
            *kind = !strcmp(f->mnem, "bl") ? IM_RELOC_AARCH64_CALL26 : IM_RELOC_AARCH64_JUMP26;
        else if (!strcmp(kn, "rel19") &&
                 (!strcmp(f->mnem, "b.") || !strcmp(f->mnem, "cbz") || !strcmp(f->mnem, "cbnz")))
            *kind = IM_RELOC_AARCH64_CONDBR19;
        else if (!strcmp(kn, "rel14"))
            *kind = IM_RELOC_AARCH64_TSTBR14;
    } else if (b->a == &im_arch_a32) {
        if (!toc && !strcmp(kn, "rel24")) {
            /* bl (always) is R_ARM_CALL; b<cond> and bl<cond> are R_ARM_JUMP24 */
            bool al = f->cond_op == 0xff || ops[f->cond_op].imm == 14;
            *kind = !strcmp(f->mnem, "bl") && al ? IM_RELOC_ARM_CALL : IM_RELOC_ARM_JUMP24;
        }
    }
    if (*kind == IM_RELOC_NONE)
        return fail(b, IM_ERR_NO_ENCODING,
                    "%s: operand %u names %s '%s', which needs a relocation this instruction "
                    "has none for on %s%s",
                    f->id, op + 1, what, ext_name(b, label), im_target_name(b->t),
                    toc ? " (take the slot's address with a symbol operand and load from it)"
                        : " (call or jump with a 32-bit displacement, b/bl, b.cond, cbz, tbz, "
                          "adrp)");
    return 0;
}

/* x86 memory operands naming a label (label >= 0), in code of len bytes at offset at (the
 * instruction is encoded with displacement 0 there): the displacement is the 4 bytes before
 * the immediate. rip-relative: a local label's distance is written now (bound) or at finish
 * (pending: the caller keeps a fixup); an import or TOC slot becomes a PC32 relocation.
 * Absolute ([label]): an ABS32 (i386) or ABS32S (x86_64) relocation. Relocations are added
 * only when `record` (not again when a fixup is resolved). */
static int mem_labels(im_buf *b, size_t at, const im_form *f, const im_operand *ops, uint8_t *code,
                      size_t len, bool record)
{
    for (unsigned i = 0; i < f->nops; i++) {
        const im_operand *o = &ops[i];
        if (o->type != IM_OP_MEM || o->label < 0)
            continue;
        size_t off = len - f->imm_size - 4;
        bool rip = o->base == IM_REG_RIP && o->index == IM_NOREG;
        bool abs = o->base == IM_NOREG && o->index == IM_NOREG;
        if ((!rip && !abs) || len < (size_t)f->imm_size + 5)
            return fail(b, IM_ERR_NO_ENCODING,
                        "%s: operand %u: a memory operand names a label only as [rip + label] "
                        "or [label]",
                        f->id, i + 1);
        if (rip && !label_ext(b, o->label)) {
            int64_t lab = b->labels[o->label];
            if (lab < 0)
                continue; /* pending */
            int64_t d = lab + o->imm - (int64_t)(at + len);
            if (d < INT32_MIN || d > INT32_MAX)
                return fail(b, IM_ERR_RANGE, "%s: rip-relative displacement %lld out of range",
                            f->id, (long long)d);
            im_put32(code + off, (uint32_t)d);
            continue;
        }
        if (!record)
            continue;
        uint32_t kind = rip                        ? IM_RELOC_PC32
                        : b->t == IM_TARGET_X86_64 ? IM_RELOC_ABS32S
                                                   : IM_RELOC_ABS32;
        int64_t addend = rip ? o->imm - (int64_t)(len - off) : o->imm;
        int rc = add_reloc(b, at + off, kind, 4, o->label, addend);
        if (rc < 0)
            return rc;
    }
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
    bool labels = f->flags & IM_FF_PAGE, mem = false;
    int ext_branch = -1;
    for (unsigned i = 0; i < f->nops; i++) {
        bool lab = ops[i].type == IM_OP_LABEL || ops[i].type == IM_OP_SYM;
        bool m = ops[i].type == IM_OP_MEM && ops[i].label >= 0 && b->a == &im_arch_x86;
        labels |= lab || m;
        mem |= m;
        if (ops[i].type == IM_OP_LABEL && label_ext(b, ops[i].label))
            ext_branch = (int)i;
    }
    im_operand r[IM_MAX_OPS];
    bool pending = false;
    int rc;
    if (labels && (rc = resolve(b, b->len, f, ops, r, &pending)) < 0)
        return rc;
    /* a page-relative row resolved here needs the 4 KiB-aligned placement */
    b->page |= labels && (f->flags & IM_FF_PAGE) && ext_branch < 0;
    size_t len;
    im_fixup fx;
    rc = b->a->encode(b->t, f, labels ? r : ops, b->code + b->len, &len, &fx);
    if (rc < 0)
        return set_err(b, rc);
    size_t nrel = b->nrel; /* relocations of this instruction are dropped if it fails */
    if (fx.reloc != IM_RELOC_NONE) {
        const im_operand *o = &ops[fx.op];
        if ((rc = add_reloc(b, b->len + fx.offset, fx.reloc, fx.size, o->label, o->imm)) < 0)
            return rc;
    }
    if (ext_branch >= 0) {
        uint32_t kind;
        int64_t addend;
        if ((rc = branch_reloc(b, f, ops, (unsigned)ext_branch, &fx, len, &kind, &addend)) < 0 ||
            (rc = add_reloc(b, b->len + fx.offset, kind, 4, ops[ext_branch].label, addend)) < 0) {
            b->nrel = nrel;
            return rc;
        }
    }
    if (mem && (rc = mem_labels(b, b->len, f, ops, b->code + b->len, len, true)) < 0) {
        b->nrel = nrel;
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
    if (label_ext(b, label))
        return fail(b, IM_ERR_LABEL, "cannot export '%s': label %d stands for import '%s'", name,
                    label, ext_name(b, label));
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
        for (unsigned j = 0; j < f->nops; j++) {
            const im_operand *o = &x->ops[j];
            bool lab = o->type == IM_OP_LABEL || o->type == IM_OP_SYM ||
                       (o->type == IM_OP_MEM && o->label >= 0 && b->a == &im_arch_x86);
            if (lab && !label_ext(b, o->label) && b->labels[o->label] < 0) {
                b->err_off = x->off;
                return fail(b, IM_ERR_UNDEF_LABEL,
                            "label %d, used by %s at offset 0x%zx, is never bound", o->label, f->id,
                            x->off);
            }
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
        if ((rc = mem_labels(b, x->off, f, x->ops, tmp, len, false)) < 0)
            return rc;
        memcpy(b->code + x->off, tmp, len);
    }
    b->nfix = 0;
    /* write the value each relocated field holds when the code sits at address 0; fields
     * of imports and TOC slots stay zero */
    for (size_t i = 0; i < b->nrel; i++) {
        breloc *r = &b->rel[i];
        if (label_ext(b, r->label))
            continue;
        int64_t lab = b->labels[r->label];
        if (lab < 0) {
            b->err_off = r->off;
            return fail(b, IM_ERR_UNDEF_LABEL,
                        "label %d, whose address is taken at offset 0x%zx, is never bound",
                        r->label, r->off);
        }
        uint64_t v = (uint64_t)(lab + r->addend);
        if (r->kind == IM_RELOC_ABS64)
            im_put64(b->code + r->off, v);
        else if (r->kind == IM_RELOC_ABS32 || r->kind == IM_RELOC_ABS32S)
            im_put32(b->code + r->off, (uint32_t)v);
        else if (im_reloc_apply(b->t, r->kind, b->code + r->off, r->off, v) < 0) {
            b->err_off = r->off;
            return fail(b, IM_ERR_RELOC_RANGE, "relocation at offset 0x%zx (label %d): %s", r->off,
                        r->label, im_detail());
        }
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
    for (unsigned i = 0; i < f->nops; i++)
        if ((ops[i].type == IM_OP_LABEL || ops[i].type == IM_OP_SYM ||
             (ops[i].type == IM_OP_MEM && ops[i].label >= 0 && b->a == &im_arch_x86)) &&
            label_ext(b, ops[i].label))
            return im_fail(IM_ERR_INVAL,
                           "patch at 0x%zx names import '%s' (a patch adds no relocation)", offset,
                           ext_name(b, ops[i].label));
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

int im_buf_to_module(const im_buf *b, const char *module, im_image *img)
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
    s.module = (char *)(module && *module ? module : IM_DEFAULT_MODULE);
    s.code = b->code;
    s.code_size = (uint32_t)b->len;
    im_symbol *syms = calloc(b->nsyms ? b->nsyms : 1, sizeof *syms);
    im_import *imps = calloc(b->nimps ? b->nimps : 1, sizeof *imps);
    im_reloc *rels = calloc(b->nrel ? b->nrel : 1, sizeof *rels);
    if (!syms || !imps || !rels) {
        free(syms);
        free(imps);
        free(rels);
        return im_fail(IM_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < b->nsyms; i++) {
        syms[i].name = b->syms[i].name;
        syms[i].offset = (uint32_t)b->labels[b->syms[i].label];
        syms[i].kind = b->syms[i].kind;
    }
    /* every import has a TOC slot, in import order */
    for (size_t i = 0; i < b->nimps; i++) {
        imps[i].name = b->imps[i].name;
        imps[i].slot = (uint32_t)i;
        imps[i].kind = b->imps[i].kind;
    }
    for (size_t i = 0; i < b->nrel; i++) {
        const breloc *r = &b->rel[i];
        int32_t e = b->ext[r->label];
        rels[i].offset = (uint32_t)r->off;
        rels[i].kind = r->kind;
        if (e == EXT_LOCAL) {
            rels[i].ref = IM_REF_LOCAL;
            rels[i].symbol = -1;
            rels[i].addend = b->labels[r->label] + r->addend;
        } else {
            rels[i].ref = EXT_KIND(e) == EXT_IMPORT ? IM_REF_IMPORT : IM_REF_TOC;
            rels[i].symbol = (int32_t)EXT_INDEX(e);
            rels[i].addend = r->addend;
        }
    }
    s.syms = syms;
    s.nsyms = (uint32_t)b->nsyms;
    s.imports = imps;
    s.nimports = (uint32_t)b->nimps;
    s.toc_slots = (uint32_t)b->nimps;
    s.relocs = rels;
    s.nrelocs = (uint32_t)b->nrel;
    int rc = im_img_add_section(img, &s);
    free(syms);
    free(imps);
    free(rels);
    return rc;
}

int im_buf_to_image(const im_buf *b, im_image *img)
{
    return im_buf_to_module(b, IM_DEFAULT_MODULE, img);
}
