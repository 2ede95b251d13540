"""`imago asm -a arm` reads armhf assembly files as GNU as reads them: the directives
gcc and people write (.syntax, .arch, .arch_extension, .fpu, .arm, .eabi_attribute,
.type, .size, .fnstart, the .note.GNU-stack marker, ...) and `ldr rN, =value` with its
literal pools (mov or mvn when the value allows it, else a word of the pool, placed at
.ltorg/.pool and at the end of the section, equal values shared).

Each file is assembled by GNU as (harness.TOOLS["arm"]["as"], then whatever the file's own
directives select) and linked at address 0 (`ld -Ttext=0`, so a pool word holding a
label's address is relocated as imago's --raw output is), and by `imago asm -a arm --raw`;
the .text bytes must be the same. The C files are compiled at test time by
arm-linux-gnueabihf-gcc -S -marm (skipped when it is absent).
"""

import os

import pytest

import harness

HEAD = ".syntax unified\n.arm\n.text\n"

# Hand-written files. Each exercises something named in its comment; the checks on GNU's
# side below (`expect`) make sure the premise holds (the pool is there, relocated, ...).
FILES = {
    # mov/mvn-encodable values, a pool with shared and distinct values, conditions
    "pool-basic": (HEAD + """
f:
    ldr r0, =0x1234          @ pool
    ldr r1, =0xff000000      @ mov
    ldr r2, =-1              @ mvn r2, #0
    ldr r3, =0x12345678      @ pool
    ldreq r4, =0x12345678    @ shares r3's word
    ldrne r5, =0xffffff00    @ mvn
    ldrhs r6, =256           @ mov
    ldr r7, =0x12345678+1    @ a new word
    ldrlt r8, =0x1234        @ shares r0's word
    ldr pc, =0x10000         @ mov pc
    bx lr
""", ()),
    # GNU as keeps a negated constant and its unsigned spelling apart, and shares
    # spellings of the same signedness
    "pool-signedness": (HEAD + """
    ldr r0, =0xfffedcbb
    ldr r1, =-0x12345
    ldr r2, =0-0x12345
    ldr r3, =-0x12345+0
    ldr r4, =4294892731
    ldr r5, =0x12346-1
    ldr r6, =0x12345
    bx lr
""", ()),
    # label addresses (relocated words), label+const, shared label entries
    "pool-labels": (HEAD + """
start:
    ldr r0, =start
    ldr r1, =end
    ldr r2, =start+8
    ldr r3, =end - 4
    ldrgt r4, =start
    ldr r5, =data
    bx lr
data:
    .word 7, 8
end:
""", ("R_ARM_ABS32",)),
    # spellings: unary plus, spaces, the label last or first, upper case
    "pool-spellings": (HEAD + """
    ldr r0, =+0x12345
    ldr r1, =0x12345
    ldr r2, = lab + 4
    ldr r3, =lab+4
    ldr r4, =4+lab
    LDR R5, =0X12345
lab: bx lr
""", ("R_ARM_ABS32",)),
    # .ltorg and .pool: padding to a word boundary after .byte data, empty pools,
    # no sharing across pools, the pool at the section's end after a label
    "pool-ltorg": (HEAD + """
    ldr r0, =0x12345678
    ldr r1, =0xabcdef01
    b after
    .byte 1
    .ltorg
after: ldr r2, =0x12345678      @ a new pool: not shared with the first
    .ltorg
    .ltorg                   @ empty: nothing
    ldr r3, =0x0badf00d
    .short 5
    .pool
    ldr r4, =0x55555555
    mov r0, r0
    .byte 1, 2, 3
tail:
""", ()),
    # a word right at pc: GNU as writes "ldr rN, [pc, #-0]" (U clear), and a word at pc-4
    "pool-at-pc": (HEAD + """
    ldr r0, =0x11111111
    mov r0, r0
    .ltorg
    ldr r1, =0x22222222
    .ltorg
    ldr r2, =here
    mov r0, r0
here:
""", ()),
    # the pool at the end after data that leaves the section unaligned
    "pool-end-unaligned": (HEAD + """
    ldr r0, =0x12345678
    ldr r1, =0x9abcdef0
    .byte 1
""", ()),
    # the farthest reach: the word 4092 bytes past pc (+8) and one at 4095 after data
    "pool-far": (HEAD + """
    ldr r0, =0x12345678
    ldrcs r1, =0x87654321
    .space 4080
    .ltorg
    ldr r2, =0x13579bdf
    .space 4091
    .ltorg
""", ()),
    # code padding: GNU as pads with nop when the architecture in effect at the end of
    # the file has ARMv6K, else with mov r0, r0 (the "directives" file ends with armv6)
    "align-nop-by-last-arch": (HEAD + """
.arch armv5te
    mov r0, #1
    .p2align 4
    mov r0, #2
    .balign 16
    bx lr
.arch armv6zk
""", ()),
    # a row that names a feature (bx: ARMv4T) where the architecture has it
    "arch-v4t-bx": (HEAD + """
.arch armv4t
    bx lr
    bxeq r3
.arch armv5te
    bx r0
.arch armv7-a
    bx r1
""", ()),
    # the directives of armhf files
    "directives": (""".arch armv7-a
.arch_extension idiv
.arch_extension nosec
.fpu vfpv3-d16
.eabi_attribute 28, 1
.eabi_attribute 20, 1
.file "x.c"
.syntax unified
.text
.align 2
.global f
.arm
.code 32
.type f, %function
f:
    .fnstart
    .cfi_startproc
    push {r4, lr}
    .save {r4, lr}
    ldr r0, =f
    pop {r4, pc}
    .cfi_endproc
    .fnend
    .size f, .-f
.section .text
.p2align 3
.arch armv7ve
.fpu neon-vfpv4
g:  ldr r1, =0xdeadbeef
    bx lr
.arch armv6
.fpu vfp
    mov r0, #1
.ident "GCC: (x) 1"
.section .note.GNU-stack,"",%progbits
""", ("R_ARM_ABS32",)),
}

