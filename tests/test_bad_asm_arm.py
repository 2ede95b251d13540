"""Bad armhf input to `imago asm -a arm` (directives and literal pools) is refused as
tests/test_bad_input.py expects of any bad input: a non-zero exit, `FILE:LINE: error:
REASON` naming the line and what was wrong, and no output file left behind (nor a
temporary one). Where GNU as rejects the same line, the test checks that too, so the
input is known to be wrong; where GNU as accepts it (.syntax divided, an architecture
imago does not assemble for, a literal wider than 32 bits, which GNU as truncates), the
test checks GNU as takes that line, and the reason must say what imago does not support.
"""

import os
import re

import pytest

import harness

HEAD = [".syntax unified", ".arm", ".text", "main:", "    mov r0, #1"]

# name: (lines after HEAD, the first of them is at fault unless `at` says which,
#        a word the reason must contain, whether GNU as rejects the line too, at)
CASES = {
    "unknown-arch": ([".arch armv99"], "armv99", True, 0),
    "arch-case": ([".arch ARMV7-A"], "ARMV7-A", True, 0),  # GNU matches names case-sensitively
    "unsupported-arch": ([".arch armv8-m.main"], "armv8-m.main", False, 0),
    "armv7-thumb-only": ([".arch armv7"], "armv7", False, 0),  # GNU as: no ARM instruction there
    "row-needs-v4t": ([".arch armv4", "bx lr"], "ARMv4T", True, 1),
    "row-needs-v4t-after-arch": ([".arch armv7-a", ".arch armv4xm", "bxne r0"], "armv4xm", True, 2),
    "unknown-extension": ([".arch_extension foo"], "foo", True, 0),
    "extension-not-allowed": ([".arch armv6", ".arch_extension mp"], "mp", True, 1),
    "extension-no-not-allowed": ([".arch armv5t", ".arch_extension nofp"], "nofp", True, 1),
    "unknown-fpu": ([".fpu vfpv9"], "vfpv9", True, 0),
    "syntax-divided": ([".syntax divided"], "unified", False, 0),
    "syntax-unknown": ([".syntax foo"], "foo", True, 0),
    "thumb-func": ([".thumb_func"], "Thumb", False, 0),
    "pool-out-of-reach": (["ldr r0, =0x12345678", ".space 4100"], "pool", True, 0),
    "pool-out-of-reach-cond": (["ldrne r1, =main", "b main", ".space 4096"], "pool", True, 0),
    "literal-too-wide": (["ldr r0, =0x123456789"], "32 bits", False, 0),
    "literal-bad-register": (["ldr r16, =5"], "register", True, 0),
    "literal-undefined": (["ldr r0, =nowhere"], "nowhere", False, 0),
    "note-section-content": ([".section .note.GNU-stack,\"\",%progbits", "mov r0, r0"],
                             ".note.GNU-stack", False, 1),
}


def listing(d):
    return sorted(os.listdir(d))


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("mode", ["image", "raw"])
def test_asm_arm_error(imago_bin, tmp_path, case, mode):
    body, word, gnu_rejects, at = CASES[case]
    src = tmp_path / "bad.s"
    src.write_text("\n".join(HEAD + body + ["    bx lr", ""]))
    line = len(HEAD) + 1 + at
    out = tmp_path / ("out.img" if mode == "image" else "out.bin")
    args = ["asm", "-a", "arm"] + (["--raw"] if mode == "raw" else []) + [str(src), "-o", str(out)]
    before = listing(tmp_path)
    p = harness.imago(*args)
    assert p.returncode > 0, "imago %s exited %d on %s" % (" ".join(args), p.returncode, case)
    m = re.search(r"^%s:(\d+): error: (.+)$" % re.escape(str(src)), p.stderr, re.M)
    assert m, "no `%s:LINE: error: REASON` line on stderr:\n%s" % (src, p.stderr)
    assert int(m.group(1)) == line, "error names line %s, the fault is on line %d:\n%s" % (
        m.group(1), line, p.stderr)
    assert word in m.group(2), "the reason does not name %r: %s" % (word, m.group(2))
    assert not out.exists(), "imago asm left %s behind after an error" % out.name
    assert listing(tmp_path) == before, "files left behind: %s" % (
        set(listing(tmp_path)) - set(before))

    if harness.missing_tools("arm", ("as",)):
        return
    g = harness.run(harness.TOOLS["arm"]["as"] + ["-o", str(tmp_path / "g.o"), str(src)])
    if gnu_rejects:
        assert g.returncode != 0 and (":%d: Error:" % line) in g.stderr, \
            "premise: GNU as should reject line %d too:\n%s" % (line, g.stderr)
    else:
        assert (":%d: Error:" % line) not in g.stderr, \
            "premise: GNU as accepts line %d:\n%s" % (line, g.stderr)


@pytest.mark.parametrize("reg", ["d16", "d31"])
def test_asm_arm_d32_register(imago_bin, tmp_path, reg):
    """After .fpu vfpv3-d16, d16-d31 are refused in a VFP instruction, as GNU as refuses
    them (q8-q15 too, but every FPU without d16-d31 lacks NEON: a NEON row is refused for
    that first); with the default FPU (neon) the same line assembles. Skipped
    while the A32 table has no vmov row to write them in."""
    text = "vmov.f64 %s, d0" % reg
    good = tmp_path / "good.s"
    good.write_text("\n".join(HEAD + ["    " + text, "    bx lr", ""]))
    p = harness.imago("asm", "-a", "arm", "--raw", str(good), "-o", str(tmp_path / "g.bin"))
    if "unknown mnemonic" in p.stderr or "invalid operands" in p.stderr:
        pytest.skip("the A32 table has no row for `%s` yet" % text)
    assert p.returncode == 0, p.stderr
    bad = tmp_path / "bad.s"
    bad.write_text("\n".join(HEAD + [".fpu vfpv3-d16", "    " + text, "    bx lr", ""]))
    out = tmp_path / "out.bin"
    p = harness.imago("asm", "-a", "arm", "--raw", str(bad), "-o", str(out))
    line = len(HEAD) + 2
    assert p.returncode > 0 and (":%d: error:" % line) in p.stderr and reg in p.stderr, p.stderr
    assert not out.exists()
    if not harness.missing_tools("arm", ("as",)):
        g = harness.run(harness.TOOLS["arm"]["as"] + ["-o", str(tmp_path / "g.o"), str(bad)])
        assert (":%d: Error:" % line) in g.stderr, "premise: GNU as refuses it:\n" + g.stderr
