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

/* What an A32 row needs (im_form.req), as GNU as (2.40) checks it. The numbers
 * are tools/gentables.py's A32_REQUIRES; keep the two in step. */
enum {
    IM_A32R_NONE,
    IM_A32R_V4T,  /* ARMv4T (bx) */
    IM_A32R_V5T,  /* ARMv5T (blx, clz) */
    IM_A32R_V5TE, /* ARMv5TE (ldrd, the DSP multiplies) */
    IM_A32R_V6,   /* ARMv6 (rev, ldrex) */
    IM_A32R_V6K,  /* ARMv6K, or ARMv6T2 (clrex, ldrexb, the hints yield/wfe/wfi/sev) */
    IM_A32R_V6T2, /* ARMv6T2 (movw, movt, bfi, ubfx) */
    IM_A32R_V7,   /* ARMv7 (dmb, dsb, isb, pli) */
    IM_A32R_IDIV, /* .arch_extension idiv (sdiv, udiv) */
    IM_A32R_SEC,  /* .arch_extension sec (smc) */
    IM_A32R_MP,   /* .arch_extension mp (pldw) */
    IM_A32R_VIRT, /* .arch_extension virt (hvc, eret) */
    IM_A32R_VFP,        /* a VFP unit: single precision (vadd.f32) */
    IM_A32R_VFP_DP,     /* VFP double precision (vadd.f64) */
    IM_A32R_VFPV3,      /* VFPv3 (vmov.f32 s0, #1.0) */
    IM_A32R_VFPV3_DP,   /* VFPv3 double precision (vmov.f64 d0, #1.0) */
    IM_A32R_VFPV4,      /* VFPv4 (vfma.f32 s0, s1, s2) */
    IM_A32R_VFPV4_DP,   /* VFPv4 fused, double (vfma.f64) */
    IM_A32R_NEON,       /* Advanced SIMD (vadd.i32 d0, d1, d2) */
    IM_A32R_NEON_FP16,  /* NEON half-precision conversions (vcvt.f16.f32 d0, q1) */
    IM_A32R_NEON_VFPV4, /* NEON fused multiply (vfma.f32 d0, d1, d2) */
    IM_A32R_FP16,       /* VFP half-precision conversions (vcvtb.f16.f32) */
    IM_A32R_COUNT
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
    /* where the condition goes in mnem: 0xff at its end, else before mnem[cond_at] (the
     * '.' of a suffix: vadd.f32 with cond_at 4 reads vaddeq.f32) */
    uint8_t cond_at;
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
    /* A32: what the row needs of the architecture, its extensions or the FPU (IM_A32R_*, 0
     * for nothing), named in tools/gentables.py (A32_REQUIRES). The encoders ignore it;
     * `imago asm` refuses the row unless the source's .arch, .arch_extension and .fpu (or
     * the defaults, GNU as's -march=armv7-a+idiv -mfpu=neon) select it (encoders/core/asm.c,
     * docs/asm.md). */
    uint8_t req;
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
    /* Optional: an immediate in the architecture's syntax ("#0") when its assembler (GNU
     * as for A32) reads an unknown bare name where an immediate may stand as a symbol: a
     * negative that puts another kind's register name in such a slot (ldrh r0, [r1, s2];
     * lsl r0, r1, d1) is no negative, and imago vectors leaves it out. */
    const char *imm_text;
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

/* An area of an ARM encoder (encoders/a64/a64.h, encoders/a32/a32.h): the kinds of one
 * section of the architecture's kinds.def, behind one interface. A function answers
 * IM_AREA_NOT_MINE (false, IM_AREA_NONE) for a kind or row that is another area's. */
#define IM_AREA_NOT_MINE 1          /* parse/field/check */
#define IM_AREA_NONE ((size_t)-1) /* samples/bad_samples */
typedef struct im_arm_area {
    const char *name;
    /* Parse one operand of kind at *p (advance *p): 0, a negative error, or NOT_MINE. */
    int (*parse)(unsigned kind, const char **p, im_operand *op, const im_parse_ctx *ctx);
    /* Append the operand's text; false when the kind is not the area's. */
    bool (*print)(unsigned kind, const im_operand *op, char *buf, size_t n);
    /* Operand i's field value: 0, a negative error (im_fail), or NOT_MINE. */
    int (*field)(const im_form *f, unsigned i, const im_operand *o, uint32_t *out);
    /* Samples for vectors: the count, or IM_AREA_NONE. */
    size_t (*samples)(unsigned kind, im_rng *rng, im_operand *out, size_t max);
    /* Bad operand texts (im_bad_sample): the count, or IM_AREA_NONE. May be NULL. */
    size_t (*bad_samples)(unsigned kind, im_rng *rng, im_bad_sample *out, size_t max);
    /* Whole-row checks after every field is valid (UNPREDICTABLE combinations and the
     * like): 0 or a negative error. May be NULL. The encoder calls it only for rows with a
     * flag of check_flags, which must be part of the architecture's CHECKED flags (a new
     * check needs its flag there). */
    int (*check)(const im_form *f, const im_operand *ops, const uint32_t *vals);
    uint16_t check_flags;
} im_arm_area;
/* Every area's check runs: each area with a check names its flags, and together they are
 * `checked` (the flags the encoder calls checks for). The number of faults, the first in
 * msg; tests/test_enc.c runs it for A64 and A32. */
int im_arm_check_areas(const im_arm_area *const *areas, size_t n, uint16_t checked, char *msg,
                       size_t len);

/* Condition codes shared by A32 and A64. */
extern const char *const im_arm_cond_names[16];

/* Helpers for kind parsers. */
void im_skip_ws(const char **p);
/* Parse an expression: number, symbol, '.', sums and differences of them. */
int im_parse_expr(const char **p, im_operand *op, const im_parse_ctx *ctx);
int im_parse_number(const char **p, uint64_t *out); /* decimal or 0x hex */
/* ARM FP constants (encoders/core/fpconst.c): a double's bits and back; the value of an
 * 8-bit constant a:b:cdefgh (VFPExpandImm) as double bits, and the 8 bits of a double's
 * bits (-1 when it has no 8-bit form); a constant as GNU as reads one (a decimal, read as
 * single precision, or 0x... as a bit pattern of hexbits bits: 32 for a float's, 0 for
 * none) into double bits; the shortest text of a value with an 8-bit form (1.0, -0.125). */
uint64_t im_fp_dbits(double d);
double im_fp_bits_d(uint64_t b);
uint64_t im_fp8_bits(unsigned imm8);
int im_fp8_of(uint64_t b);
int im_parse_fp(const char **p, unsigned hexbits, uint64_t *out);
void im_print_fp(char *buf, size_t n, uint64_t b);
/* ARM: the row's fixed bits with each operand's field value placed by the slices. */
uint32_t im_arm_place(const im_form *f, const uint32_t *vals);
/* ARM: a kind's field function: operand i's field value into *out (0), or an error. */
typedef int (*im_arm_field_fn)(const im_form *f, unsigned i, const im_operand *o, uint32_t *out);
/* A branch or literal target: a label (+ addend) or '.'-relative; a plain number is refused.
 * The caller has already refused register names. */
int im_parse_target(const char **p, im_operand *op, const im_parse_ctx *ctx);
/* ".+N" / ".-N" (hex when asked) for a resolved target, ".L<id>" for a label. */
void im_print_target(const im_operand *op, bool hex, char *buf, size_t n);
bool im_match_word(const char **p, const char *word); /* case-insensitive, whole word */
void im_appendf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void im_print_hex(char *buf, size_t n, int64_t v); /* 0x2a, -0x10 */

#endif
