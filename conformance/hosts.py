"""The hosts of the cross-host check: imago's own C code built for x86_64, i386,
arm and aarch64 (`make hosts`, build/host-<host>/) and run here, directly or under
qemu-user (docs/testing.md, "Every host").

Environment knobs:
  IMAGO_HOSTS   the hosts to check, space-separated (default: all four; the
                Makefile passes its HOSTS variable)
"""

import os
import re

import harness

REFERENCE = "x86_64"  # every host's output must equal this host's


def hosts():
    raw = os.environ.get("IMAGO_HOSTS")
    names = raw.split() if raw is not None else list(harness.TARGETS)
    bad = [h for h in names if h not in harness.TARGETS]
    if bad:
        raise ValueError("IMAGO_HOSTS names unknown host(s) %s; the hosts are %s"
                         % (" ".join(bad), " ".join(harness.TARGETS)))
    return [h for h in harness.TARGETS if h in names]  # fixed order


def host_dir(h):
    """Where `make HOST=h` puts its build (the Makefile's hostdir)."""
    if h == harness.machine_target():
        return harness.BUILD
    return os.path.join(harness.BUILD, "host-" + h)


def host_imago(h):
    if h == harness.machine_target() and os.environ.get("IMAGO_BIN"):
        return harness.IMAGO
    return os.path.join(host_dir(h), "bin", "imago")


def host_tests(h):
    d = os.path.join(host_dir(h), "tests")
    if not os.path.isdir(d):
        return []
    return sorted(os.path.join(d, f) for f in os.listdir(d)
                  if f.startswith("test_") and os.access(os.path.join(d, f), os.X_OK))


def emulated(h):
    """Does a binary built for host h need qemu-user on this machine?"""
    m = harness.machine_target()
    return not (h == m or (m == "x86_64" and h == "i386"))


def prefix(h):
    """argv prefix that starts a host-h binary here."""
    return ["qemu-" + h] if emulated(h) else []


def env(h):
    """imago's environment on host h. An emulated host cannot exec its own runner
    (no binfmt_misc here), so IMAGO_NATIVE_LAUNCHER starts it under qemu-user, as
    binfmt_misc would."""
    e = harness.imago_env()
    e.pop("IMAGO_NATIVE_LAUNCHER", None)
    if emulated(h):
        e["IMAGO_NATIVE_LAUNCHER"] = "qemu-%t"
    return e


def run(h, *args, timeout=300, binary=None, **kw):
    """Run host h's imago (or another host-h binary) with args."""
    kw.setdefault("env", env(h))
    kw.setdefault("preexec_fn", harness.no_core_files)
    argv = prefix(h) + [binary or host_imago(h)] + [str(a) for a in args]
    return harness.run(argv, timeout=timeout, **kw)


def command(h, *args, binary=None):
    """The shell command for messages (environment included)."""
    words = (["IMAGO_NATIVE_LAUNCHER=qemu-%t"] if emulated(h) else []) + prefix(h)
    words += [harness.rel(binary or host_imago(h))] + [harness.rel(str(a)) for a in args]
    return harness.shjoin(words)


_VERSION_RE = re.compile(r"^host (\S+), engines (.*)$", re.M)
_info = {}


def info(h):
    """(host the binary says it is, [engines built in]) from `imago --version`, or
    (None, problem) when the build is missing or does not run."""
    if h in _info:
        return _info[h]
    path = host_imago(h)
    if not os.path.exists(path):
        res = (None, "%s does not exist: run `make hosts` (or `make HOST=%s`)"
               % (harness.rel(path), h))
    elif emulated(h) and not harness.have("qemu-" + h):
        res = (None, "qemu-%s is not installed, so the %s host cannot run here" % (h, h))
    else:
        p = run(h, "--version", timeout=60)
        m = _VERSION_RE.search(p.stdout or "")
        if p.returncode != 0 or not m:
            res = (None, "`%s` exited %d: %s" % (command(h, "--version"), p.returncode,
                                                (p.stderr or p.stdout).strip()[-1000:]))
        else:
            res = (m.group(1), m.group(2).split())
    _info[h] = res
    return res


def native_targets(h):
    """Targets the native engine of host h runs (its own; and i386 on x86_64)."""
    return [h] + (["i386"] if h == "x86_64" else [])


def engines(h, target):
    """Engines host h's imago offers for target, whether or not they are built in
    (a missing one is a skip with its reason)."""
    return (["native"] if target in native_targets(h) else []) + ["qemu", "unicorn"]
