"""Every vector of `imago vectors -a TARGET` against GNU as, byte for byte.

A vector is a line `form<TAB>text<TAB>hex`. The vectors of a target are cut into
batches of IMAGO_BATCH (20000) vectors, one test per batch so xdist spreads them.
A batch is one source file, every line `__iv_N: text` so the marker symbol
__iv_N starts vector N; one GNU as run assembles it, the harness reads the object's
.text contents, symbols and relocations (read_object, an ELF reader; batch 0 of a
target is read through objdump as well, and both must agree), and the bytes between
consecutive markers are GNU's encoding of that vector.

A vector whose hex is empty is a negative: imago rejects the text, and GNU as
must reject it too (all negatives of a target are one test and one as run).

Page-relative vectors (PAGE_MNEMONICS: aarch64 adrp, whose field is page(target) -
page(pc)) start a 4 KiB page of the batch: their line is `__ivp_N: .p2align 12 ;
__iv_N: text`, __ivp_N ending the vector before (the padding belongs to none). GNU as
always leaves a relocation for them (PAGE_RELOCS); when it did, the object is linked at
address 0 (`ld -Ttext=0`), so each such vector sits at a page-aligned pc as imago's
`.+N` at pc = 0 means, and the linked bytes are compared. Their negatives out of range
assemble (the relocation is left for the linker): those that GNU as accepts are linked
the same way, and ld must refuse each ("relocation truncated to fit"). Batches without
page-relative vectors pay nothing of this.

The vectors are made once per run and read from files (vectorfiles.py); a
batch's vectors are read only when its test runs.
"""

import re
import shlex
import struct

import pytest

import harness
import vectorfiles

SHOW = 20  # mismatches shown in full per batch; all are counted
_AS_MSG_RE = re.compile(r"^(.*?):(\d+): (Error|Warning): (.*)$")
_LD_AT_RE = re.compile(r"\(\.text\+0x([0-9a-f]+)\): (.*)$")

PAGE_MNEMONICS, PAGE_RELOCS, page_relative = (harness.PAGE_MNEMONICS, harness.PAGE_RELOCS,
                                               harness.page_relative)


def pytest_generate_tests(metafunc):
    # Collection reads only the headers of the vector files (vectorfiles.py): the
    # number of batches, and whether a target has negatives.
    if metafunc.function.__name__ == "test_encodings":
        params, ids = [], []
        for t in harness.TARGETS:
            n = vectorfiles.nbatches(t)
            for b in range(n):
                params.append((t, b, n))
                ids.append("%s-%d" % (t, b))
        metafunc.parametrize("target,batch,nbatches", params, ids=ids)
    elif metafunc.function.__name__ in ("test_negatives", "test_lenient"):
        # Only targets whose vectors include negatives (a test that checks nothing
        # would be a skip for a reason other than a missing tool).
        # With none at all, one placeholder item that conftest.py deselects.
        targets = [t for t in harness.TARGETS if vectorfiles.load(t).negatives]
        metafunc.parametrize("target", targets or [None], ids=targets or ["none"])


# ---- GNU side ---------------------------------------------------------------


def as_messages(stderr):
    """{line: [(kind, message)]} from GNU as diagnostics."""
    out = {}
    for line in stderr.splitlines():
        m = _AS_MSG_RE.match(line)
        if m:
            out.setdefault(int(m.group(2)), []).append((m.group(3), m.group(4)))
    return out


def write_source(path, target, texts, skip=()):
    """One line per vector: `__iv_N: text` (a page-relative one: `__ivp_N: .p2align 12 ;
    __iv_N: text`, on the same line so line numbers still name vectors). Returns the line
    number of vector 0."""
    header = harness.TOOLS[target]["header"]
    prefixes = PAGE_MNEMONICS.get(target)
    with open(path, "w") as f:
        f.write(header)
        for i, text in enumerate(texts):
            if i in skip:
                f.write("__iv_%d:\n" % i)
            elif prefixes and text.startswith(prefixes):
                f.write("__ivp_%d: .p2align 12 ; __iv_%d: %s\n" % (i, i, text))
            else:
                f.write("__iv_%d: %s\n" % (i, text))
    return header.count("\n") + 1


