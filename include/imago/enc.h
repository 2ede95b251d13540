/* imago encoders, layer 1 (pure encoder) and layer 2 (assembler buffer).
 *
 * Layer 1: im_encode(target, form, operands) -> bytes, or a negative error; nothing is
 * written on failure. Forms are the rows of encoders/<arch>/ tables; their ids are the
 * IM_X86_*, IM_A64_* and IM_A32_* constants of <imago/forms.h> (generated).
 *
 * Layer 2: im_buf, a growable buffer with integer label ids, forward references,
 * relocation records, a sticky first error and patching. */
#ifndef IMAGO_ENC_H
#define IMAGO_ENC_H

#include "imago.h"
#include "img.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IM_MAX_OPS 5
#define IM_NOREG 0xff

typedef enum im_op_type {
    IM_OP_NONE = 0,
    IM_OP_REG,   /* reg */
    IM_OP_IMM,   /* imm */
    IM_OP_MEM,   /* base, index, scale, imm = displacement (x86 memory operand) */
    IM_OP_REL,   /* imm = target - address of the instruction (pc-relative, resolved) */
    IM_OP_LABEL, /* label (buffer label id) + imm (addend): a branch or literal target */
    IM_OP_SYM,   /* label + imm: an absolute address, needs a relocation */
    IM_OP_COND,  /* imm = condition code 0..15 */
    IM_OP_LIST,  /* imm = register bit mask */
} im_op_type;

typedef struct im_operand {
    uint8_t type; /* im_op_type */
    uint8_t reg;
    uint8_t base, index, scale; /* IM_OP_MEM: IM_NOREG when absent; base 0xfe = rip */
    int32_t label;
    int64_t imm;
} im_operand;

#define IM_REG_RIP 0xfe

static inline im_operand im_reg(unsigned r)
{
    im_operand o = {IM_OP_REG, (uint8_t)r, IM_NOREG, IM_NOREG, 0, -1, 0};
    return o;
}
static inline im_operand im_imm(int64_t v)
{
    im_operand o = {IM_OP_IMM, 0, IM_NOREG, IM_NOREG, 0, -1, v};
    return o;
}
static inline im_operand im_mem(unsigned base, unsigned index, unsigned scale, int64_t disp)
{
    im_operand o = {IM_OP_MEM, 0, (uint8_t)base, (uint8_t)index, (uint8_t)scale, -1, disp};
    return o;
}
static inline im_operand im_label(int label)
{
    im_operand o = {IM_OP_LABEL, 0, IM_NOREG, IM_NOREG, 0, label, 0};
    return o;
}
/* The absolute address of label + addend (an immediate that needs a relocation). */
static inline im_operand im_symref(int label, int64_t addend)
{
    im_operand o = {IM_OP_SYM, 0, IM_NOREG, IM_NOREG, 0, label, addend};
    return o;
}
static inline im_operand im_cond(unsigned c)
{
    im_operand o = {IM_OP_COND, 0, IM_NOREG, IM_NOREG, 0, -1, (int64_t)c};
    return o;
}

/* Where an encoded instruction holds a field that a relocation or fixup must patch. */
typedef struct im_fixup {
    int8_t op;      /* operand index, -1 if none */
    uint8_t offset; /* byte offset of the field in the instruction */
    uint8_t size;   /* field size in bytes */
    uint8_t reloc;  /* im_reloc_kind for an IM_OP_SYM operand, else IM_RELOC_NONE */
} im_fixup;

/* ---- layer 1 ---- */
int im_form_count(im_target t);
int im_form_lookup(im_target t, const char *id); /* form index, or IM_ERR_INVAL */
const char *im_form_id(im_target t, int form);
int im_form_valid(im_target t, int form); /* 1 if the form exists in the target's mode */
/* Returns the instruction length (> 0), or a negative error; writes nothing on failure.
 * Operands of type IM_OP_LABEL/IM_OP_SYM are rejected here (use the buffer). */
int im_encode(im_target t, int form, const im_operand *ops, uint8_t *out, size_t cap);
/* GNU-syntax text of an instruction; returns the length or a negative error. */
int im_print(im_target t, int form, const im_operand *ops, char *buf, size_t n);

/* ---- layer 2 ---- */
typedef struct im_buf im_buf;

im_buf *im_buf_new(im_target t);
void im_buf_free(im_buf *b);
im_target im_buf_target(const im_buf *b);
int im_buf_label(im_buf *b);                 /* a new, unbound label id (>= 0) */
int im_buf_bind(im_buf *b, int label);       /* bind at the current offset */
int im_buf_emit(im_buf *b, int form, const im_operand *ops);
int im_buf_bytes(im_buf *b, const void *data, size_t len);
int im_buf_fill(im_buf *b, size_t count, uint8_t byte);
/* A size-byte data word holding the absolute address of label + addend (relocated). */
int im_buf_addr(im_buf *b, unsigned size, int label, int64_t addend);
int im_buf_export(im_buf *b, const char *name, int label, im_sym_kind kind);
/* Imports: a label standing for a name the module imports (another module's export or a
 * host function), never bound. A branch to it (call/jmp rel32, bl/b, b.cond, cbz, tbz)
 * becomes a relocation against the import's address (IM_REF_IMPORT: bound when the module
 * is linked, through a veneer when the branch cannot reach). im_buf_toc gives a label for
 * the address of the import's TOC slot (IM_REF_TOC): use it where a symbol address goes
 * (IM_OP_SYM, im_buf_addr, a rip-relative memory operand, adrp/:lo12:, movw/movt) to call
 * through the TOC. Importing a name twice returns the same label. */
int im_buf_import(im_buf *b, const char *name, im_sym_kind kind);
int im_buf_toc(im_buf *b, int import_label);
/* Resolve forward references; report undefined labels and out-of-range branches. */
int im_buf_finish(im_buf *b);
/* First error (sticky), its offset and detail; 0 if none. */
int im_buf_error(const im_buf *b, size_t *offset, const char **detail);
size_t im_buf_offset(const im_buf *b);
const uint8_t *im_buf_code(const im_buf *b, size_t *len);
int64_t im_buf_label_offset(const im_buf *b, int label); /* -1 if unbound */
/* Re-encode an instruction at offset; the new encoding must have the same length. */
int im_buf_patch(im_buf *b, size_t offset, int form, const im_operand *ops);
/* Append the finished buffer to img as its target's section, module IM_DEFAULT_MODULE. */
int im_buf_to_image(const im_buf *b, im_image *img);
/* The same for a named module (NULL or "": IM_DEFAULT_MODULE). */
int im_buf_to_module(const im_buf *b, const char *module, im_image *img);

/* Patch loaded code (<imago/link.h>): encode form with ops as if at m's code offset, check
 * the new encoding has the same length as the instruction there (len bytes: 0 = the
 * length of the new encoding) and write it with im_lmod_write (W^X, icache flush).
 * IM_OP_REL operands are relative to the instruction's address. */
struct im_lmod;
int im_lmod_patch(struct im_lmod *m, uint32_t offset, size_t len, int form, const im_operand *ops);

#ifdef __cplusplus
}
#endif
#endif
