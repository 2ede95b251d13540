/* FP constants of the ARM encoders (A64 fmov, A32 vmov): the 8-bit form (VFPExpandImm) and
 * the text GNU as reads and imago prints (form.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "form.h"


uint64_t im_fp_dbits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

double im_fp_bits_d(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

/* The value of an 8-bit FP constant a:b:cdefgh (VFPExpandImm), as double bits. */
uint64_t im_fp8_bits(unsigned imm8)
{
    uint64_t b6 = (imm8 >> 6) & 1;
    return (uint64_t)(imm8 >> 7) << 63 | (b6 ^ 1) << 62 | (b6 ? 0xffull : 0) << 54 |
           (uint64_t)(imm8 & 0x3f) << 48;
}

/* imm8 of a double's bits, or -1 when the value has no 8-bit form. */
int im_fp8_of(uint64_t b)
{
    if (b & 0xffffffffffffull)
        return -1;
    unsigned e = (unsigned)(b >> 54) & 0x1ff; /* bits 62..54: NOT(b), b x8 */
    if (e != 0x100 && e != 0x0ff)
        return -1;
    return (int)((b >> 63) << 7 | ((e & 1) << 6) | ((b >> 48) & 0x3f));
}

/* An FP constant as GNU as reads one: a decimal (digits, '.', exponent; read as single
 * precision) or a hex bit pattern of `hexbits` bits (0: none taken). The double bits of
 * the value into *out. */
int im_parse_fp(const char **p, unsigned hexbits, uint64_t *out)
{
    const char *s = *p, *q = s;
    char buf[80];
    if (*q == '+' || *q == '-')
        q++;
    if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X')) {
        uint64_t v;
        const char *h = q;
        if (q != s || !hexbits || im_parse_number(&h, &v) < 0)
            return im_fail(IM_ERR_NO_ENCODING, "expected a floating-point constant");
        if (isalnum((unsigned char)*h) || *h == '_' || *h == '.')
            return im_fail(IM_ERR_NO_ENCODING, "expected a floating-point constant");
        if (hexbits == 32 && v >> 32)
            return im_fail(IM_ERR_RANGE, "0x%llx is wider than a 32-bit constant",
                           (unsigned long long)v);
        if (hexbits == 32) {
            float f;
            uint32_t w = (uint32_t)v;
            memcpy(&f, &w, sizeof f);
            v = im_fp_dbits((double)f);
        }
        *p = h;
        *out = v;
        return 0;
    }
    size_t digits = 0;
    while (isdigit((unsigned char)*q))
        q++, digits++;
    if (*q == '.') {
        q++;
        while (isdigit((unsigned char)*q))
            q++, digits++;
    }
    if (!digits)
        return im_fail(IM_ERR_NO_ENCODING, "expected a floating-point constant");
    if (*q == 'e' || *q == 'E') {
        const char *e = q + 1;
        if (*e == '+' || *e == '-')
            e++;
        if (!isdigit((unsigned char)*e))
            return im_fail(IM_ERR_NO_ENCODING, "bad exponent in a floating-point constant");
        while (isdigit((unsigned char)*e))
            e++;
        q = e;
    }
    if (isalnum((unsigned char)*q) || *q == '_' || *q == '.')
        return im_fail(IM_ERR_NO_ENCODING, "expected a floating-point constant");
    if ((size_t)(q - s) >= sizeof buf)
        return im_fail(IM_ERR_RANGE, "floating-point constant too long");
    memcpy(buf, s, (size_t)(q - s));
    buf[q - s] = '\0';
    *out = im_fp_dbits((double)strtof(buf, NULL));
    *p = q;
    return 0;
}

/* The shortest text of a value with an 8-bit form: 1.0, -0.125, 31.0 (each is exact in
 * at most 8 significant digits). */
void im_print_fp(char *buf, size_t n, uint64_t b)
{
    char t[40];
    snprintf(t, sizeof t, "%.9g", im_fp_bits_d(b));
    im_appendf(buf, n, "%s%s", t, strpbrk(t, ".en") ? "" : ".0");
}