def assemble(target, src, obj):
    argv = harness.TOOLS[target]["as"] + ["-o", obj, src]
    return harness.run(argv)


def link_at_zero(target, obj, elf, every_error=False):
    """`ld -Ttext=0`: the object's .text at address 0 (GNU's page-relative relocations
    resolved). every_error: --verbose, else ld names only the first 10 overflows. Returns
    the CompletedProcess."""
    return harness.run(harness.TOOLS[target]["ld"] + ["-Ttext=0", "-o", elf, obj]
                       + (["--verbose"] if every_error else []))


def ld_errors(stderr):
    """{.text offset: message} of ld's per-place errors."""
    out = {}
    for line in stderr.splitlines():
        m = _LD_AT_RE.search(line)
        if m:
            out.setdefault(int(m.group(1), 16), m.group(2))
    return out


def link_page_vectors(target, texts, obj, data, offs, ends, relocs, types, skip=()):
    """A page-relative vector's own relocations (PAGE_RELOCS, all its relocations) are
    resolved by linking obj at address 0. Returns (the .text bytes, linked or not, the
    indexes of the vectors so resolved); raises BatchError when ld fails."""
    linked = set()
    for i, text in enumerate(texts):
        if i not in skip and page_relative(target, text):
            rs = [r for r in relocs if offs[i] <= r < ends[i]]
            if rs and all(types.get(r) in PAGE_RELOCS[target] for r in rs):
                linked.add(i)
    if not linked:
        return data, linked
    elf = obj + ".elf"
    p = link_at_zero(target, obj, elf)
    if p.returncode != 0:
        errs = ld_errors(p.stderr)
        where = sorted({i for off in errs for i in range(len(texts)) if offs[i] <= off < ends[i]})
        raise BatchError("`%s` exited %d (vectors: %s):\n%s" % (
            harness.shjoin(harness.TOOLS[target]["ld"] + ["-Ttext=0", "-o", elf, obj]),
            p.returncode, "; ".join(texts[i] for i in where[:10]) or "?", p.stderr[-3000:]))
    ldata, lmarks, _ = read_object(target, elf)
    if [lmarks.get(i) for i in range(len(texts))] != offs[:-1] or len(ldata) != len(data):
        raise BatchError("the object linked at 0 moved the vectors (%s)" % elf)
    return ldata, linked


_SHT_SYMTAB, _SHT_RELA, _SHT_NOBITS, _SHT_REL = 2, 4, 8, 9
# The relocation names the harness looks for (harness.PAGE_RELOCS), by ELF type number.
RELOC_NAMES = {("aarch64", 275): "R_AARCH64_ADR_PREL_PG_HI21"}