# C functions compiled with gcc -S -marm (no PIC: the calls are then plain bl/b)
C_SOURCE = r"""
int add3(int a, int b, int c) { return a + b - c; }
static __attribute__((noinline)) int plus7(int x) { return x + 7; }
int call(int x) { return plus7(x) + 1; }
void store(int *p, int v) { p[3] = v; p[-1] = 255; }
int load(const int *p) { return p[5] + p[-2]; }
int minus_one(void) { return -1; }
int tail(int x) { return plus7(x + 4); }
"""
GCC_FLAGS = {
    "O2": ["-O2"],
    "Os-unwind": ["-Os", "-funwind-tables"],
    "O1-armv7ve-neon-vfpv4": ["-O1", "-march=armv7ve", "-mfpu=neon-vfpv4"],
    "O2-armv6-vfp": ["-O2", "-march=armv6", "-mfpu=vfp"],
    # .cpu NAME, then the .arch, .arch_extension and .fpu of that CPU
    "O2-cortex-a9": ["-O2", "-mcpu=cortex-a9"],
    "O2-cortex-a7": ["-O2", "-mcpu=cortex-a7"],
    "O2-arm1176jzf-s": ["-O2", "-mcpu=arm1176jzf-s"],
}


def gnu_text(src, tmp_path):
    """.text of src as GNU as makes it, linked at 0; and the object's relocations."""
    spec = harness.TOOLS["arm"]
    obj, elf, raw = (str(tmp_path / ("gnu" + x)) for x in (".o", ".elf", ".bin"))
    for argv in (spec["as"] + ["-o", obj, src],
                 spec["ld"] + ["-Ttext=0", "-e", "0", "--unresolved-symbols=ignore-all",
                               "-o", elf, obj],
                 [spec["objcopy"], "-O", "binary", "-j", ".text", elf, raw]):
        p = harness.run(argv)
        if p.returncode != 0:
            pytest.fail("`%s` failed: %s" % (harness.shjoin(argv), p.stderr.strip()),
                        pytrace=False)
    relocs = harness.run([spec["objdump"], "-r", "-j", ".text", obj]).stdout
    with open(raw, "rb") as f:
        return f.read(), relocs


def imago_text(src, tmp_path):
    out = str(tmp_path / "imago.bin")
    p = harness.imago("asm", "-a", "arm", "--raw", src, "-o", out)
    if p.returncode != 0 or not os.path.exists(out):
        pytest.fail("imago asm -a arm --raw %s exited %d: %s"
                    % (src, p.returncode, p.stderr.strip()), pytrace=False)
    with open(out, "rb") as f:
        return f.read()


def compare(src, tmp_path, want_relocs=()):
    gnu, relocs = gnu_text(src, tmp_path)
    for r in want_relocs:
        assert r in relocs, "premise: GNU's object should hold a %s relocation:\n%s" % (r, relocs)
    got = imago_text(src, tmp_path)
    if got != gnu:
        words = max(len(got), len(gnu))
        bad = ["  +0x%04x: imago %s, GNU as %s" % (i, got[i:i + 4].hex() or "-",
                                                  gnu[i:i + 4].hex() or "-")
               for i in range(0, words, 4) if got[i:i + 4] != gnu[i:i + 4]]
        pytest.fail("%s: imago %d bytes, GNU as %d; differing words:\n%s"
                    % (os.path.basename(src), len(got), len(gnu), "\n".join(bad[:20])),
                    pytrace=False)


def need(*roles):
    missing = harness.missing_tools("arm", roles)
    if missing:
        pytest.skip("missing %s" % ", ".join(missing))


