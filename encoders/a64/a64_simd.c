/* AArch64 Advanced SIMD: the kinds of kinds_simd.def (a64.h). */
#include "a64.h"

static int simd_parse(unsigned kind, const char **p, im_operand *op, const im_parse_ctx *ctx)
{
    (void)kind, (void)p, (void)op, (void)ctx;
    return A64_NOT_MINE;
}

static bool simd_print(unsigned kind, const im_operand *op, char *buf, size_t n)
{
    (void)kind, (void)op, (void)buf, (void)n;
    return false;
}

static int simd_field(const im_form *f, unsigned i, const im_operand *o, uint32_t *out)
{
    (void)f, (void)i, (void)o, (void)out;
    return A64_NOT_MINE;
}

static size_t simd_samples(unsigned kind, im_rng *rng, im_operand *out, size_t max)
{
    (void)kind, (void)rng, (void)out, (void)max;
    return A64_NONE;
}

const a64_area a64_area_simd = {
    .name = "simd",
    .parse = simd_parse,
    .print = simd_print,
    .field = simd_field,
    .samples = simd_samples,
};