def read_object(target, obj, pads=None, reloc_types=None):
    """(.text bytes, {marker index: offset}, [relocated offsets]) of an ELF object,
    read from the file itself: the .text contents, the __iv_N symbols of .text and
    the offsets of every relocation record that applies to .text (what `objdump -s
    -t -r -j .text` prints). pads (a dict) receives {N: offset of __ivp_N},
    reloc_types {offset: relocation name} (RELOC_NAMES, else R_<number>). Raises
    RuntimeError when the file is not an ELF object as expected."""
    with open(obj, "rb") as f:
        elf = f.read()
    if len(elf) < 52 or elf[:4] != b"\x7fELF" or elf[5] != 1:
        raise RuntimeError("%s: not a little-endian ELF object" % harness.rel(obj))
    wide = elf[4] == 2
    try:
        if wide:
            shoff, = struct.unpack_from("<Q", elf, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
            shfmt, symfmt = "<IIQQQQIIQQ", "<IBBHQQ"
            relfmt = {_SHT_REL: "<QQ", _SHT_RELA: "<QQq"}
        else:
            shoff, = struct.unpack_from("<I", elf, 0x20)
            shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x2E)
            shfmt, symfmt = "<IIIIIIIIII", "<IIIBBH"
            relfmt = {_SHT_REL: "<II", _SHT_RELA: "<IIi"}
        if not shnum or shentsize != struct.calcsize(shfmt) or shstrndx >= shnum:
            raise RuntimeError("%s: unexpected section header table (%d entries of %d bytes)"
                               % (harness.rel(obj), shnum, shentsize))
        # (name, type, offset, size, link, info) of each section
        secs = [(s[0], s[1], s[4], s[5], s[6], s[7]) for s in
                (struct.unpack_from(shfmt, elf, shoff + i * shentsize) for i in range(shnum))]
        names_at = secs[shstrndx][2]

        def name(strtab_off, off):
            end = elf.index(b"\0", strtab_off + off)
            return elf[strtab_off + off:end]

        texts = [i for i, s in enumerate(secs) if name(names_at, s[0]) == b".text"]
        if len(texts) != 1:
            raise RuntimeError("%s: %d sections named .text" % (harness.rel(obj), len(texts)))
        ti = texts[0]
        _n, ttype, toff, tsize, _l, _i = secs[ti]
        data = b"" if ttype == _SHT_NOBITS else elf[toff:toff + tsize]
        if len(data) != tsize:
            raise RuntimeError("%s: .text runs past the end of the file" % harness.rel(obj))
        marks, relocs = {}, []
        for _n, stype, soff, ssize, link, info in secs:
            if stype == _SHT_SYMTAB:
                stroff = secs[link][2]
                entsize = struct.calcsize(symfmt)
                for sym in struct.iter_unpack(symfmt, elf[soff:soff + ssize - ssize % entsize]):
                    if wide:
                        sname, shndx, value = sym[0], sym[3], sym[4]
                    else:
                        sname, shndx, value = sym[0], sym[5], sym[1]
                    if shndx != ti:
                        continue
                    n = name(stroff, sname)
                    if n.startswith(b"__iv_"):
                        marks[int(n[5:])] = value
                    elif pads is not None and n.startswith(b"__ivp_"):
                        pads[int(n[6:])] = value
            elif stype in relfmt and info == ti:
                fmt = relfmt[stype]
                entsize = struct.calcsize(fmt)
                for r in struct.iter_unpack(fmt, elf[soff:soff + ssize - ssize % entsize]):
                    relocs.append(r[0])
                    if reloc_types is not None:
                        rtype = r[1] & 0xFFFFFFFF if wide else r[1] & 0xFF
                        reloc_types[r[0]] = RELOC_NAMES.get((target, rtype), "R_%d" % rtype)
    except (struct.error, ValueError, IndexError) as e:
        raise RuntimeError("%s: malformed ELF object: %s" % (harness.rel(obj), e))
    return data, marks, relocs


def read_object_objdump(target, obj, pads=None, reloc_types=None):
    """What read_object returns, from one objdump run (`objdump -s -t -r -j .text`):
    the cross-check of the ELF reader (tests/test_selftest_disasm.py)."""
    argv = [harness.TOOLS[target]["objdump"], "-s", "-t", "-r", "-j", ".text", obj]
    p = harness.run(argv)
    if p.returncode != 0:
        raise RuntimeError("`%s` exited %d: %s" % (harness.shjoin(argv), p.returncode,
                                                   p.stderr.strip()))
    marks, relocs, chunks = {}, [], []
    mode = None
    for line in p.stdout.splitlines():
        if line.startswith("SYMBOL TABLE:"):
            mode = "sym"
            continue
        if line.startswith("RELOCATION RECORDS FOR"):
            mode = "rel"
            continue
        if line.startswith("Contents of section"):
            mode = "data"
            continue
        if not line.strip():
            continue
        if mode == "sym":
            f = line.split()
            if f and f[-1].startswith("__iv_"):
                marks[int(f[-1][5:])] = int(f[0], 16)
            elif f and pads is not None and f[-1].startswith("__ivp_"):
                pads[int(f[-1][6:])] = int(f[0], 16)
        elif mode == "rel":
            f = line.split()
            if f and re.match(r"^[0-9a-f]+$", f[0]):
                relocs.append(int(f[0], 16))
                if reloc_types is not None and len(f) > 1:
                    reloc_types[int(f[0], 16)] = f[1]
        elif mode == "data":
            m = re.match(r"^ ([0-9a-f]+) ", line)
            if m:
                start = len(m.group(0))
                hexpart = line[start:start + 35].replace(" ", "")
                chunks.append((int(m.group(1), 16), bytes.fromhex(hexpart)))
    data = bytearray()
    for addr, b in chunks:
        if addr != len(data):
            raise RuntimeError("objdump -s: unexpected address 0x%x (have 0x%x bytes)"
                               % (addr, len(data)))
        data += b
    return bytes(data), marks, relocs


