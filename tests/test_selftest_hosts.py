"""The cross-host check can fail: a host-dependent bug planted in the C code is
caught (docs/testing.md, "Every host").

The source tree is copied and one line of the x86 encoder changed so that it holds
the immediate it writes in a `long` instead of an `int64_t`: correct on an LP64
host (x86_64, aarch64), truncated to 32 bits on an ILP32 host (i386, arm). The
copy's x86_64 imago (the reference) and its i386 host build are made, and the
conformance suite's cross-host vector test is run on the i386 host: the x86_64
target must fail (its 64-bit immediates are truncated, so imago cannot even print
them back), the i386 target may (its rel32 range check wraps), while arm and
aarch64, which the planted line does not reach, must still pass, so the failure is
the fault and not the machinery.
"""

import os
import shutil
import subprocess

import harness
from test_selftest import run_conformance


ROOT = harness.ROOT
PLANT_FILE = "encoders/x86/x86.c"
PLANT_OLD = "    uint64_t v = 0;\n    if (imm_size) {\n"
PLANT_NEW = "    unsigned long v = 0; /* planted: 32 bits on ILP32 hosts */\n    if (imm_size) {\n"


def copy_tree(dst):
    """The tracked files of the repository (or, outside git, everything but build/)."""
    p = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    if p.returncode == 0 and p.stdout:
        for rel in p.stdout.decode().split("\0"):
            if not rel or not os.path.exists(os.path.join(ROOT, rel)):
                continue
            os.makedirs(os.path.join(dst, os.path.dirname(rel)), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, rel), os.path.join(dst, rel))
    else:
        shutil.copytree(ROOT, dst, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("build", ".git", "__pycache__"))


def test_long_immediate_on_ilp32_host_is_caught(tmp_path):
    src = str(tmp_path / "src")
    copy_tree(src)
    path = os.path.join(src, PLANT_FILE)
    with open(path) as f:
        text = f.read()
    assert text.count(PLANT_OLD) == 1, "%s no longer has the line this self-test changes" \
        % PLANT_FILE
    with open(path, "w") as f:
        f.write(text.replace(PLANT_OLD, PLANT_NEW))

    build = os.path.join(src, "build")
    p = subprocess.run(["make", "-s", "-C", src, "-j2", "HOST=i386", "BUILD=" + build,
                        build + "/bin/imago", build + "/host-i386/bin/imago"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=600)
    assert p.returncode == 0, "building the planted copy failed:\n" + p.stdout[-3000:]

    rc, out, outcomes = run_conformance(
        str(tmp_path), ["conformance/test_hosts.py", "-k", "cross_vectors"],
        env_extra={"IMAGO_BUILD": build, "IMAGO_HOSTS": "x86_64 i386"},
        imago=os.path.join(build, "bin", "imago"), root=src)
    assert rc != 0, "the planted long went unnoticed:\n" + out[-3000:]
    assert "FAILED conformance/test_hosts.py::test_cross_vectors[i386-x86_64]" in out, out[-4000:]
    assert ("host i386 prints different vectors for x86_64" in out
            or "mov_r64_imm64" in out), out[-4000:]
    summary = out.split("short test summary")[-1]
    for t in ("arm", "aarch64"):
        assert "test_cross_vectors[i386-%s]" % t not in summary, \
            "target %s failed too: the machinery, not the fault, is broken\n%s" % (t, out[-4000:])
        assert outcomes.get("test_cross_vectors[i386-%s]" % t) == "passed", (t, outcomes)
    assert " passed" in out.splitlines()[-1], out[-2000:]
