"""The linked programs (conformance/programs/<target>/link/*.s) on every target x engine.

build/bin/imago-progs-<target> (tools/progs/progs.c, built for every target by `make all`)
assembles the programs with im_asm, loads them as modules into a runtime link space with
host functions of its own, and checks every result against a value it computes in C:
factorial and Fibonacci (iterative and recursive), a memcpy over its buffers, calls into
host functions and back, two modules calling each other through the TOC, modules moved,
a module reloaded many times while threads call it, and the space preserved and loaded
again. One test per (target, engine) cell: native runs the target's driver directly (the
machine's own target, i386 on x86_64), qemu runs it under qemu-user, unicorn runs the
machine's own build/bin/imago-progs with --target (a link space in a unicorn guest: no
threads; host functions call back through nested calls, chosen addresses are free guest
ranges; a build without unicorn exits 77 and the cell is skipped, saying so). The report counts the
programs and checks per
target (link_* in targets[t]).
"""

import os
import re
import subprocess

import pytest

import harness

PROGRAMS = ["assemble", "fact", "fib", "copy", "host", "toc", "move", "reload", "patch", "preserve"]
# Reloads under the calling threads: fewer under qemu-user (slower, and the machine shared).
RELOADS = {"native": 200, "qemu": 100}
# The driver's own watchdog (--timeout): a hang ends with the program's name.
TIMEOUT = 300

_LINE_RE = re.compile(r"^(\w+): (ok|FAILED) checks=(\d+) mismatches=(\d+)$", re.M)
_SUMMARY_RE = re.compile(r"^progs: target=(\S+) engine=(\S+) programs=(\d+) failed=(\d+) "
                         r"checks=(\d+) mismatches=(\d+)$", re.M)


def driver(target, engine="native"):
    if engine == "unicorn":
        return os.path.join(harness.BUILD, "bin", "imago-progs")
    return os.path.join(harness.BUILD, "bin", "imago-progs-" + target)


def link_dir(target):
    return os.path.join(harness.PROGRAMS, target, "link")


def argv_for(target, engine, *extra):
    pre = [harness.TOOLS[target]["qemu"]] if engine == "qemu" else []
    tgt = ["--target", target] if engine == "unicorn" else []
    return pre + [driver(target, engine), "--engine", engine] + tgt + list(extra) + [
        link_dir(target)]


def run_driver(target, engine, *extra, env=None):
    exe = driver(target, engine)
    if not os.path.exists(exe):
        if engine == "unicorn":
            pytest.skip("%s not built (the machine's build has no unicorn)" % harness.rel(exe))
        pytest.fail("%s does not exist: run `make all` first" % harness.rel(exe), pytrace=False)
    if engine == "qemu" and not harness.have(harness.TOOLS[target]["qemu"]):
        pytest.skip("%s not installed" % harness.TOOLS[target]["qemu"])
    argv = argv_for(target, engine, *extra)
    e = dict(os.environ)
    e.pop("IMAGO_FAULT_PROGS", None)
    e.update(env or {})
    cmd = harness.shjoin([harness.rel(a) for a in argv])
    try:
        p = harness.run(argv, timeout=TIMEOUT + 60, env=e, preexec_fn=harness.no_core_files)
    except subprocess.TimeoutExpired as ex:
        pytest.fail("`%s` still ran after %d s (its own --timeout did not end it):\n%s" % (
            cmd, TIMEOUT + 60, ex.stdout or ""), pytrace=False)
    return p, cmd


def parse(out):
    """{program: (ok, checks, mismatches)} and the summary's fields (or None)."""
    progs = {m.group(1): (m.group(2) == "ok", int(m.group(3)), int(m.group(4)))
             for m in _LINE_RE.finditer(out)}
    s = _SUMMARY_RE.search(out)
    summary = None
    if s:
        summary = dict(zip(("target", "engine", "programs", "failed", "checks", "mismatches"),
                           s.groups()))
    return progs, summary


