"""The conformance checks can fail: each self-test injects one fault, runs the
real conformance tests (narrowed with -k) in a subprocess and asserts that they
go red for the right reason, and, where it matters, that the same selection
without the fault does not fail that way (so the fault is what they caught).

(a) A wrong bit in one table row of each architecture (A64, A32 and x86: any row, drawn
    at random each run, IMAGO_SELFTEST_SEED=N to repeat a draw): encoders/ is copied, one
    fixed bit flipped (A64 and A32: any bit of the row's mask that no operand field
    places, in any encoders/a64/*.tbl or encoders/a32/*.tbl; x86: bit 3 of the last
    opcode byte), imago rebuilt from the copy (make BUILD=... TABLES=...), and
    test_encodings.py run against the mutant, on that form's vectors (--form), must name
    that form.
(b) A skipped relocation: IMAGO_FAULT_STRIP_RELOCS=1 makes the program tests
    strip the relocation records from their images; the reloc program must fail
    and the seed programs must not.
(c) A wrong expected value: IMAGO_FAULT_EXPECT_DELTA=1 must fail every program
    test it touches.
"""

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import harness

ROOT = harness.ROOT


def run_conformance(tmp, args, env_extra=None, imago=None, name="run", root=ROOT):
    """Run the conformance suite of the tree at root in a subprocess; returns (exit
    code, output, {test id: outcome})."""
    xml = os.path.join(tmp, name + ".xml")
    env = dict(os.environ)
    env.pop("PYTEST_XDIST_WORKER", None)
    env["IMAGO_REPORT"] = os.path.join(tmp, name + ".json")
    env["IMAGO_VECTORS_DIR"] = os.path.join(tmp, name + "-vectors")  # not the shared build/vectors
    if imago:
        env["IMAGO_BIN"] = imago
    env.update(env_extra or {})
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
            "--junitxml", xml] + args
    p = subprocess.run(argv, cwd=root, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=900,
                       preexec_fn=harness.no_core_files)  # faults are injected on purpose
    outcomes = {}
    if os.path.exists(xml):
        for tc in ET.parse(xml).getroot().iter("testcase"):
            tid = tc.get("name")
            if tc.find("failure") is not None or tc.find("error") is not None:
                outcomes[tid] = "failed"
            elif tc.find("skipped") is not None:
                outcomes[tid] = "skipped"
            else:
                outcomes[tid] = "passed"
    return p.returncode, p.stdout, outcomes


# ---- (a) a wrong bit in a table row ---------------------------------------------

X86_ROWS = ["add_rm32_r32", "sub_rm32_r32", "mov_rm32_r32"]


def _rows(path):
    """(line index, id, fields) of every table row of a .tbl file."""
    out = []
    with open(path) as f:
        lines = f.read().split("\n")
    for i, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [x.strip() for x in line.split("|")]
        if len(fields) >= 3:
            out.append((i, fields[0], fields))
    return lines, out


def _a64_tokens(enc):
    """(token, its fixed bits or None, its width) of an A64 (or A32: the same encoding
    syntax) encoding, bit 31 first; None when a token is not one gentables reads."""
    out = []
    for tok in enc.split():
        if re.fullmatch(r"[01]+", tok):
            out.append((tok, tok, len(tok)))
            continue
        m = re.fullmatch(r"\w+:(\d+)", tok)
        if m:
            out.append((tok, None, int(m.group(1))))
            continue
        m = re.fullmatch(r"\w+\[(\d+)(?::(\d+))?\]", tok)
        if not m:
            return None
        out.append((tok, None, int(m.group(1)) - int(m.group(2) or m.group(1)) + 1))
    return out


def a64_fixed_bits(enc):
    """The bit numbers (31..0) of an A64 encoding's fixed bits: every bit of the row's
    mask that no operand field places."""
    toks, pos, out = _a64_tokens(enc), 32, []
    for _tok, fixed, width in toks or []:
        if fixed is not None:
            out += range(pos - 1, pos - 1 - width, -1)
        pos -= width
    return out if toks and pos == 0 else []


