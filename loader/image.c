/* imago image format v2 (and v1, read only): building, writing and validating reading.
 * The byte layout is documented in docs/image-format.md; keep the two in step. */
#include "imago/img.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "reloc.h"

/* ---- layout constants (docs/image-format.md) ---------------------------- */

static const uint8_t img_magic[8] = {0x7f, 'I', 'M', 'G', '\r', '\n', 0x1a, '\n'};

enum {
    HDR_SIZE = 64,
    HDR_MAGIC = 0,
    HDR_VERSION = 8,
    HDR_HDRSIZE = 12,
    HDR_TOTAL = 16,
    HDR_CHECKSUM = 20,
    HDR_FLAGS = 24,
    HDR_NSECT = 28,
    HDR_SECTOFF = 32,
    HDR_SECTENT = 36,
    HDR_STROFF = 40,
    HDR_STRSIZE = 44,
    HDR_RESERVED = 48, /* 16 bytes, zero */

    /* Section entry: v2 is v1's 48 bytes with the reserved tail given meaning, plus 16. */
    SEC_SIZE = 64,
    SEC_SIZE_V1 = 48,
    SEC_TARGET = 0,
    SEC_ALIGN = 4,
    SEC_FLAGS = 8,
    SEC_CODEOFF = 12,
    SEC_CODESIZE = 16,
    SEC_SYMOFF = 20,
    SEC_NSYMS = 24,
    SEC_RELOFF = 28,
    SEC_NRELS = 32,
    SEC_RESERVED_V1 = 36, /* v1: 12 bytes, zero */
    SEC_MODULE = 36,      /* v2: module name, string table offset */
    SEC_IMPOFF = 40,
    SEC_NIMPS = 44,
    SEC_TOCSLOTS = 48,
    SEC_RESERVED = 52, /* v2: 12 bytes, zero */

    SYM_SIZE = 16,
    SYM_NAME = 0,
    SYM_OFFSET = 4,
    SYM_KIND = 8,
    SYM_RESERVED = 12,

    IMP_SIZE = 16,
    IMP_NAME = 0,
    IMP_SLOT = 4,
    IMP_KIND = 8,
    IMP_RESERVED = 12,

    REL_SIZE = 24,
    REL_OFFSET = 0,
    REL_KIND = 4,
    REL_SYMBOL = 8,
    REL_REF = 12, /* v1: reserved, zero */
    REL_ADDEND = 16,

    CODE_ALIGN = 16,       /* file offset alignment of code */
    TABLE_ALIGN = 8,       /* file offset alignment of the section, symbol, import, reloc tables */
    MAX_ALIGN = 65536,     /* largest section alignment */
    MAX_SECTIONS = 256,    /* v2 */
    MAX_SECTIONS_V1 = 4,   /* v1: one per target */
    MAX_TOC_SLOTS = 65536, /* per section */
    MAX_NAME = 4095,       /* bytes of a module, symbol or import name (without the NUL) */
    MAX_STRINGS = 64 << 20 /* bytes of all names, each with its NUL, as the writer stores them */
};

/* ---- checksum: CRC-32 (IEEE 802.3, reflected, as zlib), nibble table ---- */

static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u,
    0x4db26158u, 0x5005713cu, 0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
    0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu,
};

static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 0xfu];
        crc = (crc >> 4) ^ crc_nibble[crc & 0xfu];
    }
    return crc;
}

uint32_t im_img_checksum(const uint8_t *data, size_t len)
{
    static const uint8_t zero[4];
    uint32_t crc = 0xffffffffu;
    if (len < HDR_SIZE)
        return crc_update(crc, data, len) ^ 0xffffffffu;
    crc = crc_update(crc, data, HDR_CHECKSUM);
    crc = crc_update(crc, zero, 4);
    crc = crc_update(crc, data + HDR_CHECKSUM + 4, len - (HDR_CHECKSUM + 4));
    return crc ^ 0xffffffffu;
}

/* ---- helpers -------------------------------------------------------------- */