def _cells():
    return [pytest.param(t, e, id="%s-%s" % (t, e)) for t, e in harness.cells()]


@pytest.mark.kind("link-program")
@pytest.mark.parametrize("target,engine", _cells())
def test_link_programs(target, engine, stats):
    reloads = RELOADS.get(engine, 50)
    p, cmd = run_driver(target, engine, "--reloads", str(reloads), "--timeout", str(TIMEOUT))
    if p.returncode == 77:
        pytest.skip("%s: %s" % (cmd, p.stderr.strip()))
    progs, summary = parse(p.stdout)
    stats(target, link_programs=sum(1 for n in progs if n != "assemble"),
          link_checks=sum(c for _, c, _ in progs.values()),
          link_mismatches=sum(m for _, _, m in progs.values()),
          link_cells=["%s/%s" % (target, engine)])
    where = "%s on %s/%s: `%s`" % ("the linked programs", target, engine, cmd)
    if p.returncode < 0:
        pytest.fail("%s died of signal %d after:\n%s\nstderr: %s" % (
            where, -p.returncode, p.stdout, p.stderr.strip()), pytrace=False)
    if p.returncode != 0 or summary is None:
        pytest.fail("%s exited %d:\n%s\nstderr: %s" % (where, p.returncode, p.stdout,
                                                        p.stderr.strip()), pytrace=False)
    assert sorted(progs) == sorted(PROGRAMS), "%s: programs run %s, expected %s\n%s" % (
        where, sorted(progs), sorted(PROGRAMS), p.stdout)
    assert summary["target"] == target and summary["engine"] == engine, p.stdout
    assert summary["failed"] == "0" and summary["mismatches"] == "0", p.stdout
    for name, (ok, checks, bad) in progs.items():
        assert ok and bad == 0 and checks > 0, "%s: %s: %d checks, %d mismatches\n%s" % (
            where, name, checks, bad, p.stdout)


@pytest.mark.kind("unit")
def test_link_programs_fault_fails():
    """IMAGO_FAULT_PROGS=fact (one expected value off by one) makes the driver fail, naming
    the program and the call; =reload and =patch do the same in those programs."""
    target = harness.machine_target()
    if target not in harness.TARGETS:
        pytest.skip("machine %s runs no target natively" % target)
    for prog, call in (("fact", "fact_iter(0)"), ("reload", "use_val(0)"),
                       ("patch", "k() before patching")):
        p, cmd = run_driver(target, "native", "--reloads", "3",
                            env={"IMAGO_FAULT_PROGS": prog})
        progs, summary = parse(p.stdout)
        assert p.returncode == 1, "`IMAGO_FAULT_PROGS=%s %s` exited %d:\n%s" % (
            prog, cmd, p.returncode, p.stdout)
        assert summary and summary["failed"] == "1" and summary["mismatches"] == "1", p.stdout
        assert progs[prog][0] is False and progs[prog][2] == 1, p.stdout
        assert "  %s: %s" % (prog, call) in p.stdout, p.stdout
        assert "FAULT INJECTION" in p.stderr, p.stderr


@pytest.mark.kind("unit")
def test_link_programs_bad_usage():
    target = harness.machine_target()
    if target not in harness.TARGETS:
        pytest.skip("machine %s runs no target natively" % target)
    p, _ = run_driver(target, "native", "--reloads", "x")
    assert p.returncode == 2 and "--reloads 'x'" in p.stderr, (p.returncode, p.stderr)
    p, _ = run_driver(target, "native", "--engine", "mips")
    assert p.returncode == 2 and "unknown engine 'mips'" in p.stderr, (p.returncode, p.stderr)
    # a directory without the programs: each missing source is a failure naming its path
    p = harness.run([driver(target), "/nonexistent-dir"], timeout=120)
    assert p.returncode == 1 and "cannot read /nonexistent-dir/fact.s" in p.stdout, p.stdout
