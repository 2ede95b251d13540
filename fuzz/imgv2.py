"""The imago image format v2 in Python (docs/image-format.md): a writer laid out exactly as
loader/image.c's im_img_write, a parser of the header and section entries for crafting bad
images, and the checksum. Used by fuzz/make_seeds.py and tests/test_bad_input.py."""

import struct
import zlib

MAGIC = b"\x7fIMG\r\n\x1a\n"
HDR_SIZE, SEC_SIZE, SEC_SIZE_V1, SYM_SIZE, IMP_SIZE, REL_SIZE = 64, 64, 48, 16, 16, 24
HDR_VERSION, HDR_TOTAL, HDR_CHECKSUM, HDR_FLAGS = 8, 16, 20, 24
HDR_NSECT, HDR_SECTOFF, HDR_SECTENT, HDR_STROFF, HDR_STRSIZE = 28, 32, 36, 40, 44
# Section entry fields, in order (u32 each), from offset 0.
SEC_FIELDS = ("target", "align", "flags", "code_off", "code_size", "sym_off", "nsyms",
              "rel_off", "nrelocs", "module", "imp_off", "nimports", "toc_slots")
TARGETS = {"x86_64": 1, "i386": 2, "arm": 3, "aarch64": 4}
SYM_FUNC, SYM_DATA = 1, 2
REF_LOCAL, REF_TOC, REF_IMPORT = 0, 1, 2
RELOC = {"ABS32": 1, "ABS64": 2, "ABS32S": 3, "PC32": 4,
         "ARM_CALL": 16, "ARM_JUMP24": 17, "ARM_MOVW_ABS_NC": 18, "ARM_MOVT_ABS": 19,
         "AARCH64_CALL26": 32, "AARCH64_JUMP26": 33, "AARCH64_CONDBR19": 34,
         "AARCH64_TSTBR14": 35, "AARCH64_ADR_PREL_PG_HI21": 36,
         "AARCH64_ADD_ABS_LO12_NC": 37, "AARCH64_LDST8_ABS_LO12_NC": 38,
         "AARCH64_LDST16_ABS_LO12_NC": 39, "AARCH64_LDST32_ABS_LO12_NC": 40,
         "AARCH64_LDST64_ABS_LO12_NC": 41, "AARCH64_LDST128_ABS_LO12_NC": 42}


def _align(v, a):
    return (v + a - 1) & ~(a - 1)


def checksum(data):
    """CRC-32 (zlib) of the image with the checksum field (bytes 20..23) read as zero."""
    return zlib.crc32(bytes(data[:HDR_CHECKSUM]) + b"\0\0\0\0" + bytes(data[HDR_CHECKSUM + 4:])) \
        & 0xFFFFFFFF


def fix_checksum(data):
    data = bytearray(data)
    struct.pack_into("<I", data, HDR_CHECKSUM, checksum(data))
    return bytes(data)


