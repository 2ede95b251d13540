/* Internal helpers shared by every module of the library (not installed). */
#ifndef IMAGO_CORE_H
#define IMAGO_CORE_H

#include "imago/imago.h"

/* Grow *p (an array of elem-byte items, *cap of them) to hold need items: 0 or IM_ERR_NOMEM. */
int im_grow(void **p, size_t *cap, size_t need, size_t elem);

/* Record a detail message for the calling thread and return err. */
int im_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* While on, im_fail returns its error without formatting the detail (the assembler, once
 * it holds the first row's reason, lets the other rows fail cheaply). */
void im_fail_quiet(int on);
void im_clear_detail(void);

static inline void im_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
/* Little-endian stores: one store on a little-endian host (gcc does not merge the byte
 * loop), byte by byte elsewhere. */
static inline void im_put32(uint8_t *p, uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    __builtin_memcpy(p, &v, 4);
#else
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
#endif
}
static inline void im_put64(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    __builtin_memcpy(p, &v, 8);
#else
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
#endif
}
static inline uint16_t im_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t im_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t im_get64(const uint8_t *p)
{
    return (uint64_t)im_get32(p) | (uint64_t)im_get32(p + 4) << 32;
}

#endif
