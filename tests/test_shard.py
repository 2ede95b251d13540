"""Sharding the conformance suite and merging the shards' reports.

- The split (conformance/sharding.py): every test in exactly one shard, the same
  on every run, the encoding batches dealt evenly; checked on made-up keys and on
  the real collection (`pytest --collect-only --shard I/N`), and bad --shard
  values are usage errors.
- tools/report.py merge and compare on crafted reports: sums, unions, and the
  rejection of duplicate or missing shards, mismatched N, versions, collections.
- End to end: the suite (all but the cross-host tests) on a small vector set,
  unsharded and as shards 1/2 and 2/2; the merged shards' report equals the
  unsharded one, and shard 1 alone does not.
"""

import copy
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import harness
import sharding
import vectorfiles

ROOT = harness.ROOT
REPORT_PY = os.path.join(ROOT, "tools", "report.py")


def _report_module():
    spec = importlib.util.spec_from_file_location("imago_tools_report_t", REPORT_PY)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


report = _report_module()

SMALL = {"IMAGO_VECTORS_ARGS": "--per-form 40", "IMAGO_BATCH": "150"}


# ---- the split --------------------------------------------------------------------


@pytest.mark.parametrize("text,want", [("1/1", (1, 1)), ("1/2", (1, 2)), ("2/2", (2, 2)),
                                       (" 3/7 ", (3, 7))])
def test_parse_good(text, want):
    assert sharding.parse(text) == want


@pytest.mark.parametrize("text", ["0/2", "3/2", "abc", "1/0", "0/0", "-1/2", "1/2/3", "1",
                                  "/2", "1/", "a/b", "1.5/2"])
def test_parse_bad(text):
    with pytest.raises(ValueError, match=r"bad shard .*1 <= I <= N"):
        sharding.parse(text)


def _fake_suite():
    """(key, batch position or None) of a made-up suite: 37 encoding batches and a
    few hundred other tests."""
    items = [("conformance/test_encodings.py::test_encodings[t-%d]" % b, b) for b in range(37)]
    for k in range(300):
        items.append(("conformance/test_programs.py::test_program[x-%d]" % k, None))
    return items


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8])
def test_every_test_in_exactly_one_shard(count):
    items = _fake_suite()
    shards = {i: [key for key, pos in items if sharding.shard_of(key, count, pos) == i]
              for i in range(1, count + 1)}
    keys = [key for key, _ in items]
    together = [k for i in shards for k in shards[i]]
    assert sorted(together) == sorted(keys), "a test is in no shard or in two"
    for key, pos in items:
        assert 1 <= sharding.shard_of(key, count, pos) <= count
    # Batches dealt round-robin: the shards' batch counts differ by at most one.
    nb = [sum(1 for key in shards[i] if "test_encodings" in key) for i in shards]
    assert max(nb) - min(nb) <= 1, nb


def test_split_is_stable():
    """Pinned values: the split must not change between runs or machines (crc32 of the
    key, batch position mod N)."""
    key = "conformance/test_programs.py::test_program[x86_64-native-False-seed-default]"
    assert sharding.shard_of(key, 2) == 2
    assert sharding.shard_of(key, 3) == 2
    assert sharding.shard_of("conformance/test_wx.py::test_no_write_exec[arm-qemu]", 4) == 2
    assert [sharding.shard_of("x", 3, p) for p in range(7)] == [1, 2, 3, 1, 2, 3, 1]
    assert sharding.item_key(os.path.join(ROOT, "conformance", "test_wx.py"),
                             "conformance/test_wx.py::test_no_write_exec[arm-qemu]@arm",
                             ROOT) == "conformance/test_wx.py::test_no_write_exec[arm-qemu]@arm"
    # The key does not depend on pytest's rootdir (the node id's path part).
    assert sharding.item_key(os.path.join(ROOT, "conformance", "test_wx.py"),
                             "test_wx.py::test_no_write_exec[arm-qemu]", ROOT) == \
        "conformance/test_wx.py::test_no_write_exec[arm-qemu]"


def _env(tmp, name, extra=None):
    env = dict(os.environ)
    for k in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_ADDOPTS",
              "IMAGO_SHARD", "IMAGO_REPORT", "IMAGO_VECTORS_DIR"):
        env.pop(k, None)
    env.update(SMALL)
    env["IMAGO_REPORT"] = os.path.join(tmp, name + ".json")
    env["IMAGO_VECTORS_DIR"] = os.path.join(tmp, name + "-vectors")
    env.update(extra or {})
    return env


