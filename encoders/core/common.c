/* Target names, error strings, relocation names and the per-thread error detail. */
#include "imago/imago.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

static const char *const target_names[IM_TARGET_COUNT] = {
    [IM_TARGET_X86_64] = "x86_64",
    [IM_TARGET_I386] = "i386",
    [IM_TARGET_ARM] = "arm",
    [IM_TARGET_AARCH64] = "aarch64",
};

const char *im_target_name(im_target t)
{
    if ((unsigned)t >= IM_TARGET_COUNT)
        return NULL;
    return target_names[t];
}

im_target im_target_from_name(const char *name)
{
    if (!name)
        return IM_TARGET_NONE;
    for (unsigned i = 1; i < IM_TARGET_COUNT; i++)
        if (target_names[i] && strcmp(target_names[i], name) == 0)
            return (im_target)i;
    return IM_TARGET_NONE;
}

im_target im_host_target(void)
{
#if defined(__x86_64__)
    return IM_TARGET_X86_64;
#elif defined(__i386__)
    return IM_TARGET_I386;
#elif defined(__aarch64__)
    return IM_TARGET_AARCH64;
#elif defined(__arm__)
    return IM_TARGET_ARM;
#else
    return IM_TARGET_NONE;
#endif
}

unsigned im_target_ptr_size(im_target t)
{
    switch (t) {
    case IM_TARGET_X86_64:
    case IM_TARGET_AARCH64:
        return 8;
    case IM_TARGET_I386:
    case IM_TARGET_ARM:
        return 4;
    default:
        return 0;
    }
}

const char *im_strerror(int err)
{
    switch (err) {
    case IM_OK: return "success";
    case IM_ERR_NOMEM: return "out of memory";
    case IM_ERR_INVAL: return "invalid argument";
    case IM_ERR_NO_ENCODING: return "operands have no encoding";
    case IM_ERR_RANGE: return "value out of range";
    case IM_ERR_ALIGN: return "misaligned value";
    case IM_ERR_UNDEF_LABEL: return "undefined label";
    case IM_ERR_LABEL: return "invalid label";
    case IM_ERR_TARGET: return "unknown or unsupported target";
    case IM_ERR_TRUNCATED: return "truncated image";
    case IM_ERR_MAGIC: return "not an imago image (bad magic)";
    case IM_ERR_VERSION: return "unsupported image version";
    case IM_ERR_CHECKSUM: return "image checksum mismatch";
    case IM_ERR_MALFORMED: return "malformed image";
    case IM_ERR_NOSYM: return "symbol not found";
    case IM_ERR_NOSECTION: return "no section for target";
    case IM_ERR_RELOC: return "invalid relocation";
    case IM_ERR_RELOC_RANGE: return "relocation out of range";
    case IM_ERR_UNPREDICTABLE: return "UNPREDICTABLE operands";
    case IM_ERR_SYS: return "system call failed";
    case IM_ERR_ENGINE: return "engine failure";
    case IM_ERR_IO: return "input/output error";
    case IM_ERR_SYNTAX: return "syntax error";
    case IM_ERR_UNKNOWN_MNEMONIC: return "unknown mnemonic";
    case IM_ERR_SYMBOL: return "invalid symbol";
    case IM_ERR_OVERLAP: return "image parts overlap";
    case IM_ERR_TOO_LARGE: return "image or table too large";
    case IM_ERR_UNRESOLVED: return "unresolved import";
    case IM_ERR_BUSY: return "module in use";
    default: return "unknown error";
    }
}

static _Thread_local char detail_buf[512];
static _Thread_local int fail_quiet;

void im_fail_quiet(int on)
{
    fail_quiet = on;
}

const char *im_detail(void)
{
    return detail_buf;
}

int im_fail(int err, const char *fmt, ...)
{
    if (fail_quiet)
        return err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail_buf, sizeof detail_buf, fmt, ap);
    va_end(ap);
    return err;
}

void im_clear_detail(void)
{
    detail_buf[0] = '\0';
}

int im_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2 / elem)
            return im_fail(IM_ERR_NOMEM, "array of %zu items too large", need);
        n *= 2;
    }
    void *q = realloc(*p, n * elem);
    if (!q)
        return im_fail(IM_ERR_NOMEM, "out of memory for %zu items", need);
    *p = q;
    *cap = n;
    return 0;
}

const char *im_reloc_name(unsigned kind)
{
    switch (kind) {
    case IM_RELOC_ABS32: return "ABS32";
    case IM_RELOC_ABS64: return "ABS64";
    case IM_RELOC_ABS32S: return "ABS32S";
    case IM_RELOC_PC32: return "PC32";
    case IM_RELOC_ARM_CALL: return "ARM_CALL";
    case IM_RELOC_ARM_JUMP24: return "ARM_JUMP24";
    case IM_RELOC_ARM_MOVW_ABS_NC: return "ARM_MOVW_ABS_NC";
    case IM_RELOC_ARM_MOVT_ABS: return "ARM_MOVT_ABS";
    case IM_RELOC_AARCH64_CALL26: return "AARCH64_CALL26";
    case IM_RELOC_AARCH64_JUMP26: return "AARCH64_JUMP26";
    case IM_RELOC_AARCH64_CONDBR19: return "AARCH64_CONDBR19";
    case IM_RELOC_AARCH64_TSTBR14: return "AARCH64_TSTBR14";
    case IM_RELOC_AARCH64_ADR_PREL_PG_HI21: return "AARCH64_ADR_PREL_PG_HI21";
    case IM_RELOC_AARCH64_ADD_ABS_LO12_NC: return "AARCH64_ADD_ABS_LO12_NC";
    case IM_RELOC_AARCH64_LDST8_ABS_LO12_NC: return "AARCH64_LDST8_ABS_LO12_NC";
    case IM_RELOC_AARCH64_LDST16_ABS_LO12_NC: return "AARCH64_LDST16_ABS_LO12_NC";
    case IM_RELOC_AARCH64_LDST32_ABS_LO12_NC: return "AARCH64_LDST32_ABS_LO12_NC";
    case IM_RELOC_AARCH64_LDST64_ABS_LO12_NC: return "AARCH64_LDST64_ABS_LO12_NC";
    case IM_RELOC_AARCH64_LDST128_ABS_LO12_NC: return "AARCH64_LDST128_ABS_LO12_NC";
    default: return NULL;
    }
}
