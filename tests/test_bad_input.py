"""Bad input never crashes imago and is reported where it is.

`imago asm`: an unknown mnemonic, a bad operand, an undefined label and an
out-of-range PC-relative reference each exit non-zero with
`FILE:LINE: error: REASON` on stderr and leave no output file (a file that
existed before is left as it was, and no temporary file stays behind).
Where GNU as must reject the same source, the test checks that too, so the
inputs are known to be wrong.

`imago run`: a truncated image, a corrupted byte, a wrong version (checksum
fixed), a missing --entry symbol, a section for another target, a non-image
file, an empty file and a missing file each exit 1 with
`imago run: IMG: <reason>: <detail>`, on every engine, never by a signal.
These start from a version 1 image (harness.img_build writes v1), so they also
show that v1 files still load.

Image format v2 (docs/image-format.md): images crafted with fuzz/imgv2.py (a
writer laid out as im_img_write) and then broken one way each (truncated,
oversized tables and counts, overlapping parts, out-of-range offsets, a broken
checksum, unknown or misplaced relocation kinds and references, import slots,
module names) are refused by `imago dump` and `imago run` with the named error
and where it is; the unbroken image runs.
"""

import os
import re
import struct
import sys

import pytest

import harness

sys.path.insert(0, os.path.join(harness.ROOT, "fuzz"))
import imgv2  # noqa: E402

HEAD = {
    "x86_64": [".intel_syntax noprefix"],
    "i386": [".intel_syntax noprefix"],
    "arm": [".syntax unified", ".arm"],
    "aarch64": [],
}
GOOD = {"x86_64": "mov eax, 1", "i386": "mov eax, 1", "arm": "mov r0, #1", "aarch64": "mov w0, #1"}
RET = {"x86_64": "ret", "i386": "ret", "arm": "bx lr", "aarch64": "ret"}
BAD_OPERAND = {
    "x86_64": "add eax, rbx",    # operand sizes differ
    "i386": "add eax, bx",       # operand sizes differ
    "arm": "add r0, r1, r16",    # no register r16
    "aarch64": "add x0, x1, x99",  # no register x99
}
BRANCH = {"x86_64": "jmp", "i386": "jmp", "arm": "b", "aarch64": "b"}


def source(target, body):
    """(text, line number of body[0]) for a function main whose body is `body`."""
    lines = HEAD[target] + [".text", ".globl main", "main:", "    " + GOOD[target]]
    first = len(lines) + 1
    lines += ["    " + b if not b.endswith(":") else b for b in body]
    lines += ["    " + RET[target], ""]
    return "\n".join(lines), first


def case_source(target, case):
    """(source text, line the error must name, a word the reason must contain or None,
    whether GNU as must reject it too)."""
    if case == "unknown-mnemonic":
        text, line = source(target, ["frobnicate r0, r1"])
        return text, line, "frobnicate", True
    if case == "bad-operand":
        text, line = source(target, [BAD_OPERAND[target]])
        return text, line, None, True
    if case == "undefined-label":
        text, line = source(target, [BRANCH[target] + " nowhere"])
        return text, line, "nowhere", False  # GNU as leaves an undefined symbol to the linker
    if case == "out-of-range":
        # A PC-relative literal load whose label lies past its reach:
        # A32 ldr (literal) reaches +-4 KiB, A64 ldr (literal) +-1 MiB.
        n = {"arm": 1100, "aarch64": 262200}[target]
        text, line = source(target, ["ldr r1, far" if target == "arm" else "ldr x1, far"]
                            + [RET[target]] * n + ["far:"])
        return text + ".word 0\n", line, None, True
    if case == "space-too-large":  # one .space over IM_ASM_MAX_CODE (GNU as takes it)
        text, line = source(target, [".skip 300000000"])
        return text, line, "300000000", False
    if case == "code-too-large":  # .space statements that cross IM_ASM_MAX_CODE together
        text, line = source(target, [".skip 200000000", ".skip 100000000"])
        return text, line + 1, "256 MiB", False
    raise ValueError(case)


