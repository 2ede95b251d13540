"""imago's own C code on every host (docs/testing.md, "Every host").

`make hosts` builds the library, imago and the C tests for the hosts x86_64, i386,
arm and aarch64; here each runs directly or under qemu-user (hosts.py). The x86_64
host is the reference (its vectors are the ones checked against GNU as):

- cross-vectors: `imago vectors -a T` on every other host prints exactly the
  reference's output, byte for byte, for every target T (no word-size, endianness
  or signed-char dependence in the encoders, the printer or the parser).
- cross-image:   every program assembled by every host (`imago asm`, image and
  `--raw`) is byte-identical to the reference host's.
- cross-run:     every host loads and runs the images written by every host
  (itself included) on each engine it has for the target: native for its own
  target (through its runner and in its own process), qemu for every target,
  unicorn where the host's build has it; the result must be the program's
  `expect:` value.
- unit:          the host's C unit tests (tests/*.c built for that host) pass.
"""

import os
import re
import zlib

import pytest

import harness
import hosts
import vectorfiles

HOSTS = hosts.hosts()
OTHERS = [h for h in HOSTS if h != hosts.REFERENCE]
# With no host but the reference, one placeholder item that conftest.py deselects
# (a test that compares nothing is neither a pass nor a skip).
NONE = [pytest.param(None, None, id="none")]
_RESULT_RE = re.compile(r"\bresult=(-?\d+)")
SHOW = 10


def _vectors_argv(target):
    """`imago vectors` arguments, the same as the conformance run's (vectorfiles.py)."""
    return ["vectors", "-a", target] + vectorfiles.extra_args()


def _need_host(h):
    got, engines = hosts.info(h)
    if got is None:
        pytest.fail("host %s: %s" % (h, engines), pytrace=False)
    if got != h:
        pytest.fail("%s says it is built for %s, not %s" % (harness.rel(hosts.host_imago(h)),
                                                            got, h), pytrace=False)
    return engines


_ref_vectors = {}


def reference_vectors(target):
    """The reference host's `imago vectors -a target` output (cached per worker)."""
    if target not in _ref_vectors:
        _need_host(hosts.REFERENCE)
        args = _vectors_argv(target)
        p = hosts.run(hosts.REFERENCE, *args)
        if p.returncode != 0 or not p.stdout:
            pytest.fail("reference `%s` exited %d: %s" % (
                hosts.command(hosts.REFERENCE, *args),
                p.returncode, p.stderr.strip()[-2000:]), pytrace=False)
        _ref_vectors[target] = p.stdout
    return _ref_vectors[target]


@pytest.mark.kind("cross-vectors")
@pytest.mark.parametrize("host,target", [pytest.param(h, t, id="%s-%s" % (h, t))
                                         for h in OTHERS for t in harness.TARGETS] or NONE)
def test_cross_vectors(host, target, stats):
    _need_host(host)
    ref = reference_vectors(target)
    args = _vectors_argv(target)
    p = hosts.run(host, *args)
    if p.returncode != 0:
        pytest.fail("`%s` exited %d: %s" % (hosts.command(host, *args), p.returncode,
                                           p.stderr.strip()[-2000:]), pytrace=False)
    mine = p.stdout
    a, b = ref.splitlines(), mine.splitlines()
    stats(target, host=host, vectors_compared=sum(1 for x in a if x and not x.startswith("#")),
          vectors_differing=0 if mine == ref else max(1, sum(x != y for x, y in zip(a, b))
                                                      + abs(len(a) - len(b))))
    if mine == ref:
        return
    lines = ["host %s prints different vectors for %s than host %s (%d lines vs %d):" % (
        host, target, hosts.REFERENCE, len(b), len(a))]
    shown = 0
    for n, (x, y) in enumerate(zip(a, b), 1):
        if x != y:
            lines.append("  line %d" % n)
            lines.append("    %-8s %s" % (hosts.REFERENCE + ":", x))
            lines.append("    %-8s %s" % (host + ":", y))
            shown += 1
            if shown == SHOW:
                break
    if len(a) != len(b) and shown < SHOW:
        lines.append("  %s has %d more lines" % (host if len(b) > len(a) else hosts.REFERENCE,
                                                 abs(len(a) - len(b))))
    lines.append("  reproduce: diff <(%s) <(%s)" % (
        hosts.command(hosts.REFERENCE, *args), hosts.command(host, *args)))
    pytest.fail("\n".join(lines), pytrace=False)


class HostBuilds(harness.Builds):
    """Images and raw bytes of the programs written by each host, once per worker
    (harness.Builds' memo and build checks)."""

    def get(self, writer, target, prog, raw=False):
        def build():
            d = os.path.join(self.root, writer, target)
            os.makedirs(d, exist_ok=True)
            out = os.path.join(d, prog + (".bin" if raw else ".img"))
            args = ["asm", "-a", target] + (["--raw"] if raw else []) + [
                harness.program_path(target, prog), "-o", out]
            harness.check(hosts.prefix(writer) + [hosts.host_imago(writer)] + args,
                          hosts.run(writer, *args, timeout=120), out)
            return out
        return self._once(("host", writer, target, prog, raw), build)


@pytest.fixture(scope="session")
def host_builds(tmp_path_factory):
    return HostBuilds(str(tmp_path_factory.mktemp("hosts")))


