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
    IM_ERR_OVERLAP = -25,    /* image parts overlap */
    IM_ERR_TOO_LARGE = -26,  /* image or table larger than the format or the loader allows */
    IM_ERR_UNRESOLVED = -27, /* an import no module exports and no host function provides */
    IM_ERR_BUSY = -28,       /* module still in use (users, or threads not yet quiescent) */
};

const char *im_strerror(int err);
/* Detail of the last error raised on this thread ("" if none). */
const char *im_detail(void);

/* Relocation kinds, named like their ELF twins (R_<target>_<name>). Values are part of the
 * image format (docs/image-format.md); V = S + A is the target value, P the field's address. */
typedef enum im_reloc_kind {
    IM_RELOC_NONE = 0,
    IM_RELOC_ABS32 = 1,  /* 32-bit V (x86_64 zero-extended R_X86_64_32, i386 R_386_32, R_ARM_ABS32) */
    IM_RELOC_ABS64 = 2,  /* 64-bit V (R_X86_64_64, R_AARCH64_ABS64) */
    IM_RELOC_ABS32S = 3, /* 32-bit V, sign-extended to 64 bits (R_X86_64_32S) */
    IM_RELOC_PC32 = 4,   /* 32-bit V - P, signed (R_X86_64_PC32, R_386_PC32) */
    /* arm (A32) */
    IM_RELOC_ARM_CALL = 16,        /* bl/blx imm24: (V - P - 8) >> 2, +-32 MiB (R_ARM_CALL) */
    IM_RELOC_ARM_JUMP24 = 17,      /* b<cond> imm24, +-32 MiB (R_ARM_JUMP24) */
    IM_RELOC_ARM_MOVW_ABS_NC = 18, /* movw imm16 = V & 0xffff (R_ARM_MOVW_ABS_NC) */
    IM_RELOC_ARM_MOVT_ABS = 19,    /* movt imm16 = V >> 16 (R_ARM_MOVT_ABS) */
    /* aarch64 */
    IM_RELOC_AARCH64_CALL26 = 32,           /* bl imm26: (V - P) >> 2, +-128 MiB */
    IM_RELOC_AARCH64_JUMP26 = 33,           /* b imm26, +-128 MiB */
    IM_RELOC_AARCH64_CONDBR19 = 34,         /* b.cond/cbz/cbnz imm19, +-1 MiB */
    IM_RELOC_AARCH64_TSTBR14 = 35,          /* tbz/tbnz imm14, +-32 KiB */
    IM_RELOC_AARCH64_ADR_PREL_PG_HI21 = 36, /* adrp: Page(V) - Page(P), +-4 GiB */
    IM_RELOC_AARCH64_ADD_ABS_LO12_NC = 37,  /* add imm12 = V & 0xfff */
    IM_RELOC_AARCH64_LDST8_ABS_LO12_NC = 38,   /* ldrb/strb imm12 = V & 0xfff */
    IM_RELOC_AARCH64_LDST16_ABS_LO12_NC = 39,  /* imm12 = (V & 0xfff) >> 1, aligned */
    IM_RELOC_AARCH64_LDST32_ABS_LO12_NC = 40,  /* imm12 = (V & 0xfff) >> 2, aligned */
    IM_RELOC_AARCH64_LDST64_ABS_LO12_NC = 41,  /* imm12 = (V & 0xfff) >> 3, aligned */
    IM_RELOC_AARCH64_LDST128_ABS_LO12_NC = 42, /* imm12 = (V & 0xfff) >> 4, aligned */
} im_reloc_kind;
const char *im_reloc_name(unsigned kind); /* NULL if unknown */

#ifdef __cplusplus
}
#endif
#endif
