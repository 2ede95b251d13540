"""Negatives: texts imago must refuse (docs/testing.md, "Negatives").

(a) `imago asm` refuses a sample of the negatives of each target (those GNU as rejects and
    the lenient ones GNU as truncates or takes with a warning): exit 1, `FILE:LINE: error:`
    naming the line, no output file left behind.
(b) Self-tests: a mutant imago whose encoder refuses a valid operand (rbp as an index)
    prints negatives GNU as accepts, and test_negatives must fail naming one; a mutant
    that encodes rsp as an index prints that bad operand as a vector, and
    test_encodings must fail on it (GNU as rejects the text).
"""

import os
import re
import shutil
import subprocess

import pytest

import harness
from test_selftest import run_conformance

ROOT = harness.ROOT
SAMPLE = 40  # texts per target and stream fed to `imago asm`


def vectors(imago, target, mode):
    p = harness.run([imago, "vectors", "-a", target, "--negatives", mode])
    assert p.returncode == 0, p.stderr
    out = [l.split("\t") for l in p.stdout.splitlines() if l and not l.startswith("#")]
    assert all(len(v) == 3 for v in out)
    return out


def spread(items, n):
    step = max(1, len(items) // n)
    return items[::step][:n]


# Each target's source header and a valid line to put around the negative.
ASM = {"x86_64": ([".intel_syntax noprefix", ".text"], "add rax, 1"),
       "i386": ([".intel_syntax noprefix", ".text"], "add eax, 1"),
       "arm": ([".syntax unified", ".arm", ".text"], "add r0, r0, #1"),
       "aarch64": ([".text"], "add x0, x0, #1")}


@pytest.mark.parametrize("mode", ["only", "lenient"])
@pytest.mark.parametrize("target", harness.TARGETS)
def test_asm_refuses_negatives(imago_bin, target, mode, tmp_path):
    neg = [v for v in vectors(imago_bin, target, mode) if not v[2]]
    assert len(neg) > (20000 if mode == "only" else 1000), \
        "%s: only %d %s negatives" % (target, len(neg), mode)
    header, good = ASM[target]
    for k, (form, text, _) in enumerate(spread(neg, SAMPLE)):
        src, out = tmp_path / "n.s", tmp_path / "n.img"
        line = len(header) + 1 + k % 3  # after the header and some valid lines
        body = header + [good] * (line - len(header) - 1) + [text, good]
        src.write_text("\n".join(body) + "\n")
        for raw in ([], ["--raw"]):
            p = harness.run([imago_bin, "asm", "-a", target] + raw + [str(src), "-o", str(out)])
            assert p.returncode == 1, "%s %s (%s) accepted: %s" % (target, text, form, p.stderr)
            assert re.match(r"^%s:%d: error: \S" % (re.escape(str(src)), line), p.stderr), \
                "%s: no FILE:%d: error: for %r: %r" % (target, line, text, p.stderr)
            assert not out.exists(), "output file left behind for %r" % text
            assert sorted(os.listdir(tmp_path)) == ["n.s"], os.listdir(tmp_path)


# ---- self-tests -------------------------------------------------------------------

INDEX_CHECK = "if (index != IM_NOREG && (index == 4 || index >= nregs(t)))"


def build_mutant(tmp, old, new):
    """imago built from a copy of the tree with x86.c's `old` replaced by `new`."""
    tree = os.path.join(tmp, "tree")
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, stdout=subprocess.PIPE,
                           universal_newlines=True, check=True).stdout.split()
    for f in files:
        if os.path.isfile(os.path.join(ROOT, f)):
            os.makedirs(os.path.dirname(os.path.join(tree, f)) or tree, exist_ok=True)
            shutil.copy2(os.path.join(ROOT, f), os.path.join(tree, f))
    path = os.path.join(tree, "encoders", "x86", "x86.c")
    src = open(path).read()
    assert src.count(old) == 1, "x86.c no longer holds %r: update the self-test" % old
    open(path, "w").write(src.replace(old, new))
    imago = os.path.join(tree, "build", "bin", "imago")
    p = subprocess.run(["make", "-C", tree, "-j2", "--no-print-directory", "build/bin/imago"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=900)
    assert p.returncode == 0 and os.path.exists(imago), p.stdout[-4000:]
    return imago


def test_refused_valid_operand_is_caught(imago_bin, tmp_path):
    """The encoder refuses rbp as an index: the texts become negatives that GNU as
    accepts, and test_negatives names them."""
    imago = build_mutant(str(tmp_path), INDEX_CHECK,
                         INDEX_CHECK.replace("index == 4 ||", "index == 4 || index == 5 ||"))
    sel = ["conformance/test_encodings.py", "-k", "test_negatives and x86_64"]
    rc, out, outcomes = run_conformance(str(tmp_path), sel, imago=imago, name="refuse")
    assert rc == 1 and outcomes.get("test_negatives[x86_64]") == "failed", out[-4000:]
    assert re.search(r"GNU as accepts \d+ of \d+ texts that imago rejects", out), out[-4000:]
    assert re.search(r"^  \S+ \(vectors line \d+\): .*\+rbp\*[1248]", out, re.M), out[-4000:]
    rc0, out0, outcomes0 = run_conformance(str(tmp_path), sel, name="control")
    assert outcomes0.get("test_negatives[x86_64]") == "passed", out0[-4000:]


def test_accepted_bad_operand_is_caught(imago_bin, tmp_path):
    """The encoder takes rsp as an index (SIB index 100, which means none): imago prints
    the bad operand as a vector, and the encoding test fails on GNU as's error."""
    imago = build_mutant(str(tmp_path), INDEX_CHECK,
                         INDEX_CHECK.replace("index == 4 || ", ""))
    p = harness.run([imago, "vectors", "-a", "x86_64", "--negatives", "only"])
    assert re.search(r"bad-operands-accepted=[1-9]", p.stdout), p.stdout[-300:]
    sel = ["conformance/test_encodings.py", "-k", "test_encodings and x86_64"]
    rc, out, _ = run_conformance(str(tmp_path), sel, imago=imago, name="accept")
    assert rc == 1, out[-4000:]
    assert re.search(r"^x86_64 form \S+ \(vectors line \d+\): .*\+rsp\*[1248]", out, re.M), \
        out[-6000:]
    assert "GNU as: Error:" in out, out[-4000:]