def _pytest(args, env, timeout=600):
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"] + args
    return subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=timeout)


def _collected(out):
    return [l.strip() for l in out.splitlines() if "::" in l and not l.startswith(" ")]


def test_real_collection_is_split(imago_bin, tmp_path):
    """On the real suite: shards 1..3 partition the collection, the encoding batches
    3-ways evenly; every vector file is made once, in the directory asked for."""
    tmp = str(tmp_path)
    sel = ["conformance/test_encodings.py", "conformance/test_programs.py"]
    full = _pytest(["-q", "--collect-only", "-n", "0"] + sel, _env(tmp, "all"))
    assert full.returncode == 0, full.stdout[-3000:]
    every = _collected(full.stdout)
    batches = [i for i in every if "::test_encodings[" in i]
    assert len(batches) >= 8, "want several batches per target: %s" % batches
    parts = []
    for i in (1, 2, 3):
        p = _pytest(["-q", "--collect-only", "-n", "0", "--shard", "%d/3" % i] + sel,
                    _env(tmp, "all"))
        assert p.returncode == 0, p.stdout[-3000:]
        parts.append(_collected(p.stdout))
        assert re.search(r"\d+ deselected", p.stdout), p.stdout[-1000:]
    together = [i for part in parts for i in part]
    assert sorted(together) == sorted(every), "shards 1..3 are not a partition"
    nb = [sum(1 for i in part if "::test_encodings[" in i) for part in parts]
    assert max(nb) - min(nb) <= 1, nb
    # IMAGO_SHARD does what --shard does.
    p = _pytest(["-q", "--collect-only", "-n", "0"] + sel,
                _env(tmp, "all", {"IMAGO_SHARD": "2/3"}))
    assert _collected(p.stdout) == parts[1]
    made = sorted(f for f in os.listdir(os.path.join(tmp, "all-vectors")) if f.endswith(".tsv"))
    assert made == sorted(t + ".tsv" for t in harness.TARGETS)


@pytest.mark.parametrize("how", ["--shard 0/2", "--shard 3/2", "--shard abc", "IMAGO_SHARD=3/2"])
def test_bad_shard_is_a_usage_error(how, tmp_path):
    if how.startswith("--"):
        args, extra = how.split(), {}
    else:
        k, v = how.split("=")
        args, extra = [], {k: v}
    p = _pytest(["-q", "-n", "0", "conformance/test_wx.py"] + args,
                _env(str(tmp_path), "bad", extra), timeout=120)
    assert p.returncode == 4, "exit %d:\n%s" % (p.returncode, p.stdout[-2000:])
    assert "bad shard" in p.stdout and "1 <= I <= N" in p.stdout, p.stdout[-2000:]
    assert not os.path.exists(os.path.join(str(tmp_path), "bad.json"))


# ---- vector files --------------------------------------------------------------------

FAKE_IMAGO = """#!/bin/sh
# A stand-in for `imago vectors`: logs each run, then prints two positive vectors,
# two negatives, a comment and a blank line (or fails, with FAKE_FAIL set).
echo "$*" >> "%(log)s"
sleep 0.3
if [ -n "$FAKE_FAIL" ]; then echo "vectors: table is broken" >&2; exit 3; fi
printf '# c\\nf\\tadd x\\t0a\\ng\\tbad one\\t\\n\\nf\\tadd y\\t0b\\nh\\tbad two\\t\\n'
"""


@pytest.fixture
def fake_imago(tmp_path):
    log = tmp_path / "runs.log"
    path = tmp_path / "imago"
    path.write_text(FAKE_IMAGO % {"log": log})
    path.chmod(0o755)
    return str(path), str(log)


def test_vector_file_contents(fake_imago, tmp_path, monkeypatch):
    imago, log = fake_imago
    monkeypatch.setattr(harness, "IMAGO", imago)
    monkeypatch.setattr(vectorfiles, "_loaded", {})
    monkeypatch.setenv("IMAGO_VECTORS_DIR", str(tmp_path / "v"))
    monkeypatch.setenv("IMAGO_BATCH", "1")
    v = vectorfiles.load("arm")
    assert v.problem is None and (v.positives, v.negatives, v.nbatches()) == (2, 2, 2)
    # Line numbers are `imago vectors` output lines (the file's header not counted).
    assert v.batch(0) == [(2, "f", "add x", "0a")]
    assert v.batch(1) == [(5, "f", "add y", "0b")]
    assert v.negative_vectors() == [(3, "g", "bad one", ""), (6, "h", "bad two", "")]
    # Reused while the binary and IMAGO_VECTORS_ARGS are the same, remade otherwise.
    monkeypatch.setattr(vectorfiles, "_loaded", {})
    vectorfiles.load("arm")
    with open(log) as f:
        assert len(f.readlines()) == 1
    monkeypatch.setattr(vectorfiles, "_loaded", {})
    monkeypatch.setenv("IMAGO_VECTORS_ARGS", "--seed 7")
    vectorfiles.load("arm")
    with open(log) as f:
        assert [l.split() for l in f] == [["vectors", "-a", "arm"],
                                         ["vectors", "-a", "arm", "--seed", "7"]]