static int is_pow2(uint32_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

static int known_target(uint32_t t)
{
    return t != IM_TARGET_NONE && im_target_name((im_target)t) != NULL;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A section's module name: NULL or "" is IM_DEFAULT_MODULE (img.h). */
static const char *mod_name(const im_section *sec)
{
    return sec->module && sec->module[0] ? sec->module : IM_DEFAULT_MODULE;
}

/* "section I (TARGET, module 'M')" for the messages. */
struct where {
    char s[128];
};

static struct where where_of(uint32_t idx, const im_section *sec)
{
    struct where w;
    const char *tn = im_target_name(sec->target);
    snprintf(w.s, sizeof w.s, "section %u (%s, module '%.48s')", idx, tn ? tn : "?", mod_name(sec));
    return w;
}

/* The first duplicate among n strings (sorted copy of the pointers), NULL if none; *err is
 * IM_ERR_NOMEM if sorting could not allocate. */
static const char *first_duplicate(const char *const *names, uint32_t n, int *err)
{
    *err = 0;
    if (n < 2)
        return NULL;
    const char **s = malloc((size_t)n * sizeof *s);
    if (!s) {
        *err = IM_ERR_NOMEM;
        return NULL;
    }
    memcpy(s, names, (size_t)n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_str_ptr);
    const char *dup = NULL;
    for (uint32_t i = 1; i < n && !dup; i++)
        if (strcmp(s[i - 1], s[i]) == 0)
            dup = s[i];
    free(s);
    return dup;
}

/* Checks shared by im_img_add_section, im_img_write and im_img_read: everything that can be
 * said about a section independently of its byte encoding (docs/image-format.md,
 * "Validation", checks 22-31). idx is the section's index for the messages. */
static int validate_section(const im_section *sec, uint32_t idx)
{
    if (!known_target((uint32_t)sec->target))
        return im_fail(IM_ERR_TARGET, "section %u: unknown target %u", idx, (unsigned)sec->target);
    struct where wb = where_of(idx, sec);
    const char *w = wb.s;
    if (strnlen(mod_name(sec), MAX_NAME + 1) > MAX_NAME)
        return im_fail(IM_ERR_TOO_LARGE, "%s: module name longer than %u bytes", w,
                       (unsigned)MAX_NAME);
    if (!is_pow2(sec->align) || sec->align > MAX_ALIGN)
        return im_fail(IM_ERR_ALIGN, "%s: alignment %u is not a power of two in 1..%u", w,
                       sec->align, (unsigned)MAX_ALIGN);
    if (sec->code_size && !sec->code)
        return im_fail(IM_ERR_INVAL, "%s: %u code bytes but no code", w, sec->code_size);
    if ((sec->nsyms && !sec->syms) || (sec->nrelocs && !sec->relocs) ||
        (sec->nimports && !sec->imports))
        return im_fail(IM_ERR_INVAL, "%s: counted symbols, imports or relocations missing", w);
    if (sec->toc_slots > MAX_TOC_SLOTS)
        return im_fail(IM_ERR_TOO_LARGE, "%s: %u TOC slots, at most %u are allowed", w,
                       sec->toc_slots, (unsigned)MAX_TOC_SLOTS);

    for (uint32_t i = 0; i < sec->nsyms; i++) {
        const im_symbol *s = &sec->syms[i];
        if (!s->name || !s->name[0])
            return im_fail(IM_ERR_SYMBOL, "%s: symbol %u has an empty name", w, i);
        if (strnlen(s->name, MAX_NAME + 1) > MAX_NAME)
            return im_fail(IM_ERR_TOO_LARGE, "%s: symbol %u name longer than %u bytes", w, i,
                           (unsigned)MAX_NAME);
        if (s->kind != IM_SYM_FUNC && s->kind != IM_SYM_DATA)
            return im_fail(IM_ERR_SYMBOL, "%s: symbol %u '%s' has unknown kind %u", w, i, s->name,
                           s->kind);
        if (s->offset > sec->code_size)
            return im_fail(IM_ERR_SYMBOL,
                           "%s: symbol %u '%s' at offset 0x%x is past the end of code (size 0x%x)",
                           w, i, s->name, s->offset, sec->code_size);
    }
    for (uint32_t i = 0; i < sec->nimports; i++) {
        const im_import *m = &sec->imports[i];
        if (!m->name || !m->name[0])
            return im_fail(IM_ERR_SYMBOL, "%s: import %u has an empty name", w, i);
        if (strnlen(m->name, MAX_NAME + 1) > MAX_NAME)
            return im_fail(IM_ERR_TOO_LARGE, "%s: import %u name longer than %u bytes", w, i,
                           (unsigned)MAX_NAME);
        if (m->kind != IM_SYM_FUNC && m->kind != IM_SYM_DATA)
            return im_fail(IM_ERR_SYMBOL, "%s: import %u '%s' has unknown kind %u", w, i, m->name,
                           m->kind);
        if (m->slot >= sec->toc_slots)
            return im_fail(IM_ERR_MALFORMED, "%s: import %u '%s' uses TOC slot %u (section has %u)",
                           w, i, m->name, m->slot, sec->toc_slots);
    }

    /* Names: exports unique, import names unique; import slots unique. */
    int err = 0;
    const char *dup = NULL;
    uint32_t nnames = sec->nsyms > sec->nimports ? sec->nsyms : sec->nimports;
    const char **names = nnames ? malloc((size_t)nnames * sizeof *names) : NULL;
    if (nnames && !names)
        return im_fail(IM_ERR_NOMEM, "%s: checking %u names", w, nnames);
    for (uint32_t i = 0; i < sec->nsyms; i++)
        names[i] = sec->syms[i].name;
    if ((dup = first_duplicate(names, sec->nsyms, &err)) == NULL && !err) {
        for (uint32_t i = 0; i < sec->nimports; i++)
            names[i] = sec->imports[i].name;
        if ((dup = first_duplicate(names, sec->nimports, &err)) != NULL) {
            free(names);
            return im_fail(IM_ERR_SYMBOL, "%s: duplicate import '%s'", w, dup);
        }
    } else if (dup) {
        free(names);
        return im_fail(IM_ERR_SYMBOL, "%s: duplicate symbol '%s'", w, dup);
    }
    free(names);
    if (err)
        return im_fail(IM_ERR_NOMEM, "%s: checking %u names", w, nnames);
    if (sec->nimports > 1) {
        uint8_t *used = calloc(((size_t)sec->toc_slots + 7) / 8, 1);
        if (!used)
            return im_fail(IM_ERR_NOMEM, "%s: checking %u TOC slots", w, sec->toc_slots);
        for (uint32_t i = 0; i < sec->nimports; i++) {
            uint32_t s = sec->imports[i].slot; /* < toc_slots, checked above */
            if (used[s / 8] & (1u << (s % 8))) {
                uint32_t j = 0;
                while (sec->imports[j].slot != s)
                    j++;
                free(used);
                return im_fail(IM_ERR_MALFORMED,
                               "%s: imports %u '%s' and %u '%s' share TOC slot %u", w, j,
                               sec->imports[j].name, i, sec->imports[i].name, s);
            }
            used[s / 8] |= (uint8_t)(1u << (s % 8));
        }
        free(used);
    }

    const char *tn = im_target_name(sec->target);
    for (uint32_t i = 0; i < sec->nrelocs; i++) {
        const im_reloc *r = &sec->relocs[i];
        const char *kn = im_reloc_name(r->kind);
        if (!kn)
            return im_fail(IM_ERR_RELOC, "%s: relocation %u at offset 0x%x has unknown kind %u", w,
                           i, r->offset, r->kind);
        unsigned size = im_reloc_field_size(r->kind, sec->target);
        if (!size)
            return im_fail(IM_ERR_RELOC, "%s: relocation %u at offset 0x%x: %s is not valid for %s",
                           w, i, r->offset, kn, tn);
        if ((uint64_t)r->offset + size > sec->code_size)
            return im_fail(IM_ERR_RELOC,
                           "%s: relocation %u at offset 0x%x overflows code (size 0x%x)", w, i,
                           r->offset, sec->code_size);
        switch (r->ref) {
        case IM_REF_LOCAL:
            if (r->symbol < -1 || (r->symbol >= 0 && (uint32_t)r->symbol >= sec->nsyms))
                return im_fail(IM_ERR_RELOC,
                               "%s: relocation %u at offset 0x%x refers to symbol %d (section has "
                               "%u)",
                               w, i, r->offset, (int)r->symbol, sec->nsyms);
            break;
        case IM_REF_TOC:
        case IM_REF_IMPORT:
            if (r->symbol < 0 || (uint32_t)r->symbol >= sec->nimports)
                return im_fail(IM_ERR_RELOC,
                               "%s: relocation %u at offset 0x%x (%s) refers to import %d "
                               "(section has %u)",
                               w, i, r->offset, r->ref == IM_REF_TOC ? "TOC" : "import",
                               (int)r->symbol, sec->nimports);
            break;
        default:
            return im_fail(IM_ERR_RELOC, "%s: relocation %u at offset 0x%x has unknown ref %u", w,
                           i, r->offset, r->ref);
        }
    }
    return 0;
}

static void free_section(im_section *sec)
{
    free(sec->code);
    free(sec->module);
    for (uint32_t i = 0; i < sec->nsyms; i++)
        free(sec->syms[i].name);
    free(sec->syms);
    for (uint32_t i = 0; i < sec->nimports; i++)
        free(sec->imports[i].name);
    free(sec->imports);
    free(sec->relocs);
    memset(sec, 0, sizeof *sec);
}

/* ---- building ------------------------------------------------------------- */

im_image *im_img_new(void)
{
    im_image *img = calloc(1, sizeof *img);
    if (img)
        img->version = IM_IMG_VERSION;
    return img;
}

void im_img_free(im_image *img)
{
    if (!img)
        return;
    for (uint32_t i = 0; i < img->nsections; i++)
        free_section(&img->sections[i]);
    free(img->sections);
    free(img);
}

const im_section *im_img_section(const im_image *img, im_target t)
{
    if (!img)
        return NULL;
    for (uint32_t i = 0; i < img->nsections; i++)
        if (img->sections[i].target == t)
            return &img->sections[i];
    return NULL;
}

const im_section *im_img_module_section(const im_image *img, const char *module, im_target t)
{
    if (!img)
        return NULL;
    if (!module || !module[0])
        module = IM_DEFAULT_MODULE;
    for (uint32_t i = 0; i < img->nsections; i++) {
        const im_section *s = &img->sections[i];
        if (s->target == t && strcmp(mod_name(s), module) == 0)
            return s;
    }
    return NULL;
}

/* Deep copy of src into *dst (zeroed on failure); a NULL or empty module name becomes
 * IM_DEFAULT_MODULE. */
static int copy_section(im_section *dst, const im_section *src)
{
    memset(dst, 0, sizeof *dst);
    dst->target = src->target;
    dst->align = src->align;
    dst->toc_slots = src->toc_slots;
    dst->code_size = src->code_size;
    dst->module = strdup(mod_name(src));
    if (!dst->module)
        goto nomem;
    /* Always allocate at least one byte so code is never NULL. */
    dst->code = malloc(src->code_size ? src->code_size : 1);
    if (!dst->code)
        goto nomem;
    if (src->code_size)
        memcpy(dst->code, src->code, src->code_size);
    if (src->nsyms) {
        dst->syms = calloc(src->nsyms, sizeof *dst->syms);
        if (!dst->syms)
            goto nomem;
        for (uint32_t i = 0; i < src->nsyms; i++) {
            dst->syms[i] = src->syms[i];
            dst->syms[i].name = strdup(src->syms[i].name);
            dst->nsyms = i + 1;
            if (!dst->syms[i].name)
                goto nomem;
        }
    }
    if (src->nimports) {
        dst->imports = calloc(src->nimports, sizeof *dst->imports);
        if (!dst->imports)
            goto nomem;
        for (uint32_t i = 0; i < src->nimports; i++) {
            dst->imports[i] = src->imports[i];
            dst->imports[i].name = strdup(src->imports[i].name);
            dst->nimports = i + 1;
            if (!dst->imports[i].name)
                goto nomem;
        }
    }
    if (src->nrelocs) {
        dst->relocs = malloc(src->nrelocs * sizeof *dst->relocs);
        if (!dst->relocs)
            goto nomem;
        memcpy(dst->relocs, src->relocs, src->nrelocs * sizeof *dst->relocs);
        dst->nrelocs = src->nrelocs;
    }
    return 0;
nomem:
    free_section(dst);
    return im_fail(IM_ERR_NOMEM, "copying a %s section", im_target_name(src->target));
}

int im_img_add_section(im_image *img, const im_section *sec)
{
    if (!img || !sec)
        return im_fail(IM_ERR_INVAL, "im_img_add_section: NULL argument");
    int err = validate_section(sec, img->nsections);
    if (err)
        return err;
    if (im_img_module_section(img, mod_name(sec), sec->target))
        return im_fail(IM_ERR_INVAL, "image already has a %s section for module '%s'",
                       im_target_name(sec->target), mod_name(sec));
    if (img->nsections >= MAX_SECTIONS)
        return im_fail(IM_ERR_TOO_LARGE, "image already has %u sections (at most %u)",
                       img->nsections, (unsigned)MAX_SECTIONS);
    im_section *n = realloc(img->sections, (img->nsections + 1) * sizeof *n);
    if (!n)
        return im_fail(IM_ERR_NOMEM, "growing the section list");
    img->sections = n;
    err = copy_section(&img->sections[img->nsections], sec);
    if (err)
        return err;
    img->nsections++;
    return 0;
}

/* ---- lookups -------------------------------------------------------------- */

int im_section_find_symbol(const im_section *sec, const char *name, uint32_t *offset)
{
    if (!sec || !name)
        return im_fail(IM_ERR_INVAL, "im_section_find_symbol: NULL argument");
    for (uint32_t i = 0; i < sec->nsyms; i++) {
        if (sec->syms[i].name && strcmp(sec->syms[i].name, name) == 0) {
            if (offset)
                *offset = sec->syms[i].offset;
            return 0;
        }
    }
    return im_fail(IM_ERR_NOSYM, "no symbol '%s' in the %s section of module '%s'", name,
                   im_target_name(sec->target) ? im_target_name(sec->target) : "?", mod_name(sec));
}

const char *im_section_default_entry(const im_section *sec)
{
    if (!sec)
        return NULL;
    for (uint32_t i = 0; i < sec->nsyms; i++)
        if (sec->syms[i].name && strcmp(sec->syms[i].name, "main") == 0)
            return sec->syms[i].name;
    for (uint32_t i = 0; i < sec->nsyms; i++)
        if (sec->syms[i].kind == IM_SYM_FUNC)
            return sec->syms[i].name;
    return NULL;
}

/* ---- writing -------------------------------------------------------------- */

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/* Places a string in the string table at *spos and returns its offset. */
static uint32_t put_string(uint8_t *strtab, uint32_t *spos, const char *s)
{
    size_t n = strlen(s) + 1;
    uint32_t at = *spos;
    memcpy(strtab + at, s, n);
    *spos += (uint32_t)n;
    return at;
}

int im_img_write(const im_image *img, uint8_t **out, size_t *len)
{
    if (!img || !out || !len)
        return im_fail(IM_ERR_INVAL, "im_img_write: NULL argument");
    *out = NULL;
    *len = 0;
    /* A version 1 image (read from an old file) is written as version 2. */
    if (img->version != IM_IMG_VERSION && img->version != 1)
        return im_fail(IM_ERR_VERSION, "cannot write image version %u (this writer: %u)",
                       img->version, IM_IMG_VERSION);
    if (img->nsections && !img->sections)
        return im_fail(IM_ERR_INVAL, "image has %u sections but no section array", img->nsections);
    if (img->nsections > MAX_SECTIONS)
        return im_fail(IM_ERR_TOO_LARGE, "image has %u sections, at most %u are allowed",
                       img->nsections, (unsigned)MAX_SECTIONS);
    for (uint32_t i = 0; i < img->nsections; i++) {
        const im_section *s = &img->sections[i];
        int err = validate_section(s, i);
        if (err)
            return err;
        for (uint32_t j = 0; j < i; j++)
            if (img->sections[j].target == s->target &&
                strcmp(mod_name(&img->sections[j]), mod_name(s)) == 0)
                return im_fail(IM_ERR_INVAL, "sections %u and %u are both module '%s' for %s", j, i,
                               mod_name(s), im_target_name(s->target));
    }

    /* Layout: header, section table, per section code/symbols/imports/relocations, strings
     * (per section: module name, symbol names, import names). */
    uint64_t pos = HDR_SIZE;
    uint64_t sect_off = pos;
    pos += (uint64_t)img->nsections * SEC_SIZE;
    uint64_t strsize = 0;
    for (uint32_t i = 0; i < img->nsections; i++) {
        const im_section *s = &img->sections[i];
        pos = align_up(pos, CODE_ALIGN) + s->code_size;
        pos = align_up(pos, TABLE_ALIGN) + (uint64_t)s->nsyms * SYM_SIZE;
        pos = align_up(pos, TABLE_ALIGN) + (uint64_t)s->nimports * IMP_SIZE;
        pos = align_up(pos, TABLE_ALIGN) + (uint64_t)s->nrelocs * REL_SIZE;
        strsize += strlen(mod_name(s)) + 1;
        for (uint32_t j = 0; j < s->nsyms; j++)
            strsize += strlen(s->syms[j].name) + 1;
        for (uint32_t j = 0; j < s->nimports; j++)
            strsize += strlen(s->imports[j].name) + 1;
    }
    if (strsize > MAX_STRINGS)
        return im_fail(IM_ERR_TOO_LARGE, "the names take %llu bytes, at most %u are allowed",
                       (unsigned long long)strsize, (unsigned)MAX_STRINGS);
    uint64_t str_off = pos;
    uint64_t total = pos + strsize;
    if (total > UINT32_MAX || total > SIZE_MAX)
        return im_fail(IM_ERR_TOO_LARGE, "image would be %llu bytes; the format holds at most %u",
                       (unsigned long long)total, UINT32_MAX);

    uint8_t *buf = calloc(1, (size_t)total);
    if (!buf)
        return im_fail(IM_ERR_NOMEM, "allocating %llu bytes for the image",
                       (unsigned long long)total);
    memcpy(buf + HDR_MAGIC, img_magic, sizeof img_magic);
    im_put32(buf + HDR_VERSION, IM_IMG_VERSION);
    im_put32(buf + HDR_HDRSIZE, HDR_SIZE);
    im_put32(buf + HDR_TOTAL, (uint32_t)total);
    im_put32(buf + HDR_FLAGS, 0);
    im_put32(buf + HDR_NSECT, img->nsections);
    im_put32(buf + HDR_SECTOFF, (uint32_t)sect_off);
    im_put32(buf + HDR_SECTENT, SEC_SIZE);
    im_put32(buf + HDR_STROFF, (uint32_t)str_off);
    im_put32(buf + HDR_STRSIZE, (uint32_t)strsize);

    uint8_t *strtab = buf + str_off;
    pos = sect_off + (uint64_t)img->nsections * SEC_SIZE;
    uint32_t spos = 0;
    for (uint32_t i = 0; i < img->nsections; i++) {
        const im_section *s = &img->sections[i];
        uint8_t *e = buf + sect_off + (size_t)i * SEC_SIZE;
        im_put32(e + SEC_TARGET, (uint32_t)s->target);
        im_put32(e + SEC_ALIGN, s->align);
        im_put32(e + SEC_FLAGS, 0);
        im_put32(e + SEC_MODULE, put_string(strtab, &spos, mod_name(s)));
        im_put32(e + SEC_TOCSLOTS, s->toc_slots);

        pos = align_up(pos, CODE_ALIGN);
        im_put32(e + SEC_CODEOFF, (uint32_t)pos);
        im_put32(e + SEC_CODESIZE, s->code_size);
        if (s->code_size)
            memcpy(buf + pos, s->code, s->code_size);
        pos += s->code_size;

        pos = align_up(pos, TABLE_ALIGN);
        im_put32(e + SEC_SYMOFF, (uint32_t)pos);
        im_put32(e + SEC_NSYMS, s->nsyms);
        for (uint32_t j = 0; j < s->nsyms; j++, pos += SYM_SIZE) {
            im_put32(buf + pos + SYM_NAME, put_string(strtab, &spos, s->syms[j].name));
            im_put32(buf + pos + SYM_OFFSET, s->syms[j].offset);
            im_put32(buf + pos + SYM_KIND, s->syms[j].kind);
        }

        pos = align_up(pos, TABLE_ALIGN);
        im_put32(e + SEC_IMPOFF, (uint32_t)pos);
        im_put32(e + SEC_NIMPS, s->nimports);
        for (uint32_t j = 0; j < s->nimports; j++, pos += IMP_SIZE) {
            im_put32(buf + pos + IMP_NAME, put_string(strtab, &spos, s->imports[j].name));
            im_put32(buf + pos + IMP_SLOT, s->imports[j].slot);
            im_put32(buf + pos + IMP_KIND, s->imports[j].kind);
        }

        pos = align_up(pos, TABLE_ALIGN);
        im_put32(e + SEC_RELOFF, (uint32_t)pos);
        im_put32(e + SEC_NRELS, s->nrelocs);
        for (uint32_t j = 0; j < s->nrelocs; j++, pos += REL_SIZE) {
            const im_reloc *r = &s->relocs[j];
            im_put32(buf + pos + REL_OFFSET, r->offset);
            im_put32(buf + pos + REL_KIND, r->kind);
            im_put32(buf + pos + REL_SYMBOL, (uint32_t)r->symbol);
            im_put32(buf + pos + REL_REF, r->ref);
            im_put64(buf + pos + REL_ADDEND, (uint64_t)r->addend);
        }
    }
    im_put32(buf + HDR_CHECKSUM, im_img_checksum(buf, (size_t)total));
    *out = buf;
    *len = (size_t)total;
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int im_img_write_file(const im_image *img, const char *path)
{
    if (!path)
        return im_fail(IM_ERR_INVAL, "im_img_write_file: NULL path");
    uint8_t *buf;
    size_t len;
    int err = im_img_write(img, &buf, &len);
    if (err)
        return err;
    err = im_write_file_atomic(path, buf, len);
    free(buf);
    return err;
}

int im_write_file_atomic(const char *path, const void *buf, size_t len)
{
    static atomic_uint counter;
    int err = 0;
    if (!path || (len && !buf))
        return im_fail(IM_ERR_INVAL, "im_write_file_atomic: NULL argument");

    /* The temporary file lives in the destination's directory so rename() is atomic. */
    size_t tlen = strlen(path) + 64;
    char *tmp = malloc(tlen);
    if (!tmp)
        return im_fail(IM_ERR_NOMEM, "%s: temporary file name", path);
    int fd = -1;
    for (int tries = 0; tries < 100 && fd < 0; tries++) {
        snprintf(tmp, tlen, "%s.tmp%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1u));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        err = im_fail(IM_ERR_IO, "%s: cannot create temporary file %s: %s", path, tmp,
                      strerror(errno));
        goto out;
    }
    if (write_all(fd, buf, len) != 0) {
        err = im_fail(IM_ERR_IO, "%s: writing %s: %s", path, tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
        err = im_fail(IM_ERR_IO, "%s: syncing %s: %s", path, tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }
    if (close(fd) != 0) {
        err = im_fail(IM_ERR_IO, "%s: closing %s: %s", path, tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        err = im_fail(IM_ERR_IO, "%s: renaming %s into place: %s", path, tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
out:
    free(tmp);
    return err;
}

/* ---- reading -------------------------------------------------------------- */

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* A part of the file: the header, a table, a section's code, the string table. */
struct part {
    uint64_t start, end; /* [start, end) */
    int64_t section;     /* -1: not a section's */
    const char *what;
};

/* Check one part's placement: the offset inside the image (MALFORMED), the extent inside the
 * image (TOO_LARGE), then the alignment (ALIGN). All in 64 bits: no u32 wraps. */
static int check_part(const char *where, const char *what, uint32_t off, uint32_t count,
                      uint32_t entsize, uint32_t align, uint32_t total)
{
    uint64_t size = (uint64_t)count * entsize;
    if (off > total)
        return im_fail(IM_ERR_MALFORMED, "%s: %s offset 0x%x is outside the image (size 0x%x)",
                       where, what, off, total);
    if (size > (uint64_t)total - off) {
        if (entsize > 1)
            return im_fail(IM_ERR_TOO_LARGE,
                           "%s: %s at 0x%x declares %u entries of %u bytes (0x%llx bytes), only "
                           "0x%x bytes follow in the image",
                           where, what, off, count, entsize, (unsigned long long)size, total - off);
        return im_fail(IM_ERR_TOO_LARGE,
                       "%s: %s at 0x%x declares 0x%x bytes, only 0x%x bytes follow in the image",
                       where, what, off, count, total - off);
    }
    if (off % align)
        return im_fail(IM_ERR_ALIGN, "%s: %s offset 0x%x is not %u-byte aligned", where, what, off,
                       align);
    return 0;
}

static int cmp_part(const void *a, const void *b)
{
    const struct part *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static const char *part_name(const struct part *p, char *buf, size_t n)
{
    if (p->section >= 0)
        snprintf(buf, n, "section %lld %s [0x%llx, 0x%llx)", (long long)p->section, p->what,
                 (unsigned long long)p->start, (unsigned long long)p->end);
    else
        snprintf(buf, n, "%s [0x%llx, 0x%llx)", p->what, (unsigned long long)p->start,
                 (unsigned long long)p->end);
    return buf;
}

/* No two non-empty parts share a byte. */
static int check_overlap(struct part *parts, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (parts[i].end > parts[i].start)
            parts[k++] = parts[i];
    qsort(parts, k, sizeof *parts, cmp_part);
    size_t far = 0; /* the part reaching furthest so far */
    for (size_t i = 1; i < k; i++) {
        if (parts[i].start < parts[far].end) {
            char a[96], b[96];
            return im_fail(IM_ERR_OVERLAP, "%s overlaps %s", part_name(&parts[far], a, sizeof a),
                           part_name(&parts[i], b, sizeof b));
        }
        if (parts[i].end > parts[far].end)
            far = i;
    }
    return 0;
}

/* A string at offset off of the string table: NUL-terminated within the table and at most
 * MAX_NAME bytes (the search for the NUL stops there, so a long table is never scanned once
 * per name). err and what name the error and the thing named ("symbol 3 name"). Adds the
 * name's bytes (with the NUL) to *names_total, which must stay <= MAX_STRINGS: names may
 * share bytes of the table, and this bounds what reading them can allocate. */
static int get_string(const uint8_t *strtab, uint32_t strsize, uint32_t off, int err,
                      const char *where, const char *what, uint64_t *names_total, const char **out)
{
    if (off >= strsize)
        return im_fail(err, "%s: %s at string offset 0x%x is outside the string table (size 0x%x)",
                       where, what, off, strsize);
    size_t room = strsize - off;
    const uint8_t *nul = memchr(strtab + off, 0, room < MAX_NAME + 1u ? room : MAX_NAME + 1u);
    if (!nul && room > MAX_NAME)
        return im_fail(IM_ERR_TOO_LARGE, "%s: %s at string offset 0x%x is longer than %u bytes",
                       where, what, off, (unsigned)MAX_NAME);
    if (!nul)
        return im_fail(err,
                       "%s: %s at string offset 0x%x is not NUL-terminated within the string "
                       "table",
                       where, what, off);
    *names_total += (uint64_t)(nul - (strtab + off)) + 1;
    if (*names_total > MAX_STRINGS)
        return im_fail(IM_ERR_TOO_LARGE,
                       "%s: %s at string offset 0x%x: the names take more than %u bytes "
                       "(shared string table bytes count once per name)",
                       where, what, off, (unsigned)MAX_STRINGS);
    *out = (const char *)strtab + off;
    return 0;
}

/* One section entry's fields, as read. */
struct entry {
    uint32_t target, align, codeoff, codesize, symoff, nsyms, reloff, nrels;
    uint32_t module, impoff, nimps, tocslots;
};

/* Checks 13-16 of one section entry (docs/image-format.md): fields and the placement of its
 * parts; adds the parts to parts[*nparts]. */
static int check_entry(uint32_t version, uint32_t idx, const uint8_t *e, uint32_t total,
                       struct entry *en, struct part *parts, size_t *nparts)
{
    char where[32];
    snprintf(where, sizeof where, "section %u", idx);
    en->target = im_get32(e + SEC_TARGET);
    en->align = im_get32(e + SEC_ALIGN);
    en->codeoff = im_get32(e + SEC_CODEOFF);
    en->codesize = im_get32(e + SEC_CODESIZE);
    en->symoff = im_get32(e + SEC_SYMOFF);
    en->nsyms = im_get32(e + SEC_NSYMS);
    en->reloff = im_get32(e + SEC_RELOFF);
    en->nrels = im_get32(e + SEC_NRELS);
    if (version >= 2) {
        en->module = im_get32(e + SEC_MODULE);
        en->impoff = im_get32(e + SEC_IMPOFF);
        en->nimps = im_get32(e + SEC_NIMPS);
        en->tocslots = im_get32(e + SEC_TOCSLOTS);
    } else {
        en->module = en->impoff = en->nimps = en->tocslots = 0;
    }
    if (!known_target(en->target))
        return im_fail(IM_ERR_TARGET, "section %u: unknown target %u", idx, en->target);
    if (im_get32(e + SEC_FLAGS) != 0)
        return im_fail(IM_ERR_MALFORMED, "section %u: unknown flags 0x%x", idx,
                       im_get32(e + SEC_FLAGS));
    size_t res = version >= 2 ? SEC_RESERVED : SEC_RESERVED_V1;
    size_t esize = version >= 2 ? SEC_SIZE : SEC_SIZE_V1;
    if (!all_zero(e + res, esize - res))
        return im_fail(IM_ERR_MALFORMED, "section %u: reserved bytes %zu..%zu are not zero", idx,
                       res, esize - 1);
    if (en->tocslots > MAX_TOC_SLOTS)
        return im_fail(IM_ERR_TOO_LARGE, "section %u: %u TOC slots, at most %u are allowed", idx,
                       en->tocslots, (unsigned)MAX_TOC_SLOTS);
    int err;
    if ((err = check_part(where, "code", en->codeoff, en->codesize, 1, CODE_ALIGN, total)) ||
        (err = check_part(where, "symbol table", en->symoff, en->nsyms, SYM_SIZE, TABLE_ALIGN,
                          total)) ||
        (version >= 2 && (err = check_part(where, "import table", en->impoff, en->nimps, IMP_SIZE,
                                           TABLE_ALIGN, total))) ||
        (err = check_part(where, "relocation table", en->reloff, en->nrels, REL_SIZE, TABLE_ALIGN,
                          total)))
        return err;
    parts[(*nparts)++] =
        (struct part){en->codeoff, (uint64_t)en->codeoff + en->codesize, idx, "code"};
    parts[(*nparts)++] =
        (struct part){en->symoff, en->symoff + (uint64_t)en->nsyms * SYM_SIZE, idx, "symbol table"};
    parts[(*nparts)++] =
        (struct part){en->impoff, en->impoff + (uint64_t)en->nimps * IMP_SIZE, idx, "import table"};
    parts[(*nparts)++] = (struct part){en->reloff, en->reloff + (uint64_t)en->nrels * REL_SIZE, idx,
                                       "relocation table"};
    return 0;
}

/* Checks 18-21, then 22-31 (validate_section): the section's strings and records, into sec (freed
 * by the caller). */
static int parse_section(uint32_t version, const uint8_t *data, uint32_t idx,
                         const struct entry *en, const uint8_t *strtab, uint32_t strsize,
                         uint64_t *names_total, im_section *sec)
{
    char where[128];
    const char *name;
    int err;

    memset(sec, 0, sizeof *sec);
    sec->target = (im_target)en->target;
    sec->align = en->align;
    sec->code_size = en->codesize;
    sec->toc_slots = en->tocslots;
    if (version >= 2) {
        snprintf(where, sizeof where, "section %u (%s)", idx, im_target_name(sec->target));
        if ((err = get_string(strtab, strsize, en->module, IM_ERR_MALFORMED, where, "module name",
                              names_total, &name)))
            return err;
        if (!name[0])
            return im_fail(IM_ERR_MALFORMED, "%s: empty module name", where);
    } else {
        name = IM_DEFAULT_MODULE;
    }
    sec->module = strdup(name);
    if (!sec->module)
        return im_fail(IM_ERR_NOMEM, "section %u: module name", idx);
    struct where wb = where_of(idx, sec);
    const char *w = wb.s;

    sec->code = malloc(sec->code_size ? sec->code_size : 1);
    if (!sec->code)
        return im_fail(IM_ERR_NOMEM, "%s: %u code bytes", w, sec->code_size);
    if (sec->code_size)
        memcpy(sec->code, data + en->codeoff, sec->code_size);

    if (en->nsyms) {
        sec->syms = calloc(en->nsyms, sizeof *sec->syms);
        if (!sec->syms)
            return im_fail(IM_ERR_NOMEM, "%s: %u symbols", w, en->nsyms);
    }
    for (uint32_t i = 0; i < en->nsyms; i++) {
        const uint8_t *p = data + en->symoff + (size_t)i * SYM_SIZE;
        char what[40];
        snprintf(what, sizeof what, "symbol %u name", i);
        if ((err = get_string(strtab, strsize, im_get32(p + SYM_NAME), IM_ERR_SYMBOL, w, what,
                              names_total, &name)))
            return err;
        if (im_get32(p + SYM_RESERVED) != 0)
            return im_fail(IM_ERR_MALFORMED, "%s: symbol %u reserved field is not zero", w, i);
        sec->syms[i].name = strdup(name);
        sec->nsyms = i + 1;
        if (!sec->syms[i].name)
            return im_fail(IM_ERR_NOMEM, "%s: symbol %u name", w, i);
        sec->syms[i].offset = im_get32(p + SYM_OFFSET);
        sec->syms[i].kind = im_get32(p + SYM_KIND);
    }

    if (en->nimps) {
        sec->imports = calloc(en->nimps, sizeof *sec->imports);
        if (!sec->imports)
            return im_fail(IM_ERR_NOMEM, "%s: %u imports", w, en->nimps);
    }
    for (uint32_t i = 0; i < en->nimps; i++) {
        const uint8_t *p = data + en->impoff + (size_t)i * IMP_SIZE;
        char what[40];
        snprintf(what, sizeof what, "import %u name", i);
        if ((err = get_string(strtab, strsize, im_get32(p + IMP_NAME), IM_ERR_SYMBOL, w, what,
                              names_total, &name)))
            return err;
        if (im_get32(p + IMP_RESERVED) != 0)
            return im_fail(IM_ERR_MALFORMED, "%s: import %u reserved field is not zero", w, i);
        sec->imports[i].name = strdup(name);
        sec->nimports = i + 1;
        if (!sec->imports[i].name)
            return im_fail(IM_ERR_NOMEM, "%s: import %u name", w, i);
        sec->imports[i].slot = im_get32(p + IMP_SLOT);
        sec->imports[i].kind = im_get32(p + IMP_KIND);
    }

    if (en->nrels) {
        sec->relocs = calloc(en->nrels, sizeof *sec->relocs);
        if (!sec->relocs)
            return im_fail(IM_ERR_NOMEM, "%s: %u relocations", w, en->nrels);
    }
    for (uint32_t i = 0; i < en->nrels; i++) {
        const uint8_t *p = data + en->reloff + (size_t)i * REL_SIZE;
        if (version < 2 && im_get32(p + REL_REF) != 0)
            return im_fail(IM_ERR_MALFORMED, "%s: relocation %u reserved field is not zero", w, i);
        sec->relocs[i].offset = im_get32(p + REL_OFFSET);
        sec->relocs[i].kind = im_get32(p + REL_KIND);
        sec->relocs[i].symbol = (int32_t)im_get32(p + REL_SYMBOL);
        sec->relocs[i].ref = im_get32(p + REL_REF);
        sec->relocs[i].addend = (int64_t)im_get64(p + REL_ADDEND);
    }
    sec->nrelocs = en->nrels;
    return validate_section(sec, idx);
}

int im_img_read(const uint8_t *data, size_t len, im_image **out)
{
    if (!out)
        return im_fail(IM_ERR_INVAL, "im_img_read: NULL output");
    *out = NULL;
    if (!data && len)
        return im_fail(IM_ERR_INVAL, "im_img_read: NULL data");
    if (len < HDR_SIZE)
        return im_fail(IM_ERR_TRUNCATED, "image is %zu bytes, shorter than the %u-byte header", len,
                       (unsigned)HDR_SIZE);
    if (memcmp(data + HDR_MAGIC, img_magic, sizeof img_magic) != 0)
        return im_fail(IM_ERR_MAGIC,
                       "bytes 0..7 are %02x %02x %02x %02x %02x %02x %02x %02x, "
                       "expected 7f 49 4d 47 0d 0a 1a 0a",
                       data[0], data[1], data[2], data[3], data[4], data[5], data[6], data[7]);
    uint32_t version = im_get32(data + HDR_VERSION);
    if (version != 1 && version != IM_IMG_VERSION)
        return im_fail(IM_ERR_VERSION,
                       "image version %u at offset 0x%x; this reader supports versions 1 and %u",
                       version, (unsigned)HDR_VERSION, IM_IMG_VERSION);
    uint32_t hdrsize = im_get32(data + HDR_HDRSIZE);
    if (hdrsize != HDR_SIZE)
        return im_fail(IM_ERR_MALFORMED, "header size %u at offset 0x%x; version %u requires %u",
                       hdrsize, (unsigned)HDR_HDRSIZE, version, (unsigned)HDR_SIZE);
    uint32_t total = im_get32(data + HDR_TOTAL);
    if (total > len)
        return im_fail(IM_ERR_TRUNCATED,
                       "header (offset 0x%x) gives a size of %u bytes, only %zu present",
                       (unsigned)HDR_TOTAL, total, len);
    if (total < len)
        return im_fail(IM_ERR_MALFORMED,
                       "header (offset 0x%x) gives a size of %u bytes, but %zu are present",
                       (unsigned)HDR_TOTAL, total, len);
    uint32_t stored = im_get32(data + HDR_CHECKSUM);
    uint32_t computed = im_img_checksum(data, len);
    if (stored != computed)
        return im_fail(IM_ERR_CHECKSUM, "stored checksum 0x%08x, computed 0x%08x", stored,
                       computed);
    uint32_t flags = im_get32(data + HDR_FLAGS);
    if (flags != 0)
        return im_fail(IM_ERR_MALFORMED, "unknown header flags 0x%x at offset 0x%x", flags,
                       (unsigned)HDR_FLAGS);
    if (!all_zero(data + HDR_RESERVED, HDR_SIZE - HDR_RESERVED))
        return im_fail(IM_ERR_MALFORMED, "header reserved bytes 0x%x..0x%x are not zero",
                       (unsigned)HDR_RESERVED, (unsigned)HDR_SIZE - 1);
    uint32_t nsect = im_get32(data + HDR_NSECT);
    uint32_t sectoff = im_get32(data + HDR_SECTOFF);
    uint32_t sectent = im_get32(data + HDR_SECTENT);
    uint32_t stroff = im_get32(data + HDR_STROFF);
    uint32_t strsize = im_get32(data + HDR_STRSIZE);
    uint32_t entsize = version >= 2 ? SEC_SIZE : SEC_SIZE_V1;
    uint32_t maxsect = version >= 2 ? MAX_SECTIONS : MAX_SECTIONS_V1;
    if (sectent != entsize)
        return im_fail(IM_ERR_MALFORMED, "section entry size %u; version %u requires %u", sectent,
                       version, entsize);
    if (nsect > maxsect)
        return im_fail(IM_ERR_TOO_LARGE, "%u sections; version %u allows at most %u", nsect,
                       version, maxsect);
    int err;
    if ((err =
             check_part("header", "section table", sectoff, nsect, entsize, TABLE_ALIGN, total)) ||
        (err = check_part("header", "string table", stroff, strsize, 1, 1, total)))
        return err;

    /* Every section entry's fields and parts, then no two parts overlap. */
    size_t nparts = 0;
    struct part *parts = malloc((3 + 4 * (size_t)nsect) * sizeof *parts);
    struct entry *ents = malloc((nsect ? nsect : 1) * sizeof *ents);
    if (!parts || !ents) {
        free(parts);
        free(ents);
        return im_fail(IM_ERR_NOMEM, "checking %u sections", nsect);
    }
    parts[nparts++] = (struct part){0, HDR_SIZE, -1, "header"};
    parts[nparts++] =
        (struct part){sectoff, sectoff + (uint64_t)nsect * entsize, -1, "section table"};
    parts[nparts++] = (struct part){stroff, (uint64_t)stroff + strsize, -1, "string table"};
    for (uint32_t i = 0; i < nsect && !err; i++)
        err = check_entry(version, i, data + sectoff + (size_t)i * entsize, total, &ents[i], parts,
                          &nparts);
    if (!err)
        err = check_overlap(parts, nparts);
    free(parts);
    if (err) {
        free(ents);
        return err;
    }

    im_image *img = im_img_new();
    if (!img || (nsect && !(img->sections = calloc(nsect, sizeof *img->sections)))) {
        im_img_free(img);
        free(ents);
        return im_fail(IM_ERR_NOMEM, "allocating %u sections", nsect);
    }
    img->version = version;
    uint64_t names_total = 0;
    for (uint32_t i = 0; i < nsect && !err; i++) {
        /* Count the section before parsing so a failure frees what it allocated. */
        img->nsections = i + 1;
        im_section *s = &img->sections[i];
        err = parse_section(version, data, i, &ents[i], data + stroff, strsize, &names_total, s);
        for (uint32_t j = 0; j < i && !err; j++)
            if (img->sections[j].target == s->target &&
                strcmp(img->sections[j].module, s->module) == 0)
                err = im_fail(IM_ERR_MALFORMED, "sections %u and %u are both module '%s' for %s", j,
                              i, s->module, im_target_name(s->target));
    }
    free(ents);
    if (err) {
        im_img_free(img);
        return err;
    }
    *out = img;
    return 0;
}

int im_img_read_file(const char *path, im_image **out)
{
    if (!path || !out)
        return im_fail(IM_ERR_INVAL, "im_img_read_file: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return im_fail(IM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return im_fail(IM_ERR_IO, "cannot stat %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return im_fail(IM_ERR_IO, "%s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > UINT32_MAX || (uint64_t)st.st_size > SIZE_MAX / 2) {
        close(fd);
        return im_fail(IM_ERR_TOO_LARGE, "%s is %lld bytes, larger than any image", path,
                       (long long)st.st_size);
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        close(fd);
        return im_fail(IM_ERR_NOMEM, "%s: %zu bytes", path, len);
    }
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return im_fail(IM_ERR_IO, "reading %s: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    int err = im_img_read(buf, got, out);
    free(buf);
    return err;
}
