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
"""

import os
import re

import pytest

import harness

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
    raise ValueError(case)


ASM_CASES = [(t, c) for t in harness.TARGETS
             for c in ("unknown-mnemonic", "bad-operand", "undefined-label")]
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