def repro(target, form, text):
    spec = harness.TOOLS[target]
    lines = [l for l in spec["header"].splitlines() if l != ".text"] + [text]
    gnu = "printf '%%s\\n' %s | %s -o /tmp/v.o - && %s -d %s/tmp/v.o" % (
        " ".join(shlex.quote(l) for l in lines), harness.shjoin(spec["as"]), spec["objdump"],
        (harness.shjoin(spec["objdump_obj"]) + " ") if spec["objdump_obj"] else "")
    return gnu + "   vs   " + vectorfiles.vector_command(target, form, text)


class BatchError(Exception):
    """A batch that could not be compared at all (GNU as or objdump failed as a whole)."""


def check_batch(target, chunk, src, obj):
    """Assemble one batch's texts with GNU as (src and obj are the paths to use), read the
    bytes back with objdump and compare each vector's. Returns the failures, a list of
    (vector, GNU hex or None, why); raises BatchError when the batch cannot be compared.
    bench/run.py times this same function."""
    texts = [v[2] for v in chunk]
    first = write_source(src, target, texts)
    p = assemble(target, src, obj)
    msgs = as_messages(p.stderr)
    # GNU as messages per vector (errors and warnings both fail the vector).
    flagged = {ln - first: m for ln, m in msgs.items() if 0 <= ln - first < len(chunk)}
    if p.returncode != 0:
        if not flagged:
            raise BatchError("`%s` exited %d with no per-line message:\n%s" % (
                harness.shjoin(harness.TOOLS[target]["as"] + ["-o", obj, src]), p.returncode,
                p.stderr[-3000:]))
        # Assemble again without the rejected lines, so the rest is still compared.
        write_source(src, target, texts, skip=set(flagged))
        p = assemble(target, src, obj)
        if p.returncode != 0:
            raise BatchError("GNU as still fails after dropping %d rejected vectors:\n%s"
                             % (len(flagged), p.stderr[-3000:]))

    paged = PAGE_MNEMONICS.get(target) and any(page_relative(target, t) for t in texts)
    pads, types = ({}, {}) if paged else (None, None)
    data, marks, relocs = read_object(target, obj, pads, types)
    if len(marks) != len(chunk):
        raise BatchError("objdump shows %d of %d marker symbols" % (len(marks), len(chunk)))
    offs = [marks[i] for i in range(len(chunk))] + [len(data)]
    ends = [pads.get(i + 1, offs[i + 1]) if pads else offs[i + 1] for i in range(len(chunk))]

    data, linked = link_page_vectors(target, texts, obj, data, offs, ends, relocs, types,
                                     flagged) if paged and relocs else (data, set())

    failures = []  # (vector, gnu hex or None, why)
    for i, (n, form, text, want) in enumerate(chunk):
        if i in flagged:
            why = "; ".join("%s: %s" % m for m in flagged[i])
            failures.append((chunk[i], None, "GNU as: " + why))
            continue
        lo, hi = offs[i], ends[i]
        gnu = data[lo:hi].hex()
        if i not in linked and any(lo <= r < hi for r in relocs):
            failures.append((chunk[i], gnu, "GNU as left a relocation in this vector "
                                            "(its text is not self-contained)"))
        elif gnu != want:
            failures.append((chunk[i], gnu, "bytes differ"))
    return failures


