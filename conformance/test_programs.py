"""The programs of conformance/programs/<target>/*.s on every target x engine.

- program:       `imago asm` -> image -> `imago run` on each engine (the host's own
                 target's native engine also in-process), at the engine's
                 default base and at two chosen bases (64-bit targets: one above
                 4 GiB, so an ABS64 relocation matters); the result must equal the
                 program's `expect:` value.
- program-bytes: `imago asm --raw` bytes == GNU as + ld -Ttext=0 + objcopy bytes.
- gnu-image:     the same runs with an image made by the harness from GNU's bytes
                 and relocations, so the loader and engines are checked apart
                 from `imago asm`.
- gnu-program:   the program assembled and linked by GNU (with programs/driver.c)
                 and run natively or under qemu-user prints the expected value too,
                 so the expectations themselves are checked without imago.

Images are built once per worker and shared by the engines' tests.
"""

import re

import pytest

import harness

GNU_ENGINES = ("native", "qemu")


def _base_ids(target):
    return ["default"] + ["0x%x" % b for b in harness.TOOLS[target]["bases"]]


def _cases(kind):
    out = []
    for t in harness.TARGETS:
        for p in harness.program_names(t):
            if kind == "bytes":
                out.append(pytest.param(t, p, id="%s-%s" % (t, p)))
            elif kind == "gnu":
                for e in harness.engines_for(t):
                    if e in GNU_ENGINES:
                        out.append(pytest.param(t, e, p, id="%s-%s-%s" % (t, e, p)))
            else:
                for e in harness.engines_for(t):
                    for ip in harness.inprocess(t, e):
                        for b in _base_ids(t):
                            out.append(pytest.param(t, e, ip, p, b, id="%s-%s%s-%s-%s" % (
                                t, e, "-inproc" if ip else "", p, b)))
    return out


def _need(target, roles):
    missing = harness.missing_tools(target, roles)
    if missing:
        pytest.skip("GNU tools for %s not installed: %s" % (target, ", ".join(missing)))


_RESULT_RE = re.compile(r"\bresult=(-?\d+)")


def run_and_check(img, target, engine, inproc, prog, base, what):
    want = harness.expected_value(harness.program_path(target, prog))
    argv = ["run", img, "--engine", engine, "--target", target, "-v"]
    if inproc:
        argv.append("--in-process")
    if base != "default":
        argv += ["--base", base]
    p = harness.imago(*argv, timeout=120)
    cmd = harness.shjoin([harness.rel(harness.IMAGO)] + [harness.rel(a) for a in argv])
    where = "%s (%s) on %s/%s%s at base %s" % (prog, what, target, engine,
                                                " in-process" if inproc else "", base)
    if p.returncode < 0:
        pytest.fail("%s: `%s` died of signal %d\nstderr: %s" % (
            where, cmd, -p.returncode, p.stderr.strip()), pytrace=False)
    if p.returncode != 0:
        pytest.fail("%s: `%s` exited %d\nstderr: %s" % (
            where, cmd, p.returncode, p.stderr.strip()), pytrace=False)
    m = _RESULT_RE.search(p.stdout)
    if not m:
        pytest.fail("%s: `%s` printed no result=N:\n%s" % (where, cmd, p.stdout), pytrace=False)
    got = int(m.group(1))
    assert got == want, "%s: result %d, expected %d\n  `%s`\n  %s" % (
        where, got, want, cmd, p.stdout.strip())
    # -v also says where it ran: the engine and target asked for, the base asked for.
    line = p.stdout[p.stdout.rfind("\n", 0, m.start()) + 1:]
    fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    assert fields.get("target") == target, "%s: -v says %s" % (where, line.strip())
    assert fields.get("engine") == engine, "%s: -v says %s" % (where, line.strip())
    if base != "default":
        assert int(fields.get("base", "-1"), 0) == int(base, 16), \
            "%s: asked for base %s, -v says %s" % (where, base, line.strip())


