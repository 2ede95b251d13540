"""Second opinions on every positive vector of `imago vectors` (docs/second-opinions.md).

test_disasm (kind `disasm`): imago's bytes of each vector, decoded by GNU objdump
and by capstone (build/bin/imago-capdis), must be one instruction that reads back
as the vector's own text after normalisation (secondop.py). Per batch: one GNU as
run places the byte strings at markers, one objdump run decodes them, one
imago-capdis run decodes them again. A decoder limitation listed in
secondop.DECODER_CLASSES is counted under its class; any other difference fails.
Targets without a normaliser have no such test and are reported as not covered.

test_llvm_mc (kind `llvm-mc`): each vector's text assembled by llvm-mc (one run per
batch, markers as in test_encodings.py) must give imago's bytes, or the
difference must fall in a class of secondop.LLVM_CLASSES; any other fails.

The batches are those of test_encodings.py (vectorfiles.py, IMAGO_BATCH).
"""

import os
import shlex

import pytest

import harness
import secondop
import test_encodings
import vectorfiles

SHOW = 20  # differences shown in full per batch; all are counted


def pytest_generate_tests(metafunc):
    name = metafunc.function.__name__
    if name not in ("test_disasm", "test_llvm_mc"):
        return
    params, ids = [], []
    for t in harness.TARGETS:
        if name == "test_disasm" and not secondop.covered(t):
            continue  # reported as not covered (conftest.py), never as passed
        if name == "test_llvm_mc" and t not in secondop.LLVM_TRIPLE:
            continue
        n = vectorfiles.nbatches(t)
        for b in range(n):
            params.append((t, b, n))
            ids.append("%s-%d" % (t, b))
    metafunc.parametrize("target,batch,nbatches", params or [(None, 0, 0)],
                         ids=ids or ["none"])


def _chunk(target, batch, nbatches):
    vectors = vectorfiles.load(target)
    if vectors.problem:
        pytest.fail(vectors.problem, pytrace=False)
    chunk = vectors.batch(batch)
    if not chunk:
        pytest.fail("%s batch %d/%d holds no vectors" % (target, batch + 1, nbatches),
                    pytrace=False)
    return chunk


def _decoded_text(dec):
    return " ; ".join("%s [%d bytes]" % (t, n) for n, t in dec) if dec else "(nothing)"


def _decoder_repro(tool, target, hexstr):
    if tool == "capstone":
        return "echo %s | %s -a %s" % (hexstr, harness.rel(secondop.CAPDIS), target)
    spec = harness.TOOLS[target]
    esc = "".join("\\%03o" % b for b in bytes.fromhex(hexstr))  # POSIX printf: octal
    return "printf '%s' > /tmp/v.bin && %s -D %s /tmp/v.bin" % (
        esc, spec["objdump"], harness.shjoin(spec["objdump_bin"]))


@pytest.mark.kind("disasm")
def test_disasm(target, batch, nbatches, tmp_path, stats):
    chunk = _chunk(target, batch, nbatches)
    missing = harness.missing_tools(target)
    if missing:
        pytest.skip("GNU tools for %s not installed: %s" % (target, ", ".join(missing)))
    if not os.path.exists(secondop.CAPDIS):
        pytest.fail("%s does not exist: run `make all` first (it needs libcapstone-dev, "
                    "installed by ci/install-deps.sh)" % harness.rel(secondop.CAPDIS),
                    pytrace=False)
    hexes = [v[3] for v in chunk]
    try:
        decoded = {"objdump": secondop.objdump_decode(target, hexes, str(tmp_path)),
                   "capstone": secondop.capstone_decode(target, hexes)}
    except secondop.ToolError as e:
        pytest.fail(str(e), pytrace=False)

    counts = {}
    failures = []  # (vector, tool, decoding, why)
    # each text's canonical form when first needed, once for both decoders
    canon = [secondop.Text(target, v[2]) for v in chunk]
    for tool in ("objdump", "capstone"):
        agree = differ = 0
        known = {}
        classes = [c for c in secondop.DECODER_CLASSES if c.tool == tool]
        for (n, form, text, want), ctext, (addr, dec) in zip(chunk, canon, decoded[tool]):
            size = len(want) // 2
            why = None
            if len(dec) != 1 or dec[0][0] != size or dec[0][1] == "(bad)":
                why = "%d bytes decode as %d instruction(s): %s" % (size, len(dec),
                                                                     _decoded_text(dec))
            else:
                ok, a, b = secondop.agree(target, text, ctext, dec[0][1], addr)
                if ok:
                    agree += 1
                    continue
                why = "normalised: text `%s`  vs  %s `%s`" % (a, tool, b)
            cls = secondop.classify(classes, target, text, want, dec)
            if cls:
                known[cls] = known.get(cls, 0) + 1
                continue
            differ += 1
            failures.append(((n, form, text, want), tool, dec, why))
        counts["so_%s_agree" % tool] = agree
        counts["so_%s_differ" % tool] = differ
        for cls, k in known.items():
            counts["so_%s_known:%s" % (tool, cls)] = k
    stats(target, so_disasm_vectors=len(chunk), **counts)
    if not failures:
        return

    lines = ["%s batch %d/%d: %d decodings of %d vectors differ from the vector's text "
             "(%s; capstone %s)" % (
                 target, batch + 1, nbatches, len(failures), len(chunk),
                 harness.first_line(harness.tool_version(
                     [harness.TOOLS[target]["objdump"], "--version"])),
                 harness.first_line(harness.tool_version(
                     ["dpkg-query", "-W", "-f=${Version}", "libcapstone-dev"])))]
    for (n, form, text, want), tool, dec, why in failures[:SHOW]:
        lines.append("")
        lines.append("%s form %s (vectors line %d): %s" % (target, form, n, text))
        lines.append("  bytes (imago): %s" % harness.spaced(want))
        lines.append("  %-8s: %s" % (tool, _decoded_text(dec)))
        lines.append("  %s" % why)
        lines.append("  reproduce: %s   vs   %s" % (
            _decoder_repro(tool, target, want), vectorfiles.vector_command(target, form, text)))
    harness.fail_vectors(lines, failures, SHOW)