# ---- tests ------------------------------------------------------------------


@pytest.mark.kind("encoding")
def test_encodings(target, batch, nbatches, tmp_path, stats):
    vectors = vectorfiles.load(target)
    if vectors.problem:
        pytest.fail(vectors.problem, pytrace=False)
    missing = harness.missing_tools(target)
    if missing:
        pytest.skip("GNU tools for %s not installed: %s" % (target, ", ".join(missing)))
    chunk = vectors.batch(batch)
    if not chunk:
        pytest.fail("%s batch %d/%d holds no vectors (%d positive vectors, %d per batch)" % (
            target, batch + 1, nbatches, vectors.positives, vectorfiles.batch_size()),
            pytrace=False)
    src, obj = str(tmp_path / "batch.s"), str(tmp_path / "batch.o")
    try:
        failures = check_batch(target, chunk, src, obj)
    except BatchError as e:
        pytest.fail(str(e), pytrace=False)
    if batch == 0:
        # the ELF reader against objdump's reading of the same object
        mine, theirs = read_object(target, obj), read_object_objdump(target, obj)
        if mine != theirs:
            pytest.fail("%s batch 1: the ELF reader and objdump -s -t -r read %s differently: "
                        "%d/%d bytes, %d/%d markers, relocations %s/%s" % (
                            target, obj, len(mine[0]), len(theirs[0]), len(mine[1]),
                            len(theirs[1]), mine[2][:10], theirs[2][:10]), pytrace=False)

    stats(target, forms={v[1] for v in chunk}, vectors=len(chunk),
          mismatches=len(failures), batches=1)
    if not failures:
        return

    tmp = str(tmp_path)
    lines = ["%s batch %d/%d: %d of %d vectors differ from GNU as (%s)" % (
        target, batch + 1, nbatches, len(failures), len(chunk),
        harness.first_line(harness.tool_version([harness.TOOLS[target]["as"][0], "--version"])))]
    for (n, form, text, want), gnu, why in failures[:SHOW]:
        lines.append("")
        lines.append("%s form %s (vectors line %d): %s" % (target, form, n, text))
        lines.append("  %s" % why)
        if gnu is not None:
            lines.append("  expected (GNU as): %-30s %s" % (
                harness.spaced(gnu), harness.disasm(target, gnu, tmp)))
        lines.append("  actual   (imago) : %-30s %s" % (
            harness.spaced(want), harness.disasm(target, want, tmp)))
        lines.append("  reproduce: " + repro(target, form, text))
    harness.fail_vectors(lines, failures, SHOW)


@pytest.mark.kind("negative")
def test_negatives(target, tmp_path, stats):
    """Texts imago rejects (empty hex) must be rejected by GNU as as well."""
    vectors = vectorfiles.load(target)
    if vectors.problem:
        pytest.fail(vectors.problem, pytrace=False)
    neg = vectors.negative_vectors()
    missing = harness.missing_tools(target, which=("as",))
    if missing:
        pytest.skip("GNU tools for %s not installed: %s" % (target, ", ".join(missing)))
    src, obj = str(tmp_path / "neg.s"), str(tmp_path / "neg.o")
    first = write_source(src, target, [v[2] for v in neg])
    p = assemble(target, src, obj)
    errors = {ln - first for ln, m in as_messages(p.stderr).items()
              if any(k == "Error" for k, _ in m)}
    errors |= page_link_errors(target, neg, errors, tmp_path)
    accepted = [v for i, v in enumerate(neg) if i not in errors]
    # (not `forms`: that counts the forms with positive vectors; an i386 negative may
    # come from an x86_64 row)
    stats(target, negatives=len(neg), mismatches=len(accepted))
    if accepted:
        lines = ["%s: GNU as accepts %d of %d texts that imago rejects:" % (
            target, len(accepted), len(neg))]
        for n, form, text, _ in accepted[:SHOW]:
            lines.append("  %s (vectors line %d): %s" % (form, n, text))
            lines.append("    reproduce: " + repro(target, form, text))
        pytest.fail("\n".join(lines), pytrace=False)