ASM_CASES = [(t, c) for t in harness.TARGETS
             for c in ("unknown-mnemonic", "bad-operand", "undefined-label", "space-too-large",
                       "code-too-large")]
# x86 has no out-of-range case: jmp/call reach +-2 GiB (rel32) and the tables
# hold no rel8-only branch, so no feasible source is out of range.
ASM_CASES += [("arm", "out-of-range"), ("aarch64", "out-of-range")]


def listing(d):
    return sorted(os.listdir(d))


@pytest.mark.parametrize("target,case", ASM_CASES, ids=["%s-%s" % c for c in ASM_CASES])
@pytest.mark.parametrize("mode", ["image", "raw"])
def test_asm_error(imago_bin, tmp_path, target, case, mode):
    text, line, word, gnu_rejects = case_source(target, case)
    src = tmp_path / "bad.s"
    src.write_text(text)
    out = tmp_path / ("out.img" if mode == "image" else "out.bin")
    args = ["asm", "-a", target] + (["--raw"] if mode == "raw" else []) + [str(src), "-o", str(out)]
    before = listing(tmp_path)
    p = harness.imago(*args)
    assert p.returncode > 0, "imago %s exited %d on a %s" % (" ".join(args), p.returncode, case)
    m = re.search(r"^%s:(\d+): error: (.+)$" % re.escape(str(src)), p.stderr, re.M)
    assert m, "no `%s:LINE: error: REASON` line on stderr:\n%s" % (src, p.stderr)
    assert int(m.group(1)) == line, "error names line %s, the %s is on line %d:\n%s" % (
        m.group(1), case, line, p.stderr)
    if word:
        assert word in m.group(2), "the reason does not name %r: %s" % (word, m.group(2))
    assert not out.exists(), "imago asm left %s behind after an error" % out.name
    assert listing(tmp_path) == before, "files left behind: %s" % (
        set(listing(tmp_path)) - set(before))

    if gnu_rejects and not harness.missing_tools(target, ("as",)):
        g = harness.run(harness.TOOLS[target]["as"] + ["-o", str(tmp_path / "g.o"), str(src)])
        assert g.returncode != 0 and (":%d: Error:" % line) in g.stderr, \
            "premise: GNU as should reject line %d too:\n%s" % (line, g.stderr)


@pytest.mark.parametrize("target", harness.TARGETS)
def test_asm_error_keeps_existing_output(imago_bin, tmp_path, target):
    """A failed assembly does not clobber an existing output file."""
    text, _line, _w, _g = case_source(target, "unknown-mnemonic")
    src = tmp_path / "bad.s"
    src.write_text(text)
    out = tmp_path / "out.img"
    out.write_bytes(b"previous contents")
    p = harness.imago("asm", "-a", target, str(src), "-o", str(out))
    assert p.returncode > 0
    assert not out.exists() or out.read_bytes() == b"previous contents", \
        "imago asm overwrote %s after an error" % out.name
    assert listing(tmp_path) in (["bad.s", "out.img"], ["bad.s"]), listing(tmp_path)


def test_asm_missing_input(imago_bin, tmp_path):
    p = harness.imago("asm", "-a", "x86_64", str(tmp_path / "nope.s"), "-o",
                      str(tmp_path / "x.img"))
    assert p.returncode > 0 and "nope.s" in p.stderr, p.stderr
    assert not (tmp_path / "x.img").exists()


# ---- imago run on bad images ------------------------------------------------------