def flip_a64_bit(enc, bit):
    """enc with fixed bit number `bit` (31..0) inverted, the rest as written."""
    pos, out = 32, []
    for tok, fixed, width in _a64_tokens(enc):
        if fixed is not None and pos - width <= bit < pos:
            j = pos - 1 - bit
            tok = tok[:j] + ("1" if tok[j] == "0" else "0") + tok[j + 1:]
        out.append(tok)
        pos -= width
    return " ".join(out)


def flip_x86(enc):
    """Flip bit 3 of the last plain opcode byte (e.g. add 01 -> or 09)."""
    toks = enc.split()
    idx = [i for i, t in enumerate(toks)
           if re.fullmatch(r"[0-9A-Fa-f]{2}", t) and t not in ("cb", "cd")]  # not rel8/rel32
    if not idx:
        return None
    i = idx[-1]
    toks[i] = "%02X" % (int(toks[i], 16) ^ 0x08)
    return " ".join(toks)


def mutate(tables, arch, prefer, flip):
    """Flip a bit in the first preferred row found under tables/arch (any .tbl file);
    returns (form id, old encoding, new encoding, flags)."""
    for want in prefer + [None]:
        for tbl in sorted(os.listdir(os.path.join(tables, arch))):
            if not tbl.endswith(".tbl"):
                continue
            path = os.path.join(tables, arch, tbl)
            lines, rows = _rows(path)
            for i, rid, fields in rows:
                if want is not None and rid != want:
                    continue
                new = flip(fields[2])
                if new is None:
                    continue
                parts = lines[i].split("|")
                parts[2] = " " + new + (" " if len(parts) > 3 else "")
                lines[i] = "|".join(parts)
                with open(path, "w") as f:
                    f.write("\n".join(lines))
                return rid, fields[2], new, fields[3].split() if len(fields) > 3 else []
    raise AssertionError("no row to mutate in %s/%s" % (tables, arch))


def any_x86_row(tables, seed):
    """One x86 row drawn at random (IMAGO_SELFTEST_SEED, else a new seed each run) among
    every row whose encoding has a plain opcode byte: the self-test plants its wrong bit
    in any row, not only in a few chosen ones."""
    import random
    rows = []
    for tbl in sorted(os.listdir(os.path.join(tables, "x86"))):
        if tbl.endswith(".tbl"):
            _, rs = _rows(os.path.join(tables, "x86", tbl))
            rows += [rid for _, rid, fields in rs
                     if "{cc}" not in rid and flip_x86(fields[2]) is not None]
    return random.Random(seed).choice(rows)


def any_a64_row(tables, seed):
    """One A64 row of any encoders/a64/*.tbl and one of its fixed bits, drawn at random
    (IMAGO_SELFTEST_SEED, else a new seed each run): (form id, fixed bit)."""
    import random
    rng = random.Random("a64:%s" % seed)
    rows = []
    for tbl in sorted(os.listdir(os.path.join(tables, "a64"))):
        if tbl.endswith(".tbl"):
            _, rs = _rows(os.path.join(tables, "a64", tbl))
            rows += [(rid, fields[2]) for _, rid, fields in rs if a64_fixed_bits(fields[2])]
    assert rows, "no A64 row with fixed bits under %s" % tables
    rid, enc = rng.choice(rows)
    return rid, rng.choice(a64_fixed_bits(enc))


def any_a32_row(tables, seed):
    """One A32 row of any encoders/a32/*.tbl (every area's table, whichever there are) and
    one of its fixed bits, drawn at random (IMAGO_SELFTEST_SEED, else a new seed each
    run): (form id, fixed bit). The encodings have A64's syntax: the same helpers read
    and flip them."""
    import random
    rng = random.Random("a32:%s" % seed)
    rows = []
    for tbl in sorted(os.listdir(os.path.join(tables, "a32"))):
        if tbl.endswith(".tbl"):
            _, rs = _rows(os.path.join(tables, "a32", tbl))
            rows += [(rid, fields[2]) for _, rid, fields in rs if a64_fixed_bits(fields[2])]
    assert rows, "no A32 row with fixed bits under %s" % tables
    rid, enc = rng.choice(rows)
    return rid, rng.choice(a64_fixed_bits(enc))