def page_link_errors(target, neg, errors, tmp_path):
    """The page-relative negatives GNU as accepted (it leaves their relocation to the
    linker): assembled alone, each at a page start, linked at address 0; the indexes (in
    neg) of those ld refuses."""
    idx = [i for i, v in enumerate(neg) if i not in errors and page_relative(target, v[2])]
    if not idx:
        return set()
    src, obj = str(tmp_path / "neg_page.s"), str(tmp_path / "neg_page.o")
    write_source(src, target, [neg[i][2] for i in idx])
    p = assemble(target, src, obj)
    if p.returncode != 0:
        pytest.fail("GNU as rejects page-relative negatives it accepted among the others:\n%s"
                    % p.stderr[-3000:], pytrace=False)
    pads = {}
    _data, marks, _relocs = read_object(target, obj, pads)
    p = link_at_zero(target, obj, obj + ".elf", every_error=True)
    refused = ld_errors(p.stderr)
    starts = sorted((off, j) for j, off in marks.items())
    out = set()
    for off in refused:
        j = max((j for o, j in starts if o <= off), default=None)
        if j is not None:
            out.add(idx[j])
    return out


def lenient_vectors(target):
    """`imago vectors --negatives lenient`: texts imago rejects that GNU as accepts by
    truncating a value or by reading an unknown register name as a symbol."""
    argv = vectorfiles.argv_for(target) + ["--negatives", "lenient"]
    p = harness.run(argv)
    if p.returncode != 0:
        pytest.fail("`%s` exited %d: %s" % (harness.shjoin(argv), p.returncode,
                                            p.stderr.strip()[-2000:]), pytrace=False)
    out = []
    for n, line in enumerate(p.stdout.splitlines(), 1):
        if line and not line.startswith("#"):
            out.append((n, ) + tuple(line.split("\t")))
    return out


@pytest.mark.kind("negative")
def test_lenient(target, tmp_path, stats):
    """Where GNU as truncates (warning on x86_64, silently on i386) or reads a name as a
    symbol, imago refuses: every such text is a negative of imago's (empty hex) and GNU as
    assembles it without an Error (else it belongs in the negative vectors), warning on
    x86_64 about every truncated immediate."""
    missing = harness.missing_tools(target, which=("as",))
    if missing:
        pytest.skip("GNU tools for %s not installed: %s" % (target, ", ".join(missing)))
    vec = lenient_vectors(target)
    accepted = [v for v in vec if v[3]]
    src, obj = str(tmp_path / "lenient.s"), str(tmp_path / "lenient.o")
    first = write_source(src, target, [v[2] for v in vec])
    p = assemble(target, src, obj)
    msgs = as_messages(p.stderr)
    errors = [vec[ln - first] for ln, m in msgs.items()
              if 0 <= ln - first < len(vec) and any(k == "Error" for k, _ in m)]
    warned = {ln - first for ln, m in msgs.items() if any(k == "Warning" for k, _ in m)}
    silent_trunc = [v for i, v in enumerate(vec)
                    if target == "x86_64" and i not in warned and "PTR" not in v[2]
                    and re.search(r"0x[0-9a-f]{9,}", v[2])]
    stats(target, lenient=len(vec), lenient_warned=len(warned))
    lines = []
    for what, bad in (("imago encodes (must refuse)", accepted),
                      ("GNU as rejects (belongs in the negative vectors)", errors),
                      ("GNU as truncates a value beyond 32 bits without a warning", silent_trunc)):
        if bad:
            lines.append("%s: %d of %d lenient texts: %s" % (target, len(bad), len(vec), what))
            for v in bad[:SHOW]:
                lines.append("  %s (line %d): %s" % (v[1], v[0], v[2]))
    if lines:
        pytest.fail("\n".join(lines), pytrace=False)
