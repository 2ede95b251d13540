"""The loader's relocations (loader/reloc.c, im_reloc_apply) against GNU ld.

For every relocation kind of every target: GNU as assembles one instruction (or data
word) that refers to an undefined symbol `ext`; readelf names the relocation GNU as left
(it must be the kind's ELF twin); GNU ld links the object with `-Ttext=P --defsym ext=V`
for a few (P, V) pairs, in range, at the edges and beyond; the hidden `imago reloc` command
applies the same kind to the object's field bytes for the same place and value. Where ld
links without a veneer (its output .text is as long as the object's), the bytes must be
ld's; where ld refuses the value (relocation truncated to fit, misaligned) or needs a
veneer to reach it (a long-branch stub: .text grows), imago must refuse it too.

The oracle is ld's output, never a table of ours: the test only knows which kind to expect
and the addend convention of the buffer (x86 rel32: A = -4, the field's end; every other
kind: A = 0, docs/image-format.md).
"""

import os
import re

import pytest

import harness

M = 1 << 20

# (target, source line, ELF relocation, imago kind, addend, [(P, V), ...])
CASES = [
    # GNU as leaves R_X86_64_PLT32 for call/jmp: L + A - P, with L = S in a static link
    ("x86_64", "call ext", "R_X86_64_PLT32", "PC32", -4,
     [(0x401000, 0x402000), (0x401000, 0x400000), (0x80000000, 0x100000003),
      (0x80000000, 0x100000004), (0x80000000, 4), (0x80000000, 3)]),
    ("x86_64", "jmp ext", "R_X86_64_PLT32", "PC32", -4,
     [(0x401000, 0x401000), (0x10000000, 0x7fffffff)]),
    ("x86_64", "mov eax, DWORD PTR [rip + ext]", "R_X86_64_PC32", "PC32", -4,
     [(0x401000, 0x12345678), (0x401000, 0x90000000)]),
    ("x86_64", ".quad ext", "R_X86_64_64", "ABS64", 0,
     [(0x401000, 0x123456789abcdef0)]),
    ("x86_64", "mov eax, OFFSET ext", "R_X86_64_32", "ABS32", 0,
     [(0x401000, 0xfffffffc), (0x401000, 0x100000000)]),
    ("x86_64", "mov rax, OFFSET ext", "R_X86_64_32S", "ABS32S", 0,
     [(0x401000, 0x7ffffff0), (0x401000, 0x80000000), (0x401000, 0xffffffff80000000)]),
    ("i386", "call ext", "R_386_PC32", "PC32", -4,
     [(0x401000, 0x402000), (0x401000, 0x400000), (0x80000000, 0x10), (0x10, 0xfffffff0)]),
    ("i386", ".long ext", "R_386_32", "ABS32", 0, [(0x401000, 0xdeadbeef)]),
    ("arm", "bl ext", "R_ARM_CALL", "ARM_CALL", 0,
     [(0x400000, 0x400000), (0x400000, 0x1000), (0x4000000, 0x4000000 + 32 * M + 4),
      (0x4000000, 0x4000000 + 32 * M + 8), (0x4000000, 0x4000000 - 32 * M + 8),
      (0x4000000, 0x4000000 - 32 * M + 4)]),
    ("arm", "b ext", "R_ARM_JUMP24", "ARM_JUMP24", 0,
     [(0x400000, 0x400100), (0x400000, 0x3fff00)]),
    ("arm", "bne ext", "R_ARM_JUMP24", "ARM_JUMP24", 0, [(0x400000, 0x412344)]),
    ("arm", "movw r3, #:lower16:ext", "R_ARM_MOVW_ABS_NC", "ARM_MOVW_ABS_NC", 0,
     [(0x400000, 0x12345678), (0x400000, 0xffff), (0x400000, 0xabcd0000)]),
    ("arm", "movt r3, #:upper16:ext", "R_ARM_MOVT_ABS", "ARM_MOVT_ABS", 0,
     [(0x400000, 0x12345678), (0x400000, 0xffff0001)]),
    ("arm", ".word ext", "R_ARM_ABS32", "ABS32", 0, [(0x400000, 0x89abcdef)]),
    ("aarch64", "bl ext", "R_AARCH64_CALL26", "AARCH64_CALL26", 0,
     [(0x4400000, 0x4400000), (0x4400000, 0x4400000 + 128 * M - 4),
      (0x4400000, 0x4400000 + 128 * M), (0x10000000, 0x10000000 - 128 * M),
      (0x10000000, 0x10000000 - 128 * M - 4)]),
    ("aarch64", "b ext", "R_AARCH64_JUMP26", "AARCH64_JUMP26", 0,
     [(0x400000, 0x3ff000), (0x4400000, 0x4400000 + 128 * M)]),
    ("aarch64", "b.ne ext", "R_AARCH64_CONDBR19", "AARCH64_CONDBR19", 0,
     [(0x400000, 0x400000 + M - 4), (0x400000, 0x400000 + M), (0x400000, 0x300000),
      (0x400000, 0x300000 - 4)]),
    ("aarch64", "cbnz w3, ext", "R_AARCH64_CONDBR19", "AARCH64_CONDBR19", 0,
     [(0x400000, 0x400040)]),
    ("aarch64", "tbz x5, #33, ext", "R_AARCH64_TSTBR14", "AARCH64_TSTBR14", 0,
     [(0x400000, 0x400000 + 0x7ffc), (0x400000, 0x408000), (0x400000, 0x3f8000),
      (0x400000, 0x3f7ffc)]),
    ("aarch64", "adrp x7, ext", "R_AARCH64_ADR_PREL_PG_HI21", "AARCH64_ADR_PREL_PG_HI21", 0,
     [(0x400000, 0x12345678), (0x400ffc, 0x400000), (0x100000000, 0x1fffff123),
      (0x100000000, 0x200000000), (0x100000000, 0x0)]),
    ("aarch64", "add x1, x2, #:lo12:ext", "R_AARCH64_ADD_ABS_LO12_NC",
     "AARCH64_ADD_ABS_LO12_NC", 0, [(0x400000, 0x12345fff), (0x400000, 0x1000)]),
    ("aarch64", "ldrb w1, [x2, #:lo12:ext]", "R_AARCH64_LDST8_ABS_LO12_NC",
     "AARCH64_LDST8_ABS_LO12_NC", 0, [(0x400000, 0x12345fff)]),
    ("aarch64", "ldrh w1, [x2, #:lo12:ext]", "R_AARCH64_LDST16_ABS_LO12_NC",
     "AARCH64_LDST16_ABS_LO12_NC", 0, [(0x400000, 0x12345ffe), (0x400000, 0x1235)]),
    ("aarch64", "str w1, [x2, #:lo12:ext]", "R_AARCH64_LDST32_ABS_LO12_NC",
     "AARCH64_LDST32_ABS_LO12_NC", 0, [(0x400000, 0x12345ffc), (0x400000, 0x1236)]),
    ("aarch64", "ldr x1, [x2, #:lo12:ext]", "R_AARCH64_LDST64_ABS_LO12_NC",
     "AARCH64_LDST64_ABS_LO12_NC", 0, [(0x400000, 0x12345ff8), (0x400000, 0x1234)]),
    ("aarch64", "ldr q1, [x2, #:lo12:ext]", "R_AARCH64_LDST128_ABS_LO12_NC",
     "AARCH64_LDST128_ABS_LO12_NC", 0, [(0x400000, 0x12345ff0), (0x400000, 0x1238)]),
    ("aarch64", ".xword ext", "R_AARCH64_ABS64", "ABS64", 0, [(0x400000, 0xfedcba9876543210)]),
]

