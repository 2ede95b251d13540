/* imago reloc (hidden, for tests): apply one relocation to a field's bytes with the
 * loader's im_reloc_apply and print the result, so tests/test_reloc_ld.py can compare it with
 * what GNU ld writes for the same place and value. */
#include <inttypes.h>
#include <stdio.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../loader/reloc.h"
#include "cmd.h"

static void reloc_usage(FILE *f)
{
    fprintf(f, "usage: imago reloc -a TARGET KIND PLACE VALUE HEX\n"
               "\n"
               "Apply relocation KIND (ABS32, PC32, ARM_CALL, AARCH64_CALL26, ...: the names of\n"
               "imago dump) to the field HEX (its bytes, in memory order) at address PLACE for\n"
               "the target value VALUE (S + A); print the patched field as hex, or the error.\n"
               "PLACE and VALUE are decimal or 0x hex; VALUE may be negative.\n"
               "A hidden command for tests: the loader's relocation code against GNU ld's.\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    bool neg = *s == '-';
    uint64_t v = strtoull(neg ? s + 1 : s, &end, 0);
    if (!*s || *end || errno)
        return -1;
    *out = neg ? -v : v;
    return 0;
}

int cmd_reloc(int argc, char **argv)
{
    const char *tname = NULL;
    const char *pos[4];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            reloc_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-a") && i + 1 < argc) {
            tname = argv[++i];
        } else if (npos < 4 && (argv[i][0] != '-' || (argv[i][1] >= '0' && argv[i][1] <= '9'))) {
            pos[npos++] = argv[i];
        } else {
            tool_error("reloc", "unexpected argument '%s'", argv[i]);
            reloc_usage(stderr);
            return 2;
        }
    }
    if (!tname || npos != 4) {
        reloc_usage(stderr);
        return 2;
    }
    im_target t = im_target_from_name(tname);
    if (t == IM_TARGET_NONE) {
        tool_error("reloc", "unknown target '%s'", tname);
        return 2;
    }
    uint32_t kind = 0;
    for (uint32_t k = 1; k < 256 && !kind; k++)
        if (im_reloc_name(k) && !strcmp(im_reloc_name(k), pos[0]))
            kind = k;
    if (!kind) {
        tool_error("reloc", "unknown relocation kind '%s'", pos[0]);
        return 2;
    }
    uint64_t place, value;
    if (parse_u64(pos[1], &place) || parse_u64(pos[2], &value)) {
        tool_error("reloc", "bad number '%s' or '%s'", pos[1], pos[2]);
        return 2;
    }
    unsigned size = im_reloc_field_size(kind, t);
    if (!size) {
        tool_error("reloc", "%s is not a relocation of %s", pos[0], tname);
        return 2;
    }
    uint8_t field[8];
    const char *h = pos[3];
    if (strlen(h) != 2 * size) {
        tool_error("reloc", "%s patches %u bytes: HEX '%s' must have %u digits", pos[0], size, h,
                   2 * size);
        return 2;
    }
    for (unsigned i = 0; i < size; i++) {
        unsigned b;
        if (sscanf(h + 2 * i, "%2x", &b) != 1) {
            tool_error("reloc", "bad hex '%s'", h);
            return 2;
        }
        field[i] = (uint8_t)b;
    }
    int rc = im_reloc_apply(t, kind, field, place, value);
    if (rc < 0) {
        tool_error("reloc", "%s: %s", im_strerror(rc), im_detail());
        return 1;
    }
    for (unsigned i = 0; i < size; i++)
        printf("%02x", field[i]);
    printf("\n");
    return 0;
}