@pytest.fixture(scope="module")
def mutant(tmp_path_factory, imago_bin):
    """imago built from a copy of encoders/ with one bit flipped in an A64 row, one in
    an A32 row and one in an x86 row."""
    tmp = str(tmp_path_factory.mktemp("mutant"))
    tables = os.path.join(tmp, "encoders")
    shutil.copytree(os.path.join(ROOT, "encoders"), tables)
    seed = os.environ.get("IMAGO_SELFTEST_SEED") or str(random_seed())
    a64_row, a64_bit = any_a64_row(tables, seed)
    a64 = mutate(tables, "a64", [a64_row], lambda enc: flip_a64_bit(enc, a64_bit))
    a32_row, a32_bit = any_a32_row(tables, seed)
    a32 = mutate(tables, "a32", [a32_row], lambda enc: flip_a64_bit(enc, a32_bit))
    x86 = mutate(tables, "x86", [any_x86_row(tables, seed)], flip_x86)
    build = os.path.join(tmp, "build")
    target = os.path.join(build, "bin", "imago")
    p = subprocess.run(["make", "-C", ROOT, "-j2", "--no-print-directory", "BUILD=" + build,
                        "TABLES=" + tables, target], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=900)
    assert p.returncode == 0 and os.path.exists(target), \
        "building the mutant imago failed (flipped %s: %s -> %s, %s: %s -> %s, " \
        "%s: %s -> %s):\n%s" % (a64[:3] + a32[:3] + x86[:3] + (p.stdout[-4000:],))
    return {"imago": target, "aarch64": a64, "arm": a32, "x86": x86, "seed": seed, "tmp": tmp}


def random_seed():
    return int.from_bytes(os.urandom(4), "little")


@pytest.mark.parametrize("arch", ["aarch64", "arm", "x86"])
def test_wrong_table_bit_is_caught(mutant, arch, tmp_path):
    """Any row of each architecture, drawn at random (the seed is in the message;
    IMAGO_SELFTEST_SEED=N repeats a draw). The run is narrowed to that row's vectors
    (--form), on the target the row exists on."""
    form, old, new, flags = mutant[arch]
    target = arch if arch != "x86" else ("i386" if "x32" in flags else "x86_64")
    env = {"IMAGO_VECTORS_ARGS": "--form " + form}
    sel = ["conformance/test_encodings.py", "-k", "test_encodings and %s" % target]
    rc, out, _ = run_conformance(str(tmp_path), sel, env_extra=env, imago=mutant["imago"],
                                 name="mutant")
    assert rc == 1, "conformance passed (exit %d) with %s row %s changed from %r to %r " \
        "(IMAGO_SELFTEST_SEED=%s):\n%s" % (rc, target, form, old, new, mutant["seed"],
                                            out[-4000:])
    assert re.search(r"^%s form %s \(vectors line \d+\):" % (target, re.escape(form)), out, re.M), \
        "the mismatch report does not name form %s:\n%s" % (form, out[-6000:])
    assert "expected (GNU as):" in out and "actual   (imago) :" in out and "reproduce:" in out
    # Control: the real imago does not report this form.
    rc0, out0, _ = run_conformance(str(tmp_path), sel, env_extra=env, name="control")
    assert not re.search(r"^%s form %s \(" % (target, re.escape(form)), out0, re.M), \
        "control: the unmutated imago already mismatches form %s:\n%s" % (form, out0[-4000:])


# ---- (b) a skipped relocation -----------------------------------------------------

# imago asm's images and the images made from GNU's output, on every x86_64 engine.
PROGRAM_SEL = ["conformance/test_programs.py", "-k",
               "x86_64 and (test_program or test_gnu_image) and not bytes"]


