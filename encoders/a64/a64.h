/* Internal to encoders/a64/: the AArch64 kinds and the areas that implement them.
 *
 * encoders/a64/kinds.def is one section per source file: a64.c holds the registers and
 * conditions every area uses, each other a64_<area>.c the kinds of its section. a64.c sends
 * each kind to its own area (a64_kind_area, from kinds.def's A64_AREA numbers; the field
 * functions through a table of them); an area answers A64_NOT_MINE (or false / A64_NONE)
 * for a kind it does not implement, which a64.c reports as a table error. New rows go in the area's .tbl file (every .tbl here is one table, read in
 * name order), new kinds in its kinds_<area>.def and a64_<area>.c. */
#ifndef IMAGO_A64_H
#define IMAGO_A64_H

#include <stdint.h>

#include "core.h"
#include "form.h"

enum {
#define KIND(n, c, b) AK_##n,
#include "kinds.def"
#undef KIND
    AK_COUNT
};

/* A64 row flags (im_form.flags bits 6..14; named in tools/gentables.py ARM_FLAGS). */
enum {
    A64_FF_FIRST = 1u << 6, /* the first area-owned flag bit */
    /* Data processing (a64_int.c): an extended-register row spelled with lsl, which GNU as
     * takes only when an operand of kind wsp/xsp is sp (else lsl is the shifted form). */
    A64_FF_SPEXT = 1u << 6,
    /* Loads and stores (a64_mem.c): a store exclusive; its status register (operand 1) may
     * not be a transfer or the base register (UNPREDICTABLE). */
    A64_FF_STX = 1u << 7,
    /* The flags some area's check looks at: a64_encode calls the checks only for them. */
    A64_FF_CHECKED = IM_FF_WB | IM_FF_LDPAIR | A64_FF_SPEXT | A64_FF_STX,
};

/* Which area implements each kind: 0 for a64.c, else 1 + its index in a64.c's list
 * (kinds.def sets A64_AREA before each section). */
extern const uint8_t a64_kind_area[AK_COUNT];
enum { A64_AREA_CORE, A64_AREA_INT, A64_AREA_MEM, A64_AREA_FP, A64_AREA_SIMD }; /* kinds.def */

#define A64_NOT_MINE IM_AREA_NOT_MINE /* parse/field/check: the kind or row is another area's */
#define A64_NONE IM_AREA_NONE         /* samples/bad_samples: the kind is another area's */
/* An area (encoders/core/form.h): its check is called for rows with a flag of its
 * check_flags, part of A64_FF_CHECKED. */
typedef im_arm_area a64_area;

extern const a64_area a64_area_int, a64_area_mem, a64_area_fp, a64_area_simd;
/* The areas' field functions (each area's .field), which a64.c calls by kind directly. */
int a64_int_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out);
int a64_mem_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out);
int a64_fp_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out);
int a64_simd_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out);

/* Shared helpers (a64.c). The range and alignment checks are inline (the field functions'
 * hot path), their errors out of line. */
int a64_range_fail(const im_form *f, unsigned i, int64_t v, int64_t lo, int64_t hi);
int a64_aligned_fail(const im_form *f, unsigned i, int64_t v, int64_t scale);
static inline int a64_range(const im_form *f, unsigned i, int64_t v, int64_t lo, int64_t hi)
{
    return v < lo || v > hi ? a64_range_fail(f, i, v, lo, hi) : 0;
}
static inline int a64_aligned(const im_form *f, unsigned i, int64_t v, int64_t scale)
{
    /* a power of two (every scale the kinds use) by its low bits: no division */
    int64_t r = (scale & (scale - 1)) == 0 ? v & (scale - 1) : v % scale;
    return r ? a64_aligned_fail(f, i, v, scale) : 0;
}
/* w0..w30 / x0..x30 and 31 as wzr/xzr (sp false) or wsp/sp (sp true); -1 if none. */
int a64_parse_greg(const char **p, char prefix, bool sp);
/* True when *p starts with the name of any register (general, SIMD&FP, vector). */
bool a64_is_reg_name(const char *p);
/* A condition name eq..nv (hs and lo read as cs and cc): its number, or -1 if none. */
int a64_parse_cond(const char **p);
/* An immediate with an optional '#'. */
int a64_parse_imm(const char **p, im_operand *op);
/* A branch or literal target (a label, or '.'-relative), refusing register names. */
int a64_parse_target(const char **p, im_operand *op, const im_parse_ctx *ctx);

/* The A64_IMM fast path agrees with the field functions (a64.c; run by tests/test_enc.c):
 * the number of disagreements, the first described in msg. */
int a64_check_imm_ranges(char *msg, size_t n);
/* Every area's check runs for the flags it looks at (a64.c; run by tests/test_enc.c). */
int a64_check_areas(char *msg, size_t n);

#endif