FIELD = {"ABS64": 8}


def _tools(target):
    missing = harness.missing_tools(target, ("as", "ld", "objcopy"))
    if missing or not harness.have("readelf"):
        pytest.skip("missing GNU tools: %s" % " ".join(missing or ["readelf"]))
    return harness.TOOLS[target]


def _ok(p, what):
    assert p.returncode == 0, "%s failed:\n%s%s" % (what, p.stdout, p.stderr)


def _text(spec, elf, out):
    """The .text bytes and address of a linked ELF file."""
    p = harness.run([spec["objcopy"], "-O", "binary", "-j", ".text", elf, out])
    _ok(p, "objcopy")
    p = harness.run(["readelf", "-SW", elf])
    _ok(p, "readelf -S")
    m = re.search(r"\]\s+\.text\s+PROGBITS\s+([0-9a-f]+)", p.stdout)
    assert m, p.stdout
    with open(out, "rb") as f:
        return f.read(), int(m.group(1), 16)


def _ids():
    seen = {}
    out = []
    for c in CASES:
        name = "%s-%s" % (c[0], c[3])
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else "%s-%d" % (name, seen[name]))
    return out


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_reloc_matches_ld(case, imago_bin, tmp_path):
    target, line, elf_kind, kind, addend, pairs = case
    spec = _tools(target)
    src = tmp_path / "r.s"
    src.write_text(spec["header"] + line + "\n")
    obj = str(tmp_path / "r.o")
    p = harness.run(spec["as"] + ["-o", obj, str(src)])
    _ok(p, "GNU as")
    p = harness.run(["readelf", "-rW", obj])
    _ok(p, "readelf -r")
    relocs = re.findall(r"^([0-9a-f]+)\s+[0-9a-f]+\s+(R_\w+)", p.stdout, re.M)
    assert len(relocs) == 1, "%r: expected one relocation, readelf says:\n%s" % (line, p.stdout)
    offset, got_kind = int(relocs[0][0], 16), relocs[0][1]
    assert got_kind == elf_kind, "%r: GNU as left %s, not %s" % (line, got_kind, elf_kind)
    raw = str(tmp_path / "r.raw")
    p = harness.run([spec["objcopy"], "-O", "binary", "-j", ".text", obj, raw])
    _ok(p, "objcopy")
    with open(raw, "rb") as f:
        unlinked = f.read()
    size = FIELD.get(kind, 4)
    # A32/A64 relocations patch the instruction word (offset 0); x86 fields sit inside it.
    field = unlinked[offset:offset + size]
    assert len(field) == size
    failures = []
    for place, value in pairs:
        elf = str(tmp_path / "r.elf")
        if os.path.exists(elf):
            os.unlink(elf)
        argv = spec["ld"] + ["-Ttext=0x%x" % place, "--defsym", "ext=0x%x" % value, "-e", "0",
                             "-o", elf, obj]
        ld = harness.run(argv)
        linked = None
        if ld.returncode == 0:
            text, addr = _text(spec, elf, str(tmp_path / "r.bin"))
            assert addr == place, "ld put .text at 0x%x, not 0x%x" % (addr, place)
            if len(text) == len(unlinked):  # no long-branch stub
                linked = text[offset:offset + size]
        v = (value + addend) & ((1 << 64) - 1)
        im = harness.imago("reloc", "-a", target, kind, "0x%x" % (place + offset), "0x%x" % v,
                           field.hex())
        where = "%s %r P=0x%x V=0x%x (%s)" % (target, line, place, value, harness.shjoin(argv))
        if linked is not None:
            if im.returncode != 0:
                failures.append("%s: ld links it (%s), imago refuses: %s"
                                % (where, linked.hex(), im.stderr.strip()))
            elif im.stdout.strip() != linked.hex():
                failures.append("%s: ld writes %s, imago %s" % (where, linked.hex(),
                                                               im.stdout.strip()))
        else:
            why = harness.first_line(ld.stderr) if ld.returncode else "ld added a veneer"
            if im.returncode != 1:
                failures.append("%s: ld refuses (%s), imago writes %s" % (where, why,
                                                                          im.stdout.strip()))
            elif "out of range" not in im.stderr and "multiple of" not in im.stderr:
                failures.append("%s: imago's error does not say why: %s" % (where, im.stderr))
    assert not failures, "\n".join(failures)


def test_reloc_refuses_thumb_and_bad_input(imago_bin):
    # arm: bit 0 of the target names a Thumb function; imago emits no Thumb code.
    p = harness.imago("reloc", "-a", "arm", "ARM_CALL", "0x1000", "0x2001", "feffffeb")
    assert p.returncode == 1 and "Thumb" in p.stderr, p.stderr
    # a kind of another target
    p = harness.imago("reloc", "-a", "arm", "AARCH64_CALL26", "0", "0", "00000094")
    assert p.returncode == 2 and "not a relocation of arm" in p.stderr, p.stderr
    p = harness.imago("reloc", "-a", "aarch64", "NOPE", "0", "0", "00000094")
    assert p.returncode == 2 and "unknown relocation kind" in p.stderr, p.stderr