@pytest.mark.kind("encoding")
@pytest.mark.parametrize("target", ["arm"])
@pytest.mark.parametrize("name", sorted(FILES))
def test_asm_arm_file(imago_bin, tmp_path, target, name):
    need("as", "ld", "objcopy", "objdump")
    text, relocs = FILES[name]
    src = tmp_path / (name + ".s")
    src.write_text(text)
    compare(str(src), tmp_path, relocs)


@pytest.mark.kind("encoding")
@pytest.mark.parametrize("target", ["arm"])
@pytest.mark.parametrize("flags", sorted(GCC_FLAGS))
def test_asm_arm_gcc(imago_bin, tmp_path, target, flags):
    need("as", "ld", "objcopy", "objdump")
    cc = harness.TOOLS["arm"]["cc"]
    if not harness.have(cc):
        pytest.skip("%s is not installed: no gcc -S output to read" % cc)
    c = tmp_path / "f.c"
    c.write_text(C_SOURCE)
    src = str(tmp_path / "f.s")
    argv = [cc, "-S", "-marm", "-fno-pie", "-o", src, str(c)] + GCC_FLAGS[flags]
    p = harness.run(argv)
    assert p.returncode == 0, "`%s` failed: %s" % (harness.shjoin(argv), p.stderr)
    compare(src, tmp_path)


# Every architecture name GNU as 2.40 knows. imago takes the ARM-state ones up to ARMv7-A
# and refuses the rest at the .arch line (docs/asm.md).
ARCHES_SUPPORTED = [
    "armv4", "armv4xm", "armv4t", "armv4txm", "armv5", "armv5t", "armv5txm", "armv5te",
    "armv5texp", "armv5tej", "armv6", "armv6j", "armv6k", "armv6z", "armv6kz", "armv6zk",
    "armv6t2", "armv6zt2", "armv6kt2", "armv6kzt2", "armv6zkt2", "armv7-a", "armv7a", "armv7ve",
]
ARCHES_REFUSED = [
    "armv1", "armv2", "armv2a", "armv2s", "armv3", "armv3m", "armv6-m", "armv6s-m", "armv7",
    "armv7-r", "armv7-m", "armv7e-m", "armv8-a", "armv8.1-a", "armv8.2-a", "armv8.3-a",
    "armv8.4-a", "armv8.5-a", "armv8.6-a", "armv8.7-a", "armv8.8-a", "armv8-m.base",
    "armv8-m.main", "armv8.1-m.main", "armv8-r", "armv9-a", "armv9.1-a", "armv9.2-a",
    "armv9.3-a", "xscale", "iwmmxt", "iwmmxt2",
]


@pytest.mark.kind("encoding")
@pytest.mark.parametrize("target", ["arm"])
def test_asm_arm_arch_names(imago_bin, tmp_path, target):
    """Each name: GNU as knows it; for the names imago takes, a row that names a feature
    (bx: ARMv4T) is taken or refused as GNU as takes or refuses it, with the same bytes;
    the others imago refuses at the .arch line."""
    need("as", "ld", "objcopy", "objdump")
    bad = []
    for name in ARCHES_SUPPORTED + ARCHES_REFUSED:
        src = tmp_path / ("%s.s" % name)
        src.write_text(HEAD + ".arch %s\n    bx lr\n    mov r0, #1\n" % name)
        obj = str(tmp_path / "gnu.o")
        g = harness.run(harness.TOOLS["arm"]["as"] + ["-o", obj, str(src)])
        if ":4: Error:" in g.stderr:
            bad.append("%s: premise: GNU as does not know it: %s" % (name, g.stderr.strip()))
            continue
        out = str(tmp_path / "imago.bin")
        p = harness.imago("asm", "-a", "arm", "--raw", str(src), "-o", out)
        if name in ARCHES_REFUSED:
            if p.returncode == 0 or ":4: error:" not in p.stderr or name not in p.stderr:
                bad.append("%s: imago should refuse the .arch line: %s" % (name, p.stderr.strip()))
            continue
        gnu_ok = g.returncode == 0
        if gnu_ok != (p.returncode == 0):
            bad.append("%s: GNU as %s bx, imago %s: %s" % (
                name, "takes" if gnu_ok else "refuses", "takes" if p.returncode == 0 else
                "refuses", (g.stderr + p.stderr).strip()))
        elif not gnu_ok and ":5: error:" not in p.stderr:
            bad.append("%s: imago's error should name line 5 (bx): %s" % (name, p.stderr.strip()))
        elif gnu_ok:
            gnu, _ = gnu_text(str(src), tmp_path)
            with open(out, "rb") as f:
                if f.read() != gnu:
                    bad.append("%s: other bytes than GNU as" % name)
    assert not bad, "\n".join(bad)