def test_vector_file_made_once_by_concurrent_runs(fake_imago, tmp_path):
    """Four processes that want the same file at once: one makes it, all read it."""
    imago, log = fake_imago
    code = ("import vectorfiles; v = vectorfiles.load('aarch64'); "
            "print(v.problem, v.positives, v.batch(0, 5))")
    env = dict(os.environ, IMAGO_BIN=imago, IMAGO_VECTORS_DIR=str(tmp_path / "v"))
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=harness.CONFORMANCE, env=env,
                              stdout=subprocess.PIPE, universal_newlines=True)
             for _ in range(4)]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(outs)) == 1 and outs[0].startswith("None 2 [(2, 'f', 'add x', '0a')"), outs
    with open(log) as f:
        assert len(f.readlines()) == 1, "imago vectors ran more than once"
    assert sorted(os.listdir(str(tmp_path / "v"))) == ["aarch64.tsv", "aarch64.tsv.lock"]


def test_broken_vectors_fail_clearly(fake_imago, tmp_path):
    """An `imago vectors` that fails is a failure of each target's batch test, with
    its exit status and message, under xdist too."""
    imago, _log = fake_imago
    env = _env(str(tmp_path), "broken", {"IMAGO_BIN": imago, "FAKE_FAIL": "1"})
    p = _pytest(["-q", "-n", "2", "conformance/test_encodings.py"], env, timeout=300)
    assert p.returncode == 1, p.stdout[-3000:]
    for t in harness.TARGETS:
        assert "`%s vectors -a %s --per-form 40` exited 3: vectors: table is broken" % (
            imago, t) in p.stdout, p.stdout[-3000:]
    assert "4 failed" in p.stdout.splitlines()[-1]


# ---- merge and compare --------------------------------------------------------------


def _cell(host, target, engine, kind, passed, failed=0, skipped=0):
    return dict(host=host, target=target, engine=engine, kind=kind, passed=passed,
                failed=failed, skipped=skipped)


def _base(shard=None):
    return {
        "schema": report.SCHEMA, "generated": "2026-01-01T00:00:00Z", "duration_s": 1.0,
        "shard": shard, "host": "x86_64", "imago": "build/bin/imago", "faults": [],
        "versions": {"as": "GNU assembler 2.40", "imago": "imago 0.1", "python": "3.11.2"},
        "cells": [], "targets": {}, "hosts": {},
    }


def _target(ids, vectors, batches, mism=0, neg=0):
    return {"forms": len(ids), "form_ids": sorted(ids), "vectors": vectors,
            "negatives": neg, "mismatches": mism, "encoding_batches": batches}


def _crafted():
    """(unsharded report, [shard 1, shard 2]) made up by hand."""
    coll = {"collected": 10, "collection": "abcd"}
    s1 = _base(dict(index=1, count=2, selected=6, **coll))
    s2 = _base(dict(index=2, count=2, selected=4, **coll))
    s1["cells"] = [_cell("x86_64", "x86_64", "none", "encoding", 2),
                   _cell("x86_64", "arm", "qemu", "program", 2, failed=1),
                   _cell("i386", "arm", "qemu", "cross-run", 1)]
    s2["cells"] = [_cell("x86_64", "x86_64", "none", "encoding", 1),
                   _cell("x86_64", "arm", "qemu", "program", 1, skipped=1),
                   _cell("i386", "none", "none", "unit", 1)]
    s1["targets"] = {"x86_64": _target({"add", "sub"}, 200, 2), "arm": _target(set(), 0, 0)}
    s2["targets"] = {"x86_64": _target({"sub", "mov"}, 50, 1, mism=1),
                     "arm": _target(set(), 0, 0)}
    s1["hosts"] = {"i386": {"arm": {"runs": 4, "runs_failed": 0}}}
    s2["hosts"] = {"i386": {"arm": {"runs": 2, "runs_failed": 1},
                            "none": {"checks_passed": 7}}}
    full = _base()
    full["cells"] = [_cell("x86_64", "x86_64", "none", "encoding", 3),
                     _cell("x86_64", "arm", "qemu", "program", 3, failed=1, skipped=1),
                     _cell("i386", "arm", "qemu", "cross-run", 1),
                     _cell("i386", "none", "none", "unit", 1)]
    full["targets"] = {"x86_64": _target({"add", "sub", "mov"}, 250, 3, mism=1),
                       "arm": _target(set(), 0, 0)}
    full["hosts"] = {"i386": {"arm": {"runs": 6, "runs_failed": 1},
                              "none": {"checks_passed": 7}}}
    return full, [s1, s2]