def bad_image(kind, good):
    """(bytes or None for no file, extra run arguments, words one of which the error names)."""
    data = open(good, "rb").read()
    if kind == "truncated":
        return data[:len(data) // 2], [], ["truncated"]
    if kind == "truncated-header":
        return data[:10], [], ["truncated"]
    if kind == "corrupted-byte":
        b = bytearray(data)
        e, _target, _nrels = harness.img_sections(data)[0]
        code_off = int.from_bytes(data[e + harness.SEC_CODEOFF:e + harness.SEC_CODEOFF + 4],
                                  "little")
        b[code_off + 1] ^= 0x40  # one bit of the code; the checksum no longer matches
        return bytes(b), [], ["checksum"]
    if kind == "wrong-version":
        return harness.img_set_version(data, 99), [], ["version"]
    if kind == "missing-entry":
        return data, ["--entry", "no_such_symbol"], ["no_such_symbol"]
    if kind == "no-section":
        return data, ["--target", "aarch64"], ["aarch64", "section"]
    if kind == "not-an-image":
        return b"\x7fELF\x02\x01\x01" + bytes(100), [], ["magic", "not an imago image"]
    if kind == "text-file":
        return b"mov eax, 42\nret\n" * 8, [], ["magic", "not an imago image"]
    if kind == "empty":
        return b"", [], ["truncated", "empty"]
    if kind == "missing-file":
        return None, [], ["No such file", "cannot open"]
    raise ValueError(kind)


RUN_CASES = ["truncated", "truncated-header", "corrupted-byte", "wrong-version",
             "missing-entry", "no-section", "not-an-image", "text-file", "empty", "missing-file"]


@pytest.mark.parametrize("engine", harness.engines_for("x86_64"))
@pytest.mark.parametrize("kind", RUN_CASES)
def test_run_bad_image(imago_bin, seed_image, tmp_path, kind, engine):
    good = seed_image("x86_64", "good.img")
    ok = harness.imago("run", good, "--engine", engine)
    assert ok.returncode == 0 and ok.stdout.strip() == "42", \
        "control: the good image does not run on %s: %s" % (engine, ok.stderr)
    data, extra, words = bad_image(kind, good)
    path = str(tmp_path / ("bad-%s.img" % kind))
    if data is not None:
        with open(path, "wb") as f:
            f.write(data)
    p = harness.imago("run", path, "--engine", engine, *extra)
    assert p.returncode >= 0, "imago run died of signal %d on a %s image" % (-p.returncode, kind)
    assert p.returncode == 1, \
        "imago run exited %d on a %s image (want 1)\nstdout: %s\nstderr: %s" % (
            p.returncode, kind, p.stdout, p.stderr)
    assert p.stdout == "", "imago run printed a result for a %s image: %s" % (kind, p.stdout)
    first = p.stderr.strip().splitlines()[0] if p.stderr.strip() else ""
    assert first.startswith("imago run: %s: " % path), \
        "stderr does not start `imago run: IMG: `:\n%s" % p.stderr
    assert any(w.lower() in first.lower() for w in words), \
        "the error does not name any of %s: %s" % (words, first)


@pytest.mark.parametrize("kind", ["truncated", "corrupted-byte", "empty", "not-an-image"])
def test_dump_bad_image(imago_bin, seed_image, tmp_path, kind):
    data, _extra, words = bad_image(kind, seed_image("x86_64", "good.img"))
    path = tmp_path / "bad.img"
    path.write_bytes(data)
    p = harness.imago("dump", str(path))
    assert p.returncode > 0, "imago dump accepted a %s image" % kind
    assert any(w.lower() in p.stderr.lower() for w in words), p.stderr


@pytest.mark.parametrize("engine", harness.engines_for("x86_64"))
def test_run_faulting_code(imago_bin, tmp_path, engine):
    """Code that faults (a load from address 0) is an error of `imago run`, not a
    crash of imago itself, on every engine."""
    code = bytes.fromhex("8b042500000000c3")  # mov eax, DWORD PTR ds:0 ; ret
    path = tmp_path / "fault.img"
    path.write_bytes(harness.img_build([dict(target="x86_64", code=code,
                                             syms=[("main", 0, harness.SYM_FUNC)])]))
    # cwd: qemu-user writes a core file of the faulting guest into it (if allowed)
    p = harness.imago("run", str(path), "--engine", engine, timeout=120, cwd=str(tmp_path))
    assert p.returncode >= 0, "imago run died of signal %d" % -p.returncode
    assert p.returncode == 1 and p.stdout == "", (p.returncode, p.stdout, p.stderr)
    assert p.stderr.startswith("imago run: %s: " % path), p.stderr


# ---- image format v2: crafted bad images -------------------------------------------------

# The x86_64 seed program (tests/conftest.py SEED_CODE): main returns 42.
SEED_X86_64 = bytes.fromhex("53bb05000000b82a000000eb0201d85bc3")


def v2_section(**kw):
    s = dict(target="x86_64", module="main", code=SEED_X86_64,
             syms=[("main", 0, imgv2.SYM_FUNC), ("end", len(SEED_X86_64), imgv2.SYM_DATA)])
    s.update(kw)
    return s


def v2_good():
    """A valid v2 image: the seed as module "main", plus a module "lib" for x86_64 with an
    import, a TOC slot and relocations through them (never run: `imago run` takes main)."""
    lib = v2_section(module="lib", code=bytes(16), toc_slots=2,
                     syms=[("f", 0, imgv2.SYM_FUNC)],
                     imports=[("puts", 1, imgv2.SYM_FUNC), ("errno", 0, imgv2.SYM_DATA)],
                     relocs=[(0, "ABS64", 0, imgv2.REF_LOCAL, 0),
                             (8, "PC32", 0, imgv2.REF_TOC, -4)])
    return imgv2.build([v2_section(), lib])


def v2_with_reloc(reloc, **kw):
    return imgv2.build([v2_section(relocs=[reloc], **kw)])


def v2_bad(kind):
    """(bytes, words the error must contain (all of them, case-insensitive))."""
    good = v2_good()
    e1 = imgv2.entry(good, 1)
    if kind == "truncated":
        return good[:-7], ["truncated"]
    if kind == "oversized-symbols":
        return imgv2.set_field(good, 0, "nsyms", 0x1000000), \
            ["too large", "section 0", "symbol table", "16777216 entries"]
    if kind == "oversized-imports":
        return imgv2.set_field(good, 1, "nimports", 0xfffff), \
            ["too large", "section 1", "import table"]
    if kind == "oversized-sections":
        return imgv2.set_u32(good, imgv2.HDR_NSECT, 1000), ["too large", "1000 sections"]
    if kind == "oversized-strings":
        return imgv2.set_u32(good, imgv2.HDR_STRSIZE, 0x7fffffff), ["too large", "string table"]
    if kind == "oversized-names":
        # 9 modules of 4095 symbols each, every name a suffix of one 4095-byte name: a 600 KB
        # file whose names would take 75 MB once read (the cap is 64 MiB)
        F = imgv2.SYM_FUNC
        long = "n" * 4094 + "y"
        secs = [v2_section(module="m%d" % i, code=bytes(4),
                           syms=[(long if i == 0 and j == 0 else "s%d" % j, 0, F)
                                 for j in range(4095)]) for i in range(9)]
        b = bytearray(imgv2.build(secs))
        long_off = len("m0") + 1  # section 0's module name comes first
        for i in range(9):
            sym_off = imgv2.entry(b, i)["sym_off"]
            for j in range(4095):
                struct.pack_into("<I", b, sym_off + 16 * j, long_off + j)
        return imgv2.fix_checksum(b), ["too large", "section 7", "names take more than"]
    if kind == "toc-slots":
        return imgv2.set_field(good, 1, "toc_slots", 70000), \
            ["too large", "section 1", "70000 TOC slots"]
    if kind == "overlap-code-symbols":
        # section 1's code moved onto its own symbol table (16-aligned, inside the file)
        at = e1["sym_off"] & ~15
        return imgv2.set_field(good, 1, "code_off", at), ["overlap", "section 1 code"]
    if kind == "overlap-imports-header":
        # section 1's import table onto the header
        return imgv2.set_field(good, 1, "imp_off", 8), ["overlap", "header", "import table"]
    if kind == "overlap-strings-relocs":
        return imgv2.set_u32(good, imgv2.HDR_STROFF, e1["rel_off"]), \
            ["overlap", "string table", "relocation table"]
    if kind == "out-of-range-code":
        return imgv2.set_field(good, 0, "code_off", 0xfffffff0), \
            ["section 0", "code offset 0xfffffff0", "outside the image"]
    if kind == "out-of-range-name":
        h = imgv2.header(good)
        sym0 = imgv2.entry(good, 0)["sym_off"]
        return imgv2.set_u32(good, sym0, h["str_size"] + 100), \
            ["invalid symbol", "section 0", "symbol 0 name", "outside the string table"]
    if kind == "checksum":
        b = bytearray(good)
        b[imgv2.entry(good, 0)["code_off"] + 2] ^= 0x10
        return bytes(b), ["checksum"]
    if kind == "unknown-reloc-kind":
        return v2_with_reloc((1, 99, -1, imgv2.REF_LOCAL, 0)), \
            ["invalid relocation", "section 0", "relocation 0", "unknown kind 99"]
    if kind == "reloc-kind-for-another-target":
        return v2_with_reloc((0, "AARCH64_CALL26", 0, imgv2.REF_LOCAL, 0)), \
            ["invalid relocation", "AARCH64_CALL26 is not valid for x86_64"]
    if kind == "reloc-overflows-code":
        return v2_with_reloc((len(SEED_X86_64) - 2, "ABS32", 0, imgv2.REF_LOCAL, 0)), \
            ["invalid relocation", "overflows code"]
    if kind == "reloc-unknown-ref":
        return v2_with_reloc((0, "ABS32", 0, 7, 0)), ["invalid relocation", "unknown ref 7"]
    if kind == "reloc-toc-without-import":
        return v2_with_reloc((1, "PC32", 0, imgv2.REF_TOC, -4)), \
            ["invalid relocation", "refers to import 0 (section has 0)"]
    if kind == "import-slot-out-of-range":
        return v2_with_reloc((1, "PC32", 0, imgv2.REF_IMPORT, -4), toc_slots=1,
                             imports=[("puts", 1, imgv2.SYM_FUNC)]), \
            ["malformed", "import 0 'puts' uses TOC slot 1 (section has 1)"]
    if kind == "import-slot-shared":
        return imgv2.build([v2_section(toc_slots=4, imports=[("a", 3, 1), ("b", 3, 1)])]), \
            ["malformed", "share TOC slot 3"]
    if kind == "duplicate-module":
        return imgv2.build([v2_section(), v2_section()]), \
            ["malformed", "sections 0 and 1 are both module 'main' for x86_64"]
    if kind == "empty-module":
        return imgv2.build([v2_section(module="")]), ["malformed", "empty module name"]
    raise ValueError(kind)


V2_CASES = ["truncated", "oversized-symbols", "oversized-imports", "oversized-sections",
            "oversized-strings", "oversized-names", "toc-slots", "overlap-code-symbols", "overlap-imports-header",
            "overlap-strings-relocs", "out-of-range-code", "out-of-range-name", "checksum",
            "unknown-reloc-kind", "reloc-kind-for-another-target", "reloc-overflows-code",
            "reloc-unknown-ref", "reloc-toc-without-import", "import-slot-out-of-range",
            "import-slot-shared", "duplicate-module", "empty-module"]


def test_v2_good_image(imago_bin, tmp_path):
    """Control: the unbroken v2 image dumps and runs (main returns 42), so every failure
    below comes from its one change."""
    path = tmp_path / "good.img"
    path.write_bytes(v2_good())
    d = harness.imago("dump", str(path))
    assert d.returncode == 0, d.stderr
    assert "image version 2, 2 sections" in d.stdout, d.stdout
    r = harness.imago("run", str(path))
    assert r.returncode == 0 and r.stdout.strip() == "42", (r.returncode, r.stdout, r.stderr)


@pytest.mark.parametrize("target", harness.TARGETS)
def test_v2_python_writer_matches_imago(imago_bin, tmp_path, target):
    """fuzz/imgv2.py lays images out byte for byte as im_img_write does: an image `imago asm`
    wrote, taken apart and rebuilt by imgv2, is the same file. (The crafted images above and
    the fuzzer's hand-made seeds rely on it.)"""
    src = os.path.join(harness.ROOT, "conformance", "programs", target, "reloc.s")
    out = tmp_path / "reloc.img"
    p = harness.imago("asm", "-a", target, src, "-o", str(out))
    assert p.returncode == 0, p.stderr
    data = out.read_bytes()
    assert imgv2.header(data)["version"] == 2
    sections = imgv2.parse(data)
    assert sections and sections[0]["relocs"], "premise: the program has a relocation"
    assert imgv2.build(sections) == data


def test_v1_image_accepted(imago_bin, seed_image):
    """A version 1 file (48-byte section entries) still loads: dump says version 1 and it
    runs."""
    path = seed_image("x86_64", "v1.img")
    data = open(path, "rb").read()
    assert struct.unpack_from("<I", data, 8)[0] == 1 and struct.unpack_from("<I", data, 36)[0] == 48
    d = harness.imago("dump", path)
    assert d.returncode == 0 and d.stdout.startswith("image version 1, 1 section"), d.stdout
    r = harness.imago("run", path)
    assert r.returncode == 0 and r.stdout.strip() == "42", (r.returncode, r.stdout, r.stderr)


@pytest.mark.parametrize("command", ["dump", "run"])
@pytest.mark.parametrize("kind", V2_CASES)
def test_v2_bad_image(imago_bin, tmp_path, kind, command):
    data, words = v2_bad(kind)
    path = tmp_path / ("bad-%s.img" % kind)
    path.write_bytes(data)
    p = harness.imago(command, str(path))
    assert p.returncode >= 0, "imago %s died of signal %d on a %s image" % (
        command, -p.returncode, kind)
    assert p.returncode == 1, "imago %s exited %d on a %s image (want 1)\nstdout: %s\nstderr: %s" % (
        command, p.returncode, kind, p.stdout, p.stderr)
    assert p.stdout == "", "imago %s printed output for a %s image: %s" % (command, kind, p.stdout)
    first = p.stderr.strip().splitlines()[0] if p.stderr.strip() else ""
    assert first.startswith("imago %s: %s: " % (command, path)), p.stderr
    missing = [w for w in words if w.lower() not in first.lower()]
    assert not missing, "the error does not name %s: %s" % (missing, first)


def test_doc_worked_example(imago_bin, tmp_path):
    """The worked example of docs/image-format.md is a valid image, laid out as the writer
    lays it out, with the contents the page describes."""
    doc = open(os.path.join(harness.ROOT, "docs", "image-format.md")).read()
    section = doc[doc.index("## Worked example"):]
    block = section[section.index("```\n") + 4:]
    block = block[:block.index("```")]
    data = b"".join(bytes.fromhex(line[10:49].replace(" ", "")) for line in block.splitlines())
    assert len(data) == imgv2.header(data)["total"]
    assert imgv2.checksum(data) == imgv2.header(data)["checksum"]
    secs = imgv2.parse(data)
    assert imgv2.build(secs) == data
    assert secs == [dict(target="x86_64", align=16, module="demo",
                         code=bytes.fromhex("ff1500000000c3"), syms=[("main", 0, imgv2.SYM_FUNC)],
                         imports=[("puts", 0, imgv2.SYM_FUNC)], toc_slots=1,
                         relocs=[(2, imgv2.RELOC["PC32"], 0, imgv2.REF_TOC, -4)])]
    path = tmp_path / "demo.img"
    path.write_bytes(data)
    p = harness.imago("dump", str(path))
    assert p.returncode == 0 and p.stdout.startswith("image version 2, 1 section"), p.stderr