@pytest.mark.kind("program")
@pytest.mark.parametrize("target,engine,inproc,prog,base", _cases("run"))
def test_program(target, engine, inproc, prog, base, builds, imago_bin):
    """imago asm's image runs and returns the expected value."""
    img, err = builds.image(target, prog)
    if err:
        pytest.fail("building the image failed: " + err, pytrace=False)
    run_and_check(img, target, engine, inproc, prog, base, "imago asm")


@pytest.mark.kind("gnu-image")
@pytest.mark.parametrize("target,engine,inproc,prog,base", _cases("run"))
def test_gnu_image(target, engine, inproc, prog, base, builds, imago_bin):
    """An image made from GNU's bytes and relocations (not by imago asm) runs and
    returns the expected value: the loader and engines checked on their own."""
    _need(target, ("as", "ld", "objcopy", "objdump"))
    img, err = builds.gnu_image(target, prog)
    if err:
        pytest.fail("building the image from GNU's output failed: " + err, pytrace=False)
    run_and_check(img, target, engine, inproc, prog, base, "GNU-built image")


@pytest.mark.kind("program-bytes")
@pytest.mark.parametrize("target,prog", _cases("bytes"))
def test_program_bytes(target, prog, builds, imago_bin, tmp_path):
    _need(target, ("as", "ld", "objcopy", "objdump"))
    gnu, err = builds.gnu_raw(target, prog)
    if err:
        pytest.fail("GNU build failed: " + err, pytrace=False)
    mine, err = builds.imago_raw(target, prog)
    if err:
        pytest.fail("imago asm --raw failed: " + err, pytrace=False)
    with open(gnu, "rb") as f:
        g = f.read().hex()
    with open(mine, "rb") as f:
        m = f.read().hex()
    if g == m:
        return
    step = 2 if target in ("x86_64", "i386") else 8
    first = next((i for i in range(0, min(len(g), len(m)), step) if g[i:i + step] != m[i:i + step]),
                 min(len(g), len(m)))
    spec = harness.TOOLS[target]
    src = harness.rel(harness.program_path(target, prog))
    pytest.fail("\n".join([
        "%s %s: imago asm --raw differs from GNU as + ld -Ttext=0 (first at byte %d)" % (
            target, prog, first // 2),
        "  expected (GNU): %s" % harness.spaced(g),
        "                  %s" % harness.disasm(target, g, str(tmp_path)),
        "  actual (imago): %s" % harness.spaced(m),
        "                  %s" % harness.disasm(target, m, str(tmp_path)),
        "  reproduce: %s -o /tmp/p.o %s && %s -Ttext=0 -e main -o /tmp/p.elf /tmp/p.o && "
        "%s -d %s/tmp/p.elf   vs   %s asm -a %s --raw %s -o /tmp/p.bin && %s -D %s /tmp/p.bin" % (
            harness.shjoin(spec["as"]), src, harness.shjoin(spec["ld"]), spec["objdump"],
            (harness.shjoin(spec["objdump_obj"]) + " ") if spec["objdump_obj"] else "",
            harness.rel(harness.IMAGO), target, src, spec["objdump"],
            harness.shjoin(spec["objdump_bin"])),
    ]), pytrace=False)


@pytest.mark.kind("gnu-program")
@pytest.mark.parametrize("target,engine,prog", _cases("gnu"))
def test_gnu_program(target, engine, prog, builds):
    _need(target, ("as", "objcopy", "cc") + (("qemu",) if engine == "qemu" else ()))
    want = harness.expected_value(harness.program_path(target, prog))
    exe, err = builds.gnu_exe(target, prog)
    if err:
        pytest.fail("GNU build failed: " + err, pytrace=False)
    argv = ([harness.TOOLS[target]["qemu"]] if engine == "qemu" else []) + [exe]
    p = harness.run(argv, timeout=60)
    assert p.returncode == 0, "`%s` exited %d: %s" % (harness.shjoin(argv), p.returncode,
                                                     p.stderr.strip())
    got = int(p.stdout.strip())
    assert got == want, "%s %s linked by GNU returns %d on %s, the file expects %d" % (
        target, prog, got, engine, want)