def test_merge_sums_and_unites():
    full, shards = _crafted()
    merged = report.merge([("s2.json", shards[1]), ("s1.json", shards[0])])
    assert report.compare(merged, full) == []
    assert merged["targets"]["x86_64"]["forms"] == 3
    assert merged["targets"]["x86_64"]["form_ids"] == ["add", "mov", "sub"]
    assert merged["cells"] == report.cells_list(
        {report.cell_key(c): c for c in full["cells"]}), "not in the canonical order"
    assert merged["shard"]["count"] == 2


def test_compare_sees_differences_and_ignores_volatile_fields():
    full, shards = _crafted()
    other = copy.deepcopy(full)
    other.update(generated="2030-01-01T00:00:00Z", duration_s=99.0, shard={"index": 1})
    other["cells"] = list(reversed(other["cells"]))  # order does not matter
    assert report.compare(full, other) == []
    other["cells"][0]["passed"] += 1
    other["targets"]["x86_64"]["form_ids"].append("zzz")
    other["versions"]["as"] = "GNU assembler 2.41"
    diffs = report.compare(full, other)
    assert len(diffs) == 3, diffs
    assert any(d.startswith("cells.i386/none/none/unit.passed") for d in diffs), diffs
    assert any("form_ids" in d and "zzz" in d for d in diffs), diffs
    assert any(d.startswith("versions.as") for d in diffs), diffs
    # A shard alone is not the whole.
    assert report.compare(shards[0], full)


@pytest.mark.parametrize("case,message", [
    ("duplicate", r"shard 1/2 given 2 times"),
    ("missing", r"shard 2 of 2 missing"),
    ("count", r"shards of different counts"),
    ("versions", r"differ in `versions`"),
    ("schema", r"schema 1, this tool merges schema 2"),
    ("unsharded", r"not the report of a shard"),
    ("collection", r"different collections"),
    ("overlap", r"hold 11 tests together, the collection 10"),
    ("twice", r"cell x86_64/x86_64/none/encoding counted twice"),
    ("index", r"shard index 3 is not in 1..2"),
])
def test_merge_rejects(case, message):
    _full, (s1, s2) = _crafted()
    s2b = copy.deepcopy(s2)
    reports = [("s1.json", s1), ("s2.json", s2b)]
    if case == "duplicate":
        reports = [("s1.json", s1), ("s1-again.json", copy.deepcopy(s1)), ("s2.json", s2b)]
    elif case == "missing":
        reports = [("s1.json", s1)]
    elif case == "count":
        s2b["shard"]["count"] = 3
    elif case == "versions":
        s2b["versions"]["imago"] = "imago 0.2"
    elif case == "schema":
        s2b["schema"] = 1
    elif case == "unsharded":
        s2b["shard"] = None
    elif case == "collection":
        s2b["shard"]["collection"] = "ffff"
    elif case == "overlap":
        s2b["shard"]["selected"] = 5
    elif case == "twice":
        s2b["cells"].append(copy.deepcopy(s2b["cells"][0]))
    elif case == "index":
        s2b["shard"]["index"] = 3
    with pytest.raises(report.ReportError, match=message):
        report.merge(reports)


