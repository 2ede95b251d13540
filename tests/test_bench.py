"""`make bench`'s driver (bench/run.py), with no timing asserted: its JSON has the fields
docs/bench.md lists, a disagreement planted in a peer's bytes is reported (and fails the
run), and a run with no peer at all names them absent and still succeeds."""

import json
import os
import subprocess

import pytest

import harness

RUN = os.path.join(harness.ROOT, "bench", "run.py")
PEERS = ["asmjit", "xbyak", "zydis"]
FIELDS = {"name", "work", "imago_s", "peer", "peer_s", "ratio"}


@pytest.fixture(scope="module")
def bench_exe():
    exe = os.path.join(harness.BUILD, "bench", "imago_bench")
    p = subprocess.run(["make", "-s", "BUILD=" + harness.BUILD, exe], cwd=harness.ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    assert p.returncode == 0, p.stdout
    return exe


def run(tmp_path, *args, env=None):
    """bench/run.py with the peers' programs built in tmp_path (so runs in parallel
    never share them)."""
    out = str(tmp_path / "bench.json")
    argv = ["/usr/bin/python3", RUN, "--build", harness.BUILD, "--work", str(tmp_path),
            "--reps", "5", "--copies", "2", "-o", out] + list(args)
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
    h = [r for r in data if r["name"] == "harness-x86_64"]
    assert len(h) == 1
    if h[0]["ratio"] is not None:
        assert h[0]["vectors"] == 300 and h[0]["mismatches"] == 0
        assert h[0]["overhead"] == pytest.approx(h[0]["ratio"] - 1)
        assert "glue overhead" in p.stdout

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


def test_bench_without_peers(bench_exe, tmp_path):
    p, data = run(tmp_path, "--no-harness", env={"CXX": "/nonexistent/c++"})
    assert p.returncode == 0, p.stdout
    for peer in PEERS:
        assert "bench: %s absent: no C++ compiler" % peer in p.stdout
    enc = [r for r in data if r["name"].startswith("encode-")]
    assert {r["peer"] for r in enc if r["ratio"] is None} == set(PEERS)
    assert all(r["ratio"] > 0 for r in enc if r["peer"] == "memcpy")
