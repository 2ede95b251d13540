/* Internal to encoders/a32/: the A32 kinds and the areas that implement them (the same
 * design as encoders/a64/a64.h).
 *
 * encoders/a32/kinds.def is one section per source file: a32.c holds the kinds every area
 * uses (the condition and the general registers), each a32_<area>.c the kinds of its
 * section. a32.c sends each kind to its own area (a32_kind_area, from kinds.def's A32_AREA
 * numbers); an area answers A32_NOT_MINE (or false / A32_NONE) for a kind it does not
 * implement, which a32.c reports as a table error. New rows go in the area's .tbl file
 * (every .tbl here is one table, read in name order), new kinds in its kinds_<area>.def and
 * a32_<area>.c. */
#ifndef IMAGO_A32_H
#define IMAGO_A32_H

#include <stdint.h>

#include "core.h"
#include "form.h"

enum {
#define KIND(n, c, b) RK_##n,
#include "kinds.def"
#undef KIND
    RK_COUNT
};

/* A32 row flags (im_form.flags bits 6..14; named in tools/gentables.py ARCH_FLAGS["a32"]):
 * bits 6-7 data processing (a32_dp.c), 8-10 loads and stores (a32_mem.c), 11 branches and
 * system (a32_sys.c), 12-13 VFP (a32_vfp.c), 14 the other data processing (a32_misc.c). IM_FF_PCALIGN and IM_FF_PCIMM (form.h) are
 * checked by the loads and stores and the data processing areas. */
enum {
    /* Loads and stores (a32_mem.c; IM_FF_WB is writeback there: see mem_check). */
    A32_FF_OVL = 1u << 8, /* ldrd register offset: the index may not be a loaded register */
    A32_FF_STX = 1u << 9, /* store exclusive: the status register may not be Rt or Rn */
    /* Data processing (a32_dp.c), row flag "pcu": a shift by pc (kind rsreg) is
     * UNPREDICTABLE (IM_ERR_UNPREDICTABLE once every field is valid; GNU as takes it). */
    A32_FF_PCU = 1u << 6,
    /* misc (a32_misc.c), row flag "unpred": an operand of kind rdhi the same register as
     * RdLo (the operand before it) is UNPREDICTABLE (GNU as warns); the area's check refuses
     * it (IM_ERR_UNPREDICTABLE) once every field is valid, so that a text with an error
     * besides stays an error. */
    A32_FF_UNPRED = 1u << 14,
    /* VFP (a32_vfp.c, row flag rtdiff): the two core registers (operands 1 and 2) of a move
     * to them must differ (UNPREDICTABLE, which GNU as takes silently: IM_ERR_UNPREDICTABLE). */
    A32_FF_RTDIFF = 1u << 12,
    /* The flags some area's check looks at: a32_encode calls the checks only for them. */
    A32_FF_CHECKED = IM_FF_PCALIGN | IM_FF_PCIMM | A32_FF_PCU | A32_FF_UNPRED | IM_FF_WB |
                     A32_FF_OVL | A32_FF_STX | A32_FF_RTDIFF,
};

/* Which area implements each kind: 0 for a32.c, else 1 + its index in a32.c's list
 * (kinds.def sets A32_AREA before each section). */
extern const uint8_t a32_kind_area[RK_COUNT];
enum { A32_AREA_CORE, A32_AREA_DP, A32_AREA_MEM, A32_AREA_SYS, A32_AREA_VFP, A32_AREA_MISC }; /* kinds.def */

#define A32_NOT_MINE IM_AREA_NOT_MINE /* parse/field/check: the kind or row is another area's */
#define A32_NONE IM_AREA_NONE         /* samples/bad_samples: the kind is another area's */
/* An area (encoders/core/form.h): its check is called for rows with a flag of its
 * check_flags, part of A32_FF_CHECKED. */
typedef im_arm_area a32_area;

extern const a32_area a32_area_dp, a32_area_mem, a32_area_sys, a32_area_vfp, a32_area_misc;
/* The areas' field functions (each area's .field), which a32.c calls by kind directly. */
int a32_dp_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out);
int a32_mem_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out);
int a32_sys_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out);
int a32_vfp_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out);
int a32_misc_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out);

/* Shared helpers (a32.c). */
extern const char *const a32_reg_names[16]; /* r0..r12, sp, lr, pc */
/* A general register: r0..r15 or an alias (sp lr pc fp ip sl sb); -1 if none. */
int a32_parse_reg(const char **p);
/* True when *p starts with the name of any register (general or VFP/NEON s/d/q). */
bool a32_is_reg_name(const char *p);
/* An immediate with an optional '#'. */
int a32_parse_imm(const char **p, im_operand *op);
/* A branch or literal target (a label, or '.'-relative), refusing register names. */
int a32_parse_target(const char **p, im_operand *op, const im_parse_ctx *ctx);
/* "operand N value V out of range [lo, hi]" (IM_ERR_RANGE). */
int a32_range_fail(const im_form *f, unsigned i, int64_t v, int64_t lo, int64_t hi);
static inline int a32_range(const im_form *f, unsigned i, int64_t v, int64_t lo, int64_t hi)
{
    return v < lo || v > hi ? a32_range_fail(f, i, v, lo, hi) : 0;
}
/* A register list {r0, r4-r6, lr} as a 16-bit mask. */
int a32_parse_list(const char **p, uint32_t *mask);
void a32_print_list(uint32_t mask, char *buf, size_t n);

/* A bad sample (im_bad_sample): the printf text into out[*k], lenient as given, *k counted,
 * when *k < max (the areas' bad_samples). */
void a32_bad(im_bad_sample *out, size_t *k, size_t max, bool lenient, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Every area's check runs for the flags it looks at (run by tests/test_enc.c). */
int a32_check_areas(char *msg, size_t n);

#endif
