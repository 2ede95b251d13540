/* imago image format v1: building, writing and validating reading.
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

    SEC_SIZE = 48,
    SEC_TARGET = 0,
    SEC_ALIGN = 4,
    SEC_FLAGS = 8,
    SEC_CODEOFF = 12,
    SEC_CODESIZE = 16,
    SEC_SYMOFF = 20,
    SEC_NSYMS = 24,
    SEC_RELOFF = 28,
    SEC_NRELS = 32,
    SEC_RESERVED = 36, /* 12 bytes, zero */

    SYM_SIZE = 16,
    SYM_NAME = 0,
    SYM_OFFSET = 4,
    SYM_KIND = 8,
    SYM_RESERVED = 12,

    REL_SIZE = 24,
    REL_OFFSET = 0,
    REL_KIND = 4,
    REL_SYMBOL = 8,
    REL_RESERVED = 12,
    REL_ADDEND = 16,

    CODE_ALIGN = 16,  /* file offset alignment of code */
    TABLE_ALIGN = 8,  /* file offset alignment of the section, symbol and relocation tables */
    MAX_ALIGN = 65536 /* largest section alignment */
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

/* Checks shared by im_img_add_section, im_img_write and im_img_read: everything
 * that can be said about a section independently of its byte encoding. idx is the
 * section's index for the messages. */
static int validate_section(const im_section *sec, uint32_t idx)
{
    if (!known_target((uint32_t)sec->target))
        return im_fail(IM_ERR_TARGET, "section %u: unknown target %u", idx, (unsigned)sec->target);
    const char *tn = im_target_name(sec->target);
    if (!is_pow2(sec->align) || sec->align > MAX_ALIGN)
        return im_fail(IM_ERR_ALIGN, "section %u (%s): alignment %u is not a power of two in 1..%u",
                       idx, tn, sec->align, (unsigned)MAX_ALIGN);
    if (sec->code_size && !sec->code)
        return im_fail(IM_ERR_INVAL, "section %u (%s): %u code bytes but no code", idx, tn,
                       sec->code_size);
    if ((sec->nsyms && !sec->syms) || (sec->nrelocs && !sec->relocs))
        return im_fail(IM_ERR_INVAL, "section %u (%s): counted symbols or relocations missing", idx,
                       tn);
    for (uint32_t i = 0; i < sec->nsyms; i++) {
        const im_symbol *s = &sec->syms[i];
        if (!s->name || !s->name[0])
            return im_fail(IM_ERR_SYMBOL, "section %u (%s): symbol %u has an empty name", idx, tn,
                           i);
        if (s->kind != IM_SYM_FUNC && s->kind != IM_SYM_DATA)
            return im_fail(IM_ERR_SYMBOL, "section %u (%s): symbol %u '%s' has unknown kind %u",
                           idx, tn, i, s->name, s->kind);
        if (s->offset > sec->code_size)
            return im_fail(IM_ERR_SYMBOL,
                           "section %u (%s): symbol %u '%s' at offset 0x%x is past the end of "
                           "code (size 0x%x)",
                           idx, tn, i, s->name, s->offset, sec->code_size);
    }
    if (sec->nsyms > 1) {
        const char **names = malloc(sec->nsyms * sizeof *names);
        if (!names)
            return im_fail(IM_ERR_NOMEM, "section %u (%s): sorting %u symbol names", idx, tn,
                           sec->nsyms);
        for (uint32_t i = 0; i < sec->nsyms; i++)
            names[i] = sec->syms[i].name;
        qsort(names, sec->nsyms, sizeof *names, cmp_str_ptr);
        for (uint32_t i = 1; i < sec->nsyms; i++) {
            if (strcmp(names[i - 1], names[i]) == 0) {
                int err = im_fail(IM_ERR_SYMBOL, "section %u (%s): duplicate symbol '%s'", idx, tn,
                                  names[i]);
                free(names);
                return err;
            }
        }
        free(names);
    }
    for (uint32_t i = 0; i < sec->nrelocs; i++) {
        const im_reloc *r = &sec->relocs[i];
        const char *kn = im_reloc_name(r->kind);
        if (!kn)
            return im_fail(IM_ERR_RELOC,
                           "section %u (%s): relocation %u at offset 0x%x has unknown kind %u", idx,
                           tn, i, r->offset, r->kind);
        unsigned size = im_reloc_field_size(r->kind, sec->target);
        if (!size)
            return im_fail(IM_ERR_RELOC,
                           "section %u (%s): relocation %u at offset 0x%x: %s is not valid for "
                           "%s",
                           idx, tn, i, r->offset, kn, tn);
        if ((uint64_t)r->offset + size > sec->code_size)
            return im_fail(IM_ERR_RELOC,
                           "section %u (%s): relocation %u at offset 0x%x overflows code (size "
                           "0x%x)",
                           idx, tn, i, r->offset, sec->code_size);
        if (r->symbol < -1 || (r->symbol >= 0 && (uint32_t)r->symbol >= sec->nsyms))
            return im_fail(IM_ERR_RELOC,
                           "section %u (%s): relocation %u at offset 0x%x refers to symbol %d "
                           "(section has %u)",
                           idx, tn, i, r->offset, (int)r->symbol, sec->nsyms);
    }
    return 0;
}

