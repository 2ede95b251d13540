/* imago: runtime encoders, images and loaders for x86_64, i386, arm and aarch64.
 * Umbrella header: targets, error codes, relocation kinds, diagnostics.
 * The library never prints or aborts: every fallible call returns 0 or a
 * negative IM_ERR_* code; im_strerror() names the code and im_detail() gives
 * the detail of the last error raised on the calling thread. */
#ifndef IMAGO_IMAGO_H
#define IMAGO_IMAGO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Targets, by GNU name. The numeric values are part of the image format. */
typedef enum im_target {
    IM_TARGET_NONE = 0,
    IM_TARGET_X86_64 = 1,
    IM_TARGET_I386 = 2,
    IM_TARGET_ARM = 3,
    IM_TARGET_AARCH64 = 4,
} im_target;
#define IM_TARGET_COUNT 5

const char *im_target_name(im_target t);        /* "x86_64", ... ; NULL if unknown */
im_target im_target_from_name(const char *name); /* IM_TARGET_NONE if unknown */
im_target im_host_target(void);                   /* the target this code was built for */
unsigned im_target_ptr_size(im_target t);         /* 4 or 8; 0 if unknown */

/* Error codes: 0 is success, every error is negative. */
enum {
    IM_OK = 0,
    IM_ERR_NOMEM = -1,       /* out of memory */
    IM_ERR_INVAL = -2,       /* invalid argument */
    IM_ERR_NO_ENCODING = -3, /* operands have no encoding in this form */
    IM_ERR_RANGE = -4,       /* immediate or displacement out of range */
    IM_ERR_ALIGN = -5,       /* misaligned immediate, offset or branch target */
    IM_ERR_UNDEF_LABEL = -6, /* label used but never bound */
    IM_ERR_LABEL = -7,       /* bad label id, or label bound twice */
    IM_ERR_TARGET = -8,      /* unknown or unsupported target */
    IM_ERR_TRUNCATED = -9,   /* image shorter than its header says */
    IM_ERR_MAGIC = -10,      /* not an imago image */
    IM_ERR_VERSION = -11,    /* unsupported image version */
    IM_ERR_CHECKSUM = -12,   /* image checksum mismatch */
    IM_ERR_MALFORMED = -13,  /* image structure invalid */
    IM_ERR_NOSYM = -14,      /* symbol not found */
    IM_ERR_NOSECTION = -15,  /* no section for the target */
    IM_ERR_RELOC = -16,      /* unknown or invalid relocation */
    IM_ERR_RELOC_RANGE = -17,/* relocated value does not fit its field */
    IM_ERR_SYS = -18,        /* system call failed */
    IM_ERR_ENGINE = -19,     /* execution engine failed or unavailable */
    IM_ERR_IO = -20,         /* file input/output failed */
    IM_ERR_SYNTAX = -21,     /* assembler syntax error */
    IM_ERR_UNKNOWN_MNEMONIC = -22,
    IM_ERR_SYMBOL = -23,     /* duplicate or invalid symbol */
    /* operands the architecture calls UNPREDICTABLE (GNU as may only warn) */
    IM_ERR_UNPREDICTABLE = -24,
};

const char *im_strerror(int err);
/* Detail of the last error raised on this thread ("" if none). */
const char *im_detail(void);

/* Relocation kinds, named like their ELF twins. Values are part of the image format. */
typedef enum im_reloc_kind {
    IM_RELOC_NONE = 0,
    IM_RELOC_ABS32 = 1, /* 32-bit absolute address (x86_64 zero-extended R_X86_64_32, i386 R_386_32, R_ARM_ABS32) */
    IM_RELOC_ABS64 = 2, /* 64-bit absolute address (R_X86_64_64, R_AARCH64_ABS64) */
    IM_RELOC_ABS32S = 3, /* 32-bit absolute address, sign-extended to 64 bits (R_X86_64_32S) */
} im_reloc_kind;
const char *im_reloc_name(unsigned kind); /* NULL if unknown */

#ifdef __cplusplus
}
#endif
#endif
