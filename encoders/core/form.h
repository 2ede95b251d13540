/* Internal: the form row as generated from the encoders/<arch>/ tables by tools/gentables.py,
 * the per-architecture description, and the generic template printer/parser. */
#ifndef IMAGO_FORM_H
#define IMAGO_FORM_H

#include <stdbool.h>

#include "imago/enc.h"

#define IM_MAX_SLICES 8

/* Template bytes: operand placeholders are bytes 1..IM_MAX_OPS (operand index + 1),
 * an optional group is enclosed in IM_TPL_OPT .. IM_TPL_END. */
#define IM_TPL_OPT '\016'
#define IM_TPL_END '\017'

/* Operand kind classes. */
enum { IM_KC_REG = 1, IM_KC_IMM, IM_KC_MEM, IM_KC_REL, IM_KC_COND, IM_KC_LIST, IM_KC_RM };

/* Row flags. */
enum {
    IM_FF_X64 = 1u << 0, /* x86: only in 64-bit mode */
    IM_FF_X32 = 1u << 1, /* x86: only in 32-bit mode */
    /* A32 loads/stores: with pc as both the data register (operand 1) and the base, the
     * offset must be a multiple of 4 (GNU as rejects the rest). */
    IM_FF_PCALIGN = 1u << 2,
    /* A32 data processing with pc as Rn (operand 2): GNU as reads the immediate as a signed
     * pc-relative constant, so values of 2^31 and above are rejected. */
    IM_FF_PCIMM = 1u << 3,
    /* A64 pair transfer with writeback: the base (operand 2) may not be a transfer register
     * (operands 0 and 1) unless it is sp: UNPREDICTABLE, rejected. */
    IM_FF_WB = 1u << 4,
    /* A64 load pair: the two destinations must differ (UNPREDICTABLE otherwise). */
    IM_FF_LDPAIR = 1u << 5,
    /* Bits 6..14: per-architecture row flags (A64: encoders/a64/a64.h), named in
     * tools/gentables.py (ARM_FLAGS). */
    /* Any architecture: the row's target (its IM_KC_REL operand) is page-relative (A64
     * adrp): the field is page(target) - page(pc), 4 KiB pages. The encoder reads an
     * IM_OP_REL value as relative to pc = 0 (the page of the value itself); the buffer and
     * the text assembler, which know the instruction's offset, pass it the page distance
     * im_page_delta(offset, target), the code being placed at a 4 KiB-aligned address. */
    IM_FF_PAGE = 1u << 15,
};

/* page(target) - page(at), 4 KiB pages, in two's complement (a wrap makes it huge). */
static inline int64_t im_page_delta(int64_t at, int64_t target)
{
    return (int64_t)(((uint64_t)target & ~(uint64_t)4095) - ((uint64_t)at & ~(uint64_t)4095));
}

/* x86 operand roles. */
enum {
    IM_XR_NONE = 0,
    IM_XR_REG,
    IM_XR_RM,
    IM_XR_OPREG,
    IM_XR_IMM,
    IM_XR_REL,
    IM_XR_FIXED,
    IM_XR_VVVV
};
/* x86 prefix / REX.W bits. */
enum { IM_XP_66 = 1, IM_XP_F2 = 2, IM_XP_F3 = 4, IM_XP_REXW = 8, IM_XP_F0 = 16, IM_XP_67 = 32 };
/* x86 VEX field of a form: 0 for none, else IM_XV_VEX | pp << 2 | map (1 0F, 2 0F38, 3 0F3A). */
enum { IM_XV_VEX = 0x80, IM_XV_W = 0x20, IM_XV_L = 0x10 };
/* x86 ModRM usage. */
enum { IM_XM_NONE = 0, IM_XM_R, IM_XM_DIGIT };

typedef struct im_slice {
    uint8_t op;    /* operand index */
    uint8_t vlo;   /* lowest bit of the operand's field value taken */
    uint8_t width; /* number of bits */
    uint8_t pos;   /* bit position in the instruction word */
} im_slice;

typedef struct im_form {
    const char *id;   /* unique row id */
    const char *mnem; /* mnemonic (before any condition suffix) */
    const char *tpl;  /* operand template */
    uint8_t nops;
    uint8_t cond_op; /* operand index of a condition suffix of the mnemonic, or 0xff */
    uint16_t flags;
    uint8_t kinds[IM_MAX_OPS];
    int8_t defs[IM_MAX_OPS]; /* value of an operand left out of an optional group */
    /* ARM (A32/A64): fixed bits and the slices that place operand fields. */
    uint32_t bits, mask;
    uint8_t nslices;
    im_slice slices[IM_MAX_SLICES];
    /* ARM, generated: whole when every operand is placed by at most one slice (its whole
     * field, at bit pos[i]; an encoder may then place each field as it comes, without the
     * slice loop; pos is 0 in the other rows); rel, the branch or literal operand (class
     * IM_KC_REL, the last one), or -1. */
    uint8_t whole;
    int8_t rel;
    uint8_t pos[IM_MAX_OPS];
    /* x86 */
    uint8_t pfx, vex, opc_len, modrm, digit, imm_size;
    uint8_t opc[3];
    uint8_t roles[IM_MAX_OPS];
} im_form;

/* The rows of one mnemonic (generated): mnem_forms[first .. first+count-1], in table order. */
typedef struct im_mnem {
    const char *name;
    uint16_t first, count;
} im_mnem;

typedef struct im_kind {
    const char *name;
    uint8_t cls;
    uint8_t bits; /* width of the encoded field value (ARM) */
} im_kind;