def _read(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.mark.kind("cross-image")
@pytest.mark.parametrize("host,target", [pytest.param(h, t, id="%s-%s" % (h, t))
                                         for h in OTHERS for t in harness.TARGETS] or NONE)
def test_cross_image(host, target, host_builds, stats):
    _need_host(host)
    _need_host(hosts.REFERENCE)
    problems, compared = [], 0
    for prog in harness.program_names(target):
        for raw in (False, True):
            what = "imago asm%s %s" % (" --raw" if raw else "", prog)
            ref, err = host_builds.get(hosts.REFERENCE, target, prog, raw)
            if err:
                problems.append("%s on %s: %s" % (what, hosts.REFERENCE, err))
                continue
            mine, err = host_builds.get(host, target, prog, raw)
            if err:
                problems.append("%s on %s: %s" % (what, host, err))
                continue
            a, b = _read(ref), _read(mine)
            compared += 1
            if a != b:
                first = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]),
                             min(len(a), len(b)))
                problems.append("%s: host %s wrote %d bytes (crc32 %08x), host %s %d bytes "
                                "(crc32 %08x), first difference at byte %d: cmp %s %s" % (
                                    what, host, len(b), zlib.crc32(b), hosts.REFERENCE, len(a),
                                    zlib.crc32(a), first, mine, ref))
    stats(target, host=host, outputs_compared=compared, outputs_differing=len(problems))
    if not compared and not problems:
        pytest.fail("no programs for %s" % target, pytrace=False)
    if problems:
        pytest.fail("\n".join(["%s programs written on host %s differ from host %s's:" % (
            target, host, hosts.REFERENCE)] + ["  " + p for p in problems]), pytrace=False)


def _run_cases():
    out = []
    for h in HOSTS:
        for t in harness.TARGETS:
            for e in hosts.engines(h, t):
                out.append(pytest.param(h, t, e, id="%s-%s-%s" % (h, t, e)))
    return out


def _bases(target):
    # The engine's default base, and the higher chosen one (above 4 GiB on 64-bit
    # targets, so an ABS64 relocation written on one host is applied on another).
    return [None, harness.TOOLS[target]["bases"][-1]]


@pytest.mark.kind("cross-run")
@pytest.mark.parametrize("host,target,engine", _run_cases())
def test_cross_run(host, target, engine, host_builds, stats):
    built = _need_host(host)
    if engine not in built:
        pytest.skip("imago built for host %s has no %s engine (%s has only: %s): no lib%s "
                    "for %s is installed on this machine" % (
                        host, engine, harness.rel(hosts.host_imago(host)), " ".join(built),
                        engine, host))
    if engine == "qemu" and not harness.have("qemu-" + target):
        pytest.skip("qemu-%s is not installed" % target)
    failures, runs = [], 0
    for writer in HOSTS:
        _need_host(writer)
        for prog in harness.program_names(target):
            img, err = host_builds.get(writer, target, prog)
            if err:
                failures.append("writing the image on %s: %s" % (writer, err))
                continue
            want = harness.expected_value(harness.program_path(target, prog))
            variants = [False, True] if engine == "native" and target == host else [False]
            for inproc in variants:
                for base in _bases(target):
                    args = ["run", img, "--engine", engine, "--target", target, "-v"]
                    if inproc:
                        args.append("--in-process")
                    if base is not None:
                        args += ["--base", "0x%x" % base]
                    p = hosts.run(host, *args, timeout=120)
                    runs += 1
                    m = _RESULT_RE.search(p.stdout or "")
                    where = "%s written on %s, run on %s/%s%s%s" % (
                        prog, writer, host, engine, " in-process" if inproc else "",
                        " at 0x%x" % base if base is not None else "")
                    if p.returncode != 0 or not m:
                        failures.append("%s: exited %d: %s\n    `%s`" % (
                            where, p.returncode, (p.stderr or p.stdout).strip()[-500:],
                            hosts.command(host, *args)))
                    elif int(m.group(1)) != want:
                        failures.append("%s: result %s, expected %d\n    `%s`" % (
                            where, m.group(1), want, hosts.command(host, *args)))
    stats(target, host=host, runs=runs, runs_failed=len(failures))
    if failures:
        pytest.fail("%d of %d runs failed on host %s (%s, %s):\n  %s" % (
            len(failures), runs, host, target, engine, "\n  ".join(failures[:SHOW])),
            pytrace=False)


_CHECKS_RE = re.compile(r"^(\d+) passed, (\d+) failed$", re.M)


@pytest.mark.kind("unit")
@pytest.mark.parametrize("host", [pytest.param(h, id=h) for h in HOSTS])
def test_unit(host, stats):
    """The C unit tests built for the host, run on it."""
    _need_host(host)
    tests = hosts.host_tests(host)
    if not tests:
        pytest.fail("no C tests in %s: run `make hosts`" % harness.rel(
            os.path.join(hosts.host_dir(host), "tests")), pytrace=False)
    failed, passed = [], 0
    for t in tests:
        p = hosts.run(host, binary=t, timeout=600)
        m = _CHECKS_RE.search(p.stdout + p.stderr)
        if m:
            passed += int(m.group(1))
        if p.returncode != 0 or not m or int(m.group(2)):
            failed.append("%s exited %d:\n%s" % (hosts.command(host, binary=t), p.returncode,
                                                 (p.stderr + p.stdout).strip()[-1500:]))
    stats("none", host=host, checks_passed=passed, test_programs=len(tests))
    if failed:
        pytest.fail("\n".join(failed), pytrace=False)
