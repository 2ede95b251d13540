"""W^X: `imago run` never maps memory writable and executable at once.

One test per target x engine, running the reloc program (its loader must write
the code to relocate it, then make it executable; the image is made from GNU's
bytes and relocations so the check does not depend on `imago asm`) under
`strace -f -k -e trace=execve,mmap,mmap2,mprotect,pkey_mprotect`.

- native:  no host mapping is ever PROT_WRITE|PROT_EXEC, in any process (the
           runner, or imago itself with --in-process).
- qemu:    qemu-user's own translation buffer is RWX on the host (tcg_region_init);
           such mappings are allowed only when the stack trace (strace -k) puts
           them in a qemu-* binary. The runner's own view is checked at the
           guest level: QEMU_STRACE=1 with QEMU_LOG_FILENAME logs the guest's
           mmap/mprotect calls, and none may ask for PROT_WRITE|PROT_EXEC.
- unicorn: libunicorn maps a 1 GiB RWX translation buffer (tcg_exec_init_*),
           allowed only when the stack trace puts it in libunicorn.so. Guest
           memory is host read-write by construction, so the rule is checked at
           the guest level: an LD_PRELOAD shim (wx/uc_trace.c) logs the
           permissions of uc_mem_map/uc_mem_protect, and the region holding the
           loaded code (it contains the base `imago run -v` reports) must never
           be UC_PROT_WRITE|UC_PROT_EXEC.
Any other RWX mapping fails the test, with its stack trace.
"""

import glob
import os
import re
import subprocess

import pytest

import harness

PROG = "reloc"
_SYSCALL_RE = re.compile(r"^(?:\d+\s+)?(mmap2?|mprotect|pkey_mprotect)\((.*)\)\s*=\s*(.*)$")
_LIBC_RE = re.compile(r"^(libc[.-]|ld-linux|libpthread|libdl|ld-\d)")
_ALLOWED = {"qemu": re.compile(r"^qemu-"), "unicorn": re.compile(r"^libunicorn\.so")}


def _wx(args):
    prot = re.search(r"PROT_[A-Z_|]+", args)
    return bool(prot) and "PROT_WRITE" in prot.group(0) and "PROT_EXEC" in prot.group(0)


def exec_at(line, base):
    """Does this mmap/mprotect line make memory at `base` executable?"""
    m = _SYSCALL_RE.match(line.strip()) or re.match(
        r"^\d+\s+(mmap2?|mprotect)\((.*)\)\s*=", line.strip())
    if not m:
        return False
    first = m.group(2).split(",", 1)[0].strip()
    try:
        addr = int(first, 16)
    except ValueError:
        return False
    return addr == base and "PROT_EXEC" in m.group(2)


def host_calls(logdir):
    """Every mmap/mprotect line of the per-process strace logs."""
    out = []
    for path in sorted(glob.glob(os.path.join(logdir, "st.*"))):
        with open(path, errors="replace") as f:
            out += [l for l in f if _SYSCALL_RE.match(l.strip())]
    return out


def host_wx(logdir):
    """RWX calls in the per-process strace logs: list of (pid, exe, call, owner, frames)."""
    out = []
    for path in sorted(glob.glob(os.path.join(logdir, "st.*"))):
        pid = path.rsplit(".", 1)[1]
        exe = "?"
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            i += 1
            m = re.match(r'^execve\("([^"]*)".*=\s*0', line)
            if m:
                exe = m.group(1)
                continue
            m = _SYSCALL_RE.match(line)
            if not m or not _wx(m.group(2)):
                continue
            frames = []
            while i < len(lines) and lines[i].startswith(" > "):
                frames.append(lines[i][3:].strip())
                i += 1
            owner = exe
            for fr in frames:
                obj = fr.split("(", 1)[0]
                if not _LIBC_RE.match(os.path.basename(obj)):
                    owner = obj
                    break
            out.append((pid, exe, line.strip(), owner, frames))
    return out


def qemu_guest_calls(logdir):
    """(all guest mmap/mprotect lines, the RWX ones) from QEMU_STRACE logs."""
    calls, bad = [], []
    for path in sorted(glob.glob(os.path.join(logdir, "qemu-*.log"))):
        with open(path, errors="replace") as f:
            for line in f:
                m = re.match(r"^\d+\s+(mmap2?|mprotect)\((.*)\)\s*=", line)
                if m:
                    calls.append(line.strip())
                    if _wx(m.group(2)):
                        bad.append(line.strip())
    return calls, bad


@pytest.fixture(scope="session")
def uc_shim(tmp_path_factory):
    """The uc_trace.c LD_PRELOAD shim, built once per worker (None, why) on failure."""
    src = os.path.join(harness.CONFORMANCE, "wx", "uc_trace.c")
    out = str(tmp_path_factory.mktemp("wx") / "uc_trace.so")
    p = harness.run(["gcc", "-shared", "-fPIC", "-O1", "-o", out, src, "-ldl"])
    if p.returncode != 0:
        return None, "building %s failed: %s" % (harness.rel(src), p.stderr.strip())
    return out, None


WX_CASES = [pytest.param(t, e, ip, id="%s-%s%s" % (t, e, "-inproc" if ip else ""))
            for t, e in harness.cells() for ip in harness.inprocess(t, e)]