def _llvm_repro(llvm, target, text):
    spec = harness.TOOLS[target]
    lines = [l for l in spec["header"].splitlines() if l != ".text"]
    lines.append("__iv_0: " + secondop.llvm_text(text, 0, target))
    return "printf '%%s\\n' %s | %s -show-encoding" % (
        " ".join(shlex.quote(l) for l in lines),
        harness.shjoin([llvm, "-triple", secondop.LLVM_TRIPLE[target]]
                       + secondop.LLVM_ARGS[target]))


@pytest.mark.kind("llvm-mc")
def test_llvm_mc(target, batch, nbatches, tmp_path, stats):
    chunk = _chunk(target, batch, nbatches)
    llvm = secondop.llvm_mc()
    missing = harness.missing_tools(target, which=("objdump",))
    if llvm is None or missing:
        pytest.skip("not installed: %s" % ", ".join(([] if llvm else ["llvm-mc"]) + missing))
    texts = [v[2] for v in chunk]
    src, obj = str(tmp_path / "batch.s"), str(tmp_path / "batch.o")
    argv = secondop.llvm_argv(llvm, target, obj, src)
    text, first = secondop.llvm_source(target, texts)
    with open(src, "w") as f:
        f.write(text)
    p = harness.run(argv)
    msgs = secondop.llvm_messages(p.stderr)
    notes = {ln - first: m for ln, m in msgs.items() if 0 <= ln - first < len(chunk)}
    rejected = {i for i, m in notes.items() if any(k == "error" for k, _ in m)}
    if p.returncode != 0:
        if not rejected:
            pytest.fail("`%s` exited %d with no per-line error:\n%s" % (
                harness.shjoin(argv), p.returncode, p.stderr[-3000:]), pytrace=False)
        text, first = secondop.llvm_source(target, texts, skip=rejected)
        with open(src, "w") as f:
            f.write(text)
        p = harness.run(argv)
        if p.returncode != 0:
            pytest.fail("llvm-mc still fails after dropping %d rejected vectors:\n%s" % (
                len(rejected), p.stderr[-3000:]), pytrace=False)
    pads, types = {}, {}
    try:
        data, marks, relocs = test_encodings.read_object(target, obj, pads, types)
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    if len(marks) != len(chunk):
        pytest.fail("objdump shows %d of %d marker symbols in llvm-mc's object" % (
            len(marks), len(chunk)), pytrace=False)
    offs = [marks[i] for i in range(len(chunk))] + [len(data)]
    ends = [pads.get(i + 1, offs[i + 1]) for i in range(len(chunk))]
    # page-relative vectors (adrp): their relocation resolved at address 0, as for GNU as
    linked = set()
    if relocs and pads:
        try:
            data, linked = test_encodings.link_page_vectors(target, texts, obj, data, offs,
                                                            ends, relocs, types, rejected)
        except test_encodings.BatchError as e:
            pytest.fail(str(e), pytrace=False)

    agree = 0
    known = {}
    failures = []  # (vector, llvm hex or None, message)
    for i, (n, form, text_i, want) in enumerate(chunk):
        err = "; ".join("%s: %s" % m for m in notes.get(i, [])) or None
        lo, hi = offs[i], ends[i]
        got = None if i in rejected else data[lo:hi].hex()
        if got is not None and i not in linked and any(lo <= r < hi for r in relocs):
            err = "llvm-mc left a relocation in this vector"
        elif got == want:
            agree += 1
            continue
        cls = secondop.classify(secondop.LLVM_CLASSES, target, text_i, want, got, err)
        if cls:
            known[cls] = known.get(cls, 0) + 1
            continue
        failures.append(((n, form, text_i, want), got, err))
    counts = {"so_llvm_vectors": len(chunk), "so_llvm_agree": agree,
              "so_llvm_differ": len(failures)}
    for cls, k in known.items():
        counts["so_llvm_known:%s" % cls] = k
    stats(target, **counts)
    if not failures:
        return

    tmp = str(tmp_path)
    lines = ["%s batch %d/%d: llvm-mc gives other bytes for %d of %d vectors, in no listed "
             "class (%s)" % (target, batch + 1, nbatches, len(failures), len(chunk),
                             harness.first_line(harness.tool_version([llvm, "--version"])))]
    for (n, form, text_i, want), got, err in failures[:SHOW]:
        lines.append("")
        lines.append("%s form %s (vectors line %d): %s" % (target, form, n, text_i))
        lines.append("  imago  : %-30s %s" % (harness.spaced(want),
                                              harness.disasm(target, want, tmp)))
        if got is None:
            lines.append("  llvm-mc: %s" % (err or "no bytes"))
        else:
            lines.append("  llvm-mc: %-30s %s%s" % (harness.spaced(got),
                                                    harness.disasm(target, got, tmp),
                                                    ("  (" + err + ")") if err else ""))
        lines.append("  reproduce: %s   vs   %s" % (_llvm_repro(llvm, target, text_i),
                                                    vectorfiles.vector_command(target, form,
                                                                               text_i)))
    harness.fail_vectors(lines, failures, SHOW)
