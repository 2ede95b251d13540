"""Images with several targets and modules: `imago asm` (-a ... -a ..., --targets, -m,
--module, --add-to), `imago run` picking a section (the host's, or another under an
emulator, said on stderr), `imago dump` of v2 images (modules, imports, TOC slots,
relocation references), the assembler's .import / NAME@toc / :lo12: / :lower16: syntax and
its errors, and relocated operands against GNU as + ld (docs/asm.md, docs/cli.md).

The values the programs return are computed here from their source (constants chosen per
test), never read from imago; the bytes of the relocation checks come from GNU ld.
"""

import os
import re
import shutil

import pytest

import harness

HOST = harness.host()

RET = {
    "x86_64": ".intel_syntax noprefix\n.globl main\nmain:\n  mov eax, {v}\n  ret\n",
    "i386": ".intel_syntax noprefix\n.globl main\nmain:\n  mov eax, {v}\n  ret\n",
    "arm": ".syntax unified\n.globl main\nmain:\n  mov r0, #{v}\n  bx lr\n",
    "aarch64": ".globl main\nmain:\n  mov w0, #{v}\n  ret\n",
}


def src(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def ret_src(tmp_path, target, value, name=None):
    return src(tmp_path, name or "%s_%d.s" % (target, value), RET[target].format(v=value))


def dump_sections(text):
    """imago dump's section headers: [(module, target)] in order."""
    return re.findall(r"^section \d+: module (\S+), target (\S+),", text, re.M)


def foreign_target():
    """A target this host does not run natively (the emulator fallback's subject)."""
    for t in ("aarch64", "arm", "x86_64"):
        if t != HOST and not (HOST == "x86_64" and t == "i386"):
            return t
    raise AssertionError("no foreign target")


def asm_ok(*args):
    p = harness.imago("asm", *args)
    assert p.returncode == 0, "imago asm %s failed:\n%s" % (" ".join(map(str, args)), p.stderr)
    return p


def run_ok(*args):
    p = harness.imago("run", *args)
    assert p.returncode == 0, "imago run %s failed:\n%s" % (" ".join(map(str, args)), p.stderr)
    return p


# ---- several targets, several modules ----

def test_two_targets_two_sources(imago_bin, tmp_path):
    other = foreign_target()
    a = ret_src(tmp_path, HOST, 11)
    b = ret_src(tmp_path, other, 22)
    img = tmp_path / "two.img"
    asm_ok("-a", HOST, a, "-a", other, b, "-o", img)
    d = harness.imago("dump", img)
    assert d.returncode == 0, d.stderr
    assert dump_sections(d.stdout) == [("main", HOST), ("main", other)], d.stdout
    assert "2 sections, 1 module" in d.stdout, d.stdout
    # run picks the host's section; --target the other one
    p = run_ok(img)
    assert p.stdout.strip() == "11" and p.stderr == "", (p.stdout, p.stderr)
    if harness.have(harness.TOOLS[other]["qemu"]):
        p = run_ok(img, "--target", other, "--engine", "qemu")
        assert p.stdout.strip() == "22", p.stdout


def test_targets_list_same_source(imago_bin, tmp_path):
    s = ret_src(tmp_path, "x86_64", 42, "same.s")
    img = tmp_path / "same.img"
    asm_ok("--targets", "x86_64,i386", s, "-o", img)
    d = harness.imago("dump", img)
    assert dump_sections(d.stdout) == [("main", "x86_64"), ("main", "i386")], d.stdout
    # the same text, the same bytes on both (mov eax, imm32; ret)
    code = re.findall(r"^  00000000  (.*)$", d.stdout, re.M)
    assert len(code) == 2 and code[0] == code[1], d.stdout
    for t in ("x86_64", "i386"):
        if t == HOST or (HOST == "x86_64" and t == "i386") or harness.have(
                harness.TOOLS[t]["qemu"]):
            p = run_ok(img, "--target", t)
            assert p.stdout.strip() == "42", (t, p.stdout)


def test_target_after_input_still_works(imago_bin, tmp_path):
    """The old order, `imago asm IN.s -a TARGET -o OUT`, keeps working."""
    s = ret_src(tmp_path, HOST, 7)
    img = tmp_path / "old.img"
    asm_ok(s, "-a", HOST, "-o", img)
    assert run_ok(img).stdout.strip() == "7"


def test_modules_and_add_to(imago_bin, tmp_path):
    a = ret_src(tmp_path, HOST, 5)
    b = ret_src(tmp_path, HOST, 6, "b.s")
    img = tmp_path / "mods.img"
    asm_ok("--module", "app", "-a", HOST, a, "-o", img)
    before = img.read_bytes()
    asm_ok("-m", "lib", "-a", HOST, b, "--add-to", img)
    d = harness.imago("dump", img)
    assert dump_sections(d.stdout) == [("app", HOST), ("lib", HOST)], d.stdout
    assert img.read_bytes() != before
    assert run_ok(img).stdout.strip() == "5"  # the first module
    assert run_ok(img, "--module", "lib").stdout.strip() == "6"
    p = harness.imago("run", img, "--module", "nosuch")
    assert p.returncode == 1 and "nosuch" in p.stderr, p.stderr
    # --add-to with -o writes elsewhere and leaves IMG as it was
    out = tmp_path / "more.img"
    kept = img.read_bytes()
    asm_ok("-m", "extra", "-a", HOST, b, "--add-to", img, "-o", out)
    assert img.read_bytes() == kept
    assert [m for m, _ in dump_sections(harness.imago("dump", out).stdout)] == [
        "app", "lib", "extra"]


# ---- bad inputs: a clear error, no output file ----

def expect_asm_error(tmp_path, args, *needles, out="bad.img"):
    p = harness.imago("asm", *args)
    assert p.returncode > 0, "imago asm %s succeeded" % " ".join(map(str, args))
    for n in needles:
        assert n in p.stderr, "%r not in:\n%s" % (n, p.stderr)
    assert not (tmp_path / out).exists(), "a failed imago asm left %s" % out
    leftovers = [f for f in os.listdir(tmp_path) if f.startswith(out)]
    assert not leftovers, leftovers
    return p


def test_duplicate_module_target(imago_bin, tmp_path):
    a = ret_src(tmp_path, "x86_64", 1)
    b = ret_src(tmp_path, "x86_64", 2)
    expect_asm_error(tmp_path, ["-a", "x86_64", a, "-a", "x86_64", b, "-o", tmp_path / "bad.img"],
                     "module 'main'", "two x86_64 sections")
    expect_asm_error(tmp_path, ["--targets", "x86_64,x86_64", a, "-o", tmp_path / "bad.img"],
                     "x86_64")


def test_add_to_duplicate_leaves_image(imago_bin, tmp_path):
    a = ret_src(tmp_path, "x86_64", 1)
    img = tmp_path / "base.img"
    asm_ok("-a", "x86_64", a, "-o", img)
    before = img.read_bytes()
    p = harness.imago("asm", "-a", "x86_64", a, "--add-to", img)
    assert p.returncode == 1 and "already has a x86_64 section" in p.stderr, p.stderr
    assert img.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["base.img", "x86_64_1.s"], os.listdir(tmp_path)


def test_unknown_target_in_list(imago_bin, tmp_path):
    a = ret_src(tmp_path, "x86_64", 1)
    expect_asm_error(tmp_path, ["--targets", "x86_64,mips", a, "-o", tmp_path / "bad.img"],
                     "unknown target 'mips'")


def test_second_input_error_writes_nothing(imago_bin, tmp_path):
    """The first input assembles, the second does not: no image at all."""
    a = ret_src(tmp_path, "x86_64", 1)
    b = src(tmp_path, "b.s", ".globl main\nmain:\n  bl nowhere\n  ret\n")
    p = expect_asm_error(tmp_path, ["-a", "x86_64", a, "-a", "aarch64", b,
                                    "-o", tmp_path / "bad.img"], "b.s:3:", "nowhere")
    assert "aarch64" in p.stderr, p.stderr


BAD_SOURCES = [
    # (target, source, line, words in the message)
    ("aarch64", ".globl main\nmain:\n  bl helper\n  ret\n", 3,
     ["undefined symbol 'helper'", ".import helper"]),
    ("x86_64", ".intel_syntax noprefix\n.globl main\nmain:\n"
     "  call QWORD PTR [rip + helper@toc]\n  ret\n", 4,
     ["'helper@toc'", "not imported", ".import helper"]),
    ("arm", ".import f\n.globl f\nf:\n  bx lr\n", 3, ["'f' is imported", "line 1"]),
    ("arm", "f:\n  bx lr\n.import f\n", 3, ["'.import f'", "defined", "line 1"]),
    ("aarch64", ".import f\n  adrp x0, f@plt\n", 2, ["'f@plt'", "NAME@toc"]),
    ("arm", ".syntax unified\nl:\n  movt r0, #:lower16:l\n", 3, [":lower16:", "movw"]),
    ("aarch64", "l:\n  mov x0, #:lo12:l\n", 2, [":lo12:"]),
    ("i386", ".intel_syntax noprefix\n.import f\n.globl f\nx:\n  ret\n", 2,
     ["imported", "exported"]),
]


@pytest.mark.parametrize("case", range(len(BAD_SOURCES)))
def test_bad_source(imago_bin, tmp_path, case):
    target, text, line, words = BAD_SOURCES[case]
    s = src(tmp_path, "bad.s", text)
    expect_asm_error(tmp_path, ["-a", target, s, "-o", tmp_path / "bad.img"],
                     "bad.s:%d: error:" % line, *words)


def test_raw_refuses_imports(imago_bin, tmp_path):
    s = src(tmp_path, "r.s", ".import f\n.globl main\nmain:\n  b f\n")
    expect_asm_error(tmp_path, ["-a", "aarch64", "--raw", s, "-o", tmp_path / "bad.img"],
                     "--raw", "imports 'f'")


# ---- imago run: the emulator fallback ----

@pytest.mark.parametrize("target", ["aarch64"])
def test_run_foreign_only_image_under_qemu(imago_bin, tmp_path, target):
    if target == HOST:
        pytest.skip("the host runs %s itself" % target)
    if not harness.have(harness.TOOLS[target]["qemu"]):
        pytest.skip("%s is not installed" % harness.TOOLS[target]["qemu"])
    # 3 * 7 + 2, computed by the code from its arguments
    s = src(tmp_path, "f.s", ".globl main\nmain:\n  mul x0, x0, x1\n  add x0, x0, x2\n  ret\n")
    img = tmp_path / "only.img"
    asm_ok("-a", target, s, "-o", img)
    p = harness.imago("run", img, "3", "7", "2")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(3 * 7 + 2), p.stdout
    assert ("no %s section" % HOST) in p.stderr, p.stderr
    assert ("running the %s section under qemu" % target) in p.stderr, p.stderr
    # an engine named: no message
    p = harness.imago("run", img, "--engine", "qemu", "3", "7", "2")
    assert p.returncode == 0 and p.stderr == "" and p.stdout.strip() == "23", p.stderr


# ---- dump of imports, TOC slots and relocation references ----

def test_dump_imports_and_toc(imago_bin, tmp_path):
    s = src(tmp_path, "m.s", ".intel_syntax noprefix\n.import host_add\n.globl main\nmain:\n"
            "  call QWORD PTR [rip + host_add@toc]\n  ret\n")
    img = tmp_path / "m.img"
    asm_ok("-a", "x86_64", s, "-o", img)
    d = harness.imago("dump", img)
    assert d.returncode == 0, d.stderr
    assert "imports: 1, toc slots: 1" in d.stdout, d.stdout
    assert re.search(r"^    slot 0 func host_add$", d.stdout, re.M), d.stdout
    # call [rip + disp32]: ff 15, the field at offset 2, relative to the instruction's end
    assert re.search(r"^    00000002 PC32 toc:host_add -0x4$", d.stdout, re.M), d.stdout


def test_dump_direct_call_to_import(imago_bin, tmp_path):
    s = src(tmp_path, "m.s", ".syntax unified\n.import f\n.globl main\nmain:\n  push {lr}\n"
            "  bl f\n  pop {pc}\n")
    img = tmp_path / "m.img"
    asm_ok("-a", "arm", s, "-o", img)
    d = harness.imago("dump", img)
    assert re.search(r"^    00000004 ARM_CALL import:f \+0x0$", d.stdout, re.M), d.stdout


TOC_FORMS = [
    # (target, source, dump lines of its relocations: offset, kind, reference, addend)
    ("arm", ".syntax unified\n.import f\n.globl main\nmain:\n  ldr ip, =f@toc\n"
     "  movw r1, #:lower16:f@toc\n  movt r1, #:upper16:f@toc\n  bx lr\n",
     # the pool word after bx lr (offset 0x10), the movw/movt fields
     ["00000004 ARM_MOVW_ABS_NC toc:f +0x0", "00000008 ARM_MOVT_ABS toc:f +0x0",
      "00000010 ABS32 toc:f +0x0"]),
    ("aarch64", ".import f, g\n.globl main\nmain:\n  adrp x16, g@toc\n"
     "  ldr x16, [x16, #:lo12:g@toc]\n  br x16\n  .quad f@toc+8\n",
     ["00000000 AARCH64_ADR_PREL_PG_HI21 toc:g +0x0",
      "00000004 AARCH64_LDST64_ABS_LO12_NC toc:g +0x0", "0000000c ABS64 toc:f +0x8"]),
    ("i386", ".intel_syntax noprefix\n.import f\n.globl main\nmain:\n"
     "  call DWORD PTR [f@toc]\n  ret\n", ["00000002 ABS32 toc:f +0x0"]),
]


@pytest.mark.parametrize("case", range(len(TOC_FORMS)))
def test_dump_toc_forms(imago_bin, tmp_path, case):
    target, text, lines = TOC_FORMS[case]
    img = tmp_path / "t.img"
    asm_ok("-a", target, src(tmp_path, "t.s", text), "-o", img)
    d = harness.imago("dump", img)
    assert d.returncode == 0, d.stderr
    got = re.findall(r"^    ([0-9a-f]{8} \S+ \S+ [-+]0x[0-9a-f]+)$", d.stdout, re.M)
    for line in lines:
        assert line in got, "%r not in the relocations:\n%s" % (line, d.stdout)
    # an image with imports relocates only through the linker's TOC: --relocate places it
    r = harness.imago("dump", "--relocate", "0x10000", img)
    assert r.returncode == 0 and "toc at 0x" in r.stdout, r.stderr


def test_dump_local_reloc_names(imago_bin, tmp_path):
    s = src(tmp_path, "m.s", ".intel_syntax noprefix\n.globl main\nmain:\n  ret\n"
            "  .p2align 3\ntable:\n  .quad main\n")
    img = tmp_path / "m.img"
    asm_ok("-a", "x86_64", s, "-o", img)
    d = harness.imago("dump", img)
    assert re.search(r"^    00000008 ABS64 (main|\.text) \+0x0$", d.stdout, re.M), d.stdout


# ---- calls between modules, through the runtime linker ----

def test_run_two_modules_through_toc(imago_bin, tmp_path):
    if HOST != "x86_64":
        pytest.skip("the x86_64 source needs an x86_64 host")
    lib = src(tmp_path, "lib.s", ".intel_syntax noprefix\n.globl add3\nadd3:\n"
              "  lea rax, [rdi + 3]\n  ret\n")
    app = src(tmp_path, "app.s", ".intel_syntax noprefix\n.import add3\n.globl main\nmain:\n"
              "  sub rsp, 8\n  call QWORD PTR [rip + add3@toc]\n  add rsp, 8\n"
              "  add rax, rax\n  ret\n")
    img = tmp_path / "app.img"
    asm_ok("-m", "app", "-a", "x86_64", app, "-m", "lib", "-a", "x86_64", lib, "-o", img)
    p = run_ok(img, "10")
    assert p.stdout.strip() == str((10 + 3) * 2), p.stdout
    # a direct call to the import: bound when the module is loaded
    app2 = src(tmp_path, "app2.s", ".intel_syntax noprefix\n.import add3\n.globl main\nmain:\n"
               "  jmp add3\n")
    img2 = tmp_path / "app2.img"
    asm_ok("-m", "app", "-a", "x86_64", app2, "-m", "lib", "-a", "x86_64", lib, "-o", img2)
    assert run_ok(img2, "39").stdout.strip() == "42"


# (exporting module, importing module calling it through its TOC, a module calling an
# import nothing exports through its TOC, a module branching to such an import directly)
MODULES = {
    "x86_64": (".intel_syntax noprefix\n.globl add3\nadd3:\n  lea rax, [rdi + 3]\n  ret\n",
               ".intel_syntax noprefix\n.import add3\n.globl main\nmain:\n  sub rsp, 8\n"
               "  call QWORD PTR [rip + add3@toc]\n  add rsp, 8\n  add rax, rax\n  ret\n",
               ".intel_syntax noprefix\n.import nothere\n.globl main\nmain:\n  sub rsp, 8\n"
               "  call QWORD PTR [rip + nothere@toc]\n  add rsp, 8\n  ret\n",
               ".intel_syntax noprefix\n.import f\n.globl main\nmain:\n  jmp f\n"),
    "i386": (".intel_syntax noprefix\n.globl add3\nadd3:\n  mov eax, [esp + 4]\n"
             "  add eax, 3\n  ret\n",
             ".intel_syntax noprefix\n.import add3\n.globl main\nmain:\n"
             "  push DWORD PTR [esp + 4]\n  call DWORD PTR [add3@toc]\n  add esp, 4\n"
             "  add eax, eax\n  ret\n",
             ".intel_syntax noprefix\n.import nothere\n.globl main\nmain:\n"
             "  call DWORD PTR [nothere@toc]\n  ret\n",
             ".intel_syntax noprefix\n.import f\n.globl main\nmain:\n  jmp f\n"),
    "aarch64": (".globl add3\nadd3:\n  add x0, x0, #3\n  ret\n",
                ".import add3\n.globl main\nmain:\n  stp x29, x30, [sp, #-16]!\n"
                "  adrp x16, add3@toc\n  ldr x16, [x16, #:lo12:add3@toc]\n  blr x16\n"
                "  add x0, x0, x0\n  ldp x29, x30, [sp], #16\n  ret\n",
                ".import nothere\n.globl main\nmain:\n  stp x29, x30, [sp, #-16]!\n"
                "  adrp x16, nothere@toc\n  ldr x16, [x16, #:lo12:nothere@toc]\n  blr x16\n"
                "  ldp x29, x30, [sp], #16\n  ret\n",
                ".import f\n.globl main\nmain:\n  b f\n"),
    "arm": (".syntax unified\n.globl add3\nadd3:\n  add r0, r0, #3\n  bx lr\n",
            ".syntax unified\n.import add3\n.globl main\nmain:\n  push {r4, lr}\n"
            "  ldr ip, =add3@toc\n  ldr ip, [ip]\n  blx ip\n  add r0, r0, r0\n"
            "  pop {r4, pc}\n",
            ".syntax unified\n.import nothere\n.globl main\nmain:\n  push {r4, lr}\n"
            "  ldr ip, =nothere@toc\n  ldr ip, [ip]\n  blx ip\n  pop {r4, pc}\n",
            ".syntax unified\n.import f\n.globl main\nmain:\n  b f\n"),
}


def linked_cells():
    """(target, engine, in-process) for every engine this machine runs each target on."""
    return [(t, e, ip) for t in sorted(MODULES) for e in harness.engines_for(t)
            for ip in harness.inprocess(t, e)]


def cell_id(c):
    return "%s-%s%s" % (c[0], c[1], "-inprocess" if c[2] else "")


def run_cell(img, engine, in_process, *args):
    return harness.imago("run", img, "--engine", engine, *(["--in-process"] if in_process else []),
                         *args)


@pytest.mark.parametrize("cell", linked_cells(), ids=cell_id)
def test_run_modules_on_every_engine(imago_bin, tmp_path, cell):
    """Modules that import run through the runtime linker on every engine: in the target's
    runner (native, qemu), in imago's process, or in a unicorn guest."""
    target, engine, in_process = cell
    lib, app, _, _ = MODULES[target]
    other = "aarch64" if target != "aarch64" else "x86_64"
    img = tmp_path / "app.img"
    # a section of another target in module lib: only the target's sections are linked
    asm_ok("-m", "app", "-a", target, src(tmp_path, "app.s", app), "-m", "lib", "-a", target,
           src(tmp_path, "lib.s", lib), "-a", other, ret_src(tmp_path, other, 5), "-o", img)
    p = run_cell(img, engine, in_process, "-v", "10")
    assert p.returncode == 0, p.stderr
    m = re.match(r"module=app target=(\S+) engine=(\S+) base=0x([0-9a-f]+) entry=main "
                 r"result=(-?\d+)$", p.stdout.strip())
    assert m, p.stdout
    assert m.group(1) == target and m.group(2) == engine + "+link", p.stdout
    assert int(m.group(3), 16) != 0 and int(m.group(4)) == (10 + 3) * 2, p.stdout
    # the exporting module's own symbol, called through the same linked set
    p = run_cell(img, engine, in_process, "--module", "lib", "--target", target, "--entry",
                 "add3", "39")
    assert p.returncode == 0 and p.stdout.strip() == "42", p.stderr


@pytest.mark.parametrize("cell", linked_cells(), ids=cell_id)
def test_run_unresolved_import(imago_bin, tmp_path, cell):
    """An import nothing exports stops the run with status 70 and a message naming it: called
    through the TOC, at the call; branched to directly, when the module is loaded."""
    target, engine, in_process = cell
    _, _, lazy, direct = MODULES[target]
    img = tmp_path / "lazy.img"
    asm_ok("-a", target, src(tmp_path, "lazy.s", lazy), "-o", img)
    p = run_cell(img, engine, in_process)
    assert p.returncode == 70, (p.returncode, p.stdout, p.stderr)
    assert "import 'nothere' (TOC slot 0)" in p.stderr and "no module exports it" in p.stderr, \
        p.stderr
    img2 = tmp_path / "direct.img"
    asm_ok("-a", target, src(tmp_path, "direct.s", direct), "-o", img2)
    p = run_cell(img2, engine, in_process)
    assert p.returncode == 70 and "import 'f' (called directly at offset" in p.stderr and \
        "exported by no module" in p.stderr, (p.returncode, p.stderr)


def test_run_imports_refuse_base(imago_bin, tmp_path):
    target = foreign_target()
    img = tmp_path / "i.img"
    asm_ok("-a", target, src(tmp_path, "i.s", MODULES[target][3]), "-o", img)
    p = harness.imago("run", img, "--engine", "qemu", "--base", "0x20000000")
    assert p.returncode == 1 and "--base is not supported" in p.stderr, p.stderr


# ---- relocated operands against GNU as + ld ----

GNU_CASES = {
    "arm": (".syntax unified\n.globl main\nmain:\n  movw r0, #:lower16:data\n"
            "  movt r0, #:upper16:data\n  movw r1, #:lower16:data+0x1234\n"
            "  movt r1, #:upper16:data+0x7ff0\n  bx lr\ndata:\n  .word 5\n"),
    "aarch64": (".globl main\nmain:\n  adrp x0, data\n  add x0, x0, #:lo12:data\n"
                "  ldr x1, [x0, #:lo12:data]\n  ldr w2, [x0, :lo12:data+8]\n"
                "  ldrb w3, [x0, #:lo12:data+3]\n  ret\n  .p2align 4\n"
                "  .space 0x1ff0\ndata:\n  .quad 5\n  .quad 6\n"),
    "x86_64": (".intel_syntax noprefix\n.globl main\nmain:\n  lea rax, [rip + data]\n"
               "  mov eax, DWORD PTR [rip + data+4]\n  ret\ndata:\n  .long 5, 6\n"),
    "i386": (".intel_syntax noprefix\n.globl main\nmain:\n  mov eax, DWORD PTR [data]\n"
             "  lea ecx, [data+4]\n  ret\ndata:\n  .long 5, 6\n"),
}


def gnu_bytes(tmp_path, target, text, addr):
    spec = harness.TOOLS[target]
    s = tmp_path / ("g_%s.s" % target)
    s.write_text(text)
    o, e, b = (tmp_path / ("g_%s.%s" % (target, x)) for x in ("o", "elf", "bin"))
    for argv in (spec["as"] + [str(s), "-o", str(o)],
                 spec["ld"] + ["-Ttext=0x%x" % addr, "-e", "main", str(o), "-o", str(e)],
                 [spec["objcopy"], "-O", "binary", "-j", ".text", str(e), str(b)]):
        p = harness.run(argv)
        assert p.returncode == 0, "%s:\n%s" % (harness.shjoin(argv), p.stderr)
    return b.read_bytes()


def imago_bytes(img, addr):
    d = harness.imago("dump", "--relocate", "0x%x" % addr, img)
    assert d.returncode == 0, d.stderr
    rows = re.findall(r"^  [0-9a-f]{8}  (.*)$", d.stdout, re.M)
    return bytes.fromhex("".join(r.replace(" ", "") for r in rows))


@pytest.mark.parametrize("target", sorted(GNU_CASES))
@pytest.mark.parametrize("addr", [0x10000, 0x12345000])
def test_relocated_operands_match_gnu_ld(imago_bin, tmp_path, target, addr):
    missing = harness.missing_tools(target, ("as", "ld", "objcopy"))
    if missing:
        pytest.skip("missing %s" % ", ".join(missing))
    text = GNU_CASES[target]
    s = src(tmp_path, "c.s", text)
    img = tmp_path / "c.img"
    asm_ok("-a", target, s, "-o", img)
    want = gnu_bytes(tmp_path, target, text, addr)
    got = imago_bytes(img, addr)
    assert got == want, "%s at 0x%x:\nimago %s\nGNU   %s" % (target, addr, got.hex(), want.hex())