def test_skipped_relocation_is_caught(imago_bin, tmp_path):
    rc, out, outcomes = run_conformance(str(tmp_path), PROGRAM_SEL,
                                        {"IMAGO_FAULT_STRIP_RELOCS": "1"}, name="norelocs")
    assert outcomes, "no test ran:\n" + out[-4000:]
    assert "FAULT INJECTION ACTIVE: IMAGO_FAULT_STRIP_RELOCS" in out
    reloc = {t: o for t, o in outcomes.items() if "-reloc-" in t}
    others = {t: o for t, o in outcomes.items() if "-reloc-" not in t}
    assert rc == 1, "conformance passed with relocations stripped:\n" + out[-4000:]
    nonzero = [t for t in reloc if not t.endswith("-default]")]
    assert nonzero and all(reloc[t] == "failed" for t in nonzero), \
        "reloc tests at non-zero bases did not all fail: %s\n%s" % (reloc, out[-4000:])
    # The fault breaks only what needs relocating; compare with a clean run.
    rc0, out0, outcomes0 = run_conformance(str(tmp_path), PROGRAM_SEL, name="clean")
    for t, o in others.items():
        assert o == outcomes0.get(t), "%s: %s with relocations stripped, %s without" % (
            t, o, outcomes0.get(t))
    for t in nonzero:
        assert outcomes0.get(t) == "passed", \
            "control: %s fails even with its relocations:\n%s" % (t, out0[-4000:])


# ---- (c) a wrong expected value ------------------------------------------------------


def test_wrong_expected_value_is_caught(imago_bin, tmp_path):
    sel = ["conformance/test_programs.py", "-k", "x86_64 and native and not bytes"]
    rc, out, outcomes = run_conformance(str(tmp_path), sel, {"IMAGO_FAULT_EXPECT_DELTA": "1"},
                                        name="delta")
    assert rc == 1, "conformance passed with every expected value off by one:\n" + out[-4000:]
    assert outcomes and all(o == "failed" for o in outcomes.values()), \
        "some tests passed with wrong expected values: %s" % outcomes
    gnu = [t for t in outcomes if t.startswith("test_gnu_program")]
    assert gnu, "no gnu-program test ran: %s" % sorted(outcomes)
    assert "returns 42 on native, the file expects 43" in out, out[-4000:]
    # Whatever passes without the fault fails with it.
    rc0, out0, outcomes0 = run_conformance(str(tmp_path), sel, name="clean")
    passed = [t for t, o in outcomes0.items() if o == "passed"]
    assert set(gnu) <= set(passed), "control: GNU-built programs fail:\n" + out0[-4000:]
    if "test_program[x86_64-native-seed-default]" in passed:
        assert "result 42, expected 43" in out, out[-4000:]


# ---- (c2) a wrong result from one engine in the state check --------------------------


@pytest.mark.parametrize("target,sel,reg,versus", [
    ("x86_64", "x86_64 and (unicorn or qemu)", "rax", "native"),
    ("aarch64", "aarch64 and (unicorn or qemu) and not scaffold", "x0", ""),
    ("arm", "arm and (unicorn or qemu) and not scaffold", "r0", ""),
])
def test_state_check_sees_a_wrong_result(imago_bin, tmp_path, target, sel, reg, versus):
    """IMAGO_FAULT_STATE_DROP=unicorn: one byte of unicorn's copy-back of the data block
    (the low byte of a case's out rax / x0 / r0) is lost, so unicorn reports a wrong result;
    the state check's unicorn cells (compared with native on x86; on arm and aarch64 with
    qemu, or native on such a machine) must fail and name the register, and the qemu cells
    pass."""
    sel = ["conformance/test_state.py", "-k", sel]
    env = {"IMAGO_FAULT_STATE_DROP": "unicorn", "IMAGO_STATE_CASES": "4"}
    rc, out, outcomes = run_conformance(str(tmp_path), sel, env, name="statedrop")
    assert "FAULT INJECTION ACTIVE: IMAGO_FAULT_STATE_DROP=unicorn" in out, out[-4000:]
    uc = {t: o for t, o in outcomes.items() if "unicorn" in t}
    q = {t: o for t, o in outcomes.items() if "qemu" in t}
    assert rc == 1 and uc and all(o == "failed" for o in uc.values()), \
        "the %s state check passed with a byte of unicorn's results dropped: %s\n%s" % (
            target, outcomes, out[-4000:])
    assert "reg:" + reg in out and ("divergences of unicorn from " + versus) in out, \
        out[-4000:]
    assert q and all(o in ("passed", "skipped") for o in q.values()), \
        "qemu failed though only unicorn's results were damaged: %s\n%s" % (q, out[-4000:])
    # Without the fault the same selection passes.
    rc0, out0, _ = run_conformance(str(tmp_path), sel, {"IMAGO_STATE_CASES": "4"},
                                   name="stateclean")
    assert rc0 == 0, "control: the %s state check fails without the fault:\n%s" % (
        target, out0[-4000:])