/* Parsing context for operands that name symbols (labels). */
typedef struct im_parse_ctx {
    void *user;
    /* Returns a label id for name (creating it when new), or a negative error. */
    int (*label)(void *user, const char *name, size_t len);
} im_parse_ctx;

/* A sample generator for conformance vectors. */
typedef struct im_rng {
    uint64_t s;
} im_rng;
uint64_t im_rng_next(im_rng *r);

#define IM_MAX_SAMPLES 8192

/* An operand text that no valid sample of its kind produces (imago vectors' negative
 * candidates): what the architecture knows is never encodable (x86: rsp as an index, a
 * scale of 3, a displacement out of range, an immediate wider than its field). */
typedef struct im_bad_sample {
    char text[80];
    /* GNU as accepts the text with at most a warning (it truncates the value), where imago
     * refuses it: not a negative GNU as must reject (docs/testing.md, "Negatives"). */
    bool lenient;
} im_bad_sample;

typedef struct im_arch {
    const char *name;
    const im_form *forms;
    size_t nforms;
    const im_kind *kinds;
    size_t nkinds;
    const char *comment; /* line comment characters */
    /* Parse one operand of the given kind at *p; advance *p. */
    int (*parse)(im_target t, unsigned kind, const char **p, im_operand *op,
                 const im_parse_ctx *ctx);
    /* Append the operand's text to buf. */
    void (*print)(im_target t, unsigned kind, const im_operand *op, char *buf, size_t n);
    /* Encode into out (room for 16 bytes), writing nothing there unless it succeeds; *len
     * receives the byte count, *fix where a symbolic immediate or branch field lies. */
    int (*encode)(im_target t, const im_form *f, const im_operand *ops, uint8_t *out, size_t *len,
                  im_fixup *fix);
    /* Fill out[] with sample operands for the kind; returns the count. */
    size_t (*samples)(im_target t, unsigned kind, im_rng *rng, im_operand *out, size_t max);
    bool (*form_ok)(im_target t, const im_form *f); /* mode filter */
    /* The row flags form_ok looks at: a row with none of them exists on every target of
     * the architecture, and im_encode and im_buf_emit do not call form_ok for it. */
    uint16_t mode_flags;
    /* The mnemonic index (generated), names sorted. */
    const im_mnem *mnems;
    size_t nmnems;
    const uint16_t *mnem_forms;
    /* Optional: fill out[] with bad operand texts for the kind (see im_bad_sample). */
    size_t (*bad_samples)(im_target t, unsigned kind, im_rng *rng, im_bad_sample *out, size_t max);
} im_arch;

const im_arch *im_arch_for(im_target t);
extern const im_arch im_arch_x86, im_arch_a64, im_arch_a32;
/* encoders/x86/x86_neg.c */
size_t im_x86_bad_samples(im_target t, unsigned kind, im_rng *rng, im_bad_sample *out, size_t max);

/* Generic text side of a form. */
int im_form_print(const im_arch *a, im_target t, const im_form *f, const im_operand *ops, char *buf,
                  size_t n);
/* The same with operand `which` printed as `text` instead (a negative candidate: an operand
 * of another kind, or a bad operand); which < 0 prints every operand from ops. */
int im_form_print_with(const im_arch *a, im_target t, const im_form *f, const im_operand *ops,
                       int which, const char *text, char *buf, size_t n);
/* Match operand text against the form's template (the mnemonic has been matched and its
 * condition, if any, stored by the caller). Returns 0 or a negative error. */
int im_form_match(const im_arch *a, im_target t, const im_form *f, const char *text,
                  im_operand *ops, const im_parse_ctx *ctx);

/* Parse and encode one instruction at address 0, choosing the form the assembler would
 * (labels are not allowed; '.'-relative targets are). out must hold 16 bytes. */
int im_asm_one(im_target t, const char *text, uint8_t *out, size_t *len, int *form);

/* Condition codes shared by A32 and A64. */
extern const char *const im_arm_cond_names[16];

/* Helpers for kind parsers. */
void im_skip_ws(const char **p);
/* Parse an expression: number, symbol, '.', sums and differences of them. */
int im_parse_expr(const char **p, im_operand *op, const im_parse_ctx *ctx);
int im_parse_number(const char **p, uint64_t *out); /* decimal or 0x hex */
/* ARM: the row's fixed bits with each operand's field value placed by the slices. */
uint32_t im_arm_place(const im_form *f, const uint32_t *vals);
/* ARM: every operand's field value (through the kind's field function) into vals[], and
 * the fixup record (the word is the field; the branch/literal operand, if any). */
typedef int (*im_arm_field_fn)(const im_form *f, unsigned i, const im_operand *o, uint32_t *out);
int im_arm_fields(const im_kind *kinds, const im_form *f, const im_operand *ops,
                  im_arm_field_fn field, uint32_t *vals, im_fixup *fix);
/* A branch or literal target: a label (+ addend) or '.'-relative; a plain number is refused.
 * The caller has already refused register names. */
int im_parse_target(const char **p, im_operand *op, const im_parse_ctx *ctx);
/* ".+N" / ".-N" (hex when asked) for a resolved target, ".L<id>" for a label. */
void im_print_target(const im_operand *op, bool hex, char *buf, size_t n);
bool im_match_word(const char **p, const char *word); /* case-insensitive, whole word */
void im_appendf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void im_print_hex(char *buf, size_t n, int64_t v); /* 0x2a, -0x10 */

#endif
