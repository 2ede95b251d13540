"""`make bench`'s driver (bench/run.py), with no timing asserted: its JSON has the fields
docs/bench.md lists (x86-64 and AArch64 mixes, both harness records), a disagreement
planted in a peer's bytes is reported (and fails the run), the AArch64 mix lines imago
cannot encode yet are listed, and a run with no peer at all names them absent and still
succeeds."""

import fcntl
import json
import os
import platform
import re
import subprocess

import pytest

import harness

RUN = os.path.join(harness.ROOT, "bench", "run.py")
PEERS = ["asmjit", "xbyak", "zydis"]
FIELDS = {"name", "work", "imago_s", "peer", "peer_s", "ratio"}


X86_64 = platform.machine().lower() in ("x86_64", "amd64")
LOADER = os.path.join(harness.BUILD, "bench", "loader_bench")


@pytest.fixture(scope="module")
def bench_exe():
    exe = os.path.join(harness.BUILD, "bench", "imago_bench")
    a64 = os.path.join(harness.BUILD, "bench", "imago_a64_bench")
    more = [LOADER] if X86_64 else []  # the loader bench runs x86-64 code
    # One make at a time: under xdist each worker builds the programs, and a worker must not
    # run a program another worker's linker is still writing.
    os.makedirs(os.path.join(harness.BUILD, "bench"), exist_ok=True)
    with open(os.path.join(harness.BUILD, "bench", ".build.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        p = subprocess.run(["make", "-s", "BUILD=" + harness.BUILD, exe, a64] + more,
                           cwd=harness.ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
    assert p.returncode == 0, p.stdout
    return exe


def run(tmp_path, *args, env=None):
    """bench/run.py with the peers' programs built in tmp_path (so runs in parallel
    never share them)."""
    out = str(tmp_path / "bench.json")
    argv = ["/usr/bin/python3", RUN, "--build", harness.BUILD, "--work", str(tmp_path),
            "--reps", "5", "--copies", "2", "--loader-quick", "-o", out] + list(args)
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, env=dict(os.environ, **(env or {})),
                       timeout=600)
    data = json.load(open(out)) if os.path.exists(out) else None
    return p, data


def test_bench_json_and_planted_disagreement(bench_exe, tmp_path):
    p, data = run(tmp_path, "--harness-vectors", "300", "--harness-reps", "5")
    assert p.returncode == 0, p.stdout
    assert isinstance(data, list) and data
    for r in data:
        assert FIELDS <= set(r), r
    enc = {(r["imago"], r["peer"]): r for r in data if r["name"].startswith("encode-")}
    for layer in ("imago-l1", "imago-l2"):
        for peer in PEERS + ["memcpy"]:
            r = enc[(layer, peer)]
            if r["ratio"] is None:
                assert peer in PEERS and r["absent"], r
                assert "absent: %s" % peer in p.stdout
                continue
            assert r["imago_s"] > 0 and r["peer_s"] > 0
            assert r["ratio"] == pytest.approx(r["imago_s"] / r["peer_s"])
            if peer != "memcpy":
                a = r["agreement"]
                assert a["disagree"] == 0 and a["instructions"] > 40, a
                assert a["same_bytes"] + a["other_encoding"] == a["instructions"]
    for target in ("x86_64", "aarch64"):
        h = [r for r in data if r["name"] == "harness-" + target]
        assert len(h) == 1
        if h[0]["ratio"] is not None:
            assert h[0]["vectors"] == 300 and h[0]["mismatches"] == 0
            assert h[0]["overhead"] == pytest.approx(h[0]["ratio"] - 1)
            assert "harness %s: 300 vectors" % target in p.stdout
    check_a64(p, data)
    check_loader(p, data)

    # The same programs (already built) with one byte of a peer's copy flipped.
    present = [r["peer"] for r in data if r["name"] == "encode-l1" and r["peer"] in PEERS
               and r["ratio"] is not None]
    if not present:
        return  # no peer installed (each is named absent above): nothing to disagree with
    peer = present[0]
    p, data = run(tmp_path, "--no-harness", env={"IMAGO_BENCH_FAULT": "flip:%s:0" % peer})
    assert p.returncode == 1, p.stdout
    assert "FAULT INJECTION ACTIVE" in p.stdout
    assert "PROBLEM: %s disagrees with imago: #0" % peer in p.stdout, p.stdout
    r = [r for r in data if r["name"] == "encode-l1" and r["peer"] == peer][0]
    assert r["agreement"]["disagree"] == 1


def check_a64(p, data):
    """The AArch64 records: imago's two layers against asmjit's a64 assembler and memcpy,
    on the mix lines imago encodes, every one the same bytes on both sides (and GNU as's);
    the lines it cannot encode yet listed, in the JSON and in the output."""
    enc = {(r["imago"], r["peer"]): r for r in data if r["name"].startswith("encode-a64-")}
    assert set(enc) == {(l, q) for l in ("imago-a64-l1", "imago-a64-l2")
                        for q in ("asmjit", "memcpy")}, sorted(enc)
    for r in enc.values():
        assert r["arch"] == "aarch64" and r["mix_lines"] >= 40
        assert r["imago_s"] > 0 and r["imago_ns_per_insn"] > 0
        for m in r["missing"]:
            assert {"line", "id", "text", "why"} <= set(m) and m["why"], m
            assert "line %d %s" % (m["line"], m["text"]) in re.sub(r" +", " ", p.stdout)
        encoded = r["mix_lines"] - len(r["missing"])
        if r["ratio"] is None:
            assert r["peer"] == "asmjit" and r["absent"]
            continue
        assert r["ratio"] == pytest.approx(r["imago_s"] / r["peer_s"])
        assert r["peer_insns"] == encoded * 2  # --copies 2: the peer skipped the same lines
        if r["peer"] == "asmjit":
            a = r["agreement"]
            assert a["disagree"] == 0 and a["instructions"] == encoded, a
            assert a["same_bytes"] == encoded, a
            if "gnu_as_absent" not in r:
                assert a["gnu_as_checked"] == encoded, a
    if enc[("imago-a64-l1", "asmjit")]["missing"]:
        assert "aarch64 mix lines imago cannot encode yet" in p.stdout


def test_bench_a64_planted_disagreement(bench_exe, tmp_path):
    """A bit flipped in asmjit's copy of the AArch64 mix fails the run, naming the line."""
    p, data = run(tmp_path, "--no-harness", env={"IMAGO_BENCH_FAULT": "flip:asmjit-a64:0"})
    r = [r for r in data if r["name"] == "encode-a64-l1" and r["peer"] == "asmjit"][0]
    if r["ratio"] is None:
        pytest.skip("asmjit's a64 assembler absent: %s" % r["absent"])
    assert p.returncode == 1, p.stdout
    line = min(set(range(r["mix_lines"])) - {m["line"] for m in r["missing"]})
    assert "PROBLEM: aarch64: asmjit-a64, imago and GNU as disagree: mix line %d:" % line \
        in p.stdout, p.stdout
    assert r["agreement"]["disagree"] == 1


def test_bench_without_peers(bench_exe, tmp_path):
    p, data = run(tmp_path, "--no-harness", env={"CXX": "/nonexistent/c++"})
    assert p.returncode == 0, p.stdout
    for peer in PEERS:
        assert "bench: %s absent: no C++ compiler" % peer in p.stdout
    assert "bench: asmjit (a64) absent: no C++ compiler" in p.stdout
    enc = [r for r in data if r["name"].startswith("encode-")]
    assert {r["peer"] for r in enc if r["ratio"] is None} == set(PEERS)
    check_a64(p, data)
    assert all(r["ratio"] > 0 for r in enc if r["peer"] == "memcpy")


def check_loader(p, data):
    """The loader records (--loader-quick: small modules, few calls): each load path against
    its floor, the arena path, both reloads, the TOC call against the direct one; or, on a
    host other than x86_64, one record naming the loader bench absent."""
    recs = {r["name"]: r for r in data if r["name"].startswith("loader")}
    if not X86_64:
        assert set(recs) == {"loader"} and "x86_64 hosts only" in recs["loader"]["absent"]
        assert "loader: absent" in p.stdout
        return
    want = {"loader-load-%s-%s" % (s, w) for s in ("4k", "1m") for w in ("im_load", "link")}
    want |= {"loader-arena-tiny", "loader-reload-fresh", "loader-reload-inplace",
             "loader-call-toc"}
    assert set(recs) == want, sorted(recs)
    for name in want:
        r = recs[name]
        assert r["imago_s"] > 0 and r["reps"] == 5, r
        if r["peer"] is not None:
            assert r["peer_s"] > 0
            assert r["ratio"] == pytest.approx(r["imago_s"] / r["peer_s"])
        assert name[len("loader-"):] in p.stdout
    assert recs["loader-load-4k-link"]["code_bytes"] == 4096
    assert recs["loader-load-4k-link"]["relocs"] == 128
    assert recs["loader-arena-tiny"]["ns"] == pytest.approx(recs["loader-arena-tiny"]["imago_s"]
                                                            * 1e9)
    c = recs["loader-call-toc"]
    assert c["ns_per_call"] == pytest.approx(c["imago_s"] * 1e9)


@pytest.mark.parametrize("fault", ["loader:reloc:3", "loader:call:0"])
def test_loader_bench_checks_its_results(bench_exe, tmp_path, fault):
    """The loader bench checks every loaded module's relocated fields and the call loops'
    results before it times them: a check made to expect another value stops the run."""
    if not X86_64:
        pytest.skip("the loader bench runs x86-64 code (x86_64 hosts only)")
    p, data = run(tmp_path, "--no-harness", "--no-a64", env={"IMAGO_BENCH_FAULT": fault})
    assert p.returncode == 1, p.stdout
    assert "PROBLEM: loader bench:" in p.stdout, p.stdout
    what = "relocation 3 at offset" if fault == "loader:reloc:3" else "call loop: wrong result"
    assert what in p.stdout, p.stdout
    assert not [r for r in data if r["name"].startswith("loader")]