@pytest.mark.parametrize("target,insn", [("aarch64", "stxr"), ("arm", "strex")])
def test_state_monitor_check_sees_a_closed_monitor(imago_bin, tmp_path, target, insn):
    """IMAGO_FAULT_STATE_MONITOR=1: imago state never opens the exclusive monitor before a
    store-exclusive (clrex instead of the load-exclusive of a64-implicit.tsv's monitor:FORM
    line; arm: a32-implicit.tsv's), so the cases that expect it open read status 1 on every
    engine; the qemu cells (the reference off an aarch64 / arm machine) must fail and name
    a monitor divergence of a store-exclusive."""
    sel = ["conformance/test_state.py", "-k", "%s and qemu and not scaffold" % target]
    env = {"IMAGO_FAULT_STATE_MONITOR": "1", "IMAGO_STATE_CASES": "4"}
    rc, out, outcomes = run_conformance(str(tmp_path), sel, env, name="monitor")
    assert "FAULT INJECTION ACTIVE: IMAGO_FAULT_STATE_MONITOR" in out, out[-4000:]
    assert rc == 1 and outcomes and all(o == "failed" for o in outcomes.values()), \
        "the state check passed with the monitor never opened: %s\n%s" % (outcomes, out[-4000:])
    assert "monitor" in out and insn in out, out[-4000:]
    rc0, out0, _ = run_conformance(str(tmp_path), sel, {"IMAGO_STATE_CASES": "4"},
                                   name="monitorclean")
    assert rc0 == 0, "control: the %s state check fails without the fault:\n%s" % (
        target, out0[-4000:])


def test_state_cond_check_sees_a_wrong_nzcv(imago_bin, tmp_path):
    """IMAGO_FAULT_STATE_COND=1: imago state -a arm chooses NZCV that pass the condition of
    the odd cases, which it still counts as skipped by their condition; those cases change
    registers, so the arm qemu cells (the reference off an arm machine) must fail and name
    a cond divergence ("condition ... fails ... but the instruction ran")."""
    sel = ["conformance/test_state.py", "-k", "arm and qemu and not scaffold"]
    env = {"IMAGO_FAULT_STATE_COND": "1", "IMAGO_STATE_CASES": "4"}
    rc, out, outcomes = run_conformance(str(tmp_path), sel, env, name="cond")
    assert "FAULT INJECTION ACTIVE: IMAGO_FAULT_STATE_COND" in out, out[-4000:]
    assert rc == 1 and outcomes and all(o == "failed" for o in outcomes.values()), \
        "the arm state check passed with odd cases that run: %s\n%s" % (outcomes, out[-4000:])
    assert " cond (" in out and "but the instruction ran" in out, out[-4000:]
    rc0, out0, _ = run_conformance(str(tmp_path), sel, {"IMAGO_STATE_CASES": "4"},
                                   name="condclean")
    assert rc0 == 0, "control: the arm state check fails without the fault:\n" + out0[-4000:]


