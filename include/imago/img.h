/* imago image format v2: reading and writing (docs/image-format.md). */
#ifndef IMAGO_IMG_H
#define IMAGO_IMG_H

#include "imago.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IM_IMG_VERSION 2u

typedef enum im_sym_kind {
    IM_SYM_FUNC = 1,
    IM_SYM_DATA = 2,
} im_sym_kind;

/* An exported symbol of a module: other modules' imports and the embedding program find
 * code and data by these names. */
typedef struct im_symbol {
    char *name;      /* NUL-terminated, owned by the image */
    uint32_t offset; /* from the start of the section's code */
    uint32_t kind;   /* im_sym_kind */
} im_symbol;

/* An import: a name another module exports, or a host function the embedding program
 * registers. Its TOC slot holds its address, resolved lazily at the first call through it. */
typedef struct im_import {
    char *name;    /* NUL-terminated, owned by the image */
    uint32_t slot; /* TOC slot (pointer-sized), < the section's toc_slots, unique */
    uint32_t kind; /* im_sym_kind */
} im_import;

/* What a relocation's S is. */
typedef enum im_ref {
    IM_REF_LOCAL = 0,  /* symbol -1: the section's start; else the section's symbol[symbol] */
    IM_REF_TOC = 1,    /* the address of the TOC slot of import[symbol] */
    IM_REF_IMPORT = 2, /* the address import[symbol] resolves to, bound when the module is
                          linked (a direct call: a veneer where the branch cannot reach) */
} im_ref;

typedef struct im_reloc {
    uint32_t offset; /* of the field to patch, from the start of the code */
    uint32_t kind;   /* im_reloc_kind */
    int32_t symbol;  /* see ref */
    int64_t addend;  /* value = S + addend */
    uint32_t ref;    /* im_ref (last: v1-style initializers leave it IM_REF_LOCAL) */
} im_reloc;

typedef struct im_section {
    im_target target;
    uint32_t align; /* power of two, >= 1 */
    uint8_t *code;
    uint32_t code_size;
    im_symbol *syms; /* exports */
    uint32_t nsyms;
    im_reloc *relocs;
    uint32_t nrelocs;
    /* v2 (last: v1-style initializers leave a module "main" without imports) */
    char *module; /* module name, NUL-terminated; NULL or "" = IM_DEFAULT_MODULE */
    im_import *imports;
    uint32_t nimports;
    uint32_t toc_slots; /* pointer-sized TOC entries (>= every import's slot + 1) */
} im_section;

/* An image: modules, each with at most one section per target; (module, target) pairs are
 * unique. */
typedef struct im_image {
    uint32_t version;
    im_section *sections;
    uint32_t nsections;
} im_image;

/* The module name a section gets when none is given (im_buf_to_image, v1 habits). */
#define IM_DEFAULT_MODULE "main"

/* Building. */
im_image *im_img_new(void);
/* Appends a section; copies code, symbols, imports (and their names) and relocations. A NULL
 * or empty module name is IM_DEFAULT_MODULE. Fails with IM_ERR_INVAL if the image already has
 * a section for that module and target. */
int im_img_add_section(im_image *img, const im_section *sec);
void im_img_free(im_image *img);

/* Serialise into a malloc'd buffer (*out, *len). */
int im_img_write(const im_image *img, uint8_t **out, size_t *len);
/* Write to a file atomically (temporary file + rename): no half-written file on failure. */
int im_img_write_file(const im_image *img, const char *path);
/* Write len bytes to path the same way: a temporary file beside it, then rename. */
int im_write_file_atomic(const char *path, const void *data, size_t len);
/* Parse and validate (magic, version, checksum, bounds, symbols, relocations). */
int im_img_read(const uint8_t *data, size_t len, im_image **out);
int im_img_read_file(const char *path, im_image **out);

/* Lookups. */
/* The first section for target t (NULL if none). */
const im_section *im_img_section(const im_image *img, im_target t);
/* The section of module for target t (NULL if none). */
const im_section *im_img_module_section(const im_image *img, const char *module, im_target t);
int im_section_find_symbol(const im_section *sec, const char *name, uint32_t *offset);
/* The symbol a runner calls when none is named: "main" if present, else the
 * first IM_SYM_FUNC symbol; NULL if neither exists. */
const char *im_section_default_entry(const im_section *sec);

/* Checksum of a serialised image of len bytes (>= the 64-byte header): CRC-32
 * (IEEE, as zlib's crc32) of all bytes with the checksum field read as zero. */
uint32_t im_img_checksum(const uint8_t *data, size_t len);

/* Apply every relocation of sec to dst (a copy of sec->code, code_size bytes) for
 * code that will live at address base. Range-checks each field. IM_REF_TOC relocations
 * take the TOC at toc (slot i at toc + i * pointer size); IM_REF_IMPORT relocations are
 * refused with IM_ERR_UNRESOLVED (the runtime linker, <imago/link.h>, binds them). */
int im_section_relocate(const im_section *sec, uint8_t *dst, uint64_t base);
int im_section_relocate_toc(const im_section *sec, uint8_t *dst, uint64_t base, uint64_t toc);

#ifdef __cplusplus
}
#endif
#endif