static void free_section(im_section *sec)
{
    free(sec->code);
    for (uint32_t i = 0; i < sec->nsyms; i++)
        free(sec->syms[i].name);
    free(sec->syms);
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

/* Deep copy of src into *dst (zeroed on failure). */
static int copy_section(im_section *dst, const im_section *src)
{
    memset(dst, 0, sizeof *dst);
    dst->target = src->target;
    dst->align = src->align;
    dst->code_size = src->code_size;
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
    if (im_img_section(img, sec->target))
        return im_fail(IM_ERR_INVAL, "image already has a section for %s",
                       im_target_name(sec->target));
    if (img->nsections >= IM_TARGET_COUNT)
        return im_fail(IM_ERR_INVAL, "image already has %u sections", img->nsections);
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
    return im_fail(IM_ERR_NOSYM, "no symbol '%s' in the %s section", name,
                   im_target_name(sec->target) ? im_target_name(sec->target) : "?");
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

int im_img_write(const im_image *img, uint8_t **out, size_t *len)
{
    if (!img || !out || !len)
        return im_fail(IM_ERR_INVAL, "im_img_write: NULL argument");
    *out = NULL;
    *len = 0;
    if (img->version != IM_IMG_VERSION)
        return im_fail(IM_ERR_VERSION, "cannot write image version %u (this writer: %u)",
                       img->version, IM_IMG_VERSION);
    if (img->nsections && !img->sections)
        return im_fail(IM_ERR_INVAL, "image has %u sections but no section array", img->nsections);
    if (img->nsections >= IM_TARGET_COUNT)
        return im_fail(IM_ERR_INVAL, "image has %u sections, at most %u targets exist",
                       img->nsections, IM_TARGET_COUNT - 1);
    for (uint32_t i = 0; i < img->nsections; i++) {
        int err = validate_section(&img->sections[i], i);
        if (err)
            return err;
        for (uint32_t j = 0; j < i; j++)
            if (img->sections[j].target == img->sections[i].target)
                return im_fail(IM_ERR_INVAL, "sections %u and %u are both for %s", j, i,
                               im_target_name(img->sections[i].target));
    }

    /* Layout: header, section table, per section code/symbols/relocations, strings. */
    uint64_t pos = HDR_SIZE;
    uint64_t sect_off = pos;
    pos += (uint64_t)img->nsections * SEC_SIZE;
    uint64_t strsize = 0;
    for (uint32_t i = 0; i < img->nsections; i++) {
        const im_section *s = &img->sections[i];
        pos = align_up(pos, CODE_ALIGN) + s->code_size;
        pos = align_up(pos, TABLE_ALIGN) + (uint64_t)s->nsyms * SYM_SIZE;
        pos = align_up(pos, TABLE_ALIGN) + (uint64_t)s->nrelocs * REL_SIZE;
        for (uint32_t j = 0; j < s->nsyms; j++)
            strsize += strlen(s->syms[j].name) + 1;
    }
    uint64_t str_off = pos;
    uint64_t total = pos + strsize;
    if (total > UINT32_MAX || total > SIZE_MAX)
        return im_fail(IM_ERR_RANGE, "image would be %llu bytes; format v1 holds at most %u",
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

    pos = sect_off + (uint64_t)img->nsections * SEC_SIZE;
    uint32_t spos = 0;
    for (uint32_t i = 0; i < img->nsections; i++) {
        const im_section *s = &img->sections[i];
        uint8_t *e = buf + sect_off + (size_t)i * SEC_SIZE;
        im_put32(e + SEC_TARGET, (uint32_t)s->target);
        im_put32(e + SEC_ALIGN, s->align);
        im_put32(e + SEC_FLAGS, 0);

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
            size_t n = strlen(s->syms[j].name) + 1;
            memcpy(buf + str_off + spos, s->syms[j].name, n);
            im_put32(buf + pos + SYM_NAME, spos);
            im_put32(buf + pos + SYM_OFFSET, s->syms[j].offset);
            im_put32(buf + pos + SYM_KIND, s->syms[j].kind);
            spos += (uint32_t)n;
        }

        pos = align_up(pos, TABLE_ALIGN);
        im_put32(e + SEC_RELOFF, (uint32_t)pos);
        im_put32(e + SEC_NRELS, s->nrelocs);
        for (uint32_t j = 0; j < s->nrelocs; j++, pos += REL_SIZE) {
            const im_reloc *r = &s->relocs[j];
            im_put32(buf + pos + REL_OFFSET, r->offset);
            im_put32(buf + pos + REL_KIND, r->kind);
            im_put32(buf + pos + REL_SYMBOL, (uint32_t)r->symbol);
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

/* Is [off, off + count * entsize) inside an image of total bytes? No overflow:
 * count and entsize are 32-bit, so the product fits in 64 bits. */
static int in_bounds(uint32_t off, uint32_t count, uint32_t entsize, uint32_t total)
{
    return (uint64_t)off + (uint64_t)count * entsize <= total;
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Check one table's placement: bounds then alignment. */
static int check_table(uint32_t idx, const char *what, uint32_t off, uint32_t count,
                       uint32_t entsize, uint32_t align, uint32_t total)
{
    if (!in_bounds(off, count, entsize, total))
        return im_fail(IM_ERR_MALFORMED,
                       "section %u: %s at 0x%x (%u x %u bytes) exceeds the image (size 0x%x)", idx,
                       what, off, count, entsize, total);
    if (off % align)
        return im_fail(IM_ERR_ALIGN, "section %u: %s offset 0x%x is not %u-byte aligned", idx, what,
                       off, align);
    return 0;
}

static int parse_section(const uint8_t *data, uint32_t total, uint32_t idx, const uint8_t *e,
                         const uint8_t *strtab, uint32_t strsize, im_section *sec)
{
    uint32_t target = im_get32(e + SEC_TARGET);
    uint32_t codeoff = im_get32(e + SEC_CODEOFF);
    uint32_t symoff = im_get32(e + SEC_SYMOFF);
    uint32_t reloff = im_get32(e + SEC_RELOFF);
    uint32_t nsyms = im_get32(e + SEC_NSYMS);
    uint32_t nrels = im_get32(e + SEC_NRELS);
    int err;

    memset(sec, 0, sizeof *sec);
    if (!known_target(target))
        return im_fail(IM_ERR_TARGET, "section %u: unknown target %u", idx, target);
    sec->target = (im_target)target;
    sec->align = im_get32(e + SEC_ALIGN);
    sec->code_size = im_get32(e + SEC_CODESIZE);
    if (im_get32(e + SEC_FLAGS) != 0)
        return im_fail(IM_ERR_MALFORMED, "section %u: unknown flags 0x%x", idx,
                       im_get32(e + SEC_FLAGS));
    if (!all_zero(e + SEC_RESERVED, SEC_SIZE - SEC_RESERVED))
        return im_fail(IM_ERR_MALFORMED, "section %u: reserved bytes are not zero", idx);
    if ((err = check_table(idx, "code", codeoff, sec->code_size, 1, CODE_ALIGN, total)) ||
        (err = check_table(idx, "symbol table", symoff, nsyms, SYM_SIZE, TABLE_ALIGN, total)) ||
        (err = check_table(idx, "relocation table", reloff, nrels, REL_SIZE, TABLE_ALIGN, total)))
        return err;

    sec->code = malloc(sec->code_size ? sec->code_size : 1);
    if (!sec->code)
        return im_fail(IM_ERR_NOMEM, "section %u: %u code bytes", idx, sec->code_size);
    if (sec->code_size)
        memcpy(sec->code, data + codeoff, sec->code_size);

    if (nsyms) {
        sec->syms = calloc(nsyms, sizeof *sec->syms);
        if (!sec->syms)
            return im_fail(IM_ERR_NOMEM, "section %u: %u symbols", idx, nsyms);
    }
    for (uint32_t i = 0; i < nsyms; i++) {
        const uint8_t *p = data + symoff + (size_t)i * SYM_SIZE;
        uint32_t name = im_get32(p + SYM_NAME);
        if (name >= strsize)
            return im_fail(IM_ERR_SYMBOL,
                           "section %u: symbol %u name at string offset 0x%x is outside the "
                           "string table (size 0x%x)",
                           idx, i, name, strsize);
        const uint8_t *nul = memchr(strtab + name, 0, strsize - name);
        if (!nul)
            return im_fail(IM_ERR_SYMBOL,
                           "section %u: symbol %u name at string offset 0x%x is not "
                           "NUL-terminated within the string table",
                           idx, i, name);
        if (im_get32(p + SYM_RESERVED) != 0)
            return im_fail(IM_ERR_MALFORMED, "section %u: symbol %u reserved field is not zero",
                           idx, i);
        sec->syms[i].name = strdup((const char *)strtab + name);
        sec->nsyms = i + 1;
        if (!sec->syms[i].name)
            return im_fail(IM_ERR_NOMEM, "section %u: symbol %u name", idx, i);
        sec->syms[i].offset = im_get32(p + SYM_OFFSET);
        sec->syms[i].kind = im_get32(p + SYM_KIND);
    }

    if (nrels) {
        sec->relocs = calloc(nrels, sizeof *sec->relocs);
        if (!sec->relocs)
            return im_fail(IM_ERR_NOMEM, "section %u: %u relocations", idx, nrels);
    }
    for (uint32_t i = 0; i < nrels; i++) {
        const uint8_t *p = data + reloff + (size_t)i * REL_SIZE;
        if (im_get32(p + REL_RESERVED) != 0)
            return im_fail(IM_ERR_MALFORMED, "section %u: relocation %u reserved field is not zero",
                           idx, i);
        sec->relocs[i].offset = im_get32(p + REL_OFFSET);
        sec->relocs[i].kind = im_get32(p + REL_KIND);
        sec->relocs[i].symbol = (int32_t)im_get32(p + REL_SYMBOL);
        sec->relocs[i].addend = (int64_t)im_get64(p + REL_ADDEND);
    }
    sec->nrelocs = nrels;
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
    if (version != IM_IMG_VERSION)
        return im_fail(IM_ERR_VERSION, "image version %u; this reader supports version %u", version,
                       IM_IMG_VERSION);
    uint32_t hdrsize = im_get32(data + HDR_HDRSIZE);
    if (hdrsize != HDR_SIZE)
        return im_fail(IM_ERR_MALFORMED, "header size %u at offset 0x%x; version 1 requires %u",
                       hdrsize, (unsigned)HDR_HDRSIZE, (unsigned)HDR_SIZE);
    uint32_t total = im_get32(data + HDR_TOTAL);
    if (total > len)
        return im_fail(IM_ERR_TRUNCATED, "header gives a size of %u bytes, only %zu present", total,
                       len);
    if (total < len)
        return im_fail(IM_ERR_MALFORMED, "header gives a size of %u bytes, but %zu are present",
                       total, len);
    uint32_t stored = im_get32(data + HDR_CHECKSUM);
    uint32_t computed = im_img_checksum(data, len);
    if (stored != computed)
        return im_fail(IM_ERR_CHECKSUM, "stored checksum 0x%08x, computed 0x%08x", stored,
                       computed);
    uint32_t flags = im_get32(data + HDR_FLAGS);
    if (flags != 0)
        return im_fail(IM_ERR_MALFORMED, "unknown header flags 0x%x", flags);
    if (!all_zero(data + HDR_RESERVED, HDR_SIZE - HDR_RESERVED))
        return im_fail(IM_ERR_MALFORMED, "header reserved bytes 0x%x..0x%x are not zero",
                       (unsigned)HDR_RESERVED, (unsigned)HDR_SIZE - 1);
    uint32_t nsect = im_get32(data + HDR_NSECT);
    uint32_t sectoff = im_get32(data + HDR_SECTOFF);
    uint32_t sectent = im_get32(data + HDR_SECTENT);
    uint32_t stroff = im_get32(data + HDR_STROFF);
    uint32_t strsize = im_get32(data + HDR_STRSIZE);
    if (sectent != SEC_SIZE)
        return im_fail(IM_ERR_MALFORMED, "section entry size %u; version 1 requires %u", sectent,
                       (unsigned)SEC_SIZE);
    if (!in_bounds(sectoff, nsect, SEC_SIZE, total))
        return im_fail(IM_ERR_MALFORMED,
                       "section table at 0x%x (%u x %u bytes) exceeds the image (size 0x%x)",
                       sectoff, nsect, (unsigned)SEC_SIZE, total);
    if (sectoff % TABLE_ALIGN)
        return im_fail(IM_ERR_ALIGN, "section table offset 0x%x is not %u-byte aligned", sectoff,
                       (unsigned)TABLE_ALIGN);
    if (nsect >= IM_TARGET_COUNT)
        return im_fail(IM_ERR_MALFORMED, "%u sections; at most one per target (%u) is allowed",
                       nsect, IM_TARGET_COUNT - 1);
    if (!in_bounds(stroff, strsize, 1, total))
        return im_fail(IM_ERR_MALFORMED,
                       "string table at 0x%x (%u bytes) exceeds the image (size 0x%x)", stroff,
                       strsize, total);

    im_image *img = im_img_new();
    if (!img)
        return im_fail(IM_ERR_NOMEM, "allocating the image");
    if (nsect) {
        img->sections = calloc(nsect, sizeof *img->sections);
        if (!img->sections) {
            im_img_free(img);
            return im_fail(IM_ERR_NOMEM, "allocating %u sections", nsect);
        }
    }
    for (uint32_t i = 0; i < nsect; i++) {
        const uint8_t *e = data + sectoff + (size_t)i * SEC_SIZE;
        /* Count the section before parsing so a failure frees what it allocated. */
        img->nsections = i + 1;
        int err = parse_section(data, total, i, e, data + stroff, strsize, &img->sections[i]);
        if (err) {
            im_img_free(img);
            return err;
        }
        for (uint32_t j = 0; j < i; j++) {
            if (img->sections[j].target == img->sections[i].target) {
                err = im_fail(IM_ERR_MALFORMED, "sections %u and %u are both for %s", j, i,
                              im_target_name(img->sections[i].target));
                im_img_free(img);
                return err;
            }
        }
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
        return im_fail(IM_ERR_MALFORMED, "%s is %lld bytes, larger than any image", path,
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