def test_state_scaffold_check_sees_a_wrong_byte(imago_bin, tmp_path):
    """IMAGO_FAULT_STATE_SCAFFOLD=1: imago state's xmm store gets a load's opcode (0F 6F for
    0F 7F), its aarch64 stp of q registers an ldp's word, its arm vstmia a vldmia's word; the
    scaffold check must fail on every target and name movdqu, stp q and vstmia."""
    sel = ["conformance/test_state.py", "-k", "scaffold"]
    rc, out, outcomes = run_conformance(str(tmp_path), sel, {"IMAGO_FAULT_STATE_SCAFFOLD": "1"},
                                        name="scaffold")
    assert "FAULT INJECTION ACTIVE: IMAGO_FAULT_STATE_SCAFFOLD" in out, out[-4000:]
    assert rc == 1 and len(outcomes) == 4 and all(o == "failed" for o in outcomes.values()), \
        "the scaffold check passed with a wrong opcode: %s\n%s" % (outcomes, out[-4000:])
    assert "movdqu XMMWORD PTR" in out and "stp q" in out and "vstmia" in out, out[-4000:]
    rc0, out0, _ = run_conformance(str(tmp_path), sel, name="scaffoldclean")
    assert rc0 == 0, "control: the scaffold check fails without the fault:\n" + out0[-4000:]


def test_state_implicit_check_sees_random_pointers(imago_bin, tmp_path):
    """IMAGO_FAULT_STATE_IMPLICIT=1: imago state reads x86-implicit.tsv but aims nothing, so
    the string operations get random rsi/rdi/rcx and jmp/call/ret random targets; the
    implicit check must fail on both targets and name a string operation."""
    sel = ["conformance/test_state.py", "-k", "implicit"]
    env = {"IMAGO_FAULT_STATE_IMPLICIT": "1", "IMAGO_STATE_CASES": "4"}
    rc, out, outcomes = run_conformance(str(tmp_path), sel, env, name="implicit")
    assert "FAULT INJECTION ACTIVE: IMAGO_FAULT_STATE_IMPLICIT" in out, out[-4000:]
    assert rc == 1 and outcomes and all(o == "failed" for o in outcomes.values()), \
        "the implicit check passed with random implicit operands: %s\n%s" % (
            outcomes, out[-4000:])
    assert "fault natively" in out and "movs" in out, out[-4000:]
    rc0, out0, _ = run_conformance(str(tmp_path), sel, {"IMAGO_STATE_CASES": "4"},
                                   name="implicitclean")
    assert rc0 == 0, "control: the implicit check fails without the fault:\n" + out0[-4000:]


# ---- (d) the W^X check sees a writable+executable mapping -------------------------

RWX_C = r"""
#include <stdio.h>
#include <sys/mman.h>
int main(void)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("%d\n", p != MAP_FAILED);
    return 0;
}
"""


def test_wx_check_sees_rwx(tmp_path):
    """The strace parsing of conformance/test_wx.py flags a real RWX mmap and names
    the program that made it (and would not excuse it as an emulator's)."""
    if not harness.have("strace") or not harness.have("gcc"):
        pytest.skip("strace or gcc not installed")
    import test_wx  # conformance/test_wx.py, on sys.path through conftest.py

    src, exe = tmp_path / "rwx.c", tmp_path / "rwx"
    src.write_text(RWX_C)
    p = harness.run(["gcc", "-O1", "-o", str(exe), str(src)])
    assert p.returncode == 0, p.stderr
    logs = tmp_path / "logs"
    logs.mkdir()
    p = harness.run(["strace", "-f", "-ff", "-k", "-qq", "-o", str(logs / "st"), "-e",
                     "trace=execve,mmap,mmap2,mprotect,pkey_mprotect", str(exe)])
    assert p.returncode == 0 and p.stdout.strip() == "1", p.stderr
    found = test_wx.host_wx(str(logs))
    assert len(found) == 1, found
    _pid, exe_seen, call, owner, _frames = found[0]
    assert "PROT_WRITE|PROT_EXEC" in call and exe_seen == str(exe) and owner == str(exe), found
    for engine, allowed in test_wx._ALLOWED.items():
        assert not allowed.match(os.path.basename(owner)), (engine, owner)
