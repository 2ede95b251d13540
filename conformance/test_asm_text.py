"""`imago asm` reads back what imago prints: for every target, two vectors of every form
(the form's first and one drawn from the rest) are written into one assembly file, each
on a 4 KiB boundary (`.p2align 12`, so a page-relative operand such as adrp's means the
same as at address 0), assembled with `imago asm --raw`, and each vector's bytes must be at
its boundary in the output. The vector files' bytes are themselves checked against GNU as
(test_encodings.py); this checks the text path of the command-line assembler, file
directives and all, reaches the same bytes for every form.
"""

import os
import random
import subprocess

import pytest

import harness
import vectorfiles

ALIGN = 4096


def pick(vectors):
    """Two vectors of every form: its first and one drawn from the rest (fixed seed)."""
    by_form = {}
    for b in range(vectors.nbatches()):
        for v in vectors.batch(b):
            by_form.setdefault(v[1], []).append(v)
    rng = random.Random(5)
    out = []
    for form in sorted(by_form):
        vs = by_form[form]
        out.append(vs[0])
        if len(vs) > 1:
            out.append(vs[1 + rng.randrange(len(vs) - 1)])
    return out


@pytest.mark.kind("encoding")
@pytest.mark.parametrize("target", harness.TARGETS)
def test_asm_text(target, tmp_path, imago_bin):
    vectors = vectorfiles.load(target)
    if vectors.problem:
        pytest.fail(vectors.problem, pytrace=False)
    chosen = pick(vectors)
    if not chosen:
        pytest.fail("%s: no vectors" % target, pytrace=False)
    src, out = str(tmp_path / "forms.s"), str(tmp_path / "forms.bin")
    with open(src, "w") as f:
        if target in ("x86_64", "i386"):
            f.write(".intel_syntax noprefix\n")
        f.write(".text\n")
        for _n, _form, text, _want in chosen:
            f.write("\t.p2align 12\n\t%s\n" % text)
    argv = [imago_bin, "asm", "-a", target, "--raw", src, "-o", out]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=300)
    if p.returncode != 0 or not os.path.exists(out):
        pytest.fail("`%s` exited %d: %s" % (harness.shjoin(argv), p.returncode,
                                             p.stderr.strip()[-3000:]), pytrace=False)
    with open(out, "rb") as f:
        data = f.read()
    bad = []
    for i, (n, form, text, want) in enumerate(chosen):
        got = data[i * ALIGN:i * ALIGN + len(want) // 2].hex()
        if got != want:
            bad.append("  %s (vectors line %d): %s: imago asm %s, imago vectors %s"
                       % (form, n, text, harness.spaced(got), harness.spaced(want)))
    assert not bad, "%s: `imago asm` makes other bytes than the vectors for %d of %d texts:\n%s" % (
        target, len(bad), len(chosen), "\n".join(bad[:30]))
