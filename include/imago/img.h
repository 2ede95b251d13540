/* imago image format v1: reading and writing (docs/image-format.md). */
#ifndef IMAGO_IMG_H
#define IMAGO_IMG_H

#include "imago.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IM_IMG_VERSION 1u

typedef enum im_sym_kind {
    IM_SYM_FUNC = 1,
    IM_SYM_DATA = 2,
} im_sym_kind;

typedef struct im_symbol {
    char *name;      /* NUL-terminated, owned by the image */
    uint32_t offset; /* from the start of the section's code */
    uint32_t kind;   /* im_sym_kind */
} im_symbol;

typedef struct im_reloc {
    uint32_t offset; /* of the field to patch, from the start of the code */
    uint32_t kind;   /* im_reloc_kind */
    int32_t symbol;  /* index into the section's symbols, or -1 for the section start */
    int64_t addend;  /* value = address(symbol) + addend */
} im_reloc;

typedef struct im_section {
    im_target target;
    uint32_t align; /* power of two, >= 1 */
    uint8_t *code;
    uint32_t code_size;
    im_symbol *syms;
    uint32_t nsyms;
    im_reloc *relocs;
    uint32_t nrelocs;
} im_section;

typedef struct im_image {
    uint32_t version;
    im_section *sections;
    uint32_t nsections;
} im_image;

/* Building. */
im_image *im_img_new(void);
/* Appends a section; copies code, symbols (and their names) and relocations.
 * Fails with IM_ERR_INVAL if the image already has a section for the target. */
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
const im_section *im_img_section(const im_image *img, im_target t); /* NULL if none */
int im_section_find_symbol(const im_section *sec, const char *name, uint32_t *offset);
/* The symbol a runner calls when none is named: "main" if present, else the
 * first IM_SYM_FUNC symbol; NULL if neither exists. */
const char *im_section_default_entry(const im_section *sec);

/* Checksum of a serialised image of len bytes (>= the 64-byte header): CRC-32
 * (IEEE, as zlib's crc32) of all bytes with the checksum field read as zero. */
uint32_t im_img_checksum(const uint8_t *data, size_t len);

/* Apply every relocation of sec to dst (a copy of sec->code, code_size bytes) for
 * code that will live at address base. Range-checks each field. */
int im_section_relocate(const im_section *sec, uint8_t *dst, uint64_t base);

#ifdef __cplusplus
}
#endif
#endif