def test_report_command_line(tmp_path):
    full, (s1, s2) = _crafted()
    paths = {}
    for name, r in (("full", full), ("s1", s1), ("s2", s2)):
        paths[name] = str(tmp_path / (name + ".json"))
        with open(paths[name], "w") as f:
            json.dump(r, f)
    out = str(tmp_path / "merged.json")
    run = lambda *a: subprocess.run([sys.executable, REPORT_PY] + list(a),  # noqa: E731
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    universal_newlines=True)
    p = run("merge", "-o", out, paths["s1"], paths["s2"])
    assert p.returncode == 0, p.stderr
    assert "merged 2 shards" in p.stdout
    p = run("compare", out, paths["full"])
    assert p.returncode == 0 and "equal" in p.stdout, p.stdout + p.stderr
    p = run("compare", paths["s1"], paths["full"])
    assert p.returncode == 1 and "differ" in p.stdout, p.stdout + p.stderr
    os.unlink(out)
    p = run("merge", "-o", out, paths["s1"], paths["s1"])
    assert p.returncode == 1 and "given 2 times" in p.stderr, p.stderr
    assert not os.path.exists(out), "a rejected merge wrote its output"
    assert not [f for f in os.listdir(str(tmp_path)) if ".tmp" in f]


# ---- end to end -----------------------------------------------------------------------

# Everything but the cross-host tests (they need `make hosts`).
E2E_SEL = ["conformance/test_encodings.py", "conformance/test_programs.py",
           "conformance/test_wx.py"]


def _names(xml):
    return sorted("%s::%s" % (tc.get("classname"), tc.get("name"))
                  for tc in ET.parse(xml).getroot().iter("testcase"))


@pytest.fixture(scope="module")
def private_build(tmp_path_factory):
    """A copy of build/bin, so a rebuild elsewhere during the runs cannot make the
    three runs test different binaries."""
    if not os.path.exists(harness.IMAGO):
        pytest.fail("%s does not exist: run `make all` first" % harness.rel(harness.IMAGO),
                    pytrace=False)
    build = str(tmp_path_factory.mktemp("build"))
    shutil.copytree(os.path.dirname(harness.IMAGO), os.path.join(build, "bin"))
    return build


def test_merged_shards_equal_unsharded(private_build, tmp_path):
    tmp = str(tmp_path)
    runs = {"all": [], "s1": ["--shard", "1/2"], "s2": ["--shard", "2/2"]}
    procs = {}
    for name, extra in runs.items():  # the three at once, as shards would run
        env = _env(tmp, name, {"IMAGO_BUILD": private_build})
        env.pop("IMAGO_BIN", None)
        env.pop("IMAGO_RUNNER_DIR", None)
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
                "--junitxml", os.path.join(tmp, name + ".xml")] + extra + E2E_SEL
        procs[name] = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, universal_newlines=True)
    outs = {name: p.communicate(timeout=600)[0] for name, p in procs.items()}
    for name, p in procs.items():
        assert p.returncode == 0, "%s run exited %d:\n%s" % (name, p.returncode,
                                                            outs[name][-4000:])
    reps = {}
    for name in runs:
        with open(os.path.join(tmp, name + ".json")) as f:
            reps[name] = json.load(f)

    # Each test ran in exactly one shard, and every shard ran something.
    every = _names(os.path.join(tmp, "all.xml"))
    s1, s2 = _names(os.path.join(tmp, "s1.xml")), _names(os.path.join(tmp, "s2.xml"))
    assert s1 and s2 and sorted(s1 + s2) == every
    assert reps["all"]["shard"] is None
    assert reps["s1"]["shard"]["index"] == 1 and reps["s1"]["shard"]["count"] == 2
    assert reps["s1"]["shard"]["selected"] == len(s1)
    assert reps["s1"]["shard"]["collected"] == len(every)
    assert "shard 1/2: %d of %d tests" % (len(s1), len(every)) in outs["s1"]

    merged = report.merge([("s1", reps["s1"]), ("s2", reps["s2"])])
    assert report.compare(merged, reps["all"]) == [], "\n".join(
        report.compare(merged, reps["all"]))
    tests = sum(c["passed"] for c in merged["cells"])
    assert tests == len(every)
    x86 = merged["targets"]["x86_64"]
    assert x86["vectors"] > 0 and x86["forms"] > 0 and x86["encoding_batches"] >= 2
    assert {c["kind"] for c in merged["cells"]} >= {"encoding", "program", "program-bytes"}
    # Only the shard's batches were assembled.
    b1 = sum(t["encoding_batches"] for t in reps["s1"]["targets"].values())
    b2 = sum(t["encoding_batches"] for t in reps["s2"]["targets"].values())
    assert abs(b1 - b2) <= 1 and b1 + b2 == sum(t["encoding_batches"]
                                                for t in merged["targets"].values())

    # The check can fail: shard 1 alone is not the whole run, and cannot be merged
    # as if it were.
    assert report.compare(reps["s1"], reps["all"])
    with pytest.raises(report.ReportError, match="shard 2 of 2 missing"):
        report.merge([("s1", reps["s1"])])