@pytest.mark.kind("wx")
@pytest.mark.parametrize("target,engine,inproc", WX_CASES)
def test_no_write_exec(target, engine, inproc, builds, imago_bin, uc_shim, tmp_path):
    if not harness.have("strace"):
        pytest.skip("strace not installed")
    if harness.missing_tools(target, ("as", "ld", "objcopy", "objdump")):
        pytest.skip("GNU tools for %s not installed: %s" % (
            target, ", ".join(harness.missing_tools(target, ("as", "ld", "objcopy", "objdump")))))
    # The image is made from GNU's output, so this checks the loader and engines
    # whatever the state of `imago asm`.
    img, err = builds.gnu_image(target, PROG)
    if err:
        pytest.fail("building the image failed: " + err, pytrace=False)
    logdir = str(tmp_path)
    env = harness.imago_env()
    # An ASan build of imago (make check-san): LeakSanitizer cannot run under
    # ptrace, and the unicorn shim is preloaded ahead of the ASan runtime.
    env["ASAN_OPTIONS"] = ":".join(filter(None, [
        env.get("ASAN_OPTIONS"), "detect_leaks=0", "verify_asan_link_order=0"]))
    if engine == "qemu":
        env["QEMU_STRACE"] = "1"
        env["QEMU_LOG_FILENAME"] = os.path.join(logdir, "qemu-%d.log")
    uc_log = os.path.join(logdir, "uc.log")
    if engine == "unicorn":
        shim, why = uc_shim
        if shim is None:
            pytest.fail(why, pytrace=False)
        env["LD_PRELOAD"] = shim
        env["IMAGO_UC_LOG"] = uc_log
    base = "0x%x" % harness.TOOLS[target]["bases"][-1]
    run = [harness.IMAGO, "run", img, "--engine", engine, "--target", target,
           "--base", base, "-v"] + (["--in-process"] if inproc else [])
    argv = ["strace", "-f", "-ff", "-k", "-qq", "-o", os.path.join(logdir, "st"),
            "-e", "trace=execve,mmap,mmap2,mprotect,pkey_mprotect"] + run
    try:
        p = harness.run(argv, env=env, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.fail("`%s` timed out" % harness.shjoin(argv), pytrace=False)
    cmd = harness.shjoin([harness.rel(a) for a in argv])
    if p.returncode != 0:
        pytest.fail("`%s` exited %d (the program must run for the check to mean anything):\n%s"
                    % (cmd, p.returncode, p.stderr.strip()[-3000:]), pytrace=False)
    m = re.search(r"\bresult=(-?\d+)", p.stdout)
    want = harness.expected_value(harness.program_path(target, PROG))
    assert m and int(m.group(1)) == want, "%s/%s: %s returned %r, expected %d" % (
        target, engine, PROG, p.stdout.strip(), want)

    problems = []
    allowed = _ALLOWED.get(engine)
    for pid, exe, call, owner, frames in host_wx(logdir):
        if allowed and allowed.match(os.path.basename(owner)):
            continue  # the emulator's own translation buffer (see the module doc)
        problems.append("host pid %s (%s): %s\n    from %s\n    %s" % (
            pid, exe, call, owner, "\n    ".join(frames[:8]) or "(no stack trace)"))

    # The loader's own step must have been seen, or the check watched nothing.
    loaded = int(base, 16)
    if engine == "native" and not any(exec_at(l, loaded) for l in host_calls(logdir)):
        problems.append("no traced mmap/mprotect made the code at %s executable: the check "
                        "did not see the loader" % base)
    if engine == "qemu":
        calls, bad = qemu_guest_calls(logdir)
        if calls and not any(exec_at(l, loaded) for l in calls):
            problems.append("no guest mmap/mprotect made the code at %s executable: the "
                            "check did not see the loader" % base)
        if not calls:
            problems.append("no guest mmap/mprotect seen: QEMU_STRACE/QEMU_LOG_FILENAME did "
                            "not reach qemu (does the qemu engine pass its environment on?)")
        problems += ["guest (under qemu): " + b for b in bad]
    if engine == "unicorn":
        mb = re.search(r"\bbase=(0x[0-9a-fA-F]+)", p.stdout)
        loaded = int(mb.group(1), 16) if mb else loaded
        entries = []
        if os.path.exists(uc_log):
            with open(uc_log) as f:
                entries = [l.split() for l in f if l.strip()]
        if not entries:
            problems.append("the uc_trace shim saw no uc_mem_map/uc_mem_protect call "
                            "(is libunicorn linked dynamically?)")
        if entries and not any(int(e[1], 16) <= loaded < int(e[1], 16) + int(e[2], 16)
                               and int(e[3]) & 4 for e in entries):
            problems.append("no uc_mem_map/uc_mem_protect made the code at 0x%x executable: "
                            "the check did not see the loader" % loaded)
        for fn, addr, size, perms, err in entries:
            lo, hi, perms = int(addr, 16), int(addr, 16) + int(size, 16), int(perms)
            if lo <= loaded < hi and perms & 6 == 6:
                problems.append("guest (unicorn): %s(0x%x, 0x%x, perms=%d) on the region "
                                "holding the loaded code at 0x%x is writable and executable"
                                % (fn, lo, hi - lo, perms, loaded))
    if problems:
        pytest.fail("%s/%s: memory both writable and executable under `%s`:\n  %s" % (
            target, engine, cmd, "\n  ".join(problems)), pytrace=False)