def build(sections):
    """A version 2 image, byte for byte as im_img_write lays it out. sections: dicts with
    target (name), align (16), module ("main"), code (bytes), syms [(name, offset, kind)],
    imports [(name, slot, kind)], toc_slots (0), relocs [(offset, kind name or number,
    symbol, ref, addend)]."""
    pos = HDR_SIZE + SEC_SIZE * len(sections)
    layout = []
    for s in sections:
        code_off = _align(pos, 16)
        pos = code_off + len(s["code"])
        sym_off = _align(pos, 8)
        pos = sym_off + SYM_SIZE * len(s.get("syms", ()))
        imp_off = _align(pos, 8)
        pos = imp_off + IMP_SIZE * len(s.get("imports", ()))
        rel_off = _align(pos, 8)
        pos = rel_off + REL_SIZE * len(s.get("relocs", ()))
        layout.append((code_off, sym_off, imp_off, rel_off))
    str_off = pos
    strings = bytearray()
    buf = bytearray(pos)

    def string(name):
        at = len(strings)
        strings.extend(name.encode() + b"\0")
        return at

    for i, (s, (code_off, sym_off, imp_off, rel_off)) in enumerate(zip(sections, layout)):
        syms, imps, rels = s.get("syms", ()), s.get("imports", ()), s.get("relocs", ())
        module = string(s.get("module", "main"))
        struct.pack_into("<13I", buf, HDR_SIZE + SEC_SIZE * i, TARGETS[s["target"]],
                         s.get("align", 16), 0, code_off, len(s["code"]), sym_off, len(syms),
                         rel_off, len(rels), module, imp_off, len(imps), s.get("toc_slots", 0))
        buf[code_off:code_off + len(s["code"])] = s["code"]
        for j, (name, off, kind) in enumerate(syms):
            struct.pack_into("<IIII", buf, sym_off + SYM_SIZE * j, string(name), off, kind, 0)
        for j, (name, slot, kind) in enumerate(imps):
            struct.pack_into("<IIII", buf, imp_off + IMP_SIZE * j, string(name), slot, kind, 0)
        for j, (off, kind, sym, ref, addend) in enumerate(rels):
            kind = RELOC[kind] if isinstance(kind, str) else kind
            struct.pack_into("<IIiIq", buf, rel_off + REL_SIZE * j, off, kind, sym, ref, addend)
    buf += strings
    buf[0:8] = MAGIC
    struct.pack_into("<IIII", buf, HDR_VERSION, 2, HDR_SIZE, len(buf), 0)
    struct.pack_into("<IIIIII", buf, HDR_FLAGS, 0, len(sections), HDR_SIZE, SEC_SIZE, str_off,
                     len(strings))
    return fix_checksum(buf)


def header(data):
    """The header's fields as a dict."""
    (version, hdr_size, total, csum, flags, nsect, sect_off, sect_ent, str_off,
     str_size) = struct.unpack_from("<10I", data, HDR_VERSION)
    return dict(version=version, header_size=hdr_size, total=total, checksum=csum, flags=flags,
                nsections=nsect, sect_off=sect_off, sect_ent=sect_ent, str_off=str_off,
                str_size=str_size)


def entry_offset(data, i):
    h = header(data)
    return h["sect_off"] + h["sect_ent"] * i


def entry(data, i):
    """Section entry i of a version 2 image as a dict of SEC_FIELDS."""
    return dict(zip(SEC_FIELDS, struct.unpack_from("<13I", data, entry_offset(data, i))))


def set_field(data, i, field, value, fix=True):
    """The image with section i's field set to value (u32), checksum fixed unless fix=False."""
    data = bytearray(data)
    struct.pack_into("<I", data, entry_offset(data, i) + 4 * SEC_FIELDS.index(field), value)
    return fix_checksum(data) if fix else bytes(data)


def set_u32(data, offset, value, fix=True):
    data = bytearray(data)
    struct.pack_into("<I", data, offset, value & 0xFFFFFFFF)
    return fix_checksum(data) if fix else bytes(data)


def parse(data):
    """The sections of a version 2 image as build() takes them (no validation: for tests on
    images imago wrote). build(parse(x)) == x for any image im_img_write wrote."""
    h = header(data)
    strtab = data[h["str_off"]:h["str_off"] + h["str_size"]]

    def string(off):
        return strtab[off:strtab.index(b"\0", off)].decode()

    out = []
    for i in range(h["nsections"]):
        e = entry(data, i)
        name = {v: k for k, v in TARGETS.items()}[e["target"]]
        syms = [(string(n), off, kind) for n, off, kind, _r in
                (struct.unpack_from("<IIII", data, e["sym_off"] + SYM_SIZE * j)
                 for j in range(e["nsyms"]))]
        imps = [(string(n), slot, kind) for n, slot, kind, _r in
                (struct.unpack_from("<IIII", data, e["imp_off"] + IMP_SIZE * j)
                 for j in range(e["nimports"]))]
        rels = [struct.unpack_from("<IIiIq", data, e["rel_off"] + REL_SIZE * j)
                for j in range(e["nrelocs"])]
        out.append(dict(target=name, align=e["align"], module=string(e["module"]),
                        code=bytes(data[e["code_off"]:e["code_off"] + e["code_size"]]),
                        syms=syms, imports=imps, toc_slots=e["toc_slots"], relocs=rels))
    return out
